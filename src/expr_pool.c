/*
 * expr_pool.c - what the rules of one pipeline share: per text field, one
 * table combining every caseless literal alternation on that field.
 *
 * The default pipeline tests a lead's title against a dozen alternations
 * such as /\b(vp|svp|evp|vice president)\b/i. Matched one by one, each scans
 * the title's word starts again. Compiled with a pool, each alternation
 * instead gets a bit (up to FALTS_MAX per field) and its literals join the
 * field's table (lp_expr_falts, expr_node.h); evaluation scans a value once
 * per lead against the whole table, keeps the bitmask of the alternations
 * that matched in the per-lead memo, and every such leaf is then a bit test
 * (expr.c, falts_scan).
 *
 * A literal is stored once per (bytes, bounds): "director" in two
 * alternations is one entry whose alts has two bits. Entries are sorted by
 * their first byte, so a position of the value tries only the literals that
 * start with its byte. The table grows while rules compile and is rebuilt
 * (re-sorted) on each addition; compiling is rare and small.
 *
 * Threads: lp_expr_pool_add runs on the compiling thread only. Once every
 * rule is compiled the tables are never written, so evaluation from many
 * threads reads them safely.
 */
#include "expr_node.h"

#include <stdlib.h>
#include <string.h>

struct lp_expr_pool {
    lp_expr_falts *field[LP_F_COUNT];
};

lp_expr_pool *lp_expr_pool_new(void)
{
    return calloc(1, sizeof(lp_expr_pool));
}

void lp_expr_pool_free(lp_expr_pool *pool)
{
    if (!pool)
        return;
    for (int f = 0; f < LP_F_COUNT; f++) {
        if (pool->field[f])
            free(pool->field[f]->lits);
        free(pool->field[f]);
    }
    free(pool);
}

/* Literal k of L as a table entry for alternation bit. */
static lp_expr_flit flit_of(const lp_expr_lits *L, unsigned k, unsigned bit)
{
    lp_expr_flit t = {.alts = 1ull << bit, .len = L->len[k], .lb = L->lb[k], .tb = L->tb[k]};
    t.nwords = (uint8_t)((t.len + 7) / 8);
    t.last_mask = t.len % 8 ? (1ull << (8 * (t.len % 8))) - 1 : ~0ull;
    for (unsigned j = 0; j < t.len; j++)
        t.w[j / 8] |= (uint64_t)(unsigned char)L->lit[k][j] << (8 * (j % 8));
    return t;
}

static bool flit_same(const lp_expr_flit *a, const lp_expr_flit *b)
{
    return a->len == b->len && a->lb == b->lb && a->tb == b->tb &&
           memcmp(a->w, b->w, sizeof a->w) == 0;
}

static int by_first_byte(const void *a, const void *b)
{
    return (int)(((const lp_expr_flit *)a)->w[0] & 0xff) -
           (int)(((const lp_expr_flit *)b)->w[0] & 0xff);
}

/* Sorts the entries by first byte and rebuilds first[]. */
static void falts_index(lp_expr_falts *F)
{
    qsort(F->lits, F->nlits, sizeof F->lits[0], by_first_byte);
    uint32_t k = 0;
    for (unsigned b = 0; b <= 256; b++) {
        while (k < F->nlits && (F->lits[k].w[0] & 0xff) < b)
            k++;
        F->first[b] = (uint16_t)k;
    }
}

/*
 * Adds literal t to F, merged with an equal entry if there is one.
 * Returns false when memory runs out.
 */
static bool falts_put(lp_expr_falts *F, const lp_expr_flit *t)
{
    for (uint32_t i = 0; i < F->nlits; i++)
        if (flit_same(&F->lits[i], t)) {
            F->lits[i].alts |= t->alts;
            return true;
        }
    lp_expr_flit *a = realloc(F->lits, (F->nlits + 1) * sizeof *a);
    if (!a)
        return false;
    F->lits = a;
    F->lits[F->nlits++] = *t;
    return true;
}

bool lp_expr_pool_add(lp_expr_pool *pool, unsigned f, lp_expr_lits *L)
{
    if (!L->caseless || f >= LP_F_COUNT)
        return false; /* the table holds folded literals */
    lp_expr_falts *F = pool->field[f];
    if (!F && !(F = pool->field[f] = calloc(1, sizeof *F)))
        return false;
    if (F->nalts == FALTS_MAX)
        return false;
    unsigned bit = F->nalts;
    for (unsigned k = 0; k < L->n; k++) {
        lp_expr_flit t = flit_of(L, k, bit);
        if (!falts_put(F, &t)) {
            for (uint32_t i = 0; i < F->nlits; i++) /* forget the half-added alternation */
                F->lits[i].alts &= ~(1ull << bit);
            falts_index(F);
            return false;
        }
        F->anywhere |= !(t.lb && lp_expr_is_word((unsigned char)L->lit[k][0]));
    }
    F->nalts++;
    falts_index(F);
    L->falts = F;
    L->alt = (uint8_t)bit;
    return true;
}
