/* hub.c - the running daemon: starts the REST server, the broker link and the method table, and
 * keeps the table of device connections from the plugin's events (docs/INTERNALS.md).
 */
#include "hub.h"

#include <inttypes.h>
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

/* Waits until the plugin has answered a sync sent now: every event it emitted before has then been
 * handled by the link thread. 0 when the link is down or the plugin did not answer in time. */
static int sync_with_plugin(mh_hub *hub, int timeout_ms)
{
    if (!hub->link_up)
        return 0;
    pthread_mutex_lock(&hub->sync_lock);
    uint64_t token = ++hub->sync_sent;
    pthread_mutex_unlock(&hub->sync_lock);
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRIu64, token);
    if (mh_link_publish(hub->link, "$mockhub/sync", text, (size_t)n, 0) != MH_OK)
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

void mh_hub_invoke_method(mh_hub *hub, const char *device_id, const char *method_name, const char *payload,
                          size_t payload_len, int response_timeout_s, int connect_timeout_s,
                          mh_method_done_fn done, void *done_ctx)
{
    /* A device connected right now exists (delete drops its entry); only others need the store. */
    if (takes_methods(hub, device_id)) {
        mh_methods_invoke(hub->methods, device_id, method_name, payload, payload_len, response_timeout_s,
                          connect_timeout_s, 1, done, done_ctx);
        return;
    }
    mh_device_auth dev;
    if (mh_store_device_auth(hub->store, device_id, &dev) != MH_OK) {
        done(done_ctx, MH_ERR_DEVICE_NOT_FOUND, 0, NULL, 0, device_id);
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
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRIu64, token);
    if (!hub->link_up || mh_link_publish(hub->link, "$mockhub/sync", text, (size_t)n, 0) != MH_OK)
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
    if (err == MH_OK)
        *out_twin = twin;
    return err;
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
    if (forget)
        mh_presence_forget(hub->presence, device_id);
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
    if (strcmp(rest, "synced") == 0) {
        cJSON *ev = cJSON_ParseWithLength(payload, len);
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(ev, "token");
        if (cJSON_IsNumber(jt) && jt->valuedouble >= 1)
            on_synced(hub, (uint64_t)jt->valuedouble);
        cJSON_Delete(ev);
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
    mh_presence_change ch = {-1, -1, 0};
    if (kind_len == 9 && strncmp(rest, "connected", 9) == 0) {
        /* Only this thread writes session subscriptions, so reading them here is consistent. */
        unsigned stored = 0;
        if (mh_presence_needs_session(hub->presence, id) &&
            mh_store_session_subs_get(hub->store, id, &stored) != MH_OK)
            fprintf(stderr, "mockhub: could not read the session of %s\n", id);
        int clean = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ev, "clean"));
        ch = mh_presence_connected(hub->presence, id, gen, clean, stored);
    } else if (kind_len == 12 && strncmp(rest, "disconnected", 12) == 0) {
        ch = mh_presence_disconnected(hub->presence, id, gen);
    } else if (kind_len == 10 && strncmp(rest, "subscribed", 10) == 0) {
        ch = mh_presence_subscribed(hub->presence, id, gen, bit);
    } else if (kind_len == 12 && strncmp(rest, "unsubscribed", 12) == 0) {
        ch = mh_presence_unsubscribed(hub->presence, id, gen, bit);
    }
    cJSON_Delete(ev);

    if (ch.state >= 0 && mh_store_set_connected(hub->store, id, ch.state) != MH_OK)
        fprintf(stderr, "mockhub: could not record connection state of %s\n", id);
    if (ch.persist >= 0 && mh_store_session_subs_set(hub->store, id, (unsigned)ch.persist) != MH_OK)
        fprintf(stderr, "mockhub: could not record the subscriptions of %s\n", id);
    if (ch.methods_online)
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
    pthread_mutex_init(&hub->sync_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hub->sync_cond, &ca);
    pthread_condattr_destroy(&ca);
    for (size_t i = 0; i < MH_PUSH_STRIPES; i++)
        pthread_mutex_init(&hub->push_locks[i], NULL);
    hub->presence = mh_presence_new();
    if (hub->presence == NULL) {
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto fail;
    }
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
    mh_presence_free(hub->presence);
    for (size_t i = 0; i < MH_PUSH_STRIPES; i++)
        pthread_mutex_destroy(&hub->push_locks[i]);
    pthread_cond_destroy(&hub->sync_cond);
    pthread_mutex_destroy(&hub->sync_lock);
    mh_svcauth_cache_free(hub->auth_cache);
    free(hub);
}
