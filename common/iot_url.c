/* Percent-encoding like JavaScript's encodeURIComponent (the Node SDKs' choice for SAS tokens,
 * usernames and property bags) and a strict percent-decoder. */
#include "iot_url.h"

static int url_unreserved(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    switch (c) {
    case '-':
    case '_':
    case '.':
    case '!':
    case '~':
    case '*':
    case '\'':
    case '(':
    case ')':
        return 1;
    default:
        return 0;
    }
}

iot_err iot_url_encode(const char *in, size_t len, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0;

    if (!out || outsz == 0 || (!in && len > 0))
        return IOT_E_NOSPACE;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (url_unreserved(c)) {
            if (o + 1 >= outsz)
                return IOT_E_NOSPACE;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outsz)
                return IOT_E_NOSPACE;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return IOT_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

iot_err iot_url_decode(const char *in, size_t len, char *out, size_t outsz, size_t *out_len)
{
    size_t i, o = 0;

    if (!in && len > 0)
        return IOT_E_INVALID;
    /* validate first so that out is untouched on IOT_E_INVALID */
    for (i = 0; i < len; i++) {
        if (in[i] == '\0')
            return IOT_E_INVALID;
        if (in[i] == '%') {
            if (i + 2 >= len || hex_value(in[i + 1]) < 0 || hex_value(in[i + 2]) < 0)
                return IOT_E_INVALID;
            if (hex_value(in[i + 1]) == 0 && hex_value(in[i + 2]) == 0)
                return IOT_E_INVALID;
            i += 2;
        }
    }
    if (!out || outsz == 0)
        return IOT_E_NOSPACE;
    for (i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            c = (char)(hex_value(in[i + 1]) << 4 | hex_value(in[i + 2]));
            i += 2;
        }
        if (o + 1 >= outsz)
            return IOT_E_NOSPACE;
        out[o++] = c;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return IOT_OK;
}
