/*
 * fieldmap.h - from export columns to lead fields, and from export text to
 * typed values.
 *
 * A field map answers "which lead field does this column (CSV header, JSON
 * key, Avro field name) feed, and how strongly?". It holds the built-in
 * aliases that cover the Apollo, HubSpot and Salesforce export headers and
 * every input field's canonical name, plus entries a user adds. Names match
 * ignoring ASCII case, surrounding whitespace, and the separators ' ', '_'
 * and '-' ("Lead ID", "lead_id" and "LeadId" are one name).
 *
 * When several columns of one row feed the same field (Apollo's six phone
 * columns, "Company" and "Company Name for Emails"), the non-empty column
 * with the best priority wins (lp_fieldpick) and the others are kept as
 * custom attributes by the readers, so no value is lost.
 *
 * The lp_parse_* functions turn text the way real exports write it into
 * typed values ("10,001+", "$4.5M", "2024-01-15 10:30"). Readers and the
 * Kafka decoder share them. They never allocate, except lp_parse_list,
 * which uses the caller's arena.
 *
 * Threads: a map is built by one thread; once built, lookups from any
 * number of threads are safe. The parsers are pure functions.
 */
#ifndef LP_FIELDMAP_H
#define LP_FIELDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "lead.h"

/* The field value of a column that becomes a custom attribute. */
#define LP_FIELDMAP_CUSTOM (-1)

typedef struct lp_fieldmap lp_fieldmap;

/* Creates a map holding the built-in aliases; NULL when out of memory. */
lp_fieldmap *lp_fieldmap_new(void);

/*
 * Maps header (any case and spacing) to field, an input lp_field_id, or to
 * LP_FIELDMAP_CUSTOM to keep that column out of every field. User entries
 * replace a built-in alias of the same name and outrank every built-in
 * alias; among themselves, the one added first ranks first. Returns
 * LP_E_CONFIG for an empty header or a field that is not an input field.
 */
lp_err_t lp_fieldmap_add(lp_fieldmap *m, const char *header, int field);

/* Frees a map; NULL is fine. */
void lp_fieldmap_free(lp_fieldmap *m);

/*
 * Looks up the column name (len bytes). Returns its lp_field_id, or
 * LP_FIELDMAP_CUSTOM when the name is unknown. *prio (may be NULL) gets the
 * entry's rank: lower wins when two columns feed one field.
 */
int lp_fieldmap_lookup(const lp_fieldmap *m, const char *name, size_t len, int32_t *prio);

/*
 * Per-record choice of the winning column for each field. Offer every
 * non-empty mapped column in input order; the lowest prio wins, and on a tie
 * the first offered.
 */
typedef struct lp_fieldpick {
    int32_t col[LP_F_COUNT];  /* winning column index, -1 for none */
    int32_t prio[LP_F_COUNT]; /* its rank */
} lp_fieldpick;

/* Forgets every winner. */
void lp_fieldpick_reset(lp_fieldpick *p);

/* Offers column col (rank prio) for field; ignores LP_FIELDMAP_CUSTOM. */
static inline void lp_fieldpick_offer(lp_fieldpick *p, int field, int32_t prio, int32_t col)
{
    if (field < 0)
        return;
    if (p->col[field] < 0 || prio < p->prio[field]) {
        p->col[field] = col;
        p->prio[field] = prio;
    }
}

/*
 * Parses the text s (n bytes) as the value of field f and stores it in the
 * lead. The text is trimmed; empty text leaves the field absent. Strings
 * and list items point into s (so s must live as long as the lead); phones
 * lose a leading apostrophe. Returns LP_OK, or the record-level code of the
 * first problem (LP_E_NUMBER_INVALID, LP_E_TIMESTAMP_INVALID,
 * LP_E_BOOL_INVALID, LP_E_NOMEM). Counts (page views, opens, clicks, form
 * fills) also accept true/false as 1/0.
 */
lp_err_t lp_fieldmap_set_text(lp_lead *l, lp_arena *a, lp_field_id f, const char *s, size_t n);

/*
 * Stores a typed value (from JSON or Avro) in field f, converting it to the
 * field's type: numbers become text for string fields, epoch numbers
 * become timestamps (see lp_parse_epoch_ms), 0/1 become booleans, booleans
 * become 1/0 in counts. Returns LP_OK, LP_E_NUMBER_INVALID (a fraction for
 * an integer field), LP_E_BOOL_INVALID, LP_E_FIELD_TYPE (e.g. a number for
 * a list) or LP_E_NOMEM.
 */
lp_err_t lp_fieldmap_set_long(lp_lead *l, lp_arena *a, lp_field_id f, int64_t v);
lp_err_t lp_fieldmap_set_double(lp_lead *l, lp_arena *a, lp_field_id f, double v);
lp_err_t lp_fieldmap_set_bool(lp_lead *l, lp_arena *a, lp_field_id f, bool v);

/*
 * Formats the message of a rejected value into the arena, e.g.
 * `column "# Employees": "lots" is not a number`. noun is "column", "key"
 * or "field"; the value is quoted, shortened and escaped so that the
 * message is always valid UTF-8. Returns a static fallback on NOMEM.
 */
const char *lp_fieldmap_errmsg(lp_arena *a, lp_err_t err, const char *noun, const char *name,
                               size_t namelen, const char *val, size_t vallen);

/* Trims ASCII whitespace from both ends of *s / *n. */
void lp_parse_trim(const char **s, size_t *n);

/*
 * Integer counts: "1200", "1,200", "1200.0", ranges "51-200" and "51 to
 * 200" (the lower bound), open ranges "10,001+". Blank text: LP_OK with
 * *present false (present may be NULL, then blank is LP_E_NUMBER_INVALID).
 * Anything else, negatives and overflow: LP_E_NUMBER_INVALID.
 */
lp_err_t lp_parse_count(const char *s, size_t n, int64_t *out, bool *present);

/*
 * Money amounts: "12000000", "4,500,000.50", "$4.5M", "4.5 million",
 * "€1.2B", "500K", "USD 3M", ranges "$1M-$10M" (the lower bound) and
 * "$10B+". The currency is dropped. Blank and errors as lp_parse_count.
 */
lp_err_t lp_parse_money(const char *s, size_t n, double *out, bool *present);

/*
 * Booleans: true/false, yes/no, y/n, 1/0, any case. Blank as
 * lp_parse_count; anything else LP_E_BOOL_INVALID.
 */
lp_err_t lp_parse_bool(const char *s, size_t n, bool *out, bool *present);

/*
 * Timestamps to milliseconds since the epoch, UTC: ISO 8601 dates
 * ("2024-01-15"), date-times with 'T' or a space, minutes or seconds,
 * fractional seconds and a 'Z' or ±hh[:mm] offset (none means UTC), and
 * epoch numbers written as digits: below 1e11 seconds, below 1e14
 * milliseconds, else microseconds. Blank as lp_parse_count; anything else
 * (including ambiguous forms like "01/02/2024") LP_E_TIMESTAMP_INVALID.
 */
lp_err_t lp_parse_timestamp(const char *s, size_t n, int64_t *out_ms, bool *present);

/*
 * An epoch number to milliseconds: below 1e11 it counts seconds, below
 * 1e14 milliseconds, else microseconds (years 1973..5138 are unambiguous).
 */
int64_t lp_parse_epoch_ms(double v);

/*
 * Lists: splits on ',' or ';', trims items and drops empty ones. Items
 * point into s; the array comes from the arena (NULL when there are no
 * items). Returns LP_OK or LP_E_NOMEM.
 */
lp_err_t lp_parse_list(lp_arena *a, const char *s, size_t n, const lp_str **items,
                       uint32_t *count);

/* Checks that s (n bytes) is well-formed UTF-8: LP_OK or LP_E_ENCODING. */
lp_err_t lp_parse_utf8(const char *s, size_t n);

#endif
