/* Unit tests for service/iots_twin: reboot-time lookups in twin documents shaped like the real hub's
 * (iothub-protocol.md 5.4, azure-iot-explorer capture) and ISO-8601 parsing. */
#include <criterion/criterion.h>
#include <string.h>

#include "iots_twin.h"

/* [I-explorer563] twin, trimmed, with a reported rebootTime added as this project's device app reports it */
#define TWIN_REBOOT                                                                                          \
    "{\"deviceId\":\"derniertest\",\"etag\":\"AAAAAAAAABo=\",\"deviceEtag\":\"ODQ4NDk5Mzk=\",\"status\":"    \
    "\"enabled\",\"connectionState\":\"Connected\",\"version\":27,\"properties\":{\"desired\":{\"test\":"    \
    "\"newtest23456\",\"$metadata\":{\"$lastUpdated\":\"2022-10-19T12:10:35.7728649Z\",\"$"                  \
    "lastUpdatedVersion\":"                                                                                  \
    "26},\"$version\":26},\"reported\":{\"rebootTime\":\"2022-10-19T12:11:00.123Z\",\"$metadata\":{"         \
    "\"$lastUpdated\":\"2022-09-30T19:29:03.6006968Z\"},\"$version\":2}},\"capabilities\":{\"iotEdge\":"     \
    "false}}"
/* the Node tutorial's shape: iothubDM.reboot.lastReboot */
#define TWIN_TUTORIAL                                                                                        \
    "{\"deviceId\":\"myDeviceId\",\"etag\":\"AAAAAAAAAAE=\",\"properties\":{\"desired\":{\"$version\":1},"   \
    "\"reported\":{\"iothubDM\":{\"reboot\":{\"lastReboot\":\"2017-08-25T10:00:00.000Z\"}},\"$version\":3}}" \
    "}"
#define TWIN_NONE                                                                                            \
    "{\"deviceId\":\"d\",\"etag\":\"AAAAAAAAAAE=\",\"properties\":{\"desired\":{\"$version\":1},"            \
    "\"reported\":"                                                                                          \
    "{\"$metadata\":{\"$lastUpdated\":\"2022-09-30T19:29:03.6006968Z\"},\"$version\":1}}}"

Test(service_twin, iots_twin_reboot_time_both_shapes_succeeds)
{
    char out[64];
    cr_assert_eq(iots_twin_reboot_time(TWIN_REBOOT, strlen(TWIN_REBOOT), out, sizeof out), IOTS_OK);
    cr_assert_str_eq(out, "2022-10-19T12:11:00.123Z");
    cr_assert_eq(iots_twin_reboot_time(TWIN_TUTORIAL, strlen(TWIN_TUTORIAL), out, sizeof out), IOTS_OK);
    cr_assert_str_eq(out, "2017-08-25T10:00:00.000Z");
}

Test(service_twin, iots_twin_reboot_time_absent_fails)
{
    char out[64] = "untouched";
    cr_assert_eq(iots_twin_reboot_time(TWIN_NONE, strlen(TWIN_NONE), out, sizeof out), IOTS_ERR_NOT_FOUND);
    cr_assert_str_eq(out, "untouched");
    const char *num = "{\"properties\":{\"reported\":{\"rebootTime\":5}}}";
    cr_assert_eq(iots_twin_reboot_time(num, strlen(num), out, sizeof out), IOTS_ERR_NOT_FOUND);
    cr_assert_eq(iots_twin_reboot_time("{bad", 4, out, sizeof out), IOTS_ERR_PROTOCOL);
    cr_assert_eq(iots_twin_reboot_time("[]", 2, out, sizeof out), IOTS_ERR_PROTOCOL);
    char tiny[8];
    cr_assert_eq(iots_twin_reboot_time(TWIN_REBOOT, strlen(TWIN_REBOOT), tiny, sizeof tiny), IOTS_ERR_ARG);
}

Test(service_twin, iots_twin_reported_string_paths_succeeds)
{
    char out[64];
    cr_assert_eq(iots_twin_reported_string(TWIN_TUTORIAL, strlen(TWIN_TUTORIAL), "iothubDM.reboot.lastReboot",
                                           out, sizeof out),
                 IOTS_OK);
    cr_assert_str_eq(out, "2017-08-25T10:00:00.000Z");
    cr_assert_eq(
        iots_twin_reported_string(TWIN_TUTORIAL, strlen(TWIN_TUTORIAL), "iothubDM.reboot", out, sizeof out),
        IOTS_ERR_NOT_FOUND);
    cr_assert_eq(
        iots_twin_reported_string(TWIN_TUTORIAL, strlen(TWIN_TUTORIAL), "iothubDM..x", out, sizeof out),
        IOTS_ERR_ARG);
    cr_assert_eq(iots_twin_etag(TWIN_REBOOT, strlen(TWIN_REBOOT), out, sizeof out), IOTS_OK);
    cr_assert_str_eq(out, "AAAAAAAAABo=");
}

Test(service_twin, iots_iso8601_parse_forms_succeeds)
{
    static const struct {
        const char *in;
        long long ms;
    } v[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2022-10-19T12:10:35.7728649Z", 1666181435772LL}, /* hub, 7 fraction digits */
        {"2024-03-14T09:54:49.6536567Z", 1710410089653LL},
        {"2020-07-28T22:17:23.785061Z", 1595974643785LL},
        {"2017-08-25T10:00:00.000Z", 1503655200000LL}, /* JavaScript toISOString */
        {"2017-08-25T10:00:00.5Z", 1503655200500LL},
        {"2017-08-25T12:00:00+02:00", 1503655200000LL},
        {"2017-08-25T05:30:00-04:30", 1503655200000LL},
        {"2017-08-25T10:00:00", 1503655200000LL}, /* device create answer: no zone */
        {"2017-08-25t10:00:00z", 1503655200000LL},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        long long ms = -1;
        cr_assert_eq(iots_iso8601_parse(v[i].in, &ms), IOTS_OK, "%s", v[i].in);
        cr_assert_eq(ms, v[i].ms, "%s: %lld", v[i].in, ms);
    }
    long long ms;
    cr_assert_eq(iots_iso8601_parse("0001-01-01T00:00:00", &ms), IOTS_OK);
    cr_assert(ms < 0);
}

Test(service_twin, iots_iso8601_parse_malformed_fails)
{
    static const char *bad[] = {"",
                                "2017-08-25",
                                "2017-08-25 10:00:00Z",
                                "2017-13-25T10:00:00Z",
                                "2017-08-25T24:00:00Z",
                                "2017-08-25T10:00:00.Z",
                                "2017-08-25T10:00:00ZZ",
                                "2017-08-25T10:00:00+0200",
                                "17-08-25T10:00:00Z",
                                "2017-08-25T10:00:00.1234567890Z",
                                "now"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long ms = 42;
        cr_assert_eq(iots_iso8601_parse(bad[i], &ms), IOTS_ERR_ARG, "%s", bad[i]);
        cr_assert_eq(ms, 42);
    }
}
