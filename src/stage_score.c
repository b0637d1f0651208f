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

typedef struct score_rule {
    const char *name;
    uint32_t name_len;
    lp_expr *when;
    int32_t points;
    int group; /* -1 when ungrouped */
    uint8_t dimension;
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
    static const score_grade defaults[] = {{"A", 80}, {"B", 60}, {"C", 40}, {"D", 0}};
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
        st->grades[st->ngrades++] = (score_grade){gs.grade, gs.min};
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
    compile_grades(ctx, st, ss.grades);
    return st;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Sets days_since_activity and returns the engagement decay factor. */
static double activity_decay(const score_state *st, lp_lead *l)
{
    if (!lp_lead_has(l, LP_F_LAST_ACTIVITY) || !lp_lead_has(l, LP_F_RECEIVED_AT)) {
        lp_lead_unset(l, LP_F_DAYS_SINCE_ACTIVITY);
        return 1.0;
    }
    int64_t age_ms = l->v[LP_F_RECEIVED_AT].i - l->v[LP_F_LAST_ACTIVITY].i;
    if (age_ms < 0)
        age_ms = 0;
    lp_lead_set_double(l, LP_F_DAYS_SINCE_ACTIVITY, (double)age_ms / 86400000.0);
    if (st->half_life_ms <= 0)
        return 1.0;
    return exp2(-(double)age_ms / (double)st->half_life_ms);
}

static const char *grade_for(const score_state *st, int64_t total)
{
    for (size_t i = 0; i < st->ngrades; i++)
        if (total >= st->grades[i].min)
            return st->grades[i].grade;
    return st->ngrades ? st->grades[st->ngrades - 1].grade : "";
}

/* The reason rule i of st gives when it fires with pts points. */
static lp_reason reason_of(const score_state *st, const score_rule *rule, int32_t pts)
{
    const score_group *g = rule->group >= 0 ? &st->groups[rule->group] : NULL;
    return (lp_reason){.rule = rule->name,
                       .group = g ? g->name : NULL,
                       .points = pts,
                       .dimension = rule->dimension,
                       .rule_len = rule->name_len,
                       .group_len = g ? g->name_len : 0};
}

/*
 * Evaluates every rule, writing the reasons of those that fire to fired
 * (room for every rule) and their points to the sums. Returns how many fired.
 */
static size_t score_rules(const score_state *st, lp_worker *w, lp_lead *l, double decay,
                          lp_reason *fired, int64_t *group_sum, int64_t *dim_sum)
{
    size_t nfired = 0;
    for (size_t i = 0; i < st->nrules; i++) {
        const score_rule *rule = &st->rules[i];
        if (!lp_expr_eval(rule->when, l, w->scratch))
            continue;
        int32_t pts = rule->points;
        if (rule->dimension == LP_DIM_ENGAGEMENT && decay != 1.0)
            pts = (int32_t)lround(pts * decay);
        fired[nfired++] = reason_of(st, rule, pts);
        if (rule->group >= 0)
            group_sum[rule->group] += pts;
        else
            dim_sum[rule->dimension] += pts;
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
    double decay = activity_decay(st, l);
    int64_t group_sum[SCORE_MAX_GROUPS] = {0};
    int64_t dim_sum[2] = {0, 0};
    size_t room = st->nrules * sizeof(lp_reason);
    lp_reason *fired = room ? lp_arena_alloc(&w->arena, room) : NULL;
    if (room && !fired) {
        lp_record_reject(r, LP_STAGE_SCORE, LP_E_NOMEM, NULL);
        return LP_STEP_DONE;
    }
    size_t nfired = st->nrules ? score_rules(st, w, l, decay, fired, group_sum, dim_sum) : 0;
    if (room)
        lp_arena_shrink(&w->arena, fired, room, nfired * sizeof(lp_reason));
    r->nreasons = (uint16_t)nfired;
    r->reasons = nfired ? fired : NULL;

    for (size_t g = 0; g < st->ngroups; g++)
        if (st->groups[g].dimension >= 0)
            dim_sum[st->groups[g].dimension] +=
                clamp64(group_sum[g], st->groups[g].floor, st->groups[g].cap);

    int64_t fit = clamp64(dim_sum[LP_DIM_FIT], 0, 100);
    int64_t eng = clamp64(dim_sum[LP_DIM_ENGAGEMENT], 0, 100);
    int64_t total = clamp64(llround(st->fit_weight * (double)fit +
                                    st->engagement_weight * (double)eng), 0, 100);
    lp_lead_set_long(l, LP_F_SCORE_FIT, fit);
    lp_lead_set_long(l, LP_F_SCORE_ENGAGEMENT, eng);
    lp_lead_set_long(l, LP_F_SCORE_TOTAL, total);
    const char *grade = grade_for(st, total);
    lp_lead_set_str(l, LP_F_GRADE, grade, strlen(grade));
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
