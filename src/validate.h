/*
 * validate.h - the validate stage: normalise a lead in place, then check it.
 *
 * The first stage after a record is read. It trims every string field,
 * canonicalises email, phone, web addresses, company domain and country
 * (see normalize.h), derives email_domain and company_domain, and rejects
 * the lead with a record-level code and a message that names the field and
 * its value when a check fails.
 *
 * Order of checks (the first failure is reported): opt-out, email, phone,
 * website, linkedin_url, company_domain, required fields. Required fields
 * are checked last, so a company_domain derived from the website or email
 * satisfies `required: [company_domain]`.
 *
 * Threads: lp_validate_lead() is pure apart from the lead and arena it is
 * handed; call it from any number of worker threads, each with its own
 * arena. The configuration is read-only.
 */
#ifndef LP_VALIDATE_H
#define LP_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "lead.h"

/* What a failed shape check does. */
typedef enum lp_check_action {
    LP_CHECK_REJECT = 0, /* reject the lead with the check's code */
    LP_CHECK_IGNORE,     /* keep the value as written (trimmed) and go on */
} lp_check_action;

typedef struct lp_validate_conf {
    uint64_t required;          /* bitmask of 1 << lp_field_id that must be present and
                                   non-empty; default: email */
    lp_check_action email;      /* email syntax; default reject */
    lp_check_action phone;      /* phone shape; default reject */
    lp_check_action urls;       /* website and linkedin_url shape, and company_domain;
                                   default reject */
    bool reject_opted_out;      /* opted_out == true -> LP_E_OPTED_OUT; default false */
    bool derive_company_domain; /* company_domain from website, else from a non-free email
                                   domain; default true */
} lp_validate_conf;

/* Fills c with the defaults documented on each member. */
void lp_validate_conf_default(lp_validate_conf *c);

/*
 * Normalises the lead l in place and checks it against c. String results
 * point into the input or into arena a. Returns LP_OK with *msg set to
 * NULL, or a record-level code with *msg set to an arena string that names
 * the field and the value, e.g.
 *   email "bob@@example" is not a valid address
 *   required field company_name is missing
 * Codes: LP_E_OPTED_OUT, LP_E_EMAIL_INVALID, LP_E_PHONE_INVALID,
 * LP_E_URL_INVALID, LP_E_DOMAIN_INVALID, LP_E_EMAIL_MISSING (email
 * required but absent), LP_E_REQUIRED_MISSING; LP_E_NOMEM when the arena is
 * exhausted (then *msg is a static string). Never allocates except from a.
 */
lp_err_t lp_validate_lead(const lp_validate_conf *c, lp_lead *l, lp_arena *a, const char **msg);

#endif
