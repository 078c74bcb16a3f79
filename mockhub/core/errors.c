/* errors.c - the one table from mh_err to HTTP status, IoT Hub error name and number, and the two
 * error bodies the hub sends (REST legacy envelope, MQTT twin error reply). Follows
 * shared/reference/iothub-protocol.md 5.2 and the addendum 8.
 */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>

static const mh_err_info err_table[MH_ERR__COUNT] = {
    [MH_OK] = {200, "OK", 0},
    [MH_ERR_NOMEM] = {500, "ServerError", 500001},
    [MH_ERR_INTERNAL] = {500, "ServerError", 500001},
    [MH_ERR_ARGUMENT_INVALID] = {400, "ArgumentInvalid", 400004},
    [MH_ERR_ARGUMENT_NULL] = {400, "ArgumentNull", 400005},
    [MH_ERR_FORMAT] = {400, "IotHubFormatError", 400006},
    [MH_ERR_UNAUTHORIZED] = {401, "IotHubUnauthorizedAccess", 401002},
    [MH_ERR_DEVICE_NOT_FOUND] = {404, "DeviceNotFound", 404001},
    [MH_ERR_NOT_FOUND] = {404, "GenericNotFound", 404000},
    [MH_ERR_DEVICE_NOT_ONLINE] = {404, "DeviceNotOnline", 404103},
    [MH_ERR_METHOD_NOT_ALLOWED] = {405, "GenericMethodNotAllowed", 405000},
    [MH_ERR_DEVICE_EXISTS] = {409, "DeviceAlreadyExists", 409001},
    [MH_ERR_PRECONDITION] = {412, "PreconditionFailed", 412001},
    [MH_ERR_TOO_LARGE] = {413, "MessageTooLarge", 413001},
    [MH_ERR_THROTTLED] = {429, "ThrottlingException", 429001},
    /* MOCK: the real hub has no 501; the name and number are ours. */
    [MH_ERR_NOT_IMPLEMENTED] = {501, "NotImplemented", 501000},
    [MH_ERR_UNAVAILABLE] = {503, "ServiceUnavailable", 503001},
    [MH_ERR_GATEWAY_TIMEOUT] = {504, "GatewayTimeout", 504101},
    [MH_ERR_QUERY] = {400, "BadRequest", 400000},
    [MH_ERR_SERVER_BUSY] = {503, "ServerBusy", 503005},
    [MH_ERR_QUEUE_FULL] = {403, "DeviceMaximumQueueDepthExceeded", 403004},
    [MH_ERR_MODULE_NOT_FOUND] = {404, "ModuleNotFound", 404010},
    [MH_ERR_MODULE_EXISTS] = {409, "ModuleAlreadyExistsOnDevice", 409301},
    [MH_ERR_TOO_MANY_MODULES] = {413, "TooManyModulesOnDevice", 413003},
    [MH_ERR_DEFINED_TWICE] = {400, "DeviceDefinedMultipleTimes", 400011},
    [MH_ERR_BULK_FAILURE] = {400, "BulkRegistryOperationFailure", 400013},
    [MH_ERR_TOO_MANY_DEVICES] = {413, "TooManyDevices", 413002},
};

const mh_err_info *mh_err_lookup(mh_err code)
{
    if ((int)code < 0 || code >= MH_ERR__COUNT)
        code = MH_ERR_INTERNAL;
    return &err_table[code];
}

mh_err mh_fail(mh_status *st, mh_err code, const char *fmt, ...)
{
    va_list ap;

    if (st) {
        st->code = code;
        st->text[0] = '\0';
        if (fmt) {
            va_start(ap, fmt);
            vsnprintf(st->text, sizeof st->text, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

/* 32 lowercase hex digits; falls back to time-derived bits when getrandom fails (never fatal: a
 * tracking id only needs to look unique). */
static void tracking_hex(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];
    size_t i;

    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)((unsigned long)ts.tv_nsec >> (i % 4 * 8) ^
                                     (unsigned long)ts.tv_sec >> (i % 3 * 8));
    }
    for (i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
}

/* "<32 hex>-G:0-TimeStamp:MM/dd/yyyy HH:mm:ss" (AZURE: the hub's tracking id form). */
static void tracking_id(char *buf, size_t len)
{
    char hex[33];
    time_t now = time(NULL);
    struct tm tm;

    tracking_hex(hex);
    gmtime_r(&now, &tm);
    snprintf(buf, len, "%s-G:0-TimeStamp:%02d/%02d/%04d %02d:%02d:%02d", hex, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *mh_err_rest_body(mh_err code, const char *text)
{
    const mh_err_info *info = mh_err_lookup(code);
    cJSON *root = NULL;
    char *message = NULL, *out = NULL;
    char tid[96], exception[128];
    size_t len;

    if (!text)
        text = "";
    len = strlen("ErrorCode:") + strlen(info->name) + 1 + strlen(text) + 1;
    message = malloc(len);
    if (!message)
        goto cleanup;
    snprintf(message, len, "ErrorCode:%s;%s", info->name, text);
    tracking_id(tid, sizeof tid);
    snprintf(exception, sizeof exception, "Tracking ID:%s", tid);
    root = cJSON_CreateObject();
    if (!root || !cJSON_AddStringToObject(root, "Message", message) ||
        !cJSON_AddStringToObject(root, "ExceptionMessage", exception))
        goto cleanup;
    out = cJSON_PrintUnformatted(root);
cleanup:
    cJSON_Delete(root);
    free(message);
    return out;
}

char *mh_err_mqtt_body(mh_err code, const char *text)
{
    const mh_err_info *info = mh_err_lookup(code);
    cJSON *root = NULL;
    char *out = NULL;
    char tid[96], now[40];
    long number = info->number;

    /* AZURE: a malformed reported patch gets errorCode 400004 over MQTT (iot-central-firmware#107),
     * although the REST side uses IotHubFormatError 400006 for bad JSON. */
    if (code == MH_ERR_FORMAT)
        number = 400004;
    tracking_id(tid, sizeof tid);
    mh_time_now_iso(now, sizeof now);
    root = cJSON_CreateObject();
    if (!root || !cJSON_AddNumberToObject(root, "errorCode", (double)number) ||
        !cJSON_AddStringToObject(root, "trackingId", tid) ||
        !cJSON_AddStringToObject(root, "message", text ? text : "") ||
        !cJSON_AddStringToObject(root, "timestampUtc", now))
        goto cleanup;
    out = cJSON_PrintUnformatted(root);
cleanup:
    cJSON_Delete(root);
    return out;
}

void mh_time_now_iso(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char frac[24] = "";
    long ticks;
    int n;

    if (!buf || len == 0)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    ticks = (ts.tv_nsec / 100) % 10000000; /* .NET ticks: 7 fraction digits */
    if (ticks > 0) {
        snprintf(frac, sizeof frac, ".%07ld", ticks);
        n = (int)strlen(frac);
        while (n > 1 && frac[n - 1] == '0')
            frac[--n] = '\0';
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}
