/*
 * csv.h - an RFC 4180 tokenizer that never loses a row.
 *
 * The tokenizer walks a buffer that holds the whole input and hands out one
 * row at a time: its raw bytes, the line it starts on and its fields as
 * zero-copy spans. Quoted fields may hold commas, newlines and doubled
 * quotes; a span of a field with doubled quotes is still escaped (flag
 * `escaped`) and lp_csv_unescape() copies it out. Rows end with LF or CRLF;
 * a UTF-8 byte order mark at the start is skipped; blank lines (nothing but
 * spaces or tabs) are skipped. A quote inside an unquoted field is data.
 *
 * Broken rows are reported, not fatal (row->err):
 *   - text after a closing quote, or a field count that differs from the
 *     expected one: LP_E_ROW_MALFORMED;
 *   - a row longer than the limit: LP_E_ROW_TOO_LONG;
 *   - a quoted field that is not closed before the row limit or the end of
 *     the input: LP_E_ROW_MALFORMED "unterminated quoted field".
 * When a broken row spans several lines because of a quoted newline, the
 * quote is taken to be unterminated: the row is cut back to its first line
 * and reading resumes on the next line, so one stray quote costs one row,
 * never the rest of the file.
 *
 * Threads: a tokenizer belongs to one thread. It allocates only its field
 * array, which grows to the widest row and is reused.
 */
#ifndef LP_CSV_H
#define LP_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct lp_csv_field {
    const char *ptr; /* the field's bytes, inside the quotes if quoted */
    uint32_t len;
    bool quoted;
    bool escaped;    /* holds doubled quotes: use lp_csv_unescape */
    bool multiline;  /* a quoted field with a newline in it */
} lp_csv_field;

typedef struct lp_csv_row {
    const char *raw; /* the row without its line terminator */
    size_t rawlen;
    int64_t line;    /* 1-based line on which the row starts */
    lp_csv_field *fields;
    uint32_t nfields;
    lp_err_t err;        /* LP_OK, LP_E_ROW_MALFORMED or LP_E_ROW_TOO_LONG */
    int32_t errcol;      /* the field the error is about, or -1 */
    const char *errwhat; /* static reason, e.g. "unterminated quoted field" */
} lp_csv_row;

typedef struct lp_csv {
    const char *buf;
    size_t len;
    size_t pos;        /* start of the next row */
    int64_t line;      /* line number at pos */
    size_t max_row;    /* row size limit in bytes */
    uint32_t nexpect;  /* expected fields per row; 0: any */
    lp_csv_field *fields;
    uint32_t cap;
} lp_csv;

/* Starts tokenizing buf (len bytes, kept by the caller) with a row limit. */
void lp_csv_init(lp_csv *c, const char *buf, size_t len, size_t max_row);

/* Frees the field array. */
void lp_csv_free(lp_csv *c);

/*
 * Reads the next non-blank row into row; its fields stay valid until the
 * next call. Returns LP_OK (check row->err), LP_E_EOF, or LP_E_NOMEM.
 */
lp_err_t lp_csv_next(lp_csv *c, lp_csv_row *row);

/* Copies field f to dst (f->len bytes suffice) with doubled quotes undone;
 * returns the length written. */
size_t lp_csv_unescape(const lp_csv_field *f, char *dst);

#endif
