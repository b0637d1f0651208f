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
 * non-members without calling into the set. A list field's items are hashed
 * together, into the scratch, the first time the lead's list meets an "in";
 * the list's own summary of its items' hashes then rejects most sets
 * ("technologies in $crm") without a walk over the items.
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

/*
 * True when no byte of s (n bytes) is >= 0x80; eight bytes per step. The
 * bytes after the last full word are read as one word ending at s + n (or
 * two overlapping four-byte ones), which sees some bytes twice and none
 * outside s.
 */
static bool is_ascii(const char *s, size_t n)
{
    uint64_t acc = 0, w;
    uint32_t h;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    if (i == n)
        return (acc & 0x8080808080808080ull) == 0;
    if (n >= 8) {
        memcpy(&w, s + n - 8, 8);
        acc |= w;
    } else if (n >= 4) {
        memcpy(&h, s, 4);
        acc |= h;
        memcpy(&h, s + n - 4, 4);
        acc |= h;
    } else {
        acc |= (unsigned char)s[0] | (unsigned char)s[n / 2] | (unsigned char)s[n - 1];
    }
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

/* ---- alternations combined per field (expr_pool.c, lp_expr_falts) ------ */

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull
#define FBUF_WORDS ((64 + LITS_LEN_MAX) / 8 + 1) /* a value of <= 64 bytes, then zeros */

/* Eight bytes with byte j at bits 8j, whatever the machine's byte order. */
static inline uint64_t load_le8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The k < 8 bytes at p as load_le8 would give them, zero above. */
static inline uint64_t load_le_part(const char *p, size_t k)
{
    uint64_t w = 0;
    for (size_t j = 0; j < k; j++)
        w |= (uint64_t)(unsigned char)p[j] << (8 * j);
    return w;
}

/* Eight bytes folded at once: lp_expr_fold on each byte. */
static inline uint64_t fold8(uint64_t w)
{
    uint64_t low7 = w & ~HIGH;
    uint64_t ge_a = low7 + (0x80 - 'A') * ONES;     /* high bit: byte >= 'A' */
    uint64_t gt_z = low7 + (0x80 - 'Z' - 1) * ONES; /* high bit: byte > 'Z' */
    return w | (((ge_a ^ gt_z) & ~w & HIGH) >> 2);
}

/* Bit j: byte j of the folded ASCII word w is a word byte (lp_expr_is_word). */
static inline uint64_t word_bits8(uint64_t w)
{
    uint64_t x = w | HIGH; /* byte - c then keeps its high bit exactly when byte >= c */
#define GE(c) ((x - (uint64_t)(c) * ONES) & HIGH)
    uint64_t t = (GE('0') & ~GE('9' + 1)) | (GE('_') & ~GE('_' + 1)) | (GE('a') & ~GE('z' + 1));
#undef GE
    return ((t >> 7) * 0x0102040810204080ull) >> 56; /* the eight high bits, gathered */
}

/* The eight bytes of buf (as loaded by load_le8) from byte i on. */
static inline uint64_t word_at(const uint64_t *buf, unsigned i)
{
    unsigned q = i / 8, r = (i % 8) * 8;
    return (buf[q] >> r) | ((buf[q + 1] << 1) << (63 - r));
}

/* True when \b holds before byte p (<= 64) of a value whose word bytes are word. */
static inline bool bound_at(uint64_t word, unsigned p)
{
    bool before = p > 0 && ((word >> (p - 1)) & 1);
    bool after = p < 64 && ((word >> p) & 1);
    return before != after;
}

/*
 * True when literal t matches at byte i of the folded, zero-padded value in
 * buf. Literal bytes are never zero, so the padding ends a match at the
 * value's end without a length test.
 */
static inline bool flit_at(const lp_expr_flit *t, const uint64_t *buf, unsigned i, uint64_t word)
{
    unsigned last = t->nwords - 1u;
    for (unsigned j = 0; j < last; j++)
        if (word_at(buf, i + 8 * j) != t->w[j])
            return false;
    if ((word_at(buf, i + 8 * last) & t->last_mask) != t->w[last])
        return false;
    return (!t->lb || bound_at(word, i)) && (!t->tb || bound_at(word, i + t->len));
}

/*
 * The alternations of F (bit k: alternation k) that match s, n <= 64 bytes;
 * *ascii says whether s is ASCII (when not, the result is 0 and means
 * nothing). One pass folds s into a zero-padded buffer and finds its word
 * bytes eight at a time; then each position where a literal may start (word
 * starts only, unless some literal may start elsewhere) tries the literals
 * that begin with its byte, skipping those whose alternations already matched.
 */
static NOINLINE uint64_t falts_scan(const lp_expr_falts *F, const char *s, size_t n, bool *ascii)
{
    uint64_t buf[FBUF_WORDS] = {0}, word = 0, high = 0;
    for (size_t j = 0; 8 * j < n; j++) {
        size_t k = n - 8 * j;
        uint64_t w = k >= 8 ? load_le8(s + 8 * j)
                   : n >= 8 ? load_le8(s + n - 8) >> (8 * (8 - k))
                            : load_le_part(s, k);
        high |= w;
        buf[j] = fold8(w);
        word |= word_bits8(buf[j]) << (8 * j);
    }
    *ascii = (high & HIGH) == 0;
    if (!*ascii)
        return 0;
    uint64_t cand = word & ~(word << 1); /* word starts */
    if (F->anywhere)
        cand = n < 64 ? (1ull << n) - 1 : ~0ull;
    uint64_t alts = 0;
    for (; cand; cand &= cand - 1) {
        unsigned i = (unsigned)__builtin_ctzll(cand);
        unsigned b = (unsigned)(buf[i / 8] >> (8 * (i % 8))) & 0xff;
        for (unsigned k = F->first[b], end = F->first[b + 1]; k < end; k++) {
            const lp_expr_flit *t = &F->lits[k];
            if ((t->alts & ~alts) && flit_at(t, buf, i, word))
                alts |= t->alts;
        }
    }
    return alts;
}

/*
 * Whether the alternation L matches anywhere in s. Any branch matching at
 * any position is a match, as for the regex (no captures are used). An
 * alternation in its field's combined table is a bit of the mask the memo
 * keeps for the value: the first test of the value in a lead scans it for
 * all of them (regex_leaf answers the later ones). When every literal
 * begins a word (\b then a word byte), only word starts are tried; they are
 * found once per value and lead through the memo.
 */
static NOINLINE bool lits_match(const lp_expr_lits *L, unsigned slot, const char *s, size_t n,
                                lp_expr_scratch *sc)
{
    if (L->falts && n <= 64 && sc && sc->gen) {
        lp_expr_memo *m = memo_entry(sc, slot, s, n);
        if (!(m->flags & MEMO_ALTS) || m->alts_of != L->falts) {
            m->alts = falts_scan(L->falts, s, n, &m->ascii);
            m->alts_of = L->falts;
            m->flags |= MEMO_ALTS;
        }
        if (m->ascii)
            return (m->alts >> L->alt) & 1;
        return re_match(L->re, L->jit, s, n, sc);
    }
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

/*
 * A regex leaf on one value, negated when neg; literal alternations skip
 * PCRE2. The common case comes first and keeps few registers: an
 * alternation whose field's table the memo has already scanned for this
 * value is one bit test.
 */
static NOINLINE bool regex_leaf(const lp_expr_node *n, unsigned slot, const char *s, size_t len,
                                lp_expr_scratch *sc, bool neg)
{
    if (n->op != OP_STR_LITS)
        return regex_match(n, s, len, sc) != neg;
    const lp_expr_lits *L = n->u.lits;
    if (L->falts && sc && sc->gen && slot < MEMO_ITEM) {
        const lp_expr_memo *m = &sc->memo[slot];
        if (m->gen == sc->gen && m->ptr == s && m->len == len && (m->flags & MEMO_ALTS) &&
            m->alts_of == L->falts && m->ascii)
            return ((m->alts >> L->alt) & 1) != neg;
    }
    return lits_match(L, slot, s, len, sc) != neg;
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

/*
 * The memo entry of list field f's value v, with every item's set hash in
 * sc->item_hash and their summary in list_bits: computed by the first "in"
 * test of the list in a lead, read by the others. A list whose items no
 * longer fit gets list_off LIST_UNHASHED.
 */
static const lp_expr_memo *list_memo(lp_expr_scratch *sc, unsigned f, const lp_val *v)
{
    lp_expr_memo *m = memo_entry(sc, f, (const char *)v->list, v->len);
    if (m->flags & MEMO_LIST)
        return m;
    m->flags |= MEMO_LIST;
    m->list_bits = 0;
    m->list_off = LIST_UNHASHED;
    if (v->len > LP_EXPR_ITEM_HASHES - sc->items_used)
        return m;
    m->list_off = sc->items_used;
    sc->items_used += v->len;
    for (uint32_t k = 0; k < v->len; k++) {
        uint64_t h = lp_strset_hash(v->list[k].ptr, v->list[k].len);
        sc->item_hash[m->list_off + k] = h;
        m->list_bits |= 1ull << (h >> 58);
    }
    return m;
}

/*
 * "in" on a list field, negated when neg: any item a member. When no
 * item's summary bit is one of the set's (the usual case), the answer comes
 * without reading an item; otherwise only items whose own bit is the set's
 * are probed, with the hashes the memo keeps.
 */
static bool list_in(const lp_expr_node *n, const lp_val *v, lp_expr_scratch *sc, bool *done)
{
    const lp_expr_memo *m = list_memo(sc, n->field, v);
    *done = m->list_off != LIST_UNHASHED;
    if (!*done || !(m->list_bits & n->u.in.bits))
        return false;
    const uint64_t *h = &sc->item_hash[m->list_off];
    for (uint32_t k = 0; k < v->len; k++)
        if (((n->u.in.bits >> (h[k] >> 58)) & 1) &&
            lp_strset_has_hashed(n->u.in.set, h[k], v->list[k].ptr, v->list[k].len))
            return true;
    return false;
}

/* A string leaf on a list field: any item passes (none, when negated). */
static NOINLINE bool list_leaf(const lp_expr_node *n, const lp_val *v, lp_expr_scratch *sc)
{
    bool hit = false;
    if (n->op == OP_STR_IN && sc && sc->gen) {
        bool done;
        hit = list_in(n, v, sc, &done);
        if (done)
            return hit != ((n->flags & NF_NEG) != 0);
    }
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
    s->items_used = 0;
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
