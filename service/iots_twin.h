/* iots_twin.h - reading values out of a twin document (the JSON text GET /twins/{id} returns) and
 * ISO-8601 times, for apps such as the reboot tutorial that watch reported properties. Pure code.
 */
#ifndef IOTS_TWIN_H
#define IOTS_TWIN_H

#include <stddef.h>

#include "iots_error.h"

/* Copies properties.reported.<dotted_path> (e.g. "iothubDM.reboot.lastReboot") when it is a string.
 * Errors: IOTS_ERR_PROTOCOL (twin is not a JSON object), IOTS_ERR_NOT_FOUND (absent or not a
 * string), IOTS_ERR_ARG (value longer than outsz-1). out written only on success. */
iots_err iots_twin_reported_string(const char *twin_json, size_t len, const char *dotted_path, char *out,
                                   size_t outsz) IOTS_WARN_UNUSED;

/* The device's last reboot time as the reboot tutorial reports it: reported "rebootTime" (this
 * project's device app) or, failing that, reported "iothubDM.reboot.lastReboot" (the Node tutorial's
 * original shape). Same errors as iots_twin_reported_string. */
iots_err iots_twin_reboot_time(const char *twin_json, size_t len, char *out, size_t outsz) IOTS_WARN_UNUSED;

/* Copies the twin's top-level "etag" (bare, as the body holds it). Same errors as above. */
iots_err iots_twin_etag(const char *twin_json, size_t len, char *out, size_t outsz) IOTS_WARN_UNUSED;

/* Parses "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+hh:mm|-hh:mm)" (also lower-case t/z, and no zone = UTC)
 * into milliseconds since the Unix epoch (fraction truncated to ms). IOTS_ERR_ARG if malformed. */
iots_err iots_iso8601_parse(const char *s, long long *out_ms) IOTS_WARN_UNUSED;

#endif
