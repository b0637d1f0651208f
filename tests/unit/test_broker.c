/*
 * Unit tests for broker.c: the embedded development broker speaks enough
 * Kafka for a real librdkafka producer and consumer. 1,000 keyed records go
 * in through an idempotent producer and come back exactly once each, from
 * the topic's partitions, with the partition count the topic was created
 * with. The consumer uses rd_kafka_assign (no group join) so the test does
 * not wait for a rebalance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define NRECORDS 1000
#define NPARTS 6

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    int *failed = m->_private;
    if (m->err)
        (*failed)++;
}

static rd_kafka_t *client_new(rd_kafka_type_t type, const char *bootstraps)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *props[][2] = {
        {"bootstrap.servers", bootstraps},
        {"log_level", "4"},
        /* assign() joins no group, but a consumer's metadata call wants an id */
        {type == RD_KAFKA_PRODUCER ? "enable.idempotence" : "group.id",
         type == RD_KAFKA_PRODUCER ? "true" : "test-broker"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof(err)))
            fail_msg("%s: %s", props[i][0], err);
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk)
        fail_msg("rd_kafka_new: %s", err);
    return rk;
}

static void produce_all(const char *bootstraps)
{
    int failed = 0;
    rd_kafka_t *p = client_new(RD_KAFKA_PRODUCER, bootstraps);
    for (int i = 0; i < NRECORDS; i++) {
        char key[32], val[64];
        int kn = snprintf(key, sizeof(key), "lead-%04d", i);
        int vn = snprintf(val, sizeof(val), "{\"lead_id\":\"lead-%04d\"}", i);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC("leads.raw"), RD_KAFKA_V_KEY(key, (size_t)kn),
            RD_KAFKA_V_VALUE(val, (size_t)vn), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(&failed), RD_KAFKA_V_END);
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_poll(p, 0);
    }
    assert_int_equal(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(failed, 0);
    rd_kafka_destroy(p);
}

/* Reads the partition count of a topic from the broker's metadata. */
static int partition_count(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(rk, 0, t, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topic_cnt, 1);
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}

/* Consumes every partition from the start until NRECORDS arrive. */
static void consume_all(const char *bootstraps, int *seen, int *parts_used)
{
    rd_kafka_t *c = client_new(RD_KAFKA_CONSUMER, bootstraps);
    assert_int_equal(partition_count(c, "leads.raw"), NPARTS);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(NPARTS);
    for (int p = 0; p < NPARTS; p++)
        rd_kafka_topic_partition_list_add(tp, "leads.raw", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tp), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(tp);
    int got = 0, idle = 0, used[NPARTS] = {0};
    while (got < NRECORDS && idle < 300) { /* 300 empty polls of 100 ms: broker is stuck */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) {
            idle++;
            continue;
        }
        assert_int_equal(m->err, RD_KAFKA_RESP_ERR_NO_ERROR);
        int i = (int)strtol((const char *)m->key + 5, NULL, 10);
        char want[64];
        int wn = snprintf(want, sizeof(want), "{\"lead_id\":\"lead-%04d\"}", i);
        assert_int_equal(m->len, (size_t)wn);
        assert_memory_equal(m->payload, want, (size_t)wn);
        seen[i]++;
        used[m->partition] = 1;
        got++;
        rd_kafka_message_destroy(m);
    }
    for (int p = 0; p < NPARTS; p++)
        *parts_used += used[p];
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static void test_produce_and_consume_keyed_records(void **state)
{
    (void)state;
    lp_broker *b = NULL;
    assert_int_equal(lp_broker_start(1, 0, &b), LP_OK);
    const char *bs = lp_broker_bootstraps(b);
    assert_true(!strncmp(bs, "127.0.0.1:", 10));
    assert_int_equal(lp_broker_create_topic(b, "leads.raw", NPARTS), LP_OK);
    produce_all(bs);
    static int seen[NRECORDS];
    int parts_used = 0;
    consume_all(bs, seen, &parts_used);
    for (int i = 0; i < NRECORDS; i++)
        if (seen[i] != 1)
            fail_msg("lead-%04d arrived %d times", i, seen[i]);
    assert_true(parts_used > 1); /* keys spread records over partitions */
    lp_broker_stop(b);
}

static void test_three_brokers(void **state)
{
    (void)state;
    lp_broker *b = NULL;
    assert_int_equal(lp_broker_start(3, 0, &b), LP_OK);
    const char *bs = lp_broker_bootstraps(b);
    int commas = 0;
    for (const char *p = bs; *p; p++)
        commas += *p == ',';
    assert_int_equal(commas, 2);
    assert_non_null(lp_broker_mock(b));
    lp_broker_stop(b);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    lp_broker *b = NULL;
    assert_int_equal(lp_broker_start(1, 9092, &b), LP_E_CONFIG); /* no chosen ports in 2.0.2 */
    assert_int_equal(lp_broker_start(0, 0, &b), LP_E_CONFIG);
    assert_null(b);
    assert_int_equal(lp_broker_start(1, 0, &b), LP_OK);
    assert_int_equal(lp_broker_create_topic(b, "leads.raw", 0), LP_E_KAFKA);
    assert_string_equal(lp_broker_error(b),
                        "topic 'leads.raw': needs a name and 1 or more partitions");
    lp_broker_stop(b);
    lp_broker_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_produce_and_consume_keyed_records),
        cmocka_unit_test(test_three_brokers),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
