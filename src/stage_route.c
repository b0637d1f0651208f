/*
 * stage_route.c - ordered, first-match routing to an owner, team or queue.
 *
 * Rules are tried in file order; the first whose condition holds and that
 * can take the lead wins. A rule names an owner, a team or a queue, and may
 * carry an `assign` list: owners picked by weighted round-robin. The pick is
 * a hash of the lead id, not a counter, so a replay or another instance in
 * the consumer group makes the same choice. An owner with a daily
 * `capacity` who is full passes the lead to the next owner of the list; a
 * rule whose owners are all full is skipped. No match: the `default`.
 *
 * Threads: rules are read-only; capacity counters are shared by all workers
 * and guarded by one mutex, taken only for owners that have a capacity.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "stage.h"

typedef struct route_member {
    const char *owner;
    int64_t weight;
    int64_t capacity; /* leads per UTC day; 0: unlimited */
    int64_t day;      /* guarded by route_state.lock */
    int64_t count;    /* guarded by route_state.lock */
} route_member;

typedef struct route_target {
    const char *kind; /* "owner", "team" or "queue" */
    const char *name;
} route_target;

typedef struct route_rule {
    const char *name;
    lp_expr *when;
    route_target target;
    route_member *members;
    size_t nmembers;
    int64_t total_weight;
} route_rule;

typedef struct route_state {
    route_rule *rules;
    size_t nrules;
    route_target fallback;
    pthread_mutex_t lock;
} route_state;

typedef struct route_section {
    struct fy_node *rules, *fallback;
} route_section;

static const lp_conf_prop route_props[] = {
    {"rules", LP_CONF_NODE, offsetof(route_section, rules), NULL,
     "Ordered rules: `name`, `when`, one of `owner`/`team`/`queue`, optional `assign` list of "
     "`{owner, weight, capacity}` for weighted round-robin by lead id hash.",
     NULL, false},
    {"default", LP_CONF_NODE, offsetof(route_section, fallback), NULL,
     "Where leads go when no rule matches: `{owner|team|queue: NAME}`. Default "
     "`{queue: unassigned}`.",
     NULL, false},
    {NULL},
};

typedef struct rule_section {
    char *name;
    struct fy_node *when;
    char *owner, *team, *queue;
    struct fy_node *assign;
} rule_section;

static const lp_conf_prop rule_props[] = {
    {"name", LP_CONF_STR, offsetof(rule_section, name), NULL, "Rule name, shown in outcomes.", NULL, true},
    {"when", LP_CONF_EXPR, offsetof(rule_section, when), NULL, "Condition (rule expression).", NULL, true},
    {"owner", LP_CONF_STR, offsetof(rule_section, owner), NULL, "Route to this owner.", NULL, false},
    {"team", LP_CONF_STR, offsetof(rule_section, team), NULL, "Route to this team (or label the `assign` list).", NULL, false},
    {"queue", LP_CONF_STR, offsetof(rule_section, queue), NULL, "Route to this queue.", NULL, false},
    {"assign", LP_CONF_NODE, offsetof(rule_section, assign), NULL, "Owners picked by weighted round-robin (see below); full owners are skipped.", NULL,
     false},
    {NULL},
};

typedef struct member_section {
    char *owner;
    int64_t weight, capacity;
} member_section;

static const lp_conf_prop member_props[] = {
    {"owner", LP_CONF_STR, offsetof(member_section, owner), NULL, "Owner name or email.", NULL, true},
    {"weight", LP_CONF_INT, offsetof(member_section, weight), "1", "Relative share of the rule's leads.", NULL,
     false},
    {"capacity", LP_CONF_INT, offsetof(member_section, capacity), "0",
     "Most leads per UTC day (0: unlimited).", NULL, false},
    {NULL},
};

static bool pick_target(lp_stage_ctx *ctx, struct fy_node *n, const char *owner,
                        const char *team, const char *queue, bool optional, route_target *t)
{
    int named = !!owner + !!team + !!queue;
    if (named > 1 || (named == 0 && !optional)) {
        lp_diag_node(ctx->diag, n, "name exactly one of owner, team or queue");
        return false;
    }
    *t = owner ? (route_target){"owner", owner} : team ? (route_target){"team", team}
                                                       : (route_target){"queue", queue};
    return named == 1;
}

static void compile_members(lp_stage_ctx *ctx, route_rule *rule, struct fy_node *n)
{
    if (!fy_node_is_sequence(n) || fy_node_sequence_item_count(n) == 0) {
        lp_diag_node(ctx->diag, n, "'assign' is a non-empty list of {owner, weight, capacity}");
        return;
    }
    rule->members = lp_arena_alloc(ctx->mem,
                                   (size_t)fy_node_sequence_item_count(n) * sizeof(route_member));
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it))) {
        member_section ms;
        if (lp_conf_apply(ctx->diag, ctx->mem, item, member_props, &ms))
            continue;
        if (ms.weight <= 0 || ms.capacity < 0) {
            lp_diag_node(ctx->diag, item, "weight must be positive and capacity not negative");
            continue;
        }
        rule->members[rule->nmembers++] = (route_member){ms.owner, ms.weight, ms.capacity, -1, 0};
        rule->total_weight += ms.weight;
    }
}

static void compile_rule(lp_stage_ctx *ctx, route_state *st, struct fy_node *n)
{
    rule_section rs;
    if (lp_conf_apply(ctx->diag, ctx->mem, n, rule_props, &rs))
        return;
    route_rule *rule = &st->rules[st->nrules++];
    memset(rule, 0, sizeof(*rule));
    rule->name = rs.name;
    rule->when = lp_stage_expr(ctx, rs.when);
    bool named = pick_target(ctx, n, rs.owner, rs.team, rs.queue, rs.assign != NULL,
                             &rule->target);
    if (!named)
        rule->target = (route_target){"team", rs.name};
    if (rs.assign)
        compile_members(ctx, rule, rs.assign);
}

static void *route_compile(lp_stage_ctx *ctx, struct fy_node *section)
{
    route_state *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    pthread_mutex_init(&st->lock, NULL);
    route_section rs;
    lp_conf_apply(ctx->diag, ctx->mem, section, route_props, &rs);
    st->fallback = (route_target){"queue", "unassigned"};
    if (rs.fallback) {
        rule_section ds = {0};
        static const lp_conf_prop default_props[] = {
            {"owner", LP_CONF_STR, offsetof(rule_section, owner), NULL, "", NULL, false},
            {"team", LP_CONF_STR, offsetof(rule_section, team), NULL, "", NULL, false},
            {"queue", LP_CONF_STR, offsetof(rule_section, queue), NULL, "", NULL, false},
            {NULL},
        };
        if (!lp_conf_apply(ctx->diag, ctx->mem, rs.fallback, default_props, &ds))
            pick_target(ctx, rs.fallback, ds.owner, ds.team, ds.queue, false, &st->fallback);
    }
    if (rs.rules && !fy_node_is_sequence(rs.rules)) {
        lp_diag_node(ctx->diag, rs.rules, "'rules' is a list of routing rules");
        return st;
    }
    if (!rs.rules)
        return st;
    st->rules = lp_arena_alloc(ctx->mem,
                               (size_t)fy_node_sequence_item_count(rs.rules) * sizeof(route_rule));
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(rs.rules, &it)))
        compile_rule(ctx, st, item);
    return st;
}

/* Takes one unit of m's capacity for the day; false when m is full. */
static bool member_take(route_state *st, route_member *m, int64_t day)
{
    if (m->capacity == 0)
        return true;
    pthread_mutex_lock(&st->lock);
    if (m->day != day) {
        m->day = day;
        m->count = 0;
    }
    bool ok = m->count < m->capacity;
    if (ok)
        m->count++;
    pthread_mutex_unlock(&st->lock);
    return ok;
}

/* Weighted pick by lead id hash; walks on past full owners. NULL: all full. */
static const char *assign_owner(route_state *st, const route_rule *rule, const lp_record *r)
{
    lp_str id = lp_lead_str(&r->lead, LP_F_LEAD_ID);
    uint64_t h = XXH3_64bits(id.ptr, id.len) % (uint64_t)rule->total_weight;
    size_t first = 0;
    for (int64_t acc = 0; first < rule->nmembers; first++) {
        acc += rule->members[first].weight;
        if ((int64_t)h < acc)
            break;
    }
    int64_t day = r->processed_at_ms / 86400000;
    for (size_t k = 0; k < rule->nmembers; k++) {
        route_member *m = &rule->members[(first + k) % rule->nmembers];
        if (member_take(st, m, day))
            return m->owner;
    }
    return NULL;
}

static lp_step route_run(const void *state, lp_worker *w, lp_record *r)
{
    route_state *st = (route_state *)state; /* only the capacity counters change */
    for (size_t i = 0; i < st->nrules; i++) {
        const route_rule *rule = &st->rules[i];
        if (!lp_expr_eval(rule->when, &r->lead, w->scratch))
            continue;
        if (rule->nmembers) {
            const char *owner = assign_owner(st, rule, r);
            if (!owner)
                continue;
            r->owner = owner;
            r->owner_kind = "owner";
        } else {
            r->owner = rule->target.name;
            r->owner_kind = rule->target.kind;
        }
        r->route_rule = rule->name;
        return LP_STEP_NEXT;
    }
    r->owner = st->fallback.name;
    r->owner_kind = st->fallback.kind;
    r->route_rule = "default";
    return LP_STEP_NEXT;
}

static void route_free(void *state)
{
    route_state *st = state;
    if (!st)
        return;
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static const lp_conf_section route_subs[] = {
    {"route.rules[]", "One routing rule; name exactly one of owner, team or queue (a rule with `assign` may name none).", rule_props},
    {"route.rules[].assign[]", "An owner in a weighted round-robin; the pick is a hash of the lead id.", member_props},
};

const lp_stage_def lp_stage_route = {
    .id = LP_STAGE_ROUTE,
    .section = "route",
    .doc = "Ordered first-match routing. Territories (`country in $emea`), segments "
           "(`employee_count >= 1000`), weighted round-robin that is deterministic (a hash of "
           "the lead id), daily capacity caps per owner, and a default.",
    .props = route_props,
    .subs = route_subs,
    .nsubs = sizeof(route_subs) / sizeof(route_subs[0]),
    .compile = route_compile,
    .run = route_run,
    .free = route_free,
    .keeps_strings = true, /* the chain keeps the rule memo across it */
};
