/* fuzz_topic.c - libFuzzer target for the IoT Hub MQTT topics a device sends (core/topic): the
 * publish parse, the subscribe and receive checks, and the telemetry property bag decoder, which
 * runs on the bag of every accepted telemetry topic and on the raw input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

#define MAX_PROPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    mh_prop *props = malloc(MAX_PROPS * sizeof *props);
    mh_topic *t = malloc(sizeof *t);
    if (text == NULL || props == NULL || t == NULL)
        goto done;
    memcpy(text, data, size);
    text[size] = '\0';

    mh_status st = {0};
    int n = -1;
    if (mh_topic_parse_device_publish("dev1", text, t, &st) == MH_OK) {
        if (t->kind == MH_TOPIC_INVALID || strlen(t->rid) >= sizeof t->rid ||
            strlen(t->props) >= sizeof t->props)
            abort();
        if (t->kind != MH_TOPIC_TELEMETRY && t->rid[0] == '\0')
            abort(); /* twin and method topics need a $rid */
        if (t->kind == MH_TOPIC_TELEMETRY &&
            mh_topic_props_parse(t->props, props, MAX_PROPS, &n, &st) == MH_OK && (n < 0 || n > MAX_PROPS))
            abort();
        if (!mh_topic_device_may_publish("dev1", text))
            abort();
    } else if (mh_topic_device_may_publish("dev1", text)) {
        abort();
    }
    (void)mh_topic_device_may_subscribe("dev1", text);
    (void)mh_topic_device_may_receive("dev1", text);
    /* the same topic from a module of dev1: never a topic of the device itself */
    if (mh_topic_device_may_publish("dev1/m1", text) && strncmp(text, "devices/dev1/messages/", 22) == 0)
        abort();
    if (mh_topic_device_may_subscribe("dev1/m1", text) && strstr(text, "devicebound") != NULL)
        abort(); /* C2D is not a module feature */
    (void)mh_topic_device_may_receive("dev1/m1", text);
    if (mh_topic_props_parse(text, props, MAX_PROPS, &n, NULL) == MH_OK) {
        for (int i = 0; i < n; i++)
            if (props[i].key[0] == '\0' || strlen(props[i].value) >= sizeof props[i].value)
                abort();
    }
    /* the input as a device id, against a fixed topic set */
    (void)mh_topic_device_may_subscribe(text, "devices/+/messages/devicebound/#");
    (void)mh_topic_parse_device_publish(text, "devices/dev1/messages/events/a=b", t, NULL);
    (void)mh_topic_parse_device_publish(text, "devices/dev1/modules/m1/messages/events/a=b", t, NULL);
    (void)mh_topic_device_may_receive(text, "devices/dev1/modules/m1/inputs/in1/");
done:
    free(t);
    free(props);
    free(text);
    return 0;
}
