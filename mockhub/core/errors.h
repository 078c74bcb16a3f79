/* errors.h - the hub's error codes and their one translation to IoT Hub's wire forms.
 *
 * Every fallible hub function returns an mh_err. The text for the client goes in an mh_status the
 * caller passes. This module is the only place that knows HTTP statuses, IoT Hub error names and
 * numeric codes (https://learn.microsoft.com/azure/iot-hub/troubleshoot-error-codes).
 */
#ifndef MH_ERRORS_H
#define MH_ERRORS_H

#include <stddef.h>

#define MH_WARN_UNUSED __attribute__((warn_unused_result))

typedef enum mh_err {
    MH_OK = 0,
    MH_ERR_NOMEM,              /* 500 ServerError 500001 */
    MH_ERR_INTERNAL,           /* 500 ServerError 500001 */
    MH_ERR_ARGUMENT_INVALID,   /* 400 ArgumentInvalid 400004 */
    MH_ERR_ARGUMENT_NULL,      /* 400 ArgumentNull 400005 */
    MH_ERR_FORMAT,             /* 400 IotHubFormatError 400006: body is not (valid) JSON */
    MH_ERR_UNAUTHORIZED,       /* 401 IotHubUnauthorizedAccess 401002 */
    MH_ERR_DEVICE_NOT_FOUND,   /* 404 DeviceNotFound 404001 */
    MH_ERR_NOT_FOUND,          /* 404 GenericNotFound 404000: unknown route */
    MH_ERR_DEVICE_NOT_ONLINE,  /* 404 DeviceNotOnline 404103 */
    MH_ERR_METHOD_NOT_ALLOWED, /* 405 GenericMethodNotAllowed 405000 */
    MH_ERR_DEVICE_EXISTS,      /* 409 DeviceAlreadyExists 409001 */
    MH_ERR_PRECONDITION,       /* 412 PreconditionFailed 412001 */
    MH_ERR_TOO_LARGE,          /* 413 MessageTooLarge 413001 */
    MH_ERR_THROTTLED,          /* 429 ThrottlingException 429001 */
    MH_ERR_NOT_IMPLEMENTED,    /* 501 NotImplemented (MOCK: the real hub has no 501) */
    MH_ERR_UNAVAILABLE,        /* 503 ServiceUnavailable 503001 */
    MH_ERR_GATEWAY_TIMEOUT,    /* 504 GatewayTimeout 504101 */
    MH_ERR_QUERY,              /* 400 BadRequest 400000 with position and reason (query syntax) */
    MH_ERR_SERVER_BUSY,        /* 503 ServerBusy 503005 (test control's fault injection) */
    MH_ERR_QUEUE_FULL,         /* 403 DeviceMaximumQueueDepthExceeded 403004 (C2D) */
    MH_ERR_MODULE_NOT_FOUND,   /* 404 ModuleNotFound 404010 */
    MH_ERR_MODULE_EXISTS,      /* 409 ModuleAlreadyExistsOnDevice 409301 */
    MH_ERR_TOO_MANY_MODULES,   /* 413 TooManyModulesOnDevice 413003 */
    MH_ERR_DEFINED_TWICE,      /* 400 DeviceDefinedMultipleTimes 400011 (bulk registry) */
    MH_ERR_BULK_FAILURE,       /* 400 BulkRegistryOperationFailure 400013 */
    MH_ERR_TOO_MANY_DEVICES,   /* 413 TooManyDevices 413002 (bulk: over 100 entries) */
    MH_ERR__COUNT
} mh_err;

/* Text for the client, filled by the function that failed. Always NUL-terminated. */
typedef struct mh_status {
    mh_err code;
    char text[512];
} mh_status;

typedef struct mh_err_info {
    int http_status;  /* 404 */
    const char *name; /* "DeviceNotFound": the ErrorCode name and the iothub-errorcode header */
    long number;      /* 404001 */
} mh_err_info;

/* Returns the static table row for code (never NULL; unknown codes map to MH_ERR_INTERNAL). */
const mh_err_info *mh_err_lookup(mh_err code);

/* Records code and a printf-style text in *st (st may be NULL) and returns code, so callers can
 * write `return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", id);`. */
mh_err mh_fail(mh_status *st, mh_err code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Formats the REST error body the real hub sends:
 *   {"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":"Tracking ID:<32 hex>-G:0-TimeStamp:MM/dd/yyyy HH:mm:ss"}
 * For MH_ERR_DEVICE_NOT_ONLINE and MH_ERR_GATEWAY_TIMEOUT the real hub puts a JSON string in Message
 * ({"errorCode":404103,...}); we still use the ErrorCode:<Name>; form, which every SDK parses
 * (MOCK: see shared/reference/node-sdk-behaviour.md 2.3). Returns a malloc'd string or NULL. */
char *mh_err_rest_body(mh_err code, const char *text);

/* Formats the JSON body of an MQTT twin error reply:
 *   {"errorCode":400004,"trackingId":"<hex>-G:0-TimeStamp:...","message":"<text>","timestampUtc":"<ISO>"}
 * Returns a malloc'd string or NULL. */
char *mh_err_mqtt_body(mh_err code, const char *text);

/* Writes the current UTC time in the hub's format (.NET round trip, up to 7 fraction digits, trailing
 * zeros trimmed, 'Z'): "2020-07-28T22:17:23.785061Z". buf must hold 40 bytes. */
void mh_time_now_iso(char *buf, size_t len);

#endif
