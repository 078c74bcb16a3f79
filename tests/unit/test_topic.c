/* Unit tests for mockhub/topic: the device topic set. Topics are the literal forms Microsoft's SDKs
 * publish and subscribe (shared/reference/iothub-protocol.md 1.5, 2, 3.1, 4, with the SDK noted). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "topic.h"

struct pub_vec {
    const char *device;
    const char *topic;
    mh_topic_kind kind;
    const char *rid;
    long version;
    int status;
    const char *props;
};

static const struct pub_vec good_publishes[] = {
    /* docs sample / legacy C counters */
    {"dev1", "$iothub/twin/GET/?$rid=1", MH_TOPIC_TWIN_GET, "1", -1, 0, ""},
    /* Node / .NET: UUID rids */
    {"dev1", "$iothub/twin/GET/?$rid=0c1b4a8e-2f7d-4c36-9d67-3f0b2c9c5a11", MH_TOPIC_TWIN_GET,
     "0c1b4a8e-2f7d-4c36-9d67-3f0b2c9c5a11", -1, 0, ""},
    {"dev1", "$iothub/twin/PATCH/properties/reported/?$rid=2", MH_TOPIC_TWIN_PATCH_REPORTED, "2", -1, 0, ""},
    /* addendum 1: &$version= on a reported PATCH */
    {"dev1", "$iothub/twin/PATCH/properties/reported/?$rid=7&$version=3", MH_TOPIC_TWIN_PATCH_REPORTED, "7",
     3, 0, ""},
    /* unknown parameters ignored, any order */
    {"dev1", "$iothub/twin/PATCH/properties/reported/?$version=12&x=y&$rid=ab", MH_TOPIC_TWIN_PATCH_REPORTED,
     "ab", 12, 0, ""},
    /* methods: Node/.NET/Python */
    {"dev1", "$iothub/methods/res/200/?$rid=1", MH_TOPIC_METHOD_RESPONSE, "1", -1, 200, ""},
    {"dev1", "$iothub/methods/res/404/?$rid=42", MH_TOPIC_METHOD_RESPONSE, "42", -1, 404, ""},
    {"dev1", "$iothub/methods/res/-1/?$rid=3", MH_TOPIC_METHOD_RESPONSE, "3", -1, -1, ""},
    /* telemetry: docs, no properties */
    {"mqtt-dev-01", "devices/mqtt-dev-01/messages/events/", MH_TOPIC_TELEMETRY, "", -1, 0, ""},
    {"dev1", "devices/dev1/messages/events", MH_TOPIC_TELEMETRY, "", -1, 0, ""},
    /* Node querystring.stringify: %24.mid */
    {"dev1", "devices/dev1/messages/events/%24.mid=42&%24.ct=application%2Fjson&%24.ce=utf-8",
     MH_TOPIC_TELEMETRY, "", -1, 0, "%24.mid=42&%24.ct=application%2Fjson&%24.ce=utf-8"},
    /* .NET: trailing '/' after the bag */
    {"dev1", "devices/dev1/messages/events/%24.mid=1&a=b/", MH_TOPIC_TELEMETRY, "", -1, 0, "%24.mid=1&a=b"},
    /* docs: literal $ */
    {"dev1", "devices/dev1/messages/events/$.ct=application%2Fjson&$.ce=utf-8", MH_TOPIC_TELEMETRY, "", -1, 0,
     "$.ct=application%2Fjson&$.ce=utf-8"},
};

Test(topic, mh_topic_parse_device_publish_sdk_topics_succeeds)
{
    for (size_t i = 0; i < sizeof good_publishes / sizeof good_publishes[0]; i++) {
        const struct pub_vec *v = &good_publishes[i];
        mh_topic t;
        mh_status st;

        cr_assert_eq(mh_topic_parse_device_publish(v->device, v->topic, &t, &st), MH_OK, "%s: %s", v->topic,
                     st.text);
        cr_assert_eq(t.kind, v->kind, "%s", v->topic);
        cr_assert_str_eq(t.rid, v->rid, "%s", v->topic);
        cr_assert_eq(t.version, v->version, "%s", v->topic);
        cr_assert_eq(t.status, v->status, "%s", v->topic);
        cr_assert_str_eq(t.props, v->props, "%s", v->topic);
        cr_assert(mh_topic_device_may_publish(v->device, v->topic), "%s", v->topic);
    }
}

static const struct {
    const char *device;
    const char *topic;
} bad_publishes[] = {
    {"dev1", "devices/dev2/messages/events/"},  /* another device's telemetry */
    {"dev1", "devices/dev10/messages/events/"}, /* prefix of the id is not the id */
    {"dev10", "devices/dev1/messages/events/"},
    {"dev1", "devices/dev1/modules/m1/messages/events/"}, /* a device never on a module's topics */
    {"dev1", "devices/dev1/messages/devicebound/x"},      /* hub -> device direction */
    {"dev1", "devices/dev1/messages/eventsX"},
    {"dev1", "devices/dev1/messages/events/a=b/c=d"}, /* unencoded '/' in the bag */
    {"dev1", "devices/dev1/messages/events/a=%zz"},   /* bad encoding */
    {"dev1", "devices/dev1/messages/events/=v"},      /* empty key */
    {"dev1", "$iothub/twin/GET/"},                    /* no $rid */
    {"dev1", "$iothub/twin/GET/?$rid="},
    {"dev1", "$iothub/twin/GET?$rid=1"},      /* needs "/?" */
    {"dev1", "$iothub/twin/res/200/?$rid=1"}, /* replies come from the hub */
    {"dev1", "$iothub/twin/PATCH/properties/desired/?$version=2"},
    {"dev1", "$iothub/methods/POST/reboot/?$rid=1"},
    {"dev1", "$iothub/methods/res/abc/?$rid=1"},
    {"dev1", "$iothub/methods/res/200?$rid=1"},
    {"dev1", "$iothub/methods/res//?$rid=1"},
    {"dev1", "$iothub/methods/res/200/?x=1"},
    {"dev1", "$mockhub/from/dev2/$iothub/twin/GET/?$rid=1"},
    {"dev1", "$mockhub/to/dev2/$iothub/methods/POST/x/?$rid=1"},
    {"dev1", "$SYS/broker/x"},
    {"dev1", "foo/bar"},
    {"dev1", ""},
};

Test(topic, mh_topic_parse_device_publish_outside_topic_set_fails)
{
    for (size_t i = 0; i < sizeof bad_publishes / sizeof bad_publishes[0]; i++) {
        mh_topic t;
        mh_status st = {0};

        t.kind = MH_TOPIC_TELEMETRY;
        cr_assert_eq(mh_topic_parse_device_publish(bad_publishes[i].device, bad_publishes[i].topic, &t, &st),
                     MH_ERR_ARGUMENT_INVALID, "%s", bad_publishes[i].topic);
        cr_assert_eq(t.kind, MH_TOPIC_TELEMETRY, "output written on failure: %s", bad_publishes[i].topic);
        cr_assert_neq(st.text[0], '\0', "no error text for %s", bad_publishes[i].topic);
        cr_assert_not(mh_topic_device_may_publish(bad_publishes[i].device, bad_publishes[i].topic), "%s",
                      bad_publishes[i].topic);
    }
}

/* Twin requests with a readable $rid but a malformed query are admitted so the hub can answer them
 * 400 on that rid: the device SDKs wait for ever for a twin reply. */
static const struct {
    const char *topic;
    const char *rid;
    const char *why;
} bad_twin_requests[] = {
    {"$iothub/twin/GET/?$rid=1&$rid=2", "1", "duplicate $rid"},
    {"$iothub/twin/PATCH/properties/reported/?$rid=1&$version=x", "1", "$version"},
    {"$iothub/twin/PATCH/properties/reported/?$rid=1&$version=-1", "1", "$version"},
    {"$iothub/twin/PATCH/properties/reported/?$version=x&$rid=r2", "r2", "$version"},
    {"$iothub/twin/PATCH/properties/reported/?$rid=3&$version=1&$version=2", "3", "duplicate $version"},
};

Test(topic, mh_topic_parse_device_publish_bad_twin_request_with_rid_succeeds)
{
    for (size_t i = 0; i < sizeof bad_twin_requests / sizeof bad_twin_requests[0]; i++) {
        mh_topic t;
        mh_status st = {0};
        cr_assert_eq(mh_topic_parse_device_publish("dev1", bad_twin_requests[i].topic, &t, &st), MH_OK, "%s",
                     bad_twin_requests[i].topic);
        cr_assert_eq(t.kind, MH_TOPIC_TWIN_BAD, "%s", bad_twin_requests[i].topic);
        cr_assert_str_eq(t.rid, bad_twin_requests[i].rid);
        cr_assert(strstr(t.error, bad_twin_requests[i].why) != NULL, "%s: %s", bad_twin_requests[i].topic,
                  t.error);
        cr_assert(mh_topic_device_may_publish("dev1", bad_twin_requests[i].topic), "%s",
                  bad_twin_requests[i].topic);
    }
    /* no readable $rid: nothing to answer on, still refused */
    mh_topic t;
    cr_assert_eq(mh_topic_parse_device_publish("dev1", "$iothub/twin/GET/?$rid=&$version=x", &t, NULL),
                 MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_topic_parse_device_publish("dev1", "$iothub/methods/res/200/?$rid=1&$rid=2", &t, NULL),
                 MH_ERR_ARGUMENT_INVALID);
}

Test(topic, mh_topic_parse_device_publish_rid_too_long_fails)
{
    char topic[400];
    mh_topic t;

    snprintf(topic, sizeof topic, "$iothub/twin/GET/?$rid=%0300d", 1);
    cr_assert_eq(mh_topic_parse_device_publish("dev1", topic, &t, NULL), MH_ERR_ARGUMENT_INVALID);
}

Test(topic, mh_topic_parse_device_publish_rid_kept_as_sent_succeeds)
{
    mh_topic t;

    /* Python URL-quotes the rid; the hub must echo it byte for byte */
    cr_assert_eq(mh_topic_parse_device_publish("dev1", "$iothub/twin/GET/?$rid=a%2Db", &t, NULL), MH_OK);
    cr_assert_str_eq(t.rid, "a%2Db");
}

static const char *const good_filters[] = {
    "$iothub/methods/POST/#",                  /* every SDK */
    "$iothub/twin/res/#",                      /* every SDK */
    "$iothub/twin/PATCH/properties/desired/#", /* every SDK */
    "devices/dev1/messages/devicebound/#",     /* Node, Python, .NET, legacy C */
    "devices/+/messages/devicebound/#",        /* az-C AZ_IOT_HUB_CLIENT_C2D_SUBSCRIBE_TOPIC */
};

static const char *const bad_filters[] = {
    "#",
    "$iothub/#",
    "$iothub/methods/#",
    "$iothub/twin/#",
    "$iothub/methods/POST/+",
    "$iothub/methods/POST/reboot/#",
    "devices/dev2/messages/devicebound/#",
    "devices/dev/messages/devicebound/#",
    "devices/dev1/messages/devicebound",
    "devices/dev1/messages/events/#",
    "devices/#",
    "devices/+/messages/#",
    "$mockhub/#",
    "$mockhub/to/dev1/#",
    "$share/g/$iothub/methods/POST/#",
    "$SYS/#",
    "",
};

Test(topic, mh_topic_device_may_subscribe_sdk_filters_succeeds)
{
    for (size_t i = 0; i < sizeof good_filters / sizeof good_filters[0]; i++)
        cr_assert(mh_topic_device_may_subscribe("dev1", good_filters[i]), "%s", good_filters[i]);
}

Test(topic, mh_topic_device_may_subscribe_other_filters_fails)
{
    for (size_t i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++)
        cr_assert_not(mh_topic_device_may_subscribe("dev1", bad_filters[i]), "%s", bad_filters[i]);
    cr_assert_not(mh_topic_device_may_subscribe("", "devices//messages/devicebound/#"));
    cr_assert_not(mh_topic_device_may_subscribe(NULL, "$iothub/twin/res/#"));
}

Test(topic, mh_topic_props_parse_sdk_bags_succeeds)
{
    mh_prop p[8];
    int n = -1;

    /* Node: querystring.stringify({'$.mid': .., '$.ct': .., 'temperatureAlert': 'true'}) */
    cr_assert_eq(
        mh_topic_props_parse("%24.mid=42&%24.ct=application%2Fjson&%24.ce=utf-8&temperatureAlert=true", p, 8,
                             &n, NULL),
        MH_OK);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(p[0].key, "$.mid");
    cr_assert_str_eq(p[0].value, "42");
    cr_assert_str_eq(p[1].key, "$.ct");
    cr_assert_str_eq(p[1].value, "application/json");
    cr_assert_str_eq(p[2].key, "$.ce");
    cr_assert_str_eq(p[2].value, "utf-8");
    cr_assert_str_eq(p[3].key, "temperatureAlert");
    cr_assert_str_eq(p[3].value, "true");

    /* C2D-style null / empty values: bare key and key= */
    cr_assert_eq(mh_topic_props_parse("a&b=&c%20d=x%20y", p, 8, &n, NULL), MH_OK);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(p[0].key, "a");
    cr_assert_str_eq(p[0].value, "");
    cr_assert_str_eq(p[1].key, "b");
    cr_assert_str_eq(p[1].value, "");
    cr_assert_str_eq(p[2].key, "c d");
    cr_assert_str_eq(p[2].value, "x y");

    cr_assert_eq(mh_topic_props_parse("", p, 8, &n, NULL), MH_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(mh_topic_props_parse("a=1&&b=2&", p, 8, &n, NULL), MH_OK);
    cr_assert_eq(n, 2);
}

Test(topic, mh_topic_props_parse_bad_bags_fails)
{
    mh_prop p[2];
    int n = -7;
    char big[1300];

    cr_assert_eq(mh_topic_props_parse("a=%G1", p, 2, &n, NULL), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_topic_props_parse("a=%4", p, 2, &n, NULL), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_topic_props_parse("=x", p, 2, &n, NULL), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_topic_props_parse("a=%00", p, 2, &n, NULL), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_topic_props_parse("a=1&b=2&c=3", p, 2, &n, NULL), MH_ERR_ARGUMENT_INVALID);
    memset(big, 'v', sizeof big - 1);
    big[0] = 'k';
    big[1] = '=';
    big[sizeof big - 1] = '\0';
    cr_assert_eq(mh_topic_props_parse(big, p, 2, &n, NULL), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(n, -7);
}

Test(topic, mh_topic_device_may_receive_hub_topics_succeeds)
{
    static const char *const topics[] = {
        "$iothub/methods/POST/rebootDevice/?$rid=1",
        "$iothub/twin/res/200/?$rid=abc",
        "$iothub/twin/res/204/?$rid=2&$version=3",
        "$iothub/twin/PATCH/properties/desired/?$version=2",
        /* real C2D capture (iothub-protocol.md 4.2) */
        "devices/mqtt-dev-01/messages/devicebound/"
        "%24.mid=d411e727&%24.to=%2Fdevices%2Fmqtt-dev-01%2Fmessages%2Fdevicebound&%24.ce=utf-8&iothub-ack="
        "none",
    };
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        cr_assert(mh_topic_device_may_receive("mqtt-dev-01", topics[i]), "%s", topics[i]);
}

Test(topic, mh_topic_device_may_receive_other_topics_fails)
{
    static const char *const topics[] = {
        "devices/dev2/messages/devicebound/x", "devices/dev/messages/devicebound/x",
        "devices/dev1/messages/events/",       "$iothub/twin/GET/?$rid=1",
        "$iothub/methods/res/200/?$rid=1",     "$mockhub/from/dev1/$iothub/twin/GET/?$rid=1",
        "$mockhub/ev/connected/dev1",          "other/topic",
    };
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        cr_assert_not(mh_topic_device_may_receive("dev1", topics[i]), "%s", topics[i]);
}

/* ---- modules: identity "{d}/{m}" ---- */

Test(topic, mh_topic_parse_device_publish_module_telemetry_succeeds)
{
    static const struct {
        const char *topic, *props;
    } vecs[] = {
        {"devices/dev1/modules/m1/messages/events/", ""},
        {"devices/dev1/modules/m1/messages/events", ""},
        /* Node sendOutputEvent: $.on in the bag, one trailing '/' (iothub-protocol.md 3.1) */
        {"devices/dev1/modules/m1/messages/events/%24.on=out1&%24.mid=7/", "%24.on=out1&%24.mid=7"},
        {"devices/dev1/modules/m1/messages/events/a=b", "a=b"},
    };
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        mh_topic t;
        mh_status st = {0};
        cr_assert_eq(mh_topic_parse_device_publish("dev1/m1", vecs[i].topic, &t, &st), MH_OK, "%s: %s",
                     vecs[i].topic, st.text);
        cr_assert_eq(t.kind, MH_TOPIC_TELEMETRY);
        cr_assert_str_eq(t.props, vecs[i].props);
    }
    /* the shared twin and method topics are a module's too */
    cr_assert(mh_topic_device_may_publish("dev1/m1", "$iothub/twin/GET/?$rid=1"));
    cr_assert(mh_topic_device_may_publish("dev1/m1", "$iothub/twin/PATCH/properties/reported/?$rid=2"));
    cr_assert(mh_topic_device_may_publish("dev1/m1", "$iothub/methods/res/200/?$rid=3"));
}

Test(topic, mh_topic_parse_device_publish_module_foreign_topics_fails)
{
    static const struct {
        const char *id, *topic;
    } bad[] = {
        {"dev1/m1", "devices/dev1/messages/events/"},             /* its device's telemetry */
        {"dev1/m1", "devices/dev1/modules/m2/messages/events/"},  /* a sibling's */
        {"dev1/m1", "devices/dev1/modules/m10/messages/events/"}, /* an id with the same prefix */
        {"dev1/m10", "devices/dev1/modules/m1/messages/events/"},
        {"dev1/m1", "devices/dev2/modules/m1/messages/events/"}, /* same module id, other device */
        {"dev1/m1", "devices/dev1/modules/m1/messages/devicebound/x"},
        {"dev1/m1", "devices/dev1/modules/m1/inputs/in1/"}, /* hub -> module direction */
        {"dev1/m1", "devices/dev1/modules/m1/messages/eventsX"},
        {"dev1/m1", "devices/dev1/modules/m1/messages/events/a=b/c"},
        {"dev1/m1", "devices/dev1/m1/messages/events/"},
        {"dev1/", "devices/dev1/modules//messages/events/"}, /* malformed identities */
        {"dev1//m1", "devices/dev1/modules//m1/messages/events/"},
        {"dev1/m1/x", "devices/dev1/modules/m1/x/messages/events/"},
        {"/m1", "devices//modules/m1/messages/events/"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mh_topic t;
        mh_status st = {0};
        cr_assert_eq(mh_topic_parse_device_publish(bad[i].id, bad[i].topic, &t, &st), MH_ERR_ARGUMENT_INVALID,
                     "%s on %s", bad[i].id, bad[i].topic);
        cr_assert_neq(st.text[0], '\0');
        cr_assert_not(mh_topic_device_may_publish(bad[i].id, bad[i].topic), "%s on %s", bad[i].id,
                      bad[i].topic);
    }
}

Test(topic, mh_topic_device_may_subscribe_module_filters_succeeds)
{
    static const char *const good[] = {
        "$iothub/methods/POST/#", "$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#",
        "devices/dev1/modules/m1/inputs/#", /* Node ModuleClient on('inputMessage') */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(mh_topic_device_may_subscribe("dev1/m1", good[i]), "%s", good[i]);
}

Test(topic, mh_topic_device_may_subscribe_module_other_filters_fails)
{
    static const char *const bad[] = {
        /* C2D is not a module feature, in any spelling */
        "devices/dev1/modules/m1/messages/devicebound/#",
        "devices/+/messages/devicebound/#",
        "devices/dev1/messages/devicebound/#", /* its device's C2D */
        "devices/dev1/modules/m2/inputs/#",    /* a sibling's inputs */
        "devices/dev1/modules/m10/inputs/#",
        "devices/dev2/modules/m1/inputs/#",
        "devices/dev1/modules/+/inputs/#",
        "devices/dev1/modules/m1/inputs/in1",
        "devices/dev1/modules/m1/#",
        "devices/dev1/#",
        "#",
        "$iothub/#",
        "$mockhub/#",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(mh_topic_device_may_subscribe("dev1/m1", bad[i]), "%s", bad[i]);
    /* and a device may not subscribe to its modules' inputs */
    cr_assert_not(mh_topic_device_may_subscribe("dev1", "devices/dev1/modules/m1/inputs/#"));
    cr_assert_not(mh_topic_device_may_subscribe("dev1/", "$iothub/twin/res/#"));
    cr_assert_not(mh_topic_device_may_subscribe("dev1/m1/x", "$iothub/twin/res/#"));
}

Test(topic, mh_topic_device_may_receive_module_topics_succeeds)
{
    cr_assert(mh_topic_device_may_receive("dev1/m1", "$iothub/methods/POST/m/?$rid=1"));
    cr_assert(mh_topic_device_may_receive("dev1/m1", "$iothub/twin/res/200/?$rid=1"));
    cr_assert(mh_topic_device_may_receive("dev1/m1", "$iothub/twin/PATCH/properties/desired/?$version=2"));
    cr_assert(mh_topic_device_may_receive("dev1/m1", "devices/dev1/modules/m1/inputs/in1/a=b"));
    cr_assert_not(mh_topic_device_may_receive("dev1/m1", "devices/dev1/messages/devicebound/x"));
    cr_assert_not(mh_topic_device_may_receive("dev1/m1", "devices/dev1/modules/m1/messages/devicebound/x"));
    cr_assert_not(mh_topic_device_may_receive("dev1/m1", "devices/dev1/modules/m2/inputs/in1/"));
    cr_assert_not(mh_topic_device_may_receive("dev1", "devices/dev1/modules/m1/inputs/in1/"));
}
