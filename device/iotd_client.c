/* The device client: connection state machine (connect, backoff with jitter, SAS renewal by
 * reconnecting, fatal auth failures), message dispatch (methods, twin replies, desired patches),
 * pending twin requests with timeouts. Protocol strings come from iotd_proto.c; sockets from
 * iotd_transport.c. */
#include "iotd_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "iot_connstr.h"
#include "iot_sas.h"
#include "iotd_transport.h"

#define MAX_METHODS 32
#define MAX_PENDING 64
#define RESP_MAX (128 * 1024) /* IoT Hub's method payload limit */
#define CONNACK_TIMEOUT_MS 30000
#define DEFAULT_KEEPALIVE_S 60
#define DEFAULT_TOKEN_TTL_S 3600
#define DEFAULT_TWIN_TIMEOUT_MS 60000
#define DEFAULT_BACKOFF_BASE_MS 500
#define DEFAULT_BACKOFF_CAP_MS 30000

#define TOPIC_METHODS_SUB "$iothub/methods/POST/#"
#define TOPIC_TWIN_RES_SUB "$iothub/twin/res/#"
#define TOPIC_DESIRED_SUB "$iothub/twin/PATCH/properties/desired/#"

enum client_state { ST_IDLE, ST_CONNECTING, ST_CONNECTED, ST_FAILED, ST_CLOSED };

struct method_reg {
    int used;
    char name[128];
    iotd_method_cb cb;
    void *ctx;
};

struct pending {
    int used;
    char rid[24];
    iotd_twin_cb cb;
    void *ctx;
    long long deadline_ms;
};

struct iotd_client {
    iot_connstr cs;
    iotd_options opt;
    char host[256];
    int port;
    char ca_file[1024];
    char client_id[260];
    char username[640];
    char resource[640];
    char password[1200];
    iotd_transport *tr;
    enum client_state st;
    int renewing;
    unsigned attempt;
    long long next_attempt_ms;
    long long connect_deadline_ms;
    long long token_expiry; /* wall clock seconds; 0 = never renewed (fixed token) */
    int can_renew;
    struct method_reg methods[MAX_METHODS];
    struct method_reg default_method;
    iotd_desired_cb desired_cb;
    void *desired_ctx;
    iotd_c2d_cb c2d_cb;
    void *c2d_ctx;
    struct pending pend[MAX_PENDING];
    unsigned long long rid_counter;
    char last_error[1024];
    char *resp;
    iotd_err fatal;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts;
    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static uint32_t random_u32(void)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)now_ms() * 2654435761u;
    return r;
}

static void notify(iotd_client *c, iotd_conn_event ev, const char *why)
{
    static const char *const names[] = {"connecting",     "connected", "retrying",
                                        "renewing token", "failed",    "closed"};

    if (c->opt.on_connection)
        c->opt.on_connection(c->opt.ctx, ev, why ? why : "");
    else
        fprintf(stderr, "iotd: %s%s%s\n", names[ev], why && *why ? ": " : "", why ? why : "");
}

static void fail_pending(iotd_client *c, iotd_err err)
{
    size_t i;

    for (i = 0; i < MAX_PENDING; i++) {
        struct pending p = c->pend[i];
        if (!p.used)
            continue;
        c->pend[i].used = 0; /* free the slot first: the callback may start a new request */
        if (p.cb)
            p.cb(p.ctx, err, 0, -1, "", 0);
    }
}

static void schedule_retry(iotd_client *c, const char *why)
{
    unsigned delay =
        iotd_proto_backoff_ms(c->attempt, c->opt.backoff_base_ms, c->opt.backoff_cap_ms, random_u32());
    char msg[700];

    if (c->attempt < 64)
        c->attempt++;
    c->st = ST_IDLE;
    c->next_attempt_ms = now_ms() + delay;
    snprintf(c->last_error, sizeof(c->last_error), "%s", why);
    snprintf(msg, sizeof(msg), "%s; retrying in %u ms", why, delay);
    notify(c, IOTD_CONN_RETRYING, msg);
}

/* The connection ended (dropped, refused, or closed by us for token renewal). */
static void connection_ended(iotd_client *c, const char *why)
{
    if (c->st != ST_CONNECTED && c->st != ST_CONNECTING)
        return;
    fail_pending(c, IOTD_E_DISCONNECTED);
    if (c->renewing) {
        c->renewing = 0;
        c->st = ST_IDLE;
        c->next_attempt_ms = now_ms();
        return;
    }
    schedule_retry(c, why);
}

/* devices/{id}/messages/devicebound/# at QoS 1: the hub delivers C2D at QoS 1 and completes a
 * message on its PUBACK. */
static iotd_err subscribe_c2d(iotd_client *c)
{
    char filter[300];
    int n = snprintf(filter, sizeof(filter), "devices/%s/messages/devicebound/#", c->cs.device_id);
    if (n < 0 || (size_t)n >= sizeof(filter))
        return IOTD_E_NOSPACE;
    return iotd_transport_subscribe(c->tr, filter, 1);
}

static iotd_err subscribe_all(iotd_client *c)
{
    iotd_err err = iotd_transport_subscribe(c->tr, TOPIC_TWIN_RES_SUB, 0);
    size_t i;
    int any = c->default_method.used;

    for (i = 0; i < MAX_METHODS; i++)
        any |= c->methods[i].used;
    if (err == IOTD_OK && any)
        err = iotd_transport_subscribe(c->tr, TOPIC_METHODS_SUB, 0);
    if (err == IOTD_OK && c->desired_cb)
        err = iotd_transport_subscribe(c->tr, TOPIC_DESIRED_SUB, 0);
    if (err == IOTD_OK && c->c2d_cb)
        err = subscribe_c2d(c);
    return err;
}

static void on_connack(void *ctx, int rc)
{
    iotd_client *c = ctx;
    char msg[700];

    if (c->st != ST_CONNECTING)
        return;
    if (rc == 0) {
        c->st = ST_CONNECTED;
        c->attempt = 0;
        c->last_error[0] = '\0';
        if (subscribe_all(c) != IOTD_OK) {
            iotd_transport_disconnect(c->tr);
            connection_ended(c, "cannot subscribe");
            return;
        }
        snprintf(msg, sizeof(msg), "%s:%d as %s", c->host, c->port, c->client_id);
        notify(c, IOTD_CONN_CONNECTED, msg);
        return;
    }
    snprintf(msg, sizeof(msg), "hub %s:%d refused the connection (CONNACK %d): %s", c->host, c->port, rc,
             iotd_proto_connack_str(rc));
    if (iotd_proto_connack_fatal(rc)) {
        c->st = ST_FAILED;
        c->fatal = IOTD_E_AUTH;
        snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
        fail_pending(c, IOTD_E_AUTH);
        iotd_transport_disconnect(c->tr);
        notify(c, IOTD_CONN_FAILED, msg);
        return;
    }
    connection_ended(c, msg);
}

static void on_disconnect(void *ctx, int rc)
{
    iotd_client *c = ctx;
    (void)rc;
    connection_ended(c, "connection lost");
}

static void send_method_response(iotd_client *c, const char *rid, int status, const char *json)
{
    char topic[256];

    if (iotd_proto_method_response_topic(status, rid, topic, sizeof(topic)) != IOTD_OK)
        return;
    if (!json || !*json)
        json = "null";
    if (iotd_transport_publish(c->tr, topic, json, strlen(json), 0) != IOTD_OK)
        notify(c, IOTD_CONN_RETRYING, "cannot publish method response");
}

static void handle_method(iotd_client *c, const char *topic, const char *payload, size_t len)
{
    char name[128], rid[128];
    struct method_reg *reg = NULL;
    size_t i;
    int status;

    if (iotd_proto_parse_method_request(topic, name, sizeof(name), rid, sizeof(rid)) != IOTD_OK)
        return;
    for (i = 0; i < MAX_METHODS && !reg; i++)
        if (c->methods[i].used && strcmp(c->methods[i].name, name) == 0)
            reg = &c->methods[i];
    if (!reg && c->default_method.used)
        reg = &c->default_method;
    if (!reg) {
        send_method_response(c, rid, 404, "{\"Response\":\"Unknown method\"}");
        return;
    }
    c->resp[0] = '\0';
    status = reg->cb(reg->ctx, c, name, rid, payload, len, c->resp, RESP_MAX);
    if (status == IOTD_METHOD_DEFER)
        return;
    c->resp[RESP_MAX - 1] = '\0';
    send_method_response(c, rid, status, c->resp);
}

static void handle_twin_response(iotd_client *c, const char *topic, const char *payload, size_t len)
{
    char rid[64];
    int status = 0;
    long long version = -1;
    size_t i;

    if (iotd_proto_parse_twin_response(topic, &status, rid, sizeof(rid), &version) != IOTD_OK)
        return;
    for (i = 0; i < MAX_PENDING; i++) {
        struct pending p = c->pend[i];
        if (!p.used || strcmp(p.rid, rid) != 0)
            continue;
        c->pend[i].used = 0;
        if (p.cb)
            p.cb(p.ctx, status < 300 ? IOTD_OK : IOTD_E_HUB, status, version, payload, len);
        return;
    }
    /* late reply to a request that already timed out: ignored */
}

static void handle_desired(iotd_client *c, const char *topic, const char *payload, size_t len)
{
    long long version = -1;

    if (!c->desired_cb || iotd_proto_parse_desired_patch(topic, &version) != IOTD_OK)
        return;
    c->desired_cb(c->desired_ctx, version, payload, len);
}

static void handle_c2d(iotd_client *c, const char *topic, const char *payload, size_t len)
{
    iotd_c2d_message *msg;

    if (!c->c2d_cb)
        return;
    msg = malloc(sizeof(*msg));
    if (msg == NULL)
        return;
    if (iotd_proto_parse_c2d(topic, msg) == IOTD_OK)
        c->c2d_cb(c->c2d_ctx, msg, payload, len);
    else
        fprintf(stderr, "iotd: cannot decode the C2D topic %.200s\n", topic);
    free(msg);
}

/* Dispatch table: topic prefix -> handler. */
static const struct {
    const char *prefix;
    void (*handle)(iotd_client *c, const char *topic, const char *payload, size_t len);
} dispatch[] = {
    {"$iothub/methods/POST/", handle_method},
    {"$iothub/twin/res/", handle_twin_response},
    {"$iothub/twin/PATCH/properties/desired/", handle_desired},
};

static void on_message(void *ctx, const char *topic, const char *payload, size_t len)
{
    iotd_client *c = ctx;
    size_t i;

    for (i = 0; i < sizeof(dispatch) / sizeof(dispatch[0]); i++) {
        if (strncmp(topic, dispatch[i].prefix, strlen(dispatch[i].prefix)) == 0) {
            dispatch[i].handle(c, topic, payload, len);
            return;
        }
    }
    if (iotd_proto_is_c2d_topic(topic))
        handle_c2d(c, topic, payload, len);
}

static iotd_err make_password(iotd_client *c, char *why, size_t whylen)
{
    long long expiry;

    if (!c->can_renew) {
        snprintf(c->password, sizeof(c->password), "%s", c->cs.shared_access_signature);
        return IOTD_OK;
    }
    expiry = (long long)time(NULL) + c->opt.token_ttl_s;
    if (iot_sas_format(c->resource, c->cs.shared_access_key,
                       c->cs.shared_access_key_name[0] ? c->cs.shared_access_key_name : NULL, expiry,
                       c->password, sizeof(c->password)) != IOT_OK) {
        snprintf(why, whylen, "cannot create a SAS token");
        return IOTD_E_CONFIG;
    }
    c->token_expiry = expiry;
    return IOTD_OK;
}

static void start_attempt(iotd_client *c)
{
    char why[512] = "";
    char msg[400];

    snprintf(msg, sizeof(msg), "%s:%d (attempt %u)", c->host, c->port, c->attempt + 1);
    notify(c, IOTD_CONN_CONNECTING, msg);
    if (make_password(c, why, sizeof(why)) != IOTD_OK) {
        c->st = ST_FAILED;
        c->fatal = IOTD_E_CONFIG;
        snprintf(c->last_error, sizeof(c->last_error), "%s", why);
        notify(c, IOTD_CONN_FAILED, why);
        return;
    }
    if (iotd_transport_connect(c->tr, c->host, c->port, c->username, c->password, c->opt.keepalive_s, why,
                               sizeof(why)) != IOTD_OK) {
        schedule_retry(c, why);
        return;
    }
    c->st = ST_CONNECTING;
    c->connect_deadline_ms = now_ms() + CONNACK_TIMEOUT_MS;
}

static iotd_err client_setup(iotd_client *c, const char *connection_string, const iotd_options *opt,
                             char *why, size_t whylen)
{
    const char *gw, *ca;
    iotd_err err;
    iotd_transport_events ev = {on_connack, on_disconnect, on_message};

    if (iot_connstr_parse_device(connection_string, &c->cs, why, whylen) != IOT_OK)
        return IOTD_E_CONFIG;
    /* the identity is "{device}" or "{device}/{module}": a '/' in either id would make it ambiguous,
     * and the hub allows neither (device and module ids take letters, digits and -.+%_#*?!(),:=@$') */
    if (strchr(c->cs.device_id, '/') || strchr(c->cs.module_id, '/')) {
        snprintf(why, whylen, "DeviceId and ModuleId may not contain '/'");
        return IOTD_E_CONFIG;
    }
    if (c->cs.x509) {
        snprintf(why, whylen, "x509 authentication is not supported by this client; use SharedAccessKey");
        return IOTD_E_CONFIG;
    }
    if (opt)
        c->opt = *opt;
    if (c->opt.keepalive_s <= 0)
        c->opt.keepalive_s = DEFAULT_KEEPALIVE_S;
    if (c->opt.token_ttl_s <= 0)
        c->opt.token_ttl_s = DEFAULT_TOKEN_TTL_S;
    if (c->opt.token_renew_margin_s <= 0 || c->opt.token_renew_margin_s >= c->opt.token_ttl_s)
        c->opt.token_renew_margin_s = c->opt.token_ttl_s / 4;
    if (c->opt.twin_timeout_ms <= 0)
        c->opt.twin_timeout_ms = DEFAULT_TWIN_TIMEOUT_MS;
    if (c->opt.backoff_base_ms == 0)
        c->opt.backoff_base_ms = DEFAULT_BACKOFF_BASE_MS;
    if (c->opt.backoff_cap_ms == 0)
        c->opt.backoff_cap_ms = DEFAULT_BACKOFF_CAP_MS;
    if (c->opt.backoff_cap_ms < c->opt.backoff_base_ms)
        c->opt.backoff_cap_ms = c->opt.backoff_base_ms;
    c->opt.ca_file = NULL; /* borrowed; copied below */
    c->opt.gateway = NULL;

    /* HostName always names the hub in the username and sr; only the socket goes elsewhere */
    gw = (opt && opt->gateway && *opt->gateway) ? opt->gateway
         : c->cs.gateway_host_name[0]           ? c->cs.gateway_host_name
                                                : c->cs.host_name;
    if (iotd_proto_parse_hostport(gw, IOTD_DEFAULT_PORT, c->host, sizeof(c->host), &c->port) != IOTD_OK) {
        snprintf(why, whylen, "cannot parse host '%s' (expected host or host:port)", gw);
        return IOTD_E_CONFIG;
    }
    if (opt && opt->port > 0)
        c->port = opt->port;
    ca = (opt && opt->ca_file && *opt->ca_file) ? opt->ca_file : getenv("IOTHUB_CA_FILE");
    if (ca && *ca)
        snprintf(c->ca_file, sizeof(c->ca_file), "%s", ca);

    if (iotd_proto_client_id(c->cs.device_id, c->cs.module_id, c->client_id, sizeof(c->client_id)) !=
            IOTD_OK ||
        iotd_proto_username(c->cs.host_name, c->client_id, c->username, sizeof(c->username)) != IOTD_OK ||
        iotd_proto_sas_resource(c->cs.host_name, c->cs.device_id, c->cs.module_id, c->resource,
                                sizeof(c->resource)) != IOTD_OK) {
        snprintf(why, whylen, "HostName, DeviceId or ModuleId is too long");
        return IOTD_E_CONFIG;
    }
    c->can_renew = c->cs.shared_access_key[0] != '\0';
    if (!c->can_renew) {
        iot_sas_token tok;
        if (iot_sas_parse(c->cs.shared_access_signature, &tok) != IOT_OK) {
            snprintf(why, whylen, "SharedAccessSignature in the connection string is not a valid SAS token");
            return IOTD_E_CONFIG;
        }
        c->token_expiry = tok.se;
    }
    err = iotd_transport_new(c->client_id, c->ca_file[0] ? c->ca_file : NULL, &ev, c, &c->tr, why, whylen);
    if (err != IOTD_OK)
        return err == IOTD_E_NOMEM ? err : IOTD_E_CONFIG;
    return IOTD_OK;
}

iotd_err iotd_client_new(const char *connection_string, const iotd_options *opt, iotd_client **out, char *why,
                         size_t whylen)
{
    iotd_client *c = NULL;
    char whybuf[512] = "";
    iotd_err err;

    if (!out)
        return IOTD_E_INVALID;
    if (!connection_string || !*connection_string) {
        if (why && whylen)
            snprintf(why, whylen, "no device connection string given");
        return IOTD_E_CONFIG;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return IOTD_E_NOMEM;
    c->resp = malloc(RESP_MAX);
    if (!c->resp) {
        err = IOTD_E_NOMEM;
        goto cleanup;
    }
    err = client_setup(c, connection_string, opt, whybuf, sizeof(whybuf));
    if (err != IOTD_OK)
        goto cleanup;
    c->st = ST_IDLE;
    c->next_attempt_ms = now_ms();
    *out = c;
    return IOTD_OK;

cleanup:
    if (why && whylen)
        snprintf(why, whylen, "%s", whybuf);
    iotd_client_free(c);
    return err;
}

void iotd_client_free(iotd_client *c)
{
    if (!c)
        return;
    if (c->tr && c->st == ST_CONNECTED)
        iotd_client_close(c);
    iotd_transport_free(c->tr);
    if (c->resp)
        free(c->resp);
    memset(c->password, 0, sizeof(c->password));
    memset(&c->cs, 0, sizeof(c->cs));
    free(c);
}

iotd_err iotd_client_on_method(iotd_client *c, const char *name, iotd_method_cb cb, void *ctx)
{
    struct method_reg *slot = NULL;
    size_t i;

    if (!c || !cb || (name && (!*name || strlen(name) >= sizeof(slot->name))))
        return IOTD_E_INVALID;
    if (!name) {
        slot = &c->default_method;
    } else {
        for (i = 0; i < MAX_METHODS && !slot; i++)
            if (c->methods[i].used && strcmp(c->methods[i].name, name) == 0)
                slot = &c->methods[i];
        for (i = 0; i < MAX_METHODS && !slot; i++)
            if (!c->methods[i].used)
                slot = &c->methods[i];
        if (!slot)
            return IOTD_E_BUSY;
        snprintf(slot->name, sizeof(slot->name), "%s", name);
    }
    slot->cb = cb;
    slot->ctx = ctx;
    slot->used = 1;
    if (c->st == ST_CONNECTED && iotd_transport_subscribe(c->tr, TOPIC_METHODS_SUB, 0) != IOTD_OK)
        return IOTD_E_TRANSPORT;
    return IOTD_OK;
}

iotd_err iotd_client_method_respond(iotd_client *c, const char *rid, int status, const char *json)
{
    if (!c || !rid || !*rid)
        return IOTD_E_INVALID;
    if (c->st != ST_CONNECTED)
        return IOTD_E_NOT_CONNECTED;
    send_method_response(c, rid, status, json);
    return IOTD_OK;
}

iotd_err iotd_client_on_desired(iotd_client *c, iotd_desired_cb cb, void *ctx)
{
    if (!c || !cb)
        return IOTD_E_INVALID;
    c->desired_cb = cb;
    c->desired_ctx = ctx;
    if (c->st == ST_CONNECTED && iotd_transport_subscribe(c->tr, TOPIC_DESIRED_SUB, 0) != IOTD_OK)
        return IOTD_E_TRANSPORT;
    return IOTD_OK;
}

iotd_err iotd_client_on_c2d(iotd_client *c, iotd_c2d_cb cb, void *ctx)
{
    if (!c || !cb)
        return IOTD_E_INVALID;
    if (c->cs.module_id[0]) {
        /* AZURE: the hub has no cloud-to-device queue for modules (no devicebound topic to subscribe) */
        snprintf(c->last_error, sizeof(c->last_error),
                 "cloud-to-device messages are not delivered to modules (%s is a module identity); "
                 "use direct methods or desired properties",
                 c->client_id);
        return IOTD_E_INVALID;
    }
    c->c2d_cb = cb;
    c->c2d_ctx = ctx;
    if (c->st == ST_CONNECTED && subscribe_c2d(c) != IOTD_OK)
        return IOTD_E_TRANSPORT;
    return IOTD_OK;
}

/* Publishes a twin request on the topic built by make_topic and records it as pending. */
static iotd_err twin_request(iotd_client *c, iotd_err (*make_topic)(const char *, char *, size_t),
                             const char *body, iotd_twin_cb cb, void *ctx)
{
    struct pending *slot = NULL;
    char topic[128];
    size_t i;
    iotd_err err;

    if (c->st != ST_CONNECTED)
        return IOTD_E_NOT_CONNECTED;
    for (i = 0; i < MAX_PENDING && !slot; i++)
        if (!c->pend[i].used)
            slot = &c->pend[i];
    if (!slot)
        return IOTD_E_BUSY;
    snprintf(slot->rid, sizeof(slot->rid), "%llu", ++c->rid_counter);
    err = make_topic(slot->rid, topic, sizeof(topic));
    if (err != IOTD_OK)
        return err;
    err = iotd_transport_publish(c->tr, topic, body, body ? strlen(body) : 0, 0);
    if (err != IOTD_OK)
        return err;
    slot->used = 1;
    slot->cb = cb;
    slot->ctx = ctx;
    slot->deadline_ms = now_ms() + c->opt.twin_timeout_ms;
    return IOTD_OK;
}

iotd_err iotd_client_twin_get(iotd_client *c, iotd_twin_cb cb, void *ctx)
{
    if (!c)
        return IOTD_E_INVALID;
    return twin_request(c, iotd_proto_twin_get_topic, NULL, cb, ctx);
}

iotd_err iotd_client_twin_report(iotd_client *c, const char *json, iotd_twin_cb cb, void *ctx)
{
    if (!c || !json || !*json)
        return IOTD_E_INVALID;
    return twin_request(c, iotd_proto_twin_patch_topic, json, cb, ctx);
}

iotd_err iotd_client_send_event(iotd_client *c, const void *body, size_t len, const iotd_message_props *props)
{
    char topic[4096];
    iotd_err err;

    if (!c || (!body && len > 0))
        return IOTD_E_INVALID;
    if (props && props->output_name && *props->output_name && !c->cs.module_id[0]) {
        snprintf(c->last_error, sizeof(c->last_error),
                 "an output name ($.on) needs a module identity; %s is a device", c->client_id);
        return IOTD_E_INVALID;
    }
    if (c->st != ST_CONNECTED)
        return IOTD_E_NOT_CONNECTED;
    err = iotd_proto_telemetry_topic(c->cs.device_id, c->cs.module_id, props, topic, sizeof(topic));
    if (err != IOTD_OK)
        return err;
    return iotd_transport_publish(c->tr, topic, body, len, 1);
}

static void expire_pending(iotd_client *c, long long now)
{
    size_t i;

    for (i = 0; i < MAX_PENDING; i++) {
        struct pending p = c->pend[i];
        if (!p.used || now < p.deadline_ms)
            continue;
        c->pend[i].used = 0;
        if (p.cb)
            p.cb(p.ctx, IOTD_E_TIMEOUT, 0, -1, "", 0);
    }
}

iotd_err iotd_client_run(iotd_client *c, int timeout_ms)
{
    char why[512] = "";
    long long now;
    int wait = timeout_ms < 0 ? 0 : timeout_ms;
    iotd_err err;

    if (!c)
        return IOTD_E_INVALID;
    if (c->fatal)
        return c->fatal;
    if (c->st == ST_CLOSED) {
        sleep_ms(wait);
        return IOTD_OK;
    }
    now = now_ms();
    if (c->st == ST_IDLE && now >= c->next_attempt_ms)
        start_attempt(c);
    if (c->fatal)
        return c->fatal;
    if (c->st == ST_CONNECTING && now > c->connect_deadline_ms) {
        iotd_transport_disconnect(c->tr);
        connection_ended(c, "no CONNACK from the hub within 30 s");
    }
    if (c->st == ST_CONNECTED && c->can_renew && !c->renewing &&
        (long long)time(NULL) >= c->token_expiry - c->opt.token_renew_margin_s) {
        c->renewing = 1;
        notify(c, IOTD_CONN_RENEWING, "SAS token close to expiry; reconnecting with a new one");
        iotd_transport_disconnect(c->tr);
    }
    expire_pending(c, now);
    if (c->st == ST_IDLE) {
        long long left = c->next_attempt_ms - now;
        if (left < wait)
            wait = left < 0 ? 0 : (int)left;
    }
    err = iotd_transport_loop(c->tr, wait, why, sizeof(why));
    if (err == IOTD_E_NOT_CONNECTED) {
        if (c->st == ST_CONNECTED || c->st == ST_CONNECTING)
            connection_ended(c, "connection closed");
        else
            sleep_ms(wait);
    } else if (err != IOTD_OK) {
        connection_ended(c, why);
    }
    return c->fatal ? c->fatal : IOTD_OK;
}

void iotd_client_close(iotd_client *c)
{
    int i;

    int was_up;

    if (!c || c->st == ST_CLOSED)
        return;
    was_up = c->st == ST_CONNECTED || c->st == ST_CONNECTING;
    if (was_up) {
        c->st = ST_CLOSED; /* first: the disconnect callback may run inside the call */
        iotd_transport_disconnect(c->tr);
        /* let libmosquitto write the DISCONNECT packet */
        for (i = 0; i < 10; i++)
            if (iotd_transport_loop(c->tr, 20, NULL, 0) != IOTD_OK)
                break;
    }
    c->st = ST_CLOSED;
    fail_pending(c, IOTD_E_DISCONNECTED);
    if (was_up)
        notify(c, IOTD_CONN_CLOSED, "");
}

const char *iotd_client_identity(const iotd_client *c)
{
    return c ? c->client_id : "";
}

int iotd_client_is_module(const iotd_client *c)
{
    return c && c->cs.module_id[0] != '\0';
}

int iotd_client_connected(const iotd_client *c)
{
    return c && c->st == ST_CONNECTED;
}

const char *iotd_client_last_error(const iotd_client *c)
{
    return c ? c->last_error : "";
}
