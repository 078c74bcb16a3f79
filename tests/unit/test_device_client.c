/* Unit tests for device/iotd_client without a network: configuration errors are reported with a clear
 * message, and requests need a connection. */
#include <criterion/criterion.h>
#include <stdio.h>
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

static iotd_client *offline_client(const char *ids)
{
    iotd_client *c = NULL;
    char cs[512], why[256] = "";
    unsetenv("IOTHUB_CA_FILE");
    snprintf(cs, sizeof(cs), "HostName=h.example;%s;SharedAccessKey=" KEY1 ";GatewayHostName=localhost:1",
             ids);
    cr_assert_eq(iotd_client_new(cs, NULL, &c, why, sizeof(why)), IOTD_OK, "%s", why);
    return c;
}

static void on_c2d_unused(void *ctx, const iotd_c2d_message *msg, const void *body, size_t len)
{
    (void)ctx;
    (void)msg;
    (void)body;
    (void)len;
}

Test(device_client, iotd_client_new_module_identity_succeeds)
{
    iotd_client *m = offline_client("DeviceId=dev1;ModuleId=mod1");
    iotd_client *d = offline_client("DeviceId=dev1");
    cr_assert_str_eq(iotd_client_identity(m), "dev1/mod1");
    cr_assert_eq(iotd_client_is_module(m), 1);
    cr_assert_str_eq(iotd_client_identity(d), "dev1");
    cr_assert_eq(iotd_client_is_module(d), 0);
    iotd_client_free(m);
    iotd_client_free(d);
}

Test(device_client, iotd_client_new_slash_in_ids_fails)
{
    check_config_error("HostName=h;DeviceId=a/b;SharedAccessKey=" KEY1, NULL, "may not contain '/'");
    check_config_error("HostName=h;DeviceId=a;ModuleId=m/x;SharedAccessKey=" KEY1, NULL,
                       "may not contain '/'");
}

Test(device_client, iotd_client_on_c2d_module_fails)
{
    iotd_client *m = offline_client("DeviceId=dev1;ModuleId=mod1");
    iotd_client *d = offline_client("DeviceId=dev1");
    cr_assert_eq(iotd_client_on_c2d(m, on_c2d_unused, NULL), IOTD_E_INVALID);
    cr_assert(strstr(iotd_client_last_error(m), "not delivered to modules") != NULL, "%s",
              iotd_client_last_error(m));
    cr_assert(strstr(iotd_client_last_error(m), "dev1/mod1") != NULL);
    cr_assert_eq(iotd_client_on_c2d(d, on_c2d_unused, NULL), IOTD_OK);
    iotd_client_free(m);
    iotd_client_free(d);
}

Test(device_client, iotd_client_send_event_output_name_needs_module_fails)
{
    iotd_client *m = offline_client("DeviceId=dev1;ModuleId=mod1");
    iotd_client *d = offline_client("DeviceId=dev1");
    iotd_message_props p = {0};
    p.output_name = "out1";
    cr_assert_eq(iotd_client_send_event(d, "x", 1, &p), IOTD_E_INVALID);
    cr_assert(strstr(iotd_client_last_error(d), "needs a module identity") != NULL, "%s",
              iotd_client_last_error(d));
    /* a module may name an output; it only lacks a connection here */
    cr_assert_eq(iotd_client_send_event(m, "x", 1, &p), IOTD_E_NOT_CONNECTED);
    iotd_client_free(m);
    iotd_client_free(d);
}
