/* Unit tests for mockhub/devauth: the device CONNECT decision. Usernames and tokens are literal
 * strings Microsoft's SDKs sent (node-sdk-behaviour.md 1.2 capture, iothub-protocol.md 1.2 table,
 * the Node azure-iot-common 1.13.3 vectors of test_sas.c); others are made with iot_sas_format. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "devauth.h"
#include "iot_sas.h"

/* Node azure-iot-device 1.18.4 CONNECT, captured (node-sdk-behaviour.md 1.2); key KEY1 */
#define NODE_USER                                                                                            \
    "localhost/dev1/"                                                                                        \
    "?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%"     \
    "2012%3B%20x64)"
#define NODE_PASS                                                                                            \
    "SharedAccessSignature "                                                                                 \
    "sr=localhost%2Fdevices%2Fdev1&sig=Gzt%2Bsa6fXZHB%2B0l%2FWcFNNSfN%2F4QC4bI%2B4x8ngPeH%2Fp8%3D&se="       \
    "1795682020"
#define KEY1 "/+MlfCDwB4XemwS84MPGOfZj2z3qKtQVxPQyK+uBsEs="
#define KEY2 "bXlzZWNyZXRrZXltb2NraHViMDEyMzQ1Njc4OWFiY2Q="
#define KEY3 "c2Vjb25kYXJ5a2V5bW9ja2h1YjAxMjM0NTY3ODlhYmM="
/* Node create(encodeURIComponent("myhub.azure-devices.net/devices/dev1"), undefined, KEY2, 1700000001) */
#define NODE_MYHUB_PASS                                                                                      \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=cYewNUym1OD2R%2B%2FCIeKlJoi%2FUydRf9OZnmYuYKbJiQo%3D&"  \
    "se=1700000001"
/* Node create(encodeURIComponent("myhub.azure-devices.net/devices/dev1"), "device", KEY2, 1795682020) */
#define NODE_POLICY_PASS                                                                                     \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=ejOkf%2FrimgCdlRapQC1kaq%2B8T%2F1q%2BIKCQJBx6Tzspew%"   \
    "3D&skn=device&se=1795682020"
/* Node create(encodeURIComponent("myhub.azure-devices.net/devices/dev1/modules/m1"), undefined, KEY1, 1800000000) */
#define NODE_MODULE_PASS                                                                                     \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fm1&sig=%2BtdjIbjhV6Ti1Xg1Q132FEorYCVrvlt63v%"   \
    "2BRTIfAToo%3D&se=1800000000"

#define NOW 1700000000LL

/* A registry of four devices and their modules for the lookup stub (module rows are "d/m"). */
struct stub_dev {
    const char *id;
    mh_device_auth auth;
};
static const struct stub_dev registry[] = {
    {"dev1", {KEY1, KEY3, 1, 1}},    {"dev2", {KEY2, KEY3, 1, 1}},    {"off1", {KEY1, KEY3, 0, 1}},
    {"x509", {"", "", 1, 0}},        {"dev1/m1", {KEY1, KEY3, 1, 1}}, /* the key of the Node module capture */
    {"dev2/mod", {KEY1, "", 1, 1}},  /* dev2's keys are KEY2/KEY3: a different key */
    {"dev2/offm", {KEY1, "", 0, 1}}, /* a disabled module row */
    {"off1/m1", {KEY2, "", 1, 1}},   /* an enabled module of a disabled device */
    {"ghost2/m1", {KEY2, "", 1, 1}}, /* a module row whose device row is gone */
    {"dev2/x509m", {"", "", 1, 0}},
};
static int lookups;

static mh_err stub_lookup(void *ctx, const char *id, mh_device_auth *out)
{
    (void)ctx;
    lookups++;
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        if (strcmp(registry[i].id, id) == 0) {
            *out = registry[i].auth;
            return MH_OK;
        }
    }
    return MH_ERR_DEVICE_NOT_FOUND;
}

static mh_err failing_lookup(void *ctx, const char *id, mh_device_auth *out)
{
    (void)ctx;
    (void)id;
    (void)out;
    return MH_ERR_INTERNAL;
}

/* Token for host/devices/id signed with key, valid until se. */
static void make_token(const char *host, const char *id, const char *key, long long se, char *out, size_t n)
{
    char res[256];
    snprintf(res, sizeof res, "%s/devices/%s", host, id);
    cr_assert_eq(iot_sas_format(res, key, NULL, se, out, n), IOT_OK);
}

/* Token for host/devices/dev/modules/mod signed with key, valid until se. */
static void make_module_token(const char *host, const char *dev, const char *mod, const char *key,
                              long long se, char *out, size_t n)
{
    char res[512];
    snprintf(res, sizeof res, "%s/devices/%s/modules/%s", host, dev, mod);
    cr_assert_eq(iot_sas_format(res, key, NULL, se, out, n), IOT_OK);
}

static mh_devauth_verdict check(const char *host, const char *cid, const char *user, const char *pass,
                                long long now, mh_devauth_result *r)
{
    return mh_devauth_check(host, cid, user, pass, now, stub_lookup, NULL, r);
}

/* ---- username forms ---- */

static const struct {
    const char *username;
    const char *host, *device, *module, *api;
} user_vecs[] = {
    {NODE_USER, "localhost", "dev1", "", "2021-04-12"},
    /* az-C */
    {"myhub.azure-devices.net/dev1/"
     "?api-version=2020-09-30&DeviceClientType=azsdk-c%2F1.6.0&model-id=dtmi%3Acom%3Aexample%3AThermostat%"
     "3B1",
     "myhub.azure-devices.net", "dev1", "", "2020-09-30"},
    /* legacy C, current and old (no '?') */
    {"myhub.azure-devices.net/dev1/"
     "?api-version=2020-09-30&DeviceClientType=iothubclient%2f1.9.0%20(native%3b%20Linux%3b%20aarch64)",
     "myhub.azure-devices.net", "dev1", "", "2020-09-30"},
    {"myhub.azure-devices.net/dev1/api-version=2016-11-14&DeviceClientType=iothubclient%2f1.1.0",
     "myhub.azure-devices.net", "dev1", "", "2016-11-14"},
    /* Python quote() keeps '/' in the user agent */
    {"myhub.azure-devices.net/dev1/?api-version=2019-10-01&DeviceClientType=azure-iot-device-iothub-py/"
     "2.14.0(3.11;Linux 6.1;x86_64)",
     "myhub.azure-devices.net", "dev1", "", "2019-10-01"},
    /* module form (docs) */
    {"myhub.azure-devices.net/dev1/m1/?api-version=2021-04-12", "myhub.azure-devices.net", "dev1", "m1",
     "2021-04-12"},
    /* no parameters at all; api-version not first */
    {"localhost/dev1", "localhost", "dev1", "", ""},
    {"localhost/dev1/?DeviceClientType=x&api-version=2099-01-01", "localhost", "dev1", "", "2099-01-01"},
    /* device ids may contain '?' */
    {"localhost/a?b/?api-version=1", "localhost", "a?b", "", "1"},
};

Test(devauth, mh_devauth_username_parse_sdk_forms_succeeds)
{
    for (size_t i = 0; i < sizeof user_vecs / sizeof user_vecs[0]; i++) {
        mh_devauth_username u;
        mh_status st;
        cr_assert_eq(mh_devauth_username_parse(user_vecs[i].username, &u, &st), MH_OK, "%s: %s",
                     user_vecs[i].username, st.text);
        cr_assert_str_eq(u.host, user_vecs[i].host);
        cr_assert_str_eq(u.device_id, user_vecs[i].device);
        cr_assert_str_eq(u.module_id, user_vecs[i].module);
        cr_assert_str_eq(u.api_version, user_vecs[i].api);
    }
}

Test(devauth, mh_devauth_username_parse_model_id_succeeds)
{
    mh_devauth_username u;
    cr_assert_eq(mh_devauth_username_parse(user_vecs[1].username, &u, NULL), MH_OK);
    cr_assert_str_eq(u.model_id, "dtmi%3Acom%3Aexample%3AThermostat%3B1");
}

Test(devauth, mh_devauth_username_parse_malformed_fails)
{
    static const char *const bad[] = {
        "",
        "localhost",
        "localhost/",
        "/dev1/?api-version=1",
        "localhost//?api-version=1",
        "h/d/m/x/?api-version=1",
        "localhost/dev1/m1//?api-version=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mh_devauth_username u;
        mh_status st = {0};
        cr_assert_eq(mh_devauth_username_parse(bad[i], &u, &st), MH_ERR_ARGUMENT_INVALID, "%s", bad[i]);
        cr_assert_neq(st.text[0], '\0');
    }
}

/* ---- decisions ---- */

Test(devauth, mh_devauth_check_node_capture_succeeds)
{
    mh_devauth_result r;
    cr_assert_eq(check("localhost", "dev1", NODE_USER, NODE_PASS, NOW, &r), MH_DEVAUTH_OK, "%s", r.reason);
    cr_assert_str_eq(r.identity, "dev1");
    cr_assert_eq(r.expiry, 1795682020LL);
    cr_assert_str_eq(r.reason, "");
}

Test(devauth, mh_devauth_check_host_case_insensitive_succeeds)
{
    mh_devauth_result r;
    cr_assert_eq(check("LocalHost", "dev1", "LOCALHOST/dev1/?api-version=2021-04-12", NODE_PASS, NOW, &r),
                 MH_DEVAUTH_OK, "%s", r.reason);
}

Test(devauth, mh_devauth_check_node_token_myhub_succeeds)
{
    mh_devauth_result r;
    /* signed with KEY2: dev2's primary is KEY2 but this token names dev1 -> only dev1's keys count */
    cr_assert_eq(check("myhub.azure-devices.net", "dev1",
                       "myhub.azure-devices.net/dev1/?api-version=2021-04-12", NODE_MYHUB_PASS, NOW, &r),
                 MH_DEVAUTH_DENIED);
    cr_assert(strstr(r.reason, "neither device key"), "%s", r.reason);
    cr_assert_eq(check("myhub.azure-devices.net", "dev1",
                       "myhub.azure-devices.net/dev1/?api-version=2021-04-12", NODE_MYHUB_PASS, 1700000001LL,
                       &r),
                 MH_DEVAUTH_DENIED); /* expired exactly at se */
    cr_assert(strstr(r.reason, "expired"), "%s", r.reason);
}

Test(devauth, mh_devauth_check_secondary_key_succeeds)
{
    mh_devauth_result r;
    char tok[512];
    make_token("localhost", "dev2", KEY3, NOW + 3600, tok, sizeof tok);
    cr_assert_eq(check("localhost", "dev2", "localhost/dev2/?api-version=2021-04-12", tok, NOW, &r),
                 MH_DEVAUTH_OK, "%s", r.reason);
    make_token("localhost", "dev2", KEY2, NOW + 3600, tok, sizeof tok);
    cr_assert_eq(check("localhost", "dev2", "localhost/dev2/?api-version=2021-04-12", tok, NOW, &r),
                 MH_DEVAUTH_OK, "%s", r.reason);
}

Test(devauth, mh_devauth_check_disabled_device_succeeds)
{
    mh_devauth_result r;
    char tok[512];
    make_token("localhost", "off1", KEY1, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "off1", "localhost/off1/?api-version=2021-04-12", tok, NOW, &r),
                 MH_DEVAUTH_DISABLED);
    cr_assert(strstr(r.reason, "disabled"), "%s", r.reason);
    /* wrong key on a disabled device is still "not authorized" */
    make_token("localhost", "off1", KEY2, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "off1", "localhost/off1/?api-version=2021-04-12", tok, NOW, &r),
                 MH_DEVAUTH_DENIED);
}

Test(devauth, mh_devauth_check_bad_credentials_fails)
{
    char dev1_tok[512], dev2_tok[512], other_host[512], wrong_key[512];
    make_token("localhost", "dev1", KEY1, NOW + 60, dev1_tok, sizeof dev1_tok);
    make_token("localhost", "dev2", KEY2, NOW + 60, dev2_tok, sizeof dev2_tok);
    make_token("otherhub", "dev1", KEY1, NOW + 60, other_host, sizeof other_host);
    make_token("localhost", "dev1", KEY2, NOW + 60, wrong_key, sizeof wrong_key);
    char ghost[512];
    make_token("localhost", "ghost", KEY1, NOW + 60, ghost, sizeof ghost);
    char x509[512];
    make_token("localhost", "x509", KEY1, NOW + 60, x509, sizeof x509);
    char dev10[512];
    make_token("localhost", "dev10", KEY1, NOW + 60, dev10, sizeof dev10);

    const struct {
        const char *host, *cid, *user, *pass, *why;
    } cases[] = {
        {"localhost", "dev1", "localhost/dev1/?api-version=1", wrong_key, "neither device key"},
        {"localhost", "dev1", "localhost/dev1/?api-version=1", NODE_PASS "0",
         "neither device key"}, /* se changed */
        {"localhost", "dev1", "localhost/dev1/?api-version=1", dev2_tok, "does not cover"},
        {"localhost", "dev2", "localhost/dev2/?api-version=1", dev1_tok, "does not cover"},
        {"localhost", "dev1", "localhost/dev2/?api-version=1", dev1_tok, "differ"},
        {"localhost", "dev2", "localhost/dev1/?api-version=1", dev1_tok, "differ"},
        {"localhost", "dev1", "otherhub/dev1/?api-version=1", other_host, "not this hub"},
        {"localhost", "dev1", "localhost/dev1/?api-version=1", other_host, "does not cover"},
        {"localhost", "dev10", "localhost/dev10/?api-version=1", dev10, "not registered"},
        {"localhost", "ghost", "localhost/ghost/?api-version=1", ghost, "not registered"},
        {"localhost", "x509", "localhost/x509/?api-version=1", x509, "SAS"},
        {"localhost", "dev1", "localhost/dev1/?api-version=1", NULL, "no SAS token"},
        {"localhost", "dev1", "localhost/dev1/?api-version=1", "", "no SAS token"},
        {"localhost", "dev1", "localhost/dev1/?api-version=1", "secret", "malformed"},
        {"localhost", "dev1", "localhost/dev1/?api-version=1",
         "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&se=1795682020", "malformed"},
        {"localhost", "dev1", NULL, dev1_tok, "no username"},
        {"localhost", "dev1", "dev1", dev1_tok, "bad username"},
        /* a device client id with a module username and the other way round */
        {"localhost", "dev1", "localhost/dev1/m1/?api-version=1", dev1_tok, "differ"},
        {"localhost", "dev1/m1", "localhost/dev1/?api-version=1", dev1_tok, "differ"},
        {"localhost", "dev1/m1", "localhost/dev1/m2/?api-version=1", dev1_tok, "differ"},
        {"localhost", "dev1/m1", "localhost/dev2/m1/?api-version=1", dev1_tok, "differ"},
        {"localhost", "dev+1", "localhost/dev+1/?api-version=1", dev1_tok, "'+' or '#'"},
        {"localhost", "dev#1", "localhost/dev#1/?api-version=1", dev1_tok, "'+' or '#'"},
        {"localhost", "$mockhub-hub", "localhost/$mockhub-hub/?api-version=1", dev1_tok, "reserved"},
        {"localhost", "", "localhost//?api-version=1", dev1_tok, "empty client id"},
        {"localhost", NULL, "localhost/dev1/?api-version=1", dev1_tok, "empty client id"},
        /* policy token (skn): MOCK refused */
        {"myhub.azure-devices.net", "dev1", "myhub.azure-devices.net/dev1/?api-version=1", NODE_POLICY_PASS,
         "policy"},
        /* module token for a device connection: names a different identity */
        {"myhub.azure-devices.net", "dev1", "myhub.azure-devices.net/dev1/?api-version=1", NODE_MODULE_PASS,
         "does not cover"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mh_devauth_result r;
        cr_assert_eq(check(cases[i].host, cases[i].cid, cases[i].user, cases[i].pass, NOW, &r),
                     MH_DEVAUTH_DENIED, "case %zu: %s", i, r.reason);
        cr_assert_eq(r.verdict, MH_DEVAUTH_DENIED);
        cr_assert(strstr(r.reason, cases[i].why), "case %zu: reason '%s' lacks '%s'", i, r.reason,
                  cases[i].why);
    }
}

Test(devauth, mh_devauth_check_expired_token_fails)
{
    mh_devauth_result r;
    char tok[512];
    make_token("localhost", "dev1", KEY1, NOW - 1, tok, sizeof tok);
    lookups = 0;
    cr_assert_eq(check("localhost", "dev1", NODE_USER, tok, NOW, &r), MH_DEVAUTH_DENIED);
    cr_assert(strstr(r.reason, "expired"), "%s", r.reason);
    cr_assert_eq(lookups, 0, "no registry read for an expired token");
    /* the Node capture expires at 1795682020 */
    cr_assert_eq(check("localhost", "dev1", NODE_USER, NODE_PASS, 1795682021LL, &r), MH_DEVAUTH_DENIED);
}

Test(devauth, mh_devauth_check_lookup_error_fails)
{
    mh_devauth_result r;
    cr_assert_eq(mh_devauth_check("localhost", "dev1", NODE_USER, NODE_PASS, NOW, failing_lookup, NULL, &r),
                 MH_DEVAUTH_ERROR);
    cr_assert(strstr(r.reason, "lookup failed"), "%s", r.reason);
}

Test(devauth, mh_devauth_hub_ok_cases_succeeds)
{
    cr_assert(mh_devauth_hub_ok("s3cret", "s3cret"));
    cr_assert_not(mh_devauth_hub_ok("s3cre", "s3cret"));
    cr_assert_not(mh_devauth_hub_ok("s3cretX", "s3cret"));
    cr_assert_not(mh_devauth_hub_ok("", ""));
    cr_assert_not(mh_devauth_hub_ok(NULL, "s3cret"));
    cr_assert_not(mh_devauth_hub_ok("s3cret", NULL));
}

/* ---- modules ---- */

#define NODE_MODULE_USER                                                                                     \
    "myhub.azure-devices.net/dev1/m1/"                                                                       \
    "?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%"     \
    "2012%3B%20x64)"

Test(devauth, mh_devauth_check_module_node_token_succeeds)
{
    mh_devauth_result r;
    lookups = 0;
    cr_assert_eq(check("myhub.azure-devices.net", "dev1/m1", NODE_MODULE_USER, NODE_MODULE_PASS, NOW, &r),
                 MH_DEVAUTH_OK, "%s", r.reason);
    cr_assert_str_eq(r.identity, "dev1/m1");
    cr_assert_eq(r.expiry, 1800000000LL);
    cr_assert_eq(lookups, 2, "the module's row, then its device's");
}

Test(devauth, mh_devauth_check_module_keys_only_succeeds)
{
    mh_devauth_result r;
    char tok[512];
    const char *user = "localhost/dev2/mod/?api-version=2021-04-12";

    /* module scope, module key */
    make_module_token("localhost", "dev2", "mod", KEY1, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "dev2/mod", user, tok, NOW, &r), MH_DEVAUTH_OK, "%s", r.reason);
    /* AZURE: a device-scope sr covers the module's resource; the signature must be the module's key */
    make_token("localhost", "dev2", KEY1, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "dev2/mod", user, tok, NOW, &r), MH_DEVAUTH_OK, "%s", r.reason);
    /* the device's own keys do not admit its module, whatever the scope */
    make_token("localhost", "dev2", KEY2, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "dev2/mod", user, tok, NOW, &r), MH_DEVAUTH_DENIED);
    cr_assert(strstr(r.reason, "neither module key"), "%s", r.reason);
    make_module_token("localhost", "dev2", "mod", KEY3, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "dev2/mod", user, tok, NOW, &r), MH_DEVAUTH_DENIED);
    cr_assert(strstr(r.reason, "neither module key"), "%s", r.reason);
}

Test(devauth, mh_devauth_check_module_disabled_succeeds)
{
    mh_devauth_result r;
    char tok[512];

    make_module_token("localhost", "off1", "m1", KEY2, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "off1/m1", "localhost/off1/m1/?api-version=1", tok, NOW, &r),
                 MH_DEVAUTH_DISABLED);
    cr_assert(strstr(r.reason, "device off1 is disabled"), "%s", r.reason);
    make_module_token("localhost", "dev2", "offm", KEY1, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "dev2/offm", "localhost/dev2/offm/?api-version=1", tok, NOW, &r),
                 MH_DEVAUTH_DISABLED);
    cr_assert(strstr(r.reason, "module dev2/offm is disabled"), "%s", r.reason);
    /* a wrong key on a module of a disabled device is still "not authorized" */
    make_module_token("localhost", "off1", "m1", KEY1, NOW + 60, tok, sizeof tok);
    cr_assert_eq(check("localhost", "off1/m1", "localhost/off1/m1/?api-version=1", tok, NOW, &r),
                 MH_DEVAUTH_DENIED);
}

Test(devauth, mh_devauth_check_module_bad_credentials_fails)
{
    char m1_tok[512], m2_tok[512], dev2_tok[512], ghost[512], x509m[512], nomod[512], long_tok[1024];
    char long_mod[MH_ID_MAX + 2], long_cid[MH_ID_MAX + 8], long_user[MH_ID_MAX + 64];
    make_module_token("localhost", "dev1", "m1", KEY1, NOW + 60, m1_tok, sizeof m1_tok);
    make_module_token("localhost", "dev1", "m2", KEY1, NOW + 60, m2_tok, sizeof m2_tok);
    make_token("localhost", "dev2", KEY1, NOW + 60, dev2_tok, sizeof dev2_tok);
    make_module_token("localhost", "ghost2", "m1", KEY2, NOW + 60, ghost, sizeof ghost);
    make_module_token("localhost", "dev2", "x509m", KEY1, NOW + 60, x509m, sizeof x509m);
    make_module_token("localhost", "dev1", "nomod", KEY1, NOW + 60, nomod, sizeof nomod);
    memset(long_mod, 'm', MH_ID_MAX + 1);
    long_mod[MH_ID_MAX + 1] = '\0';
    snprintf(long_cid, sizeof long_cid, "dev1/%s", long_mod);
    snprintf(long_user, sizeof long_user, "localhost/dev1/%s/?api-version=1", long_mod);
    make_module_token("localhost", "dev1", long_mod, KEY1, NOW + 60, long_tok, sizeof long_tok);

    const struct {
        const char *cid, *user, *pass, *why;
    } cases[] = {
        /* a sibling module's token, another device's token */
        {"dev1/m1", "localhost/dev1/m1/?api-version=1", m2_tok, "does not cover"},
        {"dev1/m2", "localhost/dev1/m2/?api-version=1", m1_tok, "does not cover"},
        {"dev1/m1", "localhost/dev1/m1/?api-version=1", dev2_tok, "does not cover"},
        /* a module token does not admit its device either */
        {"dev1", "localhost/dev1/?api-version=1", m1_tok, "does not cover"},
        {"dev1/nomod", "localhost/dev1/nomod/?api-version=1", nomod, "module dev1/nomod is not registered"},
        {"ghost2/m1", "localhost/ghost2/m1/?api-version=1", ghost, "device ghost2 is not registered"},
        {"dev2/x509m", "localhost/dev2/x509m/?api-version=1", x509m, "SAS"},
        /* malformed module client ids */
        {"dev1/", "localhost/dev1/?api-version=1", m1_tok, "neither {deviceId}"},
        {"/m1", "localhost/dev1/m1/?api-version=1", m1_tok, "neither {deviceId}"},
        {"dev1//m1", "localhost/dev1/m1/?api-version=1", m1_tok, "neither {deviceId}"},
        {"dev1/m1/x", "localhost/dev1/m1/?api-version=1", m1_tok, "neither {deviceId}"},
        {long_cid, long_user, long_tok, "neither {deviceId}"},
        {"dev1/m+1", "localhost/dev1/m+1/?api-version=1", m1_tok, "'+' or '#'"},
        {"dev1/#", "localhost/dev1/#/?api-version=1", m1_tok, "'+' or '#'"},
        {"$mockhub/m1", "localhost/$mockhub/m1/?api-version=1", m1_tok, "reserved"},
        {"dev1/m1", "localhost/dev1/m1/?api-version=1", NULL, "no SAS token"},
        {"dev1/m1", "localhost/dev1/m1/?api-version=1", NODE_POLICY_PASS, "policy"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mh_devauth_result r;
        cr_assert_eq(check("localhost", cases[i].cid, cases[i].user, cases[i].pass, NOW, &r),
                     MH_DEVAUTH_DENIED, "case %zu: %s", i, r.reason);
        cr_assert(strstr(r.reason, cases[i].why), "case %zu: reason '%s' lacks '%s'", i, r.reason,
                  cases[i].why);
    }
}

Test(devauth, mh_devauth_check_module_expired_and_lookup_error_fails)
{
    mh_devauth_result r;
    char tok[512];
    make_module_token("localhost", "dev1", "m1", KEY1, NOW, tok, sizeof tok);
    lookups = 0;
    cr_assert_eq(check("localhost", "dev1/m1", "localhost/dev1/m1/?api-version=1", tok, NOW, &r),
                 MH_DEVAUTH_DENIED);
    cr_assert(strstr(r.reason, "expired"), "%s", r.reason);
    cr_assert_eq(lookups, 0);
    cr_assert_eq(mh_devauth_check("myhub.azure-devices.net", "dev1/m1", NODE_MODULE_USER, NODE_MODULE_PASS,
                                  NOW, failing_lookup, NULL, &r),
                 MH_DEVAUTH_ERROR);
    cr_assert(strstr(r.reason, "lookup failed"), "%s", r.reason);
}
