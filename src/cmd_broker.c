/*
 * cmd_broker.c - `leadpipe broker`: serves the embedded development broker
 * on loopback until SIGINT or SIGTERM.
 *
 * It creates the pipeline's four topics up front (input, routed, nurture,
 * rejected) with the requested partition count, because clients that
 * auto-create a topic get the mock's default of 4 partitions, and prints
 * one line on stdout, `bootstrap.servers=HOST:PORT[,...]`, which scripts
 * wait for. Everything else goes to stderr.
 *
 * Threads: SIGINT and SIGTERM are blocked before librdkafka starts its
 * threads, so every thread inherits the mask and the main thread collects
 * the signal with sigwait(); no handler runs at an arbitrary point.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cmd.h"
#include "pipeline.h"

#define BROKER_DEFAULT_PARTITIONS 8
#define BROKER_MAX_PARTITIONS 1024

typedef struct broker_opts {
    const char *config;
    long port;
    long partitions;
    long brokers;
} broker_opts;

static void broker_usage(FILE *f)
{
    fprintf(f,
            "usage: leadpipe broker [--port P] [--partitions N] [-c PIPELINE.yaml]\n"
            "\n"
            "Serves an embedded Kafka-protocol broker (librdkafka's mock cluster) on\n"
            "127.0.0.1 until Ctrl-C, creates the pipeline's topics, and prints\n"
            "`bootstrap.servers=127.0.0.1:PORT` on stdout for kcat, `leadpipe import`\n"
            "or `leadpipe run --brokers`.\n"
            "\n"
            "This is a DEVELOPMENT broker, not for production: records live in memory\n"
            "only and vanish when it stops, each partition's log is capped (the oldest\n"
            "records are dropped silently past a few MiB), transactions are not real,\n"
            "and one thread serves every client.\n"
            "\n"
            "  -c, --config FILE    create the topics this pipeline names (default:\n"
            "                       leads.raw, leads.routed, leads.nurture, leads.rejected)\n"
            "  -p, --partitions N   partitions per topic (default %d)\n"
            "      --brokers N      brokers in the cluster (default 1)\n"
            "      --port P         accepted for compatibility, but librdkafka 2.0.2 cannot\n"
            "                       bind the mock cluster to a chosen port: it always\n"
            "                       listens on a port the kernel picks. Read the real\n"
            "                       address from the bootstrap.servers line.\n"
            "  -h, --help           show this help\n"
            "\n"
            "Exit status: 0 after SIGINT/SIGTERM, 1 if the broker cannot start,\n"
            "2 on a usage or pipeline error.\n",
            BROKER_DEFAULT_PARTITIONS);
}

/* Parses a whole decimal number in [lo, hi]. */
static bool broker_parse_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Returns -1 to go on, else the exit status. */
static int broker_parse_args(int argc, char **argv, broker_opts *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"partitions", required_argument, NULL, 'p'},
        {"port", required_argument, NULL, 'P'},   {"brokers", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    *o = (broker_opts){.partitions = BROKER_DEFAULT_PARTITIONS, .brokers = 1};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'h':
            broker_usage(stdout);
            return 0;
        case 'p':
        case 'P':
        case 'b': {
            long *dst = c == 'p' ? &o->partitions : c == 'P' ? &o->port : &o->brokers;
            long lo = c == 'P' ? 0 : 1;
            long hi = c == 'P' ? 65535 : c == 'p' ? BROKER_MAX_PARTITIONS : 16;
            if (!broker_parse_num(optarg, lo, hi, dst)) {
                fprintf(stderr, "leadpipe broker: --%s '%s' is not a number in %ld..%ld\n",
                        c == 'p'   ? "partitions"
                        : c == 'P' ? "port"
                                   : "brokers",
                        optarg, lo, hi);
                return 2;
            }
            break;
        }
        default:
            broker_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "leadpipe broker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* Creates the four topics of the pipeline (or of pipelines/default.yaml). */
static lp_err_t broker_create_topics(lp_broker *b, const broker_opts *o)
{
    lp_topics dflt = {"leads.raw", "leads.routed", "leads.nurture", "leads.rejected"};
    const lp_topics *t = &dflt;
    lp_pipeline *pl = NULL;
    int nerrors = 0;
    lp_err_t rc = LP_OK;
    if (o->config && (rc = lp_pipeline_load(o->config, stderr, &pl, &nerrors)) != LP_OK)
        return rc;
    if (pl)
        t = lp_pipeline_topics(pl);
    const char *names[] = {t->input, t->routed, t->nurture, t->rejected};
    for (size_t i = 0; i < 4 && rc == LP_OK; i++) {
        if (!names[i] || !*names[i])
            continue;
        if ((rc = lp_broker_create_topic(b, names[i], (int)o->partitions)) != LP_OK)
            fprintf(stderr, "leadpipe broker: %s\n", lp_broker_error(b));
        else
            fprintf(stderr, "leadpipe broker: topic %s (%ld partitions)\n", names[i],
                    o->partitions);
    }
    lp_pipeline_free(pl);
    return rc;
}

int lp_cmd_broker(int argc, char **argv)
{
    broker_opts o;
    int status = broker_parse_args(argc, argv, &o);
    if (status >= 0)
        return status;
    if (o.port != 0)
        fprintf(stderr,
                "leadpipe broker: --port %ld cannot be honoured: librdkafka 2.0.2's "
                "mock cluster listens on a port the kernel picks (see below)\n",
                o.port);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    lp_broker *b = NULL;
    lp_err_t rc = lp_broker_start((int)o.brokers, 0, &b);
    if (rc != LP_OK) {
        fprintf(stderr, "leadpipe broker: cannot start the embedded broker: %s\n", lp_err_str(rc));
        return 1;
    }
    if ((rc = broker_create_topics(b, &o)) != LP_OK) {
        lp_broker_stop(b);
        return rc == LP_E_KAFKA ? 1 : lp_err_exit_code(rc);
    }
    printf("bootstrap.servers=%s\n", lp_broker_bootstraps(b));
    fflush(stdout);
    fprintf(stderr, "leadpipe broker: development broker ready (in-memory, capped partition "
                    "logs, not for production); Ctrl-C stops it\n");
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "leadpipe broker: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    lp_broker_stop(b);
    return 0;
}
