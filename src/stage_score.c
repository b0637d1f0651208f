/*
 * stage_score.c - fit and engagement scoring.
 *
 * Each rule adds (or subtracts) points to the fit or the engagement score
 * when its condition holds. Rules may belong to a group whose sum is capped
 * (and floored), so that ten seniority signals cannot outweigh everything
 * else. Engagement points decay with the age of the lead's last activity:
 * with a half-life of 30 days, a click from 30 days ago is worth half.
 * Age is measured from received_at, not the wall clock, so replays agree.
 *
 *     fit, engagement = each clamped to 0..100
 *     total           = clamp(fit_weight * fit + engagement_weight * engagement, 0, 100)
 *     grade           = first band whose minimum the total reaches
 *
 * Every rule that fired is recorded as a reason with the points it gave.
 * Threads: the compiled state is read-only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"

#define SCORE_MAX_RULES 512
#define SCORE_MAX_GROUPS 64
#define SCORE_MAX_GRADES 16
#define SUM_DIM SCORE_MAX_GROUPS /* sums of ungrouped points: SUM_DIM + lp_dimension */

typedef struct score_rule {
    const char *name;
    uint32_t name_len;
    lp_expr *when;
    int32_t points;
    int group; /* -1 when ungrouped */
    uint8_t dimension;
    uint16_t sum;     /* where its points are summed: its group, or SUM_DIM + dimension */
    lp_reason reason; /* the reason it gives when it fires, before decay */
} score_rule;

typedef struct score_group {
    const char *name;
    uint32_t name_len;
    int64_t cap;
    int64_t floor;
    int dimension; /* set by its first rule; -1 until then */
} score_group;

typedef struct score_grade {
    const char *grade;
    int64_t min;
    size_t len; /* strlen(grade) */
} score_grade;

typedef struct score_state {
    double fit_weight;
    double engagement_weight;
    int64_t half_life_ms;
    score_rule *rules;
    size_t nrules;
    score_group groups[SCORE_MAX_GROUPS];
    size_t ngroups;
    score_grade grades[SCORE_MAX_GRADES];
    size_t ngrades;
} score_state;

typedef struct score_section {
    double fit_weight;
    double engagement_weight;
    int64_t half_life_ms;
    struct fy_node *groups, *rules, *grades;
} score_section;

static const lp_conf_prop score_props[] = {
    {"fit_weight", LP_CONF_DOUBLE, offsetof(score_section, fit_weight), "1.0",
     "Weight of the fit score in the total.", NULL, false},
    {"engagement_weight", LP_CONF_DOUBLE, offsetof(score_section, engagement_weight), "1.0",
     "Weight of the engagement score in the total.", NULL, false},
    {"engagement_half_life", LP_CONF_DURATION, offsetof(score_section, half_life_ms), "30d",
     "Engagement points halve per this much age of the last activity (0s: no decay).", NULL,
     false},
    {"groups", LP_CONF_NODE, offsetof(score_section, groups), NULL,
     "Cap groups: `NAME: {cap: N, floor: -N}`; a group's points are summed, then clamped.",
     NULL, false},
    {"rules", LP_CONF_NODE, offsetof(score_section, rules), NULL,
     "Scoring rules, see `score.rules[]`.", NULL, false},
    {"grades", LP_CONF_NODE, offsetof(score_section, grades), NULL,
     "Grade bands, highest first: `- {grade: A, min: 80}`. Default A 80, B 60, C 40, D 0.",
     NULL, false},
    {NULL},
};

static const char *const dimension_names[] = {"fit", "engagement", NULL};

typedef struct rule_section {
    char *name;
    struct fy_node *when;
    int64_t points;
    char *group;
    int dimension;
} rule_section;

static const lp_conf_prop rule_props[] = {
    {"name", LP_CONF_STR, offsetof(rule_section, name), NULL, "Rule name, shown in reasons.",
     NULL, true},
    {"when", LP_CONF_EXPR, offsetof(rule_section, when), NULL, "Condition (rule expression).",
     NULL, true},
    {"points", LP_CONF_INT, offsetof(rule_section, points), NULL,
     "Points when the condition holds; negative to subtract.", NULL, true},
    {"group", LP_CONF_STR, offsetof(rule_section, group), NULL, "Cap group (see `groups`).",
     NULL, false},
    {"dimension", LP_CONF_ENUM, offsetof(rule_section, dimension), "fit",
     "Which score the points go to.", dimension_names, false},
    {NULL},
};

typedef struct group_section {
    int64_t cap;
    int64_t floor;
} group_section;

static const lp_conf_prop group_props[] = {
    {"cap", LP_CONF_INT, offsetof(group_section, cap), "100", "Most points the group gives.",
     NULL, false},
    {"floor", LP_CONF_INT, offsetof(group_section, floor), "-100", "Fewest points (negative).",
     NULL, false},
    {NULL},
};

typedef struct grade_section {
    char *grade;
    int64_t min;
} grade_section;

static const lp_conf_prop grade_props[] = {
    {"grade", LP_CONF_STR, offsetof(grade_section, grade), NULL, "Grade label.", NULL, true},
    {"min", LP_CONF_INT, offsetof(grade_section, min), NULL, "Lowest total for this grade.",
     NULL, true},
    {NULL},
};

/* The length an lp_reason carries for name s: strlen, or 0 (unknown) when too long. */
static uint32_t name_len(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n <= UINT32_MAX ? (uint32_t)n : 0;
}

static void compile_groups(lp_stage_ctx *ctx, score_state *st, struct fy_node *n)
{
    if (!n)
        return;
    if (!fy_node_is_mapping(n)) {
        lp_diag_node(ctx->diag, n, "'groups' maps group names to {cap, floor}");
        return;
    }
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        if (st->ngroups == SCORE_MAX_GROUPS) {
            lp_diag_node(ctx->diag, fy_node_pair_key(pair), "more than %d groups",
                         SCORE_MAX_GROUPS);
            return;
        }
        score_group *g = &st->groups[st->ngroups];
        group_section gs;
        char *name = NULL;
        lp_conf_str(ctx->diag, ctx->mem, fy_node_pair_key(pair), &name);
        lp_conf_apply(ctx->diag, ctx->mem, fy_node_pair_value(pair), group_props, &gs);
        *g = (score_group){name, name_len(name), gs.cap, gs.floor, -1};
        st->ngroups++;
    }
}

static int find_group(const score_state *st, const char *name)
{
    for (size_t i = 0; i < st->ngroups; i++)
        if (st->groups[i].name && !strcmp(st->groups[i].name, name))
            return (int)i;
    return -1;
}

static void compile_rule(lp_stage_ctx *ctx, score_state *st, struct fy_node *n)
{
    rule_section rs;
    if (lp_conf_apply(ctx->diag, ctx->mem, n, rule_props, &rs))
        return;
    score_rule *r = &st->rules[st->nrules++];
    r->name = rs.name;
    r->name_len = name_len(rs.name);
    r->points = (int32_t)rs.points;
    r->dimension = (uint8_t)rs.dimension;
    r->when = lp_stage_expr(ctx, rs.when);
    r->group = -1;
    if (!rs.group)
        return;
    r->group = find_group(st, rs.group);
    if (r->group < 0) {
        lp_diag_node(ctx->diag, lp_conf_get(n, "group"), "unknown group '%s'", rs.group);
        return;
    }
    score_group *g = &st->groups[r->group];
    if (g->dimension < 0)
        g->dimension = r->dimension;
    else if (g->dimension != r->dimension)
        lp_diag_node(ctx->diag, lp_conf_get(n, "dimension"),
                     "group '%s' mixes fit and engagement rules", g->name);
}

static void compile_rules(lp_stage_ctx *ctx, score_state *st, struct fy_node *n)
{
    if (!n)
        return;
    if (!fy_node_is_sequence(n)) {
        lp_diag_node(ctx->diag, n, "'rules' is a list of rules");
        return;
    }
    int count = fy_node_sequence_item_count(n);
    if (count > SCORE_MAX_RULES) {
        lp_diag_node(ctx->diag, n, "more than %d scoring rules", SCORE_MAX_RULES);
        return;
    }
    st->rules = lp_arena_alloc(ctx->mem, (size_t)count * sizeof(score_rule));
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it)))
        compile_rule(ctx, st, item);
}

static void compile_grades(lp_stage_ctx *ctx, score_state *st, struct fy_node *n)
{
    static const score_grade defaults[] = {{"A", 80, 1}, {"B", 60, 1}, {"C", 40, 1}, {"D", 0, 1}};
    if (!n) {
        memcpy(st->grades, defaults, sizeof(defaults));
        st->ngrades = 4;
        return;
    }
    if (!fy_node_is_sequence(n) || fy_node_sequence_item_count(n) > SCORE_MAX_GRADES) {
        lp_diag_node(ctx->diag, n, "'grades' is a list of at most %d {grade, min}",
                     SCORE_MAX_GRADES);
        return;
    }
    void *it = NULL;
    struct fy_node *item;
    int64_t prev = INT64_MAX;
    while ((item = fy_node_sequence_iterate(n, &it))) {
        grade_section gs;
        if (lp_conf_apply(ctx->diag, ctx->mem, item, grade_props, &gs))
            continue;
        if (gs.min >= prev)
            lp_diag_node(ctx->diag, item, "grades must be listed highest minimum first");
        prev = gs.min;
        st->grades[st->ngrades++] = (score_grade){gs.grade, gs.min, strlen(gs.grade)};
    }
}

/* Fills each rule's reason template and the sum its points go to. */
static void prepare_reasons(score_state *st)
{
    for (size_t i = 0; i < st->nrules; i++) {
        score_rule *r = &st->rules[i];
        const score_group *g = r->group >= 0 ? &st->groups[r->group] : NULL;
        r->sum = (uint16_t)(g ? r->group : SUM_DIM + r->dimension);
        r->reason = (lp_reason){.rule = r->name,
                                .group = g ? g->name : NULL,
                                .points = r->points,
                                .dimension = r->dimension,
                                .rule_len = r->name_len,
                                .group_len = g ? g->name_len : 0};
    }
}

static void *score_compile(lp_stage_ctx *ctx, struct fy_node *section)
{
    score_state *st = lp_arena_alloc(ctx->mem, sizeof(*st));
    memset(st, 0, sizeof(*st));
    score_section ss;
    lp_conf_apply(ctx->diag, ctx->mem, section, score_props, &ss);
    st->fit_weight = ss.fit_weight;
    st->engagement_weight = ss.engagement_weight;
    st->half_life_ms = ss.half_life_ms;
    compile_groups(ctx, st, ss.groups);
    compile_rules(ctx, st, ss.rules);
    prepare_reasons(st);
    compile_grades(ctx, st, ss.grades);
    return st;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/*
 * lround(x) without libm, exact for |x| < 2^62: the fraction x - trunc(x)
 * is computed exactly, so halves round away from zero and nothing else
 * moves (x + 0.5 would round 0.49999999999999994 up).
 */
static int64_t round_half_away(double x)
{
    int64_t t = (int64_t)x;
    double frac = x - (double)t;
    return t + (frac >= 0.5) - (frac <= -0.5);
}

/* The total for the weighted sum x: x rounded half away from zero, clamped to 0..100. */
static int64_t total_of(double x)
{
    if (!(x >= 0)) /* negative, or NaN from absurd weights */
        return 0;
    return round_half_away(x > 100 ? 100 : x);
}

/* Sets days_since_activity; returns the age of the last activity in ms, or -1 if unknown. */
static int64_t activity_age(lp_lead *l)
{
    if (!lp_lead_has(l, LP_F_LAST_ACTIVITY) || !lp_lead_has(l, LP_F_RECEIVED_AT)) {
        lp_lead_unset(l, LP_F_DAYS_SINCE_ACTIVITY);
        return -1;
    }
    int64_t age_ms = l->v[LP_F_RECEIVED_AT].i - l->v[LP_F_LAST_ACTIVITY].i;
    if (age_ms < 0)
        age_ms = 0;
    lp_lead_set_double(l, LP_F_DAYS_SINCE_ACTIVITY, (double)age_ms / 86400000.0);
    return age_ms;
}

/* The engagement decay factor for an activity age_ms old (-1: unknown, no decay). */
static double activity_decay(const score_state *st, int64_t age_ms)
{
    if (age_ms <= 0 || st->half_life_ms <= 0)
        return 1.0;
    return exp2(-(double)age_ms / (double)st->half_life_ms);
}

static const score_grade *grade_for(const score_state *st, int64_t total)
{
    static const score_grade none = {"", 0, 0};
    for (size_t i = 0; i < st->ngrades; i++)
        if (total >= st->grades[i].min)
            return &st->grades[i];
    return st->ngrades ? &st->grades[st->ngrades - 1] : &none;
}

/*
 * Evaluates every rule, copying the reason of each that fires to fired
 * (room for every rule) and adding its points to sums (group sums, then the
 * two dimension sums at SUM_DIM). Engagement points decay with the age of
 * the last activity (age_ms, -1 when unknown); the factor is computed the
 * first time an engagement rule fires. Returns how many fired.
 */
static size_t score_rules(const score_state *st, lp_worker *w, lp_lead *l, int64_t age_ms,
                          lp_reason *fired, int64_t *sums)
{
    lp_expr_scratch *sc = w->scratch;
    size_t nfired = 0;
    double decay = -1.0; /* not computed yet */
    for (size_t i = 0; i < st->nrules; i++) {
        const score_rule *rule = &st->rules[i];
        if (!lp_expr_eval(rule->when, l, sc))
            continue;
        lp_reason *rs = &fired[nfired++];
        *rs = rule->reason;
        if (rule->dimension == LP_DIM_ENGAGEMENT && age_ms > 0) {
            if (decay < 0)
                decay = activity_decay(st, age_ms);
            if (decay != 1.0)
                rs->points = (int32_t)round_half_away(rs->points * decay);
        }
        sums[rule->sum] += rs->points;
    }
    return nfired;
}

/*
 * Reasons are written straight into the arena: room for every rule is
 * taken, and what did not fire is given back, so nothing is copied.
 */
static lp_step score_run(const void *state, lp_worker *w, lp_record *r)
{
    const score_state *st = state;
    lp_lead *l = &r->lead;
    int64_t age_ms = activity_age(l);
    int64_t sums[SUM_DIM + 2];
    memset(sums, 0, st->ngroups * sizeof sums[0]); /* only the groups in use */
    int64_t *dim_sum = &sums[SUM_DIM];
    dim_sum[LP_DIM_FIT] = dim_sum[LP_DIM_ENGAGEMENT] = 0;
    size_t room = st->nrules * sizeof(lp_reason);
    lp_reason *fired = room ? lp_arena_alloc(&w->arena, room) : NULL;
    if (room && !fired) {
        lp_record_reject(r, LP_STAGE_SCORE, LP_E_NOMEM, NULL);
        return LP_STEP_DONE;
    }
    size_t nfired = st->nrules ? score_rules(st, w, l, age_ms, fired, sums) : 0;
    if (room)
        lp_arena_shrink(&w->arena, fired, room, nfired * sizeof(lp_reason));
    r->nreasons = (uint16_t)nfired;
    r->reasons = nfired ? fired : NULL;

    for (size_t g = 0; g < st->ngroups; g++)
        if (st->groups[g].dimension >= 0)
            dim_sum[st->groups[g].dimension] +=
                clamp64(sums[g], st->groups[g].floor, st->groups[g].cap);

    int64_t fit = clamp64(dim_sum[LP_DIM_FIT], 0, 100);
    int64_t eng = clamp64(dim_sum[LP_DIM_ENGAGEMENT], 0, 100);
    int64_t total = total_of(st->fit_weight * (double)fit + st->engagement_weight * (double)eng);
    lp_lead_set_long(l, LP_F_SCORE_FIT, fit);
    lp_lead_set_long(l, LP_F_SCORE_ENGAGEMENT, eng);
    lp_lead_set_long(l, LP_F_SCORE_TOTAL, total);
    const score_grade *grade = grade_for(st, total);
    lp_lead_set_str(l, LP_F_GRADE, grade->grade, grade->len);
    return LP_STEP_NEXT;
}

static void score_free(void *state)
{
    (void)state; /* everything lives in the pipeline arena */
}

static const lp_conf_section score_subs[] = {
    {"score.rules[]", "One scoring rule.", rule_props},
    {"score.groups.NAME", "A cap group.", group_props},
    {"score.grades[]", "A grade band; list them highest minimum first.", grade_props},
};

const lp_stage_def lp_stage_score = {
    .id = LP_STAGE_SCORE,
    .section = "score",
    .doc = "Fit and engagement scoring. Each rule adds `points` to its dimension when `when` "
           "holds; grouped rules are summed and clamped to the group's cap and floor. "
           "Engagement points decay by the age of the last activity. Each rule in `rules` takes "
           "`name`, `when`, `points`, and optionally `group` and `dimension` (fit | engagement).",
    .props = score_props,
    .subs = score_subs,
    .nsubs = sizeof(score_subs) / sizeof(score_subs[0]),
    .compile = score_compile,
    .run = score_run,
    .free = score_free,
    .keeps_strings = true, /* the chain keeps the rule memo across it */
};
