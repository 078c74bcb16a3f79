/* IoT Hub SAS tokens: parse by field name (SDKs differ in field order and sig encoding), verify
 * with a constant-time HMAC compare, format as the C and .NET SDKs do.
 * https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas */
#include "iot_sas.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "iot_b64.h"
#include "iot_url.h"

#define SAS_PREFIX "SharedAccessSignature "
#define SAS_MAX_KEY 256   /* decoded key bytes; IoT Hub keys are 16..64 bytes */
#define SAS_MAX_SIGN 1024 /* sr + "\n" + se */

/* Parses se: 1..19 decimal digits, positive, no overflow. */
static iot_err sas_parse_se(const char *v, size_t len, long long *out)
{
    long long n = 0;
    size_t i;

    if (len == 0 || len > 19)
        return IOT_E_INVALID;
    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return IOT_E_INVALID;
        if (n > (9223372036854775807LL - (v[i] - '0')) / 10)
            return IOT_E_INVALID;
        n = n * 10 + (v[i] - '0');
    }
    if (n <= 0)
        return IOT_E_INVALID;
    *out = n;
    return IOT_OK;
}

iot_err iot_sas_parse(const char *token, iot_sas_token *out)
{
    iot_sas_token t;
    int have_sr = 0, have_sig = 0, have_se = 0, have_skn = 0;
    const char *p;
    char sigtext[128];
    size_t siglen = 0;
    iot_err err;

    if (!token || !out)
        return IOT_E_INVALID;
    if (strncmp(token, SAS_PREFIX, strlen(SAS_PREFIX)) != 0)
        return IOT_E_INVALID;
    memset(&t, 0, sizeof(t));
    p = token + strlen(SAS_PREFIX);
    if (*p == '\0')
        return IOT_E_MISSING;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t seglen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seglen);
        size_t klen, vlen;
        const char *v;

        if (!eq)
            return IOT_E_INVALID;
        klen = (size_t)(eq - p);
        v = eq + 1;
        vlen = seglen - klen - 1;
        if (klen == 2 && memcmp(p, "sr", 2) == 0) {
            if (have_sr++)
                return IOT_E_DUPLICATE;
            if (vlen == 0 || vlen >= sizeof(t.sr))
                return IOT_E_INVALID;
            memcpy(t.sr, v, vlen);
            t.sr[vlen] = '\0';
            err = iot_url_decode(v, vlen, t.sr_decoded, sizeof(t.sr_decoded), NULL);
            if (err != IOT_OK)
                return IOT_E_INVALID;
        } else if (klen == 3 && memcmp(p, "sig", 3) == 0) {
            if (have_sig++)
                return IOT_E_DUPLICATE;
            if (iot_url_decode(v, vlen, sigtext, sizeof(sigtext), &siglen) != IOT_OK)
                return IOT_E_INVALID;
            if (siglen == 0)
                return IOT_E_INVALID;
            if (iot_b64_decode(sigtext, siglen, t.sig, sizeof(t.sig), &t.sig_len) != IOT_OK)
                return IOT_E_INVALID;
        } else if (klen == 2 && memcmp(p, "se", 2) == 0) {
            if (have_se++)
                return IOT_E_DUPLICATE;
            if (sas_parse_se(v, vlen, &t.se) != IOT_OK)
                return IOT_E_INVALID;
            memcpy(t.se_text, v, vlen);
            t.se_text[vlen] = '\0';
        } else if (klen == 3 && memcmp(p, "skn", 3) == 0) {
            if (have_skn++)
                return IOT_E_DUPLICATE;
            if (iot_url_decode(v, vlen, t.skn, sizeof(t.skn), NULL) != IOT_OK)
                return IOT_E_INVALID;
        } else if (klen == 0) {
            return IOT_E_INVALID;
        }
        /* unknown fields are ignored, as the real hub and the SDK parsers do */
        p += seglen;
        if (*p == '&')
            p++;
    }
    if (!have_sr || !have_sig || !have_se)
        return IOT_E_MISSING;
    *out = t;
    return IOT_OK;
}

/* HMAC-SHA256 with a base64 key into mac (32 bytes). */
static iot_err sas_hmac(const char *key_b64, const char *data, size_t len, unsigned char *mac,
                        unsigned *maclen)
{
    unsigned char key[SAS_MAX_KEY];
    size_t keylen = 0;

    if (!key_b64 || iot_b64_decode(key_b64, strlen(key_b64), key, sizeof(key), &keylen) != IOT_OK)
        return IOT_E_INVALID;
    if (keylen == 0)
        return IOT_E_INVALID;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, mac, maclen)) {
        OPENSSL_cleanse(key, sizeof(key));
        return IOT_E_CRYPTO;
    }
    OPENSSL_cleanse(key, sizeof(key));
    return IOT_OK;
}

int iot_sas_verify(const iot_sas_token *token, const char *key_b64)
{
    char data[SAS_MAX_SIGN];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    int n;

    if (!token || !key_b64)
        return 0;
    /* sign se as sent; a caller-built token without se_text gets the decimal form */
    if (token->se_text[0])
        n = snprintf(data, sizeof(data), "%s\n%s", token->sr, token->se_text);
    else
        n = snprintf(data, sizeof(data), "%s\n%lld", token->sr, token->se);
    if (n < 0 || (size_t)n >= sizeof(data))
        return 0;
    if (sas_hmac(key_b64, data, (size_t)n, mac, &maclen) != IOT_OK)
        return 0;
    if (token->sig_len != maclen)
        return 0;
    return CRYPTO_memcmp(mac, token->sig, maclen) == 0;
}

int iot_sas_verify_raw(const iot_sas_token *token, const char *key_text)
{
    char data[SAS_MAX_SIGN];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    int n;

    if (!token || !key_text || !*key_text)
        return 0;
    if (token->se_text[0])
        n = snprintf(data, sizeof(data), "%s\n%s", token->sr, token->se_text);
    else
        n = snprintf(data, sizeof(data), "%s\n%lld", token->sr, token->se);
    if (n < 0 || (size_t)n >= sizeof(data))
        return 0;
    if (!HMAC(EVP_sha256(), key_text, (int)strlen(key_text), (const unsigned char *)data, (size_t)n, mac,
              &maclen))
        return 0;
    if (token->sig_len != maclen)
        return 0;
    return CRYPTO_memcmp(mac, token->sig, maclen) == 0;
}

int iot_sas_covers(const char *sr_decoded, const char *resource)
{
    const char *sr_slash, *res_slash;
    size_t sr_host, res_host, sr_len, path_len;

    if (!sr_decoded || !resource || !*sr_decoded)
        return 0;
    sr_len = strlen(sr_decoded);
    while (sr_len > 0 && sr_decoded[sr_len - 1] == '/')
        sr_len--;
    if (sr_len == 0)
        return 0;
    sr_slash = memchr(sr_decoded, '/', sr_len);
    res_slash = strchr(resource, '/');
    sr_host = sr_slash ? (size_t)(sr_slash - sr_decoded) : sr_len;
    res_host = res_slash ? (size_t)(res_slash - resource) : strlen(resource);
    if (sr_host != res_host || strncasecmp(sr_decoded, resource, sr_host) != 0)
        return 0;
    if (!sr_slash)
        return 1; /* host-only sr covers the whole hub */
    if (!res_slash)
        return 0;
    path_len = sr_len - sr_host;
    if (strncmp(sr_slash, res_slash, path_len) != 0)
        return 0;
    return res_slash[path_len] == '\0' || res_slash[path_len] == '/';
}

iot_err iot_sas_sign(const char *key_b64, const char *data, size_t len, char *out, size_t outsz)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    iot_err err;

    if (!data || !out)
        return IOT_E_INVALID;
    err = sas_hmac(key_b64, data, len, mac, &maclen);
    if (err != IOT_OK)
        return err;
    return iot_b64_encode(mac, maclen, out, outsz);
}

iot_err iot_sas_format(const char *resource, const char *key_b64, const char *policy, long long expiry,
                       char *out, size_t outsz)
{
    char sr[3 * 512 + 1];
    char data[sizeof(sr) + 24];
    char sig[64];
    char sig_enc[3 * sizeof(sig)];
    char skn[3 * 128 + 1];
    iot_err err;
    int n;

    if (!resource || !*resource || !out || expiry <= 0)
        return IOT_E_INVALID;
    if (strlen(resource) >= 512)
        return IOT_E_INVALID;
    err = iot_url_encode(resource, strlen(resource), sr, sizeof(sr));
    if (err != IOT_OK)
        return err;
    n = snprintf(data, sizeof(data), "%s\n%lld", sr, expiry);
    if (n < 0 || (size_t)n >= sizeof(data))
        return IOT_E_NOSPACE;
    err = iot_sas_sign(key_b64, data, (size_t)n, sig, sizeof(sig));
    if (err != IOT_OK)
        return err;
    err = iot_url_encode(sig, strlen(sig), sig_enc, sizeof(sig_enc));
    if (err != IOT_OK)
        return err;
    if (policy) {
        if (strlen(policy) >= 128)
            return IOT_E_INVALID;
        err = iot_url_encode(policy, strlen(policy), skn, sizeof(skn));
        if (err != IOT_OK)
            return err;
        n = snprintf(out, outsz, "SharedAccessSignature sr=%s&sig=%s&se=%lld&skn=%s", sr, sig_enc, expiry,
                     skn);
    } else {
        n = snprintf(out, outsz, "SharedAccessSignature sr=%s&sig=%s&se=%lld", sr, sig_enc, expiry);
    }
    if (n < 0 || (size_t)n >= outsz) {
        if (outsz > 0)
            out[0] = '\0';
        return IOT_E_NOSPACE;
    }
    return IOT_OK;
}
