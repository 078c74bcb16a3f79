/* devauth.h - the decision on a device's or module's MQTT CONNECT: parse the IoT Hub username, check
 * the SAS token in the password against the identity's keys, and say OK, DENIED (CONNACK 5) or DISABLED
 * (CONNACK 3), with a reason for the broker log. Pure: the key lookup is a callback, so unit tests
 * need no database. Follows shared/reference/iothub-protocol.md 1.2-1.4 and the addendum 5.
 */
#ifndef MH_DEVAUTH_H
#define MH_DEVAUTH_H

#include "errors.h"
#include "identity.h"

#define MH_DEVAUTH_ID_MAX MH_ID_MAX /* IoT Hub device (and module) id limit */

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

/* Reads the keys and status of identity ("{deviceId}" or "{deviceId}/{moduleId}", identity.h: the
 * id of its registry row). Returns MH_OK, MH_ERR_DEVICE_NOT_FOUND, or another error.
 * The plugin wraps mh_keys_device_auth; tests pass a stub. */
typedef mh_err (*mh_devauth_lookup_fn)(void *ctx, const char *identity, mh_device_auth *out_auth);

typedef struct mh_devauth_result {
    mh_devauth_verdict verdict;
    char identity[MH_IDENTITY_MAX + 1]; /* the client id ("d" or "d/m"), when it was usable */
    long long expiry;                   /* token se (seconds since epoch) when OK, else 0 */
    char reason[384];                   /* human text for the broker log; "" when OK */
} mh_devauth_result;

/* Decides a device or module CONNECT. hostname: the hub name clients must use (compared
 * case-insensitively). client_id, username, password: as received (any may be NULL). now: seconds
 * since the epoch.
 * A device connects as client id "{d}", username "{host}/{d}/?..", token sr covering
 * "{host}/devices/{d}", signed with the device's key. A module connects as client id "{d}/{m}"
 * (exactly one '/', both parts non-empty and at most 128 characters), username "{host}/{d}/{m}/?..",
 * token sr covering "{host}/devices/{d}/modules/{m}" (a device-scope sr "{host}/devices/{d}"
 * covers it too), signed with the MODULE's key: the device's keys do not admit its modules.
 * DENIED for: missing or malformed username or password, client id empty, too long, with more than
 * one '/', an empty part, '+' or '#', client ids starting with "$mockhub", host mismatch, username /
 * client id / token sr naming different identities, expired token, policy (skn) tokens, unknown
 * identity, non-SAS identity, signature matching neither of the identity's keys.
 * DISABLED: everything right but the device (or, for a module, its device or the module) is
 * disabled. ERROR: a lookup failed with another error.
 * Always fills *out (reason "" when OK) and returns out->verdict. The lookup is called only for a
 * well-formed, unexpired token naming this hub and identity: once for a device; for a module once
 * for the module's row and, when its signature matched, once for its device's row. */
mh_devauth_verdict mh_devauth_check(const char *hostname, const char *client_id, const char *username,
                                    const char *password, long long now, mh_devauth_lookup_fn lookup,
                                    void *lookup_ctx, mh_devauth_result *out);

/* 1 when password equals the hub secret (constant-time for equal lengths); 0 when either is
 * NULL or the secret is empty. */
int mh_devauth_hub_ok(const char *password, const char *secret);

#endif
