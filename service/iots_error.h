/* iots_error.h - the service client's error codes and the one place that reads IoT Hub's REST
 * error answers (status + body + iothub-errorcode header) and turns them into an iots_err.
 * Both body envelopes the real hub uses are understood (iothub-protocol.md 5.2, addendum 8).
 */
#ifndef IOTS_ERROR_H
#define IOTS_ERROR_H

#include <stddef.h>

#define IOTS_WARN_UNUSED __attribute__((warn_unused_result))

typedef enum iots_err {
    IOTS_OK = 0,
    IOTS_ERR_ARG,               /* bad argument from the caller (NULL, empty id, oversized text) */
    IOTS_ERR_NOMEM,             /* allocation failed */
    IOTS_ERR_CONNSTR,           /* malformed service connection string */
    IOTS_ERR_CONFIG,            /* CA file unreadable, libcurl could not be set up */
    IOTS_ERR_TRANSPORT,         /* hub unreachable: DNS, connect, reset, client-side timeout */
    IOTS_ERR_TLS,               /* TLS handshake or certificate verification failed */
    IOTS_ERR_PROTOCOL,          /* the hub answered something we cannot read (bad JSON, bad shape) */
    IOTS_ERR_UNAUTHORIZED,      /* 401 (IotHubUnauthorizedAccess 401002 and friends) */
    IOTS_ERR_FORBIDDEN,         /* 403 (quota exceeded, hub suspended, ...) */
    IOTS_ERR_BAD_REQUEST,       /* 400 */
    IOTS_ERR_DEVICE_NOT_FOUND,  /* 404 DeviceNotFound 404001 (also ModuleNotFound 404010) */
    IOTS_ERR_DEVICE_NOT_ONLINE, /* 404 DeviceNotOnline 404103: not connected / no method subscription */
    IOTS_ERR_NOT_FOUND,         /* any other 404 */
    IOTS_ERR_CONFLICT,          /* 409 (DeviceAlreadyExists 409001, ...) */
    IOTS_ERR_PRECONDITION,      /* 412 PreconditionFailed: etag mismatch */
    IOTS_ERR_TOO_LARGE,         /* 413 */
    IOTS_ERR_THROTTLED,         /* 429 */
    IOTS_ERR_SERVER,            /* 500, 502, 503 */
    IOTS_ERR_TIMEOUT,           /* 504 GatewayTimeout 504101 (device did not answer the method), 408 */
    IOTS_ERR_HTTP,              /* any other status >= 300 */
    IOTS_ERR__COUNT
} iots_err;

/* What went wrong in the last failed call, as far as the hub or libcurl told us. Plain value. */
typedef struct iots_error_info {
    iots_err err;
    long http_status;  /* 0 when no HTTP answer arrived (transport/TLS errors) */
    char name[64];     /* IoT Hub error name, e.g. "DeviceNotOnline"; "" when unknown */
    long code;         /* IoT Hub numeric code, e.g. 404103; 0 when unknown */
    char message[512]; /* the hub's text, or libcurl's message for transport errors */
    char tracking_id[160];
} iots_error_info;

/* Short fixed English text for an error code ("device not online"); never NULL. */
const char *iots_err_str(iots_err err);

/* Maps an IoT Hub error name to its number and back, from the table in iothub-protocol.md 5.2.
 * Return 0 / NULL when the name or number is not in the table. */
long iots_error_code_for_name(const char *name);
const char *iots_error_name_for_code(long code);

/* Picks the iots_err for an HTTP status and (optional, may be NULL/0) IoT Hub name and number.
 * Pure. Status < 300 gives IOTS_OK. */
iots_err iots_error_classify(long http_status, const char *name, long code);

/* Reads an error answer: status, body (may be NULL or not JSON; len bytes, need not be
 * NUL-terminated) and the iothub-errorcode header value (may be NULL). Understands
 *   {"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":"Tracking ID:..."}          (legacy)
 *   {"Message":"{\"errorCode\":404103,\"trackingId\":..,\"message\":..}","ExceptionMessage":""}
 *   {"errorCode":400004,"message":"..."}                                               (bare)
 * Always fills *out completely (never fails; unknown parts stay empty) and returns out->err. */
iots_err iots_error_parse(long http_status, const char *body, size_t len, const char *errorcode_header,
                          iots_error_info *out);

/* Fills *out for an error that did not come from the hub (transport, TLS, argument...). */
void iots_error_set(iots_error_info *out, iots_err err, const char *message);

#endif
