/* mh_query.c - twin queries over --twins twins: seeds the registry to that size with concurrent
 * PUT /devices (timed and reported), then runs the tutorial's rebootTime query, a GROUP BY count and a
 * plain count, --runs times each, following continuation pages (page size 100, like the tutorial's
 * service app). The reported rebootTime/fwVersion values come from mh_connect's devices (rebootTime =
 * 2024-01-01T00:00:00Z + device index seconds), so the rebootTime threshold selects about 1% of them.
 *
 * usage: mh_query --data=HUB_DATA_DIR [--twins=100000] [--reporters=10000] [--runs=20]
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mb_hub.h"
#include "mb_stats.h"

static mb_hub g_hub;

typedef struct qres {
    long status; /* last HTTP status */
    long items;  /* items over all pages */
    long pages;
    long sum_n; /* sum of the "n" members (count queries) */
    uint64_t first_ns, total_ns;
    char error[300];
} qres;

static int run_query(mb_http *h, const char *sql, qres *out)
{
    memset(out, 0, sizeof *out);
    char body[600], cont[1024] = "";
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "query", sql);
    if (!cJSON_PrintPreallocated(b, body, sizeof body, 0))
        mb_die("query too long");
    cJSON_Delete(b);
    uint64_t t0 = mb_now_ns();
    for (int page = 0; page < 100000; page++) {
        mb_http_req req = {.method = "POST", .body = body, .body_len = strlen(body)};
        snprintf(req.path, sizeof req.path, "/devices/query?" MB_API);
        req.continuation = cont[0] ? cont : NULL;
        mb_http_resp resp;
        req.extra_header = "x-ms-max-item-count: 100";
        out->status = mb_http_once(h, &req, &resp);
        if (page == 0)
            out->first_ns = mb_now_ns() - t0;
        if (resp.status != 200) {
            snprintf(out->error, sizeof out->error, "HTTP %ld %.250s", resp.status,
                     resp.status ? resp.body : resp.error);
            return -1;
        }
        cJSON *doc = cJSON_ParseWithLength(resp.body, resp.body_len);
        if (!cJSON_IsArray(doc)) {
            snprintf(out->error, sizeof out->error, "not a JSON array: %.200s", resp.body);
            cJSON_Delete(doc);
            return -1;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, doc)
        {
            out->items++;
            const cJSON *nn = cJSON_GetObjectItemCaseSensitive(it, "n");
            if (cJSON_IsNumber(nn))
                out->sum_n += (long)nn->valuedouble;
        }
        cJSON_Delete(doc);
        out->pages++;
        if (!resp.continuation)
            break;
        snprintf(cont, sizeof cont, "%s", resp.continuation);
    }
    out->total_ns = mb_now_ns() - t0;
    return 0;
}

typedef struct seed_ctx {
    long next, to, ok, errors;
    char body[256][64];
    mb_samples lat;
} seed_ctx;

static int seed_next(void *ud, mb_http_req *req)
{
    seed_ctx *s = ud;
    if (s->next >= s->to)
        return 0;
    long i = s->next++;
    char *b = s->body[i % 256];
    snprintf(b, sizeof s->body[0], "{\"deviceId\":\"bq%06ld\"}", i);
    req->method = "PUT";
    snprintf(req->path, sizeof req->path, "/devices/bq%06ld?" MB_API, i);
    req->body = b;
    req->body_len = strlen(b);
    return 1;
}

static void seed_done(void *ud, const mb_http_req *req, const mb_http_resp *resp)
{
    (void)req;
    seed_ctx *s = ud;
    if (resp->status == 200) {
        s->ok++;
        mb_samples_add(&s->lat, resp->latency_ns);
    } else if (s->errors++ < 5) {
        fprintf(stderr, "bench: seeding: HTTP %ld %.200s\n", resp->status,
                resp->status ? resp->body : resp->error);
    }
}

static long measure(mb_http *h, const char *key, const char *label, const char *sql, long runs,
                    long expect_sum, long expect_items)
{
    mb_samples total = {0}, first = {0};
    long errors = 0;
    qres q = {0};
    run_query(h, sql, &q); /* warm-up: SQLite page cache, statement compile paths */
    mb_phase ph;
    mb_phase_begin(&ph, g_hub.pid);
    for (long i = 0; i < runs; i++) {
        if (run_query(h, sql, &q) != 0) {
            if (errors++ < 3)
                fprintf(stderr, "bench: %s: %s\n", key, q.error);
            continue;
        }
        if ((expect_sum >= 0 && q.sum_n != expect_sum) || (expect_items >= 0 && q.items != expect_items)) {
            if (errors++ < 3)
                fprintf(stderr, "bench: %s: wrong result: %ld items, sum %ld (expected %ld items, sum %ld)\n",
                        key, q.items, q.sum_n, expect_items, expect_sum);
            continue;
        }
        mb_samples_add(&total, q.total_ns);
        mb_samples_add(&first, q.first_ns);
    }
    mb_result r;
    mb_result_init(&r, key, label);
    double wall = mb_phase_end(&ph, &r, (double)total.n);
    mb_summary fs;
    mb_samples_summarize(&first, &fs);
    mb_result_set_latency(&r, &total);
    r.throughput = (double)total.n / wall;
    r.unit = "queries/s";
    r.errors = errors;
    char note[600];
    snprintf(note, sizeof note, "%s -> %ld items in %ld page(s); first page median %.1f ms", sql, q.items,
             q.pages, fs.median_us / 1000);
    r.note = note;
    mb_result_emit(&r);
    mb_samples_free(&total);
    mb_samples_free(&first);
    return errors;
}

int main(int argc, char **argv)
{
    mb_hub_init(&g_hub, argc, argv);
    long twins = mb_arg_long(argc, argv, "twins", 100000);
    long reporters = mb_arg_long(argc, argv, "reporters", 10000);
    long runs = mb_arg_long(argc, argv, "runs", 20);
    long errors = 0;
    mb_http *h1 = mb_http_new(g_hub.base, g_hub.cafile, g_hub.svc_auth, 1);
    if (!h1)
        mb_die("curl");
    qres q;
    if (run_query(h1, "SELECT COUNT() AS n FROM devices", &q) != 0)
        mb_die("count query failed: %s", q.error);
    long existing = q.sum_n;

    /* seed */
    if (existing < twins) {
        seed_ctx *s = calloc(1, sizeof *s);
        if (!s)
            mb_die("oom");
        s->to = twins - existing;
        mb_http *h = mb_http_new(g_hub.base, g_hub.cafile, g_hub.svc_auth, 64);
        mb_phase ph;
        mb_phase_begin(&ph, g_hub.pid);
        mb_http_run(h, seed_next, seed_done, s, 0);
        mb_http_free(h);
        mb_result r;
        mb_result_init(&r, "query_seed", "query: seeding twins with PUT /devices, 64 in flight");
        double wall = mb_phase_end(&ph, &r, (double)s->ok);
        mb_result_set_latency(&r, &s->lat);
        r.n = (size_t)s->ok;
        r.throughput = (double)s->ok / wall;
        r.unit = "devices/s";
        r.value = wall;
        r.value_unit = "s";
        r.errors = s->errors;
        char note[200];
        snprintf(note, sizeof note,
                 "%ld created in %.1f s (%ld existed); no bulk import exists (POST /devices is 501)", s->ok,
                 wall, existing);
        r.note = note;
        mb_result_emit(&r);
        errors += s->errors;
        mb_samples_free(&s->lat);
        free(s);
    }
    if (run_query(h1, "SELECT COUNT() AS n FROM devices", &q) != 0)
        mb_die("count query failed: %s", q.error);
    long total = q.sum_n;

    char sql[400], label[128];
    long pick = reporters - reporters / 100; /* rebootTime of device index `pick` is the threshold */
    time_t t = 1704067200 + pick;
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(sql, sizeof sql, "SELECT * FROM devices WHERE properties.reported.rebootTime > '%s'", when);
    snprintf(label, sizeof label, "query: rebootTime > t over %ld twins", total);
    errors += measure(h1, "query_reboot", label, sql, runs, -1, reporters > 0 ? reporters - pick - 1 : -1);
    snprintf(label, sizeof label, "query: GROUP BY fwVersion count over %ld twins", total);
    errors += measure(h1, "query_groupby", label,
                      "SELECT properties.reported.fwVersion AS fw, COUNT() AS n FROM devices GROUP BY "
                      "properties.reported.fwVersion",
                      runs, total, -1);
    snprintf(label, sizeof label, "query: COUNT() over %ld twins", total);
    errors += measure(h1, "query_count", label, "SELECT COUNT() AS n FROM devices", runs, total, 1);
    mb_http_free(h1);
    SSL_CTX_free(g_hub.tls);
    return errors ? 1 : 0;
}
