/* Unit tests for device/iotd_proto: topics, username, property bags (vectors printed by Microsoft's Node
 * SDK, azure-iot-device-mqtt 1.16.4 `Mqtt.prototype._getEventTopicFromMessage`), reply parsing, backoff. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "iotd_proto.h"

Test(device_proto, iotd_proto_username_device_succeeds)
{
    char out[256];
    cr_assert_eq(iotd_proto_username("localhost", "dev1", out, sizeof(out)), IOTD_OK);
    /* Node shape (node-sdk-behaviour §1.2) with our DeviceClientType, encodeURIComponent'ed */
    cr_assert_str_eq(out, "localhost/dev1/?api-version=2021-04-12&DeviceClientType=iotd-c%2F0.1");
}

Test(device_proto, iotd_proto_username_small_buffer_fails)
{
    char out[20];
    cr_assert_eq(iotd_proto_username("localhost", "dev1", out, sizeof(out)), IOTD_E_NOSPACE);
}

Test(device_proto, iotd_proto_client_id_module_succeeds)
{
    char out[64];
    cr_assert_eq(iotd_proto_client_id("dev1", NULL, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "dev1");
    cr_assert_eq(iotd_proto_client_id("dev1", "m1", out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "dev1/m1");
    cr_assert_eq(iotd_proto_client_id("", NULL, out, sizeof(out)), IOTD_E_INVALID);
}

Test(device_proto, iotd_proto_sas_resource_succeeds)
{
    char out[128];
    cr_assert_eq(iotd_proto_sas_resource("h.azure-devices.net", "dev1", "", out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "h.azure-devices.net/devices/dev1");
    cr_assert_eq(iotd_proto_sas_resource("h.azure-devices.net", "dev1", "m1", out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "h.azure-devices.net/devices/dev1/modules/m1");
}

Test(device_proto, iotd_proto_telemetry_topic_node_capture_succeeds)
{
    /* node-sdk-behaviour §1.3 capture; same string from _getEventTopicFromMessage with messageId "msg-1",
     * correlationId "corr-1", contentType "application/json", contentEncoding "utf-8",
     * properties alert="hot & humid", dt-subject="sensor1" */
    static const iotd_property user[] = {{"alert", "hot & humid"}, {"dt-subject", "sensor1"}};
    iotd_message_props p = {0};
    char out[512];

    p.message_id = "msg-1";
    p.correlation_id = "corr-1";
    p.content_type = "application/json";
    p.content_encoding = "utf-8";
    p.user = user;
    p.user_count = 2;
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", NULL, &p, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "devices/dev1/messages/events/"
                          "%24.mid=msg-1&%24.cid=corr-1&%24.ct=application%2Fjson&%24.ce=utf-8&alert=hot%20%"
                          "26%20humid&%24.sub=sensor1");
}

Test(device_proto, iotd_proto_telemetry_topic_system_order_succeeds)
{
    /* Node: messageId "m 1", userId "u", to "/devices/x", contentType "text/plain; charset=utf-8",
     * expiryTimeUtc "2030-01-01T00:00:00.000Z" */
    iotd_message_props p = {0};
    char out[512];

    p.expiry_utc = "2030-01-01T00:00:00.000Z";
    p.content_type = "text/plain; charset=utf-8";
    p.to = "/devices/x";
    p.user_id = "u";
    p.message_id = "m 1";
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", NULL, &p, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "devices/dev1/messages/events/"
                          "%24.mid=m%201&%24.uid=u&%24.to=%2Fdevices%2Fx&%24.ct=text%2Fplain%3B%20charset%"
                          "3Dutf-8&%24.exp=2030-01-01T00%3A00%3A00.000Z");
}

Test(device_proto, iotd_proto_telemetry_topic_user_only_succeeds)
{
    /* Node: properties "a b"="c/d=e", "k"="" */
    static const iotd_property user[] = {{"a b", "c/d=e"}, {"k", ""}};
    iotd_message_props p = {0};
    char out[256];

    p.user = user;
    p.user_count = 2;
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", NULL, &p, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "devices/dev1/messages/events/a%20b=c%2Fd%3De&k=");
}

Test(device_proto, iotd_proto_telemetry_topic_no_props_succeeds)
{
    char out[128];
    /* Node: a message without properties */
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", NULL, NULL, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "devices/dev1/messages/events/");
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", "m1", NULL, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "devices/dev1/modules/m1/messages/events/");
}

Test(device_proto, iotd_proto_telemetry_topic_small_buffer_fails)
{
    iotd_message_props p = {0};
    char out[40];
    p.message_id = "a-rather-long-message-id";
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", NULL, &p, out, sizeof(out)), IOTD_E_NOSPACE);
}

Test(device_proto, iotd_proto_request_topics_succeeds)
{
    char out[128];
    cr_assert_eq(iotd_proto_method_response_topic(200, "7", out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "$iothub/methods/res/200/?$rid=7");
    cr_assert_eq(iotd_proto_method_response_topic(404, "abc", out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "$iothub/methods/res/404/?$rid=abc");
    cr_assert_eq(iotd_proto_twin_get_topic("1", out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "$iothub/twin/GET/?$rid=1");
    cr_assert_eq(iotd_proto_twin_patch_topic("2", out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "$iothub/twin/PATCH/properties/reported/?$rid=2");
}

Test(device_proto, iotd_proto_parse_method_request_succeeds)
{
    char name[64], rid[64];
    cr_assert_eq(iotd_proto_parse_method_request("$iothub/methods/POST/rebootDevice/?$rid=1", name,
                                                 sizeof(name), rid, sizeof(rid)),
                 IOTD_OK);
    cr_assert_str_eq(name, "rebootDevice");
    cr_assert_str_eq(rid, "1");
    /* Node also copes without '/' before '?' and with extra parameters */
    cr_assert_eq(iotd_proto_parse_method_request("$iothub/methods/POST/m?x=1&$rid=abc-9", name, sizeof(name),
                                                 rid, sizeof(rid)),
                 IOTD_OK);
    cr_assert_str_eq(name, "m");
    cr_assert_str_eq(rid, "abc-9");
}

Test(device_proto, iotd_proto_parse_method_request_fails)
{
    static const char *bad[] = {
        "$iothub/methods/POST/",         "$iothub/methods/POST//?$rid=1", "$iothub/methods/POST/m/",
        "$iothub/methods/POST/m/?$rid=", "$iothub/methods/POST/m/?rid=1", "$iothub/methods/res/200/?$rid=1",
        "$iothub/twin/res/200/?$rid=1",
    };
    char name[64], rid[64];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(iotd_proto_parse_method_request(bad[i], name, sizeof(name), rid, sizeof(rid)),
                     IOTD_E_INVALID, "%s", bad[i]);
    cr_assert_eq(iotd_proto_parse_method_request("$iothub/methods/POST/averyveryverylongname/?$rid=1", name,
                                                 8, rid, sizeof(rid)),
                 IOTD_E_NOSPACE);
}

Test(device_proto, iotd_proto_parse_twin_response_succeeds)
{
    char rid[64];
    int status = 0;
    long long ver = 0;
    /* real hub captures (iothub-protocol §3.1) */
    cr_assert_eq(
        iotd_proto_parse_twin_response("$iothub/twin/res/200/?$rid=1", &status, rid, sizeof(rid), &ver),
        IOTD_OK);
    cr_assert_eq(status, 200);
    cr_assert_str_eq(rid, "1");
    cr_assert_eq(ver, -1);
    cr_assert_eq(iotd_proto_parse_twin_response("$iothub/twin/res/204/?$rid=2&$version=5", &status, rid,
                                                sizeof(rid), &ver),
                 IOTD_OK);
    cr_assert_eq(status, 204);
    cr_assert_str_eq(rid, "2");
    cr_assert_eq(ver, 5);
    cr_assert_eq(iotd_proto_parse_twin_response("$iothub/twin/res/400/?$version=9&$rid=x", &status, rid,
                                                sizeof(rid), &ver),
                 IOTD_OK);
    cr_assert_eq(status, 400);
    cr_assert_str_eq(rid, "x");
    cr_assert_eq(ver, 9);
}

Test(device_proto, iotd_proto_parse_twin_response_fails)
{
    static const char *bad[] = {
        "$iothub/twin/res/",
        "$iothub/twin/res/abc/?$rid=1",
        "$iothub/twin/res/200?$rid=1",
        "$iothub/twin/res/200/?$version=1",
        "$iothub/twin/res/204/?$rid=1&$version=x",
        "$iothub/twin/res/2000/?$rid=1",
        "$iothub/twin/PATCH/properties/desired/?$version=1",
    };
    char rid[64];
    int status;
    long long ver;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(iotd_proto_parse_twin_response(bad[i], &status, rid, sizeof(rid), &ver), IOTD_E_INVALID,
                     "%s", bad[i]);
}

Test(device_proto, iotd_proto_parse_desired_patch_succeeds)
{
    long long ver = 0;
    cr_assert_eq(iotd_proto_parse_desired_patch("$iothub/twin/PATCH/properties/desired/?$version=7", &ver),
                 IOTD_OK);
    cr_assert_eq(ver, 7);
    cr_assert_eq(iotd_proto_parse_desired_patch("$iothub/twin/PATCH/properties/desired/", &ver), IOTD_OK);
    cr_assert_eq(ver, -1);
    cr_assert_eq(iotd_proto_parse_desired_patch("$iothub/twin/PATCH/properties/desired/?$version=z", &ver),
                 IOTD_E_INVALID);
    cr_assert_eq(iotd_proto_parse_desired_patch("$iothub/twin/PATCH/properties/reported/?$rid=1", &ver),
                 IOTD_E_INVALID);
}

Test(device_proto, iotd_proto_parse_hostport_succeeds)
{
    char host[64];
    int port = 0;
    cr_assert_eq(iotd_proto_parse_hostport("localhost:8885", 8883, host, sizeof(host), &port), IOTD_OK);
    cr_assert_str_eq(host, "localhost");
    cr_assert_eq(port, 8885);
    cr_assert_eq(iotd_proto_parse_hostport("myhub.azure-devices.net", 8883, host, sizeof(host), &port),
                 IOTD_OK);
    cr_assert_str_eq(host, "myhub.azure-devices.net");
    cr_assert_eq(port, 8883);
    cr_assert_eq(iotd_proto_parse_hostport("[::1]:9000", 8883, host, sizeof(host), &port), IOTD_OK);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 9000);
}

Test(device_proto, iotd_proto_parse_hostport_fails)
{
    static const char *bad[] = {"", ":8883", "h:", "h:0", "h:65536", "h:12x", "::1", "[::1", "[]:1"};
    char host[64];
    int port;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(iotd_proto_parse_hostport(bad[i], 8883, host, sizeof(host), &port), IOTD_E_INVALID, "%s",
                     bad[i]);
}

Test(device_proto, iotd_proto_backoff_ms_schedule_succeeds)
{
    /* rnd = 0 gives the lower bound d/2, a huge rnd modulo gives values up to d */
    cr_assert_eq(iotd_proto_backoff_ms(0, 500, 30000, 0), 250);
    cr_assert_eq(iotd_proto_backoff_ms(1, 500, 30000, 0), 500);
    cr_assert_eq(iotd_proto_backoff_ms(2, 500, 30000, 0), 1000);
    cr_assert_eq(iotd_proto_backoff_ms(0, 500, 30000, 250), 500);
    cr_assert_eq(iotd_proto_backoff_ms(0, 500, 30000, 251), 0 + 250);
    cr_assert_eq(iotd_proto_backoff_ms(6, 500, 30000, 0), 15000);        /* 32000 capped to 30000 */
    cr_assert_eq(iotd_proto_backoff_ms(1000, 500, 30000, 15000), 30000); /* no overflow for huge attempts */
    for (unsigned a = 0; a < 40; a++) {
        for (uint32_t r = 0; r < 100000; r += 7919) {
            unsigned d = iotd_proto_backoff_ms(a, 500, 30000, r * 2654435761u);
            unsigned full = a >= 6 ? 30000 : 500u << a;
            cr_assert(d >= full / 2 && d <= full, "attempt %u delay %u", a, d);
        }
    }
}

Test(device_proto, iotd_proto_connack_fatal_succeeds)
{
    cr_assert_eq(iotd_proto_connack_fatal(5), 1);
    cr_assert_eq(iotd_proto_connack_fatal(4), 1);
    cr_assert_eq(iotd_proto_connack_fatal(3), 0); /* disabled device / server unavailable: retried */
    cr_assert_eq(iotd_proto_connack_fatal(0), 0);
    cr_assert(strstr(iotd_proto_connack_str(3), "disabled") != NULL);
}

/* ---- C2D property bags (iothub-protocol.md 4.2; the first vector is a real hub's capture) */

Test(device_proto, iotd_proto_parse_c2d_real_capture_succeeds)
{
    static iotd_c2d_message m;
    const char *t =
        "devices/mqtt-dev-01/messages/devicebound/%24.mid=d411e727-42&%24.to=%2Fdevices%2Fmqtt-dev-01"
        "%2Fmessages%2Fdevicebound&%24.ce=utf-8&iothub-ack=none";
    cr_assert_eq(iotd_proto_parse_c2d(t, &m), IOTD_OK);
    cr_assert_str_eq(m.message_id, "d411e727-42");
    cr_assert_str_eq(m.to, "/devices/mqtt-dev-01/messages/devicebound");
    cr_assert_str_eq(m.content_encoding, "utf-8");
    cr_assert_str_eq(m.ack, "none");
    cr_assert_str_eq(m.correlation_id, "");
    cr_assert_str_eq(m.content_type, "");
    cr_assert_eq(m.prop_count, 0);
}

Test(device_proto, iotd_proto_parse_c2d_all_properties_succeeds)
{
    static iotd_c2d_message m;
    const char *t =
        "devices/d1/messages/devicebound/$.mid=m1&$.cid=c%201&$.uid=u&$.ct=application%2Fjson"
        "&$.exp=2026-12-03T20%3A00%3A00.000Z&iothub-ack=full&color=blue&with%2Fslash=a%2Fb&flag&empty=";
    cr_assert_eq(iotd_proto_parse_c2d(t, &m), IOTD_OK);
    cr_assert_str_eq(m.message_id, "m1");
    cr_assert_str_eq(m.correlation_id, "c 1");
    cr_assert_str_eq(m.user_id, "u");
    cr_assert_str_eq(m.content_type, "application/json");
    cr_assert_str_eq(m.expiry_utc, "2026-12-03T20:00:00.000Z");
    cr_assert_str_eq(m.ack, "full");
    cr_assert_eq(m.prop_count, 4);
    cr_assert_str_eq(m.props[0].key, "color");
    cr_assert_str_eq(m.props[0].value, "blue");
    cr_assert_str_eq(m.props[1].key, "with/slash");
    cr_assert_str_eq(m.props[1].value, "a/b");
    cr_assert_str_eq(m.props[2].key, "flag");
    cr_assert_str_eq(m.props[2].value, "");
    cr_assert_str_eq(m.props[3].key, "empty");
    cr_assert_str_eq(m.props[3].value, "");
}

Test(device_proto, iotd_proto_parse_c2d_empty_bag_succeeds)
{
    static iotd_c2d_message m;
    cr_assert_eq(iotd_proto_parse_c2d("devices/d1/messages/devicebound/", &m), IOTD_OK);
    cr_assert_eq(m.prop_count, 0);
    cr_assert_str_eq(m.message_id, "");
}

Test(device_proto, iotd_proto_parse_c2d_bad_input_fails)
{
    static iotd_c2d_message m;
    static char many[4096];
    m.prop_count = 99; /* untouched on failure */
    cr_assert_eq(iotd_proto_parse_c2d("devices/d1/messages/events/a=b", &m), IOTD_E_INVALID);
    cr_assert_eq(iotd_proto_parse_c2d("$iothub/twin/res/200/?$rid=1", &m), IOTD_E_INVALID);
    cr_assert_eq(iotd_proto_parse_c2d("devices/d1/messages/devicebound/a=%zz", &m), IOTD_E_INVALID);
    size_t n = (size_t)snprintf(many, sizeof many, "devices/d1/messages/devicebound/");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "k%d=v&", i);
    cr_assert_eq(iotd_proto_parse_c2d(many, &m), IOTD_E_NOSPACE);
    cr_assert_eq(m.prop_count, 99);
    cr_assert(iotd_proto_is_c2d_topic("devices/d1/messages/devicebound/"));
    cr_assert(!iotd_proto_is_c2d_topic("devices/d1/modules/m/messages/devicebound/"));
}

Test(device_proto, iotd_proto_telemetry_topic_module_output_succeeds)
{
    /* Node ModuleClient.sendOutputEvent("out1", msg with messageId "m-1" and property "t"="1"):
     * $.on first, then the message's system properties, then the application ones */
    static const iotd_property user[] = {{"t", "1"}};
    iotd_message_props p = {0};
    char out[256];

    p.output_name = "out 1";
    p.message_id = "m-1";
    p.user = user;
    p.user_count = 1;
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", "m1", &p, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "devices/dev1/modules/m1/messages/events/%24.on=out%201&%24.mid=m-1&t=1");
}

Test(device_proto, iotd_proto_telemetry_topic_output_without_module_fails)
{
    iotd_message_props p = {0};
    char out[256] = "untouched";

    p.output_name = "out1";
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", NULL, &p, out, sizeof(out)), IOTD_E_INVALID);
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", "", &p, out, sizeof(out)), IOTD_E_INVALID);
    p.output_name = ""; /* empty = no output */
    cr_assert_eq(iotd_proto_telemetry_topic("dev1", NULL, &p, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out, "devices/dev1/messages/events/");
}

Test(device_proto, iotd_proto_username_module_succeeds)
{
    char out[256], id[64];
    /* AZURE: a module's user name is {host}/{deviceId}/{moduleId}/?api-version=... */
    cr_assert_eq(iotd_proto_client_id("dev1", "m1", id, sizeof(id)), IOTD_OK);
    cr_assert_eq(iotd_proto_username("h.azure-devices.net", id, out, sizeof(out)), IOTD_OK);
    cr_assert_str_eq(out,
                     "h.azure-devices.net/dev1/m1/?api-version=2021-04-12&DeviceClientType=iotd-c%2F0.1");
}
