/* modules.h - module identities in the store (modules.c): the Module documents of IoT Hub's REST
 * API (create, update, get, delete, list per device). A module is a row of the devices table with
 * the identity "{deviceId}/{moduleId}" (identity.h), so its twin, connection state and last
 * activity use the device functions with that identity. Part of store.h; same locking and
 * ownership rules. */
#ifndef MH_STORE_MODULES_H
#define MH_STORE_MODULES_H

#include <cjson/cJSON.h>

#include "errors.h"

typedef struct mh_store mh_store; /* store.h */

/* AZURE: at most 50 modules per device (TooManyModulesOnDevice beyond). MOCK: the hub's exact
 * limit per tier is not captured; 50 is the documented IoT Edge guidance. */
#define MH_MODULES_PER_DEVICE_MAX 50

/* PUT /devices/{id}/modules/{mid} without If-Match: creates the module and its twin. body: the
 * Module JSON (moduleId/deviceId must match when present, managedBy, authentication; empty or
 * absent keys are generated). Errors: DeviceNotFound, ModuleAlreadyExistsOnDevice,
 * TooManyModulesOnDevice, ArgumentInvalid. *out_module: Module JSON. */
mh_err mh_store_module_create(mh_store *store, const char *device_id, const char *module_id,
                              const cJSON *body, cJSON **out_module, mh_status *st) MH_WARN_UNUSED;
/* PUT with If-Match (quoted etag, "*" or *): updates managedBy and authentication.
 * Errors: DeviceNotFound, ModuleNotFound, PreconditionFailed, ArgumentInvalid. */
mh_err mh_store_module_update(mh_store *store, const char *device_id, const char *module_id,
                              const cJSON *body, const char *if_match, cJSON **out_module,
                              mh_status *st) MH_WARN_UNUSED;
mh_err mh_store_module_get(mh_store *store, const char *device_id, const char *module_id, cJSON **out_module,
                           mh_status *st) MH_WARN_UNUSED;
/* if_match NULL = unconditional. Errors: DeviceNotFound, ModuleNotFound, PreconditionFailed. */
mh_err mh_store_module_delete(mh_store *store, const char *device_id, const char *module_id,
                              const char *if_match, mh_status *st) MH_WARN_UNUSED;
/* GET /devices/{id}/modules: a JSON array of the device's modules, ordered by id.
 * Errors: DeviceNotFound. */
mh_err mh_store_module_list(mh_store *store, const char *device_id, cJSON **out_array,
                            mh_status *st) MH_WARN_UNUSED;

#endif
