/* Unit tests for common/iot_connstr. Connection-string shapes as Microsoft's SDKs and the Azure CLI print
 * them (iothub-protocol.md §7); KEY1 is the key of the Node SDK capture in node-sdk-behaviour §1.2. */
#include <criterion/criterion.h>
#include <string.h>

#include "iot_connstr.h"

#define KEY1 "/+MlfCDwB4XemwS84MPGOfZj2z3qKtQVxPQyK+uBsEs="

Test(connstr, iot_connstr_parse_device_key_succeeds)
{
    iot_connstr cs;
    char why[128] = "";
    cr_assert_eq(
        iot_connstr_parse_device("HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=" KEY1, &cs,
                                 why, sizeof(why)),
        IOT_OK, "%s", why);
    cr_assert_str_eq(cs.host_name, "myhub.azure-devices.net");
    cr_assert_str_eq(cs.device_id, "dev1");
    cr_assert_str_eq(cs.shared_access_key, KEY1); /* split at the first '=' keeps the key's padding */
    cr_assert_str_eq(cs.module_id, "");
    cr_assert_eq(cs.x509, 0);
}

Test(connstr, iot_connstr_parse_device_gateway_module_succeeds)
{
    iot_connstr cs;
    char why[128] = "";
    cr_assert_eq(iot_connstr_parse_device("HostName=localhost;DeviceId=dev1;ModuleId=m1;SharedAccessKey=" KEY1
                                          ";GatewayHostName=localhost:8885;",
                                          &cs, why, sizeof(why)),
                 IOT_OK, "%s", why);
    cr_assert_str_eq(cs.gateway_host_name, "localhost:8885");
    cr_assert_str_eq(cs.module_id, "m1");
}

Test(connstr, iot_connstr_parse_device_x509_succeeds)
{
    iot_connstr cs;
    cr_assert_eq(iot_connstr_parse_device("HostName=h;DeviceId=d;x509=true", &cs, NULL, 0), IOT_OK);
    cr_assert_eq(cs.x509, 1);
}

Test(connstr, iot_connstr_parse_device_sas_succeeds)
{
    iot_connstr cs;
    cr_assert_eq(iot_connstr_parse_device(
                     "HostName=localhost;DeviceId=dev1;SharedAccessSignature=SharedAccessSignature "
                     "sr=localhost%2Fdevices%2Fdev1&sig=Gzt%2Bsa6fXZHB%2B0l%2FWcFNNSfN%2F4QC4bI%2B4x8ngPeH%"
                     "2Fp8%3D&se=1795682020",
                     &cs, NULL, 0),
                 IOT_OK);
    cr_assert_str_eq(cs.shared_access_signature, "SharedAccessSignature "
                                                 "sr=localhost%2Fdevices%2Fdev1&sig=Gzt%2Bsa6fXZHB%2B0l%"
                                                 "2FWcFNNSfN%2F4QC4bI%2B4x8ngPeH%2Fp8%3D&se=1795682020");
}

Test(connstr, iot_connstr_parse_service_succeeds)
{
    iot_connstr cs;
    char why[128] = "";
    cr_assert_eq(iot_connstr_parse_service(
                     "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" KEY1,
                     &cs, why, sizeof(why)),
                 IOT_OK, "%s", why);
    cr_assert_str_eq(cs.shared_access_key_name, "iothubowner");
}

struct connstr_bad {
    const char *text;
    iot_err want;
    const char *why;
};

static void check_bad(iot_err (*fn)(const char *, iot_connstr *, char *, size_t), const struct connstr_bad *b)
{
    iot_connstr cs;
    char why[160] = "";
    memset(&cs, 0x5a, sizeof(cs));
    cr_assert_eq(fn(b->text, &cs, why, sizeof(why)), b->want, "%s -> %s", b->text, why);
    cr_assert_str_eq(why, b->why);
    cr_assert_eq(cs.host_name[0], 0x5a, "output written on failure");
}

Test(connstr, iot_connstr_parse_device_bad_fails)
{
    static const struct connstr_bad bad[] = {
        {"HostName=h;SharedAccessKey=" KEY1, IOT_E_MISSING,
         "connection string has no DeviceId (is this a service connection string?)"},
        {"DeviceId=d;SharedAccessKey=" KEY1, IOT_E_MISSING, "connection string has no HostName"},
        {"HostName=h;DeviceId=d", IOT_E_MISSING,
         "connection string has none of SharedAccessKey, SharedAccessSignature, x509=true"},
        {"HostName=h;DeviceId=d;x509=false", IOT_E_MISSING,
         "connection string has none of SharedAccessKey, SharedAccessSignature, x509=true"},
        {"HostName=h;DeviceId=d;SharedAccessKey=" KEY1 ";x509=true", IOT_E_INVALID,
         "connection string must have only one of SharedAccessKey, SharedAccessSignature, x509=true"},
        {"HostName=h;DeviceId=d;SharedAccessKey=abc", IOT_E_INVALID, "SharedAccessKey is not valid base64"},
        {"HostName=h;DeviceId=d;SharedAccessKey=" KEY1 ";DeviceId=e", IOT_E_DUPLICATE,
         "connection string has DeviceId more than once"},
        {"hostname=h;DeviceId=d;SharedAccessKey=" KEY1, IOT_E_INVALID,
         "connection string has unknown key 'hostname' (keys are case-sensitive)"},
        {"HostName=h;DeviceId;SharedAccessKey=" KEY1, IOT_E_INVALID,
         "connection string segment 'DeviceId' is not Key=Value"},
        {"HostName=;DeviceId=d;SharedAccessKey=" KEY1, IOT_E_INVALID,
         "connection string has an empty HostName"},
        {"HostName=h;DeviceId=d;x509=yes", IOT_E_INVALID, "connection string x509 must be true or false"},
        {"HostName=h;DeviceId=d;SharedAccessSignature=sr=x", IOT_E_INVALID,
         "SharedAccessSignature must start with 'SharedAccessSignature sr='"},
        {"", IOT_E_MISSING, "connection string has no HostName"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_bad(iot_connstr_parse_device, &bad[i]);
}

Test(connstr, iot_connstr_parse_service_bad_fails)
{
    static const struct connstr_bad bad[] = {
        {"HostName=h;SharedAccessKey=" KEY1, IOT_E_MISSING,
         "connection string has no SharedAccessKeyName (is this a device connection string?)"},
        {"HostName=h;SharedAccessKeyName=iothubowner", IOT_E_MISSING,
         "connection string has no SharedAccessKey"},
        {"SharedAccessKeyName=iothubowner;SharedAccessKey=" KEY1, IOT_E_MISSING,
         "connection string has no HostName"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_bad(iot_connstr_parse_service, &bad[i]);
}

Test(connstr, iot_connstr_parse_too_long_fails)
{
    char text[400];
    iot_connstr cs;
    char why[128];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    memcpy(text, "HostName=", 9);
    cr_assert_eq(iot_connstr_parse(text, &cs, why, sizeof(why)), IOT_E_INVALID);
    cr_assert_str_eq(why, "connection string HostName is too long (max 255 characters)");
}
