/*
 * expr_compile.c - the compiler of the rule expression language (expr.h).
 *
 * Owns: lexing, parsing and type checking of rule source, and building the
 * node tree described in expr_node.h. A recursive-descent parser follows
 * the grammar in expr.h and emits nodes bottom-up into a growable array,
 * which lp_expr_plan (expr_plan.c) finally lowers into a single lp_expr
 * allocation.
 *
 * Work done here so that evaluation does none: field names become slots;
 * string literals are folded to lower case; literal lists become lp_strset
 * hash sets (a one-item list becomes a plain ==); numeric lists become a
 * chain of == (or != for "not in"); "contains" needles get a Horspool table;
 * regexes are compiled by PCRE2 with PCRE2_UTF (and PCRE2_CASELESS for /i)
 * and JIT-compiled when the platform allows, and those that are plain
 * alternations of literals also get a literal matcher (lp_expr_lits); ISO 8601 date strings compared
 * with timestamp fields become epoch milliseconds.
 *
 * Errors: the first error wins. It records the byte offset in the source of
 * the offending token (the opening '/' for a regex) and a message naming the
 * field, the operator or the token found, with a "did you mean" hint for
 * misspelt fields. Every owned resource of a half-built expression is
 * released before lp_expr_compile returns.
 *
 * Threads: compiling is single-threaded per call and touches no global state
 * (the $set lookup callback is called from the compiling thread only).
 */
#include "expr_node.h"
#include "fieldmap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_NODE UINT32_MAX
#define MAX_DEPTH 64 /* nesting of "(" and "not" */

/* ---- lexer ------------------------------------------------------------ */

enum tok_kind {
    TK_END,
    TK_IDENT,
    TK_STRING, /* span includes the quotes */
    TK_NUMBER,
    TK_SET, /* span includes the '$' */
    TK_LPAREN,
    TK_RPAREN,
    TK_LBRACK,
    TK_RBRACK,
    TK_COMMA,
    TK_EQ,
    TK_NE,
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
    TK_TILDE,
};

typedef struct token {
    enum tok_kind kind;
    bool is_int; /* TK_NUMBER without a decimal point */
    size_t off;
    size_t len;
} token;

typedef struct parser {
    const char *src;
    size_t len;
    size_t pos; /* just past tok */
    token tok;
    const lp_expr_env *env;
    lp_expr_error *err;
    bool failed;
    bool oom;
    int depth;
    uint64_t fields;
    lp_expr_node *nodes;
    uint32_t count, cap;
    char *sbuf; /* decoded string literal */
    size_t scap;
} parser;

/* Records the first error; returns NO_NODE so callers can return it. */
static uint32_t fail(parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static uint32_t fail(parser *p, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return NO_NODE;
    p->failed = true;
    p->err->offset = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    return NO_NODE;
}

static uint32_t fail_oom(parser *p)
{
    p->oom = true;
    return fail(p, p->tok.off, "out of memory");
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t skip_space(const parser *p, size_t i)
{
    while (i < p->len &&
           (p->src[i] == ' ' || p->src[i] == '\t' || p->src[i] == '\n' || p->src[i] == '\r'))
        i++;
    return i;
}

static size_t lex_string(parser *p, size_t i)
{
    for (size_t j = i + 1; j < p->len; j++) {
        if (p->src[j] == '\\')
            j++;
        else if (p->src[j] == '"')
            return j + 1;
    }
    fail(p, i, "unterminated string");
    return p->len;
}

static size_t lex_number(parser *p, size_t i, bool *is_int)
{
    size_t j = i + (p->src[i] == '-');
    *is_int = true;
    while (j < p->len && is_digit(p->src[j]))
        j++;
    if (j + 1 < p->len && p->src[j] == '.' && is_digit(p->src[j + 1])) {
        *is_int = false;
        for (j++; j < p->len && is_digit(p->src[j]);)
            j++;
    }
    if (j < p->len && is_ident_char(p->src[j])) {
        size_t k = j;
        while (k < p->len && is_ident_char(p->src[k]))
            k++;
        fail(p, i, "invalid number '%.*s'", (int)(k - i), p->src + i);
    }
    return j;
}

/* Two-character operators; returns the token kind or TK_END. */
static enum tok_kind lex_operator(const parser *p, size_t i, size_t *n)
{
    char c = p->src[i], d = i + 1 < p->len ? p->src[i + 1] : '\0';
    *n = 2;
    if (c == '=' && d == '=')
        return TK_EQ;
    if (c == '!' && d == '=')
        return TK_NE;
    if (c == '<' && d == '=')
        return TK_LE;
    if (c == '>' && d == '=')
        return TK_GE;
    *n = 1;
    switch (c) {
    case '<':
        return TK_LT;
    case '>':
        return TK_GT;
    case '~':
        return TK_TILDE;
    case '(':
        return TK_LPAREN;
    case ')':
        return TK_RPAREN;
    case '[':
        return TK_LBRACK;
    case ']':
        return TK_RBRACK;
    case ',':
        return TK_COMMA;
    default:
        return TK_END;
    }
}

/* Lexes the token that starts at or after p->pos into p->tok. */
static void lex_next(parser *p)
{
    size_t i = skip_space(p, p->pos), j;
    char c = i < p->len ? p->src[i] : '\0';
    token t = {TK_END, false, i, 0};

    if (i >= p->len || p->failed) {
        j = i;
    } else if (is_ident_start(c)) {
        for (j = i; j < p->len && is_ident_char(p->src[j]);)
            j++;
        t.kind = TK_IDENT;
    } else if (c == '"') {
        j = lex_string(p, i);
        t.kind = TK_STRING;
    } else if (is_digit(c) || (c == '-' && i + 1 < p->len && is_digit(p->src[i + 1]))) {
        j = lex_number(p, i, &t.is_int);
        t.kind = TK_NUMBER;
    } else if (c == '$' && i + 1 < p->len && is_ident_start(p->src[i + 1])) {
        for (j = i + 1; j < p->len && is_ident_char(p->src[j]);)
            j++;
        t.kind = TK_SET;
    } else {
        size_t n;
        t.kind = lex_operator(p, i, &n);
        j = i + n;
        if (t.kind == TK_END && c == '=')
            fail(p, i, "unexpected '='; use '==' to compare");
        else if (t.kind == TK_END)
            fail(p, i, "unexpected character '%c'", c);
    }
    if (p->failed)
        t.kind = TK_END;
    t.len = j - i;
    p->tok = t;
    p->pos = j;
}

/* Describes the current token for "expected X but found Y" messages. */
static const char *tok_describe(const parser *p, char *buf, size_t cap)
{
    if (p->tok.kind == TK_END)
        return "end of expression";
    int n = p->tok.len > 40 ? 40 : (int)p->tok.len;
    snprintf(buf, cap, "'%.*s%s'", n, p->src + p->tok.off, p->tok.len > 40 ? "..." : "");
    return buf;
}

static uint32_t fail_expected(parser *p, const char *what)
{
    char buf[64];
    return fail(p, p->tok.off, "expected %s but found %s", what, tok_describe(p, buf, sizeof buf));
}

static bool tok_is(const parser *p, const char *kw)
{
    size_t n = strlen(kw);
    return p->tok.kind == TK_IDENT && p->tok.len == n && memcmp(p->src + p->tok.off, kw, n) == 0;
}

/* ---- literal values ----------------------------------------------------- */

/* Decodes the current string token into p->sbuf; returns its length or -1. */
static long decode_string(parser *p)
{
    const char *s = p->src + p->tok.off + 1;
    size_t n = p->tok.len - 2, out = 0;

    if (n + 1 > p->scap) {
        char *b = realloc(p->sbuf, n + 1);
        if (!b) {
            fail_oom(p);
            return -1;
        }
        p->sbuf = b;
        p->scap = n + 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            if (s[i + 1] != '"' && s[i + 1] != '\\') {
                fail(p, (size_t)(s + i - p->src), "unknown escape '\\%c' in string", s[i + 1]);
                return -1;
            }
            i++;
        }
        p->sbuf[out++] = s[i];
    }
    p->sbuf[out] = '\0';
    return (long)out;
}

/* Parses the current number token. */
static bool number_value(parser *p, bool *is_int, int64_t *i, double *d)
{
    char buf[64];
    const token *t = &p->tok;
    if (t->len >= sizeof buf) {
        fail(p, t->off, "number too long");
        return false;
    }
    memcpy(buf, p->src + t->off, t->len);
    buf[t->len] = '\0';
    errno = 0;
    *is_int = t->is_int;
    if (t->is_int) {
        *i = strtoll(buf, NULL, 10);
        *d = (double)*i;
    } else {
        *d = strtod(buf, NULL);
        *i = 0;
    }
    if (errno == ERANGE) {
        fail(p, t->off, "number out of range '%s'", buf);
        return false;
    }
    return true;
}

/* ---- node building ---------------------------------------------------- */

/* Appends n; on failure releases what n owns. Returns its index. */
static uint32_t push(parser *p, lp_expr_node n)
{
    if (p->failed) {
        lp_expr_node_release(&n);
        return NO_NODE;
    }
    if (p->count == p->cap) {
        uint32_t ncap = p->cap ? p->cap * 2 : 16;
        lp_expr_node *a = realloc(p->nodes, ncap * sizeof *a);
        if (!a) {
            lp_expr_node_release(&n);
            return fail_oom(p);
        }
        p->nodes = a;
        p->cap = ncap;
    }
    p->nodes[p->count] = n;
    return p->count++;
}

static uint32_t push_pair(parser *p, enum node_op op, uint32_t lhs, uint32_t rhs)
{
    if (lhs == NO_NODE || rhs == NO_NODE)
        return NO_NODE;
    lp_expr_node n = {.op = op};
    n.u.kid.lhs = lhs;
    n.u.kid.rhs = rhs;
    return push(p, n);
}

static lp_expr_node leaf(enum node_op op, int f)
{
    lp_expr_node n = {.op = op, .field = (uint8_t)f};
    if (lp_fields[f].type == LP_T_LIST)
        n.flags |= NF_LIST;
    if (lp_fields[f].type == LP_T_DOUBLE)
        n.flags |= NF_DOUBLE;
    return n;
}

/* A string equality leaf on the decoded literal in p->sbuf (len bytes). */
static uint32_t push_str_eq(parser *p, int f, size_t len, bool neg)
{
    lp_expr_node n = leaf(OP_STR_EQ, f);
    char *dst = n.u.small;
    if (len > INLINE_LIT) {
        n.u.lit = malloc(len);
        if (!n.u.lit)
            return fail_oom(p);
        dst = n.u.lit;
    } else {
        n.flags |= NF_INLINE;
    }
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)lp_expr_fold((unsigned char)p->sbuf[i]);
    n.len = (uint32_t)len;
    if (neg)
        n.flags |= NF_NEG;
    return push(p, n);
}

static uint32_t push_contains(parser *p, int f, size_t len)
{
    lp_expr_node n = leaf(OP_STR_CONTAINS, f);
    lp_expr_needle *nd = malloc(sizeof *nd + len + 1);
    if (!nd)
        return fail_oom(p);
    nd->len = (uint32_t)len;
    for (size_t i = 0; i < len; i++)
        nd->lit[i] = (char)lp_expr_fold((unsigned char)p->sbuf[i]);
    uint8_t def = len > 255 ? 255 : (uint8_t)len;
    memset(nd->skip, def, sizeof nd->skip);
    for (size_t i = 0; i + 1 < len; i++) {
        size_t shift = len - 1 - i;
        nd->skip[(unsigned char)nd->lit[i]] = shift > 255 ? 255 : (uint8_t)shift;
    }
    n.u.needle = nd;
    return push(p, n);
}

/*
 * An integer comparison as the range test it is: "x >= 10" is 10..MAX,
 * "x != 3" is the negation of 3..3, and a comparison nothing passes
 * ("x < MIN") the negation of MIN..MAX. One test at evaluation, no switch.
 */
static void int_range(lp_expr_node *n, enum cmp_op op, int64_t i)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    bool never = (op == CMP_LT && i == INT64_MIN) || (op == CMP_GT && i == INT64_MAX);
    if (op == CMP_EQ || op == CMP_NE || op == CMP_GE)
        lo = i;
    if (op == CMP_EQ || op == CMP_NE || op == CMP_LE)
        hi = i;
    if (op == CMP_GT && !never)
        lo = i + 1;
    if (op == CMP_LT && !never)
        hi = i - 1;
    n->op = OP_BETWEEN_I;
    n->u.ri.lo = lo;
    n->u.ri.hi = hi;
    if (op == CMP_NE || never)
        n->flags |= NF_NEG;
}

/* A numeric comparison leaf of field f against a literal. */
static uint32_t push_cmp(parser *p, int f, enum cmp_op op, bool is_int, int64_t i, double d)
{
    bool dbl = lp_fields[f].type == LP_T_DOUBLE || !is_int;
    lp_expr_node n = leaf(OP_CMP_D, f);
    if (!dbl) {
        int_range(&n, op, i);
        return push(p, n);
    }
    n.cmp = (uint8_t)op;
    n.u.d = d;
    return push(p, n);
}

/* ---- parser ------------------------------------------------------------- */

static uint32_t parse_or(parser *p);

/* Optimal string alignment distance, for "did you mean" hints. */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t d[33][33];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

/* The field name closest to name, or NULL when nothing is close. */
static const char *closest_field(const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = len < 4 ? 1 : 2;
    if (len > 32)
        return NULL;
    for (int f = 0; f < LP_F_COUNT; f++) {
        size_t m = strlen(lp_fields[f].name);
        if (m > 32)
            continue;
        size_t dist = edit_distance(name, len, lp_fields[f].name, m);
        if (dist <= best_d && (!best || dist < best_d)) {
            best = lp_fields[f].name;
            best_d = dist;
        }
    }
    return best;
}

/* Parses a field name into its slot; returns -1 on error. */
static int parse_field(parser *p)
{
    const token t = p->tok;
    if (t.kind != TK_IDENT) {
        fail_expected(p, "a field name");
        return -1;
    }
    const char *name = p->src + t.off;
    int f = lp_field_lookup(name, t.len);
    if (f < 0) {
        const char *hint = closest_field(name, t.len);
        if (hint)
            fail(p, t.off, "unknown field '%.*s'; did you mean '%s'?", (int)t.len, name, hint);
        else
            fail(p, t.off, "unknown field '%.*s'", (int)t.len, name);
        return -1;
    }
    p->fields |= 1ull << f;
    lex_next(p);
    return f;
}

/* What kind of value the current token is, for type errors. */
static const char *value_kind(const parser *p)
{
    if (p->tok.kind == TK_STRING)
        return "a string";
    if (p->tok.kind == TK_NUMBER)
        return "a number";
    if (tok_is(p, "true") || tok_is(p, "false"))
        return "a boolean";
    if (p->tok.kind == TK_SET)
        return "a set of strings";
    return NULL;
}

/* "cannot compare string field 'country' with a number", or "expected ...". */
static uint32_t fail_mismatch(parser *p, int f, const char *expected)
{
    const char *kind = value_kind(p);
    if (!kind)
        return fail_expected(p, expected);
    return fail(p, p->tok.off, "cannot compare %s field '%s' with %s%s",
                lp_type_name(lp_fields[f].type), lp_fields[f].name, kind,
                lp_fields[f].type == LP_T_BOOL ? "; use true or false" : "");
}

static uint32_t fail_operator(parser *p, int f, const token *op)
{
    return fail(p, op->off, "operator '%.*s' does not apply to %s field '%s'", (int)op->len,
                p->src + op->off, lp_type_name(lp_fields[f].type), lp_fields[f].name);
}

static bool is_text(int f)
{
    return lp_fields[f].type == LP_T_STR || lp_fields[f].type == LP_T_LIST;
}

static bool is_numeric(int f)
{
    lp_type t = lp_fields[f].type;
    return t == LP_T_LONG || t == LP_T_DOUBLE || t == LP_T_TS;
}

/*
 * Reads a numeric literal for field f: a number, or for a timestamp field a
 * date string in ISO 8601 (UTC). Consumes the token.
 */
static bool numeric_value(parser *p, int f, bool *is_int, int64_t *i, double *d)
{
    if (lp_fields[f].type == LP_T_TS && p->tok.kind == TK_STRING) {
        const char *s = p->src + p->tok.off + 1;
        size_t n = p->tok.len - 2;
        bool present = false; /* the readers' own timestamp parser: one grammar */
        if (lp_parse_timestamp(s, n, i, &present) != LP_OK || !present) {
            fail(p, p->tok.off,
                 "invalid timestamp \"%.*s\"; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                 (int)(n > 40 ? 40 : n), s);
            return false;
        }
        *is_int = true;
        *d = (double)*i;
    } else if (p->tok.kind == TK_NUMBER) {
        if (!number_value(p, is_int, i, d))
            return false;
    } else {
        fail_mismatch(p, f, "a number");
        return false;
    }
    lex_next(p);
    return true;
}

static uint32_t cmp_bool(parser *p, int f, const token *op)
{
    if (op->kind != TK_EQ && op->kind != TK_NE)
        return fail_operator(p, f, op);
    if (!tok_is(p, "true") && !tok_is(p, "false"))
        return fail_mismatch(p, f, "true or false");
    lp_expr_node n = leaf(OP_BOOL, f);
    n.u.i = tok_is(p, "true");
    if (op->kind == TK_NE)
        n.flags |= NF_NEG;
    lex_next(p);
    return push(p, n);
}

static enum cmp_op cmp_of(enum tok_kind k)
{
    switch (k) {
    case TK_NE:
        return CMP_NE;
    case TK_LT:
        return CMP_LT;
    case TK_LE:
        return CMP_LE;
    case TK_GT:
        return CMP_GT;
    case TK_GE:
        return CMP_GE;
    default:
        return CMP_EQ;
    }
}

/* FIELD op value, after op. */
static uint32_t cmp_value(parser *p, int f, const token *op)
{
    if (lp_fields[f].type == LP_T_BOOL)
        return cmp_bool(p, f, op);
    if (is_text(f)) {
        if (op->kind != TK_EQ && op->kind != TK_NE)
            return fail_operator(p, f, op);
        if (p->tok.kind != TK_STRING)
            return fail_mismatch(p, f, "a string");
        long len = decode_string(p);
        if (len < 0)
            return NO_NODE;
        lex_next(p);
        return push_str_eq(p, f, (size_t)len, op->kind == TK_NE);
    }
    bool is_int;
    int64_t i;
    double d;
    if (!numeric_value(p, f, &is_int, &i, &d))
        return NO_NODE;
    return push_cmp(p, f, cmp_of(op->kind), is_int, i, d);
}

/* FIELD in $SET. */
static uint32_t in_named_set(parser *p, int f, bool neg)
{
    const char *name = p->src + p->tok.off + 1;
    size_t len = p->tok.len - 1;
    const lp_strset *set = NULL;
    if (!is_text(f))
        return fail_mismatch(p, f, "a set");
    if (p->env && p->env->lookup_set)
        set = p->env->lookup_set(p->env->ctx, name, len);
    if (!set)
        return fail(p, p->tok.off, "unknown set $%.*s", (int)len, name);
    lp_expr_node n = leaf(OP_STR_IN, f);
    n.u.in.set = set;
    n.u.in.bits = lp_strset_filter64(set);
    if (neg)
        n.flags |= NF_NEG;
    lex_next(p);
    return push(p, n);
}

/* After an item of a literal list: true to go on, false at ']' or error. */
static bool list_continues(parser *p)
{
    if (p->tok.kind == TK_COMMA) {
        lex_next(p);
        return true;
    }
    if (p->tok.kind != TK_RBRACK)
        fail_expected(p, "',' or ']'");
    else
        lex_next(p);
    return false;
}

/* FIELD in ["a", "b"] on a text field: one hash set (or one == test). */
static uint32_t in_string_list(parser *p, int f, bool neg)
{
    lp_strset *set = lp_strset_new();
    size_t n_items = 0;
    long len = 0;
    if (!set)
        return fail_oom(p);
    do {
        if (p->tok.kind != TK_STRING) {
            fail_mismatch(p, f, "a string");
            break;
        }
        if ((len = decode_string(p)) < 0)
            break;
        if (lp_strset_add(set, p->sbuf, (size_t)len) != 0) {
            fail_oom(p);
            break;
        }
        n_items++;
        lex_next(p);
    } while (list_continues(p));
    if (p->failed) {
        lp_strset_free(set);
        return NO_NODE;
    }
    if (n_items == 1) { /* p->sbuf still holds the only item */
        lp_strset_free(set);
        return push_str_eq(p, f, (size_t)len, neg);
    }
    lp_expr_node n = leaf(OP_STR_IN, f);
    n.u.in.set = set;
    n.u.in.bits = lp_strset_filter64(set);
    n.flags |= NF_OWNED | (neg ? NF_NEG : 0);
    return push(p, n);
}

/* FIELD in [1, 2] on a numeric field: a chain of == (or of != for not in). */
static uint32_t in_number_list(parser *p, int f, bool neg)
{
    uint32_t acc = NO_NODE;
    do {
        bool is_int;
        int64_t i;
        double d;
        if (!numeric_value(p, f, &is_int, &i, &d))
            return NO_NODE;
        uint32_t one = push_cmp(p, f, neg ? CMP_NE : CMP_EQ, is_int, i, d);
        acc = acc == NO_NODE ? one : push_pair(p, neg ? OP_AND : OP_OR, acc, one);
    } while (list_continues(p));
    return p->failed ? NO_NODE : acc;
}

/* FIELD [not] in ..., after "in". */
static uint32_t cmp_in(parser *p, int f, bool neg, const token *op)
{
    if (p->tok.kind == TK_SET)
        return in_named_set(p, f, neg);
    if (p->tok.kind != TK_LBRACK)
        return fail_expected(p, "'[' or a $set after 'in'");
    if (!is_text(f) && !is_numeric(f))
        return fail_operator(p, f, op);
    lex_next(p);
    return is_text(f) ? in_string_list(p, f, neg) : in_number_list(p, f, neg);
}

static uint32_t cmp_contains(parser *p, int f, const token *op)
{
    if (!is_text(f))
        return fail_operator(p, f, op);
    if (p->tok.kind != TK_STRING)
        return fail_mismatch(p, f, "a string");
    long len = decode_string(p);
    if (len < 0)
        return NO_NODE;
    lex_next(p);
    return push_contains(p, f, (size_t)len);
}

static uint32_t cmp_between(parser *p, int f, const token *op)
{
    if (!is_numeric(f))
        return fail_operator(p, f, op);
    bool lo_int, hi_int;
    int64_t lo_i, hi_i;
    double lo_d, hi_d;
    size_t lo_off = p->tok.off;
    if (!numeric_value(p, f, &lo_int, &lo_i, &lo_d))
        return NO_NODE;
    if (!tok_is(p, "and"))
        return fail_expected(p, "'and' in 'between'");
    lex_next(p);
    if (!numeric_value(p, f, &hi_int, &hi_i, &hi_d))
        return NO_NODE;
    if (lo_d > hi_d || (lo_int && hi_int && lo_i > hi_i))
        return fail(p, lo_off, "empty range: the lower bound is greater than the upper bound");
    bool dbl = lp_fields[f].type == LP_T_DOUBLE || !lo_int || !hi_int;
    lp_expr_node n = leaf(dbl ? OP_BETWEEN_D : OP_BETWEEN_I, f);
    if (dbl) {
        n.u.rd.lo = lo_d;
        n.u.rd.hi = hi_d;
    } else {
        n.u.ri.lo = lo_i;
        n.u.ri.hi = hi_i;
    }
    return push(p, n);
}

/* Scans /pattern/flags starting at p->pos; sets *caseless. Returns false on error. */
static bool scan_regex(parser *p, size_t *start, size_t *plen, bool *caseless)
{
    size_t i = skip_space(p, p->pos), j;
    *start = i;
    if (i >= p->len || p->src[i] != '/') {
        lex_next(p);
        fail_expected(p, "a regex /.../ after '~'");
        return false;
    }
    for (j = i + 1; j < p->len && p->src[j] != '/'; j++)
        if (p->src[j] == '\\')
            j++;
    if (j >= p->len) {
        fail(p, i, "unterminated regex");
        return false;
    }
    *plen = j - i - 1;
    *caseless = false;
    for (j++; j < p->len && is_ident_char(p->src[j]); j++) {
        if (p->src[j] != 'i') {
            fail(p, j, "unknown regex flag '%c'; only 'i' is supported", p->src[j]);
            return false;
        }
        *caseless = true;
    }
    p->pos = j;
    return true;
}

/* True for a byte that stands for itself in a regex (not a metacharacter). */
static bool lits_plain(char c)
{
    return c >= 0x20 && c < 0x7F && !strchr("\\^$.|?*+()[]{}", c);
}

/* Consumes "\b" at *i of s (n bytes) when it is there. */
static bool lits_bound(const char *s, size_t n, size_t *i)
{
    if (*i + 2 > n || s[*i] != '\\' || s[*i + 1] != 'b')
        return false;
    *i += 2;
    return true;
}

/* branch := [\b] literal [\b], at *i of s (n bytes); adds it to L. */
static bool lits_branch(lp_expr_lits *L, const char *s, size_t n, size_t *i, bool olb, bool otb)
{
    bool lb = lits_bound(s, n, i) || olb;
    size_t start = *i;
    while (*i < n && lits_plain(s[*i]))
        (*i)++;
    size_t len = *i - start;
    bool tb = lits_bound(s, n, i) || otb;
    if (len == 0 || len > LITS_LEN_MAX || L->n == LITS_MAX)
        return false;
    unsigned k = L->n++;
    for (size_t j = 0; j < len; j++) {
        unsigned char c = (unsigned char)s[start + j];
        L->lit[k][j] = (char)(L->caseless ? lp_expr_fold(c) : c);
    }
    L->len[k] = (uint8_t)len;
    L->lb[k] = lb;
    L->tb[k] = tb;
    unsigned char c0 = (unsigned char)L->lit[k][0];
    L->first[c0] |= (uint16_t)(1u << k);
    L->letters |= 1ull << (c0 & 63);
    if (L->caseless && c0 >= 'a' && c0 <= 'z') {
        L->first[c0 - 'a' + 'A'] |= (uint16_t)(1u << k);
        L->letters |= 1ull << ((c0 - 'a' + 'A') & 63);
    }
    return true;
}

/*
 * Recognises pat (n bytes) as  alts  or  [\b](alts)[\b]  where alts is
 * branch ("|" branch)*; the group's bounds apply to every branch. Returns a
 * matcher for it (re still to be set), or NULL when pat has another shape.
 */
static lp_expr_lits *lits_compile(const char *pat, size_t n, bool caseless)
{
    size_t i = 0, end = n;
    bool olb = false, otb = false;
    if (n >= 3 && memcmp(pat, "\\b(", 3) == 0)
        i = 3, olb = true;
    else if (n >= 1 && pat[0] == '(')
        i = 1;
    if (i) {
        otb = n >= i + 3 && memcmp(pat + n - 3, ")\\b", 3) == 0;
        end = n - (otb ? 3 : 1);
        if (end < i || pat[end] != ')')
            return NULL;
    }
    lp_expr_lits *L = calloc(1, sizeof *L);
    if (!L)
        return NULL;
    L->caseless = caseless;
    L->anchored = true;
    for (;;) {
        if (!lits_branch(L, pat, end, &i, olb, otb))
            break;
        unsigned k = L->n - 1u;
        L->anchored &= L->lb[k] && lp_expr_is_word((unsigned char)L->lit[k][0]);
        if (i == end)
            return L;
        if (pat[i] != '|')
            break;
        i++;
    }
    free(L);
    return NULL;
}

/* A regex leaf: a literal alternation when the pattern is one, else PCRE2. */
static lp_expr_node regex_leaf(int f, pcre2_code *re, const char *pat, size_t n, bool caseless)
{
    bool jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    lp_expr_lits *L = lits_compile(pat, n, caseless);
    lp_expr_node node = leaf(L ? OP_STR_LITS : OP_STR_MATCH, f);
    if (L) {
        L->re = re;
        L->jit = jit;
        node.u.lits = L;
    } else {
        node.u.re = re;
        if (jit)
            node.flags |= NF_JIT;
    }
    return node;
}

/* FIELD ~ /regex/flags, with p->tok on the '~'. */
static uint32_t cmp_regex(parser *p, int f, const token *op)
{
    size_t start, plen;
    bool caseless;
    int code;
    PCRE2_SIZE eoff;
    if (!is_text(f))
        return fail_operator(p, f, op);
    if (!scan_regex(p, &start, &plen, &caseless))
        return NO_NODE;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (caseless ? PCRE2_CASELESS : 0);
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)(p->src + start + 1), plen, opts, &code, &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", code);
        return fail(p, start, "regex: %s at offset %zu", (char *)msg, (size_t)eoff);
    }
    lp_expr_node n = regex_leaf(f, re, p->src + start + 1, plen, caseless);
    if (n.op == OP_STR_LITS && !(n.flags & NF_LIST) && n.u.lits->anchored && p->env &&
        p->env->pool)
        lp_expr_pool_add(p->env->pool, (unsigned)f, n.u.lits); /* else it matches on its own */
    lex_next(p);
    return push(p, n);
}

/* cmp := FIELD op value | FIELD [not] in ... | between | ~ | contains. */
static uint32_t parse_cmp(parser *p)
{
    int f = parse_field(p);
    if (f < 0)
        return NO_NODE;
    const token op = p->tok;
    if (op.kind >= TK_EQ && op.kind <= TK_GE) {
        lex_next(p);
        return cmp_value(p, f, &op);
    }
    if (op.kind == TK_TILDE)
        return cmp_regex(p, f, &op);
    if (tok_is(p, "in") || tok_is(p, "not")) {
        bool neg = tok_is(p, "not");
        if (neg)
            lex_next(p);
        const token in = p->tok;
        if (!tok_is(p, "in"))
            return fail_expected(p, "'in' after 'not'");
        lex_next(p);
        return cmp_in(p, f, neg, &in);
    }
    if (tok_is(p, "contains")) {
        lex_next(p);
        return cmp_contains(p, f, &op);
    }
    if (tok_is(p, "between")) {
        lex_next(p);
        return cmp_between(p, f, &op);
    }
    if (lp_fields[f].type == LP_T_BOOL) { /* a bare boolean field means == true */
        lp_expr_node n = leaf(OP_BOOL, f);
        n.u.i = 1;
        return push(p, n);
    }
    char what[96];
    snprintf(what, sizeof what, "an operator after '%s'", lp_fields[f].name);
    return fail_expected(p, what);
}

static uint32_t parse_has(parser *p)
{
    lex_next(p);
    if (p->tok.kind != TK_LPAREN)
        return fail_expected(p, "'(' after 'has'");
    lex_next(p);
    int f = parse_field(p);
    if (f < 0)
        return NO_NODE;
    if (p->tok.kind != TK_RPAREN)
        return fail_expected(p, "')'");
    lex_next(p);
    lp_expr_node n = {.op = OP_HAS, .field = (uint8_t)f};
    return push(p, n);
}

static uint32_t parse_primary(parser *p)
{
    if (p->tok.kind == TK_LPAREN) {
        if (++p->depth > MAX_DEPTH)
            return fail(p, p->tok.off, "expression nested too deeply");
        lex_next(p);
        uint32_t e = parse_or(p);
        if (e != NO_NODE && p->tok.kind != TK_RPAREN)
            return fail_expected(p, "')'");
        p->depth--;
        lex_next(p);
        return e;
    }
    if (tok_is(p, "true") || tok_is(p, "false")) {
        lp_expr_node n = {.op = tok_is(p, "true") ? OP_TRUE : OP_FALSE};
        lex_next(p);
        return push(p, n);
    }
    if (tok_is(p, "has"))
        return parse_has(p);
    if (p->tok.kind == TK_IDENT && !tok_is(p, "and") && !tok_is(p, "or") && !tok_is(p, "in"))
        return parse_cmp(p);
    return fail_expected(p, "a condition");
}

static uint32_t parse_unary(parser *p)
{
    if (!tok_is(p, "not"))
        return parse_primary(p);
    if (++p->depth > MAX_DEPTH)
        return fail(p, p->tok.off, "expression nested too deeply");
    lex_next(p);
    uint32_t k = parse_unary(p);
    p->depth--;
    if (k == NO_NODE)
        return NO_NODE;
    lp_expr_node n = {.op = OP_NOT};
    n.u.kid.lhs = k;
    return push(p, n);
}

static uint32_t parse_and(parser *p)
{
    uint32_t lhs = parse_unary(p);
    while (lhs != NO_NODE && tok_is(p, "and")) {
        lex_next(p);
        lhs = push_pair(p, OP_AND, lhs, parse_unary(p));
    }
    return lhs;
}

static uint32_t parse_or(parser *p)
{
    uint32_t lhs = parse_and(p);
    while (lhs != NO_NODE && tok_is(p, "or")) {
        lex_next(p);
        lhs = push_pair(p, OP_OR, lhs, parse_and(p));
    }
    return lhs;
}

/* Moves the parsed tree into one lp_expr allocation, as a branch program. */
static lp_expr *finish(parser *p, uint32_t root)
{
    return lp_expr_plan(p->nodes, p->count, root, p->fields);
}

/*
 * Compiles src (len bytes, not necessarily NUL-terminated) into *out, with
 * $sets resolved through env (which may be NULL when there are none). On a
 * syntax or type error returns LP_E_CONFIG and fills *err with the byte
 * offset in src and a message naming the problem; on memory exhaustion
 * returns LP_E_NOMEM. *out is untouched on failure.
 */
lp_err_t lp_expr_compile(const char *src, size_t len, const lp_expr_env *env, lp_expr **out,
                         lp_expr_error *err)
{
    lp_expr_error dummy;
    parser p = {.src = src ? src : "", .len = src ? len : 0, .env = env, .err = err ? err : &dummy};
    lp_err_t rc = LP_OK;
    lp_expr *e = NULL;

    lex_next(&p);
    uint32_t root = parse_or(&p);
    if (root != NO_NODE && p.tok.kind != TK_END)
        fail_expected(&p, "'and', 'or' or the end of the expression");
    if (!p.failed && !(e = finish(&p, root)))
        fail_oom(&p);
    if (p.failed) {
        rc = p.oom ? LP_E_NOMEM : LP_E_CONFIG;
        for (uint32_t i = 0; i < p.count; i++)
            lp_expr_node_release(&p.nodes[i]);
        goto out;
    }
    *out = e;
out:
    free(p.nodes);
    free(p.sbuf);
    return rc;
}
