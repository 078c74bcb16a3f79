/* amqp.c - the AMQP listener: sockets, TLS (OpenSSL, terminated here), the SASL mechanisms the SDKs
 * offer, and one epoll thread that drives a Proton connection driver per client and pads every
 * frame Proton writes (amqp-protocol.md 1.6, 7.1-7.3). The nodes are in amqp_nodes.c.
 */
#include "amqp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <proton/sasl.h>
#include <proton/sasl_plugin.h>
#include <proton/transport.h>

#include "amqp_infilter.h"
#include "amqp_internal.h"
#include "amqp_pad.h"
#include "http.h"
#include "wsframe.h"

#define MAX_CONNS 1024            /* cap: connections accepted at once */
#define OUT_MAX (4 * 1024 * 1024) /* cap: padded bytes waiting for a slow client */
#define MAX_FRAME 65536           /* our max-frame-size: larger frames close the connection */
#define AUTH_DEADLINE_MS 60000    /* MOCK: a connection that never authenticates is closed after 60 s */
#define LISTENERS 4
#define WS_CHUNK 65536 /* most AMQP bytes per WebSocket frame we send */

typedef struct sock {
    mh_amqp_conn c; /* first: the nodes see only this */
    int fd;
    SSL *ssl;
    int handshaking;
    int dead;
    mh_amqp_buf out;         /* padded bytes for the socket (WebSocket: for framing) */
    mh_amqp_buf in;          /* received AMQP bytes (unwrapped, decrypted) Proton has not taken yet */
    mh_amqp_infilter filter; /* drops frames on sessions the client ended (core/amqp_infilter.h) */
    /* AMQP over WebSockets (NULL up: a TCP connection of our own) */
    mh_http_upgraded *up; /* the HTTPS server's upgraded stream: ended through it, never close()d */
    mh_ws_decoder wsd;
    mh_amqp_buf wsout; /* WebSocket frames for the socket */
    int ws_close_sent;
} sock;

/* A WebSocket stream handed over by the HTTPS server's thread, waiting for the loop. */
typedef struct adopted {
    struct adopted *next;
    int fd;
    mh_http_upgraded *up;
    size_t len;
    unsigned char bytes[]; /* what followed the upgrade request */
} adopted;

struct mh_amqp {
    mh_hub *hub;
    int epfd, wakefd;
    int lfd[LISTENERS];
    int ltls[LISTENERS];
    int nl;
    SSL_CTX *tls;
    pthread_t thread;
    int running;
    _Atomic int stop;
    sock *socks[MAX_CONNS];
    int next_id;
    pthread_mutex_t adopt_lock; /* guards adopts */
    adopted *adopts;
};

long long mh_amqp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- SASL: Debian's Proton has no Cyrus; ours offers what the SDKs use (amqp-protocol.md 1.2) ---- */

static mh_amqp_conn *conn_of(pn_transport_t *t)
{
    pn_connection_t *pc = pn_transport_connection(t);
    return pc ? pn_connection_get_context(pc) : NULL;
}

static void sasl_noop(pn_transport_t *t)
{
    (void)t;
}

static const char *sasl_mechs(pn_transport_t *t)
{
    (void)t;
    return "MSSBCBS PLAIN ANONYMOUS";
}

static bool sasl_init_server(pn_transport_t *t)
{
    pnx_sasl_set_desired_state(t, SASL_POSTED_MECHANISMS);
    return true;
}

static bool sasl_false(pn_transport_t *t)
{
    (void)t;
    return false;
}

/* PLAIN's password is a SAS token (uamqp, rhea with credentials: "{policy}@sas.root.{hub}");
 * MSSBCBS and ANONYMOUS authenticate later through $cbs. */
static void sasl_process_init(pn_transport_t *t, const char *mech, const pn_bytes_t *recv)
{
    int ok = 0;
    mh_amqp_conn *c = conn_of(t);
    if (strcmp(mech, "ANONYMOUS") == 0 || strcmp(mech, "MSSBCBS") == 0)
        ok = 1;
    else if (strcmp(mech, "PLAIN") == 0 && c != NULL && recv != NULL && recv->size < 4096) {
        /* authzid \0 authcid \0 password */
        char buf[4097];
        memcpy(buf, recv->start, recv->size);
        buf[recv->size] = '\0';
        const char *user = memchr(buf, '\0', recv->size);
        const char *pass = user ? memchr(user + 1, '\0', recv->size - (size_t)(user + 1 - buf)) : NULL;
        if (pass != NULL) {
            char token[4097];
            size_t pl = recv->size - (size_t)(pass + 1 - buf);
            memcpy(token, pass + 1, pl);
            token[pl] = '\0';
            mh_status st = {0};
            ok = mh_amqp_authorize(c, token, &st) == MH_OK;
            if (!ok)
                fprintf(stderr, "mockhub: amqp #%d: SASL PLAIN refused: %s\n", c->id, st.text);
        }
    }
    if (ok)
        pnx_sasl_set_succeeded(t, "anonymous", NULL);
    else
        pnx_sasl_set_failed(t);
    pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
}

static void sasl_process_bytes(pn_transport_t *t, const pn_bytes_t *recv)
{
    (void)t;
    (void)recv;
}

static bool sasl_process_mechanisms(pn_transport_t *t, const char *mechs)
{
    (void)t;
    (void)mechs;
    return false;
}

static ssize_t sasl_max_encrypt(pn_transport_t *t)
{
    (void)t;
    return 0;
}

static ssize_t sasl_code(pn_transport_t *t, pn_bytes_t in, pn_bytes_t *out)
{
    (void)t;
    (void)in;
    (void)out;
    return 0;
}

static const pnx_sasl_implementation sasl_impl = {
    .free = sasl_noop,
    .list_mechanisms = sasl_mechs,
    .init_server = sasl_init_server,
    .init_client = sasl_false,
    .prepare_write = sasl_noop,
    .process_init = sasl_process_init,
    .process_response = sasl_process_bytes,
    .process_mechanisms = sasl_process_mechanisms,
    .process_challenge = sasl_process_bytes,
    .process_outcome = sasl_process_bytes,
    .can_encrypt = sasl_false,
    .max_encrypt_size = sasl_max_encrypt,
    .encode = sasl_code,
    .decode = sasl_code,
};

/* ---- connections ---- */

static void sock_free(mh_amqp *a, int slot)
{
    sock *s = a->socks[slot];
    if (s == NULL)
        return;
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    /* A connection that ends without the driver reaching PN_LINK_FINAL for each link (closed
     * socket, shutdown) still owns its links' contexts: free them before Proton frees the links. */
    pn_connection_t *conn = s->c.driver.connection;
    for (pn_link_t *l = conn ? pn_link_head(conn, 0) : NULL; l != NULL; l = pn_link_next(l, 0)) {
        free(pn_link_get_context(l));
        pn_link_set_context(l, NULL);
    }
    pn_connection_driver_destroy(&s->c.driver);
    if (s->ssl)
        SSL_free(s->ssl);
    if (s->up != NULL)
        mh_http_upgraded_close(s->up);
    else
        close(s->fd);
    mh_amqp_buf_cleanup(&s->out);
    mh_amqp_buf_cleanup(&s->in);
    mh_amqp_infilter_cleanup(&s->filter);
    mh_amqp_buf_cleanup(&s->wsout);
    free(s);
    a->socks[slot] = NULL;
}

static void sock_interest(mh_amqp *a, sock *s, int slot)
{
    struct epoll_event ev = {.events = EPOLLIN |
                                       (s->out.len > 0 || s->wsout.len > 0 || s->handshaking ? EPOLLOUT : 0),
                             .data.u64 = (uint64_t)slot + 16};
    epoll_ctl(a->epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

static int ws_feed(sock *s, unsigned char *in, size_t len);
static void sock_process(sock *s);

/* Adds a connection: tls for 5671, up for a WebSocket stream (pending: its first raw bytes). */
static mh_err sock_add(mh_amqp *a, int fd, int tls, mh_http_upgraded *up, unsigned char *pending, size_t len)
{
    int slot = -1;
    for (int i = 0; i < MAX_CONNS; i++)
        if (a->socks[i] == NULL) {
            slot = i;
            break;
        }
    if (slot < 0) {
        fprintf(stderr, "mockhub: amqp: %d connections open, refusing another\n", MAX_CONNS);
        if (up != NULL)
            mh_http_upgraded_close(up);
        else
            close(fd);
        return MH_ERR_THROTTLED;
    }
    sock *s = calloc(1, sizeof *s);
    if (s == NULL || pn_connection_driver_init(&s->c.driver, NULL, NULL) != 0) {
        free(s);
        if (up != NULL)
            mh_http_upgraded_close(up);
        else
            close(fd);
        return MH_ERR_NOMEM;
    }
    s->fd = fd;
    s->up = up;
    s->wsd.require_mask = 1;
    s->out.max = OUT_MAX;
    s->in.max = OUT_MAX;
    s->wsout.max = OUT_MAX + 2 * WS_CHUNK;
    s->c.amqp = a;
    s->c.hub = a->hub;
    s->c.id = ++a->next_id;
    s->c.opened_ms = mono_ms();
    pn_transport_t *t = s->c.driver.transport;
    pn_transport_set_server(t);
    pn_transport_require_auth(t, false);
    pn_transport_set_max_frame(t, MAX_FRAME); /* pyamqp needs it explicit (amqp-protocol.md 1.3) */
    pn_sasl_t *sasl = pn_sasl(t);
    pn_sasl_set_allow_insecure_mechs(sasl, true); /* TLS is ours: Proton sees plaintext */
    pnx_sasl_set_implementation(t, &sasl_impl, NULL);
    pn_connection_set_context(s->c.driver.connection, &s->c);
    if (tls) {
        s->ssl = SSL_new(a->tls);
        if (s->ssl == NULL || SSL_set_fd(s->ssl, fd) != 1) {
            if (s->ssl)
                SSL_free(s->ssl);
            pn_connection_driver_destroy(&s->c.driver);
            free(s);
            close(fd);
            return MH_ERR_NOMEM;
        }
        SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_set_accept_state(s->ssl);
        s->handshaking = 1;
    }
    a->socks[slot] = s;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)slot + 16};
    epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (up != NULL && len > 0 && !ws_feed(s, pending, len))
        s->dead = 1; /* the first epoll event closes it */
    return MH_OK;
}

/* ---- AMQP over WebSockets: Proton sees the bytes inside the binary frames (RFC 6455) ---- */

/* Appends one unmasked frame to wsout; 0 when it does not fit. */
static int ws_frame(sock *s, int opcode, const void *data, size_t len)
{
    unsigned char h[10];
    size_t hl = mh_ws_header_format(h, opcode, len);
    return mh_amqp_buf_append(&s->wsout, h, hl) == MH_OK &&
           (len == 0 || mh_amqp_buf_append(&s->wsout, data, len) == MH_OK);
}

/* Queues our close frame once (code: RFC 6455 7.4.1). */
static void ws_close(sock *s, unsigned code)
{
    if (s->ws_close_sent)
        return;
    unsigned char c[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    s->ws_close_sent = ws_frame(s, MH_WS_OP_CLOSE, c, 2);
}

/* Moves received AMQP bytes into Proton as far as it takes them, less the frames the filter drops.
 * 1 when Proton is full (read no more until it took these), 0 when all went or the filter waits for
 * the rest of a frame head. */
static int in_drain(sock *s)
{
    size_t off = 0;
    int passed = 0, full = 0;
    while (off < s->in.len) {
        int drop;
        size_t n = mh_amqp_infilter_next(&s->filter, s->in.data + off, s->in.len - off, &drop);
        if (n == 0)
            break;
        if (!drop) {
            pn_rwbytes_t rb = pn_connection_driver_read_buffer(&s->c.driver);
            if (rb.size == 0 && passed) { /* let Proton's events run, then look again */
                sock_process(s);
                passed = 0;
                rb = pn_connection_driver_read_buffer(&s->c.driver);
            }
            if (rb.size == 0) {
                full = 1;
                break;
            }
            if (n > rb.size)
                n = rb.size;
            memcpy(rb.start, s->in.data + off, n);
            pn_connection_driver_read_done(&s->c.driver, n);
            passed = 1;
        }
        mh_amqp_infilter_consumed(&s->filter, n);
        off += n;
    }
    mh_amqp_buf_consume(&s->in, off); /* once: the buffer moves its tail once per call */
    if (passed)
        sock_process(s); /* keep Proton's buffers small */
    return full;
}

/* Decodes raw WebSocket bytes: data for Proton, pongs for pings, a close answered. 0 when the stream
 * must end (a close, a protocol error: our close frame is queued). */
static int ws_feed(sock *s, unsigned char *in, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t used = 0;
        mh_ws_event ev;
        mh_err err = mh_ws_decode(&s->wsd, in + off, len - off, &used, &ev);
        if (err != MH_OK) {
            fprintf(stderr, "mockhub: amqp #%d: bad WebSocket frame, closing\n", s->c.id);
            ws_close(s, err == MH_ERR_ARGUMENT_INVALID ? 1003 : 1002);
            return 0;
        }
        off += used;
        if (ev.kind == MH_WS_DATA) {
            if (mh_amqp_buf_append(&s->in, ev.data, ev.len) != MH_OK) {
                ws_close(s, 1009);
                return 0;
            }
        } else if (ev.kind == MH_WS_PING) {
            if (!ws_frame(s, MH_WS_OP_PONG, ev.data, ev.len))
                return 0;
        } else if (ev.kind == MH_WS_CLOSE) {
            ws_close(s, ev.len >= 2 ? (unsigned)ev.data[0] << 8 | ev.data[1] : 1000);
            in_drain(s); /* what came before the close still counts */
            pn_connection_driver_read_close(&s->c.driver);
            return 0;
        }
    }
    in_drain(s);
    return 1;
}

/* Reads the WebSocket stream; 0 when it ended. */
static int ws_read(sock *s)
{
    unsigned char raw[16384];
    for (int round = 0; round < 64; round++) {
        if (in_drain(s))
            return 1; /* Proton is full: read more once it took these */
        ssize_t n = recv(s->fd, raw, sizeof raw, 0);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        if (n == 0) {
            in_drain(s);
            pn_connection_driver_read_close(&s->c.driver);
            return 0;
        }
        if (!ws_feed(s, raw, (size_t)n))
            return 0;
    }
    return 1;
}

/* Frames what Proton wrote and sends the frames; 0 when the stream broke. */
static int ws_flush(sock *s)
{
    while (s->out.len > 0 && s->wsout.len < 2 * WS_CHUNK) {
        size_t n = s->out.len < WS_CHUNK ? s->out.len : WS_CHUNK;
        if (!ws_frame(s, MH_WS_OP_BINARY, s->out.data, n))
            return 0;
        mh_amqp_buf_consume(&s->out, n);
    }
    while (s->wsout.len > 0) {
        ssize_t n = send(s->fd, s->wsout.data, s->wsout.len, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        mh_amqp_buf_consume(&s->wsout, (size_t)n);
        if (s->wsout.len == 0 && s->out.len > 0)
            return ws_flush(s);
    }
    return 1;
}

/* Runs Proton's events, then moves its output (padded) into s->out. */
static void sock_process(sock *s)
{
    pn_connection_driver_t *d = &s->c.driver;
    pn_event_t *e;
    while ((e = pn_connection_driver_next_event(d)) != NULL) {
        pn_connection_t *pc = pn_event_connection(e);
        pn_session_t *ss = pn_event_session(e);
        pn_link_t *l = pn_event_link(e);
        switch (pn_event_type(e)) {
        case PN_CONNECTION_INIT:
            pn_connection_set_container(pc, "mockhub");
            break;
        case PN_CONNECTION_REMOTE_OPEN:
            pn_connection_open(pc);
            break;
        case PN_SESSION_REMOTE_OPEN:
            pn_session_open(ss);
            break;
        case PN_LINK_REMOTE_OPEN:
            pn_terminus_copy(pn_link_source(l), pn_link_remote_source(l));
            pn_terminus_copy(pn_link_target(l), pn_link_remote_target(l));
            if (pn_terminus_get_type(pn_link_source(l)) == PN_UNSPECIFIED)
                pn_terminus_set_type(pn_link_source(l), PN_SOURCE);
            if (pn_terminus_get_type(pn_link_target(l)) == PN_UNSPECIFIED)
                pn_terminus_set_type(pn_link_target(l), PN_TARGET);
            /* pyamqp dies on a null properties map (amqp-protocol.md 1.5) */
            pn_data_clear(pn_link_properties(l));
            pn_data_put_map(pn_link_properties(l));
            mh_amqp_on_attach(&s->c, l);
            break;
        case PN_LINK_FLOW:
            if (pn_link_is_sender(l))
                mh_amqp_pump(&s->c, l);
            break;
        case PN_DELIVERY: {
            pn_delivery_t *dl = pn_event_delivery(e);
            if (pn_link_is_receiver(l)) {
                if (pn_delivery_readable(dl) && !pn_delivery_partial(dl))
                    mh_amqp_on_delivery(&s->c, l, dl);
            } else if (pn_delivery_updated(dl) && pn_delivery_remote_state(dl) != 0)
                pn_delivery_settle(dl); /* the client's outcome for an event or feedback */
            break;
        }
        case PN_LINK_REMOTE_DETACH:
            pn_link_detach(l);
            break;
        case PN_LINK_REMOTE_CLOSE:
            pn_link_close(l);
            break;
        case PN_LINK_FINAL:
            free(pn_link_get_context(l));
            pn_link_set_context(l, NULL);
            break;
        case PN_SESSION_REMOTE_CLOSE:
            pn_session_close(ss);
            break;
        case PN_CONNECTION_REMOTE_CLOSE:
            pn_connection_close(pc);
            break;
        case PN_TRANSPORT_ERROR: {
            pn_condition_t *cond = pn_transport_condition(pn_event_transport(e));
            fprintf(stderr, "mockhub: amqp #%d: %s: %s\n", s->c.id,
                    pn_condition_get_name(cond) ? pn_condition_get_name(cond) : "error",
                    pn_condition_get_description(cond) ? pn_condition_get_description(cond) : "");
            break;
        }
        default:
            break;
        }
    }
    for (;;) {
        pn_bytes_t wb = pn_connection_driver_write_buffer(d);
        if (wb.size == 0)
            break;
        size_t used = 0;
        mh_err err = mh_amqp_pad((const unsigned char *)wb.start, wb.size, &s->out, &used);
        if (err != MH_OK) {
            fprintf(stderr, "mockhub: amqp #%d: cannot queue output (%s): closing\n", s->c.id,
                    mh_err_lookup(err)->name);
            s->dead = 1;
            return;
        }
        if (used == 0) { /* not a whole frame: pass through as it is */
            if (mh_amqp_buf_append(&s->out, wb.start, wb.size) != MH_OK) {
                s->dead = 1;
                return;
            }
            used = wb.size;
        }
        pn_connection_driver_write_done(d, used);
    }
}

/* Writes s->out to the socket; 0 when the connection broke. */
static int sock_flush(sock *s)
{
    if (s->up != NULL)
        return ws_flush(s);
    while (s->out.len > 0) {
        ssize_t n;
        if (s->ssl) {
            int r = SSL_write(s->ssl, s->out.data, (int)(s->out.len > 65536 ? 65536 : s->out.len));
            if (r <= 0) {
                int e = SSL_get_error(s->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    return 1;
                return 0;
            }
            n = r;
        } else {
            n = send(s->fd, s->out.data, s->out.len, MSG_NOSIGNAL);
            if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
        mh_amqp_buf_consume(&s->out, (size_t)n);
    }
    return 1;
}

/* Reads what the socket has into the driver; 0 when the connection ended. */
static int sock_read(sock *s)
{
    if (s->up != NULL)
        return ws_read(s);
    if (s->handshaking) {
        int r = SSL_do_handshake(s->ssl);
        if (r != 1) {
            int e = SSL_get_error(s->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 1;
            fprintf(stderr, "mockhub: amqp #%d: TLS handshake failed\n", s->c.id);
            ERR_clear_error();
            return 0;
        }
        s->handshaking = 0;
    }
    unsigned char raw[16384];
    for (int round = 0; round < 64; round++) {
        if (in_drain(s))
            return 1; /* Proton is full or closed for reading */
        ssize_t n;
        if (s->ssl) {
            int r = SSL_read(s->ssl, raw, (int)sizeof raw);
            if (r <= 0) {
                int e = SSL_get_error(s->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    return 1;
                ERR_clear_error();
                in_drain(s);
                pn_connection_driver_read_close(&s->c.driver);
                return 0;
            }
            n = r;
        } else {
            n = recv(s->fd, raw, sizeof raw, 0);
            if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
            if (n == 0) {
                in_drain(s);
                pn_connection_driver_read_close(&s->c.driver);
                return 0;
            }
        }
        if (mh_amqp_buf_append(&s->in, raw, (size_t)n) != MH_OK) {
            fprintf(stderr, "mockhub: amqp #%d: input backlog over %d bytes: closing\n", s->c.id, OUT_MAX);
            return 0;
        }
    }
    in_drain(s);
    return 1;
}

/* After IO: close when finished, else update the epoll interest. */
static void sock_settle(mh_amqp *a, int slot)
{
    sock *s = a->socks[slot];
    if (!s->dead)
        in_drain(s);
    sock_process(s);
    if (s->up != NULL && pn_connection_driver_finished(&s->c.driver) && s->out.len == 0)
        ws_close(s, 1000);
    if (!sock_flush(s))
        s->dead = 1;
    if (s->dead || (pn_connection_driver_finished(&s->c.driver) && s->out.len == 0 && s->wsout.len == 0)) {
        if (s->ssl && !s->dead)
            SSL_shutdown(s->ssl);
        sock_free(a, slot);
        return;
    }
    sock_interest(a, s, slot);
}

static void each_second(mh_amqp *a)
{
    long long now_s = mh_amqp_now_ms() / 1000, mono = mono_ms();
    for (int i = 0; i < MAX_CONNS; i++) {
        sock *s = a->socks[i];
        if (s == NULL)
            continue;
        if (s->c.auth_expiry == 0 && mono - s->c.opened_ms > AUTH_DEADLINE_MS &&
            !pn_connection_driver_finished(&s->c.driver)) {
            pn_connection_driver_errorf(&s->c.driver, "amqp:unauthorized-access",
                                        "no valid token was put on $cbs within %d seconds of connecting",
                                        AUTH_DEADLINE_MS / 1000);
            pn_connection_driver_close(&s->c.driver);
        } else
            mh_amqp_check_expiry(&s->c, now_s);
        sock_settle(a, i);
    }
    mh_hub_c2d_sweep(a->hub);
}

/* Every connection's sending links get a chance to send (new telemetry, feedback). */
static void pump_all(mh_amqp *a)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        sock *s = a->socks[i];
        if (s == NULL)
            continue;
        for (pn_link_t *l = pn_link_head(s->c.driver.connection, PN_LOCAL_ACTIVE | PN_REMOTE_ACTIVE); l;
             l = pn_link_next(l, PN_LOCAL_ACTIVE | PN_REMOTE_ACTIVE))
            if (pn_link_is_sender(l))
                mh_amqp_pump(&s->c, l);
        sock_settle(a, i);
    }
}

static void accept_all(mh_amqp *a, int li)
{
    for (;;) {
        int fd = accept4(a->lfd[li], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (sock_add(a, fd, a->ltls[li], NULL, NULL, 0) != MH_OK)
            continue;
    }
}

/* The WebSocket streams other threads handed over become connections (loop thread). */
static void take_adopted(mh_amqp *a)
{
    pthread_mutex_lock(&a->adopt_lock);
    adopted *ad = a->adopts;
    a->adopts = NULL;
    pthread_mutex_unlock(&a->adopt_lock);
    while (ad != NULL) {
        adopted *nx = ad->next;
        if (sock_add(a, ad->fd, 0, ad->up, ad->bytes, ad->len) != MH_OK)
            fprintf(stderr, "mockhub: amqp: cannot take a WebSocket connection\n");
        free(ad);
        ad = nx;
    }
}

static void *loop(void *arg)
{
    mh_amqp *a = arg;
    long long last_second = mono_ms(), last_tick = 0;
    struct epoll_event evs[64];
    while (!a->stop) {
        int n = epoll_wait(a->epfd, evs, 64, 100);
        int woken = 0;
        for (int i = 0; i < n; i++) {
            uint64_t k = evs[i].data.u64;
            if (k < LISTENERS) {
                accept_all(a, (int)k);
            } else if (k == 8) {
                uint64_t v;
                if (read(a->wakefd, &v, sizeof v) < 0)
                    (void)0;
                woken = 1;
                take_adopted(a);
                mh_hub_c2d_run_later(a->hub);
            } else {
                int slot = (int)(k - 16);
                sock *s = a->socks[slot];
                if (s == NULL)
                    continue;
                if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || s->handshaking) {
                    if (!sock_read(s)) {
                        /* the peer is gone: let Proton answer what it read, then close */
                        sock_process(s);
                        sock_flush(s);
                        s->dead = 1;
                    }
                }
                sock_settle(a, slot);
            }
        }
        long long now = mono_ms();
        if (now - last_tick >= 50) { /* heartbeats and idle time-outs (amqp-protocol.md 1.4) */
            last_tick = now;
            for (int i = 0; i < MAX_CONNS; i++)
                if (a->socks[i] != NULL)
                    pn_transport_tick(a->socks[i]->c.driver.transport, now);
        }
        if (woken || now - last_second >= 1000)
            pump_all(a);
        if (now - last_second >= 1000) {
            last_second = now;
            each_second(a);
        }
    }
    return NULL;
}

void mh_amqp_wake(mh_amqp *a)
{
    if (a == NULL)
        return;
    uint64_t one = 1;
    if (write(a->wakefd, &one, sizeof one) < 0)
        (void)0;
}

mh_err mh_amqp_adopt_websocket(mh_amqp *a, int fd, const void *pending, size_t len, mh_http_upgraded *up)
{
    adopted *ad = len <= OUT_MAX ? malloc(sizeof *ad + len) : NULL;
    if (ad == NULL) {
        mh_http_upgraded_close(up);
        return MH_ERR_NOMEM;
    }
    ad->fd = fd;
    ad->up = up;
    ad->len = len;
    if (len > 0)
        memcpy(ad->bytes, pending, len);
    pthread_mutex_lock(&a->adopt_lock);
    ad->next = a->adopts;
    a->adopts = ad;
    pthread_mutex_unlock(&a->adopt_lock);
    mh_amqp_wake(a);
    return MH_OK;
}

mh_err mh_amqp_ws_accept(const char *key, char *out, size_t out_size)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char in[24 + sizeof guid], md[SHA_DIGEST_LENGTH];
    unsigned char b64[32];
    if (key == NULL || strlen(key) != 24 ||
        strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != 24 ||
        out_size < 29)
        return MH_ERR_ARGUMENT_INVALID;
    memcpy(in, key, 24);
    memcpy(in + 24, guid, sizeof guid - 1);
    SHA1(in, 24 + sizeof guid - 1, md);
    EVP_EncodeBlock(b64, md, SHA_DIGEST_LENGTH); /* 28 characters and a NUL */
    memcpy(out, b64, 29);
    return MH_OK;
}

static int listen_on(mh_amqp *a, int family, const char *addr, int port, int tls, mh_status *st)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        return mh_fail(st, MH_ERR_UNAVAILABLE, "cannot open a socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (family == AF_INET6) {
        struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        int v6only = addr != NULL;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        if (addr)
            inet_pton(AF_INET6, addr, &sa.sin6_addr);
        rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, addr, &sa.sin_addr);
        rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    if (rc != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        if (family == AF_INET6 && addr != NULL)
            return MH_OK; /* no IPv6 loopback: IPv4 only */
        return mh_fail(st, MH_ERR_UNAVAILABLE, "cannot listen for AMQP on port %d: %s", port, strerror(e));
    }
    int i = a->nl++;
    a->lfd[i] = fd;
    a->ltls[i] = tls;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
    epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
    return MH_OK;
}

mh_err mh_amqp_start(mh_hub *hub, mh_amqp **out, mh_status *st)
{
    mh_err err = MH_OK;
    mh_amqp *a = calloc(1, sizeof *a);
    if (a == NULL)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    a->hub = hub;
    a->wakefd = -1;
    pthread_mutex_init(&a->adopt_lock, NULL);
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    a->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (a->epfd < 0 || a->wakefd < 0) {
        err = mh_fail(st, MH_ERR_UNAVAILABLE, "cannot create the AMQP event loop: %s", strerror(errno));
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 8};
    epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->wakefd, &ev);
    a->tls = SSL_CTX_new(TLS_server_method());
    if (a->tls == NULL || SSL_CTX_use_certificate_chain_file(a->tls, hub->cfg.server_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(a->tls, hub->cfg.server_key, SSL_FILETYPE_PEM) != 1) {
        ERR_clear_error();
        err = mh_fail(st, MH_ERR_UNAVAILABLE, "cannot load the server certificate %s for AMQP",
                      hub->cfg.server_cert);
        goto fail;
    }
    SSL_CTX_set_min_proto_version(a->tls, TLS1_2_VERSION);
    if ((err = listen_on(a, AF_INET6, NULL, hub->cfg.amqp_port, 1, st)) != MH_OK ||
        (err = listen_on(a, AF_INET, "127.0.0.1", hub->cfg.amqp_plain_port, 0, st)) != MH_OK ||
        (err = listen_on(a, AF_INET6, "::1", hub->cfg.amqp_plain_port, 0, st)) != MH_OK)
        goto fail;
    if (pthread_create(&a->thread, NULL, loop, a) != 0) {
        err = mh_fail(st, MH_ERR_UNAVAILABLE, "cannot start the AMQP thread");
        goto fail;
    }
    a->running = 1;
    *out = a;
    return MH_OK;
fail:
    mh_amqp_stop(a);
    return err;
}

void mh_amqp_stop(mh_amqp *a)
{
    if (a == NULL)
        return;
    if (a->running) {
        a->stop = 1;
        mh_amqp_wake(a);
        pthread_join(a->thread, NULL);
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (a->socks[i] != NULL)
            sock_free(a, i);
    while (a->adopts != NULL) { /* handed over after the thread stopped */
        adopted *ad = a->adopts;
        a->adopts = ad->next;
        mh_http_upgraded_close(ad->up);
        free(ad);
    }
    pthread_mutex_destroy(&a->adopt_lock);
    for (int i = 0; i < a->nl; i++)
        close(a->lfd[i]);
    if (a->tls)
        SSL_CTX_free(a->tls);
    if (a->wakefd >= 0)
        close(a->wakefd);
    if (a->epfd >= 0)
        close(a->epfd);
    free(a);
}
