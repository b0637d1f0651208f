/*
 * normalize.c - canonical forms of emails, domains, web addresses, phone
 * numbers and countries; see normalize.h for the contract.
 *
 * Owns: the country alias index and the free-mail list (immutable tables).
 *
 * Threads: any. The country index is built once, under pthread_once, and
 * only read afterwards. libidn2's conversion is reentrant.
 *
 * Invariants: a result is either a slice of the caller's input or a copy in
 * the caller's arena; a host that leaves this module is lower-case ASCII
 * that passed host_is_valid().

 */
#include "normalize.h"

#include <idn2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

lp_str lp_normalize_trim(lp_str s)
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

static bool ascii_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool ascii_is_alnum(char c)
{
    return ascii_is_alpha(c) || ascii_is_digit(c);
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

/* s with ASCII letters folded to lower case; zero-copy when already so. */
static lp_err_t str_lower(lp_str s, lp_arena *a, lp_str *out)
{
    if (!str_has_upper(s)) {
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
 * Converts a non-ASCII host to its ASCII (punycode) form, trying IDNA2008
 * non-transitional processing first and transitional second (which maps
 * characters such as ß that the former rejects in some positions).
 */
static lp_err_t host_idn_to_ascii(lp_str host, lp_arena *a, lp_str *out)
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
    return LP_OK;
}

/* True when p[start..end) can be a DNS label: 1..63 bytes, no hyphen at either end. */
static inline bool label_ends_ok(const char *p, size_t start, size_t end)
{
    return end > start && end - start <= 63 && p[start] != '-' && p[end - 1] != '-';
}

/*
 * An ASCII host name of two or more labels of letters, digits and hyphens
 * whose TLD is not all digits. One pass: label ends are checked at each dot.
 */
static bool host_is_valid(lp_str h)
{
    size_t labels = 1, start = 0;
    bool tld_ok = false; /* the current label holds a byte that is not a digit */
    if (h.len == 0 || h.len > 253)
        return false;
    for (size_t i = 0; i < h.len; i++) {
        char c = h.ptr[i];
        if (c == '.') {
            if (!label_ends_ok(h.ptr, start, i))
                return false;
            labels++;
            start = i + 1;
            tld_ok = false;
        } else if (!ascii_is_digit(c)) {
            if (!ascii_is_alpha(c) && c != '-')
                return false;
            tld_ok = true;
        }
    }
    return label_ends_ok(h.ptr, start, h.len) && labels >= 2 && tld_ok;
}

/* Lower-case ASCII form of a host, checked. LP_E_DOMAIN_INVALID if bad. */
static lp_err_t host_canon(lp_str host, lp_arena *a, lp_str *out)
{
    unsigned high = 0;
    bool upper = false;
    for (uint32_t i = 0; i < host.len; i++) {
        unsigned char c = (unsigned char)host.ptr[i];
        high |= c;
        upper |= (unsigned)(c - 'A') < 26u;
    }
    lp_err_t err = LP_OK;
    if (high & 0x80)
        err = host_idn_to_ascii(host, a, out);
    else if (upper)
        err = str_lower(host, a, out);
    else
        *out = host; /* already canonical: zero-copy */
    if (err != LP_OK)
        return err;
    return host_is_valid(*out) ? LP_OK : LP_E_DOMAIN_INVALID;
}

/* ---- email ------------------------------------------------------------- */

static bool email_is_atext(unsigned char c)
{
    return c != '\0' && (ascii_is_alnum((char)c) || strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A dot-atom local part; UTF-8 letters are allowed (RFC 6531), spaces not. */
static bool email_dot_atom_ok(lp_str l)
{
    const unsigned char *p = (const unsigned char *)l.ptr;
    if (l.len == 0 || p[0] == '.' || p[l.len - 1] == '.')
        return false;
    for (size_t i = 0; i < l.len; i++) {
        if (p[i] == '.') {
            if (p[i - 1] == '.')
                return false;
        } else if (p[i] >= 0x80) {
            if (ws_len_at(p + i, l.len - i))
                return false;
        } else if (!email_is_atext(p[i])) {
            return false;
        }
    }
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

/* Joins local@domain, folding the local part; zero-copy when unchanged. */
static lp_err_t email_join(lp_str s, lp_str local, lp_str dom, lp_str adom, lp_arena *a,
                           lp_str *email, lp_str *domain)
{
    if (!str_has_upper(local) && adom.ptr == dom.ptr) {
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
    if (s.len > 4 * LP_EMAIL_MAX || !email_split(s, &at))
        return LP_E_EMAIL_INVALID;
    local = (lp_str){s.ptr, (uint32_t)at};
    dom = (lp_str){s.ptr + at + 1, (uint32_t)(s.len - at - 1)};
    if (local.len > LP_EMAIL_LOCAL_MAX)
        return LP_E_EMAIL_INVALID;
    if (local.ptr[0] == '"' ? !email_quoted_ok(local) : !email_dot_atom_ok(local))
        return LP_E_EMAIL_INVALID;
    lp_err_t err = host_canon(dom, a, &adom);
    if (err == LP_OK)
        err = email_join(s, local, dom, adom, a, &out, &out_dom);
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

/* Length of an "http://" or "https://" prefix (any case); 0 if there is no
 * scheme; -1 if there is another scheme. */
static int web_scheme_len(lp_str s)
{
    size_t i = 0;
    while (i < s.len && (ascii_is_alnum(s.ptr[i]) || s.ptr[i] == '+' || s.ptr[i] == '-'))
        i++;
    if (i == 0 || s.len - i < 3 || memcmp(s.ptr + i, "://", 3) != 0)
        return 0;
    if (ascii_ieq(s.ptr, i, "http") || ascii_ieq(s.ptr, i, "https"))
        return (int)(i + 3);
    return -1;
}

/*
 * Drops a numeric port and a trailing dot from an authority. User info is
 * refused rather than dropped: in lead data "mailto:bob@acme.com" or
 * "bob@acme.com" in a website column is an email, not a site.
 */
static bool web_authority_host(lp_str auth, lp_str *host)
{
    if (memchr(auth.ptr, '@', auth.len))
        return false;
    const char *colon = memrchr(auth.ptr, ':', auth.len);
    if (colon) {
        size_t port = auth.len - (size_t)(colon + 1 - auth.ptr);
        if (port == 0 || port > 5)
            return false;
        for (size_t i = 0; i < port; i++)
            if (!ascii_is_digit(colon[1 + i]))
                return false;
        auth.len = (uint32_t)(colon - auth.ptr);
    }
    if (auth.len && auth.ptr[auth.len - 1] == '.')
        auth.len--;
    *host = auth;
    return auth.len > 0;
}

/*
 * Extracts the host of a web address: an optional http(s) scheme, then the
 * authority up to the first '/', '?' or '#'. Rejects other schemes and
 * addresses holding white space or control characters.
 */
static bool web_host(lp_str s, lp_str *host)
{
    int skip = web_scheme_len(s);
    if (skip < 0)
        return false;
    size_t start = (size_t)skip, end = start;
    while (end < s.len && s.ptr[end] != '/' && s.ptr[end] != '?' && s.ptr[end] != '#')
        end++;
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] <= ' ' || s.ptr[i] == 0x7F ||
            ws_len_at((const unsigned char *)s.ptr + i, s.len - i))
            return false;
    return web_authority_host((lp_str){s.ptr + start, (uint32_t)(end - start)}, host);
}

/*
 * True when s is already what web_canon() would make of it: a valid host of
 * lower-case letters, digits, '-' and '.', not starting with "www.". Most
 * company_domain values are, and then need no scan for scheme, port or path.
 */
static bool host_is_canonical(lp_str s)
{
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || ascii_is_digit(c) || c == '-' || c == '.'))
            return false;
    }
    if (s.len >= 4 && memcmp(s.ptr, "www.", 4) == 0)
        return false;
    return host_is_valid(s);
}

/* The canonical host of a web address, without "www."; DOMAIN_INVALID if bad. */
static lp_err_t web_canon(lp_str in, lp_arena *a, lp_str *out)
{
    lp_str host, canon;
    if (host_is_canonical(in)) {
        *out = in;
        return LP_OK;
    }
    if (!web_host(lp_normalize_trim(in), &host))
        return LP_E_DOMAIN_INVALID;
    lp_err_t err = host_canon(host, a, &canon);
    if (err != LP_OK)
        return err;
    /* canon is valid, so what follows "www." is valid too once it still
     * holds two labels (the same TLD, a subset of the labels). */
    if (canon.len > 4 && memcmp(canon.ptr, "www.", 4) == 0 &&
        memchr(canon.ptr + 4, '.', canon.len - 4)) {
        canon.ptr += 4;
        canon.len -= 4;
    }
    *out = canon;
    return LP_OK;
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
    static const char suffix[] = ".linkedin.com";
    size_t n = sizeof(suffix) - 1;
    if (ascii_ieq(host.ptr, host.len, suffix + 1))
        return true;
    return host.len > n && ascii_ieq(host.ptr + host.len - n, n, suffix);
}

/* ---- phone numbers ----------------------------------------------------- */

/* The number before its extension: digits and separators, 7..15 digits. */
static bool phone_main_ok(const char *p, size_t n)
{
    size_t digits = 0;
    bool open = false, plus = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (ascii_is_digit(c))
            digits++;
        else if (c == '+' && !plus && digits == 0)
            plus = true;
        else if (c == '(' && !open)
            open = true;
        else if (c == ')' && open)
            open = false;
        else if (c != ' ' && c != '-' && c != '.' && c != '/')
            return false;
    }
    return !open && digits >= 7 && digits <= 15;
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
    size_t ext = 0;
    while (ext < s.len && !ascii_is_alpha(s.ptr[ext]) && s.ptr[ext] != '#')
        ext++;
    if (!phone_main_ok(s.ptr, ext))
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

/* One entry of the sorted alias index: a match key and its country row. */
struct lp_country_alias {
    const char *key;
    uint8_t len;
    uint8_t country;
};

static pthread_once_t country_once = PTHREAD_ONCE_INIT;
static struct lp_country_alias country_index[LP_COUNTRY_ALIAS_MAX];
static size_t country_nindex;
static char country_codes[LP_COUNTRY_COUNT][2][4]; /* lower-case alpha-2, alpha-3 */

static int country_alias_cmp(const void *pa, const void *pb)
{
    const struct lp_country_alias *a = pa, *b = pb;
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return c ? c : (int)a->len - (int)b->len;
}

static void country_index_add(const char *key, size_t len, size_t country)
{
    if (country_nindex < LP_COUNTRY_ALIAS_MAX && len < LP_COUNTRY_KEY_MAX)
        country_index[country_nindex++] =
            (struct lp_country_alias){key, (uint8_t)len, (uint8_t)country};
}

/* Flattens the table into a sorted index of keys (codes and names). */
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
    qsort(country_index, country_nindex, sizeof(country_index[0]), country_alias_cmp);
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
    struct lp_country_alias probe = {key, (uint8_t)n, 0};
    const struct lp_country_alias *hit =
        bsearch(&probe, country_index, country_nindex, sizeof(country_index[0]), country_alias_cmp);
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
