/* routes.c - IoT Hub's service REST API (api-version 2021-04-12 shapes, any version accepted):
 * the route table, authorization per route, body checks, and the handlers for the registry,
 * twins, direct methods, query, statistics and /health.
 * https://learn.microsoft.com/rest/api/iothub/service/devices
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulk.h"
#include "hub_internal.h"
#include "query.h"
#include "replies.h"
#include "svcauth.h"
#include "twin.h"
#include "ui.h"

#define METHOD_PAYLOAD_MAX (128 * 1024) /* AZURE: 128 KB each way */

typedef void (*route_fn)(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);

typedef struct route {
    const char *method;
    const char *pattern; /* segments; "{id}" matches one segment, a trailing "*" any rest */
    unsigned need;       /* MH_RIGHT_* (any of); 0 = no auth */
    route_fn fn;
} route;

/* ---- helpers ---- */

/* Parses the body as one JSON object. Replies with the hub's error and returns NULL when it is not
 * one: empty or null -> ArgumentNull, not JSON (trailing bytes included) -> IotHubFormatError,
 * another JSON type -> ArgumentInvalid. */
static cJSON *body_json(const mh_http_request *req, mh_http_reply *reply)
{
    if (req->body_too_large) {
        mh_reply_error(reply, MH_ERR_TOO_LARGE, "Message body is too large");
        return NULL;
    }
    const char *p = req->body;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0') {
        mh_reply_error(reply, MH_ERR_ARGUMENT_NULL, "BadRequest: the request body is empty");
        return NULL;
    }
    /* MOCK: the hub's handling of \u0000 is undocumented; cJSON would cut the string there, so
     * it is refused rather than stored shorter. */
    if (mh_json_has_nul_escape(req->body, req->body_len)) {
        mh_reply_error(reply, MH_ERR_ARGUMENT_INVALID,
                       "JSON strings may not contain the NUL character (\\u0000)");
        return NULL;
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, 0);
    if (doc != NULL) {
        while (end < req->body + req->body_len && isspace((unsigned char)*end))
            end++;
        if (end != req->body + req->body_len) {
            cJSON_Delete(doc);
            doc = NULL;
        }
    }
    if (doc == NULL) {
        mh_reply_error(reply, MH_ERR_FORMAT, "The request body is not valid JSON");
        return NULL;
    }
    if (cJSON_IsNull(doc)) {
        cJSON_Delete(doc);
        mh_reply_error(reply, MH_ERR_ARGUMENT_NULL, "BadRequest: the request body is null");
        return NULL;
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        mh_reply_error(reply, MH_ERR_ARGUMENT_INVALID, "The request body must be a JSON object");
        return NULL;
    }
    return doc;
}

static int id_ok(const char *id, mh_http_reply *reply)
{
    mh_status st = {0};
    if (mh_device_id_check(id, &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return 0;
    }
    return 1;
}

/* An identity from the path: "{deviceId}" or "{deviceId}/{moduleId}" (match() joins a {mid}
 * segment with '/'); both ids are checked. */
static int identity_ok(const char *id, mh_http_reply *reply)
{
    char device[MH_ID_MAX + 1];
    mh_status st = {0};
    const char *module = mh_identity_module(id);
    if (!mh_identity_device(id, device, sizeof device))
        return id_ok(id, reply); /* too long: says so */
    if (mh_device_id_check(device, &st) != MH_OK || (module && mh_module_id_check(module, &st) != MH_OK)) {
        mh_reply_status(reply, &st);
        return 0;
    }
    return 1;
}

/* ---- /health ---- */

static void r_health(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)req;
    (void)id;
    cJSON *doc = cJSON_CreateObject();
    int ready = mh_hub_ready(hub);
    cJSON_AddStringToObject(doc, "status", ready ? "ok" : "starting");
    cJSON_AddBoolToObject(doc, "https", hub->http != NULL);
    cJSON_AddBoolToObject(doc, "broker", hub->link_up);
    cJSON_AddBoolToObject(doc, "plugin", hub->plugin_ready);
    cJSON_AddNumberToObject(doc, "connectedDevices", (double)mh_hub_connected_count(hub));
    unsigned restarts = 0;
    long backoff_ms = 0;
    char last_exit[256];
    mh_hub_broker_info(hub, &restarts, &backoff_ms, last_exit, sizeof last_exit);
    cJSON_AddNumberToObject(doc, "brokerRestarts", (double)restarts);
    if (backoff_ms > 0)
        cJSON_AddNumberToObject(doc, "brokerBackoffMs", (double)backoff_ms);
    if (last_exit[0] != '\0')
        cJSON_AddStringToObject(doc, "brokerLastExit", last_exit);
    if (!ready && restarts > 0)
        cJSON_ReplaceItemInObjectCaseSensitive(doc, "status", cJSON_CreateString("recovering"));
    mh_reply_json(reply, ready ? 200 : 503, doc, NULL);
}

/* ---- registry ---- */

static const char *etag_of(const cJSON *doc)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "etag");
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

static void reply_device(mh_http_reply *reply, cJSON *dev)
{
    char etag[128] = "";
    const char *e = etag_of(dev);
    if (e)
        snprintf(etag, sizeof etag, "%s", e);
    mh_reply_json(reply, 200, dev, e ? etag : NULL);
}

static void r_device_put(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    mh_status st = {0};
    cJSON *out = NULL;
    if (!id_ok(id, reply))
        return;
    cJSON *body = body_json(req, reply);
    if (body == NULL)
        return;
    const char *if_match = mh_http_header(req, "If-Match");
    mh_err err;
    int now_disabled = 0;
    if (if_match == NULL)
        err = mh_store_device_create(hub->store, id, body, &out, &st);
    else
        err = mh_store_device_update(hub->store, id, body, if_match, &out, &now_disabled, &st);
    cJSON_Delete(body);
    if (err != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    if (now_disabled) /* AZURE: the hub closes a disabled device's connection at once (and its modules') */
        mh_hub_kick(hub, id, 0);
    reply_device(reply, out);
}

static void r_device_get(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)req;
    mh_status st = {0};
    cJSON *out = NULL;
    if (!id_ok(id, reply))
        return;
    if (mh_store_device_get(hub->store, id, &out, &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    reply_device(reply, out);
}

static void r_device_delete(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    mh_status st = {0};
    if (!id_ok(id, reply))
        return;
    if (mh_store_device_delete(hub->store, id, mh_http_header(req, "If-Match"), &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    mh_hub_kick(hub, id, 1); /* the device's modules go with it (their rows and connections) */
    mh_reply_empty(reply, 204);
}

/* ---- modules: the path's identity is "{deviceId}/{moduleId}" ---- */

/* Splits a module identity into its device part (into device) and module part. */
static const char *module_parts(const char *id, char device[MH_ID_MAX + 1])
{
    mh_identity_device(id, device, MH_ID_MAX + 1);
    return mh_identity_module(id);
}

static void r_module_put(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    char device[MH_ID_MAX + 1];
    mh_status st = {0};
    cJSON *out = NULL;
    if (!identity_ok(id, reply))
        return;
    const char *module = module_parts(id, device);
    cJSON *body = body_json(req, reply);
    if (body == NULL)
        return;
    const char *if_match = mh_http_header(req, "If-Match");
    mh_err err = if_match == NULL
                     ? mh_store_module_create(hub->store, device, module, body, &out, &st)
                     : mh_store_module_update(hub->store, device, module, body, if_match, &out, &st);
    cJSON_Delete(body);
    if (err != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    /* AZURE: no ETag header on module PUT (addendum 1); 201 on create, 200 on update (swagger) */
    mh_reply_json(reply, if_match == NULL ? 201 : 200, out, NULL);
}

static void r_module_get(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)req;
    char device[MH_ID_MAX + 1];
    mh_status st = {0};
    cJSON *out = NULL;
    if (!identity_ok(id, reply))
        return;
    const char *module = module_parts(id, device);
    if (mh_store_module_get(hub->store, device, module, &out, &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    reply_device(reply, out);
}

static void r_module_delete(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    char device[MH_ID_MAX + 1];
    mh_status st = {0};
    if (!identity_ok(id, reply))
        return;
    const char *module = module_parts(id, device);
    if (mh_store_module_delete(hub->store, device, module, mh_http_header(req, "If-Match"), &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    mh_hub_kick(hub, id, 1); /* AZURE: a deleted identity's connection is closed */
    mh_reply_empty(reply, 204);
}

static void r_module_list(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)req;
    mh_status st = {0};
    cJSON *out = NULL;
    if (!id_ok(id, reply))
        return;
    if (mh_store_module_list(hub->store, id, &out, &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    mh_reply_json(reply, 200, out, NULL);
}

/* DELETE /devices/{id}/commands: purges the device's C2D queue (hub_c2d.c). */
static void r_c2d_purge(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)req;
    int n = 0;
    if (!id_ok(id, reply))
        return;
    mh_err err = mh_hub_c2d_purge(hub, id, &n);
    if (err != MH_OK) {
        mh_reply_error(reply, err, err == MH_ERR_DEVICE_NOT_FOUND ? id : "cannot purge the queue");
        return;
    }
    cJSON *out = cJSON_CreateObject();
    if (out == NULL || !cJSON_AddNumberToObject(out, "totalMessagesPurged", n) ||
        !cJSON_AddStringToObject(out, "deviceId", id) || !cJSON_AddNullToObject(out, "moduleId")) {
        cJSON_Delete(out);
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    mh_reply_json(reply, 200, out, NULL);
}

static void r_device_list(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    mh_status st = {0};
    cJSON *out = NULL;
    const char *top_text = mh_http_query_arg(req, "top");
    long top = top_text ? strtol(top_text, NULL, 10) : 1000;
    if (top < 1 || top > 1000) /* AZURE: "Any value outside the range of 1-1000 is considered to be 1000" */
        top = 1000;
    if (mh_store_device_list(hub->store, (int)top, &out, &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    mh_reply_json(reply, 200, out, NULL);
}

/* ---- twins ---- */

static void r_twin_get(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)req;
    mh_status st = {0};
    cJSON *out = NULL;
    if (!identity_ok(id, reply))
        return;
    if (mh_store_twin_get(hub->store, id, &out, &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    mh_reply_json(reply, 200, out, NULL); /* AZURE: no ETag header on /twins */
}

static void twin_write(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id,
                       int replace)
{
    mh_status st = {0};
    if (!identity_ok(id, reply))
        return;
    cJSON *body = body_json(req, reply);
    if (body == NULL)
        return;
    cJSON *twin = NULL;
    mh_err err = mh_hub_twin_write(hub, id, body, mh_http_header(req, "If-Match"), replace, &twin, &st);
    cJSON_Delete(body);
    if (err != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    mh_reply_json(reply, 200, twin, NULL);
}

static void r_twin_patch(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    twin_write(hub, req, reply, id, 0);
}

static void r_twin_put(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    twin_write(hub, req, reply, id, 1);
}

/* ---- direct methods ---- */

/* AZURE: method names are printable US-ASCII except $ ( ) < > @ , ; : \ " / [ ] ? = { } SP HT. */
static int method_name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 128)
        return 0;
    for (; *s; s++)
        if (*s <= 32 || *s >= 127 || strchr("$()<>@,;:\\\"/[]?={}", *s))
            return 0;
    return 1;
}

/* Reads an optional integer member into *out; replies 400 and returns 0 when it is not one in [lo, hi]. */
static int timeout_arg(const cJSON *body, const char *name, int lo, int hi, int *out, mh_http_reply *reply)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (v == NULL || cJSON_IsNull(v))
        return 1;
    char text[128];
    /* range first: casting a double outside long's range is undefined (found by fuzz_rest) */
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
        v->valuedouble != (double)(long)v->valuedouble) {
        snprintf(text, sizeof text, "%s must be within [%d; %d].", name, lo, hi);
        mh_reply_error(reply, MH_ERR_ARGUMENT_INVALID, text);
        return 0;
    }
    *out = (int)v->valuedouble;
    return 1;
}

/* How a call ended, as the REST reply (ctx is the suspended reply; any thread). */
static void method_done(void *ctx, mh_err err, int status, const char *payload, size_t len, const char *text)
{
    mh_http_reply *reply = ctx;
    if (err != MH_OK) {
        mh_reply_error(reply, err, text);
        return;
    }
    /* AZURE: the device's bytes are pasted verbatim into "payload" (even when not JSON);
     * an empty response becomes null (iothub-protocol-addendum.md 4). */
    char head[64];
    int hn = snprintf(head, sizeof head, "{\"status\":%d,\"payload\":", status);
    if (len == 0) {
        payload = "null";
        len = 4;
    }
    char *body = malloc((size_t)hn + len + 2);
    if (body == NULL) {
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    memcpy(body, head, (size_t)hn);
    memcpy(body + hn, payload, len);
    body[(size_t)hn + len] = '}';
    body[(size_t)hn + len + 1] = '\0';
    mh_reply_raw(reply, 200, body);
}

static void r_method(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    char *payload = NULL;
    if (!identity_ok(id, reply))
        return;
    cJSON *body = body_json(req, reply);
    if (body == NULL)
        return;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "methodName");
    if (!cJSON_IsString(name) || !method_name_ok(name->valuestring)) {
        mh_reply_error(
            reply, MH_ERR_ARGUMENT_INVALID,
            "methodName is required and must be printable ASCII without $()<>@,;:\\\"/[]?={} or spaces");
        goto done;
    }
    int response_timeout = 30, connect_timeout = 0;
    if (!timeout_arg(body, "responseTimeoutInSeconds", 5, 300, &response_timeout, reply) ||
        !timeout_arg(body, "connectTimeoutInSeconds", 0, 300, &connect_timeout, reply))
        goto done;
    /* AZURE: an explicit payload (null included) is re-serialised; an absent one is 0 bytes. */
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(body, "payload");
    payload = jp ? cJSON_PrintUnformatted(jp) : strdup("");
    if (payload == NULL) {
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t plen = strlen(payload);
    if (plen > METHOD_PAYLOAD_MAX) {
        char text[128];
        snprintf(text, sizeof text, "Method payload is %zu bytes; the maximum is %d", plen,
                 METHOD_PAYLOAD_MAX);
        mh_reply_error(reply, MH_ERR_TOO_LARGE, text);
        goto done;
    }
    mh_hub_invoke_method(hub, id, name->valuestring, payload, plen, response_timeout, connect_timeout,
                         method_done, reply);
done:
    free(payload);
    cJSON_Delete(body);
}

/* ---- query and statistics ---- */

static void r_query(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    mh_status st = {0};
    mh_query_page page = {0};
    cJSON *body = body_json(req, reply);
    if (body == NULL)
        return;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "query");
    if (!cJSON_IsString(q)) {
        cJSON_Delete(body);
        mh_reply_error(reply, MH_ERR_ARGUMENT_NULL, "The body must be {\"query\": \"SELECT ...\"}");
        return;
    }
    const char *max_text = mh_http_header(req, "x-ms-max-item-count");
    int max_items = max_text ? atoi(max_text) : 0;
    mh_err err = mh_query_execute(hub->store, q->valuestring, max_items,
                                  mh_http_header(req, "x-ms-continuation"), &page, &st);
    cJSON_Delete(body);
    if (err != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    char *text = cJSON_PrintUnformatted(page.items);
    if (text == NULL) {
        mh_query_page_cleanup(&page);
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    mh_http_response resp = {.status = 200, .body = text};
    mh_http_response_header(&resp, "x-ms-item-type", page.item_type);
    /* Only while more pages remain: the Node SDK loops for ever on an empty token. */
    if (page.continuation != NULL)
        mh_http_response_header(&resp, "x-ms-continuation", page.continuation);
    mh_query_page_cleanup(&page);
    mh_http_reply_send(reply, &resp);
}

static long count_query(mh_hub *hub, const char *sql, mh_status *st)
{
    mh_query_page page = {0};
    if (mh_query_execute(hub->store, sql, 1, NULL, &page, st) != MH_OK)
        return -1;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(page.items, 0), "n");
    long v = cJSON_IsNumber(n) ? (long)n->valuedouble : 0;
    mh_query_page_cleanup(&page);
    return v;
}

static void r_stats_devices(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)req;
    (void)id;
    mh_status st = {0};
    long total = count_query(hub, "SELECT COUNT() AS n FROM devices", &st);
    long enabled =
        total < 0 ? -1 : count_query(hub, "SELECT COUNT() AS n FROM devices WHERE status = 'enabled'", &st);
    if (total < 0 || enabled < 0) {
        mh_reply_status(reply, &st);
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "totalDeviceCount", (double)total);
    cJSON_AddNumberToObject(doc, "enabledDeviceCount", (double)enabled);
    cJSON_AddNumberToObject(doc, "disabledDeviceCount", (double)(total - enabled));
    mh_reply_json(reply, 200, doc, NULL);
}

static void r_stats_service(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)req;
    (void)id;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "connectedDeviceCount", (double)mh_hub_connected_count(hub));
    mh_reply_json(reply, 200, doc, NULL);
}

/* ---- telemetry ---- */

/* A query argument as a whole decimal number in [lo, hi]; def when absent. 0 (and a 400 reply)
 * when it is not one. */
static int number_arg(const mh_http_request *req, const char *name, long long lo, long long hi, long long def,
                      long long *out, mh_http_reply *reply)
{
    const char *text = mh_http_query_arg(req, name);
    char *end = NULL;
    char msg[160];
    if (text == NULL) {
        *out = def;
        return 1;
    }
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        snprintf(msg, sizeof msg, "Query parameter '%s' must be a whole number from %lld to %lld", name, lo,
                 hi);
        mh_reply_error(reply, MH_ERR_ARGUMENT_INVALID, msg);
        return 0;
    }
    *out = v;
    return 1;
}

/* MOCK: the real hub hands telemetry to its Event Hubs-compatible endpoint (AMQP), which mockhub
 * does not emulate; this mockhub-only route reads what devices sent, oldest first, in the shape of
 * `az iot hub monitor-events --props all`. */
static void r_events(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    long long after = 0, limit = 0;
    cJSON *out = NULL;
    if (!number_arg(req, "after", 0, 9007199254740991LL, 0, &after, reply) ||
        !number_arg(req, "limit", 1, MH_TELEMETRY_LIST_MAX, 100, &limit, reply))
        return;
    const char *device = mh_http_query_arg(req, "deviceId");
    if (device != NULL && !id_ok(device, reply))
        return;
    mh_err err = mh_store_telemetry_list(hub->store, after, device, (int)limit, &out);
    if (err != MH_OK) {
        mh_reply_error(reply, err, "could not read telemetry");
        return;
    }
    mh_reply_json(reply, 200, out, NULL);
}

static void r_not_implemented(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)hub;
    (void)id;
    char text[600];
    snprintf(text, sizeof text,
             "mockhub does not implement %s %s (jobs, configurations, digital twins, file upload, "
             "C2D over REST and messages to modules are not emulated)",
             req->method, req->path);
    mh_reply_error(reply, MH_ERR_NOT_IMPLEMENTED, text);
}

#define R_READ MH_RIGHT_REGISTRY_READ
#define R_WRITE MH_RIGHT_REGISTRY_WRITE
#define R_SVC MH_RIGHT_SERVICE_CONNECT
#define R_ANY (R_READ | R_WRITE | R_SVC)

/* First match wins; a path that matches some pattern with another verb gets 405. */
static const route routes[] = {
    {"GET", "/health", 0, r_health},
    {"GET", "/devices", R_READ, r_device_list},
    {"POST", "/devices", R_WRITE, mh_bulk_r_post}, /* bulk registry operations (bulk.c) */
    {"POST", "/devices/query", R_READ | R_SVC, r_query},
    {"PUT", "/devices/{id}", R_WRITE, r_device_put},
    {"GET", "/devices/{id}", R_READ, r_device_get},
    {"DELETE", "/devices/{id}", R_WRITE, r_device_delete},
    {"GET", "/twins/{id}", R_SVC | R_READ, r_twin_get},
    {"PATCH", "/twins/{id}", R_SVC, r_twin_patch},
    {"PUT", "/twins/{id}", R_SVC, r_twin_put},
    {"POST", "/twins/{id}/methods", R_SVC, r_method},
    {"GET", "/devices/{id}/modules", R_READ, r_module_list},
    {"PUT", "/devices/{id}/modules/{mid}", R_WRITE, r_module_put},
    {"GET", "/devices/{id}/modules/{mid}", R_READ, r_module_get},
    {"DELETE", "/devices/{id}/modules/{mid}", R_WRITE, r_module_delete},
    {"GET", "/twins/{id}/modules/{mid}", R_SVC | R_READ, r_twin_get},
    {"PATCH", "/twins/{id}/modules/{mid}", R_SVC, r_twin_patch},
    {"PUT", "/twins/{id}/modules/{mid}", R_SVC, r_twin_put},
    {"POST", "/twins/{id}/modules/{mid}/methods", R_SVC, r_method},
    {"GET", "/statistics/devices", R_READ, r_stats_devices},
    {"GET", "/statistics/service", R_SVC | R_READ, r_stats_service},
    {"GET", "/mockhub/events", R_SVC, r_events}, /* MOCK: mockhub-only, see r_events */
    /* MOCK: test control (testctl.c); its handlers check the owner policy's four rights themselves, so
     * that every answer, 401 included, carries x-mockhub: test-control */
    {"POST", "/mockhub/reset", 0, mh_testctl_r_reset},
    {"GET", "/mockhub/wait", 0, mh_testctl_r_wait},
    {"POST", "/mockhub/faults", 0, mh_testctl_r_faults_add},
    {"GET", "/mockhub/faults", 0, mh_testctl_r_faults_list},
    {"DELETE", "/mockhub/faults", 0, mh_testctl_r_faults_clear},
    {"DELETE", "/mockhub/faults/{id}", 0, mh_testctl_r_fault_delete},
    {"POST", "/mockhub/devices/{id}/drop", 0, mh_testctl_r_drop},
    {"POST", "/mockhub/devices/{id}/messages", 0, mh_testctl_r_c2d_send},
    /* MOCK: the web dashboard (ui.c): a login page, then a session cookie checked by ui.c */
    {"GET", "/ui", 0, mh_ui_r_get},
    {"GET", "/ui/*", 0, mh_ui_r_get},
    {"POST", "/ui/session", 0, mh_ui_r_session},
    /* Known IoT Hub APIs mockhub does not emulate: loud 501, never a silent success. */
    /* AZURE: C2D to modules is not a hub feature (routes, not messages) */
    {"*", "/devices/{id}/modules/{mid}/messages/*", R_ANY, r_not_implemented},
    {"DELETE", "/devices/{id}/commands", R_SVC, r_c2d_purge},
    {"*", "/devices/{id}/commands", R_ANY, r_not_implemented},
    {"*", "/devices/{id}/files/*", R_ANY, r_not_implemented},
    {"*", "/devices/{id}/files", R_ANY, r_not_implemented},
    {"*", "/devices/{id}/messages/*", R_ANY, r_not_implemented},
    {"*", "/messages/*", R_ANY, r_not_implemented},
    {"*", "/jobs/*", R_ANY, r_not_implemented},
    {"*", "/jobs", R_ANY, r_not_implemented},
    {"*", "/configurations/*", R_ANY, r_not_implemented},
    {"*", "/configurations", R_ANY, r_not_implemented},
    {"*", "/digitaltwins/*", R_ANY, r_not_implemented},
};

/* MOCK: any api-version is served with the 2021-04-12 shapes, and a missing one too (the real hub
 * answers 400 InvalidProtocolVersion): SDKs move versions often. Versions other than the ones the
 * official SDKs send are logged once each, so a surprising client is visible in the hub's output. */
static void note_api_version(const char *v)
{
    static const char *const known[] = {"2021-04-12", "2020-09-30", "2020-03-13", "2019-10-01", "2018-06-30"};
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char seen[16][32];
    static int nseen;
    if (v == NULL)
        v = "(none)";
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(v, known[i]) == 0)
            return;
    pthread_mutex_lock(&lock);
    int is_new = nseen < 16;
    for (int i = 0; i < nseen && is_new; i++)
        if (strncmp(seen[i], v, sizeof seen[i] - 1) == 0)
            is_new = 0;
    if (is_new)
        snprintf(seen[nseen++], sizeof seen[0], "%s", v);
    pthread_mutex_unlock(&lock);
    if (is_new)
        fprintf(stderr, "mockhub: serving api-version %.40s with the 2021-04-12 shapes\n", v);
}

static mh_err policy_lookup(void *store, const char *name, mh_policy *out)
{
    return mh_store_policy_get(store, name, out);
}

/* Matches path against pattern; copies the {id} segment into id, and a {mid} segment after it as
 * "{id}/{mid}" (an identity, identity.h). A trailing '/' on the path is accepted (.NET and Node ask
 * for "/devices/"). A segment too long for id is cut: it is still far over the 128 characters of
 * an id, so the handler refuses it with 400, not 404. */
static int match(const char *pattern, const char *path, char *id, size_t idlen)
{
    const char *p = pattern, *s = path;
    size_t used = 0;
    while (*p) {
        if (*p == '*')
            return *s != '\0';
        int is_id = strncmp(p, "{id}", 4) == 0, is_mid = strncmp(p, "{mid}", 5) == 0;
        if (is_id || is_mid) {
            const char *end = strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == 0)
                return 0;
            if (is_mid && used + 1 < idlen)
                id[used++] = '/';
            size_t room = idlen - 1 - used;
            size_t kept = n < MH_ID_MAX + 8 ? n : MH_ID_MAX + 8; /* over any id: refused as too long */
            if (kept > room)
                kept = room;
            memcpy(id + used, s, kept);
            used += kept;
            id[used] = '\0';
            s += n;
            p += is_id ? 4 : 5;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == '\0' || (s[0] == '/' && s[1] == '\0');
}

void mh_routes_handle(void *ctx, const mh_http_request *req, mh_http_reply *reply)
{
    mh_hub *hub = ctx;
    char id[2 * (MH_ID_MAX + 8) + 2];
    const route *found = NULL;
    int path_known = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, req->path, id, sizeof id))
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, "*") == 0 || strcmp(routes[i].method, req->method) == 0) {
            found = &routes[i];
            break;
        }
    }
    if (found == NULL) {
        char text[600];
        if (path_known) {
            snprintf(text, sizeof text, "%s is not supported on %s", req->method, req->path);
            mh_reply_error(reply, MH_ERR_METHOD_NOT_ALLOWED, text);
        } else {
            snprintf(text, sizeof text, "No IoT Hub API at %s %s", req->method, req->path);
            mh_reply_error(reply, MH_ERR_NOT_FOUND, text);
        }
        return;
    }
    if (found->need != 0) {
        mh_status st = {0};
        if (mh_svcauth_check_cached(hub->auth_cache, mh_http_header(req, "Authorization"), hub->cfg.hostname,
                                    found->need, (long long)time(NULL), policy_lookup, hub->store,
                                    &st) != MH_OK) {
            mh_reply_status(reply, &st);
            return;
        }
    }
    if (found->need != 0) /* IoT Hub routes; /health is ours */
        note_api_version(mh_http_query_arg(req, "api-version"));
    /* MOCK: test control's quota mode and injected faults may answer or delay the call */
    if (found->need != 0 &&
        mh_testctl_intercept(hub->testctl, req->method, found->pattern, req, reply, id, found->fn))
        return;
    found->fn(hub, req, reply, id);
}
