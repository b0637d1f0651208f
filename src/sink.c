/*
 * sink.c - JSONL and Avro container output files; see sink.h.
 *
 * The sink owns its FILE even for Avro: avro-c is given the stream with
 * should_close = 0, so that after avro-c has flushed its last block the sink
 * can check ferror() and fclose() itself. avro-c does not report short
 * writes, and a full disk must not pass for a finished batch.
 */
#include "sink.h"

#include <avro.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* stdio buffer for JSONL output. */
#define LP_SINK_JSONL_BUF (256 * 1024)

struct lp_sink {
    lp_sink_format fmt;
    FILE *fp;
    avro_file_writer_t avro; /* NULL for JSONL */
    uint64_t count;
    lp_err_t err; /* first failure; sticky */
    char path[512];
    char errmsg[512];
};

__attribute__((format(printf, 2, 3))) static lp_err_t sink_fail(lp_sink *s, const char *fmt, ...)
{
    if (s->err)
        return s->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    s->err = LP_E_IO;
    return s->err;
}

/* Creates the container writer on s->fp with the schema at schema_path. */
static lp_err_t sink_open_avro(lp_sink *s, const char *schema_path, char *err, size_t errlen)
{
    avro_schema_t schema;
    lp_err_t rc = lp_codec_schema_load(schema_path, &schema, err, errlen);
    if (rc)
        return rc;
    const char *codec = s->fmt == LP_SINK_AVRO_DEFLATE ? "deflate" : "null";
    if (avro_file_writer_create_with_codec_fp(s->fp, s->path, 0, schema, &s->avro, codec,
                                              LP_SINK_AVRO_BLOCK)) {
        snprintf(err, errlen, "%s: cannot start Avro container: %s", s->path, avro_strerror());
        s->avro = NULL;
        rc = LP_E_IO;
    }
    avro_schema_decref(schema);
    return rc;
}

lp_err_t lp_sink_open(const char *path, lp_sink_format fmt, const char *schema_path, lp_sink **out,
                      char *err, size_t errlen)
{
    lp_err_t rc = LP_E_NOMEM;
    lp_sink *s = calloc(1, sizeof(*s));
    if (!s)
        goto out_fail;
    s->fmt = fmt;
    snprintf(s->path, sizeof(s->path), "%s", path);
    rc = LP_E_IO;
    if (!(s->fp = fopen(path, "wb"))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out_fail;
    }
    if (fmt == LP_SINK_JSONL)
        setvbuf(s->fp, NULL, _IOFBF, LP_SINK_JSONL_BUF);
    else if ((rc = sink_open_avro(s, schema_path, err, errlen)))
        goto out_fail;
    *out = s;
    return LP_OK;
out_fail:
    if (rc == LP_E_NOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    if (s && s->fp)
        fclose(s->fp);
    free(s);
    return rc;
}

lp_err_t lp_sink_write(lp_sink *s, const char *bytes, size_t len)
{
    if (s->err)
        return s->err;
    if (s->avro) {
        if (avro_file_writer_append_encoded(s->avro, bytes, (int64_t)len))
            return sink_fail(s, "%s: record %llu (%zu bytes) not written: %s", s->path,
                             (unsigned long long)s->count + 1, len, avro_strerror());
    } else if ((len && fwrite(bytes, 1, len, s->fp) != len) || putc('\n', s->fp) == EOF) {
        return sink_fail(s, "%s: %s", s->path, strerror(errno));
    }
    s->count++;
    return LP_OK;
}

uint64_t lp_sink_count(const lp_sink *s)
{
    return s->count;
}

const char *lp_sink_error(const lp_sink *s)
{
    return s->errmsg;
}

/* Flushes the Avro writer's last block; the FILE stays open. */
static void sink_close_avro(lp_sink *s)
{
    if (!s->avro)
        return;
    if (avro_file_writer_close(s->avro))
        sink_fail(s, "%s: cannot flush Avro container: %s", s->path, avro_strerror());
    s->avro = NULL;
}

lp_err_t lp_sink_close(lp_sink *s, char *err, size_t errlen)
{
    if (!s)
        return LP_OK;
    sink_close_avro(s);
    if (fflush(s->fp) || ferror(s->fp))
        sink_fail(s, "%s: write failed: %s", s->path, strerror(errno));
    if (fclose(s->fp))
        sink_fail(s, "%s: close failed: %s", s->path, strerror(errno));
    lp_err_t rc = s->err;
    if (rc && err && errlen)
        snprintf(err, errlen, "%s", s->errmsg);
    free(s);
    return rc;
}
