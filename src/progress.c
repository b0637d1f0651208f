/*
 * progress.c - the progress bar; see progress.h.
 */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double lp_progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lp_progress_start(lp_progress *p, const char *label, bool force)
{
    p->label = label;
    p->enabled = force || isatty(STDERR_FILENO);
    p->start = p->last_draw = lp_progress_now();
    p->items = 0;
}

static void draw(lp_progress *p, double now, uint64_t items, uint64_t done, uint64_t total,
                 bool final)
{
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)items / elapsed : 0;
    char bar[31] = "";
    double frac = total ? (double)done / (double)total : 0;
    if (frac > 1)
        frac = 1;
    int filled = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    double eta = (frac > 0 && frac < 1) ? elapsed * (1 - frac) / frac : 0;
    if (total)
        fprintf(stderr, "\r%s [%s] %5.1f%%  %llu rows  %.0f rows/s  ETA %.0fs   ", p->label, bar,
                frac * 100, (unsigned long long)items, rate, eta);
    else
        fprintf(stderr, "\r%s %llu rows  %.0f rows/s   ", p->label, (unsigned long long)items,
                rate);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

void lp_progress_update(lp_progress *p, uint64_t items, uint64_t done, uint64_t total)
{
    p->items = items;
    if (!p->enabled || (items & 1023) != 0)
        return;
    double now = lp_progress_now();
    if (now - p->last_draw < 0.25)
        return;
    p->last_draw = now;
    draw(p, now, items, done, total, false);
}

void lp_progress_finish(lp_progress *p, uint64_t items, uint64_t done, uint64_t total)
{
    p->items = items;
    if (p->enabled)
        draw(p, lp_progress_now(), items, done, total, true);
}
