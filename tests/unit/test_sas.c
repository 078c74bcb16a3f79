/* Unit tests for common/iot_sas. Every token below was printed by Microsoft's Node SDK
 * (azure-iot-common 1.13.3, `SharedAccessSignature.create(sr, skn, key, se).toString()`, which signs
 * sr exactly as given), unless its comment says how it was derived from such a token. */
#include <criterion/criterion.h>
#include <string.h>

#include "iot_sas.h"

/* key of the Node SDK capture in node-sdk-behaviour.md §1.2 */
#define KEY1 "/+MlfCDwB4XemwS84MPGOfZj2z3qKtQVxPQyK+uBsEs="
/* base64 of "mysecretkeymockhub0123456789abcd" (Node: Buffer.from(...).toString("base64")) */
#define KEY2 "bXlzZWNyZXRrZXltb2NraHViMDEyMzQ1Njc4OWFiY2Q="

/* azure-iot-device 1.18.4 CONNECT password captured by a TLS proxy (node-sdk-behaviour §1.2);
 * same string from create(encodeURIComponent("localhost/devices/dev1"), undefined, KEY1, 1795682020) */
#define TOK_DEV1                                                                                             \
    "SharedAccessSignature "                                                                                 \
    "sr=localhost%2Fdevices%2Fdev1&sig=Gzt%2Bsa6fXZHB%2B0l%2FWcFNNSfN%2F4QC4bI%2B4x8ngPeH%2Fp8%3D&se="       \
    "1795682020"
/* create(encodeURIComponent("myhub.azure-devices.net"), "iothubowner", KEY2, 1700000000): Node order sr,sig,skn,se */
#define TOK_SVC_NODE                                                                                         \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&skn=iothubowner&se="      \
    "1700000000"
/* TOK_SVC_NODE with the fields reordered by hand to the C/.NET order sr,sig,se,skn (skn is not signed) */
#define TOK_SVC_C                                                                                            \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1700000000&skn="       \
    "iothubowner"
/* create(encodeURIComponent("myhub.azure-devices.net/devices/dev +#@x"), undefined, KEY2, 1700000000) */
#define TOK_SPECIAL                                                                                          \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2Fdevices%2Fdev%20%2B%23%40x&sig=DtozZL0JSQy%2FenBwvJ9Yneb3UmgX%"            \
    "2F9jUvgZCBZX1rW8%3D&se=1700000000"
/* create(encodeURIComponent("myhub.azure-devices.net/devices/dev1/modules/m1"), undefined, KEY1, 1800000000) */
#define TOK_MODULE                                                                                           \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fm1&sig=%2BtdjIbjhV6Ti1Xg1Q132FEorYCVrvlt63v%"   \
    "2BRTIfAToo%3D&se=1800000000"
/* create(encodeURIComponent("myhub.azure-devices.net/devices/dev1"), "device", KEY2, 1795682020) */
#define TOK_DEVPOLICY                                                                                        \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=ejOkf%2FrimgCdlRapQC1kaq%2B8T%2F1q%2BIKCQJBx6Tzspew%"   \
    "3D&skn=device&se=1795682020"
/* TOK_DEVPOLICY's sig as the Python service SDK writes it (urllib quote, safe="/": '/' stays literal) */
#define TOK_PYSVC                                                                                            \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=ejOkf/rimgCdlRapQC1kaq%2B8T/"                           \
    "1q%2BIKCQJBx6Tzspew%3D&skn=device&se=1795682020"
/* create("myhub.azure-devices.net%2fdevices%2fdev1", undefined, KEY2, 1795682020): docs-style lower-case %2f, signed as sent */
#define TOK_LOWER                                                                                            \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2fdevices%2fdev1&sig=jWq5vk7rU0DGyM325j4dieHgfEDsStFOoUnIYTqUsgo%3D&se="     \
    "1795682020"
/* create(encodeURIComponent("myhub.azure-devices.net/devices/dev1"), undefined, KEY2, 1700000001): sig holds '+', '/' and '=' */
#define TOK_PLUS_SLASH                                                                                       \
    "SharedAccessSignature "                                                                                 \
    "sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=cYewNUym1OD2R%2B%2FCIeKlJoi%2FUydRf9OZnmYuYKbJiQo%3D&"  \
    "se=1700000001"

struct sas_vec {
    const char *token;
    const char *key;
    const char *sr_decoded;
    const char *skn;
    long long se;
};

static const struct sas_vec sas_vectors[] = {
    {TOK_DEV1, KEY1, "localhost/devices/dev1", "", 1795682020},
    {TOK_SVC_NODE, KEY2, "myhub.azure-devices.net", "iothubowner", 1700000000},
    {TOK_SVC_C, KEY2, "myhub.azure-devices.net", "iothubowner", 1700000000},
    {TOK_SPECIAL, KEY2, "myhub.azure-devices.net/devices/dev +#@x", "", 1700000000},
    {TOK_MODULE, KEY1, "myhub.azure-devices.net/devices/dev1/modules/m1", "", 1800000000},
    {TOK_DEVPOLICY, KEY2, "myhub.azure-devices.net/devices/dev1", "device", 1795682020},
    {TOK_PYSVC, KEY2, "myhub.azure-devices.net/devices/dev1", "device", 1795682020},
    {TOK_LOWER, KEY2, "myhub.azure-devices.net/devices/dev1", "", 1795682020},
    {TOK_PLUS_SLASH, KEY2, "myhub.azure-devices.net/devices/dev1", "", 1700000001},
};

Test(sas, iot_sas_parse_sdk_tokens_succeeds)
{
    for (size_t i = 0; i < sizeof(sas_vectors) / sizeof(sas_vectors[0]); i++) {
        iot_sas_token t;
        cr_assert_eq(iot_sas_parse(sas_vectors[i].token, &t), IOT_OK, "%s", sas_vectors[i].token);
        cr_assert_str_eq(t.sr_decoded, sas_vectors[i].sr_decoded);
        cr_assert_str_eq(t.skn, sas_vectors[i].skn);
        cr_assert_eq(t.se, sas_vectors[i].se);
        cr_assert_eq(t.sig_len, 32);
    }
}

Test(sas, iot_sas_verify_sdk_tokens_succeeds)
{
    for (size_t i = 0; i < sizeof(sas_vectors) / sizeof(sas_vectors[0]); i++) {
        iot_sas_token t;
        cr_assert_eq(iot_sas_parse(sas_vectors[i].token, &t), IOT_OK);
        cr_assert_eq(iot_sas_verify(&t, sas_vectors[i].key), 1, "%s", sas_vectors[i].token);
    }
}

Test(sas, iot_sas_parse_keeps_sr_as_sent_succeeds)
{
    iot_sas_token t;
    cr_assert_eq(iot_sas_parse(TOK_LOWER, &t), IOT_OK);
    cr_assert_str_eq(t.sr, "myhub.azure-devices.net%2fdevices%2fdev1");
}

Test(sas, iot_sas_verify_wrong_key_fails)
{
    iot_sas_token t;
    cr_assert_eq(iot_sas_parse(TOK_DEV1, &t), IOT_OK);
    cr_assert_eq(iot_sas_verify(&t, KEY2), 0);
    cr_assert_eq(iot_sas_verify(&t, "not base64!"), 0);
}

Test(sas, iot_sas_verify_tampered_fails)
{
    iot_sas_token t;
    /* TOK_DEV1 with one signature character changed (Gzt -> Hzt) */
    cr_assert_eq(iot_sas_parse("SharedAccessSignature "
                               "sr=localhost%2Fdevices%2Fdev1&sig=Hzt%2Bsa6fXZHB%2B0l%2FWcFNNSfN%2F4QC4bI%"
                               "2B4x8ngPeH%2Fp8%3D&se=1795682020",
                               &t),
                 IOT_OK);
    cr_assert_eq(iot_sas_verify(&t, KEY1), 0);
    /* TOK_DEV1 with a later expiry */
    cr_assert_eq(iot_sas_parse("SharedAccessSignature "
                               "sr=localhost%2Fdevices%2Fdev1&sig=Gzt%2Bsa6fXZHB%2B0l%2FWcFNNSfN%2F4QC4bI%"
                               "2B4x8ngPeH%2Fp8%3D&se=1795682021",
                               &t),
                 IOT_OK);
    cr_assert_eq(iot_sas_verify(&t, KEY1), 0);
    /* TOK_DEV1 for another device */
    cr_assert_eq(iot_sas_parse("SharedAccessSignature "
                               "sr=localhost%2Fdevices%2Fdev2&sig=Gzt%2Bsa6fXZHB%2B0l%2FWcFNNSfN%2F4QC4bI%"
                               "2B4x8ngPeH%2Fp8%3D&se=1795682020",
                               &t),
                 IOT_OK);
    cr_assert_eq(iot_sas_verify(&t, KEY1), 0);
    /* TOK_DEV1 with sr percent-encoded differently: what is signed is sr as sent */
    cr_assert_eq(iot_sas_parse("SharedAccessSignature "
                               "sr=localhost%2fdevices%2fdev1&sig=Gzt%2Bsa6fXZHB%2B0l%2FWcFNNSfN%2F4QC4bI%"
                               "2B4x8ngPeH%2Fp8%3D&se=1795682020",
                               &t),
                 IOT_OK);
    cr_assert_eq(iot_sas_verify(&t, KEY1), 0);
}

Test(sas, iot_sas_parse_unknown_field_ignored_succeeds)
{
    iot_sas_token t;
    cr_assert_eq(iot_sas_parse("SharedAccessSignature "
                               "sr=localhost%2Fdevices%2Fdev1&x=1&sig=Gzt%2Bsa6fXZHB%2B0l%2FWcFNNSfN%"
                               "2F4QC4bI%2B4x8ngPeH%2Fp8%3D&se=1795682020",
                               &t),
                 IOT_OK);
    cr_assert_eq(iot_sas_verify(&t, KEY1), 1);
}

Test(sas, iot_sas_parse_malformed_fails)
{
    static const struct {
        const char *tok;
        iot_err want;
    } bad[] = {
        {"", IOT_E_INVALID},
        {"sr=localhost&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1",
         IOT_E_INVALID}, /* no prefix */
        {"SharedAccessSignaturesr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1", IOT_E_INVALID},
        {"SharedAccessSignature ", IOT_E_MISSING},
        {"SharedAccessSignature sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1700000000",
         IOT_E_MISSING},
        {"SharedAccessSignature sr=myhub.azure-devices.net&se=1700000000", IOT_E_MISSING},
        {"SharedAccessSignature "
         "sr=myhub.azure-devices.net&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D",
         IOT_E_MISSING},
        {"SharedAccessSignature sr=a&sr=b&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1700000000",
         IOT_E_DUPLICATE},
        {"SharedAccessSignature "
         "sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&sig="
         "TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1",
         IOT_E_DUPLICATE},
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1&se=2",
         IOT_E_DUPLICATE},
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1&skn=x&skn=y",
         IOT_E_DUPLICATE},
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=abc",
         IOT_E_INVALID},
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=-5",
         IOT_E_INVALID},
        {"SharedAccessSignature "
         "sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=99999999999999999999",
         IOT_E_INVALID},
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=", IOT_E_INVALID},
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA&se=1",
         IOT_E_INVALID}, /* no padding */
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3&se=1",
         IOT_E_INVALID}, /* bad % */
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9Gx_bHvB2tIvvCGHRCgA%3D&se=1",
         IOT_E_INVALID}, /* alphabet */
        {"SharedAccessSignature sr=a&sig=&se=1", IOT_E_INVALID},
        {"SharedAccessSignature sr=a%zz&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1",
         IOT_E_INVALID},
        {"SharedAccessSignature sr=a&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1&junk",
         IOT_E_INVALID},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        iot_sas_token t;
        memset(&t, 0x5a, sizeof(t));
        cr_assert_eq(iot_sas_parse(bad[i].tok, &t), bad[i].want, "%s", bad[i].tok);
        cr_assert_eq(t.sr[0], 0x5a, "output written on failure");
    }
}

Test(sas, iot_sas_format_device_matches_node_succeeds)
{
    char out[512];
    cr_assert_eq(iot_sas_format("localhost/devices/dev1", KEY1, NULL, 1795682020, out, sizeof(out)), IOT_OK);
    cr_assert_str_eq(out, TOK_DEV1);
    cr_assert_eq(
        iot_sas_format("myhub.azure-devices.net/devices/dev +#@x", KEY2, NULL, 1700000000, out, sizeof(out)),
        IOT_OK);
    cr_assert_str_eq(out, TOK_SPECIAL);
    cr_assert_eq(iot_sas_format("myhub.azure-devices.net/devices/dev1/modules/m1", KEY1, NULL, 1800000000,
                                out, sizeof(out)),
                 IOT_OK);
    cr_assert_str_eq(out, TOK_MODULE);
    cr_assert_eq(
        iot_sas_format("myhub.azure-devices.net/devices/dev1", KEY2, NULL, 1700000001, out, sizeof(out)),
        IOT_OK);
    cr_assert_str_eq(out, TOK_PLUS_SLASH);
}

Test(sas, iot_sas_format_service_policy_succeeds)
{
    char out[512];
    cr_assert_eq(iot_sas_format("myhub.azure-devices.net", KEY2, "iothubowner", 1700000000, out, sizeof(out)),
                 IOT_OK);
    cr_assert_str_eq(out, TOK_SVC_C);
}

Test(sas, iot_sas_format_bad_key_fails)
{
    char out[512];
    cr_assert_eq(iot_sas_format("h/devices/d", "abc", NULL, 1700000000, out, sizeof(out)), IOT_E_INVALID);
    cr_assert_eq(iot_sas_format("", KEY1, NULL, 1700000000, out, sizeof(out)), IOT_E_INVALID);
}

Test(sas, iot_sas_format_small_buffer_fails)
{
    char out[64];
    cr_assert_eq(iot_sas_format("localhost/devices/dev1", KEY1, NULL, 1795682020, out, sizeof(out)),
                 IOT_E_NOSPACE);
}

Test(sas, iot_sas_covers_segments_succeeds)
{
    cr_assert_eq(iot_sas_covers("h/devices/a", "h/devices/a"), 1);
    cr_assert_eq(iot_sas_covers("h/devices/a", "h/devices/a/modules/m"), 1);
    cr_assert_eq(iot_sas_covers("H.Azure-Devices.NET/devices/a", "h.azure-devices.net/devices/a"), 1);
    cr_assert_eq(iot_sas_covers("h", "h/devices/a"), 1);
    cr_assert_eq(iot_sas_covers("h/devices", "h/devices/a"), 1);
    cr_assert_eq(iot_sas_covers("h/devices/a/", "h/devices/a"), 1);
    cr_assert_eq(iot_sas_covers("h", "h"), 1);
}

Test(sas, iot_sas_covers_other_resource_fails)
{
    cr_assert_eq(iot_sas_covers("h/devices/a", "h/devices/ab"), 0);
    cr_assert_eq(iot_sas_covers("h/devices/a", "h/devices/b"), 0);
    cr_assert_eq(iot_sas_covers("h/devices/A", "h/devices/a"), 0); /* device ids are case-sensitive */
    cr_assert_eq(iot_sas_covers("h/devices/a", "h2/devices/a"), 0);
    cr_assert_eq(iot_sas_covers("h/devices/a", "h"), 0);
    cr_assert_eq(iot_sas_covers("h/devices/a/modules/m", "h/devices/a"), 0);
    cr_assert_eq(iot_sas_covers("", "h"), 0);
}
