/*
 * wire.h - the lead as Kafka message bytes: plain Avro or the Confluent
 * wire format.
 *
 * Two formats:
 *   - LP_WIRE_AVRO: the message value is one Avro binary datum of
 *     schemas/lead.avsc, nothing else.
 *   - LP_WIRE_CONFLUENT: a magic byte 0, the writer schema's registry id as
 *     4 bytes big-endian, then the Avro datum written with that schema.
 *
 * Decoding a Confluent message looks the writer schema up in the Schema
 * Registry once per id (registry.h). A writer schema equal to lead.avsc
 * (same names, types and field order; docs and defaults do not matter) takes
 * the specialised zero-copy codec (codec.h). Any other record schema is
 * resolved to lead.avsc by field name with avro-c's resolved reader: fields
 * may come in any order, extra writer fields are ignored, and lead fields
 * the writer lacks are absent (all of them are optional except lead_id).
 * That generic path allocates per message, copies strings into the arena
 * and runs one message at a time process-wide (avro-c keeps its error state
 * in globals); it is a compatibility path, not the fast one.
 *
 * Per-id outcomes are cached: the decoder of a known id, the reason an id's
 * schema cannot be resolved (forever: schemas are immutable per id), and a
 * registry 404 (for LP_WIRE_UNKNOWN_RETRY_S seconds, so a schema registered
 * late is picked up without hammering the registry on every message).
 *
 * Threads: lp_wire_decode() may run on any number of threads at once with
 * one lp_wire; the id cache is behind a read-write lock that is never held
 * across a registry request. lp_wire_new/free belong to one thread.
 */
#ifndef LP_WIRE_H
#define LP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "lead.h"
#include "registry.h"

typedef enum lp_wire_format {
    LP_WIRE_AVRO = 0,      /* plain Avro binary datum of lead.avsc */
    LP_WIRE_CONFLUENT = 1, /* magic 0, 4-byte big-endian schema id, datum */
} lp_wire_format;

/* Bytes in front of the datum in the Confluent format. */
#define LP_WIRE_CONFLUENT_HEADER 5

/* Seconds a registry "unknown id" answer is trusted before asking again. */
#define LP_WIRE_UNKNOWN_RETRY_S 30

typedef struct lp_wire lp_wire;

/* Parses "avro" or "confluent"; returns LP_E_CONFIG for anything else. */
lp_err_t lp_wire_format_parse(const char *name, lp_wire_format *out);

/* The name of a format: "avro" or "confluent". */
const char *lp_wire_format_name(lp_wire_format f);

/*
 * Creates a wire codec. registry_url is required for LP_WIRE_CONFLUENT and
 * ignored for LP_WIRE_AVRO; ro tunes the registry client (NULL: defaults).
 * schema_path is lead.avsc (NULL: $LEADPIPE_SCHEMA_DIR/lead.avsc, else the
 * source tree's schemas/lead.avsc). Returns LP_OK, LP_E_CONFIG (no
 * registry for confluent, bad url), LP_E_IO (schema unreadable) or
 * LP_E_NOMEM, with the reason in err.
 */
lp_err_t lp_wire_new(lp_wire_format fmt, const char *registry_url, const lp_registry_opts *ro,
                     const char *schema_path, lp_wire **out, char *err, size_t errlen);

/* Frees the codec, its id cache and its registry client; NULL is fine. */
void lp_wire_free(lp_wire *w);

/* The codec's format. */
lp_wire_format lp_wire_format_of(const lp_wire *w);

/*
 * Decodes one message value (buf, len) into l (cleared first), with
 * strings pointing into buf or allocated from a. Returns:
 *   LP_OK;
 *   LP_E_AVRO_DECODE: garbage, a truncated datum, trailing bytes, a
 *     Confluent message shorter than its header or with a magic byte other
 *     than 0 (why: "magic byte 0x7b, expected 0");
 *   LP_E_SCHEMA_UNKNOWN: the registry does not know the id (why: "schema
 *     id 42 unknown to registry http://..."), or its schema cannot be
 *     resolved to lead.avsc (why names the field);
 *   LP_E_HTTP: the registry could not be reached or failed; the message is
 *     not at fault, so the caller should retry it or stop, not reject it;
 *   LP_E_NOMEM.
 * why (whylen bytes, may be NULL) always names the problem on failure.
 *
 * @locality any thread, concurrently
 * @locks the id cache lock, shared for hits, exclusive to add an id
 */
lp_err_t lp_wire_decode(lp_wire *w, const char *buf, size_t len, lp_lead *l, lp_arena *a, char *why,
                        size_t whylen);

/*
 * Appends the message value of l to out: the Avro datum, preceded in the
 * Confluent format by the header with schema_id (ignored for plain Avro).
 * On failure out is left as it was. Returns LP_OK or LP_E_NOMEM.
 *
 * @locality any thread
 */
lp_err_t lp_wire_encode_lead(const lp_wire *w, int32_t schema_id, const lp_lead *l, lp_buf *out);

/*
 * Registers lead.avsc under subject in the codec's registry (Confluent's
 * topic naming: "<topic>-value") and stores its id in *id. Returns LP_OK,
 * LP_E_CONFIG when the codec has no registry, or the registry's error.
 */
lp_err_t lp_wire_register_lead(lp_wire *w, const char *subject, int32_t *id, char *err,
                               size_t errlen);

#endif
