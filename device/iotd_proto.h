/* Pure IoT Hub device-protocol formatting and parsing: MQTT username, client id, SAS resource, topics,
 * telemetry property bags (encoded exactly as the Node SDK does), reply-topic parsing, the reconnect
 * backoff schedule and CONNACK explanations. No I/O; follows
 * https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub */
#ifndef IOTD_PROTO_H
#define IOTD_PROTO_H

#include <stdint.h>

#include "iotd.h"

/* One application property of a telemetry message (both strings borrowed, not encoded). */
typedef struct iotd_property {
    const char *key;
    const char *value;
} iotd_property;

/* System and application properties of a telemetry message; NULL members are left out.
 * All strings are borrowed for the duration of the call that takes the struct. */
typedef struct iotd_message_props {
    const char *message_id;       /* $.mid */
    const char *correlation_id;   /* $.cid */
    const char *user_id;          /* $.uid */
    const char *to;               /* $.to */
    const char *content_type;     /* $.ct, e.g. "application/json" */
    const char *content_encoding; /* $.ce, e.g. "utf-8" */
    const char *expiry_utc;       /* $.exp, ISO-8601 */
    const iotd_property *user;    /* application properties, in order; key "dt-subject" is sent as $.sub */
    size_t user_count;
    const char *output_name; /* $.on: a module's output (Node's sendOutputEvent); modules only */
} iotd_message_props;

/* A cloud-to-device message as the hub delivers it on devices/{id}/messages/devicebound/{property bag}:
 * system properties ("" when absent) and application properties, decoded. Every string points into
 * store: the struct must not be copied. */
#define IOTD_C2D_MAX_PROPS 32
#define IOTD_C2D_STORE 4096
typedef struct iotd_c2d_message {
    const char *message_id;                  /* $.mid */
    const char *correlation_id;              /* $.cid */
    const char *user_id;                     /* $.uid */
    const char *to;                          /* $.to, "/devices/{id}/messages/devicebound" */
    const char *content_type;                /* $.ct */
    const char *content_encoding;            /* $.ce */
    const char *expiry_utc;                  /* $.exp, ISO-8601 */
    const char *ack;                         /* iothub-ack: none, positive, negative or full */
    iotd_property props[IOTD_C2D_MAX_PROPS]; /* application properties, in topic order */
    size_t prop_count;
    char store[IOTD_C2D_STORE];
} iotd_c2d_message;

/* 1 when topic is a C2D delivery (devices/{id}/messages/devicebound/...). */
int iotd_proto_is_c2d_topic(const char *topic);
/* Decodes the property bag of a C2D topic into *out (written only on success). Keys and values are
 * URL-decoded ($ may come as %24); a key without '=' has the value "". Errors: IOTD_E_INVALID (not a
 * C2D topic, bad %-escape), IOTD_E_NOSPACE (more than IOTD_C2D_MAX_PROPS properties or
 * IOTD_C2D_STORE bytes). */
iotd_err iotd_proto_parse_c2d(const char *topic, iotd_c2d_message *out) IOTD_WUR;

/* "{device}" or "{device}/{module}" (module may be NULL or ""). */
iotd_err iotd_proto_client_id(const char *device_id, const char *module_id, char *out, size_t outsz) IOTD_WUR;

/* "{host}/{client_id}/?api-version=2021-04-12&DeviceClientType=iotd-c%2F0.1" */
iotd_err iotd_proto_username(const char *host, const char *client_id, char *out, size_t outsz) IOTD_WUR;

/* SAS resource (not encoded): "{host}/devices/{device}[/modules/{module}]". */
iotd_err iotd_proto_sas_resource(const char *host, const char *device_id, const char *module_id, char *out,
                                 size_t outsz) IOTD_WUR;

/* "devices/{device}[/modules/{module}]/messages/events/" + property bag (props may be NULL). The bag is
 * the Node SDK's: system properties first in the order on, mid, cid, uid, to, ct, ce, exp with '$' sent
 * as %24, then encodeURIComponent(key)=encodeURIComponent(value) for each application property.
 * An output name without a module id is IOTD_E_INVALID (outputs are a module feature). */
iotd_err iotd_proto_telemetry_topic(const char *device_id, const char *module_id,
                                    const iotd_message_props *props, char *out, size_t outsz) IOTD_WUR;

/* "$iothub/methods/res/{status}/?$rid={rid}" */
iotd_err iotd_proto_method_response_topic(int status, const char *rid, char *out, size_t outsz) IOTD_WUR;
/* "$iothub/twin/GET/?$rid={rid}" */
iotd_err iotd_proto_twin_get_topic(const char *rid, char *out, size_t outsz) IOTD_WUR;
/* "$iothub/twin/PATCH/properties/reported/?$rid={rid}" */
iotd_err iotd_proto_twin_patch_topic(const char *rid, char *out, size_t outsz) IOTD_WUR;

/* Parses "$iothub/methods/POST/{name}/?$rid={rid}" (the '/' before '?' optional, other query
 * parameters ignored). name and rid are copied as they appear. IOTD_E_INVALID when not such a topic
 * or the name or $rid is missing; IOTD_E_NOSPACE when a buffer is too small. */
iotd_err iotd_proto_parse_method_request(const char *topic, char *name, size_t namesz, char *rid,
                                         size_t ridsz) IOTD_WUR;

/* Parses "$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]". *version = -1 when absent. */
iotd_err iotd_proto_parse_twin_response(const char *topic, int *status, char *rid, size_t ridsz,
                                        long long *version) IOTD_WUR;

/* Parses "$iothub/twin/PATCH/properties/desired/[?$version={v}]". *version = -1 when absent. */
iotd_err iotd_proto_parse_desired_patch(const char *topic, long long *version) IOTD_WUR;

/* Splits "host", "host:port" or "[v6]:port" into host and port (default_port when absent). */
iotd_err iotd_proto_parse_hostport(const char *text, int default_port, char *host, size_t hostsz,
                                   int *port) IOTD_WUR;

/* Reconnect delay before attempt number `attempt` (0 = first retry): exponential
 * d = min(cap_ms, base_ms * 2^attempt), then "equal jitter": d/2 + rnd % (d/2 + 1). */
unsigned iotd_proto_backoff_ms(unsigned attempt, unsigned base_ms, unsigned cap_ms, uint32_t rnd);

/* 1 when a CONNACK return code means retrying cannot help (1, 2, 4, 5), else 0. */
int iotd_proto_connack_fatal(int rc);
/* Human explanation of a CONNACK return code (e.g. 5 -> "not authorized: ..."). Never NULL. */
const char *iotd_proto_connack_str(int rc);

#endif
