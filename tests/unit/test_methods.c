/* test_methods.c - direct-method calls in flight with a stub transport: request topics and ids,
 * matching responses, connect and response timeouts, shutdown, and exactly one completion per call
 * under concurrent responders. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "methods.h"

/* ---- stub transport: records what was sent ---- */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char sent_device[8][129], sent_topic[8][256], sent_payload[8][256];
static int sent_count;
static mh_err send_result = MH_OK;

static mh_err stub_send(void *ctx, const char *device_id, const char *topic, const char *payload, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    if (sent_count < 8) {
        snprintf(sent_device[sent_count], sizeof sent_device[0], "%s", device_id);
        snprintf(sent_topic[sent_count], sizeof sent_topic[0], "%s", topic);
        snprintf(sent_payload[sent_count], sizeof sent_payload[0], "%.*s", (int)len, payload);
    }
    sent_count++;
    pthread_mutex_unlock(&lock);
    return send_result;
}

/* ---- completion recorder ---- */
typedef struct result {
    int calls;
    mh_err err;
    int status;
    char payload[256];
    char text[256];
} result;

static void done(void *ctx, mh_err err, int status, const char *payload, size_t len, const char *text)
{
    result *r = ctx;
    pthread_mutex_lock(&lock);
    r->calls++;
    r->err = err;
    r->status = status;
    snprintf(r->payload, sizeof r->payload, "%.*s", (int)len, payload ? payload : "");
    snprintf(r->text, sizeof r->text, "%s", text ? text : "");
    pthread_mutex_unlock(&lock);
}

static int calls_of(result *r)
{
    pthread_mutex_lock(&lock);
    int n = r->calls;
    pthread_mutex_unlock(&lock);
    return n;
}

static mh_methods *m;

static int yes(void *ctx, const char *id)
{
    (void)ctx;
    (void)id;
    return 1;
}

static int no(void *ctx, const char *id)
{
    (void)ctx;
    (void)id;
    return 0;
}

static void setup(void)
{
    sent_count = 0;
    send_result = MH_OK;
    cr_assert_eq(mh_methods_new(stub_send, NULL, &m), MH_OK);
}

static void teardown(void)
{
    mh_methods_free(m);
}

TestSuite(methods, .init = setup, .fini = teardown, .timeout = 20);

Test(methods, invoke_online_sends_request_succeeds)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "reboot", "{\"a\":1}", 7, 30, 0, 1, done, &r);
    cr_assert_eq(sent_count, 1);
    cr_assert_str_eq(sent_device[0], "dev1");
    cr_assert_str_eq(sent_topic[0], "$iothub/methods/POST/reboot/?$rid=1");
    cr_assert_str_eq(sent_payload[0], "{\"a\":1}");
    cr_assert_eq(r.calls, 0);
    cr_assert_eq(mh_methods_pending(m), 1);
}

Test(methods, response_ends_call_once_succeeds)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "reboot", "", 0, 30, 0, 1, done, &r);
    cr_assert(mh_methods_response(m, "dev1", "1", 201, "\"ok\"", 4));
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.err, MH_OK);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.payload, "\"ok\"");
    cr_assert_not(mh_methods_response(m, "dev1", "1", 200, "", 0), "a second answer is dropped");
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(mh_methods_pending(m), 0);
}

Test(methods, response_from_other_device_fails)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "reboot", "", 0, 30, 0, 1, done, &r);
    cr_assert_not(mh_methods_response(m, "dev2", "1", 200, "", 0));
    cr_assert_not(mh_methods_response(m, "dev1", "2", 200, "", 0));
    cr_assert_not(mh_methods_response(m, "dev1", "1x", 200, "", 0));
    cr_assert_not(mh_methods_response(m, "dev1", "", 200, "", 0));
    cr_assert_eq(r.calls, 0);
}

Test(methods, offline_without_connect_timeout_fails)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "reboot", "", 0, 30, 0, 0, done, &r);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.err, MH_ERR_DEVICE_NOT_ONLINE);
    cr_assert(strstr(r.text, "aka.ms/iothub404103") != NULL);
    cr_assert_eq(sent_count, 0);
}

Test(methods, offline_waits_then_device_online_sends_succeeds)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "m", "1", 1, 30, 10, 0, done, &r);
    cr_assert_eq(sent_count, 0);
    cr_assert_not(mh_methods_response(m, "dev1", "1", 200, "", 0), "not sent yet: no answer matches");
    mh_methods_device_online(m, "dev2");
    cr_assert_eq(sent_count, 0);
    mh_methods_device_online(m, "dev1");
    cr_assert_eq(sent_count, 1);
    cr_assert_str_eq(sent_topic[0], "$iothub/methods/POST/m/?$rid=1");
    cr_assert(mh_methods_response(m, "dev1", "1", 200, "2", 1));
    cr_assert_eq(r.calls, 1);
    cr_assert_str_eq(r.payload, "2");
}

Test(methods, connect_timeout_ends_not_online_fails)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "m", "", 0, 30, 1, 0, done, &r);
    for (int i = 0; i < 300 && calls_of(&r) == 0; i++)
        usleep(10000);
    cr_assert_eq(calls_of(&r), 1);
    cr_assert_eq(r.err, MH_ERR_DEVICE_NOT_ONLINE);
    cr_assert_str_eq(r.text, "Timed out waiting for device to connect.");
}

Test(methods, response_timeout_ends_gateway_timeout_fails)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "m", "", 0, 1, 0, 1, done, &r);
    for (int i = 0; i < 300 && calls_of(&r) == 0; i++)
        usleep(10000);
    cr_assert_eq(calls_of(&r), 1);
    cr_assert_eq(r.err, MH_ERR_GATEWAY_TIMEOUT);
    cr_assert_not(mh_methods_response(m, "dev1", "1", 200, "", 0), "too late");
}

Test(methods, transport_refuses_request_fails)
{
    static result r;
    memset(&r, 0, sizeof r);
    send_result = MH_ERR_UNAVAILABLE;
    mh_methods_invoke(m, "dev1", "m", "", 0, 30, 0, 1, done, &r);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.err, MH_ERR_UNAVAILABLE);
    cr_assert_eq(mh_methods_pending(m), 0);
}

Test(methods, shutdown_fails_pending_and_new_calls_fails)
{
    static result a, b, c;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    mh_methods_invoke(m, "dev1", "m", "", 0, 30, 0, 1, done, &a);
    mh_methods_invoke(m, "dev2", "m", "", 0, 30, 60, 0, done, &b);
    mh_methods_shutdown(m);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(a.err, MH_ERR_UNAVAILABLE);
    cr_assert_eq(b.calls, 1);
    cr_assert_eq(b.err, MH_ERR_UNAVAILABLE);
    mh_methods_invoke(m, "dev1", "m", "", 0, 30, 0, 1, done, &c);
    cr_assert_eq(c.calls, 1);
    cr_assert_eq(c.err, MH_ERR_UNAVAILABLE);
}

/* Many calls answered from another thread while the timer runs: each ends exactly once. */
#define N 2000
static result many[N];

static void *responder(void *arg)
{
    (void)arg;
    char rid[24];
    for (int i = 0; i < N; i++) {
        snprintf(rid, sizeof rid, "%d", i + 1);
        while (!mh_methods_response(m, "dev", rid, 200, "x", 1))
            usleep(50);
    }
    return NULL;
}

Test(methods, concurrent_responses_end_each_call_once_succeeds)
{
    pthread_t t;
    memset(many, 0, sizeof many);
    pthread_create(&t, NULL, responder, NULL);
    for (int i = 0; i < N; i++)
        mh_methods_invoke(m, "dev", "m", "", 0, 30, 0, 1, done, &many[i]);
    pthread_join(t, NULL);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(many[i].calls, 1, "call %d ended %d times", i, many[i].calls);
        cr_assert_eq(many[i].err, MH_OK);
    }
    cr_assert_eq(mh_methods_pending(m), 0);
}

Test(methods, probe_online_sends_succeeds)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke_probe(m, "dev1", "m", "", 0, 30, 0, 7, done, &r);
    cr_assert_eq(sent_count, 0);
    mh_methods_probed(m, 6, yes, NULL);
    cr_assert_eq(sent_count, 0, "an older token does not decide");
    mh_methods_probed(m, 7, yes, NULL);
    cr_assert_eq(sent_count, 1);
    cr_assert(mh_methods_response(m, "dev1", "1", 200, "", 0));
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.err, MH_OK);
}

Test(methods, probe_offline_without_connect_timeout_fails)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke_probe(m, "dev1", "m", "", 0, 30, 0, 3, done, &r);
    mh_methods_probed(m, 5, no, NULL);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.err, MH_ERR_DEVICE_NOT_ONLINE);
    cr_assert_eq(sent_count, 0);
}

Test(methods, probe_offline_keeps_waiting_for_connect_succeeds)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke_probe(m, "dev1", "m", "", 0, 30, 30, 3, done, &r);
    mh_methods_probed(m, 3, no, NULL);
    cr_assert_eq(r.calls, 0);
    mh_methods_device_online(m, "dev1");
    cr_assert_eq(sent_count, 1);
}

Test(methods, probe_never_answered_times_out_fails)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke_probe(m, "dev1", "m", "", 0, 30, 0, 3, done, &r);
    for (int i = 0; i < 300 && calls_of(&r) == 0; i++)
        usleep(10000);
    cr_assert_eq(calls_of(&r), 1);
    cr_assert_eq(r.err, MH_ERR_DEVICE_NOT_ONLINE);
}

Test(methods, mh_methods_cancel_all_ends_every_call_and_keeps_serving_succeeds)
{
    static result r1, r2, r3;
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    memset(&r3, 0, sizeof r3);
    mh_methods_invoke(m, "dev1", "reboot", "", 0, 30, 0, 1, done, &r1);
    mh_methods_invoke(m, "dev2", "reboot", "", 0, 30, 60, 0, done, &r2); /* waiting to connect */
    cr_assert_eq(mh_methods_pending(m), 2);
    mh_methods_cancel_all(m, MH_ERR_DEVICE_NOT_ONLINE, "reset");
    cr_assert_eq(r1.calls, 1);
    cr_assert_eq(r1.err, MH_ERR_DEVICE_NOT_ONLINE);
    cr_assert_str_eq(r1.text, "reset");
    cr_assert_eq(r2.calls, 1);
    cr_assert_eq(mh_methods_pending(m), 0);
    cr_assert_not(mh_methods_response(m, "dev1", "1", 200, "", 0), "the cancelled call is gone");
    mh_methods_invoke(m, "dev1", "again", "", 0, 30, 0, 1, done, &r3);
    cr_assert_eq(mh_methods_pending(m), 1, "new calls are still taken");
    cr_assert(mh_methods_response(m, "dev1", "3", 200, "", 0));
    cr_assert_eq(r3.err, MH_OK);
}

Test(methods, device_gone_ends_sent_calls_at_once_fails)
{
    static result sent, waiting, other;
    memset(&sent, 0, sizeof sent);
    memset(&waiting, 0, sizeof waiting);
    memset(&other, 0, sizeof other);
    mh_methods_invoke(m, "dev1", "m", "", 0, 300, 0, 1, done, &sent);     /* sent, waits 300 s */
    mh_methods_invoke(m, "dev1", "m", "", 0, 300, 60, 0, done, &waiting); /* waits for a connect */
    mh_methods_invoke(m, "dev2", "m", "", 0, 300, 0, 1, done, &other);
    cr_assert_eq(mh_methods_device_gone(m, "dev1"), 1);
    cr_assert_eq(calls_of(&sent), 1);
    cr_assert_eq(sent.err, MH_ERR_DEVICE_NOT_ONLINE);
    cr_assert(strstr(sent.text, "404103") != NULL, "text: %s", sent.text);
    cr_assert_eq(calls_of(&waiting), 0, "a call waiting for the device to connect goes on waiting");
    cr_assert_eq(calls_of(&other), 0, "another device's call is not touched");
    cr_assert_not(mh_methods_response(m, "dev1", "1", 200, "", 0), "a late answer matches nothing");
    cr_assert_eq(mh_methods_pending(m), 2);
}

Test(methods, device_gone_null_ends_every_sent_call_fails)
{
    static result a, b, waiting;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&waiting, 0, sizeof waiting);
    mh_methods_invoke(m, "dev1", "m", "", 0, 300, 0, 1, done, &a);
    mh_methods_invoke(m, "dev2", "m", "", 0, 300, 0, 1, done, &b);
    mh_methods_invoke(m, "dev3", "m", "", 0, 300, 60, 0, done, &waiting);
    cr_assert_eq(mh_methods_device_gone(m, NULL), 2);
    cr_assert_eq(calls_of(&a), 1);
    cr_assert_eq(calls_of(&b), 1);
    cr_assert_eq(b.err, MH_ERR_DEVICE_NOT_ONLINE);
    cr_assert_eq(calls_of(&waiting), 0);
    cr_assert_eq(mh_methods_device_gone(m, NULL), 0, "nothing left to end");
    /* the waiting call still goes when the device comes back */
    mh_methods_device_online(m, "dev3");
    cr_assert_eq(sent_count, 3);
}

Test(methods, undelivered_ends_call_not_online_at_once_fails)
{
    static result r, other;
    memset(&r, 0, sizeof r);
    memset(&other, 0, sizeof other);
    mh_methods_invoke(m, "dev1", "reboot", "", 0, 300, 0, 1, done, &r);
    mh_methods_invoke(m, "dev2", "reboot", "", 0, 300, 0, 1, done, &other);
    cr_assert_not(mh_methods_undelivered(m, "dev2", sent_topic[0]), "another device's drop matches nothing");
    cr_assert_not(mh_methods_undelivered(m, "dev1", "$iothub/twin/PATCH/properties/desired/?$version=1"));
    cr_assert_not(mh_methods_undelivered(m, "dev1", "$iothub/methods/POST/reboot/?$rid=1x"));
    cr_assert_not(mh_methods_undelivered(m, "dev1", "$iothub/methods/POST/reboot/?$rid="));
    cr_assert_not(mh_methods_undelivered(m, "dev1", "$iothub/methods/POST/reboot"));
    cr_assert_not(mh_methods_undelivered(m, "dev1", NULL));
    cr_assert_eq(calls_of(&r), 0);
    cr_assert(mh_methods_undelivered(m, "dev1", sent_topic[0]));
    cr_assert_eq(calls_of(&r), 1);
    cr_assert_eq(r.err, MH_ERR_DEVICE_NOT_ONLINE);
    cr_assert(strstr(r.text, "404103") != NULL, "text: %s", r.text);
    cr_assert_not(mh_methods_undelivered(m, "dev1", sent_topic[0]), "it ended once");
    cr_assert_not(mh_methods_response(m, "dev1", "1", 200, "", 0));
    cr_assert_eq(calls_of(&other), 0);
    cr_assert_eq(mh_methods_pending(m), 1);
}

Test(methods, undelivered_name_holding_rid_text_matches_last_succeeds)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "a/?$rid=9", "", 0, 300, 0, 1, done, &r);
    cr_assert_str_eq(sent_topic[0], "$iothub/methods/POST/a/?$rid=9/?$rid=1");
    cr_assert(mh_methods_undelivered(m, "dev1", sent_topic[0]));
    cr_assert_eq(calls_of(&r), 1);
}

Test(methods, undelivered_with_connect_timeout_waits_and_is_sent_again_succeeds)
{
    static result r;
    memset(&r, 0, sizeof r);
    mh_methods_invoke(m, "dev1", "reboot", "", 0, 300, 60, 1, done, &r);
    cr_assert_eq(sent_count, 1);
    cr_assert(mh_methods_undelivered(m, "dev1", sent_topic[0]));
    cr_assert_eq(calls_of(&r), 0, "its connect timeout has not run out: it waits for the device");
    cr_assert_eq(mh_methods_device_gone(m, "dev1"), 0, "it is no longer a sent call");
    mh_methods_device_online(m, "dev1");
    cr_assert_eq(sent_count, 2, "sent again once the device takes methods");
    cr_assert_str_eq(sent_topic[1], sent_topic[0]);
    cr_assert(mh_methods_response(m, "dev1", "1", 200, "{}", 2));
    cr_assert_eq(calls_of(&r), 1);
    cr_assert_eq(r.err, MH_OK);
}
