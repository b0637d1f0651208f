/*
 * embedded.c - `leadpipe run --embedded`: the whole streaming system in one
 * process, on a bare machine.
 *
 * It starts the embedded development broker (librdkafka's mock cluster),
 * creates the pipeline's topics, imports lead files into the input topic
 * (the `import` command, run in-process), runs the consumer-group runtime
 * until the input is drained, and then reads the outcome topics back to
 * check that every imported lead has exactly one outcome. With --serve it
 * keeps the broker and the runtime up until SIGINT, for kcat and friends.
 *
 * Threads: the caller's, plus those of the runtime and the broker.
 */
#include "embedded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "broker.h"
#include "cmd.h"
#include "strset.h"

/* Distinct and repeated keys seen on the outcome topics. */
typedef struct outcome_count {
    lp_strset *keys;
    uint64_t messages;
    uint64_t repeated;
} outcome_count;

static lp_err_t create_topics(lp_broker *b, const lp_topics *t, int partitions)
{
    const char *names[] = {t->input, t->routed, t->nurture, t->rejected};
    for (int i = 0; i < 4; i++)
        if (lp_broker_create_topic(b, names[i], partitions) != LP_OK) {
            fprintf(stderr, "leadpipe run: cannot create topic %s: %s\n", names[i],
                    lp_broker_error(b));
            return LP_E_KAFKA;
        }
    return LP_OK;
}

/* Runs `leadpipe import` in-process; returns its exit status. */
static int import_inputs(const lp_embedded_opts *o, const char *bootstraps, const char *rejects)
{
    int argc = 0;
    char **argv = calloc((size_t)o->ninputs + 10, sizeof(char *));
    if (!argv)
        return 1;
    argv[argc++] = "import";
    argv[argc++] = "--brokers";
    argv[argc++] = (char *)bootstraps;
    argv[argc++] = "-c";
    argv[argc++] = (char *)o->config;
    argv[argc++] = "--rejects";
    argv[argc++] = (char *)rejects;
    for (int i = 0; i < o->ninputs; i++)
        argv[argc++] = (char *)o->inputs[i];
    int status = lp_cmd_import(argc, argv);
    free(argv);
    return status;
}

/* Counts the lines of a file (0 when it does not exist: nothing rejected). */
static uint64_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Reads every message of topic from the beginning and counts its keys. */
static lp_err_t read_topic_keys(const char *bootstraps, const char *topic, int partitions,
                                outcome_count *oc)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "group.id", "leadpipe-embedded-check", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err))) {
        rd_kafka_conf_destroy(conf);
        return LP_E_KAFKA;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        return LP_E_KAFKA;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int eofs = 0, idle_polls = 0;
    while (eofs < partitions && idle_polls < 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle_polls++;
            continue;
        }
        idle_polls = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (!m->err) {
            oc->messages++;
            if (lp_strset_has(oc->keys, m->key, m->key_len))
                oc->repeated++;
            else
                lp_strset_add(oc->keys, m->key, m->key_len);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return eofs == partitions ? LP_OK : LP_E_KAFKA;
}

static void report(const lp_embedded_opts *o, const lp_runtime_stats *st, uint64_t import_rejects,
                   const char *rejects_path, const outcome_count *in, const outcome_count *oc,
                   uint64_t routed_msgs, uint64_t rejected_msgs)
{
    const lp_topics *t = lp_pipeline_topics(o->run->pl);
    size_t leads = lp_strset_count(in->keys), answered = lp_strset_count(oc->keys);
    fprintf(stderr, "\nleadpipe run --embedded: report\n\n");
    if (import_rejects)
        fprintf(stderr, "  import     %llu rows rejected before Kafka (see %s)\n",
                (unsigned long long)import_rejects, rejects_path);
    fprintf(stderr, "  input      %zu leads on %s; %llu records consumed\n", leads, t->input,
            (unsigned long long)st->consumed);
    fprintf(stderr, "  outcomes   %llu on %s + %llu on %s\n", (unsigned long long)routed_msgs,
            t->routed, (unsigned long long)rejected_msgs, t->rejected);
    fprintf(stderr, "  nurture    %llu tasks on %s\n", (unsigned long long)st->tasks, t->nurture);
    fprintf(stderr, "  rate       %.0f leads/s while streaming (%.2f s); %.1f s in all, with the "
                    "group join and the idle wait\n",
            st->active_seconds > 0 ? (double)st->consumed / st->active_seconds : 0.0,
            st->active_seconds, st->seconds);
    fprintf(stderr, "  check      every lead has an outcome: %s (%zu missing)",
            answered >= leads ? "yes" : "NO", leads > answered ? leads - answered : 0);
    if (oc->repeated)
        fprintf(stderr, "; %llu outcomes repeated by at-least-once redelivery after a "
                        "rebalance\n", (unsigned long long)oc->repeated);
    else
        fprintf(stderr, "; exactly one each\n");
    lp_pipeline_report(o->run->pl, stderr);
}

int lp_embedded_run(const lp_embedded_opts *o)
{
    lp_broker *b = NULL;
    const lp_topics *t = lp_pipeline_topics(o->run->pl);
    if (lp_broker_start(1, 0, &b) != LP_OK) {
        fprintf(stderr, "leadpipe run: cannot start the embedded broker\n");
        return 1;
    }
    const char *bs = lp_broker_bootstraps(b);
    int status = 1;
    if (create_topics(b, t, o->partitions) != LP_OK)
        goto out;
    fprintf(stderr, "leadpipe run: embedded broker at %s (development only: in memory, "
                    "capped partition logs)\n", bs);
    char rejects[4096];
    snprintf(rejects, sizeof(rejects), "%s", o->import_rejects);
    if (o->ninputs && (status = import_inputs(o, bs, rejects)) != 0)
        goto out;
    lp_runtime_opts ro = *o->run;
    ro.brokers = bs;
    /* The mock coordinator can wait a whole session timeout in a group join
     * (notes in README); on a local development broker a short one is safe.
     * The user's -X options come after these, so they still win. */
    const char **x = calloc((size_t)ro.nxprops + 2, sizeof(char *));
    if (!x)
        goto out;
    x[0] = "consumer.session.timeout.ms=6000";
    x[1] = "consumer.heartbeat.interval.ms=500";
    for (int i = 0; i < ro.nxprops; i++)
        x[i + 2] = ro.xprops[i];
    ro.xprops = x;
    ro.nxprops += 2;
    if (o->serve) {
        printf("bootstrap.servers=%s\n", bs);
        fflush(stdout);
        ro.idle_exit_ms = 0;
    }
    lp_runtime_stats st;
    lp_err_t rc = lp_runtime_run(&ro, &st);
    free(x);
    status = lp_err_exit_code(rc);
    if (rc != LP_OK)
        goto out;
    outcome_count in = {lp_strset_new(), 0, 0}, oc = {lp_strset_new(), 0, 0};
    if (read_topic_keys(bs, t->input, o->partitions, &in) == LP_OK &&
        read_topic_keys(bs, t->routed, o->partitions, &oc) == LP_OK) {
        uint64_t routed_msgs = oc.messages;
        if (read_topic_keys(bs, t->rejected, o->partitions, &oc) == LP_OK) {
            report(o, &st, count_lines(rejects), rejects, &in, &oc, routed_msgs,
                   oc.messages - routed_msgs);
            if (lp_strset_count(oc.keys) != lp_strset_count(in.keys))
                status = 1; /* a lead without an outcome */
        }
    }
    lp_strset_free(in.keys);
    lp_strset_free(oc.keys);
out:
    lp_broker_stop(b);
    return status;
}
