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

#endif
