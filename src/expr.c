/*
 * expr.c - evaluation of compiled rule expressions (expr.h).
 *
 * Owns: lp_expr lifetimes and the per-thread lp_expr_scratch. The compiler
 * (expr_compile.c, expr_plan.c) turns source text into the branch program of
 * expr_node.h; this file runs it: a loop of leaf tests, each choosing the
 * next leaf, after a presence-mask check that answers "false" for leads
 * missing a required field. Everything a leaf needs was prepared at compile time,
 * so evaluation does no name lookup, no parsing and no allocation: a string
 * leaf is a length check and a folded compare, a hash-set probe, a Horspool
 * scan or one PCRE2 JIT match; an integer comparison is one range test.
 *
 * Most rules are a single leaf (two thirds of the default pipeline's). Their
 * program needs no loop: lp_expr_eval answers with the leaf's test, and
 * every string test is a call in tail position that applies the leaf's
 * negation itself, so lp_expr_eval needs no stack frame.
 *
 * Regexes that are alternations of literals (most rule regexes) are matched
 * on ASCII values by lits_match(), without a PCRE2 call; see lp_expr_lits.
 *
 * String values tested with "in" are hashed once per lead: the scratch keeps
 * a small memo of set hashes (one entry per scalar field, a few for list
 * items), valid from one lp_expr_scratch_reset() to the next. Each "in"
 * leaf keeps a 64-bit summary of its set's hashes, which rejects most
 * non-members without calling into the set.
 *
 * Regexes are compiled with PCRE2_MATCH_INVALID_UTF so that the JIT fast path
 * (pcre2_jit_match, which skips PCRE2's UTF check) stays safe on bytes that
 * are not UTF-8. All regexes share the scratch's single match data block.
 *
 * Threads: a compiled lp_expr is never written after lp_expr_compile returns,
 * so any number of threads may evaluate it at once, each passing its own
 * lp_expr_scratch (match data, match context and JIT stack).
 */
#include "expr_node.h"

#include <stdlib.h>
#include <string.h>

#define JIT_STACK_MAX (512u * 1024u)
/* Keeps a rarely taken or loop-heavy test out of its caller's register budget. */
#define NOINLINE __attribute__((noinline))
#define MEMO_ITEM 64u /* memo_entry slot of a list item */

/* ---- evaluation ------------------------------------------------------- */

/* True when s equals the folded literal lit (both n bytes), ignoring case. */
static inline bool fold_equal(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lp_expr_fold((unsigned char)s[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

/* Whether needle nd occurs in h (n bytes), ignoring case; negated when neg. */
static NOINLINE bool needle_in(const lp_expr_needle *nd, const char *h, size_t n, bool neg)
{
    size_t m = nd->len;
    if (m == 0)
        return !neg;
    const unsigned char last = (unsigned char)nd->lit[m - 1];
    for (size_t i = 0; i + m <= n;) {
        unsigned char c = lp_expr_fold((unsigned char)h[i + m - 1]);
        if (c == last && fold_equal(h + i, nd->lit, m - 1))
            return !neg;
        i += nd->skip[c];
    }
    return neg;
}

/* String equality with the node's folded literal, ignoring ASCII case. */
static inline bool str_equal(const lp_expr_node *n, const char *s, size_t len)
{
    return len == n->len && fold_equal(s, (n->flags & NF_INLINE) ? n->u.small : n->u.lit, len);
}

static NOINLINE bool re_match(const pcre2_code *re, bool jit, const char *s, size_t len,
                     lp_expr_scratch *sc)
{
    PCRE2_SPTR subj = (PCRE2_SPTR)(s ? s : "");
    int rc;
    if (jit)
        rc = pcre2_jit_match(re, subj, len, 0, 0, sc->md, sc->mctx);
    else
        rc = pcre2_match(re, subj, len, 0, 0, sc->md, sc->mctx);
    return rc >= 0;
}

static bool regex_match(const lp_expr_node *n, const char *s, size_t len, lp_expr_scratch *sc)
{
    return re_match(n->u.re, (n->flags & NF_JIT) != 0, s, len, sc);
}

/* ---- literal alternations (expr_node.h, lp_expr_lits) ------------------ */

/* True when \b holds before byte p of s (n bytes). */
static inline bool word_boundary(const char *s, size_t n, size_t p)
{
    bool before = p > 0 && lp_expr_is_word((unsigned char)s[p - 1]);
    bool after = p < n && lp_expr_is_word((unsigned char)s[p]);
    return before != after;
}

/* True when no byte of s (n bytes) is >= 0x80; eight bytes per step. */
static bool is_ascii(const char *s, size_t n)
{
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= (unsigned char)s[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* True when literal k (whose first byte matched) matches at byte i of s. */
static inline bool lit_at(const lp_expr_lits *L, unsigned k, const char *s, size_t n, size_t i)
{
    size_t m = L->len[k];
    if (m > n - i || (L->lb[k] && !word_boundary(s, n, i)))
        return false;
    for (size_t j = 1; j < m; j++) {
        unsigned char c = (unsigned char)s[i + j];
        if ((L->caseless ? lp_expr_fold(c) : c) != (unsigned char)L->lit[k][j])
            return false;
    }
    return !L->tb[k] || word_boundary(s, n, i + m);
}

/* Bit i set when a word starts at byte i of s (n <= 64 bytes). */
static uint64_t word_starts(const char *s, size_t n)
{
    uint64_t bits = 0;
    bool prev = false;
    for (size_t i = 0; i < n; i++) {
        bool w = lp_expr_is_word((unsigned char)s[i]);
        bits |= (uint64_t)(w && !prev) << i;
        prev = w;
    }
    return bits;
}

/* Bit (b & 63) for the byte b at each position in starts (see lp_expr_lits.letters). */
static uint64_t start_letters(const char *s, uint64_t starts)
{
    uint64_t bits = 0;
    for (; starts; starts &= starts - 1)
        bits |= 1ull << ((unsigned char)s[__builtin_ctzll(starts)] & 63);
    return bits;
}

/* The literals of L that match at one of the byte positions in starts. */
static bool lits_at_starts(const lp_expr_lits *L, const char *s, size_t n, uint64_t starts)
{
    for (; starts; starts &= starts - 1) {
        size_t i = (size_t)__builtin_ctzll(starts);
        for (unsigned m = L->first[(unsigned char)s[i]]; m; m &= m - 1)
            if (lit_at(L, (unsigned)__builtin_ctz(m), s, n, i))
                return true;
    }
    return false;
}

/* The literals of L at every byte of s; a byte that starts none costs a load. */
static bool lits_anywhere(const lp_expr_lits *L, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (unsigned m = L->first[(unsigned char)s[i]]; m; m &= m - 1)
            if (lit_at(L, (unsigned)__builtin_ctz(m), s, n, i))
                return true;
    return false;
}

/*
 * The memo entry of a value for the lead being evaluated: the entry of its
 * field for a scalar field (slot < 64), one picked by address for a list
 * item (slot MEMO_ITEM). An entry left from another value or an
 * older lead is taken over and emptied.
 */
static inline lp_expr_memo *memo_entry(lp_expr_scratch *sc, unsigned slot, const char *s,
                                       size_t len)
{
    uintptr_t k = (uintptr_t)s;
    if (slot >= MEMO_ITEM)
        slot = MEMO_ITEM + (unsigned)(((k >> 3) ^ (k >> 9) ^ len) & (LP_EXPR_MEMO_ITEMS - 1));
    lp_expr_memo *m = &sc->memo[slot];
    if (m->gen != sc->gen || m->ptr != s || m->len != len) {
        m->gen = sc->gen;
        m->ptr = s;
        m->len = (uint32_t)len;
        m->flags = 0;
    }
    return m;
}

/*
 * Whether the alternation L matches anywhere in s. Any branch matching at
 * any position is a match, as for the regex (no captures are used). When
 * every literal begins a word (\b then a word byte), only word starts are
 * tried; they are found once per value and lead through the memo.
 */
static bool lits_match(const lp_expr_lits *L, unsigned slot, const char *s, size_t n,
                       lp_expr_scratch *sc)
{
    if (L->anchored && n <= 64 && sc && sc->gen) {
        lp_expr_memo *m = memo_entry(sc, slot, s, n);
        if (!(m->flags & MEMO_WORDS)) {
            m->ascii = is_ascii(s, n);
            m->starts = m->ascii ? word_starts(s, n) : 0;
            m->letters = start_letters(s, m->starts);
            m->flags |= MEMO_WORDS;
        }
        /* no word starts with a byte any literal starts with: no match */
        if (m->ascii)
            return (m->letters & L->letters) && lits_at_starts(L, s, n, m->starts);
        return re_match(L->re, L->jit, s, n, sc);
    }
    if (!is_ascii(s, n))
        return re_match(L->re, L->jit, s, n, sc);
    if (L->anchored && n <= 64)
        return lits_at_starts(L, s, n, word_starts(s, n));
    return lits_anywhere(L, s, n);
}

/* The set hash of a value, computed once per lead through the memo. */
static uint64_t memo_hash(lp_expr_scratch *sc, unsigned slot, const char *s, size_t len)
{
    lp_expr_memo *m = memo_entry(sc, slot, s, len);
    if (!(m->flags & MEMO_HASH)) {
        m->hash = lp_strset_hash(s, len);
        m->flags |= MEMO_HASH;
    }
    return m->hash;
}

/*
 * "in" on one value, negated when neg. The value's hash comes from the memo
 * (computed once per lead), and the node's 64-bit summary of the set's
 * hashes rejects most values that are not members before the set itself is
 * called.
 */
static NOINLINE bool set_has(const lp_expr_node *n, unsigned slot, const char *s, size_t len,
                             lp_expr_scratch *sc, bool neg)
{
    uint64_t h = sc && sc->gen ? memo_hash(sc, slot, s, len) : lp_strset_hash(s, len);
    if (!((n->u.in.bits >> (h >> 58)) & 1))
        return neg; /* no member's hash has these top bits */
    return lp_strset_has_hashed(n->u.in.set, h, s, len) != neg;
}

/* A regex leaf on one value, negated when neg; literal alternations skip PCRE2. */
static NOINLINE bool regex_leaf(const lp_expr_node *n, unsigned slot, const char *s, size_t len,
                                lp_expr_scratch *sc, bool neg)
{
    if (n->op == OP_STR_LITS)
        return lits_match(n->u.lits, slot, s, len, sc) != neg;
    return regex_match(n, s, len, sc) != neg;
}

/*
 * One string test of a string leaf against one value, negated when neg;
 * slot as memo_entry. Equality is compared here, the rest called in tail
 * position.
 */
static inline bool text_test(const lp_expr_node *n, unsigned slot, const char *s, size_t len,
                             lp_expr_scratch *sc, bool neg)
{
    switch (n->op) {
    case OP_STR_EQ:
        return str_equal(n, s, len) != neg;
    case OP_STR_IN:
        return set_has(n, slot, s, len, sc, neg);
    case OP_STR_CONTAINS:
        return needle_in(n->u.needle, s, len, neg);
    default:
        return regex_leaf(n, slot, s, len, sc, neg);
    }
}

/* A string leaf on a list field: any item passes (none, when negated). */
static NOINLINE bool list_leaf(const lp_expr_node *n, const lp_val *v, lp_expr_scratch *sc)
{
    bool hit = false;
    for (uint32_t k = 0; k < v->len && !hit; k++)
        hit = text_test(n, MEMO_ITEM, v->list[k].ptr, v->list[k].len, sc, false);
    return hit != ((n->flags & NF_NEG) != 0);
}

static bool cmp_double(unsigned op, double a, double b)
{
    switch (op) {
    case CMP_EQ:
        return a == b;
    case CMP_NE:
        return a != b;
    case CMP_LT:
        return a < b;
    case CMP_LE:
        return a <= b;
    case CMP_GT:
        return a > b;
    default:
        return a >= b;
    }
}

static inline double as_double(const lp_expr_node *n, const lp_val *v)
{
    return (n->flags & NF_DOUBLE) ? v->d : (double)v->i;
}

/*
 * The test of leaf n on its field's value v (the field is present),
 * negated by NF_NEG. Numbers and booleans are tested inline (every integer
 * comparison is a range, expr_compile.c); string tests are calls in tail
 * position that apply the negation themselves, so a caller returning this
 * needs no stack frame.
 */
static inline bool leaf_test(const lp_expr_node *n, const lp_val *v, lp_expr_scratch *sc)
{
    bool neg = (n->flags & NF_NEG) != 0;
    switch (n->op) {
    case OP_HAS:
        return !neg;
    case OP_BOOL:
        return ((v->i != 0) == (n->u.i != 0)) != neg;
    case OP_BETWEEN_I:
        return (v->i >= n->u.ri.lo && v->i <= n->u.ri.hi) != neg;
    case OP_CMP_D:
        return cmp_double(n->cmp, as_double(n, v), n->u.d) != neg;
    case OP_BETWEEN_D: {
        double x = as_double(n, v);
        return (x >= n->u.rd.lo && x <= n->u.rd.hi) != neg;
    }
    default:
        break;
    }
    if (n->flags & NF_LIST)
        return list_leaf(n, v, sc);
    return text_test(n, n->field, v->s, v->len, sc, neg);
}

/*
 * Program node n on lead: its leaf test, or when its field is missing the
 * verdict for that (false, unless a "not" was folded into the leaf).
 */
static inline bool node_test(const lp_expr_node *n, const lp_lead *lead, lp_expr_scratch *sc)
{
    if (!lp_lead_has(lead, (lp_field_id)n->field))
        return (n->flags & NF_MISSING_TRUE) != 0;
    return leaf_test(n, &lead->v[n->field], sc);
}

/* The branch program of e from its entry, one leaf test per step, to one of its ends. */
static NOINLINE bool run_program(const lp_expr *e, const lp_lead *lead, lp_expr_scratch *sc)
{
    uint32_t pc = e->root;
    while (pc < EXPR_FALSE) {
        const lp_expr_node *n = &e->nodes[pc];
        pc = node_test(n, lead, sc) ? n->on_true : n->on_false;
    }
    return pc == EXPR_TRUE;
}

/*
 * Evaluates e against lead. Never allocates. scratch may be NULL only when
 * the expression has no regex. Safe from any thread with its own scratch.
 * A lead missing a field the expression cannot be true without is answered
 * from the presence mask. Most rules are one leaf ("employee_count >= 1000",
 * "industry in $target"): their answer is the leaf's own test, so they skip
 * the program loop; the rest run the branch program.
 */
bool lp_expr_eval(const lp_expr *e, const lp_lead *lead, lp_expr_scratch *scratch)
{
    if ((lead->present & e->required) != e->required)
        return false;
    if (e->one_leaf)
        return node_test(&e->nodes[0], lead, scratch);
    return run_program(e, lead, scratch);
}

/* The bitmask (1 << lp_field_id) of fields that e reads, has() included. */
uint64_t lp_expr_fields(const lp_expr *e)
{
    return e->fields;
}

/* ---- node ownership --------------------------------------------------- */

/* Frees what node n owns (literal, needle, regex, owned set), not n itself. */
void lp_expr_node_release(lp_expr_node *n)
{
    switch (n->op) {
    case OP_STR_EQ:
        if (!(n->flags & NF_INLINE))
            free(n->u.lit);
        break;
    case OP_STR_IN:
        if (n->flags & NF_OWNED)
            lp_strset_free((lp_strset *)n->u.in.set); /* built by this node */
        break;
    case OP_STR_CONTAINS:
        free(n->u.needle);
        break;
    case OP_STR_MATCH:
        pcre2_code_free(n->u.re);
        break;
    case OP_STR_LITS:
        pcre2_code_free(n->u.lits->re);
        free(n->u.lits);
        break;
    default:
        break;
    }
}

/* Frees e with its regexes, needles, literals and owned sets. NULL is ok. */
void lp_expr_free(lp_expr *e)
{
    if (!e)
        return;
    for (uint32_t i = 0; i < e->count; i++)
        lp_expr_node_release(&e->nodes[i]);
    free(e);
}

/*
 * Creates the per-thread scratch space that regex evaluation needs: one
 * match data block (a single ovector pair) shared by every regex, and a JIT
 * stack. Returns NULL when memory runs out.
 */
lp_expr_scratch *lp_expr_scratch_new(void)
{
    lp_expr_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->md = pcre2_match_data_create(1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->md || !s->mctx)
        goto fail;
    s->jit_stack = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
    if (s->jit_stack)
        pcre2_jit_stack_assign(s->mctx, NULL, s->jit_stack);
    return s;
fail:
    lp_expr_scratch_free(s);
    return NULL;
}

/*
 * Starts a new lead: entries of older generations no longer match, so
 * nothing is cleared. The first reset also turns the memo on.
 */
void lp_expr_scratch_reset(lp_expr_scratch *s)
{
    s->gen++;
}

/* Frees a scratch created by lp_expr_scratch_new. NULL is ok. */
void lp_expr_scratch_free(lp_expr_scratch *s)
{
    if (!s)
        return;
    pcre2_jit_stack_free(s->jit_stack);
    pcre2_match_context_free(s->mctx);
    pcre2_match_data_free(s->md);
    free(s);
}
