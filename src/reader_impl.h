/*
 * reader_impl.h - library-internal: the reader object shared by reader.c and
 * its format backends (csv.c, jsonl.c, avrofile.c).
 *
 * reader.c loads the input (mmap, or all of stdin), picks the format and
 * calls the backend's init, which installs its callbacks and state. Every
 * backend fills a record and then calls lp_reader_finish() for the
 * defaults (lead id, source, received_at), so all formats agree on them.
 */
#ifndef LP_READER_IMPL_H
#define LP_READER_IMPL_H

#include <stdio.h>

#include "reader.h"

struct lp_reader_backend {
    /* Fills rec (already initialised, origin.name set); LP_E_EOF at the end. */
    lp_err_t (*next)(lp_reader *r, lp_arena *a, lp_record *rec);
    /* Bytes consumed so far; NULL: r->pos. */
    uint64_t (*done)(const lp_reader *r);
    /* Frees the backend state. */
    void (*close)(lp_reader *r);
};

struct lp_reader {
    const struct lp_reader_backend *be;
    void *state; /* the backend's */
    lp_format format;
    char *path;               /* origin name of every record */
    const lp_fieldmap *map;   /* the options' map, or own_map */
    lp_fieldmap *own_map;     /* built-in map when the options gave none */
    size_t max_field;         /* bytes */
    size_t max_row;           /* bytes */
    int64_t now_ms;           /* default received_at */
    const char *flavour;      /* default source */
    char error[256];          /* last fatal error of next(), for lp_reader_error */

    const char *buf; /* the whole input */
    size_t len;
    size_t pos;      /* bytes consumed (CSV, JSONL) */
    void *mapped;    /* mmap of buf, or NULL */
    size_t released; /* bytes of the mapping already dropped from memory */
    char *heap;      /* malloc'd buf (stdin), or NULL */
};

/* Applies the defaults: lead id from raw and line, source, received_at. */
lp_err_t lp_reader_finish(lp_reader *r, lp_arena *a, lp_record *rec);

/* Rejects rec at the read stage with msg (arena or static). The first
 * problem of a row is the one reported; mapping goes on so that a rejected
 * record still carries the row's lead id. */
static inline void lp_reader_reject(lp_record *rec, lp_err_t err, const char *msg)
{
    if (rec->err == LP_OK)
        lp_record_reject(rec, LP_STAGE_READ, err, msg);
}

/* Appends a custom attribute; the caller sized lead.custom beforehand. */
static inline void lp_reader_add_custom(lp_lead *l, const char *k, size_t kn, const char *v,
                                        size_t vn)
{
    l->custom[l->ncustom].key = (lp_str){k, (uint32_t)kn};
    l->custom[l->ncustom].val = (lp_str){v, (uint32_t)vn};
    l->ncustom++;
}

/* Backend inits: install r->be and r->state, or fail with a message. */
lp_err_t lp_csv_reader_init(lp_reader *r, char *err, size_t errlen);
lp_err_t lp_jsonl_reader_init(lp_reader *r, char *err, size_t errlen);
lp_err_t lp_avrofile_reader_init(lp_reader *r, char *err, size_t errlen);

#endif
