/* devauth.h - the decision on a device's MQTT CONNECT: parse the IoT Hub username, check the SAS
 * token in the password against the device's keys, and say OK, DENIED (CONNACK 5) or DISABLED
 * (CONNACK 3), with a reason for the broker log. Pure: the key lookup is a callback, so unit tests
 * need no database. Follows shared/reference/iothub-protocol.md 1.2-1.4 and the addendum 5.
 */
#ifndef MH_DEVAUTH_H
#define MH_DEVAUTH_H

#include "errors.h"
#include "identity.h"

#define MH_DEVAUTH_ID_MAX 128 /* IoT Hub device id limit */

/* The parts of a CONNECT username "{host}/{deviceId}[/{moduleId}]/?api-version=..&..". */
typedef struct mh_devauth_username {
    char host[256];
    char device_id[MH_DEVAUTH_ID_MAX + 1];
    char module_id[MH_DEVAUTH_ID_MAX + 1]; /* "" when absent */
    char api_version[64];                  /* as sent, "" when absent */
    char model_id[512];                    /* model-id as sent (may be encoded), "" when absent */
} mh_devauth_username;

/* Parses the forms the SDKs send: "{host}/{id}/?api-version=..&DeviceClientType=..", the legacy
 * "{host}/{id}/api-version=..&..", the module form "{host}/{id}/{module}/?..", and "{host}/{id}"
 * with no parameters. Any api-version is accepted; unknown parameters are ignored.
 * Errors: MH_ERR_ARGUMENT_INVALID (wrong number of path parts, empty or too long parts).
 * *out is written only on MH_OK. */
mh_err mh_devauth_username_parse(const char *username, mh_devauth_username *out,
                                 mh_status *st) MH_WARN_UNUSED;

typedef enum mh_devauth_verdict {
    MH_DEVAUTH_OK = 0,   /* accept */
    MH_DEVAUTH_DENIED,   /* CONNACK 5 Not authorized */
    MH_DEVAUTH_DISABLED, /* CONNACK 3 Server unavailable: right credentials, device disabled */
    MH_DEVAUTH_ERROR     /* the registry could not be read: CONNACK 3 as well */
} mh_devauth_verdict;

/* Reads device device_id's keys. Returns MH_OK, MH_ERR_DEVICE_NOT_FOUND, or another error.
 * The plugin wraps mh_store_device_auth; tests pass a stub. */
typedef mh_err (*mh_devauth_lookup_fn)(void *ctx, const char *device_id, mh_device_auth *out_auth);

typedef struct mh_devauth_result {
    mh_devauth_verdict verdict;
    char device_id[MH_DEVAUTH_ID_MAX + 1]; /* the client id, when it was usable */
    long long expiry;                      /* token se (seconds since epoch) when OK, else 0 */
    char reason[384];                      /* human text for the broker log; "" when OK */
} mh_devauth_result;

/* Decides a device CONNECT. hostname: the hub name devices must use (compared case-insensitively).
 * client_id, username, password: as received (any may be NULL). now: seconds since the epoch.
 * DENIED for: missing or malformed username or password, client id empty, longer than 128 or
 * containing '/', '+', '#' (module identities are refused), client ids starting with "$mockhub",
 * host mismatch, username / client id / token sr naming different devices, expired token,
 * policy (skn) tokens, unknown device, non-SAS device, signature matching neither key.
 * DISABLED: everything right but the device is disabled. ERROR: lookup failed with another error.
 * Always fills *out (reason "" when OK) and returns out->verdict. The lookup is called at most
 * once, and only for a well-formed, unexpired token naming this hub and device. */
mh_devauth_verdict mh_devauth_check(const char *hostname, const char *client_id, const char *username,
                                    const char *password, long long now, mh_devauth_lookup_fn lookup,
                                    void *lookup_ctx, mh_devauth_result *out);

/* 1 when password equals the hub secret (constant-time for equal lengths); 0 when either is
 * NULL or the secret is empty. */
int mh_devauth_hub_ok(const char *password, const char *secret);

#endif
