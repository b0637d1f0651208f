/*
 * reader.c - the common part of the file readers: loading the input,
 * detecting its format, dispatching to a backend and the per-record
 * defaults. See reader.h for the contract and reader_impl.h for the
 * backend interface.
 *
 * Input: a regular file is mapped read-only (MAP_PRIVATE), so CSV fields
 * can point straight into it; anything else ("-", pipes) is read to its end
 * into one heap buffer. Either way the bytes stay put until close.
 * Threads: none of its own; a reader belongs to one thread at a time.
 */
#include "reader_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define LP_READER_MAX_FIELD_DEFAULT 8192
#define LP_READER_MAX_ROW_DEFAULT (1024 * 1024)

const char *lp_format_name(lp_format f)
{
    switch (f) {
    case LP_FMT_CSV: return "csv";
    case LP_FMT_JSONL: return "jsonl";
    case LP_FMT_AVRO: return "avro";
    default: return "auto";
    }
}

/* Reads fd to its end into r->heap. */
static lp_err_t reader_slurp(lp_reader *r, int fd, char *err, size_t errlen)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            return LP_E_NOMEM;
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s: %s", r->path, strerror(errno));
            free(buf);
            return LP_E_IO;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    r->heap = buf;
    r->buf = buf;
    r->len = len;
    return LP_OK;
}

/* Maps a regular file, or reads anything else to its end. */
static lp_err_t reader_load(lp_reader *r, char *err, size_t errlen)
{
    bool is_stdin = strcmp(r->path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(r->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    lp_err_t rc = LP_OK;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", r->path, strerror(errno));
        rc = LP_E_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        rc = reader_slurp(r, fd, err, errlen);
        goto out;
    }
    r->mapped = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (r->mapped == MAP_FAILED) {
        r->mapped = NULL;
        snprintf(err, errlen, "%s: mmap: %s", r->path, strerror(errno));
        rc = LP_E_IO;
        goto out;
    }
    madvise(r->mapped, (size_t)st.st_size, MADV_SEQUENTIAL);
    r->buf = r->mapped;
    r->len = (size_t)st.st_size;
out:
    if (fd >= 0 && !is_stdin)
        close(fd);
    return rc;
}

/* The format named by the file's extension, or AUTO. */
static lp_format reader_format_by_name(const char *path)
{
    static const struct { const char *ext; lp_format f; } exts[] = {
        {".csv", LP_FMT_CSV},     {".jsonl", LP_FMT_JSONL}, {".json", LP_FMT_JSONL},
        {".ndjson", LP_FMT_JSONL}, {".avro", LP_FMT_AVRO},
    };
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return LP_FMT_AUTO;
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        if (strcasecmp(dot, exts[i].ext) == 0)
            return exts[i].f;
    return LP_FMT_AUTO;
}

/* Avro by its magic, JSONL when the first non-blank byte is '{', else CSV. */
static lp_format reader_format_by_content(const char *buf, size_t len)
{
    if (len >= 4 && memcmp(buf, "Obj\x01", 4) == 0)
        return LP_FMT_AVRO;
    size_t i = len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    return i < len && buf[i] == '{' ? LP_FMT_JSONL : LP_FMT_CSV;
}

/* Copies the options, with defaults, into r. */
static lp_err_t reader_configure(lp_reader *r, const char *path, const lp_reader_opts *o)
{
    static const lp_reader_opts defaults = {0};
    if (!o)
        o = &defaults;
    r->path = strdup(path);
    r->format = o->format;
    r->max_field = o->max_field_bytes ? o->max_field_bytes : LP_READER_MAX_FIELD_DEFAULT;
    r->max_row = o->max_row_bytes ? o->max_row_bytes : LP_READER_MAX_ROW_DEFAULT;
    r->now_ms = o->now_ms;
    r->map = o->map;
    if (!r->map)
        r->map = r->own_map = lp_fieldmap_new();
    return r->path && r->map ? LP_OK : LP_E_NOMEM;
}

lp_err_t lp_reader_open(const char *path, const lp_reader_opts *o, lp_reader **out, char *err,
                        size_t errlen)
{
    lp_reader *r = calloc(1, sizeof(*r));
    lp_err_t rc = r ? reader_configure(r, path, o) : LP_E_NOMEM;
    if (rc == LP_OK)
        rc = reader_load(r, err, errlen);
    if (rc != LP_OK)
        goto fail;
    if (r->format == LP_FMT_AUTO)
        r->format = reader_format_by_name(path);
    if (r->format == LP_FMT_AUTO)
        r->format = reader_format_by_content(r->buf, r->len);
    if (r->format == LP_FMT_CSV)
        rc = lp_csv_reader_init(r, err, errlen);
    else if (r->format == LP_FMT_JSONL)
        rc = lp_jsonl_reader_init(r, err, errlen);
    else
        rc = lp_avrofile_reader_init(r, err, errlen);
    if (rc != LP_OK)
        goto fail;
    *out = r;
    return LP_OK;
fail:
    if (rc == LP_E_NOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    lp_reader_close(r);
    *out = NULL;
    return rc;
}

#define RELEASE_STEP (64u << 20)   /* drop read pages in steps of this much */
#define RELEASE_MARGIN (16u << 20) /* and keep this much behind the current row */

/*
 * A large export is mapped whole, and the pages already read would stay
 * resident until the file is closed. Dropping them keeps a 2 GB import's
 * memory flat. MADV_DONTNEED on a private read-only file mapping only drops
 * the resident copy: the bytes are read again from the file if touched, so
 * every pointer handed out stays valid.
 */
static void release_read_pages(lp_reader *r, const lp_record *rec)
{
    const char *base = r->mapped;
    if (!base || !rec->raw.ptr || rec->raw.ptr < base || rec->raw.ptr >= base + r->len)
        return;
    size_t at = (size_t)(rec->raw.ptr - base);
    if (at < r->released + RELEASE_STEP + RELEASE_MARGIN)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t upto = (at - RELEASE_MARGIN) & ~(page - 1);
    if (upto > r->released && madvise((char *)base + r->released, upto - r->released,
                                      MADV_DONTNEED) == 0)
        r->released = upto;
}

lp_err_t lp_reader_next(lp_reader *r, lp_arena *a, lp_record *rec)
{
    lp_record_init(rec);
    rec->origin.name = r->path;
    lp_err_t rc = r->be->next(r, a, rec);
    if (rc == LP_OK)
        release_read_pages(r, rec);
    return rc;
}

const char *lp_reader_error(const lp_reader *r)
{
    return r->error;
}

lp_format lp_reader_format(const lp_reader *r)
{
    return r->format;
}

void lp_reader_progress(const lp_reader *r, uint64_t *bytes_done, uint64_t *bytes_total)
{
    *bytes_done = r->be->done ? r->be->done(r) : r->pos;
    *bytes_total = r->len;
}

void lp_reader_close(lp_reader *r)
{
    if (!r)
        return;
    if (r->be)
        r->be->close(r);
    if (r->mapped)
        munmap(r->mapped, r->len);
    free(r->heap);
    lp_fieldmap_free(r->own_map);
    free(r->path);
    free(r);
}

/* "lp-" + 16 hex digits of the row's hash, seeded with its line. */
static lp_err_t reader_make_id(lp_arena *a, lp_record *rec)
{
    enum { ID_LEN = 19 };
    char *id = lp_arena_alloc(a, ID_LEN + 1);
    if (!id)
        return LP_E_NOMEM;
    uint64_t h = XXH3_64bits_withSeed(rec->raw.ptr, rec->raw.len, (uint64_t)rec->origin.offset);
    snprintf(id, ID_LEN + 1, "lp-%016" PRIx64, h);
    lp_lead_set_str(&rec->lead, LP_F_LEAD_ID, id, ID_LEN);
    return LP_OK;
}

lp_err_t lp_reader_finish(lp_reader *r, lp_arena *a, lp_record *rec)
{
    lp_lead *l = &rec->lead;
    if (!lp_lead_has(l, LP_F_SOURCE))
        lp_lead_set_str(l, LP_F_SOURCE, r->flavour, strlen(r->flavour));
    if (!lp_lead_has(l, LP_F_RECEIVED_AT))
        lp_lead_set_long(l, LP_F_RECEIVED_AT, r->now_ms);
    if (!lp_lead_has(l, LP_F_LEAD_ID))
        return reader_make_id(a, rec);
    return LP_OK;
}
