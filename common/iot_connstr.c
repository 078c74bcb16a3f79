/* Azure IoT Hub connection strings (device and service). Rules follow Microsoft's SDKs: ';'-separated
 * Key=Value split at the first '=', case-sensitive keys; duplicate and unknown keys rejected (Python SDK). */
#include "iot_connstr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "iot_b64.h"

#define CONNSTR_MAX 4096

static void connstr_why(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void connstr_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

enum connstr_kind { CS_STR, CS_BOOL };

struct connstr_field {
    const char *key;
    size_t offset;
    size_t size;
    enum connstr_kind kind;
};

/* Dispatch table: key name -> member of iot_connstr. */
static const struct connstr_field connstr_fields[] = {
    {"HostName", offsetof(iot_connstr, host_name), sizeof(((iot_connstr *)0)->host_name), CS_STR},
    {"DeviceId", offsetof(iot_connstr, device_id), sizeof(((iot_connstr *)0)->device_id), CS_STR},
    {"ModuleId", offsetof(iot_connstr, module_id), sizeof(((iot_connstr *)0)->module_id), CS_STR},
    {"SharedAccessKey", offsetof(iot_connstr, shared_access_key),
     sizeof(((iot_connstr *)0)->shared_access_key), CS_STR},
    {"SharedAccessKeyName", offsetof(iot_connstr, shared_access_key_name),
     sizeof(((iot_connstr *)0)->shared_access_key_name), CS_STR},
    {"GatewayHostName", offsetof(iot_connstr, gateway_host_name),
     sizeof(((iot_connstr *)0)->gateway_host_name), CS_STR},
    {"SharedAccessSignature", offsetof(iot_connstr, shared_access_signature),
     sizeof(((iot_connstr *)0)->shared_access_signature), CS_STR},
    {"x509", offsetof(iot_connstr, x509), sizeof(int), CS_BOOL},
};
#define CONNSTR_NFIELDS (sizeof(connstr_fields) / sizeof(connstr_fields[0]))

iot_err iot_connstr_parse(const char *text, iot_connstr *out, char *why, size_t whylen)
{
    iot_connstr cs;
    int seen[CONNSTR_NFIELDS] = {0};
    const char *p;

    if (!text || !out) {
        connstr_why(why, whylen, "connection string is missing");
        return IOT_E_INVALID;
    }
    if (strlen(text) > CONNSTR_MAX) {
        connstr_why(why, whylen, "connection string is longer than %d characters", CONNSTR_MAX);
        return IOT_E_INVALID;
    }
    memset(&cs, 0, sizeof(cs));
    p = text;
    while (*p) {
        const char *semi = strchr(p, ';');
        size_t seglen = semi ? (size_t)(semi - p) : strlen(p);
        const char *eq = memchr(p, '=', seglen);
        size_t klen, vlen, i;
        const char *v;

        if (seglen == 0) { /* tolerate ";;" and a trailing ';' */
            p++;
            continue;
        }
        if (!eq) {
            connstr_why(why, whylen, "connection string segment '%.*s' is not Key=Value",
                        (int)(seglen > 40 ? 40 : seglen), p);
            return IOT_E_INVALID;
        }
        klen = (size_t)(eq - p);
        v = eq + 1;
        vlen = seglen - klen - 1;
        for (i = 0; i < CONNSTR_NFIELDS; i++)
            if (strlen(connstr_fields[i].key) == klen && memcmp(connstr_fields[i].key, p, klen) == 0)
                break;
        if (i == CONNSTR_NFIELDS) {
            connstr_why(why, whylen, "connection string has unknown key '%.*s' (keys are case-sensitive)",
                        (int)(klen > 40 ? 40 : klen), p);
            return IOT_E_INVALID;
        }
        if (seen[i]++) {
            connstr_why(why, whylen, "connection string has %s more than once", connstr_fields[i].key);
            return IOT_E_DUPLICATE;
        }
        if (connstr_fields[i].kind == CS_BOOL) {
            int *b = (int *)((char *)&cs + connstr_fields[i].offset);
            if (vlen == 4 && strncmp(v, "true", 4) == 0) {
                *b = 1;
            } else if (vlen == 5 && strncmp(v, "false", 5) == 0) {
                *b = 0;
            } else {
                connstr_why(why, whylen, "connection string %s must be true or false", connstr_fields[i].key);
                return IOT_E_INVALID;
            }
        } else {
            char *dst = (char *)&cs + connstr_fields[i].offset;
            if (vlen == 0) {
                connstr_why(why, whylen, "connection string has an empty %s", connstr_fields[i].key);
                return IOT_E_INVALID;
            }
            if (vlen >= connstr_fields[i].size) {
                connstr_why(why, whylen, "connection string %s is too long (max %zu characters)",
                            connstr_fields[i].key, connstr_fields[i].size - 1);
                return IOT_E_INVALID;
            }
            memcpy(dst, v, vlen);
            dst[vlen] = '\0';
        }
        p += seglen;
        if (*p == ';')
            p++;
    }
    if (cs.shared_access_key[0]) {
        unsigned char key[128];
        size_t keylen = 0;
        if (iot_b64_decode(cs.shared_access_key, strlen(cs.shared_access_key), key, sizeof(key), &keylen) !=
                IOT_OK ||
            keylen == 0) {
            connstr_why(why, whylen, "SharedAccessKey is not valid base64");
            return IOT_E_INVALID;
        }
    }
    if (cs.shared_access_signature[0] && strncmp(cs.shared_access_signature, "SharedAccessSignature ",
                                                 strlen("SharedAccessSignature ")) != 0) {
        connstr_why(why, whylen, "SharedAccessSignature must start with 'SharedAccessSignature sr='");
        return IOT_E_INVALID;
    }
    *out = cs;
    return IOT_OK;
}

iot_err iot_connstr_parse_device(const char *text, iot_connstr *out, char *why, size_t whylen)
{
    iot_connstr cs;
    iot_err err;
    int creds;

    err = iot_connstr_parse(text, &cs, why, whylen);
    if (err != IOT_OK)
        return err;
    if (!cs.host_name[0]) {
        connstr_why(why, whylen, "connection string has no HostName");
        return IOT_E_MISSING;
    }
    if (!cs.device_id[0]) {
        connstr_why(why, whylen, "connection string has no DeviceId (is this a service connection string?)");
        return IOT_E_MISSING;
    }
    creds = (cs.shared_access_key[0] != 0) + (cs.shared_access_signature[0] != 0) + (cs.x509 != 0);
    if (creds == 0) {
        connstr_why(why, whylen,
                    "connection string has none of SharedAccessKey, SharedAccessSignature, x509=true");
        return IOT_E_MISSING;
    }
    if (creds > 1) {
        connstr_why(
            why, whylen,
            "connection string must have only one of SharedAccessKey, SharedAccessSignature, x509=true");
        return IOT_E_INVALID;
    }
    *out = cs;
    return IOT_OK;
}

iot_err iot_connstr_parse_service(const char *text, iot_connstr *out, char *why, size_t whylen)
{
    iot_connstr cs;
    iot_err err;

    err = iot_connstr_parse(text, &cs, why, whylen);
    if (err != IOT_OK)
        return err;
    if (!cs.host_name[0]) {
        connstr_why(why, whylen, "connection string has no HostName");
        return IOT_E_MISSING;
    }
    if (!cs.shared_access_key_name[0]) {
        connstr_why(why, whylen,
                    "connection string has no SharedAccessKeyName (is this a device connection string?)");
        return IOT_E_MISSING;
    }
    if (!cs.shared_access_key[0]) {
        connstr_why(why, whylen, "connection string has no SharedAccessKey");
        return IOT_E_MISSING;
    }
    *out = cs;
    return IOT_OK;
}
