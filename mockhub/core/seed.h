/* seed.h - MOCK: the seed file of `mockhub run --seed FILE` (MOCKHUB_SEED), checked against the
 * format of docs/seed.schema.json before anything starts: devices (ids, keys or generated, status,
 * edge flag, tags, desired properties) and shared access policies. Pure: text in, cJSON out.
 */
#ifndef MH_SEED_H
#define MH_SEED_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "errors.h"

#define MH_SEED_MAX_BYTES (16 * 1024 * 1024) /* a seed file larger than this is refused */
#define MH_SEED_MAX_DEVICES 100000
#define MH_SEED_MAX_POLICIES 11 /* IoT Hub allows 16 policies; 5 are built in */

/* Parses and checks len bytes of seed text. name (e.g. the file's path) starts the error text.
 * On MH_OK *out is the document (the caller owns it). Errors: MH_ERR_FORMAT (not JSON) or
 * MH_ERR_ARGUMENT_INVALID (not the seed format), with
 *   "<name>:<line>:<column>: $.devices[2].status: must be \"enabled\" or \"disabled\""
 * in st: the JSON path of the problem and where its value starts (1-based). */
mh_err mh_seed_parse(const char *text, size_t len, const char *name, cJSON **out,
                     mh_status *st) MH_WARN_UNUSED;

#endif
