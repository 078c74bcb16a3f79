/* iots_error.c - reads IoT Hub REST error answers into iots_error_info. Pure code (cJSON only).
 * Envelopes and codes: https://learn.microsoft.com/azure/iot-hub/troubleshoot-error-codes and
 * iothub-protocol.md 5.2 / addendum 8 (captures from real hubs).
 */
#include "iots_error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error bodies bigger than this are not parsed as JSON (the hub's are a few hundred bytes). */
#define IOTS_ERROR_BODY_MAX (64 * 1024)

static const char *const err_text[IOTS_ERR__COUNT] = {
    [IOTS_OK] = "success",
    [IOTS_ERR_ARG] = "invalid argument",
    [IOTS_ERR_NOMEM] = "out of memory",
    [IOTS_ERR_CONNSTR] = "malformed connection string",
    [IOTS_ERR_CONFIG] = "client configuration error",
    [IOTS_ERR_TRANSPORT] = "hub unreachable",
    [IOTS_ERR_TLS] = "TLS failure",
    [IOTS_ERR_PROTOCOL] = "unreadable answer from the hub",
    [IOTS_ERR_UNAUTHORIZED] = "unauthorized",
    [IOTS_ERR_FORBIDDEN] = "forbidden",
    [IOTS_ERR_BAD_REQUEST] = "bad request",
    [IOTS_ERR_DEVICE_NOT_FOUND] = "device not found",
    [IOTS_ERR_DEVICE_NOT_ONLINE] = "device not online",
    [IOTS_ERR_NOT_FOUND] = "not found",
    [IOTS_ERR_CONFLICT] = "conflict",
    [IOTS_ERR_PRECONDITION] = "precondition failed (etag mismatch)",
    [IOTS_ERR_TOO_LARGE] = "request too large",
    [IOTS_ERR_THROTTLED] = "throttled",
    [IOTS_ERR_SERVER] = "hub server error",
    [IOTS_ERR_TIMEOUT] = "timed out waiting for the device",
    [IOTS_ERR_HTTP] = "unexpected HTTP status",
};

const char *iots_err_str(iots_err err)
{
    if ((int)err < 0 || err >= IOTS_ERR__COUNT || !err_text[err])
        return "unknown error";
    return err_text[err];
}

/* Names and numbers from the .NET service SDK's ErrorCode.cs and the troubleshooting page. */
static const struct {
    const char *name;
    long code;
} code_table[] = {
    {"GenericBadRequest", 400000},
    {"InvalidProtocolVersion", 400001},
    {"DeviceInvalidResultCount", 400002},
    {"InvalidOperation", 400003},
    {"ArgumentInvalid", 400004},
    {"ArgumentNull", 400005},
    {"IotHubFormatError", 400006},
    {"DeviceStorageEntitySerializationError", 400007},
    {"DeviceDefinedMultipleTimes", 400011},
    {"DeserializationError", 400012},
    {"BulkRegistryOperationFailure", 400013},
    {"EtagDoesNotMatch", 400023},
    {"GenericUnauthorized", 401000},
    {"IotHubNotFound", 401001},
    {"IotHubUnauthorizedAccess", 401002},
    {"IotHubUnauthorized", 401003},
    {"IotHubSuspended", 403001},
    {"IotHubQuotaExceeded", 403002},
    {"JobQuotaExceeded", 403003},
    {"DeviceMaximumQueueDepthExceeded", 403004},
    {"DeviceDisabled", 403012},
    {"DeviceMaximumInflightMethodExceeded", 403800},
    {"GenericNotFound", 404000},
    {"DeviceNotFound", 404001},
    {"JobNotFound", 404002},
    {"ModuleNotFound", 404010},
    {"DeviceNotOnline", 404103},
    {"DeviceConnectionClosedRemotely", 404104},
    {"GenericMethodNotAllowed", 405000},
    {"GenericConflict", 409000},
    {"DeviceAlreadyExists", 409001},
    {"ModuleAlreadyExistsOnDevice", 409301},
    {"GenericPreconditionFailed", 412000},
    {"PreconditionFailed", 412001},
    {"DeviceMessageLockLost", 412002},
    {"MessageTooLarge", 413001},
    {"TooManyDevices", 413002},
    {"GenericTooManyRequests", 429000},
    {"ThrottlingException", 429001},
    {"ThrottleBacklogLimitExceeded", 429002},
    {"ServerError", 500001},
    {"GenericTimeout", 500008},
    {"GenericBadGateway", 502000},
    {"GenericServiceUnavailable", 503000},
    {"ServiceUnavailable", 503001},
    {"ServerBusy", 503005},
    {"DeviceUnavailable", 503102},
    {"GenericGatewayTimeout", 504000},
    {"GatewayTimeout", 504101},
};

long iots_error_code_for_name(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < sizeof code_table / sizeof code_table[0]; i++)
        if (strcmp(code_table[i].name, name) == 0)
            return code_table[i].code;
    return 0;
}

const char *iots_error_name_for_code(long code)
{
    for (size_t i = 0; i < sizeof code_table / sizeof code_table[0]; i++)
        if (code_table[i].code == code)
            return code_table[i].name;
    return NULL;
}

static int name_is(const char *name, const char *want)
{
    return name && strcmp(name, want) == 0;
}

iots_err iots_error_classify(long http_status, const char *name, long code)
{
    if (http_status >= 200 && http_status < 300)
        return IOTS_OK;
    /* AZURE: the docs table also lists 404102 under DeviceNotOnline. */
    if (name_is(name, "DeviceNotOnline") || code == 404103 || code == 404102)
        return IOTS_ERR_DEVICE_NOT_ONLINE;
    if (name_is(name, "DeviceNotFound") || name_is(name, "ModuleNotFound") || code == 404001 ||
        code == 404010)
        return IOTS_ERR_DEVICE_NOT_FOUND;
    if (name_is(name, "GatewayTimeout") || code == 504101)
        return IOTS_ERR_TIMEOUT;
    switch (http_status) {
    case 400:
        return IOTS_ERR_BAD_REQUEST;
    case 401:
        return IOTS_ERR_UNAUTHORIZED;
    case 403:
        return IOTS_ERR_FORBIDDEN;
    case 404:
        return IOTS_ERR_NOT_FOUND;
    case 408:
        return IOTS_ERR_TIMEOUT;
    case 409:
        return IOTS_ERR_CONFLICT;
    case 412:
        return IOTS_ERR_PRECONDITION;
    case 413:
        return IOTS_ERR_TOO_LARGE;
    case 429:
        return IOTS_ERR_THROTTLED;
    case 500:
    case 502:
    case 503:
        return IOTS_ERR_SERVER;
    case 504:
        return IOTS_ERR_TIMEOUT;
    default:
        return IOTS_ERR_HTTP;
    }
}

static void copy_str(char *dst, size_t dstsz, const char *src, size_t n)
{
    if (dstsz == 0)
        return;
    if (!src)
        n = 0;
    if (n >= dstsz)
        n = dstsz - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void iots_error_set(iots_error_info *out, iots_err err, const char *message)
{
    memset(out, 0, sizeof *out);
    out->err = err;
    if (message)
        copy_str(out->message, sizeof out->message, message, strlen(message));
}

/* Reads {"errorCode":N,"trackingId":"..","message":".."} (the object inside the newer envelope and
 * the bare MQTT-style body). Returns 1 when errorCode was present. */
static int read_code_object(const cJSON *obj, iots_error_info *out)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "errorCode");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(obj, "trackingId");
    if (!cJSON_IsNumber(code))
        return 0;
    out->code = (long)code->valuedouble;
    const char *name = iots_error_name_for_code(out->code);
    if (name)
        copy_str(out->name, sizeof out->name, name, strlen(name));
    if (cJSON_IsString(msg))
        copy_str(out->message, sizeof out->message, msg->valuestring, strlen(msg->valuestring));
    if (cJSON_IsString(tid))
        copy_str(out->tracking_id, sizeof out->tracking_id, tid->valuestring, strlen(tid->valuestring));
    return 1;
}

/* "ErrorCode:<Name>;<text>" -> name and text. Returns 1 when the prefix matched. */
static int read_legacy_message(const char *m, iots_error_info *out)
{
    static const char prefix[] = "ErrorCode:";
    if (strncmp(m, prefix, sizeof prefix - 1) != 0)
        return 0;
    const char *name = m + sizeof prefix - 1;
    const char *semi = strchr(name, ';');
    size_t nlen = semi ? (size_t)(semi - name) : strlen(name);
    copy_str(out->name, sizeof out->name, name, nlen);
    if (semi)
        copy_str(out->message, sizeof out->message, semi + 1, strlen(semi + 1));
    out->code = iots_error_code_for_name(out->name);
    return 1;
}

/* "Tracking ID:<id>" -> <id> */
static void read_exception_message(const cJSON *em, iots_error_info *out)
{
    static const char prefix[] = "Tracking ID:";
    if (!cJSON_IsString(em) || out->tracking_id[0])
        return;
    const char *s = em->valuestring;
    if (strncmp(s, prefix, sizeof prefix - 1) == 0)
        s += sizeof prefix - 1;
    while (*s == ' ')
        s++;
    copy_str(out->tracking_id, sizeof out->tracking_id, s, strlen(s));
}

static void parse_body(const char *body, size_t len, iots_error_info *out)
{
    cJSON *root = NULL;
    cJSON *inner = NULL;

    if (!body || len == 0 || len > IOTS_ERROR_BODY_MAX)
        goto cleanup;
    root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        /* Not JSON: keep the start of the text as the message (proxies answer HTML/plain text). */
        copy_str(out->message, sizeof out->message, body, len);
        goto cleanup;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "Message");
    if (!m)
        m = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring;
        while (*s == ' ')
            s++;
        if (*s == '{' && (inner = cJSON_Parse(s)) != NULL && read_code_object(inner, out)) {
            /* newer envelope: Message is itself JSON */
        } else if (!read_legacy_message(s, out)) {
            copy_str(out->message, sizeof out->message, m->valuestring, strlen(m->valuestring));
        }
    }
    if (!out->name[0] && !out->code)
        read_code_object(root, out);
    read_exception_message(cJSON_GetObjectItemCaseSensitive(root, "ExceptionMessage"), out);

cleanup:
    cJSON_Delete(inner);
    cJSON_Delete(root);
}

iots_err iots_error_parse(long http_status, const char *body, size_t len, const char *errorcode_header,
                          iots_error_info *out)
{
    memset(out, 0, sizeof *out);
    out->http_status = http_status;
    parse_body(body, len, out);
    /* The header names the error when the body does not (or does not parse). */
    if (!out->name[0] && errorcode_header && *errorcode_header) {
        copy_str(out->name, sizeof out->name, errorcode_header, strlen(errorcode_header));
        if (!out->code)
            out->code = iots_error_code_for_name(out->name);
    }
    out->err = iots_error_classify(http_status, out->name[0] ? out->name : NULL, out->code);
    if (!out->message[0]) {
        const char *txt = iots_err_str(out->err);
        copy_str(out->message, sizeof out->message, txt, strlen(txt));
    }
    return out->err;
}
