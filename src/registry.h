/*
 * registry.h - a Confluent Schema Registry client over libcurl.
 *
 * Two calls are all leadpipe needs: fetching a writer schema by the id a
 * Confluent-framed message carries (GET /schemas/ids/{id}), and registering
 * lead.avsc under a subject to learn the id that `leadpipe import` stamps on
 * every message (POST /subjects/{subject}/versions).
 *
 * Schemas are immutable per id, so fetched schemas are cached for the life
 * of the client and the returned text stays valid until lp_registry_free().
 *
 * Failures: a connection error, a timeout or a 5xx is retried with
 * exponential backoff (a few attempts); anything else fails at once. Every
 * failure message names the URL and carries the HTTP status and the first
 * bytes of the response body. Credentials go in the URL
 * (https://user:secret@host) and are never echoed in messages.
 *
 * Threads: every function may be called from any number of threads at once.
 * The cache is guarded by a mutex; HTTP requests run outside it, so a slow
 * fetch of one id never blocks a lookup of another.
 */
#ifndef LP_REGISTRY_H
#define LP_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct lp_registry lp_registry;

/* Timeouts and retries. Zero fields take the defaults shown. */
typedef struct lp_registry_opts {
    long connect_timeout_ms; /* 0: 2000 */
    long timeout_ms;         /* 0: 5000, per attempt */
    int attempts;            /* 0: 4 tries in all */
    long backoff_ms;         /* 0: 100, doubled after each failed try */
} lp_registry_opts;

/*
 * Creates a client for the registry at url ("http://host:8081", an
 * optional path prefix allowed) with options o (NULL: defaults). Returns
 * LP_OK, LP_E_CONFIG when url is not http(s), or LP_E_NOMEM; err gets the
 * reason.
 */
lp_err_t lp_registry_new(const char *url, const lp_registry_opts *o, lp_registry **out, char *err,
                         size_t errlen);

/* Frees the client and every cached schema; NULL is fine. */
void lp_registry_free(lp_registry *r);

/*
 * Looks up the schema with this id, from the cache or the registry. On
 * LP_OK *schema_json is the schema's JSON text, owned by the client.
 * Returns LP_E_SCHEMA_UNKNOWN when the registry answers 404 ("schema id 42
 * unknown to registry"), LP_E_HTTP when it cannot be reached or answers
 * anything else, or LP_E_NOMEM. Negative answers are not cached.
 *
 * @locality any thread
 * @locks the cache mutex, never held across a request
 */
lp_err_t lp_registry_get_schema(lp_registry *r, int32_t id, const char **schema_json, char *err,
                                size_t errlen);

/*
 * Registers schema_json under subject (e.g. "leads.raw-value") and stores
 * the id the registry gives it in *id. Registering a schema the subject
 * already has is harmless: the registry returns the existing id. Returns
 * LP_OK, LP_E_HTTP (an incompatible schema comes back as 409 with the
 * registry's message), or LP_E_NOMEM.
 *
 * @locality any thread
 */
lp_err_t lp_registry_register_schema(lp_registry *r, const char *subject, const char *schema_json,
                                     int32_t *id, char *err, size_t errlen);

/* Number of HTTP requests made so far (attempts included), for tests and stats. */
uint64_t lp_registry_requests(const lp_registry *r);

#endif
