/*
 * llm_provider.c - the OpenAI-compatible chat completions protocol: the
 * request body of a batch, and strict validation of the answer.
 *
 * Models drift from instructions: they wrap JSON in fences, invent lead
 * ids, repeat a lead, add keys, answer "Qualified" instead of "SQL". Only
 * an element that matches the use's shape exactly answers its lead; any
 * other lead of the batch stays unanswered, so the router asks for it
 * again instead of trusting a guess.
 *
 * Threads: pure functions, callable from any thread.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"

char *lp_llm_request_body(const char *model, const char *prompt, const lp_str *payloads,
                          size_t n)
{
    size_t cap = 2;
    for (size_t i = 0; i < n; i++)
        cap += payloads[i].len + 1;
    char *leads = malloc(cap + 1);
    if (!leads)
        return NULL;
    size_t at = 0;
    leads[at++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            leads[at++] = ',';
        memcpy(leads + at, payloads[i].ptr, payloads[i].len);
        at += payloads[i].len;
    }
    leads[at++] = ']';
    leads[at] = '\0';
    json_t *body = json_pack("{s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}]}", "model", model,
                             "temperature", 0, "messages", "role", "system", "content", prompt,
                             "role", "user", "content", leads);
    free(leads);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return s;
}

/* Reads `usage` when present; missing counts stay -1. */
static void read_usage(json_t *root, lp_llm_parsed *out)
{
    json_t *u = json_object_get(root, "usage");
    json_t *p = json_object_get(u, "prompt_tokens"), *c = json_object_get(u, "completion_tokens");
    if (json_is_integer(p) && json_integer_value(p) >= 0)
        out->prompt_tokens = json_integer_value(p);
    if (json_is_integer(c) && json_integer_value(c) >= 0)
        out->completion_tokens = json_integer_value(c);
}

/* The message content with an optional ```json ... ``` fence removed. */
static const char *strip_fence(const char *s, size_t *len)
{
    while (*len && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++, (*len)--;
    while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\n' || s[*len - 1] == '\r'))
        (*len)--;
    if (*len >= 6 && !memcmp(s, "```", 3) && !memcmp(s + *len - 3, "```", 3)) {
        const char *nl = memchr(s, '\n', *len);
        if (nl) {
            *len = (size_t)(s + *len - 3 - (nl + 1));
            s = nl + 1;
        }
    }
    return s;
}

/* Number of UTF-8 characters in s (continuation bytes are not counted). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static int find_id(const lp_str *ids, size_t n, const char *id, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i].len == len && !memcmp(ids[i].ptr, id, len))
            return (int)i;
    return -1;
}

static bool decision_of(const char *s, lp_qualification *q)
{
    if (!strcmp(s, "SQL"))
        *q = LP_QUAL_SQL;
    else if (!strcmp(s, "MQL"))
        *q = LP_QUAL_MQL;
    else if (!strcmp(s, "nurture"))
        *q = LP_QUAL_NURTURE;
    else
        return false;
    return true;
}

/* Validates one element's keys and values; fills v (text borrowed from e). */
static bool element_valid(json_t *e, lp_llm_use use, int64_t max_chars, lp_llm_verdict *v,
                          const char **text)
{
    if (use == LP_LLM_GRAY_ZONE) {
        json_t *d = json_object_get(e, "decision"), *r = json_object_get(e, "reason");
        if (json_object_size(e) != 3 || !json_is_string(d) || !json_is_string(r))
            return false;
        if (!decision_of(json_string_value(d), &v->decision))
            return false;
        *text = json_string_value(r);
        v->text_len = json_string_length(r);
        return v->text_len <= 1000;
    }
    json_t *f = json_object_get(e, "first_line");
    if (json_object_size(e) != 2 || !json_is_string(f))
        return false;
    *text = json_string_value(f);
    v->text_len = json_string_length(f);
    return v->text_len > 0 && utf8_chars(*text, v->text_len) <= (size_t)max_chars &&
           !memchr(*text, '\n', v->text_len) && !memchr(*text, '\0', v->text_len);
}

/* Applies one array element; returns false when it is rejected. */
static bool take_element(json_t *e, lp_llm_use use, const lp_str *ids, int64_t max_chars,
                         lp_llm_parsed *out)
{
    json_t *id = json_object_get(e, "lead_id");
    if (!json_is_object(e) || !json_is_string(id))
        return false;
    int i = find_id(ids, out->n, json_string_value(id), json_string_length(id));
    if (i < 0 || out->v[i].found)
        return false; /* unknown id, or a lead answered twice: keep the first answer */
    lp_llm_verdict v = {0};
    const char *text = NULL;
    if (!element_valid(e, use, max_chars, &v, &text))
        return false;
    v.text = malloc(v.text_len + 1);
    if (!v.text)
        return false;
    memcpy(v.text, text, v.text_len);
    v.text[v.text_len] = '\0';
    v.found = true;
    out->v[i] = v;
    return true;
}

/* Parses the content string as the answer array. */
static lp_err_t parse_content(json_t *content, lp_llm_use use, const lp_str *ids,
                              int64_t max_chars, lp_llm_parsed *out, char *msg, size_t msglen)
{
    size_t len = json_string_length(content);
    const char *s = strip_fence(json_string_value(content), &len);
    json_error_t je;
    json_t *arr = json_loadb(s, len, 0, &je);
    if (!json_is_array(arr)) {
        snprintf(msg, msglen, "answer is not a JSON array%s%s", arr ? "" : ": ",
                 arr ? "" : je.text);
        json_decref(arr);
        return LP_E_JSON_INVALID;
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (!take_element(e, use, ids, max_chars, out))
            out->invalid++;
    }
    json_decref(arr);
    return LP_OK;
}

lp_err_t lp_llm_parse_answer(const char *body, size_t len, lp_llm_use use, const lp_str *ids,
                             size_t n, int64_t max_chars, lp_llm_parsed *out, char *msg,
                             size_t msglen)
{
    memset(out, 0, sizeof(*out));
    out->prompt_tokens = out->completion_tokens = -1;
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (!out->v)
        return LP_E_NOMEM;
    out->n = n;
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!json_is_object(root)) {
        snprintf(msg, msglen, "response is not a JSON object: %s", root ? "" : je.text);
        json_decref(root);
        return LP_E_JSON_INVALID;
    }
    read_usage(root, out);
    json_t *content = json_object_get(
        json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message"),
        "content");
    lp_err_t err = LP_E_JSON_INVALID;
    if (!json_is_string(content))
        snprintf(msg, msglen, "response has no choices[0].message.content string");
    else
        err = parse_content(content, use, ids, max_chars, out, msg, msglen);
    json_decref(root);
    return err;
}

void lp_llm_parsed_free(lp_llm_parsed *p)
{
    if (!p || !p->v)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].text);
    free(p->v);
    p->v = NULL;
}
