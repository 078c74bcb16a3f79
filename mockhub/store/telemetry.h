/* telemetry.h - device-to-cloud messages in the store (telemetry.c): one log, newest
 * MH_TELEMETRY_KEEP rows kept, read as `az iot hub monitor-events` shows them. Part of store.h. */
#ifndef MH_STORE_TELEMETRY_H
#define MH_STORE_TELEMETRY_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "errors.h"

typedef struct mh_store mh_store; /* store.h */

#define MH_TELEMETRY_KEEP 10000     /* newest rows kept; older ones are deleted every ... */
#define MH_TELEMETRY_TRIM_EVERY 256 /* ... this many adds (so up to KEEP + TRIM_EVERY - 1 rows exist) */
#define MH_TELEMETRY_LIST_MAX 1000  /* largest limit of mh_store_telemetry_list */

/* Records a message identity device_id sent: "{d}" for a device, "{d}/{m}" for a module (identity.h;
 * stored as device_id d and module_id m, "" for a device). props_json: a JSON object of the decoded property bag, raw keys
 * to string values ({"$.mid":"1","$.ct":"application/json","k":"v"}); NULL means {}. body: the
 * payload bytes as sent (len may be 0). *out_seq (may be NULL): the message's sequence number
 * (increasing, never reused). Errors: ArgumentInvalid (props_json not a JSON object), database errors. */
mh_err mh_store_telemetry_add(mh_store *store, const char *device_id, const char *props_json,
                              const void *body, size_t len, long long *out_seq) MH_WARN_UNUSED;

/* The messages with seq > after_seq (of device device_id and its modules only, unless NULL), oldest
 * first, at most limit (1..MH_TELEMETRY_LIST_MAX, else ArgumentInvalid), as a new JSON array of
 * events in the shape of `az iot hub monitor-events --props all`:
 *   {"sequenceNumber":n,"event":{"origin":id,"module":mid,"properties":{"system":{..},"application":{..}},
 *    "annotations":{"iothub-enqueuedtime":ISO,"iothub-connection-device-id":id
 *                   [,"iothub-connection-module-id":mid]},"payload":..}}
 * (mid "" and no module annotation for a device's message)
 * System properties: $.mid messageId, $.cid correlationId, $.uid userId, $.ct contentType,
 * $.ce contentEncoding, $.to to, $.exp expiryTimeUtc, $.sub dt-subject, other "$." keys as they are;
 * application: every other key. payload: the body as JSON when it is one JSON value, else a
 * string when it is UTF-8 without NUL, else base64 text with "payloadEncoding":"base64" in event. */
mh_err mh_store_telemetry_list(mh_store *store, long long after_seq, const char *device_id, int limit,
                               cJSON **out_array) MH_WARN_UNUSED;

/* The newest sequence number, 0 when none (mockhub monitor-events starts after it). */
mh_err mh_store_telemetry_last_seq(mh_store *store, long long *out_seq) MH_WARN_UNUSED;

#endif
