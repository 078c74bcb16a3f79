/* store.h - the hub's state in SQLite: device registry, twins, access policies.
 *
 * The only module that talks to SQLite. One file (WAL journal, synchronous=NORMAL: a change whose
 * call returned MH_OK survives a crash of the process), or ":memory:" for unit tests. Every public
 * call is atomic (one transaction) and thread-safe (an internal mutex), so the HTTP threads and the
 * broker-link thread may share one mh_store. The plugin opens the same file read-only.
 *
 * Documents cross this interface as cJSON in IoT Hub's REST shapes (api-version 2021-04-12):
 * see shared/reference/iothub-protocol.md 5.3-5.4 and the addendum 1-3. Returned cJSON trees and
 * strings are owned by the caller (cJSON_Delete / free). Inputs are borrowed for the call only.
 */
#ifndef MH_STORE_H
#define MH_STORE_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "errors.h"
#include "identity.h"

typedef struct mh_store mh_store;

enum {
    MH_STORE_READONLY = 1u << 0, /* no schema creation, no writes (the broker plugin) */
};

/* Opens (creating when needed, unless READONLY) the database at path. */
mh_err mh_store_open(const char *path, unsigned flags, mh_store **out_store) MH_WARN_UNUSED;
void mh_store_free(mh_store *store); /* NULL is a no-op */

/* ---- shared access policies ---- */

/* Creates the five default policies (iothubowner, service, device, registryRead,
 * registryReadWrite) when missing, with random keys; then sets iothubowner's primary key to
 * owner_key (the configured or well-known development key). */
mh_err mh_store_policies_init(mh_store *store, const char *owner_key) MH_WARN_UNUSED;
/* MH_ERR_NOT_FOUND when there is no such policy. */
mh_err mh_store_policy_get(mh_store *store, const char *name, mh_policy *out_policy) MH_WARN_UNUSED;

/* ---- registry ---- */

/* MH_ERR_DEVICE_NOT_FOUND when unknown. */
mh_err mh_store_device_auth(mh_store *store, const char *device_id, mh_device_auth *out_auth) MH_WARN_UNUSED;

/* PUT /devices/{id} without If-Match: creates the device and its twin. body is the Device JSON the
 * SDK sent (deviceId must equal id when present; empty or absent keys are generated; status
 * enabled|disabled). Errors: DeviceAlreadyExists, ArgumentInvalid. *out_device: Device JSON. */
mh_err mh_store_device_create(mh_store *store, const char *device_id, const cJSON *body, cJSON **out_device,
                              mh_status *st) MH_WARN_UNUSED;
/* PUT /devices/{id} with If-Match (quoted etag, "*" or *): updates status, statusReason, keys,
 * capabilities. *out_now_disabled is set to 1 when this call disabled an enabled device (the caller
 * then drops its connection). Errors: DeviceNotFound, PreconditionFailed, ArgumentInvalid. */
mh_err mh_store_device_update(mh_store *store, const char *device_id, const cJSON *body, const char *if_match,
                              cJSON **out_device, int *out_now_disabled, mh_status *st) MH_WARN_UNUSED;
mh_err mh_store_device_get(mh_store *store, const char *device_id, cJSON **out_device,
                           mh_status *st) MH_WARN_UNUSED;
/* if_match NULL = unconditional. Errors: DeviceNotFound, PreconditionFailed. */
mh_err mh_store_device_delete(mh_store *store, const char *device_id, const char *if_match,
                              mh_status *st) MH_WARN_UNUSED;
/* GET /devices?top=N: a JSON array of at most top (1..1000) devices, ordered by id. */
mh_err mh_store_device_list(mh_store *store, int top, cJSON **out_array, mh_status *st) MH_WARN_UNUSED;

/* ---- connection state (set from broker events) ---- */

/* connected=1: connectionState "Connected", connectionStateUpdatedTime and lastActivityTime now.
 * connected=0: "Disconnected", connectionStateUpdatedTime now. Unknown ids are ignored (MH_OK). */
mh_err mh_store_set_connected(mh_store *store, const char *device_id, int connected) MH_WARN_UNUSED;
/* The subscriptions of a device's persistent broker session (a bit mask the daemon defines; 0 when
 * none is recorded), kept so that a restarted daemon knows what the broker restored from its
 * persistence: resumed sessions are not re-subscribed. Deleting the device deletes it. */
mh_err mh_store_session_subs_get(mh_store *store, const char *device_id, unsigned *out_subs) MH_WARN_UNUSED;
mh_err mh_store_session_subs_set(mh_store *store, const char *device_id, unsigned subs) MH_WARN_UNUSED;
/* Marks every device Disconnected (hub start: no connection survives a restart). */
mh_err mh_store_reset_connections(mh_store *store) MH_WARN_UNUSED;
/* lastActivityTime = now (device traffic: telemetry, twin and method messages). Unknown ids are
 * ignored (MH_OK). Reported patches through mh_store_twin_report already do this. */
mh_err mh_store_device_touch(mh_store *store, const char *device_id) MH_WARN_UNUSED;

/* ---- twins ---- */

/* GET /twins/{id}: the full Twin JSON (deviceId, etag, deviceEtag, status, statusUpdateTime,
 * connectionState, lastActivityTime, cloudToDeviceMessageCount, authenticationType,
 * x509Thumbprint, modelId, version, properties{desired,reported with $metadata and $version},
 * capabilities, and tags when set). */
mh_err mh_store_twin_get(mh_store *store, const char *device_id, cJSON **out_twin,
                         mh_status *st) MH_WARN_UNUSED;

/* PATCH (replace=0) or PUT (replace=1) /twins/{id}. body: {"tags":{..},"properties":{"desired":{..}}};
 * read-only members (deviceId, etag, version, properties.reported, $metadata, $version) are
 * ignored. PATCH merges (null deletes); PUT replaces tags and desired. Versions per the addendum 1.
 * Validates keys, depth, sizes (tags 8 KB, desired 32 KB, values 4 KB, depth 10) before writing:
 * ArgumentInvalid and nothing changes. if_match NULL = unconditional; mismatch: PreconditionFailed
 * with text "ETag mismatch for device ID '<id>'".
 * *out_twin: the full twin after the write. *out_desired_push: when the body had a desired section,
 * the notification body for a connected device ({changed members..., "$version": n}; for a replace
 * the whole desired document with removed top-level keys as null), else NULL.
 * *out_desired_version: the new desired $version (for the push topic). */
mh_err mh_store_twin_update(mh_store *store, const char *device_id, const cJSON *body, const char *if_match,
                            int replace, cJSON **out_twin, cJSON **out_desired_push,
                            long *out_desired_version, mh_status *st) MH_WARN_UNUSED;

/* Device twin GET over MQTT: the malloc'd JSON text {"desired":{..,"$version":n},"reported":{..,"$version":m}}
 * (no $metadata). */
mh_err mh_store_twin_get_properties(mh_store *store, const char *device_id, char **out_json,
                                    mh_status *st) MH_WARN_UNUSED;

/* Device reported PATCH over MQTT. patch: the raw payload (must be a JSON object; max 32 KB total,
 * depth, key rules; "$version"/"$metadata" members are rejected as the hub does).
 * expected_version: the &$version= of the request topic, or -1; a stale value gives
 * PreconditionFailed and nothing changes. *out_version: the new reported $version.
 * Errors: FORMAT (not JSON / not an object), ArgumentInvalid, DeviceNotFound, PreconditionFailed. */
mh_err mh_store_twin_report(mh_store *store, const char *device_id, const char *patch, size_t len,
                            long expected_version, long *out_version, mh_status *st) MH_WARN_UNUSED;

/* ---- telemetry (device-to-cloud messages) ---- */

#define MH_TELEMETRY_KEEP 10000     /* newest rows kept; older ones are deleted every ... */
#define MH_TELEMETRY_TRIM_EVERY 256 /* ... this many adds (so up to KEEP + TRIM_EVERY - 1 rows exist) */
#define MH_TELEMETRY_LIST_MAX 1000  /* largest limit of mh_store_telemetry_list */

/* Records a message device_id sent. props_json: a JSON object of the decoded property bag, raw keys
 * to string values ({"$.mid":"1","$.ct":"application/json","k":"v"}); NULL means {}. body: the
 * payload bytes as sent (len may be 0). *out_seq (may be NULL): the message's sequence number
 * (increasing, never reused). Errors: ArgumentInvalid (props_json not a JSON object), database errors. */
mh_err mh_store_telemetry_add(mh_store *store, const char *device_id, const char *props_json,
                              const void *body, size_t len, long long *out_seq) MH_WARN_UNUSED;

/* The messages with seq > after_seq (of device_id only, unless NULL), oldest first, at most limit
 * (1..MH_TELEMETRY_LIST_MAX, else ArgumentInvalid), as a new JSON array of events in the shape of
 * `az iot hub monitor-events --props all`:
 *   {"sequenceNumber":n,"event":{"origin":id,"module":"","properties":{"system":{..},"application":{..}},
 *    "annotations":{"iothub-enqueuedtime":ISO,"iothub-connection-device-id":id},"payload":..}}
 * System properties: $.mid messageId, $.cid correlationId, $.uid userId, $.ct contentType,
 * $.ce contentEncoding, $.to to, $.exp expiryTimeUtc, $.sub dt-subject, other "$." keys as they are;
 * application: every other key. payload: the body as JSON when it is one JSON value, else a
 * string when it is UTF-8 without NUL, else base64 text with "payloadEncoding":"base64" in event. */
mh_err mh_store_telemetry_list(mh_store *store, long long after_seq, const char *device_id, int limit,
                               cJSON **out_array) MH_WARN_UNUSED;

/* The newest sequence number, 0 when none (mockhub monitor-events starts after it). */
mh_err mh_store_telemetry_last_seq(mh_store *store, long long *out_seq) MH_WARN_UNUSED;

/* ---- query (implemented in store_query.c) ---- */

/* Runs a compiled twin query (mockhub/query/sqlgen.h). sql is one SELECT over `devices`; params is
 * a JSON array bound as ?1..?n (strings as text, integral numbers as integers, other numbers as
 * reals, booleans as 1/0, null as NULL). Each result row goes to on_row, in order, as cJSON that
 * on_row owns: when the first column is named "__twin_id" the row is the device's full twin (as
 * mh_store_twin_get renders it, from MH_TWIN_COLUMNS in columns 1..); otherwise an object with one
 * member per column (names starting "__" hold plain SQL values; the others hold JSON text, or a
 * number; NULL columns are left out). on_row returns nonzero to stop early.
 * Errors: MH_ERR_QUERY when evaluation fails on the data (e.g. integer overflow in SUM),
 * MH_ERR_INTERNAL (SQL the compiler should not have produced), MH_ERR_NOMEM. */
typedef int (*mh_store_row_cb)(void *ctx, cJSON *row);
mh_err mh_store_query_run(mh_store *store, const char *sql, const cJSON *params, mh_store_row_cb on_row,
                          void *ctx, mh_status *st) MH_WARN_UNUSED;

#endif
