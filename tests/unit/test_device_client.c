/* Unit tests for device/iotd_client without a network: configuration errors are reported with a clear
 * message, and requests need a connection. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "iotd_client.h"

#define KEY1 "/+MlfCDwB4XemwS84MPGOfZj2z3qKtQVxPQyK+uBsEs="

static void check_config_error(const char *cs, const iotd_options *opt, const char *want)
{
    iotd_client *c = NULL;
    char why[512] = "";
    cr_assert_eq(iotd_client_new(cs, opt, &c, why, sizeof(why)), IOTD_E_CONFIG, "%s", cs ? cs : "(null)");
    cr_assert_null(c);
    cr_assert(strstr(why, want) != NULL, "why '%s' lacks '%s'", why, want);
}

Test(device_client, iotd_client_new_bad_connection_string_fails)
{
    check_config_error(NULL, NULL, "no device connection string");
    check_config_error("", NULL, "no device connection string");
    check_config_error("HostName=h;SharedAccessKey=" KEY1, NULL, "no DeviceId");
    check_config_error("HostName=h;DeviceId=d;SharedAccessKey=abc", NULL, "not valid base64");
    check_config_error("HostName=h;DeviceId=d;x509=true", NULL, "x509");
    check_config_error("HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=x", NULL,
                       "not a valid SAS token");
    check_config_error("HostName=h;DeviceId=d;SharedAccessKey=" KEY1 ";GatewayHostName=h:99999", NULL,
                       "host:port");
}

Test(device_client, iotd_client_new_missing_ca_file_fails)
{
    iotd_options opt;
    memset(&opt, 0, sizeof(opt));
    opt.ca_file = "/nonexistent/ca.pem";
    check_config_error("HostName=h;DeviceId=d;SharedAccessKey=" KEY1, &opt,
                       "cannot read CA file /nonexistent/ca.pem");
}

Test(device_client, iotd_client_requests_need_connection_fails)
{
    iotd_client *c = NULL;
    char why[256] = "";
    unsetenv("IOTHUB_CA_FILE");
    cr_assert_eq(iotd_client_new("HostName=localhost;DeviceId=d;SharedAccessKey=" KEY1
                                 ";GatewayHostName=localhost:1",
                                 NULL, &c, why, sizeof(why)),
                 IOTD_OK, "%s", why);
    cr_assert_eq(iotd_client_connected(c), 0);
    cr_assert_eq(iotd_client_twin_get(c, NULL, NULL), IOTD_E_NOT_CONNECTED);
    cr_assert_eq(iotd_client_twin_report(c, "{}", NULL, NULL), IOTD_E_NOT_CONNECTED);
    cr_assert_eq(iotd_client_send_event(c, "x", 1, NULL), IOTD_E_NOT_CONNECTED);
    cr_assert_eq(iotd_client_method_respond(c, "1", 200, NULL), IOTD_E_NOT_CONNECTED);
    cr_assert_eq(iotd_client_twin_report(c, "", NULL, NULL), IOTD_E_INVALID);
    cr_assert_eq(iotd_client_on_method(c, "", NULL, NULL), IOTD_E_INVALID);
    iotd_client_free(c);
}
