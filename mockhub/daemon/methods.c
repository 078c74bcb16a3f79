/* methods.c - direct-method calls in flight. A hash of calls by request id, one timer thread
 * sleeping until the earliest deadline (woken only when a call's deadline is earlier than its next
 * wake-up). Request ids are small decimal integers as the real hub sends (legacy C SDKs parse them
 * with atol, .NET takes the text after "?$rid="). A call is reference-counted so its request can be
 * sent outside the lock without copies while another thread may end it.
 */
#include "methods.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "htab.h"
#include "identity.h"

/* MOCK: calls in flight at once (the real hub's own limit is not documented). */
#define MAX_CALLS 1000000

enum call_state { CALL_WAIT_CONNECT, CALL_WAIT_RESPONSE };

typedef struct call {
    uint64_t rid;
    enum call_state state;
    char device_id[MH_IDENTITY_MAX + 1]; /* identity "d" or "d/m" */
    char *topic;
    char *payload;
    size_t payload_len;
    int response_timeout_s;
    int connect_timeout_s;
    uint64_t probe; /* WAIT_CONNECT: the probe token that decides, 0 when none */
    int refs;       /* the table's (while linked) and each sender's; under the lock */
    struct timespec deadline;
    struct timespec connect_by; /* start + connect_timeout_s (when that is > 0) */
    mh_method_done_fn done;
    void *done_ctx;
    int linked;               /* in the table: nobody has ended it yet */
    struct call *prev, *next; /* all calls, for timeouts and device_online */
} call;

struct mh_methods {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t timer;
    int stopping; /* the timer must end */
    int shut;     /* mh_methods_shutdown ran: new calls are refused */
    uint64_t next_rid;
    size_t count;
    struct timespec timer_next; /* when the timer wakes next (it sleeps at most a second) */
    mh_htab *by_rid;            /* rid -> call (the key is the call's rid) */
    call *head;
    mh_methods_send_fn send;
    void *send_ctx;
};

static size_t hash_rid(const void *key)
{
    uint64_t x = *(const uint64_t *)key; /* splitmix64 finaliser: rids are sequential */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (size_t)x;
}

static int eq_rid(const void *a, const void *b)
{
    return *(const uint64_t *)a == *(const uint64_t *)b;
}

static struct timespec now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

static struct timespec plus_seconds(struct timespec t, int s)
{
    t.tv_sec += s;
    return t;
}

static int before(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* Both helpers require the lock. */
static mh_err link_call(mh_methods *m, call *c)
{
    mh_err err = mh_htab_put(m->by_rid, &c->rid, c);
    if (err != MH_OK)
        return err;
    c->linked = 1;
    c->prev = NULL;
    c->next = m->head;
    if (m->head)
        m->head->prev = c;
    m->head = c;
    m->count++;
    return MH_OK;
}

static void unlink_call(mh_methods *m, call *c)
{
    mh_htab_remove(m->by_rid, &c->rid);
    c->linked = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        m->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    m->count--;
}

static void call_free(call *c)
{
    free(c->topic);
    free(c->payload);
    free(c);
}

/* Drops a reference; frees the call when it was the last. Requires the lock. Returns the call
 * when the caller must free it outside the lock, else NULL. */
static call *unref(call *c)
{
    return --c->refs == 0 ? c : NULL;
}

static void release(mh_methods *m, call *c)
{
    pthread_mutex_lock(&m->lock);
    call *dead = unref(c);
    pthread_mutex_unlock(&m->lock);
    if (dead)
        call_free(dead);
}

/* Ends a call already unlinked (the table's reference is now the caller's). */
static void finish_error(mh_methods *m, call *c, mh_err code, const char *text)
{
    c->done(c->done_ctx, code, 0, NULL, 0, text);
    release(m, c);
}

/* Requires the lock: makes the timer wake by deadline d. */
static void timer_by(mh_methods *m, struct timespec d)
{
    if (before(d, m->timer_next)) {
        m->timer_next = d;
        pthread_cond_signal(&m->wake);
    }
}

static const char not_online_text[] =
    "The operation failed because the requested device isn't online or hasn't registered the "
    "direct method callback. To learn more, see https://aka.ms/iothub404103";

/* Sends the request of call c, for which the caller holds a reference (dropped here). When the
 * transport refuses it, the call ends with 503 if nobody ended it meanwhile. */
static void send_request(mh_methods *m, call *c)
{
    if (m->send(m->send_ctx, c->device_id, c->topic, c->payload, c->payload_len) != MH_OK) {
        pthread_mutex_lock(&m->lock);
        call *found = c->linked ? c : NULL; /* still linked: nobody ended it */
        if (found)
            unlink_call(m, c); /* the table's reference passes to finish_error */
        pthread_mutex_unlock(&m->lock);
        if (found)
            finish_error(m, c, MH_ERR_UNAVAILABLE, "the hub lost its link to the broker; retry");
    }
    release(m, c);
}

/* Creates and links a call; online: send now. */
static void start_call(mh_methods *m, const char *device_id, const char *method_name, const char *payload,
                       size_t payload_len, int response_timeout_s, int connect_timeout_s, int online,
                       uint64_t probe, mh_method_done_fn done, void *done_ctx)
{
    call *c = calloc(1, sizeof *c);
    char *copy = malloc(payload_len + 1);
    if (c == NULL || copy == NULL || strlen(device_id) >= sizeof c->device_id) {
        free(copy);
        free(c);
        done(done_ctx, MH_ERR_NOMEM, 0, NULL, 0, "out of memory");
        return;
    }
    memcpy(copy, payload, payload_len);
    copy[payload_len] = '\0';
    strcpy(c->device_id, device_id);
    c->payload = copy;
    c->payload_len = payload_len;
    c->response_timeout_s = response_timeout_s;
    c->connect_timeout_s = connect_timeout_s;
    c->probe = probe;
    c->done = done;
    c->done_ctx = done_ctx;

    pthread_mutex_lock(&m->lock);
    if (m->shut) {
        pthread_mutex_unlock(&m->lock);
        call_free(c);
        done(done_ctx, MH_ERR_UNAVAILABLE, 0, NULL, 0, "the hub is shutting down");
        return;
    }
    c->rid = ++m->next_rid;
    if (asprintf(&c->topic, "$iothub/methods/POST/%s/?$rid=%" PRIu64, method_name, c->rid) < 0) {
        pthread_mutex_unlock(&m->lock);
        c->topic = NULL;
        call_free(c);
        done(done_ctx, MH_ERR_NOMEM, 0, NULL, 0, "out of memory");
        return;
    }
    struct timespec now = now_mono();
    int wait_s = online ? response_timeout_s : connect_timeout_s > 0 ? connect_timeout_s : 1;
    c->state = online ? CALL_WAIT_RESPONSE : CALL_WAIT_CONNECT;
    c->deadline = plus_seconds(now, wait_s);
    c->connect_by = plus_seconds(now, connect_timeout_s > 0 ? connect_timeout_s : 0);
    c->refs = online ? 2 : 1;
    if (link_call(m, c) != MH_OK) {
        pthread_mutex_unlock(&m->lock);
        call_free(c);
        done(done_ctx, MH_ERR_THROTTLED, 0, NULL, 0, "too many direct-method calls in flight");
        return;
    }
    timer_by(m, c->deadline);
    pthread_mutex_unlock(&m->lock);

    if (online)
        send_request(m, c);
}

void mh_methods_invoke(mh_methods *m, const char *device_id, const char *method_name, const char *payload,
                       size_t payload_len, int response_timeout_s, int connect_timeout_s, int online,
                       mh_method_done_fn done, void *done_ctx)
{
    if (!online && connect_timeout_s <= 0) {
        done(done_ctx, MH_ERR_DEVICE_NOT_ONLINE, 0, NULL, 0, not_online_text);
        return;
    }
    start_call(m, device_id, method_name, payload, payload_len, response_timeout_s, connect_timeout_s, online,
               0, done, done_ctx);
}

void mh_methods_invoke_probe(mh_methods *m, const char *device_id, const char *method_name,
                             const char *payload, size_t payload_len, int response_timeout_s,
                             int connect_timeout_s, uint64_t probe_token, mh_method_done_fn done,
                             void *done_ctx)
{
    start_call(m, device_id, method_name, payload, payload_len, response_timeout_s, connect_timeout_s, 0,
               probe_token ? probe_token : 1, done, done_ctx);
}

void mh_methods_probed(mh_methods *m, uint64_t token, int (*online)(void *ctx, const char *device_id),
                       void *ctx)
{
    for (;;) {
        /* One call at a time: sending and ending happen outside the lock. */
        pthread_mutex_lock(&m->lock);
        call *c = m->head;
        while (c && !(c->state == CALL_WAIT_CONNECT && c->probe != 0 && c->probe <= token))
            c = c->next;
        if (c == NULL) {
            pthread_mutex_unlock(&m->lock);
            return;
        }
        c->probe = 0;
        pthread_mutex_unlock(&m->lock);
        int now_online = online(ctx, c->device_id);
        pthread_mutex_lock(&m->lock);
        /* the call may have ended meanwhile (timer, shutdown): only a linked one is acted on */
        if (!c->linked || c->state != CALL_WAIT_CONNECT) {
            pthread_mutex_unlock(&m->lock);
            continue;
        }
        if (now_online) {
            c->state = CALL_WAIT_RESPONSE;
            c->deadline = plus_seconds(now_mono(), c->response_timeout_s);
            c->refs++;
            timer_by(m, c->deadline);
            pthread_mutex_unlock(&m->lock);
            send_request(m, c);
        } else if (c->connect_timeout_s <= 0) {
            unlink_call(m, c);
            pthread_mutex_unlock(&m->lock);
            finish_error(m, c, MH_ERR_DEVICE_NOT_ONLINE, not_online_text);
        } else {
            pthread_mutex_unlock(&m->lock); /* waits for the device or its connect timeout */
        }
    }
}

void mh_methods_device_online(mh_methods *m, const char *device_id)
{
    for (;;) {
        /* One call at a time: sending happens outside the lock. */
        pthread_mutex_lock(&m->lock);
        call *c = m->head;
        while (c && !(c->state == CALL_WAIT_CONNECT && strcmp(c->device_id, device_id) == 0))
            c = c->next;
        if (c == NULL) {
            pthread_mutex_unlock(&m->lock);
            return;
        }
        c->state = CALL_WAIT_RESPONSE;
        c->probe = 0;
        c->deadline = plus_seconds(now_mono(), c->response_timeout_s);
        c->refs++;
        timer_by(m, c->deadline);
        pthread_mutex_unlock(&m->lock);
        send_request(m, c);
    }
}

size_t mh_methods_device_gone(mh_methods *m, const char *device_id)
{
    size_t ended = 0;
    for (;;) { /* one at a time: done() runs outside the lock */
        pthread_mutex_lock(&m->lock);
        call *c = m->head;
        while (c && !(c->state == CALL_WAIT_RESPONSE &&
                      (device_id == NULL || strcmp(c->device_id, device_id) == 0)))
            c = c->next;
        if (c != NULL)
            unlink_call(m, c);
        pthread_mutex_unlock(&m->lock);
        if (c == NULL)
            return ended;
        /* MOCK: what the real hub answers when the device drops mid-call is not documented (the
         * SDKs accept 404103 or 504101); mockhub ends the call at once with 404103 DeviceNotOnline
         * instead of keeping the caller until its response timeout. */
        finish_error(m, c, MH_ERR_DEVICE_NOT_ONLINE,
                     "The device disconnected before it answered the direct method call. To learn more, see "
                     "https://aka.ms/iothub404103");
        ended++;
    }
}

/* The sent call of device_id with request id rid_text (decimal), or NULL. Takes the lock and keeps
 * it only when it returns a call. */
static call *lock_sent_call(mh_methods *m, const char *device_id, const char *rid_text)
{
    char *end = NULL;
    uint64_t rid = strtoull(rid_text, &end, 10);
    if (end == rid_text || *end != '\0')
        return NULL;
    pthread_mutex_lock(&m->lock);
    call *c = mh_htab_get(m->by_rid, &rid);
    if (c == NULL || c->state != CALL_WAIT_RESPONSE || strcmp(c->device_id, device_id) != 0) {
        pthread_mutex_unlock(&m->lock);
        return NULL;
    }
    return c;
}

int mh_methods_response(mh_methods *m, const char *device_id, const char *rid_text, int status,
                        const char *payload, size_t len)
{
    call *c = lock_sent_call(m, device_id, rid_text);
    if (c == NULL)
        return 0;
    unlink_call(m, c);
    pthread_mutex_unlock(&m->lock);
    c->done(c->done_ctx, MH_OK, status, payload, len, NULL);
    release(m, c);
    return 1;
}

int mh_methods_undelivered(mh_methods *m, const char *device_id, const char *topic)
{
    static const char head[] = "$iothub/methods/POST/", rid_at[] = "/?$rid=";
    const char *q = NULL, *next;

    if (topic == NULL || strncmp(topic, head, sizeof head - 1) != 0)
        return 0;
    for (next = strstr(topic, rid_at); next; next = strstr(next + 1, rid_at))
        q = next; /* the last one: a method name may hold the text */
    if (q == NULL)
        return 0;
    call *c = lock_sent_call(m, device_id, q + sizeof rid_at - 1);
    if (c == NULL)
        return 0;
    if (c->connect_timeout_s > 0 && before(now_mono(), c->connect_by)) {
        c->state = CALL_WAIT_CONNECT; /* mh_methods_device_online sends it again */
        c->deadline = c->connect_by;
        timer_by(m, c->deadline);
        pthread_mutex_unlock(&m->lock);
        return 1;
    }
    unlink_call(m, c);
    pthread_mutex_unlock(&m->lock);
    finish_error(m, c, MH_ERR_DEVICE_NOT_ONLINE, not_online_text);
    return 1;
}

size_t mh_methods_pending(mh_methods *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static void *timer_main(void *arg)
{
    mh_methods *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        struct timespec now = now_mono();
        struct timespec next = plus_seconds(now, 1);
        m->timer_next = next;
        call *expired = NULL;
        for (call *c = m->head, *nx; c; c = nx) {
            nx = c->next;
            if (!before(now, c->deadline)) {
                unlink_call(m, c);
                c->next = expired;
                expired = c;
            } else if (before(c->deadline, next)) {
                next = c->deadline;
            }
        }
        if (expired) {
            pthread_mutex_unlock(&m->lock);
            while (expired) {
                call *c = expired;
                expired = c->next;
                if (c->state == CALL_WAIT_CONNECT)
                    finish_error(m, c, MH_ERR_DEVICE_NOT_ONLINE, "Timed out waiting for device to connect.");
                else
                    finish_error(m, c, MH_ERR_GATEWAY_TIMEOUT,
                                 "Timed out waiting for the response from device.");
            }
            pthread_mutex_lock(&m->lock);
            continue;
        }
        m->timer_next = next;
        pthread_cond_timedwait(&m->wake, &m->lock, &next);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

mh_err mh_methods_new(mh_methods_send_fn send, void *ctx, mh_methods **out_methods)
{
    mh_methods *m = calloc(1, sizeof *m);
    if (m == NULL)
        return MH_ERR_NOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (mh_htab_new(MAX_CALLS, hash_rid, eq_rid, &m->by_rid) != MH_OK) {
        pthread_cond_destroy(&m->wake);
        free(m);
        return MH_ERR_NOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->send = send;
    m->send_ctx = ctx;
    if (pthread_create(&m->timer, NULL, timer_main, m) != 0) {
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->lock);
        mh_htab_free(m->by_rid);
        free(m);
        return MH_ERR_INTERNAL;
    }
    *out_methods = m;
    return MH_OK;
}

void mh_methods_shutdown(mh_methods *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    int was_shut = m->shut;
    m->shut = 1;
    m->stopping = 1;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    if (was_shut)
        return;
    pthread_join(m->timer, NULL);
    for (;;) { /* answered outside the lock, one at a time: the REST and link threads still run */
        pthread_mutex_lock(&m->lock);
        call *c = m->head;
        if (c != NULL)
            unlink_call(m, c);
        pthread_mutex_unlock(&m->lock);
        if (c == NULL)
            break;
        finish_error(m, c, MH_ERR_UNAVAILABLE, "the hub is shutting down");
    }
}

void mh_methods_cancel_all(mh_methods *m, mh_err code, const char *text)
{
    if (m == NULL)
        return;
    for (;;) { /* as in shutdown, one at a time outside the lock; new calls keep coming in */
        pthread_mutex_lock(&m->lock);
        call *c = m->head;
        if (c != NULL)
            unlink_call(m, c);
        pthread_mutex_unlock(&m->lock);
        if (c == NULL)
            break;
        finish_error(m, c, code, text);
    }
}

void mh_methods_free(mh_methods *m)
{
    if (m == NULL)
        return;
    mh_methods_shutdown(m);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    mh_htab_free(m->by_rid);
    free(m);
}
