/* Unit tests for service/iots_error: IoT Hub REST error bodies in both envelopes. The bodies are the
 * real hub's, copied from the captures cited in shared/reference/iothub-protocol.md 5.2 and
 * iothub-protocol-addendum.md 8 (tracking ids shortened there with "…", kept as they are). */
#include <criterion/criterion.h>
#include <string.h>

#include "iots_error.h"

/* [I-cs37]/[I-java85]: legacy envelope, method call to an offline device */
#define BODY_NOT_ONLINE_LEGACY                                                                               \
    "{\"Message\":\"ErrorCode:DeviceNotOnline;Timed out waiting for device to "                              \
    "connect.\",\"ExceptionMessage\":"                                                                       \
    "\"Tracking ID:66b8d5…-G:5-TimeStamp:01/18/2017 08:11:45\"}"
/* [I-cs3442]: newer envelope, Message is a JSON string */
#define BODY_NOT_ONLINE_JSON                                                                                 \
    "{\"Message\":\"{\\\"errorCode\\\":404103,\\\"trackingId\\\":\\\"aa761f…-TimeStamp:03/14/2024 "        \
    "09:54:49\\\","                                                                                          \
    "\\\"message\\\":\\\"The operation failed because the requested device isn't online or hasn't "          \
    "registered "                                                                                            \
    "the direct method callback. To learn more, see "                                                        \
    "https://aka.ms/iothub404103\\\",\\\"info\\\":{\\\"timeout\\\":"                                         \
    "\\\"00:00:00\\\"},\\\"timestampUtc\\\":\\\"2024-03-14T09:54:49.6536567Z\\\"}\",\"ExceptionMessage\":"   \
    "\"\"}"
/* [I-java640]: 504101 in the newer envelope (trackingId/timestamp elided in the capture) */
#define BODY_GATEWAY_TIMEOUT                                                                                 \
    "{\"Message\":\"{\\\"errorCode\\\":504101,\\\"trackingId\\\":\\\"…\\\",\\\"message\\\":\\\"Timed out " \
    "waiting for the response from device.\\\",\\\"info\\\":{},\\\"timestampUtc\\\":\\\"…\\\"}\","         \
    "\"ExceptionMessage\":\"\"}"
/* addendum 8, [R-mtwin412] */
#define BODY_TWIN_412                                                                                        \
    "{\"Message\":\"ErrorCode:PreconditionFailed;ETag mismatch for device ID 'X'\",\"ExceptionMessage\":"    \
    "\"Tracking ID:d92b…-TimeStamp:09/01/2020 20:58:38\"}"
/* addendum 8, az CLI output (printed as a Python dict there; here as the JSON the hub sent) */
#define BODY_NOT_FOUND                                                                                         \
    "{\"Message\":\"ErrorCode:DeviceNotFound;sensor-thl-001\",\"ExceptionMessage\":\"Tracking ID:06e0…-G:0-" \
    "TimeStamp:10/24/2023 16:57:00\"}"
/* addendum 8, csharp#724 */
#define BODY_400004                                                                                          \
    "{\"Message\":\"{\\\"errorCode\\\":400004,\\\"trackingId\\\":\\\"ca23…-G:14-TimeStamp:12/04/2018 "     \
    "12:33:53\\\",\\\"message\\\":\\\"responseTimeoutInSeconds must be within [5; "                          \
    "300].\\\",\\\"timestampUtc\\\":"                                                                        \
    "\\\"2018-12-04T12:33:53.2091489Z\\\"}\",\"ExceptionMessage\":\"\"}"
/* addendum 8, iot-central-firmware#107: the bare MQTT-style body (hub's typo kept) */
#define BODY_BARE                                                                                             \
    "{\"errorCode\":400004,\"trackingId\":\"4088…-G:9-TimeStamp:01/08/2020 14:21:23\",\"message\":\"Error " \
    "occured while parsing message payload as UTF-8 JSON "                                                    \
    "object.\",\"timestampUtc\":\"2020-01-08T14:21:23Z\"}"
/* addendum 8, iot-edge-opc-proxy#82 */
#define BODY_ARG_NULL                                                                                        \
    "{\"Message\":\"ErrorCode:ArgumentNull;BadRequest\",\"ExceptionMessage\":\"Tracking ID:8f81…-G:6-"     \
    "TimeStamp:01/23/2018 20:39:04\"}"

static iots_err parse(long status, const char *body, const char *hdr, iots_error_info *e)
{
    return iots_error_parse(status, body, body ? strlen(body) : 0, hdr, e);
}

Test(service_error, iots_error_parse_not_online_legacy_succeeds)
{
    iots_error_info e;
    cr_assert_eq(parse(404, BODY_NOT_ONLINE_LEGACY, "DeviceNotOnline", &e), IOTS_ERR_DEVICE_NOT_ONLINE);
    cr_assert_str_eq(e.name, "DeviceNotOnline");
    cr_assert_eq(e.code, 404103);
    cr_assert_str_eq(e.message, "Timed out waiting for device to connect.");
    cr_assert_str_eq(e.tracking_id, "66b8d5…-G:5-TimeStamp:01/18/2017 08:11:45");
    cr_assert_eq(e.http_status, 404);
}

Test(service_error, iots_error_parse_not_online_json_envelope_succeeds)
{
    iots_error_info e;
    cr_assert_eq(parse(404, BODY_NOT_ONLINE_JSON, NULL, &e), IOTS_ERR_DEVICE_NOT_ONLINE);
    cr_assert_eq(e.code, 404103);
    cr_assert_str_eq(e.name, "DeviceNotOnline");
    cr_assert(strncmp(e.message, "The operation failed because the requested device isn't online", 62) == 0);
    cr_assert_str_eq(e.tracking_id, "aa761f…-TimeStamp:03/14/2024 09:54:49");
}

Test(service_error, iots_error_parse_gateway_timeout_succeeds)
{
    iots_error_info e;
    cr_assert_eq(parse(504, BODY_GATEWAY_TIMEOUT, NULL, &e), IOTS_ERR_TIMEOUT);
    cr_assert_eq(e.code, 504101);
    cr_assert_str_eq(e.name, "GatewayTimeout");
    cr_assert_str_eq(e.message, "Timed out waiting for the response from device.");
}

Test(service_error, iots_error_parse_device_not_found_succeeds)
{
    iots_error_info e;
    cr_assert_eq(parse(404, BODY_NOT_FOUND, NULL, &e), IOTS_ERR_DEVICE_NOT_FOUND);
    cr_assert_str_eq(e.name, "DeviceNotFound");
    cr_assert_eq(e.code, 404001);
    cr_assert_str_eq(e.message, "sensor-thl-001");
}

Test(service_error, iots_error_parse_precondition_succeeds)
{
    iots_error_info e;
    cr_assert_eq(parse(412, BODY_TWIN_412, NULL, &e), IOTS_ERR_PRECONDITION);
    cr_assert_str_eq(e.name, "PreconditionFailed");
    cr_assert_eq(e.code, 412001);
    cr_assert_str_eq(e.message, "ETag mismatch for device ID 'X'");
    cr_assert_str_eq(e.tracking_id, "d92b…-TimeStamp:09/01/2020 20:58:38");
}

Test(service_error, iots_error_parse_bad_request_variants_succeeds)
{
    iots_error_info e;
    cr_assert_eq(parse(400, BODY_400004, NULL, &e), IOTS_ERR_BAD_REQUEST);
    cr_assert_eq(e.code, 400004);
    cr_assert_str_eq(e.name, "ArgumentInvalid");
    cr_assert_str_eq(e.message, "responseTimeoutInSeconds must be within [5; 300].");
    cr_assert_eq(parse(400, BODY_BARE, NULL, &e), IOTS_ERR_BAD_REQUEST);
    cr_assert_eq(e.code, 400004);
    cr_assert_str_eq(e.message, "Error occured while parsing message payload as UTF-8 JSON object.");
    cr_assert_eq(parse(400, BODY_ARG_NULL, NULL, &e), IOTS_ERR_BAD_REQUEST);
    cr_assert_str_eq(e.name, "ArgumentNull");
    cr_assert_eq(e.code, 400005);
    cr_assert_str_eq(e.message, "BadRequest");
}

Test(service_error, iots_error_parse_status_classes_succeeds)
{
    static const struct {
        long status;
        const char *body;
        iots_err want;
    } v[] = {
        {401,
         "{\"Message\":\"ErrorCode:IotHubUnauthorizedAccess;Unauthorized\",\"ExceptionMessage\":\"Tracking "
         "ID:x\"}",
         IOTS_ERR_UNAUTHORIZED},
        {409, "{\"Message\":\"ErrorCode:DeviceAlreadyExists;A device with ID 'd' is already registered.\"}",
         IOTS_ERR_CONFLICT},
        {429, "{\"Message\":\"ErrorCode:ThrottlingException;slow down\"}", IOTS_ERR_THROTTLED},
        {503, "{\"Message\":\"ErrorCode:ServiceUnavailable;busy\"}", IOTS_ERR_SERVER},
        {500, "{\"Message\":\"ErrorCode:ServerError;oops\"}", IOTS_ERR_SERVER},
        {403, "{\"Message\":\"ErrorCode:IotHubQuotaExceeded;quota\"}", IOTS_ERR_FORBIDDEN},
        {413, "{\"Message\":\"ErrorCode:MessageTooLarge;big\"}", IOTS_ERR_TOO_LARGE},
        {404, "{\"Message\":\"ErrorCode:GenericNotFound;no route\"}", IOTS_ERR_NOT_FOUND},
        {418, "", IOTS_ERR_HTTP},
        {501, "{\"Message\":\"ErrorCode:NotImplemented;later\"}", IOTS_ERR_HTTP},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        iots_error_info e;
        cr_assert_eq(parse(v[i].status, v[i].body, NULL, &e), v[i].want, "case %zu", i);
        cr_assert_eq(e.err, v[i].want);
    }
}

Test(service_error, iots_error_parse_header_only_succeeds)
{
    iots_error_info e;
    cr_assert_eq(parse(404, "<html>not found</html>", "DeviceNotOnline", &e), IOTS_ERR_DEVICE_NOT_ONLINE);
    cr_assert_str_eq(e.name, "DeviceNotOnline");
    cr_assert_eq(e.code, 404103);
    cr_assert_str_eq(e.message, "<html>not found</html>");
    cr_assert_eq(parse(404, NULL, NULL, &e), IOTS_ERR_NOT_FOUND);
    cr_assert_str_eq(e.name, "");
    cr_assert_str_eq(e.message, "not found");
}

Test(service_error, iots_error_parse_odd_bodies_fails)
{
    /* shapes that are JSON but not an IoT Hub envelope: status decides, nothing crashes */
    static const char *bodies[] = {"[]",
                                   "{\"Message\":12}",
                                   "{\"Message\":\"{not json\"}",
                                   "{\"Message\":\"ErrorCode:\"}",
                                   "null",
                                   "{\"errorCode\":\"x\"}",
                                   "{"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        iots_error_info e;
        cr_assert_eq(parse(404, bodies[i], NULL, &e), IOTS_ERR_NOT_FOUND, "body %s", bodies[i]);
        cr_assert(e.message[0] != '\0');
    }
}

Test(service_error, iots_error_classify_codes_succeeds)
{
    cr_assert_eq(iots_error_classify(200, NULL, 0), IOTS_OK);
    cr_assert_eq(iots_error_classify(204, NULL, 0), IOTS_OK);
    cr_assert_eq(iots_error_classify(404, NULL, 404103), IOTS_ERR_DEVICE_NOT_ONLINE);
    cr_assert_eq(iots_error_classify(404, NULL, 404102), IOTS_ERR_DEVICE_NOT_ONLINE);
    cr_assert_eq(iots_error_classify(404, "ModuleNotFound", 0), IOTS_ERR_DEVICE_NOT_FOUND);
    cr_assert_eq(iots_error_classify(504, NULL, 0), IOTS_ERR_TIMEOUT);
    cr_assert_eq(iots_error_classify(408, NULL, 0), IOTS_ERR_TIMEOUT);
    cr_assert_eq(iots_error_code_for_name("GatewayTimeout"), 504101);
    cr_assert_eq(iots_error_code_for_name("NoSuchName"), 0);
    cr_assert_str_eq(iots_error_name_for_code(401002), "IotHubUnauthorizedAccess");
    cr_assert_null(iots_error_name_for_code(1));
}

Test(service_error, iots_err_str_all_codes_succeeds)
{
    for (int i = 0; i < IOTS_ERR__COUNT; i++)
        cr_assert(strcmp(iots_err_str((iots_err)i), "unknown error") != 0, "code %d", i);
    cr_assert_str_eq(iots_err_str(IOTS_ERR__COUNT), "unknown error");
    cr_assert_str_eq(iots_err_str(IOTS_ERR_DEVICE_NOT_ONLINE), "device not online");
}
