/* utf8.h - the one UTF-8 validator: well-formed UTF-8 as RFC 3629 defines it (no overlong forms,
 * no surrogates, nothing above U+10FFFF). Used by twin documents and telemetry bodies.
 */
#ifndef MH_UTF8_H
#define MH_UTF8_H

#include <stddef.h>

/* 1 when the len bytes at str are well-formed UTF-8 (NUL bytes count as characters). */
int mh_utf8_valid(const char *str, size_t len);

#endif
