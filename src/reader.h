/*
 * reader.h - reading lead files: CSV (RFC 4180), JSONL and Avro object
 * container files, one lp_record per row.
 *
 * A reader turns each non-blank row of its input into exactly one record:
 * a lead whose columns went through the field map (fieldmap.h), or a
 * rejected record (rec->err != LP_OK, stage LP_STAGE_READ) whose message
 * names the column and the value. A broken row never takes its neighbours
 * down with it, so rows in == records out.
 *
 * Every record carries rec->raw, the row's original bytes without the line
 * terminator (for Avro, the datum's binary encoding), and rec->origin =
 * {path, -1, n}, where n is the 1-based line on which the row starts (for
 * Avro, the datum's 1-based position in the file).
 *
 * Defaults: a lead with no lead_id gets "lp-" followed by 16 lowercase hex
 * digits of XXH3_64bits_withSeed(raw, raw length, n), so a replay of the
 * same file yields the same ids; no source gets the export flavour
 * ("apollo", "hubspot", "salesforce", else "csv", "jsonl" or "avro"); no
 * received_at gets opts->now_ms.
 *
 * Memory: strings in a record point into the reader's input buffer (valid
 * until lp_reader_close) or into the arena passed to lp_reader_next.
 * Threads: a reader belongs to one thread at a time.
 */
#ifndef LP_READER_H
#define LP_READER_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "fieldmap.h"
#include "record.h"

typedef enum lp_format {
    LP_FMT_AUTO = 0, /* by extension, then by content */
    LP_FMT_CSV,
    LP_FMT_JSONL,
    LP_FMT_AVRO,
} lp_format;

typedef struct lp_reader_opts {
    lp_format format;       /* AUTO: .csv/.jsonl/.json/.ndjson/.avro, then content */
    size_t max_field_bytes; /* 0: 8192; a longer value rejects the row, LP_E_FIELD_TOO_LONG */
    size_t max_row_bytes;   /* 0: 1 MiB; a longer row is rejected, LP_E_ROW_TOO_LONG */
    const lp_fieldmap *map; /* NULL: built-in aliases only; must outlive the reader */
    int64_t now_ms;         /* received_at for rows that have none */
} lp_reader_opts;

typedef struct lp_reader lp_reader;

/*
 * Opens path ("-" reads standard input to its end) with options o (NULL:
 * defaults). Regular files are memory-mapped. For CSV, the header row is
 * read here. On failure returns LP_E_IO, LP_E_NOMEM, LP_E_ROW_MALFORMED (a
 * broken CSV header) or LP_E_AVRO_DECODE, and writes a message naming the
 * file into err (errlen bytes).
 */
lp_err_t lp_reader_open(const char *path, const lp_reader_opts *o, lp_reader **out, char *err,
                        size_t errlen);

/*
 * Reads the next record into rec (which it initialises), with strings in
 * the arena a or in the reader's buffer. Returns LP_OK with a record (a
 * rejected one when rec->err != LP_OK), LP_E_EOF at the end, or another
 * code on a fatal error (a corrupt Avro block, LP_E_AVRO_DECODE).
 */
lp_err_t lp_reader_next(lp_reader *r, lp_arena *a, lp_record *rec);

/* The message of the last fatal error lp_reader_next returned, or "". */
const char *lp_reader_error(const lp_reader *r);

/* The format the reader settled on. */
lp_format lp_reader_format(const lp_reader *r);

/* Bytes consumed so far and the input's size, for a progress bar. */
void lp_reader_progress(const lp_reader *r, uint64_t *bytes_done, uint64_t *bytes_total);

/* Closes the reader and releases its buffer; NULL is fine. */
void lp_reader_close(lp_reader *r);

/* The name of a format: "csv", "jsonl", "avro" or "auto". */
const char *lp_format_name(lp_format f);

#endif
