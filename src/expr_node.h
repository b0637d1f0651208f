/*
 * expr_node.h - private to expr.c and expr_compile.c: the compiled form of a
 * rule expression.
 *
 * The parser builds a tree of 32-byte nodes: children are array indices,
 * always lower than their parent's. Leaves address fields by slot and hold
 * literals prepared for evaluation (folded strings, hash sets, Horspool
 * tables, JIT-compiled regexes, numbers as int64 or double).
 *
 * A compiled lp_expr is one allocation: a header and a branch program
 * (expr_plan.c). The program holds only the tree's leaves; "and", "or",
 * "not", "true" and "false" have become the leaves' jump targets: after a
 * test, evaluation goes on at on_true or on_false, a later node or one of
 * the two ends (EXPR_TRUE, EXPR_FALSE). Evaluation is a loop, with no
 * recursion and one dispatch per leaf. The header also keeps the fields that
 * must all be present for the expression to be true, so a lead missing one
 * is answered without running the program.
 *
 * Invariants:
 *   - a leaf reading a field is false when that field is missing, even when
 *     negated (!=, not in); only "not" turns a missing field into true,
 *     and in a program of one leaf the plan folds "not" into the leaf
 *     (NF_NEG and NF_MISSING_TRUE flipped, expr_plan.c);
 *   - on a list field a string leaf is true when any item matches, and its
 *     negation is true when no item matches;
 *   - a node with NF_OWNED owns its set (u.in.set); literals that are not inline,
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
#include <stdbool.h>
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
    OP_CMP_D,        /* numeric field (as double) op u.d */
    OP_BETWEEN_I,    /* u.ri.lo <= integer field <= u.ri.hi: every integer comparison */
    OP_BETWEEN_D,    /* u.rd.lo <= field (as double) <= u.rd.hi */
    OP_STR_EQ,       /* folded literal: u.small or u.lit, len bytes */
    OP_STR_IN,       /* u.in */
    OP_STR_CONTAINS, /* u.needle */
    OP_STR_MATCH,    /* u.re */
    OP_STR_LITS,     /* u.lits: a regex that is an alternation of literals */
};

enum cmp_op { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

#define NF_NEG 0x01    /* negated test (!=, not in); still false on a missing field */
#define NF_LIST 0x02   /* list field: any item */
#define NF_DOUBLE 0x04 /* numeric field holds a double (v.d) */
#define NF_OWNED 0x08  /* the node owns u.in.set */
#define NF_INLINE 0x10 /* the literal lives in u.small */
#define NF_JIT 0x20    /* u.re was JIT-compiled */
#define NF_MISSING_TRUE 0x40 /* a missing field makes the test true (expr_plan.c) */

/* A precomputed case-insensitive substring search (Horspool). */
typedef struct lp_expr_needle {
    uint32_t len;
    uint8_t skip[256]; /* indexed by folded byte */
    char lit[];        /* folded needle */
} lp_expr_needle;

#define LITS_MAX 16    /* literals in a regex matched without PCRE2 */
#define LITS_LEN_MAX 32 /* bytes in one such literal */

/*
 * A regex of the shape /\b(ceo|chief|vice president)\b/i, /demo|trial/ or
 * /engineering|it\b/: an alternation of plain literals, each optionally
 * bounded by \b on either side. It is matched on ASCII values by comparing
 * the literals at each position whose first byte can start one, which is
 * what PCRE2 does too minus its per-call setup. A value with a byte >= 0x80
 * goes to the PCRE2 code of the same pattern (UTF case folding and
 * MATCH_INVALID_UTF then apply), so results never differ.
 */
typedef struct lp_expr_lits {
    pcre2_code *re; /* the same pattern, for values that are not ASCII */
    const struct lp_expr_falts *falts; /* its field's combined table, or NULL (expr_pool.c) */
    uint8_t alt;    /* its bit in falts: memo alts bit alt says whether it matched */
    bool jit;       /* re was JIT-compiled */
    bool caseless;  /* literals are folded; values are folded as they are read */
    uint8_t n;
    uint8_t len[LITS_MAX];
    uint8_t lb[LITS_MAX]; /* \b before literal k */
    uint8_t tb[LITS_MAX]; /* \b after literal k */
    bool anchored;  /* every literal starts with a word byte after \b */
    uint16_t first[256];  /* bit k: literal k can start with this byte (either case if caseless) */
    uint64_t letters;     /* bit (b & 63) for every byte b with first[b] != 0 */
    char lit[LITS_MAX][LITS_LEN_MAX];
} lp_expr_lits;

/*
 * The caseless literal alternations on one text field, combined (expr_pool.c):
 * a value is scanned once, and every literal of every alternation is tried
 * at the positions where it can start; bit k of the result says whether
 * alternation k matched. The table is built while the pipeline's rules
 * compile and is read-only afterwards.
 */
#define FALTS_MAX 64 /* alternations of one field in one table */
#define FLIT_WORDS (LITS_LEN_MAX / 8)

/* One literal of a field's table: folded, in zero-padded 8-byte words. */
typedef struct lp_expr_flit {
    uint64_t alts;          /* bit k: alternation k has this literal, with these bounds */
    uint64_t w[FLIT_WORDS]; /* the folded bytes, byte j at bits 8 * (j % 8) of word j / 8 */
    uint64_t last_mask;     /* the bits of w[nwords - 1] that hold bytes of the literal */
    uint8_t len;
    uint8_t nwords;         /* words of w in use */
    bool lb, tb;            /* \b before, \b after */
} lp_expr_flit;

typedef struct lp_expr_falts {
    uint32_t nalts;       /* alternations in the table, <= FALTS_MAX */
    uint32_t nlits;
    bool anywhere;        /* a literal may start at a byte that starts no word */
    uint16_t first[257];  /* literals starting with folded byte b: lits[first[b]..first[b+1]) */
    lp_expr_flit *lits;   /* sorted by first byte */
} lp_expr_falts;

/*
 * Registers the caseless alternation L of field f with pool; sets L->falts
 * and L->alt. Returns false (L unchanged, matching on its own) when the
 * field's table is full or memory runs out.
 */
bool lp_expr_pool_add(lp_expr_pool *pool, unsigned f, lp_expr_lits *L);

#define EXPR_FALSE (UINT32_MAX - 1) /* program end: the expression is false */
#define EXPR_TRUE UINT32_MAX        /* program end: the expression is true */

typedef struct lp_expr_node {
    uint8_t op;
    uint8_t field;
    uint8_t cmp;
    uint8_t flags;
    uint32_t len;      /* OP_STR_EQ literal length */
    uint32_t on_true;  /* program only: the next node when the test holds */
    uint32_t on_false; /* program only: the next node when it does not */
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
        struct {
            const lp_strset *set;
            uint64_t bits; /* lp_strset_filter64(set): most misses end here */
        } in;
        lp_expr_needle *needle;
        pcre2_code *re;
        lp_expr_lits *lits;
    } u;
} lp_expr_node;

_Static_assert(sizeof(lp_expr_node) == 32, "keep nodes compact");

struct lp_expr {
    uint64_t fields;   /* 1 << slot for every field read */
    uint64_t required; /* fields that must all be present for a true result */
    uint32_t root;     /* the first node of the program, or EXPR_TRUE/FALSE */
    uint32_t count;
    bool one_leaf;     /* the program is nodes[0] alone, answering its own test */
    lp_expr_node nodes[];
};

/*
 * Per-lead memo: entry f remembers the value of scalar field f; list items
 * share the LP_EXPR_MEMO_ITEMS entries after those, direct-mapped by address.
 */
#define LP_EXPR_MEMO_ITEMS 64
#define LP_EXPR_MEMO (64 + LP_EXPR_MEMO_ITEMS)

#define MEMO_HASH 0x1u  /* hash is set */
#define MEMO_WORDS 0x2u /* ascii and starts are set */
#define MEMO_ALTS 0x4u  /* ascii, alts and alts_of are set */
#define MEMO_LIST 0x8u  /* list_bits and list_off are set (the entry of a list field) */

/* Item hashes a scratch keeps per lead; a lead's lists beyond that are hashed per test. */
#define LP_EXPR_ITEM_HASHES 256u
#define LIST_UNHASHED UINT32_MAX /* list_off of a list whose items did not fit */

/* What evaluation learnt about one string value, remembered for one lead. */
typedef struct lp_expr_memo {
    const char *ptr;
    uint64_t gen;    /* the scratch generation it belongs to */
    uint64_t hash;   /* lp_strset_hash of the value */
    uint64_t starts; /* bit i: a word starts at byte i (values of <= 64 bytes) */
    uint64_t letters; /* bit (b & 63) for the byte b at each of those starts */
    uint64_t alts;   /* the alternations of alts_of that match (ASCII values of <= 64 bytes) */
    const lp_expr_falts *alts_of;
    uint64_t list_bits; /* list field: bit (h >> 58) of each item's set hash h */
    uint32_t list_off;  /* list field: its item hashes start at item_hash[list_off] */
    uint32_t len;
    uint8_t flags;   /* MEMO_* */
    bool ascii;      /* no byte >= 0x80 */
} lp_expr_memo;

struct lp_expr_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    uint64_t gen; /* bumped per lead by lp_expr_scratch_reset; 0: no memo */
    uint32_t items_used; /* item_hash entries taken by this lead's lists */
    lp_expr_memo memo[LP_EXPR_MEMO];
    uint64_t item_hash[LP_EXPR_ITEM_HASHES]; /* set hashes of list items, per lead */
};

/* ASCII lower case, branch-free; bytes >= 0x80 are left alone. */
static inline unsigned char lp_expr_fold(unsigned char c)
{
    return (unsigned char)(c | (((unsigned)(c - 'A') < 26u) << 5));
}

/* A word byte for \b: PCRE2's default tables without UCP, on ASCII. */
static inline bool lp_expr_is_word(unsigned char c)
{
    unsigned char l = c | 0x20;
    return c == '_' || (c >= '0' && c <= '9') || (l >= 'a' && l <= 'z');
}

/* Frees what node n owns (literal, needle, regex, owned set), not n itself. */
void lp_expr_node_release(lp_expr_node *n);

/*
 * Builds the compiled form of the parsed tree (count nodes, root named) as
 * a branch program (expr_plan.c). The leaves' owned resources move to the
 * result; the tree array itself stays the caller's. fields is the mask of
 * fields read. Returns NULL when memory runs out (nothing moved then).
 */
lp_expr *lp_expr_plan(const lp_expr_node *tree, uint32_t count, uint32_t root, uint64_t fields);

#endif
