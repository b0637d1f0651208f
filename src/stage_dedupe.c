/*
 * stage_dedupe.c - the dedupe stage: drops nothing, but marks a lead whose
 * normalised email was already seen within the window as a duplicate of the
 * first one. The duplicate's outcome (disposition `duplicate`, naming the
 * first lead) is final: it is neither scored nor routed twice.
 *
 * The window is measured in event time (received_at), so a replay of the
 * same input gives the same answer. Threads: the table is shared by all
 * workers of the process and is internally synchronised (dedupe.c).
 */
#include <stdlib.h>
#include <string.h>

#include "dedupe.h"
#include "stage.h"

typedef struct dedupe_section {
    bool enabled;
    int64_t window_ms;
    int64_t max_keys;
} dedupe_section;

static const lp_conf_prop dedupe_props[] = {
    {"enabled", LP_CONF_BOOL, offsetof(dedupe_section, enabled), "true",
     "Mark repeated emails as duplicates.", NULL, false},
    {"window", LP_CONF_DURATION, offsetof(dedupe_section, window_ms), "30d",
     "A lead is a duplicate when the same normalised email arrived this recently before it.",
     NULL, false},
    {"max_keys", LP_CONF_INT, offsetof(dedupe_section, max_keys), "1000000",
     "Emails remembered per process; the oldest are forgotten first (bounds memory).", NULL,
     false},
    {NULL},
};

static void *dedupe_compile(lp_stage_ctx *ctx, struct fy_node *section)
{
    dedupe_section ds;
    lp_conf_apply(ctx->diag, ctx->mem, section, dedupe_props, &ds);
    if (ds.max_keys <= 0) {
        lp_diag_node(ctx->diag, lp_conf_get(section, "max_keys"), "max_keys must be positive");
        return NULL;
    }
    if (!ds.enabled)
        return NULL;
    return lp_dedupe_new(ds.window_ms, (size_t)ds.max_keys);
}

static lp_step dedupe_run(const void *state, lp_worker *w, lp_record *r)
{
    lp_dedupe *d = (lp_dedupe *)state;
    const lp_lead *l = &r->lead;
    if (!d || !lp_lead_has(l, LP_F_EMAIL))
        return LP_STEP_NEXT;
    int64_t ts = lp_lead_has(l, LP_F_RECEIVED_AT) ? l->v[LP_F_RECEIVED_AT].i : r->processed_at_ms;
    lp_str first;
    if (!lp_dedupe_check(d, lp_lead_str(l, LP_F_EMAIL), lp_lead_str(l, LP_F_LEAD_ID), ts,
                         &w->arena, &first))
        return LP_STEP_NEXT;
    r->disposition = LP_DISP_DUPLICATE;
    r->duplicate_of = first;
    lp_lead_set_str(&r->lead, LP_F_DISPOSITION, "duplicate", 9);
    return LP_STEP_DONE;
}

static void dedupe_free(void *state)
{
    lp_dedupe_free(state);
}

const lp_stage_def lp_stage_dedupe = {
    .id = LP_STAGE_DEDUPE,
    .section = "dedupe",
    .doc = "Marks a lead as a duplicate of the first lead with the same normalised email seen "
           "within the window. Duplicates keep their own outcome record (disposition "
           "`duplicate`, `duplicate_of` naming the first lead).",
    .props = dedupe_props,
    .compile = dedupe_compile,
    .run = dedupe_run,
    .free = dedupe_free,
};
