/* iots_client.c - the service client API: builds each REST call with iots_proto, signs it with a
 * cached service SAS token, sends it with iots_http and reads errors with iots_error.
 * REST reference: https://learn.microsoft.com/rest/api/iothub/service (api-version 2021-04-12).
 */
#include "iots_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "iot_connstr.h"
#include "iot_sas.h"
#include "iots_http.h"
#include "iots_proto.h"

#define TOKEN_TTL_S 3600 /* azure-iothub: an hour from now */
#define TOKEN_RENEW_MARGIN_S 300
#define URL_MAX 1024
#define HEADER_MAX 1200

struct iots_client {
    char host_name[256]; /* as given, port included: used in URLs */
    char sas_resource[256];
    char key_name[128];
    char key[128];
    char token[1024];
    long long token_expiry;
    long connect_timeout_s;
    long request_timeout_s;
    iots_http *http;
    iots_error_info last;
};

struct iots_query {
    iots_client *client;
    char *body;
    int page_size;
    char *continuation;
    int started;
    int done;
};

static void set_err(iots_error_info *err, iots_err code, const char *msg)
{
    if (err)
        iots_error_set(err, code, msg);
}

iots_err iots_client_new(const char *connection_string, const iots_options *opts, iots_client **out,
                         iots_error_info *err)
{
    iots_client *c = NULL;
    iot_connstr cs;
    char why[256] = "";
    char msg[512];
    iots_err rc;
    int port;

    if (!connection_string || !out) {
        set_err(err, IOTS_ERR_ARG, "connection string is missing");
        return IOTS_ERR_ARG;
    }
    if (iot_connstr_parse_service(connection_string, &cs, why, sizeof why) != IOT_OK) {
        snprintf(msg, sizeof msg, "bad service connection string: %s", why[0] ? why : "malformed");
        set_err(err, IOTS_ERR_CONNSTR, msg);
        return IOTS_ERR_CONNSTR;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, IOTS_ERR_NOMEM, "out of memory");
        return IOTS_ERR_NOMEM;
    }
    snprintf(c->host_name, sizeof c->host_name, "%s", cs.host_name);
    snprintf(c->key_name, sizeof c->key_name, "%s", cs.shared_access_key_name);
    snprintf(c->key, sizeof c->key, "%s", cs.shared_access_key);
    if (iots_host_split(c->host_name, c->sas_resource, sizeof c->sas_resource, &port) != IOTS_OK ||
        iots_sas_resource(c->host_name, c->sas_resource, sizeof c->sas_resource) != IOTS_OK) {
        snprintf(msg, sizeof msg, "bad service connection string: HostName '%s' is not host or host:port",
                 c->host_name);
        set_err(err, IOTS_ERR_CONNSTR, msg);
        rc = IOTS_ERR_CONNSTR;
        goto cleanup;
    }
    /* Sign once now so a key that is not base64 fails here, not at the first call. */
    if (iot_sas_format(c->sas_resource, c->key, c->key_name, 1, c->token, sizeof c->token) != IOT_OK) {
        set_err(err, IOTS_ERR_CONNSTR,
                "bad service connection string: SharedAccessKey is not a valid base64 key");
        rc = IOTS_ERR_CONNSTR;
        goto cleanup;
    }
    c->token_expiry = 0;
    c->connect_timeout_s = opts && opts->connect_timeout_s > 0 ? opts->connect_timeout_s : 10;
    c->request_timeout_s = opts && opts->request_timeout_s > 0 ? opts->request_timeout_s : 60;
    const char *ca = opts ? opts->ca_file : NULL;
    if (!ca)
        ca = getenv("IOTHUB_CA_FILE");
    const char *ua = opts && opts->user_agent ? opts->user_agent : "iots-c/1.0";
    rc = iots_http_new(ca, ua, &c->http, why, sizeof why);
    if (rc != IOTS_OK) {
        set_err(err, rc, why[0] ? why : iots_err_str(rc));
        goto cleanup;
    }
    *out = c;
    c = NULL;
    if (err)
        iots_error_set(err, IOTS_OK, NULL);

cleanup:
    iots_client_free(c);
    return rc;
}

void iots_client_free(iots_client *client)
{
    if (!client)
        return;
    iots_http_free(client->http);
    /* the key and token are secrets: do not leave them in freed memory */
    memset(client, 0, sizeof *client);
    free(client);
}

const iots_error_info *iots_client_last_error(const iots_client *client)
{
    return &client->last;
}

const char *iots_client_host_name(const iots_client *client)
{
    return client->host_name;
}

/* Returns a token valid for at least TOKEN_RENEW_MARGIN_S more seconds, signing a new one if needed. */
static iots_err current_token(iots_client *c)
{
    long long now = (long long)time(NULL);
    if (!iots_sas_needs_renewal(c->token_expiry, now, TOKEN_RENEW_MARGIN_S))
        return IOTS_OK;
    long long expiry = now + TOKEN_TTL_S;
    if (iot_sas_format(c->sas_resource, c->key, c->key_name, expiry, c->token, sizeof c->token) != IOT_OK) {
        iots_error_set(&c->last, IOTS_ERR_CONNSTR,
                       "cannot sign a SAS token with the connection string's key");
        return IOTS_ERR_CONNSTR;
    }
    c->token_expiry = expiry;
    return IOTS_OK;
}

static void new_request_id(char out[37])
{
    static unsigned counter;
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* Request-Id only traces calls; a clock-based value is good enough when getrandom fails */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long v[2] = {
            (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec, ++counter};
        memcpy(r, v, sizeof r);
    }
    iots_uuid_format(r, out);
}

typedef struct call_spec {
    const char *method;
    iots_path_kind kind;
    const char *device_id;
    const char *module_id; /* module paths only */
    const char *body;
    const char *if_match;  /* already formatted (quoted) or NULL */
    const char *max_items; /* x-ms-max-item-count value or NULL */
    const char *continuation;
    long timeout_s;
    long expect_status; /* the success status the API documents */
} call_spec;

/* Sends one call. On IOTS_OK *out holds the success answer; otherwise c->last says why. */
static iots_err call(iots_client *c, const call_spec *s, iots_http_response *out)
{
    char url[URL_MAX];
    char h_auth[1100], h_rid[64], h_ifm[HEADER_MAX], h_max[64];
    char *h_cont = NULL;
    const char *headers[8];
    size_t nh = 0;
    iots_http_response resp = {0};
    iots_err rc;

    memset(&c->last, 0, sizeof c->last);
    rc = iots_url_format_module(c->host_name, s->kind, s->device_id, s->module_id, url, sizeof url);
    if (rc != IOTS_OK) {
        iots_error_set(&c->last, rc, "invalid device or module id (empty or longer than 128 characters)");
        return rc;
    }
    rc = current_token(c);
    if (rc != IOTS_OK)
        return rc;
    snprintf(h_auth, sizeof h_auth, "Authorization: %s", c->token);
    headers[nh++] = h_auth;
    char rid[37];
    new_request_id(rid);
    snprintf(h_rid, sizeof h_rid, "Request-Id: %s", rid);
    headers[nh++] = h_rid;
    headers[nh++] = "Accept: application/json";
    if (s->body)
        headers[nh++] = "Content-Type: application/json; charset=utf-8";
    if (s->if_match) {
        snprintf(h_ifm, sizeof h_ifm, "If-Match: %s", s->if_match);
        headers[nh++] = h_ifm;
    }
    if (s->max_items) {
        snprintf(h_max, sizeof h_max, "x-ms-max-item-count: %s", s->max_items);
        headers[nh++] = h_max;
    }
    if (s->continuation) {
        size_t n = strlen(s->continuation) + sizeof "x-ms-continuation: ";
        h_cont = malloc(n);
        if (!h_cont) {
            iots_error_set(&c->last, IOTS_ERR_NOMEM, "out of memory");
            return IOTS_ERR_NOMEM;
        }
        snprintf(h_cont, n, "x-ms-continuation: %s", s->continuation);
        headers[nh++] = h_cont;
    }
    iots_http_request req = {
        .method = s->method,
        .url = url,
        .headers = headers,
        .nheaders = nh,
        .body = s->body,
        .body_len = s->body ? strlen(s->body) : 0,
        .timeout_s = s->timeout_s,
        .connect_timeout_s = c->connect_timeout_s,
    };
    rc = iots_http_perform(c->http, &req, &resp, &c->last);
    if (rc != IOTS_OK)
        goto cleanup;
    if (resp.status >= 300 || resp.status < 200) {
        rc = iots_error_parse(resp.status, resp.body, resp.body_len, resp.errorcode, &c->last);
        if (rc == IOTS_OK) { /* 1xx final status: should not happen */
            rc = IOTS_ERR_HTTP;
            c->last.err = rc;
        }
        goto cleanup;
    }
    if (s->expect_status && resp.status != s->expect_status) {
        char msg[128];
        snprintf(msg, sizeof msg, "unexpected HTTP status %ld (expected %ld)", resp.status, s->expect_status);
        iots_error_set(&c->last, IOTS_ERR_PROTOCOL, msg);
        c->last.http_status = resp.status;
        rc = IOTS_ERR_PROTOCOL;
        goto cleanup;
    }
    *out = resp;
    memset(&resp, 0, sizeof resp);

cleanup:
    iots_http_response_cleanup(&resp);
    free(h_cont);
    return rc;
}

static iots_err fail(iots_client *c, iots_err rc, const char *msg)
{
    iots_error_set(&c->last, rc, msg);
    return rc;
}

/* Hands the answer body to the caller, or drops it when out is NULL. */
static void take_body(iots_http_response *resp, char **out)
{
    if (out) {
        *out = resp->body;
        resp->body = NULL;
    }
    iots_http_response_cleanup(resp);
}

static iots_err invoke(iots_client *client, const char *device_id, const char *module_id,
                       const char *method_name, const char *payload_json, int response_timeout_s,
                       int connect_timeout_s, int *out_status, char **out_payload)
{
    char *body = NULL;
    iots_http_response resp = {0};
    iots_err rc;

    if (!client)
        return IOTS_ERR_ARG;
    if (!out_status || !out_payload)
        return fail(client, IOTS_ERR_ARG, "out_status and out_payload are required");
    rc = iots_method_body_format(method_name, payload_json, response_timeout_s, connect_timeout_s, &body);
    if (rc != IOTS_OK)
        return fail(client, rc,
                    rc == IOTS_ERR_ARG
                        ? "bad method call: empty name, invalid JSON payload or negative timeout"
                        : "out of memory");
    call_spec s = {
        .method = "POST",
        .kind = module_id ? IOTS_PATH_MODULE_METHODS : IOTS_PATH_METHODS,
        .device_id = device_id,
        .module_id = module_id,
        .body = body,
        .timeout_s = iots_method_http_timeout_s(response_timeout_s, connect_timeout_s),
        .expect_status = 200,
    };
    rc = call(client, &s, &resp);
    if (rc != IOTS_OK)
        goto cleanup;
    rc = iots_method_result_parse(resp.body, resp.body_len, out_status, out_payload);
    if (rc != IOTS_OK)
        fail(client, rc, "the hub's method answer is not {\"status\":N,\"payload\":...}");

cleanup:
    iots_http_response_cleanup(&resp);
    free(body);
    return rc;
}

iots_err iots_invoke_method(iots_client *client, const char *device_id, const char *method_name,
                            const char *payload_json, int response_timeout_s, int connect_timeout_s,
                            int *out_status, char **out_payload)
{
    return invoke(client, device_id, NULL, method_name, payload_json, response_timeout_s, connect_timeout_s,
                  out_status, out_payload);
}

iots_err iots_invoke_module_method(iots_client *client, const char *device_id, const char *module_id,
                                   const char *method_name, const char *payload_json, int response_timeout_s,
                                   int connect_timeout_s, int *out_status, char **out_payload)
{
    if (client && !module_id)
        return fail(client, IOTS_ERR_ARG, "module_id is required");
    return invoke(client, device_id, module_id, method_name, payload_json, response_timeout_s,
                  connect_timeout_s, out_status, out_payload);
}

static iots_err get_twin(iots_client *client, const char *device_id, const char *module_id, char **out_twin)
{
    iots_http_response resp = {0};
    if (!client)
        return IOTS_ERR_ARG;
    if (!out_twin)
        return fail(client, IOTS_ERR_ARG, "out_twin is required");
    call_spec s = {.method = "GET",
                   .kind = module_id ? IOTS_PATH_MODULE_TWIN : IOTS_PATH_TWIN,
                   .device_id = device_id,
                   .module_id = module_id,
                   .timeout_s = client->request_timeout_s,
                   .expect_status = 200};
    iots_err rc = call(client, &s, &resp);
    if (rc == IOTS_OK)
        take_body(&resp, out_twin);
    return rc;
}

iots_err iots_get_twin(iots_client *client, const char *device_id, char **out_twin)
{
    return get_twin(client, device_id, NULL, out_twin);
}

iots_err iots_get_module_twin(iots_client *client, const char *device_id, const char *module_id,
                              char **out_twin)
{
    if (client && !module_id)
        return fail(client, IOTS_ERR_ARG, "module_id is required");
    return get_twin(client, device_id, module_id, out_twin);
}

/* PATCH (patch) or PUT (replace) a device's or module's twin with body (taken over). */
static iots_err write_twin(iots_client *client, const char *method, const char *device_id,
                           const char *module_id, char *body, const char *etag, char **out_twin)
{
    char ifm[HEADER_MAX - 16];
    iots_http_response resp = {0};
    iots_err rc;

    if (iots_if_match_format(etag, ifm, sizeof ifm) != IOTS_OK) {
        rc = fail(client, IOTS_ERR_ARG, "etag too long");
        goto cleanup;
    }
    call_spec s = {.method = method,
                   .kind = module_id ? IOTS_PATH_MODULE_TWIN : IOTS_PATH_TWIN,
                   .device_id = device_id,
                   .module_id = module_id,
                   .body = body,
                   .if_match = ifm,
                   .timeout_s = client->request_timeout_s,
                   .expect_status = 200};
    rc = call(client, &s, &resp);
    if (rc == IOTS_OK)
        take_body(&resp, out_twin);

cleanup:
    free(body);
    return rc;
}

static iots_err patch_twin(iots_client *client, const char *device_id, const char *module_id,
                           const char *desired_json, const char *tags_json, const char *etag, char **out_twin)
{
    char *body = NULL;
    if (!client)
        return IOTS_ERR_ARG;
    iots_err rc = iots_twin_patch_body_format(desired_json, tags_json, &body);
    if (rc != IOTS_OK)
        return fail(client, rc, "bad twin patch: desired and tags must be JSON objects, at least one given");
    return write_twin(client, "PATCH", device_id, module_id, body, etag, out_twin);
}

iots_err iots_update_twin(iots_client *client, const char *device_id, const char *desired_json,
                          const char *tags_json, const char *etag, char **out_twin)
{
    return patch_twin(client, device_id, NULL, desired_json, tags_json, etag, out_twin);
}

iots_err iots_update_module_twin(iots_client *client, const char *device_id, const char *module_id,
                                 const char *desired_json, const char *tags_json, const char *etag,
                                 char **out_twin)
{
    if (client && !module_id)
        return fail(client, IOTS_ERR_ARG, "module_id is required");
    return patch_twin(client, device_id, module_id, desired_json, tags_json, etag, out_twin);
}

static iots_err replace_twin(iots_client *client, const char *device_id, const char *module_id,
                             const char *twin_json, const char *etag, char **out_twin)
{
    char *body = NULL;
    if (!client)
        return IOTS_ERR_ARG;
    iots_err rc = iots_twin_replace_body_format(twin_json, &body);
    if (rc != IOTS_OK)
        return fail(client, rc, "bad twin: the replacement must be a JSON object");
    return write_twin(client, "PUT", device_id, module_id, body, etag, out_twin);
}

iots_err iots_replace_twin(iots_client *client, const char *device_id, const char *twin_json,
                           const char *etag, char **out_twin)
{
    return replace_twin(client, device_id, NULL, twin_json, etag, out_twin);
}

iots_err iots_replace_module_twin(iots_client *client, const char *device_id, const char *module_id,
                                  const char *twin_json, const char *etag, char **out_twin)
{
    if (client && !module_id)
        return fail(client, IOTS_ERR_ARG, "module_id is required");
    return replace_twin(client, device_id, module_id, twin_json, etag, out_twin);
}

iots_err iots_create_device(iots_client *client, const char *device_id, char **out_device)
{
    char *body = NULL;
    iots_http_response resp = {0};
    iots_err rc;

    if (!client)
        return IOTS_ERR_ARG;
    rc = iots_device_create_body_format(device_id, &body);
    if (rc != IOTS_OK)
        return fail(client, rc, "invalid device id (empty or longer than 128 characters)");
    /* AZURE: create is a PUT without If-Match; the swagger documents 200 only. */
    call_spec s = {.method = "PUT",
                   .kind = IOTS_PATH_DEVICE,
                   .device_id = device_id,
                   .body = body,
                   .timeout_s = client->request_timeout_s};
    rc = call(client, &s, &resp);
    if (rc == IOTS_OK)
        take_body(&resp, out_device);
    free(body);
    return rc;
}

iots_err iots_get_device(iots_client *client, const char *device_id, char **out_device)
{
    iots_http_response resp = {0};
    if (!client)
        return IOTS_ERR_ARG;
    if (!out_device)
        return fail(client, IOTS_ERR_ARG, "out_device is required");
    call_spec s = {.method = "GET",
                   .kind = IOTS_PATH_DEVICE,
                   .device_id = device_id,
                   .timeout_s = client->request_timeout_s,
                   .expect_status = 200};
    iots_err rc = call(client, &s, &resp);
    if (rc == IOTS_OK)
        take_body(&resp, out_device);
    return rc;
}

iots_err iots_delete_device(iots_client *client, const char *device_id, const char *etag)
{
    char ifm[HEADER_MAX - 16];
    iots_http_response resp = {0};

    if (!client)
        return IOTS_ERR_ARG;
    if (iots_if_match_format(etag, ifm, sizeof ifm) != IOTS_OK)
        return fail(client, IOTS_ERR_ARG, "etag too long");
    call_spec s = {.method = "DELETE",
                   .kind = IOTS_PATH_DEVICE,
                   .device_id = device_id,
                   .if_match = ifm,
                   .timeout_s = client->request_timeout_s};
    iots_err rc = call(client, &s, &resp);
    iots_http_response_cleanup(&resp);
    return rc;
}

iots_err iots_create_module(iots_client *client, const char *device_id, const char *module_id,
                            char **out_module)
{
    char *body = NULL;
    iots_http_response resp = {0};
    iots_err rc;

    if (!client)
        return IOTS_ERR_ARG;
    rc = iots_module_create_body_format(device_id, module_id, &body);
    if (rc != IOTS_OK)
        return fail(client, rc, "invalid device or module id (empty or longer than 128 characters)");
    /* AZURE: like a device, a module is created by a PUT without If-Match */
    call_spec s = {.method = "PUT",
                   .kind = IOTS_PATH_MODULE,
                   .device_id = device_id,
                   .module_id = module_id,
                   .body = body,
                   .timeout_s = client->request_timeout_s};
    rc = call(client, &s, &resp);
    if (rc == IOTS_OK)
        take_body(&resp, out_module);
    free(body);
    return rc;
}

static iots_err get_json(iots_client *client, iots_path_kind kind, const char *device_id,
                         const char *module_id, char **out)
{
    iots_http_response resp = {0};
    if (!client)
        return IOTS_ERR_ARG;
    if (!out)
        return fail(client, IOTS_ERR_ARG, "the output pointer is required");
    if (kind == IOTS_PATH_MODULE && !module_id)
        return fail(client, IOTS_ERR_ARG, "module_id is required");
    call_spec s = {.method = "GET",
                   .kind = kind,
                   .device_id = device_id,
                   .module_id = module_id,
                   .timeout_s = client->request_timeout_s,
                   .expect_status = 200};
    iots_err rc = call(client, &s, &resp);
    if (rc == IOTS_OK)
        take_body(&resp, out);
    return rc;
}

iots_err iots_get_module(iots_client *client, const char *device_id, const char *module_id, char **out_module)
{
    return get_json(client, IOTS_PATH_MODULE, device_id, module_id, out_module);
}

iots_err iots_list_modules(iots_client *client, const char *device_id, char **out_modules)
{
    iots_err rc = get_json(client, IOTS_PATH_MODULES, device_id, NULL, out_modules);
    int n = 0;
    if (rc == IOTS_OK && iots_query_page_check(*out_modules, strlen(*out_modules), &n) != IOTS_OK) {
        free(*out_modules);
        *out_modules = NULL;
        rc = fail(client, IOTS_ERR_PROTOCOL, "the hub's module list is not a JSON array");
    }
    return rc;
}

iots_err iots_delete_module(iots_client *client, const char *device_id, const char *module_id,
                            const char *etag)
{
    char ifm[HEADER_MAX - 16];
    iots_http_response resp = {0};

    if (!client)
        return IOTS_ERR_ARG;
    if (!module_id)
        return fail(client, IOTS_ERR_ARG, "module_id is required");
    if (iots_if_match_format(etag, ifm, sizeof ifm) != IOTS_OK)
        return fail(client, IOTS_ERR_ARG, "etag too long");
    call_spec s = {.method = "DELETE",
                   .kind = IOTS_PATH_MODULE,
                   .device_id = device_id,
                   .module_id = module_id,
                   .if_match = ifm,
                   .timeout_s = client->request_timeout_s};
    iots_err rc = call(client, &s, &resp);
    iots_http_response_cleanup(&resp);
    return rc;
}

iots_err iots_query_new(iots_client *client, const char *sql, int page_size, iots_query **out)
{
    iots_query *q = NULL;
    if (!client || !out)
        return IOTS_ERR_ARG;
    q = calloc(1, sizeof *q);
    if (!q)
        return fail(client, IOTS_ERR_NOMEM, "out of memory");
    iots_err rc = iots_query_body_format(sql, &q->body);
    if (rc != IOTS_OK) {
        free(q);
        return fail(client, rc, "empty query");
    }
    q->client = client;
    q->page_size = page_size > 0 ? page_size : 0;
    *out = q;
    return IOTS_OK;
}

iots_err iots_query_next(iots_query *q, char **out_page, int *out_count)
{
    char max_items[24];
    iots_http_response resp = {0};
    int count = 0;
    iots_err rc;

    if (!q)
        return IOTS_ERR_ARG;
    if (!out_page)
        return fail(q->client, IOTS_ERR_ARG, "out_page is required");
    if (!iots_query_has_more(q))
        return fail(q->client, IOTS_ERR_ARG, "the query has no more pages");
    if (q->page_size)
        snprintf(max_items, sizeof max_items, "%d", q->page_size);
    /* AZURE: later pages re-send the same body and page size with the token. */
    call_spec s = {.method = "POST",
                   .kind = IOTS_PATH_QUERY,
                   .body = q->body,
                   .max_items = q->page_size ? max_items : NULL,
                   .continuation = q->continuation,
                   .timeout_s = q->client->request_timeout_s,
                   .expect_status = 200};
    rc = call(q->client, &s, &resp);
    if (rc != IOTS_OK)
        return rc;
    rc = iots_query_page_check(resp.body, resp.body_len, &count);
    if (rc != IOTS_OK) {
        iots_http_response_cleanup(&resp);
        return fail(q->client, rc, "the hub's query answer is not a JSON array");
    }
    q->started = 1;
    free(q->continuation);
    /* An empty token would mean "more" for ever; treat it as the end. */
    q->continuation = resp.continuation && *resp.continuation ? resp.continuation : NULL;
    if (q->continuation)
        resp.continuation = NULL;
    q->done = q->continuation == NULL;
    if (out_count)
        *out_count = count;
    take_body(&resp, out_page);
    return IOTS_OK;
}

int iots_query_has_more(const iots_query *query)
{
    return query && (!query->started || !query->done);
}

void iots_query_free(iots_query *query)
{
    if (!query)
        return;
    free(query->body);
    free(query->continuation);
    free(query);
}
