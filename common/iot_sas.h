/* IoT Hub shared access signature tokens: parse, verify, format.
 * Follows https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas ; signing rule:
 * HMAC-SHA256(base64decode(key), sr-as-sent + "\n" + se-as-sent), base64, then URL-encoded in sig. */
#ifndef IOT_SAS_H
#define IOT_SAS_H

#include "iot.h"

typedef struct iot_sas_token {
    char sr[512];         /* sr exactly as in the token (URL-encoded form, what is signed) */
    char sr_decoded[512]; /* percent-decoded */
    unsigned char sig[64];
    size_t sig_len;   /* percent-decoded then base64-decoded signature bytes */
    char skn[128];    /* percent-decoded policy name, "" when absent */
    long long se;     /* expiry, seconds since epoch */
    char se_text[24]; /* se exactly as sent (what is signed) */
} iot_sas_token;

/* Parses "SharedAccessSignature sr=..&sig=..&se=..[&skn=..]": fields in any order, each at most once,
 * unknown fields ignored. Errors: IOT_E_INVALID (prefix, syntax, bad encoding, bad base64, se not a
 * positive decimal, field too long), IOT_E_MISSING (sr, sig or se absent), IOT_E_DUPLICATE. */
iot_err iot_sas_parse(const char *token, iot_sas_token *out) IOT_WUR;

/* 1 when HMAC-SHA256(b64decode(key_b64), sr + "\n" + se-as-sent) equals sig (constant-time
 * compare), else 0 (also 0 when the key is not valid base64). Does not look at the clock. */
int iot_sas_verify(const iot_sas_token *token, const char *key_b64);

/* As iot_sas_verify, but the HMAC key is key_text's bytes as they are, not base64-decoded: how
 * the Event Hubs SDKs sign (their hmacSha256 takes the key string as UTF-8). */
int iot_sas_verify_raw(const iot_sas_token *token, const char *key_text);
/* 1 when decoded sr covers resource: path-segment prefix match ("h/devices/a" covers "h/devices/a" and
 * "h/devices/a/modules/m", not "h/devices/ab"), host part (before the first '/') case-insensitive.
 * A trailing '/' in sr is ignored. */
int iot_sas_covers(const char *sr_decoded, const char *resource);

/* Builds a token for resource (NOT encoded; e.g. "myhub.azure-devices.net/devices/dev1", or just the
 * host for service policies): sr = url-encoded resource, sig = url-encoded base64 HMAC, se = expiry,
 * skn appended when policy != NULL. Field order sr, sig, se[, skn] (the C and .NET SDKs' order).
 * Errors: IOT_E_INVALID (bad key base64, empty resource), IOT_E_NOSPACE, IOT_E_CRYPTO. */
iot_err iot_sas_format(const char *resource, const char *key_b64, const char *policy, long long expiry,
                       char *out, size_t outsz) IOT_WUR;

/* Computes base64(HMAC-SHA256(b64decode(key_b64), data)) into out (NUL-terminated, needs 45 bytes). */
iot_err iot_sas_sign(const char *key_b64, const char *data, size_t len, char *out, size_t outsz) IOT_WUR;

#endif
