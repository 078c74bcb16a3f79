/* mb_mqtt.c - many libmosquitto clients on one epoll loop (see mb_mqtt.h).
 *
 * libmosquitto's external-loop API: mosquitto_socket() gives the fd, mosquitto_loop_read/_write do the
 * I/O (including the TLS handshake), mosquitto_want_write() says when EPOLLOUT is needed.
 */
#include "mb_mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "mb_stats.h"

struct mb_client {
    mb_loop *loop;
    struct mosquitto *mosq;
    mb_client_cfg cfg;
    char id[128];
    mb_on_msg on_msg;
    mb_on_state on_state;
    void *ud;
    int fd;           /* registered fd, -1 when none */
    int out_armed;    /* EPOLLOUT in the interest set */
    int subs_pending; /* SUBACKs still expected */
    mb_client_state state;
    uint64_t started_ns, connack_ns;
    int connack_rc;
    mb_client *next; /* all clients of the loop */
};

struct mb_loop {
    int ep;
    mb_client *clients;
    mb_loop_stats st;
    uint64_t last_misc_ns;
};

SSL_CTX *mb_tls_ctx_new(const char *cafile)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

mb_loop *mb_loop_new(void)
{
    static int inited;
    if (!inited) {
        mosquitto_lib_init();
        inited = 1;
    }
    mb_loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        free(l);
        return NULL;
    }
    l->last_misc_ns = mb_now_ns();
    return l;
}

void mb_loop_free(mb_loop *l)
{
    if (!l)
        return;
    mb_client *c = l->clients;
    while (c) {
        mb_client *n = c->next;
        mosquitto_destroy(c->mosq);
        free(c);
        c = n;
    }
    close(l->ep);
    free(l);
}

static void set_state(mb_client *c, mb_client_state st)
{
    if (c->state == st)
        return;
    mb_client_state old = c->state;
    c->state = st;
    if (st == MB_C_CONNECTED)
        c->loop->st.connected++;
    if (st == MB_C_READY)
        c->loop->st.ready++;
    if (st == MB_C_FAILED)
        c->loop->st.failed++;
    if (st == MB_C_LOST)
        c->loop->st.lost++;
    (void)old;
    if (c->on_state)
        c->on_state(c, st);
}

/* Keeps the epoll registration in step with the mosquitto socket and its write wish. */
static void sync_fd(mb_client *c)
{
    int fd = mosquitto_socket(c->mosq);
    if (fd != c->fd) {
        if (c->fd >= 0)
            epoll_ctl(c->loop->ep, EPOLL_CTL_DEL, c->fd, NULL);
        c->fd = -1;
        c->out_armed = 0;
        if (fd >= 0) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            if (mosquitto_want_write(c->mosq)) {
                ev.events |= EPOLLOUT;
                c->out_armed = 1;
            }
            if (epoll_ctl(c->loop->ep, EPOLL_CTL_ADD, fd, &ev) == 0)
                c->fd = fd;
        }
        return;
    }
    if (fd < 0)
        return;
    int want = mosquitto_want_write(c->mosq) ? 1 : 0;
    if (want != c->out_armed) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(c->loop->ep, EPOLL_CTL_MOD, fd, &ev);
        c->out_armed = want;
    }
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    mb_client *c = ud;
    c->connack_rc = rc;
    c->connack_ns = mb_now_ns();
    if (rc != 0) {
        set_state(c, MB_C_FAILED);
        return;
    }
    c->subs_pending = 0;
    for (int i = 0; i < 4 && c->cfg.subs[i]; i++) {
        if (mosquitto_subscribe(m, NULL, c->cfg.subs[i], c->cfg.sub_qos) == MOSQ_ERR_SUCCESS)
            c->subs_pending++;
    }
    set_state(c, c->subs_pending ? MB_C_CONNECTED : MB_C_READY);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    (void)m;
    (void)mid;
    mb_client *c = ud;
    for (int i = 0; i < n; i++) {
        if (granted[i] == 0x80) {
            c->connack_rc = 0x80;
            set_state(c, MB_C_FAILED);
            return;
        }
    }
    if (c->subs_pending > 0 && --c->subs_pending == 0 && c->state == MB_C_CONNECTED)
        set_state(c, MB_C_READY);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    (void)m;
    mb_client *c = ud;
    if (c->state == MB_C_READY || c->state == MB_C_CONNECTED) {
        if (c->connack_rc == 0)
            c->connack_rc = 1000 + rc;
        set_state(c, c->state == MB_C_READY ? MB_C_LOST : MB_C_FAILED);
    } else if (c->state == MB_C_CONNECTING) {
        c->connack_rc = 1000 + rc;
        set_state(c, MB_C_FAILED);
    }
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m;
    mb_client *c = ud;
    if (c->on_msg)
        c->on_msg(c, msg);
}

mb_client *mb_client_start(mb_loop *l, const mb_client_cfg *cfg, mb_on_msg on_msg, mb_on_state on_state,
                           void *ud, int *out_rc)
{
    int rc = MOSQ_ERR_NOMEM;
    mb_client *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->loop = l;
    c->cfg = *cfg;
    snprintf(c->id, sizeof c->id, "%s", cfg->id);
    c->cfg.id = c->id;
    c->on_msg = on_msg;
    c->on_state = on_state;
    c->ud = ud;
    c->fd = -1;
    c->connack_rc = -1;
    c->started_ns = mb_now_ns();
    c->mosq = mosquitto_new(c->id, cfg->clean_session ? true : false, c);
    if (!c->mosq)
        goto fail;
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (cfg->ssl_ctx) {
        /* our context as is: CA loaded once for all clients; libmosquitto still checks the host name */
        rc = mosquitto_int_option(c->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        if (!rc)
            rc = mosquitto_void_option(c->mosq, MOSQ_OPT_SSL_CTX, cfg->ssl_ctx);
        if (rc)
            goto fail;
    }
    if (cfg->username || cfg->password) {
        rc = mosquitto_username_pw_set(c->mosq, cfg->username, cfg->password);
        if (rc)
            goto fail;
    }
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_message_callback_set(c->mosq, on_message);
    rc = mosquitto_connect_async(c->mosq, cfg->host, cfg->port, cfg->keepalive > 0 ? cfg->keepalive : 300);
    if (rc)
        goto fail;
    c->next = l->clients;
    l->clients = c;
    l->st.started++;
    sync_fd(c);
    return c;
fail:
    if (out_rc)
        *out_rc = rc;
    if (c) {
        if (c->mosq)
            mosquitto_destroy(c->mosq);
        free(c);
    }
    return NULL;
}

static void handle_rc(mb_client *c, int rc)
{
    if (rc == MOSQ_ERR_SUCCESS)
        return;
    /* libmosquitto already called on_disconnect for connection losses; cover the rest. */
    if (c->state == MB_C_CONNECTING || c->state == MB_C_CONNECTED) {
        if (c->connack_rc <= 0)
            c->connack_rc = 1000 + rc;
        set_state(c, MB_C_FAILED);
    } else if (c->state == MB_C_READY) {
        set_state(c, MB_C_LOST);
    }
}

int mb_loop_poll(mb_loop *l, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(l->ep, evs, 256, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        mb_client *c = evs[i].data.ptr;
        int rc = MOSQ_ERR_SUCCESS;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            rc = mosquitto_loop_read(c->mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(c->mosq) >= 0 &&
            ((evs[i].events & EPOLLOUT) || mosquitto_want_write(c->mosq)))
            rc = mosquitto_loop_write(c->mosq, 1);
        handle_rc(c, rc);
        sync_fd(c);
    }
    uint64_t now = mb_now_ns();
    if (now - l->last_misc_ns > 2000000000u) {
        l->last_misc_ns = now;
        for (mb_client *c = l->clients; c; c = c->next) {
            if (mosquitto_socket(c->mosq) >= 0) {
                mosquitto_loop_misc(c->mosq);
                sync_fd(c);
            }
        }
    }
    return n;
}

int mb_client_publish(mb_client *c, const char *topic, int len, const void *payload, int qos)
{
    int rc = mosquitto_publish(c->mosq, NULL, topic, len, payload, qos, false);
    if (rc) {
        c->loop->st.publish_errors++;
        return rc;
    }
    sync_fd(c);
    return rc;
}

mb_client_state mb_client_get_state(const mb_client *c)
{
    return c->state;
}
void *mb_client_ud(const mb_client *c)
{
    return c->ud;
}
const char *mb_client_id(const mb_client *c)
{
    return c->id;
}
uint64_t mb_client_started_ns(const mb_client *c)
{
    return c->started_ns;
}
uint64_t mb_client_connack_ns(const mb_client *c)
{
    return c->connack_ns;
}
int mb_client_connack_rc(const mb_client *c)
{
    return c->connack_rc;
}

void mb_loop_get_stats(const mb_loop *l, mb_loop_stats *out)
{
    *out = l->st;
}
