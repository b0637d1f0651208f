/*
 * pipeline.c - loading a pipeline file and running records through it.
 *
 * Loading: the YAML document is parsed once (libfyaml), each top-level
 * section is handed to its owner (the general sections here, the stage
 * sections to their lp_stage_def), and every rule is compiled. Errors are
 * collected, never fatal on the first, so `leadpipe check` lists them all.
 *
 * The version is XXH3 of the document re-emitted as one-line JSON: comments
 * and formatting do not change it; any change in meaning does.
 *
 * Running: lp_pipeline_process() walks the stage table from r->next_stage.
 * Everything a stage needs was resolved at load time.
 *
 * The worker's rule memo (expr.h: set hashes and word starts of the lead's
 * strings) lives for one visit of one record: it is reset when
 * lp_pipeline_process() starts or resumes a record (the worker's arena may
 * hold another lead's strings at the same addresses) and after each stage
 * that may rewrite strings (validate, dedupe, enrich, llm: those not marked
 * keeps_strings). So score, qualify, route and nurture hash email_domain or
 * country once between them, and a rewritten string is never answered from
 * the memo.
 */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "conf.h"
#include "kafka_conf.h"
#include "stage.h"
#include "strset.h"

/* The chain, indexed by lp_stage_id. */
static const lp_stage_def *const lp_chain[LP_STAGE_COUNT] = {
    [LP_STAGE_VALIDATE] = &lp_stage_validate,
    [LP_STAGE_DEDUPE] = &lp_stage_dedupe,
    [LP_STAGE_ENRICH] = &lp_stage_enrich,
    [LP_STAGE_SCORE] = &lp_stage_score,
    [LP_STAGE_QUALIFY] = &lp_stage_qualify,
    [LP_STAGE_LLM] = &lp_stage_llm,
    [LP_STAGE_ROUTE] = &lp_stage_route,
    [LP_STAGE_NURTURE] = &lp_stage_nurture,
};

typedef struct lp_named_set {
    const char *name;
    lp_strset *set;
} lp_named_set;

typedef struct lp_pipeline_meta {
    char *name;
    char *description;
} lp_pipeline_meta;

struct lp_pipeline {
    lp_arena mem; /* every string and table that lives as long as the pipeline */
    lp_pipeline_meta meta;
    char version[17];
    lp_topics topics;
    lp_input_conf input;
    lp_kafka_conf kafka;
    lp_named_set *sets;
    size_t nsets;
    void *state[LP_STAGE_COUNT]; /* compiled state of each stage */
    bool has[LP_STAGE_COUNT];    /* the stage does something in this pipeline */
    lp_stage_ctx ctx;            /* owns the compiled expressions */
    lp_expr_pool *pool;          /* what the expressions share; freed after them */
};

static const lp_conf_prop pipeline_props[] = {
    {"name", LP_CONF_STR, offsetof(lp_pipeline_meta, name), NULL,
     "Name of the pipeline; carried by every outcome record.", NULL, true},
    {"description", LP_CONF_STR, offsetof(lp_pipeline_meta, description), "\"\"",
     "Free text for humans.", NULL, false},
    {NULL},
};

static const lp_conf_prop topics_props[] = {
    {"input", LP_CONF_STR, offsetof(lp_topics, input), "leads.raw",
     "Topic of raw lead records (Avro).", NULL, false},
    {"routed", LP_CONF_STR, offsetof(lp_topics, routed), "leads.routed",
     "Topic of outcome records (routed, nurture, disqualified and duplicate leads).", NULL,
     false},
    {"nurture", LP_CONF_STR, offsetof(lp_topics, nurture), "leads.nurture",
     "Topic of nurture tasks.", NULL, false},
    {"rejected", LP_CONF_STR, offsetof(lp_topics, rejected), "leads.rejected",
     "Topic of rejected records, with the original bytes and the reason.", NULL, false},
    {NULL},
};

typedef struct input_section {
    int64_t max_field_bytes;
    int64_t max_row_bytes;
    struct fy_node *columns;
} input_section;

static const lp_conf_prop input_props[] = {
    {"max_field_bytes", LP_CONF_INT, offsetof(input_section, max_field_bytes), "8192",
     "A row with a longer field is rejected (LP_E_FIELD_TOO_LONG).", NULL, false},
    {"max_row_bytes", LP_CONF_INT, offsetof(input_section, max_row_bytes), "1048576",
     "A row longer than this is rejected (LP_E_ROW_TOO_LONG); also bounds an unterminated quote.",
     NULL, false},
    {"columns", LP_CONF_NODE, offsetof(input_section, columns), NULL,
     "Extra CSV/JSONL header mappings, `\"Header as written\": field_name` (or `custom`). "
     "Apollo, HubSpot and Salesforce headers are known without this.",
     NULL, false},
    {NULL},
};

static const lp_conf_prop sets_doc_props[] = {
    {"NAME", LP_CONF_NODE, 0, NULL,
     "A list of strings, or `{file: path}` with one string per line (relative to the pipeline "
     "file). Rules refer to it as `$NAME`; membership ignores ASCII case.",
     NULL, false},
    {NULL},
};

static const char *const top_keys[] = {"pipeline", "input", "topics", "sets", "kafka", NULL};

static const lp_strset *lookup_set(void *ctx, const char *name, size_t len)
{
    const lp_pipeline *pl = ctx;
    for (size_t i = 0; i < pl->nsets; i++)
        if (strlen(pl->sets[i].name) == len && !memcmp(pl->sets[i].name, name, len))
            return pl->sets[i].set;
    return NULL;
}

lp_expr *lp_stage_expr(lp_stage_ctx *ctx, struct fy_node *n)
{
    size_t len;
    const char *src = lp_conf_scalar(n, &len);
    if (!src) {
        lp_diag_node(ctx->diag, n, "expected a rule expression (a string)");
        return NULL;
    }
    lp_expr *e = NULL;
    lp_expr_error err;
    if (lp_expr_compile(src, len, ctx->env, &e, &err) != LP_OK) {
        lp_diag_node_offset(ctx->diag, n, err.offset, "%s", err.msg);
        return NULL;
    }
    if (ctx->nexprs == ctx->cap_exprs) {
        size_t cap = ctx->cap_exprs ? ctx->cap_exprs * 2 : 32;
        lp_expr **p = realloc(ctx->exprs, cap * sizeof(*p));
        if (!p) {
            lp_expr_free(e);
            lp_diag_node(ctx->diag, n, "out of memory");
            return NULL;
        }
        ctx->exprs = p;
        ctx->cap_exprs = cap;
    }
    ctx->exprs[ctx->nexprs++] = e;
    return e;
}

const char *lp_stage_rule_name(lp_stage_ctx *ctx, struct fy_node *rule)
{
    char *name = NULL;
    struct fy_node *n = lp_conf_get(rule, "name");
    if (!n) {
        lp_diag_node(ctx->diag, rule, "rule has no 'name'");
        return NULL;
    }
    return lp_conf_str(ctx->diag, ctx->mem, n, &name) ? name : NULL;
}

/* Reads one set: an inline list, or {file: path} relative to the pipeline file. */
static lp_strset *load_set(lp_diag *d, const char *pipeline_path, struct fy_node *n)
{
    lp_strset *set = lp_strset_new();
    if (!set)
        return NULL;
    if (fy_node_is_sequence(n)) {
        void *it = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(n, &it))) {
            size_t len;
            const char *s = lp_conf_scalar(item, &len);
            if (!s)
                lp_diag_node(d, item, "set members must be strings");
            else
                lp_strset_add(set, s, len);
        }
        return set;
    }
    struct fy_node *file = lp_conf_get(n, "file");
    size_t len;
    const char *rel = lp_conf_scalar(file, &len);
    if (!rel) {
        lp_diag_node(d, n, "a set is a list of strings or {file: path}");
        return set;
    }
    char path[4096];
    const char *slash = strrchr(pipeline_path, '/');
    int dirlen = (rel[0] == '/' || !slash) ? 0 : (int)(slash - pipeline_path + 1);
    snprintf(path, sizeof(path), "%.*s%.*s", dirlen, pipeline_path, (int)len, rel);
    FILE *f = fopen(path, "r");
    if (!f) {
        lp_diag_node(d, file, "cannot open set file %s", path);
        return set;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        size_t l = strcspn(line, "\r\n");
        if (l && line[0] != '#')
            lp_strset_add(set, line, l);
    }
    fclose(f);
    return set;
}

static void load_sets(lp_pipeline *pl, lp_diag *d, const char *path, struct fy_node *n)
{
    if (!n)
        return;
    if (!fy_node_is_mapping(n)) {
        lp_diag_node(d, n, "'sets' is a mapping of set names to lists");
        return;
    }
    int count = fy_node_mapping_item_count(n);
    pl->sets = lp_arena_alloc(&pl->mem, (size_t)count * sizeof(*pl->sets));
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        char *name = NULL;
        if (!lp_conf_str(d, &pl->mem, fy_node_pair_key(pair), &name))
            continue;
        pl->sets[pl->nsets].name = name;
        pl->sets[pl->nsets].set = load_set(d, path, fy_node_pair_value(pair));
        pl->nsets++;
    }
}

static void load_columns(lp_pipeline *pl, lp_diag *d, struct fy_node *n)
{
    if (!n)
        return;
    if (!fy_node_is_mapping(n)) {
        lp_diag_node(d, n, "'columns' maps header names to field names");
        return;
    }
    int count = fy_node_mapping_item_count(n);
    pl->input.columns = lp_arena_alloc(&pl->mem, (size_t)count * sizeof(lp_column_map));
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        char *header = NULL;
        size_t len;
        struct fy_node *v = fy_node_pair_value(pair);
        const char *field = lp_conf_scalar(v, &len);
        if (!lp_conf_str(d, &pl->mem, fy_node_pair_key(pair), &header))
            continue;
        int f = -1;
        if (!field || !(len == 6 && !memcmp(field, "custom", 6))) {
            f = field ? lp_field_lookup(field, len) : -1;
            if (f < 0 || !(lp_fields[f].flags & LP_FF_INPUT)) {
                lp_diag_node(d, v, "unknown input field '%.*s'", field ? (int)len : 0,
                             field ? field : "");
                continue;
            }
        }
        pl->input.columns[pl->input.ncolumns++] = (lp_column_map){header, f};
    }
}

static bool is_known_top_key(const char *k, size_t len)
{
    for (int i = 0; top_keys[i]; i++)
        if (strlen(top_keys[i]) == len && !memcmp(top_keys[i], k, len))
            return true;
    for (int s = 0; s < LP_STAGE_COUNT; s++)
        if (lp_chain[s] && strlen(lp_chain[s]->section) == len &&
            !memcmp(lp_chain[s]->section, k, len))
            return true;
    return false;
}

static void check_top_keys(lp_diag *d, struct fy_node *root)
{
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(root, &it))) {
        size_t len;
        const char *k = lp_conf_scalar(fy_node_pair_key(pair), &len);
        if (!k || !is_known_top_key(k, len))
            lp_diag_node(d, fy_node_pair_key(pair),
                         "unknown section '%.*s' (expected pipeline, input, topics, sets, "
                         "kafka, validate, dedupe, enrich, score, qualify, llm, route or "
                         "nurture)",
                         k ? (int)len : 0, k ? k : "");
    }
}

static void compute_version(lp_pipeline *pl, struct fy_document *doc)
{
    char *json = fy_emit_document_to_string(doc, FYECF_MODE_JSON_ONELINE | FYECF_NO_ENDING_NEWLINE);
    uint64_t h = json ? XXH3_64bits(json, strlen(json)) : 0;
    free(json);
    snprintf(pl->version, sizeof(pl->version), "%016llx", (unsigned long long)h);
}

static void compile_sections(lp_pipeline *pl, lp_diag *d, const char *path, struct fy_node *root)
{
    check_top_keys(d, root);
    lp_conf_apply(d, &pl->mem, lp_conf_get(root, "pipeline"), pipeline_props, &pl->meta);
    if (!lp_conf_get(root, "pipeline"))
        lp_diag_node(d, root, "missing required section 'pipeline' (with at least a name)");
    lp_conf_apply(d, &pl->mem, lp_conf_get(root, "topics"), topics_props, &pl->topics);
    input_section in;
    lp_conf_apply(d, &pl->mem, lp_conf_get(root, "input"), input_props, &in);
    pl->input.max_field_bytes = in.max_field_bytes;
    pl->input.max_row_bytes = in.max_row_bytes;
    load_columns(pl, d, in.columns);
    load_sets(pl, d, path, lp_conf_get(root, "sets"));
    lp_kafka_conf_load(d, &pl->mem, lp_conf_get(root, "kafka"), &pl->kafka);
    pl->ctx.root = root;
    for (int s = 0; s < LP_STAGE_COUNT; s++) {
        const lp_stage_def *def = lp_chain[s];
        if (!def)
            continue;
        struct fy_node *section = lp_conf_get(root, def->section);
        pl->state[s] = def->compile(&pl->ctx, section);
        pl->has[s] = section || !def->optional;
    }
}

lp_err_t lp_pipeline_load(const char *path, FILE *errs, lp_pipeline **out, int *nerrors)
{
    lp_diag d = {.file = path, .out = errs, .errors = 0};
    *nerrors = 0;
    FILE *probe = fopen(path, "r");
    if (!probe) {
        fprintf(errs, "%s: cannot open pipeline file\n", path);
        *nerrors = 1;
        return LP_E_IO;
    }
    fclose(probe);
    struct fy_parse_cfg cfg = {.flags = FYPCF_DEFAULT_VERSION_AUTO};
    struct fy_document *doc = fy_document_build_from_file(&cfg, path);
    if (!doc || !fy_document_root(doc) || !fy_node_is_mapping(fy_document_root(doc))) {
        if (doc)
            lp_diag_node(&d, NULL, "a pipeline file is a YAML mapping of sections");
        else
            d.errors++; /* libfyaml has printed file:line:col already */
        fy_document_destroy(doc);
        *nerrors = d.errors;
        return LP_E_CONFIG;
    }
    lp_pipeline *pl = calloc(1, sizeof(*pl));
    if (!pl) {
        fy_document_destroy(doc);
        return LP_E_NOMEM;
    }
    lp_arena_init(&pl->mem, 0);
    pl->pool = lp_expr_pool_new(); /* without one (no memory), rules match on their own */
    lp_expr_env env = {lookup_set, pl, pl->pool};
    pl->ctx.diag = &d;
    pl->ctx.mem = &pl->mem;
    pl->ctx.env = &env;
    compile_sections(pl, &d, path, fy_document_root(doc));
    compute_version(pl, doc);
    pl->ctx.env = NULL;
    pl->ctx.diag = NULL;
    pl->ctx.root = NULL;
    fy_document_destroy(doc);
    *nerrors = d.errors;
    if (d.errors) {
        lp_pipeline_free(pl);
        return LP_E_CONFIG;
    }
    *out = pl;
    return LP_OK;
}

void lp_pipeline_free(lp_pipeline *pl)
{
    if (!pl)
        return;
    for (int s = 0; s < LP_STAGE_COUNT; s++)
        if (lp_chain[s] && pl->state[s])
            lp_chain[s]->free(pl->state[s]);
    for (size_t i = 0; i < pl->ctx.nexprs; i++)
        lp_expr_free(pl->ctx.exprs[i]);
    free(pl->ctx.exprs);
    lp_expr_pool_free(pl->pool);
    for (size_t i = 0; i < pl->nsets; i++)
        lp_strset_free(pl->sets[i].set);
    lp_arena_free(&pl->mem);
    free(pl);
}

const char *lp_pipeline_name(const lp_pipeline *pl)
{
    return pl->meta.name;
}

const char *lp_pipeline_version(const lp_pipeline *pl)
{
    return pl->version;
}

size_t lp_pipeline_rules(const lp_pipeline *pl)
{
    return pl->ctx.nexprs;
}

const lp_topics *lp_pipeline_topics(const lp_pipeline *pl)
{
    return &pl->topics;
}

const lp_input_conf *lp_pipeline_input(const lp_pipeline *pl)
{
    return &pl->input;
}

const lp_kafka_conf *lp_pipeline_kafka(const lp_pipeline *pl)
{
    return &pl->kafka;
}

static const char doc_preamble[] =
    "# Pipeline configuration reference\n\n"
    "<!-- Generated by `leadpipe check --doc` from the property tables in src/. Do not edit: "
    "CI fails when this file and the code disagree. -->\n\n"
    "A pipeline file is YAML. Its top-level sections are listed below; unknown keys anywhere "
    "are errors, reported as `file:line:col: message` by `leadpipe check`. Strings may use "
    "`${ENV_VAR}`, which is read from the environment when the pipeline loads, so secrets "
    "never sit in the file. Durations are written `500ms`, `30s`, `15m`, `12h`, `30d` or `2w`."
    "\n\n`pipelines/default.yaml` is a complete, commented example.\n\n"
    "## Rule expressions\n\n"
    "Every `when:` is an expression over lead fields, compiled when the pipeline loads "
    "(field names become slots, lists become hash sets, regexes are JIT-compiled):\n\n"
    "| form | meaning |\n|---|---|\n"
    "| `field == \"x\"`, `!=`, `<`, `<=`, `>`, `>=` | comparison; strings compare ignoring "
    "ASCII case |\n"
    "| `field in [\"a\", \"b\"]`, `field not in $set` | membership in a literal list or a "
    "named set |\n"
    "| `field between 10 and 50` | inclusive numeric range |\n"
    "| `field ~ /regex/i` | PCRE2 match; `i` ignores case |\n"
    "| `field contains \"x\"` | substring, ignoring ASCII case |\n"
    "| `has(field)` | the field is present |\n"
    "| `a and b`, `a or b`, `not a`, `( )` | logic; `and` binds tighter than `or` |\n\n"
    "A comparison on a missing field is false. On the list field `technologies`, a test is "
    "true when any item passes. Timestamps compare with ISO dates (`received_at >= "
    "\"2026-01-01\"`).\n\n"
    "Fields: lead_id, source, received_at, email, first_name, last_name, title, seniority, "
    "department, phone, linkedin_url, company_name, company_domain, website, industry, "
    "employee_count, annual_revenue, country, region, city, technologies, page_views, "
    "email_opens, email_clicks, form_fills, last_activity_at, campaign, utm_source, "
    "utm_medium, utm_campaign, consent_marketing, opted_out; and, computed by the stages: "
    "email_domain, days_since_activity, score.fit, score.engagement, score.total, "
    "score.grade, qualification, disposition.\n\n";

void lp_pipeline_doc(FILE *f)
{
    lp_conf_section sections[] = {
        {"pipeline", "Identifies the pipeline. Required.", pipeline_props},
        {"topics", "Kafka topics used by `leadpipe run` and `leadpipe import`.", topics_props},
        {"input", "How CSV, JSONL and Avro files are read by `batch` and `import`.", input_props},
        {"sets", "Named string sets for rules (`email_domain in $free_mail`).", sets_doc_props},
        {"kafka", lp_kafka_section_doc, lp_kafka_props},
    };
    fputs(doc_preamble, f);
    lp_conf_doc(f, sections, sizeof(sections) / sizeof(sections[0]));
    for (int s = 0; s < LP_STAGE_COUNT; s++) {
        const lp_stage_def *def = lp_chain[s];
        if (!def)
            continue;
        lp_conf_section main = {def->section, def->doc, def->props};
        lp_conf_doc(f, &main, 1);
        lp_conf_doc(f, def->subs, def->nsubs);
    }
}

void lp_pipeline_report(const lp_pipeline *pl, FILE *f)
{
    for (int s = 0; s < LP_STAGE_COUNT; s++)
        if (lp_chain[s] && lp_chain[s]->report && pl->state[s])
            lp_chain[s]->report(pl->state[s], f);
}

lp_worker *lp_worker_new(const lp_pipeline *pl)
{
    lp_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->pl = pl;
    w->scratch = lp_expr_scratch_new();
    if (!w->scratch) {
        free(w);
        return NULL;
    }
    lp_arena_init(&w->arena, 1 << 20);
    return w;
}

void lp_worker_free(lp_worker *w)
{
    if (!w)
        return;
    lp_expr_scratch_free(w->scratch);
    lp_arena_free(&w->arena);
    free(w);
}

lp_arena *lp_worker_arena(lp_worker *w)
{
    return &w->arena;
}

void lp_pipeline_submit(const lp_pipeline *pl, lp_parked *p, lp_park_queue *q)
{
    lp_stage_id s = (lp_stage_id)p->rec.next_stage;
    if ((unsigned)s < LP_STAGE_COUNT && lp_chain[s] && lp_chain[s]->submit) {
        lp_chain[s]->submit(pl->state[s], p, q);
        return;
    }
    /* a stage that cannot park has parked: answer at once, degraded */
    p->rec.park_status = LP_E_INTERNAL;
    lp_park_queue_push(q, p);
}

bool lp_pipeline_has_stage(const lp_pipeline *pl, lp_stage_id s)
{
    return (unsigned)s < LP_STAGE_COUNT && lp_chain[s] && pl->has[s];
}

bool lp_pipeline_run_stage(const lp_pipeline *pl, lp_worker *w, lp_record *r, lp_stage_id s)
{
    if ((unsigned)s >= LP_STAGE_COUNT || !lp_chain[s])
        return false;
    lp_expr_scratch_reset(w->scratch); /* the record may be new to this worker */
    lp_chain[s]->run(pl->state[s], w, r);
    return true;
}

lp_err_t lp_pipeline_process(const lp_pipeline *pl, lp_worker *w, lp_record *r)
{
    if (r->err != LP_OK) /* rejected by the reader or decoder */
        return LP_OK;
    if (r->next_stage < LP_STAGE_VALIDATE)
        r->next_stage = LP_STAGE_VALIDATE;
    lp_expr_scratch_reset(w->scratch); /* a new record, or one resumed after others */
    while (r->next_stage < LP_STAGE_DONE) {
        lp_stage_id s = (lp_stage_id)r->next_stage++;
        if (!lp_chain[s])
            continue;
        lp_step step = lp_chain[s]->run(pl->state[s], w, r);
        if (!lp_chain[s]->keeps_strings)
            lp_expr_scratch_reset(w->scratch); /* it may have rewritten a string */
        if (step == LP_STEP_PARK) {
            r->next_stage = (uint8_t)s; /* run the stage again with its answer */
            return LP_E_PARK;
        }
        if (step == LP_STEP_DONE)
            break;
    }
    r->next_stage = LP_STAGE_DONE;
    return LP_OK;
}
