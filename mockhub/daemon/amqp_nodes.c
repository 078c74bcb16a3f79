/* amqp_nodes.c - the AMQP nodes of the hub: $cbs (put-token), $management (Event Hubs READ),
 * /messages/devicebound (C2D from the service), /messages/serviceBound/feedback, and the
 * Event Hubs-compatible partitions over the telemetry log (amqp-protocol.md 2-5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <proton/message.h>

#include "amqp_internal.h"
#include "c2d.h"
#include "iot_url.h"
#include "store.h"

#define EVENTS_PER_PUMP 64
#define MSG_MAX (1024 * 1024) /* cap: an incoming message (IoT Hub's largest is 256 KB) */

/* ---- small Proton helpers ---- */

static void link_refuse(pn_link_t *l, const char *cond, const char *desc)
{
    pn_link_open(l);
    pn_condition_set_name(pn_link_condition(l), cond);
    pn_condition_set_description(pn_link_condition(l), desc);
    pn_link_close(l);
}

/* The string value of application property key (NULL when absent or not a string/symbol);
 * valid while msg lives. */
static const char *app_prop(pn_message_t *msg, const char *key)
{
    pn_data_t *p = pn_message_properties(msg);
    pn_data_rewind(p);
    if (!pn_data_next(p) || pn_data_type(p) != PN_MAP)
        return NULL;
    pn_data_enter(p);
    const char *found = NULL;
    while (pn_data_next(p)) {
        pn_bytes_t k = pn_data_type(p) == PN_STRING   ? pn_data_get_string(p)
                       : pn_data_type(p) == PN_SYMBOL ? pn_data_get_symbol(p)
                                                      : (pn_bytes_t){0, NULL};
        if (!pn_data_next(p))
            break;
        if (k.start && strlen(key) == k.size && strncasecmp(k.start, key, k.size) == 0) {
            if (pn_data_type(p) == PN_STRING)
                found = pn_data_get_string(p).start;
            else if (pn_data_type(p) == PN_SYMBOL)
                found = pn_data_get_symbol(p).start;
            break;
        }
    }
    pn_data_exit(p);
    return found;
}

/* Copies bytes b into out as a NUL-terminated string (cut at len - 1). */
static void copy_bytes(char *out, size_t len, pn_bytes_t b)
{
    size_t n = b.start ? (b.size < len - 1 ? b.size : len - 1) : 0;
    if (n)
        memcpy(out, b.start, n);
    out[n] = '\0';
}

/* An AMQP message id as text: a uuid in 8-4-4-4-12 lowercase, a ulong in decimal (amqp-protocol.md 3.2). */
static void id_text(pn_msgid_t id, char *out, size_t len)
{
    out[0] = '\0';
    switch (id.type) {
    case PN_STRING:
    case PN_SYMBOL:
    case PN_BINARY:
        copy_bytes(out, len, id.u.as_bytes);
        break;
    case PN_ULONG:
        snprintf(out, len, "%llu", (unsigned long long)id.u.as_ulong);
        break;
    case PN_UUID: {
        const unsigned char *b = (const unsigned char *)id.u.as_uuid.bytes;
        snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        break;
    }
    default:
        break;
    }
}

/* Sends msg on sending link l, pre-settled when settled. */
static void send_msg(pn_link_t *l, pn_message_t *msg, int settled)
{
    static unsigned long long tag_counter;
    char *buf = NULL;
    size_t cap = 4096;
    for (;;) {
        char *nb = realloc(buf, cap);
        if (nb == NULL) {
            free(buf);
            return;
        }
        buf = nb;
        size_t n = cap;
        int rc = pn_message_encode(msg, buf, &n);
        if (rc == 0) {
            unsigned long long tag = ++tag_counter;
            pn_delivery_t *d = pn_delivery(l, pn_dtag((const char *)&tag, sizeof tag));
            pn_link_send(l, buf, n);
            pn_link_advance(l);
            if (settled)
                pn_delivery_settle(d);
            break;
        }
        if (rc != PN_OVERFLOW || cap > 2 * MSG_MAX)
            break;
        cap *= 2;
    }
    free(buf);
}

/* The server's sending link for node in c whose name equals reply_to, else one in session ss,
 * else any (amqp-protocol.md 2.3: pyamqp and uamqp send no reply-to). */
static pn_link_t *reply_link(mh_amqp_conn *c, mh_amqp_node node, pn_session_t *ss, const char *reply_to)
{
    pn_link_t *any = NULL, *same = NULL;
    for (pn_link_t *l = pn_link_head(c->driver.connection, PN_LOCAL_ACTIVE); l;
         l = pn_link_next(l, PN_LOCAL_ACTIVE)) {
        mh_amqp_link *ctx = pn_link_get_context(l);
        if (!pn_link_is_sender(l) || ctx == NULL || ctx->node != node)
            continue;
        if (reply_to && (strcmp(pn_link_name(l), reply_to) == 0 ||
                         (pn_terminus_get_address(pn_link_remote_target(l)) &&
                          strcmp(pn_terminus_get_address(pn_link_remote_target(l)), reply_to) == 0)))
            return l;
        if (pn_link_session(l) == ss && same == NULL)
            same = l;
        if (any == NULL)
            any = l;
    }
    return same ? same : any;
}

/* Reads the whole delivery into a new message; NULL when it is too large or does not decode. */
static pn_message_t *read_message(pn_link_t *l, pn_delivery_t *d)
{
    size_t size = pn_delivery_pending(d);
    if (size > MSG_MAX)
        return NULL;
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return NULL;
    ssize_t n = pn_link_recv(l, buf, size);
    pn_message_t *msg = pn_message();
    if (n < 0 || pn_message_decode(msg, buf, (size_t)n) != 0) {
        pn_message_free(msg);
        msg = NULL;
    }
    free(buf);
    return msg;
}

static void settle(pn_delivery_t *d, uint64_t outcome, const char *cond, const char *desc)
{
    if (cond != NULL) {
        pn_condition_t *c = pn_disposition_condition(pn_delivery_local(d));
        pn_condition_set_name(c, cond);
        pn_condition_set_description(c, desc);
    }
    pn_delivery_update(d, outcome);
    pn_delivery_settle(d);
}

/* ---- authorization ---- */

static mh_err policy_lookup(void *ctx, const char *name, mh_policy *out)
{
    return mh_store_policy_get(ctx, name, out);
}

mh_err mh_amqp_authorize(mh_amqp_conn *c, const char *token, mh_status *st)
{
    unsigned rights = 0;
    long long se = 0;
    if (token != NULL && strstr(token, "skn=") == NULL && strstr(token, "%2Fdevices%2F") != NULL)
        return mh_fail(st, MH_ERR_UNAUTHORIZED,
                       "device connections over AMQP are not implemented by mockhub: use MQTT or MQTT over "
                       "WebSockets");
    mh_err err = mh_svcauth_check_amqp(token, c->hub->cfg.hostname, mh_amqp_now_ms() / 1000, policy_lookup,
                                       c->hub->store, &rights, &se, st);
    if (err != MH_OK)
        return err;
    if ((rights & MH_RIGHT_SERVICE_CONNECT) == 0)
        return mh_fail(st, MH_ERR_UNAUTHORIZED,
                       "Unauthorized: the policy lacks the ServiceConnect permission AMQP needs");
    c->rights |= rights;
    if (se > c->auth_expiry)
        c->auth_expiry = se;
    return MH_OK;
}

static int authorized(mh_amqp_conn *c)
{
    return (c->rights & MH_RIGHT_SERVICE_CONNECT) && c->auth_expiry > mh_amqp_now_ms() / 1000;
}

void mh_amqp_check_expiry(mh_amqp_conn *c, long long now_s)
{
    if (c->auth_expiry == 0 || c->auth_expiry > now_s || c->rights == 0)
        return;
    /* MOCK: what IoT Hub does on expiry is unconfirmed; Service Bus drops the links (amqp-protocol.md 2.5) */
    c->rights = 0;
    for (pn_link_t *l = pn_link_head(c->driver.connection, PN_LOCAL_ACTIVE); l;
         l = pn_link_next(l, PN_LOCAL_ACTIVE)) {
        mh_amqp_link *ctx = pn_link_get_context(l);
        if (ctx == NULL || ctx->node == MH_NODE_CBS)
            continue;
        pn_condition_set_name(pn_link_condition(l), "amqp:unauthorized-access");
        pn_condition_set_description(pn_link_condition(l),
                                     "The SAS token has expired; put a new one on $cbs");
        pn_link_close(l);
    }
}

/* ---- attach ---- */

void mh_amqp_on_attach(mh_amqp_conn *c, pn_link_t *l)
{
    int sender = pn_link_is_sender(l); /* our role: we send to the client */
    const char *addr = pn_terminus_get_address(sender ? pn_link_remote_source(l) : pn_link_remote_target(l));
    mh_amqp_addr a;
    char desc[400];
    if (addr == NULL || mh_amqp_addr_parse(addr, &a) != MH_OK) {
        link_refuse(l, "amqp:not-found", "The link address is missing or malformed");
        return;
    }
    switch (a.node) {
    case MH_NODE_CBS:
    case MH_NODE_MANAGEMENT:
        break;
    case MH_NODE_C2D:
    case MH_NODE_FEEDBACK:
    case MH_NODE_PARTITION:
        if (!authorized(c)) {
            link_refuse(l, "amqp:unauthorized-access",
                        "Unauthorized: put a valid SAS token on $cbs (or use SASL PLAIN) before attaching");
            return;
        }
        break;
    case MH_NODE_FILE_NOTIFICATIONS:
        link_refuse(l, "amqp:not-implemented", "mockhub does not implement file upload notifications");
        return;
    case MH_NODE_DEVICE:
        link_refuse(
            l, "amqp:not-implemented",
            "device links over AMQP are not implemented by mockhub: use MQTT or MQTT over WebSockets");
        return;
    case MH_NODE_UNKNOWN:
        snprintf(desc, sizeof desc, "The messaging entity '%.200s' could not be found", addr);
        link_refuse(l, "amqp:not-found", desc);
        return;
    }
    int want_sender = a.node == MH_NODE_FEEDBACK || a.node == MH_NODE_PARTITION;
    if (a.node != MH_NODE_CBS && a.node != MH_NODE_MANAGEMENT && sender != want_sender) {
        snprintf(desc, sizeof desc, "'%.200s' cannot be attached as a %s", addr,
                 sender ? "receiver" : "sender");
        link_refuse(l, "amqp:not-allowed", desc);
        return;
    }
    mh_amqp_link *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        link_refuse(l, "amqp:internal-error", "out of memory");
        return;
    }
    ctx->node = a.node;
    if (a.node == MH_NODE_PARTITION) {
        char entity[64];
        mh_eh_entity_name(c->hub->cfg.hostname, entity, sizeof entity);
        if (strcasecmp(a.entity, entity) != 0 || a.partition >= c->hub->cfg.partitions) {
            free(ctx);
            snprintf(desc, sizeof desc,
                     "The messaging entity '%.200s' could not be found (event hub '%s' has partitions 0..%d)",
                     addr, entity, c->hub->cfg.partitions - 1);
            link_refuse(l, "amqp:not-found", desc);
            return;
        }
        ctx->partition = a.partition;
        /* the start position: the selector filter's string, whatever its descriptor */
        mh_eh_position pos = {.from = MH_EH_FROM_END};
        pn_data_t *f = pn_terminus_filter(pn_link_remote_source(l));
        const char *selector = NULL;
        pn_data_rewind(f);
        if (pn_data_next(f) && pn_data_type(f) == PN_MAP) {
            pn_data_enter(f);
            while (pn_data_next(f)) {
                if (!pn_data_next(f))
                    break;
                if (pn_data_type(f) == PN_DESCRIBED) {
                    pn_data_enter(f);
                    pn_data_next(f);
                    if (pn_data_next(f) && pn_data_type(f) == PN_STRING)
                        selector = pn_data_get_string(f).start;
                    pn_data_exit(f);
                } else if (pn_data_type(f) == PN_STRING)
                    selector = pn_data_get_string(f).start;
            }
            pn_data_exit(f);
        }
        if (mh_eh_position_parse(selector, &pos) != MH_OK) {
            free(ctx);
            snprintf(desc, sizeof desc, "The start position filter '%.200s' is not supported", selector);
            link_refuse(l, "com.microsoft:argument-error", desc);
            return;
        }
        long long after = 0;
        mh_err err = MH_OK;
        switch (pos.from) {
        case MH_EH_FROM_START:
            after = 0;
            break;
        case MH_EH_FROM_END:
            err = mh_store_telemetry_last_seq(c->hub->store, &after);
            break;
        case MH_EH_FROM_SEQ:
        case MH_EH_FROM_OFFSET:
            after = pos.inclusive ? pos.value - 1 : pos.value;
            break;
        case MH_EH_FROM_TIME:
            err = mh_store_eventlog_after_time(c->hub->store, pos.value, pos.inclusive, &after);
            break;
        }
        if (err != MH_OK) {
            free(ctx);
            link_refuse(l, "amqp:internal-error", "cannot read the event log");
            return;
        }
        ctx->after_seq = after;
    }
    pn_link_set_context(l, ctx);
    pn_link_open(l);
    if (!sender)
        pn_link_flow(l, 100); /* rhea sends nothing without credit (amqp-protocol.md 1.5) */
}

/* ---- $cbs ---- */

static void reply(mh_amqp_conn *c, mh_amqp_node node, pn_link_t *req_link, pn_message_t *req, int status,
                  const char *desc, const char *cond, pn_message_t *rsp)
{
    pn_link_t *out = reply_link(c, node, pn_link_session(req_link), pn_message_get_reply_to(req));
    if (out == NULL) {
        fprintf(stderr, "mockhub: amqp #%d: no link to answer a %s request on\n", c->id,
                node == MH_NODE_CBS ? "$cbs" : "$management");
        return;
    }
    /* the request id with its own type (amqp-protocol.md 2.3, 7.4) */
    pn_message_set_correlation_id(rsp, pn_message_get_id(req));
    if (pn_message_get_reply_to(req))
        pn_message_set_address(rsp, pn_message_get_reply_to(req));
    pn_data_t *p = pn_message_properties(rsp);
    pn_data_put_map(p);
    pn_data_enter(p);
    pn_data_put_string(p, pn_bytes(strlen("status-code"), "status-code"));
    pn_data_put_int(p, status);
    pn_data_put_string(p, pn_bytes(strlen("status-description"), "status-description"));
    pn_data_put_string(p, pn_bytes(strlen(desc), desc));
    if (cond != NULL) {
        pn_data_put_string(p, pn_bytes(strlen("error-condition"), "error-condition"));
        pn_data_put_string(p, pn_bytes(strlen(cond), cond));
    }
    pn_data_exit(p);
    send_msg(out, rsp, 1);
}

static void on_cbs(mh_amqp_conn *c, pn_link_t *l, pn_message_t *req)
{
    pn_message_t *rsp = pn_message();
    const char *op = app_prop(req, "operation");
    const char *token = NULL;
    pn_data_t *body = pn_message_body(req);
    pn_data_rewind(body);
    if (pn_data_next(body) && pn_data_type(body) == PN_STRING)
        token = pn_data_get_string(body).start;
    mh_status st = {0};
    if (op == NULL || strcmp(op, "put-token") != 0)
        reply(c, MH_NODE_CBS, l, req, 400, "only put-token is supported on $cbs", "amqp:not-implemented",
              rsp);
    else if (token == NULL)
        reply(c, MH_NODE_CBS, l, req, 400, "put-token needs the token as an amqp-value string body",
              "com.microsoft:argument-error", rsp);
    else {
        char tok[2048];
        copy_bytes(tok, sizeof tok, pn_data_get_string(body));
        if (mh_amqp_authorize(c, tok, &st) == MH_OK)
            reply(c, MH_NODE_CBS, l, req, 200, "OK", NULL, rsp);
        else {
            fprintf(stderr, "mockhub: amqp #%d: put-token refused: %s\n", c->id, st.text);
            reply(c, MH_NODE_CBS, l, req, 401, st.text, "amqp:unauthorized-access", rsp);
        }
    }
    pn_message_free(rsp);
}

/* ---- $management (amqp-protocol.md 5.2) ---- */

static void map_str(pn_data_t *d, const char *k, const char *v)
{
    pn_data_put_string(d, pn_bytes(strlen(k), k));
    pn_data_put_string(d, pn_bytes(strlen(v), v));
}

static void on_management(mh_amqp_conn *c, pn_link_t *l, pn_message_t *req)
{
    pn_message_t *rsp = pn_message();
    const char *op = app_prop(req, "operation");
    const char *type = app_prop(req, "type");
    const char *name = app_prop(req, "name");
    const char *part = app_prop(req, "partition");
    char entity[64], desc[300];
    mh_eh_entity_name(c->hub->cfg.hostname, entity, sizeof entity);
    int n = c->hub->cfg.partitions;
    if (!authorized(c))
        reply(c, MH_NODE_MANAGEMENT, l, req, 401, "Unauthorized: put a valid SAS token on $cbs first",
              "amqp:unauthorized-access", rsp);
    else if (op == NULL || strcmp(op, "READ") != 0 || type == NULL)
        reply(c, MH_NODE_MANAGEMENT, l, req, 400,
              "only READ of com.microsoft:eventhub or :partition is supported", "amqp:not-implemented", rsp);
    else if (name == NULL || strcasecmp(name, entity) != 0) {
        snprintf(desc, sizeof desc, "The messaging entity '%.100s' could not be found (this hub's is '%s')",
                 name ? name : "", entity);
        reply(c, MH_NODE_MANAGEMENT, l, req, 404, desc, "amqp:not-found", rsp);
    } else if (strcmp(type, "com.microsoft:eventhub") == 0) {
        pn_data_t *b = pn_message_body(rsp);
        pn_data_put_map(b);
        pn_data_enter(b);
        map_str(b, "name", entity);
        map_str(b, "type", "com.microsoft:eventhub");
        pn_data_put_string(b, pn_bytes(strlen("created_at"), "created_at"));
        pn_data_put_timestamp(b, 1700000000000LL);
        pn_data_put_string(b, pn_bytes(strlen("partition_count"), "partition_count"));
        pn_data_put_int(b, n);
        pn_data_put_string(b, pn_bytes(strlen("partition_ids"), "partition_ids"));
        pn_data_put_array(b, false, PN_STRING);
        pn_data_enter(b);
        for (int i = 0; i < n; i++) {
            char id[16];
            snprintf(id, sizeof id, "%d", i);
            pn_data_put_string(b, pn_bytes(strlen(id), id));
        }
        pn_data_exit(b);
        pn_data_exit(b);
        reply(c, MH_NODE_MANAGEMENT, l, req, 200, "OK", NULL, rsp);
    } else if (strcmp(type, "com.microsoft:partition") == 0) {
        char *end = NULL;
        long p = part ? strtol(part, &end, 10) : -1;
        mh_partition_info info;
        if (part == NULL || *end != '\0' || p < 0 || p >= n) {
            snprintf(desc, sizeof desc, "Partition '%.40s' does not exist (0..%d)", part ? part : "", n - 1);
            reply(c, MH_NODE_MANAGEMENT, l, req, 404, desc, "amqp:not-found", rsp);
        } else if (mh_store_eventlog_info(c->hub->store, (int)p, n, &info) != MH_OK)
            reply(c, MH_NODE_MANAGEMENT, l, req, 500, "cannot read the event log", "amqp:internal-error",
                  rsp);
        else {
            char off[32];
            snprintf(off, sizeof off, "%lld", info.last_seq);
            pn_data_t *b = pn_message_body(rsp);
            pn_data_put_map(b);
            pn_data_enter(b);
            map_str(b, "name", entity);
            map_str(b, "type", "com.microsoft:partition");
            map_str(b, "partition", part);
            pn_data_put_string(b, pn_bytes(strlen("begin_sequence_number"), "begin_sequence_number"));
            pn_data_put_long(b, info.begin_seq < 0 ? 0 : info.begin_seq);
            pn_data_put_string(
                b, pn_bytes(strlen("last_enqueued_sequence_number"), "last_enqueued_sequence_number"));
            pn_data_put_long(b, info.last_seq);
            map_str(b, "last_enqueued_offset", off);
            pn_data_put_string(b, pn_bytes(strlen("last_enqueued_time_utc"), "last_enqueued_time_utc"));
            pn_data_put_timestamp(b, info.last_ms);
            pn_data_put_string(b, pn_bytes(strlen("is_partition_empty"), "is_partition_empty"));
            pn_data_put_bool(b, info.last_seq < 0);
            pn_data_exit(b);
            reply(c, MH_NODE_MANAGEMENT, l, req, 200, "OK", NULL, rsp);
        }
    } else {
        snprintf(desc, sizeof desc, "READ of type '%.100s' is not supported", type);
        reply(c, MH_NODE_MANAGEMENT, l, req, 400, desc, "amqp:not-implemented", rsp);
    }
    pn_message_free(rsp);
}

/* ---- C2D from the service (amqp-protocol.md 3) ---- */

/* The device of "/devices/{url-encoded id}/messages/devicebound"; 0 when to is not that. */
static int c2d_device(const char *to, char *out, size_t len)
{
    static const char pre[] = "/devices/", post[] = "/messages/devicebound";
    if (to == NULL || strncmp(to, pre, sizeof pre - 1) != 0)
        return 0;
    const char *id = to + sizeof pre - 1;
    const char *slash = strchr(id, '/');
    if (slash == NULL || strcasecmp(slash, post) != 0 || slash == id)
        return 0;
    return iot_url_decode(id, (size_t)(slash - id), out, len, NULL) == IOT_OK;
}

/* The application properties as a JSON object of strings (iothub-ack taken out into *ack). */
static char *c2d_props(pn_message_t *msg, mh_c2d_ack *ack, int *bad_ack)
{
    cJSON *o = cJSON_CreateObject();
    pn_data_t *p = pn_message_properties(msg);
    pn_data_rewind(p);
    if (o && pn_data_next(p) && pn_data_type(p) == PN_MAP) {
        pn_data_enter(p);
        while (pn_data_next(p)) {
            char key[256], val[1024];
            if (pn_data_type(p) != PN_STRING && pn_data_type(p) != PN_SYMBOL) {
                pn_data_next(p);
                continue;
            }
            copy_bytes(key, sizeof key,
                       pn_data_type(p) == PN_STRING ? pn_data_get_string(p) : pn_data_get_symbol(p));
            if (!pn_data_next(p))
                break;
            val[0] = '\0';
            switch (pn_data_type(p)) {
            case PN_STRING:
                copy_bytes(val, sizeof val, pn_data_get_string(p));
                break;
            case PN_SYMBOL:
                copy_bytes(val, sizeof val, pn_data_get_symbol(p));
                break;
            case PN_INT:
                snprintf(val, sizeof val, "%d", pn_data_get_int(p));
                break;
            case PN_LONG:
                snprintf(val, sizeof val, "%lld", (long long)pn_data_get_long(p));
                break;
            case PN_UINT:
                snprintf(val, sizeof val, "%u", pn_data_get_uint(p));
                break;
            case PN_BOOL:
                snprintf(val, sizeof val, "%s", pn_data_get_bool(p) ? "true" : "false");
                break;
            case PN_DOUBLE:
                snprintf(val, sizeof val, "%.17g", pn_data_get_double(p));
                break;
            default:
                break;
            }
            if (strcasecmp(key, "iothub-ack") == 0) {
                if (mh_c2d_ack_parse(val, ack) != MH_OK)
                    *bad_ack = 1;
                continue;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(o, key);
            cJSON_AddStringToObject(o, key, val);
        }
        pn_data_exit(p);
    }
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static void on_c2d(mh_amqp_conn *c, pn_delivery_t *d, pn_message_t *msg)
{
    mh_c2d_msg m;
    mh_status st = {0};
    int bad_ack = 0;
    memset(&m, 0, sizeof m);
    if (!authorized(c)) {
        settle(d, PN_REJECTED, "amqp:unauthorized-access", "Unauthorized: the SAS token has expired");
        return;
    }
    if (!c2d_device(pn_message_get_address(msg), m.device_id, sizeof m.device_id)) {
        settle(d, PN_REJECTED, "com.microsoft:argument-error",
               "properties.to must be /devices/{deviceId}/messages/devicebound");
        return;
    }
    id_text(pn_message_get_id(msg), m.message_id, sizeof m.message_id);
    id_text(pn_message_get_correlation_id(msg), m.correlation_id, sizeof m.correlation_id);
    copy_bytes(m.user_id, sizeof m.user_id, pn_message_get_user_id(msg));
    if (pn_message_get_content_type(msg))
        snprintf(m.content_type, sizeof m.content_type, "%s", pn_message_get_content_type(msg));
    if (pn_message_get_content_encoding(msg))
        snprintf(m.content_encoding, sizeof m.content_encoding, "%s", pn_message_get_content_encoding(msg));
    m.expiry_ms = pn_message_get_expiry_time(msg);
    m.props_json = c2d_props(msg, &m.ack, &bad_ack);
    pn_data_t *body = pn_message_body(msg);
    pn_data_rewind(body);
    pn_bytes_t b = {0, NULL};
    if (pn_data_next(body)) {
        if (pn_data_type(body) == PN_BINARY)
            b = pn_data_get_binary(body);
        else if (pn_data_type(body) == PN_STRING)
            b = pn_data_get_string(body);
    }
    m.body = (unsigned char *)b.start; /* borrowed: not cleaned up below */
    m.len = b.size;
    mh_err err =
        bad_ack ? mh_fail(&st, MH_ERR_ARGUMENT_INVALID, "iothub-ack must be none, positive, negative or full")
                : mh_hub_c2d_send(c->hub, &m, &st);
    free(m.props_json);
    switch (err) {
    case MH_OK:
        settle(d, PN_ACCEPTED, NULL, NULL);
        break;
    case MH_ERR_DEVICE_NOT_FOUND:
        settle(d, PN_REJECTED, "amqp:not-found", st.text);
        break;
    case MH_ERR_QUEUE_FULL: /* the SDK's DeviceMaximumQueueDepthExceededError (amqp-protocol.md 3.3) */
        settle(d, PN_REJECTED, "amqp:resource-limit-exceeded", st.text);
        break;
    case MH_ERR_TOO_LARGE:
        settle(d, PN_REJECTED, "amqp:link:message-size-exceeded", st.text);
        break;
    case MH_ERR_ARGUMENT_INVALID:
        settle(d, PN_REJECTED, "com.microsoft:argument-error", st.text);
        break;
    default:
        settle(d, PN_REJECTED, "amqp:internal-error", st.text[0] ? st.text : "internal error");
        break;
    }
}

/* Proton coalesces dispositions and writes them after the transfers of the same pass, so a reply sent
 * right after accepting its request would reach the client first. uamqp-c (python3-uamqp, az CLI) then
 * fails the operation ("Did not receive send confirmation for pending operation"). Producing the
 * transport's output now puts the request's DISPOSITION on the wire before the reply's TRANSFER; the
 * bytes stay in the driver's write buffer until the writer takes (and pads) them. */
static void flush_disposition(mh_amqp_conn *c)
{
    (void)pn_connection_driver_write_buffer(&c->driver);
}

void mh_amqp_on_delivery(mh_amqp_conn *c, pn_link_t *l, pn_delivery_t *d)
{
    mh_amqp_link *ctx = pn_link_get_context(l);
    pn_message_t *msg = read_message(l, d);
    pn_link_advance(l);
    if (msg == NULL) {
        settle(d, PN_REJECTED, "amqp:decode-error", "the message is too large or does not decode");
    } else if (ctx == NULL) {
        settle(d, PN_REJECTED, "amqp:not-found", "this link serves nothing");
    } else {
        switch (ctx->node) {
        case MH_NODE_CBS:
            settle(d, PN_ACCEPTED, NULL, NULL);
            flush_disposition(c);
            on_cbs(c, l, msg);
            break;
        case MH_NODE_MANAGEMENT:
            settle(d, PN_ACCEPTED, NULL, NULL);
            flush_disposition(c);
            on_management(c, l, msg);
            break;
        case MH_NODE_C2D:
            on_c2d(c, d, msg);
            break;
        default:
            settle(d, PN_REJECTED, "amqp:not-allowed", "this link does not take messages");
            break;
        }
    }
    pn_message_free(msg);
    if (pn_link_credit(l) < 50)
        pn_link_flow(l, 100 - pn_link_credit(l));
}

/* ---- sending: feedback and events ---- */

static void put_ann_string(pn_data_t *a, const char *k, const char *v)
{
    pn_data_put_symbol(a, pn_bytes(strlen(k), k));
    pn_data_put_string(a, pn_bytes(strlen(v), v));
}

static void send_event(pn_link_t *l, const mh_event *e, int settled)
{
    pn_message_t *msg = pn_message();
    cJSON *props = cJSON_Parse(e->props_json ? e->props_json : "{}");
    const cJSON *it = NULL;
    char seqtext[32];
    int any_app = 0;
    cJSON_ArrayForEach(it, props)
    {
        if (!cJSON_IsString(it) || it->string == NULL)
            continue;
        const char *k = it->string, *v = it->valuestring;
        if (strcmp(k, "$.mid") == 0) {
            pn_msgid_t id = {.type = PN_STRING};
            id.u.as_bytes = pn_bytes(strlen(v), v);
            pn_message_set_id(msg, id);
        } else if (strcmp(k, "$.cid") == 0) {
            pn_msgid_t id = {.type = PN_STRING};
            id.u.as_bytes = pn_bytes(strlen(v), v);
            pn_message_set_correlation_id(msg, id);
        } else if (strcmp(k, "$.uid") == 0)
            pn_message_set_user_id(msg, pn_bytes(strlen(v), v));
        else if (strcmp(k, "$.ct") == 0)
            pn_message_set_content_type(msg, v);
        else if (strcmp(k, "$.ce") == 0)
            pn_message_set_content_encoding(msg, v);
        else if (strncmp(k, "$.", 2) != 0) {
            pn_data_t *p = pn_message_properties(msg);
            if (!any_app) {
                pn_data_put_map(p);
                pn_data_enter(p);
                any_app = 1;
            }
            pn_data_put_string(p, pn_bytes(strlen(k), k));
            pn_data_put_string(p, pn_bytes(strlen(v), v));
        }
    }
    if (any_app)
        pn_data_exit(pn_message_properties(msg));
    /* the annotations real readers use (amqp-protocol.md 5.4) */
    pn_data_t *a = pn_message_annotations(msg);
    pn_data_put_map(a);
    pn_data_enter(a);
    pn_data_put_symbol(a, pn_bytes(strlen("x-opt-sequence-number"), "x-opt-sequence-number"));
    pn_data_put_long(a, e->seq);
    snprintf(seqtext, sizeof seqtext, "%lld", e->seq);
    put_ann_string(a, "x-opt-offset", seqtext);
    pn_data_put_symbol(a, pn_bytes(strlen("x-opt-enqueued-time"), "x-opt-enqueued-time"));
    pn_data_put_timestamp(a, e->enqueued_ms);
    put_ann_string(a, "iothub-connection-device-id", e->device_id);
    if (e->module_id[0]) /* AZURE: only for modules (amqp-protocol.md 5.4) */
        put_ann_string(a, "iothub-connection-module-id", e->module_id);
    put_ann_string(a, "iothub-connection-auth-method",
                   e->module_id[0] ? "{\"scope\":\"module\",\"type\":\"sas\",\"issuer\":\"iothub\","
                                     "\"acceptingIpFilterRule\":null}"
                                   : "{\"scope\":\"device\",\"type\":\"sas\",\"issuer\":\"iothub\","
                                     "\"acceptingIpFilterRule\":null}");
    pn_data_put_symbol(a, pn_bytes(strlen("iothub-enqueuedtime"), "iothub-enqueuedtime"));
    pn_data_put_timestamp(a, e->enqueued_ms);
    put_ann_string(a, "iothub-message-source", "Telemetry");
    pn_data_exit(a);
    pn_data_put_binary(pn_message_body(msg), pn_bytes(e->len, (const char *)e->body));
    pn_message_set_inferred(msg, true); /* a data section, not an amqp-value */
    send_msg(l, msg, settled);
    cJSON_Delete(props);
    pn_message_free(msg);
}

static void pump_partition(mh_amqp_conn *c, pn_link_t *l, mh_amqp_link *ctx)
{
    mh_event evs[EVENTS_PER_PUMP];
    int settled = pn_link_remote_snd_settle_mode(l) == PN_SND_SETTLED;
    while (pn_link_credit(l) > 0) {
        int want = pn_link_credit(l) < EVENTS_PER_PUMP ? pn_link_credit(l) : EVENTS_PER_PUMP, n = 0;
        if (mh_store_eventlog_read(c->hub->store, ctx->partition, c->hub->cfg.partitions, ctx->after_seq,
                                   want, evs, &n) != MH_OK ||
            n == 0)
            return;
        for (int i = 0; i < n; i++) {
            send_event(l, &evs[i], settled);
            ctx->after_seq = evs[i].seq;
            mh_event_cleanup(&evs[i]);
        }
    }
}

static void pump_feedback(mh_amqp_conn *c, pn_link_t *l)
{
    while (pn_link_credit(l) > 0) {
        char *json = mh_hub_feedback_take(c->hub, MH_C2D_FEEDBACK_BATCH);
        if (json == NULL)
            return;
        pn_message_t *msg = pn_message();
        char hub[64], id[40];
        static unsigned long long fb_counter;
        mh_eh_entity_name(c->hub->cfg.hostname, hub, sizeof hub);
        snprintf(id, sizeof id, "feedback-%llu-%lld", ++fb_counter, mh_amqp_now_ms());
        pn_msgid_t mid = {.type = PN_STRING};
        mid.u.as_bytes = pn_bytes(strlen(id), id);
        pn_message_set_id(msg, mid);
        pn_message_set_content_type(msg, "application/vnd.microsoft.iothub.feedback.json");
        pn_message_set_user_id(msg, pn_bytes(strlen(hub), hub));
        pn_data_put_binary(pn_message_body(msg), pn_bytes(strlen(json), json));
        pn_message_set_inferred(msg, true);
        /* MOCK: feedback is sent pre-settled (Node's receiver auto-accepts); a batch is what is pending */
        send_msg(l, msg, 1);
        pn_message_free(msg);
        free(json);
    }
}

void mh_amqp_pump(mh_amqp_conn *c, pn_link_t *l)
{
    mh_amqp_link *ctx = pn_link_get_context(l);
    if (ctx == NULL || !(pn_link_state(l) & PN_LOCAL_ACTIVE))
        return;
    if (ctx->node == MH_NODE_PARTITION)
        pump_partition(c, l, ctx);
    else if (ctx->node == MH_NODE_FEEDBACK)
        pump_feedback(c, l);
}
