/*
 * expr_node.h - private to expr.c and expr_compile.c: the compiled form of a
 * rule expression.
 *
 * A compiled lp_expr is one allocation: a header and an array of 24-byte
 * nodes. Children are array indices, always lower than their parent's, and
 * the root is named in the header. Leaves address fields by slot and hold
 * literals prepared for evaluation (folded strings, hash sets, Horspool
 * tables, JIT-compiled regexes, numbers as int64 or double).
 *
 * Invariants:
 *   - a leaf reading a field is false when that field is missing, even when
 *     negated (!=, not in); only "not" turns a missing field into true;
 *   - on a list field a string leaf is true when any item matches, and its
 *     negation is true when no item matches;
 *   - a node with NF_OWNED owns its set; literals that are not inline,
 *     needles and regexes are always owned by their node.
 *
 * Nothing here is part of the public contract (expr.h); do not include it
 * from other modules.
 */
#ifndef LP_EXPR_NODE_H
#define LP_EXPR_NODE_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <stdint.h>

#include "expr.h"

#define INLINE_LIT 16 /* string literals up to this size live in the node */

enum node_op {
    OP_TRUE,
    OP_FALSE,
    OP_AND,
    OP_OR,
    OP_NOT,
    OP_HAS,
    /* leaves from here on read a field and are false when it is missing */
    OP_BOOL,         /* u.i is the literal (0/1) */
    OP_CMP_I,        /* integer field op integer u.i */
    OP_CMP_D,        /* numeric field (as double) op u.d */
    OP_BETWEEN_I,    /* u.ri.lo <= integer field <= u.ri.hi */
    OP_BETWEEN_D,    /* u.rd.lo <= field (as double) <= u.rd.hi */
    OP_STR_EQ,       /* folded literal: u.small or u.lit, len bytes */
    OP_STR_IN,       /* u.set */
    OP_STR_CONTAINS, /* u.needle */
    OP_STR_MATCH,    /* u.re */
};

enum cmp_op { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

#define NF_NEG 0x01    /* negated string or bool test (!=, not in) */
#define NF_LIST 0x02   /* list field: any item */
#define NF_DOUBLE 0x04 /* numeric field holds a double (v.d) */
#define NF_OWNED 0x08  /* the node owns u.set */
#define NF_INLINE 0x10 /* the literal lives in u.small */
#define NF_JIT 0x20    /* u.re was JIT-compiled */

/* A precomputed case-insensitive substring search (Horspool). */
typedef struct lp_expr_needle {
    uint32_t len;
    uint8_t skip[256]; /* indexed by folded byte */
    char lit[];        /* folded needle */
} lp_expr_needle;

typedef struct lp_expr_node {
    uint8_t op;
    uint8_t field;
    uint8_t cmp;
    uint8_t flags;
    uint32_t len; /* OP_STR_EQ literal length */
    union {
        struct {
            uint32_t lhs, rhs;
        } kid;
        int64_t i;
        double d;
        struct {
            int64_t lo, hi;
        } ri;
        struct {
            double lo, hi;
        } rd;
        char small[INLINE_LIT];
        char *lit;
        const lp_strset *set;
        lp_expr_needle *needle;
        pcre2_code *re;
    } u;
} lp_expr_node;

_Static_assert(sizeof(lp_expr_node) == 24, "keep nodes compact");

struct lp_expr {
    uint64_t fields; /* 1 << slot for every field read */
    uint32_t root;
    uint32_t count;
    lp_expr_node nodes[];
};

#define LP_EXPR_MEMO 64 /* direct-mapped entries of the per-lead hash memo */

/* A string value's set hash (lp_strset_hash), remembered for one lead. */
typedef struct lp_expr_memo {
    const char *ptr;
    uint64_t gen; /* the scratch generation it belongs to */
    uint64_t hash;
    uint32_t len;
} lp_expr_memo;

struct lp_expr_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    uint64_t gen; /* bumped per lead by lp_expr_scratch_reset; 0: no memo */
    lp_expr_memo memo[LP_EXPR_MEMO];
};

/* ASCII lower case, branch-free; bytes >= 0x80 are left alone. */
static inline unsigned char lp_expr_fold(unsigned char c)
{
    return (unsigned char)(c | (((unsigned)(c - 'A') < 26u) << 5));
}

/* Frees what node n owns (literal, needle, regex, owned set), not n itself. */
void lp_expr_node_release(lp_expr_node *n);

#endif
