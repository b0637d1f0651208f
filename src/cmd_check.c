/*
 * cmd_check.c - `leadpipe check`: compile a pipeline and report every error
 * as file:line:col: message. Also prints the configuration reference that
 * CONFIGURATION.md is generated from.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "pipeline.h"

static void check_usage(FILE *f)
{
    fprintf(f, "usage: leadpipe check -c PIPELINE.yaml\n"
               "       leadpipe check --doc\n\n"
               "Compiles a pipeline file and reports every error as file:line:col: message.\n\n"
               "  -c, --config FILE  the pipeline file to check\n"
               "      --doc          print the configuration reference (CONFIGURATION.md)\n"
               "  -h, --help         show this help\n\n"
               "Exit status: 0 when the pipeline compiles, 2 when it has errors.\n");
}

int lp_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"doc", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'd': lp_pipeline_doc(stdout); return 0;
        case 'h': check_usage(stdout); return 0;
        default: check_usage(stderr); return 2;
        }
    }
    if (!path && optind < argc)
        path = argv[optind++];
    if (!path || optind < argc) {
        check_usage(stderr);
        return 2;
    }
    lp_pipeline *pl = NULL;
    int nerrors = 0;
    lp_err_t err = lp_pipeline_load(path, stderr, &pl, &nerrors);
    if (err != LP_OK) {
        fprintf(stderr, "%s: %d error%s\n", path, nerrors, nerrors == 1 ? "" : "s");
        return err == LP_E_IO ? 1 : 2;
    }
    printf("%s: ok (pipeline '%s', version %s, %zu rules)\n", path, lp_pipeline_name(pl),
           lp_pipeline_version(pl), lp_pipeline_rules(pl));
    lp_pipeline_free(pl);
    return 0;
}
