/* wsproxy.h - MQTT over WebSockets on the HTTPS port, as IoT Hub serves it at wss://{host}:443/$iothub/websocket
 * (Microsoft's SDKs hard-code port 443 for their WebSockets transports, and 443 is also the REST port).
 *
 * The HTTPS server (http.c) hands us an upgrade request; we replay its head to the broker's internal plain
 * websockets listener, answer the client with the broker's 101, then splice the TLS-unwrapped client stream and
 * the broker connection both ways in one epoll relay thread. The broker and its plugin then see an ordinary
 * websockets MQTT client: auth, isolation and routing are unchanged.
 */
#ifndef MH_WSPROXY_H
#define MH_WSPROXY_H

#include <stddef.h>

#include "errors.h"
#include "http.h"

/* The URL path the SDKs dial (any query string is accepted). */
#define MH_WSPROXY_PATH "/$iothub/websocket"
/* AMQP over WebSockets: the subprotocol that sends a stream to the AMQP listener instead of the
 * broker, and the Event Hubs path the Event Hubs SDKs dial (AMQP only). */
#define MH_WSPROXY_AMQP_PROTOCOL "AMQPWSB10"
#define MH_WSPROXY_SERVICEBUS_PATH "/$servicebus/websocket"
/* Largest response head we accept from the broker's handshake. */
#define MH_WSPROXY_HEAD_MAX 8192

typedef struct mh_wsproxy mh_wsproxy;

/* Wakes the broker's main loop (called on the relay thread every few ms while websocket devices are
 * connected; see wsproxy.c, "waker"). */
typedef void (*mh_wsproxy_wake_fn)(void *ctx);

/* Starts the relay thread. broker_port is the broker's plain websockets listener on 127.0.0.1.
 * waker (NULL to go without) keeps the broker's main loop awake while websocket devices are
 * connected. Errors: MH_ERR_ARGUMENT_INVALID (port), MH_ERR_NOMEM, MH_ERR_INTERNAL (epoll/thread). */
mh_err mh_wsproxy_new(int broker_port, mh_wsproxy_wake_fn waker, void *waker_ctx, mh_wsproxy **out_proxy,
                      mh_status *st) MH_WARN_UNUSED;

/* Fills *out_hook with the upgrade hook to pass to mh_http_set_upgrade; it stays valid until
 * mh_wsproxy_free. */
void mh_wsproxy_hook(mh_wsproxy *p, mh_http_upgrade_hook *out_hook);

/* Closes every spliced connection and stops the relay thread; upgrades that complete later are closed at
 * once and new upgrade requests get 503. Call it before mh_http_stop (libmicrohttpd must not stop with
 * upgraded connections open). Idempotent. */
void mh_wsproxy_shutdown(mh_wsproxy *p);

/* Shuts down (if not yet) and frees. NULL is a no-op. Call after mh_http_stop. */
void mh_wsproxy_free(mh_wsproxy *p);

typedef struct mh_amqp mh_amqp;
/* Sends AMQPWSB10 upgrades to amqp (borrowed, outlives the hook's use; NULL: they get 400). Call
 * before installing the hook. */
void mh_wsproxy_set_amqp(mh_wsproxy *p, mh_amqp *amqp);

/* Number of spliced connections alive now. */
size_t mh_wsproxy_count(mh_wsproxy *p);

/* ---- pure helpers (exposed for unit tests) */

/* The broker's handshake answer, parsed from its response head. Borrowed pointers into a copy owned by
 * the struct: free with mh_wsproxy_reply_cleanup. */
typedef struct mh_wsproxy_reply {
    int status;       /* 101 when the broker switched */
    char *accept;     /* Sec-WebSocket-Accept value or NULL */
    char *protocol;   /* Sec-WebSocket-Protocol value or NULL */
    char *extensions; /* Sec-WebSocket-Extensions value or NULL */
    size_t head_len;  /* bytes of the head including the final CRLFCRLF */
} mh_wsproxy_reply;

/* Parses an HTTP/1.1 response head from text[0..len). Returns MH_OK with *out filled when a complete head
 * is there; MH_ERR_NOT_FOUND when more bytes are needed (and len < MH_WSPROXY_HEAD_MAX); MH_ERR_FORMAT for
 * a malformed or overlong head. */
mh_err mh_wsproxy_reply_parse(const char *text, size_t len, mh_wsproxy_reply *out,
                              mh_status *st) MH_WARN_UNUSED;
void mh_wsproxy_reply_cleanup(mh_wsproxy_reply *r);

#endif
