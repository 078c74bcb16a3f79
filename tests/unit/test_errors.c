/* Unit tests for errors.c: the status/name/number table and the REST and MQTT error bodies. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errors.h"

static int matches(const char *pattern, const char *text)
{
    regex_t re;
    int rc;

    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    return rc == 0;
}

static const struct {
    mh_err code;
    int status;
    const char *name;
    long number;
} table[] = {
    {MH_ERR_NOMEM, 500, "ServerError", 500001},
    {MH_ERR_INTERNAL, 500, "ServerError", 500001},
    {MH_ERR_ARGUMENT_INVALID, 400, "ArgumentInvalid", 400004},
    {MH_ERR_ARGUMENT_NULL, 400, "ArgumentNull", 400005},
    {MH_ERR_FORMAT, 400, "IotHubFormatError", 400006},
    {MH_ERR_UNAUTHORIZED, 401, "IotHubUnauthorizedAccess", 401002},
    {MH_ERR_DEVICE_NOT_FOUND, 404, "DeviceNotFound", 404001},
    {MH_ERR_NOT_FOUND, 404, "GenericNotFound", 404000},
    {MH_ERR_DEVICE_NOT_ONLINE, 404, "DeviceNotOnline", 404103},
    {MH_ERR_METHOD_NOT_ALLOWED, 405, "GenericMethodNotAllowed", 405000},
    {MH_ERR_DEVICE_EXISTS, 409, "DeviceAlreadyExists", 409001},
    {MH_ERR_PRECONDITION, 412, "PreconditionFailed", 412001},
    {MH_ERR_TOO_LARGE, 413, "MessageTooLarge", 413001},
    {MH_ERR_THROTTLED, 429, "ThrottlingException", 429001},
    {MH_ERR_NOT_IMPLEMENTED, 501, "NotImplemented", 501000},
    {MH_ERR_UNAVAILABLE, 503, "ServiceUnavailable", 503001},
    {MH_ERR_GATEWAY_TIMEOUT, 504, "GatewayTimeout", 504101},
    {MH_ERR_QUERY, 400, "BadRequest", 400000},
    {MH_ERR_SERVER_BUSY, 503, "ServerBusy", 503005},
};

Test(errors, mh_err_lookup_every_code_succeeds)
{
    size_t i;

    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
        const mh_err_info *info = mh_err_lookup(table[i].code);
        cr_assert_eq(info->http_status, table[i].status, "code %d", table[i].code);
        cr_assert_str_eq(info->name, table[i].name);
        cr_assert_eq(info->number, table[i].number, "code %d", table[i].code);
    }
}

Test(errors, mh_err_lookup_unknown_code_succeeds)
{
    cr_assert_eq(mh_err_lookup(MH_ERR__COUNT), mh_err_lookup(MH_ERR_INTERNAL));
    cr_assert_eq(mh_err_lookup((mh_err)-3)->http_status, 500);
}

Test(errors, mh_fail_records_code_and_text_succeeds)
{
    mh_status st;

    cr_assert_eq(mh_fail(&st, MH_ERR_DEVICE_NOT_FOUND, "%s-%d", "dev", 7), MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_eq(st.code, MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_str_eq(st.text, "dev-7");
    cr_assert_eq(mh_fail(NULL, MH_ERR_PRECONDITION, "x"), MH_ERR_PRECONDITION);
}

Test(errors, mh_fail_long_text_truncates_succeeds)
{
    mh_status st;
    char big[2000];

    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mh_fail(&st, MH_ERR_ARGUMENT_INVALID, "%s", big);
    cr_assert_eq(strlen(st.text), sizeof st.text - 1);
}

Test(errors, mh_err_rest_body_device_not_found_succeeds)
{
    char *body = mh_err_rest_body(MH_ERR_DEVICE_NOT_FOUND, "sensor-thl-001");
    cJSON *j = cJSON_Parse(body);

    cr_assert_not_null(j);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "Message")->valuestring,
                     "ErrorCode:DeviceNotFound;sensor-thl-001");
    cr_assert(matches("^Tracking ID:[0-9a-f]{32}-G:0-TimeStamp:[01][0-9]/[0-3][0-9]/[0-9]{4} "
                      "[0-2][0-9]:[0-5][0-9]:[0-6][0-9]$",
                      cJSON_GetObjectItem(j, "ExceptionMessage")->valuestring),
              "%s", body);
    cJSON_Delete(j);
    free(body);
}

Test(errors, mh_err_rest_body_escapes_text_succeeds)
{
    const char *text = "bad \"quote\" and \\ back\nslash";
    char *body = mh_err_rest_body(MH_ERR_ARGUMENT_INVALID, text);
    cJSON *j = cJSON_Parse(body);
    char expect[128];

    cr_assert_not_null(j, "%s", body);
    snprintf(expect, sizeof expect, "ErrorCode:ArgumentInvalid;%s", text);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "Message")->valuestring, expect);
    cJSON_Delete(j);
    free(body);
}

Test(errors, mh_err_rest_body_null_text_succeeds)
{
    char *body = mh_err_rest_body(MH_ERR_PRECONDITION, NULL);
    cJSON *j = cJSON_Parse(body);

    cr_assert_str_eq(cJSON_GetObjectItem(j, "Message")->valuestring, "ErrorCode:PreconditionFailed;");
    cJSON_Delete(j);
    free(body);
}

Test(errors, mh_err_mqtt_body_fields_succeeds)
{
    char *body = mh_err_mqtt_body(MH_ERR_ARGUMENT_INVALID, "bad \"x\"");
    cJSON *j = cJSON_Parse(body);

    cr_assert_not_null(j);
    cr_assert_eq(cJSON_GetObjectItem(j, "errorCode")->valuedouble, 400004);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "message")->valuestring, "bad \"x\"");
    cr_assert(matches("^[0-9a-f]{32}-G:0-TimeStamp:[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
                      cJSON_GetObjectItem(j, "trackingId")->valuestring));
    cr_assert(matches("Z$", cJSON_GetObjectItem(j, "timestampUtc")->valuestring));
    cJSON_Delete(j);
    free(body);
}

Test(errors, mh_err_mqtt_body_format_error_uses_400004_succeeds)
{
    char *body =
        mh_err_mqtt_body(MH_ERR_FORMAT, "Error occured while parsing message payload as UTF-8 JSON object.");
    cJSON *j = cJSON_Parse(body);

    cr_assert_eq(cJSON_GetObjectItem(j, "errorCode")->valuedouble, 400004);
    cJSON_Delete(j);
    free(body);
    body = mh_err_mqtt_body(MH_ERR_PRECONDITION, "x");
    j = cJSON_Parse(body);
    cr_assert_eq(cJSON_GetObjectItem(j, "errorCode")->valuedouble, 412001);
    cJSON_Delete(j);
    free(body);
}

Test(errors, mh_time_now_iso_format_succeeds)
{
    char buf[40];
    int i;

    for (i = 0; i < 200; i++) {
        mh_time_now_iso(buf, sizeof buf);
        cr_assert(
            matches("^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{0,6}[1-9])?Z$",
                    buf),
            "%s", buf);
    }
}
