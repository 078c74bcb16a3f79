/* The device library's MQTT transport: the only file that uses libmosquitto. MQTT 3.1.1 over TLS,
 * clean session off, TCP_NODELAY, system trust store plus an optional extra CA file. Single-threaded:
 * callbacks run inside iotd_transport_loop on the caller's thread. */
#ifndef IOTD_TRANSPORT_H
#define IOTD_TRANSPORT_H

#include "iotd.h"

typedef struct iotd_transport iotd_transport;

typedef struct iotd_transport_events {
    void (*on_connack)(void *ctx, int rc);    /* CONNACK return code (0 = accepted) */
    void (*on_disconnect)(void *ctx, int rc); /* rc 0 = after our own disconnect request */
    /* payload is NUL-terminated (libmosquitto guarantees it) and borrowed for the call only */
    void (*on_message)(void *ctx, const char *topic, const char *payload, size_t len);
} iotd_transport_events;

/* Creates a transport for client_id. ca_file (may be NULL) is trusted in addition to /etc/ssl/certs.
 * why receives a message on IOTD_E_CONFIG (unreadable CA file) or IOTD_E_TRANSPORT. */
iotd_err iotd_transport_new(const char *client_id, const char *ca_file, const iotd_transport_events *ev,
                            void *ctx, iotd_transport **out, char *why, size_t whylen) IOTD_WUR;
void iotd_transport_free(iotd_transport *t);

/* Starts a connection (TCP + TLS; CONNACK arrives later through on_connack from iotd_transport_loop).
 * why gets the socket / TLS / DNS error text on failure. */
iotd_err iotd_transport_connect(iotd_transport *t, const char *host, int port, const char *username,
                                const char *password, int keepalive_s, char *why, size_t whylen) IOTD_WUR;
iotd_err iotd_transport_subscribe(iotd_transport *t, const char *filter, int qos) IOTD_WUR;
iotd_err iotd_transport_publish(iotd_transport *t, const char *topic, const void *payload, size_t len,
                                int qos) IOTD_WUR;
/* Sends DISCONNECT (no-op when not connected). */
void iotd_transport_disconnect(iotd_transport *t);
/* Runs network I/O for up to timeout_ms. IOTD_E_NOT_CONNECTED when there is no socket (returns at
 * once); IOTD_E_TRANSPORT with why when the connection failed (the caller treats it as lost). */
iotd_err iotd_transport_loop(iotd_transport *t, int timeout_ms, char *why, size_t whylen);

#endif
