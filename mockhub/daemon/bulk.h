/* bulk.h - bulk registry operations (POST /devices): up to 100 ExportImportDevice entries, each
 * created, updated or deleted by its importMode, answered with a BulkRegistryOperationResult.
 * The parsing and the per-entry logic know neither HTTP nor the hub (unit-tested with a store);
 * mh_bulk_r_post is the REST route.
 * https://learn.microsoft.com/rest/api/iothub/service/bulk-registry/update-registry
 */
#ifndef MH_BULK_H
#define MH_BULK_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "http.h"
#include "store.h"

#define MH_BULK_MAX 100 /* AZURE: "A maximum of 100 devices can be specified per invocation" */

/* The ImportMode values (names compared without case: .NET sends "update", Node "Update"). */
typedef enum mh_bulk_mode {
    MH_BULK_CREATE_OR_UPDATE, /* the default when importMode is absent or null */
    MH_BULK_CREATE,
    MH_BULK_UPDATE,
    MH_BULK_UPDATE_IF_MATCH,
    MH_BULK_CREATE_OR_UPDATE_IF_MATCH,
    MH_BULK_DELETE,
    MH_BULK_DELETE_IF_MATCH,
    MH_BULK_UPDATE_TWIN,
    MH_BULK_UPDATE_TWIN_IF_MATCH,
} mh_bulk_mode;

/* One entry of the request; pointers borrow from the parsed document (valid while it lives). */
typedef struct mh_bulk_op {
    const cJSON *entry;    /* the ExportImportDevice object */
    const char *id;        /* "id" (the device id) */
    const char *module;    /* "moduleId", NULL for a device entry */
    mh_bulk_mode mode;     /* "importMode" */
    const char *etag;      /* "eTag" (the device etag, unquoted), NULL when absent */
    const char *twin_etag; /* "twinETag", NULL when absent */
    const cJSON *twin;     /* {"tags":..,"properties":{"desired":..}} built from the entry, or NULL */
} mh_bulk_op;

typedef struct mh_bulk_request {
    cJSON *doc;      /* the parsed body (owned) */
    cJSON *twins;    /* owns the twin patches of ops (array) */
    mh_bulk_op *ops; /* n entries (owned) */
    int n;
} mh_bulk_request;

/* "create", "Update", "deleteIfMatchETag", ... -> *out. 0 when text names no import mode. */
int mh_bulk_mode_parse(const char *text, mh_bulk_mode *out);

/* Parses and checks a whole request body. Errors (nothing in *out then):
 * ArgumentNull (empty or null body), IotHubFormatError (not JSON), ArgumentInvalid (not an array,
 * no entries, an entry that is not an object or has no string "id", an unknown importMode, a
 * non-string eTag or moduleId), TooManyDevices (more than MH_BULK_MAX entries),
 * DeviceDefinedMultipleTimes (one identity, id + moduleId, twice). Per-entry problems a store call can
 * report (a bad id, a bad status, an unknown device) are not errors here: they become entries of
 * the result. Release *out with mh_bulk_request_cleanup. */
mh_err mh_bulk_parse(const char *body, size_t len, mh_bulk_request *out, mh_status *st) MH_WARN_UNUSED;
void mh_bulk_request_cleanup(mh_bulk_request *req);

/* What applying entries needs from the hub. kick: drop the live connection of an identity
 * ("{deviceId}" or "{deviceId}/{moduleId}"; forget=1 after a delete); twin_write: a service twin PATCH of id (if_match NULL = unconditional), pushing desired
 * changes to a connected device. Either may be NULL (then kicks are skipped and twin sections
 * are written straight to the store). */
typedef struct mh_bulk_env {
    mh_store *store;
    void *ctx;
    void (*kick)(void *ctx, const char *id, int forget);
    mh_err (*twin_write)(void *ctx, const char *id, const cJSON *patch, const char *if_match, mh_status *st);
} mh_bulk_env;

/* Applies every entry in order; an entry that fails does not stop the others (each is one store
 * transaction). A device entry goes through mh_store_device_*, a module entry through
 * mh_store_module_*; twin sections through twin_write on the identity. A deleted or disabled
 * device's connection and its modules' are dropped, a deleted module's too. Returns the
 * BulkRegistryOperationResult {"isSuccessful","errors":[{deviceId,errorCode,errorStatus} (+moduleId
 * for a module entry)],"warnings":[]} (owned by the caller), NULL when out of memory. */
cJSON *mh_bulk_apply(const mh_bulk_env *env, const mh_bulk_request *req);

/* POST /devices (a route of routes.c). */
typedef struct mh_hub mh_hub;
void mh_bulk_r_post(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);

#endif
