/* devices.h - the device registry in the store (devices.c): Device documents of IoT Hub's REST API
 * (create, update, get, delete, list), device keys, connection state and last activity. Part of
 * store.h; same locking and ownership rules. */
#ifndef MH_STORE_DEVICES_H
#define MH_STORE_DEVICES_H

#include <cjson/cJSON.h>

#include "errors.h"
#include "identity.h"

typedef struct mh_store mh_store; /* store.h */

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
/* Marks every device Disconnected (hub start: no connection survives a restart). */
mh_err mh_store_reset_connections(mh_store *store) MH_WARN_UNUSED;
/* lastActivityTime = now (device traffic: telemetry, twin and method messages). Unknown ids are
 * ignored (MH_OK). Reported patches through mh_store_twin_report already do this. */
mh_err mh_store_device_touch(mh_store *store, const char *device_id) MH_WARN_UNUSED;

#endif
