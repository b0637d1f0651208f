/*
 * broker.c - the embedded development broker; see broker.h.
 *
 * Owns: a plain producer handle that exists only to host the mock cluster
 * (librdkafka needs an rd_kafka_t for its bookkeeping; the handle never
 * produces), the cluster, and the last error message.
 *
 * Invariant: the cluster is destroyed before the handle that hosts it.
 */
#include "broker.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BROKER_MAX 16

struct lp_broker {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char error[256];
};

/* A handle that logs warnings and errors only, to stderr. */
static rd_kafka_t *broker_host_new(char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "leadpipe-broker", err, errlen) ||
        rd_kafka_conf_set(conf, "log_level", "4", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

lp_err_t lp_broker_start(int nbrokers, int port, lp_broker **out)
{
    if (nbrokers < 1 || nbrokers > BROKER_MAX || port != 0)
        return LP_E_CONFIG;
    lp_broker *b = calloc(1, sizeof(*b));
    if (!b)
        return LP_E_NOMEM;
    if (!(b->rk = broker_host_new(b->error, sizeof(b->error)))) {
        fprintf(stderr, "leadpipe: embedded broker: %s\n", b->error);
        free(b);
        return LP_E_KAFKA;
    }
    if (!(b->mc = rd_kafka_mock_cluster_new(b->rk, nbrokers))) {
        lp_broker_stop(b);
        return LP_E_KAFKA;
    }
    *out = b;
    return LP_OK;
}

const char *lp_broker_bootstraps(const lp_broker *b)
{
    return rd_kafka_mock_cluster_bootstraps(b->mc);
}

lp_err_t lp_broker_create_topic(lp_broker *b, const char *name, int partitions)
{
    if (!name || !*name || partitions < 1) {
        snprintf(b->error, sizeof(b->error), "topic '%s': needs a name and 1 or more partitions",
                 name ? name : "");
        return LP_E_KAFKA;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(b->mc, name, partitions, 1);
    if (e) {
        snprintf(b->error, sizeof(b->error), "topic '%s': %s", name, rd_kafka_err2str(e));
        return LP_E_KAFKA;
    }
    b->error[0] = '\0';
    return LP_OK;
}

const char *lp_broker_error(const lp_broker *b)
{
    return b->error;
}

rd_kafka_mock_cluster_t *lp_broker_mock(lp_broker *b)
{
    return b->mc;
}

void lp_broker_stop(lp_broker *b)
{
    if (!b)
        return;
    if (b->mc)
        rd_kafka_mock_cluster_destroy(b->mc);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    free(b);
}
