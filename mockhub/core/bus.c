/* bus.c - encode and decode the $mockhub/... messages between the broker plugin and the daemon
 * (bus.h). One table says each kind's topic and shape; event payloads are small JSON objects
 * parsed with cJSON and written with snprintf, byte for byte what the plugin has always sent.
 */
#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define BUS_PREFIX "$mockhub/"

typedef enum shape {
    SHAPE_ID_TOPIC, /* prefix{id}/{azure topic} */
    SHAPE_ID,       /* prefix{id} */
    SHAPE_EXACT     /* the topic itself */
} shape;

typedef enum body {
    BODY_RAW,    /* FROM/TO: the payload as is */
    BODY_NONE,   /* KICK/RESYNC: ignored, sent empty */
    BODY_JSON,   /* events (EV_(UN)DELIVERED: with an Azure topic, like FROM/TO) */
    BODY_DECIMAL /* SYNC: the token, REFUSE: the count, as decimal text */
} body;

static const struct {
    const char *topic; /* prefix for SHAPE_ID*, whole topic for SHAPE_EXACT */
    shape shape;
    body body;
} kinds[MH_BUS_KIND_COUNT] = {
    [MH_BUS_FROM] = {"$mockhub/from/", SHAPE_ID_TOPIC, BODY_RAW},
    [MH_BUS_TO] = {"$mockhub/to/", SHAPE_ID_TOPIC, BODY_RAW},
    [MH_BUS_EV_CONNECTED] = {"$mockhub/ev/connected/", SHAPE_ID, BODY_JSON},
    [MH_BUS_EV_DISCONNECTED] = {"$mockhub/ev/disconnected/", SHAPE_ID, BODY_JSON},
    [MH_BUS_EV_SUBSCRIBED] = {"$mockhub/ev/subscribed/", SHAPE_ID, BODY_JSON},
    [MH_BUS_EV_UNSUBSCRIBED] = {"$mockhub/ev/unsubscribed/", SHAPE_ID, BODY_JSON},
    [MH_BUS_EV_READY] = {"$mockhub/ev/ready", SHAPE_EXACT, BODY_JSON},
    [MH_BUS_EV_SYNCED] = {"$mockhub/ev/synced", SHAPE_EXACT, BODY_JSON},
    [MH_BUS_EV_UNDELIVERED] = {"$mockhub/ev/undelivered/", SHAPE_ID_TOPIC, BODY_JSON},
    [MH_BUS_EV_DELIVERED] = {"$mockhub/ev/delivered/", SHAPE_ID_TOPIC, BODY_JSON},
    [MH_BUS_KICK] = {"$mockhub/kick/", SHAPE_ID, BODY_NONE},
    [MH_BUS_RESYNC] = {"$mockhub/resync", SHAPE_EXACT, BODY_NONE},
    [MH_BUS_SYNC] = {"$mockhub/sync", SHAPE_EXACT, BODY_DECIMAL},
    [MH_BUS_REFUSE] = {"$mockhub/refuse/", SHAPE_ID, BODY_DECIMAL},
    [MH_BUS_WAKE] = {"$mockhub/wake", SHAPE_EXACT, BODY_NONE},
};

#define FILTER_METHODS "$iothub/methods/POST/#"
#define FILTER_DESIRED "$iothub/twin/PATCH/properties/desired/#"
#define C2D_HEAD "devices/"
#define C2D_TAIL "/messages/devicebound/#"

unsigned mh_bus_sub_bit(const char *device_id, const char *filter)
{
    size_t n;

    if (device_id == NULL || filter == NULL)
        return 0;
    if (strcmp(filter, FILTER_METHODS) == 0)
        return MH_BUS_SUB_METHODS;
    if (strcmp(filter, FILTER_DESIRED) == 0)
        return MH_BUS_SUB_DESIRED;
    if (strchr(device_id, '/') != NULL || strncmp(filter, C2D_HEAD, strlen(C2D_HEAD)) != 0)
        return 0; /* modules: no C2D (topic.c refuses their devicebound filters anyway) */
    filter += strlen(C2D_HEAD);
    /* the az-C SDK subscribes with '+' (topic.c); delivery is targeted either way */
    if (filter[0] == '+' && strcmp(filter + 1, C2D_TAIL) == 0)
        return MH_BUS_SUB_C2D;
    n = strlen(device_id);
    if (n > 0 && strncmp(filter, device_id, n) == 0 && strcmp(filter + n, C2D_TAIL) == 0)
        return MH_BUS_SUB_C2D;
    return 0;
}

unsigned mh_bus_delivery_bit(const char *device_id, const char *azure_topic)
{
    static const char methods[] = "$iothub/methods/POST/",
                      desired[] = "$iothub/twin/PATCH/properties/desired/",
                      c2d_mid[] = "/messages/devicebound/";
    size_t n;

    if (device_id == NULL || azure_topic == NULL)
        return 0;
    if (strncmp(azure_topic, methods, sizeof methods - 1) == 0)
        return MH_BUS_SUB_METHODS;
    if (strncmp(azure_topic, desired, sizeof desired - 1) == 0)
        return MH_BUS_SUB_DESIRED;
    n = strlen(device_id);
    if (strchr(device_id, '/') == NULL && n > 0 && strncmp(azure_topic, C2D_HEAD, strlen(C2D_HEAD)) == 0 &&
        strncmp(azure_topic + strlen(C2D_HEAD), device_id, n) == 0 &&
        strncmp(azure_topic + strlen(C2D_HEAD) + n, c2d_mid, sizeof c2d_mid - 1) == 0)
        return MH_BUS_SUB_C2D;
    return 0;
}

int mh_bus_is_internal(const char *topic)
{
    return topic != NULL && strncmp(topic, BUS_PREFIX, strlen(BUS_PREFIX)) == 0;
}

/* ---- decoding ---- */

/* A JSON member that must be an integer in [0, MH_BUS_NUM_MAX]. */
static int json_uint(const cJSON *obj, const char *name, unsigned long long *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    double v;

    if (!cJSON_IsNumber(item))
        return 0;
    v = item->valuedouble;
    if (!(v >= 0 && v <= (double)MH_BUS_NUM_MAX) || (double)(unsigned long long)v != v)
        return 0;
    *out = (unsigned long long)v;
    return 1;
}

/* Decimal text: digits only, no sign, no spaces, at most MH_BUS_NUM_MAX. */
static int decimal(const char *s, size_t len, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i;

    if (s == NULL || len == 0 || len > 16)
        return 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    if (v > MH_BUS_NUM_MAX)
        return 0;
    *out = v;
    return 1;
}

/* The JSON body of an event kind into m; 0 when malformed. */
static int decode_json(mh_bus_kind kind, const void *payload, size_t len, mh_bus_msg *m)
{
    cJSON *obj = NULL;
    const cJSON *item;
    unsigned long long n = 0;
    int ok = 0;

    if (payload == NULL || len == 0)
        goto done;
    obj = cJSON_ParseWithLength(payload, len);
    if (!cJSON_IsObject(obj))
        goto done;
    switch (kind) {
    case MH_BUS_EV_CONNECTED:
        item = cJSON_GetObjectItemCaseSensitive(obj, "clean");
        if (!json_uint(obj, "gen", &m->gen) || !cJSON_IsBool(item))
            goto done;
        m->clean = cJSON_IsTrue(item);
        break;
    case MH_BUS_EV_DISCONNECTED:
    case MH_BUS_EV_UNDELIVERED:
    case MH_BUS_EV_DELIVERED:
        if (!json_uint(obj, "gen", &m->gen))
            goto done;
        break;
    case MH_BUS_EV_SUBSCRIBED:
    case MH_BUS_EV_UNSUBSCRIBED:
        item = cJSON_GetObjectItemCaseSensitive(obj, "filter");
        if (!json_uint(obj, "gen", &m->gen) || !cJSON_IsString(item) || item->valuestring[0] == '\0' ||
            strlen(item->valuestring) > MH_BUS_FILTER_MAX)
            goto done;
        strcpy(m->filter, item->valuestring);
        m->sub = mh_bus_sub_bit(m->id, m->filter);
        break;
    case MH_BUS_EV_READY:
        if (!json_uint(obj, "connections", &n))
            goto done;
        m->connections = (size_t)n;
        break;
    case MH_BUS_EV_SYNCED:
        if (!json_uint(obj, "token", &m->token))
            goto done;
        break;
    default:
        goto done;
    }
    ok = 1;
done:
    cJSON_Delete(obj);
    return ok;
}

/* 1 when s[0..n) is an identity with sep between its parts: 1..MH_IDENTITY_MAX bytes, no '/', '+',
 * '#' (MQTT level separator and wildcards; devices with '+' or '#' are refused at CONNECT, so no such
 * id is ever on the bus), at most one sep, each part 1..MH_ID_MAX bytes. */
static int identity_ok(const char *s, size_t n, char sep)
{
    const char *cut;
    size_t i;

    if (n == 0 || n > MH_IDENTITY_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '+' || s[i] == '#' || s[i] == '\0' || (s[i] == '/' && sep != '/') ||
            (s[i] == MH_BUS_ID_SEP && sep != MH_BUS_ID_SEP))
            return 0;
    }
    cut = memchr(s, sep, n);
    if (cut == NULL)
        return n <= MH_ID_MAX;
    return cut > s && (size_t)(cut - s) <= MH_ID_MAX && n - (size_t)(cut - s) - 1 >= 1 &&
           n - (size_t)(cut - s) - 1 <= MH_ID_MAX && memchr(cut + 1, sep, n - (size_t)(cut - s) - 1) == NULL;
}

/* Copies the id level s[0..n) into m->id, MH_BUS_ID_SEP back to '/'; 0 when it is no identity. */
static int take_id(const char *s, size_t n, mh_bus_msg *m)
{
    size_t i;

    if (!identity_ok(s, n, MH_BUS_ID_SEP))
        return 0;
    for (i = 0; i < n; i++)
        m->id[i] = s[i] == MH_BUS_ID_SEP ? '/' : s[i];
    m->id[n] = '\0';
    return 1;
}

mh_err mh_bus_decode(const char *topic, const void *payload, size_t len, mh_bus_msg *out)
{
    mh_bus_msg m;
    size_t k;

    if (topic == NULL || out == NULL || (payload == NULL && len > 0))
        return MH_ERR_ARGUMENT_INVALID;
    if (!mh_bus_is_internal(topic))
        return MH_ERR_NOT_FOUND;
    for (k = 0; k < MH_BUS_KIND_COUNT; k++) {
        size_t plen = strlen(kinds[k].topic);
        if (kinds[k].shape == SHAPE_EXACT ? strcmp(topic, kinds[k].topic) == 0
                                          : strncmp(topic, kinds[k].topic, plen) == 0)
            break;
    }
    if (k == MH_BUS_KIND_COUNT)
        return MH_ERR_NOT_FOUND;

    memset(&m, 0, sizeof m);
    m.kind = (mh_bus_kind)k;
    if (kinds[k].shape != SHAPE_EXACT) {
        const char *rest = topic + strlen(kinds[k].topic);
        if (kinds[k].shape == SHAPE_ID_TOPIC) {
            const char *slash = strchr(rest, '/');
            if (slash == NULL || slash[1] == '\0' || !take_id(rest, (size_t)(slash - rest), &m))
                return MH_ERR_ARGUMENT_INVALID;
            m.topic = slash + 1;
        } else if (!take_id(rest, strlen(rest), &m)) {
            return MH_ERR_ARGUMENT_INVALID;
        }
    }
    switch (kinds[k].body) {
    case BODY_RAW:
        m.payload = payload;
        m.len = len;
        break;
    case BODY_NONE:
        break;
    case BODY_DECIMAL:
        if (!decimal(payload, len, m.kind == MH_BUS_REFUSE ? &m.count : &m.token))
            return MH_ERR_ARGUMENT_INVALID;
        break;
    case BODY_JSON:
        if (!decode_json(m.kind, payload, len, &m))
            return MH_ERR_ARGUMENT_INVALID;
        break;
    }
    *out = m;
    return MH_OK;
}

int mh_bus_dispatch(const char *topic, const void *payload, size_t len,
                    const mh_bus_handler table[MH_BUS_KIND_COUNT], void *ctx)
{
    mh_bus_msg m;

    if (table == NULL || mh_bus_decode(topic, payload, len, &m) != MH_OK || table[m.kind] == NULL)
        return 0;
    table[m.kind](ctx, &m);
    return 1;
}

/* ---- encoding ---- */

/* An identity fit for the bus ("d" or "d/m", see identity_ok). */
static int id_ok(const char *id)
{
    return identity_ok(id, strnlen(id, MH_IDENTITY_MAX + 1), '/');
}

/* The id level of an identity: its '/' as MH_BUS_ID_SEP (malloc'd; NULL when out of memory). */
static char *id_level(const char *id)
{
    char *level = strdup(id), *slash;

    if (level != NULL && (slash = strchr(level, '/')) != NULL)
        *slash = MH_BUS_ID_SEP;
    return level;
}

/* Writes s as the inside of a JSON string (quotes and backslashes escaped, control bytes as
 * \u00XX). out must hold 6 * strlen(s) + 1 bytes. */
static void json_escape(char *out, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            *out++ = '\\';
            *out++ = (char)ch;
        } else if (ch < 0x20) {
            out += sprintf(out, "\\u%04x", ch);
        } else {
            *out++ = (char)ch;
        }
    }
    *out = '\0';
}

/* The payload of a non-raw kind, malloc'd; NULL when out of memory. */
static char *format_body(const mh_bus_msg *msg)
{
    char esc[6 * MH_BUS_FILTER_MAX + 1];
    char *s = NULL;
    int n = -1;

    switch (msg->kind) {
    case MH_BUS_EV_CONNECTED:
        n = asprintf(&s, "{\"gen\":%llu,\"clean\":%s}", msg->gen, msg->clean ? "true" : "false");
        break;
    case MH_BUS_EV_DISCONNECTED:
    case MH_BUS_EV_UNDELIVERED:
    case MH_BUS_EV_DELIVERED:
        n = asprintf(&s, "{\"gen\":%llu}", msg->gen);
        break;
    case MH_BUS_EV_SUBSCRIBED:
    case MH_BUS_EV_UNSUBSCRIBED:
        json_escape(esc, msg->filter);
        n = asprintf(&s, "{\"gen\":%llu,\"filter\":\"%s\"}", msg->gen, esc);
        break;
    case MH_BUS_EV_READY:
        n = asprintf(&s, "{\"connections\":%zu}", msg->connections);
        break;
    case MH_BUS_EV_SYNCED:
        n = asprintf(&s, "{\"token\":%llu}", msg->token);
        break;
    case MH_BUS_SYNC:
        n = asprintf(&s, "%llu", msg->token);
        break;
    case MH_BUS_REFUSE:
        n = asprintf(&s, "%llu", msg->count);
        break;
    default: /* KICK, RESYNC */
        s = strdup("");
        n = s ? 0 : -1;
        break;
    }
    return n < 0 ? NULL : s;
}

/* Whether the fields msg's kind uses are valid for the wire. */
static int fields_ok(const mh_bus_msg *msg)
{
    size_t flen;

    switch (msg->kind) {
    case MH_BUS_FROM:
    case MH_BUS_TO:
        return id_ok(msg->id) && msg->topic != NULL && msg->topic[0] != '\0' &&
               (msg->payload != NULL || msg->len == 0);
    case MH_BUS_EV_CONNECTED:
    case MH_BUS_EV_DISCONNECTED:
        return id_ok(msg->id) && msg->gen <= MH_BUS_NUM_MAX;
    case MH_BUS_EV_UNDELIVERED:
    case MH_BUS_EV_DELIVERED:
        return id_ok(msg->id) && msg->gen <= MH_BUS_NUM_MAX && msg->topic != NULL && msg->topic[0] != '\0';
    case MH_BUS_EV_SUBSCRIBED:
    case MH_BUS_EV_UNSUBSCRIBED:
        flen = strnlen(msg->filter, sizeof msg->filter);
        return id_ok(msg->id) && msg->gen <= MH_BUS_NUM_MAX && flen > 0 && flen <= MH_BUS_FILTER_MAX;
    case MH_BUS_EV_READY:
        return (unsigned long long)msg->connections <= MH_BUS_NUM_MAX;
    case MH_BUS_EV_SYNCED:
    case MH_BUS_SYNC:
        return msg->token <= MH_BUS_NUM_MAX;
    case MH_BUS_KICK:
        return id_ok(msg->id);
    case MH_BUS_REFUSE:
        return id_ok(msg->id) && msg->count <= MH_BUS_NUM_MAX;
    case MH_BUS_RESYNC:
    case MH_BUS_WAKE:
        return 1;
    default:
        return 0;
    }
}

mh_err mh_bus_encode(const mh_bus_msg *msg, char **out_topic, char **out_payload, size_t *out_len)
{
    char *topic = NULL, *payload = NULL, *level = NULL;
    size_t len = 0;
    int n;
    mh_err err = MH_ERR_ARGUMENT_INVALID;

    if (msg == NULL || out_topic == NULL || out_payload == NULL || out_len == NULL ||
        (unsigned)msg->kind >= MH_BUS_KIND_COUNT || !fields_ok(msg))
        goto cleanup;
    err = MH_ERR_NOMEM;
    if (kinds[msg->kind].shape != SHAPE_EXACT && (level = id_level(msg->id)) == NULL)
        goto cleanup;
    switch (kinds[msg->kind].shape) {
    case SHAPE_ID_TOPIC:
        n = asprintf(&topic, "%s%s/%s", kinds[msg->kind].topic, level, msg->topic);
        break;
    case SHAPE_ID:
        n = asprintf(&topic, "%s%s", kinds[msg->kind].topic, level);
        break;
    default:
        topic = strdup(kinds[msg->kind].topic);
        n = topic ? 0 : -1;
        break;
    }
    if (n < 0) {
        topic = NULL;
        goto cleanup;
    }
    if (kinds[msg->kind].body == BODY_RAW) {
        len = msg->len;
    } else {
        payload = format_body(msg);
        if (payload == NULL)
            goto cleanup;
        len = strlen(payload);
    }
    free(level);
    *out_topic = topic;
    *out_payload = payload;
    *out_len = len;
    return MH_OK;

cleanup:
    free(level);
    free(topic);
    free(payload);
    return err;
}
