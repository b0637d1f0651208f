/*
 * llm.h - the batched LLM router: questions about leads in, answers out,
 * within rate limits and budget, never blocking the caller.
 *
 * A caller (the llm stage) asks one question per lead and use: "is this
 * gray-zone lead SQL, MQL or nurture?" or "write the first line of this
 * nurture lead's email". lp_llm_ask() copies the question and returns at
 * once. The router's own I/O thread (started on the first ask) groups
 * questions of one use into batches of up to max_leads (waiting at most
 * linger_ms for a batch to fill), picks a provider by strategy, and sends
 * one OpenAI-compatible /v1/chat/completions request per batch over libcurl
 * multi. The answer must be a JSON array with exactly one valid element per
 * lead id; leads missing from it, or with an invalid element, are asked
 * again (up to max_attempts), the rest are answered.
 *
 * Every question is answered exactly once through its done() callback:
 * with the provider's verdict, or with a note saying why there is none
 * (deadline passed, every provider cooling down, daily budget spent, no
 * valid answer after N attempts, router shut down). The rules' own
 * decision then stands.
 *
 * Limits, per provider: requests and tokens in any sliding minute
 * (tokens estimated before the call, corrected from `usage` after it),
 * requests in flight, a daily budget; in total, a daily budget. A provider
 * that keeps failing (or answers 402 / "budget exhausted") cools down; a
 * 429 pauses it for Retry-After. When the budget left cannot cover the
 * questions waiting, the gray-zone leads closest to a threshold go first.
 *
 * Threads: lp_llm_ask() and lp_llm_stats() may be called from any thread.
 * done() runs on the router's I/O thread, with the router's lock held: it
 * must be quick and must not call back into the router.
 */
#ifndef LP_LLM_H
#define LP_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "record.h"

#define LP_LLM_MAX_PROVIDERS 16

typedef struct lp_llm lp_llm;

typedef enum lp_llm_use {
    LP_LLM_GRAY_ZONE = 0, /* qualification decision for a gray-zone lead */
    LP_LLM_FIRST_LINE,    /* personalised first line of a nurture email */
    LP_LLM_NUSES
} lp_llm_use;

typedef enum lp_llm_strategy {
    LP_LLM_COST = 0,  /* cheapest healthy provider */
    LP_LLM_BALANCED,  /* weighted split */
    LP_LLM_LATENCY,   /* best recent median latency */
    LP_LLM_QUALITY,   /* providers in the order given: first is preferred */
} lp_llm_strategy;

typedef struct lp_llm_provider_conf {
    const char *name;
    const char *url;         /* .../v1/chat/completions */
    const char *model;
    const char *api_key_env; /* NULL or "": no Authorization header */
    int64_t weight;          /* balanced strategy share */
    double input_per_mtok;   /* USD per million prompt tokens */
    double output_per_mtok;  /* USD per million completion tokens */
    int64_t rpm, tpm;        /* per sliding minute; 0: unlimited */
    int64_t concurrency;     /* requests in flight; 0: unlimited */
    double per_day_usd;      /* provider budget per UTC day; 0: none */
} lp_llm_provider_conf;

typedef struct lp_llm_conf {
    lp_llm_strategy strategy;
    const lp_llm_provider_conf *providers;
    size_t nproviders;
    int64_t max_leads;          /* leads per request */
    int64_t linger_ms;          /* longest wait for a batch to fill */
    double per_day_usd;         /* total budget per UTC day; 0: none */
    int64_t max_attempts;       /* tries per lead, across providers */
    int64_t timeout_ms;         /* per request */
    int64_t backoff_ms;         /* first retry delay; doubles, with jitter */
    int64_t fail_threshold;     /* consecutive failures before a cooldown */
    int64_t cooldown_ms;        /* how long a failing provider rests */
    int64_t first_line_max;     /* longest first line, in characters */
    const char *prompt[LP_LLM_NUSES]; /* system prompt per use */
    int64_t completion_tokens[LP_LLM_NUSES]; /* expected per lead, for estimates */
} lp_llm_conf;

/* Why a question got no verdict (lp_llm_answer.note), or NULL when it did. */
#define LP_LLM_NOTE_DEADLINE "deadline passed before a provider answered"
#define LP_LLM_NOTE_DOWN "every provider is failing or cooling down"
#define LP_LLM_NOTE_BUDGET "daily budget exhausted"
#define LP_LLM_NOTE_INVALID "no valid answer after the allowed attempts"
#define LP_LLM_NOTE_SHUTDOWN "router shut down before an answer"

/* An answer to one question; its strings live only during done(). */
typedef struct lp_llm_answer {
    lp_llm_use use;
    lp_err_t status;           /* LP_OK: verdict below; otherwise see note */
    lp_qualification decision; /* LP_LLM_GRAY_ZONE: SQL, MQL or nurture */
    const char *text;          /* the reason, or the first line */
    size_t text_len;
    const char *note;          /* LP_LLM_NOTE_*, when status != LP_OK */
    int provider;              /* index of the answering provider, or -1 */
} lp_llm_answer;

typedef void (*lp_llm_done_fn)(void *ctx, const lp_llm_answer *a);

/* One question about one lead. The router copies lead_id and payload. */
typedef struct lp_llm_question {
    lp_llm_use use;
    lp_str lead_id;
    lp_str payload;      /* a JSON object: "lead_id" and the fields the prompt uses */
    double priority;     /* distance to a threshold: smaller is sent first when budget is short */
    int64_t deadline_ms; /* wall clock; answered with LP_LLM_NOTE_DEADLINE after it */
    lp_llm_done_fn done;
    void *ctx;
} lp_llm_question;

/* Counters of one provider. */
typedef struct lp_llm_provider_stats {
    uint64_t requests, failures, leads_answered, fallbacks, cache_hits;
    uint64_t prompt_tokens, completion_tokens;
    double cost_usd;
} lp_llm_provider_stats;

typedef struct lp_llm_stats {
    lp_llm_provider_stats p[LP_LLM_MAX_PROVIDERS];
    size_t nproviders;
    uint64_t asked, answered, degraded, invalid_elements;
    uint64_t budget_short;   /* leads sent ahead of farther ones because budget was short */
    uint64_t budget_skipped; /* leads not sent: budget exhausted */
    uint64_t max_batch;      /* largest batch sent */
    double cost_usd;
} lp_llm_stats;

/* Copies conf's numbers; strings must outlive the router. */
lp_err_t lp_llm_new(const lp_llm_conf *conf, lp_llm **out);

/*
 * Stops the I/O thread, answering every open question with
 * LP_LLM_NOTE_SHUTDOWN, and frees the router. NULL is fine.
 */
void lp_llm_free(lp_llm *llm);

/*
 * Queues one question; done() is called exactly once, on the I/O thread,
 * which this call starts if needed. Returns LP_E_NOMEM (done() not called)
 * when the question cannot be copied.
 * @locality any thread
 */
lp_err_t lp_llm_ask(lp_llm *llm, const lp_llm_question *q);

/* Counts an answer found in the response cache, for the report. @locality any thread */
void lp_llm_count_cache_hit(lp_llm *llm, int provider);

/* A snapshot of the counters. @locality any thread */
void lp_llm_stats_get(lp_llm *llm, lp_llm_stats *out);

/* The run summary: per provider requests, tokens, cost, cache hits, fallbacks; budget notes. */
void lp_llm_report(FILE *f, lp_llm *llm);

/* The provider names, for reports. */
const char *lp_llm_provider_name(const lp_llm *llm, int provider);

/* ---- provider protocol (llm_provider.c) ----------------------------------- */

/*
 * Builds the /v1/chat/completions body for a batch: the use's system
 * prompt, and the leads' payloads as one JSON array in the user message.
 * Returns a malloc'd string, or NULL when out of memory.
 */
char *lp_llm_request_body(const char *model, const char *prompt, const lp_str *payloads,
                          size_t n);

/* One lead's verdict from a parsed answer. */
typedef struct lp_llm_verdict {
    bool found;
    lp_qualification decision;
    char *text; /* malloc'd: the reason or the first line */
    size_t text_len;
} lp_llm_verdict;

/* What a provider's answer held. */
typedef struct lp_llm_parsed {
    lp_llm_verdict *v; /* one per lead of the batch, in batch order */
    size_t n;
    int64_t prompt_tokens, completion_tokens; /* -1 when the answer has no usage */
    size_t invalid;                           /* elements rejected (shape, value, id) */
} lp_llm_parsed;

/*
 * Parses and strictly validates a chat completion body for a batch whose
 * lead ids are ids[0..n). The message content must be a JSON array (a
 * ```json fence around it is tolerated) of objects with exactly the keys of
 * the use: {"lead_id","decision","reason"} with decision SQL, MQL or
 * nurture, or {"lead_id","first_line"} with at most max_chars characters on
 * one line. Elements with unknown or repeated ids, or a bad shape, are
 * counted in out->invalid and leave their lead unanswered.
 * Returns LP_OK (some leads may still be unanswered), or LP_E_JSON_INVALID
 * when the body or content is not the expected JSON (msg says why); usage
 * is filled in either case when present. Free with lp_llm_parsed_free().
 */
lp_err_t lp_llm_parse_answer(const char *body, size_t len, lp_llm_use use, const lp_str *ids,
                             size_t n, int64_t max_chars, lp_llm_parsed *out, char *msg,
                             size_t msglen);

void lp_llm_parsed_free(lp_llm_parsed *p);

#endif
