/*
 * fake_llm.h - OpenAI-compatible chat completion providers on loopback,
 * served by libmicrohttpd from inside a test (one daemon per provider, a
 * thread per connection so that slow answers overlap).
 *
 * A provider answers each lead of the request's user message (a JSON array
 * of lead objects): gray zone with the lead's "want" field (default "MQL"),
 * first line with "Hi <lead_id>". Its mode makes it misbehave: slow, 429
 * with Retry-After, 500, 402, invalid JSON, a missed lead, a wrong id. It
 * records every request's batch size, start time and concurrency, and sends
 * `usage` of body bytes / 4 prompt tokens and 10 completion tokens a lead.
 */
#ifndef FAKE_LLM_H
#define FAKE_LLM_H

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

typedef enum fake_mode {
    FAKE_OK = 0,
    FAKE_500,      /* always 500 */
    FAKE_429_ONCE, /* 429 Retry-After: 1 on the first request, then OK */
    FAKE_402,      /* 402 budget exhausted */
    FAKE_BADJSON,  /* content is not JSON */
    FAKE_MISS_ONE, /* the first request omits its first lead */
    FAKE_WRONG_ID, /* the first request renames its first lead */
    FAKE_NO_USAGE, /* OK without usage */
} fake_mode;

#define FAKE_MAX_REQ 512

typedef struct fake_llm {
    struct MHD_Daemon *d;
    char url[96];
    atomic_int mode;     /* fake_mode */
    atomic_int delay_ms; /* before answering */
    atomic_int requests, inflight, max_inflight;
    pthread_mutex_t lock;
    int sizes[FAKE_MAX_REQ];   /* leads per request, in arrival order */
    int64_t at_ms[FAKE_MAX_REQ];
    char last_auth[128];
} fake_llm;

static inline int64_t fake_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result fake_reply(struct MHD_Connection *c, unsigned status, const char *body,
                                  const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The answer array for the leads of a request, as the mode shapes it. */
static json_t *fake_answers(json_t *leads, bool gray, int mode, int nreq)
{
    json_t *out = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(leads, i, l)
    {
        const char *id = json_string_value(json_object_get(l, "lead_id"));
        if (i == 0 && nreq == 1 && mode == FAKE_MISS_ONE)
            continue;
        if (i == 0 && nreq == 1 && mode == FAKE_WRONG_ID)
            id = "X-NOT-SENT";
        char line[160];
        snprintf(line, sizeof(line), "Hi %s", id ? id : "?");
        const char *want = json_string_value(json_object_get(l, "want"));
        if (gray)
            json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "lead_id", id ? id : "",
                                                 "decision", want ? want : "MQL", "reason",
                                                 "fits the profile"));
        else
            json_array_append_new(out, json_pack("{s:s, s:s}", "lead_id", id ? id : "",
                                                 "first_line", line));
    }
    return out;
}

/* Builds the chat completion body answering request body req. */
static char *fake_completion(fake_llm *f, const lp_buf *req, int nreq, int *nleads)
{
    json_t *root = json_loadb(req->data ? req->data : "", req->len, 0, NULL);
    json_t *msgs = json_object_get(root, "messages");
    const char *sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    const char *user = json_string_value(json_object_get(json_array_get(msgs, 1), "content"));
    json_t *leads = user ? json_loads(user, 0, NULL) : NULL;
    *nleads = (int)json_array_size(leads);
    int mode = atomic_load(&f->mode);
    bool gray = sys && strstr(sys, "decision");
    json_t *ans = fake_answers(leads, gray, mode, nreq);
    char *content = mode == FAKE_BADJSON ? strdup("Sure! Here are the answers: [oops")
                                         : json_dumps(ans, JSON_COMPACT);
    json_t *body = json_pack("{s:[{s:{s:s, s:s}}]}", "choices", "message", "role", "assistant",
                             "content", content);
    if (mode != FAKE_NO_USAGE)
        json_object_set_new(body, "usage",
                            json_pack("{s:I, s:I}", "prompt_tokens", (json_int_t)(req->len / 4),
                                      "completion_tokens", (json_int_t)(10 * *nleads)));
    char *s = json_dumps(body, JSON_COMPACT);
    free(content);
    json_decref(body);
    json_decref(ans);
    json_decref(leads);
    json_decref(root);
    return s;
}

static void fake_note_request(fake_llm *f, int n, int nreq)
{
    pthread_mutex_lock(&f->lock);
    if (nreq <= FAKE_MAX_REQ) {
        f->sizes[nreq - 1] = n;
        f->at_ms[nreq - 1] = fake_now_ms();
    }
    pthread_mutex_unlock(&f->lock);
}

static enum MHD_Result fake_answer(fake_llm *f, struct MHD_Connection *c, const lp_buf *req)
{
    int nreq = atomic_fetch_add(&f->requests, 1) + 1;
    int now_in = atomic_fetch_add(&f->inflight, 1) + 1;
    int seen = atomic_load(&f->max_inflight);
    while (now_in > seen && !atomic_compare_exchange_weak(&f->max_inflight, &seen, now_in))
        ;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&f->lock);
    snprintf(f->last_auth, sizeof(f->last_auth), "%s", auth ? auth : "");
    pthread_mutex_unlock(&f->lock);
    int n = 0;
    char *body = fake_completion(f, req, nreq, &n);
    fake_note_request(f, n, nreq);
    if (atomic_load(&f->delay_ms) > 0)
        usleep((useconds_t)atomic_load(&f->delay_ms) * 1000);
    atomic_fetch_sub(&f->inflight, 1);
    int mode = atomic_load(&f->mode);
    enum MHD_Result r;
    if (mode == FAKE_500)
        r = fake_reply(c, 500, "{\"error\":{\"message\":\"boom\"}}", NULL);
    else if (mode == FAKE_402)
        r = fake_reply(c, 402, "{\"error\":{\"message\":\"budget exhausted\"}}", NULL);
    else if (mode == FAKE_429_ONCE && nreq == 1)
        r = fake_reply(c, 429, "{\"error\":{\"message\":\"slow down\"}}", "1");
    else
        r = fake_reply(c, 200, body, NULL);
    free(body);
    return r;
}

static enum MHD_Result fake_serve(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **ctx)
{
    (void)url;
    (void)method;
    (void)version;
    lp_buf *body = *ctx;
    if (!body) {
        body = calloc(1, sizeof(*body));
        *ctx = body;
        return MHD_YES;
    }
    if (*size) {
        lp_buf_append(body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    return fake_answer(cls, c, body);
}

static void fake_done(void *cls, struct MHD_Connection *c, void **ctx,
                      enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    lp_buf *body = *ctx;
    if (body) {
        lp_buf_free(body);
        free(body);
    }
}

/* Starts a provider on an ephemeral loopback port. */
static inline int fake_start(fake_llm *f, fake_mode mode, int delay_ms)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    atomic_store(&f->mode, mode);
    atomic_store(&f->delay_ms, delay_ms);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, fake_serve, f, MHD_OPTION_SOCK_ADDR, &sin,
                            MHD_OPTION_NOTIFY_COMPLETED, fake_done, NULL, MHD_OPTION_END);
    if (!f->d)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/v1/chat/completions",
             (unsigned)info->port);
    return 0;
}

static inline void fake_stop(fake_llm *f)
{
    if (f->d)
        MHD_stop_daemon(f->d);
    f->d = NULL;
    pthread_mutex_destroy(&f->lock);
}

#endif
