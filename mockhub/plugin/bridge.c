/* bridge.c - the Mosquitto 2.0 plugin that makes the broker an IoT Hub front door: device CONNECT
 * checks (devauth.c), device isolation (topic.c), routing between devices and the daemon over the
 * internal $mockhub/... topics, and connection events. Thin glue: the contract is docs/INTERNALS.md
 * ("Broker <-> daemon"), the shape follows shared/reference/mosquitto-plugin-notes.md.
 * Single-threaded: every callback runs on the broker's main loop.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "conns.h"
#include "devauth.h"
#include "keys.h"
#include "topic.h"

#define HUB_USER "$mockhub"
#define P_TO "$mockhub/to/"
#define P_KICK "$mockhub/kick/"
#define T_RESYNC "$mockhub/resync"
#define EVENT_QOS 1

/* Mosquitto's internal CONNACK sender. Not plugin API: looked up at run time (Debian's broker
 * exports it), used only to answer CONNACK 3, which no BASIC_AUTH return code produces. */
typedef int (*send_connack_fn)(struct mosquitto *context, uint8_t ack, uint8_t reason_code,
                               const mosquitto_property *properties);

static struct {
    mosquitto_plugin_id_t *pid;
    char *db_path;
    char *hostname;
    char *hub_secret;
    mh_keys *keys;
    send_connack_fn send_connack;
    int kicking;       /* >0 while we kick: the broker re-checks subscription ACLs then */
    time_t last_sweep; /* last SAS expiry sweep (seconds) */
} g;

/* ---- helpers ---- */

static int is_hub(const struct mosquitto *client)
{
    const char *user = mosquitto_client_username(client);

    return user && strcmp(user, HUB_USER) == 0;
}

/* Appends s to a JSON string body (device ids and filters never hold '"' or '\\' in practice,
 * but the broker log and the daemon must never see broken JSON). */
static void json_str(char *out, size_t outsz, const char *s)
{
    size_t n = strlen(out);

    for (; *s && n + 7 < outsz; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20) {
            n += (size_t)snprintf(out + n, outsz - n, "\\u%04x", ch);
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n] = '\0';
}

static void emit(const char *kind, const char *id, const char *json)
{
    char topic[64 + MH_DEVAUTH_ID_MAX];

    snprintf(topic, sizeof topic, "$mockhub/ev/%s/%s", kind, id);
    if (mosquitto_broker_publish_copy(NULL, topic, (int)strlen(json), json, EVENT_QOS, false, NULL) !=
        MOSQ_ERR_SUCCESS)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: could not publish %s", topic);
}

static void emit_connected(const mh_conn *c)
{
    char body[96];

    snprintf(body, sizeof body, "{\"gen\":%llu,\"clean\":%s}", c->gen, c->clean ? "true" : "false");
    emit("connected", c->id, body);
}

static void emit_filter(const char *kind, const struct mosquitto *client, const char *id, const char *filter)
{
    const mh_conn *c = mh_conns_find(client);
    char body[1024];

    snprintf(body, sizeof body, "{\"gen\":%llu,\"filter\":\"", c ? c->gen : 0ull);
    json_str(body, sizeof body - 3, filter);
    strcat(body, "\"}");
    emit(kind, id, body);
}

static void kick(const char *id)
{
    g.kicking++;
    mosquitto_kick_client_by_clientid(id, false);
    g.kicking--;
}

/* mh_devauth_lookup_fn over the read-only key lookup, opened lazily if it was not there at start. */
static mh_err lookup_device(void *ctx, const char *id, mh_device_auth *out)
{
    (void)ctx;
    if (!g.keys && mh_keys_open(g.db_path, &g.keys) != MH_OK) {
        g.keys = NULL;
        return MH_ERR_UNAVAILABLE;
    }
    return mh_keys_device_auth(g.keys, id, out);
}

/* Refuses a CONNECT with "server unavailable": CONNACK 3 (MQTT 3.1/3.1.1) or 0x88 (MQTT 5). */
static int refuse_unavailable(struct mosquitto *client)
{
    if (!g.send_connack)
        /* MOCK: without the broker's CONNACK sender the closest answer is 5 (Not authorized). */
        return MOSQ_ERR_AUTH;
    g.send_connack(client, 0, mosquitto_client_protocol_version(client) == 5 ? 0x88 : 3, NULL);
    /* Any code but SUCCESS/AUTH/DEFER makes handle__connect close the connection without a CONNACK
     * of its own (src/handle_connect.c, v2.0.11), so the client sees exactly our CONNACK 3. */
    return MOSQ_ERR_UNKNOWN;
}

/* ---- callbacks ---- */

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    const char *id = mosquitto_client_id(ed->client);
    mh_devauth_result r;
    mh_conn *c;

    (void)event;
    (void)userdata;
    if (ed->username && strcmp(ed->username, HUB_USER) == 0) {
        if (mh_devauth_hub_ok(ed->password, g.hub_secret))
            return MOSQ_ERR_SUCCESS;
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: refused hub login from %s: wrong secret",
                             mosquitto_client_address(ed->client));
        return MOSQ_ERR_AUTH;
    }
    switch (mh_devauth_check(g.hostname, id, ed->username, ed->password, (long long)time(NULL), lookup_device,
                             NULL, &r)) {
    case MH_DEVAUTH_OK:
        break;
    case MH_DEVAUTH_DENIED:
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: CONNACK 5 for %s: %s",
                             mosquitto_client_address(ed->client), r.reason);
        return MOSQ_ERR_AUTH;
    case MH_DEVAUTH_DISABLED:
    case MH_DEVAUTH_ERROR:
    default:
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: CONNACK 3 for %s: %s",
                             mosquitto_client_address(ed->client), r.reason);
        return refuse_unavailable(ed->client);
    }
    c = mh_conns_add(ed->client, id, r.expiry, mosquitto_client_clean_session(ed->client));
    if (!c) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mockhub: connection table full, refusing %s", id);
        return refuse_unavailable(ed->client);
    }
    emit_connected(c);
    return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    const char *id;

    (void)event;
    (void)userdata;
    if (is_hub(ed->client))
        return MOSQ_ERR_SUCCESS;
    id = mosquitto_client_id(ed->client);
    if (!id)
        return MOSQ_ERR_ACL_DENIED;
    switch (ed->access) {
    case MOSQ_ACL_WRITE:
        if (mh_topic_device_may_publish(id, ed->topic))
            return MOSQ_ERR_SUCCESS;
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: denied PUBLISH from %s on %s", id, ed->topic);
        return MOSQ_ERR_ACL_DENIED;
    case MOSQ_ACL_SUBSCRIBE:
        if (!mh_topic_device_may_subscribe(id, ed->topic)) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: denied SUBSCRIBE from %s to %s", id, ed->topic);
            return MOSQ_ERR_ACL_DENIED;
        }
        if (!g.kicking)
            emit_filter("subscribed", ed->client, id, ed->topic);
        return MOSQ_ERR_SUCCESS;
    case MOSQ_ACL_UNSUBSCRIBE:
        if (!g.kicking && mh_topic_device_may_subscribe(id, ed->topic))
            emit_filter("unsubscribed", ed->client, id, ed->topic);
        return MOSQ_ERR_SUCCESS;
    case MOSQ_ACL_READ:
        /* Live deliveries to devices are targeted (mosquitto_broker_publish with a client id) and
         * skip this check. The broker runs it on a persistent session's queued messages when the
         * device reconnects (connect__on_authorised -> connection_check_acl, 2.0.11): denying all
         * READ would drop queued QoS 1 messages (verified), so the device's own inbound topics
         * pass. Nothing can broadcast on them: devices may not publish there (WRITE above) and
         * the hub's non-$mockhub publishes are dropped in hub_message. */
        return mh_topic_device_may_receive(id, ed->topic) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    default:
        return MOSQ_ERR_ACL_DENIED;
    }
}

static void on_resync_one(mh_conn *c, void *ctx)
{
    (void)ctx;
    emit_connected(c);
}

/* A publish from the daemon: $mockhub/to/{id}/{topic}, $mockhub/kick/{id}, $mockhub/resync. */
static int hub_message(struct mosquitto_evt_message *ed)
{
    char body[64];

    if (strncmp(ed->topic, P_TO, strlen(P_TO)) == 0) {
        const char *idp = ed->topic + strlen(P_TO);
        const char *slash = strchr(idp, '/');
        char id[MH_DEVAUTH_ID_MAX + 1];

        if (!slash || slash == idp || (size_t)(slash - idp) > MH_DEVAUTH_ID_MAX || !slash[1]) {
            mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: dropped malformed %s", ed->topic);
            return MOSQ_ERR_ACL_DENIED;
        }
        memcpy(id, idp, (size_t)(slash - idp));
        id[slash - idp] = '\0';
        if (mosquitto_broker_publish_copy(id, slash + 1, (int)ed->payloadlen, ed->payload, ed->qos, false,
                                          NULL) != MOSQ_ERR_SUCCESS)
            mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: could not deliver %s", ed->topic);
        return MOSQ_ERR_ACL_DENIED; /* the internal message itself goes nowhere */
    }
    if (strncmp(ed->topic, P_KICK, strlen(P_KICK)) == 0) {
        const char *id = ed->topic + strlen(P_KICK);

        /* only live connections: an offline persistent session has no socket to close */
        if (*id && mh_conns_newest(id)) {
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: dropping %s on request of the hub", id);
            kick(id);
        }
        return MOSQ_ERR_ACL_DENIED;
    }
    if (strcmp(ed->topic, T_RESYNC) == 0) {
        mh_conns_foreach(on_resync_one, NULL);
        snprintf(body, sizeof body, "{\"connections\":%zu}", mh_conns_count());
        if (mosquitto_broker_publish_copy(NULL, "$mockhub/ev/ready", (int)strlen(body), body, EVENT_QOS,
                                          false, NULL) != MOSQ_ERR_SUCCESS)
            mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: could not publish $mockhub/ev/ready");
        return MOSQ_ERR_ACL_DENIED;
    }
    if (strncmp(ed->topic, "$mockhub/", 9) == 0)
        return MOSQ_ERR_SUCCESS; /* other internal topics route normally */
    /* A plain $iothub/... or devices/... publish would be a broadcast to every subscribed device. */
    mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: dropped hub publish on %s (use " P_TO "{id}/...)",
                         ed->topic);
    return MOSQ_ERR_ACL_DENIED;
}

static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ed = event_data;
    const char *id;
    char *topic = NULL;
    size_t n;

    (void)event;
    (void)userdata;
    if (is_hub(ed->client))
        return hub_message(ed);
    id = mosquitto_client_id(ed->client);
    /* the WRITE ACL already ran; checked again so a missed path can never route a foreign topic */
    if (!id || !mh_topic_device_may_publish(id, ed->topic))
        return MOSQ_ERR_ACL_DENIED;
    n = strlen("$mockhub/from/") + strlen(id) + 1 + strlen(ed->topic) + 1;
    topic = malloc(n);
    if (!topic) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mockhub: out of memory routing %s from %s", ed->topic, id);
        return MOSQ_ERR_ACL_DENIED;
    }
    snprintf(topic, n, "$mockhub/from/%s/%s", id, ed->topic);
    /* Copy instead of rewriting ed->topic (its ownership differs between 2.0.11 and 2.0.15), and
     * never retained: IoT Hub does not store device publishes. */
    if (mosquitto_broker_publish_copy(NULL, topic, (int)ed->payloadlen, ed->payload, ed->qos, false, NULL) !=
        MOSQ_ERR_SUCCESS)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: could not route %s", topic);
    free(topic);
    /* Drops the original; an MQTT 3.1.1 device still gets a normal PUBACK. */
    return MOSQ_ERR_ACL_DENIED;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    mh_conn *c = mh_conns_find(ed->client);
    char body[48];

    (void)event;
    (void)userdata;
    if (!c)
        return MOSQ_ERR_SUCCESS; /* hub, failed auth, or a resumed session's old context */
    snprintf(body, sizeof body, "{\"gen\":%llu}", c->gen);
    emit("disconnected", c->id, body);
    mh_conns_remove(ed->client);
    return MOSQ_ERR_SUCCESS;
}

/* SAS expiry: the real hub closes a connection when its token expires (iothub-protocol.md 1.3). */
struct expired {
    char (*ids)[MH_DEVAUTH_ID_MAX + 1];
    size_t n, cap;
    long long now;
};

static void collect_expired(mh_conn *c, void *ctx)
{
    struct expired *e = ctx;

    if (c->expiry == 0 || c->expiry > e->now)
        return;
    c->expiry = 0; /* one attempt; the DISCONNECT removes the entry */
    if (mh_conns_newest(c->id) != c || e->n == e->cap)
        return; /* an older connection being taken over closes anyway */
    snprintf(e->ids[e->n++], sizeof e->ids[0], "%s", c->id);
}

static int on_tick(int event, void *event_data, void *userdata)
{
    static char ids[64][MH_DEVAUTH_ID_MAX + 1];
    struct expired e = {ids, 0, 64, 0};
    time_t now = time(NULL);
    size_t i;

    (void)event;
    (void)event_data;
    (void)userdata;
    if (now == g.last_sweep)
        return MOSQ_ERR_SUCCESS; /* TICK fires 10 to 75000 times a second; sweep once a second */
    g.last_sweep = now;
    e.now = (long long)now;
    /* collect first: kicking fires DISCONNECT, which edits the table */
    mh_conns_foreach(collect_expired, &e);
    for (i = 0; i < e.n; i++) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: SAS token of %s expired, dropping the connection",
                             ids[i]);
        kick(ids[i]);
    }
    return MOSQ_ERR_SUCCESS;
}

/* ---- plugin entry points ---- */

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    int i;

    for (i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5)
            return 5;
    }
    return -1;
}

static const struct {
    int event;
    MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, on_basic_auth}, {MOSQ_EVT_ACL_CHECK, on_acl_check}, {MOSQ_EVT_MESSAGE, on_message},
    {MOSQ_EVT_DISCONNECT, on_disconnect}, {MOSQ_EVT_TICK, on_tick},
};

static char *opt_dup(struct mosquitto_opt *opts, int count, const char *key)
{
    int i;

    for (i = 0; i < count; i++) {
        if (opts[i].key && strcmp(opts[i].key, key) == 0 && opts[i].value)
            return strdup(opts[i].value);
    }
    return NULL;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options,
                          int option_count)
{
    size_t i;
    void *sym;

    (void)userdata;
    memset(&g, 0, sizeof g);
    g.pid = identifier;
    g.db_path = opt_dup(options, option_count, "db_path");
    g.hostname = opt_dup(options, option_count, "hostname");
    g.hub_secret = opt_dup(options, option_count, "hub_secret");
    if (!g.db_path || !g.hostname || !g.hub_secret || !*g.hub_secret) {
        mosquitto_log_printf(
            MOSQ_LOG_ERR,
            "mockhub: plugin_opt_db_path, plugin_opt_hostname and plugin_opt_hub_secret are required");
        goto fail;
    }
    if (mh_keys_open(g.db_path, &g.keys) != MH_OK) {
        g.keys = NULL; /* retried at the next device CONNECT */
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: cannot open %s read-only yet; will retry",
                             g.db_path);
    }
    sym = dlsym(RTLD_DEFAULT, "send__connack");
    memcpy(&g.send_connack, &sym, sizeof sym); /* object -> function pointer without a pedantic cast */
    if (!g.send_connack)
        mosquitto_log_printf(
            MOSQ_LOG_WARNING,
            "mockhub: broker does not export send__connack; disabled devices get CONNACK 5, not 3");
    for (i = 0; i < sizeof callbacks / sizeof callbacks[0]; i++) {
        if (mosquitto_callback_register(g.pid, callbacks[i].event, callbacks[i].cb, NULL, NULL) !=
            MOSQ_ERR_SUCCESS) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "mockhub: cannot register callback %d", callbacks[i].event);
            goto fail;
        }
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "mockhub: bridge plugin ready for hub %s (db %s)", g.hostname,
                         g.db_path);
    return MOSQ_ERR_SUCCESS;

fail:
    for (i = 0; i < sizeof callbacks / sizeof callbacks[0]; i++)
        mosquitto_callback_unregister(g.pid, callbacks[i].event, callbacks[i].cb, NULL);
    mh_keys_free(g.keys);
    free(g.db_path);
    free(g.hostname);
    free(g.hub_secret);
    memset(&g, 0, sizeof g);
    return MOSQ_ERR_UNKNOWN;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    size_t i;

    (void)userdata;
    (void)options;
    (void)option_count;
    for (i = 0; i < sizeof callbacks / sizeof callbacks[0]; i++)
        mosquitto_callback_unregister(g.pid, callbacks[i].event, callbacks[i].cb, NULL);
    mh_conns_clear();
    mh_keys_free(g.keys);
    free(g.db_path);
    free(g.hostname);
    free(g.hub_secret);
    memset(&g, 0, sizeof g);
    return MOSQ_ERR_SUCCESS;
}
