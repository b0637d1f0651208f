/*
 * stage_nurture.c - enrolment into nurture sequences.
 *
 * A sequence has a condition, ordered steps (a template and a delay after
 * enrolment) and a send window (weekdays and hours at a UTC offset). A lead
 * is enrolled into the first sequence whose condition holds (or into every
 * one, with `enroll: all`), and gets one task per step. A task's send time
 * is the enrolment time plus the step's delay, moved forward to the next
 * moment inside the window. Enrolment time is the record's processing time,
 * which a batch run pins with --now, so replays agree.
 *
 * Threads: the compiled state is read-only.
 */
#include <stdlib.h>
#include <string.h>

#include "stage.h"

#define DAY_MS 86400000LL

typedef struct send_window {
    unsigned days;     /* bit 0 = Monday ... bit 6 = Sunday */
    int64_t from_ms;   /* start of sending hours, local time of day */
    int64_t to_ms;     /* end of sending hours (exclusive) */
    int64_t offset_ms; /* local time = UTC + offset */
} send_window;

typedef struct nurture_step {
    const char *template_id;
    int64_t delay_ms;
    uint16_t template_len; /* lp_task.template_len: strlen, or 0 when too long */
} nurture_step;

typedef struct nurture_seq {
    const char *id;
    uint16_t id_len; /* lp_task.sequence_len: strlen, or 0 when too long */
    lp_expr *when;
    send_window window;
    nurture_step *steps;
    size_t nsteps;
} nurture_seq;

typedef struct nurture_state {
    bool enroll_all;
    nurture_seq *seqs;
    size_t nseqs;
} nurture_state;

static const char *const enroll_names[] = {"first", "all", NULL};

typedef struct nurture_section {
    int enroll;
    struct fy_node *window, *sequences;
} nurture_section;

static const lp_conf_prop nurture_props[] = {
    {"enroll", LP_CONF_ENUM, offsetof(nurture_section, enroll), "first",
     "Enrol a lead into the first matching sequence, or into all of them.", enroll_names, false},
    {"send_window", LP_CONF_NODE, offsetof(nurture_section, window), NULL,
     "Default send window: `{days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\", "
     "utc_offset: \"+00:00\"}` (this is also the default).",
     NULL, false},
    {"sequences", LP_CONF_NODE, offsetof(nurture_section, sequences), NULL,
     "Sequences: `id`, `when`, `steps: [{template, delay}]`, optional `send_window`. A step's "
     "delay counts from enrolment.",
     NULL, false},
    {NULL},
};

typedef struct window_section {
    struct fy_node *days;
    char *from, *to, *utc_offset;
} window_section;

static const lp_conf_prop window_props[] = {
    {"days", LP_CONF_NODE, offsetof(window_section, days), NULL, "Days tasks may be sent: a list of mon, tue, wed, thu, fri, sat, sun. Default mon-fri.", NULL, false},
    {"from", LP_CONF_STR, offsetof(window_section, from), "\"09:00\"", "Start of sending hours, local time (HH:MM).", NULL, false},
    {"to", LP_CONF_STR, offsetof(window_section, to), "\"17:00\"", "End of sending hours, local time (HH:MM), exclusive.", NULL, false},
    {"utc_offset", LP_CONF_STR, offsetof(window_section, utc_offset), "\"+00:00\"", "Local time as a UTC offset (+HH:MM, -HH:MM or UTC).",
     NULL, false},
    {NULL},
};

typedef struct seq_section {
    char *id;
    struct fy_node *when, *steps, *window;
} seq_section;

static const lp_conf_prop seq_props[] = {
    {"id", LP_CONF_STR, offsetof(seq_section, id), NULL, "Sequence id, carried by its tasks and their idempotency keys.", NULL, true},
    {"when", LP_CONF_EXPR, offsetof(seq_section, when), NULL, "Condition (rule expression) for enrolment.", NULL, true},
    {"steps", LP_CONF_NODE, offsetof(seq_section, steps), NULL, "The steps, in order (see below).", NULL, true},
    {"send_window", LP_CONF_NODE, offsetof(seq_section, window), NULL, "Send window for this sequence; default: the section's `send_window`.", NULL, false},
    {NULL},
};

typedef struct step_section {
    char *template_id;
    int64_t delay_ms;
} step_section;

static const lp_conf_prop step_props[] = {
    {"template", LP_CONF_STR, offsetof(step_section, template_id), NULL, "Template the task sends.", NULL,
     true},
    {"delay", LP_CONF_DURATION, offsetof(step_section, delay_ms), "0s", "Delay after enrolment.",
     NULL, false},
    {NULL},
};

/* Parses "HH:MM" into milliseconds after midnight. */
static bool parse_clock(const char *s, int64_t *ms)
{
    int h, m;
    char tail;
    if (sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 24 || m < 0 || m > 59 ||
        (h == 24 && m != 0))
        return false;
    *ms = ((int64_t)h * 60 + m) * 60000;
    return true;
}

/* Parses "+HH:MM", "-HH:MM", "Z" or "UTC" into milliseconds. */
static bool parse_offset(const char *s, int64_t *ms)
{
    if (!strcmp(s, "Z") || !strcmp(s, "UTC")) {
        *ms = 0;
        return true;
    }
    int h, m;
    char sign, tail;
    if (sscanf(s, "%c%2d:%2d%c", &sign, &h, &m, &tail) != 3 || (sign != '+' && sign != '-') ||
        h > 14 || m > 59)
        return false;
    *ms = (sign == '-' ? -1 : 1) * ((int64_t)h * 60 + m) * 60000;
    return true;
}

static unsigned parse_days(lp_stage_ctx *ctx, struct fy_node *n)
{
    static const char *const names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    if (!n)
        return 0x1f;
    if (!fy_node_is_sequence(n)) {
        lp_diag_node(ctx->diag, n, "'days' is a list such as [mon, tue, wed, thu, fri]");
        return 0x1f;
    }
    unsigned mask = 0;
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it))) {
        size_t len;
        const char *s = lp_conf_scalar(item, &len);
        int d = 0;
        while (d < 7 && !(s && len == 3 && !strncasecmp(s, names[d], 3)))
            d++;
        if (d == 7)
            lp_diag_node(ctx->diag, item, "unknown weekday (use mon, tue, ... sun)");
        else
            mask |= 1u << d;
    }
    if (!mask)
        lp_diag_node(ctx->diag, n, "a send window needs at least one day");
    return mask ? mask : 0x1f;
}

static void compile_window(lp_stage_ctx *ctx, struct fy_node *n, send_window *w)
{
    window_section ws;
    if (lp_conf_apply(ctx->diag, ctx->mem, n, window_props, &ws))
        return;
    w->days = parse_days(ctx, ws.days);
    if (!parse_clock(ws.from, &w->from_ms))
        lp_diag_node(ctx->diag, lp_conf_get(n, "from"), "'%s' is not a time (HH:MM)", ws.from);
    if (!parse_clock(ws.to, &w->to_ms))
        lp_diag_node(ctx->diag, lp_conf_get(n, "to"), "'%s' is not a time (HH:MM)", ws.to);
    else if (w->to_ms <= w->from_ms)
        lp_diag_node(ctx->diag, lp_conf_get(n, "to"), "the window ends before it starts");
    if (!parse_offset(ws.utc_offset, &w->offset_ms))
        lp_diag_node(ctx->diag, lp_conf_get(n, "utc_offset"),
                     "'%s' is not a UTC offset (+HH:MM)", ws.utc_offset);
}

/* The length an lp_task carries for name s: strlen, or 0 (unknown) when it does not fit. */
static uint16_t task_len(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n <= UINT16_MAX ? (uint16_t)n : 0;
}

static void compile_steps(lp_stage_ctx *ctx, nurture_seq *seq, struct fy_node *n)
{
    if (!fy_node_is_sequence(n) || fy_node_sequence_item_count(n) == 0) {
        lp_diag_node(ctx->diag, n, "'steps' is a non-empty list of {template, delay}");
        return;
    }
    seq->steps = lp_arena_alloc(ctx->mem,
                                (size_t)fy_node_sequence_item_count(n) * sizeof(nurture_step));
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it))) {
        step_section ss;
        if (!lp_conf_apply(ctx->diag, ctx->mem, item, step_props, &ss))
            seq->steps[seq->nsteps++] =
                (nurture_step){ss.template_id, ss.delay_ms, task_len(ss.template_id)};
    }
}

static void compile_sequence(lp_stage_ctx *ctx, nurture_state *st, const send_window *dflt,
                             struct fy_node *n)
{
    seq_section ss;
    if (lp_conf_apply(ctx->diag, ctx->mem, n, seq_props, &ss))
        return;
    nurture_seq *seq = &st->seqs[st->nseqs++];
    memset(seq, 0, sizeof(*seq));
    seq->id = ss.id;
    seq->id_len = task_len(ss.id);
    seq->when = lp_stage_expr(ctx, ss.when);
    seq->window = *dflt;
    if (ss.window)
        compile_window(ctx, ss.window, &seq->window);
    compile_steps(ctx, seq, ss.steps);
}

static void *nurture_compile(lp_stage_ctx *ctx, struct fy_node *section)
{
    nurture_state *st = lp_arena_alloc(ctx->mem, sizeof(*st));
    memset(st, 0, sizeof(*st));
    nurture_section ns;
    lp_conf_apply(ctx->diag, ctx->mem, section, nurture_props, &ns);
    st->enroll_all = ns.enroll == 1;
    send_window dflt;
    compile_window(ctx, ns.window, &dflt);
    if (!ns.sequences)
        return st;
    if (!fy_node_is_sequence(ns.sequences)) {
        lp_diag_node(ctx->diag, ns.sequences, "'sequences' is a list");
        return st;
    }
    st->seqs = lp_arena_alloc(
        ctx->mem, (size_t)fy_node_sequence_item_count(ns.sequences) * sizeof(nurture_seq));
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(ns.sequences, &it)))
        compile_sequence(ctx, st, &dflt, item);
    return st;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The first moment at or after t_ms (UTC) that lies inside the window. */
static int64_t window_next(const send_window *w, int64_t t_ms)
{
    int64_t local = t_ms + w->offset_ms;
    for (int i = 0; i < 8; i++) {
        int64_t day = floor_div(local, DAY_MS);
        int64_t tod = local - day * DAY_MS;
        int dow = (int)((day % 7 + 7 + 3) % 7); /* 1970-01-01 was a Thursday */
        if (w->days & (1u << dow)) {
            if (tod < w->from_ms)
                return day * DAY_MS + w->from_ms - w->offset_ms;
            if (tod < w->to_ms)
                return local - w->offset_ms;
        }
        local = (day + 1) * DAY_MS;
    }
    return t_ms;
}

static size_t enrol(const nurture_seq *seq, int64_t now, lp_task *tasks)
{
    for (size_t s = 0; s < seq->nsteps; s++)
        tasks[s] = (lp_task){seq->id, seq->steps[s].template_id, (uint16_t)(s + 1),
                             window_next(&seq->window, now + seq->steps[s].delay_ms),
                             seq->id_len, seq->steps[s].template_len};
    return seq->nsteps;
}

static lp_step nurture_run(const void *state, lp_worker *w, lp_record *r)
{
    const nurture_state *st = state;
    size_t need = 0;
    const nurture_seq *chosen[64];
    size_t nchosen = 0;
    for (size_t i = 0; i < st->nseqs && nchosen < 64; i++) {
        if (!lp_expr_eval(st->seqs[i].when, &r->lead, w->scratch))
            continue;
        chosen[nchosen++] = &st->seqs[i];
        need += st->seqs[i].nsteps;
        if (!st->enroll_all)
            break;
    }
    r->ntasks = 0;
    r->tasks = NULL;
    if (!need)
        return LP_STEP_NEXT;
    r->tasks = lp_arena_alloc(&w->arena, need * sizeof(lp_task));
    if (!r->tasks) {
        lp_record_reject(r, LP_STAGE_NURTURE, LP_E_NOMEM, NULL);
        return LP_STEP_DONE;
    }
    for (size_t i = 0; i < nchosen; i++)
        r->ntasks += (uint16_t)enrol(chosen[i], r->processed_at_ms, r->tasks + r->ntasks);
    return LP_STEP_NEXT;
}

static void nurture_free(void *state)
{
    (void)state;
}

static const lp_conf_section nurture_subs[] = {
    {"nurture.sequences[]", "One nurture sequence.", seq_props},
    {"nurture.sequences[].steps[]", "One step: a template sent after a delay counted from enrolment.", step_props},
    {"nurture.send_window", "When tasks may be sent: weekdays and hours at a UTC offset.", window_props},
};

const lp_stage_def lp_stage_nurture = {
    .id = LP_STAGE_NURTURE,
    .section = "nurture",
    .doc = "Enrols leads into nurture sequences. Each step becomes a task with a template, a "
           "send time inside the send window, and an idempotency key "
           "(lead id, sequence, step).",
    .props = nurture_props,
    .subs = nurture_subs,
    .nsubs = sizeof(nurture_subs) / sizeof(nurture_subs[0]),
    .compile = nurture_compile,
    .run = nurture_run,
    .free = nurture_free,
    .keeps_strings = true, /* the chain keeps the rule memo across it */
};
