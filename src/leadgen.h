/*
 * leadgen.h - deterministic synthetic B2B leads.
 *
 * The generator makes leads that look like what Apollo, HubSpot and web
 * forms hand to leadpipe: people with names in many scripts, titles with
 * matching seniority and department, companies on a long tail of sizes
 * with revenue that follows size, a weighted country mix, free-mail versus
 * corporate addresses, technologies, skewed engagement, campaigns and UTM
 * fields, consent flags and two custom attributes. A share of leads repeat an
 * earlier person (the email differs only in case or white space), and a
 * share carry a defect the validate stage must catch.
 *
 * Determinism: the same options give the same leads, byte for byte, on every
 * machine. Randomness comes from xoshiro256** (Blackman and Vigna), seeded
 * through splitmix64; no floating-point library function is used. Each
 * person is a 64-bit seed from which all person fields are drawn, so a
 * duplicate is the same person regenerated.
 *
 * Cost: lp_leadgen_new() builds a pool of companies and a few tables (one
 * allocation arena). lp_leadgen_next() allocates nothing from the heap: its
 * strings point into the generator's tables or into the caller's arena
 * (about 150 bytes per lead).
 *
 * Threads: a generator belongs to one thread at a time. Separate generators
 * are independent.
 */
#ifndef LP_LEADGEN_H
#define LP_LEADGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "lead.h"

typedef struct lp_leadgen lp_leadgen;

typedef struct lp_leadgen_opts {
    uint64_t seed;       /* same seed -> same leads */
    double dup_rate;     /* share of leads that repeat an earlier person (0.03) */
    double invalid_rate; /* share of leads with a defect validation must catch (0.02) */
    int64_t base_ms;     /* received_at of the first lead, ms since the epoch */
} lp_leadgen_opts;

/* The defect a generated lead carries, if any. */
typedef enum lp_leadgen_defect {
    LP_LEADGEN_VALID = 0,
    LP_LEADGEN_EMAIL_MALFORMED, /* "jane.doe@@acme.com", "jane.doe@acme", ... */
    LP_LEADGEN_EMAIL_MISSING,   /* no email field at all */
    LP_LEADGEN_PHONE_BAD,       /* "n/a", "123", "+1 (555) CALL-NOW", ... */
    LP_LEADGEN_URL_BAD,         /* a LinkedIn or website value that is no URL */
} lp_leadgen_defect;

/* What the generator knows about the lead it made last (ground truth for
 * tests and the bench). */
typedef struct lp_leadgen_info {
    uint64_t index; /* 0-based position in the stream */
    lp_leadgen_defect defect;
    lp_err_t expect; /* the code validation should reject it with, or LP_OK */
    bool duplicate;  /* repeats an earlier person */
    uint64_t dup_of; /* index of that person's first lead */
    bool free_mail;  /* the email is at a free-mail provider */
} lp_leadgen_info;

/* Default seed 1, rates 0.03 and 0.02, base 2024-05-01T00:00:00Z. */
#define LP_LEADGEN_BASE_MS_DEFAULT 1714521600000LL

/* Fills o with the defaults above. */
void lp_leadgen_opts_init(lp_leadgen_opts *o);

/*
 * Creates a generator. Rates must lie in [0, 1] and add up to at most 1.
 * Returns NULL when they do not, or when memory runs out.
 */
lp_leadgen *lp_leadgen_new(const lp_leadgen_opts *o);

/* Frees a generator; NULL is allowed. Leads it made must not be used after. */
void lp_leadgen_free(lp_leadgen *g);

/*
 * Fills l (cleared first) with the next lead. Strings point into tables that
 * g owns or into a; they live until lp_leadgen_free(g) or the next reset of
 * a, whichever comes first. If a cannot grow, the fields that needed it are
 * left absent.
 */
void lp_leadgen_next(lp_leadgen *g, lp_lead *l, lp_arena *a);

/* Describes the lead the last lp_leadgen_next() call made. */
const lp_leadgen_info *lp_leadgen_last(const lp_leadgen *g);

/* The keys of the custom attributes generated leads may carry. */
#define LP_LEADGEN_CUSTOM_PRODUCT "product_interest"
#define LP_LEADGEN_CUSTOM_TRIAL "trial_status"

#endif
