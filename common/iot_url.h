/* Percent-encoding as JavaScript's encodeURIComponent does it (what the Node SDKs put in SAS tokens,
 * usernames and property bags), and a strict percent-decoder. */
#ifndef IOT_URL_H
#define IOT_URL_H

#include "iot.h"

/* Encodes len bytes into out (NUL-terminated). Keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ); every other byte
 * becomes %XX with upper-case hex. IOT_E_NOSPACE when out is too small. */
iot_err iot_url_encode(const char *in, size_t len, char *out, size_t outsz) IOT_WUR;

/* Decodes %XX (either hex case) in len characters into out (NUL-terminated; *out_len excludes the NUL).
 * '+' stays '+'. A '%' not followed by two hex digits -> IOT_E_INVALID; a decoded NUL -> IOT_E_INVALID.
 * out_len may be NULL. */
iot_err iot_url_decode(const char *in, size_t len, char *out, size_t outsz, size_t *out_len) IOT_WUR;

#endif
