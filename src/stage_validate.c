/*
 * stage_validate.c - the validate stage: the pipeline-file face of
 * validate.c. Normalises every field and rejects a lead whose required
 * fields are missing or whose email, phone or urls are malformed, with a
 * stable code and a message that names the field and the value.
 */
#include <string.h>

#include "stage.h"
#include "validate.h"

static const char *const action_names[] = {"reject", "ignore", NULL};

typedef struct validate_section {
    uint64_t required;
    int email, phone, urls;
    bool reject_opted_out;
    bool derive_company_domain;
} validate_section;

static const lp_conf_prop validate_props[] = {
    {"required", LP_CONF_FIELDS, offsetof(validate_section, required), "[email]",
     "Fields that must be present and non-empty (LP_E_REQUIRED_MISSING, or LP_E_EMAIL_MISSING).",
     NULL, false},
    {"email", LP_CONF_ENUM, offsetof(validate_section, email), "reject",
     "A malformed email: reject the lead (LP_E_EMAIL_INVALID) or ignore.", action_names, false},
    {"phone", LP_CONF_ENUM, offsetof(validate_section, phone), "reject",
     "A phone that is not 7-15 digits: reject (LP_E_PHONE_INVALID) or ignore.", action_names,
     false},
    {"urls", LP_CONF_ENUM, offsetof(validate_section, urls), "reject",
     "A malformed website or LinkedIn url: reject (LP_E_URL_INVALID) or ignore.", action_names,
     false},
    {"reject_opted_out", LP_CONF_BOOL, offsetof(validate_section, reject_opted_out), "false",
     "Reject leads whose opted_out is true (LP_E_OPTED_OUT).", NULL, false},
    {"derive_company_domain", LP_CONF_BOOL, offsetof(validate_section, derive_company_domain),
     "true", "Fill company_domain from the website, else from a corporate email domain.", NULL,
     false},
    {NULL},
};

static void *validate_compile(lp_stage_ctx *ctx, struct fy_node *section)
{
    validate_section vs;
    lp_conf_apply(ctx->diag, ctx->mem, section, validate_props, &vs);
    lp_validate_conf *c = lp_arena_alloc(ctx->mem, sizeof(*c));
    lp_validate_conf_default(c);
    c->required = vs.required;
    c->email = vs.email ? LP_CHECK_IGNORE : LP_CHECK_REJECT;
    c->phone = vs.phone ? LP_CHECK_IGNORE : LP_CHECK_REJECT;
    c->urls = vs.urls ? LP_CHECK_IGNORE : LP_CHECK_REJECT;
    c->reject_opted_out = vs.reject_opted_out;
    c->derive_company_domain = vs.derive_company_domain;
    return c;
}

static lp_step validate_run(const void *state, lp_worker *w, lp_record *r)
{
    const char *msg = NULL;
    lp_err_t err = lp_validate_lead(state, &r->lead, &w->arena, &msg);
    if (err == LP_OK)
        return LP_STEP_NEXT;
    lp_record_reject(r, LP_STAGE_VALIDATE, err, msg);
    return LP_STEP_DONE;
}

static void validate_free(void *state)
{
    (void)state;
}

const lp_stage_def lp_stage_validate = {
    .id = LP_STAGE_VALIDATE,
    .section = "validate",
    .doc = "Normalises every lead (trimmed text, lower-case email, IDN-safe ASCII domains, ISO "
           "country codes, company domain from the website) and rejects leads that are missing "
           "required fields or carry a malformed email, phone or url.",
    .props = validate_props,
    .compile = validate_compile,
    .run = validate_run,
    .free = validate_free,
};
