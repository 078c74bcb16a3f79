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

size_t mh_hub_connected_count(mh_hub *hub)
{
    return mh_presence_connected_count(hub->presence);
}

void mh_hub_touch(mh_hub *hub, const char *device_id)
{
    /* AZURE: lastActivityTime is documented to lag; one write a second per device keeps the
     * store off the hot path of busy devices. */
    if (mh_presence_touch(hub->presence, device_id, (long long)time(NULL)) &&
        mh_store_device_touch(hub->store, device_id) != MH_OK)
        fprintf(stderr, "mockhub: could not record activity of %s\n", device_id);
}

/* ---- the barrier with the plugin ---- */

static mh_err send_sync(mh_hub *hub, uint64_t token);

/* Waits until the plugin has answered a sync sent now: every event it emitted before has then been
 * handled by the link thread. 0 when the link is down or the plugin did not answer in time. */
static int sync_with_plugin(mh_hub *hub, int timeout_ms)
{
    if (!hub->link_up)
        return 0;
    pthread_mutex_lock(&hub->sync_lock);
    uint64_t token = ++hub->sync_sent;
    pthread_mutex_unlock(&hub->sync_lock);
    if (send_sync(hub, token) != MH_OK)
        return 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&hub->sync_lock);
    while (hub->sync_done < token && rc == 0)
        rc = pthread_cond_timedwait(&hub->sync_cond, &hub->sync_lock, &until);
    int done = hub->sync_done >= token;
    pthread_mutex_unlock(&hub->sync_lock);
    return done;
}

static int takes_methods(void *ctx, const char *device_id);

static void on_synced(mh_hub *hub, uint64_t token)
{
    pthread_mutex_lock(&hub->sync_lock);
    int fresh = token > hub->sync_done && token <= hub->sync_sent;
    if (fresh) {
        hub->sync_done = token;
        pthread_cond_broadcast(&hub->sync_cond);
    }
    pthread_mutex_unlock(&hub->sync_lock);
    if (fresh)
        mh_methods_probed(hub->methods, token, takes_methods, hub);
}

int mh_hub_device_subscribed(mh_hub *hub, const char *device_id, unsigned bit)
{
    if (mh_presence_subs(hub->presence, device_id) & bit)
        return 1;
    /* The device may hold its SUBACK while the plugin's event is still on its way to us. */
    if (!sync_with_plugin(hub, 1000))
        return 0;
    return (mh_presence_subs(hub->presence, device_id) & bit) != 0;
}

/* ---- the core's operations ---- */

static int takes_methods(void *ctx, const char *device_id)
{
    mh_hub *hub = ctx;
    return (mh_presence_subs(hub->presence, device_id) & MH_SUB_METHODS) != 0;
}

/* MOCK: a call's end, logged for the dashboard, then passed on. */
typedef struct logged_call {
    mh_hub *hub;
    mh_method_done_fn done;
    void *done_ctx;
    char device[MH_IDENTITY_MAX + 1];
    char method[130];
} logged_call;

static void logged_done(void *ctx, mh_err err, int status, const char *payload, size_t len, const char *text)
{
    logged_call *lc = ctx;
    char detail[MH_ACTIVITY_DETAIL + 1];
    if (err == MH_OK)
        snprintf(detail, sizeof detail, "{\"method\":\"%s\",\"status\":%d,\"payload\":%.*s}", lc->method,
                 status, len > 0 && len < 400 ? (int)len : 4, len > 0 && len < 400 ? payload : "null");
    else
        snprintf(detail, sizeof detail, "{\"method\":\"%s\",\"error\":\"%s\"}", lc->method,
                 mh_err_lookup(err)->name);
    mh_activity_add(lc->hub->activity, "method", lc->device, detail, strlen(detail));
    lc->done(lc->done_ctx, err, status, payload, len, text);
    free(lc);
}

void mh_hub_invoke_method(mh_hub *hub, const char *device_id, const char *method_name, const char *payload,
                          size_t payload_len, int response_timeout_s, int connect_timeout_s,
                          mh_method_done_fn done, void *done_ctx)
{
    logged_call *lc = hub->activity ? calloc(1, sizeof *lc) : NULL;
    if (lc != NULL) { /* method names are checked ASCII without quotes or backslashes */
        lc->hub = hub;
        lc->done = done;
        lc->done_ctx = done_ctx;
        snprintf(lc->device, sizeof lc->device, "%s", device_id);
        snprintf(lc->method, sizeof lc->method, "%s", method_name);
        done = logged_done;
        done_ctx = lc;
    }
    /* A device connected right now exists (delete drops its entry); only others need the store. */
    if (takes_methods(hub, device_id)) {
        mh_methods_invoke(hub->methods, device_id, method_name, payload, payload_len, response_timeout_s,
                          connect_timeout_s, 1, done, done_ctx);
        return;
    }
    mh_device_auth dev;
    if (mh_store_device_auth(hub->store, device_id, &dev) != MH_OK) {
        /* a module of an existing device: ModuleNotFound */
        char device[MH_ID_MAX + 1];
        int module_missing = mh_identity_module(device_id) &&
                             mh_identity_device(device_id, device, sizeof device) &&
                             mh_store_device_auth(hub->store, device, &dev) == MH_OK;
        done(done_ctx, module_missing ? MH_ERR_MODULE_NOT_FOUND : MH_ERR_DEVICE_NOT_FOUND, 0, NULL, 0,
             device_id);
        return;
    }
    /* The device may hold its SUBACK while the plugin's subscribe event is still on its way: the
     * call waits (holding no thread) for the plugin's answer to a sync sent after it, by which time
     * every earlier event has been read; mh_methods_probed then decides. */
    pthread_mutex_lock(&hub->sync_lock);
    uint64_t token = ++hub->sync_sent;
    pthread_mutex_unlock(&hub->sync_lock);
    mh_methods_invoke_probe(hub->methods, device_id, method_name, payload, payload_len, response_timeout_s,
                            connect_timeout_s, token, done, done_ctx);
    if (!hub->link_up || send_sync(hub, token) != MH_OK)
        mh_methods_probed(hub->methods, token, takes_methods, hub); /* decide on what we know */
}

static size_t stripe(const char *id)
{
    size_t h = 5381;
    while (*id)
        h = h * 33 + (unsigned char)*id++;
    return h % MH_PUSH_STRIPES;
}

mh_err mh_hub_twin_write(mh_hub *hub, const char *device_id, const cJSON *body, const char *if_match,
                         int replace, cJSON **out_twin, mh_status *st)
{
    cJSON *twin = NULL, *push = NULL;
    long version = 0;
    /* Update and push under the device's lock: two threads writing the same twin must push in
     * $version order, or the device (which merges patches as they come) ends with the older value. */
    pthread_mutex_t *lock = &hub->push_locks[stripe(device_id)];
    pthread_mutex_lock(lock);
    mh_err err =
        mh_store_twin_update(hub->store, device_id, body, if_match, replace, &twin, &push, &version, st);
    /* AZURE: desired changes reach a connected, subscribed device at once; they are not queued. */
    if (err == MH_OK && push != NULL && mh_hub_device_subscribed(hub, device_id, MH_SUB_DESIRED)) {
        char *text = cJSON_PrintUnformatted(push);
        char topic[96];
        snprintf(topic, sizeof topic, "$iothub/twin/PATCH/properties/desired/?$version=%ld", version);
        if (text == NULL || mh_hub_to_device(hub, device_id, topic, text, strlen(text), 0) != MH_OK)
            fprintf(stderr, "mockhub: could not push desired properties to %s\n", device_id);
        free(text);
    }
    pthread_mutex_unlock(lock);
    cJSON_Delete(push);
    if (err == MH_OK && hub->activity != NULL) {
        char *text = cJSON_PrintUnformatted(body);
        mh_activity_add(hub->activity, replace ? "twin.replace" : "twin.update", device_id, text,
                        text ? strlen(text) : 0);
        free(text);
    }
    if (err == MH_OK)
        *out_twin = twin;
    return err;
}

/* Publishes a bus message to the plugin (the one place the daemon writes $mockhub/... topics). */
static mh_err bus_send(mh_hub *hub, const mh_bus_msg *msg, int qos)
{
    char *topic = NULL, *payload = NULL;
    size_t len = 0;
    mh_err err = mh_bus_encode(msg, &topic, &payload, &len);
    if (err == MH_OK)
        err = mh_link_publish(hub->link, topic, payload ? payload : msg->payload, len, qos);
    free(topic);
    free(payload);
    return err;
}

static mh_err bus_send_id(mh_hub *hub, mh_bus_kind kind, const char *device_id, const char *topic,
                          const void *payload, size_t len, int qos)
{
    mh_bus_msg msg = {.kind = kind, .topic = topic, .payload = payload, .len = len};
    if (strlen(device_id) >= sizeof msg.id)
        return MH_ERR_ARGUMENT_INVALID;
    strcpy(msg.id, device_id);
    return bus_send(hub, &msg, qos);
}

mh_err mh_hub_to_device(mh_hub *hub, const char *device_id, const char *topic, const void *payload,
                        size_t len, int qos)
{
    return bus_send_id(hub, MH_BUS_TO, device_id, topic, payload, len, qos);
}

void mh_hub_kick(mh_hub *hub, const char *device_id, int forget)
{
    if (bus_send_id(hub, MH_BUS_KICK, device_id, NULL, NULL, 0, 1) != MH_OK)
        fprintf(stderr, "mockhub: could not ask the broker to drop %s\n", device_id);
    if (forget)
        mh_presence_forget(hub->presence, device_id);
}

mh_err mh_hub_refuse_connects(mh_hub *hub, const char *device_id, unsigned long long count)
{
    mh_bus_msg msg = {.kind = MH_BUS_REFUSE, .count = count};
    if (strlen(device_id) >= sizeof msg.id)
        return MH_ERR_ARGUMENT_INVALID;
    strcpy(msg.id, device_id);
    return bus_send(hub, &msg, 1);
}

mh_err mh_hub_set_seed(mh_hub *hub, const cJSON *seed)
{
    return mh_testctl_set_seed(hub->testctl, seed);
}

/* The websocket relay's waker: any message on the link ends the broker's sleep (wsproxy.c). */
static void wake_broker(void *ctx)
{
    mh_hub *hub = ctx;
    mh_bus_msg msg = {.kind = MH_BUS_WAKE};
    if (hub->link_up)
        (void)bus_send(hub, &msg, 0);
}

static mh_err send_sync(mh_hub *hub, uint64_t token)
{
    mh_bus_msg msg = {.kind = MH_BUS_SYNC, .token = token};
    return bus_send(hub, &msg, 0);
}

static mh_err send_method(void *ctx, const char *device_id, const char *topic, const char *payload,
                          size_t len)
{
    /* AZURE: method requests go to devices at QoS 0. */
    return mh_hub_to_device(ctx, device_id, topic, payload, len, 0);
}

/* ---- the plugin's messages (core/bus.c decodes them; one handler per kind) ---- */

static void ev_from(void *ctx, const mh_bus_msg *msg)
{
    mh_devproto_handle(ctx, msg->id, msg->topic, msg->payload, msg->len);
}

static void ev_ready(void *ctx, const mh_bus_msg *msg)
{
    (void)msg;
    mh_hub *hub = ctx;
    hub->plugin_ready = 1;
}

static void ev_synced(void *ctx, const mh_bus_msg *msg)
{
    on_synced(ctx, msg->token);
}

/* What presence says the caller must record, recorded; calls waiting for the device sent. */
static void apply(mh_hub *hub, const char *id, mh_presence_change ch)
{
    if (ch.state >= 0 && mh_store_set_connected(hub->store, id, ch.state) != MH_OK)
        fprintf(stderr, "mockhub: could not record connection state of %s\n", id);
    if (ch.state >= 0)
        mh_activity_add(hub->activity, ch.state ? "connected" : "disconnected", id, NULL, 0);
    if (ch.persist >= 0 && mh_store_session_subs_set(hub->store, id, (unsigned)ch.persist) != MH_OK)
        fprintf(stderr, "mockhub: could not record the subscriptions of %s\n", id);
    if (ch.methods_online)
        mh_methods_device_online(hub->methods, id);
    if (ch.state == 0) /* calls it was answering will never get their response */
        (void)mh_methods_device_gone(hub->methods, id);
}

static void ev_connected(void *ctx, const mh_bus_msg *msg)
{
    mh_hub *hub = ctx;
    /* Only this thread writes session subscriptions, so reading them here is consistent. */
    unsigned stored = 0;
    if (mh_presence_needs_session(hub->presence, msg->id) &&
        mh_store_session_subs_get(hub->store, msg->id, &stored) != MH_OK)
        fprintf(stderr, "mockhub: could not read the session of %s\n", msg->id);
    apply(hub, msg->id, mh_presence_connected(hub->presence, msg->id, msg->gen, msg->clean, stored));
    if (mh_presence_subs(hub->presence, msg->id) & MH_SUB_C2D) /* a kept session: its queue */
        mh_hub_c2d_deliver_later(hub, msg->id);
}

static void ev_disconnected(void *ctx, const mh_bus_msg *msg)
{
    mh_hub *hub = ctx;
    apply(hub, msg->id, mh_presence_disconnected(hub->presence, msg->id, msg->gen));
}

static void ev_subscribed(void *ctx, const mh_bus_msg *msg)
{
    mh_hub *hub = ctx;
    apply(hub, msg->id, mh_presence_subscribed(hub->presence, msg->id, msg->gen, msg->sub));
    if (msg->sub & MH_SUB_C2D)
        mh_hub_c2d_deliver_later(hub, msg->id);
}

static void ev_unsubscribed(void *ctx, const mh_bus_msg *msg)
{
    mh_hub *hub = ctx;
    apply(hub, msg->id, mh_presence_unsubscribed(hub->presence, msg->id, msg->gen, msg->sub));
}

/* The plugin dropped a delivery: the device had unsubscribed its filter, or (C2D) was not
 * connected (plugin/bridge.c hub_to). A method call sent on it must not wait for its response
 * timeout; a C2D message stays queued; a desired push needs nothing (the device reads the twin when
 * it subscribes again, as on the real hub). */
static void ev_undelivered(void *ctx, const mh_bus_msg *msg)
{
    mh_hub *hub = ctx;
    if (mh_bus_delivery_bit(msg->id, msg->topic) == MH_BUS_SUB_C2D)
        mh_hub_c2d_answered(hub, msg->id, msg->topic, 0);
    else
        (void)mh_methods_undelivered(hub->methods, msg->id, msg->topic);
}

/* The plugin gave a C2D message to the device's connection: it is complete. */
static void ev_delivered(void *ctx, const mh_bus_msg *msg)
{
    mh_hub_c2d_answered(ctx, msg->id, msg->topic, 1);
}

static const mh_bus_handler from_plugin[MH_BUS_KIND_COUNT] = {
    [MH_BUS_FROM] = ev_from,
    [MH_BUS_EV_CONNECTED] = ev_connected,
    [MH_BUS_EV_DISCONNECTED] = ev_disconnected,
    [MH_BUS_EV_SUBSCRIBED] = ev_subscribed,
    [MH_BUS_EV_UNSUBSCRIBED] = ev_unsubscribed,
    [MH_BUS_EV_READY] = ev_ready,
    [MH_BUS_EV_SYNCED] = ev_synced,
    [MH_BUS_EV_UNDELIVERED] = ev_undelivered,
    [MH_BUS_EV_DELIVERED] = ev_delivered,
};

static void on_link_message(void *ctx, const char *topic, const void *payload, size_t len)
{
    if (!mh_bus_dispatch(topic, payload, len, from_plugin, ctx))
        fprintf(stderr, "mockhub: dropped a malformed message from the plugin on %.200s\n", topic);
}

/* The link is lost when the broker dies (the launcher restarts it) and on shutdown: every device
 * connection went with it, or at least every event about it. Presence starts over (the plugin
 * re-announces what is live after the reconnect, ev/ready), the store says Disconnected, calls sent
 * to devices end at once and calls probing the plugin are decided on what is known now. */
static void on_link_lost(mh_hub *hub)
{
    size_t was = mh_presence_reset(hub->presence);
    if (mh_store_reset_connections(hub->store) != MH_OK)
        fprintf(stderr, "mockhub: could not record the devices as disconnected\n");
    size_t failed = mh_methods_device_gone(hub->methods, NULL);
    mh_hub_c2d_handed_reset(hub);
    pthread_mutex_lock(&hub->sync_lock);
    uint64_t token = hub->sync_sent;
    pthread_mutex_unlock(&hub->sync_lock);
    mh_methods_probed(hub->methods, token, takes_methods, hub);
    if (was > 0 || failed > 0)
        fprintf(stderr,
                "mockhub: broker link lost: %zu device(s) now disconnected, %zu method call(s) failed\n", was,
                failed);
}

static void on_link_state(void *ctx, int up)
{
    mh_hub *hub = ctx;
    int was_up = atomic_exchange(&hub->link_up, up);
    if (!up) {
        hub->plugin_ready = 0;
        if (was_up)
            on_link_lost(hub);
    }
}

void mh_hub_note_broker(mh_hub *hub, unsigned restarts, long backoff_ms, const char *last_exit)
{
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->broker_lock);
    hub->broker_restarts = restarts;
    hub->broker_backoff_ms = backoff_ms;
    snprintf(hub->broker_last_exit, sizeof hub->broker_last_exit, "%s", last_exit ? last_exit : "");
    pthread_mutex_unlock(&hub->broker_lock);
}

void mh_hub_broker_info(mh_hub *hub, unsigned *out_restarts, long *out_backoff_ms, char *last_exit,
                        size_t last_exit_size)
{
    pthread_mutex_lock(&hub->broker_lock);
    *out_restarts = hub->broker_restarts;
    *out_backoff_ms = hub->broker_backoff_ms;
    snprintf(last_exit, last_exit_size, "%s", hub->broker_last_exit);
    pthread_mutex_unlock(&hub->broker_lock);
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
    pthread_mutex_init(&hub->sync_lock, NULL);
    pthread_mutex_init(&hub->broker_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hub->sync_cond, &ca);
    pthread_condattr_destroy(&ca);
    for (size_t i = 0; i < MH_PUSH_STRIPES; i++)
        pthread_mutex_init(&hub->push_locks[i], NULL);
    pthread_mutex_init(&hub->c2d_later_lock, NULL);
    pthread_mutex_init(&hub->c2d_handed_lock, NULL);
    pthread_mutex_init(&hub->fb_lock, NULL);
    hub->presence = mh_presence_new();
    if (hub->presence == NULL ||
        mh_htab_new(MH_C2D_HANDED_DEVICES_MAX, NULL, NULL, &hub->c2d_handed) != MH_OK) {
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    hub->auth_cache = mh_svcauth_cache_new(); /* NULL only means uncached checks */
    err = mh_query_prepare_schema(store);
    if (err != MH_OK) {
        mh_fail(st, err, "cannot prepare the query indexes");
        goto fail;
    }
    mh_tier tier;
    err = mh_tier_parse(getenv("MOCKHUB_TIER"), &tier, st);
    if (err != MH_OK)
        goto fail;
    if (mh_activity_new(&hub->activity) != MH_OK) {
        err = mh_fail(st, MH_ERR_INTERNAL, "cannot start the activity log");
        goto fail;
    }
    err = mh_testctl_new(hub, &tier, &hub->testctl, st);
    if (err != MH_OK)
        goto fail;
    if (tier.units > 0)
        fprintf(stderr, "mockhub: quota mode: tier %s with %d unit(s) (MOCKHUB_TIER)\n", tier.name,
                tier.units);
    err = mh_methods_new(send_method, hub, &hub->methods);
    if (err != MH_OK) {
        mh_fail(st, err, "cannot start the direct-method timer");
        goto fail;
    }
    err = mh_link_start(broker_socket, hub_secret, on_link_message, on_link_state, hub, &hub->link, st);
    if (err != MH_OK)
        goto fail;
    if (broker_ws_port > 0 &&
        (err = mh_wsproxy_new(broker_ws_port, wake_broker, hub, &hub->wsproxy, st)) != MH_OK)
        goto fail;
    mh_http *http = NULL;
    err = mh_http_start(cfg->https_port, cfg->server_cert, cfg->server_key, BODY_CAP,
                        (unsigned)cfg->http_idle_timeout_s, mh_routes_handle, hub, &http, st);
    if (err != MH_OK)
        goto fail;
    mh_amqp *amqp = NULL;
    if (cfg->amqp_port > 0 && (err = mh_amqp_start(hub, &amqp, st)) != MH_OK)
        goto fail;
    hub->amqp = amqp;
    hub->http = http;           /* atomic: REST threads read it (mh_hub_ready) as soon as the server runs */
    if (hub->wsproxy != NULL) { /* MQTT over WebSockets shares the HTTPS port, as on the real hub */
        mh_http_upgrade_hook hook;
        mh_wsproxy_set_amqp(hub->wsproxy, hub->amqp); /* AMQPWSB10 on the same path */
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
    mh_testctl_shutdown(hub->testctl); /* its held long-polls and delayed requests too */
    mh_activity_shutdown(hub->activity);
    /* Likewise upgraded (WebSocket) connections must be closed before libmicrohttpd stops. */
    mh_wsproxy_shutdown(hub->wsproxy);
    mh_amqp_stop(hub->amqp);
    hub->amqp = NULL;
    mh_http_stop(hub->http);
    mh_wsproxy_free(hub->wsproxy);
    mh_link_stop(hub->link);
    mh_methods_free(hub->methods);
    mh_testctl_free(hub->testctl);
    mh_activity_free(hub->activity);
    mh_presence_free(hub->presence);
    for (size_t i = 0; i < MH_PUSH_STRIPES; i++)
        pthread_mutex_destroy(&hub->push_locks[i]);
    for (size_t i = 0; i < hub->c2d_later_n; i++)
        free(hub->c2d_later[i]);
    free(hub->c2d_later);
    pthread_mutex_destroy(&hub->c2d_later_lock);
    mh_hub_c2d_handed_reset(hub);
    mh_htab_free(hub->c2d_handed);
    pthread_mutex_destroy(&hub->c2d_handed_lock);
    pthread_mutex_destroy(&hub->fb_lock);
    cJSON_Delete(hub->fb_pending);
    pthread_cond_destroy(&hub->sync_cond);
    pthread_mutex_destroy(&hub->sync_lock);
    pthread_mutex_destroy(&hub->broker_lock);
    mh_svcauth_cache_free(hub->auth_cache);
    free(hub);
}
