/*
 * expr.h - the rule expression language, compiled once, evaluated per lead.
 *
 * Rules in a pipeline file are small boolean expressions over lead fields:
 *
 *     title ~ /\b(vp|vice president|chief|head of)\b/i and employee_count >= 200
 *     country in ["US", "CA"] or region == "EMEA"
 *     email_domain in $free_mail
 *     not has(phone)
 *     employee_count between 51 and 500
 *     technologies in ["salesforce", "hubspot"]     (any item of a list field)
 *     title contains "director"
 *     score.total >= 70 and qualification == "MQL"
 *
 * Grammar (lowest precedence first):
 *     expr    := or
 *     or      := and ("or" and)*
 *     and     := unary ("and" unary)*
 *     unary   := "not" unary | primary
 *     primary := "(" expr ")" | "true" | "false" | "has" "(" FIELD ")" | cmp
 *     cmp     := FIELD op value
 *              | FIELD "in" ( "[" value ("," value)* "]" | "$" SETNAME )
 *              | FIELD "not" "in" ...
 *              | FIELD "between" NUMBER "and" NUMBER
 *              | FIELD "~" REGEX          (REGEX: /.../ with optional flag i)
 *              | FIELD "contains" STRING
 *     op      := "==" | "!=" | "<" | "<=" | ">" | ">="
 *     value   := STRING ("..." with \" and \\ escapes) | NUMBER
 *
 * Semantics:
 *   - FIELD is a name from LP_FIELD_LIST (lead.h); it compiles to a slot.
 *     Unknown fields and type mismatches (a string compared with a number,
 *     "<" on a string, "~" on a number) are compile errors.
 *   - String equality, "in" and "contains" ignore ASCII case. Regexes are
 *     case-sensitive unless flagged /i; they are PCRE2, JIT-compiled.
 *   - Any comparison on a missing field is false ("has" tests presence), so
 *     `not (x == 1)` is true when x is missing.
 *   - On a list field (technologies), "in", "==" and "contains" and "~" are
 *     true when any item matches.
 *   - Sets named with $ come from the pipeline's `sets:` section, provided by
 *     the compile environment. Literal lists become hash sets too.
 *
 * Threads: a compiled lp_expr is immutable and may be evaluated from many
 * threads at once, each passing its own lp_expr_scratch.
 */
#ifndef LP_EXPR_H
#define LP_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "lead.h"
#include "strset.h"

typedef struct lp_expr lp_expr;

/* Per-thread scratch space for evaluation (regex match data, per-lead memo). */
typedef struct lp_expr_scratch lp_expr_scratch;

/*
 * What the rules of one pipeline share, built while they compile: for each
 * text field, one table of the literals of every caseless literal
 * alternation on it ("title ~ /\b(vp|chief)\b/i", up to 64 per field), so
 * that a value is scanned once per lead for all of them (expr_pool.c).
 * Compiling with a pool adds to it (single-threaded); once the last rule is
 * compiled it is read-only and any number of threads may evaluate the
 * rules. It must outlive every expression compiled with it.
 */
typedef struct lp_expr_pool lp_expr_pool;

lp_expr_pool *lp_expr_pool_new(void);
void lp_expr_pool_free(lp_expr_pool *pool);

/* Resolves $NAME set references while compiling, and names the pool the rules share. */
typedef struct lp_expr_env {
    /* Returns the set called name (len bytes), or NULL when none exists. */
    const lp_strset *(*lookup_set)(void *ctx, const char *name, size_t len);
    void *ctx;
    lp_expr_pool *pool; /* may be NULL: every rule then matches on its own */
} lp_expr_env;

/* Where and why compilation failed. offset is a byte offset into src. */
typedef struct lp_expr_error {
    size_t offset;
    char msg[256];
} lp_expr_error;

/*
 * Compiles src (len bytes, need not be NUL-terminated). On failure returns
 * LP_E_CONFIG and fills *err; *out is untouched.
 */
lp_err_t lp_expr_compile(const char *src, size_t len, const lp_expr_env *env, lp_expr **out,
                         lp_expr_error *err);

void lp_expr_free(lp_expr *e);

/* Evaluates e against a lead. Never allocates. */
bool lp_expr_eval(const lp_expr *e, const lp_lead *lead, lp_expr_scratch *scratch);

/* A bitmask of the fields (1 << lp_field_id) the expression reads. */
uint64_t lp_expr_fields(const lp_expr *e);

lp_expr_scratch *lp_expr_scratch_new(void);
void lp_expr_scratch_free(lp_expr_scratch *s);

/*
 * Starts the evaluation of one lead with scratch s: forgets what s remembers
 * of earlier evaluations. Once s has been reset, evaluation remembers what
 * it learns about each string value it tests (its set hash, its word starts)
 * under the value's field, address and length, and answers later tests of
 * the same value from that memo until the next reset.
 *
 * Invariant: between two resets, the bytes of every string value that was
 * evaluated stay unchanged and allocated. A caller must therefore reset
 *   - before each new lead (a new lead's strings may sit at the addresses of
 *     an old one's, e.g. after an arena reset), and
 *   - after writing into a string's bytes in place, or freeing them.
 * Pointing a field at other, live bytes needs no reset: the address or the
 * length differs, so the memo is not consulted. The chain (pipeline.c) resets
 * once per record visit and after each stage that may rewrite strings, so
 * the rule stages share one memo per lead. A scratch that is never reset
 * remembers nothing. Constant time.
 */
void lp_expr_scratch_reset(lp_expr_scratch *s);

#endif
