/* iots_proto.c - pure request/response code for the service REST API (no sockets, no libcurl).
 * Request shapes copy azure-iothub 1.16 (node-sdk-behaviour.md 2.2); answers are read as the
 * real hub writes them (iothub-protocol.md 5, addendum 4 and 6).
 */
#include "iots_proto.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iot_url.h"

#define DEVICE_ID_MAX 128

iots_err iots_host_split(const char *host_name, char *host, size_t hostsz, int *out_port)
{
    if (!host_name || !host || !out_port)
        return IOTS_ERR_ARG;
    const char *end = host_name + strlen(host_name);
    const char *hstart = host_name;
    const char *hend = end;
    const char *colon = NULL;

    if (*host_name == '[') { /* IPv6 literal */
        const char *rb = strchr(host_name, ']');
        if (!rb)
            return IOTS_ERR_CONNSTR;
        hstart = host_name + 1;
        hend = rb;
        if (rb[1] == ':')
            colon = rb + 1;
        else if (rb[1] != '\0')
            return IOTS_ERR_CONNSTR;
    } else {
        colon = strchr(host_name, ':');
        if (colon) {
            if (strchr(colon + 1, ':'))
                return IOTS_ERR_CONNSTR;
            hend = colon;
        }
    }
    if (hend == hstart)
        return IOTS_ERR_CONNSTR;
    int port = 0;
    if (colon) {
        const char *p = colon + 1;
        if (*p == '\0')
            return IOTS_ERR_CONNSTR;
        for (; *p; p++) {
            if (!isdigit((unsigned char)*p))
                return IOTS_ERR_CONNSTR;
            port = port * 10 + (*p - '0');
            if (port > 65535)
                return IOTS_ERR_CONNSTR;
        }
        if (port == 0)
            return IOTS_ERR_CONNSTR;
    }
    size_t n = (size_t)(hend - hstart);
    if (n + 1 > hostsz)
        return IOTS_ERR_ARG;
    memcpy(host, hstart, n);
    host[n] = '\0';
    *out_port = port;
    return IOTS_OK;
}

static int module_kind(iots_path_kind kind)
{
    return kind == IOTS_PATH_MODULE || kind == IOTS_PATH_MODULE_TWIN || kind == IOTS_PATH_MODULE_METHODS;
}

/* encodeURIComponent(id) into enc; 0 for an empty, oversized or unencodable id */
static int encode_id(const char *id, char *enc, size_t encsz)
{
    return id && *id && strlen(id) <= DEVICE_ID_MAX && iot_url_encode(id, strlen(id), enc, encsz) == IOT_OK;
}

iots_err iots_url_format_module(const char *host_name, iots_path_kind kind, const char *device_id,
                                const char *module_id, char *out, size_t outsz)
{
    char enc[DEVICE_ID_MAX * 3 + 1], menc[DEVICE_ID_MAX * 3 + 1];
    int n;

    if (!host_name || !*host_name || !out)
        return IOTS_ERR_ARG;
    if (kind != IOTS_PATH_QUERY && !encode_id(device_id, enc, sizeof enc))
        return IOTS_ERR_ARG;
    if (module_kind(kind) && !encode_id(module_id, menc, sizeof menc))
        return IOTS_ERR_ARG;
    switch (kind) {
    case IOTS_PATH_DEVICE:
        n = snprintf(out, outsz, "https://%s/devices/%s?api-version=" IOTS_API_VERSION, host_name, enc);
        break;
    case IOTS_PATH_TWIN:
        n = snprintf(out, outsz, "https://%s/twins/%s?api-version=" IOTS_API_VERSION, host_name, enc);
        break;
    case IOTS_PATH_METHODS:
        n = snprintf(out, outsz, "https://%s/twins/%s/methods?api-version=" IOTS_API_VERSION, host_name, enc);
        break;
    case IOTS_PATH_QUERY:
        n = snprintf(out, outsz, "https://%s/devices/query?api-version=" IOTS_API_VERSION, host_name);
        break;
    case IOTS_PATH_MODULE:
        n = snprintf(out, outsz, "https://%s/devices/%s/modules/%s?api-version=" IOTS_API_VERSION, host_name,
                     enc, menc);
        break;
    case IOTS_PATH_MODULES:
        n = snprintf(out, outsz, "https://%s/devices/%s/modules?api-version=" IOTS_API_VERSION, host_name,
                     enc);
        break;
    case IOTS_PATH_MODULE_TWIN:
        n = snprintf(out, outsz, "https://%s/twins/%s/modules/%s?api-version=" IOTS_API_VERSION, host_name,
                     enc, menc);
        break;
    case IOTS_PATH_MODULE_METHODS:
        n = snprintf(out, outsz, "https://%s/twins/%s/modules/%s/methods?api-version=" IOTS_API_VERSION,
                     host_name, enc, menc);
        break;
    default:
        return IOTS_ERR_ARG;
    }
    if (n < 0 || (size_t)n >= outsz)
        return IOTS_ERR_ARG;
    return IOTS_OK;
}

iots_err iots_url_format(const char *host_name, iots_path_kind kind, const char *device_id, char *out,
                         size_t outsz)
{
    if (module_kind(kind) || kind == IOTS_PATH_MODULES)
        return IOTS_ERR_ARG; /* needs a module id: iots_url_format_module */
    return iots_url_format_module(host_name, kind, device_id, NULL, out, outsz);
}

iots_err iots_if_match_format(const char *etag, char *out, size_t outsz)
{
    int n;
    size_t len = etag ? strlen(etag) : 0;

    /* AZURE: every service SDK quotes If-Match, the wildcard included ("*" with quotes). */
    if (!etag || len == 0 || strcmp(etag, "*") == 0)
        n = snprintf(out, outsz, "\"*\"");
    else if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"')
        n = snprintf(out, outsz, "%s", etag);
    else
        n = snprintf(out, outsz, "\"%s\"", etag);
    if (n < 0 || (size_t)n >= outsz)
        return IOTS_ERR_ARG;
    return IOTS_OK;
}

void iots_uuid_format(const unsigned char random16[16], char out[37])
{
    unsigned char b[16];
    memcpy(b, random16, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* The hub validates sr against its own host name, which never carries a port: the real SDKs take
 * sr from HostName, and a real HostName has no port. A "host:port" HostName only exists for local
 * non-root runs (the hub listening on another port), so we sign the host part alone; the hub sees
 * the name it is configured with. */
iots_err iots_sas_resource(const char *host_name, char *out, size_t outsz)
{
    int port;
    return iots_host_split(host_name, out, outsz, &port);
}

int iots_sas_needs_renewal(long long expiry, long long now, long long margin_s)
{
    return expiry - now < margin_s;
}

static char *print_and_free(cJSON *root)
{
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

iots_err iots_method_body_format(const char *method_name, const char *payload_json, int response_timeout_s,
                                 int connect_timeout_s, char **out)
{
    cJSON *root = NULL;
    cJSON *payload = NULL;
    char *text = NULL;
    iots_err rc = IOTS_ERR_NOMEM;

    if (!method_name || !*method_name || !out || response_timeout_s < 0 || connect_timeout_s < 0)
        return IOTS_ERR_ARG;
    if (payload_json) {
        payload = cJSON_Parse(payload_json);
        if (!payload) {
            rc = IOTS_ERR_ARG;
            goto cleanup;
        }
    } else {
        payload = cJSON_CreateNull();
        if (!payload)
            goto cleanup;
    }
    root = cJSON_CreateObject();
    if (!root || !cJSON_AddStringToObject(root, "methodName", method_name))
        goto cleanup;
    /* Node's order: methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds. */
    cJSON_AddItemToObject(root, "payload", payload);
    payload = NULL;
    if (!cJSON_AddNumberToObject(root, "responseTimeoutInSeconds", response_timeout_s) ||
        !cJSON_AddNumberToObject(root, "connectTimeoutInSeconds", connect_timeout_s))
        goto cleanup;
    text = print_and_free(root);
    root = NULL;
    if (!text)
        goto cleanup;
    *out = text;
    rc = IOTS_OK;

cleanup:
    cJSON_Delete(payload);
    cJSON_Delete(root);
    return rc;
}

long iots_method_http_timeout_s(int response_timeout_s, int connect_timeout_s)
{
    return (long)response_timeout_s + (long)connect_timeout_s + 15;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Fallback for the verbatim-pasted device answer: {"status":N,"payload":<anything>} */
static iots_err parse_raw_method_result(const char *body, size_t len, int *out_status, char **out_payload)
{
    static const char p1[] = "{\"status\":";
    static const char p2[] = ",\"payload\":";
    size_t i = sizeof p1 - 1;
    long status = 0;
    int digits = 0, neg = 0;

    if (len < sizeof p1 - 1 + sizeof p2 || memcmp(body, p1, sizeof p1 - 1) != 0)
        return IOTS_ERR_PROTOCOL;
    if (i < len && body[i] == '-') {
        neg = 1;
        i++;
    }
    while (i < len && isdigit((unsigned char)body[i]) && digits < 10) {
        status = status * 10 + (body[i] - '0');
        i++;
        digits++;
    }
    if (!digits || len - i < sizeof p2 - 1 || memcmp(body + i, p2, sizeof p2 - 1) != 0)
        return IOTS_ERR_PROTOCOL;
    i += sizeof p2 - 1;
    size_t end = len;
    while (end > i && isspace((unsigned char)body[end - 1]))
        end--;
    if (end <= i || body[end - 1] != '}')
        return IOTS_ERR_PROTOCOL;
    end--;
    while (end > i && isspace((unsigned char)body[end - 1]))
        end--;
    /* AZURE: the 2017 hub wrote {"status":N,"payload":} for an empty device answer: that is null. */
    char *payload = end > i ? dup_n(body + i, end - i) : strdup("null");
    if (!payload)
        return IOTS_ERR_NOMEM;
    *out_status = (int)(neg ? -status : status);
    *out_payload = payload;
    return IOTS_OK;
}

iots_err iots_method_result_parse(const char *body, size_t len, int *out_status, char **out_payload)
{
    cJSON *root = NULL;
    char *payload = NULL;
    iots_err rc = IOTS_ERR_PROTOCOL;

    if (!body || !out_status || !out_payload || len == 0 || len > IOTS_BODY_MAX)
        return IOTS_ERR_PROTOCOL;
    root = cJSON_ParseWithLength(body, len);
    if (!root) {
        rc = parse_raw_method_result(body, len, out_status, out_payload);
        goto cleanup;
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (!cJSON_IsObject(root) || !cJSON_IsNumber(status))
        goto cleanup;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "payload");
    payload = p ? cJSON_PrintUnformatted(p) : strdup("null");
    if (!payload) {
        rc = IOTS_ERR_NOMEM;
        goto cleanup;
    }
    *out_status = (int)status->valuedouble;
    *out_payload = payload;
    payload = NULL;
    rc = IOTS_OK;

cleanup:
    free(payload);
    cJSON_Delete(root);
    return rc;
}

iots_err iots_query_body_format(const char *sql, char **out)
{
    if (!sql || !*sql || !out)
        return IOTS_ERR_ARG;
    cJSON *root = cJSON_CreateObject();
    if (!root || !cJSON_AddStringToObject(root, "query", sql)) {
        cJSON_Delete(root);
        return IOTS_ERR_NOMEM;
    }
    char *text = print_and_free(root);
    if (!text)
        return IOTS_ERR_NOMEM;
    *out = text;
    return IOTS_OK;
}

iots_err iots_device_create_body_format(const char *device_id, char **out)
{
    cJSON *root = NULL;
    iots_err rc = IOTS_ERR_NOMEM;

    if (!device_id || !*device_id || strlen(device_id) > DEVICE_ID_MAX || !out)
        return IOTS_ERR_ARG;
    /* AZURE: deviceId first, then authentication, as azure-iothub's Registry.create sends it. */
    root = cJSON_CreateObject();
    cJSON *auth = NULL;
    if (!root || !cJSON_AddStringToObject(root, "deviceId", device_id) ||
        !(auth = cJSON_AddObjectToObject(root, "authentication")))
        goto cleanup;
    cJSON *sk = NULL;
    if (!cJSON_AddStringToObject(auth, "type", "sas") ||
        !(sk = cJSON_AddObjectToObject(auth, "symmetricKey")) ||
        !cJSON_AddStringToObject(sk, "primaryKey", "") || !cJSON_AddStringToObject(sk, "secondaryKey", ""))
        goto cleanup;
    char *text = print_and_free(root);
    root = NULL;
    if (!text)
        goto cleanup;
    *out = text;
    rc = IOTS_OK;

cleanup:
    cJSON_Delete(root);
    return rc;
}

iots_err iots_module_create_body_format(const char *device_id, const char *module_id, char **out)
{
    cJSON *root = NULL, *auth = NULL, *sk = NULL;
    iots_err rc = IOTS_ERR_NOMEM;

    if (!device_id || !*device_id || strlen(device_id) > DEVICE_ID_MAX || !module_id || !*module_id ||
        strlen(module_id) > DEVICE_ID_MAX || !out)
        return IOTS_ERR_ARG;
    root = cJSON_CreateObject();
    if (!root || !cJSON_AddStringToObject(root, "deviceId", device_id) ||
        !cJSON_AddStringToObject(root, "moduleId", module_id) ||
        !(auth = cJSON_AddObjectToObject(root, "authentication")) ||
        !cJSON_AddStringToObject(auth, "type", "sas") ||
        !(sk = cJSON_AddObjectToObject(auth, "symmetricKey")) ||
        !cJSON_AddStringToObject(sk, "primaryKey", "") || !cJSON_AddStringToObject(sk, "secondaryKey", ""))
        goto cleanup;
    char *text = print_and_free(root);
    root = NULL;
    if (!text)
        goto cleanup;
    *out = text;
    rc = IOTS_OK;

cleanup:
    cJSON_Delete(root);
    return rc;
}

iots_err iots_twin_replace_body_format(const char *twin_json, char **out)
{
    if (!twin_json || !out)
        return IOTS_ERR_ARG;
    cJSON *root = cJSON_Parse(twin_json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return IOTS_ERR_ARG;
    }
    char *text = print_and_free(root);
    if (!text)
        return IOTS_ERR_NOMEM;
    *out = text;
    return IOTS_OK;
}

iots_err iots_twin_patch_body_format(const char *desired_json, const char *tags_json, char **out)
{
    cJSON *root = NULL;
    cJSON *desired = NULL;
    cJSON *tags = NULL;
    iots_err rc = IOTS_ERR_ARG;

    if ((!desired_json && !tags_json) || !out)
        return IOTS_ERR_ARG;
    if (tags_json && !cJSON_IsObject(tags = cJSON_Parse(tags_json)))
        goto cleanup;
    if (desired_json && !cJSON_IsObject(desired = cJSON_Parse(desired_json)))
        goto cleanup;
    rc = IOTS_ERR_NOMEM;
    root = cJSON_CreateObject();
    if (!root)
        goto cleanup;
    if (tags) {
        cJSON_AddItemToObject(root, "tags", tags);
        tags = NULL;
    }
    if (desired) {
        cJSON *props = cJSON_AddObjectToObject(root, "properties");
        if (!props)
            goto cleanup;
        cJSON_AddItemToObject(props, "desired", desired);
        desired = NULL;
    }
    char *text = print_and_free(root);
    root = NULL;
    if (!text)
        goto cleanup;
    *out = text;
    rc = IOTS_OK;

cleanup:
    cJSON_Delete(tags);
    cJSON_Delete(desired);
    cJSON_Delete(root);
    return rc;
}

int iots_header_match(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name);
    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0 || outsz == 0)
        return 0;
    size_t i = nlen + 1;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t end = len;
    while (end > i &&
           (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' ' || line[end - 1] == '\t'))
        end--;
    size_t n = end - i;
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, line + i, n);
    out[n] = '\0';
    return 1;
}

iots_err iots_query_page_check(const char *body, size_t len, int *out_count)
{
    if (!body || len == 0 || len > IOTS_BODY_MAX || !out_count)
        return IOTS_ERR_PROTOCOL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return IOTS_ERR_PROTOCOL;
    }
    *out_count = cJSON_GetArraySize(root);
    cJSON_Delete(root);
    return IOTS_OK;
}
