/* Pure IoT Hub device-protocol formatting and parsing (topics, username, property bags, replies,
 * backoff). Kept apart from the libmosquitto transport so unit tests reach every branch. */
#include "iotd_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot_url.h"

/* Appends formatted text at *pos; IOTD_E_NOSPACE when it does not fit. */
static iotd_err buf_printf(char *out, size_t outsz, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static iotd_err buf_printf(char *out, size_t outsz, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*pos >= outsz)
        return IOTD_E_NOSPACE;
    va_start(ap, fmt);
    n = vsnprintf(out + *pos, outsz - *pos, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outsz - *pos)
        return IOTD_E_NOSPACE;
    *pos += (size_t)n;
    return IOTD_OK;
}

/* Appends encodeURIComponent(s) at *pos. */
static iotd_err buf_encode(char *out, size_t outsz, size_t *pos, const char *s)
{
    size_t n;

    if (*pos >= outsz)
        return IOTD_E_NOSPACE;
    if (iot_url_encode(s, strlen(s), out + *pos, outsz - *pos) != IOT_OK)
        return IOTD_E_NOSPACE;
    n = strlen(out + *pos);
    *pos += n;
    return IOTD_OK;
}

static int empty(const char *s)
{
    return !s || !*s;
}

iotd_err iotd_proto_client_id(const char *device_id, const char *module_id, char *out, size_t outsz)
{
    size_t pos = 0;

    if (empty(device_id) || !out)
        return IOTD_E_INVALID;
    if (empty(module_id))
        return buf_printf(out, outsz, &pos, "%s", device_id);
    return buf_printf(out, outsz, &pos, "%s/%s", device_id, module_id);
}

iotd_err iotd_proto_username(const char *host, const char *client_id, char *out, size_t outsz)
{
    size_t pos = 0;
    iotd_err err;

    if (empty(host) || empty(client_id) || !out)
        return IOTD_E_INVALID;
    err = buf_printf(out, outsz, &pos, "%s/%s/?api-version=" IOTD_API_VERSION "&DeviceClientType=", host,
                     client_id);
    if (err == IOTD_OK)
        err = buf_encode(out, outsz, &pos, IOTD_CLIENT_TYPE);
    return err;
}

iotd_err iotd_proto_sas_resource(const char *host, const char *device_id, const char *module_id, char *out,
                                 size_t outsz)
{
    size_t pos = 0;

    if (empty(host) || empty(device_id) || !out)
        return IOTD_E_INVALID;
    if (empty(module_id))
        return buf_printf(out, outsz, &pos, "%s/devices/%s", host, device_id);
    return buf_printf(out, outsz, &pos, "%s/devices/%s/modules/%s", host, device_id, module_id);
}

/* System properties in the order the Node SDK (azure-iot-device-mqtt 1.16.4) serializes them. */
struct sysprop {
    const char *key_enc; /* already encoded ('$' -> %24) */
    size_t offset;
};

static const struct sysprop sysprops[] = {
    /* AZURE: sendOutputEvent puts $.on before the message's own system properties */
    {"%24.on", offsetof(iotd_message_props, output_name)},
    {"%24.mid", offsetof(iotd_message_props, message_id)},
    {"%24.cid", offsetof(iotd_message_props, correlation_id)},
    {"%24.uid", offsetof(iotd_message_props, user_id)},
    {"%24.to", offsetof(iotd_message_props, to)},
    {"%24.ct", offsetof(iotd_message_props, content_type)},
    {"%24.ce", offsetof(iotd_message_props, content_encoding)},
    {"%24.exp", offsetof(iotd_message_props, expiry_utc)},
};

iotd_err iotd_proto_telemetry_topic(const char *device_id, const char *module_id,
                                    const iotd_message_props *props, char *out, size_t outsz)
{
    size_t pos = 0, i;
    int first = 1;
    iotd_err err;

    if (empty(device_id) || !out || (props && !empty(props->output_name) && empty(module_id)))
        return IOTD_E_INVALID;
    if (empty(module_id))
        err = buf_printf(out, outsz, &pos, "devices/%s/messages/events/", device_id);
    else
        err = buf_printf(out, outsz, &pos, "devices/%s/modules/%s/messages/events/", device_id, module_id);
    if (err != IOTD_OK || !props)
        return err;
    for (i = 0; i < sizeof(sysprops) / sizeof(sysprops[0]); i++) {
        const char *v = *(const char *const *)((const char *)props + sysprops[i].offset);
        if (empty(v)) /* Node skips falsy values */
            continue;
        err = buf_printf(out, outsz, &pos, "%s%s=", first ? "" : "&", sysprops[i].key_enc);
        if (err == IOTD_OK)
            err = buf_encode(out, outsz, &pos, v);
        if (err != IOTD_OK)
            return err;
        first = 0;
    }
    for (i = 0; i < props->user_count; i++) {
        const char *k = props->user[i].key, *v = props->user[i].value;
        if (empty(k))
            return IOTD_E_INVALID;
        if (strcmp(k, "dt-subject") == 0)
            k = "$.sub";
        err = buf_printf(out, outsz, &pos, "%s", first ? "" : "&");
        if (err == IOTD_OK)
            err = buf_encode(out, outsz, &pos, k);
        if (err == IOTD_OK)
            err = buf_printf(out, outsz, &pos, "=");
        if (err == IOTD_OK)
            err = buf_encode(out, outsz, &pos, v ? v : "");
        if (err != IOTD_OK)
            return err;
        first = 0;
    }
    return IOTD_OK;
}

iotd_err iotd_proto_method_response_topic(int status, const char *rid, char *out, size_t outsz)
{
    size_t pos = 0;

    if (empty(rid) || !out)
        return IOTD_E_INVALID;
    return buf_printf(out, outsz, &pos, "$iothub/methods/res/%d/?$rid=%s", status, rid);
}

iotd_err iotd_proto_twin_get_topic(const char *rid, char *out, size_t outsz)
{
    size_t pos = 0;

    if (empty(rid) || !out)
        return IOTD_E_INVALID;
    return buf_printf(out, outsz, &pos, "$iothub/twin/GET/?$rid=%s", rid);
}

iotd_err iotd_proto_twin_patch_topic(const char *rid, char *out, size_t outsz)
{
    size_t pos = 0;

    if (empty(rid) || !out)
        return IOTD_E_INVALID;
    return buf_printf(out, outsz, &pos, "$iothub/twin/PATCH/properties/reported/?$rid=%s", rid);
}

/* Finds parameter `key` in query (text after '?', '&'-separated); returns its value and length. */
static const char *query_find(const char *query, const char *key, size_t *vlen)
{
    size_t klen = strlen(key);
    const char *p = query;

    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t seglen = amp ? (size_t)(amp - p) : strlen(p);
        if (seglen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            *vlen = seglen - klen - 1;
            return p + klen + 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static iotd_err copy_n(const char *s, size_t n, char *out, size_t outsz)
{
    if (!out || n >= outsz)
        return IOTD_E_NOSPACE;
    memcpy(out, s, n);
    out[n] = '\0';
    return IOTD_OK;
}

/* Parses a decimal integer of exactly len characters into *out (non-negative). */
static int parse_decimal(const char *s, size_t len, long long *out)
{
    long long n = 0;
    size_t i;

    if (len == 0 || len > 18)
        return 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        n = n * 10 + (s[i] - '0');
    }
    *out = n;
    return 1;
}

#define METHOD_PREFIX "$iothub/methods/POST/"

iotd_err iotd_proto_parse_method_request(const char *topic, char *name, size_t namesz, char *rid,
                                         size_t ridsz)
{
    const char *p, *end, *q, *v;
    size_t vlen = 0;
    iotd_err err;

    if (!topic || strncmp(topic, METHOD_PREFIX, strlen(METHOD_PREFIX)) != 0)
        return IOTD_E_INVALID;
    p = topic + strlen(METHOD_PREFIX);
    end = p + strcspn(p, "/?");
    if (end == p)
        return IOTD_E_INVALID;
    q = end;
    if (*q == '/')
        q++;
    if (*q != '?')
        return IOTD_E_INVALID;
    v = query_find(q + 1, "$rid", &vlen);
    if (!v || vlen == 0)
        return IOTD_E_INVALID;
    err = copy_n(p, (size_t)(end - p), name, namesz);
    if (err == IOTD_OK)
        err = copy_n(v, vlen, rid, ridsz);
    return err;
}

#define TWIN_RES_PREFIX "$iothub/twin/res/"

iotd_err iotd_proto_parse_twin_response(const char *topic, int *status, char *rid, size_t ridsz,
                                        long long *version)
{
    const char *p, *slash, *v;
    size_t vlen = 0;
    long long st = 0, ver = -1;

    if (!topic || !status || !version || strncmp(topic, TWIN_RES_PREFIX, strlen(TWIN_RES_PREFIX)) != 0)
        return IOTD_E_INVALID;
    p = topic + strlen(TWIN_RES_PREFIX);
    slash = strchr(p, '/');
    if (!slash || !parse_decimal(p, (size_t)(slash - p), &st) || st > 999)
        return IOTD_E_INVALID;
    if (slash[1] != '?')
        return IOTD_E_INVALID;
    v = query_find(slash + 2, "$rid", &vlen);
    if (!v || vlen == 0)
        return IOTD_E_INVALID;
    if (copy_n(v, vlen, rid, ridsz) != IOTD_OK)
        return IOTD_E_NOSPACE;
    v = query_find(slash + 2, "$version", &vlen);
    if (v && !parse_decimal(v, vlen, &ver))
        return IOTD_E_INVALID;
    *status = (int)st;
    *version = ver;
    return IOTD_OK;
}

#define DESIRED_PREFIX "$iothub/twin/PATCH/properties/desired/"

iotd_err iotd_proto_parse_desired_patch(const char *topic, long long *version)
{
    const char *p, *v;
    size_t vlen = 0;
    long long ver = -1;

    if (!topic || !version || strncmp(topic, DESIRED_PREFIX, strlen(DESIRED_PREFIX)) != 0)
        return IOTD_E_INVALID;
    p = topic + strlen(DESIRED_PREFIX);
    if (*p == '?') {
        v = query_find(p + 1, "$version", &vlen);
        if (v && !parse_decimal(v, vlen, &ver))
            return IOTD_E_INVALID;
    } else if (*p) {
        return IOTD_E_INVALID;
    }
    *version = ver;
    return IOTD_OK;
}

iotd_err iotd_proto_parse_hostport(const char *text, int default_port, char *host, size_t hostsz, int *port)
{
    const char *colon, *hend;
    long long n = default_port;

    if (empty(text) || !port)
        return IOTD_E_INVALID;
    if (text[0] == '[') {
        hend = strchr(text, ']');
        if (!hend || hend == text + 1)
            return IOTD_E_INVALID;
        colon = hend[1] == ':' ? hend + 1 : NULL;
        if (!colon && hend[1] != '\0')
            return IOTD_E_INVALID;
        text++;
    } else {
        colon = strrchr(text, ':');
        if (colon && strchr(text, ':') != colon)
            return IOTD_E_INVALID; /* bare IPv6 needs brackets */
        hend = colon ? colon : text + strlen(text);
        if (hend == text)
            return IOTD_E_INVALID;
    }
    if (colon && (!parse_decimal(colon + 1, strlen(colon + 1), &n) || n < 1 || n > 65535))
        return IOTD_E_INVALID;
    if (copy_n(text, (size_t)(hend - text), host, hostsz) != IOTD_OK)
        return IOTD_E_NOSPACE;
    *port = (int)n;
    return IOTD_OK;
}

unsigned iotd_proto_backoff_ms(unsigned attempt, unsigned base_ms, unsigned cap_ms, uint32_t rnd)
{
    unsigned long long d = base_ms ? base_ms : 1;
    unsigned half;

    while (attempt-- > 0 && d < cap_ms)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    half = (unsigned)(d / 2);
    return half + (unsigned)(rnd % ((uint32_t)(d - half) + 1));
}

int iotd_proto_connack_fatal(int rc)
{
    return rc == 1 || rc == 2 || rc == 4 || rc == 5;
}

const char *iotd_proto_connack_str(int rc)
{
    switch (rc) {
    case 0:
        return "accepted";
    case 1:
        return "refused: unacceptable protocol version";
    case 2:
        return "refused: identifier rejected (check DeviceId)";
    case 3:
        return "refused: server unavailable (IoT Hub answers this when the device is disabled)";
    case 4:
        return "refused: bad user name or password (check the SharedAccessKey / token)";
    case 5:
        return "refused: not authorized (wrong key, expired token, unknown or disabled device)";
    default:
        return "refused: unknown CONNACK code";
    }
}

/* ---- cloud-to-device messages (iothub-protocol.md 4.2) */

#define C2D_INFIX "/messages/devicebound/"

int iotd_proto_is_c2d_topic(const char *topic)
{
    const char *infix;
    if (topic == NULL || strncmp(topic, "devices/", 8) != 0)
        return 0;
    infix = strstr(topic + 8, C2D_INFIX);
    /* the device id may not contain '/': the infix follows it directly */
    return infix != NULL && infix > topic + 8 && memchr(topic + 8, '/', (size_t)(infix - topic - 8)) == NULL;
}

/* URL-decodes in[0..len) into the store at *pos; returns the string or NULL (no room, bad escape). */
static const char *c2d_store(iotd_c2d_message *m, size_t *pos, const char *in, size_t len, iotd_err *err)
{
    size_t n = 0;
    char *at = m->store + *pos;
    if (iot_url_decode(in, len, at, sizeof(m->store) - *pos, &n) != IOT_OK) {
        /* decoding needs at most len + 1 bytes: a shorter room means no space, else a bad escape */
        *err = sizeof(m->store) - *pos <= len ? IOTD_E_NOSPACE : IOTD_E_INVALID;
        return NULL;
    }
    *pos += n + 1;
    return at;
}

iotd_err iotd_proto_parse_c2d(const char *topic, iotd_c2d_message *out)
{
    iotd_c2d_message *r; /* built apart so that out is written only on success */
    const char *bag, *p;
    size_t pos = 0;
    iotd_err err = IOTD_OK;

    if (!iotd_proto_is_c2d_topic(topic) || out == NULL)
        return IOTD_E_INVALID;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return IOTD_E_NOMEM;
    r->store[pos++] = '\0'; /* "" for the absent ones */
    r->message_id = r->correlation_id = r->user_id = r->to = r->content_type = r->content_encoding =
        r->expiry_utc = r->ack = r->store;
    bag = strstr(topic + 8, C2D_INFIX) + strlen(C2D_INFIX);
    for (p = bag; *p != '\0';) {
        size_t plen = strcspn(p, "&");
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        const char *key, *value;
        if (plen == 0) {
            p++;
            continue;
        }
        key = c2d_store(r, &pos, p, klen, &err);
        value = key ? c2d_store(r, &pos, eq ? eq + 1 : "", eq ? plen - klen - 1 : 0, &err) : NULL;
        if (value == NULL)
            goto done;
        if (strcmp(key, "$.mid") == 0)
            r->message_id = value;
        else if (strcmp(key, "$.cid") == 0)
            r->correlation_id = value;
        else if (strcmp(key, "$.uid") == 0)
            r->user_id = value;
        else if (strcmp(key, "$.to") == 0)
            r->to = value;
        else if (strcmp(key, "$.ct") == 0)
            r->content_type = value;
        else if (strcmp(key, "$.ce") == 0)
            r->content_encoding = value;
        else if (strcmp(key, "$.exp") == 0)
            r->expiry_utc = value;
        else if (strcmp(key, "iothub-ack") == 0)
            r->ack = value;
        else {
            if (r->prop_count == IOTD_C2D_MAX_PROPS) {
                err = IOTD_E_NOSPACE;
                goto done;
            }
            r->props[r->prop_count].key = key;
            r->props[r->prop_count].value = value;
            r->prop_count++;
        }
        p += plen;
    }
    /* the strings point into r->store: move them to out's store */
    memcpy(out->store, r->store, sizeof(r->store));
#define REBASE(f) out->f = out->store + (r->f - r->store)
    REBASE(message_id);
    REBASE(correlation_id);
    REBASE(user_id);
    REBASE(to);
    REBASE(content_type);
    REBASE(content_encoding);
    REBASE(expiry_utc);
    REBASE(ack);
#undef REBASE
    out->prop_count = r->prop_count;
    for (size_t i = 0; i < r->prop_count; i++) {
        out->props[i].key = out->store + (r->props[i].key - r->store);
        out->props[i].value = out->store + (r->props[i].value - r->store);
    }
done:
    free(r);
    return err;
}
