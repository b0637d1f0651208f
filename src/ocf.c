/*
 * ocf.c - deterministic sync markers for Avro container files; see ocf.h.
 */
#include "ocf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SYNC_LEN 16

/* Reads a zigzag varint long at *pos; false when it runs past len. */
static bool read_long(const unsigned char *b, size_t len, size_t *pos, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *pos < len; shift += 7) {
        unsigned char c = b[(*pos)++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return true;
        }
    }
    return false;
}

/* Skips the header's metadata map; *pos ends on the sync marker. */
static bool skip_header(const unsigned char *b, size_t len, size_t *pos)
{
    if (len < 4 || memcmp(b, "Obj\x01", 4))
        return false;
    *pos = 4;
    for (;;) {
        int64_t count;
        if (!read_long(b, len, pos, &count))
            return false;
        if (count == 0)
            return true;
        if (count < 0) { /* a negative count is followed by the block's byte size */
            int64_t size;
            if (!read_long(b, len, pos, &size))
                return false;
            count = -count;
        }
        for (int64_t i = 0; i < 2 * count; i++) { /* key and value, both bytes */
            int64_t n;
            if (!read_long(b, len, pos, &n) || n < 0 || (uint64_t)n > len - *pos)
                return false;
            *pos += (size_t)n;
        }
    }
}

/* Replaces the marker at the header and after each block; false if malformed. */
static bool rewrite(unsigned char *b, size_t len, const unsigned char *sync)
{
    size_t pos;
    if (!skip_header(b, len, &pos) || len - pos < SYNC_LEN)
        return false;
    memcpy(b + pos, sync, SYNC_LEN);
    pos += SYNC_LEN;
    while (pos < len) {
        int64_t count, size;
        if (!read_long(b, len, &pos, &count) || !read_long(b, len, &pos, &size) || size < 0 ||
            (uint64_t)size > len - pos || len - pos - (size_t)size < SYNC_LEN)
            return false;
        pos += (size_t)size;
        memcpy(b + pos, sync, SYNC_LEN);
        pos += SYNC_LEN;
    }
    return true;
}

lp_err_t lp_ocf_set_sync(const char *path, const void *seed, size_t seedlen)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        return LP_E_IO;
    lp_err_t rc = LP_E_IO;
    unsigned char *b = NULL;
    if (fseek(f, 0, SEEK_END) || ftell(f) < 0)
        goto out;
    size_t len = (size_t)ftell(f);
    b = malloc(len ? len : 1);
    if (!b || fseek(f, 0, SEEK_SET) || fread(b, 1, len, f) != len)
        goto out;
    XXH128_hash_t h = XXH3_128bits(seed, seedlen);
    unsigned char sync[SYNC_LEN];
    memcpy(sync, &h.low64, 8);
    memcpy(sync + 8, &h.high64, 8);
    if (!rewrite(b, len, sync)) {
        rc = LP_E_AVRO_DECODE;
        goto out;
    }
    if (fseek(f, 0, SEEK_SET) == 0 && fwrite(b, 1, len, f) == len)
        rc = LP_OK;
out:
    free(b);
    if (fclose(f) && rc == LP_OK)
        rc = LP_E_IO;
    return rc;
}
