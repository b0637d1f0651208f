/*
 * encode.h - encoders of the outcome records: routed leads, nurture tasks
 * and rejected records, each in Avro binary (schemas/routed_lead.avsc,
 * nurture_task.avsc, rejected.avsc) and in one-line JSON.
 *
 * Every encoder appends to an lp_buf the caller reuses, so the steady state
 * allocates nothing. On failure the buffer is left exactly as it was.
 *
 * JSON output is deterministic (same record, same bytes), has no trailing
 * newline (sinks add it), and is always valid UTF-8: strings are escaped
 * (", \, and control characters as \u00XX); valid UTF-8 passes through
 * byte-exact and an invalid byte becomes U+FFFD. Timestamps are ISO-8601 UTC
 * with milliseconds ("2026-01-02T03:04:05.000Z"). Doubles are printed with
 * the fewest of 15, 16 or 17 significant digits that read back to the same
 * value; NaN and infinities, which JSON cannot hold, become null. Number
 * formatting assumes the C locale (leadpipe never calls setlocale).
 *
 * Where values come from: outcome fields from lp_record (disposition,
 * qualification, owner, reasons, ...); the scores and email_domain from the
 * lead's derived slots (absent scores encode as 0, an absent grade as "").
 *
 * Threads: reentrant; no shared state.
 */
#ifndef LP_ENCODE_H
#define LP_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "lead.h"
#include "record.h"

/* What every outcome says about the run that produced it. */
typedef struct lp_run_info {
    const char *pipeline_name;
    const char *pipeline_version; /* content hash of the compiled pipeline */
} lp_run_info;

/* Room for any timestamp lp_encode_ts_iso() writes, with its NUL. */
#define LP_ENCODE_TS_MAX 32

/*
 * Encodes a routed record r (r->err == LP_OK). Returns LP_OK, LP_E_NOMEM,
 * or LP_E_INTERNAL when r is not a valid routed outcome: it is rejected, has
 * no disposition, or its owner_kind is not "owner", "team" or "queue".
 */
lp_err_t lp_encode_routed_avro(const lp_record *r, const lp_run_info *ri, lp_buf *out);

/* JSON form of lp_encode_routed_avro(); same checks and errors. */
lp_err_t lp_encode_routed_json(const lp_record *r, const lp_run_info *ri, lp_buf *out);

/*
 * Encodes nurture task t of record r. The idempotency key is
 * lead_id ":" sequence ":" step; personalization holds first_name,
 * last_name, company_name and title when the lead has them, in that order.
 * Returns LP_OK or LP_E_NOMEM.
 */
lp_err_t lp_encode_task_avro(const lp_record *r, const lp_task *t, const lp_run_info *ri,
                             lp_buf *out);

/* JSON form of lp_encode_task_avro(). */
lp_err_t lp_encode_task_json(const lp_record *r, const lp_task *t, const lp_run_info *ri,
                             lp_buf *out);

/*
 * Encodes a rejected record r (r->err != LP_OK): the raw bytes untouched,
 * the origin (file and line when r->origin.partition is -1, else topic,
 * partition and offset), the error's stable name, message and stage.
 * Returns LP_OK, LP_E_NOMEM, or LP_E_INTERNAL when r is not rejected.
 */
lp_err_t lp_encode_rejected_avro(const lp_record *r, const lp_run_info *ri, lp_buf *out);

/*
 * JSON form of lp_encode_rejected_avro(). The raw bytes go in "original" as
 * a string when they are valid UTF-8, else in "original_base64".
 */
lp_err_t lp_encode_rejected_json(const lp_record *r, const lp_run_info *ri, lp_buf *out);

/*
 * Appends the JSON object of a lead's present input fields, by field name,
 * with "custom" as an object when the lead has custom attributes. This is
 * the "lead" member of a routed record. Returns LP_OK or LP_E_NOMEM.
 */
lp_err_t lp_encode_lead_json(const lp_lead *l, lp_buf *out);

/*
 * Appends (s, len) as a quoted, escaped JSON string. Returns 0, or -1 when
 * the buffer cannot grow (it may then hold part of the string).
 */
int lp_encode_json_string(lp_buf *out, const char *s, size_t len);

/*
 * Writes ms (milliseconds since the Unix epoch) as ISO-8601 UTC with
 * milliseconds into buf, which has LP_ENCODE_TS_MAX bytes. Returns the
 * length written.
 */
size_t lp_encode_ts_iso(int64_t ms, char *buf);

/* Whether (s, len) is valid UTF-8 (RFC 3629: no overlongs or surrogates). */
int lp_encode_utf8_valid(const char *s, size_t len);

#endif
