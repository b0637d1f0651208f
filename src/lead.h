/*
 * lead.h - the lead: one record's fields, addressed by slot.
 *
 * LP_FIELD_LIST is the single list of lead fields. Its order is the field
 * order of schemas/lead.avsc (the input fields) followed by the derived fields
 * that stages compute (score, qualification, ...). A unit test checks the
 * schema file against this list.
 *
 * A lead stores each field in a fixed slot, v[LP_F_xxx], with a presence bit.
 * Rules compile field names to slots once, when the pipeline loads; the hot
 * path never looks a field up by name.
 *
 * Memory: string bytes are not owned by the lead. They point into the input
 * buffer (zero-copy) or into the batch arena, and live as long as the batch.
 * Strings are not NUL-terminated unless a stage made them so.
 */
#ifndef LP_LEAD_H
#define LP_LEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum lp_type {
    LP_T_STR = 1,   /* UTF-8 text */
    LP_T_LONG,      /* 64-bit integer */
    LP_T_DOUBLE,    /* IEEE double */
    LP_T_BOOL,      /* stored in v.i as 0/1 */
    LP_T_TS,        /* milliseconds since the Unix epoch, UTC, in v.i */
    LP_T_LIST,      /* list of strings (v.list, v.len items) */
} lp_type;

/* Field flags. */
#define LP_FF_INPUT 0x1u   /* part of the input schema (lead.avsc) */
#define LP_FF_DERIVED 0x2u /* computed by a stage, not read from input */

/*
 * X(ID, "name", type, flags)
 * Names are what users write in pipeline rules and mappings.
 */
#define LP_FIELD_LIST(X)                                                                           \
    X(LEAD_ID, "lead_id", LP_T_STR, LP_FF_INPUT)                                                   \
    X(SOURCE, "source", LP_T_STR, LP_FF_INPUT)                                                     \
    X(RECEIVED_AT, "received_at", LP_T_TS, LP_FF_INPUT)                                            \
    X(EMAIL, "email", LP_T_STR, LP_FF_INPUT)                                                       \
    X(FIRST_NAME, "first_name", LP_T_STR, LP_FF_INPUT)                                             \
    X(LAST_NAME, "last_name", LP_T_STR, LP_FF_INPUT)                                               \
    X(TITLE, "title", LP_T_STR, LP_FF_INPUT)                                                       \
    X(SENIORITY, "seniority", LP_T_STR, LP_FF_INPUT)                                               \
    X(DEPARTMENT, "department", LP_T_STR, LP_FF_INPUT)                                             \
    X(PHONE, "phone", LP_T_STR, LP_FF_INPUT)                                                       \
    X(LINKEDIN_URL, "linkedin_url", LP_T_STR, LP_FF_INPUT)                                         \
    X(COMPANY, "company_name", LP_T_STR, LP_FF_INPUT)                                              \
    X(DOMAIN, "company_domain", LP_T_STR, LP_FF_INPUT)                                             \
    X(WEBSITE, "website", LP_T_STR, LP_FF_INPUT)                                                   \
    X(INDUSTRY, "industry", LP_T_STR, LP_FF_INPUT)                                                 \
    X(EMPLOYEES, "employee_count", LP_T_LONG, LP_FF_INPUT)                                         \
    X(REVENUE, "annual_revenue", LP_T_DOUBLE, LP_FF_INPUT)                                         \
    X(COUNTRY, "country", LP_T_STR, LP_FF_INPUT)                                                   \
    X(REGION, "region", LP_T_STR, LP_FF_INPUT)                                                     \
    X(CITY, "city", LP_T_STR, LP_FF_INPUT)                                                         \
    X(TECHNOLOGIES, "technologies", LP_T_LIST, LP_FF_INPUT)                                        \
    X(PAGE_VIEWS, "page_views", LP_T_LONG, LP_FF_INPUT)                                            \
    X(EMAIL_OPENS, "email_opens", LP_T_LONG, LP_FF_INPUT)                                          \
    X(EMAIL_CLICKS, "email_clicks", LP_T_LONG, LP_FF_INPUT)                                        \
    X(FORM_FILLS, "form_fills", LP_T_LONG, LP_FF_INPUT)                                            \
    X(LAST_ACTIVITY, "last_activity_at", LP_T_TS, LP_FF_INPUT)                                     \
    X(CAMPAIGN, "campaign", LP_T_STR, LP_FF_INPUT)                                                 \
    X(UTM_SOURCE, "utm_source", LP_T_STR, LP_FF_INPUT)                                             \
    X(UTM_MEDIUM, "utm_medium", LP_T_STR, LP_FF_INPUT)                                             \
    X(UTM_CAMPAIGN, "utm_campaign", LP_T_STR, LP_FF_INPUT)                                         \
    X(CONSENT, "consent_marketing", LP_T_BOOL, LP_FF_INPUT)                                        \
    X(OPTED_OUT, "opted_out", LP_T_BOOL, LP_FF_INPUT)                                              \
    X(EMAIL_DOMAIN, "email_domain", LP_T_STR, LP_FF_DERIVED)                                       \
    X(DAYS_SINCE_ACTIVITY, "days_since_activity", LP_T_DOUBLE, LP_FF_DERIVED)                      \
    X(SCORE_FIT, "score.fit", LP_T_LONG, LP_FF_DERIVED)                                            \
    X(SCORE_ENGAGEMENT, "score.engagement", LP_T_LONG, LP_FF_DERIVED)                              \
    X(SCORE_TOTAL, "score.total", LP_T_LONG, LP_FF_DERIVED)                                        \
    X(GRADE, "score.grade", LP_T_STR, LP_FF_DERIVED)                                               \
    X(QUALIFICATION, "qualification", LP_T_STR, LP_FF_DERIVED)                                     \
    X(DISPOSITION, "disposition", LP_T_STR, LP_FF_DERIVED)

typedef enum lp_field_id {
#define LP_FIELD_ENUM(id, name, type, flags) LP_F_##id,
    LP_FIELD_LIST(LP_FIELD_ENUM)
#undef LP_FIELD_ENUM
        LP_F_COUNT
} lp_field_id;

/* The number of fields that come from input (a prefix of the list). */
#define LP_F_INPUT_COUNT LP_F_EMAIL_DOMAIN

_Static_assert(LP_F_COUNT <= 64, "presence mask is 64 bits");

/* A borrowed byte string. */
typedef struct lp_str {
    const char *ptr;
    uint32_t len;
} lp_str;

#define LP_STR_LIT(s) ((lp_str){(s), (uint32_t)(sizeof(s) - 1)})

/* One field value. The member in use follows the field's lp_type. */
typedef struct lp_val {
    union {
        int64_t i;           /* LONG, BOOL, TS */
        double d;            /* DOUBLE */
        const char *s;       /* STR: bytes, not NUL-terminated */
        const lp_str *list;  /* LIST: len items */
    };
    uint32_t len; /* STR: byte length; LIST: item count */
} lp_val;

/* A custom attribute (unknown input column or map entry). */
typedef struct lp_kv {
    lp_str key;
    lp_str val;
} lp_kv;

typedef struct lp_lead {
    uint64_t present;       /* bit LP_F_x set when v[LP_F_x] holds a value */
    lp_val v[LP_F_COUNT];
    lp_kv *custom;          /* custom attributes, in input order */
    uint32_t ncustom;
} lp_lead;

/* Static description of a field. */
typedef struct lp_field_def {
    lp_field_id id;
    const char *name;
    lp_type type;
    unsigned flags;
    uint32_t name_len; /* strlen(name), so encoders need not measure it */
} lp_field_def;

extern const lp_field_def lp_fields[LP_F_COUNT];

/* Finds a field by its exact name; returns -1 when there is none. */
int lp_field_lookup(const char *name, size_t len);

/* The name of a type ("string", "long", ...), for messages. */
const char *lp_type_name(lp_type t);

static inline bool lp_lead_has(const lp_lead *l, lp_field_id f)
{
    return (l->present >> f) & 1u;
}

static inline void lp_lead_set_str(lp_lead *l, lp_field_id f, const char *s, size_t n)
{
    l->v[f].s = s;
    l->v[f].len = (uint32_t)n;
    l->present |= 1ull << f;
}

static inline void lp_lead_set_long(lp_lead *l, lp_field_id f, int64_t x)
{
    l->v[f].i = x;
    l->present |= 1ull << f;
}

static inline void lp_lead_set_double(lp_lead *l, lp_field_id f, double x)
{
    l->v[f].d = x;
    l->present |= 1ull << f;
}

static inline void lp_lead_unset(lp_lead *l, lp_field_id f)
{
    l->present &= ~(1ull << f);
}

static inline lp_str lp_lead_str(const lp_lead *l, lp_field_id f)
{
    if (!lp_lead_has(l, f))
        return (lp_str){"", 0};
    return (lp_str){l->v[f].s, l->v[f].len};
}

/* Clears every field and custom attribute. */
static inline void lp_lead_clear(lp_lead *l)
{
    l->present = 0;
    l->custom = NULL;
    l->ncustom = 0;
}

#endif
