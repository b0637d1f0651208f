/*
 * normalize.c - canonical forms of emails, domains, web addresses, phone
 * numbers and countries; see normalize.h for the contract.
 *
 * Owns: the byte-class table, the country alias index and the free-mail
 * list (immutable tables).
 *
 * Design: the validate stage runs these functions on every field of every
 * lead, so the common case is made cheap:
 *   - one table lookup (byte_class[]) classifies a byte for every scanner,
 *     in place of chains of comparisons;
 *   - a web address is split, checked and canonicalised in one pass
 *     (web_canon()): scheme, host labels (checked as each dot closes them),
 *     port, then the rest only for white space;
 *   - results are zero-copy slices whenever the input is already canonical;
 *     the arena is touched only to fold upper case, and libidn2 only when
 *     a host holds a byte >= 0x80.
 * tests/unit/test_normalize.c keeps the earlier, straightforward
 * multi-pass version of these functions and checks this one against it.
 *
 * Threads: any. The country index is built once, under pthread_once, and
 * only read afterwards. libidn2's conversion is reentrant.
 *
 * Invariants: a result is either a slice of the caller's input or a copy in
 * the caller's arena; a host that leaves this module is lower-case ASCII
 * that passed host_close().
 */
#include "normalize.h"

#include <idn2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte classes ------------------------------------------------------ */

enum {
    BC_LOWER = 1u << 0,    /* a-z */
    BC_UPPER = 1u << 1,    /* A-Z */
    BC_DIGIT = 1u << 2,    /* 0-9 */
    BC_HYPHEN = 1u << 3,   /* - */
    BC_DOT = 1u << 4,      /* . */
    BC_HIGH = 1u << 5,     /* 0x80..0xFF: part of a multi-byte UTF-8 character */
    BC_CTL = 1u << 6,      /* controls, space and DEL: never inside a web address */
    BC_ATEXT = 1u << 7,    /* email atext: letters, digits and !#$%&'*+-/=?^_`{|}~ */
    BC_PATH = 1u << 8,     /* '/', '?', '#': the end of a URL's authority */
    BC_PHONE_SEP = 1u << 9 /* separators inside a phone number: space - . / */
};
#define BC_ALPHA (BC_LOWER | BC_UPPER)
#define BC_PLAIN_HOST (BC_LOWER | BC_DIGIT | BC_HYPHEN) /* most bytes of a host name */

/* The classes of byte c, for building the table at compile time. */
#define BC_IN(c, lo, hi) ((c) >= (lo) && (c) <= (hi))
#define BC_ATEXT_PUNCT(c)                                                                          \
    ((c) == '!' || BC_IN(c, '#', '\'') || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '/' ||  \
     (c) == '=' || (c) == '?' || BC_IN(c, '^', '`') || BC_IN(c, '{', '~'))
#define BC_OF(c)                                                                                   \
    ((BC_IN(c, 'a', 'z') ? BC_LOWER | BC_ATEXT : 0u) |                                             \
     (BC_IN(c, 'A', 'Z') ? BC_UPPER | BC_ATEXT : 0u) |                                             \
     (BC_IN(c, '0', '9') ? BC_DIGIT | BC_ATEXT : 0u) |                                             \
     ((c) == '-' ? BC_HYPHEN | BC_PHONE_SEP : 0u) | ((c) == '.' ? BC_DOT | BC_PHONE_SEP : 0u) |    \
     ((c) == ' ' || (c) == '/' ? BC_PHONE_SEP : 0u) |                                              \
     ((c) == '/' || (c) == '?' || (c) == '#' ? BC_PATH : 0u) | ((c) >= 0x80 ? BC_HIGH : 0u) |      \
     ((c) <= 0x20 || (c) == 0x7F ? BC_CTL : 0u) | (BC_ATEXT_PUNCT(c) ? BC_ATEXT : 0u))
#define BC_ROW(r)                                                                                  \
    BC_OF((r) + 0), BC_OF((r) + 1), BC_OF((r) + 2), BC_OF((r) + 3), BC_OF((r) + 4),                \
        BC_OF((r) + 5), BC_OF((r) + 6), BC_OF((r) + 7), BC_OF((r) + 8), BC_OF((r) + 9),            \
        BC_OF((r) + 10), BC_OF((r) + 11), BC_OF((r) + 12), BC_OF((r) + 13), BC_OF((r) + 14),       \
        BC_OF((r) + 15)

static const uint16_t byte_class[256] = {
    BC_ROW(0x00), BC_ROW(0x10), BC_ROW(0x20), BC_ROW(0x30), BC_ROW(0x40), BC_ROW(0x50),
    BC_ROW(0x60), BC_ROW(0x70), BC_ROW(0x80), BC_ROW(0x90), BC_ROW(0xA0), BC_ROW(0xB0),
    BC_ROW(0xC0), BC_ROW(0xD0), BC_ROW(0xE0), BC_ROW(0xF0),
};

static inline unsigned byte_class_of(char c)
{
    return byte_class[(unsigned char)c];
}

/*
 * True when all 8 bytes at p are printable ASCII (0x21..0x7E), decided for
 * the whole word at once: the path of a web address, often its longest
 * part, needs no more than that. A byte below 0x21 borrows into its top bit
 * when 0x21 is subtracted, DEL becomes zero when xor-ed with 0x7F and then
 * borrows likewise, and a byte >= 0x80 has the top bit set already. Borrows
 * may flag a neighbour too, which only sends the word to the byte loop.
 */
static inline bool word_is_printable_ascii(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ull, tops = 0x8080808080808080ull;
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    uint64_t del = x ^ (ones * 0x7F);
    return (((x - ones * 0x21) | (del - ones) | x) & tops) == 0;
}

/* ---- white space ------------------------------------------------------- */

/* Length of the multi-byte white-space character at p (n bytes), or 0. */
static size_t ws_len_utf8(const unsigned char *p, size_t n)
{
    if (n >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0))
        return 2; /* NEL, NBSP */
    if (n < 3)
        return 0;
    if (p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80)
        return 3; /* U+1680 ogham space */
    if (p[0] == 0xE2 && p[1] == 0x80 &&
        ((p[2] >= 0x80 && p[2] <= 0x8B) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
        return 3; /* U+2000..U+200B, line/paragraph separators, U+202F */
    if (p[0] == 0xE2 && p[1] == 0x81 && (p[2] == 0x9F || p[2] == 0xA0))
        return 3; /* U+205F, U+2060 word joiner */
    if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
        return 3; /* U+3000 ideographic space */
    if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        return 3; /* U+FEFF byte order mark */
    return 0;
}

/* True for ASCII white space: space and the controls \t \n \v \f \r. */
static inline bool ws_is_ascii(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * Length of the white-space character at the start of p (n bytes), or 0.
 * ASCII bytes, nearly every byte of lead data, are decided inline.
 */
static inline size_t ws_len_at(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (p[0] < 0x80)
        return ws_is_ascii(p[0]);
    return ws_len_utf8(p, n);
}

/*
 * Length of the white-space character that ends p (n bytes), or 0. Every
 * multi-byte space ends in a continuation byte, so an ASCII last byte is
 * decided on its own.
 */
static inline size_t ws_len_before(const unsigned char *p, size_t n)
{
    if (n && p[n - 1] < 0x80)
        return ws_is_ascii(p[n - 1]);
    for (size_t k = 2; k <= 3 && k <= n; k++)
        if (ws_len_utf8(p + n - k, k) == k)
            return k;
    return 0;
}

lp_str lp_normalize_trim_edges(lp_str s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t n = s.len, k;
    while (n && (k = ws_len_at(p, n)) != 0) {
        p += k;
        n -= k;
    }
    while (n && (k = ws_len_before(p, n)) != 0)
        n -= k;
    return (lp_str){(const char *)p, (uint32_t)n};
}

/* ---- ASCII helpers ----------------------------------------------------- */

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool ascii_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* True when a (n bytes) equals the NUL-terminated b, ignoring ASCII case. */
static bool ascii_ieq(const char *a, size_t n, const char *b)
{
    size_t i = 0;
    for (; i < n && b[i]; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    return i == n && b[i] == '\0';
}

static bool str_has_upper(lp_str s)
{
    for (uint32_t i = 0; i < s.len; i++)
        if (s.ptr[i] >= 'A' && s.ptr[i] <= 'Z')
            return true;
    return false;
}

/* s with ASCII letters folded to lower case; zero-copy unless upper says
 * that s holds an upper-case letter. */
static inline lp_err_t str_lower(lp_str s, bool upper, lp_arena *a, lp_str *out)
{
    if (!upper) {
        *out = s;
        return LP_OK;
    }
    char *p = lp_arena_alloc(a, s.len ? s.len : 1);
    if (!p)
        return LP_E_NOMEM;
    for (uint32_t i = 0; i < s.len; i++)
        p[i] = ascii_lower(s.ptr[i]);
    *out = (lp_str){p, s.len};
    return LP_OK;
}

/* ---- hosts ------------------------------------------------------------- */

/*
 * What one pass over a host name found. Each label is checked when the dot
 * after it is read, so only the last one is left for host_close().
 */
typedef struct host_scan {
    size_t start;  /* the host's first byte */
    size_t end;    /* the first byte that cannot belong to a host name */
    size_t label;  /* the last label's first byte */
    size_t prev;   /* the first byte of the label before it */
    size_t labels; /* labels closed by a dot; after host_close(), all labels */
    unsigned cls;  /* BC_UPPER and BC_HIGH when the host holds such bytes */
    bool bad;      /* a label closed by a dot is empty, too long or hyphen-ended */
} host_scan;

/* True when p[start..end) can be a DNS label: 1..63 bytes, no hyphen at either end. */
static inline bool label_ends_ok(const unsigned char *p, size_t start, size_t end)
{
    return end > start && end - start <= 63 && p[start] != '-' && p[end - 1] != '-';
}

/* True when p[start..end) holds digits only (a TLD must not). */
static inline bool label_is_numeric(const unsigned char *p, size_t start, size_t end)
{
    while (start < end && (byte_class[p[start]] & BC_DIGIT))
        start++;
    return start == end;
}

/*
 * How many of the bytes of x, from byte 0 (the lowest), are lower-case
 * ASCII letters or dots, the usual make-up of a host name (8 when all
 * are); *dots gets the top bit of each of those bytes that is a dot. Exact
 * per byte: below the first byte >= 0x80 no sum carries into the next
 * byte, and the count stops at that byte anyway.
 */
static inline unsigned word_lower_or_dot_run(uint64_t x, uint64_t *dots)
{
    const uint64_t ones = 0x0101010101010101ull, low7 = ones * 0x7F, tops = ones * 0x80;
    uint64_t d = x ^ (ones * '.');
    uint64_t dot = ~(((d & low7) + low7) | d) & tops;
    uint64_t letter = (x + ones * (0x80 - 'a')) & ~(x + ones * (0x80 - 'z' - 1)) & tops;
    uint64_t stop = (~(dot | letter) | x) & tops;
    if (stop == 0) {
        *dots = dot;
        return 8;
    }
    unsigned k = (unsigned)__builtin_ctzll(stop) / 8;
    *dots = dot & ((1ull << (8 * k)) - 1);
    return k;
}

/*
 * The bytes p[i..n) as a little-endian word, p[i] lowest, for n >= 8. Fewer
 * than 8 are read as the last 8 bytes of p shifted down, which leaves zero
 * bytes (never a host byte) above the end.
 */
static inline uint64_t word_at(const unsigned char *p, size_t i, size_t n)
{
    uint64_t x;
    if (n - i >= 8) {
        memcpy(&x, p + i, sizeof(x));
        return x;
    }
    memcpy(&x, p + n - 8, sizeof(x));
    return x >> (8 * (8 - (n - i)));
}

/* Records the dot at p[at], which closes the current label. */
static inline void host_scan_dot(host_scan *h, const unsigned char *p, size_t at)
{
    h->bad |= !label_ends_ok(p, h->label, at);
    h->labels++;
    h->prev = h->label;
    h->label = at + 1;
}

/*
 * Scans p[i..n) for as long as it holds dots and label bytes: letters,
 * digits, hyphens, and bytes >= 0x80 for the IDN conversion to judge.
 * Lower-case letters and dots, most of any host, are taken 8 bytes at a
 * time (on little-endian machines, where byte k of a loaded word is bits
 * 8k..8k+7); the byte where such a run stops is read on its own.
 */
static void host_scan_run(const unsigned char *p, size_t n, size_t i, host_scan *out)
{
    host_scan h = {i, i, i, i, 0, 0, false};
    while (i < n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (n >= 8) {
            uint64_t dots;
            unsigned k = word_lower_or_dot_run(word_at(p, i, n), &dots);
            for (; dots; dots &= dots - 1)
                host_scan_dot(&h, p, i + (size_t)__builtin_ctzll(dots) / 8);
            i += k;
            if (k == 8 || i == n)
                continue;
        }
#endif
        unsigned c = byte_class[p[i]];
        if (c & (BC_UPPER | BC_HIGH))
            h.cls |= c & (BC_UPPER | BC_HIGH);
        else if (c & BC_DOT)
            host_scan_dot(&h, p, i);
        else if (!(c & BC_PLAIN_HOST))
            break;
        i++;
    }
    h.end = i;
    *out = h;
}

/*
 * Closes the last label of a scanned ASCII host and says whether the host
 * is valid: two or more labels of letters, digits and hyphens, each 1..63
 * bytes and neither starting nor ending with a hyphen, a TLD that is not
 * all digits, 1..253 bytes in all. With drop_dot, a trailing dot ends the
 * host instead ("acme.com." is acme.com) and h->end moves back over it.
 */
static inline bool host_close(host_scan *h, const unsigned char *p, bool drop_dot)
{
    size_t tld = h->label;
    if (drop_dot && h->end > h->start && p[h->end - 1] == '.') {
        h->end--; /* the dot closed the last label already */
        tld = h->prev;
    } else {
        h->bad |= !label_ends_ok(p, h->label, h->end);
        h->labels++;
    }
    size_t len = h->end - h->start;
    return !h->bad && h->labels >= 2 && !label_is_numeric(p, tld, h->end) && len >= 1 && len <= 253;
}

/* True when h is a valid host name made of ASCII only. */
static bool host_is_valid(lp_str s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    host_scan h;
    host_scan_run(p, s.len, 0, &h);
    return h.end == s.len && !(h.cls & BC_HIGH) && host_close(&h, p, false);
}

/*
 * Converts a non-ASCII host to its ASCII (punycode) form, trying IDNA2008
 * non-transitional processing first and transitional second (which maps
 * characters such as ß that the former rejects in some positions), and
 * checks the result.
 */
static lp_err_t host_idn_canon(lp_str host, lp_arena *a, lp_str *out)
{
    if (memchr(host.ptr, '\0', host.len))
        return LP_E_DOMAIN_INVALID;
    char *z = lp_arena_strndup(a, host.ptr, host.len);
    if (!z)
        return LP_E_NOMEM;
    char *ascii = NULL;
    int rc = idn2_to_ascii_8z(z, &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK)
        rc = idn2_to_ascii_8z(z, &ascii, IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK)
        return LP_E_DOMAIN_INVALID;
    size_t n = strlen(ascii);
    char *copy = lp_arena_strndup(a, ascii, n);
    idn2_free(ascii);
    if (!copy)
        return LP_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        copy[i] = ascii_lower(copy[i]);
    *out = (lp_str){copy, (uint32_t)n};
    return host_is_valid(*out) ? LP_OK : LP_E_DOMAIN_INVALID;
}

/* ---- email ------------------------------------------------------------- */

/* A dot-atom local part; UTF-8 letters are allowed (RFC 6531), spaces not.
 * *upper says whether it holds an ASCII capital. */
static bool email_dot_atom_ok(lp_str l, bool *upper)
{
    const unsigned char *p = (const unsigned char *)l.ptr;
    unsigned seen = 0;
    if (l.len == 0 || p[0] == '.' || p[l.len - 1] == '.')
        return false;
    for (size_t i = 0; i < l.len; i++) {
        unsigned c = byte_class[p[i]];
        seen |= c;
        if (c & BC_ATEXT)
            continue;
        if (c & BC_DOT) {
            if (p[i - 1] == '.')
                return false;
        } else if (!(c & BC_HIGH) || ws_len_at(p + i, l.len - i)) {
            return false;
        }
    }
    *upper = seen & BC_UPPER;
    return true;
}

/* A quoted local part, quotes included: printable text with \-escapes. */
static bool email_quoted_ok(lp_str l)
{
    const unsigned char *p = (const unsigned char *)l.ptr;
    if (l.len < 3)
        return false;
    for (size_t i = 1; i + 1 < l.len; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"' || (p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7F)
            return false;
    }
    return true;
}

/* Checks a local part, dot-atom or quoted; *upper as for email_dot_atom_ok(). */
static bool email_local_ok(lp_str l, bool *upper)
{
    if (l.len && l.ptr[0] == '"') {
        *upper = str_has_upper(l);
        return email_quoted_ok(l);
    }
    return email_dot_atom_ok(l, upper);
}

/*
 * Finds the @ that separates the local part from the domain. A quoted local
 * part may hold @; anywhere else exactly one @ is allowed.
 */
static bool email_split(lp_str s, size_t *at)
{
    size_t i = 0;
    if (s.len && s.ptr[0] == '"') {
        for (i = 1; i < s.len && s.ptr[i] != '"'; i++)
            if (s.ptr[i] == '\\')
                i++;
        i++; /* past the closing quote */
        if (i >= s.len || s.ptr[i] != '@')
            return false;
    } else {
        const char *p = memchr(s.ptr, '@', s.len);
        if (!p)
            return false;
        i = (size_t)(p - s.ptr);
    }
    *at = i;
    return memchr(s.ptr + i + 1, '@', s.len - i - 1) == NULL;
}

/*
 * The canonical form of an email's domain: the whole of dom must be a host
 * name. ASCII is checked in one pass; non-ASCII goes through IDN.
 */
static lp_err_t email_domain_canon(lp_str dom, lp_arena *a, lp_str *out)
{
    const unsigned char *p = (const unsigned char *)dom.ptr;
    host_scan h;
    host_scan_run(p, dom.len, 0, &h);
    if (h.cls & BC_HIGH)
        return host_idn_canon(dom, a, out);
    if (h.end != dom.len || !host_close(&h, p, false))
        return LP_E_DOMAIN_INVALID;
    return str_lower(dom, h.cls & BC_UPPER, a, out);
}

/* Joins local@domain, folding the local part (upper: it holds a capital);
 * zero-copy when unchanged. */
static lp_err_t email_join(lp_str s, lp_str local, bool upper, lp_str dom, lp_str adom, lp_arena *a,
                           lp_str *email, lp_str *domain)
{
    if (!upper && adom.ptr == dom.ptr) {
        *email = s;
        *domain = adom;
        return LP_OK;
    }
    size_t n = local.len + 1 + adom.len;
    char *p = lp_arena_alloc(a, n);
    if (!p)
        return LP_E_NOMEM;
    for (uint32_t i = 0; i < local.len; i++)
        p[i] = ascii_lower(local.ptr[i]);
    p[local.len] = '@';
    memcpy(p + local.len + 1, adom.ptr, adom.len);
    *email = (lp_str){p, (uint32_t)n};
    *domain = (lp_str){p + local.len + 1, adom.len};
    return LP_OK;
}

lp_err_t lp_normalize_email(lp_str in, lp_arena *a, lp_str *email, lp_str *domain)
{
    lp_str s = lp_normalize_trim(in), local, dom, adom, out, out_dom;
    size_t at;
    bool upper;
    if (s.len > 4 * LP_EMAIL_MAX || !email_split(s, &at))
        return LP_E_EMAIL_INVALID;
    local = (lp_str){s.ptr, (uint32_t)at};
    dom = (lp_str){s.ptr + at + 1, (uint32_t)(s.len - at - 1)};
    if (local.len > LP_EMAIL_LOCAL_MAX)
        return LP_E_EMAIL_INVALID;
    if (!email_local_ok(local, &upper))
        return LP_E_EMAIL_INVALID;
    lp_err_t err = email_domain_canon(dom, a, &adom);
    if (err == LP_OK)
        err = email_join(s, local, upper, dom, adom, a, &out, &out_dom);
    if (err != LP_OK)
        return err == LP_E_NOMEM ? err : LP_E_EMAIL_INVALID;
    if (out.len > LP_EMAIL_MAX)
        return LP_E_EMAIL_INVALID;
    *email = out;
    if (domain)
        *domain = out_dom;
    return LP_OK;
}

/* ---- web addresses ----------------------------------------------------- */

static inline uint32_t load32(const void *p)
{
    uint32_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/*
 * Length of an "http://" or "https://" prefix (any case), or 0. Any other
 * scheme ("ftp://", "mailto:") is left to fail as a host followed by a bad
 * port. OR-ing 0x20 into a letter folds exactly its capital onto it.
 */
static size_t web_http_len(const unsigned char *p, size_t n)
{
    if (n < 7 || (load32(p) | 0x20202020u) != load32("http"))
        return 0;
    size_t s = (p[4] | 0x20) == 's';
    return n - s >= 7 && memcmp(p + 4 + s, "://", 3) == 0 ? 7 + s : 0;
}

/*
 * Checks what follows the host at p[i..n): an optional port of 1..5 digits,
 * then nothing, or a path, query or fragment free of white space and control
 * characters. Anything else right after the host is refused: '@' of user
 * info (in lead data "bob@acme.com" in a website column is an email, not a
 * site), a second ':', '_', white space.
 */
static bool web_tail_ok(const unsigned char *p, size_t n, size_t i)
{
    if (i < n && p[i] == ':') {
        size_t port = ++i;
        while (i < n && (byte_class[p[i]] & BC_DIGIT))
            i++;
        if (i == port || i - port > 5)
            return false;
    }
    if (i < n && !(byte_class[p[i]] & BC_PATH))
        return false;
    while (i < n) {
        if (n - i >= 8 && word_is_printable_ascii(p + i)) {
            i += 8;
            continue;
        }
        /* The rest is shorter than a word: check the last 8 bytes, whose
         * first ones are known to be printable already. */
        if (n - i < 8 && n >= 8 && word_is_printable_ascii(p + n - 8))
            return true;
        unsigned c = byte_class[p[i]];
        if ((c & BC_CTL) || ((c & BC_HIGH) && ws_len_at(p + i, n - i)))
            return false;
        i++;
    }
    return true;
}

/* host without a leading "www." (any case), when what follows is still a
 * host of two labels or more. */
static inline lp_str web_strip_www(lp_str host, size_t labels)
{
    const char *p = host.ptr;
    if (labels >= 3 && (p[0] | 0x20) == 'w' && (p[1] | 0x20) == 'w' && (p[2] | 0x20) == 'w' &&
        p[3] == '.')
        return (lp_str){p + 4, host.len - 4};
    return host;
}

/*
 * The canonical form of a host holding non-ASCII bytes: white space is
 * refused, the rest is up to IDN.
 */
static lp_err_t web_idn_canon(lp_str host, lp_arena *a, lp_str *out)
{
    const unsigned char *p = (const unsigned char *)host.ptr;
    lp_str canon;
    for (size_t i = 0; i < host.len; i++)
        if (ws_len_at(p + i, host.len - i))
            return LP_E_DOMAIN_INVALID;
    lp_err_t err = host_idn_canon(host, a, &canon);
    if (err != LP_OK)
        return err;
    size_t labels = 1;
    for (size_t i = 0; i < canon.len; i++)
        labels += canon.ptr[i] == '.';
    *out = web_strip_www(canon, labels);
    return LP_OK;
}

/*
 * The canonical host of a web address, without "www."; DOMAIN_INVALID if
 * bad. One pass: the scheme, the host (checked label by label as it is
 * read), the port, and what follows only for white space. The host is a
 * slice of the input unless it holds upper case or non-ASCII.
 */
static lp_err_t web_canon(lp_str in, lp_arena *a, lp_str *out)
{
    lp_str s = lp_normalize_trim(in);
    const unsigned char *p = (const unsigned char *)s.ptr;
    host_scan h;
    host_scan_run(p, s.len, web_http_len(p, s.len), &h);
    if (!web_tail_ok(p, s.len, h.end))
        return LP_E_DOMAIN_INVALID;
    bool ok = host_close(&h, p, true);
    lp_str host = {s.ptr + h.start, (uint32_t)(h.end - h.start)};
    if (h.cls & BC_HIGH)
        return web_idn_canon(host, a, out);
    if (!ok)
        return LP_E_DOMAIN_INVALID;
    return str_lower(web_strip_www(host, h.labels), h.cls & BC_UPPER, a, out);
}

lp_err_t lp_normalize_domain(lp_str in, lp_arena *a, lp_str *domain)
{
    return web_canon(in, a, domain);
}

lp_err_t lp_normalize_url(lp_str in, lp_arena *a, lp_str *host)
{
    lp_str h;
    lp_err_t err = web_canon(in, a, &h);
    if (err == LP_E_DOMAIN_INVALID)
        return LP_E_URL_INVALID;
    if (err == LP_OK && host)
        *host = h;
    return err;
}

bool lp_normalize_is_linkedin_host(lp_str host)
{
    static const char name[] = "linkedin.com";
    size_t n = sizeof(name) - 1;
    if (host.len < n)
        return false;
    /* Hosts from web_canon() are lower case already: memcmp settles most. */
    const char *tail = host.ptr + host.len - n;
    if (memcmp(tail, name, n) != 0 && !ascii_ieq(tail, n, name))
        return false;
    return host.len == n || (host.len > n + 1 && host.ptr[host.len - n - 1] == '.');
}

/* ---- phone numbers ----------------------------------------------------- */

/*
 * Checks the number before its extension, which starts at the first letter
 * or '#': digits and separators, one leading +, one pair of parentheses,
 * 7..15 digits. Returns where the extension starts, or SIZE_MAX if bad.
 */
static size_t phone_main_len(const char *p, size_t n)
{
    size_t digits = 0, i = 0;
    bool open = false, plus = false;
    for (; i < n; i++) {
        unsigned k = byte_class_of(p[i]);
        char c = p[i];
        if (k & BC_DIGIT)
            digits++;
        else if (k & BC_PHONE_SEP)
            continue;
        else if ((k & BC_ALPHA) || c == '#')
            break;
        else if (c == '+' && !plus && digits == 0)
            plus = true;
        else if (c == '(' && !open)
            open = true;
        else if (c == ')' && open)
            open = false;
        else
            return SIZE_MAX;
    }
    return !open && digits >= 7 && digits <= 15 ? i : SIZE_MAX;
}

/* An extension: "x", "ext", "extension" or "#", then 1..6 digits. */
static bool phone_ext_ok(const char *p, size_t n)
{
    static const char *const markers[] = {"extension", "ext", "x", "#"};
    size_t i = 0, digits = 0;
    for (size_t m = 0; m < sizeof(markers) / sizeof(markers[0]); m++) {
        size_t len = strlen(markers[m]);
        if (n >= len && ascii_ieq(p, len, markers[m])) {
            i = len;
            break;
        }
    }
    if (i == 0)
        return false;
    while (i < n && (p[i] == '.' || p[i] == ':' || p[i] == ' '))
        i++;
    for (; i < n && ascii_is_digit(p[i]); i++)
        digits++;
    return i == n && digits >= 1 && digits <= 6;
}

lp_err_t lp_normalize_phone(lp_str in, lp_str *phone)
{
    lp_str s = lp_normalize_trim(in);
    if (s.len && s.ptr[0] == '\'')
        s = lp_normalize_trim((lp_str){s.ptr + 1, s.len - 1});
    size_t ext = phone_main_len(s.ptr, s.len);
    if (ext == SIZE_MAX)
        return LP_E_PHONE_INVALID;
    if (ext < s.len && !phone_ext_ok(s.ptr + ext, s.len - ext))
        return LP_E_PHONE_INVALID;
    *phone = s;
    return LP_OK;
}

/* ---- countries --------------------------------------------------------- */

/*
 * One row per country: alpha-2, alpha-3, and '|'-separated names as they
 * are matched (lower-case ASCII; native names in their usual spelling).
 */
struct lp_country {
    char iso2[3];
    char iso3[4];
    const char *names;
};

static const struct lp_country lp_countries[] = {
    {"US", "USA",
     "united states|united states of america|america|u s|u s a|estados unidos|"
     "etats-unis|états-unis|vereinigte staaten"},
    {"GB", "GBR",
     "united kingdom|great britain|britain|england|scotland|wales|northern ireland|"
     "uk|u k|royaume-uni|reino unido|vereinigtes königreich"},
    {"CA", "CAN", "canada"},
    {"MX", "MEX", "mexico|méxico"},
    {"DE", "DEU", "germany|deutschland|allemagne|alemania|germania"},
    {"FR", "FRA", "france|frankreich|francia"},
    {"ES", "ESP", "spain|españa|espana|espagne|spanien"},
    {"IT", "ITA", "italy|italia|italie|italien"},
    {"NL", "NLD", "netherlands|holland|nederland|pays-bas|niederlande"},
    {"BE", "BEL", "belgium|belgië|belgie|belgique|belgien"},
    {"LU", "LUX", "luxembourg|luxemburg"},
    {"CH", "CHE", "switzerland|schweiz|suisse|svizzera"},
    {"AT", "AUT", "austria|österreich|osterreich|oesterreich|autriche"},
    {"IE", "IRL", "ireland|republic of ireland|éire|eire"},
    {"PT", "PRT", "portugal"},
    {"SE", "SWE", "sweden|sverige|schweden"},
    {"NO", "NOR", "norway|norge|norwegen"},
    {"DK", "DNK", "denmark|danmark|dänemark"},
    {"FI", "FIN", "finland|suomi|finnland"},
    {"IS", "ISL", "iceland|ísland"},
    {"PL", "POL", "poland|polska|polen"},
    {"CZ", "CZE",
     "czech republic|czechia|česko|Česko|česká republika|Česká republika|"
     "tschechien"},
    {"SK", "SVK", "slovakia|slovensko"},
    {"HU", "HUN", "hungary|magyarország|magyarorszag|ungarn"},
    {"RO", "ROU", "romania|românia"},
    {"BG", "BGR", "bulgaria|българия|България"},
    {"GR", "GRC", "greece|hellas|ελλάδα|Ελλάδα|griechenland"},
    {"HR", "HRV", "croatia|hrvatska"},
    {"SI", "SVN", "slovenia|slovenija"},
    {"RS", "SRB", "serbia|srbija"},
    {"UA", "UKR", "ukraine|україна|Україна"},
    {"RU", "RUS", "russia|russian federation|россия|Россия|russland"},
    {"BY", "BLR", "belarus"},
    {"EE", "EST", "estonia|eesti"},
    {"LV", "LVA", "latvia|latvija"},
    {"LT", "LTU", "lithuania|lietuva"},
    {"TR", "TUR", "turkey|türkiye|turkiye|türkei"},
    {"CY", "CYP", "cyprus"},
    {"MT", "MLT", "malta"},
    {"GE", "GEO", "georgia"},
    {"KZ", "KAZ", "kazakhstan"},
    {"IL", "ISR", "israel"},
    {"AE", "ARE", "united arab emirates|uae|u a e"},
    {"SA", "SAU", "saudi arabia|ksa"},
    {"QA", "QAT", "qatar"},
    {"KW", "KWT", "kuwait"},
    {"BH", "BHR", "bahrain"},
    {"OM", "OMN", "oman"},
    {"JO", "JOR", "jordan"},
    {"LB", "LBN", "lebanon"},
    {"EG", "EGY", "egypt|مصر"},
    {"MA", "MAR", "morocco|maroc"},
    {"TN", "TUN", "tunisia"},
    {"DZ", "DZA", "algeria"},
    {"NG", "NGA", "nigeria"},
    {"KE", "KEN", "kenya"},
    {"GH", "GHA", "ghana"},
    {"ET", "ETH", "ethiopia"},
    {"ZA", "ZAF", "south africa|rsa"},
    {"BR", "BRA", "brazil|brasil"},
    {"AR", "ARG", "argentina"},
    {"CL", "CHL", "chile"},
    {"CO", "COL", "colombia"},
    {"PE", "PER", "peru|perú"},
    {"VE", "VEN", "venezuela"},
    {"UY", "URY", "uruguay"},
    {"EC", "ECU", "ecuador"},
    {"CR", "CRI", "costa rica"},
    {"PA", "PAN", "panama|panamá"},
    {"DO", "DOM", "dominican republic|república dominicana"},
    {"PR", "PRI", "puerto rico"},
    {"CN", "CHN", "china|people's republic of china|prc|中国|中華人民共和國|中华人民共和国"},
    {"HK", "HKG", "hong kong|香港"},
    {"TW", "TWN", "taiwan|台灣|台湾"},
    {"JP", "JPN", "japan|nippon|日本"},
    {"KR", "KOR", "south korea|korea|republic of korea|korea republic of|한국|대한민국"},
    {"IN", "IND", "india|bharat|भारत"},
    {"PK", "PAK", "pakistan"},
    {"BD", "BGD", "bangladesh"},
    {"LK", "LKA", "sri lanka"},
    {"SG", "SGP", "singapore"},
    {"MY", "MYS", "malaysia"},
    {"ID", "IDN", "indonesia"},
    {"TH", "THA", "thailand|ประเทศไทย"},
    {"VN", "VNM", "vietnam|viet nam|việt nam"},
    {"PH", "PHL", "philippines|pilipinas"},
    {"AU", "AUS", "australia"},
    {"NZ", "NZL", "new zealand|aotearoa"},
};

#define LP_COUNTRY_COUNT (sizeof(lp_countries) / sizeof(lp_countries[0]))
#define LP_COUNTRY_ALIAS_MAX 512
#define LP_COUNTRY_KEY_MAX 64
/* Slots of the alias hash table: a power of two, twice the aliases, so that
 * probe runs stay short. */
#define LP_COUNTRY_SLOTS (2 * LP_COUNTRY_ALIAS_MAX)

/* One entry of the alias index: a match key and its country row. */
struct lp_country_alias {
    const char *key;
    uint8_t len;
    uint8_t country;
};

static pthread_once_t country_once = PTHREAD_ONCE_INIT;
static struct lp_country_alias country_index[LP_COUNTRY_ALIAS_MAX];
static size_t country_nindex;
/* Open addressing over country_index: 1 + the alias's position, 0 = empty. */
static uint16_t country_slots[LP_COUNTRY_SLOTS];
static char country_codes[LP_COUNTRY_COUNT][2][4]; /* lower-case alpha-2, alpha-3 */

/* FNV-1a of a match key. */
static uint32_t country_key_hash(const char *key, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

/* The alias whose key is key[0..n), or NULL. Keys are unique across
 * countries, so the first match is the only one. */
static const struct lp_country_alias *country_find(const char *key, size_t n)
{
    for (uint32_t h = country_key_hash(key, n);; h++) {
        unsigned slot = country_slots[h & (LP_COUNTRY_SLOTS - 1)];
        if (slot == 0)
            return NULL;
        const struct lp_country_alias *e = &country_index[slot - 1];
        if (e->len == n && memcmp(e->key, key, n) == 0)
            return e;
    }
}

static void country_index_add(const char *key, size_t len, size_t country)
{
    if (country_nindex >= LP_COUNTRY_ALIAS_MAX || len >= LP_COUNTRY_KEY_MAX ||
        country_find(key, len))
        return;
    country_index[country_nindex++] =
        (struct lp_country_alias){key, (uint8_t)len, (uint8_t)country};
    uint32_t h = country_key_hash(key, len);
    while (country_slots[h & (LP_COUNTRY_SLOTS - 1)])
        h++;
    country_slots[h & (LP_COUNTRY_SLOTS - 1)] = (uint16_t)country_nindex;
}

/* Flattens the table into a hashed index of keys (codes and names). */
static void country_index_build(void)
{
    for (size_t c = 0; c < LP_COUNTRY_COUNT; c++) {
        for (int k = 0; k < 2; k++) {
            const char *code = k ? lp_countries[c].iso3 : lp_countries[c].iso2;
            size_t n = strlen(code);
            for (size_t i = 0; i < n; i++)
                country_codes[c][k][i] = ascii_lower(code[i]);
            country_index_add(country_codes[c][k], n, c);
        }
        for (const char *p = lp_countries[c].names; *p;) {
            size_t n = strcspn(p, "|");
            country_index_add(p, n, c);
            p += n + (p[n] == '|');
        }
    }
}

/* Folds a Latin-1 capital (U+00C0..U+00DE but U+00D7) at p to lower case. */
static size_t country_key_latin1(const unsigned char *p, size_t n, char *out)
{
    if (n >= 2 && p[0] == 0xC3 && p[1] >= 0x80 && p[1] <= 0x9E && p[1] != 0x97) {
        out[0] = (char)0xC3;
        out[1] = (char)(p[1] + 0x20);
        return 2;
    }
    return 0;
}

/*
 * The match key of a value: ASCII and Latin-1 letters folded to lower case,
 * dots and commas dropped ("U.S." -> "us"), runs of white space and '_' made
 * one space, and a leading "the " dropped. Returns the key length, or 0 when
 * the value is too long to be a country.
 */
static size_t country_key(lp_str s, char *key)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t n = 0;
    for (size_t i = 0; i < s.len;) {
        size_t k = ws_len_at(p + i, s.len - i);
        if (k || p[i] == '_') {
            if (n && key[n - 1] != ' ')
                key[n++] = ' ';
            i += k ? k : 1;
        } else if (p[i] == '.' || p[i] == ',') {
            i++;
        } else if ((k = country_key_latin1(p + i, s.len - i, key + n)) != 0) {
            n += k;
            i += k;
        } else {
            key[n++] = ascii_lower((char)p[i++]);
        }
        if (n + 2 >= LP_COUNTRY_KEY_MAX)
            return 0;
    }
    while (n && key[n - 1] == ' ')
        n--;
    if (n > 4 && memcmp(key, "the ", 4) == 0) {
        memmove(key, key + 4, n - 4);
        n -= 4;
    }
    return n;
}

lp_str lp_normalize_country(lp_str in)
{
    lp_str s = lp_normalize_trim(in);
    char key[LP_COUNTRY_KEY_MAX];
    size_t n = country_key(s, key);
    if (n == 0)
        return s;
    pthread_once(&country_once, country_index_build);
    const struct lp_country_alias *hit = country_find(key, n);
    if (!hit)
        return s;
    return (lp_str){lp_countries[hit->country].iso2, 2};
}

/* ---- free mail --------------------------------------------------------- */

static const char *const lp_free_mail[] = {
    "gmail.com",      "googlemail.com",  "msn.com",       "icloud.com",      "me.com",
    "mac.com",        "aim.com",         "mail.com",      "email.com",       "ymail.com",
    "rocketmail.com", "hushmail.com",    "fastmail.com",  "fastmail.fm",     "hey.com",
    "zoho.com",       "zohomail.com",    "yopmail.com",   "mailinator.com",  "guerrillamail.com",
    "proton.me",      "protonmail.com",  "protonmail.ch", "pm.me",           "tutanota.com",
    "tutanota.de",    "tuta.io",         "web.de",        "t-online.de",     "freenet.de",
    "arcor.de",       "posteo.de",       "mailbox.org",   "orange.fr",       "free.fr",
    "laposte.net",    "sfr.fr",          "wanadoo.fr",    "libero.it",       "virgilio.it",
    "tiscali.it",     "alice.it",        "mail.ru",       "inbox.ru",        "list.ru",
    "bk.ru",          "rambler.ru",      "ya.ru",         "qq.com",          "163.com",
    "126.com",        "yeah.net",        "sina.com",      "sohu.com",        "aliyun.com",
    "naver.com",      "daum.net",        "hanmail.net",   "rediffmail.com",  "seznam.cz",
    "wp.pl",          "o2.pl",           "onet.pl",       "interia.pl",      "btinternet.com",
    "sky.com",        "virginmedia.com", "comcast.net",   "verizon.net",     "att.net",
    "sbcglobal.net",  "cox.net",         "bigpond.com",   "optusnet.com.au", "uol.com.br",
    "bol.com.br",     "terra.com.br",
};

/* Providers that run one mail domain per country: yahoo.fr, hotmail.co.uk. */
static const char *const lp_free_mail_any_tld[] = {
    "yahoo", "hotmail", "outlook", "live", "aol", "gmx", "yandex",
};

/* True when s is a country-style suffix: "de", "com", "co.uk", "com.br". */
static bool free_mail_suffix_ok(lp_str s)
{
    const char *dot = memchr(s.ptr, '.', s.len);
    if (s.len == 0 || !dot)
        return s.len > 0;
    size_t first = (size_t)(dot - s.ptr);
    return first >= 1 && first <= 3 && !memchr(dot + 1, '.', s.len - first - 1) &&
           s.len - first > 1;
}

bool lp_normalize_is_free_mail(lp_str domain)
{
    for (size_t i = 0; i < sizeof(lp_free_mail) / sizeof(lp_free_mail[0]); i++)
        if (ascii_ieq(domain.ptr, domain.len, lp_free_mail[i]))
            return true;
    const char *dot = memchr(domain.ptr, '.', domain.len);
    if (!dot)
        return false;
    size_t first = (size_t)(dot - domain.ptr);
    lp_str suffix = {dot + 1, (uint32_t)(domain.len - first - 1)};
    for (size_t i = 0; i < sizeof(lp_free_mail_any_tld) / sizeof(lp_free_mail_any_tld[0]); i++)
        if (ascii_ieq(domain.ptr, first, lp_free_mail_any_tld[i]))
            return free_mail_suffix_ok(suffix);
    return false;
}
