/*
 * main.c - the leadpipe binary: git-style subcommand dispatch.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

struct lp_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct lp_command lp_commands[] = {
    {"check", lp_cmd_check, "compile a pipeline and report every error"},
    {"batch", lp_cmd_batch, "run a pipeline offline, from files to files"},
    {"run", lp_cmd_run, "stream leads from Kafka through a pipeline (consumer group)"},
    {"bench", lp_cmd_bench, "measure throughput, latency and memory (in memory and via Kafka)"},
    {"gen", lp_cmd_gen, "generate realistic synthetic leads (CSV or JSONL)"},
    {"import", lp_cmd_import, "load CSV, JSONL or Avro files into a Kafka topic"},
    {"broker", lp_cmd_broker, "serve the embedded development Kafka broker on loopback"},
    {"cache", lp_cmd_cache, "load, inspect and purge the LMDB enrichment cache"},
};

#define LP_NCOMMANDS (sizeof(lp_commands) / sizeof(lp_commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: leadpipe <command> [options]\n\n"
               "leadpipe turns raw B2B sales leads into scored, qualified and routed\n"
               "outcomes, from Kafka or from files.\n\ncommands:\n");
    for (size_t i = 0; i < LP_NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", lp_commands[i].name, lp_commands[i].summary);
    fprintf(f, "\nRun 'leadpipe <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("leadpipe %s\n", LP_VERSION);
        return 0;
    }
    for (size_t i = 0; i < LP_NCOMMANDS; i++)
        if (!strcmp(name, lp_commands[i].name))
            return lp_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "leadpipe: '%s' is not a command. See 'leadpipe --help'.\n", name);
    return 2;
}
