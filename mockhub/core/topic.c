/* topic.c - the IoT Hub device and module topic set (iothub-protocol.md 1.5, 2, 3.1, 4): parsing of
 * device and module publishes, the publish/subscribe allow-lists the broker plugin enforces, and property bags.
 * Pure string code: no allocation, no I/O.
 */
#include "topic.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "iot_url.h"

#define TELEMETRY_MID "/messages/events"

/* The $iothub/... topics a device publishes on; the part after the prefix is "?query" except for
 * method responses ("{status}/?query"). */
static const struct {
    const char *prefix;
    mh_topic_kind kind;
} iothub_publish[] = {
    {"$iothub/twin/GET/?", MH_TOPIC_TWIN_GET},
    {"$iothub/twin/PATCH/properties/reported/?", MH_TOPIC_TWIN_PATCH_REPORTED},
    {"$iothub/methods/res/", MH_TOPIC_METHOD_RESPONSE},
};

/* Filters every device and module may subscribe to, whatever its id. */
static const char *const shared_filters[] = {
    "$iothub/methods/POST/#",
    "$iothub/twin/res/#",
    "$iothub/twin/PATCH/properties/desired/#",
};

/* The az-C SDK subscribes C2D with '+' (iothub-protocol.md 1.8); delivery is targeted, so the
 * wildcard never reaches other devices. Devices only: C2D is not a module feature. */
#define C2D_WILDCARD_FILTER "devices/+/messages/devicebound/#"

/* Topic prefixes the hub delivers to every device (replies are targeted at one client). */
static const char *const receive_prefixes[] = {
    "$iothub/methods/POST/",
    "$iothub/twin/res/",
    "$iothub/twin/PATCH/properties/desired/",
};

/* Parses a non-negative decimal long; 0 on success. */
static int parse_long(const char *s, size_t len, long *out)
{
    long n = 0;
    size_t i;

    if (len == 0 || len > 18)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    *out = n;
    return 0;
}

/* Parses an optionally negative decimal int (method status: any integer the app chose). */
static int parse_status(const char *s, size_t len, int *out)
{
    long n;
    int neg = 0;

    if (len > 0 && s[0] == '-') {
        neg = 1;
        s++;
        len--;
    }
    if (len > 10 || parse_long(s, len, &n) != 0 || n > INT_MAX)
        return -1;
    *out = neg ? (int)-n : (int)n;
    return 0;
}

/* Parses the query of a twin or method topic: "$rid=..[&$version=n][&other=..]". $rid is required
 * and kept as sent; $version is read only when want_version. */
/* Reads $rid (and $version when want_version). Scanning goes on past the first problem so that a
 * readable $rid is kept in t->rid for the error reply; the first problem is returned. */
static mh_err parse_query(const char *q, int want_version, mh_topic *t, mh_status *st)
{
    int have_rid = 0, have_version = 0;
    mh_err err = MH_OK;

    while (*q) {
        const char *amp = strchr(q, '&');
        size_t seg = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', seg);
        size_t klen = eq ? (size_t)(eq - q) : seg;
        const char *v = eq ? eq + 1 : q + seg;
        size_t vlen = (size_t)(q + seg - v);

        if (klen == 4 && memcmp(q, "$rid", 4) == 0) {
            if (have_rid) {
                if (err == MH_OK)
                    err = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "duplicate $rid in topic");
            } else if (vlen == 0 || vlen >= sizeof t->rid) {
                if (err == MH_OK)
                    err = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "$rid must be 1..%zu characters",
                                  sizeof t->rid - 1);
            } else {
                memcpy(t->rid, v, vlen);
                t->rid[vlen] = '\0';
                have_rid = 1;
            }
        } else if (want_version && klen == 8 && memcmp(q, "$version", 8) == 0) {
            if (have_version) {
                if (err == MH_OK)
                    err = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "duplicate $version in topic");
            } else if (parse_long(v, vlen, &t->version) != 0) {
                if (err == MH_OK)
                    err = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "$version must be a non-negative integer");
            } else {
                have_version = 1;
            }
        }
        /* unknown parameters are ignored, as the hub does */
        q += seg;
        if (*q == '&')
            q++;
    }
    if (err == MH_OK && !have_rid)
        err = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "topic has no $rid");
    return err;
}

/* Writes the topic base of identity into out: "devices/{d}" for a device, "devices/{d}/modules/{m}"
 * for a module ("{d}/{m}", identity.h). Returns its length, or 0 when identity is empty, has an
 * empty part or more than one '/', or the base does not fit. */
static size_t identity_base(const char *identity, char *out, size_t outsz)
{
    const char *slash = strchr(identity, '/');
    int n;

    if (!*identity || identity[0] == '/')
        return 0;
    if (!slash)
        n = snprintf(out, outsz, "devices/%s", identity);
    else if (slash[1] == '\0' || strchr(slash + 1, '/'))
        return 0;
    else
        n = snprintf(out, outsz, "devices/%.*s/modules/%s", (int)(slash - identity), identity, slash + 1);
    return n > 0 && (size_t)n < outsz ? (size_t)n : 0;
}

/* Room for "devices/{d}/modules/{m}" with ids of any length the hub admits (128 each). */
#define BASE_MAX 320

/* Walks a property bag, decoding each pair into out[] when out != NULL. */
static mh_err props_walk(const char *bag, mh_prop *out, int max, int *out_count, mh_status *st)
{
    int n = 0;
    char key[sizeof(((mh_prop *)0)->key)];
    char value[sizeof(((mh_prop *)0)->value)];

    while (*bag) {
        const char *amp = strchr(bag, '&');
        size_t seg = amp ? (size_t)(amp - bag) : strlen(bag);
        const char *eq = memchr(bag, '=', seg);
        size_t klen = eq ? (size_t)(eq - bag) : seg;
        const char *v = eq ? eq + 1 : bag + seg;
        size_t vlen = (size_t)(bag + seg - v);

        if (seg > 0) {
            if (klen == 0)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "property bag has an empty key");
            if (iot_url_decode(bag, klen, key, sizeof key, NULL) != IOT_OK)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                               "property key %.*s is badly encoded or longer than %zu bytes",
                               (int)(klen > 64 ? 64 : klen), bag, sizeof key - 1);
            if (iot_url_decode(v, vlen, value, sizeof value, NULL) != IOT_OK)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                               "value of property %s is badly encoded or longer than %zu bytes", key,
                               sizeof value - 1);
            if (n >= max)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "more than %d properties", max);
            if (out) {
                strcpy(out[n].key, key); /* same sizes: always fits */
                strcpy(out[n].value, value);
            }
            n++;
        }
        bag += seg;
        if (*bag == '&')
            bag++;
    }
    *out_count = n;
    return MH_OK;
}

mh_err mh_topic_props_parse(const char *bag, mh_prop *out, int max, int *out_count, mh_status *st)
{
    if (!bag || !out || !out_count || max < 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "no property bag");
    return props_walk(bag, out, max, out_count, st);
}

/* "devices/{d}/messages/events[/[bag][/]]" for device d itself, "devices/{d}/modules/{m}/messages/
 * events[/[bag][/]]" for module d/m itself (the module's output name, $.on, stays in the bag). */
static mh_err parse_telemetry(const char *device_id, const char *topic, mh_topic *t, mh_status *st)
{
    char base[BASE_MAX];
    size_t baselen = identity_base(device_id, base, sizeof base);
    const char *p = topic;
    size_t blen;
    int count;
    mh_err err;

    if (baselen == 0 || strncmp(p, base, baselen) != 0 || p[baselen] != '/')
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s %s may not publish on %s",
                       strchr(device_id, '/') ? "module" : "device", device_id, topic);
    p += baselen;
    if (strncmp(p, TELEMETRY_MID, strlen(TELEMETRY_MID)) != 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s may not publish on %s", device_id, topic);
    p += strlen(TELEMETRY_MID);
    if (*p != '\0' && *p != '/')
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s may not publish on %s", device_id, topic);
    if (*p == '/')
        p++;
    blen = strlen(p);
    if (blen > 0 && p[blen - 1] == '/') /* .NET appends one '/' after the bag */
        blen--;
    if (memchr(p, '/', blen))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "property bag contains an unencoded '/'");
    if (blen >= sizeof t->props)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "property bag longer than %zu bytes",
                       sizeof t->props - 1);
    memcpy(t->props, p, blen);
    t->props[blen] = '\0';
    err = props_walk(t->props, NULL, INT_MAX, &count, st);
    if (err != MH_OK)
        return err;
    t->kind = MH_TOPIC_TELEMETRY;
    return MH_OK;
}

mh_err mh_topic_parse_device_publish(const char *device_id, const char *topic, mh_topic *out, mh_status *st)
{
    mh_topic t;
    size_t i;
    mh_err err;

    if (!device_id || !*device_id || !topic || !out)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "no device id or topic");
    t.kind = MH_TOPIC_INVALID;
    t.rid[0] = '\0';
    t.version = -1;
    t.status = 0;
    t.props[0] = '\0';
    t.error[0] = '\0';

    if (strncmp(topic, "devices/", 8) == 0) {
        err = parse_telemetry(device_id, topic, &t, st);
        if (err != MH_OK)
            return err;
        memcpy(out, &t, sizeof t);
        return MH_OK;
    }
    for (i = 0; i < sizeof iothub_publish / sizeof iothub_publish[0]; i++) {
        const char *q;
        size_t plen = strlen(iothub_publish[i].prefix);

        if (strncmp(topic, iothub_publish[i].prefix, plen) != 0)
            continue;
        q = topic + plen;
        if (iothub_publish[i].kind == MH_TOPIC_METHOD_RESPONSE) {
            const char *slash = strchr(q, '/');
            if (!slash || slash[1] != '?' || parse_status(q, (size_t)(slash - q), &t.status) != 0)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                               "method response topic must be $iothub/methods/res/{status}/?$rid={rid}");
            q = slash + 2;
        }
        mh_status why = {0};
        err = parse_query(q, iothub_publish[i].kind == MH_TOPIC_TWIN_PATCH_REPORTED, &t, &why);
        if (err != MH_OK) {
            /* A twin request whose $rid can be read is answered (400), not dropped: the device
             * SDKs wait for ever for a reply. Method responses have nobody to tell. */
            if (iothub_publish[i].kind != MH_TOPIC_METHOD_RESPONSE && t.rid[0] != '\0') {
                t.kind = MH_TOPIC_TWIN_BAD;
                snprintf(t.error, sizeof t.error, "%.159s", why.text);
                memcpy(out, &t, sizeof t);
                return MH_OK;
            }
            return mh_fail(st, err, "%s", why.text);
        }
        t.kind = iothub_publish[i].kind;
        memcpy(out, &t, sizeof t);
        return MH_OK;
    }
    return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s may not publish on %s", device_id, topic);
}

int mh_topic_device_may_publish(const char *device_id, const char *topic)
{
    mh_topic t;

    return mh_topic_parse_device_publish(device_id, topic, &t, NULL) == MH_OK;
}

int mh_topic_device_may_subscribe(const char *device_id, const char *filter)
{
    static const char own_c2d_tail[] = "/messages/devicebound/#";
    static const char own_inputs_tail[] = "/inputs/#";
    char base[BASE_MAX];
    size_t i, baselen;

    if (!device_id || !*device_id || !filter || (baselen = identity_base(device_id, base, sizeof base)) == 0)
        return 0;
    for (i = 0; i < sizeof shared_filters / sizeof shared_filters[0]; i++) {
        if (strcmp(filter, shared_filters[i]) == 0)
            return 1;
    }
    if (strncmp(filter, base, baselen) != 0) /* also the C2D wildcard, for devices below */
        return !strchr(device_id, '/') && strcmp(filter, C2D_WILDCARD_FILTER) == 0;
    if (strchr(device_id, '/'))
        /* MOCK: a module may subscribe to its edge routing inputs, but mockhub has no edge routing:
         * nothing is ever delivered there. C2D (.../messages/devicebound/#) is not a module feature:
         * refused (SUBACK 0x80) like every filter outside a module's set. */
        return strcmp(filter + baselen, own_inputs_tail) == 0;
    return strcmp(filter + baselen, own_c2d_tail) == 0;
}

int mh_topic_device_may_receive(const char *device_id, const char *topic)
{
    static const char own_c2d_mid[] = "/messages/devicebound/";
    static const char own_inputs_mid[] = "/inputs/";
    char base[BASE_MAX];
    size_t i, baselen;
    const char *mid;

    if (!device_id || !*device_id || !topic || (baselen = identity_base(device_id, base, sizeof base)) == 0)
        return 0;
    for (i = 0; i < sizeof receive_prefixes / sizeof receive_prefixes[0]; i++) {
        if (strncmp(topic, receive_prefixes[i], strlen(receive_prefixes[i])) == 0)
            return 1;
    }
    mid = strchr(device_id, '/') ? own_inputs_mid : own_c2d_mid;
    return strncmp(topic, base, baselen) == 0 && strncmp(topic + baselen, mid, strlen(mid)) == 0;
}
