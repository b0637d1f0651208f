/*
 * fieldmap.c - column aliases and export value parsers; see fieldmap.h.
 *
 * The map is an open-addressing hash table over XXH3 of the normalised
 * name (ASCII lower case, with ' ', '\t', '_' and '-' removed). It is
 * filled once and never shrinks, so lookups need no locks.
 *
 * Ranks: user entries get 0, 1, 2... in the order added. The canonical
 * field names come next (LP_FIELDMAP_PRIO_BUILTIN), then the alias table
 * below in order, so the order of lp_fieldmap_aliases is the priority among
 * columns that feed one field.
 */
#include "fieldmap.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define LP_FIELDMAP_KEY_MAX 128
#define LP_FIELDMAP_PRIO_BUILTIN 1000

struct lp_fieldmap_alias {
    const char *name;
    lp_field_id field;
};

/*
 * Built-in aliases, in priority order within each field. Every column of
 * the Apollo, HubSpot and Salesforce exports in export-headers.md that has
 * a lead field is here; the others (owners, stages, funding, social URLs)
 * stay custom attributes.
 */
static const struct lp_fieldmap_alias lp_fieldmap_aliases[] = {
    /* identity */
    {"Lead ID", LP_F_LEAD_ID},
    {"id", LP_F_LEAD_ID},
    {"Record ID", LP_F_LEAD_ID},
    {"Apollo Contact Id", LP_F_LEAD_ID},
    {"Contact ID", LP_F_LEAD_ID},
    {"Lead Source", LP_F_SOURCE},
    {"Original Source", LP_F_SOURCE},
    {"Create Date", LP_F_RECEIVED_AT},
    {"Created Date", LP_F_RECEIVED_AT},
    {"Created At", LP_F_RECEIVED_AT},
    {"Date Created", LP_F_RECEIVED_AT},
    {"Createdate", LP_F_RECEIVED_AT},
    /* person */
    {"Email Address", LP_F_EMAIL},
    {"E-mail", LP_F_EMAIL},
    {"Work Email", LP_F_EMAIL},
    {"First", LP_F_FIRST_NAME},
    {"First Name", LP_F_FIRST_NAME},
    {"Given Name", LP_F_FIRST_NAME},
    {"Last Name", LP_F_LAST_NAME},
    {"Surname", LP_F_LAST_NAME},
    {"Family Name", LP_F_LAST_NAME},
    {"Job Title", LP_F_TITLE},
    {"Jobtitle", LP_F_TITLE},
    {"Position", LP_F_TITLE},
    {"Seniority Level", LP_F_SENIORITY},
    {"Departments", LP_F_DEPARTMENT},
    {"Phone Number", LP_F_PHONE},
    {"First Phone", LP_F_PHONE},
    {"Work Direct Phone", LP_F_PHONE},
    {"Mobile Phone", LP_F_PHONE},
    {"Mobile Phone Number", LP_F_PHONE},
    {"Mobile", LP_F_PHONE},
    {"Corporate Phone", LP_F_PHONE},
    {"Home Phone", LP_F_PHONE},
    {"Other Phone", LP_F_PHONE},
    {"Company Phone", LP_F_PHONE},
    {"Person Linkedin Url", LP_F_LINKEDIN_URL},
    {"LinkedIn", LP_F_LINKEDIN_URL},
    {"LinkedIn URL", LP_F_LINKEDIN_URL},
    {"LinkedIn Profile", LP_F_LINKEDIN_URL},
    /* company */
    {"Company", LP_F_COMPANY},
    {"Company / Account", LP_F_COMPANY},
    {"Account Name", LP_F_COMPANY},
    {"Organization", LP_F_COMPANY},
    {"Company Name for Emails", LP_F_COMPANY},
    {"Domain", LP_F_DOMAIN},
    {"Company Domain Name", LP_F_DOMAIN},
    {"Website URL", LP_F_WEBSITE},
    {"Company Website", LP_F_WEBSITE},
    {"Industry Name", LP_F_INDUSTRY},
    {"# Employees", LP_F_EMPLOYEES},
    {"Number of Employees", LP_F_EMPLOYEES},
    {"No. of Employees", LP_F_EMPLOYEES},
    {"Employees", LP_F_EMPLOYEES},
    {"Employee Count", LP_F_EMPLOYEES},
    {"Company Size", LP_F_EMPLOYEES},
    {"Headcount", LP_F_EMPLOYEES},
    {"Annual Revenue", LP_F_REVENUE},
    {"Revenue", LP_F_REVENUE},
    {"Country/Region", LP_F_COUNTRY},
    {"Country Code", LP_F_COUNTRY},
    {"Company Country", LP_F_COUNTRY},
    {"State", LP_F_REGION},
    {"State/Region", LP_F_REGION},
    {"State/Province", LP_F_REGION},
    {"Province", LP_F_REGION},
    {"Company State", LP_F_REGION},
    {"Company City", LP_F_CITY},
    {"Tech Stack", LP_F_TECHNOLOGIES},
    /* engagement */
    {"Page Views", LP_F_PAGE_VIEWS},
    {"Number of Pageviews", LP_F_PAGE_VIEWS},
    {"Email Open", LP_F_EMAIL_OPENS},
    {"Email Click", LP_F_EMAIL_CLICKS},
    {"Form Submissions", LP_F_FORM_FILLS},
    {"Number of Form Submissions", LP_F_FORM_FILLS},
    {"Last Activity Date", LP_F_LAST_ACTIVITY},
    {"Last Contacted", LP_F_LAST_ACTIVITY},
    {"Last Activity", LP_F_LAST_ACTIVITY},
    /* campaign and consent */
    {"Campaign Name", LP_F_CAMPAIGN},
    {"Marketing Consent", LP_F_CONSENT},
    {"Consent", LP_F_CONSENT},
    {"Opted Out", LP_F_OPTED_OUT},
    {"Email Opt Out", LP_F_OPTED_OUT},
    {"Unsubscribed", LP_F_OPTED_OUT},
};

#define LP_FIELDMAP_NALIASES (sizeof(lp_fieldmap_aliases) / sizeof(lp_fieldmap_aliases[0]))

struct lp_fieldmap_slot {
    char *key; /* normalised name, NUL-terminated; NULL when free */
    uint32_t keylen;
    int16_t field;
    int32_t prio;
};

struct lp_fieldmap {
    struct lp_fieldmap_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    int32_t nuser; /* user entries so far: the next user rank */
};

/* Writes the normalised form of name into out; returns its length, or 0
 * when the name is empty or too long to be an alias. */
static size_t fieldmap_normalise(const char *name, size_t len, char out[LP_FIELDMAP_KEY_MAX])
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == ' ' || c == '\t' || c == '_' || c == '-' || c == '\r' || c == '\n')
            continue;
        if (n == LP_FIELDMAP_KEY_MAX)
            return 0;
        out[n++] = (char)tolower(c);
    }
    return n;
}

/* Finds the slot holding key, or the free slot where it would go. */
static struct lp_fieldmap_slot *fieldmap_probe(const lp_fieldmap *m, const char *key, size_t len)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)XXH3_64bits(key, len) & mask;
    for (;;) {
        struct lp_fieldmap_slot *s = &m->slots[i];
        if (!s->key || (s->keylen == len && memcmp(s->key, key, len) == 0))
            return s;
        i = (i + 1) & mask;
    }
}

/* Doubles the table. */
static lp_err_t fieldmap_grow(lp_fieldmap *m)
{
    struct lp_fieldmap_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->cap = oldcap ? oldcap * 2 : 256;
    m->slots = calloc(m->cap, sizeof(*m->slots));
    if (!m->slots) {
        m->slots = old;
        m->cap = oldcap;
        return LP_E_NOMEM;
    }
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *fieldmap_probe(m, old[i].key, old[i].keylen) = old[i];
    free(old);
    return LP_OK;
}

/* Inserts or replaces the entry for name. keep_existing: leave an existing
 * entry alone (built-ins never override one another). */
static lp_err_t fieldmap_put(lp_fieldmap *m, const char *name, int field, int32_t prio,
                             bool keep_existing)
{
    char key[LP_FIELDMAP_KEY_MAX];
    size_t len = fieldmap_normalise(name, strlen(name), key);
    if (len == 0)
        return LP_E_CONFIG;
    if ((m->count + 1) * 2 > m->cap && fieldmap_grow(m) != LP_OK)
        return LP_E_NOMEM;
    struct lp_fieldmap_slot *s = fieldmap_probe(m, key, len);
    if (s->key) {
        if (!keep_existing) {
            s->field = (int16_t)field;
            s->prio = prio;
        }
        return LP_OK;
    }
    s->key = malloc(len + 1);
    if (!s->key)
        return LP_E_NOMEM;
    memcpy(s->key, key, len);
    s->key[len] = '\0';
    s->keylen = (uint32_t)len;
    s->field = (int16_t)field;
    s->prio = prio;
    m->count++;
    return LP_OK;
}

lp_fieldmap *lp_fieldmap_new(void)
{
    lp_fieldmap *m = calloc(1, sizeof(*m));
    if (!m || fieldmap_grow(m) != LP_OK)
        goto fail;
    for (int f = 0; f < LP_F_INPUT_COUNT; f++)
        if (fieldmap_put(m, lp_fields[f].name, f, LP_FIELDMAP_PRIO_BUILTIN, true) != LP_OK)
            goto fail;
    for (size_t i = 0; i < LP_FIELDMAP_NALIASES; i++) {
        const struct lp_fieldmap_alias *al = &lp_fieldmap_aliases[i];
        int32_t prio = LP_FIELDMAP_PRIO_BUILTIN + 1 + (int32_t)i;
        if (fieldmap_put(m, al->name, al->field, prio, true) != LP_OK)
            goto fail;
    }
    return m;
fail:
    lp_fieldmap_free(m);
    return NULL;
}

lp_err_t lp_fieldmap_add(lp_fieldmap *m, const char *header, int field)
{
    if (!header || field < LP_FIELDMAP_CUSTOM || field >= LP_F_INPUT_COUNT)
        return LP_E_CONFIG;
    lp_err_t rc = fieldmap_put(m, header, field, m->nuser, false);
    if (rc == LP_OK)
        m->nuser++;
    return rc;
}

void lp_fieldmap_free(lp_fieldmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

int lp_fieldmap_lookup(const lp_fieldmap *m, const char *name, size_t len, int32_t *prio)
{
    char key[LP_FIELDMAP_KEY_MAX];
    size_t klen = fieldmap_normalise(name, len, key);
    const struct lp_fieldmap_slot *s = klen ? fieldmap_probe(m, key, klen) : NULL;
    if (!s || !s->key) {
        if (prio)
            *prio = INT32_MAX;
        return LP_FIELDMAP_CUSTOM;
    }
    if (prio)
        *prio = s->prio;
    return s->field;
}

void lp_fieldpick_reset(lp_fieldpick *p)
{
    for (int f = 0; f < LP_F_COUNT; f++)
        p->col[f] = -1;
}

/* ------------------------------------------------------------------------
 * Setting a field from text
 */

static bool fieldmap_is_count(lp_field_id f)
{
    return f == LP_F_PAGE_VIEWS || f == LP_F_EMAIL_OPENS || f == LP_F_EMAIL_CLICKS ||
           f == LP_F_FORM_FILLS;
}

/* Integer fields; counts also take booleans. */
static lp_err_t fieldmap_set_long(lp_lead *l, lp_field_id f, const char *s, size_t n)
{
    int64_t v;
    bool b;
    lp_err_t rc = lp_parse_count(s, n, &v, NULL);
    if (rc != LP_OK && fieldmap_is_count(f) && lp_parse_bool(s, n, &b, NULL) == LP_OK) {
        v = b;
        rc = LP_OK;
    }
    if (rc == LP_OK)
        lp_lead_set_long(l, f, v);
    return rc;
}

/* Typed fields other than strings and integers. */
static lp_err_t fieldmap_set_typed(lp_lead *l, lp_arena *a, lp_field_id f, const char *s,
                                   size_t n)
{
    lp_err_t rc;
    switch (lp_fields[f].type) {
    case LP_T_DOUBLE: {
        double d;
        if ((rc = lp_parse_money(s, n, &d, NULL)) == LP_OK)
            lp_lead_set_double(l, f, d);
        return rc;
    }
    case LP_T_BOOL: {
        bool b;
        if ((rc = lp_parse_bool(s, n, &b, NULL)) == LP_OK)
            lp_lead_set_long(l, f, b);
        return rc;
    }
    case LP_T_TS: {
        int64_t ms;
        if ((rc = lp_parse_timestamp(s, n, &ms, NULL)) == LP_OK)
            lp_lead_set_long(l, f, ms);
        return rc;
    }
    case LP_T_LIST: {
        const lp_str *items;
        uint32_t count;
        if ((rc = lp_parse_list(a, s, n, &items, &count)) == LP_OK && count) {
            l->v[f].list = items;
            l->v[f].len = count;
            l->present |= 1ull << f;
        }
        return rc;
    }
    default:
        return fieldmap_set_long(l, f, s, n);
    }
}

lp_err_t lp_fieldmap_set_text(lp_lead *l, lp_arena *a, lp_field_id f, const char *s, size_t n)
{
    lp_parse_trim(&s, &n);
    if (f == LP_F_PHONE && n && s[0] == '\'') {
        s++;
        n--;
        lp_parse_trim(&s, &n);
    }
    if (n == 0)
        return LP_OK;
    if (lp_fields[f].type == LP_T_STR) {
        lp_lead_set_str(l, f, s, n);
        return LP_OK;
    }
    return fieldmap_set_typed(l, a, f, s, n);
}

/* Sets a string field to text printed into the arena. */
static lp_err_t fieldmap_set_printed(lp_lead *l, lp_field_id f, const char *text)
{
    if (!text)
        return LP_E_NOMEM;
    lp_lead_set_str(l, f, text, strlen(text));
    return LP_OK;
}

lp_err_t lp_fieldmap_set_long(lp_lead *l, lp_arena *a, lp_field_id f, int64_t v)
{
    switch (lp_fields[f].type) {
    case LP_T_STR: return fieldmap_set_printed(l, f, lp_arena_sprintf(a, "%lld", (long long)v));
    case LP_T_LONG: lp_lead_set_long(l, f, v); return LP_OK;
    case LP_T_DOUBLE: lp_lead_set_double(l, f, (double)v); return LP_OK;
    case LP_T_TS: lp_lead_set_long(l, f, lp_parse_epoch_ms((double)v)); return LP_OK;
    case LP_T_BOOL:
        if (v != 0 && v != 1)
            return LP_E_BOOL_INVALID;
        lp_lead_set_long(l, f, v);
        return LP_OK;
    default: return LP_E_FIELD_TYPE;
    }
}

lp_err_t lp_fieldmap_set_double(lp_lead *l, lp_arena *a, lp_field_id f, double v)
{
    if (!isfinite(v))
        return LP_E_NUMBER_INVALID;
    switch (lp_fields[f].type) {
    case LP_T_STR: return fieldmap_set_printed(l, f, lp_arena_sprintf(a, "%.15g", v));
    case LP_T_DOUBLE: lp_lead_set_double(l, f, v); return LP_OK;
    case LP_T_TS: lp_lead_set_long(l, f, lp_parse_epoch_ms(v)); return LP_OK;
    case LP_T_LONG:
    case LP_T_BOOL:
        if (v != floor(v) || fabs(v) >= 9e18)
            return lp_fields[f].type == LP_T_BOOL ? LP_E_BOOL_INVALID : LP_E_NUMBER_INVALID;
        return lp_fieldmap_set_long(l, a, f, (int64_t)v);
    default: return LP_E_FIELD_TYPE;
    }
}

lp_err_t lp_fieldmap_set_bool(lp_lead *l, lp_arena *a, lp_field_id f, bool v)
{
    (void)a;
    if (lp_fields[f].type == LP_T_BOOL || fieldmap_is_count(f)) {
        lp_lead_set_long(l, f, v);
        return LP_OK;
    }
    if (lp_fields[f].type != LP_T_STR)
        return LP_E_FIELD_TYPE;
    lp_lead_set_str(l, f, v ? "true" : "false", v ? 4 : 5);
    return LP_OK;
}

/* ------------------------------------------------------------------------
 * Messages
 */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

lp_err_t lp_parse_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq_len(p + i, n - i);
        if (!k)
            return LP_E_ENCODING;
        i += k;
    }
    return LP_OK;
}

/* Appends s to out (capacity cap, at *len) quoted and escaped, keeping at
 * most max source bytes; invalid UTF-8 and controls become \xNN. */
static void fieldmap_quote(char *out, size_t cap, size_t *len, const char *s, size_t n,
                           size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = *len, i = 0;
    out[o++] = '"';
    while (i < n && i < max && o + 16 < cap) {
        size_t k = utf8_seq_len(p + i, n - i);
        if (k > 1 || (k == 1 && p[i] >= 0x20 && p[i] != 0x7f && p[i] != '"' && p[i] != '\\')) {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
            continue;
        }
        o += (size_t)snprintf(out + o, cap - o, p[i] == '"' || p[i] == '\\' ? "\\%c" : "\\x%02x",
                              p[i]);
        i++;
    }
    if (i < n)
        o += (size_t)snprintf(out + o, cap - o, "...");
    out[o++] = '"';
    out[o] = '\0';
    *len = o;
}

static const char *fieldmap_problem(lp_err_t err)
{
    switch (err) {
    case LP_E_NUMBER_INVALID: return "is not a number";
    case LP_E_TIMESTAMP_INVALID: return "is not a timestamp";
    case LP_E_BOOL_INVALID: return "is not a boolean";
    case LP_E_ENCODING: return "is not valid UTF-8";
    default: return lp_err_str(err);
    }
}

const char *lp_fieldmap_errmsg(lp_arena *a, lp_err_t err, const char *noun, const char *name,
                               size_t namelen, const char *val, size_t vallen)
{
    /* worst case: 96 name bytes and 64 value bytes, each escaped to 4 */
    enum { CAP = 1024 };
    char *out = lp_arena_alloc(a, CAP);
    if (!out)
        return lp_err_str(err);
    size_t len = (size_t)snprintf(out, CAP, "%s ", noun);
    fieldmap_quote(out, CAP, &len, name, namelen, 96);
    out[len++] = ':';
    out[len++] = ' ';
    lp_parse_trim(&val, &vallen);
    fieldmap_quote(out, CAP, &len, val, vallen, 64);
    snprintf(out + len, CAP - len, " %s", fieldmap_problem(err));
    return out;
}

/* ------------------------------------------------------------------------
 * Parsers
 */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

void lp_parse_trim(const char **s, size_t *n)
{
    const char *p = *s;
    size_t len = *n;
    while (len && is_space(p[0]))
        p++, len--;
    while (len && is_space(p[len - 1]))
        len--;
    *s = p;
    *n = len;
}

/* Common prologue: trims, and answers blank text. Returns true when the
 * caller should return *rc right away. */
static bool parse_blank(const char **s, size_t *n, bool *present, lp_err_t bad, lp_err_t *rc)
{
    lp_parse_trim(s, n);
    if (present)
        *present = *n > 0;
    if (*n > 0)
        return false;
    *rc = present ? LP_OK : bad;
    return true;
}

/* A cursor over the text being parsed. */
struct parse_cur {
    const char *p;
    const char *end;
};

static void cur_skip_space(struct parse_cur *c)
{
    while (c->p < c->end && is_space(*c->p))
        c->p++;
}

/* Consumes word (ASCII, case-insensitive) when it is next. */
static bool cur_take_word(struct parse_cur *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || strncasecmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* A comma followed by exactly three digits is a thousands separator. */
static bool cur_is_group(const struct parse_cur *c)
{
    if (c->end - c->p < 4)
        return false;
    for (int i = 1; i <= 3; i++)
        if (!isdigit((unsigned char)c->p[i]))
            return false;
    return c->end - c->p == 4 || !isdigit((unsigned char)c->p[4]);
}

/* Digits with optional thousands commas ("1,200") and an optional
 * fraction. Returns false when no digit is there. */
static bool cur_take_number(struct parse_cur *c, double *out)
{
    char tmp[64];
    size_t k = 0;
    bool digit = false;
    while (c->p < c->end && k < sizeof(tmp) - 1) {
        char ch = *c->p;
        if (ch >= '0' && ch <= '9') {
            tmp[k++] = ch;
            digit = true;
        } else if (ch == ',' && digit && !memchr(tmp, '.', k) && cur_is_group(c)) {
            /* a thousands separator: skip */
        } else if (ch == '.' && !memchr(tmp, '.', k) && c->p + 1 < c->end &&
                   isdigit((unsigned char)c->p[1])) {
            tmp[k++] = ch;
        } else {
            break;
        }
        c->p++;
    }
    tmp[k] = '\0';
    if (!digit)
        return false;
    *out = strtod(tmp, NULL);
    return true;
}

/* Range separators between a lower and an upper bound. */
static bool cur_take_range(struct parse_cur *c)
{
    cur_skip_space(c);
    if (cur_take_word(c, "-") || cur_take_word(c, "\xe2\x80\x93") || cur_take_word(c, "to")) {
        cur_skip_space(c);
        return true;
    }
    return false;
}

/* One count: a number with no fraction other than zeros. */
static bool cur_take_count(struct parse_cur *c, int64_t *out)
{
    double d;
    if (!cur_take_number(c, &d) || d != floor(d) || d >= 9.2e18)
        return false;
    *out = (int64_t)d;
    return true;
}

lp_err_t lp_parse_count(const char *s, size_t n, int64_t *out, bool *present)
{
    lp_err_t rc;
    if (parse_blank(&s, &n, present, LP_E_NUMBER_INVALID, &rc))
        return rc;
    struct parse_cur c = {s, s + n};
    int64_t lo, hi;
    if (!cur_take_count(&c, &lo))
        return LP_E_NUMBER_INVALID;
    cur_skip_space(&c);
    if (c.p < c.end && *c.p == '+')
        c.p++;
    else if (c.p < c.end && (!cur_take_range(&c) || !cur_take_count(&c, &hi) || hi < lo))
        return LP_E_NUMBER_INVALID;
    cur_skip_space(&c);
    if (c.p != c.end)
        return LP_E_NUMBER_INVALID;
    *out = lo;
    return LP_OK;
}

/* Currency symbols and codes, before or after the amount. */
static void cur_take_currency(struct parse_cur *c)
{
    static const char *const cur[] = {"$", "\xe2\x82\xac", "\xc2\xa3", "\xc2\xa5", "USD", "EUR",
                                      "GBP", "CAD", "AUD", "CHF", "JPY", "INR"};
    cur_skip_space(c);
    for (size_t i = 0; i < sizeof(cur) / sizeof(cur[0]); i++)
        if (cur_take_word(c, cur[i])) {
            cur_skip_space(c);
            return;
        }
}

/* A magnitude suffix: K, M, MM, B, bn, T, or the word. */
static double cur_take_scale(struct parse_cur *c)
{
    static const struct { const char *w; double x; } sc[] = {
        {"thousand", 1e3}, {"million", 1e6}, {"billion", 1e9}, {"trillion", 1e12},
        {"mm", 1e6},       {"mn", 1e6},      {"bn", 1e9},      {"k", 1e3},
        {"m", 1e6},        {"b", 1e9},       {"t", 1e12},
    };
    struct parse_cur save = *c;
    cur_skip_space(c);
    for (size_t i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
        if (!cur_take_word(c, sc[i].w))
            continue;
        if (c->p < c->end && isalpha((unsigned char)*c->p)) {
            c->p -= strlen(sc[i].w); /* part of a longer word */
            continue;
        }
        return sc[i].x;
    }
    *c = save;
    return 1;
}

/* One amount: currency, number, scale, currency. */
static bool cur_take_money(struct parse_cur *c, double *out)
{
    double d;
    cur_take_currency(c);
    if (!cur_take_number(c, &d))
        return false;
    d *= cur_take_scale(c);
    cur_take_currency(c);
    *out = d;
    return true;
}

lp_err_t lp_parse_money(const char *s, size_t n, double *out, bool *present)
{
    lp_err_t rc;
    if (parse_blank(&s, &n, present, LP_E_NUMBER_INVALID, &rc))
        return rc;
    struct parse_cur c = {s, s + n};
    double lo, hi;
    if (!cur_take_money(&c, &lo))
        return LP_E_NUMBER_INVALID;
    if (c.p < c.end && *c.p == '+')
        c.p++;
    else if (c.p < c.end && (!cur_take_range(&c) || !cur_take_money(&c, &hi) || hi < lo))
        return LP_E_NUMBER_INVALID;
    cur_skip_space(&c);
    if (c.p != c.end || !isfinite(lo))
        return LP_E_NUMBER_INVALID;
    *out = lo;
    return LP_OK;
}

lp_err_t lp_parse_bool(const char *s, size_t n, bool *out, bool *present)
{
    static const char *const yes[] = {"true", "yes", "y", "1"};
    static const char *const no[] = {"false", "no", "n", "0"};
    lp_err_t rc;
    if (parse_blank(&s, &n, present, LP_E_BOOL_INVALID, &rc))
        return rc;
    for (size_t i = 0; i < 4; i++) {
        if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0) {
            *out = true;
            return LP_OK;
        }
        if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0) {
            *out = false;
            return LP_OK;
        }
    }
    return LP_E_BOOL_INVALID;
}

/* Exactly k digits. */
static bool cur_take_digits(struct parse_cur *c, int k, int *out)
{
    int v = 0;
    if (c->end - c->p < k)
        return false;
    for (int i = 0; i < k; i++) {
        if (!isdigit((unsigned char)c->p[i]))
            return false;
        v = v * 10 + (c->p[i] - '0');
    }
    c->p += k;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* YYYY-MM-DD; returns days since the epoch through *days. */
static bool cur_take_date(struct parse_cur *c, int64_t *days)
{
    int y, m, d;
    if (!cur_take_digits(c, 4, &y) || !cur_take_word(c, "-") || !cur_take_digits(c, 2, &m) ||
        !cur_take_word(c, "-") || !cur_take_digits(c, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

/* HH:MM[:SS[.fff]]; returns milliseconds into the day. */
static bool cur_take_time(struct parse_cur *c, int64_t *ms)
{
    int h, mi, sec = 0, frac = 0, scale = 1000;
    if (!cur_take_digits(c, 2, &h) || !cur_take_word(c, ":") || !cur_take_digits(c, 2, &mi))
        return false;
    if (cur_take_word(c, ":") && !cur_take_digits(c, 2, &sec))
        return false;
    if (c->p < c->end && (*c->p == '.' || *c->p == ',')) {
        c->p++;
        if (c->p == c->end || !isdigit((unsigned char)*c->p))
            return false;
        for (; c->p < c->end && isdigit((unsigned char)*c->p); c->p++)
            if (scale > 1) {
                scale /= 10;
                frac += (*c->p - '0') * scale;
            }
    }
    if (h > 23 || mi > 59 || sec > 60)
        return false;
    *ms = ((int64_t)h * 3600 + mi * 60 + (sec == 60 ? 59 : sec)) * 1000 + frac;
    return true;
}

/* Z, ±HH, ±HHMM or ±HH:MM (or nothing: UTC); returns the offset in ms. */
static bool cur_take_zone(struct parse_cur *c, int64_t *off)
{
    int h, m = 0;
    *off = 0;
    cur_skip_space(c);
    if (c->p == c->end || cur_take_word(c, "Z") || cur_take_word(c, "UTC") ||
        cur_take_word(c, "GMT"))
        return true;
    char sign = *c->p;
    if (sign != '+' && sign != '-')
        return false;
    c->p++;
    if (!cur_take_digits(c, 2, &h))
        return false;
    cur_take_word(c, ":");
    if (c->p < c->end && !cur_take_digits(c, 2, &m))
        return false;
    if (h > 14 || m > 59)
        return false;
    *off = ((int64_t)h * 60 + m) * 60000 * (sign == '-' ? -1 : 1);
    return true;
}

int64_t lp_parse_epoch_ms(double v)
{
    if (fabs(v) < 1e11)
        return llround(v * 1000);
    if (fabs(v) < 1e14)
        return llround(v);
    return fabs(v) < 9e18 ? llround(v / 1000) : 0;
}

/* Epoch seconds, milliseconds or microseconds written as digits. */
static lp_err_t parse_epoch(const char *s, size_t n, int64_t *out_ms)
{
    if (n > 17)
        return LP_E_TIMESTAMP_INVALID;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    *out_ms = lp_parse_epoch_ms((double)v);
    return LP_OK;
}

lp_err_t lp_parse_timestamp(const char *s, size_t n, int64_t *out_ms, bool *present)
{
    lp_err_t rc;
    if (parse_blank(&s, &n, present, LP_E_TIMESTAMP_INVALID, &rc))
        return rc;
    size_t digits = 0;
    while (digits < n && isdigit((unsigned char)s[digits]))
        digits++;
    if (digits == n)
        return parse_epoch(s, n, out_ms);
    struct parse_cur c = {s, s + n};
    int64_t days, ms = 0, off;
    if (!cur_take_date(&c, &days))
        return LP_E_TIMESTAMP_INVALID;
    if (c.p < c.end && (*c.p == 'T' || *c.p == 't' || *c.p == ' ')) {
        c.p++;
        cur_skip_space(&c);
        if (!cur_take_time(&c, &ms))
            return LP_E_TIMESTAMP_INVALID;
    }
    if (!cur_take_zone(&c, &off) || c.p != c.end)
        return LP_E_TIMESTAMP_INVALID;
    *out_ms = days * 86400000LL + ms - off;
    return LP_OK;
}

lp_err_t lp_parse_list(lp_arena *a, const char *s, size_t n, const lp_str **items,
                       uint32_t *count)
{
    size_t max = 1;
    for (size_t i = 0; i < n; i++)
        max += s[i] == ',' || s[i] == ';';
    *items = NULL;
    *count = 0;
    lp_str *out = NULL;
    for (size_t i = 0, start = 0; i <= n; i++) {
        if (i < n && s[i] != ',' && s[i] != ';')
            continue;
        const char *p = s + start;
        size_t len = i - start;
        start = i + 1;
        lp_parse_trim(&p, &len);
        if (!len)
            continue;
        if (!out && !(out = lp_arena_alloc(a, max * sizeof(*out))))
            return LP_E_NOMEM;
        out[(*count)++] = (lp_str){p, (uint32_t)len};
    }
    *items = out;
    return LP_OK;
}
