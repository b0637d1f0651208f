/*
 * sink.h - output files of the offline mode: JSONL, or Avro object
 * container files.
 *
 * A sink takes records that an encoder (encode.h, codec.h) already turned
 * into bytes and appends them to one file:
 *   - LP_SINK_JSONL: each record is one line (the sink adds the '\n'),
 *     written through a large stdio buffer;
 *   - LP_SINK_AVRO / LP_SINK_AVRO_DEFLATE: each record is one datum of an
 *     Avro object container file whose header carries the schema read from
 *     an .avsc file; blocks are uncompressed ("null") or "deflate".
 * The bytes must be the Avro binary encoding of that schema; the sink does
 * not check them.
 *
 * An existing file is replaced. Errors are sticky: after a failed write
 * every later write fails too, and lp_sink_close() reports it, so a batch run
 * cannot silently lose output. Close always releases the sink.
 *
 * Limits: a single Avro datum must fit in one container block
 * (LP_SINK_AVRO_BLOCK bytes). Note that avro-c writes the header schema
 * without "doc", defaults or logicalType attributes; readers should pass the
 * schemas/ file as their reader schema to see timestamp-millis.
 *
 * Threads: a sink belongs to one thread at a time.
 */
#ifndef LP_SINK_H
#define LP_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum lp_sink_format {
    LP_SINK_JSONL = 0,
    LP_SINK_AVRO,         /* container file, "null" codec */
    LP_SINK_AVRO_DEFLATE, /* container file, "deflate" codec */
} lp_sink_format;

/* Size of an Avro container block, and so the largest single datum. */
#define LP_SINK_AVRO_BLOCK (1024 * 1024)

typedef struct lp_sink lp_sink;

/*
 * Creates (or truncates) path and opens a sink on it. schema_path names the
 * .avsc file for the Avro formats and is ignored for JSONL (may be NULL).
 * Returns LP_OK; LP_E_IO when the file cannot be created; LP_E_CONFIG when
 * the schema cannot be read or parsed; the reason, naming the file, in err.
 */
lp_err_t lp_sink_open(const char *path, lp_sink_format fmt, const char *schema_path, lp_sink **out,
                      char *err, size_t errlen);

/*
 * Appends one encoded record. Returns LP_OK or LP_E_IO (see
 * lp_sink_error()); output is buffered, so some I/O errors only show up at
 * lp_sink_close().
 */
lp_err_t lp_sink_write(lp_sink *s, const char *bytes, size_t len);

/* Number of records written so far. */
uint64_t lp_sink_count(const lp_sink *s);

/* The first error the sink met, naming the file, or "" when none. */
const char *lp_sink_error(const lp_sink *s);

/*
 * Flushes and closes the file and frees the sink (even on error). Returns
 * LP_OK, or LP_E_IO with the reason in err (may be NULL) when any write,
 * flush or close failed. NULL is allowed and returns LP_OK.
 */
lp_err_t lp_sink_close(lp_sink *s, char *err, size_t errlen);

#endif
