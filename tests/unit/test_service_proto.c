/* Unit tests for service/iots_proto: request shapes compared with what azure-iothub 1.16.6 put on the
 * wire (shared/reference/node-sdk-behaviour.md 2.2 and 3, captured by a probe server), and answer
 * parsing with bodies from the real hub (iothub-protocol.md 5, addendum 4). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "iot_sas.h"
#include "iots_proto.h"

/* base64 of "mysecretkeymockhub0123456789abcd"; token below printed by azure-iot-common 1.13.3
 * (see tests/unit/test_sas.c, TOK_SVC_NODE, fields reordered to sr,sig,se,skn) */
#define KEY2 "bXlzZWNyZXRrZXltb2NraHViMDEyMzQ1Njc4OWFiY2Q="
#define TOK_SVC_C                                                                                            \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se="                      \
    "1700000000&skn=iothubowner"

Test(service_proto, iots_host_split_valid_succeeds)
{
    static const struct {
        const char *in, *host;
        int port;
    } v[] = {
        {"myhub.azure-devices.net", "myhub.azure-devices.net", 0},
        {"localhost:4443", "localhost", 4443},
        {"127.0.0.1:443", "127.0.0.1", 443},
        {"[::1]:8443", "::1", 8443},
        {"[::1]", "::1", 0},
        {"h:65535", "h", 65535},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char host[64];
        int port = -1;
        cr_assert_eq(iots_host_split(v[i].in, host, sizeof host, &port), IOTS_OK, "%s", v[i].in);
        cr_assert_str_eq(host, v[i].host);
        cr_assert_eq(port, v[i].port);
    }
}

Test(service_proto, iots_host_split_malformed_fails)
{
    static const char *bad[] = {"",         ":443",  "host:", "host:0", "host:65536",
                                "host:44a", "a:1:2", "[::1",  "[::1]x", "[]:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[64] = "untouched";
        int port = 7;
        cr_assert_eq(iots_host_split(bad[i], host, sizeof host, &port), IOTS_ERR_CONNSTR, "%s", bad[i]);
        cr_assert_str_eq(host, "untouched");
        cr_assert_eq(port, 7);
    }
    char tiny[4];
    int port;
    cr_assert_eq(iots_host_split("longhost", tiny, sizeof tiny, &port), IOTS_ERR_ARG);
}

Test(service_proto, iots_url_format_paths_succeeds)
{
    char url[256];
    cr_assert_eq(iots_url_format("localhost", IOTS_PATH_METHODS, "dev1", url, sizeof url), IOTS_OK);
    cr_assert_str_eq(url, "https://localhost/twins/dev1/methods?api-version=2021-04-12");
    cr_assert_eq(iots_url_format("localhost", IOTS_PATH_TWIN, "dev1", url, sizeof url), IOTS_OK);
    cr_assert_str_eq(url, "https://localhost/twins/dev1?api-version=2021-04-12");
    cr_assert_eq(iots_url_format("localhost", IOTS_PATH_DEVICE, "dev2", url, sizeof url), IOTS_OK);
    cr_assert_str_eq(url, "https://localhost/devices/dev2?api-version=2021-04-12");
    cr_assert_eq(iots_url_format("localhost", IOTS_PATH_QUERY, NULL, url, sizeof url), IOTS_OK);
    cr_assert_str_eq(url, "https://localhost/devices/query?api-version=2021-04-12");
    /* host:port kept in the URL; id encoded as encodeURIComponent does */
    cr_assert_eq(iots_url_format("localhost:4443", IOTS_PATH_TWIN, "dev +#@x", url, sizeof url), IOTS_OK);
    cr_assert_str_eq(url, "https://localhost:4443/twins/dev%20%2B%23%40x?api-version=2021-04-12");
}

Test(service_proto, iots_url_format_bad_input_fails)
{
    char url[256], small[20];
    char longid[200];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    cr_assert_eq(iots_url_format("localhost", IOTS_PATH_TWIN, "", url, sizeof url), IOTS_ERR_ARG);
    cr_assert_eq(iots_url_format("localhost", IOTS_PATH_TWIN, NULL, url, sizeof url), IOTS_ERR_ARG);
    cr_assert_eq(iots_url_format("localhost", IOTS_PATH_TWIN, longid, url, sizeof url), IOTS_ERR_ARG);
    cr_assert_eq(iots_url_format("", IOTS_PATH_TWIN, "d", url, sizeof url), IOTS_ERR_ARG);
    cr_assert_eq(iots_url_format("localhost", IOTS_PATH_TWIN, "dev1", small, sizeof small), IOTS_ERR_ARG);
}

Test(service_proto, iots_if_match_format_quotes_succeeds)
{
    char v[64];
    /* Node: _ensureQuoted(etag); "*" is sent with quotes by every service SDK */
    cr_assert_eq(iots_if_match_format("ZXRhZy0x", v, sizeof v), IOTS_OK);
    cr_assert_str_eq(v, "\"ZXRhZy0x\"");
    cr_assert_eq(iots_if_match_format("\"AAAAAAAAAAE=\"", v, sizeof v), IOTS_OK);
    cr_assert_str_eq(v, "\"AAAAAAAAAAE=\"");
    cr_assert_eq(iots_if_match_format(NULL, v, sizeof v), IOTS_OK);
    cr_assert_str_eq(v, "\"*\"");
    cr_assert_eq(iots_if_match_format("*", v, sizeof v), IOTS_OK);
    cr_assert_str_eq(v, "\"*\"");
    cr_assert_eq(iots_if_match_format("ZXRhZy0x", v, 5), IOTS_ERR_ARG);
}

Test(service_proto, iots_uuid_format_v4_succeeds)
{
    unsigned char zero[16] = {0}, ff[16];
    char out[37];
    memset(ff, 0xff, sizeof ff);
    iots_uuid_format(zero, out);
    cr_assert_str_eq(out, "00000000-0000-4000-8000-000000000000");
    iots_uuid_format(ff, out);
    cr_assert_str_eq(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

Test(service_proto, iots_sas_resource_host_port_succeeds)
{
    char sr[128], tok[512];
    cr_assert_eq(iots_sas_resource("myhub.azure-devices.net:4443", sr, sizeof sr), IOTS_OK);
    cr_assert_str_eq(sr, "myhub.azure-devices.net");
    cr_assert_eq(iots_sas_resource("myhub.azure-devices.net", sr, sizeof sr), IOTS_OK);
    cr_assert_str_eq(sr, "myhub.azure-devices.net");
    /* the token signed for a host:port HostName equals the SDK's token for the bare host */
    cr_assert_eq(iot_sas_format(sr, KEY2, "iothubowner", 1700000000, tok, sizeof tok), IOT_OK);
    cr_assert_str_eq(tok, TOK_SVC_C);
    cr_assert_eq(iots_sas_resource(":1", sr, sizeof sr), IOTS_ERR_CONNSTR);
}

Test(service_proto, iots_sas_needs_renewal_margin_succeeds)
{
    cr_assert_eq(iots_sas_needs_renewal(0, 1700000000, 300), 1);
    cr_assert_eq(iots_sas_needs_renewal(1700003600, 1700000000, 300), 0);
    cr_assert_eq(iots_sas_needs_renewal(1700000301, 1700000000, 300), 0);
    cr_assert_eq(iots_sas_needs_renewal(1700000299, 1700000000, 300), 1);
}

Test(service_proto, iots_method_body_format_node_shape_succeeds)
{
    char *b = NULL;
    /* node-sdk-behaviour.md 3: Client.invokeDeviceMethod('dev1', {methodName:'rebootDevice', payload:{}, ...}) */
    cr_assert_eq(iots_method_body_format("rebootDevice", "{}", 30, 0, &b), IOTS_OK);
    cr_assert_str_eq(b, "{\"methodName\":\"rebootDevice\",\"payload\":{},\"responseTimeoutInSeconds\":30,"
                        "\"connectTimeoutInSeconds\":0}");
    free(b);
    /* Node's default payload is null, sent explicitly */
    cr_assert_eq(iots_method_body_format("rebootDevice", NULL, 30, 0, &b), IOTS_OK);
    cr_assert_str_eq(b, "{\"methodName\":\"rebootDevice\",\"payload\":null,\"responseTimeoutInSeconds\":30,"
                        "\"connectTimeoutInSeconds\":0}");
    free(b);
    cr_assert_eq(iots_method_body_format("m", " {\"input1\": \"someInput\"} ", 5, 10, &b), IOTS_OK);
    cr_assert_str_eq(
        b, "{\"methodName\":\"m\",\"payload\":{\"input1\":\"someInput\"},\"responseTimeoutInSeconds\":5,"
           "\"connectTimeoutInSeconds\":10}");
    free(b);
    cr_assert_eq(iots_method_body_format("m", "\"text\"", 5, 0, &b), IOTS_OK);
    cr_assert(strstr(b, "\"payload\":\"text\"") != NULL);
    free(b);
    cr_assert_eq(iots_method_http_timeout_s(30, 0), 45);
}

Test(service_proto, iots_method_body_format_bad_input_fails)
{
    char *b = (char *)0x1;
    cr_assert_eq(iots_method_body_format("m", "{not json", 30, 0, &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_method_body_format("", NULL, 30, 0, &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_method_body_format(NULL, NULL, 30, 0, &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_method_body_format("m", NULL, -1, 0, &b), IOTS_ERR_ARG);
    cr_assert_eq(b, (char *)0x1);
}

Test(service_proto, iots_method_result_parse_hub_answers_succeeds)
{
    static const struct {
        const char *body;
        int status;
        const char *payload;
    } v[] = {
        /* node-sdk-behaviour.md 3 */
        {"{\"status\":200,\"payload\":{\"result\":\"rebooting\",\"method\":\"rebootDevice\"}}", 200,
         "{\"result\":\"rebooting\",\"method\":\"rebootDevice\"}"},
        /* addendum 4: IoT Explorer, device answered with no payload */
        {"{\"status\":0,\"payload\":null}", 0, "null"},
        /* addendum 4, node#736: the hub pasted a device's non-JSON answer verbatim */
        {"{\"status\":200,\"payload\":{'filename': 'logs.zip'}}", 200, "{'filename': 'logs.zip'}"},
        {"{\"status\":404,\"payload\":{\"Response\":\"Unknown method\"}}", 404,
         "{\"Response\":\"Unknown method\"}"},
        {"{\"status\":200}", 200, "null"},
        {"{\"status\":200,\"payload\":\"Reboot started\"}", 200, "\"Reboot started\""},
        /* addendum 4, csharp#120: the 2017 hub's answer for an empty device payload */
        {"{\"status\":200,\"payload\":}", 200, "null"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int status = -1;
        char *payload = NULL;
        cr_assert_eq(iots_method_result_parse(v[i].body, strlen(v[i].body), &status, &payload), IOTS_OK, "%s",
                     v[i].body);
        cr_assert_eq(status, v[i].status);
        cr_assert_str_eq(payload, v[i].payload);
        free(payload);
    }
}

Test(service_proto, iots_method_result_parse_bad_bodies_fails)
{
    static const char *bad[] = {"",
                                "[]",
                                "{}",
                                "{\"status\":\"200\"}",
                                "{\"status\":200,\"payload\"}",
                                "nonsense",
                                "{\"status\":,\"payload\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int status = -1;
        char *payload = NULL;
        cr_assert_eq(iots_method_result_parse(bad[i], strlen(bad[i]), &status, &payload), IOTS_ERR_PROTOCOL,
                     "%s", bad[i]);
        cr_assert_eq(status, -1);
        cr_assert_null(payload);
    }
}

Test(service_proto, iots_bodies_node_shapes_succeeds)
{
    char *b = NULL;
    /* node-sdk-behaviour.md 2.2: Registry.create({deviceId:'dev2'}) */
    cr_assert_eq(iots_device_create_body_format("dev2", &b), IOTS_OK);
    cr_assert_str_eq(
        b,
        "{\"deviceId\":\"dev2\",\"authentication\":{\"type\":\"sas\",\"symmetricKey\":{\"primaryKey\":\"\","
        "\"secondaryKey\":\"\"}}}");
    free(b);
    /* node-sdk-behaviour.md 2.2: updateTwin body */
    cr_assert_eq(iots_twin_patch_body_format("{\"telemetryInterval\":20}", "{\"site\":\"lab2\"}", &b),
                 IOTS_OK);
    cr_assert_str_eq(
        b, "{\"tags\":{\"site\":\"lab2\"},\"properties\":{\"desired\":{\"telemetryInterval\":20}}}");
    free(b);
    cr_assert_eq(iots_twin_patch_body_format("{\"a\":null}", NULL, &b), IOTS_OK);
    cr_assert_str_eq(b, "{\"properties\":{\"desired\":{\"a\":null}}}");
    free(b);
    cr_assert_eq(iots_twin_patch_body_format(NULL, "{\"t\":1}", &b), IOTS_OK);
    cr_assert_str_eq(b, "{\"tags\":{\"t\":1}}");
    free(b);
    /* node-sdk-behaviour.md 2.2: createQuery body */
    cr_assert_eq(iots_query_body_format("SELECT * FROM devices", &b), IOTS_OK);
    cr_assert_str_eq(b, "{\"query\":\"SELECT * FROM devices\"}");
    free(b);
    cr_assert_eq(iots_query_body_format("SELECT * FROM devices WHERE tags.x = 'a\"b'", &b), IOTS_OK);
    cr_assert_str_eq(b, "{\"query\":\"SELECT * FROM devices WHERE tags.x = 'a\\\"b'\"}");
    free(b);
}

Test(service_proto, iots_bodies_bad_input_fails)
{
    char *b = NULL;
    cr_assert_eq(iots_twin_patch_body_format(NULL, NULL, &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_twin_patch_body_format("[1]", NULL, &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_twin_patch_body_format("{\"a\":1}", "5", &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_twin_patch_body_format("{bad", NULL, &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_query_body_format("", &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_device_create_body_format("", &b), IOTS_ERR_ARG);
    cr_assert_null(b);
}

Test(service_proto, iots_header_match_lines_succeeds)
{
    char v[32];
    const char *l1 = "x-ms-continuation: page2token\r\n";
    cr_assert_eq(iots_header_match(l1, strlen(l1), "x-ms-continuation", v, sizeof v), 1);
    cr_assert_str_eq(v, "page2token");
    const char *l2 = "IotHub-ErrorCode:DeviceNotOnline\r\n";
    cr_assert_eq(iots_header_match(l2, strlen(l2), "iothub-errorcode", v, sizeof v), 1);
    cr_assert_str_eq(v, "DeviceNotOnline");
    const char *l3 = "x-ms-continuation-x: y\r\n";
    cr_assert_eq(iots_header_match(l3, strlen(l3), "x-ms-continuation", v, sizeof v), 0);
    const char *l4 = "x-ms-continuation:\r\n";
    cr_assert_eq(iots_header_match(l4, strlen(l4), "x-ms-continuation", v, sizeof v), 1);
    cr_assert_str_eq(v, "");
    const char *l5 = "x-ms-continuation: 0123456789abcdef0123456789abcdef0123\r\n";
    cr_assert_eq(iots_header_match(l5, strlen(l5), "x-ms-continuation", v, 8), 1);
    cr_assert_str_eq(v, "0123456");
}

Test(service_proto, iots_query_page_check_arrays_succeeds)
{
    int n = -1;
    cr_assert_eq(iots_query_page_check("[]", 2, &n), IOTS_OK);
    cr_assert_eq(n, 0);
    const char *page = "[{\"deviceId\":\"d1\"},{\"deviceId\":\"d2\"}]";
    cr_assert_eq(iots_query_page_check(page, strlen(page), &n), IOTS_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(iots_query_page_check("{}", 2, &n), IOTS_ERR_PROTOCOL);
    cr_assert_eq(iots_query_page_check("", 0, &n), IOTS_ERR_PROTOCOL);
}

Test(service_proto, iots_url_format_module_paths_succeeds)
{
    char url[512];
    /* the paths azure-iothub's Registry and Client use for modules */
    cr_assert_eq(iots_url_format_module("h", IOTS_PATH_MODULE, "dev1", "mod1", url, sizeof url), IOTS_OK);
    cr_assert_str_eq(url, "https://h/devices/dev1/modules/mod1?api-version=2021-04-12");
    cr_assert_eq(iots_url_format_module("h", IOTS_PATH_MODULES, "dev1", NULL, url, sizeof url), IOTS_OK);
    cr_assert_str_eq(url, "https://h/devices/dev1/modules?api-version=2021-04-12");
    cr_assert_eq(iots_url_format_module("h", IOTS_PATH_MODULE_TWIN, "dev1", "mod1", url, sizeof url),
                 IOTS_OK);
    cr_assert_str_eq(url, "https://h/twins/dev1/modules/mod1?api-version=2021-04-12");
    cr_assert_eq(iots_url_format_module("h:4443", IOTS_PATH_MODULE_METHODS, "d #", "m+1", url, sizeof url),
                 IOTS_OK);
    cr_assert_str_eq(url, "https://h:4443/twins/d%20%23/modules/m%2B1/methods?api-version=2021-04-12");
    /* device kinds ignore the module id */
    cr_assert_eq(iots_url_format_module("h", IOTS_PATH_TWIN, "dev1", "mod1", url, sizeof url), IOTS_OK);
    cr_assert_str_eq(url, "https://h/twins/dev1?api-version=2021-04-12");
}

Test(service_proto, iots_url_format_module_bad_input_fails)
{
    char url[512], longid[200];
    memset(longid, 'm', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    cr_assert_eq(iots_url_format_module("h", IOTS_PATH_MODULE, "dev1", NULL, url, sizeof url), IOTS_ERR_ARG);
    cr_assert_eq(iots_url_format_module("h", IOTS_PATH_MODULE_TWIN, "dev1", "", url, sizeof url),
                 IOTS_ERR_ARG);
    cr_assert_eq(iots_url_format_module("h", IOTS_PATH_MODULE_METHODS, "dev1", longid, url, sizeof url),
                 IOTS_ERR_ARG);
    cr_assert_eq(iots_url_format_module("h", IOTS_PATH_MODULES, "", NULL, url, sizeof url), IOTS_ERR_ARG);
    /* the device-only function refuses module kinds rather than dropping the module id */
    cr_assert_eq(iots_url_format("h", IOTS_PATH_MODULE_TWIN, "dev1", url, sizeof url), IOTS_ERR_ARG);
    cr_assert_eq(iots_url_format("h", IOTS_PATH_MODULES, "dev1", url, sizeof url), IOTS_ERR_ARG);
}

Test(service_proto, iots_module_bodies_succeeds)
{
    char *b = NULL;
    cr_assert_eq(iots_module_create_body_format("dev1", "mod1", &b), IOTS_OK);
    cr_assert_str_eq(b, "{\"deviceId\":\"dev1\",\"moduleId\":\"mod1\",\"authentication\":{\"type\":\"sas\","
                        "\"symmetricKey\":{\"primaryKey\":\"\",\"secondaryKey\":\"\"}}}");
    free(b);
    cr_assert_eq(
        iots_twin_replace_body_format("{ \"tags\": {\"a\": 1},\n \"properties\": {\"desired\": {}} }", &b),
        IOTS_OK);
    cr_assert_str_eq(b, "{\"tags\":{\"a\":1},\"properties\":{\"desired\":{}}}");
    free(b);
}

Test(service_proto, iots_module_bodies_bad_input_fails)
{
    char *b = NULL;
    cr_assert_eq(iots_module_create_body_format("dev1", "", &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_module_create_body_format("dev1", NULL, &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_module_create_body_format("", "m", &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_twin_replace_body_format("[1]", &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_twin_replace_body_format("{bad", &b), IOTS_ERR_ARG);
    cr_assert_eq(iots_twin_replace_body_format(NULL, &b), IOTS_ERR_ARG);
    cr_assert_null(b);
}
