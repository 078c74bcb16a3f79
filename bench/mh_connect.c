/* mh_connect.c - device connections at scale: TLS + SAS connects per second (start -> CONNACK, 64
 * handshakes in flight), then the resident memory of broker + daemon with all --devices connected,
 * then one reported patch per device (rebootTime, fwVersion; also the reported data the query bench
 * searches). The devices are spread over worker processes because the open-file limit is per process
 * (libmosquitto uses 3 fds per client).
 *
 * usage: mh_connect --data=HUB_DATA_DIR --hub-pid=PID [--devices=10000] [--inflight=64] [--per-worker=4000]
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mb_hub.h"
#include "mb_stats.h"

static mb_hub g_hub;

/* ---- /proc: RSS of the hub process and its descendants (the broker) ---- */

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

typedef struct proc_mem {
    long daemon_kib, broker_kib; /* broker = all descendants */
} proc_mem;

static void hub_memory(int hub_pid, proc_mem *out)
{
    out->daemon_kib = rss_kib(hub_pid);
    out->broker_kib = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pid = atoi(e->d_name);
        for (int p = mb_proc_parent(pid), hops = 0; p > 1 && hops < 8; p = mb_proc_parent(p), hops++) {
            if (p == hub_pid) {
                long k = rss_kib(pid);
                if (k > 0)
                    out->broker_kib += k;
                break;
            }
        }
    }
    if (d)
        closedir(d);
}

/* ---- worker process ---- */

typedef struct worker_report {
    long ready, failed;
    uint64_t first_ns, last_ns;
    long nlat;
    double cpu_s; /* the worker's CPU over the phase */
} worker_report;

typedef struct rep_report {
    long acked, errors;
    uint64_t first_ns, last_ns;
    double cpu_s;
} rep_report;

static long g_acked, g_rep_errors;
static char g_last_error[200];

static void on_msg(mb_client *c, const struct mosquitto_message *m)
{
    (void)c;
    static const char res[] = "$iothub/twin/res/";
    if (strncmp(m->topic, res, sizeof res - 1) != 0)
        return;
    if (atoi(m->topic + sizeof res - 1) == 204) {
        g_acked++;
    } else {
        g_rep_errors++;
        snprintf(g_last_error, sizeof g_last_error, "%s", m->topic);
    }
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Waits for one command byte while keeping the connections serviced. */
static char wait_cmd(mb_loop *l, int fd)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1) {
            char c = 'q';
            if (read(fd, &c, 1) != 1)
                return 'q';
            return c;
        }
        mb_loop_poll(l, 10);
    }
}

static void iso_time(long i, char *out, size_t n)
{
    time_t t = 1704067200 + i; /* 2024-01-01T00:00:00Z + i s */
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void worker(mb_device *devs, long from, long n, int inflight, int cmd_fd, int res_fd)
{
    mb_loop *l = mb_loop_new();
    mb_client **clients = calloc((size_t)n, sizeof *clients);
    mb_samples lat = {0};
    if (!l || !clients)
        _exit(3);
    static const char *const subs[] = {"$iothub/methods/POST/#", "$iothub/twin/res/#", NULL};
    if (wait_cmd(l, cmd_fd) != 'c')
        _exit(0);
    uint64_t t0 = mb_now_ns();
    double wall = 0, cpu0 = mb_cpu_s();
    worker_report wr = {0};
    wr.ready = mb_hub_connect_all(l, &g_hub, devs + from, n, inflight, subs, on_msg, NULL, 300, clients, &lat,
                                  &wall);
    wr.failed = n - wr.ready;
    wr.first_ns = t0;
    wr.last_ns = t0 + (uint64_t)(wall * 1e9);
    wr.nlat = (long)lat.n;
    wr.cpu_s = mb_cpu_s() - cpu0;
    if (write_all(res_fd, &wr, sizeof wr) || write_all(res_fd, lat.v, lat.n * sizeof lat.v[0]))
        _exit(4);
    mb_samples_free(&lat);

    char c = wait_cmd(l, cmd_fd);
    if (c == 'r') {
        rep_report rr = {.first_ns = mb_now_ns(), .cpu_s = mb_cpu_s()};
        long sent = 0;
        for (long i = 0; i < n; i++) {
            if (!clients[i] || mb_client_get_state(clients[i]) != MB_C_READY)
                continue;
            char topic[96], payload[160], when[32];
            iso_time(from + i, when, sizeof when);
            snprintf(topic, sizeof topic, "$iothub/twin/PATCH/properties/reported/?$rid=%ld", i + 1);
            int len = snprintf(payload, sizeof payload, "{\"rebootTime\":\"%s\",\"fwVersion\":\"1.0.%ld\"}",
                               when, (from + i) % 4);
            if (mb_client_publish(clients[i], topic, len, payload, 0) == MOSQ_ERR_SUCCESS)
                sent++;
            else
                g_rep_errors++;
            if (i % 64 == 63)
                mb_loop_poll(l, 0);
        }
        uint64_t deadline = mb_now_ns() + 60000000000u;
        while (g_acked + g_rep_errors < sent && mb_now_ns() < deadline)
            mb_loop_poll(l, 10);
        rr.last_ns = mb_now_ns();
        rr.acked = g_acked;
        rr.cpu_s = mb_cpu_s() - rr.cpu_s;
        rr.errors = g_rep_errors + (sent - g_acked - g_rep_errors);
        if (g_last_error[0])
            fprintf(stderr, "bench: worker: last twin error reply: %s\n", g_last_error);
        if (write_all(res_fd, &rr, sizeof rr))
            _exit(4);
        c = wait_cmd(l, cmd_fd);
    }
    mb_loop_stats st;
    mb_loop_get_stats(l, &st);
    if (st.lost)
        fprintf(stderr, "bench: worker: %ld devices lost their connection while connected\n", st.lost);
    mb_loop_free(l);
    _exit(st.lost ? 1 : 0);
}

/* ---- parent ---- */

static long health_connected(void)
{
    mb_http *h = mb_http_new(g_hub.base, g_hub.cafile, NULL, 1);
    mb_http_req req = {.method = "GET"};
    snprintf(req.path, sizeof req.path, "/health");
    mb_http_resp resp;
    long n = -1;
    if (h && mb_http_once(h, &req, &resp) == 200) {
        const char *p = strstr(resp.body, "\"connectedDevices\":");
        if (p)
            n = strtol(p + 19, NULL, 10);
    }
    mb_http_free(h);
    return n;
}

int main(int argc, char **argv)
{
    mb_hub_init(&g_hub, argc, argv);
    long n = mb_arg_long(argc, argv, "devices", 10000);
    int hub_pid = (int)mb_arg_long(argc, argv, "hub-pid", 0);
    int inflight = (int)mb_arg_long(argc, argv, "inflight", 64);
    long per_worker = mb_arg_long(argc, argv, "per-worker", 4000);
    long nofile = mb_raise_nofile(per_worker * 3 + 200);
    if (nofile < per_worker * 3 + 100) {
        per_worker = (nofile - 100) / 3;
        if (per_worker < 100)
            mb_die("open-file limit %ld is too low", nofile);
    }
    int nw = (int)((n + per_worker - 1) / per_worker);
    long errors = 0;

    mb_device *devs = calloc((size_t)n, sizeof *devs);
    if (!devs)
        mb_die("oom");
    long reg = mb_hub_register(&g_hub, "bc", 0, n, 64, devs, "registry_put", &errors);
    if (reg != n)
        mb_die("only %ld of %ld devices registered", reg, n);

    long connected_before = health_connected();
    proc_mem m0 = {0}, m1 = {0};
    if (hub_pid > 0)
        hub_memory(hub_pid, &m0);

    int cmd[64][2], res[64][2];
    pid_t pids[64];
    if (nw > 64)
        mb_die("too many workers");
    fflush(NULL);
    for (int w = 0; w < nw; w++) {
        if (pipe(cmd[w]) || pipe(res[w]))
            mb_die("pipe");
        long from = w * per_worker, cnt = (from + per_worker > n) ? n - from : per_worker;
        pids[w] = fork();
        if (pids[w] < 0)
            mb_die("fork");
        if (pids[w] == 0) {
            close(cmd[w][1]);
            close(res[w][0]);
            int share = inflight / nw;
            worker(devs, from, cnt, share < 1 ? 1 : share, cmd[w][0], res[w][1]);
        }
        close(cmd[w][0]);
        close(res[w][1]);
    }
    mb_phase ph;
    mb_phase_begin(&ph, hub_pid);
    for (int w = 0; w < nw; w++)
        if (write(cmd[w][1], "c", 1) != 1)
            mb_die("worker pipe");
    mb_samples lat = {0};
    long ready = 0, failed = 0;
    uint64_t first = UINT64_MAX, last = 0;
    double wcpu = 0;
    for (int w = 0; w < nw; w++) {
        worker_report wr;
        if (read_all(res[w][0], &wr, sizeof wr))
            mb_die("worker %d died while connecting", w);
        for (long i = 0; i < wr.nlat; i++) {
            uint64_t v;
            if (read_all(res[w][0], &v, sizeof v))
                mb_die("worker %d died", w);
            mb_samples_add(&lat, v);
        }
        ready += wr.ready;
        wcpu += wr.cpu_s;
        failed += wr.failed;
        if (wr.first_ns < first)
            first = wr.first_ns;
        if (wr.last_ns > last)
            last = wr.last_ns;
    }
    double wall = (double)(last - first) / 1e9;
    mb_result r;
    char note[400];
    mb_result_init(&r, "conn_rate", "connections: TLS + SAS connect -> CONNACK");
    mb_phase_end(&ph, &r, (double)ready);
    r.client_cpu = wcpu / wall; /* the work is in the worker processes */
    mb_result_set_latency(&r, &lat);
    r.n = (size_t)ready;
    r.throughput = (double)ready / wall;
    r.unit = "connects/s";
    r.errors = failed;
    snprintf(note, sizeof note,
             "%ld devices, %d handshakes in flight over %d worker processes, clean session off, 2 "
             "subscriptions each; "
             "full handshakes (no resumption), EC P-256 server cert",
             n, inflight, nw);
    r.note = note;
    mb_result_emit(&r);
    errors += failed;
    mb_samples_free(&lat);

    /* memory with everything connected: let the hub finish the connected events first */
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    long connected_now = health_connected();
    if (hub_pid > 0) {
        hub_memory(hub_pid, &m1);
        double per = (double)((m1.daemon_kib + m1.broker_kib) - (m0.daemon_kib + m0.broker_kib)) /
                     (double)(ready ? ready : 1);
        mb_result_init(&r, "conn_rss", "memory: broker + daemon RSS per connected device");
        r.n = (size_t)ready;
        r.value = per;
        r.value_unit = "KiB/device";
        snprintf(note, sizeof note,
                 "RSS with %ld connected: broker %ld KiB, daemon %ld KiB (before: broker %ld, daemon %ld); "
                 "/health connectedDevices %ld (was %ld)",
                 ready, m1.broker_kib, m1.daemon_kib, m0.broker_kib, m0.daemon_kib, connected_now,
                 connected_before);
        r.note = note;
        if (connected_before >= 0 && connected_now >= 0 && connected_now - connected_before != ready) {
            fprintf(stderr, "bench: the hub counts %ld newly connected devices, %ld connected\n",
                    connected_now - connected_before, ready);
            r.errors = 1;
            errors++;
        }
        mb_result_emit(&r);
    }

    /* one reported patch per device */
    mb_phase_begin(&ph, hub_pid);
    for (int w = 0; w < nw; w++)
        if (write(cmd[w][1], "r", 1) != 1)
            mb_die("worker pipe");
    long acked = 0, rerr = 0;
    first = UINT64_MAX;
    last = 0;
    wcpu = 0;
    for (int w = 0; w < nw; w++) {
        rep_report rr;
        if (read_all(res[w][0], &rr, sizeof rr))
            mb_die("worker %d died while reporting", w);
        acked += rr.acked;
        wcpu += rr.cpu_s;
        rerr += rr.errors;
        if (rr.first_ns < first)
            first = rr.first_ns;
        if (rr.last_ns > last)
            last = rr.last_ns;
    }
    wall = (double)(last - first) / 1e9;
    double rep_client_cpu = wcpu / wall;
    mb_result_init(&r, "twin_reported_fleet", "twin: one reported patch from each connected device");
    mb_phase_end(&ph, &r, (double)acked);
    r.client_cpu = rep_client_cpu;
    r.n = (size_t)acked;
    r.throughput = (double)acked / wall;
    r.unit = "patches/s";
    r.errors = rerr;
    snprintf(note, sizeof note,
             "%ld devices publish at once, until every 204 arrived (rebootTime, fwVersion)", ready);
    r.note = note;
    mb_result_emit(&r);
    errors += rerr;

    for (int w = 0; w < nw; w++) {
        if (write(cmd[w][1], "q", 1) != 1) { /* worker gone; waitpid tells */
        }
        close(cmd[w][1]);
    }
    for (int w = 0; w < nw; w++) {
        int st = 0;
        waitpid(pids[w], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench: connection worker %d ended with status %d\n", w, st);
            errors++;
        }
        close(res[w][0]);
    }
    free(devs);
    return errors ? 1 : 0;
}
