/*
 * expr_plan.c - lowers a parsed rule tree to the branch program that
 * evaluation runs (expr_node.h).
 *
 * Owns: the shape of a compiled lp_expr. Boolean operators are compiled the
 * way a C compiler compiles && and ||: each leaf gets two successors, the
 * node to test next when it holds and when it does not, and the operators
 * disappear. For a node with successors (t, f):
 *
 *     a and b   ->  a: (entry of b, f)    b: (t, f)
 *     a or b    ->  a: (t, entry of b)    b: (t, f)
 *     not a     ->  a: (f, t)
 *     true      ->  no node; its entry is t   (false: f)
 *
 * Each leaf of the tree appears once in the program, so the resources a leaf
 * owns move with it and are freed once. Leaves are laid out in the order
 * they are first tested, left to right, so a short-circuit walk only moves
 * forward through memory.
 *
 * A program of one negated leaf ("not has(phone)", "not (domain in $free)")
 * becomes that leaf with its test negated and a missing field making it
 * true (NF_NEG and NF_MISSING_TRUE flipped): the same answers, and every
 * program of one leaf then ends in TRUE when its test holds, which is what
 * evaluation's one-leaf fast path relies on.
 *
 * It also computes the required-field mask: a leaf that reads a field is
 * false when the field is missing (has() too), "and" needs what either side
 * needs, "or" what both sides need, and "not", "true" and "false" need
 * nothing. When a lead lacks one of those fields the result is false
 * without running the program.
 *
 * Threads: called from the compiling thread only; no global state.
 */
#include "expr_node.h"

#include <stdlib.h>

typedef struct plan {
    const lp_expr_node *tree;
    lp_expr_node *out;
    uint32_t n; /* nodes emitted so far */
} plan;

static bool is_end(uint32_t i)
{
    return i >= EXPR_FALSE;
}

/* Emits tree node i with successors t and f; returns its entry point. */
static uint32_t emit(plan *p, uint32_t i, uint32_t t, uint32_t f)
{
    const lp_expr_node *n = &p->tree[i];
    switch (n->op) {
    case OP_TRUE:
        return t;
    case OP_FALSE:
        return f;
    case OP_NOT:
        return emit(p, n->u.kid.lhs, f, t);
    case OP_AND:
        return emit(p, n->u.kid.lhs, emit(p, n->u.kid.rhs, t, f), f);
    case OP_OR:
        return emit(p, n->u.kid.lhs, t, emit(p, n->u.kid.rhs, t, f));
    default:
        p->out[p->n] = *n;
        p->out[p->n].on_true = t;
        p->out[p->n].on_false = f;
        return p->n++;
    }
}

/*
 * emit() writes right operands before left ones, so the first leaf tested
 * is the last written. Reversing the array (and renumbering the jumps)
 * puts the nodes in test order.
 */
static uint32_t reverse(lp_expr_node *a, uint32_t n, uint32_t entry)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!is_end(a[i].on_true))
            a[i].on_true = n - 1 - a[i].on_true;
        if (!is_end(a[i].on_false))
            a[i].on_false = n - 1 - a[i].on_false;
    }
    for (uint32_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) {
        lp_expr_node tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
    }
    return is_end(entry) ? entry : n - 1 - entry;
}

/* Folds the "not" of a one-leaf program into the leaf (see the top of this file). */
static void fold_single_not(lp_expr_node *a, uint32_t n)
{
    if (n != 1 || a[0].on_true != EXPR_FALSE || a[0].on_false != EXPR_TRUE)
        return;
    a[0].flags ^= NF_NEG | NF_MISSING_TRUE;
    a[0].on_true = EXPR_TRUE;
    a[0].on_false = EXPR_FALSE;
}

/* The fields that must all be present for tree node root to be true. */
static uint64_t required_fields(const lp_expr_node *tree, uint32_t count, uint32_t root)
{
    uint64_t *req = malloc((size_t)count * sizeof *req);
    if (!req)
        return 0; /* only a shortcut: requiring nothing is always correct */
    for (uint32_t i = 0; i < count; i++) {
        const lp_expr_node *n = &tree[i];
        switch (n->op) {
        case OP_TRUE:
        case OP_FALSE:
        case OP_NOT:
            req[i] = 0;
            break;
        case OP_AND:
            req[i] = req[n->u.kid.lhs] | req[n->u.kid.rhs];
            break;
        case OP_OR:
            req[i] = req[n->u.kid.lhs] & req[n->u.kid.rhs];
            break;
        default:
            req[i] = 1ull << n->field;
            break;
        }
    }
    uint64_t r = req[root];
    free(req);
    return r;
}

/*
 * Builds the compiled lp_expr for the parsed tree (count nodes, rooted at
 * root): the branch program, its entry and the required-field mask. The
 * leaves' owned resources move into the result. Returns NULL when memory
 * runs out, and then nothing has moved.
 */
lp_expr *lp_expr_plan(const lp_expr_node *tree, uint32_t count, uint32_t root, uint64_t fields)
{
    lp_expr *e = malloc(sizeof *e + (size_t)count * sizeof(lp_expr_node));
    if (!e)
        return NULL;
    plan p = {.tree = tree, .out = e->nodes, .n = 0};
    uint32_t entry = emit(&p, root, EXPR_TRUE, EXPR_FALSE);
    e->root = reverse(e->nodes, p.n, entry);
    e->count = p.n;
    fold_single_not(e->nodes, p.n);
    e->one_leaf = p.n == 1 && e->root == 0 && e->nodes[0].on_true == EXPR_TRUE &&
                  e->nodes[0].on_false == EXPR_FALSE;
    e->fields = fields;
    e->required = required_fields(tree, count, root);
    return e;
}
