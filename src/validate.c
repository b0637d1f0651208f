/*
 * validate.c - the validate stage; see validate.h for the contract.
 *
 * Owns nothing beyond the call: every step reads the configuration, rewrites
 * slots of the lead it is handed and, on failure, writes one message into
 * the caller's arena. Each step is a small function returning lp_err_t;
 * lp_validate_lead() runs them in the documented order and stops at the
 * first failure.
 *
 * Threads: any; no shared state.
 *
 * Invariants: after LP_OK every present string field is trimmed and
 * non-empty; email, when present and valid, is normalised and email_domain
 * is its domain; email_domain is absent otherwise. A rejected lead's
 * message always quotes the offending value (escaped, and cut after
 * LP_VALIDATE_MSG_VALUE_MAX bytes) so that a rejected.jsonl line explains
 * itself.
 */
#include "validate.h"

#include <stdio.h>
#include <string.h>

#include "normalize.h"

/* The longest value quoted in a message, in bytes. */
#define LP_VALIDATE_MSG_VALUE_MAX 120

/* Bitmasks of the string and list fields, built from LP_FIELD_LIST. */
#define LP_TYPE_BIT(id, name, type, flags, want) | ((type) == (want) ? 1ull << LP_F_##id : 0)
#define LP_STR_BIT(id, name, type, flags) LP_TYPE_BIT(id, name, type, flags, LP_T_STR)
#define LP_LIST_BIT(id, name, type, flags) LP_TYPE_BIT(id, name, type, flags, LP_T_LIST)
static const uint64_t lp_str_fields = 0 LP_FIELD_LIST(LP_STR_BIT);
static const uint64_t lp_list_fields = 0 LP_FIELD_LIST(LP_LIST_BIT);
static const uint64_t lp_all_fields = LP_F_COUNT == 64 ? ~0ull : (1ull << LP_F_COUNT) - 1;

static const char lp_msg_nomem[] = "out of memory";
static const char lp_msg_opted_out[] = "opted_out is true: the lead opted out of contact";

void lp_validate_conf_default(lp_validate_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->required = 1ull << LP_F_EMAIL;
    c->email = LP_CHECK_REJECT;
    c->phone = LP_CHECK_REJECT;
    c->urls = LP_CHECK_REJECT;
    c->reject_opted_out = false;
    c->derive_company_domain = true;
}

/* ---- messages ---------------------------------------------------------- */

/* Writes v to o with quotes, backslashes and controls escaped; returns the
 * end. Long values are cut on a UTF-8 boundary and end in "...". */
static char *msg_put_value(char *o, lp_str v)
{
    size_t n = v.len;
    bool cut = n > LP_VALIDATE_MSG_VALUE_MAX;
    if (cut) {
        n = LP_VALIDATE_MSG_VALUE_MAX;
        while (n && ((unsigned char)v.ptr[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c == 0x7F) {
            o += snprintf(o, 5, "\\x%02x", c);
        } else {
            *o++ = (char)c;
        }
    }
    if (cut) {
        memcpy(o, "...", 3);
        o += 3;
    }
    return o;
}

/* Builds `field "value" what` in the arena; NULL when the arena is full. */
static const char *msg_field_value(lp_arena *a, lp_field_id f, lp_str v, const char *what)
{
    const char *name = lp_fields[f].name;
    size_t nlen = strlen(name), wlen = strlen(what);
    size_t vmax = (v.len < LP_VALIDATE_MSG_VALUE_MAX ? v.len : LP_VALIDATE_MSG_VALUE_MAX) * 4 + 3;
    char *buf = lp_arena_alloc(a, nlen + vmax + wlen + 6);
    if (!buf)
        return NULL;
    char *o = buf;
    memcpy(o, name, nlen);
    o += nlen;
    memcpy(o, " \"", 2);
    o = msg_put_value(o + 2, v);
    memcpy(o, "\" ", 2);
    memcpy(o + 2, what, wlen);
    o[2 + wlen] = '\0';
    return buf;
}

/* Rejects with err and a message about field f's value v. */
static lp_err_t validate_fail(lp_arena *a, const char **msg, lp_err_t err, lp_field_id f, lp_str v,
                              const char *what)
{
    if (err == LP_E_NOMEM || !(*msg = msg_field_value(a, f, v, what))) {
        *msg = lp_msg_nomem;
        return LP_E_NOMEM;
    }
    return err;
}

/* ---- steps ------------------------------------------------------------- */

/* Trims string field f of l, which has white space at an end (or is
 * empty); a field left empty becomes absent. */
static void validate_trim_field(lp_lead *l, lp_field_id f)
{
    lp_str s = lp_normalize_trim_edges(lp_lead_str(l, f));
    if (s.len == 0)
        lp_lead_unset(l, f);
    else
        lp_lead_set_str(l, f, s.ptr, s.len);
}

/*
 * Trims every present string field. Nearly every value has a printable
 * ASCII byte at both ends, so the loop decides that itself and leaves the
 * slot alone; only the rest go through validate_trim_field().
 */
static void validate_trim(lp_lead *l)
{
    for (uint64_t m = l->present & lp_str_fields; m; m &= m - 1) {
        lp_field_id f = (lp_field_id)__builtin_ctzll(m);
        const char *p = l->v[f].s;
        uint32_t len = l->v[f].len;
        if (len == 0 || !lp_normalize_is_solid_edge(p[0]) ||
            !lp_normalize_is_solid_edge(p[len - 1]))
            validate_trim_field(l, f);
    }
}

static lp_err_t validate_opt_out(const lp_validate_conf *c, const lp_lead *l, const char **msg)
{
    if (!c->reject_opted_out || !lp_lead_has(l, LP_F_OPTED_OUT) || !l->v[LP_F_OPTED_OUT].i)
        return LP_OK;
    *msg = lp_msg_opted_out;
    return LP_E_OPTED_OUT;
}

/* Normalises the email and sets email_domain from it. */
static lp_err_t validate_email(const lp_validate_conf *c, lp_lead *l, lp_arena *a, const char **msg)
{
    lp_str email, domain;
    lp_lead_unset(l, LP_F_EMAIL_DOMAIN);
    if (!lp_lead_has(l, LP_F_EMAIL))
        return LP_OK;
    lp_str v = lp_lead_str(l, LP_F_EMAIL);
    lp_err_t err = lp_normalize_email(v, a, &email, &domain);
    if (err == LP_OK) {
        lp_lead_set_str(l, LP_F_EMAIL, email.ptr, email.len);
        lp_lead_set_str(l, LP_F_EMAIL_DOMAIN, domain.ptr, domain.len);
        return LP_OK;
    }
    if (err == LP_E_EMAIL_INVALID && c->email == LP_CHECK_IGNORE)
        return LP_OK;
    return validate_fail(a, msg, err, LP_F_EMAIL, v, "is not a valid address");
}

static lp_err_t validate_phone(const lp_validate_conf *c, lp_lead *l, lp_arena *a, const char **msg)
{
    lp_str phone;
    if (!lp_lead_has(l, LP_F_PHONE))
        return LP_OK;
    lp_str v = lp_lead_str(l, LP_F_PHONE);
    lp_err_t err = lp_normalize_phone(v, &phone);
    if (err == LP_OK) {
        lp_lead_set_str(l, LP_F_PHONE, phone.ptr, phone.len);
        return LP_OK;
    }
    if (c->phone == LP_CHECK_IGNORE)
        return LP_OK;
    return validate_fail(a, msg, err, LP_F_PHONE, v, "is not a valid phone number");
}

/*
 * Checks the shape of website or linkedin_url (kept as written) and returns
 * its normalised host in *host, or an empty host when absent or bad.
 */
static lp_err_t validate_url(const lp_validate_conf *c, lp_lead *l, lp_field_id f, lp_arena *a,
                             const char **msg, lp_str *host)
{
    const char *what = "is not a valid URL";
    *host = (lp_str){"", 0};
    if (!lp_lead_has(l, f))
        return LP_OK;
    lp_str v = lp_lead_str(l, f);
    lp_err_t err = lp_normalize_url(v, a, host);
    if (err == LP_OK && f == LP_F_LINKEDIN_URL && !lp_normalize_is_linkedin_host(*host)) {
        err = LP_E_URL_INVALID;
        what = "is not a linkedin.com URL";
    }
    if (err == LP_OK)
        return LP_OK;
    *host = (lp_str){"", 0};
    if (err == LP_E_URL_INVALID && c->urls == LP_CHECK_IGNORE)
        return LP_OK;
    return validate_fail(a, msg, err, f, v, what);
}

/*
 * Normalises company_domain, or derives it: from the website's host first
 * (unless the website is a LinkedIn page), else from the email domain
 * unless that is a free-mail provider.
 */
static lp_err_t validate_company_domain(const lp_validate_conf *c, lp_lead *l, lp_str web_host,
                                        lp_arena *a, const char **msg)
{
    if (lp_lead_has(l, LP_F_DOMAIN)) {
        lp_str d, v = lp_lead_str(l, LP_F_DOMAIN);
        lp_err_t err = lp_normalize_domain(v, a, &d);
        if (err == LP_OK)
            lp_lead_set_str(l, LP_F_DOMAIN, d.ptr, d.len);
        if (err == LP_OK || (err == LP_E_DOMAIN_INVALID && c->urls == LP_CHECK_IGNORE))
            return LP_OK;
        return validate_fail(a, msg, err, LP_F_DOMAIN, v, "is not a valid domain");
    }
    if (!c->derive_company_domain)
        return LP_OK;
    lp_str mail = lp_lead_str(l, LP_F_EMAIL_DOMAIN);
    if (web_host.len && !lp_normalize_is_linkedin_host(web_host))
        lp_lead_set_str(l, LP_F_DOMAIN, web_host.ptr, web_host.len);
    else if (mail.len && !lp_normalize_is_free_mail(mail))
        lp_lead_set_str(l, LP_F_DOMAIN, mail.ptr, mail.len);
    return LP_OK;
}

static void validate_country(lp_lead *l)
{
    if (!lp_lead_has(l, LP_F_COUNTRY))
        return;
    lp_str iso = lp_normalize_country(lp_lead_str(l, LP_F_COUNTRY));
    lp_lead_set_str(l, LP_F_COUNTRY, iso.ptr, iso.len);
}

/* Reports the first required field (in schema order) that is absent. */
static lp_err_t validate_required(const lp_validate_conf *c, const lp_lead *l, lp_arena *a,
                                  const char **msg)
{
    uint64_t have = l->present;
    for (uint64_t m = have & lp_list_fields; m; m &= m - 1) {
        int f = __builtin_ctzll(m);
        if (l->v[f].len == 0)
            have &= ~(1ull << f);
    }
    uint64_t missing = c->required & lp_all_fields & ~have;
    if (!missing)
        return LP_OK;
    int f = __builtin_ctzll(missing);
    *msg = lp_arena_sprintf(a, "required field %s is missing", lp_fields[f].name);
    if (!*msg) {
        *msg = lp_msg_nomem;
        return LP_E_NOMEM;
    }
    return f == LP_F_EMAIL ? LP_E_EMAIL_MISSING : LP_E_REQUIRED_MISSING;
}

lp_err_t lp_validate_lead(const lp_validate_conf *c, lp_lead *l, lp_arena *a, const char **msg)
{
    lp_str web_host, linkedin_host;
    lp_err_t err;
    *msg = NULL;
    validate_trim(l);
    if ((err = validate_opt_out(c, l, msg)) != LP_OK)
        return err;
    if ((err = validate_email(c, l, a, msg)) != LP_OK)
        return err;
    if ((err = validate_phone(c, l, a, msg)) != LP_OK)
        return err;
    if ((err = validate_url(c, l, LP_F_WEBSITE, a, msg, &web_host)) != LP_OK)
        return err;
    if ((err = validate_url(c, l, LP_F_LINKEDIN_URL, a, msg, &linkedin_host)) != LP_OK)
        return err;
    if ((err = validate_company_domain(c, l, web_host, a, msg)) != LP_OK)
        return err;
    validate_country(l);
    return validate_required(c, l, a, msg);
}
