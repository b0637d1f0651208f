/*
 * cmd_cache.c - `leadpipe cache load|stats|get|purge`: operating the LMDB
 * enrichment cache.
 *
 * load fills the cache from a reference CSV (firmographics keyed by domain,
 * and person rows when the file has an email column) in write transactions
 * of --batch entries, so a crash leaves a prefix of the file, never a torn
 * entry. stats, get and purge read (or prune) what runs and loads left.
 *
 * The hit ratio `stats` reports is cumulative: each enrich run adds its
 * lookups to the "meta" table's enrich.hits / enrich.misses counters when
 * its pipeline closes.
 *
 * Threads: one.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "cache.h"
#include "conf.h"
#include "cmd.h"
#include "csv.h"
#include "enrich.h"
#include "normalize.h"
#include "progress.h"

#define DAY_MS (24LL * 3600 * 1000)

typedef struct cache_opts {
    const char *db;
    int64_t ttl_ms;
    long batch;
    bool progress;
} cache_opts;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso_time(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int usage(FILE *f, int code)
{
    fputs("usage: leadpipe cache load  --db DIR [--ttl 30d] [--batch N] FILE.csv...\n"
          "       leadpipe cache stats --db DIR\n"
          "       leadpipe cache get   --db DIR KEY        (an email or a domain)\n"
          "       leadpipe cache purge --db DIR\n\n"
          "Operates the LMDB enrichment cache.\n"
          "  load   fills it from a reference CSV: company rows keyed by domain (domain, name,\n"
          "         industry, employee_count, annual_revenue, country, region, city,\n"
          "         technologies) and person rows when the file has an email column\n"
          "  stats  entries per table, live/negative/expired, sizes, age, hit ratio\n"
          "  get    prints one entry as JSON, with its age and TTL\n"
          "  purge  removes expired entries\n\n"
          "  -d, --db DIR       the cache directory\n"
          "      --ttl DUR      lifetime of loaded entries (default 30d)\n"
          "      --batch N      entries per write transaction (default 10000)\n"
          "      --progress     draw the progress bar even when stderr is not a terminal\n"
          "  -h, --help         show this help\n",
          f);
    return code;
}

/* Column aliases in reference files, on top of the lead field names. */
static int column_field(const char *h, size_t len)
{
    static const struct {
        const char *name;
        int field;
    } alias[] = {
        {"domain", LP_F_DOMAIN},     {"name", LP_F_COMPANY},     {"company", LP_F_COMPANY},
        {"employees", LP_F_EMPLOYEES}, {"revenue", LP_F_REVENUE}, {"state", LP_F_REGION},
    };
    for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
        if (strlen(alias[i].name) == len && !strncasecmp(alias[i].name, h, len))
            return alias[i].field;
    int f = lp_field_lookup(h, len);
    if (f < 0 || !((LP_ENRICH_PERSON_FIELDS | LP_ENRICH_COMPANY_FIELDS) >> f & 1u))
        return f == LP_F_EMAIL ? f : -1;
    return f;
}

typedef struct loader {
    lp_cache *c;
    const cache_opts *o;
    lp_arena arena;
    lp_buf buf;
    lp_cache_entry *person, *company;
    size_t nperson, ncompany;
    int cols[256];
    uint32_t ncols;
    uint64_t rows, skipped, people, companies;
    int64_t now;
} loader;

static lp_err_t flush(loader *ld)
{
    lp_err_t rc = LP_OK;
    if (ld->nperson)
        rc = lp_cache_put(ld->c, "person", ld->person, ld->nperson);
    if (rc == LP_OK && ld->ncompany)
        rc = lp_cache_put(ld->c, "company", ld->company, ld->ncompany);
    ld->people += ld->nperson;
    ld->companies += ld->ncompany;
    ld->nperson = ld->ncompany = 0;
    lp_arena_reset(&ld->arena);
    return rc;
}

/* Sets one typed field from CSV text; false when the value does not parse. */
static bool set_field(loader *ld, lp_lead *l, int f, const char *s, size_t n)
{
    char *end;
    char tmp[64];
    if (lp_fields[f].type == LP_T_STR) {
        lp_lead_set_str(l, f, s, n);
        return true;
    }
    if (lp_fields[f].type == LP_T_LIST)
        return lp_lead_set_str(l, f, s, n), true; /* split later */
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (lp_fields[f].type == LP_T_LONG) {
        long long v = strtoll(tmp, &end, 10);
        if (*end)
            return false;
        lp_lead_set_long(l, f, v);
    } else {
        double d = strtod(tmp, &end);
        if (*end)
            return false;
        lp_lead_set_double(l, f, d);
    }
    (void)ld;
    return true;
}

/* Turns "a; b, c" held as a string in the technologies slot into a list. */
static void split_list(lp_arena *a, lp_lead *l)
{
    if (!lp_lead_has(l, LP_F_TECHNOLOGIES))
        return;
    const char *s = l->v[LP_F_TECHNOLOGIES].s;
    uint32_t n = l->v[LP_F_TECHNOLOGIES].len, count = 0;
    lp_str *items = lp_arena_alloc(a, (n / 2 + 1) * sizeof(lp_str));
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i;
        while (j < n && s[j] != ';' && s[j] != ',' && s[j] != '|')
            j++;
        lp_str it = lp_normalize_trim((lp_str){s + i, j - i});
        if (it.len)
            items[count++] = it;
        i = j + 1;
    }
    l->v[LP_F_TECHNOLOGIES].list = items;
    l->v[LP_F_TECHNOLOGIES].len = count;
}

static lp_cache_entry make_entry(loader *ld, lp_str key, const lp_lead *l, uint64_t mask)
{
    lp_buf_reset(&ld->buf);
    lp_enrich_encode(l, mask, &ld->buf);
    char *v = lp_arena_strndup(&ld->arena, ld->buf.data, ld->buf.len);
    return (lp_cache_entry){key, {v, (uint32_t)ld->buf.len}, ld->now, ld->o->ttl_ms, false};
}

/* Maps one data row to a lead and queues its person and company entries. */
static void load_row(loader *ld, const lp_csv_row *row)
{
    lp_lead l;
    lp_lead_clear(&l);
    bool bad = false;
    for (uint32_t i = 0; i < row->nfields && i < ld->ncols; i++) {
        int f = ld->cols[i];
        const lp_csv_field *fld = &row->fields[i];
        if (f < 0 || fld->len == 0)
            continue;
        char *s = lp_arena_alloc(&ld->arena, fld->len + 1);
        size_t n = lp_csv_unescape(fld, s);
        lp_str t = lp_normalize_trim((lp_str){s, (uint32_t)n});
        if (t.len && !set_field(ld, &l, f, t.ptr, t.len))
            bad = true;
    }
    split_list(&ld->arena, &l);
    lp_str email = {0}, domain = {0};
    if (lp_lead_has(&l, LP_F_DOMAIN) &&
        lp_normalize_domain(lp_lead_str(&l, LP_F_DOMAIN), &ld->arena, &domain) == LP_OK)
        lp_lead_set_str(&l, LP_F_DOMAIN, domain.ptr, domain.len);
    else
        lp_lead_unset(&l, LP_F_DOMAIN);
    if (lp_lead_has(&l, LP_F_EMAIL))
        lp_normalize_email(lp_lead_str(&l, LP_F_EMAIL), &ld->arena, &email, NULL);
    if (bad || (!email.len && !domain.len)) {
        ld->skipped++;
        return;
    }
    if (email.len && (l.present & LP_ENRICH_PERSON_FIELDS))
        ld->person[ld->nperson++] = make_entry(ld, email, &l, LP_ENRICH_PERSON_FIELDS);
    if (domain.len && (l.present & LP_ENRICH_COMPANY_FIELDS & ~(1ull << LP_F_DOMAIN)))
        ld->company[ld->ncompany++] = make_entry(ld, domain, &l, LP_ENRICH_COMPANY_FIELDS);
}

static void read_header(loader *ld, const lp_csv_row *row)
{
    ld->ncols = row->nfields < 256 ? row->nfields : 256;
    for (uint32_t i = 0; i < ld->ncols; i++) {
        lp_str h = lp_normalize_trim((lp_str){row->fields[i].ptr, row->fields[i].len});
        ld->cols[i] = column_field(h.ptr, h.len);
    }
}

static lp_err_t load_buffer(loader *ld, const char *buf, size_t len, lp_progress *pg)
{
    lp_csv csv;
    lp_csv_row row;
    lp_err_t rc = LP_OK;
    lp_csv_init(&csv, buf, len, 1 << 20);
    bool header = true;
    while (rc == LP_OK && lp_csv_next(&csv, &row) == LP_OK) {
        if (header) {
            read_header(ld, &row);
            header = false;
            continue;
        }
        ld->rows++;
        if (row.err != LP_OK)
            ld->skipped++;
        else
            load_row(ld, &row);
        if (ld->nperson + ld->ncompany + 2 > (size_t)ld->o->batch * 2 ||
            ld->nperson >= (size_t)ld->o->batch || ld->ncompany >= (size_t)ld->o->batch)
            rc = flush(ld);
        lp_progress_update(pg, ld->rows, csv.pos, len);
    }
    lp_csv_free(&csv);
    return rc;
}

static lp_err_t load_file(loader *ld, const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        fprintf(stderr, "leadpipe cache load: cannot open %s\n", path);
        if (fd >= 0)
            close(fd);
        return LP_E_IO;
    }
    size_t len = (size_t)sb.st_size;
    const char *buf = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : "";
    close(fd);
    if (buf == MAP_FAILED)
        return LP_E_IO;
    lp_progress pg;
    lp_progress_start(&pg, path, ld->o->progress);
    lp_err_t rc = load_buffer(ld, buf, len, &pg);
    if (rc == LP_OK)
        rc = flush(ld);
    lp_progress_finish(&pg, ld->rows, len, len);
    if (len)
        munmap((void *)buf, len);
    return rc;
}

static int cmd_load(lp_cache *c, const cache_opts *o, int argc, char **argv)
{
    loader ld = {.c = c, .o = o, .now = now_ms()};
    lp_arena_init(&ld.arena, 1 << 20);
    lp_buf_init(&ld.buf);
    ld.person = calloc((size_t)o->batch, sizeof(lp_cache_entry));
    ld.company = calloc((size_t)o->batch, sizeof(lp_cache_entry));
    lp_err_t rc = ld.person && ld.company ? LP_OK : LP_E_NOMEM;
    double t0 = lp_progress_now();
    for (int i = 0; i < argc && rc == LP_OK; i++)
        rc = load_file(&ld, argv[i]);
    size_t map, used, file;
    if (rc == LP_OK && lp_cache_info(c, &map, &used, &file) == LP_OK)
        printf("loaded %llu rows in %.1fs: %llu company and %llu person entries, %llu rows "
               "skipped (no valid domain or email, or a malformed number); map %zu MiB\n",
               (unsigned long long)ld.rows, lp_progress_now() - t0,
               (unsigned long long)ld.companies, (unsigned long long)ld.people,
               (unsigned long long)ld.skipped, map >> 20);
    if (rc != LP_OK)
        fprintf(stderr, "leadpipe cache load: %s\n", lp_err_str(rc));
    free(ld.person);
    free(ld.company);
    lp_buf_free(&ld.buf);
    lp_arena_free(&ld.arena);
    return lp_err_exit_code(rc);
}

static void print_table_stat(const char *table, const lp_cache_table_stat *st)
{
    char oldest[32] = "-", newest[32] = "-";
    if (st->entries) {
        iso_time(st->oldest_ms, oldest, sizeof(oldest));
        iso_time(st->newest_ms, newest, sizeof(newest));
    }
    printf("%-8s %10llu entries: %llu live, %llu negative, %llu expired%s; written %s .. %s\n",
           table, (unsigned long long)st->entries, (unsigned long long)st->live,
           (unsigned long long)st->negative, (unsigned long long)st->expired,
           st->corrupt ? " (UNDECODABLE VALUES)" : "", oldest, newest);
}

static int cmd_stats(lp_cache *c)
{
    int64_t now = now_ms();
    for (int t = 0; t < LP_CACHE_NTABLES - 1; t++) {
        lp_cache_table_stat st;
        if (lp_cache_stat(c, lp_cache_tables[t], now, &st) != LP_OK)
            return 1;
        print_table_stat(lp_cache_tables[t], &st);
    }
    size_t map, used, file;
    if (lp_cache_info(c, &map, &used, &file) != LP_OK)
        return 1;
    printf("size     %.1f MiB on disk, %.1f MiB used of a %.1f MiB map\n", file / 1048576.0,
           used / 1048576.0, map / 1048576.0);
    int64_t hits = lp_cache_meta_get(c, "enrich.hits");
    int64_t misses = lp_cache_meta_get(c, "enrich.misses");
    if (hits + misses)
        printf("hits     %.1f%% (%lld hits, %lld misses, over every recorded run)\n",
               100.0 * (double)hits / (double)(hits + misses), (long long)hits,
               (long long)misses);
    else
        printf("hits     no enrich run recorded yet\n");
    return 0;
}

static json_t *field_json(const lp_lead *l, int f)
{
    const lp_val *v = &l->v[f];
    switch (lp_fields[f].type) {
    case LP_T_STR:
        return json_stringn(v->s, v->len);
    case LP_T_DOUBLE:
        return json_real(v->d);
    case LP_T_LIST: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < v->len; i++)
            json_array_append_new(a, json_stringn(v->list[i].ptr, v->list[i].len));
        return a;
    }
    default:
        return json_integer(v->i);
    }
}

static json_t *entry_json(const char *table, const char *key, const lp_cache_entry *e,
                          lp_arena *a)
{
    int64_t now = now_ms();
    char at[32];
    iso_time(e->written_ms, at, sizeof(at));
    json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:I, s:I, s:b}", "table", table, "key", key,
                          "negative", e->negative, "written_at", at, "age_s",
                          (json_int_t)((now - e->written_ms) / 1000), "ttl_s",
                          (json_int_t)(e->ttl_ms / 1000), "expired",
                          !lp_cache_entry_live(e, now));
    if (e->negative)
        return o;
    lp_lead l;
    json_t *fields = json_object();
    if (lp_enrich_decode(e->value, a, &l) == LP_OK)
        for (int f = 0; f < LP_F_COUNT; f++)
            if (lp_lead_has(&l, f))
                json_object_set_new(fields, lp_fields[f].name, field_json(&l, f));
    json_object_set_new(o, "fields", fields);
    return o;
}

static int cmd_get(lp_cache *c, const char *key)
{
    const char *table = strchr(key, '@') ? "person" : "company";
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_str k = {key, (uint32_t)strlen(key)}, norm;
    lp_err_t rc = *table == 'p' ? lp_normalize_email(k, &a, &norm, NULL)
                                : lp_normalize_domain(k, &a, &norm);
    char *nk = rc == LP_OK ? lp_arena_strndup(&a, norm.ptr, norm.len) : (char *)key;
    lp_cache_entry e;
    rc = lp_cache_peek(c, table, (lp_str){nk, (uint32_t)strlen(nk)}, &e);
    if (rc == LP_OK) {
        json_t *o = entry_json(table, nk, &e, &a);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(o);
    } else {
        fprintf(stderr, "leadpipe cache get: no %s entry for %s\n", table, nk);
    }
    lp_arena_free(&a);
    return rc == LP_OK ? 0 : 1;
}

static int cmd_purge(lp_cache *c)
{
    int64_t now = now_ms();
    size_t total = 0;
    for (int t = 0; t < LP_CACHE_NTABLES - 1; t++) {
        size_t n = 0;
        if (lp_cache_purge(c, lp_cache_tables[t], now, &n) != LP_OK) {
            fprintf(stderr, "leadpipe cache purge: cannot purge %s\n", lp_cache_tables[t]);
            return 1;
        }
        printf("%-8s %zu expired entries removed\n", lp_cache_tables[t], n);
        total += n;
    }
    printf("purged %zu expired entries\n", total);
    return 0;
}

static int parse_opts(int argc, char **argv, cache_opts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},    {"ttl", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'}, {"progress", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        if (ch == 'd')
            o->db = optarg;
        else if (ch == 't' && !lp_conf_parse_duration(optarg, strlen(optarg), &o->ttl_ms))
            return usage(stderr, 2);
        else if (ch == 'b' && ((o->batch = strtol(optarg, &end, 10)) <= 0 || *end))
            return usage(stderr, 2);
        else if (ch == 'p')
            o->progress = true;
        else if (ch == 'h')
            return usage(stdout, 0);
        else if (ch == '?')
            return usage(stderr, 2);
    }
    if (!o->db) {
        fputs("leadpipe cache: needs --db DIR\nTry 'leadpipe cache --help'.\n", stderr);
        return 2;
    }
    return -1;
}

static int dispatch(lp_cache *c, const char *sub, const cache_opts *o, int argc, char **argv)
{
    if (!strcmp(sub, "load"))
        return cmd_load(c, o, argc, argv);
    if (!strcmp(sub, "stats"))
        return cmd_stats(c);
    if (!strcmp(sub, "get"))
        return cmd_get(c, argv[0]);
    return cmd_purge(c);
}

int lp_cmd_cache(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(argc < 2 ? stderr : stdout, argc < 2 ? 2 : 0);
    const char *sub = argv[1];
    if (strcmp(sub, "load") && strcmp(sub, "stats") && strcmp(sub, "get") && strcmp(sub, "purge"))
        return usage(stderr, 2);
    cache_opts o = {.ttl_ms = 30 * DAY_MS, .batch = 10000};
    optind = 1;
    int rc = parse_opts(argc - 1, argv + 1, &o);
    if (rc >= 0)
        return rc;
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    bool want = !strcmp(sub, "load") || !strcmp(sub, "get");
    if ((want && nargs < 1) || (!strcmp(sub, "get") && nargs != 1) || (!want && nargs))
        return usage(stderr, 2);
    lp_cache_opts co = {.read_only = !strcmp(sub, "stats") || !strcmp(sub, "get")};
    lp_cache *c;
    char err[512];
    if (lp_cache_open(o.db, &co, &c, err, sizeof(err)) != LP_OK) {
        fprintf(stderr, "leadpipe cache: %s\n", err);
        return 1;
    }
    rc = dispatch(c, sub, &o, nargs, args);
    lp_cache_close(c);
    return rc;
}
