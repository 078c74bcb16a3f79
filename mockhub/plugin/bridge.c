/* bridge.c - the Mosquitto 2.0 plugin that makes the broker an IoT Hub front door: device and module
 * CONNECT checks (devauth.c), device and module isolation (topic.c), routing between devices and the daemon over the
 * internal bus (bus.c encodes and decodes every message), connection events and the sync barrier.
 * Thin glue: the contract is docs/INTERNALS.md ("Broker <-> daemon"), the shape follows
 * shared/reference/mosquitto-plugin-notes.md.
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

#include "bus.h"
#include "conns.h"
#include "devauth.h"
#include "keys.h"
#include "topic.h"

#define HUB_USER "$mockhub"
#define EVENT_QOS 1
#define REFUSALS_MAX 256 /* devices with pending CONNECT refusals (test control) */

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
    int kicking; /* >0 while we kick: the broker re-checks subscription ACLs then */
    /* MOCK: test control ($mockhub/refuse/{id}): CONNECTs still to refuse, per device */
    struct refusal {
        char id[MH_IDENTITY_MAX + 1];
        unsigned long long left;
    } refusals[REFUSALS_MAX];
    time_t last_sweep; /* last SAS expiry sweep (seconds) */
} g;

/* ---- helpers ---- */

static int is_hub(const struct mosquitto *client)
{
    const char *user = mosquitto_client_username(client);

    return user && strcmp(user, HUB_USER) == 0;
}

/* Sets m->id to identity id; 0 when it does not fit (devauth refuses such ids at CONNECT, so never
 * in practice). */
static int set_id(mh_bus_msg *m, const char *id)
{
    if (strlen(id) > MH_IDENTITY_MAX)
        return 0;
    strcpy(m->id, id);
    return 1;
}

/* Publishes a bus message to the daemon (client id NULL: its subscription gets it). Every message
 * the plugin sends goes through here, i.e. through mosquitto_broker_publish_copy, which appends to
 * the broker's one db.plugin_msgs list: the daemon receives them in the order they were emitted,
 * which is what the sync barrier (hub_sync) relies on. FROM keeps the device's payload and QoS. */
static void to_hub(const mh_bus_msg *m, int qos)
{
    char *topic = NULL, *payload = NULL;
    size_t len = 0;

    if (mh_bus_encode(m, &topic, &payload, &len) != MH_OK) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: could not encode bus message %d for '%s'",
                             (int)m->kind, m->id);
        return;
    }
    if (mosquitto_broker_publish_copy(NULL, topic, (int)len, payload ? payload : m->payload, qos, false,
                                      NULL) != MOSQ_ERR_SUCCESS)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: could not publish %s", topic);
    free(topic);
    free(payload);
}

static void emit_connected(const mh_conn *c)
{
    mh_bus_msg m = {.kind = MH_BUS_EV_CONNECTED, .gen = c->gen, .clean = c->clean != 0};

    if (set_id(&m, c->id))
        to_hub(&m, EVENT_QOS);
}

static void emit_filter(mh_bus_kind kind, const struct mosquitto *client, const char *id, const char *filter)
{
    const mh_conn *c = mh_conns_find(client);
    mh_bus_msg m = {.kind = kind, .gen = c ? c->gen : 0};

    /* the filters the daemon tracks are at most "devices/{128}/messages/devicebound/#" long; a
     * module's inputs filter may be longer, and the daemon does not track it (mh_bus_sub_bit) */
    if (!set_id(&m, id) || strlen(filter) > MH_BUS_FILTER_MAX)
        return;
    strcpy(m.filter, filter);
    to_hub(&m, EVENT_QOS);
}

static void kick(const char *id)
{
    g.kicking++;
    mosquitto_kick_client_by_clientid(id, false);
    g.kicking--;
}

/* mh_devauth_lookup_fn over the read-only key lookup, opened lazily if it was not there at start. id
 * is an identity: a module's keys are its own row's ("d/m", keys.c reads WHERE id = ?1). */
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

/* MOCK: 1 when the device's CONNECT is to be refused by test control (one refusal used up). */
static int refusal_take(const char *id)
{
    size_t i;

    for (i = 0; i < REFUSALS_MAX; i++) {
        if (g.refusals[i].left > 0 && strcmp(g.refusals[i].id, id) == 0) {
            g.refusals[i].left--;
            return 1;
        }
    }
    return 0;
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
    /* Devices are accepted before the daemon is linked (at start, and after a restart of this
     * broker while the daemon's link reconnects): the events emitted meanwhile reach nobody, but
     * the daemon's resync, once linked, replays every live connection with its subscriptions.
     * (Refusing them with CONNACK 3 until then made some Node SDK clients stop retrying.) */
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
    if (refusal_take(id)) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: CONNACK 3 for %s: refused by test control", id);
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
        if (!g.kicking) {
            mh_conn *c = mh_conns_find(ed->client);
            if (c) {
                c->subs |= mh_bus_sub_bit(id, ed->topic);
                c->unsubs &= ~mh_bus_sub_bit(id, ed->topic);
            }
            emit_filter(MH_BUS_EV_SUBSCRIBED, ed->client, id, ed->topic);
        }
        return MOSQ_ERR_SUCCESS;
    case MOSQ_ACL_UNSUBSCRIBE:
        if (!g.kicking && mh_topic_device_may_subscribe(id, ed->topic)) {
            mh_conn *c = mh_conns_find(ed->client);
            if (c) {
                c->subs &= ~mh_bus_sub_bit(id, ed->topic);
                c->unsubs |= mh_bus_sub_bit(id, ed->topic);
            }
            emit_filter(MH_BUS_EV_UNSUBSCRIBED, ed->client, id, ed->topic);
        }
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

/* Replays a live connection for the daemon: connected, then each subscription the daemon tracks. */
static void on_resync_one(mh_conn *c, void *ctx)
{
    char c2d[MH_BUS_FILTER_MAX + 1];
    int n;

    (void)ctx;
    emit_connected(c);
    if (c->subs & MH_BUS_SUB_METHODS)
        emit_filter(MH_BUS_EV_SUBSCRIBED, c->client, c->id, "$iothub/methods/POST/#");
    if (c->subs & MH_BUS_SUB_DESIRED)
        emit_filter(MH_BUS_EV_SUBSCRIBED, c->client, c->id, "$iothub/twin/PATCH/properties/desired/#");
    /* devices only: a module never holds the C2D bit (mh_bus_sub_bit), and has no C2D filter */
    if ((c->subs & MH_BUS_SUB_C2D) && !mh_identity_module(c->id)) {
        n = snprintf(c2d, sizeof c2d, "devices/%.*s/messages/devicebound/#", MH_ID_MAX, c->id);
        if (n > 0 && (size_t)n < sizeof c2d)
            emit_filter(MH_BUS_EV_SUBSCRIBED, c->client, c->id, c2d);
    }
}

/* ---- what the daemon sends (bus kinds TO, KICK, RESYNC, SYNC); ctx is the MESSAGE event ---- */

/* Tells the daemon what became of a TO it sent to identity id (connection number gen, 0: none). */
static void answer_to(mh_bus_kind kind, const char *id, unsigned long long gen, const char *azure_topic)
{
    mh_bus_msg ev = {.kind = kind, .gen = gen, .topic = azure_topic};

    if (set_id(&ev, id))
        to_hub(&ev, EVENT_QOS);
}

/* The UNSUBACK window: deliveries are targeted and skip the broker's subscription match, and the
 * daemon learns of an UNSUBSCRIBE from an event it reads later, so a push it sends right after the
 * device's UNSUBACK would still arrive. The plugin knows at once (the ACL check runs before the
 * UNSUBACK): method requests, desired pushes and C2D messages for a filter the connection does not
 * hold are dropped here and reported undelivered, so a dropped call ends at once and a C2D message
 * stays queued. A C2D message for a device with no live connection is not handed to the broker
 * either (the daemon keeps it queued and delivers it when the device is back). Every C2D message
 * gets an answer, delivered or undelivered, in order: the daemon completes it on that answer. */
static void hub_to(void *ctx, const mh_bus_msg *m)
{
    const struct mosquitto_evt_message *ed = ctx;
    const mh_conn *c = mh_conns_newest(m->id);
    unsigned bit = mh_bus_delivery_bit(m->id, m->topic);
    unsigned long long gen = c ? c->gen : 0;
    int ok;

    if (c != NULL && bit != 0 && !mh_conns_holds(c, bit)) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: not delivered to %s, which unsubscribed: %s", c->id,
                             m->topic);
        answer_to(MH_BUS_EV_UNDELIVERED, m->id, gen, m->topic);
        return;
    }
    if (c == NULL && bit == MH_BUS_SUB_C2D) {
        answer_to(MH_BUS_EV_UNDELIVERED, m->id, 0, m->topic);
        return;
    }
    ok = mosquitto_broker_publish_copy(m->id, m->topic, (int)m->len, m->payload, ed->qos, false, NULL) ==
         MOSQ_ERR_SUCCESS;
    if (!ok)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: could not deliver %s", ed->topic);
    if (bit == MH_BUS_SUB_C2D)
        answer_to(ok ? MH_BUS_EV_DELIVERED : MH_BUS_EV_UNDELIVERED, m->id, gen, m->topic);
}

/* The live module connections of one device, collected before kicking (a kick fires DISCONNECT,
 * which edits the table). */
struct modules_of {
    const char *device;
    size_t len, n;
    char ids[64][MH_IDENTITY_MAX + 1];
};

static void collect_module(mh_conn *c, void *ctx)
{
    struct modules_of *mo = ctx;

    if (mo->n < sizeof mo->ids / sizeof mo->ids[0] && strncmp(c->id, mo->device, mo->len) == 0 &&
        c->id[mo->len] == '/' && mh_conns_newest(c->id) == c)
        snprintf(mo->ids[mo->n++], sizeof mo->ids[0], "%s", c->id);
}

/* Kicking a device drops its modules' connections too: they run on it, and every reason the hub
 * has to drop a device (deleted, disabled, test control's drop) holds for them. Kicking "d/m"
 * drops that module only. Only live connections: an offline persistent session has no socket. */
static void hub_kick(void *ctx, const mh_bus_msg *m)
{
    static struct modules_of mo; /* 16 KB: not on the stack; the broker's loop is one thread */
    size_t i;

    (void)ctx;
    mo.n = 0;
    if (!strchr(m->id, '/')) {
        mo.device = m->id;
        mo.len = strlen(m->id);
        mh_conns_foreach(collect_module, &mo);
    }
    if (mh_conns_newest(m->id)) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: dropping %s on request of the hub", m->id);
        kick(m->id);
    }
    for (i = 0; i < mo.n; i++) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "mockhub: dropping %s with its device", mo.ids[i]);
        kick(mo.ids[i]);
    }
}

static void hub_resync(void *ctx, const mh_bus_msg *m)
{
    mh_bus_msg ready = {.kind = MH_BUS_EV_READY, .connections = mh_conns_count()};

    (void)ctx;
    (void)m;
    mh_conns_foreach(on_resync_one, NULL);
    to_hub(&ready, EVENT_QOS);
}

/* The sync barrier: synced goes out through the same queue as every event, after all the events
 * emitted before it, so once the daemon reads synced it has read them all (e.g. the subscribed
 * event of a device that already holds its SUBACK). */
/* The daemon's waker: its arrival has already ended the broker's sleep (websockets writes only
 * happen once per turn of the main loop; see daemon/wsproxy.c). Nothing else to do. */
static void hub_wake(void *ctx, const mh_bus_msg *m)
{
    (void)ctx;
    (void)m;
}

static void hub_sync(void *ctx, const mh_bus_msg *m)
{
    mh_bus_msg synced = {.kind = MH_BUS_EV_SYNCED, .token = m->token};

    (void)ctx;
    to_hub(&synced, EVENT_QOS);
}

/* MOCK: test control sets (count 0: clears) the number of the device's next CONNECTs to refuse. */
static void hub_refuse(void *ctx, const mh_bus_msg *m)
{
    struct refusal *slot = NULL;
    size_t i;

    (void)ctx;
    for (i = 0; i < REFUSALS_MAX; i++) {
        if (g.refusals[i].left > 0 && strcmp(g.refusals[i].id, m->id) == 0) {
            slot = &g.refusals[i];
            break;
        }
        if (!slot && g.refusals[i].left == 0)
            slot = &g.refusals[i];
    }
    if (m->count == 0) {
        if (slot && slot->left > 0)
            slot->left = 0;
        return;
    }
    if (!slot) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: too many devices with refused connects; ignored %s",
                             m->id);
        return;
    }
    strcpy(slot->id, m->id);
    slot->left = m->count;
}

static const mh_bus_handler from_hub[MH_BUS_KIND_COUNT] = {
    [MH_BUS_TO] = hub_to,     [MH_BUS_KICK] = hub_kick,     [MH_BUS_RESYNC] = hub_resync,
    [MH_BUS_SYNC] = hub_sync, [MH_BUS_REFUSE] = hub_refuse, [MH_BUS_WAKE] = hub_wake,
};

/* A publish from the daemon: handled bus messages and malformed ones are dropped after use, other
 * internal topics route normally, anything else is dropped. */
static int hub_message(struct mosquitto_evt_message *ed)
{
    mh_bus_msg m;
    mh_err err = mh_bus_decode(ed->topic, ed->payload, ed->payloadlen, &m);

    if (err == MH_OK && from_hub[m.kind] != NULL) {
        from_hub[m.kind](ed, &m);
        return MOSQ_ERR_ACL_DENIED; /* the internal message itself goes nowhere */
    }
    if (err == MH_ERR_ARGUMENT_INVALID) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mockhub: dropped malformed %s", ed->topic);
        return MOSQ_ERR_ACL_DENIED;
    }
    if (mh_bus_is_internal(ed->topic))
        return MOSQ_ERR_SUCCESS; /* other internal topics route normally */
    /* A plain $iothub/... or devices/... publish would be a broadcast to every subscribed device. */
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "mockhub: dropped hub publish on %s (devices are reached through the bus)",
                         ed->topic);
    return MOSQ_ERR_ACL_DENIED;
}

static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ed = event_data;
    mh_bus_msg m = {.kind = MH_BUS_FROM};
    const char *id;

    (void)event;
    (void)userdata;
    if (is_hub(ed->client))
        return hub_message(ed);
    id = mosquitto_client_id(ed->client);
    /* the WRITE ACL already ran; checked again so a missed path can never route a foreign topic */
    if (!id || !mh_topic_device_may_publish(id, ed->topic) || !set_id(&m, id))
        return MOSQ_ERR_ACL_DENIED;
    m.topic = ed->topic;
    m.payload = ed->payload;
    m.len = ed->payloadlen;
    /* Copy instead of rewriting ed->topic (its ownership differs between 2.0.11 and 2.0.15), and
     * never retained: IoT Hub does not store device publishes. */
    to_hub(&m, ed->qos);
    /* Drops the original; an MQTT 3.1.1 device still gets a normal PUBACK. */
    return MOSQ_ERR_ACL_DENIED;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    mh_conn *c = mh_conns_find(ed->client);
    mh_bus_msg m = {.kind = MH_BUS_EV_DISCONNECTED};

    (void)event;
    (void)userdata;
    if (!c)
        return MOSQ_ERR_SUCCESS; /* hub, failed auth, or a resumed session's old context */
    m.gen = c->gen;
    if (set_id(&m, c->id))
        to_hub(&m, EVENT_QOS);
    mh_conns_remove(ed->client);
    return MOSQ_ERR_SUCCESS;
}

/* SAS expiry: the real hub closes a connection when its token expires (iothub-protocol.md 1.3). */
struct expired {
    char (*ids)[MH_IDENTITY_MAX + 1];
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
    static char ids[64][MH_IDENTITY_MAX + 1];
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
