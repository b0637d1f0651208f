/*
 * progress.h - a one-line progress bar on stderr for long jobs (batch,
 * import, cache load): percent, items, rate and ETA. It draws only when
 * stderr is a terminal (or when forced), at most a few times a second, so
 * calling lp_progress_update() per record costs one clock read.
 *
 * Threads: one owner.
 */
#ifndef LP_PROGRESS_H
#define LP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lp_progress {
    const char *label;
    bool enabled;
    double start;      /* seconds, monotonic */
    double last_draw;  /* seconds, monotonic */
    uint64_t items;    /* records so far */
} lp_progress;

/* Monotonic clock in seconds. */
double lp_progress_now(void);

/* Starts a bar; enabled when stderr is a tty, or when force is true. */
void lp_progress_start(lp_progress *p, const char *label, bool force);

/* Redraws when due; done/total are bytes (total 0: unknown). */
void lp_progress_update(lp_progress *p, uint64_t items, uint64_t done, uint64_t total);

/* Draws the final state and ends the line. */
void lp_progress_finish(lp_progress *p, uint64_t items, uint64_t done, uint64_t total);

#endif
