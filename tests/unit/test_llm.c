/*
 * Unit tests for llm.c and llm_provider.c: strict validation of answers,
 * and the router against fake OpenAI-compatible providers on loopback
 * (fake_llm.h): batch sizes, each strategy's choice, fallback, Retry-After,
 * rate and concurrency limits, budget stop and budget priority, retries of
 * missing leads, every provider down, deadlines. Every question asked must
 * come back exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_llm.h"
#include "llm.h"

/* ---- validation ------------------------------------------------------------ */

static const lp_str ids3[] = {{"L1", 2}, {"L2", 2}, {"L3", 2}};

/* Wraps content as a chat completion body with usage. */
static char *completion(const char *content)
{
    json_t *b = json_pack("{s:[{s:{s:s}}], s:{s:i, s:i}}", "choices", "message", "content",
                          content, "usage", "prompt_tokens", 120, "completion_tokens", 30);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

static lp_err_t parse(const char *content, lp_llm_use use, lp_llm_parsed *p, char *msg)
{
    char *body = completion(content);
    lp_err_t err = lp_llm_parse_answer(body, strlen(body), use, ids3, 3, 40, p, msg, 160);
    free(body);
    return err;
}

static void valid_answer_is_read_with_usage(void **state)
{
    (void)state;
    lp_llm_parsed p;
    char msg[160] = "";
    assert_int_equal(parse("```json\n[{\"lead_id\":\"L2\",\"decision\":\"SQL\",\"reason\":\"VP\"},"
                           "{\"lead_id\":\"L1\",\"decision\":\"nurture\",\"reason\":\"\"},"
                           "{\"lead_id\":\"L3\",\"decision\":\"MQL\",\"reason\":\"ok\"}]\n```",
                           LP_LLM_GRAY_ZONE, &p, msg),
                     LP_OK);
    assert_int_equal(p.prompt_tokens, 120);
    assert_int_equal(p.completion_tokens, 30);
    assert_int_equal(p.invalid, 0);
    assert_true(p.v[0].found && p.v[1].found && p.v[2].found);
    assert_int_equal(p.v[0].decision, LP_QUAL_NURTURE);
    assert_int_equal(p.v[1].decision, LP_QUAL_SQL);
    assert_string_equal(p.v[1].text, "VP");
    assert_int_equal(p.v[2].decision, LP_QUAL_MQL);
    lp_llm_parsed_free(&p);
}

static void invalid_elements_leave_their_lead_unanswered(void **state)
{
    (void)state;
    lp_llm_parsed p;
    char msg[160] = "";
    /* a wrong id, a repeated lead, a value outside the allowed set, an extra key */
    assert_int_equal(parse("[{\"lead_id\":\"L9\",\"decision\":\"SQL\",\"reason\":\"x\"},"
                           "{\"lead_id\":\"L1\",\"decision\":\"MQL\",\"reason\":\"x\"},"
                           "{\"lead_id\":\"L1\",\"decision\":\"SQL\",\"reason\":\"y\"},"
                           "{\"lead_id\":\"L2\",\"decision\":\"Qualified\",\"reason\":\"x\"},"
                           "{\"lead_id\":\"L3\",\"decision\":\"SQL\",\"reason\":\"x\",\"score\":1}]",
                           LP_LLM_GRAY_ZONE, &p, msg),
                     LP_OK);
    assert_int_equal(p.invalid, 4);
    assert_true(p.v[0].found);
    assert_int_equal(p.v[0].decision, LP_QUAL_MQL); /* the first answer for L1 stands */
    assert_false(p.v[1].found);
    assert_false(p.v[2].found);
    lp_llm_parsed_free(&p);
}

static void first_lines_are_capped_and_single_line(void **state)
{
    (void)state;
    lp_llm_parsed p;
    char msg[160] = "";
    /* 40 characters allowed: "é" counts once; a newline or 41 characters do not pass */
    assert_int_equal(parse("[{\"lead_id\":\"L1\",\"first_line\":\"Caf\\u00e9 owners love a short "
                           "opening line!!!\"},"
                           "{\"lead_id\":\"L2\",\"first_line\":\"two\\nlines\"},"
                           "{\"lead_id\":\"L3\",\"first_line\":\"12345678901234567890123456789012"
                           "345678901\"}]",
                           LP_LLM_FIRST_LINE, &p, msg),
                     LP_OK);
    assert_true(p.v[0].found);
    assert_int_equal(p.v[0].text_len, 41); /* 40 characters, 41 bytes */
    assert_false(p.v[1].found);
    assert_false(p.v[2].found);
    assert_int_equal(p.invalid, 2);
    lp_llm_parsed_free(&p);
}

static void content_that_is_not_an_array_is_rejected(void **state)
{
    (void)state;
    lp_llm_parsed p;
    char msg[160] = "";
    assert_int_equal(parse("{\"lead_id\":\"L1\",\"decision\":\"SQL\",\"reason\":\"x\"}",
                           LP_LLM_GRAY_ZONE, &p, msg),
                     LP_E_JSON_INVALID);
    assert_string_equal(msg, "answer is not a JSON array");
    assert_int_equal(p.prompt_tokens, 120); /* usage still counts: it was paid for */
    lp_llm_parsed_free(&p);
    assert_int_equal(lp_llm_parse_answer("{\"choices\":[]}", 14, LP_LLM_GRAY_ZONE, ids3, 3, 40, &p,
                                         msg, sizeof(msg)),
                     LP_E_JSON_INVALID);
    assert_string_equal(msg, "response has no choices[0].message.content string");
    lp_llm_parsed_free(&p);
}

static void request_body_carries_model_prompt_and_leads(void **state)
{
    (void)state;
    lp_str payloads[] = {{"{\"lead_id\":\"L1\"}", 16}, {"{\"lead_id\":\"L2\"}", 16}};
    char *body = lp_llm_request_body("m-1", "decide", payloads, 2);
    assert_string_equal(body, "{\"model\":\"m-1\",\"temperature\":0,\"messages\":[{\"role\":"
                              "\"system\",\"content\":\"decide\"},{\"role\":\"user\",\"content\":"
                              "\"[{\\\"lead_id\\\":\\\"L1\\\"},{\\\"lead_id\\\":\\\"L2\\\"}]\"}]}");
    free(body);
}

/* ---- the router ------------------------------------------------------------ */

#define MAXQ 256

/* Answers received, by question index. */
typedef struct answers {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    int times[MAXQ]; /* how many times each question was answered */
    lp_err_t status[MAXQ];
    lp_qualification decision[MAXQ];
    const char *note[MAXQ];
    int provider[MAXQ];
    char text[MAXQ][64];
} answers;

static answers A;
static fake_llm F[3];

static void on_answer(void *ctx, const lp_llm_answer *a)
{
    int i = (int)(intptr_t)ctx;
    pthread_mutex_lock(&A.lock);
    A.times[i]++;
    A.status[i] = a->status;
    A.decision[i] = a->decision;
    A.note[i] = a->note;
    A.provider[i] = a->provider;
    snprintf(A.text[i], sizeof(A.text[i]), "%.*s", (int)a->text_len, a->text ? a->text : "");
    A.n++;
    pthread_cond_broadcast(&A.cond);
    pthread_mutex_unlock(&A.lock);
}

/* Waits for n answers in all (a guard against hangs, not a timing assertion). */
static void wait_answers(int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&A.lock);
    while (A.n < n && pthread_cond_timedwait(&A.cond, &A.lock, &ts) == 0)
        ;
    int got = A.n;
    pthread_mutex_unlock(&A.lock);
    assert_int_equal(got, n);
}

static int setup(void **state)
{
    (void)state;
    memset(&A, 0, sizeof(A));
    pthread_mutex_init(&A.lock, NULL);
    pthread_cond_init(&A.cond, NULL);
    for (int i = 0; i < 3; i++)
        if (fake_start(&F[i], FAKE_OK, 0))
            return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        fake_stop(&F[i]);
    return 0;
}

static const char *const names[] = {"alpha", "beta", "gamma"};
static lp_llm_provider_conf P[3];

/* A router over the first n fake providers, with fast retries. */
static lp_llm_conf conf_for(size_t n, lp_llm_strategy s)
{
    for (size_t i = 0; i < n; i++)
        P[i] = (lp_llm_provider_conf){.name = names[i], .url = F[i].url, .model = "m",
                                      .api_key_env = "LP_TEST_LLM_KEY", .weight = 1,
                                      .input_per_mtok = 1, .output_per_mtok = 2};
    lp_llm_conf c = {.strategy = s, .providers = P, .nproviders = n, .max_leads = 20,
                     .linger_ms = 30, .max_attempts = 3, .timeout_ms = 5000, .backoff_ms = 10,
                     .fail_threshold = 2, .cooldown_ms = 60000, .first_line_max = 120,
                     .prompt = {"Answer with a decision for each lead.", "Write a first line."},
                     .completion_tokens = {30, 40}};
    return c;
}

static lp_llm *router(const lp_llm_conf *c)
{
    lp_llm *llm = NULL;
    assert_int_equal(lp_llm_new(c, &llm), LP_OK);
    return llm;
}

/* Asks question i about lead "L<i>" with priority prio. */
static void ask(lp_llm *llm, lp_llm_use use, int i, const char *want, double prio,
                int64_t deadline_in_ms)
{
    char id[16], payload[96];
    int n = snprintf(id, sizeof(id), "L%d", i);
    int m = want ? snprintf(payload, sizeof(payload), "{\"lead_id\":\"%s\",\"want\":\"%s\"}", id,
                            want)
                 : snprintf(payload, sizeof(payload), "{\"lead_id\":\"%s\"}", id);
    lp_llm_question q = {use, {id, (size_t)n}, {payload, (size_t)m}, prio,
                         fake_now_ms() + deadline_in_ms, on_answer, (void *)(intptr_t)i};
    assert_int_equal(lp_llm_ask(llm, &q), LP_OK);
}

static void assert_each_answered_once(int n)
{
    for (int i = 0; i < n; i++)
        if (A.times[i] != 1)
            fail_msg("question %d answered %d times", i, A.times[i]);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void batches_fill_to_max_leads(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    c.linger_ms = 300;
    setenv("LP_TEST_LLM_KEY", "sk-test-123", 1);
    lp_llm *llm = router(&c);
    for (int i = 0; i < 45; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, i % 2 ? "SQL" : "nurture", i, 30000);
    wait_answers(45);
    assert_each_answered_once(45);
    assert_int_equal(atomic_load(&F[0].requests), 3);
    int sizes[3] = {F[0].sizes[0], F[0].sizes[1], F[0].sizes[2]};
    qsort(sizes, 3, sizeof(int), cmp_int);
    assert_int_equal(sizes[0], 5);
    assert_int_equal(sizes[1], 20);
    assert_int_equal(sizes[2], 20);
    assert_int_equal(A.decision[1], LP_QUAL_SQL);
    assert_int_equal(A.decision[2], LP_QUAL_NURTURE);
    assert_string_equal(A.text[1], "fits the profile");
    assert_string_equal(F[0].last_auth, "Bearer sk-test-123");
    lp_llm_stats s;
    lp_llm_stats_get(llm, &s);
    assert_int_equal(s.max_batch, 20);
    assert_int_equal(s.p[0].leads_answered, 45);
    assert_true(s.p[0].prompt_tokens > 0);
    assert_int_equal(s.p[0].completion_tokens, 450); /* 10 per lead, from usage */
    lp_llm_free(llm);
    unsetenv("LP_TEST_LLM_KEY");
}

static void cost_strategy_picks_the_cheapest(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(3, LP_LLM_COST);
    P[0].input_per_mtok = 3;
    P[1].input_per_mtok = 0.5; /* beta is the cheapest */
    P[2].input_per_mtok = 1;
    c.max_leads = 2;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 6; i++)
        ask(llm, LP_LLM_FIRST_LINE, i, NULL, 0, 30000);
    wait_answers(6);
    assert_int_equal(atomic_load(&F[1].requests), 3);
    assert_int_equal(atomic_load(&F[0].requests) + atomic_load(&F[2].requests), 0);
    assert_string_equal(A.text[4], "Hi L4");
    assert_int_equal(A.provider[4], 1);
    lp_llm_free(llm);
}

static void quality_strategy_prefers_the_first(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(3, LP_LLM_QUALITY);
    P[0].input_per_mtok = 30; /* expensive, but preferred */
    c.linger_ms = 300;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 4; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 0, 30000);
    wait_answers(4);
    assert_int_equal(atomic_load(&F[0].requests), 1);
    assert_int_equal(atomic_load(&F[1].requests) + atomic_load(&F[2].requests), 0);
    lp_llm_free(llm);
}

static void balanced_strategy_splits_by_weight(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(2, LP_LLM_BALANCED);
    P[0].weight = 3;
    P[1].weight = 1;
    c.max_leads = 1;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 8; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 0, 30000);
    wait_answers(8);
    assert_int_equal(atomic_load(&F[0].requests), 6);
    assert_int_equal(atomic_load(&F[1].requests), 2);
    lp_llm_free(llm);
}

static void latency_strategy_moves_to_the_fastest(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(2, LP_LLM_LATENCY);
    atomic_store(&F[0].delay_ms, 300);
    c.max_leads = 1;
    c.linger_ms = 0;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 5; i++) { /* one at a time, so that each choice sees the last latency */
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 0, 30000);
        wait_answers(i + 1);
    }
    /* untried providers are probed once each (alpha first), then beta's p50 wins */
    assert_int_equal(A.provider[0], 0);
    assert_int_equal(A.provider[1], 1);
    for (int i = 2; i < 5; i++)
        assert_int_equal(A.provider[i], 1);
    lp_llm_free(llm);
}

static void failing_provider_falls_back_and_cools_down(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(2, LP_LLM_QUALITY);
    atomic_store(&F[0].mode, FAKE_500);
    c.max_leads = 1;
    c.fail_threshold = 1;
    lp_llm *llm = router(&c);
    ask(llm, LP_LLM_GRAY_ZONE, 0, "SQL", 0, 30000);
    wait_answers(1);
    for (int i = 1; i < 5; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, "SQL", 0, 30000);
    wait_answers(5);
    assert_each_answered_once(5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(A.status[i], LP_OK);
        assert_int_equal(A.provider[i], 1);
    }
    /* one 500 puts alpha in cooldown: it sees one request, not five */
    assert_int_equal(atomic_load(&F[0].requests), 1);
    lp_llm_stats s;
    lp_llm_stats_get(llm, &s);
    assert_int_equal(s.p[0].failures, 1);
    assert_int_equal(s.p[1].fallbacks, 5);
    lp_llm_free(llm);
}

static void budget_refusal_cools_the_provider_down(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(2, LP_LLM_QUALITY);
    atomic_store(&F[0].mode, FAKE_402);
    c.max_leads = 1;
    c.fail_threshold = 100; /* 402 alone must be enough */
    lp_llm *llm = router(&c);
    ask(llm, LP_LLM_GRAY_ZONE, 0, NULL, 0, 30000);
    wait_answers(1);
    for (int i = 1; i < 4; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 0, 30000);
    wait_answers(4);
    assert_int_equal(atomic_load(&F[0].requests), 1);
    assert_int_equal(atomic_load(&F[1].requests), 4);
    lp_llm_free(llm);
}

static void retry_after_is_honoured(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    atomic_store(&F[0].mode, FAKE_429_ONCE);
    lp_llm *llm = router(&c);
    ask(llm, LP_LLM_GRAY_ZONE, 0, "SQL", 0, 30000);
    wait_answers(1);
    assert_int_equal(A.status[0], LP_OK);
    assert_int_equal(atomic_load(&F[0].requests), 2);
    /* Retry-After: 1 -> the second request comes a second or more after the first */
    assert_true(F[0].at_ms[1] - F[0].at_ms[0] >= 1000);
    lp_llm_free(llm);
}

static void rpm_limit_is_never_exceeded(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    P[0].rpm = 3;
    c.max_leads = 1;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 8; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, i, 1500);
    wait_answers(8);
    assert_each_answered_once(8);
    assert_int_equal(atomic_load(&F[0].requests), 3);
    int used = 0;
    for (int i = 0; i < 8; i++) {
        if (A.status[i] == LP_OK)
            used++;
        else
            assert_string_equal(A.note[i], LP_LLM_NOTE_DEADLINE);
    }
    assert_int_equal(used, 3);
    lp_llm_free(llm);
}

static void concurrency_and_tpm_limits_hold(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    P[0].concurrency = 2;
    atomic_store(&F[0].delay_ms, 150);
    c.max_leads = 1;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 6; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 0, 30000);
    wait_answers(6);
    assert_int_equal(atomic_load(&F[0].max_inflight), 2);
    lp_llm_free(llm);
    /*
     * tokens: a single-lead request is estimated at 94 tokens (bytes / 4 + 30 expected)
     * and its usage says about 47. With 150 a minute, the second request goes only once
     * the first is corrected from usage (47 + 94), and a third (47 + 47 + 94) never fits.
     */
    memset(&A.times, 0, sizeof(A.times));
    A.n = 0;
    atomic_store(&F[0].requests, 0);
    atomic_store(&F[0].delay_ms, 0);
    c = conf_for(1, LP_LLM_QUALITY);
    P[0].tpm = 150;
    c.max_leads = 1;
    llm = router(&c);
    for (int i = 0; i < 5; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 0, 1000);
    wait_answers(5);
    assert_int_equal(atomic_load(&F[0].requests), 2);
    lp_llm_free(llm);
}

static void missing_leads_are_asked_again_alone(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    atomic_store(&F[0].mode, FAKE_MISS_ONE);
    c.linger_ms = 300;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 3; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, "SQL", 0, 30000);
    wait_answers(3);
    assert_each_answered_once(3);
    assert_int_equal(atomic_load(&F[0].requests), 2);
    assert_int_equal(F[0].sizes[0], 3);
    assert_int_equal(F[0].sizes[1], 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(A.status[i], LP_OK);
    lp_llm_free(llm);
}

static void wrong_ids_are_rejected_and_retried(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    atomic_store(&F[0].mode, FAKE_WRONG_ID);
    c.linger_ms = 300;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 3; i++)
        ask(llm, LP_LLM_FIRST_LINE, i, NULL, 0, 30000);
    wait_answers(3);
    assert_int_equal(F[0].sizes[1], 1);
    lp_llm_stats s;
    lp_llm_stats_get(llm, &s);
    assert_int_equal(s.invalid_elements, 1);
    assert_int_equal(s.answered, 3);
    lp_llm_free(llm);
}

static void invalid_json_falls_back_after_max_attempts(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    atomic_store(&F[0].mode, FAKE_BADJSON);
    c.max_attempts = 2;
    c.fail_threshold = 100;
    c.linger_ms = 300;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 4; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 0, 30000);
    wait_answers(4);
    assert_each_answered_once(4);
    assert_int_equal(atomic_load(&F[0].requests), 2);
    for (int i = 0; i < 4; i++) {
        assert_int_not_equal(A.status[i], LP_OK);
        assert_string_equal(A.note[i], LP_LLM_NOTE_INVALID);
    }
    lp_llm_free(llm);
}

static void every_provider_down_answers_every_question(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(2, LP_LLM_BALANCED);
    atomic_store(&F[0].mode, FAKE_500);
    atomic_store(&F[1].mode, FAKE_500);
    c.fail_threshold = 1;
    c.max_leads = 5;
    lp_llm *llm = router(&c);
    for (int i = 0; i < 40; i++)
        ask(llm, (lp_llm_use)(i % 2), i, NULL, 0, 30000);
    wait_answers(40);
    assert_each_answered_once(40);
    for (int i = 0; i < 40; i++) {
        assert_int_not_equal(A.status[i], LP_OK);
        assert_string_equal(A.note[i], LP_LLM_NOTE_DOWN);
    }
    /* the first wave (4 batches a use) failed, both cooled down: no retries hammered them */
    assert_true(atomic_load(&F[0].requests) + atomic_load(&F[1].requests) <= 8);
    lp_llm_free(llm);
}

static void budget_goes_to_the_leads_closest_to_the_threshold(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    P[0].input_per_mtok = 100; /* a batch of 20 is estimated at 1.4 cents */
    P[0].output_per_mtok = 0;
    c.per_day_usd = 0.01;
    c.linger_ms = 200;
    lp_llm *llm = router(&c);
    /* priority = distance to the threshold; ask far ones first */
    for (int i = 0; i < 20; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 20 - i, 30000);
    wait_answers(20);
    assert_each_answered_once(20);
    int answered = 0, farthest_answered = -1, closest_skipped = 99;
    for (int i = 0; i < 20; i++) {
        int dist = 20 - i;
        if (A.status[i] == LP_OK) {
            answered++;
            if (dist > farthest_answered)
                farthest_answered = dist;
        } else {
            assert_string_equal(A.note[i], LP_LLM_NOTE_BUDGET);
            if (dist < closest_skipped)
                closest_skipped = dist;
        }
    }
    assert_true(answered > 0 && answered < 20);
    assert_true(farthest_answered < closest_skipped);
    lp_llm_stats s;
    lp_llm_stats_get(llm, &s);
    assert_true(s.cost_usd <= 0.01);
    assert_int_equal(s.budget_skipped, (uint64_t)(20 - answered));
    assert_true(s.budget_short > 0);
    char buf[2048] = "";
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    lp_llm_report(f, llm);
    fclose(f);
    assert_non_null(strstr(buf, "closest to a threshold first"));
    assert_non_null(strstr(buf, "alpha"));
    assert_null(strstr(buf, "sk-")); /* keys never reach a report */
    lp_llm_free(llm);
}

static void deadline_answers_slow_questions(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    atomic_store(&F[0].delay_ms, 1500);
    lp_llm *llm = router(&c);
    for (int i = 0; i < 3; i++)
        ask(llm, LP_LLM_GRAY_ZONE, i, NULL, 0, 200);
    wait_answers(3);
    assert_each_answered_once(3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(A.note[i], LP_LLM_NOTE_DEADLINE);
    lp_llm_free(llm);
}

static void free_answers_open_questions(void **state)
{
    (void)state;
    lp_llm_conf c = conf_for(1, LP_LLM_QUALITY);
    c.linger_ms = 60000;
    lp_llm *llm = router(&c);
    ask(llm, LP_LLM_GRAY_ZONE, 0, NULL, 0, 60000);
    lp_llm_free(llm);
    assert_int_equal(A.times[0], 1);
    assert_string_equal(A.note[0], LP_LLM_NOTE_SHUTDOWN);
}

#define ROUTER_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_answer_is_read_with_usage),
        cmocka_unit_test(invalid_elements_leave_their_lead_unanswered),
        cmocka_unit_test(first_lines_are_capped_and_single_line),
        cmocka_unit_test(content_that_is_not_an_array_is_rejected),
        cmocka_unit_test(request_body_carries_model_prompt_and_leads),
        ROUTER_TEST(batches_fill_to_max_leads),
        ROUTER_TEST(cost_strategy_picks_the_cheapest),
        ROUTER_TEST(quality_strategy_prefers_the_first),
        ROUTER_TEST(balanced_strategy_splits_by_weight),
        ROUTER_TEST(latency_strategy_moves_to_the_fastest),
        ROUTER_TEST(failing_provider_falls_back_and_cools_down),
        ROUTER_TEST(budget_refusal_cools_the_provider_down),
        ROUTER_TEST(retry_after_is_honoured),
        ROUTER_TEST(rpm_limit_is_never_exceeded),
        ROUTER_TEST(concurrency_and_tpm_limits_hold),
        ROUTER_TEST(missing_leads_are_asked_again_alone),
        ROUTER_TEST(wrong_ids_are_rejected_and_retried),
        ROUTER_TEST(invalid_json_falls_back_after_max_attempts),
        ROUTER_TEST(every_provider_down_answers_every_question),
        ROUTER_TEST(budget_goes_to_the_leads_closest_to_the_threshold),
        ROUTER_TEST(deadline_answers_slow_questions),
        ROUTER_TEST(free_answers_open_questions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
