/*
 * Unit tests for leadgen.c, gendata.c, export.c, csvout.c and cmd_gen.c: the
 * synthetic lead generator, the CRM-style writers and `leadpipe gen`.
 *
 * The checks are independent of the generator's own bookkeeping where they
 * can be: duplicates are found by normalising emails, defects by a small
 * validator written here, CSV is read back by a strict RFC 4180 reader
 * written here, and vendor headers are compared with the lists in
 * /work/shared/data/export-headers.md, copied below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "cmd.h"
#include "csvout.h"
#include "export.h"
#include "lead.h"
#include "leadgen.h"

#define NLEADS 20000

/* ------------------------------------------------------------ helpers */

static lp_leadgen *make_gen(uint64_t seed)
{
    lp_leadgen_opts o;
    lp_leadgen_opts_init(&o);
    o.seed = seed;
    lp_leadgen *g = lp_leadgen_new(&o);
    assert_non_null(g);
    return g;
}

/* Writes n leads with the given writer options into b. */
static void export_leads(lp_export_opts eo, uint64_t seed, uint64_t n, lp_buf *b)
{
    lp_leadgen *g = make_gen(seed);
    lp_export *x = NULL;
    lp_arena a;
    lp_lead l;
    lp_arena_init(&a, 0);
    eo.seed = seed;
    eo.rows = n;
    assert_int_equal(lp_export_new(&eo, &x), LP_OK);
    assert_int_equal(lp_export_begin(x, b), LP_OK);
    for (uint64_t i = 0; i < n; i++) {
        lp_leadgen_next(g, &l, &a);
        assert_int_equal(lp_export_lead(x, &l, b), LP_OK);
        lp_arena_reset(&a);
    }
    lp_export_free(x);
    lp_leadgen_free(g);
    lp_arena_free(&a);
}

/* A strict RFC 4180 reader. Calls row(fields, nfields, ctx) per record;
 * returns the number of records, or -1 if the input ends inside quotes or a
 * quote appears where RFC 4180 forbids it. */
typedef void (*row_fn)(char **fields, size_t n, void *ctx);

static long csv_read(const char *p, size_t len, row_fn row, void *ctx)
{
    static char *fields[128];
    static char cell[128][16384];
    size_t nf = 0, k = 0;
    long rows = 0;
    size_t i = 0;
    bool quoted = false, was_quoted = false, any = false;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        i = 3;
    for (; i <= len; i++) {
        char c = i < len ? p[i] : '\n';
        if (i == len && quoted)
            return -1;
        if (quoted) {
            if (c == '"' && i + 1 < len && p[i + 1] == '"')
                cell[nf][k++] = '"', i++;
            else if (c == '"')
                quoted = false, was_quoted = true;
            else if (k < 16383)
                cell[nf][k++] = c;
            continue;
        }
        if (c == '"') {
            if (k || was_quoted)
                return -1;
            quoted = true;
            any = true;
        } else if (c == ',' || c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < len && p[i + 1] != '\n')
                return -1;
            if (c == '\r')
                continue;
            if (i == len && !any && nf == 0 && k == 0)
                break; /* no record after the last line end */
            cell[nf][k] = '\0';
            fields[nf] = cell[nf];
            nf = nf < 127 ? nf + 1 : nf;
            k = 0, was_quoted = false;
            if (c == '\n') {
                if (row)
                    row(fields, nf, ctx);
                rows++, nf = 0, any = false;
            } else {
                any = true;
            }
        } else {
            if (was_quoted)
                return -1;
            if (k < 16383)
                cell[nf][k++] = c;
            any = true;
        }
    }
    return rows;
}

/* Emails are compared the way dedupe compares them: trimmed, lower case. */
static size_t normalize_email(lp_str e, char *out, size_t cap)
{
    size_t n = 0;
    while (e.len && (e.ptr[0] == ' ' || e.ptr[0] == '\t'))
        e.ptr++, e.len--;
    while (e.len && (e.ptr[e.len - 1] == ' ' || e.ptr[e.len - 1] == '\t'))
        e.len--;
    for (uint32_t i = 0; i < e.len && n + 1 < cap; i++) {
        char c = e.ptr[i];
        out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return n;
}

/* ------------------------------------------------------ the validator */

static bool email_ok(const char *e)
{
    const char *at = strchr(e, '@');
    if (!at || at == e || strchr(at + 1, '@') || strchr(e, ' ') || strstr(e, ".."))
        return false;
    const char *dot = strrchr(at, '.');
    return dot && dot > at + 1 && dot[1] != '\0';
}

static bool phone_ok(lp_str p)
{
    int digits = 0;
    uint32_t i = p.len && p.ptr[0] == '\'' ? 1 : 0;
    for (; i < p.len; i++) {
        char c = p.ptr[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (!strchr("+-(). /", c))
            return false;
    }
    return digits >= 7 && digits <= 15;
}

static bool url_ok(lp_str u)
{
    char s[512];
    snprintf(s, sizeof(s), "%.*s", (int)u.len, u.ptr);
    const char *host = !strncmp(s, "https://", 8)  ? s + 8
                       : !strncmp(s, "http://", 7) ? s + 7
                                                   : NULL;
    if (!host || strchr(s, ' '))
        return false;
    const char *slash = strchr(host, '/');
    const char *dot = strchr(host, '.');
    return dot && (!slash || dot < slash) && dot > host;
}

/* The defect a lead carries by this file's rules, LP_OK when none. */
static lp_err_t validate(const lp_lead *l)
{
    char e[300];
    if (!lp_lead_has(l, LP_F_EMAIL))
        return LP_E_EMAIL_MISSING;
    normalize_email(lp_lead_str(l, LP_F_EMAIL), e, sizeof(e));
    if (!email_ok(e))
        return LP_E_EMAIL_INVALID;
    if (lp_lead_has(l, LP_F_PHONE) && !phone_ok(lp_lead_str(l, LP_F_PHONE)))
        return LP_E_PHONE_INVALID;
    if ((lp_lead_has(l, LP_F_LINKEDIN_URL) && !url_ok(lp_lead_str(l, LP_F_LINKEDIN_URL))) ||
        (lp_lead_has(l, LP_F_WEBSITE) && !url_ok(lp_lead_str(l, LP_F_WEBSITE))))
        return LP_E_URL_INVALID;
    return LP_OK;
}

/* ------------------------------------------------------- distributions */

/* Emails seen so far, normalised, with the index of their first lead. */
typedef struct seen_set {
    char (*email)[128];
    char (*raw)[128];
    uint64_t *first;
    size_t cap;
} seen_set;

/* Finds or inserts e; returns its slot and whether it was there before. */
static size_t seen_slot(seen_set *s, const char *e, bool *found)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = e; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->email[i][0] || !strcmp(s->email[i], e)) {
            *found = s->email[i][0] != '\0';
            return i;
        }
    }
}

typedef struct tally {
    long free_mail, dups, accidental, invalid, non_ascii, us, gb, de;
    bool script[6]; /* Cyrillic, Greek, Arabic, Devanagari, CJK, Hangul */
    long small_n, big_n;
    double small_rev, big_rev;
    long huge;
} tally;

/* Notes which scripts a name is written in, by UTF-8 lead bytes. */
static void note_scripts(tally *t, lp_str s)
{
    for (uint32_t i = 0; i < s.len; i++) {
        uint8_t c = (uint8_t)s.ptr[i], d = i + 1 < s.len ? (uint8_t)s.ptr[i + 1] : 0;
        if (c < 0x80)
            continue;
        t->script[0] |= c == 0xD0 || c == 0xD1;
        t->script[1] |= c == 0xCE || c == 0xCF;
        t->script[2] |= c >= 0xD8 && c <= 0xDB;
        t->script[3] |= c == 0xE0 && (d == 0xA4 || d == 0xA5);
        t->script[4] |= c >= 0xE4 && c <= 0xE9;
        t->script[5] |= c >= 0xEA && c <= 0xED;
    }
}

static bool has_non_ascii(lp_str s)
{
    for (uint32_t i = 0; i < s.len; i++)
        if ((uint8_t)s.ptr[i] >= 0x80)
            return true;
    return false;
}

/* Duplicates: by normalised email, checked against what the generator says. */
static void tally_dup(tally *t, seen_set *s, const lp_lead *l, const lp_leadgen_info *in)
{
    char e[128];
    bool found;
    if (!lp_lead_has(l, LP_F_EMAIL) || in->defect != LP_LEADGEN_VALID)
        return;
    lp_str raw = lp_lead_str(l, LP_F_EMAIL);
    normalize_email(raw, e, sizeof(e));
    size_t k = seen_slot(s, e, &found);
    if (!found) {
        assert_false(in->duplicate);
        snprintf(s->email[k], 128, "%s", e);
        snprintf(s->raw[k], 128, "%.*s", (int)raw.len, raw.ptr);
        s->first[k] = in->index;
    } else if (in->duplicate) {
        t->dups++;
        assert_int_equal(in->dup_of, s->first[k]);
        /* the same person, written differently */
        assert_true(strlen(s->raw[k]) != raw.len || memcmp(s->raw[k], raw.ptr, raw.len));
    } else {
        t->accidental++;
    }
}

static void tally_company(tally *t, const lp_lead *l)
{
    lp_str c = lp_lead_str(l, LP_F_COUNTRY);
    t->us += c.len == 2 && !memcmp(c.ptr, "US", 2);
    t->gb += c.len == 2 && !memcmp(c.ptr, "GB", 2);
    t->de += c.len == 2 && !memcmp(c.ptr, "DE", 2);
    if (!lp_lead_has(l, LP_F_EMPLOYEES))
        return;
    int64_t e = l->v[LP_F_EMPLOYEES].i;
    t->huge += e >= 10000;
    if (!lp_lead_has(l, LP_F_REVENUE))
        return;
    if (e <= 50)
        t->small_n++, t->small_rev += l->v[LP_F_REVENUE].d;
    if (e >= 1000)
        t->big_n++, t->big_rev += l->v[LP_F_REVENUE].d;
}

/* Free mail: the address is not at the company's domain. */
static void tally_mail(tally *t, const lp_lead *l, const lp_leadgen_info *in)
{
    char e[128];
    if (in->defect != LP_LEADGEN_VALID)
        return;
    normalize_email(lp_lead_str(l, LP_F_EMAIL), e, sizeof(e));
    lp_str d = lp_lead_str(l, LP_F_DOMAIN);
    const char *at = strchr(e, '@');
    bool corporate = at && strlen(at + 1) == d.len && !memcmp(at + 1, d.ptr, d.len);
    assert_int_equal(!corporate, in->free_mail);
    t->free_mail += !corporate;
}

static void tally_lead(tally *t, seen_set *s, const lp_lead *l, const lp_leadgen_info *in)
{
    lp_err_t got = validate(l);
    assert_int_equal(got, in->expect); /* every defect is caught, nothing else is */
    t->invalid += got != LP_OK;
    tally_dup(t, s, l, in);
    tally_mail(t, l, in);
    tally_company(t, l);
    lp_str fn = lp_lead_str(l, LP_F_FIRST_NAME), ln = lp_lead_str(l, LP_F_LAST_NAME);
    t->non_ascii += has_non_ascii(fn) || has_non_ascii(ln);
    note_scripts(t, fn);
    note_scripts(t, ln);
    assert_true(lp_lead_has(l, LP_F_LEAD_ID) && lp_lead_has(l, LP_F_RECEIVED_AT));
    if (lp_lead_has(l, LP_F_LAST_ACTIVITY)) {
        int64_t age = l->v[LP_F_RECEIVED_AT].i - l->v[LP_F_LAST_ACTIVITY].i;
        assert_true(age >= 0 && age <= 181LL * 86400000);
    }
}

static void distributions_over_20000_leads(void **state)
{
    (void)state;
    seen_set s = {calloc(65536, 128), calloc(65536, 128), calloc(65536, 8), 65536};
    tally t;
    memset(&t, 0, sizeof(t));
    lp_leadgen *g = make_gen(42);
    lp_arena a;
    lp_lead l;
    int64_t prev = 0;
    lp_arena_init(&a, 0);
    for (int i = 0; i < NLEADS; i++) {
        lp_leadgen_next(g, &l, &a);
        const lp_leadgen_info *in = lp_leadgen_last(g);
        assert_int_equal(in->index, (uint64_t)i);
        int64_t at = l.v[LP_F_RECEIVED_AT].i;
        assert_true(i == 0 ? at > LP_LEADGEN_BASE_MS_DEFAULT
                           : at - prev >= 1000 && at - prev <= 8000);
        prev = at;
        tally_lead(&t, &s, &l, in);
        lp_arena_reset(&a);
    }
    /* defaults: 3% duplicates, 2% defects */
    assert_in_range(t.dups, 0.02 * NLEADS, 0.04 * NLEADS);
    assert_true(t.accidental <= NLEADS / 500);
    assert_in_range(t.invalid, 0.013 * NLEADS, 0.027 * NLEADS);
    assert_in_range(t.free_mail, 0.10 * NLEADS, 0.30 * NLEADS);
    assert_in_range(t.non_ascii, 0.03 * NLEADS, 0.40 * NLEADS);
    for (int k = 0; k < 6; k++)
        assert_true(t.script[k]);
    /* US heavy, then GB, then DE */
    assert_in_range(t.us, 0.35 * NLEADS, 0.52 * NLEADS);
    assert_true(t.gb > t.de && t.de > NLEADS / 50);
    /* long tail of sizes, and revenue that follows size */
    assert_true(t.huge > 0 && t.huge < NLEADS / 20);
    assert_true(t.small_n > 0 && t.big_n > 0);
    assert_true(t.big_rev / t.big_n > 20 * (t.small_rev / t.small_n));
    lp_leadgen_free(g);
    lp_arena_free(&a);
    free(s.email);
    free(s.raw);
    free(s.first);
}

/* Seniority and department use Apollo's vocabulary, and titles match them. */
static void roles_use_apollo_vocabulary(void **state)
{
    (void)state;
    static const char *const levels = " founder c_suite vp head director manager senior entry ";
    lp_leadgen *g = make_gen(7);
    lp_arena a;
    lp_lead l;
    char key[64];
    bool seen_eng = false;
    lp_arena_init(&a, 0);
    for (int i = 0; i < 5000; i++) {
        lp_leadgen_next(g, &l, &a);
        lp_str s = lp_lead_str(&l, LP_F_SENIORITY), d = lp_lead_str(&l, LP_F_DEPARTMENT);
        lp_str t = lp_lead_str(&l, LP_F_TITLE);
        snprintf(key, sizeof(key), " %.*s ", (int)s.len, s.ptr);
        assert_non_null(strstr(levels, key));
        seen_eng |= d.len == 23 && !memcmp(d.ptr, "Engineering & Technical", 23);
        if (s.len == 2 && !memcmp(s.ptr, "vp", 2))
            assert_true(memmem(t.ptr, t.len, "VP", 2) || memmem(t.ptr, t.len, "Vice", 4));
        if (s.len == 4 && !memcmp(s.ptr, "head", 4))
            assert_non_null(memmem(t.ptr, t.len, "Head of", 7));
        lp_arena_reset(&a);
    }
    assert_true(seen_eng);
    lp_leadgen_free(g);
    lp_arena_free(&a);
}

static void rates_are_checked(void **state)
{
    (void)state;
    lp_leadgen_opts o;
    lp_leadgen_opts_init(&o);
    o.dup_rate = 0.7;
    o.invalid_rate = 0.5;
    assert_null(lp_leadgen_new(&o));
    o.dup_rate = -0.1;
    o.invalid_rate = 0.0;
    assert_null(lp_leadgen_new(&o));
}

/* ---------------------------------------------------------- determinism */

static void same_seed_gives_same_bytes(void **state)
{
    (void)state;
    const lp_export_opts styles[] = {
        {LP_EXPORT_APOLLO, LP_EXPORT_CSV, false, 0, 0},
        {LP_EXPORT_HUBSPOT, LP_EXPORT_CSV, false, 0, 0},
        {LP_EXPORT_SALESFORCE, LP_EXPORT_CSV, false, 0, 0},
        {LP_EXPORT_CANONICAL, LP_EXPORT_CSV, false, 0, 0},
        {LP_EXPORT_CANONICAL, LP_EXPORT_JSONL, false, 0, 0},
        {LP_EXPORT_APOLLO, LP_EXPORT_CSV, true, 0, 0},
    };
    for (size_t i = 0; i < sizeof(styles) / sizeof(styles[0]); i++) {
        lp_buf a, b, c;
        lp_buf_init(&a), lp_buf_init(&b), lp_buf_init(&c);
        export_leads(styles[i], 5, 3000, &a);
        export_leads(styles[i], 5, 3000, &b);
        export_leads(styles[i], 6, 3000, &c);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        assert_true(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);
        lp_buf_free(&a), lp_buf_free(&b), lp_buf_free(&c);
    }
}

/* A fixed lead of a fixed seed, so that a change to the generator's output
 * (which would change every committed sample file) is noticed. */
static void first_lead_is_stable(void **state)
{
    (void)state;
    lp_leadgen *g = make_gen(1);
    lp_arena a;
    lp_lead l;
    lp_arena_init(&a, 0);
    lp_leadgen_next(g, &l, &a);
    lp_str id = lp_lead_str(&l, LP_F_LEAD_ID);
    assert_int_equal(id.len, 19);
    assert_memory_equal(id.ptr, "ld_", 3);
    assert_in_range(l.v[LP_F_RECEIVED_AT].i, 1714521601000LL, 1714521608000LL);
    lp_str e = lp_lead_str(&l, LP_F_EMAIL);
    assert_int_equal(e.len, strlen("eirini.georgiou@brightfieldwealth.com.au"));
    assert_memory_equal(e.ptr, "eirini.georgiou@brightfieldwealth.com.au", e.len);
    assert_int_equal(l.v[LP_F_EMPLOYEES].i, 21);
    lp_leadgen_free(g);
    lp_arena_free(&a);
}

/* ------------------------------------------------------ headers and CSV */

static const char *const apollo_header[] = {"First Name",
                                            "Last Name",
                                            "Title",
                                            "Company",
                                            "Company Name for Emails",
                                            "Email",
                                            "Email Status",
                                            "Seniority",
                                            "Departments",
                                            "Contact Owner",
                                            "First Phone",
                                            "Work Direct Phone",
                                            "Home Phone",
                                            "Mobile Phone",
                                            "Corporate Phone",
                                            "Other Phone",
                                            "Stage",
                                            "Lists",
                                            "Last Contacted",
                                            "Account Owner",
                                            "# Employees",
                                            "Industry",
                                            "Keywords",
                                            "Person Linkedin Url",
                                            "Website",
                                            "Company Linkedin Url",
                                            "Facebook Url",
                                            "Twitter Url",
                                            "City",
                                            "State",
                                            "Country",
                                            "Company Address",
                                            "Company City",
                                            "Company State",
                                            "Company Country",
                                            "Company Phone",
                                            "Technologies",
                                            "Annual Revenue",
                                            "Total Funding",
                                            "Latest Funding",
                                            "Latest Funding Amount",
                                            "Last Raised At",
                                            "Email Sent",
                                            "Email Open",
                                            "Email Bounced",
                                            "Replied",
                                            "Demoed",
                                            "Apollo Contact Id",
                                            "Apollo Account Id",
                                            NULL};
static const char *const hubspot_header[] = {
    "Record ID",           "First Name",     "Last Name",      "Email",        "Phone Number",
    "Company Name",        "Job Title",      "Country/Region", "State/Region", "City",
    "Lifecycle Stage",     "Lead Status",    "Contact owner",  "Create Date",  "Last Activity Date",
    "Number of Employees", "Annual Revenue", "Industry",       "Website URL",  NULL};
static const char *const salesforce_header[] = {
    "Lead ID",        "First Name", "Last Name",      "Title",    "Company / Account",
    "Email",          "Phone",      "Lead Source",    "Industry", "No. of Employees",
    "Annual Revenue", "Country",    "State/Province", "City",     "Lead Status",
    "Rating",         "Lead Owner", "Create Date",    NULL};

typedef struct check_ctx {
    long rows;
    size_t width;
    const char *const *header; /* expected first row */
    lp_export_style style;
    long bad_width, big, lots, range, apostrophe, newline;
    int short_at, long_at;
} check_ctx;

static int column_of(const char *const *header, const char *name)
{
    for (int i = 0; header[i]; i++)
        if (!strcmp(header[i], name))
            return i;
    return -1;
}

/* Per-style value shapes of a clean row. */
static void check_values(check_ctx *c, char **f)
{
    if (c->style == LP_EXPORT_APOLLO) {
        const char *emp = f[column_of(apollo_header, "# Employees")];
        for (const char *p = emp; *p; p++)
            assert_true((*p >= '0' && *p <= '9') || *p == ',');
        assert_true(strlen(f[column_of(apollo_header, "Country")]) != 2);
    } else if (c->style == LP_EXPORT_HUBSPOT) {
        const char *d = f[column_of(hubspot_header, "Create Date")];
        assert_int_equal(strlen(d), 16); /* 2024-05-01 12:00 */
        assert_true(d[4] == '-' && d[10] == ' ' && d[13] == ':');
    } else if (c->style == LP_EXPORT_SALESFORCE) {
        const char *d = f[column_of(salesforce_header, "Create Date")];
        assert_non_null(strchr(d, '/'));
        assert_int_equal(strlen(f[0]), 18);
    }
}

static void check_row(char **f, size_t n, void *ctx)
{
    check_ctx *c = ctx;
    if (c->rows++ == 0) {
        for (size_t i = 0; i < n; i++)
            assert_string_equal(f[i], c->header[i]);
        assert_null(c->header[n]);
        c->width = n;
        return;
    }
    if (n != c->width) {
        c->bad_width++;
        c->short_at = n < c->width ? (int)c->rows - 1 : c->short_at;
        c->long_at = n > c->width ? (int)c->rows - 1 : c->long_at;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(f[i]);
        c->big += len >= 10240;
        c->newline += strchr(f[i], '\n') != NULL;
        c->apostrophe += f[i][0] == '\'' && f[i][1] == '+';
        c->lots += !strcmp(f[i], "lots");
        c->range += !strcmp(f[i], "51-200") || !strcmp(f[i], "10,001+") || !strcmp(f[i], "11-50") ||
                    !strcmp(f[i], "1-10");
    }
}

static void vendor_csv_reads_back_with_exact_headers(void **state)
{
    (void)state;
    const struct {
        lp_export_style style;
        const char *const *header;
    } cases[] = {{LP_EXPORT_APOLLO, apollo_header},
                 {LP_EXPORT_HUBSPOT, hubspot_header},
                 {LP_EXPORT_SALESFORCE, salesforce_header}};
    for (size_t k = 0; k < 3; k++) {
        lp_buf b;
        lp_buf_init(&b);
        export_leads((lp_export_opts){cases[k].style, LP_EXPORT_CSV, false, 0, 0}, 3, 2000, &b);
        check_ctx c = {.header = cases[k].header, .style = cases[k].style};
        assert_int_equal(csv_read(b.data, b.len, check_row, &c), 2001);
        assert_int_equal(c.bad_width, 0);
        for (size_t i = 0; cases[k].header[i]; i++)
            assert_string_equal(lp_export_column(cases[k].style, i), cases[k].header[i]);
        assert_false(memmem(b.data, b.len, "\r\n", 2)); /* clean files use LF */
        lp_buf_free(&b);
    }
}

/* Clean rows hold the vendor's value shapes. */
static void check_value_row(char **f, size_t n, void *ctx)
{
    check_ctx *c = ctx;
    if (c->rows++ > 0 && n == c->width)
        check_values(c, f);
}

static void vendor_values_look_like_the_vendor(void **state)
{
    (void)state;
    const lp_export_style styles[] = {LP_EXPORT_APOLLO, LP_EXPORT_HUBSPOT, LP_EXPORT_SALESFORCE};
    const char *const *headers[] = {apollo_header, hubspot_header, salesforce_header};
    for (int k = 0; k < 3; k++) {
        lp_buf b;
        lp_buf_init(&b);
        export_leads((lp_export_opts){styles[k], LP_EXPORT_CSV, false, 0, 0}, 9, 500, &b);
        size_t w = 0;
        while (headers[k][w])
            w++;
        check_ctx c = {.header = headers[k], .style = styles[k], .width = w};
        assert_int_equal(csv_read(b.data, b.len, check_value_row, &c), 501);
        lp_buf_free(&b);
    }
}

/* Canonical CSV: lead.h's input field names, and values that round-trip. */
typedef struct canon_ctx {
    lp_leadgen *g;
    lp_arena a;
    long rows;
} canon_ctx;

static void check_canon_row(char **f, size_t n, void *ctx)
{
    canon_ctx *c = ctx;
    assert_int_equal(n, LP_F_INPUT_COUNT + 2);
    if (c->rows++ == 0) {
        for (int i = 0; i < LP_F_INPUT_COUNT; i++)
            assert_string_equal(f[i], lp_fields[i].name);
        assert_string_equal(f[LP_F_INPUT_COUNT], LP_LEADGEN_CUSTOM_PRODUCT);
        return;
    }
    lp_lead l;
    lp_leadgen_next(c->g, &l, &c->a);
    lp_str e = lp_lead_str(&l, LP_F_EMAIL), t = lp_lead_str(&l, LP_F_TITLE);
    assert_int_equal(strlen(f[LP_F_EMAIL]), e.len);
    assert_memory_equal(f[LP_F_EMAIL], e.ptr, e.len);
    assert_memory_equal(f[LP_F_TITLE], t.ptr, t.len);
    assert_int_equal(strlen(f[LP_F_RECEIVED_AT]), 24); /* 2024-05-01T00:00:05.921Z */
    if (lp_lead_has(&l, LP_F_EMPLOYEES))
        assert_int_equal(strtoll(f[LP_F_EMPLOYEES], NULL, 10), l.v[LP_F_EMPLOYEES].i);
    lp_arena_reset(&c->a);
}

static void canonical_csv_round_trips(void **state)
{
    (void)state;
    lp_buf b;
    lp_buf_init(&b);
    export_leads((lp_export_opts){LP_EXPORT_CANONICAL, LP_EXPORT_CSV, false, 0, 0}, 11, 1000, &b);
    canon_ctx c = {.g = make_gen(11)};
    lp_arena_init(&c.a, 0);
    assert_int_equal(csv_read(b.data, b.len, check_canon_row, &c), 1001);
    lp_leadgen_free(c.g);
    lp_arena_free(&c.a);
    lp_buf_free(&b);
}

/* ------------------------------------------------------------ messy CSV */

static void messy_csv_carries_real_world_damage(void **state)
{
    (void)state;
    lp_buf b;
    lp_buf_init(&b);
    /* 301 announced, 300 written: everything but the unterminated last row */
    lp_export_opts o = {LP_EXPORT_APOLLO, LP_EXPORT_CSV, true, 4, 301};
    lp_leadgen *g = make_gen(4);
    lp_export *x;
    lp_arena a;
    lp_lead l;
    lp_arena_init(&a, 0);
    assert_int_equal(lp_export_new(&o, &x), LP_OK);
    assert_int_equal(lp_export_begin(x, &b), LP_OK);
    for (int i = 0; i < 300; i++) {
        lp_leadgen_next(g, &l, &a);
        assert_int_equal(lp_export_lead(x, &l, &b), LP_OK);
    }
    assert_memory_equal(b.data,
                        "\xEF\xBB\xBF"
                        "First Name,",
                        14);
    assert_non_null(memmem(b.data, b.len, "Apollo Account Id\r\n", 19));
    check_ctx c = {.header = apollo_header, .style = LP_EXPORT_APOLLO};
    assert_int_equal(csv_read(b.data, b.len, check_row, &c), 301);
    assert_true(c.bad_width >= 2);
    assert_int_equal(c.big, 1);
    assert_true(c.newline > 1 && c.lots > 0 && c.range > 0 && c.apostrophe > 0);

    /* the last row opens a quote that the file never closes */
    lp_leadgen_next(g, &l, &a);
    assert_int_equal(lp_export_lead(x, &l, &b), LP_OK);
    assert_int_equal(csv_read(b.data, b.len, NULL, NULL), -1);
    lp_export_free(x);
    lp_leadgen_free(g);
    lp_arena_free(&a);
    lp_buf_free(&b);
}

static void messy_rows_have_wrong_widths_where_documented(void **state)
{
    (void)state;
    lp_buf b;
    lp_buf_init(&b);
    export_leads((lp_export_opts){LP_EXPORT_HUBSPOT, LP_EXPORT_CSV, true, 0, 0}, 8, 36, &b);
    /* drop the deliberately unterminated last row before reading */
    lp_buf_reset(&b);
    lp_export_opts o = {LP_EXPORT_HUBSPOT, LP_EXPORT_CSV, true, 8, 1000};
    lp_leadgen *g = make_gen(8);
    lp_export *x;
    lp_arena a;
    lp_lead l;
    lp_arena_init(&a, 0);
    assert_int_equal(lp_export_new(&o, &x), LP_OK);
    assert_int_equal(lp_export_begin(x, &b), LP_OK);
    for (int i = 0; i < 36; i++) {
        lp_leadgen_next(g, &l, &a);
        assert_int_equal(lp_export_lead(x, &l, &b), LP_OK);
    }
    check_ctx c = {.header = hubspot_header, .style = LP_EXPORT_HUBSPOT};
    assert_int_equal(csv_read(b.data, b.len, check_row, &c), 37);
    assert_int_equal(c.bad_width, 2);
    assert_int_equal(c.short_at, 21); /* 1-based data rows */
    assert_int_equal(c.long_at, 34);
    lp_export_free(x);
    lp_leadgen_free(g);
    lp_arena_free(&a);
    lp_buf_free(&b);
}

/* ---------------------------------------------------------------- JSONL */

static void check_json_line(json_t *o)
{
    assert_true(json_is_object(o));
    assert_true(json_is_string(json_object_get(o, "lead_id")));
    const char *at = json_string_value(json_object_get(o, "received_at"));
    assert_non_null(at);
    assert_int_equal(strlen(at), 24);
    assert_true(at[10] == 'T' && at[23] == 'Z');
    json_t *tech = json_object_get(o, "technologies");
    assert_true(!tech || (json_is_array(tech) && json_array_size(tech) > 0));
    json_t *emp = json_object_get(o, "employee_count");
    assert_true(!emp || json_is_integer(emp));
    json_t *consent = json_object_get(o, "consent_marketing");
    assert_true(!consent || json_is_boolean(consent));
    json_t *custom = json_object_get(o, "custom");
    assert_true(!custom || json_is_object(custom));
}

static void jsonl_lines_parse(void **state)
{
    (void)state;
    lp_buf b;
    lp_buf_init(&b);
    export_leads((lp_export_opts){LP_EXPORT_CANONICAL, LP_EXPORT_JSONL, false, 0, 0}, 2, 1000, &b);
    size_t lines = 0;
    for (char *p = b.data, *end = b.data + b.len; p < end; lines++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        json_error_t err;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (!o)
            fail_msg("line %zu: %s", lines + 1, err.text);
        check_json_line(o);
        json_decref(o);
        p = nl + 1;
    }
    assert_int_equal(lines, 1000);
    lp_buf_free(&b);
}

/* --------------------------------------------------------------- csvout */

static void csvout_quotes_what_needs_it(void **state)
{
    (void)state;
    lp_buf b;
    lp_csvout w;
    lp_buf_init(&b);
    lp_csvout_init(&w, &b, true);
    assert_int_equal(lp_csvout_cstr(&w, "plain"), LP_OK);
    assert_int_equal(lp_csvout_cstr(&w, "Acme, Inc."), LP_OK);
    assert_int_equal(lp_csvout_cstr(&w, "say \"hi\""), LP_OK);
    assert_int_equal(lp_csvout_cstr(&w, "two\nlines"), LP_OK);
    assert_int_equal(lp_csvout_cstr(&w, " padded"), LP_OK);
    assert_int_equal(lp_csvout_cstr(&w, NULL), LP_OK);
    assert_int_equal(lp_csvout_end_row(&w), LP_OK);
    const char *want = "plain,\"Acme, Inc.\",\"say \"\"hi\"\"\",\"two\nlines\",\" padded\",\r\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    lp_buf_free(&b);
}

/* ------------------------------------------------------------ the command */

/* Runs `leadpipe gen ARGS...` and returns its exit status; its stderr goes
 * to errbuf. */
static int run_gen(char *errbuf, size_t errlen, ...)
{
    char *argv[16] = {"gen"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *s; argc < 15 && (s = va_arg(ap, char *));)
        argv[argc++] = s;
    va_end(ap);
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    int rc = lp_cmd_gen(argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(errbuf, 1, errlen - 1, tmp);
    errbuf[n] = '\0';
    fclose(tmp);
    return rc;
}

static void usage_errors_exit_2_and_name_the_option(void **state)
{
    (void)state;
    char err[1024];
    assert_int_equal(run_gen(err, sizeof(err), NULL), 2);
    assert_non_null(strstr(err, "--leads N is required"));
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "ten", NULL), 2);
    assert_non_null(strstr(err, "--leads: 'ten' is not a whole number"));
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "5", "--format", "xml", NULL), 2);
    assert_non_null(strstr(err, "--format: 'xml'"));
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "5", "--style", "pipedrive", NULL), 2);
    assert_non_null(strstr(err, "--style: 'pipedrive'"));
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "5", "--dup-rate", "1.5", NULL), 2);
    assert_non_null(strstr(err, "--dup-rate: '1.5' is not in 0..1"));
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "5", "--dup-rate", "0.7",
                             "--invalid-rate", "0.5", NULL),
                     2);
    assert_int_equal(
        run_gen(err, sizeof(err), "--leads", "5", "--messy", "--format", "jsonl", NULL), 2);
    assert_non_null(strstr(err, "--messy"));
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "5", "--bogus", NULL), 2);
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "5", "-o", "/nonexistent/x.csv", NULL),
                     1);
    assert_non_null(strstr(err, "/nonexistent/x.csv"));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void command_output_is_byte_identical(void **state)
{
    (void)state;
    char err[1024], a[64], b[64];
    snprintf(a, sizeof(a), "test_leadgen_a_%d.csv", (int)getpid());
    snprintf(b, sizeof(b), "test_leadgen_b_%d.csv", (int)getpid());
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "2500", "--seed", "77", "--style",
                             "salesforce", "--messy", "-o", a, NULL),
                     0);
    assert_int_equal(run_gen(err, sizeof(err), "--leads", "2500", "--seed", "77", "--style",
                             "salesforce", "--messy", "-o", b, NULL),
                     0);
    size_t na, nb;
    char *pa = slurp(a, &na), *pb = slurp(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na);
    free(pa), free(pb);
    unlink(a), unlink(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(distributions_over_20000_leads),
        cmocka_unit_test(roles_use_apollo_vocabulary),
        cmocka_unit_test(rates_are_checked),
        cmocka_unit_test(same_seed_gives_same_bytes),
        cmocka_unit_test(first_lead_is_stable),
        cmocka_unit_test(vendor_csv_reads_back_with_exact_headers),
        cmocka_unit_test(vendor_values_look_like_the_vendor),
        cmocka_unit_test(canonical_csv_round_trips),
        cmocka_unit_test(messy_csv_carries_real_world_damage),
        cmocka_unit_test(messy_rows_have_wrong_widths_where_documented),
        cmocka_unit_test(jsonl_lines_parse),
        cmocka_unit_test(csvout_quotes_what_needs_it),
        cmocka_unit_test(usage_errors_exit_2_and_name_the_option),
        cmocka_unit_test(command_output_is_byte_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
