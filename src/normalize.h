/*
 * normalize.h - pure normalisers for lead field values.
 *
 * Each function takes one value and returns its canonical form, or a
 * record-level error code when the value cannot be made sense of. They know
 * nothing about leads, stages or configuration; the validate stage (and
 * anyone else who needs a canonical email or domain, such as the enrichment
 * cache keys) composes them.
 *
 * Memory: results are zero-copy slices of the input when nothing had to
 * change, and copies in the caller's arena otherwise. Nothing is allocated
 * from the heap, except that libidn2 allocates (and we free) one buffer
 * while converting a non-ASCII domain.
 *
 * Threads: every function may be called from any thread. The tables they
 * read are immutable after a one-time initialisation (pthread_once).
 *
 * Errors: LP_E_NOMEM when the arena is exhausted; otherwise the record-level
 * code named for each function. Callers build the user-facing message, since
 * only they know the field name.
 */
#ifndef LP_NORMALIZE_H
#define LP_NORMALIZE_H

#include <stdbool.h>

#include "arena.h"
#include "err.h"
#include "lead.h"

/* The longest email address accepted, in bytes (RFC 5321 path limit). */
#define LP_EMAIL_MAX 254
/* The longest local part (before the @) accepted, in bytes. */
#define LP_EMAIL_LOCAL_MAX 64

/* lp_normalize_trim() for a value whose first or last byte may be white
 * space; any value is fine, only slower. */
lp_str lp_normalize_trim_edges(lp_str s);

/* True when byte c cannot start or end any white space that
 * lp_normalize_trim() removes: printable ASCII and DEL. */
static inline bool lp_normalize_is_solid_edge(char c)
{
    return (unsigned char)c > 0x20 && (unsigned char)c < 0x80;
}

/*
 * Returns s without leading and trailing white space: ASCII space and
 * controls \t \n \v \f \r, and the Unicode spaces that spreadsheets and web
 * forms leave behind (NBSP, NEL, U+1680, U+2000..U+200B, U+2028, U+2029,
 * U+202F, U+205F, U+2060, U+3000 and the BOM U+FEFF). Bytes inside the value
 * are untouched. Zero-copy; never fails.
 *
 * Inline because it runs on every field of every lead and nearly every value
 * has nothing to trim: a printable ASCII byte at both ends settles it (every
 * multi-byte space starts and ends with a byte >= 0x80).
 */
static inline lp_str lp_normalize_trim(lp_str s)
{
    if (s.len && lp_normalize_is_solid_edge(s.ptr[0]) &&
        lp_normalize_is_solid_edge(s.ptr[s.len - 1]))
        return s;
    return lp_normalize_trim_edges(s);
}

/*
 * Normalises an email address in: trims it, folds ASCII letters of both the
 * local part and the domain to lower case (leads are matched
 * case-insensitively), and converts an internationalised domain to its ASCII
 * (punycode) form with libidn2. Non-ASCII local parts are kept (RFC 6531).
 *
 * The syntax accepted is the practical subset of RFC 5322: exactly one @
 * outside quotes; a local part of 1..64 bytes that is a dot-atom or a quoted
 * string; a domain of at least two labels of letters, digits and hyphens
 * that neither start nor end with a hyphen; a TLD that is not all digits; at
 * most 254 bytes in all.
 *
 * On success *email is the normalised address and *domain (may be NULL) the
 * slice of it after the @. Returns LP_OK, LP_E_EMAIL_INVALID or LP_E_NOMEM.
 */
lp_err_t lp_normalize_email(lp_str in, lp_arena *a, lp_str *email, lp_str *domain);

/*
 * Normalises a company domain given as a bare domain or as a web address
 * ("https://www.Example.com:8080/about?x=1" -> "example.com"): trims it,
 * drops the http(s) scheme, port, path, query, fragment, a trailing dot and
 * a leading "www.", folds it to lower case and converts an
 * internationalised name to ASCII ("münchen.de" -> "xn--mnchen-3ya.de").
 * Other schemes, user info ("bob@acme.com") and white space are refused.
 * Returns LP_OK, LP_E_DOMAIN_INVALID or LP_E_NOMEM.
 */
lp_err_t lp_normalize_domain(lp_str in, lp_arena *a, lp_str *domain);

/*
 * Checks the shape of a web address: an http or https URL, or a bare host
 * name optionally followed by a path, whose host is a valid domain. On
 * success *host (may be NULL) is the host normalised as by
 * lp_normalize_domain(). Returns LP_OK, LP_E_URL_INVALID or LP_E_NOMEM.
 */
lp_err_t lp_normalize_url(lp_str in, lp_arena *a, lp_str *host);

/* True when host (normalised) is linkedin.com or one of its subdomains. */
bool lp_normalize_is_linkedin_host(lp_str host);

/*
 * Checks a phone number and returns it trimmed, without the leading
 * apostrophe that spreadsheets add ("'+49 30 1234567" -> "+49 30 1234567").
 * Accepted: digits, spaces, dashes, dots, slashes and balanced parentheses,
 * a leading +, and an optional extension ("x123", "ext. 123", "extension
 * 123", "#123"). The number without its extension must hold 7 to 15 digits
 * (E.164 allows at most 15). Zero-copy. Returns LP_OK or LP_E_PHONE_INVALID.
 */
lp_err_t lp_normalize_phone(lp_str in, lp_str *phone);

/*
 * Maps a country name or code to its ISO 3166-1 alpha-2 code: "United
 * States", "USA", "U.S." and "us" give "US"; "UK", "England" and "Great
 * Britain" give "GB"; "Deutschland" gives "DE". ASCII case, dots and a
 * leading "the" are ignored. Covers about ninety countries, with their
 * alpha-3 codes and the native names of the larger ones. An unknown value
 * is returned trimmed but otherwise as written. The returned code is a
 * static string. Never fails.
 */
lp_str lp_normalize_country(lp_str in);

/*
 * True when domain belongs to a free or consumer mail provider (gmail.com,
 * yahoo.*, hotmail.*, gmx.*, web.de, qq.com, proton.me, ...), so that it
 * says nothing about the lead's company. Matching ignores ASCII case.
 * "yahoo.*" style entries match the provider's country domains
 * (yahoo.co.uk, hotmail.com.br) but not unrelated hosts (yahoo.example.com).
 */
bool lp_normalize_is_free_mail(lp_str domain);

#endif
