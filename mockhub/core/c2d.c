/* c2d.c - cloud-to-device message rules: limits, ack modes, the device's MQTT topic, feedback
 * records. Pure. Follows iothub-protocol.md 4.2 and amqp-protocol.md 4. */
#include "c2d.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "iot_url.h"

void mh_c2d_msg_cleanup(mh_c2d_msg *m)
{
    if (m == NULL)
        return;
    free(m->props_json);
    free(m->body);
    m->props_json = NULL;
    m->body = NULL;
}

static const char *const ack_names[] = {"none", "positive", "negative", "full"};

mh_err mh_c2d_ack_parse(const char *text, mh_c2d_ack *out)
{
    if (text == NULL) {
        *out = MH_C2D_ACK_NONE;
        return MH_OK;
    }
    for (int i = 0; i < 4; i++)
        if (strcasecmp(text, ack_names[i]) == 0) {
            *out = (mh_c2d_ack)i;
            return MH_OK;
        }
    return MH_ERR_ARGUMENT_INVALID;
}

const char *mh_c2d_ack_name(mh_c2d_ack ack)
{
    return (unsigned)ack < 4 ? ack_names[ack] : "none";
}

int mh_c2d_ack_wants(mh_c2d_ack ack, mh_c2d_outcome outcome)
{
    if (ack == MH_C2D_ACK_FULL)
        return 1;
    if (outcome == MH_C2D_SUCCESS)
        return ack == MH_C2D_ACK_POSITIVE;
    return ack == MH_C2D_ACK_NEGATIVE;
}

const char *mh_c2d_outcome_name(mh_c2d_outcome outcome)
{
    static const char *const names[] = {"Success", "Expired", "DeliveryCountExceeded", "Rejected", "Purged"};
    return (unsigned)outcome < 5 ? names[outcome] : "Success";
}

mh_err mh_c2d_validate(mh_c2d_msg *m, long long now_ms, mh_status *st)
{
    if (m->device_id[0] == '\0')
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "the message has no device (properties.to)");
    if (m->len > MH_C2D_BODY_MAX)
        return mh_fail(st, MH_ERR_TOO_LARGE, "Message size %zu bytes exceeds the %d byte C2D limit", m->len,
                       MH_C2D_BODY_MAX);
    if (m->props_json != NULL && strlen(m->props_json) > MH_C2D_PROPS_MAX)
        return mh_fail(st, MH_ERR_TOO_LARGE, "application properties exceed %d bytes", MH_C2D_PROPS_MAX);
    if (m->expiry_ms == 0)
        m->expiry_ms = now_ms + MH_C2D_TTL_DEFAULT_MS;
    else if (m->expiry_ms <= now_ms)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "the message's expiry time is in the past");
    else if (m->expiry_ms > now_ms + MH_C2D_TTL_MAX_MS)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "the message's expiry time is more than 48 hours ahead");
    m->enqueued_ms = now_ms;
    return MH_OK;
}

/* Appends "&key=value" (URL-encoded; no '=' when value is NULL) to the growing buffer. */
static int bag_add(char **buf, size_t *len, size_t *cap, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = value ? strlen(value) : 0;
    size_t need = *len + 2 + 3 * (kl + vl) + 2;
    if (need > *cap) {
        size_t ncap = need * 2;
        char *n = realloc(*buf, ncap);
        if (n == NULL)
            return 0;
        *buf = n;
        *cap = ncap;
    }
    char *p = *buf + *len;
    if (*len > 0)
        *p++ = '&';
    if (iot_url_encode(key, kl, p, *cap - (size_t)(p - *buf)) != IOT_OK)
        return 0;
    p += strlen(p);
    if (value != NULL) {
        *p++ = '=';
        if (iot_url_encode(value, vl, p, *cap - (size_t)(p - *buf)) != IOT_OK)
            return 0;
        p += strlen(p);
    }
    *len = (size_t)(p - *buf);
    return 1;
}

mh_err mh_c2d_topic(const mh_c2d_msg *m, char **out)
{
    mh_err err = MH_ERR_NOMEM;
    size_t len = 0, cap = 256;
    char *bag = malloc(cap), *topic = NULL;
    cJSON *props = NULL;
    char to[200], exp[40];
    if (bag == NULL)
        return MH_ERR_NOMEM;
    bag[0] = '\0';
    snprintf(to, sizeof to, "/devices/%s/messages/devicebound", m->device_id);
    mh_c2d_iso_ms(m->expiry_ms, exp, sizeof exp);
    /* AZURE: the real hub's order: $.mid, $.to, then the other system properties, iothub-ack. */
    if ((m->message_id[0] && !bag_add(&bag, &len, &cap, "$.mid", m->message_id)) ||
        !bag_add(&bag, &len, &cap, "$.to", to) ||
        (m->correlation_id[0] && !bag_add(&bag, &len, &cap, "$.cid", m->correlation_id)) ||
        (m->user_id[0] && !bag_add(&bag, &len, &cap, "$.uid", m->user_id)) ||
        (m->content_type[0] && !bag_add(&bag, &len, &cap, "$.ct", m->content_type)) ||
        (m->content_encoding[0] && !bag_add(&bag, &len, &cap, "$.ce", m->content_encoding)) ||
        (m->expiry_ms > 0 && !bag_add(&bag, &len, &cap, "$.exp", exp)) ||
        !bag_add(&bag, &len, &cap, "iothub-ack", mh_c2d_ack_name(m->ack)))
        goto done;
    if (m->props_json != NULL && m->props_json[0] != '\0') {
        props = cJSON_Parse(m->props_json);
        if (!cJSON_IsObject(props)) {
            err = MH_ERR_ARGUMENT_INVALID;
            goto done;
        }
        const cJSON *it = NULL;
        cJSON_ArrayForEach(it, props)
        {
            if (!cJSON_IsString(it) && !cJSON_IsNull(it)) {
                err = MH_ERR_ARGUMENT_INVALID;
                goto done;
            }
            if (!bag_add(&bag, &len, &cap, it->string, cJSON_IsNull(it) ? NULL : it->valuestring))
                goto done;
        }
    }
    size_t tl = strlen(m->device_id) + len + 40;
    topic = malloc(tl);
    if (topic == NULL)
        goto done;
    snprintf(topic, tl, "devices/%s/messages/devicebound/%s", m->device_id, bag);
    *out = topic;
    err = MH_OK;
done:
    cJSON_Delete(props);
    free(bag);
    return err;
}

void mh_c2d_iso_ms(long long ms, char *out, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", base, (int)(ms % 1000));
}

long long mh_c2d_parse_iso_ms(const char *iso)
{
    struct tm tm = {0};
    if (iso == NULL)
        return -1;
    const char *p = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    long long ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (*p == 'Z')
        p++;
    if (*p != '\0')
        return -1;
    return (long long)timegm(&tm) * 1000 + ms;
}

cJSON *mh_c2d_feedback_record(const mh_c2d_msg *m, mh_c2d_outcome outcome, const char *generation_id,
                              long long now_ms)
{
    char when[40];
    const char *desc = "Success";
    switch (outcome) {
    case MH_C2D_SUCCESS:
        desc = "Success";
        break;
    case MH_C2D_EXPIRED:
        desc = "Message Expired";
        break;
    case MH_C2D_DELIVERY_COUNT_EXCEEDED:
        desc = "Message Delivery Count Exceeded";
        break;
    case MH_C2D_REJECTED:
        desc = "Message Rejected";
        break;
    case MH_C2D_PURGED:
        desc = "Message Purged";
        break;
    }
    mh_c2d_iso_ms(now_ms, when, sizeof when);
    cJSON *r = cJSON_CreateObject();
    if (r == NULL || !cJSON_AddStringToObject(r, "originalMessageId", m->message_id) ||
        !cJSON_AddStringToObject(r, "enqueuedTimeUtc", when) ||
        !cJSON_AddStringToObject(r, "statusCode", mh_c2d_outcome_name(outcome)) ||
        !cJSON_AddStringToObject(r, "description", desc) ||
        !cJSON_AddStringToObject(r, "deviceId", m->device_id) ||
        !cJSON_AddStringToObject(r, "deviceGenerationId", generation_id ? generation_id : "")) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}
