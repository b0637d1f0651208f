/*
 * embedded.h - `leadpipe run --embedded`: broker, import, stream and a
 * conservation report, all in one process.
 */
#ifndef LP_EMBEDDED_H
#define LP_EMBEDDED_H

#include <stdbool.h>

#include "runtime.h"

typedef struct lp_embedded_opts {
    const char *config;             /* pipeline file, for the in-process import */
    const char *const *inputs;      /* lead files to import first */
    int ninputs;
    const char *import_rejects;     /* where rows rejected at import go */
    int partitions;                 /* per topic */
    bool serve;                     /* keep running until SIGINT */
    const lp_runtime_opts *run;     /* threads, -X, stop flag, idle exit */
} lp_embedded_opts;

/* Runs the embedded system; returns the process exit status. */
int lp_embedded_run(const lp_embedded_opts *o);

#endif
