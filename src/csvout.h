/*
 * csvout.h - writing CSV rows (RFC 4180) into a growable buffer.
 *
 * A field is quoted when it holds a comma, a double quote, CR or LF, or
 * starts or ends with a space or tab (which readers would otherwise be free
 * to trim); quotes inside are doubled. Rows end with CRLF, as RFC 4180 says,
 * or with LF when the writer is set up so.
 *
 * Threads: a writer belongs to one thread at a time; it holds no global state.
 */
#ifndef LP_CSVOUT_H
#define LP_CSVOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

typedef struct lp_csvout {
    lp_buf *buf;     /* where rows go; owned by the caller */
    const char *eol; /* "\r\n" or "\n" */
    size_t nfields;  /* fields written in the current row */
} lp_csvout;

/* Sets w up to append rows to b, ending them with CRLF when crlf is true. */
void lp_csvout_init(lp_csvout *w, lp_buf *b, bool crlf);

/* True when the n bytes at s must be quoted to survive a round trip. */
bool lp_csvout_needs_quotes(const char *s, size_t n);

/* Appends one field (n bytes at s) to the current row. Returns LP_OK or LP_E_NOMEM. */
lp_err_t lp_csvout_field(lp_csvout *w, const char *s, size_t n);

/* Appends a NUL-terminated field; a NULL s is an empty field. */
lp_err_t lp_csvout_cstr(lp_csvout *w, const char *s);

/* Appends bytes to the current row exactly as given, with the separating
 * comma but no quoting: for writing deliberately broken rows. */
lp_err_t lp_csvout_raw(lp_csvout *w, const char *s, size_t n);

/* Ends the current row. Returns LP_OK or LP_E_NOMEM. */
lp_err_t lp_csvout_end_row(lp_csvout *w);

#endif
