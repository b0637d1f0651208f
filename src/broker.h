/*
 * broker.h - the embedded Kafka-protocol broker: librdkafka's mock cluster
 * behind a small handle.
 *
 * It is a development broker. Partition logs live in memory and are capped
 * (the oldest records are dropped silently, about 5 MiB per partition was
 * measured), transactions are not real, and one I/O thread serves every
 * broker. It lets `leadpipe broker`, `leadpipe run --embedded`, the bench
 * and the tests speak real Kafka protocol on a bare machine; it is not for
 * production.
 *
 * Listeners bind 127.0.0.1 on ports the kernel picks: librdkafka 2.0.2's
 * mock API has no way to choose a port (rd_kafka_mock_cluster_new takes
 * only a broker count, and each mock broker binds port 0). Other processes
 * on the machine can connect while the owning process is alive.
 *
 * Threads: librdkafka runs the cluster on its own thread. The handle's
 * functions may be called from any thread, but lp_broker_stop() must not
 * race with the others.
 */
#ifndef LP_BROKER_H
#define LP_BROKER_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "err.h"

typedef struct lp_broker lp_broker;

/*
 * Starts a cluster of nbrokers (1..16) on loopback. port must be 0 (any
 * port; see above). Returns LP_OK, LP_E_CONFIG for a bad count or a
 * non-zero port, LP_E_KAFKA when librdkafka cannot start the cluster, or
 * LP_E_NOMEM.
 */
lp_err_t lp_broker_start(int nbrokers, int port, lp_broker **out);

/* The bootstrap servers, e.g. "127.0.0.1:39417,127.0.0.1:40223". */
const char *lp_broker_bootstraps(const lp_broker *b);

/*
 * Creates a topic with this many partitions (replication factor 1). A topic
 * a client has already auto-created keeps its partitions; that is an error
 * (LP_E_KAFKA), as is a bad name or count. lp_broker_error() says why.
 */
lp_err_t lp_broker_create_topic(lp_broker *b, const char *name, int partitions);

/* The message of the last failed call on b, or "". */
const char *lp_broker_error(const lp_broker *b);

/* The mock cluster itself, for fault injection (rd_kafka_mock_*) in tests. */
rd_kafka_mock_cluster_t *lp_broker_mock(lp_broker *b);

/* Stops the cluster (its topics and records are gone) and frees b; NULL is fine. */
void lp_broker_stop(lp_broker *b);

#endif
