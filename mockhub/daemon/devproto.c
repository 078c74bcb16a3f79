/* devproto.c - the device side of the hub: twin GET and reported PATCH requests, method responses
 * and telemetry that devices publish, as relayed by the plugin. Every twin request gets a reply:
 * the Node device SDK waits for ever otherwise (node-sdk-behaviour.md 1.5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "store.h"
#include "topic.h"

#define MH_TELEMETRY_MAX_PROPS 64

/* Twin reply topics carry the rid as sent, byte for byte. delay_ms > 0: sent that much later
 * (MOCK: test control's latency on device.twin). */
static void twin_reply(mh_hub *hub, const char *id, int status, const char *rid, long version,
                       const char *body, size_t len, long delay_ms)
{
    char topic[400];
    if (version >= 0)
        snprintf(topic, sizeof topic, "$iothub/twin/res/%d/?$rid=%s&$version=%ld", status, rid, version);
    else
        snprintf(topic, sizeof topic, "$iothub/twin/res/%d/?$rid=%s", status, rid);
    if (delay_ms > 0 && mh_testctl_send_later(hub->testctl, id, topic, body, len, delay_ms))
        return;
    if (mh_hub_to_device(hub, id, topic, body, len, 0) != MH_OK)
        fprintf(stderr, "mockhub: could not send twin reply to %s\n", id);
}

static void twin_error(mh_hub *hub, const char *id, const char *rid, const mh_status *st, long delay_ms)
{
    const mh_err_info *info = mh_err_lookup(st->code);
    char *body = mh_err_mqtt_body(st->code, st->text);
    /* The Node SDK ignores the status segment: the body's errorCode is what fails the call. */
    twin_reply(hub, id, info->http_status, rid, -1, body ? body : "", body ? strlen(body) : 0, delay_ms);
    free(body);
}

/* MOCK: telemetry goes to the store's telemetry table (GET /mockhub/events, `mockhub
 * monitor-events`), not to an Event Hubs endpoint. A bad property bag or a store failure is
 * logged: the message is kept with the properties that could be read, or lost with a line. */
static void telemetry_store(mh_hub *hub, const char *id, const char *bag, const void *payload, size_t len)
{
    mh_prop *props = malloc(MH_TELEMETRY_MAX_PROPS * sizeof *props); /* 80 KB: not on the stack */
    mh_status st = {0};
    cJSON *obj = cJSON_CreateObject();
    char *text = NULL;
    int n = 0;
    if (props && mh_topic_props_parse(bag, props, MH_TELEMETRY_MAX_PROPS, &n, &st) != MH_OK) {
        fprintf(stderr, "mockhub: telemetry from %s has a bad property bag (stored without properties): %s\n",
                id, st.text);
        n = 0;
    }
    for (int i = 0; i < n && obj; i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, props[i].key); /* a repeated key: the last one wins */
        if (!cJSON_AddStringToObject(obj, props[i].key, props[i].value)) {
            cJSON_Delete(obj);
            obj = NULL;
        }
    }
    text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    if (!text || mh_store_telemetry_add(hub->store, id, text, payload, len, NULL) != MH_OK)
        fprintf(stderr, "mockhub: could not store a telemetry message from %s (%zu bytes)\n", id, len);
    else
        mh_amqp_wake(hub->amqp); /* Event Hubs receivers may read it */
    free(text);
    cJSON_Delete(obj);
    free(props);
}

void mh_devproto_handle(mh_hub *hub, const char *id, const char *topic, const void *payload, size_t len)
{
    mh_topic t;
    mh_status st = {0};
    if (mh_topic_parse_device_publish(id, topic, &t, &st) != MH_OK) {
        /* The plugin admits only parseable topics; anything else is a bug worth a line. */
        fprintf(stderr, "mockhub: ignored publish from %s on '%s': %s\n", id, topic, st.text);
        return;
    }
    /* MOCK: test control's faults on the device's own twin requests */
    long delay = 0;
    mh_err injected = MH_OK;
    if ((t.kind == MH_TOPIC_TWIN_GET || t.kind == MH_TOPIC_TWIN_PATCH_REPORTED) &&
        mh_testctl_device_twin_fault(hub->testctl, id, &injected, &delay) && injected != MH_OK) {
        /* the Node device SDK shows only the message: it names the error */
        mh_fail(&st, injected, "%s: injected by mockhub test control", mh_err_lookup(injected)->name);
        twin_error(hub, id, t.rid, &st, delay);
        return;
    }
    switch (t.kind) {
    case MH_TOPIC_TWIN_GET: {
        char *json = NULL;
        if (mh_store_twin_get_properties(hub->store, id, &json, &st) != MH_OK) {
            twin_error(hub, id, t.rid, &st, delay);
            return;
        }
        twin_reply(hub, id, 200, t.rid, -1, json, strlen(json), delay);
        free(json);
        return;
    }
    case MH_TOPIC_TWIN_PATCH_REPORTED: {
        long version = 0;
        if (mh_store_twin_report(hub->store, id, payload, len, t.version, &version, &st) != MH_OK) {
            twin_error(hub, id, t.rid, &st, delay);
            return;
        }
        twin_reply(hub, id, 204, t.rid, version, "", 0, delay);
        mh_activity_add(hub->activity, "twin.reported", id, payload, len); /* MOCK: the dashboard's log */
        return;
    }
    case MH_TOPIC_METHOD_RESPONSE:
        if (!mh_methods_response(hub->methods, id, t.rid, t.status, payload, len))
            fprintf(stderr,
                    "mockhub: %s answered method request $rid=%s, which is not waiting "
                    "(timed out, or not addressed to it)\n",
                    id, t.rid);
        mh_hub_touch(hub, id); /* AZURE: lastActivityTime moves with every message */
        return;
    case MH_TOPIC_TELEMETRY:
        telemetry_store(hub, id, t.props, payload, len);
        mh_activity_add(hub->activity, "telemetry", id, payload, len); /* MOCK: the dashboard's log */
        mh_hub_touch(hub, id); /* AZURE: lastActivityTime moves with every message */
        return;
    case MH_TOPIC_TWIN_BAD:
        mh_fail(&st, MH_ERR_ARGUMENT_INVALID, "Invalid twin request topic: %s", t.error);
        twin_error(hub, id, t.rid, &st, delay);
        return;
    case MH_TOPIC_INVALID:
        break;
    }
}
