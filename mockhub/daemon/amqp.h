/* amqp.h - the AMQP 1.0 front door (amqp.c, amqp_nodes.c): TLS on MOCKHUB_AMQP_PORT (5671), plain
 * AMQP on MOCKHUB_AMQP_PLAIN_PORT (5672, loopback only), SASL (MSSBCBS, PLAIN, ANONYMOUS, none),
 * CBS, C2D send and feedback, the Event Hubs-compatible endpoint. One thread with epoll owns every
 * connection; Proton-C's connection driver does the protocol, TLS is terminated here so that the
 * frames Proton writes can be padded for pyamqp (amqp-protocol.md 1.6, 7).
 */
#ifndef MH_AMQP_H
#define MH_AMQP_H

#include "errors.h"

typedef struct mh_hub mh_hub;
typedef struct mh_amqp mh_amqp;

/* Listens on the configured ports and starts the thread. hub is borrowed and outlives it.
 * Errors: Unavailable (a port in use, TLS files unreadable), st says which. */
mh_err mh_amqp_start(mh_hub *hub, mh_amqp **out, mh_status *st) MH_WARN_UNUSED;
/* Closes every connection and ends the thread. NULL is a no-op. */
void mh_amqp_stop(mh_amqp *a);
/* Something to send may be waiting (new telemetry, feedback): the thread looks soon. Any thread. */
void mh_amqp_wake(mh_amqp *a);
typedef struct mh_http_upgraded mh_http_upgraded;

/* Takes over an upgraded HTTPS stream (fd, non-blocking plaintext, the 101 already sent) that carries
 * AMQP in WebSocket binary frames; pending: bytes already read after the upgrade request (copied).
 * The stream is ended with mh_http_upgraded_close(up), also on failure (NoMem). Any thread. */
mh_err mh_amqp_adopt_websocket(mh_amqp *a, int fd, const void *pending, size_t len,
                               mh_http_upgraded *up) MH_WARN_UNUSED;
/* The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 4.2.2) into out (29 bytes with
 * the NUL). ArgumentInvalid for a key that is not 24 base64 characters. */
mh_err mh_amqp_ws_accept(const char *key, char *out, size_t out_size) MH_WARN_UNUSED;

#endif
