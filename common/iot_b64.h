/* Standard base64 (RFC 4648 alphabet, '=' padding), as used for IoT Hub keys and SAS signatures. */
#ifndef IOT_B64_H
#define IOT_B64_H

#include "iot.h"

/* Size of the buffer iot_b64_encode needs for len input bytes, including the NUL. */
#define IOT_B64_ENCODED_SIZE(len) ((((len) + 2) / 3) * 4 + 1)

/* Encodes len bytes into out as a NUL-terminated string.
 * Returns IOT_E_NOSPACE when outsz < IOT_B64_ENCODED_SIZE(len). */
iot_err iot_b64_encode(const unsigned char *in, size_t len, char *out, size_t outsz) IOT_WUR;

/* Strict decode of len characters: length a multiple of 4, only the standard alphabet, '=' only as
 * final padding, unused trailing bits zero. Returns IOT_E_INVALID on any violation, IOT_E_NOSPACE when
 * the decoded bytes do not fit in outsz. *out_len gets the byte count on success. */
iot_err iot_b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz, size_t *out_len) IOT_WUR;

#endif
