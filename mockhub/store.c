/* store.c - the hub's state in SQLite (registry, twins, policies); stubs until implemented. */
#include "store.h"

#include <stdlib.h>

#include "store_internal.h"
#include "twin.h"

void mh_store_lock(mh_store *store) { pthread_mutex_lock(&store->lock); }
void mh_store_unlock(mh_store *store) { pthread_mutex_unlock(&store->lock); }

cJSON *mh_store_twin_render(sqlite3_stmt *stmt, int first_col)
{
    (void)stmt;
    (void)first_col;
    return NULL;
}

mh_err mh_store_open(const char *path, unsigned flags, mh_store **out_store)
{
    (void)path; (void)flags; (void)out_store;
    return MH_ERR_NOT_IMPLEMENTED;
}
void mh_store_free(mh_store *store) { free(store); }
mh_err mh_store_policies_init(mh_store *store, const char *owner_key) { (void)store; (void)owner_key; return MH_ERR_NOT_IMPLEMENTED; }
mh_err mh_store_policy_get(mh_store *store, const char *name, mh_policy *out_policy) { (void)store; (void)name; (void)out_policy; return MH_ERR_NOT_IMPLEMENTED; }
mh_err mh_store_device_auth(mh_store *store, const char *device_id, mh_device_auth *out_auth) { (void)store; (void)device_id; (void)out_auth; return MH_ERR_NOT_IMPLEMENTED; }
mh_err mh_device_id_check(const char *device_id, mh_status *st) { (void)device_id; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_device_create(mh_store *store, const char *device_id, const cJSON *body, cJSON **out_device, mh_status *st) { (void)store; (void)device_id; (void)body; (void)out_device; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_device_update(mh_store *store, const char *device_id, const cJSON *body, const char *if_match, cJSON **out_device, int *out_now_disabled, mh_status *st) { (void)store; (void)device_id; (void)body; (void)if_match; (void)out_device; (void)out_now_disabled; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_device_get(mh_store *store, const char *device_id, cJSON **out_device, mh_status *st) { (void)store; (void)device_id; (void)out_device; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_device_delete(mh_store *store, const char *device_id, const char *if_match, mh_status *st) { (void)store; (void)device_id; (void)if_match; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_device_list(mh_store *store, int top, cJSON **out_array, mh_status *st) { (void)store; (void)top; (void)out_array; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_set_connected(mh_store *store, const char *device_id, int connected) { (void)store; (void)device_id; (void)connected; return MH_ERR_NOT_IMPLEMENTED; }
mh_err mh_store_reset_connections(mh_store *store) { (void)store; return MH_ERR_NOT_IMPLEMENTED; }
mh_err mh_store_twin_get(mh_store *store, const char *device_id, cJSON **out_twin, mh_status *st) { (void)store; (void)device_id; (void)out_twin; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_twin_update(mh_store *store, const char *device_id, const cJSON *body, const char *if_match, int replace, cJSON **out_twin, cJSON **out_desired_push, long *out_desired_version, mh_status *st) { (void)store; (void)device_id; (void)body; (void)if_match; (void)replace; (void)out_twin; (void)out_desired_push; (void)out_desired_version; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_twin_get_properties(mh_store *store, const char *device_id, char **out_json, mh_status *st) { (void)store; (void)device_id; (void)out_json; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
mh_err mh_store_twin_report(mh_store *store, const char *device_id, const char *patch, size_t len, long expected_version, long *out_version, mh_status *st) { (void)store; (void)device_id; (void)patch; (void)len; (void)expected_version; (void)out_version; return mh_fail(st, MH_ERR_NOT_IMPLEMENTED, "stub"); }
