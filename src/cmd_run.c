/*
 * cmd_run.c - `leadpipe run`: the pipeline as a Kafka consumer-group
 * service. Streams until SIGINT or SIGTERM, then drains in-flight work,
 * commits and exits 0.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "conf.h"
#include "embedded.h"
#include "pipeline.h"
#include "runtime.h"

static volatile sig_atomic_t run_stop;

static void on_signal(int sig)
{
    (void)sig;
    run_stop = 1;
}

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: leadpipe run -c PIPELINE.yaml [--brokers LIST] [--group ID] [--threads N]\n"
            "                    [-X prop=value]... [--idle-exit DURATION]\n"
            "       leadpipe run -c PIPELINE.yaml --embedded [--in FILE]... [--serve]\n"
            "\n"
            "Consumes raw leads from the pipeline's input topic in a consumer group, runs the\n"
            "compiled pipeline, and produces outcomes to the routed, nurture and rejected\n"
            "topics. Offsets are committed only once every output of a record is acknowledged\n"
            "by the broker (at-least-once). SIGINT or SIGTERM drains, commits and exits 0.\n"
            "\n"
            "  -c, --config FILE      pipeline file (topics, kafka settings, rules)\n"
            "  -b, --brokers LIST     bootstrap servers (default: the pipeline's kafka.brokers)\n"
            "  -g, --group ID         consumer group (default: leadpipe-<pipeline name>)\n"
            "  -t, --threads N        worker threads, one consumer each (default 1)\n"
            "  -X NAME=VALUE          librdkafka property for both clients; prefix it with\n"
            "                         consumer. or producer. to target one (repeatable)\n"
            "      --idle-exit DUR    exit once every assigned partition has been drained\n"
            "                         and idle for DUR (e.g. 5s); for jobs and tests\n"
            "  -q, --quiet            no periodic status lines\n"
            "\n"
            "Embedded mode (no Kafka needed; a development broker lives in the process):\n"
            "      --embedded         start the embedded broker, create the topics, import\n"
            "                         the --in files (default: the sample leads), stream them\n"
            "                         through the pipeline, then read the outcome topics back\n"
            "                         and report whether every lead has exactly one outcome\n"
            "      --in FILE          CSV, JSONL or Avro lead file to import (repeatable)\n"
            "      --partitions N     partitions per topic (default 8)\n"
            "      --rejects FILE     rows rejected at import (default import-rejected.jsonl)\n"
            "      --serve            keep streaming until SIGINT; prints bootstrap.servers so\n"
            "                         kcat or any client can produce and consume\n"
            "  -h, --help             show this help\n");
}

int lp_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"brokers", required_argument, NULL, 'b'},
        {"group", required_argument, NULL, 'g'},  {"threads", required_argument, NULL, 't'},
        {"idle-exit", required_argument, NULL, 'I'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {"embedded", no_argument, NULL, 'E'},
        {"in", required_argument, NULL, 'i'},     {"partitions", required_argument, NULL, 'P'},
        {"serve", no_argument, NULL, 'S'},        {"rejects", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    lp_runtime_opts o = {.threads = 1, .stop = &run_stop};
    const char *config = NULL;
    const char **xprops = calloc((size_t)argc + 1, sizeof(char *));
    const char **inputs = calloc((size_t)argc + 1, sizeof(char *));
    lp_embedded_opts eo = {.inputs = inputs, .partitions = 8, .run = &o,
                           .import_rejects = "import-rejected.jsonl"};
    bool embedded = false;
    int c, status = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:b:g:t:X:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'b': o.brokers = optarg; break;
        case 'g': o.group = optarg; break;
        case 'q': o.quiet = true; break;
        case 'X': xprops[o.nxprops++] = optarg; break;
        case 't': {
            char *end;
            long n = strtol(optarg, &end, 10);
            o.threads = (int)n;
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "leadpipe run: --threads must be 1..256\n");
                goto out;
            }
            break;
        }
        case 'I':
            if (!lp_conf_parse_duration(optarg, strlen(optarg), &o.idle_exit_ms)) {
                fprintf(stderr, "leadpipe run: --idle-exit '%s' is not a duration\n", optarg);
                goto out;
            }
            break;
        case 'E': embedded = true; break;
        case 'S': eo.serve = true; break;
        case 'i': inputs[eo.ninputs++] = optarg; break;
        case 'R': eo.import_rejects = optarg; break;
        case 'P': {
            char *end;
            long n = strtol(optarg, &end, 10);
            eo.partitions = (int)n;
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, "leadpipe run: --partitions must be 1..1024\n");
                goto out;
            }
            break;
        }
        case 'h': run_usage(stdout); status = 0; goto out;
        default: run_usage(stderr); goto out;
        }
    }
    if (!config || optind < argc) {
        fprintf(stderr, "leadpipe run: needs -c PIPELINE.yaml. Try 'leadpipe run --help'.\n");
        goto out;
    }
    if (!embedded && (eo.ninputs || eo.serve)) {
        fprintf(stderr, "leadpipe run: --in and --serve go with --embedded\n");
        goto out;
    }
    if (embedded && o.brokers) {
        fprintf(stderr, "leadpipe run: --brokers and --embedded exclude each other\n");
        goto out;
    }
    if (embedded && !eo.ninputs && !eo.serve)
        inputs[eo.ninputs++] = LP_SOURCE_DIR "/data/sample/leads.csv";
    if (embedded && !o.idle_exit_ms)
        o.idle_exit_ms = 2000;
    o.xprops = xprops;
    lp_pipeline *pl = NULL;
    int nerrors;
    lp_err_t rc = lp_pipeline_load(config, stderr, &pl, &nerrors);
    if (rc != LP_OK) {
        status = lp_err_exit_code(rc);
        goto out;
    }
    o.pl = pl;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (embedded) {
        eo.config = config;
        status = lp_embedded_run(&eo);
        lp_pipeline_free(pl);
        goto out;
    }
    lp_runtime_stats st;
    rc = lp_runtime_run(&o, &st);
    fprintf(stderr,
            "leadpipe run: %llu consumed, %llu routed, %llu rejected, %llu nurture tasks, "
            "%llu delivered (%llu produced again), %.1f s\n",
            (unsigned long long)st.consumed, (unsigned long long)st.routed,
            (unsigned long long)st.rejected, (unsigned long long)st.tasks,
            (unsigned long long)st.delivered, (unsigned long long)st.retried, st.seconds);
    lp_pipeline_report(pl, stderr);
    lp_pipeline_free(pl);
    status = lp_err_exit_code(rc);
out:
    free(inputs);
    free(xprops);
    return status;
}
