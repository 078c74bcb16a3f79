/* http.h - the HTTPS server (libmicrohttpd), with one request/reply model for quick and slow calls.
 *
 * A handler gets the whole request (body read and capped) and an mh_http_reply. It may answer at
 * once or keep the reply and answer later from any thread (a direct method waiting for its
 * device): the connection is then suspended, holding no thread, until mh_http_reply_send().
 */
#ifndef MH_HTTP_H
#define MH_HTTP_H

#include <stddef.h>

#include "errors.h"

typedef struct mh_http mh_http;
typedef struct mh_http_reply mh_http_reply;

/* Valid for the duration of the handler call only. */
typedef struct mh_http_request {
    const char *method; /* "GET", "PUT", ... */
    const char *path;   /* percent-decoded path without the query string (%00 decodes to 0x01) */
    const char *body;   /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    int body_too_large; /* the body exceeded the cap: it was discarded */
    void *internal;
} mh_http_request;

/* Header or query argument by name (case-insensitive for headers), or NULL. */
const char *mh_http_header(const mh_http_request *req, const char *name);
const char *mh_http_query_arg(const mh_http_request *req, const char *name);

/* Called once per request on a server thread. It must, now or later, call mh_http_reply_send()
 * exactly once for reply. */
typedef void (*mh_http_handler)(void *ctx, const mh_http_request *req, mh_http_reply *reply);

#define MH_HTTP_MAX_HEADERS 6

/* The reply to send. body (malloc'd) and header values (malloc'd) are taken over by
 * mh_http_reply_send in every case. */
typedef struct mh_http_response {
    int status;
    char *body;               /* NULL for no body */
    const char *content_type; /* static; NULL = "application/json; charset=utf-8" when body */
    const char *header_names[MH_HTTP_MAX_HEADERS]; /* static names */
    char *header_values[MH_HTTP_MAX_HEADERS];      /* malloc'd values */
} mh_http_response;

/* Sends the response and releases reply. Safe from any thread. */
void mh_http_reply_send(mh_http_reply *reply, mh_http_response *resp);

/* Adds a header to resp (value copied). Silently ignores more than MH_HTTP_MAX_HEADERS. */
void mh_http_response_header(mh_http_response *resp, const char *name, const char *value);

/* Listens on port (IPv6 dual stack, or IPv4 when there is no IPv6) with TLS from the PEM files.
 * body_cap: larger bodies are discarded and flagged. idle_timeout_s: a connection that sends nothing
 * for this long (a stalled TLS handshake or request, an idle keep-alive) is closed; suspended ones
 * (direct methods waiting for the device) are not. Errors carry a text that says what to do
 * (EACCES on a port below 1024, EADDRINUSE). */
mh_err mh_http_start(int port, const char *cert_file, const char *key_file, size_t body_cap,
                     unsigned idle_timeout_s, mh_http_handler handler, void *ctx, mh_http **out_http,
                     mh_status *st) MH_WARN_UNUSED;
void mh_http_stop(mh_http *http); /* NULL is a no-op */

/* ---- protocol upgrade (WebSockets): the request/reply model above stays as it is; a hook sees
 * requests that carry an Upgrade header first. */

/* An upgraded connection, owned by the hook from on_upgraded until mh_http_upgraded_close(). */
typedef struct mh_http_upgraded mh_http_upgraded;

typedef struct mh_http_upgrade_hook {
    /* Called on a server thread for a request with an Upgrade header, before the normal handler. Returns
     * 0 to leave the request to the handler. Returns 1 to answer it with *resp: status 101 plus the
     * headers to switch (the server adds "Connection: Upgrade"), or any other status (an error, sent as
     * a normal reply). *out_conn (may stay NULL) is handed to on_upgraded or, when the 101 is never
     * sent, to on_abandoned. It may block briefly: it holds a server thread. */
    int (*on_request)(void *ctx, const mh_http_request *req, mh_http_response *resp, void **out_conn);
    /* The 101 has been sent: fd is the plain byte stream (TLS already removed), extra the bytes the
     * client sent after its request head. The hook must never close(fd); it must call
     * mh_http_upgraded_close(up) once, from any thread, when done. Called on a server thread: do not block. */
    void (*on_upgraded)(void *ctx, void *conn, int fd, const char *extra, size_t extra_len,
                        mh_http_upgraded *up);
    /* on_request returned 101 but the switch did not happen (client gone): release conn. */
    void (*on_abandoned)(void *ctx, void *conn);
    void *ctx;
} mh_http_upgrade_hook;

/* Installs (hook copied) or removes (NULL) the upgrade hook. Call it right after mh_http_start:
 * until then an upgrade request goes to the normal handler. */
void mh_http_set_upgrade(mh_http *http, const mh_http_upgrade_hook *hook);

/* Ends an upgraded connection (the server closes the socket and the client's TLS session). Safe from
 * any thread. */
void mh_http_upgraded_close(mh_http_upgraded *up);

/* Binds (without listening) a TCP socket on every interface, IPv6 with mapped IPv4 where the host
 * has IPv6, else IPv4: the way the HTTPS server binds. The fd, or -1 with errno set. */
int mh_http_bind_any(int port);

#endif
