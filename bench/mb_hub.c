/* mb_hub.c - registration, SAS tokens and MQTT settings for bench devices (see mb_hub.h). */
#include "mb_hub.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h" /* MH_DEV_OWNER_KEY */
#include "iot_sas.h"
#include "mb_stats.h"

void mb_hub_init(mb_hub *hub, int argc, char **argv)
{
    memset(hub, 0, sizeof *hub);
    const char *data =
        mb_arg(argc, argv, "data", getenv("MOCKHUB_DATA_DIR") ? getenv("MOCKHUB_DATA_DIR") : "data");
    snprintf(hub->host, sizeof hub->host, "%s", mb_arg(argc, argv, "host", "localhost"));
    hub->https_port = (int)mb_arg_long(argc, argv, "https-port", 443);
    hub->mqtt_port = (int)mb_arg_long(argc, argv, "mqtt-port", 8883);
    hub->pid = (int)mb_arg_long(argc, argv, "hub-pid", 0);
    const char *ca = mb_arg(argc, argv, "cafile", NULL);
    if (ca)
        snprintf(hub->cafile, sizeof hub->cafile, "%s", ca);
    else
        snprintf(hub->cafile, sizeof hub->cafile, "%s/ca.pem", data);
    if (access(hub->cafile, R_OK) != 0)
        mb_die("cannot read the hub CA %s (--data=DIR or --cafile=)", hub->cafile);
    snprintf(hub->base, sizeof hub->base, "https://%s:%d", hub->host, hub->https_port);
    const char *owner = getenv("MOCKHUB_OWNER_KEY");
    if (!owner || !*owner)
        owner = MH_DEV_OWNER_KEY;
    long long se = (long long)time(NULL) + 24 * 3600;
    if (iot_sas_format(hub->host, owner, "iothubowner", se, hub->svc_auth, sizeof hub->svc_auth) != IOT_OK)
        mb_die("cannot build the service SAS token (owner key)");
    hub->tls = mb_tls_ctx_new(hub->cafile);
    if (!hub->tls)
        mb_die("cannot load CA %s", hub->cafile);
}

static void device_creds(const mb_hub *hub, mb_device *d)
{
    char res[400];
    snprintf(d->user, sizeof d->user, "%s/%s/?" MB_API, hub->host, d->id);
    snprintf(res, sizeof res, "%s/devices/%s", hub->host, d->id);
    long long se = (long long)time(NULL) + 24 * 3600;
    if (iot_sas_format(res, d->key, NULL, se, d->pass, sizeof d->pass) != IOT_OK)
        d->pass[0] = '\0';
}

typedef struct reg_ctx {
    mb_hub *hub;
    const char *prefix;
    long next, to, from;
    mb_device *devs;
    mb_samples lat;
    long errors, ok;
    char last_error[300];
} reg_ctx;

static int reg_next(void *ud, mb_http_req *req)
{
    reg_ctx *c = ud;
    if (c->next >= c->to)
        return 0;
    long i = c->next++;
    mb_device *d = &c->devs[i - c->from];
    snprintf(d->id, sizeof d->id, "%s%06ld", c->prefix, i);
    req->method = "PUT";
    snprintf(req->path, sizeof req->path, "/devices/%s?" MB_API, d->id);
    req->tag = i;
    /* the body must outlive the request: keep it in the device's pass buffer until the reply */
    snprintf(d->pass, sizeof d->pass, "{\"deviceId\":\"%s\"}", d->id);
    req->body = d->pass;
    req->body_len = strlen(d->pass);
    return 1;
}

static void reg_done(void *ud, const mb_http_req *req, const mb_http_resp *resp)
{
    reg_ctx *c = ud;
    mb_device *d = &c->devs[req->tag - c->from];
    d->pass[0] = '\0';
    if (resp->status != 200) {
        c->errors++;
        snprintf(c->last_error, sizeof c->last_error, "PUT %s: %ld %.200s", d->id, resp->status,
                 resp->status ? resp->body : resp->error);
        return;
    }
    mb_samples_add(&c->lat, resp->latency_ns);
    cJSON *doc = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(doc, "authentication");
    const cJSON *sym = cJSON_GetObjectItemCaseSensitive(auth, "symmetricKey");
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(sym, "primaryKey");
    if (!cJSON_IsString(pk) || strlen(pk->valuestring) >= sizeof d->key) {
        c->errors++;
        snprintf(c->last_error, sizeof c->last_error, "PUT %s: no primaryKey in %.200s", d->id, resp->body);
    } else {
        snprintf(d->key, sizeof d->key, "%s", pk->valuestring);
        device_creds(c->hub, d);
        c->ok++;
    }
    cJSON_Delete(doc);
}

long mb_hub_register(mb_hub *hub, const char *prefix, long from, long to, int concurrency, mb_device *devs,
                     const char *key, long *out_errors)
{
    reg_ctx c = {.hub = hub, .prefix = prefix, .next = from, .to = to, .from = from, .devs = devs};
    mb_http *h = mb_http_new(hub->base, hub->cafile, hub->svc_auth, concurrency);
    if (!h)
        mb_die("curl");
    mb_phase ph;
    mb_phase_begin(&ph, hub->pid);
    mb_http_run(h, reg_next, reg_done, &c, 0);
    mb_http_free(h);
    if (c.errors)
        fprintf(stderr, "bench: %ld registrations failed; last: %s\n", c.errors, c.last_error);
    if (key) {
        mb_result r;
        mb_result_init(&r, key, "registry: PUT /devices/{id} (create)");
        double wall = mb_phase_end(&ph, &r, (double)c.ok);
        mb_result_set_latency(&r, &c.lat);
        r.n = (size_t)c.ok;
        r.throughput = (double)c.ok / wall;
        r.unit = "devices/s";
        r.errors = c.errors;
        char note[64];
        snprintf(note, sizeof note, "%d in flight", concurrency);
        r.note = note;
        mb_result_emit(&r);
    }
    mb_samples_free(&c.lat);
    if (out_errors)
        *out_errors += c.errors;
    return c.ok;
}

void mb_hub_device_cfg(const mb_hub *hub, const mb_device *d, mb_client_cfg *out)
{
    memset(out, 0, sizeof *out);
    out->host = hub->host;
    out->port = hub->mqtt_port;
    out->ssl_ctx = hub->tls;
    out->id = d->id;
    out->username = d->user;
    out->password = d->pass;
    out->clean_session = 0;
    out->keepalive = 300;
    out->sub_qos = 0;
}

int mb_hub_wait_healthy(const char *base, double timeout_s)
{
    mb_http *h = mb_http_new(base, NULL, NULL, 1);
    if (!h)
        return 0;
    uint64_t end = mb_now_ns() + (uint64_t)(timeout_s * 1e9);
    int ok = 0;
    while (mb_now_ns() < end) {
        mb_http_req req = {.method = "GET"};
        snprintf(req.path, sizeof req.path, "/health");
        mb_http_resp resp;
        if (mb_http_once(h, &req, &resp) == 200) {
            ok = 1;
            break;
        }
        usleep(1000);
    }
    mb_http_free(h);
    return ok;
}

long mb_hub_connect_all(mb_loop *l, const mb_hub *hub, mb_device *devs, long n, int inflight,
                        const char *const *subs, mb_on_msg on_msg, void *ud, double timeout_s,
                        mb_client **clients, mb_samples *connect_lat, double *out_wall_s)
{
    uint64_t t0 = mb_now_ns(), last = t0;
    uint64_t end = t0 + (uint64_t)(timeout_s * 1e9);
    long next = 0, ready = 0, failed = 0, printed = 0;
    long pending = 0, first = 0;
    char *done = calloc((size_t)n, 1);
    if (!done)
        mb_die("oom");
    while ((ready + failed < n) && mb_now_ns() < end) {
        while (next < n && pending < inflight) {
            mb_client_cfg cfg;
            mb_hub_device_cfg(hub, &devs[next], &cfg);
            for (int k = 0; k < 4 && subs && subs[k]; k++)
                cfg.subs[k] = subs[k];
            int rc = 0;
            clients[next] = mb_client_start(l, &cfg, on_msg, NULL, ud, &rc);
            if (!clients[next]) {
                if (printed++ < 5)
                    fprintf(stderr, "bench: %s: cannot start: %s\n", devs[next].id, mosquitto_strerror(rc));
                done[next] = 1;
                failed++;
            } else {
                pending++;
            }
            next++;
        }
        mb_loop_poll(l, 5);
        /* scan only from the first device not yet settled: connections finish roughly in order */
        while (first < next && done[first])
            first++;
        pending = 0;
        for (long i = first; i < next; i++) {
            if (done[i])
                continue;
            mb_client_state st = mb_client_get_state(clients[i]);
            if (st == MB_C_READY) {
                done[i] = 1;
                ready++;
                last = mb_now_ns();
                if (connect_lat)
                    mb_samples_add(connect_lat,
                                   mb_client_connack_ns(clients[i]) - mb_client_started_ns(clients[i]));
            } else if (st == MB_C_FAILED || st == MB_C_LOST) {
                done[i] = 1;
                failed++;
                if (printed++ < 5)
                    fprintf(stderr, "bench: %s: connect failed (CONNACK/reason %d)\n", devs[i].id,
                            mb_client_connack_rc(clients[i]));
            } else {
                pending++;
            }
        }
    }
    if (ready + failed < n)
        fprintf(stderr, "bench: %ld of %ld devices not connected after %.0f s\n", n - ready - failed, n,
                timeout_s);
    free(done);
    if (out_wall_s)
        *out_wall_s = (double)(last - t0) / 1e9;
    return ready;
}
