/* Unit tests for common/iot_url. Expected strings printed by Node 20 `encodeURIComponent(s)`. */
#include <criterion/criterion.h>
#include <string.h>

#include "iot_url.h"

struct url_vec {
    const char *plain;
    const char *enc;
};

/* each .enc produced by Node 20: process.stdout.write(encodeURIComponent(plain)) */
static const struct url_vec url_vectors[] = {
    {"abc-_.!~*()'XYZ09", "abc-_.!~*()'XYZ09"},
    {"a b&c=d/e?f#g+h%i;,:@", "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25i%3B%2C%3A%40"},
    {"\xc3\xa9\xe2\x82\xac", "%C3%A9%E2%82%AC"}, /* "é€" */
    {"iotd-c/0.1", "iotd-c%2F0.1"},
    {"$.mid", "%24.mid"},
    {"localhost/devices/dev1", "localhost%2Fdevices%2Fdev1"},
    {"", ""},
};

Test(url, iot_url_encode_node_vectors_succeeds)
{
    for (size_t i = 0; i < sizeof(url_vectors) / sizeof(url_vectors[0]); i++) {
        char out[128];
        cr_assert_eq(iot_url_encode(url_vectors[i].plain, strlen(url_vectors[i].plain), out, sizeof(out)),
                     IOT_OK);
        cr_assert_str_eq(out, url_vectors[i].enc);
    }
}

Test(url, iot_url_decode_node_vectors_succeeds)
{
    for (size_t i = 0; i < sizeof(url_vectors) / sizeof(url_vectors[0]); i++) {
        char out[128];
        size_t n = 99;
        cr_assert_eq(iot_url_decode(url_vectors[i].enc, strlen(url_vectors[i].enc), out, sizeof(out), &n),
                     IOT_OK);
        cr_assert_str_eq(out, url_vectors[i].plain);
        cr_assert_eq(n, strlen(url_vectors[i].plain));
    }
}

Test(url, iot_url_decode_lower_case_hex_succeeds)
{
    char out[64];
    /* the docs and the az CLI show lower-case %2f */
    cr_assert_eq(iot_url_decode("myhub.azure-devices.net%2fdevices%2fdev1", 40, out, sizeof(out), NULL),
                 IOT_OK);
    cr_assert_str_eq(out, "myhub.azure-devices.net/devices/dev1");
}

Test(url, iot_url_decode_plus_kept_succeeds)
{
    char out[16];
    cr_assert_eq(iot_url_decode("a+b%2B", 6, out, sizeof(out), NULL), IOT_OK);
    cr_assert_str_eq(out, "a+b+");
}

Test(url, iot_url_decode_bad_percent_fails)
{
    static const char *bad[] = {"%", "%2", "abc%", "%G1", "%1G", "a%zzb", "%00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[16];
        cr_assert_eq(iot_url_decode(bad[i], strlen(bad[i]), out, sizeof(out), NULL), IOT_E_INVALID, "%s",
                     bad[i]);
    }
}

Test(url, iot_url_encode_small_buffer_fails)
{
    char out[5]; /* "a%2Fb" + NUL needs 6 */
    cr_assert_eq(iot_url_encode("a/b", 3, out, sizeof(out)), IOT_E_NOSPACE);
}

Test(url, iot_url_encode_exact_buffer_succeeds)
{
    char out[6];
    cr_assert_eq(iot_url_encode("a/b", 3, out, sizeof(out)), IOT_OK);
    cr_assert_str_eq(out, "a%2Fb");
}
