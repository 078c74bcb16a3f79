/* mh_floor.c - the physical floor: a bare MQTT request/response round trip through Mosquitto with no
 * hub logic. A requester publishes, a responder (its own thread and connection) answers, the requester
 * receives; sequential, then with --window outstanding. QoS 0 and TCP_NODELAY, like the method path.
 *
 * usage: mh_floor --port=P [--host=127.0.0.1] [--cafile=ca.pem] [--prefix=floor_tls] [--seq=N]
 *                 [--window=64] [--seconds=S]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_mqtt.h"
#include "mb_stats.h"

typedef struct req_msg {
    uint64_t seq;
    uint64_t sent_ns;
    char pad[16]; /* 32-byte payload, about a small method request */
} req_msg;

static const char *g_host;
static int g_port;
static SSL_CTX *g_tls;
static atomic_int g_stop;
static atomic_int g_resp_ready;
static atomic_long g_resp_errors;

static void resp_on_msg(mb_client *c, const struct mosquitto_message *m)
{
    /* bench/req/<n> -> bench/res/<n> */
    char topic[128];
    const char *tail = strrchr(m->topic, '/');
    snprintf(topic, sizeof topic, "bench/res%s", tail ? tail : "/x");
    if (mb_client_publish(c, topic, m->payloadlen, m->payload, 0) != MOSQ_ERR_SUCCESS)
        atomic_fetch_add(&g_resp_errors, 1);
}

static void *responder(void *arg)
{
    (void)arg;
    mb_loop *l = mb_loop_new();
    if (!l)
        mb_die("responder loop");
    mb_client_cfg cfg = {.host = g_host,
                         .port = g_port,
                         .ssl_ctx = g_tls,
                         .id = "floor-responder",
                         .clean_session = 1,
                         .subs = {"bench/req/#"},
                         .sub_qos = 0};
    int rc = 0;
    mb_client *c = mb_client_start(l, &cfg, resp_on_msg, NULL, NULL, &rc);
    if (!c)
        mb_die("responder connect: %s", mosquitto_strerror(rc));
    while (!atomic_load(&g_stop)) {
        mb_loop_poll(l, 50);
        mb_client_state st = mb_client_get_state(c);
        if (st == MB_C_READY)
            atomic_store(&g_resp_ready, 1);
        if (st == MB_C_FAILED || st == MB_C_LOST) {
            atomic_store(&g_resp_ready, -1);
            break;
        }
    }
    mb_loop_free(l);
    return NULL;
}

/* requester state, only touched by the main thread */
static mb_samples g_lat;
static uint64_t g_received, g_sent;
static uint64_t g_expect_seq; /* sequential mode: the seq awaited */
static int g_window_mode;
static uint64_t g_measure_from; /* seq of the first measured request */

static void req_on_msg(mb_client *c, const struct mosquitto_message *m)
{
    (void)c;
    if (m->payloadlen != (int)sizeof(req_msg))
        return;
    req_msg r;
    memcpy(&r, m->payload, sizeof r);
    uint64_t now = mb_now_ns();
    g_received++;
    if (r.seq >= g_measure_from)
        mb_samples_add(&g_lat, now - r.sent_ns);
    if (!g_window_mode && r.seq == g_expect_seq)
        g_expect_seq++;
}

static int send_req(mb_client *c, uint64_t seq)
{
    req_msg r = {.seq = seq, .sent_ns = mb_now_ns()};
    memset(r.pad, 'x', sizeof r.pad);
    char topic[64];
    snprintf(topic, sizeof topic, "bench/req/%" PRIu64, seq);
    g_sent++;
    return mb_client_publish(c, topic, (int)sizeof r, &r, 0);
}

int main(int argc, char **argv)
{
    g_host = mb_arg(argc, argv, "host", "127.0.0.1");
    g_port = (int)mb_arg_long(argc, argv, "port", 1883);
    const char *cafile = mb_arg(argc, argv, "cafile", NULL);
    const char *prefix = mb_arg(argc, argv, "prefix", cafile ? "floor_tls" : "floor_tcp");
    long nseq = mb_arg_long(argc, argv, "seq", 5000);
    long window = mb_arg_long(argc, argv, "window", 64);
    double seconds = mb_arg_double(argc, argv, "seconds", 3.0);
    int server_pid = (int)mb_arg_long(argc, argv, "server-pid", 0);
    mb_phase ph;
    if (cafile && !(g_tls = mb_tls_ctx_new(cafile)))
        mb_die("cannot load CA %s", cafile);
    if (cafile && strcmp(g_host, "127.0.0.1") == 0)
        g_host = "localhost"; /* name in the certificate */

    pthread_t th;
    if (pthread_create(&th, NULL, responder, NULL) != 0)
        mb_die("thread");
    mb_loop *l = mb_loop_new();
    mb_client_cfg cfg = {.host = g_host,
                         .port = g_port,
                         .ssl_ctx = g_tls,
                         .id = "floor-requester",
                         .clean_session = 1,
                         .subs = {"bench/res/#"},
                         .sub_qos = 0};
    int rc = 0;
    mb_client *c = mb_client_start(l, &cfg, req_on_msg, NULL, NULL, &rc);
    if (!c)
        mb_die("requester connect: %s", mosquitto_strerror(rc));
    uint64_t t0 = mb_now_ns();
    while (mb_client_get_state(c) != MB_C_READY || atomic_load(&g_resp_ready) != 1) {
        if (mb_client_get_state(c) == MB_C_FAILED || atomic_load(&g_resp_ready) < 0)
            mb_die("floor clients could not connect to %s:%d (rc %d)", g_host, g_port,
                   mb_client_connack_rc(c));
        if (mb_now_ns() - t0 > 10000000000u)
            mb_die("floor clients: connect timeout");
        mb_loop_poll(l, 20);
    }

    /* sequential: warm up 200, then nseq measured */
    long errors = 0;
    uint64_t seq = 0;
    g_measure_from = 200;
    for (long i = 0; i < nseq + 200; i++) {
        if (i == 200)
            mb_phase_begin(&ph, server_pid);
        g_expect_seq = seq;
        if (send_req(c, seq) != MOSQ_ERR_SUCCESS)
            errors++;
        uint64_t deadline = mb_now_ns() + 2000000000u;
        while (g_expect_seq == seq && mb_now_ns() < deadline)
            mb_loop_poll(l, 10);
        if (g_expect_seq == seq)
            errors++; /* lost: give up on it */
        seq++;
    }
    mb_result r;
    char key[64], label[128];
    snprintf(key, sizeof key, "%s_seq", prefix);
    snprintf(label, sizeof label, "floor %s: MQTT round trip, sequential", cafile ? "TLS" : "TCP");
    mb_result_init(&r, key, label);
    double wall = mb_phase_end(&ph, &r, (double)g_lat.n);
    mb_result_set_latency(&r, &g_lat);
    r.throughput = (double)g_lat.n / wall;
    r.unit = "round trips/s";
    r.errors = errors;
    r.note = "QoS 0, bare mosquitto, no plugin, TCP_NODELAY";
    mb_result_emit(&r);
    mb_samples_free(&g_lat);

    /* windowed: `window` outstanding for `seconds` */
    g_window_mode = 1;
    g_received = 0;
    g_sent = 0;
    g_measure_from = seq;
    errors = 0;
    mb_phase_begin(&ph, server_pid);
    uint64_t start = ph.t0;
    uint64_t end = start + (uint64_t)(seconds * 1e9);
    for (long i = 0; i < window; i++)
        if (send_req(c, seq++) != MOSQ_ERR_SUCCESS)
            errors++;
    uint64_t last_recv = 0;
    while (mb_now_ns() < end) {
        last_recv = g_received;
        mb_loop_poll(l, 10);
        for (uint64_t k = last_recv; k < g_received && mb_now_ns() < end; k++)
            if (send_req(c, seq++) != MOSQ_ERR_SUCCESS)
                errors++;
    }
    uint64_t done_ns = mb_now_ns();
    uint64_t in_window = g_received;
    mb_result_init(&r, "", "");
    mb_phase_end(&ph, &r, (double)in_window);
    double srv_cpu = r.server_cpu, srv_op = r.server_us_per_op, cli_cpu = r.client_cpu;
    uint64_t drain_deadline = done_ns + 2000000000u;
    while (g_received < g_sent && mb_now_ns() < drain_deadline)
        mb_loop_poll(l, 10);
    errors += (long)(g_sent - g_received);
    wall = (double)(done_ns - start) / 1e9;
    snprintf(key, sizeof key, "%s_w%ld", prefix, window);
    snprintf(label, sizeof label, "floor %s: MQTT round trip, %ld outstanding", cafile ? "TLS" : "TCP",
             window);
    mb_result_init(&r, key, label);
    mb_result_set_latency(&r, &g_lat);
    r.throughput = (double)in_window / wall;
    r.unit = "round trips/s";
    r.errors = errors;
    r.client_cpu = cli_cpu;
    r.server_cpu = srv_cpu;
    r.server_us_per_op = srv_op;
    r.note = "QoS 0, one requester, one responder";
    mb_result_emit(&r);
    mb_samples_free(&g_lat);

    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    mb_loop_free(l);
    if (g_tls)
        SSL_CTX_free(g_tls);
    return (errors || atomic_load(&g_resp_errors)) ? 1 : 0;
}
