/* Shared definitions of the C device library (prefix iotd_): the error enum and its names.
 * The library talks MQTT 3.1.1 over TLS to Azure IoT Hub or mockhub; see device/README.md. */
#ifndef IOTD_H
#define IOTD_H

#include <stddef.h>

#define IOTD_API_VERSION "2021-04-12"
#define IOTD_CLIENT_TYPE "iotd-c/0.1"
#define IOTD_DEFAULT_PORT 8883

typedef enum iotd_err {
    IOTD_OK = 0,
    IOTD_E_INVALID,       /* bad argument or malformed input */
    IOTD_E_NOSPACE,       /* output buffer too small */
    IOTD_E_NOMEM,         /* allocation failed */
    IOTD_E_CONFIG,        /* bad connection string or option (message in why / last error) */
    IOTD_E_NOT_CONNECTED, /* operation needs a live connection */
    IOTD_E_AUTH,          /* the hub refused the credentials (CONNACK 4/5, or 1/2): not retried */
    IOTD_E_TIMEOUT,       /* a twin request got no reply in time */
    IOTD_E_DISCONNECTED,  /* the connection dropped while a request was pending */
    IOTD_E_BUSY,          /* too many pending requests */
    IOTD_E_TRANSPORT,     /* socket / MQTT library failure */
    IOTD_E_HUB            /* the hub answered a twin request with an error status */
} iotd_err;

#if defined(__GNUC__)
#define IOTD_WUR __attribute__((warn_unused_result))
#else
#define IOTD_WUR
#endif

/* Constant English name of err; never NULL. */
const char *iotd_err_str(iotd_err err);

#endif
