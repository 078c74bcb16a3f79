/* mh_twin.c - device twins under load: reported-property patches from devices per second (counted
 * when the hub's 204 reply arrives, i.e. stored), desired-property PATCH over REST until the device
 * receives the push (latency), and GET /twins/{id} per second.
 *
 * usage: mh_twin --data=HUB_DATA_DIR [--devices=64] [--window=4] [--seconds=5] [--desired=1000]
 *                [--concurrency=64]
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_hub.h"
#include "mb_stats.h"

#define RING (1u << 16)

enum { PH_CONNECT, PH_READY, PH_REPORTED, PH_REPORTED_DONE, PH_DESIRED, PH_STOP, PH_FAILED };

static mb_hub g_hub;
static mb_device *g_devs;
static mb_client **g_clients;
static long g_ndev, g_window;
static double g_seconds;
static atomic_int g_phase;

/* reported phase: device thread only, then read by main after PH_REPORTED_DONE */
static uint64_t g_rid, g_acked, g_sent_total, g_rep_errors;
static uint64_t g_sent_ns[RING];
static mb_samples g_rep_lat;
static double g_rep_wall;
static mb_result g_rep_r; /* CPU figures of the reported phase */
static int g_rep_running;
static char g_rep_last_error[200];

/* desired phase: main writes g_want, device thread writes g_got_ns when the push with bench=g_want
 * arrives */
static atomic_long g_want = -1;
static atomic_ullong g_got_ns;
static atomic_long g_unexpected;

static void send_reported(mb_client *c)
{
    uint64_t rid = ++g_rid;
    char topic[96], payload[96];
    snprintf(topic, sizeof topic, "$iothub/twin/PATCH/properties/reported/?$rid=%llu",
             (unsigned long long)rid);
    int n =
        snprintf(payload, sizeof payload, "{\"bench\":{\"seq\":%llu,\"ok\":true}}", (unsigned long long)rid);
    g_sent_ns[rid % RING] = mb_now_ns();
    g_sent_total++;
    if (mb_client_publish(c, topic, n, payload, 0) != MOSQ_ERR_SUCCESS)
        g_rep_errors++;
}

static void on_msg(mb_client *c, const struct mosquitto_message *m)
{
    static const char res[] = "$iothub/twin/res/";
    static const char push[] = "$iothub/twin/PATCH/properties/desired/";
    if (strncmp(m->topic, res, sizeof res - 1) == 0) {
        int status = atoi(m->topic + sizeof res - 1);
        const char *r = strstr(m->topic, "$rid=");
        unsigned long long rid = r ? strtoull(r + 5, NULL, 10) : 0;
        if (status != 204) {
            g_rep_errors++;
            snprintf(g_rep_last_error, sizeof g_rep_last_error, "%s %.*s", m->topic,
                     m->payloadlen > 100 ? 100 : m->payloadlen, (const char *)m->payload);
        } else {
            g_acked++;
            if (rid && g_rid - rid < RING)
                mb_samples_add(&g_rep_lat, mb_now_ns() - g_sent_ns[rid % RING]);
        }
        if (g_rep_running)
            send_reported(c); /* keep the window full */
        return;
    }
    if (strncmp(m->topic, push, sizeof push - 1) == 0) {
        uint64_t now = mb_now_ns();
        cJSON *doc = cJSON_ParseWithLength(m->payload, (size_t)m->payloadlen);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, "bench");
        if (cJSON_IsNumber(b) && (long)b->valuedouble == atomic_load(&g_want))
            atomic_store(&g_got_ns, now);
        else
            atomic_fetch_add(&g_unexpected, 1);
        cJSON_Delete(doc);
        return;
    }
    atomic_fetch_add(&g_unexpected, 1);
}

static void reported_phase(mb_loop *l)
{
    g_rep_running = 1;
    mb_phase ph;
    mb_phase_begin(&ph, g_hub.pid);
    uint64_t end = ph.t0 + (uint64_t)(g_seconds * 1e9);
    for (long w = 0; w < g_window; w++)
        for (long i = 0; i < g_ndev; i++)
            send_reported(g_clients[i]);
    while (mb_now_ns() < end)
        mb_loop_poll(l, 10);
    g_rep_running = 0;
    uint64_t acked_in_window = g_acked;
    mb_result_init(&g_rep_r, "", "");
    g_rep_wall = mb_phase_end(&ph, &g_rep_r, (double)acked_in_window);
    uint64_t drain = mb_now_ns() + 5000000000u;
    while (g_acked + g_rep_errors < g_sent_total && mb_now_ns() < drain)
        mb_loop_poll(l, 10);
    if (g_acked + g_rep_errors < g_sent_total) {
        fprintf(stderr, "bench: %llu reported patches never got a reply within 5 s\n",
                (unsigned long long)(g_sent_total - g_acked - g_rep_errors));
        g_rep_errors += g_sent_total - g_acked - g_rep_errors;
    }
    g_acked = acked_in_window;
}

static void *devices_thread(void *arg)
{
    (void)arg;
    mb_loop *l = mb_loop_new();
    if (!l)
        mb_die("oom");
    static const char *const subs[] = {"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", NULL};
    double wall;
    long ready =
        mb_hub_connect_all(l, &g_hub, g_devs, g_ndev, 64, subs, on_msg, NULL, 60, g_clients, NULL, &wall);
    atomic_store(&g_phase, ready == g_ndev ? PH_READY : PH_FAILED);
    for (;;) {
        int ph = atomic_load(&g_phase);
        if (ph == PH_STOP || ph == PH_FAILED)
            break;
        if (ph == PH_REPORTED) {
            reported_phase(l);
            atomic_store(&g_phase, PH_REPORTED_DONE);
            continue;
        }
        mb_loop_poll(l, 5);
    }
    mb_loop_stats st;
    mb_loop_get_stats(l, &st);
    if (st.lost) {
        fprintf(stderr, "bench: %ld twin devices lost their connection\n", st.lost);
        atomic_fetch_add(&g_unexpected, st.lost);
    }
    mb_loop_free(l);
    return NULL;
}

static void wait_phase(int ph)
{
    while (atomic_load(&g_phase) != ph && atomic_load(&g_phase) != PH_FAILED) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

typedef struct get_ctx {
    long next, ok, errors, limit;
    mb_samples lat;
} get_ctx;

static int get_next(void *ud, mb_http_req *req)
{
    get_ctx *g = ud;
    if (g->limit && g->next >= g->limit)
        return 0;
    long i = g->next++;
    req->method = "GET";
    snprintf(req->path, sizeof req->path, "/twins/%s?" MB_API, g_devs[i % g_ndev].id);
    return 1;
}

static void get_done(void *ud, const mb_http_req *req, const mb_http_resp *resp)
{
    (void)req;
    get_ctx *g = ud;
    if (resp->status == 200 && strstr(resp->body, "\"deviceId\"")) {
        g->ok++;
        mb_samples_add(&g->lat, resp->latency_ns);
    } else if (g->errors++ < 5) {
        fprintf(stderr, "bench: GET twin: HTTP %ld %.200s\n", resp->status,
                resp->status ? resp->body : resp->error);
    }
}

int main(int argc, char **argv)
{
    mb_hub_init(&g_hub, argc, argv);
    g_ndev = mb_arg_long(argc, argv, "devices", 64);
    g_window = mb_arg_long(argc, argv, "window", 4);
    g_seconds = mb_arg_double(argc, argv, "seconds", 5);
    long ndesired = mb_arg_long(argc, argv, "desired", 1000);
    int conc = (int)mb_arg_long(argc, argv, "concurrency", 64);
    long setup_errors = 0, total_errors = 0;
    g_devs = calloc((size_t)g_ndev, sizeof *g_devs);
    g_clients = calloc((size_t)g_ndev, sizeof *g_clients);
    if (!g_devs || !g_clients)
        mb_die("oom");
    if (mb_hub_register(&g_hub, "bt", 0, g_ndev, 64, g_devs, NULL, &setup_errors) != g_ndev)
        mb_die("twin devices could not be registered");
    pthread_t th;
    if (pthread_create(&th, NULL, devices_thread, NULL) != 0)
        mb_die("thread");
    wait_phase(PH_READY);
    if (atomic_load(&g_phase) == PH_FAILED) {
        pthread_join(th, NULL);
        mb_die("twin devices could not connect");
    }

    /* 1. reported patches */
    atomic_store(&g_phase, PH_REPORTED);
    wait_phase(PH_REPORTED_DONE);
    mb_result r;
    char note[400];
    mb_result_init(&r, "twin_reported", "twin: reported patches from devices, acked 204");
    mb_result_set_latency(&r, &g_rep_lat);
    r.n = g_acked;
    r.throughput = (double)g_acked / g_rep_wall;
    r.unit = "patches/s";
    r.errors = (long)g_rep_errors;
    r.client_cpu = g_rep_r.client_cpu;
    r.server_cpu = g_rep_r.server_cpu;
    r.server_us_per_op = g_rep_r.server_us_per_op;
    snprintf(note, sizeof note, "%ld devices x %ld outstanding, QoS 0%s%s", g_ndev, g_window,
             g_rep_last_error[0] ? "; last error: " : "", g_rep_last_error);
    r.note = note;
    mb_result_emit(&r);
    total_errors += r.errors;
    mb_samples_free(&g_rep_lat);

    /* 2. desired PATCH -> push, sequential */
    atomic_store(&g_phase, PH_DESIRED);
    mb_http *h1 = mb_http_new(g_hub.base, g_hub.cafile, g_hub.svc_auth, 1);
    mb_samples push = {0}, rest = {0};
    long derr = 0;
    mb_phase ph;
    mb_phase_begin(&ph, g_hub.pid);
    for (long k = 1; k <= ndesired; k++) {
        const mb_device *d = &g_devs[k % g_ndev];
        char body[96];
        snprintf(body, sizeof body, "{\"properties\":{\"desired\":{\"bench\":%ld}}}", k);
        mb_http_req req = {.method = "PATCH", .body = body, .body_len = strlen(body)};
        snprintf(req.path, sizeof req.path, "/twins/%s?" MB_API, d->id);
        atomic_store(&g_got_ns, 0);
        atomic_store(&g_want, k);
        uint64_t s = mb_now_ns();
        mb_http_resp resp;
        if (mb_http_once(h1, &req, &resp) != 200) {
            if (derr++ < 5)
                fprintf(stderr, "bench: PATCH twin: HTTP %ld %.200s\n", resp.status,
                        resp.status ? resp.body : resp.error);
            continue;
        }
        mb_samples_add(&rest, resp.latency_ns);
        uint64_t deadline = s + 5000000000u;
        while (atomic_load(&g_got_ns) == 0 && mb_now_ns() < deadline) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
        uint64_t got = atomic_load(&g_got_ns);
        if (got == 0) {
            if (derr++ < 5)
                fprintf(stderr, "bench: desired push for bench=%ld never reached %s\n", k, d->id);
            continue;
        }
        mb_samples_add(&push, got - s);
    }
    mb_summary rs;
    mb_samples_summarize(&rest, &rs);
    mb_result_init(&r, "twin_desired", "twin: desired PATCH via REST until device has it");
    double wall = mb_phase_end(&ph, &r, (double)push.n);
    mb_result_set_latency(&r, &push);
    r.throughput = (double)push.n / wall;
    r.unit = "patches/s";
    r.errors = derr;
    snprintf(note, sizeof note, "sequential; the REST PATCH alone: median %.0f us, p99 %.0f us", rs.median_us,
             rs.p99_us);
    r.note = note;
    mb_result_emit(&r);
    total_errors += derr;
    mb_samples_free(&push);
    mb_samples_free(&rest);
    mb_http_free(h1);

    /* 3. GET /twins/{id} */
    get_ctx *g = calloc(1, sizeof *g);
    mb_http *h = mb_http_new(g_hub.base, g_hub.cafile, g_hub.svc_auth, conc);
    if (!g || !h)
        mb_die("oom");
    g->limit = 2L * conc; /* warm-up: open the keep-alive connections (TLS handshakes) first */
    mb_http_run(h, get_next, get_done, g, 0);
    long warm_errors = g->errors;
    mb_samples_free(&g->lat);
    memset(g, 0, sizeof *g);
    g->errors = warm_errors;
    mb_phase_begin(&ph, g_hub.pid);
    mb_http_run(h, get_next, get_done, g, ph.t0 + (uint64_t)(g_seconds * 1e9));
    char label[96];
    snprintf(label, sizeof label, "twin: GET /twins/{id}, %d concurrent", conc);
    mb_result_init(&r, "twin_get", label);
    wall = mb_phase_end(&ph, &r, (double)g->ok);
    mb_result_set_latency(&r, &g->lat);
    r.throughput = (double)g->ok / wall;
    r.unit = "reads/s";
    r.errors = g->errors;
    snprintf(note, sizeof note, "%d keep-alive HTTPS connections over %ld twins", conc, g_ndev);
    r.note = note;
    mb_result_emit(&r);
    total_errors += g->errors;
    mb_samples_free(&g->lat);
    free(g);
    mb_http_free(h);

    atomic_store(&g_phase, PH_STOP);
    pthread_join(th, NULL);
    long unexpected = atomic_load(&g_unexpected);
    if (unexpected)
        fprintf(stderr, "bench: %ld unexpected device messages or lost connections\n", unexpected);
    SSL_CTX_free(g_hub.tls);
    return (total_errors || setup_errors || unexpected) ? 1 : 0;
}
