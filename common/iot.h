/* Shared definitions for the protocol primitives in common/ (base64, URL encoding, SAS tokens,
 * connection strings). Used by the hub, the device library and the service library; no I/O. */
#ifndef IOT_H
#define IOT_H

#include <stddef.h>

typedef enum iot_err {
    IOT_OK = 0,
    IOT_E_INVALID,  /* malformed input */
    IOT_E_NOSPACE,  /* output buffer too small (nothing useful written) */
    IOT_E_CRYPTO,   /* libcrypto failure */
    IOT_E_MISSING,  /* a required field is absent */
    IOT_E_DUPLICATE /* a field appears more than once */
} iot_err;

/* Short constant English name of an error ("invalid input", ...); never NULL. */
const char *iot_err_str(iot_err err);

#if defined(__GNUC__)
#define IOT_WUR __attribute__((warn_unused_result))
#else
#define IOT_WUR
#endif

#endif
