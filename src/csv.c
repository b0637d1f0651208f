/*
 * csv.c - the RFC 4180 tokenizer (see csv.h) and the CSV reader backend
 * that maps its rows onto leads (see reader.h).
 *
 * The tokenizer never copies: rows and fields are spans of the input
 * buffer. The backend copies only fields that hold doubled quotes (into
 * the batch arena) and the header names (into its own arena, for the life
 * of the reader).
 *
 * Invariant: every call to lp_csv_next() that returns LP_OK moves past at
 * least one line, and every line of the input belongs to exactly one row
 * or is blank. That is what makes rows in == records out.
 */
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reader_impl.h"

/* Outcome of scanning one field. */
enum csv_scan_status { CSV_FIELD_OK, CSV_UNTERMINATED, CSV_TOO_LONG };

/* The state of one row being scanned. */
struct csv_scan {
    lp_csv *c;
    lp_csv_row *row;
    size_t start;     /* first byte of the row */
    size_t p;         /* cursor */
    size_t limit;     /* start + max_row, at most len */
    int64_t newlines; /* newlines inside quoted fields so far */
    int32_t multicol; /* first field with a quoted newline, or -1 */
};

void lp_csv_init(lp_csv *c, const char *buf, size_t len, size_t max_row)
{
    memset(c, 0, sizeof(*c));
    c->buf = buf;
    c->len = len;
    c->line = 1;
    c->max_row = max_row;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        c->pos = 3;
}

void lp_csv_free(lp_csv *c)
{
    free(c->fields);
    c->fields = NULL;
    c->cap = 0;
}

size_t lp_csv_unescape(const lp_csv_field *f, char *dst)
{
    size_t o = 0;
    for (uint32_t i = 0; i < f->len; i++) {
        dst[o++] = f->ptr[i];
        if (f->ptr[i] == '"' && i + 1 < f->len && f->ptr[i + 1] == '"')
            i++;
    }
    return o;
}

/* Skips blank lines (only spaces or tabs); false at the end of input. */
static bool csv_skip_blank(lp_csv *c)
{
    while (c->pos < c->len) {
        size_t p = c->pos;
        while (p < c->len && (c->buf[p] == ' ' || c->buf[p] == '\t'))
            p++;
        if (p < c->len && c->buf[p] == '\r' && p + 1 < c->len && c->buf[p + 1] == '\n')
            p++;
        if (p < c->len && c->buf[p] != '\n')
            return true;
        c->pos = p < c->len ? p + 1 : p;
        c->line++;
    }
    return false;
}

/* True when p is at a line terminator or the end of input. */
static bool csv_at_eol(const lp_csv *c, size_t p)
{
    return p >= c->len || c->buf[p] == '\n' ||
           (c->buf[p] == '\r' && (p + 1 == c->len || c->buf[p + 1] == '\n'));
}

/* Records the row's first error only. */
static void csv_set_err(lp_csv_row *row, lp_err_t err, int32_t col, const char *what)
{
    if (row->err != LP_OK)
        return;
    row->err = err;
    row->errcol = col;
    row->errwhat = what;
}

/* Scans an unquoted field (or the junk after a closing quote) up to ',' or
 * the end of the line. */
static enum csv_scan_status csv_scan_unquoted(struct csv_scan *s, lp_csv_field *f, bool junk)
{
    const char *buf = s->c->buf;
    size_t p = s->p, from = s->p;
    while (p < s->limit && buf[p] != ',' && buf[p] != '\n')
        p++;
    if (p < s->c->len && buf[p] != ',' && buf[p] != '\n')
        return CSV_TOO_LONG;
    s->p = p;
    if (junk)
        return CSV_FIELD_OK;
    if (p > from && buf[p - 1] == '\r' && (p == s->c->len || buf[p] == '\n'))
        p--;
    f->ptr = buf + from;
    f->len = (uint32_t)(p - from);
    return CSV_FIELD_OK;
}

/* Counts the newlines in a closed quoted field. */
static void csv_count_newlines(struct csv_scan *s, lp_csv_field *f)
{
    const char *p = f->ptr, *end = f->ptr + f->len;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        s->newlines++;
        f->multiline = true;
        p++;
    }
    if (f->multiline && s->multicol < 0)
        s->multicol = (int32_t)s->row->nfields;
}

/* Scans a quoted field starting at the opening quote. */
static enum csv_scan_status csv_scan_quoted(struct csv_scan *s, lp_csv_field *f)
{
    const char *buf = s->c->buf;
    size_t q = s->p + 1;
    const char *close;
    f->quoted = true;
    for (;;) {
        close = q < s->limit ? memchr(buf + q, '"', s->limit - q) : NULL;
        if (!close)
            return CSV_UNTERMINATED;
        size_t x = (size_t)(close - buf);
        if (x + 1 >= s->c->len || buf[x + 1] != '"')
            break;
        f->escaped = true;
        q = x + 2;
    }
    f->ptr = buf + s->p + 1;
    f->len = (uint32_t)(close - f->ptr);
    csv_count_newlines(s, f);
    s->p = (size_t)(close - buf) + 1;
    if (s->p < s->c->len && buf[s->p] != ',' && !csv_at_eol(s->c, s->p)) {
        csv_set_err(s->row, LP_E_ROW_MALFORMED, (int32_t)s->row->nfields,
                    "text after closing quote");
        return csv_scan_unquoted(s, f, true);
    }
    return CSV_FIELD_OK;
}

/* Appends a field to the row, growing the shared array. */
static lp_err_t csv_push(lp_csv *c, lp_csv_row *row, const lp_csv_field *f)
{
    if (row->nfields == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 32;
        lp_csv_field *nf = realloc(c->fields, cap * sizeof(*nf));
        if (!nf)
            return LP_E_NOMEM;
        c->fields = nf;
        c->cap = cap;
    }
    c->fields[row->nfields++] = *f;
    row->fields = c->fields;
    return LP_OK;
}

/* Ends the row at the terminator that starts at p (or at the end of
 * input) and moves the tokenizer past it. */
static void csv_end_row(lp_csv *c, lp_csv_row *row, size_t p, int64_t lines)
{
    size_t next = p < c->len ? p + 1 : c->len;
    if (p < c->len && c->buf[p] == '\r')
        next = p + 2 <= c->len ? p + 2 : c->len;
    else if (p > (size_t)(row->raw - c->buf) && c->buf[p - 1] == '\r')
        p--;
    row->rawlen = p - (size_t)(row->raw - c->buf);
    c->pos = next;
    c->line = row->line + lines;
}

/* Treats the row as an unterminated quote: the row becomes its first line
 * and reading resumes on the next one. */
static void csv_cut_first_line(lp_csv *c, lp_csv_row *row, int32_t col)
{
    size_t start = (size_t)(row->raw - c->buf);
    const char *nl = memchr(c->buf + start, '\n', c->len - start);
    row->err = LP_OK;
    csv_set_err(row, LP_E_ROW_MALFORMED, col, "unterminated quoted field");
    row->nfields = 0;
    csv_end_row(c, row, nl ? (size_t)(nl - c->buf) : c->len, 1);
}

/* A row over the size limit ends at the next newline. */
static void csv_too_long(struct csv_scan *s)
{
    if (s->multicol >= 0) {
        csv_cut_first_line(s->c, s->row, s->multicol);
        return;
    }
    const lp_csv *c = s->c;
    const char *nl = memchr(c->buf + s->p, '\n', c->len - s->p);
    csv_set_err(s->row, LP_E_ROW_TOO_LONG, -1, "row too long");
    s->row->nfields = 0;
    csv_end_row(s->c, s->row, nl ? (size_t)(nl - c->buf) : c->len, s->newlines + 1);
}

/* Checks the field count and settles where the row ends. */
static void csv_finish_row(struct csv_scan *s)
{
    lp_csv_row *row = s->row;
    if (s->c->max_row && s->p - s->start > s->c->max_row)
        csv_set_err(row, LP_E_ROW_TOO_LONG, -1, "row too long");
    if (row->err == LP_OK && s->c->nexpect && row->nfields != s->c->nexpect)
        csv_set_err(row, LP_E_ROW_MALFORMED, -1, "field count");
    if (row->err != LP_OK && s->multicol >= 0) {
        csv_cut_first_line(s->c, row, s->multicol);
        return;
    }
    csv_end_row(s->c, row, s->p, s->newlines + 1);
}

lp_err_t lp_csv_next(lp_csv *c, lp_csv_row *row)
{
    if (!csv_skip_blank(c))
        return LP_E_EOF;
    memset(row, 0, sizeof(*row));
    row->raw = c->buf + c->pos;
    row->line = c->line;
    row->errcol = -1;
    row->fields = c->fields;
    struct csv_scan s = {c, row, c->pos, c->pos, c->len, 0, -1};
    if (c->max_row && c->len - c->pos > c->max_row)
        s.limit = c->pos + c->max_row;
    for (;;) {
        lp_csv_field f = {0};
        enum csv_scan_status st = s.p < c->len && c->buf[s.p] == '"'
                                      ? csv_scan_quoted(&s, &f)
                                      : csv_scan_unquoted(&s, &f, false);
        if (st == CSV_UNTERMINATED) {
            csv_cut_first_line(c, row, (int32_t)row->nfields);
            return LP_OK;
        }
        if (st == CSV_TOO_LONG) {
            csv_too_long(&s);
            return LP_OK;
        }
        if (csv_push(c, row, &f) != LP_OK)
            return LP_E_NOMEM;
        if (s.p >= c->len || c->buf[s.p] != ',')
            break;
        s.p++;
    }
    csv_finish_row(&s);
    return LP_OK;
}

/* ------------------------------------------------------------------------
 * The CSV reader backend
 */

struct csv_col {
    const char *name; /* header as written, trimmed; NUL-terminated */
    uint32_t namelen;
    int field;        /* lp_field_id or LP_FIELDMAP_CUSTOM */
    int32_t prio;
};

struct csv_state {
    lp_csv tok;
    struct csv_col *cols;
    uint32_t ncols;
    lp_arena names; /* header names, for the reader's life */
};

/* Text of a field: the span itself, or an unescaped copy in the arena. */
static lp_err_t csv_text(lp_arena *a, const lp_csv_field *f, const char **s, size_t *n)
{
    if (!f->escaped) {
        *s = f->ptr;
        *n = f->len;
        return LP_OK;
    }
    char *dst = lp_arena_alloc(a, f->len ? f->len : 1);
    if (!dst)
        return LP_E_NOMEM;
    *n = lp_csv_unescape(f, dst);
    *s = dst;
    return LP_OK;
}

/* The export flavour, from the id column only one vendor writes. */
static const char *csv_flavour(const struct csv_state *s)
{
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (strcasecmp(s->cols[i].name, "Apollo Contact Id") == 0)
            return "apollo";
        if (strcasecmp(s->cols[i].name, "Record ID") == 0)
            return "hubspot";
        if (strcasecmp(s->cols[i].name, "Lead ID") == 0)
            return "salesforce";
    }
    return "csv";
}

/* Resolves header column i through the field map. */
static lp_err_t csv_add_col(lp_reader *r, struct csv_state *s, const lp_csv_field *f, uint32_t i)
{
    struct csv_col *col = &s->cols[i];
    const char *text;
    size_t n;
    if (csv_text(&s->names, f, &text, &n) != LP_OK)
        return LP_E_NOMEM;
    lp_parse_trim(&text, &n);
    col->name = n ? lp_arena_strndup(&s->names, text, n)
                  : lp_arena_sprintf(&s->names, "column %u", i + 1);
    if (!col->name)
        return LP_E_NOMEM;
    col->namelen = (uint32_t)strlen(col->name);
    col->field = n ? lp_fieldmap_lookup(r->map, text, n, &col->prio) : LP_FIELDMAP_CUSTOM;
    return LP_OK;
}

/* Reads the header row; an empty input has no columns and no rows. */
static lp_err_t csv_read_header(lp_reader *r, struct csv_state *s, char *err, size_t errlen)
{
    lp_csv_row row;
    lp_err_t rc = lp_csv_next(&s->tok, &row);
    if (rc == LP_E_EOF)
        return LP_OK;
    if (rc != LP_OK)
        return rc;
    if (row.err != LP_OK) {
        snprintf(err, errlen, "%s:%lld: header row: %s", r->path, (long long)row.line,
                 row.errwhat);
        return row.err;
    }
    s->cols = lp_arena_alloc(&s->names, row.nfields * sizeof(*s->cols));
    if (!s->cols)
        return LP_E_NOMEM;
    s->ncols = row.nfields;
    for (uint32_t i = 0; i < row.nfields; i++)
        if ((rc = csv_add_col(r, s, &row.fields[i], i)) != LP_OK)
            return rc;
    s->tok.nexpect = s->ncols;
    return LP_OK;
}

/* The name of column i for messages, also past the header's end. */
static const char *csv_col_name(lp_arena *a, const struct csv_state *s, int32_t i)
{
    if (i >= 0 && (uint32_t)i < s->ncols)
        return s->cols[i].name;
    const char *name = lp_arena_sprintf(a, "column %d", i + 1);
    return name ? name : "column";
}

/* Rejects a row the tokenizer found broken. */
static void csv_reject_structure(lp_reader *r, const struct csv_state *s, lp_arena *a,
                                 lp_record *rec, const lp_csv_row *row)
{
    const char *msg;
    if (row->err == LP_E_ROW_TOO_LONG)
        msg = lp_arena_sprintf(a, "row is longer than %zu bytes", r->max_row);
    else if (row->errcol < 0)
        msg = lp_arena_sprintf(a, "row has %u fields, header has %u", row->nfields, s->ncols);
    else
        msg = lp_arena_sprintf(a, "column \"%s\": %s", csv_col_name(a, s, row->errcol),
                               row->errwhat);
    lp_reader_reject(rec, row->err, msg);
}

/* The length of a field once unescaped. */
static size_t csv_value_len(const lp_csv_field *f)
{
    size_t n = f->len;
    if (!f->escaped)
        return n;
    for (uint32_t i = 0; i + 1 < f->len; i++)
        if (f->ptr[i] == '"' && f->ptr[i + 1] == '"') {
            n--;
            i++;
        }
    return n;
}

/* Checks sizes and encoding; rejects the row and returns false on the
 * first bad field. */
static bool csv_check_values(lp_reader *r, const struct csv_state *s, lp_arena *a,
                             lp_record *rec, const lp_csv_row *row)
{
    bool utf8_ok = lp_parse_utf8(row->raw, row->rawlen) == LP_OK;
    for (uint32_t i = 0; i < row->nfields; i++) {
        const lp_csv_field *f = &row->fields[i];
        size_t n = csv_value_len(f);
        if (n > r->max_field) {
            lp_reader_reject(rec, LP_E_FIELD_TOO_LONG,
                             lp_arena_sprintf(a, "column \"%s\": value is %zu bytes, limit is %zu",
                                              s->cols[i].name, n, r->max_field));
            return false;
        }
        if (!utf8_ok && lp_parse_utf8(f->ptr, f->len) != LP_OK) {
            lp_reader_reject(rec, LP_E_ENCODING,
                             lp_fieldmap_errmsg(a, LP_E_ENCODING, "column", s->cols[i].name,
                                                s->cols[i].namelen, f->ptr, f->len));
            return false;
        }
    }
    return true;
}

static bool csv_blank(const lp_csv_field *f)
{
    for (uint32_t i = 0; i < f->len; i++)
        if (f->ptr[i] != ' ' && f->ptr[i] != '\t' && f->ptr[i] != '\r' && f->ptr[i] != '\n')
            return false;
    return true;
}

/* Stores column i's value in its field (if it won) or as a custom
 * attribute. Returns LP_E_NOMEM, or LP_OK (rec may now be rejected). */
static lp_err_t csv_map_value(const struct csv_state *s, lp_arena *a, lp_record *rec,
                              const lp_fieldpick *pick, const lp_csv_field *f, uint32_t i)
{
    const struct csv_col *col = &s->cols[i];
    const char *v;
    size_t n;
    if (csv_text(a, f, &v, &n) != LP_OK)
        return LP_E_NOMEM;
    if (col->field < 0 || pick->col[col->field] != (int32_t)i) {
        lp_parse_trim(&v, &n);
        lp_reader_add_custom(&rec->lead, col->name, col->namelen, v, n);
        return LP_OK;
    }
    lp_err_t rc = lp_fieldmap_set_text(&rec->lead, a, (lp_field_id)col->field, v, n);
    if (rc == LP_E_NOMEM)
        return rc;
    if (rc != LP_OK)
        lp_reader_reject(rec, rc,
                         lp_fieldmap_errmsg(a, rc, "column", col->name, col->namelen, v, n));
    return LP_OK;
}

/* Maps a well-formed row onto the lead. */
static lp_err_t csv_map_row(lp_reader *r, const struct csv_state *s, lp_arena *a,
                            lp_record *rec, const lp_csv_row *row)
{
    if (!csv_check_values(r, s, a, rec, row))
        return LP_OK;
    lp_fieldpick pick;
    lp_fieldpick_reset(&pick);
    for (uint32_t i = 0; i < row->nfields; i++)
        if (!csv_blank(&row->fields[i]))
            lp_fieldpick_offer(&pick, s->cols[i].field, s->cols[i].prio, (int32_t)i);
    rec->lead.custom = lp_arena_alloc(a, s->ncols * sizeof(lp_kv));
    if (!rec->lead.custom)
        return LP_E_NOMEM;
    for (uint32_t i = 0; i < row->nfields; i++) {
        if (csv_blank(&row->fields[i]))
            continue;
        lp_err_t rc = csv_map_value(s, a, rec, &pick, &row->fields[i], i);
        if (rc != LP_OK)
            return rc;
    }
    return LP_OK;
}

static lp_err_t csv_next(lp_reader *r, lp_arena *a, lp_record *rec)
{
    struct csv_state *s = r->state;
    lp_csv_row row;
    if (s->ncols == 0)
        return LP_E_EOF;
    lp_err_t rc = lp_csv_next(&s->tok, &row);
    r->pos = s->tok.pos;
    if (rc != LP_OK)
        return rc;
    rec->raw = (lp_str){row.raw, (uint32_t)row.rawlen};
    rec->origin.offset = row.line;
    if (row.err != LP_OK)
        csv_reject_structure(r, s, a, rec, &row);
    else if ((rc = csv_map_row(r, s, a, rec, &row)) != LP_OK)
        return rc;
    return lp_reader_finish(r, a, rec);
}

static void csv_close(lp_reader *r)
{
    struct csv_state *s = r->state;
    if (!s)
        return;
    lp_csv_free(&s->tok);
    lp_arena_free(&s->names);
    free(s);
}

static const struct lp_reader_backend csv_backend = {csv_next, NULL, csv_close};

lp_err_t lp_csv_reader_init(lp_reader *r, char *err, size_t errlen)
{
    struct csv_state *s = calloc(1, sizeof(*s));
    if (!s)
        return LP_E_NOMEM;
    r->be = &csv_backend;
    r->state = s;
    lp_arena_init(&s->names, 0);
    lp_csv_init(&s->tok, r->buf, r->len, r->max_row);
    lp_err_t rc = csv_read_header(r, s, err, errlen);
    r->flavour = csv_flavour(s);
    r->pos = s->tok.pos;
    return rc;
}
