/* Unit tests for core/bus.c: the $mockhub/... messages between the plugin and the daemon. The
 * literal wire strings are what the plugin has sent since the first release (docs/INTERNALS.md),
 * so a format change shows up here first. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

struct wire {
    const char *topic;
    const char *payload;
    mh_bus_kind kind;
};

/* Exactly as the plugin writes them (and, for to/kick/resync/sync, as the daemon does). */
static const struct wire wires[] = {
    {"$mockhub/from/dev1/$iothub/twin/GET/?$rid=1", "", MH_BUS_FROM},
    {"$mockhub/to/dev1/$iothub/methods/POST/reboot/?$rid=1", "{\"a\":1}", MH_BUS_TO},
    {"$mockhub/ev/connected/dev1", "{\"gen\":7,\"clean\":true}", MH_BUS_EV_CONNECTED},
    {"$mockhub/ev/connected/dev1", "{\"gen\":8,\"clean\":false}", MH_BUS_EV_CONNECTED},
    {"$mockhub/ev/disconnected/dev1", "{\"gen\":7}", MH_BUS_EV_DISCONNECTED},
    {"$mockhub/ev/subscribed/dev1", "{\"gen\":7,\"filter\":\"$iothub/methods/POST/#\"}",
     MH_BUS_EV_SUBSCRIBED},
    {"$mockhub/ev/unsubscribed/dev1", "{\"gen\":7,\"filter\":\"$iothub/twin/res/#\"}",
     MH_BUS_EV_UNSUBSCRIBED},
    {"$mockhub/ev/ready", "{\"connections\":2}", MH_BUS_EV_READY},
    {"$mockhub/ev/synced", "{\"token\":42}", MH_BUS_EV_SYNCED},
    {"$mockhub/kick/dev1", "", MH_BUS_KICK},
    {"$mockhub/resync", "", MH_BUS_RESYNC},
    {"$mockhub/sync", "42", MH_BUS_SYNC},
    {"$mockhub/refuse/dev1", "3", MH_BUS_REFUSE},
    {"$mockhub/wake", "", MH_BUS_WAKE},
    /* modules: identity "dev1/m1" travels as one level, '/' as ':' */
    {"$mockhub/from/dev1:m1/devices/dev1/modules/m1/messages/events/", "x", MH_BUS_FROM},
    {"$mockhub/ev/connected/dev1:m1", "{\"gen\":9,\"clean\":false}", MH_BUS_EV_CONNECTED},
    {"$mockhub/kick/dev1:m1", "", MH_BUS_KICK},
    {"$mockhub/ev/undelivered/dev1/$iothub/methods/POST/reboot/?$rid=12", "{\"gen\":7}",
     MH_BUS_EV_UNDELIVERED},
    {"$mockhub/ev/delivered/dev1/devices/dev1/messages/devicebound/%24.mid=m1", "{\"gen\":7}",
     MH_BUS_EV_DELIVERED},
};

static mh_bus_msg decode_ok(const char *topic, const char *payload)
{
    mh_bus_msg m;

    cr_assert_eq(mh_bus_decode(topic, payload, strlen(payload), &m), MH_OK, "%s %s", topic, payload);
    return m;
}

Test(bus, mh_bus_decode_literal_wire_strings_succeeds)
{
    mh_bus_msg m;
    const char *to = wires[1].topic;

    for (size_t i = 0; i < sizeof wires / sizeof wires[0]; i++) {
        m = decode_ok(wires[i].topic, wires[i].payload);
        cr_assert_eq(m.kind, wires[i].kind, "%s", wires[i].topic);
    }
    m = decode_ok(wires[0].topic, "");
    cr_assert_str_eq(m.id, "dev1");
    cr_assert_str_eq(m.topic, "$iothub/twin/GET/?$rid=1");
    m = decode_ok(to, wires[1].payload);
    cr_assert_eq(m.topic, to + strlen("$mockhub/to/dev1/"), "the Azure topic points into the input");
    cr_assert_eq(m.payload, wires[1].payload, "the payload is the input's");
    cr_assert_eq(m.len, 7);
    m = decode_ok(wires[2].topic, wires[2].payload);
    cr_assert_str_eq(m.id, "dev1");
    cr_assert_eq(m.gen, 7);
    cr_assert_eq(m.clean, 1);
    m = decode_ok(wires[3].topic, wires[3].payload);
    cr_assert_eq(m.gen, 8);
    cr_assert_eq(m.clean, 0);
    m = decode_ok(wires[4].topic, wires[4].payload);
    cr_assert_eq(m.gen, 7);
    m = decode_ok(wires[5].topic, wires[5].payload);
    cr_assert_str_eq(m.filter, "$iothub/methods/POST/#");
    cr_assert_eq(m.sub, MH_BUS_SUB_METHODS);
    m = decode_ok(wires[6].topic, wires[6].payload);
    cr_assert_str_eq(m.filter, "$iothub/twin/res/#");
    cr_assert_eq(m.sub, 0, "twin replies are not a tracked subscription");
    m = decode_ok(wires[7].topic, wires[7].payload);
    cr_assert_eq(m.connections, 2);
    cr_assert_str_eq(m.id, "");
    m = decode_ok(wires[8].topic, wires[8].payload);
    cr_assert_eq(m.token, 42);
    m = decode_ok(wires[9].topic, wires[9].payload);
    cr_assert_str_eq(m.id, "dev1");
    m = decode_ok(wires[11].topic, wires[11].payload);
    cr_assert_eq(m.token, 42);
    m = decode_ok(wires[14].topic, wires[14].payload);
    cr_assert_str_eq(m.id, "dev1/m1");
    cr_assert_str_eq(m.topic, "devices/dev1/modules/m1/messages/events/");
    m = decode_ok(wires[15].topic, wires[15].payload);
    cr_assert_str_eq(m.id, "dev1/m1");
    cr_assert_eq(m.gen, 9);
    m = decode_ok(wires[16].topic, wires[16].payload);
    cr_assert_str_eq(m.id, "dev1/m1");
    m = decode_ok(wires[17].topic, wires[17].payload);
    cr_assert_str_eq(m.id, "dev1");
    cr_assert_str_eq(m.topic, "$iothub/methods/POST/reboot/?$rid=12");
    cr_assert_eq(m.gen, 7);
    cr_assert_null(m.payload, "an event's JSON is decoded, not passed on");
}

Test(bus, mh_bus_encode_literal_wire_strings_succeeds)
{
    /* decode each literal, encode it again: the same bytes */
    for (size_t i = 0; i < sizeof wires / sizeof wires[0]; i++) {
        mh_bus_msg m = decode_ok(wires[i].topic, wires[i].payload);
        char *topic = NULL, *payload = NULL;
        size_t len = 99;

        cr_assert_eq(mh_bus_encode(&m, &topic, &payload, &len), MH_OK, "%s", wires[i].topic);
        cr_assert_str_eq(topic, wires[i].topic);
        if (m.kind == MH_BUS_FROM || m.kind == MH_BUS_TO) {
            cr_assert_null(payload, "FROM/TO payloads are not copied");
            cr_assert_eq(len, strlen(wires[i].payload));
        } else {
            cr_assert_str_eq(payload, wires[i].payload, "%s", wires[i].topic);
            cr_assert_eq(len, strlen(wires[i].payload));
        }
        free(topic);
        free(payload);
    }
}

static mh_bus_msg sample(mh_bus_kind kind)
{
    mh_bus_msg m;

    memset(&m, 0, sizeof m);
    m.kind = kind;
    switch (kind) {
    case MH_BUS_FROM:
    case MH_BUS_TO:
        strcpy(m.id, "dev-é.x");
        m.topic = "devices/dev-é.x/messages/events/%24.mid=1&a=b";
        m.payload = "\0bin\xff";
        m.len = 5;
        break;
    case MH_BUS_EV_CONNECTED:
        strcpy(m.id, "d");
        m.gen = MH_BUS_NUM_MAX;
        m.clean = 1;
        break;
    case MH_BUS_EV_DISCONNECTED:
        strcpy(m.id, "d");
        m.gen = 0;
        break;
    case MH_BUS_EV_UNDELIVERED:
        strcpy(m.id, "dev1/m-1");
        m.gen = 77;
        m.topic = "$iothub/twin/PATCH/properties/desired/?$version=3";
        break;
    case MH_BUS_EV_DELIVERED:
        strcpy(m.id, "dev1");
        m.gen = 78;
        m.topic = "devices/dev1/messages/devicebound/%24.mid=m1&%24.to=%2Fdevices%2Fdev1";
        break;
    case MH_BUS_EV_SUBSCRIBED:
    case MH_BUS_EV_UNSUBSCRIBED:
        memset(m.id, 'a', MH_ID_MAX);
        m.gen = 123456789012ull;
        strcpy(m.filter, "devices/+/messages/devicebound/#");
        break;
    case MH_BUS_EV_READY:
        m.connections = 100000;
        break;
    case MH_BUS_EV_SYNCED:
    case MH_BUS_SYNC:
        m.token = 9007199254740991ull;
        break;
    case MH_BUS_KICK:
        strcpy(m.id, "dev1/$edgeAgent");
        break;
    case MH_BUS_REFUSE:
        strcpy(m.id, "dev1/m-1");
        m.count = 5;
        break;
    default:
        break;
    }
    return m;
}

Test(bus, mh_bus_encode_decode_every_kind_round_trip_succeeds)
{
    for (int k = 0; k < MH_BUS_KIND_COUNT; k++) {
        mh_bus_msg in = sample((mh_bus_kind)k), out;
        char *topic = NULL, *payload = NULL;
        size_t len = 0;

        cr_assert_eq(mh_bus_encode(&in, &topic, &payload, &len), MH_OK, "kind %d", k);
        cr_assert_eq(mh_bus_decode(topic, payload ? payload : in.payload, len, &out), MH_OK, "kind %d: %s", k,
                     topic);
        cr_assert_eq(out.kind, in.kind);
        cr_assert_str_eq(out.id, in.id);
        cr_assert_eq(out.gen, in.gen);
        cr_assert_eq(out.clean, in.clean);
        cr_assert_str_eq(out.filter, in.filter);
        cr_assert_eq(out.token, in.token);
        cr_assert_eq(out.connections, in.connections);
        cr_assert_eq(out.count, in.count);
        cr_assert_eq(out.len, in.len);
        if (in.topic)
            cr_assert_str_eq(out.topic, in.topic);
        if (in.len > 0)
            cr_assert_eq(memcmp(out.payload, in.payload, in.len), 0);
        if (k == MH_BUS_EV_SUBSCRIBED)
            cr_assert_eq(out.sub, MH_BUS_SUB_C2D);
        free(topic);
        free(payload);
    }
}

Test(bus, mh_bus_encode_filter_with_quotes_round_trip_succeeds)
{
    mh_bus_msg in = sample(MH_BUS_EV_SUBSCRIBED), out;
    char *topic = NULL, *payload = NULL;
    size_t len = 0;

    strcpy(in.filter, "a\"b\\c\n");
    cr_assert_eq(mh_bus_encode(&in, &topic, &payload, &len), MH_OK);
    cr_assert_str_eq(payload, "{\"gen\":123456789012,\"filter\":\"a\\\"b\\\\c\\u000a\"}");
    cr_assert_eq(mh_bus_decode(topic, payload, len, &out), MH_OK);
    cr_assert_str_eq(out.filter, in.filter);
    free(topic);
    free(payload);
}

Test(bus, mh_bus_encode_invalid_fields_fails)
{
    struct {
        mh_bus_msg m;
        const char *why;
    } bad[] = {
        {sample(MH_BUS_EV_CONNECTED), "empty id"},
        {sample(MH_BUS_KICK), "id with two /"},
        {sample(MH_BUS_KICK), "id with +"},
        {sample(MH_BUS_EV_SUBSCRIBED), "id over MH_IDENTITY_MAX, unterminated"},
        {sample(MH_BUS_EV_SUBSCRIBED), "empty filter"},
        {sample(MH_BUS_TO), "empty Azure topic"},
        {sample(MH_BUS_FROM), "no Azure topic"},
        {sample(MH_BUS_FROM), "NULL payload with a length"},
        {sample(MH_BUS_EV_CONNECTED), "gen over 2^53"},
        {sample(MH_BUS_SYNC), "token over 2^53"},
        {sample(MH_BUS_RESYNC), "unknown kind"},
        {sample(MH_BUS_KICK), "id with the bus separator"},
        {sample(MH_BUS_KICK), "empty module part"},
        {sample(MH_BUS_KICK), "empty device part"},
        {sample(MH_BUS_FROM), "module part over 128"},
        {sample(MH_BUS_FROM), "device part over 128"},
        {sample(MH_BUS_EV_UNDELIVERED), "undelivered without an Azure topic"},
    };
    char *topic = (char *)"untouched", *payload = (char *)"untouched";
    size_t len = 77;

    bad[0].m.id[0] = '\0';
    strcpy(bad[1].m.id, "a/b/c");
    strcpy(bad[2].m.id, "a+b");
    memset(bad[3].m.id, 'a', sizeof bad[3].m.id);
    bad[4].m.filter[0] = '\0';
    bad[5].m.topic = "";
    bad[6].m.topic = NULL;
    bad[7].m.payload = NULL;
    bad[8].m.gen = MH_BUS_NUM_MAX + 1;
    bad[9].m.token = MH_BUS_NUM_MAX + 1;
    bad[10].m.kind = MH_BUS_KIND_COUNT;
    strcpy(bad[11].m.id, "a:b");
    strcpy(bad[12].m.id, "a/");
    strcpy(bad[13].m.id, "/b");
    memset(bad[14].m.id, 'm', sizeof bad[14].m.id - 1);
    bad[14].m.id[sizeof bad[14].m.id - 1] = '\0';
    bad[14].m.id[0] = 'd';
    bad[14].m.id[1] = '/'; /* "d/" + 255 'm' */
    memset(bad[15].m.id, 'd', MH_ID_MAX + 1);
    strcpy(bad[15].m.id + MH_ID_MAX + 1, "/m"); /* 129 'd' + "/m" */
    bad[16].m.topic = "";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(mh_bus_encode(&bad[i].m, &topic, &payload, &len), MH_ERR_ARGUMENT_INVALID, "%s",
                     bad[i].why);
    cr_assert_str_eq(topic, "untouched");
    cr_assert_str_eq(payload, "untouched");
    cr_assert_eq(len, 77);
}

Test(bus, mh_bus_decode_malformed_fails)
{
    static const struct {
        const char *topic;
        const char *payload;
        mh_err want;
    } bad[] = {
        {"$iothub/twin/GET/?$rid=1", "", MH_ERR_NOT_FOUND},
        {"$mockhub/ev/teleported/dev1", "{\"gen\":1}", MH_ERR_NOT_FOUND},
        {"$mockhub/ev/readyx", "{\"connections\":1}", MH_ERR_NOT_FOUND},
        {"$mockhub/resync/x", "", MH_ERR_NOT_FOUND},
        {"$mockhub/to/dev1", "x", MH_ERR_ARGUMENT_INVALID},  /* no Azure topic */
        {"$mockhub/to/dev1/", "x", MH_ERR_ARGUMENT_INVALID}, /* empty Azure topic */
        {"$mockhub/to//$iothub/x", "x", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/kick/", "", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/kick/a/b", "", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/connected/", "{\"gen\":1,\"clean\":true}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/connected/dev1", "", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/connected/dev1", "{\"gen\":1", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/connected/dev1", "[1]", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/connected/dev1", "{\"clean\":true}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/connected/dev1", "{\"gen\":1}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/connected/dev1", "{\"gen\":1,\"clean\":1}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/disconnected/dev1", "{\"gen\":\"1\"}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/disconnected/dev1", "{\"gen\":-1}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/disconnected/dev1", "{\"gen\":1.5}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/disconnected/dev1", "{\"gen\":1e300}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/disconnected/dev1", "{\"gen\":9007199254740994}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/subscribed/dev1", "{\"gen\":1}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/subscribed/dev1", "{\"gen\":1,\"filter\":\"\"}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/subscribed/dev1", "{\"gen\":1,\"filter\":7}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/ready", "{}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/undelivered/dev1", "{\"gen\":1}", MH_ERR_ARGUMENT_INVALID},  /* no Azure topic */
        {"$mockhub/ev/undelivered/dev1/", "{\"gen\":1}", MH_ERR_ARGUMENT_INVALID}, /* empty Azure topic */
        {"$mockhub/ev/undelivered/dev1/$iothub/methods/POST/m/?$rid=1", "", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/undelivered/dev1/$iothub/methods/POST/m/?$rid=1", "{}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/delivered/dev1", "{\"gen\":1}", MH_ERR_ARGUMENT_INVALID}, /* no Azure topic */
        {"$mockhub/ev/delivered/dev1/devices/dev1/messages/devicebound/", "{\"gen\":true}",
         MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/synced", "{\"token\":null}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/ev/synced", "42", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/sync", "", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/sync", "-1", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/sync", " 1", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/sync", "1x", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/sync", "{\"token\":1}", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/sync", "9007199254740993", MH_ERR_ARGUMENT_INVALID},
        {"$mockhub/sync", "12345678901234567890", MH_ERR_ARGUMENT_INVALID},
    };
    mh_bus_msg m;

    memset(&m, 0xAB, sizeof m);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(mh_bus_decode(bad[i].topic, bad[i].payload, strlen(bad[i].payload), &m), bad[i].want,
                     "%s %s", bad[i].topic, bad[i].payload);
    cr_assert_eq(m.gen, 0xABABABABABABABABull, "out written on error");
    cr_assert_eq(mh_bus_decode(NULL, "", 0, &m), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_bus_decode("$mockhub/to/d/x", NULL, 3, &m), MH_ERR_ARGUMENT_INVALID);
}

Test(bus, mh_bus_decode_long_id_fails)
{
    char topic[300];
    mh_bus_msg m;

    snprintf(topic, sizeof topic, "$mockhub/from/%0128d/$iothub/x", 0);
    cr_assert_eq(mh_bus_decode(topic, "", 0, &m), MH_OK, "128 is the limit");
    snprintf(topic, sizeof topic, "$mockhub/from/%0129d/$iothub/x", 0);
    cr_assert_eq(mh_bus_decode(topic, "", 0, &m), MH_ERR_ARGUMENT_INVALID);
    snprintf(topic, sizeof topic, "$mockhub/ev/disconnected/%0129d", 0);
    cr_assert_eq(mh_bus_decode(topic, "{\"gen\":1}", 9, &m), MH_ERR_ARGUMENT_INVALID);
}

Test(bus, mh_bus_decode_module_ids_succeeds)
{
    char topic[400], want[300];
    mh_bus_msg m;

    /* the longest identity: 128 + '/' + 128 */
    snprintf(topic, sizeof topic, "$mockhub/from/%0128d:%0128d/$iothub/x", 1, 2);
    cr_assert_eq(mh_bus_decode(topic, "", 0, &m), MH_OK, "128/128 is the limit");
    snprintf(want, sizeof want, "%0128d/%0128d", 1, 2);
    cr_assert_str_eq(m.id, want);
    cr_assert_eq(strlen(m.id), MH_IDENTITY_MAX);
    cr_assert_str_eq(m.topic, "$iothub/x");
    cr_assert_eq(mh_bus_decode("$mockhub/refuse/d:$edgeHub", "2", 1, &m), MH_OK);
    cr_assert_str_eq(m.id, "d/$edgeHub");
    cr_assert_eq(m.count, 2);
}

Test(bus, mh_bus_decode_module_ids_malformed_fails)
{
    char topic[400];
    mh_bus_msg m;
    static const char *const bad[] = {
        "$mockhub/kick/a:b:c",       "$mockhub/kick/:b",    "$mockhub/kick/a:",
        "$mockhub/kick/:",           "$mockhub/kick/a:b/c", "$mockhub/from/a::b/$iothub/x",
        "$mockhub/from/:/$iothub/x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(mh_bus_decode(bad[i], "", 0, &m), MH_ERR_ARGUMENT_INVALID, "%s", bad[i]);
    snprintf(topic, sizeof topic, "$mockhub/from/%0129d:m/$iothub/x", 1);
    cr_assert_eq(mh_bus_decode(topic, "", 0, &m), MH_ERR_ARGUMENT_INVALID, "device part over 128");
    snprintf(topic, sizeof topic, "$mockhub/from/d:%0129d/$iothub/x", 1);
    cr_assert_eq(mh_bus_decode(topic, "", 0, &m), MH_ERR_ARGUMENT_INVALID, "module part over 128");
}

Test(bus, mh_bus_decode_long_filter_fails)
{
    char payload[400];
    char filter[300];

    memset(filter, 'f', sizeof filter - 1);
    filter[sizeof filter - 1] = '\0';
    snprintf(payload, sizeof payload, "{\"gen\":1,\"filter\":\"%s\"}", filter);
    mh_bus_msg m;
    cr_assert_eq(mh_bus_decode("$mockhub/ev/subscribed/dev1", payload, strlen(payload), &m),
                 MH_ERR_ARGUMENT_INVALID);
}

Test(bus, mh_bus_decode_payload_not_nul_terminated_succeeds)
{
    const char buf[] = "{\"gen\":5}GARBAGE";
    const char sync[] = "17xyz";
    mh_bus_msg m;

    cr_assert_eq(mh_bus_decode("$mockhub/ev/disconnected/d", buf, 9, &m), MH_OK);
    cr_assert_eq(m.gen, 5);
    cr_assert_eq(mh_bus_decode("$mockhub/sync", sync, 2, &m), MH_OK);
    cr_assert_eq(m.token, 17);
    /* kick and resync ignore their payload; extra JSON members are ignored */
    cr_assert_eq(mh_bus_decode("$mockhub/resync", "whatever", 8, &m), MH_OK);
    cr_assert_eq(mh_bus_decode("$mockhub/kick/d", NULL, 0, &m), MH_OK);
    cr_assert_eq(mh_bus_decode("$mockhub/ev/ready", "{\"connections\":0,\"x\":1}", 24, &m), MH_OK);
}

Test(bus, mh_bus_sub_bit_filters_succeeds)
{
    cr_assert_eq(mh_bus_sub_bit("dev1", "$iothub/methods/POST/#"), MH_BUS_SUB_METHODS);
    cr_assert_eq(mh_bus_sub_bit("dev1", "$iothub/twin/PATCH/properties/desired/#"), MH_BUS_SUB_DESIRED);
    cr_assert_eq(mh_bus_sub_bit("dev1", "devices/dev1/messages/devicebound/#"), MH_BUS_SUB_C2D);
    cr_assert_eq(mh_bus_sub_bit("dev1", "devices/+/messages/devicebound/#"), MH_BUS_SUB_C2D);
}

Test(bus, mh_bus_sub_bit_other_filters_fails)
{
    cr_assert_eq(mh_bus_sub_bit("dev1", "$iothub/twin/res/#"), 0);
    cr_assert_eq(mh_bus_sub_bit("dev1", "$iothub/methods/POST/+"), 0);
    cr_assert_eq(mh_bus_sub_bit("dev1", "devices/dev2/messages/devicebound/#"), 0);
    cr_assert_eq(mh_bus_sub_bit("dev1", "devices/dev10/messages/devicebound/#"), 0);
    cr_assert_eq(mh_bus_sub_bit("dev1", "devices/dev1/messages/devicebound/x"), 0);
    cr_assert_eq(mh_bus_sub_bit("", "devices//messages/devicebound/#"), 0);
    cr_assert_eq(mh_bus_sub_bit(NULL, "$iothub/methods/POST/#"), 0);
    cr_assert_eq(mh_bus_sub_bit("dev1", NULL), 0);
    /* modules: methods and desired like devices, never C2D */
    cr_assert_eq(mh_bus_sub_bit("dev1/m1", "$iothub/methods/POST/#"), MH_BUS_SUB_METHODS);
    cr_assert_eq(mh_bus_sub_bit("dev1/m1", "$iothub/twin/PATCH/properties/desired/#"), MH_BUS_SUB_DESIRED);
    cr_assert_eq(mh_bus_sub_bit("dev1/m1", "devices/+/messages/devicebound/#"), 0);
    cr_assert_eq(mh_bus_sub_bit("dev1/m1", "devices/dev1/m1/messages/devicebound/#"), 0);
    cr_assert_eq(mh_bus_sub_bit("dev1/m1", "devices/dev1/modules/m1/inputs/#"), 0);
}

Test(bus, mh_bus_delivery_bit_topics_succeeds)
{
    cr_assert_eq(mh_bus_delivery_bit("dev1", "$iothub/methods/POST/reboot/?$rid=1"), MH_BUS_SUB_METHODS);
    cr_assert_eq(mh_bus_delivery_bit("dev1", "$iothub/twin/PATCH/properties/desired/?$version=2"),
                 MH_BUS_SUB_DESIRED);
    cr_assert_eq(mh_bus_delivery_bit("dev1", "devices/dev1/messages/devicebound/%24.mid=1"), MH_BUS_SUB_C2D);
    cr_assert_eq(mh_bus_delivery_bit("dev1/m1", "$iothub/methods/POST/x/?$rid=2"), MH_BUS_SUB_METHODS);
    cr_assert_eq(mh_bus_delivery_bit("dev1/m1", "$iothub/twin/PATCH/properties/desired/?$version=2"),
                 MH_BUS_SUB_DESIRED);
}

Test(bus, mh_bus_delivery_bit_other_topics_fails)
{
    cr_assert_eq(mh_bus_delivery_bit("dev1", "$iothub/twin/res/200/?$rid=1"), 0,
                 "replies need no tracked filter");
    cr_assert_eq(mh_bus_delivery_bit("dev1", "$iothub/methods/res/200/?$rid=1"), 0);
    cr_assert_eq(mh_bus_delivery_bit("dev1", "devices/dev10/messages/devicebound/"), 0);
    cr_assert_eq(mh_bus_delivery_bit("dev10", "devices/dev1/messages/devicebound/"), 0);
    cr_assert_eq(mh_bus_delivery_bit("dev1", "devices/dev1/messages/events/"), 0);
    cr_assert_eq(mh_bus_delivery_bit("dev1/m1", "devices/dev1/m1/messages/devicebound/"), 0);
    cr_assert_eq(mh_bus_delivery_bit("dev1/m1", "devices/dev1/modules/m1/inputs/x/"), 0);
    cr_assert_eq(mh_bus_delivery_bit(NULL, "$iothub/methods/POST/x/?$rid=1"), 0);
    cr_assert_eq(mh_bus_delivery_bit("dev1", NULL), 0);
}

Test(bus, mh_bus_is_internal_succeeds)
{
    cr_assert(mh_bus_is_internal("$mockhub/anything"));
    cr_assert_not(mh_bus_is_internal("$mockhub"));
    cr_assert_not(mh_bus_is_internal("$iothub/twin/GET/?$rid=1"));
    cr_assert_not(mh_bus_is_internal(NULL));
}

struct calls {
    int kinds[MH_BUS_KIND_COUNT];
    unsigned long long last_token;
};

static void on_any(void *ctx, const mh_bus_msg *msg)
{
    struct calls *c = ctx;
    c->kinds[msg->kind]++;
    c->last_token = msg->token;
}

Test(bus, mh_bus_dispatch_calls_the_kind_handler_succeeds)
{
    mh_bus_handler table[MH_BUS_KIND_COUNT] = {0};
    struct calls c = {{0}, 0};

    table[MH_BUS_SYNC] = on_any;
    table[MH_BUS_KICK] = on_any;
    cr_assert_eq(mh_bus_dispatch("$mockhub/sync", "9", 1, table, &c), 1);
    cr_assert_eq(mh_bus_dispatch("$mockhub/kick/dev1", "", 0, table, &c), 1);
    cr_assert_eq(c.kinds[MH_BUS_SYNC], 1);
    cr_assert_eq(c.kinds[MH_BUS_KICK], 1);
    cr_assert_eq(c.last_token, 0, "the kick's message, not the sync's");
}

Test(bus, mh_bus_dispatch_malformed_or_unhandled_fails)
{
    mh_bus_handler table[MH_BUS_KIND_COUNT] = {0};
    struct calls c = {{0}, 0};

    table[MH_BUS_SYNC] = on_any;
    cr_assert_eq(mh_bus_dispatch("$mockhub/sync", "x", 1, table, &c), 0, "malformed");
    cr_assert_eq(mh_bus_dispatch("$mockhub/resync", "", 0, table, &c), 0, "no handler");
    cr_assert_eq(mh_bus_dispatch("other/topic", "", 0, table, &c), 0, "not a bus topic");
    cr_assert_eq(mh_bus_dispatch("$mockhub/sync", "1", 1, NULL, &c), 0, "no table");
    for (int k = 0; k < MH_BUS_KIND_COUNT; k++)
        cr_assert_eq(c.kinds[k], 0);
}

Test(bus, mh_bus_decode_refuse_count_succeeds)
{
    mh_bus_msg m = decode_ok("$mockhub/refuse/dev1", "3");
    char *topic = NULL, *payload = NULL;
    size_t len = 0;

    cr_assert_eq(m.kind, MH_BUS_REFUSE);
    cr_assert_str_eq(m.id, "dev1");
    cr_assert_eq(m.count, 3);
    cr_assert_eq(m.token, 0, "the count is not a sync token");
    m = decode_ok("$mockhub/refuse/dev1", "0");
    cr_assert_eq(m.count, 0, "0 stops refusing");
    cr_assert_eq(mh_bus_encode(&m, &topic, &payload, &len), MH_OK);
    cr_assert_str_eq(topic, "$mockhub/refuse/dev1");
    cr_assert_str_eq(payload, "0");
    free(topic);
    free(payload);
}

Test(bus, mh_bus_decode_refuse_malformed_fails)
{
    mh_bus_msg m;
    const char *bad[] = {"", "-1", "x", "{\"count\":1}", "9007199254740993"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(mh_bus_decode("$mockhub/refuse/dev1", bad[i], strlen(bad[i]), &m),
                     MH_ERR_ARGUMENT_INVALID, "%s", bad[i]);
    cr_assert_eq(mh_bus_decode("$mockhub/refuse/", "1", 1, &m), MH_ERR_ARGUMENT_INVALID, "no id");
    m = (mh_bus_msg){.kind = MH_BUS_REFUSE, .count = MH_BUS_NUM_MAX + 1};
    strcpy(m.id, "d");
    char *topic = NULL, *payload = NULL;
    size_t len = 0;
    cr_assert_eq(mh_bus_encode(&m, &topic, &payload, &len), MH_ERR_ARGUMENT_INVALID, "count over 2^53");
}

/* Found by fuzz_bus: an id the encoder refuses must not decode either (a wildcard in a device id). */
Test(bus, mh_bus_decode_wildcard_id_fails)
{
    mh_bus_msg m;
    const char *topics[] = {"$mockhub/to/unsubsc###ribed/dev1", "$mockhub/kick/a+b", "$mockhub/from/#/x"};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        cr_assert_eq(mh_bus_decode(topics[i], "", 0, &m), MH_ERR_ARGUMENT_INVALID, "%s", topics[i]);
}
