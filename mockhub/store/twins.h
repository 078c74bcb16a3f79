/* twins.h - device twins in the store (twins.c): the service-side Twin document, its PATCH and PUT,
 * and the device side's GET and reported PATCH over MQTT. Document rules live in core/twin.h.
 * Part of store.h; same locking and ownership rules. */
#ifndef MH_STORE_TWINS_H
#define MH_STORE_TWINS_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "errors.h"

typedef struct mh_store mh_store; /* store.h */

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

#endif
