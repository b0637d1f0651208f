/*
 * export.c - CRM-style CSV and canonical JSONL writers; see export.h.
 *
 * A style is a table of columns. Each column has a kind (how its value is
 * made) and, where it shows a lead field, that field; the field is what
 * messy mode keys its damage on (sizes, revenue, phones, titles, emails), so
 * every style gets the same kinds of mess. Values are formatted into a
 * scratch buffer in the writer, or point straight into the lead.
 *
 * Vendor-only columns are derived from two XXH3 hashes per row, one of the
 * lead id and one of the company domain, so that a lead's owner or record
 * id never changes between runs and people at one company share its
 * account id, phone and funding.
 *
 * Threads: a writer belongs to one thread at a time.
 */
#include "export.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "csvout.h"
#include "gendata.h"
#include "leadgen.h"

enum col_kind {
    K_FIELD,         /* the field's text as is */
    K_EMPTY,         /* a column the vendor has and we leave empty */
    K_CANON,         /* canonical formatting of any field type */
    K_CUSTOM,        /* a custom attribute, by column name */
    K_EMP_APOLLO,    /* "1,200" */
    K_EMP_PLAIN,     /* "1200" */
    K_REV_APOLLO,    /* "12000000" or "$4.5M" */
    K_REV_PLAIN,     /* "12000000" */
    K_REV_SF,        /* "$12,000,000" */
    K_TECH_LABELS,   /* "Salesforce, Amazon AWS" */
    K_COUNTRY_NAME,  /* "Germany" */
    K_COMPANY_SHORT, /* company name without its legal form */
    K_DATE_APOLLO,   /* field as 2024-05-01T12:00:00+00:00 */
    K_DATE_HUBSPOT,  /* field as 2024-05-01 12:00 */
    K_DATE_SF,       /* field as 5/1/2024 */
    K_INDUSTRY_HS,   /* COMPUTER_SOFTWARE */
    K_INDUSTRY_SF,   /* Technology */
    K_OWNER,
    K_OWNER_SOME, /* an owner for some leads only */
    K_ID_APOLLO_PERSON,
    K_ID_APOLLO_ACCOUNT,
    K_ID_HUBSPOT,
    K_ID_SF,
    K_EMAIL_STATUS,
    K_PHONE_SOME, /* the phone again, for some leads (work direct) */
    K_COMPANY_PHONE,
    K_STAGE_APOLLO,
    K_LIFECYCLE,
    K_STATUS_HS,
    K_STATUS_SF,
    K_RATING,
    K_SOURCE_SF,
    K_KEYWORDS,
    K_COMPANY_LINKEDIN,
    K_FACEBOOK,
    K_TWITTER,
    K_ADDRESS,
    K_FUNDING_TOTAL,
    K_FUNDING_ROUND,
    K_FUNDING_AMOUNT,
    K_FUNDING_DATE,
    K_EV_SENT,
    K_EV_OPEN,
    K_EV_BOUNCED,
    K_EV_REPLIED,
    K_EV_DEMOED,
};

typedef struct col {
    const char *name;
    uint8_t kind;
    int8_t field; /* the lead field shown, or -1 */
} col;

#define F(n, f)                                                                                    \
    {                                                                                              \
        n, K_FIELD, LP_F_##f                                                                       \
    }
#define K(n, k)                                                                                    \
    {                                                                                              \
        n, k, -1                                                                                   \
    }
#define KF(n, k, f)                                                                                \
    {                                                                                              \
        n, k, LP_F_##f                                                                             \
    }
#define COLS_END                                                                                   \
    {                                                                                              \
        NULL, 0, -1                                                                                \
    }

static const col apollo_cols[] = {
    F("First Name", FIRST_NAME),
    F("Last Name", LAST_NAME),
    F("Title", TITLE),
    F("Company", COMPANY),
    K("Company Name for Emails", K_COMPANY_SHORT),
    F("Email", EMAIL),
    K("Email Status", K_EMAIL_STATUS),
    F("Seniority", SENIORITY),
    F("Departments", DEPARTMENT),
    K("Contact Owner", K_OWNER_SOME),
    F("First Phone", PHONE),
    KF("Work Direct Phone", K_PHONE_SOME, PHONE),
    K("Home Phone", K_EMPTY),
    K("Mobile Phone", K_EMPTY),
    K("Corporate Phone", K_COMPANY_PHONE),
    K("Other Phone", K_EMPTY),
    K("Stage", K_STAGE_APOLLO),
    F("Lists", CAMPAIGN),
    KF("Last Contacted", K_DATE_APOLLO, LAST_ACTIVITY),
    K("Account Owner", K_OWNER_SOME),
    KF("# Employees", K_EMP_APOLLO, EMPLOYEES),
    F("Industry", INDUSTRY),
    K("Keywords", K_KEYWORDS),
    F("Person Linkedin Url", LINKEDIN_URL),
    F("Website", WEBSITE),
    K("Company Linkedin Url", K_COMPANY_LINKEDIN),
    K("Facebook Url", K_FACEBOOK),
    K("Twitter Url", K_TWITTER),
    F("City", CITY),
    F("State", REGION),
    KF("Country", K_COUNTRY_NAME, COUNTRY),
    K("Company Address", K_ADDRESS),
    F("Company City", CITY),
    F("Company State", REGION),
    KF("Company Country", K_COUNTRY_NAME, COUNTRY),
    K("Company Phone", K_COMPANY_PHONE),
    K("Technologies", K_TECH_LABELS),
    KF("Annual Revenue", K_REV_APOLLO, REVENUE),
    K("Total Funding", K_FUNDING_TOTAL),
    K("Latest Funding", K_FUNDING_ROUND),
    K("Latest Funding Amount", K_FUNDING_AMOUNT),
    K("Last Raised At", K_FUNDING_DATE),
    K("Email Sent", K_EV_SENT),
    K("Email Open", K_EV_OPEN),
    K("Email Bounced", K_EV_BOUNCED),
    K("Replied", K_EV_REPLIED),
    K("Demoed", K_EV_DEMOED),
    K("Apollo Contact Id", K_ID_APOLLO_PERSON),
    K("Apollo Account Id", K_ID_APOLLO_ACCOUNT),
    COLS_END,
};

static const col hubspot_cols[] = {
    K("Record ID", K_ID_HUBSPOT),
    F("First Name", FIRST_NAME),
    F("Last Name", LAST_NAME),
    F("Email", EMAIL),
    F("Phone Number", PHONE),
    F("Company Name", COMPANY),
    F("Job Title", TITLE),
    KF("Country/Region", K_COUNTRY_NAME, COUNTRY),
    F("State/Region", REGION),
    F("City", CITY),
    K("Lifecycle Stage", K_LIFECYCLE),
    K("Lead Status", K_STATUS_HS),
    K("Contact owner", K_OWNER_SOME),
    KF("Create Date", K_DATE_HUBSPOT, RECEIVED_AT),
    KF("Last Activity Date", K_DATE_HUBSPOT, LAST_ACTIVITY),
    KF("Number of Employees", K_EMP_PLAIN, EMPLOYEES),
    KF("Annual Revenue", K_REV_PLAIN, REVENUE),
    K("Industry", K_INDUSTRY_HS),
    F("Website URL", WEBSITE),
    COLS_END,
};

static const col salesforce_cols[] = {
    K("Lead ID", K_ID_SF),
    F("First Name", FIRST_NAME),
    F("Last Name", LAST_NAME),
    F("Title", TITLE),
    F("Company / Account", COMPANY),
    F("Email", EMAIL),
    F("Phone", PHONE),
    K("Lead Source", K_SOURCE_SF),
    K("Industry", K_INDUSTRY_SF),
    KF("No. of Employees", K_EMP_PLAIN, EMPLOYEES),
    KF("Annual Revenue", K_REV_SF, REVENUE),
    KF("Country", K_COUNTRY_NAME, COUNTRY),
    F("State/Province", REGION),
    F("City", CITY),
    K("Lead Status", K_STATUS_SF),
    K("Rating", K_RATING),
    K("Lead Owner", K_OWNER),
    KF("Create Date", K_DATE_SF, RECEIVED_AT),
    COLS_END,
};

/* The canonical columns: every input field, then the custom attributes. */
static const col canonical_cols[] = {
#define CANON_COL(id, nm, type, flags) {nm, K_CANON, LP_F_##id},
    LP_FIELD_LIST(CANON_COL)
#undef CANON_COL
};
static const col canonical_custom[] = {
    K(LP_LEADGEN_CUSTOM_PRODUCT, K_CUSTOM),
    K(LP_LEADGEN_CUSTOM_TRIAL, K_CUSTOM),
    COLS_END,
};

#define SCRATCH 2048
#define MESSY_BIG_ROW 9 /* 0-based data row that carries the 10 KB field */
#define MESSY_BIG_SIZE 10240

struct lp_export {
    lp_export_opts o;
    const col *cols;
    size_t ncols;
    col *owned;      /* canonical column table, built at creation */
    uint64_t rng;    /* splitmix64 state for messy choices */
    uint64_t row;    /* data rows written so far */
    uint64_t h_lead; /* hash of the current lead's id */
    uint64_t h_co;   /* hash of the current lead's company domain */
    lp_csvout csv;
    char tmp[SCRATCH];
};

/* ------------------------------------------------------------- lookups */

int lp_export_style_parse(const char *name, lp_export_style *out)
{
    static const char *const names[] = {"canonical", "apollo", "hubspot", "salesforce"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) {
            *out = (lp_export_style)i;
            return 0;
        }
    return -1;
}

int lp_export_format_parse(const char *name, lp_export_format *out)
{
    if (!strcmp(name, "csv"))
        *out = LP_EXPORT_CSV;
    else if (!strcmp(name, "jsonl"))
        *out = LP_EXPORT_JSONL;
    else
        return -1;
    return 0;
}

static const col *vendor_cols(lp_export_style s)
{
    switch (s) {
    case LP_EXPORT_APOLLO:
        return apollo_cols;
    case LP_EXPORT_HUBSPOT:
        return hubspot_cols;
    case LP_EXPORT_SALESFORCE:
        return salesforce_cols;
    case LP_EXPORT_CANONICAL:
        break;
    }
    return NULL;
}

const char *lp_export_column(lp_export_style s, size_t i)
{
    const col *c = vendor_cols(s);
    if (c) {
        for (size_t k = 0; c[k].name; k++)
            if (k == i)
                return c[k].name;
        return NULL;
    }
    if (i < LP_F_INPUT_COUNT)
        return canonical_cols[i].name;
    i -= LP_F_INPUT_COUNT;
    return i < 2 ? canonical_custom[i].name : NULL;
}

lp_err_t lp_export_new(const lp_export_opts *o, lp_export **out)
{
    *out = NULL;
    if (o->messy && o->format != LP_EXPORT_CSV)
        return LP_E_USAGE;
    lp_export *x = calloc(1, sizeof(*x));
    if (!x)
        return LP_E_NOMEM;
    x->o = *o;
    x->rng = o->seed ^ 0x3E55F11E5ull;
    x->cols = vendor_cols(o->style);
    if (!x->cols) {
        x->owned = malloc((LP_F_INPUT_COUNT + 3) * sizeof(col));
        if (!x->owned) {
            free(x);
            return LP_E_NOMEM;
        }
        memcpy(x->owned, canonical_cols, LP_F_INPUT_COUNT * sizeof(col));
        memcpy(x->owned + LP_F_INPUT_COUNT, canonical_custom, sizeof(canonical_custom));
        x->cols = x->owned;
    }
    while (x->cols[x->ncols].name)
        x->ncols++;
    *out = x;
    return LP_OK;
}

void lp_export_free(lp_export *x)
{
    if (!x)
        return;
    free(x->owned);
    free(x);
}

/* ------------------------------------------------------------ formatting */

static lp_str cstr(const char *s)
{
    return (lp_str){s ? s : "", s ? (uint32_t)strlen(s) : 0};
}

/* printf into the scratch buffer. */
static lp_str fmt(lp_export *x, const char *f, ...) __attribute__((format(printf, 2, 3)));
static lp_str fmt(lp_export *x, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(x->tmp, SCRATCH, f, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    return (lp_str){x->tmp, (uint32_t)(n < SCRATCH ? n : SCRATCH - 1)};
}

/* Writes v with thousands separators ("1,200") at p; returns the length. */
static size_t put_grouped(char *p, int64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%" PRId64, v);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0 && digits[i - 1] != '-')
            p[k++] = ',';
        p[k++] = digits[i];
    }
    p[k] = '\0';
    return k;
}

/* "$4.5M", "$120K", "$1.2B": the short form prospecting tools show. */
static lp_str money_short(lp_export *x, int64_t v)
{
    static const struct {
        int64_t unit;
        char sym;
    } units[] = {{1000000000, 'B'}, {1000000, 'M'}, {1000, 'K'}};
    for (int i = 0; i < 3; i++) {
        if (v < units[i].unit)
            continue;
        int64_t tenths = (v * 10 + units[i].unit / 2) / units[i].unit;
        if (tenths % 10 == 0)
            return fmt(x, "$%" PRId64 "%c", tenths / 10, units[i].sym);
        return fmt(x, "$%" PRId64 ".%" PRId64 "%c", tenths / 10, tenths % 10, units[i].sym);
    }
    return fmt(x, "$%" PRId64, v);
}

typedef struct civil_time {
    int64_t year;
    unsigned mon, day, hour, min, sec, ms;
} civil_time;

/* Breaks epoch milliseconds into a UTC date and time (H. Hinnant's algorithm). */
static civil_time civil_from_ms(int64_t ms)
{
    civil_time t;
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    t.hour = (unsigned)(rem / 3600000);
    t.min = (unsigned)(rem / 60000 % 60);
    t.sec = (unsigned)(rem / 1000 % 60);
    t.ms = (unsigned)(rem % 1000);
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    t.day = doy - (153 * mp + 2) / 5 + 1;
    t.mon = mp < 10 ? mp + 3 : mp - 9;
    t.year = (int64_t)yoe + era * 400 + (t.mon <= 2);
    return t;
}

static lp_str iso8601(lp_export *x, int64_t ms)
{
    civil_time t = civil_from_ms(ms);
    return fmt(x, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", t.year, t.mon, t.day, t.hour,
               t.min, t.sec, t.ms);
}

static lp_str date_value(lp_export *x, int kind, int64_t ms)
{
    civil_time t = civil_from_ms(ms);
    if (kind == K_DATE_APOLLO)
        return fmt(x, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u+00:00", t.year, t.mon, t.day, t.hour,
                   t.min, t.sec);
    if (kind == K_DATE_HUBSPOT)
        return fmt(x, "%04" PRId64 "-%02u-%02u %02u:%02u", t.year, t.mon, t.day, t.hour, t.min);
    return fmt(x, "%u/%u/%04" PRId64, t.mon, t.day, t.year);
}

/* A double as an integer when it is one (revenue), else shortest round trip. */
static lp_str number(lp_export *x, double d)
{
    if (d > -9e15 && d < 9e15 && d == (double)(int64_t)d)
        return fmt(x, "%" PRId64, (int64_t)d);
    return fmt(x, "%.17g", d);
}

static const char *yes_no(bool b)
{
    return b ? "true" : "false";
}

/* Technologies as canonical slugs joined with ';' or as Apollo labels. */
static lp_str tech_list(lp_export *x, const lp_lead *l, bool labels)
{
    size_t n = 0;
    if (!lp_lead_has(l, LP_F_TECHNOLOGIES))
        return (lp_str){"", 0};
    for (uint32_t i = 0; i < l->v[LP_F_TECHNOLOGIES].len; i++) {
        lp_str t = l->v[LP_F_TECHNOLOGIES].list[i];
        const lp_gendata_tech *def = labels ? lp_gendata_tech_find(t) : NULL;
        lp_str shown = def ? cstr(def->label) : t;
        const char *sep = labels ? ", " : ";";
        size_t seplen = i ? strlen(sep) : 0;
        if (n + seplen + shown.len >= SCRATCH)
            break;
        memcpy(x->tmp + n, sep, seplen);
        memcpy(x->tmp + n + seplen, shown.ptr, shown.len);
        n += seplen + shown.len;
    }
    return (lp_str){x->tmp, (uint32_t)n};
}

/* Any field, written the canonical way. */
static lp_str canon_value(lp_export *x, const lp_lead *l, lp_field_id f)
{
    if (!lp_lead_has(l, f))
        return (lp_str){"", 0};
    const lp_val *v = &l->v[f];
    switch (lp_fields[f].type) {
    case LP_T_STR:
        return (lp_str){v->s, v->len};
    case LP_T_LONG:
        return fmt(x, "%" PRId64, v->i);
    case LP_T_DOUBLE:
        return number(x, v->d);
    case LP_T_BOOL:
        return cstr(yes_no(v->i));
    case LP_T_TS:
        return iso8601(x, v->i);
    case LP_T_LIST:
        return tech_list(x, l, false);
    }
    return (lp_str){"", 0};
}

static lp_str custom_value(const lp_lead *l, const char *key)
{
    for (uint32_t i = 0; i < l->ncustom; i++)
        if (l->custom[i].key.len == strlen(key) && !memcmp(l->custom[i].key.ptr, key, strlen(key)))
            return l->custom[i].val;
    return (lp_str){"", 0};
}

static int64_t lead_long(const lp_lead *l, lp_field_id f)
{
    return lp_lead_has(l, f) ? l->v[f].i : 0;
}

/* Picks one of n strings by hash bits. */
static lp_str pick(const char *const *v, size_t n, uint64_t h)
{
    return cstr(v[h % n]);
}

/* The company's domain up to its first dot: the handle used on social sites. */
static lp_str domain_core(const lp_lead *l)
{
    lp_str d = lp_lead_str(l, LP_F_DOMAIN);
    const char *dot = memchr(d.ptr, '.', d.len);
    if (dot)
        d.len = (uint32_t)(dot - d.ptr);
    return d;
}

/* Company name without the legal form its country uses ("Acme, Inc." -> "Acme"). */
static lp_str company_short(const lp_lead *l)
{
    lp_str name = lp_lead_str(l, LP_F_COMPANY);
    const lp_gendata_country *c = lp_gendata_country_find(lp_lead_str(l, LP_F_COUNTRY));
    for (size_t i = 0; c && c->legal[i]; i++) {
        size_t n = strlen(c->legal[i]);
        if (n && n < name.len && !memcmp(name.ptr + name.len - n, c->legal[i], n))
            return (lp_str){name.ptr, (uint32_t)(name.len - n)};
    }
    return name;
}

static lp_str country_name(const lp_lead *l)
{
    lp_str code = lp_lead_str(l, LP_F_COUNTRY);
    const lp_gendata_country *c = lp_gendata_country_find(code);
    return c ? cstr(c->name) : code;
}

/* HubSpot's industry values: upper case, '&' as AND, words joined with '_'. */
static lp_str industry_hubspot(lp_export *x, const lp_lead *l)
{
    lp_str in = lp_lead_str(l, LP_F_INDUSTRY);
    size_t n = 0;
    bool gap = false;
    for (uint32_t i = 0; i < in.len && n + 5 < SCRATCH; i++) {
        char c = in.ptr[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (c == '&') {
            memcpy(x->tmp + n, n ? "_AND" : "AND", n ? 4 : 3), n += n ? 4 : 3;
            gap = true;
        } else if (!alnum) {
            gap = n > 0;
        } else {
            if (gap)
                x->tmp[n++] = '_';
            x->tmp[n++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
            gap = false;
        }
    }
    return (lp_str){x->tmp, (uint32_t)n};
}

/* A phone number of the company's country, digits from the company hash. */
static lp_str company_phone(lp_export *x, const lp_lead *l)
{
    const lp_gendata_country *c = lp_gendata_country_find(lp_lead_str(l, LP_F_COUNTRY));
    if (!c || !lp_lead_has(l, LP_F_DOMAIN))
        return (lp_str){"", 0};
    uint64_t h = x->h_co;
    const char *tpl = c->phones[h % lp_gendata_count(c->phones)];
    size_t n = 0;
    for (; tpl[n] && n < 64; n++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t d = (uint32_t)(h >> 33);
        x->tmp[n] = tpl[n] == 'N'   ? (char)('0' + d % 10)
                    : tpl[n] == 'X' ? (char)('2' + d % 8)
                                    : tpl[n];
    }
    return (lp_str){x->tmp, (uint32_t)n};
}

static lp_str address(lp_export *x, const lp_lead *l)
{
    static const char *const streets[] = {"Main Street",  "Market Street", "Innovation Way",
                                          "Park Avenue",  "Harbour Road",  "King Street",
                                          "Station Road", "Mission Street"};
    if (!lp_lead_has(l, LP_F_CITY))
        return (lp_str){"", 0};
    lp_str city = lp_lead_str(l, LP_F_CITY), reg = lp_lead_str(l, LP_F_REGION);
    lp_str ctry = country_name(l), st = pick(streets, 8, x->h_co >> 8);
    return fmt(x, "%u %.*s, %.*s, %.*s, %.*s", (unsigned)(x->h_co % 900 + 1), (int)st.len, st.ptr,
               (int)city.len, city.ptr, (int)reg.len, reg.ptr, (int)ctry.len, ctry.ptr);
}

/* Funding columns: about 45% of companies raised a round. */
static lp_str funding(lp_export *x, int kind)
{
    static const char *const rounds[] = {"Seed",     "Series A", "Series B",
                                         "Series C", "Series D", "Venture (Round not Specified)"};
    static const int64_t amounts[] = {2000000, 10000000, 25000000, 60000000, 120000000, 5000000};
    uint64_t h = x->h_co >> 16;
    if (h % 100 >= 45)
        return (lp_str){"", 0};
    unsigned r = (unsigned)(h / 100 % 6);
    int64_t amount = amounts[r] / 10 * (int64_t)(5 + h / 600 % 11);
    switch (kind) {
    case K_FUNDING_ROUND:
        return cstr(rounds[r]);
    case K_FUNDING_AMOUNT:
        return fmt(x, "%" PRId64, amount);
    case K_FUNDING_TOTAL:
        return fmt(x, "%" PRId64, amount * (int64_t)(1 + r / 2));
    default:
        return fmt(x, "%u-%02u-01", 2019 + (unsigned)(h / 7000 % 6),
                   1 + (unsigned)(h / 50000 % 12));
    }
}

/* Ids in each vendor's shape: Apollo's 24 hex digits, HubSpot's number,
 * Salesforce's 18-character 00Q id. */
static lp_str vendor_id(lp_export *x, int kind)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t h = kind == K_ID_APOLLO_ACCOUNT ? x->h_co : x->h_lead;
    if (kind == K_ID_HUBSPOT)
        return fmt(x, "%" PRIu64, (uint64_t)(10000000000ull + h % 90000000000ull));
    if (kind == K_ID_SF) {
        memcpy(x->tmp, "00Q5g", 5);
        for (int i = 5; i < 18; i++, h /= 62)
            x->tmp[i] = b62[h % 62];
        return (lp_str){x->tmp, 18};
    }
    return fmt(x, "%016" PRIx64 "%08" PRIx64, h, XXH3_64bits_withSeed(&h, sizeof(h), 7) >> 32);
}

/* Engagement heat: page views, clicks and (weighted) form fills. */
static int64_t heat(const lp_lead *l)
{
    return lead_long(l, LP_F_PAGE_VIEWS) + lead_long(l, LP_F_EMAIL_CLICKS) +
           3 * lead_long(l, LP_F_FORM_FILLS);
}

/* CRM status columns, consistent with the lead's engagement and consent. */
static lp_str status(const lp_lead *l, int kind, uint64_t h)
{
    static const char *const apollo[] = {"Cold",       "Approaching",    "Replied",
                                         "Interested", "Not Interested", "Unresponsive"};
    static const char *const hs[] = {
        "", "New", "Open", "In Progress", "Attempted to contact", "Connected", "Unqualified"};
    static const char *const sf[] = {"Open - Not Contacted", "Open - Not Contacted",
                                     "Working - Contacted",  "Working - Contacted",
                                     "Closed - Converted",   "Closed - Not Converted"};
    int64_t hot = heat(l);
    switch (kind) {
    case K_STAGE_APOLLO:
        return lead_long(l, LP_F_OPTED_OUT) ? cstr("Do Not Contact") : pick(apollo, 6, h);
    case K_STATUS_HS:
        return pick(hs, 7, h);
    case K_STATUS_SF:
        return pick(sf, 6, h);
    case K_RATING:
        return cstr(hot >= 15 ? "Hot" : hot >= 4 ? "Warm" : "Cold");
    default:
        break;
    }
    if (h % 100 < 4)
        return cstr("Opportunity");
    if (h % 100 < 10)
        return cstr("Sales Qualified Lead");
    return cstr(hot >= 15                       ? "Marketing Qualified Lead"
                : lead_long(l, LP_F_FORM_FILLS) ? "Lead"
                                                : "Subscriber");
}

/* Salesforce's Lead Source picklist, from the lead's source. */
static lp_str source_sf(const lp_lead *l)
{
    static const char *const map[][2] = {
        {"web-form", "Web"},
        {"webinar", "Webinar"},
        {"event", "Trade Show"},
        {"referral", "Partner Referral"},
        {"apollo", "Purchased List"},
        {"email", "Email"},
        {"content-syndication", "Advertisement"},
    };
    lp_str s = lp_lead_str(l, LP_F_SOURCE);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strlen(map[i][0]) == s.len && !memcmp(map[i][0], s.ptr, s.len))
            return cstr(map[i][1]);
    return cstr("Other");
}

/* Apollo's email activity flags. */
static lp_str event_flag(const lp_lead *l, int kind, uint64_t h)
{
    int64_t opens = lead_long(l, LP_F_EMAIL_OPENS), clicks = lead_long(l, LP_F_EMAIL_CLICKS);
    switch (kind) {
    case K_EV_SENT:
        return cstr(yes_no(opens > 0 || h % 3 == 0));
    case K_EV_OPEN:
        return cstr(yes_no(opens > 0));
    case K_EV_BOUNCED:
        return cstr(yes_no(opens == 0 && h % 50 == 0));
    case K_EV_REPLIED:
        return cstr(yes_no(clicks > 1 && h % 4 == 0));
    default:
        return cstr(yes_no(lead_long(l, LP_F_FORM_FILLS) > 2 && h % 3 == 0));
    }
}

static lp_str social(lp_export *x, const lp_lead *l, int kind)
{
    static const char *const prefix[] = {"http://www.linkedin.com/company/",
                                         "https://facebook.com/", "https://twitter.com/"};
    int i = kind == K_COMPANY_LINKEDIN ? 0 : kind == K_FACEBOOK ? 1 : 2;
    lp_str core = domain_core(l);
    if (!core.len || (i == 1 && x->h_co % 10 >= 4) || (i == 2 && (x->h_co >> 4) % 10 >= 3))
        return (lp_str){"", 0};
    return fmt(x, "%s%.*s", prefix[i], (int)core.len, core.ptr);
}

/* Values of the columns that are not a plain field. */
static lp_str derived_value(lp_export *x, const col *c, const lp_lead *l)
{
    uint64_t h = x->h_lead >> (c->kind % 16);
    switch (c->kind) {
    case K_COMPANY_SHORT:
        return company_short(l);
    case K_COUNTRY_NAME:
        return country_name(l);
    case K_INDUSTRY_HS:
        return industry_hubspot(x, l);
    case K_INDUSTRY_SF: {
        const lp_gendata_industry *i = lp_gendata_industry_find(lp_lead_str(l, LP_F_INDUSTRY));
        return cstr(i ? i->salesforce : NULL);
    }
    case K_OWNER:
        return pick(lp_gendata_owners, 8, h);
    case K_OWNER_SOME:
        return h % 10 < 4 ? pick(lp_gendata_owners, 8, h / 10) : cstr(NULL);
    case K_ID_APOLLO_PERSON:
    case K_ID_APOLLO_ACCOUNT:
    case K_ID_HUBSPOT:
    case K_ID_SF:
        return vendor_id(x, c->kind);
    case K_EMAIL_STATUS:
        return cstr(!lp_lead_has(l, LP_F_EMAIL) ? "Unavailable"
                    : h % 10 < 7                ? "Verified"
                                                : "Unverified");
    case K_PHONE_SOME:
        return h % 10 < 4 ? lp_lead_str(l, LP_F_PHONE) : cstr(NULL);
    case K_COMPANY_PHONE:
        return company_phone(x, l);
    case K_SOURCE_SF:
        return source_sf(l);
    case K_TECH_LABELS:
        return tech_list(x, l, true);
    case K_ADDRESS:
        return address(x, l);
    case K_COMPANY_LINKEDIN:
    case K_FACEBOOK:
    case K_TWITTER:
        return social(x, l, c->kind);
    case K_KEYWORDS: {
        lp_str ind = lp_lead_str(l, LP_F_INDUSTRY);
        return ind.len ? fmt(x, "%.*s, b2b, saas", (int)ind.len, ind.ptr) : cstr(NULL);
    }
    case K_FUNDING_TOTAL:
    case K_FUNDING_ROUND:
    case K_FUNDING_AMOUNT:
    case K_FUNDING_DATE:
        return funding(x, c->kind);
    case K_EV_SENT:
    case K_EV_OPEN:
    case K_EV_BOUNCED:
    case K_EV_REPLIED:
    case K_EV_DEMOED:
        return event_flag(l, c->kind, h);
    default:
        return status(l, c->kind, h);
    }
}

/* The value of column c for lead l, before any messy-mode damage. */
static lp_str column_value(lp_export *x, const col *c, const lp_lead *l)
{
    lp_field_id f = (lp_field_id)c->field;
    if (c->field >= 0 && !lp_lead_has(l, f))
        return (lp_str){"", 0};
    switch (c->kind) {
    case K_FIELD:
        return lp_lead_str(l, f);
    case K_EMPTY:
        return (lp_str){"", 0};
    case K_CANON:
        return canon_value(x, l, f);
    case K_CUSTOM:
        return custom_value(l, c->name);
    case K_EMP_APOLLO:
        return (lp_str){x->tmp, (uint32_t)put_grouped(x->tmp, l->v[f].i)};
    case K_EMP_PLAIN:
    case K_REV_PLAIN:
        return canon_value(x, l, f);
    case K_REV_APOLLO:
        return x->h_lead % 4 == 0 ? money_short(x, (int64_t)l->v[f].d) : number(x, l->v[f].d);
    case K_REV_SF:
        x->tmp[0] = '$';
        return (lp_str){x->tmp, (uint32_t)put_grouped(x->tmp + 1, (int64_t)l->v[f].d) + 1};
    case K_DATE_APOLLO:
    case K_DATE_HUBSPOT:
    case K_DATE_SF:
        return date_value(x, c->kind, l->v[f].i);
    default:
        return derived_value(x, c, l);
    }
}

/* ------------------------------------------------------------ messy mode */

/* A number in [0, 100) from the messy stream (splitmix64). */
static uint32_t roll(lp_export *x)
{
    uint64_t z = (x->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)(((z ^ (z >> 31)) >> 32) * 100 >> 32);
}

/* The size bucket a CRM shows instead of a count ("51-200", "10,001+"). */
static const char *size_range(int64_t n)
{
    static const struct {
        int64_t max;
        const char *label;
    } b[] = {{10, "1-10"},
             {50, "11-50"},
             {200, "51-200"},
             {500, "201-500"},
             {1000, "501-1,000"},
             {5000, "1,001-5,000"},
             {10000, "5,001-10,000"},
             {INT64_MAX, "10,001+"}};
    size_t i = 0;
    while (n > b[i].max)
        i++;
    return b[i].label;
}

static lp_str mess_size(lp_export *x, const lp_lead *l, lp_str v)
{
    uint32_t r = roll(x);
    if (r < 8)
        return cstr(size_range(l->v[LP_F_EMPLOYEES].i));
    if (r < 10)
        return cstr("lots");
    return r < 13 ? cstr(NULL) : v;
}

static lp_str mess_revenue(lp_export *x, const lp_lead *l, lp_str v)
{
    uint32_t r = roll(x);
    int64_t rev = (int64_t)l->v[LP_F_REVENUE].d;
    if (r < 10)
        return money_short(x, rev);
    if (r < 15 && rev >= 100000)
        return fmt(x, "%" PRId64 ".%" PRId64 " million", rev / 1000000, rev / 100000 % 10);
    return r < 18 ? cstr(NULL) : v;
}

/* Damages text fields: quotes, commas, newlines, padding, apostrophes. v
 * points into the lead, never into the scratch buffer. */
static lp_str mess_text(lp_export *x, lp_field_id f, lp_str v)
{
    uint32_t r = roll(x);
    if (!v.len)
        return v;
    switch (f) {
    case LP_F_PHONE:
        return r < 12 ? fmt(x, "'%.*s", (int)v.len, v.ptr) : v;
    case LP_F_EMAIL:
        return r < 3 ? fmt(x, "  %.*s ", (int)v.len, v.ptr) : v;
    case LP_F_FIRST_NAME:
        return r < 2 ? fmt(x, " %.*s", (int)v.len, v.ptr) : v;
    case LP_F_COMPANY:
        return r < 2 ? fmt(x, "%.*s\n(EMEA office)", (int)v.len, v.ptr) : v;
    case LP_F_TITLE:
        if (r < 3)
            return fmt(x, "%.*s, \"EMEA & APAC\"", (int)v.len, v.ptr);
        return r < 4 ? fmt(x, "%.*s\n(interim)", (int)v.len, v.ptr) : v;
    default:
        return v;
    }
}

static lp_str mess_value(lp_export *x, const col *c, const lp_lead *l, lp_str v)
{
    if (c->field == LP_F_EMPLOYEES && v.len)
        return mess_size(x, l, v);
    if (c->field == LP_F_REVENUE && v.len)
        return mess_revenue(x, l, v);
    if (c->kind == K_FIELD || c->kind == K_CANON || c->kind == K_PHONE_SOME)
        return c->field >= 0 ? mess_text(x, (lp_field_id)c->field, v) : v;
    return v;
}

/* The 10 KB free-text field: keywords with commas, quotes and newlines. */
static lp_err_t put_big_field(lp_csvout *w)
{
    static const char unit[] = "enterprise software, \"data\" platform; analytics\n";
    char *big = malloc(MESSY_BIG_SIZE);
    if (!big)
        return LP_E_NOMEM;
    for (size_t i = 0; i < MESSY_BIG_SIZE; i++)
        big[i] = unit[i % (sizeof(unit) - 1)];
    lp_err_t err = lp_csvout_field(w, big, MESSY_BIG_SIZE);
    free(big);
    return err;
}

/* True for the column that carries the 10 KB field in row MESSY_BIG_ROW. */
static bool is_big_column(const lp_export *x, const col *c)
{
    if (x->o.style == LP_EXPORT_APOLLO)
        return c->kind == K_KEYWORDS;
    return c->field == LP_F_TITLE;
}

/* ---------------------------------------------------------------- rows */

lp_err_t lp_export_begin(lp_export *x, lp_buf *out)
{
    if (x->o.format == LP_EXPORT_JSONL)
        return LP_OK;
    lp_csvout_init(&x->csv, out, x->o.messy);
    if (x->o.messy && lp_buf_append(out, "\xEF\xBB\xBF", 3))
        return LP_E_NOMEM;
    for (size_t i = 0; i < x->ncols; i++)
        if (lp_csvout_cstr(&x->csv, x->cols[i].name))
            return LP_E_NOMEM;
    return lp_csvout_end_row(&x->csv);
}

/* How many fields a messy row gets: the right count, fewer or more. */
static size_t messy_width(lp_export *x)
{
    bool last = x->o.rows > 1 && x->row == x->o.rows - 1;
    uint32_t r = roll(x);
    if (last)
        return x->ncols;
    if (x->row == 20 || (x->row > 40 && r == 0 && roll(x) < 50))
        return x->ncols - 3;
    if (x->row == 33 || (x->row > 40 && r == 1 && roll(x) < 50))
        return x->ncols + 2;
    return x->ncols;
}

static lp_err_t put_cell(lp_export *x, const col *c, const lp_lead *l, size_t i)
{
    lp_str v = column_value(x, c, l);
    if (!x->o.messy)
        return lp_csvout_field(&x->csv, v.ptr, v.len);
    if (x->row == MESSY_BIG_ROW && is_big_column(x, c))
        return put_big_field(&x->csv);
    v = mess_value(x, c, l, v);
    if (i == x->ncols - 1 && x->o.rows > 1 && x->row == x->o.rows - 1) {
        /* the file's last field opens a quote that is never closed */
        if (lp_csvout_raw(&x->csv, "\"", 1) || lp_buf_append(x->csv.buf, v.ptr, v.len))
            return LP_E_NOMEM;
        return LP_OK;
    }
    return lp_csvout_field(&x->csv, v.ptr, v.len);
}

static lp_err_t put_csv_row(lp_export *x, const lp_lead *l)
{
    size_t width = x->o.messy ? messy_width(x) : x->ncols;
    for (size_t i = 0; i < width; i++) {
        lp_err_t err =
            i < x->ncols ? put_cell(x, &x->cols[i], l, i) : lp_csvout_cstr(&x->csv, "EXTRA");
        if (err)
            return err;
    }
    return lp_csvout_end_row(&x->csv);
}

/* ---------------------------------------------------------------- JSONL */

static int json_str(lp_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (lp_buf_reserve(b, 6 * n + 2))
        return -1;
    char *p = b->data + b->len;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\', *p++ = (char)c;
        } else if (c == '\n') {
            *p++ = '\\', *p++ = 'n';
        } else if (c == '\r') {
            *p++ = '\\', *p++ = 'r';
        } else if (c == '\t') {
            *p++ = '\\', *p++ = 't';
        } else if (c < 0x20) {
            memcpy(p, "\\u00", 4), p += 4;
            *p++ = hex[c >> 4], *p++ = hex[c & 15];
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    b->len = (size_t)(p - b->data);
    return 0;
}

static int json_list(lp_buf *b, const lp_val *v)
{
    if (lp_buf_putc(b, '['))
        return -1;
    for (uint32_t i = 0; i < v->len; i++)
        if ((i && lp_buf_putc(b, ',')) || json_str(b, v->list[i].ptr, v->list[i].len))
            return -1;
    return lp_buf_putc(b, ']');
}

/* Appends "name":value for a present field. */
static int json_field(lp_export *x, lp_buf *b, const lp_lead *l, lp_field_id f)
{
    const lp_val *v = &l->v[f];
    if (json_str(b, lp_fields[f].name, strlen(lp_fields[f].name)) || lp_buf_putc(b, ':'))
        return -1;
    switch (lp_fields[f].type) {
    case LP_T_STR:
        return json_str(b, v->s, v->len);
    case LP_T_LIST:
        return json_list(b, v);
    case LP_T_TS: {
        lp_str t = iso8601(x, v->i);
        return json_str(b, t.ptr, t.len);
    }
    default: {
        lp_str t = canon_value(x, l, f);
        return lp_buf_append(b, t.ptr, t.len);
    }
    }
}

static int json_custom(lp_buf *b, const lp_lead *l)
{
    if (!l->ncustom)
        return 0;
    if (lp_buf_puts(b, ",\"custom\":{"))
        return -1;
    for (uint32_t i = 0; i < l->ncustom; i++) {
        const lp_kv *kv = &l->custom[i];
        if ((i && lp_buf_putc(b, ',')) || json_str(b, kv->key.ptr, kv->key.len) ||
            lp_buf_putc(b, ':') || json_str(b, kv->val.ptr, kv->val.len))
            return -1;
    }
    return lp_buf_putc(b, '}');
}

static lp_err_t put_json_line(lp_export *x, const lp_lead *l, lp_buf *b)
{
    bool first = true;
    if (lp_buf_putc(b, '{'))
        return LP_E_NOMEM;
    for (int f = 0; f < LP_F_INPUT_COUNT; f++) {
        if (!lp_lead_has(l, (lp_field_id)f))
            continue;
        if ((!first && lp_buf_putc(b, ',')) || json_field(x, b, l, (lp_field_id)f))
            return LP_E_NOMEM;
        first = false;
    }
    if (json_custom(b, l) || lp_buf_puts(b, "}\n"))
        return LP_E_NOMEM;
    return LP_OK;
}

/* Hashes the lead id and company domain that vendor-only columns come from. */
static void hash_lead(lp_export *x, const lp_lead *l)
{
    lp_str id = lp_lead_str(l, LP_F_LEAD_ID);
    lp_str co = lp_lead_str(l, LP_F_DOMAIN);
    if (!id.len)
        id = lp_lead_str(l, LP_F_EMAIL);
    if (!co.len)
        co = lp_lead_str(l, LP_F_COMPANY);
    x->h_lead = XXH3_64bits(id.ptr, id.len);
    x->h_co = XXH3_64bits(co.ptr, co.len);
}

lp_err_t lp_export_lead(lp_export *x, const lp_lead *l, lp_buf *out)
{
    lp_err_t err;
    if (x->o.format == LP_EXPORT_JSONL) {
        err = put_json_line(x, l, out);
    } else {
        x->csv.buf = out;
        hash_lead(x, l);
        err = put_csv_row(x, l);
    }
    x->row++;
    return err;
}
