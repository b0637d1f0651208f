/*
 * conf.h - declarative configuration tables over YAML (libfyaml).
 *
 * Each section of a pipeline file is described by a table of lp_conf_prop:
 * key, type, where the value goes in the section's struct, its default and a
 * line of documentation. One table does three jobs: it fills the struct, it
 * rejects unknown keys (naming the valid ones), and it generates
 * CONFIGURATION.md (`leadpipe check --doc`), so the docs cannot drift from
 * the code.
 *
 * Errors go through lp_diag as `file:line:col: message`, and loading goes on
 * after an error so that one `leadpipe check` reports every problem.
 *
 * Strings from the file are copied into a caller-supplied arena that lives
 * as long as the compiled pipeline. `${NAME}` in a string is replaced by the
 * environment variable NAME, so secrets never sit in the file.
 *
 * Threads: loading is single-threaded.
 */
#ifndef LP_CONF_H
#define LP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libfyaml.h>

#include "arena.h"

/* Collects configuration errors for one file. */
typedef struct lp_diag {
    const char *file; /* as the user named it */
    FILE *out;        /* where messages go (stderr) */
    int errors;
} lp_diag;

/* Reports an error located at node n (or at the document start if n is NULL). */
void lp_diag_node(lp_diag *d, struct fy_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports an error at node n's scalar text plus offset bytes. */
void lp_diag_node_offset(lp_diag *d, struct fy_node *n, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef enum lp_conf_type {
    LP_CONF_STR,      /* char *, copied, ${ENV} expanded */
    LP_CONF_INT,      /* int64_t */
    LP_CONF_DOUBLE,   /* double */
    LP_CONF_BOOL,     /* bool */
    LP_CONF_DURATION, /* int64_t milliseconds, written 500ms, 30s, 15m, 12h, 30d */
    LP_CONF_ENUM,     /* int, index into choices */
    LP_CONF_FIELDS,   /* uint64_t mask of lead fields, written as a list of names */
    LP_CONF_NODE,     /* struct fy_node *, parsed by the section's own code */
    LP_CONF_EXPR,     /* struct fy_node * of a rule expression, compiled by the stage */
} lp_conf_type;

typedef struct lp_conf_prop {
    const char *key;
    lp_conf_type type;
    size_t offset;               /* offsetof() in the section struct */
    const char *def;             /* default as YAML text; NULL: none */
    const char *doc;             /* one line for CONFIGURATION.md */
    const char *const *choices;  /* LP_CONF_ENUM: NULL-terminated names */
    bool required;
} lp_conf_prop;

/* A documented section of the pipeline file. */
typedef struct lp_conf_section {
    const char *name;
    const char *doc;
    const lp_conf_prop *props; /* terminated by a {NULL} entry */
} lp_conf_section;

/*
 * Sets dst's fields to their defaults, then to the values of mapping node
 * map (NULL: defaults only). Returns the number of errors reported.
 */
int lp_conf_apply(lp_diag *d, lp_arena *mem, struct fy_node *map, const lp_conf_prop *props,
                  void *dst);

/* Scalar readers used by sections with custom parsing; each reports its own errors. */
bool lp_conf_str(lp_diag *d, lp_arena *mem, struct fy_node *n, char **out);
bool lp_conf_int(lp_diag *d, struct fy_node *n, int64_t *out);
bool lp_conf_double(lp_diag *d, struct fy_node *n, double *out);
bool lp_conf_duration(lp_diag *d, struct fy_node *n, int64_t *out_ms);

/* Parses a duration such as "30d" into milliseconds; false when malformed. */
bool lp_conf_parse_duration(const char *s, size_t len, int64_t *out_ms);

/* Returns the scalar text of n and its length, or NULL when n is not a scalar. */
const char *lp_conf_scalar(struct fy_node *n, size_t *len);

/* Looks up key in mapping n; NULL when absent. */
struct fy_node *lp_conf_get(struct fy_node *map, const char *key);

/* Writes a Markdown reference of the sections to f. */
void lp_conf_doc(FILE *f, const lp_conf_section *sections, size_t n);

#endif
