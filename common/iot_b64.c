/* Standard base64 encode and a strict decoder (IoT Hub keys and SAS signatures). Written by hand
 * rather than with EVP_DecodeBlock because that one accepts whitespace and hides the padding count. */
#include "iot_b64.h"

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

iot_err iot_b64_encode(const unsigned char *in, size_t len, char *out, size_t outsz)
{
    size_t need = ((len + 2) / 3) * 4 + 1;
    size_t i, o = 0;

    if (!out || (!in && len > 0) || outsz < need)
        return IOT_E_NOSPACE;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return IOT_OK;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

iot_err iot_b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz, size_t *out_len)
{
    size_t pad = 0, need, i, o = 0;

    if (!in || len % 4 != 0)
        return IOT_E_INVALID;
    if (len >= 1 && in[len - 1] == '=')
        pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
    need = len / 4 * 3 - pad;
    /* validate everything before writing anything */
    for (i = 0; i < len - pad; i++)
        if (b64_value(in[i]) < 0)
            return IOT_E_INVALID;
    if (pad == 1 && (b64_value(in[len - 2]) & 3) != 0)
        return IOT_E_INVALID;
    if (pad == 2 && (b64_value(in[len - 3]) & 15) != 0)
        return IOT_E_INVALID;
    if (need > outsz || (need > 0 && !out))
        return IOT_E_NOSPACE;
    for (i = 0; i < len; i += 4) {
        int a = b64_value(in[i]), b = b64_value(in[i + 1]);
        int c = in[i + 2] == '=' ? 0 : b64_value(in[i + 2]);
        int d = in[i + 3] == '=' ? 0 : b64_value(in[i + 3]);
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
        out[o++] = (unsigned char)(v >> 16);
        if (o < need)
            out[o++] = (unsigned char)(v >> 8);
        if (o < need)
            out[o++] = (unsigned char)v;
    }
    if (out_len)
        *out_len = need;
    return IOT_OK;
}
