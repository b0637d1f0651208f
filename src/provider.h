/*
 * provider.h - building requests for, and reading answers from, an
 * enrichment provider (see enrich.h for lp_provider). Used by the
 * enrichment service's I/O thread.
 */
#ifndef LP_PROVIDER_H
#define LP_PROVIDER_H

#include <jansson.h>

#include "buf.h"
#include "enrich.h"

/* Appends pv's URL for key ({email}/{domain}/{key} substituted, escaped), NUL-terminated. */
lp_err_t lp_provider_url(const lp_provider *pv, const char *key, lp_buf *out);

/* The JSON body of a bulk POST for n keys (malloc'd; free with free()). */
char *lp_provider_body(const lp_provider *pv, const char *const *keys, size_t n);

/*
 * Parses an answer for keys[0..n): matches[i] is key i's match, or NULL when
 * the provider did not know it (null, absent: a partial bulk answer). *root
 * owns them (json_decref it). Returns LP_E_JSON_INVALID for a body that is
 * not the expected shape.
 */
lp_err_t lp_provider_parse(const lp_provider *pv, const char *body, size_t len,
                           const char *const *keys, size_t n, json_t **root, json_t **matches);

#endif
