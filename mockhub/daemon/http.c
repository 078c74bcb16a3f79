/* http.c - the HTTPS server over libmicrohttpd: TLS, body capping, suspend/resume so a reply
 * can be sent later from another thread without holding a server thread, and protocol upgrades
 * (WebSockets) handed to a hook as a plain byte stream.
 */
#include "http.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define MH_HTTP_THREADS 2

struct mh_http {
    struct MHD_Daemon *daemon;
    int listen_fd;
    char *cert_pem;
    char *key_pem;
    size_t body_cap;
    mh_http_handler handler;
    void *ctx;
    pthread_mutex_t hook_lock;
    int has_hook;
    mh_http_upgrade_hook hook;
};

enum reply_state { REPLY_IN_HANDLER, REPLY_SUSPENDED, REPLY_QUEUED };

struct mh_http_reply {
    pthread_mutex_t lock;
    int refs; /* the request state holds one, the handler (or its delegate) one */
    enum reply_state state;
    int has_response;
    mh_http_response response;
    struct MHD_Connection *conn;
};

/* Per-request state, kept in MHD's con_cls from the first call to the completion notice. */
struct request_state {
    char *body;
    size_t len;
    size_t cap;
    int too_large;
    mh_http_reply *reply;
    int upgrade;               /* the upgrade hook answered this request */
    mh_http_upgrade_hook hook; /* its copy, for the callbacks after on_request */
    void *upgrade_conn;        /* on_request's conn until on_upgraded takes it */
};

static void response_cleanup(mh_http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    for (int i = 0; i < MH_HTTP_MAX_HEADERS; i++) {
        free(resp->header_values[i]);
        resp->header_values[i] = NULL;
        resp->header_names[i] = NULL;
    }
}

static void reply_unref(mh_http_reply *reply)
{
    pthread_mutex_lock(&reply->lock);
    int left = --reply->refs;
    pthread_mutex_unlock(&reply->lock);
    if (left == 0) {
        response_cleanup(&reply->response);
        pthread_mutex_destroy(&reply->lock);
        free(reply);
    }
}

void mh_http_response_header(mh_http_response *resp, const char *name, const char *value)
{
    for (int i = 0; i < MH_HTTP_MAX_HEADERS; i++) {
        if (resp->header_names[i] == NULL) {
            char *copy = strdup(value);
            if (copy == NULL)
                return;
            resp->header_names[i] = name;
            resp->header_values[i] = copy;
            return;
        }
    }
}

void mh_http_reply_send(mh_http_reply *reply, mh_http_response *resp)
{
    pthread_mutex_lock(&reply->lock);
    if (reply->has_response) { /* programmer error: answered twice; keep the first */
        pthread_mutex_unlock(&reply->lock);
        response_cleanup(resp);
        reply_unref(reply);
        return;
    }
    reply->response = *resp;
    memset(resp, 0, sizeof *resp);
    reply->has_response = 1;
    if (reply->state == REPLY_SUSPENDED)
        MHD_resume_connection(reply->conn);
    pthread_mutex_unlock(&reply->lock);
    reply_unref(reply);
}

const char *mh_http_header(const mh_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->internal, MHD_HEADER_KIND, name);
}

const char *mh_http_query_arg(const mh_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->internal, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result queue(struct MHD_Connection *conn, mh_http_response *resp)
{
    struct MHD_Response *r = NULL;
    if (resp->body != NULL) {
        size_t len = strlen(resp->body);
        r = MHD_create_response_from_buffer(len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (r != NULL)
            resp->body = NULL; /* MHD frees it now */
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL)
        return MHD_NO;
    if (resp->status != 204) {
        const char *ct = resp->content_type ? resp->content_type : "application/json; charset=utf-8";
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    }
    for (int i = 0; i < MH_HTTP_MAX_HEADERS; i++)
        if (resp->header_names[i] != NULL)
            MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

void mh_http_set_upgrade(mh_http *http, const mh_http_upgrade_hook *hook)
{
    pthread_mutex_lock(&http->hook_lock);
    http->has_hook = hook != NULL;
    if (hook != NULL)
        http->hook = *hook;
    pthread_mutex_unlock(&http->hook_lock);
}

void mh_http_upgraded_close(mh_http_upgraded *up)
{
    /* MHD then flushes what the hook wrote, ends the TLS session and closes the client socket once
     * both directions are done. libmicrohttpd 0.9.75 can miss that moment: the close action shuts our
     * end of the socket pair before it marks the handle closed, and when its thread sees the shutdown
     * in between, it ends the outbound direction only and sleeps until the client sends or closes
     * (upstream fix in 1.0, commit 6fb386ec). Every WebSocket client answers our close frame with its
     * own (RFC 6455 5.5.1), which wakes it; a client that never answers may keep its TCP connection
     * until it closes it. Shutting the client socket here to force the wake-up was tried: GnuTLS then
     * sees the end of input first and drops what we wrote last (an AMQP close, a close frame). */
    MHD_upgrade_action((struct MHD_UpgradeResponseHandle *)up, MHD_UPGRADE_ACTION_CLOSE);
}

/* MHD calls this once the 101 has gone out. The connection stays suspended (so con_cls, our
 * request_state, is alive) until mh_http_upgraded_close. */
static void on_mhd_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                            size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)cls;
    struct request_state *rs = con_cls;
    /* The stream carries small interactive messages (MQTT): no corking or Nagle on the client socket,
     * or every reply waits for the peer's delayed ACK (~40 ms). */
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CORK_OFF);
    /* libmicrohttpd 0.9.75 turns TCP_NODELAY off when it switches (seen with strace): turn it back on. */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci != NULL) {
        int one = 1;
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    void *uconn = rs->upgrade_conn;
    rs->upgrade_conn = NULL;
    rs->hook.on_upgraded(rs->hook.ctx, uconn, sock, extra_in, extra_in_size, (mh_http_upgraded *)urh);
}

/* Offers a request with an Upgrade header to the hook. Returns 0 when the hook leaves it to the
 * normal handler, else 1 with *out_ret the MHD result. */
static int try_upgrade(mh_http *http, struct MHD_Connection *conn, struct request_state *rs,
                       const mh_http_request *req, enum MHD_Result *out_ret)
{
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE) == NULL)
        return 0;
    pthread_mutex_lock(&http->hook_lock);
    int has = http->has_hook;
    mh_http_upgrade_hook hook = http->hook;
    pthread_mutex_unlock(&http->hook_lock);
    if (!has)
        return 0;
    mh_http_response resp = {0};
    void *uconn = NULL;
    if (!hook.on_request(hook.ctx, req, &resp, &uconn)) {
        response_cleanup(&resp);
        return 0;
    }
    rs->upgrade = 1;
    rs->hook = hook;
    rs->upgrade_conn = uconn;
    if (resp.status != MHD_HTTP_SWITCHING_PROTOCOLS) {
        *out_ret = queue(conn, &resp);
        response_cleanup(&resp);
        return 1;
    }
    enum MHD_Result ret = MHD_NO;
    struct MHD_Response *r = MHD_create_response_for_upgrade(on_mhd_upgraded, http);
    if (r != NULL) {
        /* MHD adds "Connection: Upgrade" itself for a 101 with an upgrade handler. */
        for (int i = 0; i < MH_HTTP_MAX_HEADERS; i++)
            if (resp.header_names[i] != NULL)
                MHD_add_response_header(r, resp.header_names[i], resp.header_values[i]);
        ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
        MHD_destroy_response(r);
    }
    response_cleanup(&resp);
    *out_ret = ret; /* on MHD_NO the connection closes and on_completed abandons uconn */
    return 1;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    mh_http *http = cls;
    struct request_state *rs = *con_cls;
    (void)version;

    if (rs == NULL) {
        rs = calloc(1, sizeof *rs);
        if (rs == NULL)
            return MHD_NO;
        *con_cls = rs;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rs->too_large || rs->len + n > http->body_cap) {
            rs->too_large = 1; /* keep reading, keep nothing */
            return MHD_YES;
        }
        if (rs->len + n + 1 > rs->cap) {
            size_t want = rs->cap ? rs->cap * 2 : 4096;
            while (want < rs->len + n + 1)
                want *= 2;
            char *grown = realloc(rs->body, want);
            if (grown == NULL)
                return MHD_NO;
            rs->body = grown;
            rs->cap = want;
        }
        memcpy(rs->body + rs->len, upload_data, n);
        rs->len += n;
        rs->body[rs->len] = '\0';
        return MHD_YES;
    }

    if (rs->upgrade)
        return MHD_YES;
    if (rs->reply == NULL) {
        mh_http_request req = {
            .method = method,
            .path = url,
            .body = rs->body ? rs->body : "",
            .body_len = rs->too_large ? 0 : rs->len,
            .body_too_large = rs->too_large,
            .internal = conn,
        };
        enum MHD_Result uret = MHD_NO;
        if (try_upgrade(http, conn, rs, &req, &uret))
            return uret;

        mh_http_reply *reply = calloc(1, sizeof *reply);
        if (reply == NULL)
            return MHD_NO;
        pthread_mutex_init(&reply->lock, NULL);
        reply->refs = 2;
        reply->state = REPLY_IN_HANDLER;
        reply->conn = conn;
        rs->reply = reply;
        http->handler(http->ctx, &req, reply);
    }

    mh_http_reply *reply = rs->reply;
    enum MHD_Result ret = MHD_YES;
    pthread_mutex_lock(&reply->lock);
    if (reply->has_response) {
        if (reply->state != REPLY_QUEUED) {
            reply->state = REPLY_QUEUED;
            ret = queue(conn, &reply->response);
        }
    } else {
        reply->state = REPLY_SUSPENDED;
        MHD_suspend_connection(conn);
    }
    pthread_mutex_unlock(&reply->lock);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request_state *rs = *con_cls;
    if (rs == NULL)
        return;
    if (rs->reply != NULL)
        reply_unref(rs->reply);
    if (rs->upgrade_conn != NULL && rs->hook.on_abandoned != NULL)
        rs->hook.on_abandoned(rs->hook.ctx, rs->upgrade_conn); /* the 101 never went out */
    free(rs->body);
    free(rs);
    *con_cls = NULL;
}

/* Small responses go out as separate TLS records (headers, body); with Nagle on, the second waits
 * for the client's delayed ACK: 40 ms per request. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (ci != NULL)
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && n < 1024 * 1024 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)n + 1);
            if (buf != NULL) {
                size_t got = fread(buf, 1, (size_t)n, f);
                buf[got] = '\0';
            }
        }
    }
    fclose(f);
    return buf;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes the path and query arguments in place, as MHD's own decoder does, except that
 * %00 becomes 0x01: a NUL would cut the C string, so "/devices/a%00b" would address device "a".
 * 0x01 is valid in no device id and no route, so such a request is refused instead. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = hex_digit(r[1])) >= 0 && (lo = hex_digit(r[2])) >= 0) {
            *w++ = (hi | lo) == 0 ? '\x01' : (char)(hi << 4 | lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

int mh_http_bind_any(int port)
{
    int one = 1, zero = 0;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct sockaddr_in6 a6 = {
            .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Mapped IPv4 too: a holder of the port on either family conflicts. */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (e != EADDRNOTAVAIL && e != EAFNOSUPPORT) {
            errno = e;
            return -1;
        }
    }
    /* No IPv6 on this host: the IPv4 wildcard. */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a4 = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a4, sizeof a4) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Binds ourselves so a failure has an errno we can explain; MHD then serves this socket. */
static int bind_listener(int port, mh_status *st)
{
    int fd = mh_http_bind_any(port);
    if (fd < 0)
        goto fail;
    if (listen(fd, 1024) != 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (e == EACCES)
        mh_fail(st, MH_ERR_UNAVAILABLE,
                "cannot bind HTTPS port %d: permission denied. Ports below 1024 need root or "
                "CAP_NET_BIND_SERVICE: run as root, or `setcap cap_net_bind_service=+ep build/mockhub`, "
                "or set MOCKHUB_HTTPS_PORT=8443 (note: Microsoft's Node service SDK always uses 443)",
                port);
    else if (e == EADDRINUSE)
        mh_fail(st, MH_ERR_UNAVAILABLE,
                "cannot bind HTTPS port %d: address in use (another mockhub or web server?). "
                "Stop it or set MOCKHUB_HTTPS_PORT",
                port);
    else
        mh_fail(st, MH_ERR_UNAVAILABLE, "cannot listen on HTTPS port %d: %s", port, strerror(e));
    return -1;
}

mh_err mh_http_start(int port, const char *cert_file, const char *key_file, size_t body_cap,
                     unsigned idle_timeout_s, mh_http_handler handler, void *ctx, mh_http **out_http,
                     mh_status *st)
{
    mh_http *http = calloc(1, sizeof *http);
    if (http == NULL)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    http->listen_fd = -1;
    pthread_mutex_init(&http->hook_lock, NULL);
    http->body_cap = body_cap;
    http->handler = handler;
    http->ctx = ctx;
    http->cert_pem = read_file(cert_file);
    http->key_pem = read_file(key_file);
    if (http->cert_pem == NULL || http->key_pem == NULL) {
        mh_fail(st, MH_ERR_INTERNAL, "cannot read TLS certificate %s or key %s", cert_file, key_file);
        goto fail;
    }
    http->listen_fd = bind_listener(port, st);
    if (http->listen_fd < 0)
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    http->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, http, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)http->listen_fd,
        MHD_OPTION_HTTPS_MEM_CERT, http->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, http->key_pem,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)MH_HTTP_THREADS, MHD_OPTION_CONNECTION_LIMIT, (unsigned)20000,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, http, MHD_OPTION_UNESCAPE_CALLBACK, unescape, http,
        MHD_OPTION_END);
    if (http->daemon == NULL) {
        mh_fail(st, MH_ERR_UNAVAILABLE, "libmicrohttpd failed to start on port %d (TLS files %s, %s)", port,
                cert_file, key_file);
        goto fail;
    }
    *out_http = http;
    return MH_OK;
fail:;
    mh_err code = st ? st->code : MH_ERR_INTERNAL;
    mh_http_stop(http);
    return code;
}

void mh_http_stop(mh_http *http)
{
    if (http == NULL)
        return;
    if (http->daemon != NULL)
        MHD_stop_daemon(http->daemon); /* closes the listen socket too */
    else if (http->listen_fd >= 0)
        close(http->listen_fd);
    free(http->cert_pem);
    free(http->key_pem);
    pthread_mutex_destroy(&http->hook_lock);
    free(http);
}
