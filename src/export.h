/*
 * export.h - writing leads the way CRM exports look: Apollo, HubSpot and
 * Salesforce CSV files, and leadpipe's own canonical CSV and JSONL.
 *
 * This is the writing half of what readers must cope with. `leadpipe gen`
 * uses it to make sample files, and tests and the bench use it to produce
 * input for the readers.
 *
 * Vendor CSV: the header row is the vendor's exact column list (see
 * /work/shared/data/export-headers.md and lp_export_column()). Values are
 * written the way that vendor writes them: Apollo "# Employees" as "1,200"
 * and revenue sometimes as "$4.5M", full country names, HubSpot dates as
 * "2024-05-01 12:00" and industries as "COMPUTER_SOFTWARE", Salesforce dates
 * as "5/1/2024". Columns a lead has no field for (owners, record ids, funding,
 * company phone) are derived from an XXH3 hash of the lead id or company
 * domain, so the same lead always gets the same values.
 *
 * Canonical CSV: the input field names of lead.h in LP_FIELD_LIST order, then
 * one column per generated custom attribute (product_interest, trial_status).
 * Timestamps are ISO-8601 UTC with milliseconds, booleans true/false,
 * technologies joined with ';'.
 *
 * JSONL: one object per line with the canonical field names; absent fields
 * are left out, technologies is an array, timestamps are ISO-8601 strings,
 * custom attributes sit in a "custom" object.
 *
 * Messy mode (CSV only) adds what real files carry: a UTF-8 BOM, CRLF line
 * endings, quoted fields with commas, doubled quotes and newlines, one 10 KB
 * field (row 10), rows with too few or too many fields (rows 21 and 34, and
 * about one in 200 more), a quote opened and never closed in the last
 * field of the last row,
 * non-numeric and range sizes ("lots", "51-200", "10,001+"), revenue in
 * words ("4.5 million"), phones with a leading apostrophe, padded and
 * mixed-case emails. Its choices come from its own seeded stream.
 *
 * Threads: an lp_export belongs to one thread at a time.
 */
#ifndef LP_EXPORT_H
#define LP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "lead.h"

typedef enum lp_export_style {
    LP_EXPORT_CANONICAL = 0,
    LP_EXPORT_APOLLO,
    LP_EXPORT_HUBSPOT,
    LP_EXPORT_SALESFORCE,
} lp_export_style;

typedef enum lp_export_format {
    LP_EXPORT_CSV = 0,
    LP_EXPORT_JSONL,
} lp_export_format;

typedef struct lp_export_opts {
    lp_export_style style; /* CSV only; JSONL is always canonical */
    lp_export_format format;
    bool messy;    /* CSV only */
    uint64_t seed; /* drives messy-mode choices */
    uint64_t rows; /* leads the caller will write (messy: breaks the last) */
} lp_export_opts;

typedef struct lp_export lp_export;

/* Parses "apollo", "hubspot", "salesforce" or "canonical". Returns 0, or -1. */
int lp_export_style_parse(const char *name, lp_export_style *out);

/* Parses "csv" or "jsonl". Returns 0, or -1. */
int lp_export_format_parse(const char *name, lp_export_format *out);

/* The name of CSV column i of a style, or NULL past the last column. */
const char *lp_export_column(lp_export_style s, size_t i);

/*
 * Creates a writer. Returns LP_OK, LP_E_USAGE when messy is asked for with
 * JSONL, or LP_E_NOMEM.
 */
lp_err_t lp_export_new(const lp_export_opts *o, lp_export **out);

/* Frees a writer; NULL is allowed. */
void lp_export_free(lp_export *x);

/* Appends what precedes the first lead: for CSV the (BOM and) header row. */
lp_err_t lp_export_begin(lp_export *x, lp_buf *out);

/* Appends one lead as a CSV row or a JSON line. Returns LP_OK or LP_E_NOMEM. */
lp_err_t lp_export_lead(lp_export *x, const lp_lead *l, lp_buf *out);

#endif
