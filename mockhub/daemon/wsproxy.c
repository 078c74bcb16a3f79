/* wsproxy.c - splices WebSocket upgrades on the HTTPS port to the broker's internal websockets listener:
 * handshake replay on the server thread that got the request, then one epoll thread relays the bytes of
 * every spliced connection (see wsproxy.h).
 */
#include "wsproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "amqp.h"
#include "replies.h"

#define BUF_SIZE 16384 /* per direction and connection */
#define HANDSHAKE_TIMEOUT_MS 5000
#define MAX_EVENTS 128
#define PUMP_ROUNDS 8     /* read/write rounds per direction per wakeup, for fairness */
#define WAKER_PERIOD_MS 5 /* see "the waker" below */

enum { C2B = 0, B2C = 1 }; /* client -> broker, broker -> client */

typedef struct dir {
    char *buf;
    size_t cap, off, len;
    int eof;
} dir;

typedef struct pair pair;

typedef struct end {
    pair *p;
    int fd;
    uint32_t mask; /* events registered in epoll */
} end;

struct pair {
    end client; /* libmicrohttpd's socket: never close()d by us */
    end broker; /* ours */
    mh_http_upgraded *up;
    dir d[2];
    int dead;
    pair *next, *prev; /* incoming list (under lock), then live list (relay thread only) */
    pair *next_dead;   /* freed after the current epoll batch */
};

/* What on_request hands to on_upgraded: the broker socket after its 101, and any bytes after the head. */
typedef struct pending {
    int amqp; /* AMQPWSB10: the stream goes to the AMQP listener (fd unused) */
    int fd;
    char *extra;
    size_t extra_len;
} pending;

struct mh_wsproxy {
    int broker_port;
    int ep;
    int wake; /* eventfd: new pairs or shutdown */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock; /* guards closing, incoming, count */
    int closing;
    pair *incoming; /* handed over by on_upgraded, not yet in epoll */
    pair *live;     /* in epoll; the relay thread's (shutdown's once it stopped) */
    size_t count;
    /* the waker (relay thread only) */
    mh_wsproxy_wake_fn waker; /* NULL: no waker */
    void *waker_ctx;
    int timer_fd;
    int timer_armed;
    mh_amqp *amqp; /* AMQP over WebSockets goes there; NULL: refused */
};

/* epoll tags of the relay's own descriptors (pairs use their end structs, the wake eventfd NULL) */
static char tag_timer;

/* ---------------------------------------------------------------- handshake reply parsing */

static char *dup_trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char *c = malloc(n + 1);
    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

void mh_wsproxy_reply_cleanup(mh_wsproxy_reply *r)
{
    if (r == NULL)
        return;
    free(r->accept);
    free(r->protocol);
    free(r->extensions);
    memset(r, 0, sizeof *r);
}

mh_err mh_wsproxy_reply_parse(const char *text, size_t len, mh_wsproxy_reply *out, mh_status *st)
{
    mh_wsproxy_reply r = {0};
    mh_err err = MH_OK;
    const char *blank = memmem(text, len, "\r\n\r\n", 4);
    if (blank == NULL) {
        if (len >= MH_WSPROXY_HEAD_MAX)
            return mh_fail(st, MH_ERR_FORMAT, "the broker's handshake reply exceeds %d bytes",
                           MH_WSPROXY_HEAD_MAX);
        return mh_fail(st, MH_ERR_NOT_FOUND, "incomplete handshake reply");
    }
    r.head_len = (size_t)(blank - text) + 4;
    if (r.head_len > MH_WSPROXY_HEAD_MAX)
        return mh_fail(st, MH_ERR_FORMAT, "the broker's handshake reply exceeds %d bytes",
                       MH_WSPROXY_HEAD_MAX);
    /* status line: HTTP/1.x NNN reason */
    if (r.head_len < 12 || strncmp(text, "HTTP/1.", 7) != 0 || text[8] != ' ' || text[9] < '1' ||
        text[9] > '5' || text[10] < '0' || text[10] > '9' || text[11] < '0' || text[11] > '9')
        return mh_fail(st, MH_ERR_FORMAT, "the broker's handshake reply has no HTTP status line");
    r.status = (text[9] - '0') * 100 + (text[10] - '0') * 10 + (text[11] - '0');
    const char *line = (const char *)memmem(text, r.head_len, "\r\n", 2) + 2;
    const char *stop = text + r.head_len - 2; /* the empty last line */
    while (line < stop) {
        const char *eol = memmem(line, (size_t)(stop + 2 - line), "\r\n", 2);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL) {
            err = mh_fail(st, MH_ERR_FORMAT, "malformed header line in the broker's handshake reply");
            goto fail;
        }
        size_t nlen = (size_t)(colon - line);
        char **slot = NULL;
        if (nlen == 20 && strncasecmp(line, "Sec-WebSocket-Accept", nlen) == 0)
            slot = &r.accept;
        else if (nlen == 22 && strncasecmp(line, "Sec-WebSocket-Protocol", nlen) == 0)
            slot = &r.protocol;
        else if (nlen == 24 && strncasecmp(line, "Sec-WebSocket-Extensions", nlen) == 0)
            slot = &r.extensions;
        if (slot != NULL && *slot == NULL) {
            *slot = dup_trimmed(colon + 1, (size_t)(eol - colon - 1));
            if (*slot == NULL) {
                err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
                goto fail;
            }
        }
        line = eol + 2;
    }
    *out = r;
    return MH_OK;
fail:
    mh_wsproxy_reply_cleanup(&r);
    return err;
}

/* ---------------------------------------------------------------- handshake with the broker */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits until fd is ready for events or the deadline passes; 1 when ready. */
static int wait_fd(int fd, short events, long deadline)
{
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

/* A request header value fit to be replayed (no CR/LF), or NULL. */
static const char *hdr(const mh_http_request *req, const char *name)
{
    const char *v = mh_http_header(req, name);
    return v != NULL && strpbrk(v, "\r\n") == NULL ? v : NULL;
}

/* The head we replay: the client's WebSocket headers, our own Host/Upgrade/Connection. *out malloc'd. */
static mh_err format_head(const mh_http_request *req, char **out, mh_status *st)
{
    static const char *const pass[] = {"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
                                       "Sec-WebSocket-Extensions", "Origin"};
    char head[MH_WSPROXY_HEAD_MAX];
    const char *host = hdr(req, "Host");
    int n = snprintf(head, sizeof head,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
                     MH_WSPROXY_PATH, host ? host : "localhost");
    for (size_t i = 0; i < sizeof pass / sizeof pass[0] && n > 0 && (size_t)n < sizeof head; i++) {
        const char *v = hdr(req, pass[i]);
        if (v != NULL)
            n += snprintf(head + n, sizeof head - (size_t)n, "%s: %s\r\n", pass[i], v);
    }
    if (n > 0 && (size_t)n < sizeof head)
        n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (n <= 0 || (size_t)n >= sizeof head)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "the WebSocket request headers are too long");
    *out = strdup(head);
    return *out ? MH_OK : mh_fail(st, MH_ERR_NOMEM, "out of memory");
}

/* Connects to the broker, replays the head and reads its answer. On MH_OK *out_fd is the connected
 * (non-blocking) socket, *out_reply the parsed answer (any status) and *out_extra the bytes after it. */
static mh_err broker_handshake(int port, const char *head, int *out_fd, mh_wsproxy_reply *out_reply,
                               char **out_extra, size_t *out_extra_len, mh_status *st)
{
    mh_err err = MH_OK;
    char *buf = NULL;
    char *extra = NULL;
    long deadline = now_ms() + HANDSHAKE_TIMEOUT_MS;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return mh_fail(st, MH_ERR_UNAVAILABLE, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* MQTT: small writes, no Nagle */
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int ok = errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (!ok || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            err = mh_fail(st, MH_ERR_UNAVAILABLE,
                          "cannot reach the broker's websockets listener on port %d: %s", port,
                          ok ? strerror(soerr) : "timed out");
            goto done;
        }
    }
    size_t len = strlen(head), off = 0;
    while (off < len) {
        ssize_t n = send(fd, head + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline)) {
            continue;
        } else if (!(n < 0 && errno == EINTR)) {
            err = mh_fail(st, MH_ERR_UNAVAILABLE, "the broker's websockets listener closed the handshake");
            goto done;
        }
    }
    buf = malloc(MH_WSPROXY_HEAD_MAX);
    if (buf == NULL) {
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t got = 0;
    mh_wsproxy_reply r;
    for (;;) {
        ssize_t n = recv(fd, buf + got, MH_WSPROXY_HEAD_MAX - got, 0);
        if (n > 0) {
            got += (size_t)n;
            mh_status pst = {MH_OK, ""};
            mh_err perr = mh_wsproxy_reply_parse(buf, got, &r, &pst);
            if (perr == MH_OK)
                break;
            if (perr != MH_ERR_NOT_FOUND) {
                err = mh_fail(st, MH_ERR_UNAVAILABLE, "%s", pst.text);
                goto done;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLIN, deadline))
            continue;
        if (n == 0) /* libwebsockets closes without a word on a handshake it refuses */
            err = mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                          "the MQTT broker refused the WebSocket handshake (check Sec-WebSocket-Key and "
                          "Sec-WebSocket-Protocol: mqtt)");
        else
            err = mh_fail(st, MH_ERR_UNAVAILABLE, "the broker's websockets listener did not answer in time");
        goto done;
    }
    if (got > r.head_len) {
        extra = malloc(got - r.head_len);
        if (extra == NULL) {
            mh_wsproxy_reply_cleanup(&r);
            err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(extra, buf + r.head_len, got - r.head_len);
    }
    *out_fd = fd;
    fd = -1;
    *out_reply = r;
    *out_extra = extra;
    *out_extra_len = got - r.head_len;
done:
    if (fd >= 0)
        close(fd);
    free(buf);
    return err;
}

/* 1 when the comma-separated Sec-WebSocket-Protocol list offers proto. */
static int offers(const char *list, const char *proto)
{
    size_t n = strlen(proto);
    for (const char *q = list; q != NULL && *q != '\0';) {
        q += strspn(q, " \t,");
        size_t t = strcspn(q, " \t,");
        if (t == n && strncasecmp(q, proto, n) == 0)
            return 1;
        q += t;
    }
    return 0;
}

/* AMQP over WebSockets (subprotocol AMQPWSB10): we answer the handshake ourselves and the AMQP
 * listener takes the stream (mh_amqp_adopt_websocket). */
static int amqp_request(mh_wsproxy *p, const mh_http_request *req, mh_http_response *resp, void **out_conn)
{
    char accept[32];
    const char *version = mh_http_header(req, "Sec-WebSocket-Version");
    if (p->amqp == NULL) {
        mh_reply_error_response(resp, MH_ERR_ARGUMENT_INVALID, "AMQP is turned off on this hub");
        return 1;
    }
    if (version == NULL || strcmp(version, "13") != 0 ||
        mh_amqp_ws_accept(mh_http_header(req, "Sec-WebSocket-Key"), accept, sizeof accept) != MH_OK) {
        mh_reply_error_response(
            resp, MH_ERR_ARGUMENT_INVALID,
            "the WebSocket handshake needs Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key");
        return 1;
    }
    pending *pd = calloc(1, sizeof *pd);
    if (pd == NULL) {
        mh_reply_error_response(resp, MH_ERR_NOMEM, "out of memory");
        return 1;
    }
    pd->amqp = 1;
    pd->fd = -1;
    resp->status = 101;
    mh_http_response_header(resp, "Upgrade", "websocket");
    mh_http_response_header(resp, "Sec-WebSocket-Accept", accept);
    mh_http_response_header(resp, "Sec-WebSocket-Protocol", MH_WSPROXY_AMQP_PROTOCOL);
    *out_conn = pd;
    return 1;
}

/* The hook's on_request: ours is GET /$iothub/websocket with Upgrade: websocket (and, for AMQP only,
 * the Event Hubs path /$servicebus/websocket). */
static int on_request(void *ctx, const mh_http_request *req, mh_http_response *resp, void **out_conn)
{
    mh_wsproxy *p = ctx;
    const char *upgrade = mh_http_header(req, "Upgrade");
    int iothub = strcmp(req->path, MH_WSPROXY_PATH) == 0;
    int servicebus = strcmp(req->path, MH_WSPROXY_SERVICEBUS_PATH) == 0;
    if ((!iothub && !servicebus) || upgrade == NULL || strcasestr(upgrade, "websocket") == NULL)
        return 0;
    int amqp = offers(mh_http_header(req, "Sec-WebSocket-Protocol"), MH_WSPROXY_AMQP_PROTOCOL);
    if (!amqp && servicebus)
        return 0;
    if (strcmp(req->method, "GET") != 0) {
        mh_reply_error_response(resp, MH_ERR_METHOD_NOT_ALLOWED, "a WebSocket upgrade must use GET");
        return 1;
    }
    pthread_mutex_lock(&p->lock);
    int closing = p->closing;
    pthread_mutex_unlock(&p->lock);
    if (closing) {
        mh_reply_error_response(resp, MH_ERR_UNAVAILABLE, "the hub is stopping");
        return 1;
    }
    if (amqp)
        return amqp_request(p, req, resp, out_conn);
    mh_status st = {MH_OK, ""};
    char *head = NULL;
    int fd = -1;
    mh_wsproxy_reply r = {0};
    char *extra = NULL;
    size_t extra_len = 0;
    if (format_head(req, &head, &st) != MH_OK) {
        mh_reply_error_response(resp, st.code, st.text);
        return 1;
    }
    mh_err err = broker_handshake(p->broker_port, head, &fd, &r, &extra, &extra_len, &st);
    free(head);
    if (err != MH_OK) {
        if (err != MH_ERR_ARGUMENT_INVALID)
            fprintf(stderr, "mockhub: websocket upgrade failed: %s\n", st.text);
        mh_reply_error_response(resp, err, st.text);
        return 1;
    }
    if (r.status != 101) {
        /* The broker refused the handshake (bad key or version): pass its status on. */
        char text[160];
        snprintf(text, sizeof text, "the WebSocket handshake was refused (HTTP %d from the MQTT broker)",
                 r.status);
        mh_err code = r.status >= 500 ? MH_ERR_UNAVAILABLE : MH_ERR_ARGUMENT_INVALID;
        mh_reply_error_response(resp, code, text);
        resp->status = r.status;
        close(fd);
        free(extra);
        mh_wsproxy_reply_cleanup(&r);
        return 1;
    }
    pending *pd = calloc(1, sizeof *pd);
    if (pd == NULL) {
        close(fd);
        free(extra);
        mh_wsproxy_reply_cleanup(&r);
        mh_reply_error_response(resp, MH_ERR_NOMEM, "out of memory");
        return 1;
    }
    pd->fd = fd;
    pd->extra = extra;
    pd->extra_len = extra_len;
    resp->status = 101;
    mh_http_response_header(resp, "Upgrade", "websocket");
    if (r.accept != NULL)
        mh_http_response_header(resp, "Sec-WebSocket-Accept", r.accept);
    if (r.protocol != NULL)
        mh_http_response_header(resp, "Sec-WebSocket-Protocol", r.protocol);
    if (r.extensions != NULL)
        mh_http_response_header(resp, "Sec-WebSocket-Extensions", r.extensions);
    mh_wsproxy_reply_cleanup(&r);
    *out_conn = pd;
    return 1;
}

static void pending_free(pending *pd)
{
    if (pd == NULL)
        return;
    if (pd->fd >= 0)
        close(pd->fd);
    free(pd->extra);
    free(pd);
}

static void on_abandoned(void *ctx, void *conn)
{
    (void)ctx;
    pending_free(conn);
}

/* ---------------------------------------------------------------- the relay */

static uint32_t want_mask(const pair *p, const end *e)
{
    /* an end reads for the direction it feeds and writes for the one it drains */
    int feeds = e == &p->client ? C2B : B2C;
    int drains = 1 - feeds;
    uint32_t m = 0;
    if (p->d[feeds].len == 0 && !p->d[feeds].eof)
        m |= EPOLLIN;
    if (p->d[drains].len > 0)
        m |= EPOLLOUT;
    return m;
}

static int update_mask(mh_wsproxy *px, pair *p, end *e, int add)
{
    uint32_t m = want_mask(p, e);
    if (!add && m == e->mask)
        return 1;
    struct epoll_event ev = {.events = m, .data.ptr = e};
    if (epoll_ctl(px->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, e->fd, &ev) != 0)
        return 0;
    e->mask = m;
    return 1;
}

static void pair_free(pair *p)
{
    free(p->d[C2B].buf);
    free(p->d[B2C].buf);
    free(p);
}

/* Ends both sides. Caller: the relay thread, or shutdown after it stopped. */
static void pair_close(mh_wsproxy *px, pair *p)
{
    if (p->dead)
        return;
    p->dead = 1;
    epoll_ctl(px->ep, EPOLL_CTL_DEL, p->client.fd, NULL);
    epoll_ctl(px->ep, EPOLL_CTL_DEL, p->broker.fd, NULL);
    close(p->broker.fd);
    mh_http_upgraded_close(p->up);
    if (p->prev)
        p->prev->next = p->next;
    else
        px->live = p->next;
    if (p->next)
        p->next->prev = p->prev;
    pthread_mutex_lock(&px->lock);
    px->count--;
    pthread_mutex_unlock(&px->lock);
}

/* Moves bytes one way until the source would block, the destination would block, or the round cap.
 * Returns -1 on a socket error, else 0. */
static int pump(dir *d, int src, int dst)
{
    for (int round = 0; round < PUMP_ROUNDS; round++) {
        if (d->len == 0 && !d->eof) {
            ssize_t n = recv(src, d->buf, d->cap, 0);
            if (n > 0) {
                d->off = 0;
                d->len = (size_t)n;
            } else if (n == 0) {
                d->eof = 1;
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            } else {
                return -1;
            }
        }
        if (d->len == 0)
            return 0; /* eof */
        ssize_t w = send(dst, d->buf + d->off, d->len, MSG_NOSIGNAL);
        if (w > 0) {
            d->off += (size_t)w;
            d->len -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
        if (d->len > 0)
            return 0; /* partial write: wait for EPOLLOUT */
    }
    return 0;
}

static void service(mh_wsproxy *px, pair *p)
{
    int failed =
        pump(&p->d[C2B], p->client.fd, p->broker.fd) < 0 || pump(&p->d[B2C], p->broker.fd, p->client.fd) < 0;
    /* Either side done (its bytes delivered): MQTT needs no half-close, end both. The broker's last
     * bytes (a refusing CONNACK) reach the client first: libmicrohttpd flushes before it closes. */
    int done = (p->d[C2B].eof && p->d[C2B].len == 0) || (p->d[B2C].eof && p->d[B2C].len == 0);
    if (failed || done || !update_mask(px, p, &p->client, 0) || !update_mask(px, p, &p->broker, 0))
        pair_close(px, p);
}

/* ---------------------------------------------------------------- the waker
 *
 * Mosquitto 2.0.11 serves websockets clients as "second class citizens" (its loop.c): libwebsockets writes
 * only in lws_service(), called once per turn of the broker's main loop, and a message the plugin
 * publishes (mosquitto_broker_publish_copy: every hub -> device message) is queued at the start of the
 * next turn, which then sleeps in epoll_wait for up to 100 ms before that write happens. Measured: a
 * direct-method round trip took ~150 ms over WebSockets against ~3 ms over MQTT/TLS. So while websocket
 * devices are connected the relay calls the waker every WAKER_PERIOD_MS: the hub sends a tiny
 * `$mockhub/wake` message on its own broker link (core/bus.c), whose arrival ends the broker's sleep,
 * so a queued websockets write waits at most about that long. */

static void waker_tick(mh_wsproxy *px)
{
    uint64_t expirations;
    ssize_t ignored = read(px->timer_fd, &expirations, sizeof expirations);
    (void)ignored;
    if (px->live != NULL && px->waker != NULL)
        px->waker(px->waker_ctx);
}

/* Runs the timer while websocket connections exist. */
static void waker_arm(mh_wsproxy *px)
{
    int want = px->live != NULL && px->waker != NULL;
    if (px->timer_fd < 0 || want == px->timer_armed)
        return;
    long ns = want ? WAKER_PERIOD_MS * 1000000L : 0;
    struct itimerspec its = {.it_interval = {0, ns}, .it_value = {0, ns}};
    if (timerfd_settime(px->timer_fd, 0, &its, NULL) == 0)
        px->timer_armed = want;
}

/* Takes the pairs on_upgraded queued into epoll and the live list. Returns 0 when shutting down. */
static int admit_incoming(mh_wsproxy *px)
{
    uint64_t v;
    ssize_t ignored = read(px->wake, &v, sizeof v);
    (void)ignored;
    pthread_mutex_lock(&px->lock);
    pair *in = px->incoming;
    px->incoming = NULL;
    int closing = px->closing;
    pthread_mutex_unlock(&px->lock);
    while (in != NULL) {
        pair *p = in;
        in = in->next;
        p->next = px->live;
        p->prev = NULL;
        if (px->live)
            px->live->prev = p;
        px->live = p;
        if (closing || !update_mask(px, p, &p->client, 1) || !update_mask(px, p, &p->broker, 1)) {
            pair_close(px, p);
            pair_free(p);
        }
    }
    return !closing;
}

static void *relay_main(void *arg)
{
    mh_wsproxy *px = arg;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(px->ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "mockhub: websocket relay: epoll_wait: %s\n", strerror(errno));
            return NULL;
        }
        pair *graveyard = NULL;
        int stop = 0;
        for (int i = 0; i < n && !stop; i++) {
            if (evs[i].data.ptr == NULL) { /* the wake eventfd */
                stop = !admit_incoming(px);
                continue;
            }
            if (evs[i].data.ptr == &tag_timer) {
                waker_tick(px);
                continue;
            }
            end *e = evs[i].data.ptr;
            pair *p = e->p;
            if (p->dead)
                continue;
            service(px, p);
            if (p->dead) {
                p->next_dead = graveyard;
                graveyard = p;
            }
        }
        while (graveyard != NULL) { /* later events of this batch may have pointed at them */
            pair *nx = graveyard->next_dead;
            pair_free(graveyard);
            graveyard = nx;
        }
        waker_arm(px);
        if (stop)
            return NULL;
    }
}

static int buf_init(dir *d, const char *pre, size_t pre_len)
{
    d->cap = pre_len > BUF_SIZE ? pre_len : BUF_SIZE;
    d->buf = malloc(d->cap);
    if (d->buf == NULL)
        return 0;
    if (pre_len > 0)
        memcpy(d->buf, pre, pre_len);
    d->len = pre_len;
    return 1;
}

static void on_upgraded(void *ctx, void *conn, int fd, const char *extra, size_t extra_len,
                        mh_http_upgraded *up)
{
    mh_wsproxy *px = ctx;
    pending *pd = conn;
    if (pd != NULL && pd->amqp) {
        pthread_mutex_lock(&px->lock);
        int closing = px->closing;
        pthread_mutex_unlock(&px->lock);
        pending_free(pd);
        if (closing || !set_nonblocking(fd))
            mh_http_upgraded_close(up);
        else if (mh_amqp_adopt_websocket(px->amqp, fd, extra, extra_len, up) != MH_OK)
            fprintf(stderr, "mockhub: AMQP over WebSockets: out of memory, closing\n");
        return;
    }
    pair *p = calloc(1, sizeof *p);
    if (p == NULL || !buf_init(&p->d[C2B], extra, extra_len) ||
        !buf_init(&p->d[B2C], pd ? pd->extra : NULL, pd ? pd->extra_len : 0) || pd == NULL ||
        !set_nonblocking(fd)) {
        fprintf(stderr, "mockhub: websocket upgrade: out of resources, closing\n");
        goto fail;
    }
    p->client = (end){.p = p, .fd = fd};
    p->broker = (end){.p = p, .fd = pd->fd};
    p->up = up;
    pthread_mutex_lock(&px->lock);
    if (px->closing) {
        pthread_mutex_unlock(&px->lock);
        goto fail;
    }
    /* The relay thread adds it to epoll, so no event can reach a half-registered pair. */
    p->next = px->incoming;
    px->incoming = p;
    px->count++;
    pthread_mutex_unlock(&px->lock);
    pd->fd = -1;
    pending_free(pd);
    uint64_t one = 1;
    ssize_t ignored = write(px->wake, &one, sizeof one);
    (void)ignored;
    return;
fail:
    if (p != NULL)
        pair_free(p);
    pending_free(pd);
    mh_http_upgraded_close(up);
}

/* ---------------------------------------------------------------- lifecycle */

mh_err mh_wsproxy_new(int broker_port, mh_wsproxy_wake_fn waker, void *waker_ctx, mh_wsproxy **out_proxy,
                      mh_status *st)
{
    if (broker_port < 1 || broker_port > 65535)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "websockets port %d out of range", broker_port);
    mh_wsproxy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    p->broker_port = broker_port;
    p->waker = waker;
    p->waker_ctx = waker_ctx;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    p->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    pthread_mutex_init(&p->lock, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = &tag_timer};
    if (p->ep < 0 || p->wake < 0 || p->timer_fd < 0 || epoll_ctl(p->ep, EPOLL_CTL_ADD, p->wake, &ev) != 0 ||
        epoll_ctl(p->ep, EPOLL_CTL_ADD, p->timer_fd, &tev) != 0) {
        mh_fail(st, MH_ERR_INTERNAL, "websocket relay: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&p->thread, NULL, relay_main, p) != 0) {
        mh_fail(st, MH_ERR_INTERNAL, "cannot start the websocket relay thread");
        goto fail;
    }
    p->thread_started = 1;
    *out_proxy = p;
    return MH_OK;
fail:;
    mh_err code = st ? st->code : MH_ERR_INTERNAL;
    mh_wsproxy_free(p);
    return code;
}

void mh_wsproxy_hook(mh_wsproxy *p, mh_http_upgrade_hook *out_hook)
{
    *out_hook = (mh_http_upgrade_hook){
        .on_request = on_request, .on_upgraded = on_upgraded, .on_abandoned = on_abandoned, .ctx = p};
}

void mh_wsproxy_shutdown(mh_wsproxy *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->closing = 1;
    pthread_mutex_unlock(&p->lock);
    if (p->thread_started) {
        uint64_t one = 1;
        ssize_t ignored = write(p->wake, &one, sizeof one);
        (void)ignored;
        pthread_join(p->thread, NULL);
        p->thread_started = 0;
    }
    /* The relay is stopped and closing refuses new pairs: the lists are ours now. */
    pthread_mutex_lock(&p->lock);
    pair *in = p->incoming;
    p->incoming = NULL;
    pthread_mutex_unlock(&p->lock);
    while (in != NULL) { /* never registered: link them so pair_close unlinks them like the others */
        pair *x = in;
        in = in->next;
        x->prev = NULL;
        x->next = p->live;
        if (p->live)
            p->live->prev = x;
        p->live = x;
    }
    while (p->live != NULL) {
        pair *x = p->live;
        pair_close(p, x);
        pair_free(x);
    }
}

void mh_wsproxy_free(mh_wsproxy *p)
{
    if (p == NULL)
        return;
    mh_wsproxy_shutdown(p);
    if (p->timer_fd >= 0)
        close(p->timer_fd);
    if (p->ep >= 0)
        close(p->ep);
    if (p->wake >= 0)
        close(p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void mh_wsproxy_set_amqp(mh_wsproxy *p, mh_amqp *amqp)
{
    p->amqp = amqp;
}

size_t mh_wsproxy_count(mh_wsproxy *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}
