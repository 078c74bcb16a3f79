/* identity.h - the identity types every part of the hub shares: access rights and shared access
 * policies (service side), the keys and status a device's CONNECT is checked against (device side),
 * and the IoT Hub device id rules. Pure; no storage.
 */
#ifndef MH_IDENTITY_H
#define MH_IDENTITY_H

#include "errors.h"

/* Access rights of a shared access policy (bit mask). */
enum {
    MH_RIGHT_REGISTRY_READ = 1u << 0,
    MH_RIGHT_REGISTRY_WRITE = 1u << 1,
    MH_RIGHT_SERVICE_CONNECT = 1u << 2,
    MH_RIGHT_DEVICE_CONNECT = 1u << 3,
};

/* Buffer size of a key: base64 of up to 64 bytes (IoT Hub's maximum) is 88 characters. */
#define MH_KEY_SIZE 96

typedef struct mh_policy {
    char name[64];
    char primary_key[MH_KEY_SIZE];   /* base64 */
    char secondary_key[MH_KEY_SIZE]; /* base64 */
    unsigned rights;                 /* MH_RIGHT_* */
} mh_policy;

/* What device authentication needs, and nothing else (used by the broker plugin per CONNECT). */
typedef struct mh_device_auth {
    char primary_key[MH_KEY_SIZE];
    char secondary_key[MH_KEY_SIZE];
    int enabled; /* status == "enabled" */
    int sas;     /* authentication type is "sas" */
} mh_device_auth;

/* Validates a device id (IoT Hub rules: 1..128 chars of ASCII alphanumerics and
 * - . + % _ # * ? ! ( ) , = @ $ '). Pure; ArgumentInvalid with a clear text when not valid. */
mh_err mh_device_id_check(const char *device_id, mh_status *st) MH_WARN_UNUSED;

/* Validates a module id: the device id rules (the hub's are the same), with "module" in the text. */
mh_err mh_module_id_check(const char *module_id, mh_status *st) MH_WARN_UNUSED;

/* ---- identities: a device or a module of a device ----
 * Everywhere inside the hub (registry rows, presence, method calls, the broker's client ids, the
 * internal bus) an identity is one string: "{deviceId}" for a device, "{deviceId}/{moduleId}" for a
 * module. Neither id may contain '/', so the split is unambiguous; it is also the MQTT client id
 * a module connects with. */
#define MH_ID_MAX 128                               /* a device or module id */
#define MH_IDENTITY_MAX (MH_ID_MAX + 1 + MH_ID_MAX) /* "{deviceId}/{moduleId}" */

/* The module part of identity (after the '/'), or NULL for a device. */
const char *mh_identity_module(const char *identity);

/* Writes "{device_id}" (module_id NULL or "") or "{device_id}/{module_id}" into out. Validates both
 * ids (ArgumentInvalid with the hub's text). */
mh_err mh_identity_join(char *out, size_t outsz, const char *device_id, const char *module_id,
                        mh_status *st) MH_WARN_UNUSED;

/* Copies the device part of identity into out (outsz >= MH_ID_MAX + 1 holds any valid one);
 * 0 when it does not fit. */
int mh_identity_device(const char *identity, char *out, size_t outsz);

#endif
