/* mh_method.c - direct methods end to end: HTTPS POST /twins/{id}/methods -> hub -> broker -> a C
 * responder device over TLS (MQTT 3.1.1, SAS, clean session off, TCP_NODELAY) -> reply -> HTTP 200.
 * Sequential latency on one keep-alive connection, then --concurrency callers spread round-robin over
 * all --devices connected devices.
 *
 * usage: mh_method --data=HUB_DATA_DIR [--devices=1000] [--seq=3000] [--seconds=5] [--concurrency=64]
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_hub.h"
#include "mb_stats.h"

static mb_hub g_hub;
static mb_device *g_devs;
static long g_ndev;
static atomic_int g_phase; /* 0 connecting, 1 ready, -1 failed; main sets 2 to stop */
static atomic_long g_ready;
static atomic_long g_resp_errors, g_answered;

/* $iothub/methods/POST/{name}/?$rid={rid} -> $iothub/methods/res/200/?$rid={rid}, payload echoed */
static void on_method(mb_client *c, const struct mosquitto_message *m)
{
    const char *rid = strstr(m->topic, "$rid=");
    if (strncmp(m->topic, "$iothub/methods/POST/", 21) != 0 || !rid) {
        atomic_fetch_add(&g_resp_errors, 1);
        return;
    }
    char topic[128];
    snprintf(topic, sizeof topic, "$iothub/methods/res/200/?%s", rid);
    if (mb_client_publish(c, topic, m->payloadlen, m->payload, 0) != MOSQ_ERR_SUCCESS)
        atomic_fetch_add(&g_resp_errors, 1);
    else
        atomic_fetch_add(&g_answered, 1);
}

static void *devices_thread(void *arg)
{
    (void)arg;
    mb_loop *l = mb_loop_new();
    mb_client **clients = calloc((size_t)g_ndev, sizeof *clients);
    if (!l || !clients)
        mb_die("oom");
    static const char *const subs[] = {"$iothub/methods/POST/#", NULL};
    double wall = 0;
    long ready =
        mb_hub_connect_all(l, &g_hub, g_devs, g_ndev, 64, subs, on_method, NULL, 120, clients, NULL, &wall);
    atomic_store(&g_ready, ready);
    atomic_store(&g_phase, ready == g_ndev ? 1 : -1);
    while (atomic_load(&g_phase) != 2)
        mb_loop_poll(l, 20);
    mb_loop_stats st;
    mb_loop_get_stats(l, &st);
    if (st.lost)
        fprintf(stderr, "bench: %ld responder devices lost their connection during the run\n", st.lost);
    atomic_fetch_add(&g_resp_errors, st.lost);
    mb_loop_free(l);
    free(clients);
    return NULL;
}

typedef struct call_ctx {
    long next;  /* call counter */
    long limit; /* stop after this many (0 = none) */
    long errors;
    long ok;
    mb_samples lat;
    char body[256][160]; /* one per request in flight (at most 256) */
    char last_error[400];
} call_ctx;

static void fill_call(call_ctx *c, mb_http_req *req, int slot)
{
    long i = c->next++;
    const char *id = g_devs[i % g_ndev].id;
    req->method = "POST";
    snprintf(req->path, sizeof req->path, "/twins/%s/methods?" MB_API, id);
    char *b = c->body[slot % 256];
    snprintf(b, sizeof c->body[0],
             "{\"methodName\":\"bench\",\"responseTimeoutInSeconds\":30,\"payload\":{\"i\":%ld}}", i);
    req->body = b;
    req->body_len = strlen(b);
    req->tag = i;
}

static int call_next(void *ud, mb_http_req *req)
{
    call_ctx *c = ud;
    if (c->limit && c->next >= c->limit)
        return 0;
    fill_call(c, req, (int)(c->next % 256));
    return 1;
}

/* A call succeeds when HTTP 200 carries {"status":200,"payload":{"i":<the same i>}}. */
static int check_reply(const mb_http_req *req, const mb_http_resp *resp)
{
    if (resp->status != 200)
        return 0;
    cJSON *doc = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "status");
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(doc, "payload");
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(pl, "i");
    int ok =
        cJSON_IsNumber(st) && st->valueint == 200 && cJSON_IsNumber(i) && (long)i->valuedouble == req->tag;
    cJSON_Delete(doc);
    return ok;
}

static void call_done(void *ud, const mb_http_req *req, const mb_http_resp *resp)
{
    call_ctx *c = ud;
    if (check_reply(req, resp)) {
        c->ok++;
        mb_samples_add(&c->lat, resp->latency_ns);
        return;
    }
    if (c->errors++ < 5 || !c->last_error[0])
        fprintf(stderr, "bench: method call %ld: HTTP %ld %.200s\n", req->tag, resp->status,
                resp->status ? resp->body : resp->error);
    snprintf(c->last_error, sizeof c->last_error, "HTTP %ld %.300s", resp->status,
             resp->status ? resp->body : resp->error);
}

/* Warm-up: one call per device, retried while the hub may not have seen the subscription yet. */
typedef struct warm_ctx {
    long next, n;
    char *ok;
    long ok_count;
    char body[64][160];
} warm_ctx;

static int warm_next(void *ud, mb_http_req *req)
{
    warm_ctx *w = ud;
    while (w->next < w->n && w->ok[w->next])
        w->next++;
    if (w->next >= w->n)
        return 0;
    long i = w->next++;
    req->method = "POST";
    snprintf(req->path, sizeof req->path, "/twins/%s/methods?" MB_API, g_devs[i].id);
    char *b = w->body[i % 64];
    snprintf(b, sizeof w->body[0],
             "{\"methodName\":\"warmup\",\"responseTimeoutInSeconds\":10,\"payload\":{\"i\":%ld}}", i);
    req->body = b;
    req->body_len = strlen(b);
    req->tag = i;
    return 1;
}

static void warm_done(void *ud, const mb_http_req *req, const mb_http_resp *resp)
{
    warm_ctx *w = ud;
    if (check_reply(req, resp)) {
        w->ok[req->tag] = 1;
        w->ok_count++;
    }
}

int main(int argc, char **argv)
{
    mb_hub_init(&g_hub, argc, argv);
    g_ndev = mb_arg_long(argc, argv, "devices", 1000);
    long nseq = mb_arg_long(argc, argv, "seq", 3000);
    double seconds = mb_arg_double(argc, argv, "seconds", 5);
    int conc = (int)mb_arg_long(argc, argv, "concurrency", 64);
    if (conc < 1 || conc > 256)
        mb_die("--concurrency must be 1..256");
    long errors = 0;
    g_devs = calloc((size_t)g_ndev, sizeof *g_devs);
    if (!g_devs)
        mb_die("oom");
    long reg = mb_hub_register(&g_hub, "bm", 0, g_ndev, 64, g_devs, NULL, &errors);
    if (reg != g_ndev)
        mb_die("only %ld of %ld method devices registered", reg, g_ndev);

    pthread_t th;
    if (pthread_create(&th, NULL, devices_thread, NULL) != 0)
        mb_die("thread");
    while (atomic_load(&g_phase) == 0) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&g_phase) < 0) {
        atomic_store(&g_phase, 2);
        pthread_join(th, NULL);
        mb_die("only %ld of %ld method devices connected", atomic_load(&g_ready), g_ndev);
    }

    /* warm-up: every device answers once (hub has its subscription; TLS sessions and caches warm) */
    warm_ctx w = {.n = g_ndev, .ok = calloc((size_t)g_ndev, 1)};
    if (!w.ok)
        mb_die("oom");
    mb_http *h = mb_http_new(g_hub.base, g_hub.cafile, g_hub.svc_auth, conc);
    if (!h)
        mb_die("curl");
    uint64_t wend = mb_now_ns() + 10000000000u;
    while (w.ok_count < g_ndev && mb_now_ns() < wend) {
        w.next = 0;
        mb_http_run(h, warm_next, warm_done, &w, wend);
        if (w.ok_count < g_ndev) {
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
        }
    }
    if (w.ok_count < g_ndev) {
        fprintf(stderr, "bench: %ld of %ld devices never answered a warm-up method call within 10 s\n",
                g_ndev - w.ok_count, g_ndev);
        errors += g_ndev - w.ok_count;
    }
    free(w.ok);

    /* sequential, one keep-alive connection */
    call_ctx *c = calloc(1, sizeof *c);
    if (!c)
        mb_die("oom");
    mb_http *h1 = mb_http_new(g_hub.base, g_hub.cafile, g_hub.svc_auth, 1);
    mb_phase ph;
    mb_phase_begin(&ph, g_hub.pid);
    for (long i = 0; i < nseq; i++) {
        mb_http_req req = {0};
        fill_call(c, &req, 0);
        mb_http_resp resp;
        mb_http_once(h1, &req, &resp);
        call_done(c, &req, &resp);
    }
    mb_http_free(h1);
    mb_result r;
    mb_result_init(&r, "method_seq", "direct method HTTPS->device->HTTPS, sequential");
    double wall = mb_phase_end(&ph, &r, (double)c->ok);
    mb_result_set_latency(&r, &c->lat);
    r.throughput = (double)c->ok / wall;
    r.unit = "calls/s";
    r.errors = c->errors + errors;
    char note[200];
    snprintf(note, sizeof note, "%ld devices connected, round-robin; one keep-alive HTTPS connection",
             g_ndev);
    r.note = note;
    mb_result_emit(&r);
    long seq_errors = c->errors;
    mb_samples_free(&c->lat);

    /* concurrent */
    memset(c, 0, sizeof *c);
    mb_phase_begin(&ph, g_hub.pid);
    long answered0 = atomic_load(&g_answered);
    mb_http_run(h, call_next, call_done, c, ph.t0 + (uint64_t)(seconds * 1e9));
    mb_http_free(h);
    char key[32], label[96];
    snprintf(key, sizeof key, "method_c%d", conc);
    snprintf(label, sizeof label, "direct method, %d concurrent callers, %ld devices", conc, g_ndev);
    mb_result_init(&r, key, label);
    wall = mb_phase_end(&ph, &r, (double)c->ok);
    mb_result_set_latency(&r, &c->lat);
    r.throughput = (double)c->ok / wall;
    r.unit = "calls/s";
    r.errors = c->errors;
    snprintf(note, sizeof note, "%d keep-alive HTTPS connections (libcurl multi); responders answered %ld",
             conc, atomic_load(&g_answered) - answered0);
    r.note = note;
    mb_result_emit(&r);
    long c_errors = c->errors;
    mb_samples_free(&c->lat);
    free(c);

    atomic_store(&g_phase, 2);
    pthread_join(th, NULL);
    long resp_errors = atomic_load(&g_resp_errors);
    if (resp_errors)
        fprintf(stderr, "bench: %ld responder-side errors\n", resp_errors);
    SSL_CTX_free(g_hub.tls);
    free(g_devs);
    return (errors || seq_errors || c_errors || resp_errors) ? 1 : 0;
}
