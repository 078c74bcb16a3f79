/* hub.c - the running daemon: starts the REST server, the broker link and the method table, and
 * keeps the table of device connections from the plugin's events (docs/INTERNALS.md).
 */
#include "hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_internal.h"
#include "query.h"

#define BODY_CAP                                                                                             \
    (1024 * 1024) /* MOCK: the hub's own cap is not documented; twins max ~41 KB, methods 128 KB */

static size_t hash_id(const char *s)
{
    size_t h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h % MH_CONN_BUCKETS;
}

/* Requires conn_lock. create: add an entry when missing. */
static mh_conn *conn_find(mh_hub *hub, const char *id, int create)
{
    mh_conn **pp = &hub->conns[hash_id(id)];
    for (mh_conn *c = *pp; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    if (!create)
        return NULL;
    mh_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    snprintf(c->id, sizeof c->id, "%s", id);
    c->next = *pp;
    *pp = c;
    return c;
}

static void conn_forget(mh_hub *hub, const char *id)
{
    mh_conn **pp = &hub->conns[hash_id(id)];
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            mh_conn *c = *pp;
            if (c->connected)
                hub->connected_count--;
            *pp = c->next;
            free(c);
            return;
        }
    }
}

unsigned mh_hub_device_subs(mh_hub *hub, const char *device_id)
{
    pthread_mutex_lock(&hub->conn_lock);
    mh_conn *c = conn_find(hub, device_id, 0);
    unsigned subs = (c && c->connected) ? c->subs : 0;
    pthread_mutex_unlock(&hub->conn_lock);
    return subs;
}

size_t mh_hub_connected_count(mh_hub *hub)
{
    pthread_mutex_lock(&hub->conn_lock);
    size_t n = hub->connected_count;
    pthread_mutex_unlock(&hub->conn_lock);
    return n;
}

void mh_hub_touch(mh_hub *hub, const char *device_id)
{
    long long now = (long long)time(NULL);
    pthread_mutex_lock(&hub->conn_lock);
    mh_conn *c = conn_find(hub, device_id, 0);
    int write = c == NULL || c->touched != now;
    if (c != NULL)
        c->touched = now;
    pthread_mutex_unlock(&hub->conn_lock);
    /* AZURE: lastActivityTime is documented to lag; one write a second per device keeps the
     * store off the hot path of busy devices. */
    if (write && mh_store_device_touch(hub->store, device_id) != MH_OK)
        fprintf(stderr, "mockhub: could not record activity of %s\n", device_id);
}

mh_err mh_hub_to_device(mh_hub *hub, const char *device_id, const char *topic, const void *payload,
                        size_t len, int qos)
{
    char *full = NULL;
    if (asprintf(&full, "$mockhub/to/%s/%s", device_id, topic) < 0)
        return MH_ERR_NOMEM;
    mh_err err = mh_link_publish(hub->link, full, payload, len, qos);
    free(full);
    return err;
}

void mh_hub_kick(mh_hub *hub, const char *device_id, int forget)
{
    char *topic = NULL;
    if (asprintf(&topic, "$mockhub/kick/%s", device_id) >= 0) {
        if (mh_link_publish(hub->link, topic, "", 0, 1) != MH_OK)
            fprintf(stderr, "mockhub: could not ask the broker to drop %s\n", device_id);
        free(topic);
    }
    if (forget) {
        pthread_mutex_lock(&hub->conn_lock);
        conn_forget(hub, device_id);
        pthread_mutex_unlock(&hub->conn_lock);
    }
}

static mh_err send_method(void *ctx, const char *device_id, const char *topic, const char *payload,
                          size_t len)
{
    /* AZURE: method requests go to devices at QoS 0. */
    return mh_hub_to_device(ctx, device_id, topic, payload, len, 0);
}

/* $mockhub/ev/{kind}/{id} with a small JSON payload from the plugin. */
static void on_event(mh_hub *hub, const char *rest, const void *payload, size_t len)
{
    if (strcmp(rest, "ready") == 0) {
        hub->plugin_ready = 1;
        return;
    }
    const char *slash = strchr(rest, '/');
    if (slash == NULL || slash[1] == '\0')
        return;
    size_t kind_len = (size_t)(slash - rest);
    const char *id = slash + 1;
    cJSON *ev = cJSON_ParseWithLength(payload, len);
    const cJSON *jgen = cJSON_GetObjectItemCaseSensitive(ev, "gen");
    uint64_t gen = cJSON_IsNumber(jgen) ? (uint64_t)jgen->valuedouble : 0;
    const cJSON *jfilter = cJSON_GetObjectItemCaseSensitive(ev, "filter");
    const char *filter = cJSON_IsString(jfilter) ? jfilter->valuestring : "";
    unsigned bit = strcmp(filter, "$iothub/methods/POST/#") == 0                    ? MH_SUB_METHODS
                   : strcmp(filter, "$iothub/twin/PATCH/properties/desired/#") == 0 ? MH_SUB_DESIRED
                                                                                    : 0;
    int now_online = 0, store_state = -1;
    long persist = -1; /* session subscriptions to record, or -1 */
    int is_connected = kind_len == 9 && strncmp(rest, "connected", 9) == 0;
    unsigned stored = 0;

    /* A session the broker restored from its persistence (after a hub restart) has subscriptions
     * this daemon never saw: they were recorded in the store (only this thread writes them). */
    if (is_connected) {
        pthread_mutex_lock(&hub->conn_lock);
        mh_conn *c = conn_find(hub, id, 0);
        int loaded = c && c->session_loaded;
        pthread_mutex_unlock(&hub->conn_lock);
        if (!loaded && mh_store_session_subs_get(hub->store, id, &stored) != MH_OK)
            fprintf(stderr, "mockhub: could not read the session of %s\n", id);
    }

    pthread_mutex_lock(&hub->conn_lock);
    if (is_connected) {
        mh_conn *c = conn_find(hub, id, 1);
        if (c) {
            int clean = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ev, "clean"));
            if (!c->session_loaded) {
                c->session_loaded = 1;
                c->subs = stored;
            }
            if (!c->connected)
                hub->connected_count++;
            c->connected = 1;
            c->gen = gen;
            c->clean = clean;
            /* A clean session starts with no subscriptions; a resumed one keeps them (the broker
             * does not re-check its ACL, so no subscribed events come). */
            if (clean && c->subs != 0) {
                c->subs = 0;
                persist = 0;
            }
            now_online = (c->subs & MH_SUB_METHODS) != 0;
            store_state = 1;
        }
    } else if (kind_len == 12 && strncmp(rest, "disconnected", 12) == 0) {
        mh_conn *c = conn_find(hub, id, 0);
        if (c && c->connected && c->gen == gen) { /* an older connection's late goodbye is ignored */
            c->connected = 0;
            hub->connected_count--;
            store_state = 0;
        }
    } else if (kind_len == 10 && strncmp(rest, "subscribed", 10) == 0) {
        mh_conn *c = conn_find(hub, id, 0);
        if (c && c->gen == gen && bit && !(c->subs & bit)) {
            now_online = bit == MH_SUB_METHODS && c->connected;
            c->subs |= bit;
            if (!c->clean)
                persist = c->subs;
        }
    } else if (kind_len == 12 && strncmp(rest, "unsubscribed", 12) == 0) {
        mh_conn *c = conn_find(hub, id, 0);
        if (c && c->gen == gen && (c->subs & bit)) {
            c->subs &= ~bit;
            if (!c->clean)
                persist = c->subs;
        }
    }
    pthread_mutex_unlock(&hub->conn_lock);
    cJSON_Delete(ev);

    if (store_state >= 0 && mh_store_set_connected(hub->store, id, store_state) != MH_OK)
        fprintf(stderr, "mockhub: could not record connection state of %s\n", id);
    if (persist >= 0 && mh_store_session_subs_set(hub->store, id, (unsigned)persist) != MH_OK)
        fprintf(stderr, "mockhub: could not record the subscriptions of %s\n", id);
    if (now_online)
        mh_methods_device_online(hub->methods, id);
}

static void on_link_message(void *ctx, const char *topic, const void *payload, size_t len)
{
    mh_hub *hub = ctx;
    static const char from[] = "$mockhub/from/", ev[] = "$mockhub/ev/";
    if (strncmp(topic, from, sizeof from - 1) == 0) {
        const char *id = topic + sizeof from - 1;
        const char *slash = strchr(id, '/');
        if (slash == NULL || slash == id || (size_t)(slash - id) > 128)
            return;
        char device_id[129];
        memcpy(device_id, id, (size_t)(slash - id));
        device_id[slash - id] = '\0';
        mh_devproto_handle(hub, device_id, slash + 1, payload, len);
    } else if (strncmp(topic, ev, sizeof ev - 1) == 0) {
        on_event(hub, topic + sizeof ev - 1, payload, len);
    }
}

static void on_link_state(void *ctx, int up)
{
    mh_hub *hub = ctx;
    hub->link_up = up;
    if (!up)
        hub->plugin_ready = 0;
}

int mh_hub_ready(const mh_hub *hub)
{
    return hub != NULL && hub->http != NULL && hub->link_up && hub->plugin_ready;
}

mh_err mh_hub_start(const mh_config *cfg, mh_store *store, const char *broker_socket, const char *hub_secret,
                    int broker_ws_port, mh_hub **out_hub, mh_status *st)
{
    mh_err err = MH_OK;
    mh_hub *hub = calloc(1, sizeof *hub);
    if (hub == NULL)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    hub->cfg = *cfg;
    hub->store = store;
    pthread_mutex_init(&hub->conn_lock, NULL);
    hub->auth_cache = mh_svcauth_cache_new(); /* NULL only means uncached checks */
    err = mh_query_prepare_schema(store);
    if (err != MH_OK) {
        mh_fail(st, err, "cannot prepare the query indexes");
        goto fail;
    }
    err = mh_methods_new(send_method, hub, &hub->methods);
    if (err != MH_OK) {
        mh_fail(st, err, "cannot start the direct-method timer");
        goto fail;
    }
    err = mh_link_start(broker_socket, hub_secret, on_link_message, on_link_state, hub, &hub->link, st);
    if (err != MH_OK)
        goto fail;
    if (broker_ws_port > 0 &&
        (err = mh_wsproxy_new(broker_ws_port, broker_socket, hub_secret, &hub->wsproxy, st)) != MH_OK)
        goto fail;
    mh_http *http = NULL;
    err = mh_http_start(cfg->https_port, cfg->server_cert, cfg->server_key, BODY_CAP, mh_routes_handle, hub,
                        &http, st);
    if (err != MH_OK)
        goto fail;
    hub->http = http;           /* atomic: REST threads read it (mh_hub_ready) as soon as the server runs */
    if (hub->wsproxy != NULL) { /* MQTT over WebSockets shares the HTTPS port, as on the real hub */
        mh_http_upgrade_hook hook;
        mh_wsproxy_hook(hub->wsproxy, &hook);
        mh_http_set_upgrade(hub->http, &hook);
    }
    *out_hub = hub;
    return MH_OK;
fail:
    mh_hub_stop(hub);
    return err;
}

void mh_hub_stop(mh_hub *hub)
{
    if (hub == NULL)
        return;
    /* Answer the calls in flight first: libmicrohttpd cannot stop with suspended connections. The
     * table itself lives on until the REST server and the link (which still call into it) are gone. */
    mh_methods_shutdown(hub->methods);
    /* Likewise upgraded (WebSocket) connections must be closed before libmicrohttpd stops. */
    mh_wsproxy_shutdown(hub->wsproxy);
    mh_http_stop(hub->http);
    mh_wsproxy_free(hub->wsproxy);
    mh_link_stop(hub->link);
    mh_methods_free(hub->methods);
    for (size_t i = 0; i < MH_CONN_BUCKETS; i++) {
        for (mh_conn *c = hub->conns[i], *nx; c; c = nx) {
            nx = c->next;
            free(c);
        }
    }
    pthread_mutex_destroy(&hub->conn_lock);
    mh_svcauth_cache_free(hub->auth_cache);
    free(hub);
}
