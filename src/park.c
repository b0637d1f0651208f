/*
 * park.c - detached records and completion queues; see park.h.
 */
#include "park.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Copies n bytes into a; NULL only for a failed allocation of n > 0. */
static const char *copy_bytes(lp_arena *a, const char *s, size_t n)
{
    if (!s || n == 0)
        return s ? "" : NULL;
    char *d = lp_arena_alloc(a, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int copy_str(lp_arena *a, lp_str *s)
{
    const char *p = copy_bytes(a, s->ptr, s->len);
    if (!p && s->len)
        return -1;
    s->ptr = p;
    return 0;
}

static int copy_lead(lp_arena *a, lp_lead *l)
{
    for (int f = 0; f < LP_F_COUNT; f++) {
        if (!lp_lead_has(l, (lp_field_id)f))
            continue;
        lp_val *v = &l->v[f];
        if (lp_fields[f].type == LP_T_STR) {
            const char *p = copy_bytes(a, v->s, v->len);
            if (!p && v->len)
                return -1;
            v->s = p;
        } else if (lp_fields[f].type == LP_T_LIST && v->len) {
            lp_str *items = lp_arena_alloc(a, v->len * sizeof(lp_str));
            if (!items)
                return -1;
            memcpy(items, v->list, v->len * sizeof(lp_str));
            for (uint32_t i = 0; i < v->len; i++)
                if (copy_str(a, &items[i]))
                    return -1;
            v->list = items;
        }
    }
    if (l->ncustom) {
        lp_kv *kv = lp_arena_alloc(a, l->ncustom * sizeof(lp_kv));
        if (!kv)
            return -1;
        memcpy(kv, l->custom, l->ncustom * sizeof(lp_kv));
        for (uint32_t i = 0; i < l->ncustom; i++)
            if (copy_str(a, &kv[i].key) || copy_str(a, &kv[i].val))
                return -1;
        l->custom = kv;
    }
    return 0;
}

static int copy_record(lp_arena *a, lp_record *r)
{
    if (copy_lead(a, &r->lead) || copy_str(a, &r->raw) || copy_str(a, &r->duplicate_of))
        return -1;
    if (r->err_msg) {
        const char *m = lp_arena_strndup(a, r->err_msg, strlen(r->err_msg));
        if (!m)
            return -1;
        r->err_msg = m;
    }
    if (r->nreasons) {
        lp_reason *rs = lp_arena_alloc(a, r->nreasons * sizeof(lp_reason));
        if (!rs)
            return -1;
        memcpy(rs, r->reasons, r->nreasons * sizeof(lp_reason));
        r->reasons = rs;
    }
    if (r->ntasks) {
        lp_task *ts = lp_arena_alloc(a, r->ntasks * sizeof(lp_task));
        if (!ts)
            return -1;
        memcpy(ts, r->tasks, r->ntasks * sizeof(lp_task));
        r->tasks = ts;
    }
    return 0;
}

lp_parked *lp_park_detach(const lp_record *r, void *owner, int64_t deadline_ms)
{
    lp_parked *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    lp_arena_init(&p->arena, 4096);
    p->rec = *r;
    p->owner = owner;
    p->deadline_ms = deadline_ms;
    if (copy_record(&p->arena, &p->rec)) {
        lp_parked_free(p);
        return NULL;
    }
    return p;
}

void lp_parked_free(lp_parked *p)
{
    if (!p)
        return;
    lp_arena_free(&p->arena);
    free(p);
}

void lp_park_queue_init(lp_park_queue *q)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
}

void lp_park_queue_destroy(lp_park_queue *q)
{
    lp_parked *p = q->head;
    while (p) {
        lp_parked *next = p->next;
        lp_parked_free(p);
        p = next;
    }
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
}

void lp_park_queue_push(lp_park_queue *q, lp_parked *p)
{
    p->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
    q->count++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

lp_parked *lp_park_queue_take(lp_park_queue *q, int timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    if (!q->head && timeout_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!q->head && pthread_cond_timedwait(&q->cond, &q->lock, &ts) != ETIMEDOUT)
            ;
    }
    lp_parked *list = q->head;
    q->head = q->tail = NULL;
    q->count = 0;
    pthread_mutex_unlock(&q->lock);
    return list;
}
