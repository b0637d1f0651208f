/*
 * cache.c - the LMDB cache; see cache.h for the contract.
 *
 * Layout: one environment, opened with MDB_NOTLS so that a read transaction
 * owns its reader slot (not the thread), and with a fixed set of named
 * tables (lp_cache_tables) opened once, at lp_cache_open(), before any other
 * thread can see the handle. A value on disk is an 18-byte header
 * {version u8, flags u8, written_ms i64 LE, ttl_ms i64 LE} followed by the
 * caller's bytes; a negative entry is the header alone.
 *
 * Reads: each thread keeps one read transaction per cache in a
 * thread-specific slot, and keeps its snapshot open from one lookup to the
 * next, so that a lookup on a warm cache is one B-tree walk: no renew and
 * reset (reader-table writes), and no re-reading of the table's root from
 * the main database, which LMDB does on the first use of a named table in
 * every renewed transaction. A snapshot is renewed at the next lookup when
 *   - this process committed a write since it began (c->writes changed):
 *     a lookup that starts after lp_cache_put() returned sees what it wrote,
 *     exactly as before (the enrichment service relies on it);
 *   - it is older than SNAPSHOT_MS: another process's writes show up within
 *     that time, and the pages LMDB may not reuse while a reader could see
 *     them are held at most that long by a busy thread.
 * The trade-off: a thread that stops looking up keeps its last snapshot
 * until its next lookup or its exit. That costs no memory, only page reuse:
 * a writer in another process grows the file by what it rewrites meanwhile,
 * instead of recycling those pages. Growth (below) releases every snapshot.
 * Lookups copy nothing: the caller's function reads the value in place,
 * inside the snapshot (lp_cache_lookup); lp_cache_get() copies it into the
 * slot's buffer, so that it outlives the call.
 *
 * Slots and growth: mdb_env_set_mapsize() remaps, so it needs no live
 * transaction in this process. Each slot has a mutex, held by its thread
 * during a lookup (uncontended: a private cache line) and by a resizing
 * thread while it resets that slot's snapshot. Starting a snapshot, and
 * every other transaction, runs under the read side of c->grow. A writer
 * that hits MDB_MAP_FULL aborts, takes the write side (so no snapshot can
 * start), resets every slot's snapshot (waiting for lookups in progress,
 * which are short), doubles the map up to max_map_size, and retries.
 * MDB_MAP_RESIZED (another process grew it) is handled the same way with a
 * size of 0 (adopt the current size). Lock order: c->grow, c->lock, a
 * slot's mutex.
 *
 * One environment per directory and process: LMDB forbids opening the same
 * environment twice in a process (closing one copy drops the locks the other
 * relies on), yet a process may well open one directory twice, e.g. the
 * enrich and llm stages pointed at one cache, or two pipelines loaded side
 * by side. lp_cache_open() therefore looks the directory up (device and
 * inode) among the caches this process has open and hands out the same
 * lp_cache with one more reference; lp_cache_close() closes it with the
 * last reference. The first opener's options (map sizes) win.
 *
 * Threads: lp_cache_get/lookup/put/stat/purge/foreach from any thread;
 * lp_cache_open/close from any thread, but a handle is closed only once no
 * thread of its opener uses it.
 */
#include "cache.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_HDR 18
#define CACHE_VERSION 1
#define CACHE_F_NEGATIVE 0x1
#define CACHE_DEFAULT_MAP ((size_t)64 << 20)
#define CACHE_DEFAULT_MAX ((size_t)64 << 30)
#define SNAPSHOT_MS 10 /* longest a busy thread reads one snapshot */
#define LINE 64        /* cache line: slots are written by one thread each */

const char *const lp_cache_tables[LP_CACHE_NTABLES] = {"person", "company", "llm", "meta"};

/* One thread's read snapshot and value buffer, on cache lines of its own. */
typedef struct cache_slot {
    _Alignas(LINE) pthread_mutex_t mu; /* the owner's lookup, or a resize releasing it */
    MDB_txn *txn;
    bool live;         /* txn holds a snapshot (renewed, not reset) */
    uint64_t gen;      /* c->writes when the snapshot began */
    int64_t born_ms;   /* monotonic time it began */
    char *buf;         /* lp_cache_get's copy of the value */
    size_t len, cap;
    struct lp_cache *c;
    struct cache_slot *next; /* c->slots, guarded by c->lock */
} cache_slot;

struct lp_cache {
    MDB_env *env;
    MDB_dbi dbi[LP_CACHE_NTABLES];
    bool have[LP_CACHE_NTABLES]; /* false: table absent from a read-only cache */
    bool read_only;
    size_t map_size, max_map_size;
    pthread_key_t key;
    /* Read by every lookup, written only by commits: a line of its own. */
    _Alignas(LINE) _Atomic uint64_t writes;
    _Alignas(LINE) pthread_rwlock_t grow; /* read side: starting a txn; write side: resizing */
    pthread_mutex_t lock;                 /* guards slots */
    cache_slot *slots;
    /* The process's open caches (guarded by open_lock): one per directory. */
    dev_t dev;
    ino_t ino;
    pid_t pid; /* a forked child must open its own environment */
    int refs;
    struct lp_cache *next_open;
};

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static lp_cache *open_caches; /* guarded by open_lock */

static void put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)p[i] << (8 * i);
    return (int64_t)u;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* a few ns: no syscall, ms resolution */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Tells this process's snapshots that a write committed (they renew on next use). */
static void note_write(lp_cache *c)
{
    atomic_fetch_add_explicit(&c->writes, 1, memory_order_release);
}

static void slot_free(cache_slot *s)
{
    if (s->txn)
        mdb_txn_abort(s->txn);
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    free(s);
}

/* Runs at thread exit: releases the thread's reader slot. */
static void slot_destroy(void *arg)
{
    cache_slot *s = arg;
    lp_cache *c = s->c;
    pthread_rwlock_rdlock(&c->grow); /* no resize is looking at the slot list */
    pthread_mutex_lock(&c->lock);
    for (cache_slot **pp = &c->slots; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    slot_free(s);
    pthread_rwlock_unlock(&c->grow);
}

static cache_slot *slot_get(lp_cache *c)
{
    cache_slot *s = pthread_getspecific(c->key);
    if (s)
        return s;
    s = aligned_alloc(LINE, (sizeof(*s) + LINE - 1) / LINE * LINE);
    if (!s)
        return NULL;
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->c = c;
    pthread_mutex_lock(&c->lock);
    s->next = c->slots;
    c->slots = s;
    pthread_mutex_unlock(&c->lock);
    pthread_setspecific(c->key, s);
    return s;
}

/* Ends s's snapshot (keeping its reader slot); caller holds s->mu. */
static void slot_release(cache_slot *s)
{
    if (s->live)
        mdb_txn_reset(s->txn);
    s->live = false;
}

/* Releases every thread's snapshot; caller holds c->grow for writing. */
static void release_all(lp_cache *c)
{
    pthread_mutex_lock(&c->lock);
    for (cache_slot *s = c->slots; s; s = s->next) {
        pthread_mutex_lock(&s->mu); /* waits for a lookup in progress */
        slot_release(s);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&c->lock);
}

int lp_cache_table_index(const char *table)
{
    for (int i = 0; i < LP_CACHE_NTABLES; i++)
        if (!strcmp(lp_cache_tables[i], table))
            return i;
    return -1;
}

/* Adopts or sets a map size; caller holds no transaction. */
static int resize(lp_cache *c, size_t size)
{
    pthread_rwlock_wrlock(&c->grow);
    release_all(c);
    int rc = mdb_env_set_mapsize(c->env, size);
    MDB_envinfo info;
    if (rc == 0 && mdb_env_info(c->env, &info) == 0)
        c->map_size = info.me_mapsize;
    pthread_rwlock_unlock(&c->grow);
    return rc;
}

/*
 * Doubles the map after a MDB_MAP_FULL seen at size seen; a writer that
 * lost the race finds it already grown and just retries.
 */
static int grow(lp_cache *c, size_t seen)
{
    int rc = 0;
    pthread_rwlock_wrlock(&c->grow);
    if (c->map_size == seen) {
        release_all(c);
        size_t next = seen * 2 > c->max_map_size ? c->max_map_size : seen * 2;
        rc = next > seen ? mdb_env_set_mapsize(c->env, next) : MDB_MAP_FULL;
        if (rc == 0)
            c->map_size = next;
    }
    pthread_rwlock_unlock(&c->grow);
    return rc;
}

static int open_tables(lp_cache *c)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, c->read_only ? MDB_RDONLY : 0, &txn);
    if (rc)
        return rc;
    for (int i = 0; i < LP_CACHE_NTABLES; i++) {
        rc = mdb_dbi_open(txn, lp_cache_tables[i], c->read_only ? 0 : MDB_CREATE, &c->dbi[i]);
        c->have[i] = rc == 0;
        if (rc && rc != MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return rc;
        }
    }
    return mdb_txn_commit(txn);
}

/* Creates path and its missing parents (mkdir -p); returns 0 or an errno. */
static int make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errno;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? errno : 0;
}

static int env_setup(lp_cache *c, const char *path)
{
    int rc = mdb_env_create(&c->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(c->env, LP_CACHE_NTABLES + 4);
    if (!rc)
        rc = mdb_env_set_maxreaders(c->env, 1024);
    if (!rc)
        rc = mdb_env_set_mapsize(c->env, c->map_size);
    if (rc)
        return rc;
    if (!c->read_only && (rc = make_dirs(path)) != 0)
        return rc;
    unsigned flags = MDB_NOTLS | (c->read_only ? MDB_RDONLY : 0);
    rc = mdb_env_open(c->env, path, flags, 0644);
    if (rc)
        return rc;
    MDB_envinfo info;
    if (mdb_env_info(c->env, &info) == 0 && info.me_mapsize > c->map_size)
        c->map_size = info.me_mapsize; /* a bigger map on disk wins */
    return 0;
}

/* Frees c with its slots and environment; no other thread may use it. */
static void cache_destroy(lp_cache *c)
{
    pthread_key_delete(c->key); /* no destructor runs after this */
    cache_slot *s = c->slots;
    while (s) {
        cache_slot *next = s->next;
        slot_free(s);
        s = next;
    }
    if (c->env)
        mdb_env_close(c->env);
    pthread_rwlock_destroy(&c->grow);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The cache this process has open on directory st, or NULL; caller holds open_lock. */
static lp_cache *find_open(const struct stat *st)
{
    for (lp_cache *c = open_caches; c; c = c->next_open)
        if (c->dev == st->st_dev && c->ino == st->st_ino && c->pid == getpid())
            return c;
    return NULL;
}

/* Opens a new environment on path; caller holds open_lock. */
static lp_err_t open_new(const char *path, const lp_cache_opts *o, lp_cache **out, char *err,
                         size_t errlen)
{
    lp_cache *c = aligned_alloc(LINE, (sizeof(*c) + LINE - 1) / LINE * LINE);
    if (!c)
        return LP_E_NOMEM;
    memset(c, 0, sizeof(*c));
    c->read_only = o && o->read_only;
    c->map_size = o && o->map_size ? o->map_size : CACHE_DEFAULT_MAP;
    c->max_map_size = o && o->max_map_size ? o->max_map_size : CACHE_DEFAULT_MAX;
    pthread_rwlock_init(&c->grow, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_key_create(&c->key, slot_destroy);
    int rc = env_setup(c, path);
    if (!rc)
        rc = open_tables(c);
    struct stat st;
    if (!rc && stat(path, &st) != 0)
        rc = errno;
    if (rc) {
        snprintf(err, errlen, "%s: cannot open cache: %s", path, mdb_strerror(rc));
        cache_destroy(c);
        return LP_E_CACHE;
    }
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->pid = getpid();
    c->refs = 1;
    c->next_open = open_caches;
    open_caches = c;
    *out = c;
    return LP_OK;
}

lp_err_t lp_cache_open(const char *path, const lp_cache_opts *o, lp_cache **out, char *err,
                       size_t errlen)
{
    bool read_only = o && o->read_only;
    struct stat st;
    lp_err_t rc = LP_OK;
    pthread_mutex_lock(&open_lock);
    lp_cache *c = stat(path, &st) == 0 ? find_open(&st) : NULL;
    if (!c) {
        rc = open_new(path, o, out, err, errlen);
    } else if (c->read_only && !read_only) {
        snprintf(err, errlen, "%s: cannot open cache for writing: this process has it open "
                 "read-only", path);
        rc = LP_E_CACHE;
    } else {
        c->refs++;
        *out = c;
    }
    pthread_mutex_unlock(&open_lock);
    return rc;
}

/* Takes c off the list of open caches unless other references remain. */
static bool last_reference(lp_cache *c)
{
    pthread_mutex_lock(&open_lock);
    bool last = --c->refs <= 0;
    if (last)
        for (lp_cache **p = &open_caches; *p; p = &(*p)->next_open)
            if (*p == c) {
                *p = c->next_open;
                break;
            }
    pthread_mutex_unlock(&open_lock);
    return last;
}

void lp_cache_close(lp_cache *c)
{
    if (c && last_reference(c))
        cache_destroy(c);
}

/* Starts (or renews) the thread's read txn; caller holds c->grow for reading. */
static int slot_begin(lp_cache *c, cache_slot *s)
{
    if (s->txn) {
        int rc = mdb_txn_renew(s->txn);
        if (rc == 0)
            return 0;
        mdb_txn_abort(s->txn);
        s->txn = NULL;
    }
    return mdb_txn_begin(c->env, NULL, MDB_RDONLY, &s->txn);
}

/* Starts a new snapshot in s (holding s->mu on entry and on return). */
static int slot_renew(lp_cache *c, cache_slot *s, uint64_t gen, int64_t now)
{
    slot_release(s);
    pthread_mutex_unlock(&s->mu); /* lock order: c->grow before a slot */
    pthread_rwlock_rdlock(&c->grow);
    pthread_mutex_lock(&s->mu);
    int rc = slot_begin(c, s);
    if (rc == MDB_MAP_RESIZED) {
        pthread_mutex_unlock(&s->mu);
        pthread_rwlock_unlock(&c->grow);
        resize(c, 0);
        pthread_rwlock_rdlock(&c->grow);
        pthread_mutex_lock(&s->mu);
        rc = slot_begin(c, s);
    }
    if (rc == 0) {
        s->live = true;
        s->gen = gen;
        s->born_ms = now;
    }
    pthread_rwlock_unlock(&c->grow);
    return rc;
}

/*
 * Makes s's snapshot current (see the header comment for when it is
 * renewed); caller holds s->mu.
 */
static int slot_ready(lp_cache *c, cache_slot *s)
{
    uint64_t gen = atomic_load_explicit(&c->writes, memory_order_acquire);
    int64_t now = mono_ms();
    if (s->live && s->gen == gen && now - s->born_ms < SNAPSHOT_MS && now >= s->born_ms)
        return 0;
    return slot_renew(c, s, gen, now);
}

/* What a read does with the raw stored value, inside the snapshot. */
typedef bool (*raw_fn)(void *ud, const MDB_val *raw);

/*
 * Reads key's raw value from table t in s, the calling thread's slot, and
 * passes it to fn. Returns 0, MDB_NOTFOUND, ENOMEM (fn failed) or an LMDB
 * error.
 */
static int read_raw(lp_cache *c, cache_slot *s, int t, lp_str key, raw_fn fn, void *ud)
{
    pthread_mutex_lock(&s->mu);
    int rc = slot_ready(c, s);
    if (rc == 0) {
        MDB_val k = {key.len, (void *)key.ptr}, v;
        rc = mdb_get(s->txn, c->dbi[t], &k, &v);
        if (rc == 0 && !fn(ud, &v))
            rc = ENOMEM;
        else if (rc != 0 && rc != MDB_NOTFOUND)
            slot_release(s); /* start afresh next time */
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

bool lp_cache_decode(const void *raw, size_t len, lp_cache_entry *e)
{
    const unsigned char *p = raw;
    if (len < CACHE_HDR || p[0] != CACHE_VERSION)
        return false;
    e->negative = p[1] & CACHE_F_NEGATIVE;
    e->written_ms = get_i64(p + 2);
    e->ttl_ms = get_i64(p + 10);
    e->value = (lp_str){(const char *)p + CACHE_HDR, (uint32_t)(len - CACHE_HDR)};
    return true;
}

bool lp_cache_entry_live(const lp_cache_entry *e, int64_t now_ms)
{
    return e->ttl_ms <= 0 || now_ms < e->written_ms + e->ttl_ms;
}

/* Checks a lookup's arguments; LP_OK to go on. */
static lp_err_t lookup_args(const lp_cache *c, int t, lp_str key)
{
    if (t < 0 || t >= LP_CACHE_NTABLES)
        return LP_E_CACHE;
    if (!c->have[t] || key.len == 0 || key.len > 511)
        return LP_E_EOF;
    return LP_OK;
}

typedef struct lookup_ctx {
    int64_t now_ms;
    lp_cache_value_fn fn;
    void *ud;
    bool live;
} lookup_ctx;

static bool lookup_one(void *ud, const MDB_val *raw)
{
    lookup_ctx *lc = ud;
    lp_cache_entry e;
    lc->live = lp_cache_decode(raw->mv_data, raw->mv_size, &e) &&
               lp_cache_entry_live(&e, lc->now_ms);
    if (lc->live)
        lc->fn(lc->ud, e.negative ? (lp_str){"", 0} : e.value, e.negative);
    return true;
}

lp_err_t lp_cache_lookup(lp_cache *c, int table, lp_str key, int64_t now_ms,
                         lp_cache_value_fn fn, void *ud)
{
    lp_err_t err = lookup_args(c, table, key);
    if (err != LP_OK)
        return err;
    cache_slot *s = slot_get(c);
    if (!s)
        return LP_E_NOMEM;
    lookup_ctx lc = {now_ms, fn, ud, false};
    int rc = read_raw(c, s, table, key, lookup_one, &lc);
    if (rc == MDB_NOTFOUND || (rc == 0 && !lc.live))
        return LP_E_EOF;
    return rc == 0 ? LP_OK : LP_E_CACHE;
}

/* Copies a raw value into the slot's buffer, where it outlives the snapshot. */
static bool slot_keep(void *ud, const MDB_val *v)
{
    cache_slot *s = ud;
    if (v->mv_size > s->cap) {
        size_t cap = v->mv_size < 256 ? 256 : v->mv_size * 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return false;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf, v->mv_data, v->mv_size);
    s->len = v->mv_size;
    return true;
}

/* Copies key's raw value of table t into the thread's slot (valid until its next call). */
static int read_kept(lp_cache *c, int t, lp_str key, cache_slot **out)
{
    cache_slot *s = slot_get(c);
    if (!s)
        return ENOMEM;
    *out = s;
    return read_raw(c, s, t, key, slot_keep, s);
}

/* Reads key of the table called table into the thread's slot, *out. */
static lp_err_t read_named(lp_cache *c, const char *table, lp_str key, cache_slot **out)
{
    int t = lp_cache_table_index(table);
    lp_err_t err = lookup_args(c, t, key);
    if (err != LP_OK)
        return err;
    int rc = read_kept(c, t, key, out);
    if (rc == MDB_NOTFOUND)
        return LP_E_EOF;
    if (rc)
        return rc == ENOMEM ? LP_E_NOMEM : LP_E_CACHE;
    return LP_OK;
}

lp_err_t lp_cache_get(lp_cache *c, const char *table, lp_str key, int64_t now_ms,
                      lp_str *value, bool *negative)
{
    cache_slot *s;
    lp_err_t err = read_named(c, table, key, &s);
    if (err != LP_OK)
        return err;
    lp_cache_entry e;
    if (!lp_cache_decode(s->buf, s->len, &e) || !lp_cache_entry_live(&e, now_ms))
        return LP_E_EOF;
    *negative = e.negative;
    *value = e.negative ? (lp_str){"", 0} : e.value;
    return LP_OK;
}

lp_err_t lp_cache_peek(lp_cache *c, const char *table, lp_str key, lp_cache_entry *e)
{
    cache_slot *s;
    lp_err_t err = read_named(c, table, key, &s);
    if (err != LP_OK)
        return err;
    if (!lp_cache_decode(s->buf, s->len, e))
        return LP_E_CACHE;
    e->key = key;
    return LP_OK;
}

/* Writes every entry in one txn; returns the LMDB code. */
static int put_txn(lp_cache *c, int t, const lp_cache_entry *e, size_t n)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t vlen = CACHE_HDR + (e[i].negative ? 0 : e[i].value.len);
        MDB_val k = {e[i].key.len, (void *)e[i].key.ptr}, v = {vlen, NULL};
        rc = mdb_put(txn, c->dbi[t], &k, &v, MDB_RESERVE);
        if (rc)
            break;
        unsigned char *p = v.mv_data;
        p[0] = CACHE_VERSION;
        p[1] = e[i].negative ? CACHE_F_NEGATIVE : 0;
        put_i64(p + 2, e[i].written_ms);
        put_i64(p + 10, e[i].ttl_ms);
        if (!e[i].negative && e[i].value.len)
            memcpy(p + CACHE_HDR, e[i].value.ptr, e[i].value.len);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

lp_err_t lp_cache_put(lp_cache *c, const char *table, const lp_cache_entry *e, size_t n)
{
    int t = lp_cache_table_index(table);
    if (t < 0 || c->read_only)
        return LP_E_CACHE;
    for (size_t i = 0; i < n; i++)
        if (e[i].key.len == 0 || e[i].key.len > 511)
            return LP_E_CACHE; /* LMDB's default key limit */
    for (;;) {
        pthread_rwlock_rdlock(&c->grow);
        size_t seen = c->map_size;
        int rc = put_txn(c, t, e, n);
        pthread_rwlock_unlock(&c->grow);
        if (rc == 0) {
            note_write(c);
            return LP_OK;
        }
        if (rc == MDB_MAP_RESIZED && resize(c, 0) == 0)
            continue;
        if (rc != MDB_MAP_FULL || grow(c, seen) != 0)
            return LP_E_CACHE;
    }
}

/* Runs fn over every entry of table t inside one read txn (under the grow lock). */
static lp_err_t scan(lp_cache *c, int t, bool (*fn)(void *, const lp_cache_entry *, bool),
                     void *ud)
{
    if (!c->have[t])
        return LP_OK;
    MDB_txn *txn;
    MDB_cursor *cur;
    pthread_rwlock_rdlock(&c->grow);
    int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0 && (rc = mdb_cursor_open(txn, c->dbi[t], &cur)) != 0)
        mdb_txn_abort(txn);
    if (rc) {
        pthread_rwlock_unlock(&c->grow);
        return LP_E_CACHE;
    }
    MDB_val k, v;
    for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
        lp_cache_entry e = {.key = {k.mv_data, (uint32_t)k.mv_size}};
        bool ok = lp_cache_decode(v.mv_data, v.mv_size, &e);
        if (!fn(ud, &e, ok))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&c->grow);
    return rc == 0 || rc == MDB_NOTFOUND ? LP_OK : LP_E_CACHE;
}

typedef struct stat_ctx {
    lp_cache_table_stat *st;
    int64_t now_ms;
} stat_ctx;

static bool stat_one(void *ud, const lp_cache_entry *e, bool ok)
{
    stat_ctx *sc = ud;
    lp_cache_table_stat *st = sc->st;
    st->entries++;
    if (!ok) {
        st->corrupt++;
        return true;
    }
    if (!lp_cache_entry_live(e, sc->now_ms))
        st->expired++;
    else if (e->negative)
        st->negative++;
    else
        st->live++;
    if (st->oldest_ms == 0 || e->written_ms < st->oldest_ms)
        st->oldest_ms = e->written_ms;
    if (e->written_ms > st->newest_ms)
        st->newest_ms = e->written_ms;
    return true;
}

lp_err_t lp_cache_stat(lp_cache *c, const char *table, int64_t now_ms, lp_cache_table_stat *st)
{
    memset(st, 0, sizeof(*st));
    int t = lp_cache_table_index(table);
    if (t < 0)
        return LP_E_CACHE;
    stat_ctx sc = {st, now_ms};
    return scan(c, t, stat_one, &sc);
}

typedef struct each_ctx {
    lp_cache_visit_fn fn;
    void *ud;
} each_ctx;

static bool each_one(void *ud, const lp_cache_entry *e, bool ok)
{
    each_ctx *ec = ud;
    return ec->fn(ec->ud, e, ok);
}

lp_err_t lp_cache_foreach(lp_cache *c, const char *table, lp_cache_visit_fn fn, void *ud)
{
    int t = lp_cache_table_index(table);
    if (t < 0)
        return LP_E_CACHE;
    each_ctx ec = {fn, ud};
    return scan(c, t, each_one, &ec);
}

/* Deletes expired (and undecodable) entries of table t in one write txn. */
static int purge_txn(lp_cache *c, int t, int64_t now_ms, size_t *removed)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, c->dbi[t], &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_val k, v;
    size_t n = 0;
    for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
        lp_cache_entry e;
        if (lp_cache_decode(v.mv_data, v.mv_size, &e) && lp_cache_entry_live(&e, now_ms))
            continue;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return rc;
    }
    *removed += n;
    return mdb_txn_commit(txn);
}

lp_err_t lp_cache_purge(lp_cache *c, const char *table, int64_t now_ms, size_t *removed)
{
    int t = lp_cache_table_index(table);
    *removed = 0;
    if (t < 0 || c->read_only)
        return LP_E_CACHE;
    pthread_rwlock_rdlock(&c->grow);
    int rc = purge_txn(c, t, now_ms, removed);
    pthread_rwlock_unlock(&c->grow);
    if (rc == 0)
        note_write(c);
    return rc == 0 ? LP_OK : LP_E_CACHE;
}

lp_err_t lp_cache_info(lp_cache *c, size_t *map_size, size_t *used_bytes, size_t *file_bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    const char *dir = NULL;
    pthread_rwlock_rdlock(&c->grow);
    int rc = mdb_env_info(c->env, &info);
    if (!rc)
        rc = mdb_env_stat(c->env, &st);
    if (!rc)
        rc = mdb_env_get_path(c->env, &dir);
    pthread_rwlock_unlock(&c->grow);
    if (rc)
        return LP_E_CACHE;
    *map_size = info.me_mapsize;
    *used_bytes = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    *file_bytes = stat(path, &sb) == 0 ? (size_t)sb.st_size : 0;
    return LP_OK;
}

/* Adds delta to counter key of the meta table inside one write txn. */
static int meta_add_txn(lp_cache *c, int t, const char *key, int64_t delta, int64_t now_ms)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc)
        return rc;
    MDB_val k = {strlen(key), (void *)key}, v;
    int64_t cur = 0;
    lp_cache_entry e;
    if (mdb_get(txn, c->dbi[t], &k, &v) == 0 && lp_cache_decode(v.mv_data, v.mv_size, &e) &&
        e.value.len == 8)
        cur = get_i64((const unsigned char *)e.value.ptr);
    unsigned char buf[CACHE_HDR + 8] = {CACHE_VERSION, 0};
    put_i64(buf + 2, now_ms);
    put_i64(buf + 10, 0);
    put_i64(buf + CACHE_HDR, cur + delta);
    v = (MDB_val){sizeof(buf), buf};
    if ((rc = mdb_put(txn, c->dbi[t], &k, &v, 0)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

lp_err_t lp_cache_meta_add(lp_cache *c, const char *key, int64_t delta, int64_t now_ms)
{
    int t = lp_cache_table_index("meta");
    if (c->read_only)
        return LP_E_CACHE;
    for (;;) {
        pthread_rwlock_rdlock(&c->grow);
        size_t seen = c->map_size;
        int rc = meta_add_txn(c, t, key, delta, now_ms);
        pthread_rwlock_unlock(&c->grow);
        if (rc == 0) {
            note_write(c);
            return LP_OK;
        }
        if (rc != MDB_MAP_FULL || grow(c, seen) != 0)
            return LP_E_CACHE;
    }
}

int64_t lp_cache_meta_get(lp_cache *c, const char *key)
{
    lp_str v;
    bool neg;
    if (lp_cache_get(c, "meta", (lp_str){key, (uint32_t)strlen(key)}, 0, &v, &neg) != LP_OK ||
        v.len != 8)
        return 0;
    return get_i64((const unsigned char *)v.ptr);
}
