/*
 * record.c - record helpers and the names of outcome enums.
 */
#include "record.h"

#include <string.h>

void lp_record_init(lp_record *r)
{
    memset(r, 0, sizeof(*r));
    r->origin.partition = -1;
}

void lp_record_reject(lp_record *r, lp_stage_id stage, lp_err_t err, const char *msg)
{
    r->err = err;
    r->err_stage = stage;
    r->err_msg = msg ? msg : lp_err_str(err);
}

void lp_record_set_outcome(lp_record *r, lp_qualification q, lp_disposition d)
{
    const char *qn = lp_qualification_name(q), *dn = lp_disposition_name(d);
    r->qualification = q;
    r->disposition = d;
    lp_lead_set_str(&r->lead, LP_F_QUALIFICATION, qn, strlen(qn));
    lp_lead_set_str(&r->lead, LP_F_DISPOSITION, dn, strlen(dn));
}

const char *lp_stage_name(lp_stage_id s)
{
    static const char *const names[] = {
        "read", "decode", "validate", "dedupe", "enrich", "score",
        "qualify", "llm", "route", "nurture", "done",
    };
    return (unsigned)s <= LP_STAGE_DONE ? names[s] : "unknown";
}

const char *lp_disposition_name(lp_disposition d)
{
    static const char *const names[] = {"none", "sales", "nurture", "disqualified", "duplicate"};
    return (unsigned)d <= LP_DISP_DUPLICATE ? names[d] : "none";
}

const char *lp_qualification_name(lp_qualification q)
{
    static const char *const names[] = {"none", "SQL", "MQL", "nurture", "disqualified"};
    return (unsigned)q <= LP_QUAL_DISQUALIFIED ? names[q] : "none";
}

const char *lp_aux_status_name(lp_aux_status s)
{
    static const char *const names[] = {"skipped", "used", "cached", "degraded"};
    return (unsigned)s <= LP_AUX_DEGRADED ? names[s] : "skipped";
}
