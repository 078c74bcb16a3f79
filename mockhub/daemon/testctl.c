/* testctl.c - MOCK: test control under /mockhub/ (see testctl.h): reset, wait-for, fault injection,
 * dropped and refused connections, quota mode. One timer thread holds the long-polls and the
 * delayed requests; their HTTP connections stay suspended, holding no server thread.
 */
#include "testctl.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hub_internal.h"
#include "replies.h"
#include "reset.h"
#include "seeding.h"

#define FAULTS_MAX 64
#define HELD_MAX 1024         /* waits and delayed requests at once */
#define WAIT_POLL_MS 10       /* how often waits look again */
#define WAIT_MAX_S 300        /* longest wait-for */
#define LATENCY_MAX_MS 300000 /* longest injected latency */
#define PATH_MAX_LEN 512      /* twin path of a wait */
#define MARK_NAME "x-mockhub" /* every test-control reply: "x-mockhub: test-control" */
#define MARK_VALUE "test-control"
#define FAULT_HEADER "x-mockhub-fault"

/* The REST operations faults and quotas apply to, as bits. */
enum {
    OP_REGISTRY = 1u << 0,
    OP_TWIN_READ = 1u << 1,
    OP_TWIN_WRITE = 1u << 2,
    OP_METHOD = 1u << 3,
    OP_QUERY = 1u << 4,
    OP_ALL = (1u << 5) - 1,   /* "*": every service (REST) operation */
    OP_DEVICE_TWIN = 1u << 5, /* a device's own twin requests over MQTT (GET, reported PATCH): named only */
    OP_REST_COUNT = 5,
    OP_COUNT = 6
};

static const char *const op_names[OP_COUNT] = {"registry", "twin.read", "twin.write",
                                               "method",   "query",     "device.twin"};

typedef struct fault {
    unsigned long long id;
    char device[MH_IDENTITY_MAX + 1]; /* "" = every device */
    unsigned ops;                     /* OP_* */
    long latency_ms;
    mh_err error;   /* MH_OK: none */
    long remaining; /* requests left to affect; -1: until removed */
    long refuse;    /* refuseConnects asked for (the plugin counts them down) */
    long long hits; /* requests affected so far */
} fault;

enum held_kind { HELD_WAIT, HELD_DELAY, HELD_SEND };
enum cond { COND_CONNECTED, COND_DISCONNECTED, COND_METHODS, COND_DESIRED, COND_TWIN };

typedef struct held {
    enum held_kind kind;
    struct timespec due; /* WAIT: the timeout; DELAY: when to run */
    mh_http_reply *reply;
    /* WAIT */
    char device[MH_IDENTITY_MAX + 1];
    enum cond cond;
    char *path;   /* COND_TWIN: dotted path in the twin document */
    cJSON *value; /* COND_TWIN: the value to wait for; NULL: any non-null value */
    struct timespec started;
    /* DELAY */
    mh_http_request req; /* pointers stay valid: the connection is suspended until the reply */
    char id[256];
    mh_testctl_route_fn fn;
    /* SEND: a message to a device, late (the device's twin replies under a latency fault) */
    char *topic, *payload;
    size_t plen;
    struct held *next;
} held;

typedef struct bucket {
    double rate, tokens;
    struct timespec last;
} bucket;

struct mh_testctl {
    mh_hub *hub;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t timer;
    int timer_started;
    int stopping; /* the timer must end; new holds are answered at once */
    held *held;
    size_t nheld;
    fault faults[FAULTS_MAX];
    size_t nfaults;
    unsigned long long next_fault_id;
    mh_tier tier;
    bucket buckets[OP_COUNT];
    cJSON *seed;
};

/* ---- time ---- */

static struct timespec now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

static struct timespec plus_ms(struct timespec t, long ms)
{
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static long long ms_between(struct timespec a, struct timespec b)
{
    return (long long)(b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
}

static int reached(struct timespec now, struct timespec due)
{
    return now.tv_sec > due.tv_sec || (now.tv_sec == due.tv_sec && now.tv_nsec >= due.tv_nsec);
}

/* ---- replies (every one marked as mockhub's) ---- */

static void send_json(mh_http_reply *reply, int status, cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (text == NULL) {
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    mh_http_response resp = {.status = status, .body = text};
    mh_http_response_header(&resp, MARK_NAME, MARK_VALUE);
    mh_http_reply_send(reply, &resp);
}

static void send_error(mh_http_reply *reply, mh_err code, const char *text)
{
    mh_http_response resp = {0};
    mh_reply_error_response(&resp, code, text);
    mh_http_response_header(&resp, MARK_NAME, MARK_VALUE);
    mh_http_reply_send(reply, &resp);
}

/* ---- quota mode ---- */

mh_err mh_tier_parse(const char *text, mh_tier *out, mh_status *st)
{
    mh_tier t = {"", 0};
    static const char usage[] =
        "MOCKHUB_TIER must be S1, S2 or S3, optionally with :units (1-200; 1-10 for S3), "
        "e.g. S1 or S2:4";
    if (text == NULL || *text == '\0') {
        *out = t;
        return MH_OK;
    }
    if (toupper((unsigned char)text[0]) != 'S' || text[1] < '1' || text[1] > '3' ||
        (text[2] != '\0' && text[2] != ':'))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s (got '%.40s')", usage, text);
    t.name[0] = 'S';
    t.name[1] = text[1];
    t.units = 1;
    if (text[2] == ':') {
        char *end = NULL;
        errno = 0;
        long u = strtol(text + 3, &end, 10);
        int max = text[1] == '3' ? 10 : 200;
        if (!isdigit((unsigned char)text[3]) || *end != '\0' || errno != 0 || u < 1 || u > max)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s (got '%.40s')", usage, text);
        t.units = (int)u;
    }
    *out = t;
    return MH_OK;
}

double mh_tier_rate(const mh_tier *tier, const char *op)
{
    /* AZURE: https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling; a direct
     * method counts as 4 KB of the method meter (160 KB/s/unit on S1 = 40 calls/s/unit). */
    if (tier == NULL || tier->units <= 0 || op == NULL)
        return 0;
    double u = tier->units;
    int s = tier->name[1] - '0';
    double v[3][OP_COUNT] = {
        /* registry, twin.read, twin.write, method, query */
        {100.0 / 60 * u, 100, 50, 40 * u, 20.0 / 60 * u},
        {100.0 / 60 * u, u * 10 > 100 ? u * 10 : 100, u * 5 > 50 ? u * 5 : 50, 120 * u, 20.0 / 60 * u},
        {5000.0 / 60 * u, 500 * u, 250 * u, 6000 * u, 1000.0 / 60 * u},
    };
    if (s < 1 || s > 3)
        return 0;
    for (int i = 0; i < OP_REST_COUNT; i++)
        if (strcmp(op, op_names[i]) == 0)
            return v[s - 1][i];
    return 0;
}

/* Takes one token of op's bucket; 0 when it is empty (the caller answers 429). Requires the lock. */
static int quota_take(mh_testctl *t, int op)
{
    bucket *b = &t->buckets[op];
    if (b->rate <= 0)
        return 1;
    struct timespec now = now_mono();
    /* MOCK: a bucket holds one second of the rate (at least one call); the real hub first shapes
     * traffic (queues it) for a while before it answers 429. */
    double cap = b->rate < 1 ? 1 : b->rate;
    b->tokens += (double)ms_between(b->last, now) / 1000.0 * b->rate;
    if (b->tokens > cap)
        b->tokens = cap;
    b->last = now;
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}

/* ---- life cycle ---- */

static void *timer_main(void *arg);

mh_err mh_testctl_new(mh_hub *hub, const mh_tier *tier, mh_testctl **out, mh_status *st)
{
    mh_testctl *t = calloc(1, sizeof *t);
    if (t == NULL)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    t->hub = hub;
    t->next_fault_id = 1;
    if (tier != NULL)
        t->tier = *tier;
    for (int i = 0; i < OP_COUNT; i++) {
        t->buckets[i].rate = mh_tier_rate(&t->tier, op_names[i]);
        t->buckets[i].tokens = t->buckets[i].rate < 1 ? 1 : t->buckets[i].rate;
        t->buckets[i].last = now_mono();
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->timer, NULL, timer_main, t) != 0) {
        mh_testctl_free(t);
        return mh_fail(st, MH_ERR_INTERNAL, "cannot start the test-control timer");
    }
    t->timer_started = 1;
    *out = t;
    return MH_OK;
}

static void held_free(held *h)
{
    if (h == NULL)
        return;
    free(h->path);
    cJSON_Delete(h->value);
    free(h->topic);
    free(h->payload);
    free(h);
}

void mh_testctl_shutdown(mh_testctl *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    int was = t->stopping;
    t->stopping = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    if (was)
        return;
    if (t->timer_started)
        pthread_join(t->timer, NULL);
    pthread_mutex_lock(&t->lock);
    held *list = t->held;
    t->held = NULL;
    t->nheld = 0;
    pthread_mutex_unlock(&t->lock);
    while (list != NULL) {
        held *nx = list->next;
        if (list->kind != HELD_SEND)
            send_error(list->reply, MH_ERR_UNAVAILABLE, "the hub is shutting down");
        held_free(list);
        list = nx;
    }
}

void mh_testctl_free(mh_testctl *t)
{
    if (t == NULL)
        return;
    mh_testctl_shutdown(t);
    cJSON_Delete(t->seed);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

mh_err mh_testctl_set_seed(mh_testctl *t, const cJSON *seed)
{
    cJSON *copy = NULL;
    if (seed != NULL && (copy = cJSON_Duplicate(seed, 1)) == NULL)
        return MH_ERR_NOMEM;
    pthread_mutex_lock(&t->lock);
    cJSON_Delete(t->seed);
    t->seed = copy;
    pthread_mutex_unlock(&t->lock);
    return MH_OK;
}

/* Adds h to the held list; 0 (h untouched) when stopping or full. */
static int hold(mh_testctl *t, held *h)
{
    pthread_mutex_lock(&t->lock);
    int ok = !t->stopping && t->nheld < HELD_MAX;
    if (ok) {
        h->next = t->held;
        t->held = h;
        t->nheld++;
        pthread_cond_signal(&t->wake);
    }
    pthread_mutex_unlock(&t->lock);
    return ok;
}

/* ---- wait-for ---- */

/* The value at a dotted path of doc, or NULL. */
static const cJSON *at_path(const cJSON *doc, const char *path)
{
    char seg[PATH_MAX_LEN + 1];
    const cJSON *cur = doc;
    while (cur != NULL && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n == 0 || n > PATH_MAX_LEN)
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, seg) : NULL;
        path += n + (dot != NULL);
    }
    return cur;
}

/* Looks at a wait's condition now. 1: satisfied (*out_value: what was seen, owned by the
 * caller), 0: not yet, -1: can never be (device unknown for twin waits). */
static int wait_check(mh_testctl *t, const held *h, cJSON **out_value)
{
    mh_hub *hub = t->hub;
    unsigned subs = mh_presence_subs(hub->presence, h->device);
    if (h->cond == COND_METHODS || h->cond == COND_DESIRED) {
        unsigned bit = h->cond == COND_METHODS ? MH_SUB_METHODS : MH_SUB_DESIRED;
        *out_value = cJSON_CreateBool(1);
        if (subs & bit)
            return 1;
        cJSON_Delete(*out_value);
        *out_value = NULL;
        return 0;
    }
    cJSON *doc = NULL;
    mh_status st = {0};
    if (mh_store_twin_get(hub->store, h->device, &doc, &st) != MH_OK)
        return h->cond == COND_TWIN ? 0 : (h->cond == COND_DISCONNECTED ? 1 : 0);
    int ok = 0;
    if (h->cond == COND_TWIN) {
        const cJSON *v = at_path(doc, h->path);
        ok = v != NULL && !cJSON_IsNull(v) && (h->value == NULL || cJSON_Compare(v, h->value, 1));
        if (ok)
            *out_value = cJSON_Duplicate(v, 1);
    } else {
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(doc, "connectionState");
        int connected = cJSON_IsString(cs) && strcmp(cs->valuestring, "Connected") == 0;
        ok = h->cond == COND_CONNECTED ? connected : !connected;
        if (ok)
            *out_value = cJSON_CreateBool(connected);
    }
    cJSON_Delete(doc);
    return ok;
}

static const char *const cond_names[] = {"connected", "disconnected", "methods", "desired", "twin"};

static void wait_answer(const held *h, int satisfied, cJSON *value)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddBoolToObject(doc, "satisfied", satisfied);
    cJSON_AddStringToObject(doc, "deviceId", h->device);
    cJSON_AddStringToObject(doc, "condition", cond_names[h->cond]);
    if (h->path)
        cJSON_AddStringToObject(doc, "path", h->path);
    if (value)
        cJSON_AddItemToObject(doc, "value", value);
    cJSON_AddNumberToObject(doc, "waitedMs", (double)ms_between(h->started, now_mono()));
    /* 408: the condition did not hold in time; scripts and tests tell it from a hub error */
    send_json(h->reply, satisfied ? 200 : 408, doc);
}

/* ---- the timer: waits and delayed requests ---- */

static void *timer_main(void *arg)
{
    mh_testctl *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        held *list = t->held, *keep = NULL;
        size_t kept = 0;
        t->held = NULL;
        t->nheld = 0;
        pthread_mutex_unlock(&t->lock);
        struct timespec now = now_mono(), next = plus_ms(now, 1000);
        while (list != NULL) {
            held *h = list;
            list = h->next;
            if (h->kind == HELD_SEND) {
                if (reached(now, h->due)) {
                    if (mh_hub_to_device(t->hub, h->device, h->topic, h->payload, h->plen, 0) != MH_OK)
                        fprintf(stderr, "mockhub: could not send a delayed message to %s\n", h->device);
                    held_free(h);
                    continue;
                }
            } else if (h->kind == HELD_DELAY) {
                if (reached(now, h->due)) {
                    h->fn(t->hub, &h->req, h->reply, h->id);
                    held_free(h);
                    continue;
                }
            } else {
                cJSON *value = NULL;
                int r = wait_check(t, h, &value);
                if (r != 0 || reached(now, h->due)) {
                    wait_answer(h, r == 1, value);
                    held_free(h);
                    continue;
                }
                struct timespec poll = plus_ms(now, WAIT_POLL_MS);
                if (!reached(poll, next))
                    next = poll;
            }
            if (!reached(h->due, next))
                next = h->due;
            h->next = keep;
            keep = h;
            kept++;
        }
        pthread_mutex_lock(&t->lock);
        while (keep != NULL) { /* back, after what arrived meanwhile */
            held *h = keep;
            keep = h->next;
            h->next = t->held;
            t->held = h;
            t->nheld++;
        }
        (void)kept;
        if (!t->stopping)
            pthread_cond_timedwait(&t->wake, &t->lock, &next);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- authorization: the owner policy only ---- */

static mh_err policy_lookup(void *store, const char *name, mh_policy *out)
{
    return mh_store_policy_get(store, name, out);
}

/* 1 when the caller holds all four rights (iothubowner); else answers 401 and returns 0. */
static int owner_ok(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply)
{
    static const unsigned rights[] = {MH_RIGHT_REGISTRY_READ, MH_RIGHT_REGISTRY_WRITE,
                                      MH_RIGHT_SERVICE_CONNECT, MH_RIGHT_DEVICE_CONNECT};
    for (size_t i = 0; i < sizeof rights / sizeof rights[0]; i++) {
        mh_status st = {0};
        if (mh_svcauth_check_cached(hub->auth_cache, mh_http_header(req, "Authorization"), hub->cfg.hostname,
                                    rights[i], (long long)time(NULL), policy_lookup, hub->store,
                                    &st) != MH_OK) {
            send_error(reply, MH_ERR_UNAUTHORIZED,
                       "mockhub test control needs a token of a policy with all rights (iothubowner)");
            return 0;
        }
    }
    return 1;
}

/* The request body as a JSON object; an empty body is {}. NULL (and a 400 reply) otherwise. */
static cJSON *body_object(const mh_http_request *req, mh_http_reply *reply)
{
    const char *p = req->body;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0')
        return cJSON_CreateObject();
    cJSON *doc = req->body_too_large ? NULL : cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "The request body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* ---- faults ---- */

/* The OP_* bit of a route, 0 for routes faults never touch (/health, /mockhub/...). */
static unsigned route_op(const char *method, const char *pattern)
{
    if (strcmp(pattern, "/devices/query") == 0)
        return OP_QUERY;
    if (strcmp(pattern, "/devices") == 0 || strcmp(pattern, "/devices/{id}") == 0 ||
        strncmp(pattern, "/devices/{id}/modules", 21) == 0 || strncmp(pattern, "/statistics/", 12) == 0)
        return OP_REGISTRY;
    if (strcmp(pattern, "/twins/{id}") == 0 || strcmp(pattern, "/twins/{id}/modules/{mid}") == 0)
        return strcmp(method, "GET") == 0 ? OP_TWIN_READ : OP_TWIN_WRITE;
    if (strcmp(pattern, "/twins/{id}/methods") == 0 ||
        strcmp(pattern, "/twins/{id}/modules/{mid}/methods") == 0)
        return OP_METHOD;
    return 0;
}

static int op_index(unsigned bit)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (bit == 1u << i)
            return i;
    return -1;
}

static void fault_remove_at(mh_testctl *t, size_t i)
{
    memmove(&t->faults[i], &t->faults[i + 1], (t->nfaults - i - 1) * sizeof t->faults[0]);
    t->nfaults--;
}

/* The faults for op on device (NULL: a call not about one device): the largest latency and the
 * first error; uses up their counts. Requires the lock. */
static void match_faults_locked(mh_testctl *t, unsigned op, const char *device, long *latency, mh_err *error,
                                unsigned long long *fault_id)
{
    for (size_t i = 0; i < t->nfaults; i++) {
        fault *f = &t->faults[i];
        if (!(f->ops & op) || (f->latency_ms == 0 && f->error == MH_OK) ||
            (f->device[0] && (device == NULL || strcmp(f->device, device) != 0)))
            continue;
        if (f->latency_ms > *latency)
            *latency = f->latency_ms;
        if (f->error != MH_OK && *error == MH_OK) {
            *error = f->error;
            *fault_id = f->id;
        }
        f->hits++;
        if (f->remaining > 0 && --f->remaining == 0)
            fault_remove_at(t, i--);
    }
}

int mh_testctl_device_twin_fault(mh_testctl *t, const char *device_id, mh_err *out_err, long *out_latency_ms)
{
    long latency = 0;
    mh_err error = MH_OK;
    unsigned long long fault_id = 0;
    if (t == NULL)
        return 0;
    pthread_mutex_lock(&t->lock);
    match_faults_locked(t, OP_DEVICE_TWIN, device_id, &latency, &error, &fault_id);
    pthread_mutex_unlock(&t->lock);
    *out_err = error;
    *out_latency_ms = latency;
    return latency > 0 || error != MH_OK;
}

int mh_testctl_send_later(mh_testctl *t, const char *device_id, const char *topic, const void *payload,
                          size_t len, long delay_ms)
{
    held *h = t ? calloc(1, sizeof *h) : NULL;
    if (h == NULL)
        return 0;
    h->kind = HELD_SEND;
    h->due = plus_ms(now_mono(), delay_ms);
    snprintf(h->device, sizeof h->device, "%s", device_id);
    h->topic = strdup(topic);
    h->payload = malloc(len + 1);
    h->plen = len;
    if (h->payload != NULL && len > 0)
        memcpy(h->payload, payload, len);
    if (h->topic == NULL || h->payload == NULL || !hold(t, h)) {
        held_free(h);
        return 0;
    }
    return 1;
}

/* An injected error sent after its latency (a held request's handler): id is "<mh_err>:<fault id>". */
static void late_error(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)hub;
    (void)req;
    char text[160];
    int code = atoi(id);
    const char *colon = strchr(id, ':');
    const char *fid = colon ? colon + 1 : "0";
    snprintf(text, sizeof text, "Injected by mockhub test control (fault %s)", fid);
    mh_http_response resp = {0};
    mh_reply_error_response(&resp, (mh_err)code, text);
    mh_http_response_header(&resp, FAULT_HEADER, fid);
    mh_http_reply_send(reply, &resp);
}

int mh_testctl_intercept(mh_testctl *t, const char *method, const char *pattern, const mh_http_request *req,
                         mh_http_reply *reply, const char *id, mh_testctl_route_fn fn)
{
    if (t == NULL)
        return 0;
    unsigned op = route_op(method, pattern);
    if (op == 0)
        return 0;
    int has_id = strstr(pattern, "{id}") != NULL;
    long latency = 0;
    mh_err error = MH_OK;
    unsigned long long fault_id = 0;
    pthread_mutex_lock(&t->lock);
    int throttled = !quota_take(t, op_index(op));
    if (!throttled)
        match_faults_locked(t, op, has_id ? id : NULL, &latency, &error, &fault_id);
    pthread_mutex_unlock(&t->lock);
    if (throttled) {
        char text[160];
        snprintf(text, sizeof text, "Quota of tier %s x%d exceeded for %s operations (MOCKHUB_TIER)",
                 t->tier.name, t->tier.units, op_names[op_index(op)]);
        mh_http_response resp = {0};
        mh_reply_error_response(&resp, MH_ERR_THROTTLED, text);
        mh_http_response_header(&resp, FAULT_HEADER, "quota");
        mh_http_reply_send(reply, &resp);
        return 1;
    }
    if (latency == 0 && error == MH_OK)
        return 0;
    if (error != MH_OK) {
        /* MOCK: an injected error; the real hub sends the same envelope when it means it */
        char text[160], fid[32];
        snprintf(text, sizeof text, "Injected by mockhub test control (fault %llu)", fault_id);
        snprintf(fid, sizeof fid, "%llu", fault_id);
        held *h = NULL;
        if (latency > 0 && (h = calloc(1, sizeof *h)) != NULL) {
            /* the error after the latency: answered by the timer with a tiny handler */
            h->kind = HELD_DELAY;
            h->due = plus_ms(now_mono(), latency);
            h->reply = reply;
            h->req = *req;
            snprintf(h->id, sizeof h->id, "%d:%llu", (int)error, fault_id);
        }
        if (h != NULL) {
            h->fn = late_error;
            if (hold(t, h))
                return 1;
            held_free(h);
        }
        mh_http_response resp = {0};
        mh_reply_error_response(&resp, error, text);
        mh_http_response_header(&resp, FAULT_HEADER, fid);
        mh_http_reply_send(reply, &resp);
        return 1;
    }
    held *h = calloc(1, sizeof *h);
    if (h == NULL)
        return 0; /* no latency rather than no answer */
    h->kind = HELD_DELAY;
    h->due = plus_ms(now_mono(), latency);
    h->reply = reply;
    h->req = *req;
    snprintf(h->id, sizeof h->id, "%s", id);
    h->fn = fn;
    if (hold(t, h))
        return 1;
    held_free(h);
    return 0;
}

/* ---- the /mockhub/ routes ---- */

/* The mh_err an "error" member names: an IoT Hub error name ("ThrottlingException"), its number
 * (429001) or an HTTP status (429: the first error with it). MH_OK when none matches. */
static mh_err error_named(const cJSON *v)
{
    for (int c = 1; c < MH_ERR__COUNT; c++) {
        const mh_err_info *info = mh_err_lookup((mh_err)c);
        if (c == MH_ERR_NOMEM || c == MH_ERR_NOT_IMPLEMENTED)
            continue; /* ServerError has MH_ERR_INTERNAL; 501 is ours */
        if (cJSON_IsString(v) && strcasecmp(v->valuestring, info->name) == 0)
            return (mh_err)c;
        if (cJSON_IsNumber(v) &&
            (v->valuedouble == (double)info->number || v->valuedouble == info->http_status))
            return (mh_err)c;
    }
    return MH_OK;
}

static unsigned ops_named(const char *s)
{
    if (strcmp(s, "*") == 0 || strcmp(s, "all") == 0)
        return OP_ALL;
    if (strcmp(s, "twin") == 0)
        return OP_TWIN_READ | OP_TWIN_WRITE;
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(s, op_names[i]) == 0)
            return 1u << i;
    return 0;
}

static cJSON *fault_doc(const fault *f)
{
    cJSON *doc = cJSON_CreateObject(), *ops = cJSON_AddArrayToObject(doc, "operations");
    cJSON_AddNumberToObject(doc, "id", (double)f->id);
    if (f->device[0])
        cJSON_AddStringToObject(doc, "deviceId", f->device);
    else
        cJSON_AddNullToObject(doc, "deviceId");
    for (int i = 0; i < OP_COUNT; i++)
        if (f->ops & (1u << i))
            cJSON_AddItemToArray(ops, cJSON_CreateString(op_names[i]));
    cJSON_AddNumberToObject(doc, "latencyMs", (double)f->latency_ms);
    if (f->error != MH_OK) {
        const mh_err_info *info = mh_err_lookup(f->error);
        cJSON *e = cJSON_AddObjectToObject(doc, "error");
        cJSON_AddStringToObject(e, "name", info->name);
        cJSON_AddNumberToObject(e, "status", info->http_status);
        cJSON_AddNumberToObject(e, "code", (double)info->number);
    } else {
        cJSON_AddNullToObject(doc, "error");
    }
    if (f->remaining >= 0)
        cJSON_AddNumberToObject(doc, "remaining", (double)f->remaining);
    else
        cJSON_AddNullToObject(doc, "remaining");
    cJSON_AddNumberToObject(doc, "refuseConnects", (double)f->refuse);
    cJSON_AddNumberToObject(doc, "hits", (double)f->hits);
    return doc;
}

/* A whole number member in [lo, hi] into *out (def when absent); 0 and a 400 reply otherwise. */
static int int_member(const cJSON *body, const char *name, long lo, long hi, long def, long *out,
                      mh_http_reply *reply)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = def;
        return 1;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble || v->valuedouble < lo ||
        v->valuedouble > hi) {
        char text[160];
        snprintf(text, sizeof text, "%s must be a whole number from %ld to %ld", name, lo, hi);
        send_error(reply, MH_ERR_ARGUMENT_INVALID, text);
        return 0;
    }
    *out = (long)v->valuedouble;
    return 1;
}

void mh_testctl_r_faults_add(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    mh_testctl *t = hub->testctl;
    fault f = {.ops = OP_ALL, .remaining = -1};
    if (!owner_ok(hub, req, reply))
        return;
    cJSON *body = body_object(req, reply);
    if (body == NULL)
        return;
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(body, "deviceId");
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(body, "operations");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(body, "error");
    long count = 0, refuse = 0;
    mh_status st = {0};
    if (dev != NULL && !cJSON_IsNull(dev)) {
        if (!cJSON_IsString(dev) || mh_device_id_check(dev->valuestring, &st) != MH_OK) {
            send_error(reply, MH_ERR_ARGUMENT_INVALID, "deviceId must be a valid device id");
            goto done;
        }
        snprintf(f.device, sizeof f.device, "%s", dev->valuestring);
    }
    if (cJSON_IsString(ops)) {
        f.ops = ops_named(ops->valuestring);
    } else if (cJSON_IsArray(ops)) {
        f.ops = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, ops)
        {
            unsigned bit = cJSON_IsString(o) ? ops_named(o->valuestring) : 0;
            if (bit == 0) {
                f.ops = 0;
                break;
            }
            f.ops |= bit;
        }
    } else if (ops != NULL && !cJSON_IsNull(ops)) {
        f.ops = 0;
    }
    if (f.ops == 0) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID,
                   "operations must be \"*\" or some of registry, twin, twin.read, twin.write, method, "
                   "query, device.twin");
        goto done;
    }
    if (!int_member(body, "latencyMs", 0, LATENCY_MAX_MS, 0, &f.latency_ms, reply) ||
        !int_member(body, "count", 1, 1000000000L, 0, &count, reply) ||
        !int_member(body, "refuseConnects", 0, 1000000000L, 0, &refuse, reply))
        goto done;
    if (err != NULL && !cJSON_IsNull(err) && (f.error = error_named(err)) == MH_OK) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID,
                   "error must name an IoT Hub error (e.g. \"ThrottlingException\", \"ServerBusy\", "
                   "\"ServiceUnavailable\") or give its number (429001) or HTTP status (429)");
        goto done;
    }
    if (refuse > 0 && !f.device[0]) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "refuseConnects needs a deviceId");
        goto done;
    }
    if (f.latency_ms == 0 && f.error == MH_OK && refuse == 0) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "a fault needs latencyMs, error or refuseConnects");
        goto done;
    }
    f.remaining = count > 0 ? count : -1;
    f.refuse = refuse;
    pthread_mutex_lock(&t->lock);
    int full = t->nfaults == FAULTS_MAX;
    if (!full) {
        f.id = t->next_fault_id++;
        t->faults[t->nfaults++] = f;
    }
    pthread_mutex_unlock(&t->lock);
    if (full) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "too many faults (64); DELETE /mockhub/faults first");
        goto done;
    }
    if (refuse > 0 && mh_hub_refuse_connects(hub, f.device, (unsigned long long)refuse) != MH_OK) {
        send_error(reply, MH_ERR_UNAVAILABLE, "could not reach the broker to refuse connects");
        goto done;
    }
    send_json(reply, 201, fault_doc(&f));
done:
    cJSON_Delete(body);
}

void mh_testctl_r_faults_list(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    mh_testctl *t = hub->testctl;
    if (!owner_ok(hub, req, reply))
        return;
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nfaults; i++)
        cJSON_AddItemToArray(arr, fault_doc(&t->faults[i]));
    pthread_mutex_unlock(&t->lock);
    send_json(reply, 200, arr);
}

/* Removes the faults that match (all when fault_id is 0) and stops their refusals. Returns how
 * many went. */
static size_t faults_clear(mh_testctl *t, unsigned long long fault_id)
{
    fault gone[FAULTS_MAX];
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nfaults; i++) {
        if (fault_id == 0 || t->faults[i].id == fault_id) {
            gone[n++] = t->faults[i];
            fault_remove_at(t, i--);
        }
    }
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < n; i++)
        if (gone[i].refuse > 0 && mh_hub_refuse_connects(t->hub, gone[i].device, 0) != MH_OK)
            fprintf(stderr, "mockhub: could not stop refusing connects of %s\n", gone[i].device);
    return n;
}

void mh_testctl_r_faults_clear(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    if (!owner_ok(hub, req, reply))
        return;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "removed", (double)faults_clear(hub->testctl, 0));
    send_json(reply, 200, doc);
}

void mh_testctl_r_fault_delete(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    if (!owner_ok(hub, req, reply))
        return;
    char *end = NULL;
    unsigned long long fid = strtoull(id, &end, 10);
    if (!isdigit((unsigned char)id[0]) || *end != '\0' || fid == 0) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "the fault id must be a positive whole number");
        return;
    }
    if (faults_clear(hub->testctl, fid) == 0) {
        send_error(reply, MH_ERR_NOT_FOUND, "no such fault");
        return;
    }
    mh_http_response resp = {.status = 204};
    mh_http_response_header(&resp, MARK_NAME, MARK_VALUE);
    mh_http_reply_send(reply, &resp);
}

void mh_testctl_r_drop(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    mh_status st = {0};
    if (!owner_ok(hub, req, reply))
        return;
    if (mh_device_id_check(id, &st) != MH_OK) {
        send_error(reply, st.code, st.text);
        return;
    }
    cJSON *dev = NULL;
    if (mh_store_device_get(hub->store, id, &dev, &st) != MH_OK) {
        send_error(reply, st.code, st.text);
        return;
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(dev, "connectionState");
    int was = cJSON_IsString(cs) && strcmp(cs->valuestring, "Connected") == 0;
    cJSON_Delete(dev);
    /* the session stays: the device reconnects as after a network failure */
    mh_hub_kick(hub, id, 0);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "deviceId", id);
    cJSON_AddBoolToObject(doc, "wasConnected", was);
    send_json(reply, 200, doc);
}

void mh_testctl_r_wait(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    mh_testctl *t = hub->testctl;
    mh_status st = {0};
    if (!owner_ok(hub, req, reply))
        return;
    const char *dev = mh_http_query_arg(req, "deviceId");
    const char *cond = mh_http_query_arg(req, "condition");
    const char *path = mh_http_query_arg(req, "path");
    const char *value = mh_http_query_arg(req, "value");
    const char *timeout = mh_http_query_arg(req, "timeout");
    if (dev == NULL || mh_device_id_check(dev, &st) != MH_OK) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "deviceId=<a device id> is required");
        return;
    }
    held *h = calloc(1, sizeof *h);
    if (h == NULL) {
        send_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    h->kind = HELD_WAIT;
    h->reply = reply;
    h->started = now_mono();
    snprintf(h->device, sizeof h->device, "%s", dev);
    if (cond == NULL)
        cond = path ? "twin" : "connected";
    int c = -1;
    for (int i = 0; i < (int)(sizeof cond_names / sizeof cond_names[0]); i++)
        if (strcmp(cond, cond_names[i]) == 0)
            c = i;
    if (c < 0) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID,
                   "condition must be connected, disconnected, methods, desired or twin");
        goto fail;
    }
    h->cond = (enum cond)c;
    if (h->cond == COND_TWIN) {
        if (path == NULL || *path == '\0' || strlen(path) > PATH_MAX_LEN) {
            send_error(reply, MH_ERR_ARGUMENT_INVALID,
                       "condition twin needs path=<dotted twin path>, e.g. properties.reported.fw");
            goto fail;
        }
        h->path = strdup(path);
        if (value != NULL && (h->value = cJSON_Parse(value)) == NULL) {
            send_error(reply, MH_ERR_ARGUMENT_INVALID, "value must be JSON text (a string needs its quotes)");
            goto fail;
        }
    }
    long secs = 30;
    if (timeout != NULL) {
        char *end = NULL;
        secs = strtol(timeout, &end, 10);
        if (!isdigit((unsigned char)timeout[0]) || *end != '\0' || secs < 0 || secs > WAIT_MAX_S) {
            send_error(reply, MH_ERR_ARGUMENT_INVALID,
                       "timeout must be a whole number of seconds from 0 to 300");
            goto fail;
        }
    }
    h->due = plus_ms(h->started, secs * 1000);
    cJSON *seen = NULL;
    int r = wait_check(t, h, &seen);
    if (r != 0 || secs == 0) {
        wait_answer(h, r == 1, seen);
        held_free(h);
        return;
    }
    if (hold(t, h))
        return;
    send_error(reply, MH_ERR_THROTTLED, "too many waits at once (1024)");
fail:
    held_free(h);
}

void mh_testctl_r_reset(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    mh_testctl *t = hub->testctl;
    mh_status st = {0};
    cJSON *seed = NULL;
    if (!owner_ok(hub, req, reply))
        return;
    struct timespec t0 = now_mono();
    cJSON *body = body_object(req, reply);
    if (body == NULL)
        return;
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(body, "to");
    pthread_mutex_lock(&t->lock);
    int has_seed = t->seed != NULL;
    pthread_mutex_unlock(&t->lock);
    int to_seed = has_seed;
    if (cJSON_IsString(to) && strcmp(to->valuestring, "empty") == 0)
        to_seed = 0;
    else if (cJSON_IsString(to) && strcmp(to->valuestring, "seed") == 0)
        to_seed = 1;
    else if (to != NULL) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "to must be \"empty\" or \"seed\"");
        goto done;
    }
    if (to_seed && !has_seed) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "no seed was loaded (start the hub with --seed FILE)");
        goto done;
    }
    /* live connections first, so no device works on state that is going away */
    char(*ids)[MH_IDENTITY_MAX + 1] = NULL;
    size_t dropped = mh_presence_clear(hub->presence, &ids);
    for (size_t i = 0; i < dropped && ids != NULL; i++)
        mh_hub_kick(hub, ids[i], 0);
    free(ids);
    mh_methods_cancel_all(hub->methods, MH_ERR_DEVICE_NOT_ONLINE,
                          "The hub was reset by mockhub test control");
    faults_clear(t, 0);
    if (mh_store_reset_all(hub->store, &st) != MH_OK) {
        send_error(reply, st.code, st.text);
        goto done;
    }
    int created = 0;
    if (to_seed) {
        pthread_mutex_lock(&t->lock);
        seed = cJSON_Duplicate(t->seed, 1);
        pthread_mutex_unlock(&t->lock);
        if (seed == NULL || mh_store_seed_apply(hub->store, seed, &created, &st) != MH_OK) {
            send_error(reply, seed ? st.code : MH_ERR_NOMEM, seed ? st.text : "out of memory");
            goto done;
        }
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "to", to_seed ? "seed" : "empty");
    cJSON_AddNumberToObject(doc, "devices", created);
    cJSON_AddNumberToObject(doc, "droppedConnections", (double)dropped);
    cJSON_AddNumberToObject(doc, "tookMs", (double)ms_between(t0, now_mono()));
    send_json(reply, 200, doc);
done:
    cJSON_Delete(seed);
    cJSON_Delete(body);
}

/* ---- cloud-to-device send over REST ---- */

/* A message id for a message sent without one (az iot hub c2d-message send does the same). */
static void random_message_id(char out[37])
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    if (n != sizeof b) { /* only an id, not a secret: the clock will do */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)((unsigned long long)(ts.tv_nsec + ts.tv_sec * 31) >> ((i % 8) * 8));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Copies the string member name of doc into out (size outsz); 0 (and a 400 reply) when it is there
 * but is not a string or is too long. Absent leaves out as it is. */
static int c2d_string(const cJSON *doc, const char *name, char *out, size_t outsz, mh_http_reply *reply)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
    char text[160];
    if (v == NULL || cJSON_IsNull(v))
        return 1;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= outsz) {
        snprintf(text, sizeof text, "%s must be a string of at most %zu characters", name, outsz - 1);
        send_error(reply, MH_ERR_ARGUMENT_INVALID, text);
        return 0;
    }
    snprintf(out, outsz, "%s", v->valuestring);
    return 1;
}

void mh_testctl_r_c2d_send(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    mh_status st = {0};
    mh_c2d_msg m;
    memset(&m, 0, sizeof m);
    if (!owner_ok(hub, req, reply))
        return;
    /* AZURE: C2D queues are devices' only; a module has no address here ({id} is one path segment, so
     * .../devices/d%2Fm/messages is a path no route matches: 404) */
    if (mh_device_id_check(id, &st) != MH_OK) {
        send_error(reply, st.code, st.text);
        return;
    }
    cJSON *doc = body_object(req, reply);
    if (doc == NULL)
        return;
    char expiry[64] = "", ack[32] = "";
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(doc, "properties");
    const cJSON *p;
    if (data != NULL && !cJSON_IsString(data)) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "data must be a string (the message body)");
        goto done;
    }
    if (props != NULL && !cJSON_IsObject(props)) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "properties must be an object of strings");
        goto done;
    }
    cJSON_ArrayForEach(p, props)
    {
        if (!cJSON_IsString(p)) {
            send_error(reply, MH_ERR_ARGUMENT_INVALID, "properties must be an object of strings");
            goto done;
        }
    }
    snprintf(m.device_id, sizeof m.device_id, "%s", id);
    if (!c2d_string(doc, "messageId", m.message_id, sizeof m.message_id, reply) ||
        !c2d_string(doc, "correlationId", m.correlation_id, sizeof m.correlation_id, reply) ||
        !c2d_string(doc, "userId", m.user_id, sizeof m.user_id, reply) ||
        !c2d_string(doc, "contentType", m.content_type, sizeof m.content_type, reply) ||
        !c2d_string(doc, "contentEncoding", m.content_encoding, sizeof m.content_encoding, reply) ||
        !c2d_string(doc, "expiryTimeUtc", expiry, sizeof expiry, reply) ||
        !c2d_string(doc, "ack", ack, sizeof ack, reply))
        goto done;
    if (m.message_id[0] == '\0')
        random_message_id(m.message_id);
    if (ack[0] != '\0' && mh_c2d_ack_parse(ack, &m.ack) != MH_OK) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "ack must be none, positive, negative or full");
        goto done;
    }
    if (expiry[0] != '\0' && (m.expiry_ms = mh_c2d_parse_iso_ms(expiry)) < 0) {
        send_error(reply, MH_ERR_ARGUMENT_INVALID, "expiryTimeUtc must be an ISO 8601 UTC time");
        goto done;
    }
    m.props_json = props != NULL ? cJSON_PrintUnformatted(props) : NULL;
    if (m.props_json != NULL && strlen(m.props_json) > MH_C2D_PROPS_MAX) {
        send_error(reply, MH_ERR_TOO_LARGE, "the application properties are too large");
        goto done;
    }
    m.body = data != NULL ? (unsigned char *)data->valuestring : NULL; /* borrowed from doc */
    m.len = data != NULL ? strlen(data->valuestring) : 0;
    if (mh_hub_c2d_send(hub, &m, &st) != MH_OK) {
        send_error(reply, st.code, st.text);
        goto done;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "deviceId", m.device_id);
    cJSON_AddStringToObject(out, "messageId", m.message_id);
    cJSON_AddStringToObject(out, "ack", mh_c2d_ack_name(m.ack));
    send_json(reply, 200, out);
done:
    free(m.props_json);
    cJSON_Delete(doc);
}
