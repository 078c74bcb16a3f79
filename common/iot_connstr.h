/* Azure IoT Hub connection strings: ';'-separated Key=Value pairs split at the first '=', keys
 * case-sensitive as in Microsoft's SDKs, duplicates and unknown keys rejected. */
#ifndef IOT_CONNSTR_H
#define IOT_CONNSTR_H

#include "iot.h"

typedef struct iot_connstr {
    char host_name[256];
    char device_id[129];
    char module_id[129];
    char shared_access_key[128];
    char shared_access_key_name[128];
    char gateway_host_name[256];
    char shared_access_signature[1024];
    int x509; /* 1 for x509=true */
} iot_connstr;

/* Generic parse of any connection string with the keys HostName, DeviceId, ModuleId, SharedAccessKey,
 * SharedAccessKeyName, GatewayHostName, SharedAccessSignature, x509. Empty segments (e.g. a trailing ';')
 * are skipped. Errors: IOT_E_INVALID (no '=', empty key, unknown key, value too long, bad base64 key,
 * x509 not true/false), IOT_E_DUPLICATE. why (may be NULL) receives a message for humans on error. */
iot_err iot_connstr_parse(const char *text, iot_connstr *out, char *why, size_t whylen) IOT_WUR;

/* Device connection string: needs HostName, DeviceId and exactly one of SharedAccessKey,
 * SharedAccessSignature, x509=true. IOT_E_MISSING / IOT_E_INVALID with why otherwise. */
iot_err iot_connstr_parse_device(const char *text, iot_connstr *out, char *why, size_t whylen) IOT_WUR;

/* Service connection string: needs HostName, SharedAccessKeyName, SharedAccessKey. */
iot_err iot_connstr_parse_service(const char *text, iot_connstr *out, char *why, size_t whylen) IOT_WUR;

#endif
