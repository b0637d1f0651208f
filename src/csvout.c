/*
 * csvout.c - RFC 4180 field quoting and row assembly; see csvout.h.
 *
 * The common case (no special bytes) is one scan and one memcpy. Quoting
 * reserves the worst case (every byte a quote) up front so the copy loop
 * needs no growth checks.
 */
#include "csvout.h"

#include <string.h>

void lp_csvout_init(lp_csvout *w, lp_buf *b, bool crlf)
{
    w->buf = b;
    w->eol = crlf ? "\r\n" : "\n";
    w->nfields = 0;
}

bool lp_csvout_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return false;
    if (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')
        return true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ',' || c == '"' || c == '\n' || c == '\r')
            return true;
    }
    return false;
}

/* Writes the comma that separates a field from the one before it. */
static lp_err_t separate(lp_csvout *w)
{
    if (w->nfields++ && lp_buf_putc(w->buf, ','))
        return LP_E_NOMEM;
    return LP_OK;
}

lp_err_t lp_csvout_field(lp_csvout *w, const char *s, size_t n)
{
    if (separate(w))
        return LP_E_NOMEM;
    if (!lp_csvout_needs_quotes(s, n))
        return lp_buf_append(w->buf, s, n) ? LP_E_NOMEM : LP_OK;
    if (lp_buf_reserve(w->buf, 2 * n + 2))
        return LP_E_NOMEM;
    char *p = w->buf->data + w->buf->len;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            *p++ = '"';
        *p++ = s[i];
    }
    *p++ = '"';
    w->buf->len = (size_t)(p - w->buf->data);
    return LP_OK;
}

lp_err_t lp_csvout_cstr(lp_csvout *w, const char *s)
{
    return lp_csvout_field(w, s ? s : "", s ? strlen(s) : 0);
}

lp_err_t lp_csvout_raw(lp_csvout *w, const char *s, size_t n)
{
    if (separate(w) || lp_buf_append(w->buf, s, n))
        return LP_E_NOMEM;
    return LP_OK;
}

lp_err_t lp_csvout_end_row(lp_csvout *w)
{
    w->nfields = 0;
    return lp_buf_puts(w->buf, w->eol) ? LP_E_NOMEM : LP_OK;
}
