/* methods.c - direct-method calls in flight. A hash of calls by request id, one timer thread
 * sleeping until the earliest deadline. Request ids are small decimal integers as the real hub
 * sends (legacy C SDKs parse them with atol, .NET takes the text after "?$rid=").
 */
#include "methods.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replies.h"

#define BUCKETS 4096

enum call_state { CALL_WAIT_CONNECT, CALL_WAIT_RESPONSE };

typedef struct call {
    uint64_t rid;
    enum call_state state;
    char device_id[129];
    char *topic;
    char *payload;
    size_t payload_len;
    int response_timeout_s;
    struct timespec deadline;
    mh_http_reply *reply;
    struct call *next_in_bucket;
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
    call *buckets[BUCKETS];
    call *head;
    mh_methods_send_fn send;
    void *send_ctx;
};

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
static void link_call(mh_methods *m, call *c)
{
    size_t b = c->rid % BUCKETS;
    c->next_in_bucket = m->buckets[b];
    m->buckets[b] = c;
    c->prev = NULL;
    c->next = m->head;
    if (m->head)
        m->head->prev = c;
    m->head = c;
    m->count++;
}

static void unlink_call(mh_methods *m, call *c)
{
    call **pp = &m->buckets[c->rid % BUCKETS];
    while (*pp && *pp != c)
        pp = &(*pp)->next_in_bucket;
    if (*pp)
        *pp = c->next_in_bucket;
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

/* Answers and frees a call that is no longer linked. */
static void finish_error(call *c, mh_err code, const char *text)
{
    mh_reply_error(c->reply, code, text);
    call_free(c);
}

static const char not_online_text[] =
    "The operation failed because the requested device isn't online or hasn't registered the "
    "direct method callback. To learn more, see https://aka.ms/iothub404103";

/* Sends the request of a call already linked in WAIT_RESPONSE state (lock not held). When the
 * broker refuses it, the call is answered 503 if still linked. */
static void send_request(mh_methods *m, uint64_t rid, const char *device_id, const char *topic,
                         const char *payload, size_t len)
{
    if (m->send(m->send_ctx, device_id, topic, payload, len) == MH_OK)
        return;
    pthread_mutex_lock(&m->lock);
    call *c = m->buckets[rid % BUCKETS];
    while (c && c->rid != rid)
        c = c->next_in_bucket;
    if (c)
        unlink_call(m, c);
    pthread_mutex_unlock(&m->lock);
    if (c)
        finish_error(c, MH_ERR_UNAVAILABLE, "the hub lost its link to the broker; retry");
}

void mh_methods_invoke(mh_methods *m, const char *device_id, const char *method_name, const char *payload,
                       size_t payload_len, int response_timeout_s, int connect_timeout_s, int online,
                       mh_http_reply *reply)
{
    if (!online && connect_timeout_s <= 0) {
        mh_reply_error(reply, MH_ERR_DEVICE_NOT_ONLINE, not_online_text);
        return;
    }
    call *c = calloc(1, sizeof *c);
    char *topic = NULL, *copy = malloc(payload_len + 1);
    if (c == NULL || copy == NULL)
        goto nomem;
    memcpy(copy, payload, payload_len);
    copy[payload_len] = '\0';
    snprintf(c->device_id, sizeof c->device_id, "%s", device_id);
    c->payload = copy;
    copy = NULL;
    c->payload_len = payload_len;
    c->response_timeout_s = response_timeout_s;
    c->reply = reply;

    pthread_mutex_lock(&m->lock);
    if (m->shut) {
        pthread_mutex_unlock(&m->lock);
        call_free(c);
        mh_reply_error(reply, MH_ERR_UNAVAILABLE, "the hub is shutting down");
        return;
    }
    c->rid = ++m->next_rid;
    if (asprintf(&topic, "$iothub/methods/POST/%s/?$rid=%" PRIu64, method_name, c->rid) < 0) {
        pthread_mutex_unlock(&m->lock);
        topic = NULL;
        goto nomem;
    }
    c->topic = topic;
    struct timespec now = now_mono();
    if (online) {
        c->state = CALL_WAIT_RESPONSE;
        c->deadline = plus_seconds(now, response_timeout_s);
    } else {
        c->state = CALL_WAIT_CONNECT;
        c->deadline = plus_seconds(now, connect_timeout_s);
    }
    link_call(m, c);
    uint64_t rid = c->rid;
    /* Copies for sending outside the lock: the call may be answered and freed meanwhile. */
    char *topic_copy = online ? strdup(c->topic) : NULL;
    char *payload_copy = online ? malloc(payload_len + 1) : NULL;
    if (payload_copy)
        memcpy(payload_copy, payload, payload_len);
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);

    if (online) {
        if (topic_copy && payload_copy)
            send_request(m, rid, device_id, topic_copy, payload_copy, payload_len);
        free(topic_copy);
        free(payload_copy);
    }
    return;
nomem:
    free(copy);
    free(c);
    mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
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
        c->deadline = plus_seconds(now_mono(), c->response_timeout_s);
        uint64_t rid = c->rid;
        char *topic = strdup(c->topic);
        char *payload = malloc(c->payload_len + 1);
        size_t len = c->payload_len;
        if (payload)
            memcpy(payload, c->payload, len);
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        if (topic && payload)
            send_request(m, rid, device_id, topic, payload, len);
        free(topic);
        free(payload);
    }
}

int mh_methods_response(mh_methods *m, const char *device_id, const char *rid_text, int status,
                        const char *payload, size_t len)
{
    char *end = NULL;
    uint64_t rid = strtoull(rid_text, &end, 10);
    if (end == rid_text || *end != '\0')
        return 0;
    pthread_mutex_lock(&m->lock);
    call *c = m->buckets[rid % BUCKETS];
    while (c && c->rid != rid)
        c = c->next_in_bucket;
    if (c == NULL || c->state != CALL_WAIT_RESPONSE || strcmp(c->device_id, device_id) != 0) {
        pthread_mutex_unlock(&m->lock);
        return 0;
    }
    unlink_call(m, c);
    pthread_mutex_unlock(&m->lock);

    /* AZURE: the device's bytes are pasted verbatim into "payload" (even when not JSON);
     * an empty response becomes null (iothub-protocol-addendum.md 4). */
    char head[64];
    int hn = snprintf(head, sizeof head, "{\"status\":%d,\"payload\":", status);
    size_t body_len = (size_t)hn + (len ? len : 4) + 2;
    char *body = malloc(body_len);
    if (body == NULL) {
        finish_error(c, MH_ERR_NOMEM, "out of memory");
        return 1;
    }
    memcpy(body, head, (size_t)hn);
    if (len) {
        memcpy(body + hn, payload, len);
    } else {
        memcpy(body + hn, "null", 4);
        len = 4;
    }
    body[(size_t)hn + len] = '}';
    body[(size_t)hn + len + 1] = '\0';
    mh_reply_raw(c->reply, 200, body);
    call_free(c);
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
                    finish_error(c, MH_ERR_DEVICE_NOT_ONLINE, "Timed out waiting for device to connect.");
                else
                    finish_error(c, MH_ERR_GATEWAY_TIMEOUT,
                                 "Timed out waiting for the response from device.");
            }
            pthread_mutex_lock(&m->lock);
            continue;
        }
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
    pthread_mutex_init(&m->lock, NULL);
    m->send = send;
    m->send_ctx = ctx;
    if (pthread_create(&m->timer, NULL, timer_main, m) != 0) {
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->lock);
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
        finish_error(c, MH_ERR_UNAVAILABLE, "the hub is shutting down");
    }
}

void mh_methods_free(mh_methods *m)
{
    if (m == NULL)
        return;
    mh_methods_shutdown(m);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
