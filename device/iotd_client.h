/* The C device client for Azure IoT Hub (and mockhub): connection string + SAS token, MQTT over TLS,
 * direct methods, device twin, telemetry, reconnect with backoff and jitter, token renewal by
 * reconnecting. Single-threaded: the app calls iotd_client_run in its loop; every callback runs
 * inside iotd_client_run on that thread, and may call the other iotd_client_* functions. */
#ifndef IOTD_CLIENT_H
#define IOTD_CLIENT_H

#include "iotd.h"
#include "iotd_proto.h"

typedef struct iotd_client iotd_client;

typedef enum iotd_conn_event {
    IOTD_CONN_CONNECTING, /* an attempt starts (why = "host:port attempt N") */
    IOTD_CONN_CONNECTED,  /* CONNACK accepted, subscriptions sent */
    IOTD_CONN_RETRYING,   /* an attempt failed or the connection dropped; why says why and when */
    IOTD_CONN_RENEWING,   /* reconnecting to present a fresh SAS token */
    IOTD_CONN_FAILED,     /* fatal (authentication): no more attempts; iotd_client_run returns IOTD_E_AUTH */
    IOTD_CONN_CLOSED      /* after iotd_client_close */
} iotd_conn_event;

typedef struct iotd_options {
    const char *ca_file;      /* extra trusted PEM file; NULL -> env IOTHUB_CA_FILE; system store always */
    const char *gateway;      /* "host[:port]" to connect to; NULL -> GatewayHostName, else HostName */
    int port;                 /* 0 -> port from gateway, else 8883 */
    int keepalive_s;          /* 0 -> 60 */
    int token_ttl_s;          /* SAS lifetime; 0 -> 3600 */
    int token_renew_margin_s; /* reconnect this long before expiry; 0 -> ttl/4 */
    int twin_timeout_ms;      /* 0 -> 60000 */
    unsigned backoff_base_ms; /* 0 -> 500 */
    unsigned backoff_cap_ms;  /* 0 -> 30000 */
    /* connection events (why is borrowed for the call); NULL -> printed to stderr */
    void (*on_connection)(void *ctx, iotd_conn_event ev, const char *why);
    void *ctx;
} iotd_options;

/* Method handler. payload is the request body (NUL-terminated, len bytes, may be empty); write the JSON
 * response into resp (respsz bytes, starts as ""; "" is sent as "null") and return the status. Return
 * IOTD_METHOD_DEFER to answer later with iotd_client_method_respond(rid). Strings are borrowed. */
#define IOTD_METHOD_DEFER (-1)
typedef int (*iotd_method_cb)(void *ctx, iotd_client *c, const char *method, const char *rid,
                              const char *payload, size_t len, char *resp, size_t respsz);

/* Twin reply: err IOTD_OK with the hub's status (200 GET with body, 204 PATCH with version), IOTD_E_HUB
 * with status >= 300 and the error body, IOTD_E_TIMEOUT or IOTD_E_DISCONNECTED (status 0). version is
 * the topic's $version (-1 when absent). body is borrowed for the call. */
typedef void (*iotd_twin_cb)(void *ctx, iotd_err err, int status, long long version, const char *body,
                             size_t len);
/* Desired-properties patch: version from the topic (-1 when absent), body the JSON patch with $version. */
typedef void (*iotd_desired_cb)(void *ctx, long long version, const char *body, size_t len);

/* Cloud-to-device message: msg (its strings) and body are borrowed for the call; body is len bytes
 * (NUL-terminated for convenience). The message is acknowledged (PUBACK) when the callback returns. */
typedef void (*iotd_c2d_cb)(void *ctx, const iotd_c2d_message *msg, const void *body, size_t len);

/* Parses the device connection string and prepares a client (no network yet). On error why says
 * what is wrong with the string or options (IOTD_E_CONFIG). opt may be NULL. */
iotd_err iotd_client_new(const char *connection_string, const iotd_options *opt, iotd_client **out, char *why,
                         size_t whylen) IOTD_WUR;
/* Disconnects if needed and frees everything; NULL is a no-op. */
void iotd_client_free(iotd_client *c);

/* Registers cb for method name (NULL = the default handler for names without their own). Replaces an
 * earlier registration. Subscribes $iothub/methods/POST/# now or at the next connect. */
iotd_err iotd_client_on_method(iotd_client *c, const char *name, iotd_method_cb cb, void *ctx) IOTD_WUR;
/* Answers a deferred method call. json may be NULL (sent as "null"). */
iotd_err iotd_client_method_respond(iotd_client *c, const char *rid, int status, const char *json) IOTD_WUR;
iotd_err iotd_client_on_desired(iotd_client *c, iotd_desired_cb cb, void *ctx) IOTD_WUR;
/* Registers the C2D callback; subscribes devices/{id}/messages/devicebound/# at QoS 1 now or at the
 * next connect (the hub then delivers queued messages). Not for module identities: IOTD_E_INVALID, and
 * iotd_client_last_error says that the hub does not deliver cloud-to-device messages to modules. */
iotd_err iotd_client_on_c2d(iotd_client *c, iotd_c2d_cb cb, void *ctx) IOTD_WUR;

/* Twin requests (need a connection: IOTD_E_NOT_CONNECTED otherwise; IOTD_E_BUSY when too many pending). */
iotd_err iotd_client_twin_get(iotd_client *c, iotd_twin_cb cb, void *ctx) IOTD_WUR;
iotd_err iotd_client_twin_report(iotd_client *c, const char *json, iotd_twin_cb cb, void *ctx) IOTD_WUR;

/* Telemetry at QoS 1 on devices/{id}/messages/events/{property bag} (a module:
 * devices/{id}/modules/{mid}/messages/events/...). props may be NULL; props->output_name ($.on) is for
 * modules only (IOTD_E_INVALID with last_error on a device). */
iotd_err iotd_client_send_event(iotd_client *c, const void *body, size_t len,
                                const iotd_message_props *props) IOTD_WUR;

/* Drives connection, reconnects, token renewal, timeouts and network I/O for about timeout_ms.
 * Returns IOTD_OK, or IOTD_E_AUTH once the hub refused the credentials (fatal; see last_error). */
iotd_err iotd_client_run(iotd_client *c, int timeout_ms);
/* Sends DISCONNECT and stops reconnecting. */
void iotd_client_close(iotd_client *c);
int iotd_client_connected(const iotd_client *c);
/* The identity the client connects as (its MQTT client id): "{device}" or "{device}/{module}". */
const char *iotd_client_identity(const iotd_client *c);
/* 1 when the connection string has a ModuleId. */
int iotd_client_is_module(const iotd_client *c);
/* Last connection error text ("" when none); valid until the next call on c. */
const char *iotd_client_last_error(const iotd_client *c);

#endif
