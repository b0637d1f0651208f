/*
 * kafka_conf.h - the `kafka:` section of a pipeline file.
 *
 * Everything `leadpipe run` needs to join a cluster: brokers, the consumer
 * group, the wire format, the in-flight bounds, and free-form librdkafka
 * properties (`client:` for both clients, `consumer:` and `producer:` for
 * one), so TLS, SASL and tuning work against real clusters. Values may use
 * ${ENV_VARS}, so passwords stay out of the file. Command-line -X options
 * are applied after these.
 */
#ifndef LP_KAFKA_CONF_H
#define LP_KAFKA_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* A librdkafka property as written in the file. */
typedef struct lp_kafka_prop {
    const char *name;
    const char *value;
} lp_kafka_prop;

typedef struct lp_kafka_conf {
    char *brokers;
    char *group;          /* NULL: "leadpipe-<pipeline name>" */
    int wire_format;      /* 0 avro, 1 confluent */
    char *schema_registry;
    int64_t max_inflight; /* per partition: consumption pauses beyond this */
    int64_t commit_interval_ms;
    int64_t drain_timeout_ms;
    lp_kafka_prop *client, *consumer, *producer;
    size_t nclient, nconsumer, nproducer;
} lp_kafka_conf;

extern const lp_conf_prop lp_kafka_props[];
extern const char *const lp_kafka_section_doc;

/* Fills c from the `kafka:` mapping n (NULL: defaults). Returns the error count. */
int lp_kafka_conf_load(lp_diag *d, lp_arena *mem, struct fy_node *n, lp_kafka_conf *c);

#endif
