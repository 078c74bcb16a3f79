/* Unit tests for common/iot_b64. Vectors: RFC 4648 section 10, cross-checked with Node 20
 * `Buffer.from(s).toString("base64")`. */
#include <criterion/criterion.h>
#include <string.h>

#include "iot_b64.h"

struct b64_vec {
    const char *plain;
    const char *enc;
};

/* RFC 4648 §10 test vectors (identical output from Node's Buffer.toString("base64")) */
static const struct b64_vec b64_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

Test(b64, iot_b64_encode_rfc4648_succeeds)
{
    for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
        char out[16];
        cr_assert_eq(iot_b64_encode((const unsigned char *)b64_vectors[i].plain, strlen(b64_vectors[i].plain),
                                    out, sizeof(out)),
                     IOT_OK);
        cr_assert_str_eq(out, b64_vectors[i].enc);
    }
}

Test(b64, iot_b64_decode_rfc4648_succeeds)
{
    for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
        unsigned char out[16];
        size_t n = 99;
        cr_assert_eq(iot_b64_decode(b64_vectors[i].enc, strlen(b64_vectors[i].enc), out, sizeof(out), &n),
                     IOT_OK);
        cr_assert_eq(n, strlen(b64_vectors[i].plain));
        cr_assert(memcmp(out, b64_vectors[i].plain, n) == 0);
    }
}

Test(b64, iot_b64_encode_binary_plus_slash_succeeds)
{
    /* Node: Buffer.from([0xfb,0xff,0xfe,0x00,0x3f]).toString("base64") -> "+//+AD8=" */
    static const unsigned char bin[] = {0xfb, 0xff, 0xfe, 0x00, 0x3f};
    char out[16];
    unsigned char back[8];
    size_t n = 0;

    cr_assert_eq(iot_b64_encode(bin, sizeof(bin), out, sizeof(out)), IOT_OK);
    cr_assert_str_eq(out, "+//+AD8=");
    cr_assert_eq(iot_b64_decode(out, strlen(out), back, sizeof(back), &n), IOT_OK);
    cr_assert_eq(n, sizeof(bin));
    cr_assert(memcmp(back, bin, n) == 0);
}

Test(b64, iot_b64_encode_small_buffer_fails)
{
    char out[8]; /* "Zm9vYmFy" needs 9 */
    cr_assert_eq(iot_b64_encode((const unsigned char *)"foobar", 6, out, sizeof(out)), IOT_E_NOSPACE);
}

Test(b64, iot_b64_decode_device_key_succeeds)
{
    /* the 32-byte key of the Node SDK capture in node-sdk-behaviour §1.2 */
    const char *key = "/+MlfCDwB4XemwS84MPGOfZj2z3qKtQVxPQyK+uBsEs=";
    unsigned char out[64];
    size_t n = 0;
    cr_assert_eq(iot_b64_decode(key, strlen(key), out, sizeof(out), &n), IOT_OK);
    cr_assert_eq(n, 32);
    cr_assert_eq(out[0], 0xff);
}

Test(b64, iot_b64_decode_malformed_fails)
{
    static const char *bad[] = {
        "Zg=",                  /* length not a multiple of 4 */
        "Zg",                   /* missing padding */
        "Z===",                 /* too much padding */
        "====", "Zm9v Yg==",    /* whitespace */
        "Zm9-",                 /* url-safe alphabet */
        "Zm_v", "Zg=a",         /* '=' inside */
        "Z=g=", "Zh==",         /* non-zero trailing bits */
        "Zm9=", "Zm9vYg==Zg==", /* padding in the middle */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char out[16];
        size_t n = 0;
        cr_assert_eq(iot_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n), IOT_E_INVALID, "%s",
                     bad[i]);
    }
}

Test(b64, iot_b64_decode_small_buffer_fails)
{
    unsigned char out[5];
    size_t n = 0;
    cr_assert_eq(iot_b64_decode("Zm9vYmFy", 8, out, sizeof(out), &n), IOT_E_NOSPACE);
}
