/* activity.c - MOCK: the recent-activity ring and its Server-Sent Events readers (see activity.h).
 * https://html.spec.whatwg.org/multipage/server-sent-events.html
 */
#include "activity.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "identity.h"

#define READERS_MAX 64
#define HOLD_S 15
#define FIRST_BATCH 50
#define RETRY_MS 100 /* EventSource reconnects this soon after a response ends */

typedef struct event {
    unsigned long long seq;
    char time[40];
    char kind[24];
    char device[MH_IDENTITY_MAX + 1]; /* identity "d" or "d/m" */
    char detail[MH_ACTIVITY_DETAIL + 1];
} event;

typedef struct reader {
    mh_http_reply *reply;
    unsigned long long after;
    struct timespec until;
} reader;

struct mh_activity {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t timer;
    int timer_started, stopping;
    event ring[MH_ACTIVITY_RING];
    unsigned long long next_seq; /* the seq the next event gets; ring[seq % RING] */
    reader readers[READERS_MAX];
    size_t nreaders;
};

static struct timespec now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

/* The stream for events after `after` (the lock held): at most RING of them. NULL when none and
 * keepalive is 0. */
static char *format_locked(mh_activity *a, unsigned long long after, int keepalive)
{
    unsigned long long first = a->next_seq > MH_ACTIVITY_RING ? a->next_seq - MH_ACTIVITY_RING : 1;
    if (after == 0 && a->next_seq > FIRST_BATCH + 1)
        after = a->next_seq - FIRST_BATCH - 1;
    if (after + 1 > first)
        first = after + 1;
    if (first >= a->next_seq && !keepalive)
        return NULL;
    size_t cap = 64 + (size_t)(a->next_seq - first) * (MH_ACTIVITY_DETAIL * 2 + 400);
    char *out = malloc(cap), *p = out;
    if (out == NULL)
        return NULL;
    p += snprintf(p, cap, "retry: %d\n\n", RETRY_MS);
    int written = 0;
    for (unsigned long long s = first; s < a->next_seq; s++) {
        const event *e = &a->ring[s % MH_ACTIVITY_RING];
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "seq", (double)e->seq);
        cJSON_AddStringToObject(doc, "time", e->time);
        cJSON_AddStringToObject(doc, "kind", e->kind);
        cJSON_AddStringToObject(doc, "deviceId", e->device);
        cJSON *detail = e->detail[0] ? cJSON_Parse(e->detail) : NULL;
        if (detail != NULL)
            cJSON_AddItemToObject(doc, "detail", detail);
        else
            cJSON_AddStringToObject(doc, "detail", e->detail);
        char *text = cJSON_PrintUnformatted(doc); /* one line: no newline inside data */
        cJSON_Delete(doc);
        if (text == NULL)
            continue;
        size_t used = (size_t)(p - out);
        int n = snprintf(p, cap - used, "id: %llu\ndata: %s\n\n", e->seq, text);
        free(text);
        if (n < 0 || (size_t)n >= cap - used) {
            *p = '\0';
            break;
        }
        p += n;
        written++;
    }
    if (keepalive && written == 0)
        snprintf(p, cap - (size_t)(p - out), ": nothing new\n\n");
    return out;
}

static void send_stream(mh_http_reply *reply, char *body)
{
    mh_http_response resp = {.status = 200, .body = body, .content_type = "text/event-stream; charset=utf-8"};
    mh_http_response_header(&resp, "Cache-Control", "no-store");
    mh_http_response_header(&resp, "x-mockhub", "dashboard");
    mh_http_reply_send(reply, &resp);
}

/* Takes the readers that can be answered now (events for them, or expired); the lock held. */
static size_t take_ready_locked(mh_activity *a, reader *out, char **bodies, int all)
{
    size_t n = 0;
    struct timespec now = now_mono();
    for (size_t i = 0; i < a->nreaders;) {
        reader *r = &a->readers[i];
        int expired = all || now.tv_sec > r->until.tv_sec ||
                      (now.tv_sec == r->until.tv_sec && now.tv_nsec >= r->until.tv_nsec);
        char *body = format_locked(a, r->after, expired);
        if (body == NULL && !expired) {
            i++;
            continue;
        }
        out[n] = *r;
        bodies[n++] = body;
        a->readers[i] = a->readers[--a->nreaders];
    }
    return n;
}

static void answer(reader *rs, char **bodies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bodies[i] != NULL) {
            send_stream(rs[i].reply, bodies[i]);
        } else {
            mh_http_response resp = {.status = 503};
            mh_http_reply_send(rs[i].reply, &resp);
        }
    }
}

static void *timer_main(void *arg)
{
    mh_activity *a = arg;
    static reader rs[READERS_MAX];
    static char *bodies[READERS_MAX];
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        size_t n = take_ready_locked(a, rs, bodies, 0);
        pthread_mutex_unlock(&a->lock);
        answer(rs, bodies, n);
        pthread_mutex_lock(&a->lock);
        if (a->stopping)
            break;
        struct timespec until = now_mono();
        until.tv_sec += 1;
        pthread_cond_timedwait(&a->wake, &a->lock, &until);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

mh_err mh_activity_new(mh_activity **out)
{
    mh_activity *a = calloc(1, sizeof *a);
    if (a == NULL)
        return MH_ERR_NOMEM;
    a->next_seq = 1;
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&a->timer, NULL, timer_main, a) != 0) {
        mh_activity_free(a);
        return MH_ERR_INTERNAL;
    }
    a->timer_started = 1;
    *out = a;
    return MH_OK;
}

void mh_activity_shutdown(mh_activity *a)
{
    static reader rs[READERS_MAX];
    static char *bodies[READERS_MAX];
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    int was = a->stopping;
    a->stopping = 1;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    if (was)
        return;
    if (a->timer_started)
        pthread_join(a->timer, NULL);
    pthread_mutex_lock(&a->lock);
    size_t n = take_ready_locked(a, rs, bodies, 1);
    pthread_mutex_unlock(&a->lock);
    answer(rs, bodies, n);
}

void mh_activity_free(mh_activity *a)
{
    if (a == NULL)
        return;
    mh_activity_shutdown(a);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void mh_activity_add(mh_activity *a, const char *kind, const char *device_id, const char *detail, size_t len)
{
    if (a == NULL)
        return;
    char now[40];
    mh_time_now_iso(now, sizeof now);
    pthread_mutex_lock(&a->lock);
    event *e = &a->ring[a->next_seq % MH_ACTIVITY_RING];
    e->seq = a->next_seq++;
    memcpy(e->time, now, sizeof e->time);
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    snprintf(e->device, sizeof e->device, "%s", device_id ? device_id : "");
    size_t n = len < MH_ACTIVITY_DETAIL ? len : MH_ACTIVITY_DETAIL;
    if (detail != NULL && n > 0)
        memcpy(e->detail, detail, n);
    for (size_t i = 0; i < n; i++) /* text for a log line: controls and NULs as spaces */
        if ((unsigned char)e->detail[i] < 0x20)
            e->detail[i] = ' ';
    e->detail[detail ? n : 0] = '\0';
    if (a->nreaders > 0)
        pthread_cond_signal(&a->wake); /* the timer answers them, off the caller's thread */
    pthread_mutex_unlock(&a->lock);
}

void mh_activity_read(mh_activity *a, unsigned long long after, mh_http_reply *reply)
{
    pthread_mutex_lock(&a->lock);
    if (after >= a->next_seq) /* an id from before a restart: start over */
        after = 0;
    char *body = a->stopping ? NULL : format_locked(a, after, 0);
    int held = 0;
    if (body == NULL && !a->stopping && a->nreaders < READERS_MAX) {
        reader *r = &a->readers[a->nreaders++];
        r->reply = reply;
        r->after = after;
        r->until = now_mono();
        r->until.tv_sec += HOLD_S;
        held = 1;
    }
    pthread_mutex_unlock(&a->lock);
    if (held)
        return;
    if (body == NULL) {
        mh_http_response resp = {.status = 503};
        mh_http_reply_send(reply, &resp);
        return;
    }
    send_stream(reply, body);
}
