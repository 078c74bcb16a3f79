/* modules.c - module identities in the store: rows of the devices table with the identity
 * "{deviceId}/{moduleId}", their Module JSON documents, keys, etags and per-device listing.
 * https://learn.microsoft.com/rest/api/iothub/service/modules
 */
#include "modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"
#include "twin.h"

/* The Module JSON of a MODULE_COLUMNS row (db.c). */
static cJSON *module_render(sqlite3_stmt *s, int create_form)
{
    cJSON *mod = cJSON_CreateObject(), *auth, *sym, *x509;
    char etag[32];
    int sas = mh_db_col_text(s, 9) && strcmp(mh_db_col_text(s, 9), "sas") == 0;

    mh_twin_device_etag_format(sqlite3_column_int64(s, 4), etag);
    if (!mod || !cJSON_AddStringToObject(mod, "moduleId", mh_db_col_text(s, 1)) ||
        !mh_store_add_text_or_null(mod, "managedBy", mh_db_col_text(s, 2)) ||
        !cJSON_AddStringToObject(mod, "deviceId", mh_db_col_text(s, 0)) ||
        !cJSON_AddStringToObject(mod, "generationId", mh_db_col_text(s, 3)) ||
        !cJSON_AddStringToObject(mod, "etag", etag) ||
        !cJSON_AddStringToObject(mod, "connectionState", mh_db_col_text(s, 5)) ||
        !mh_store_add_time(mod, "connectionStateUpdatedTime", mh_db_col_text(s, 6), create_form) ||
        !mh_store_add_time(mod, "lastActivityTime", mh_db_col_text(s, 7), create_form) ||
        !cJSON_AddNumberToObject(mod, "cloudToDeviceMessageCount", (double)sqlite3_column_int64(s, 8)) ||
        !(auth = cJSON_AddObjectToObject(mod, "authentication")) ||
        !(sym = cJSON_AddObjectToObject(auth, "symmetricKey")) ||
        !mh_store_add_text_or_null(sym, "primaryKey", sas ? mh_db_col_text(s, 10) : NULL) ||
        !mh_store_add_text_or_null(sym, "secondaryKey", sas ? mh_db_col_text(s, 11) : NULL) ||
        !(x509 = cJSON_AddObjectToObject(auth, "x509Thumbprint")) ||
        !mh_store_add_text_or_null(x509, "primaryThumbprint", mh_db_col_text(s, 12)) ||
        !mh_store_add_text_or_null(x509, "secondaryThumbprint", mh_db_col_text(s, 13)) ||
        !cJSON_AddStringToObject(auth, "type", mh_db_col_text(s, 9))) {
        cJSON_Delete(mod);
        return NULL;
    }
    return mod;
}

mh_err mh_store_not_found(mh_store *store, const char *identity, mh_status *st)
{
    char device[MH_ID_MAX + 1];
    const char *module = mh_identity_module(identity);
    sqlite3_stmt *s;
    int rc;

    if (!module || !mh_identity_device(identity, device, sizeof device))
        return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", identity);
    s = mh_db_stmt(store, MH_STMT_DEVICE_ETAG); /* any row: the device exists */
    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, device);
    rc = sqlite3_step(s);
    mh_db_done(s);
    if (rc == SQLITE_DONE)
        return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device);
    if (rc != SQLITE_ROW)
        return mh_db_fail(store, st, "device exists");
    return mh_fail(st, MH_ERR_MODULE_NOT_FOUND, "Module %s not found on device %s", module, device);
}

/* Validates both ids and writes the identity. */
static mh_err identity_of(const char *device_id, const char *module_id, char out[MH_IDENTITY_MAX + 1],
                          mh_status *st)
{
    if (!module_id || !*module_id)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The module id must not be empty");
    return mh_identity_join(out, MH_IDENTITY_MAX + 1, device_id, module_id, st);
}

/* Reads one module row (lock held) and renders it. */
static mh_err module_fetch(mh_store *store, const char *identity, int create_form, cJSON **out, mh_status *st)
{
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_MODULE_GET);
    cJSON *mod = NULL;
    int rc;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, identity);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        mod = module_render(s, create_form);
    mh_db_done(s);
    if (rc == SQLITE_DONE)
        return mh_store_not_found(store, identity, st);
    if (rc != SQLITE_ROW)
        return mh_db_fail(store, st, "module get");
    if (!mod)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    *out = mod;
    return MH_OK;
}

/* The module body's own members: ids must match when present, managedBy a string or null. */
static mh_err module_body_apply(const cJSON *body, const char *device_id, const char *module_id, dev_row *row,
                                const char **managed_by, int *managed_by_set, mh_status *st)
{
    const cJSON *v;

    *managed_by_set = 0;
    if (!body || cJSON_IsNull(body))
        return MH_OK;
    if (!cJSON_IsObject(body))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The module must be a JSON object");
    v = cJSON_GetObjectItemCaseSensitive(body, "moduleId");
    if (v && !cJSON_IsNull(v) && (!cJSON_IsString(v) || strcmp(v->valuestring, module_id) != 0))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "The moduleId in the body does not match the module id '%s'", module_id);
    v = cJSON_GetObjectItemCaseSensitive(body, "deviceId");
    if (v && !cJSON_IsNull(v) && (!cJSON_IsString(v) || strcmp(v->valuestring, device_id) != 0))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "The deviceId in the body does not match the device id '%s'", device_id);
    v = cJSON_GetObjectItemCaseSensitive(body, "managedBy");
    if (v && !cJSON_IsNull(v) && (!cJSON_IsString(v) || strlen(v->valuestring) > 128))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "managedBy must be a string of at most 128 characters");
    if (v) {
        *managed_by = cJSON_IsString(v) ? v->valuestring : NULL;
        *managed_by_set = 1;
    }
    return mh_store_auth_apply(row, cJSON_GetObjectItemCaseSensitive(body, "authentication"), st);
}

mh_err mh_store_module_insert_locked(mh_store *store, const char *device_id, const char *module_id,
                                     const char *managed_by, const dev_row *row, mh_status *st)
{
    char identity[MH_IDENTITY_MAX + 1], gen[24];
    unsigned rnd = 0;
    sqlite3_stmt *s;
    mh_err err = identity_of(device_id, module_id, identity, st);
    int rc;

    if (err != MH_OK)
        return err;
    if (!mh_store_random_bytes(&rnd, sizeof rnd))
        rnd = (unsigned)time(NULL);
    mh_store_generation_id(gen);
    s = mh_db_stmt(store, MH_STMT_MODULE_INSERT);
    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, identity);
    mh_db_bind_text(s, 2, gen);
    sqlite3_bind_int64(s, 3, 100000000LL + (long long)(rnd % 900000000u));
    mh_db_bind_text(s, 4, row->auth_type);
    mh_db_bind_text(s, 5, row->primary_key[0] ? row->primary_key : NULL);
    mh_db_bind_text(s, 6, row->secondary_key[0] ? row->secondary_key : NULL);
    mh_db_bind_text(s, 7, row->has_primary_thumbprint ? row->primary_thumbprint : NULL);
    mh_db_bind_text(s, 8, row->has_secondary_thumbprint ? row->secondary_thumbprint : NULL);
    mh_db_bind_text(s, 9, device_id);
    mh_db_bind_text(s, 10, module_id);
    mh_db_bind_text(s, 11, managed_by);
    rc = sqlite3_step(s);
    mh_db_done(s);
    if (rc == SQLITE_CONSTRAINT)
        return mh_fail(st, MH_ERR_MODULE_EXISTS,
                       "A module with ID '%s' is already registered on device '%s'.", module_id, device_id);
    if (rc != SQLITE_DONE)
        return mh_db_fail(store, st, "module insert");
    return MH_OK;
}

/* Checks that device_id is a device (not a module) and counts its modules; lock held. */
static mh_err device_modules(mh_store *store, const char *device_id, long long *count, mh_status *st)
{
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_DEVICE_ETAG);
    int rc;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    mh_db_done(s);
    if (rc == SQLITE_DONE)
        return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
    if (rc != SQLITE_ROW)
        return mh_db_fail(store, st, "device get");
    s = mh_db_stmt(store, MH_STMT_MODULE_COUNT);
    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    mh_db_done(s);
    return rc == SQLITE_ROW ? MH_OK : mh_db_fail(store, st, "module count");
}

mh_err mh_store_module_create(mh_store *store, const char *device_id, const char *module_id,
                              const cJSON *body, cJSON **out_module, mh_status *st)
{
    char identity[MH_IDENTITY_MAX + 1];
    const char *managed_by = NULL;
    int managed_by_set = 0;
    long long count = 0;
    cJSON *mod = NULL;
    dev_row row;
    mh_err err;

    if (!store || !out_module)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    err = identity_of(device_id, module_id, identity, st);
    if (err != MH_OK)
        return err;
    memset(&row, 0, sizeof row);
    strcpy(row.auth_type, "sas");
    err = module_body_apply(body, device_id, module_id, &row, &managed_by, &managed_by_set, st);
    if (err == MH_OK)
        err = mh_store_fill_keys(&row, st);
    if (err != MH_OK)
        return err;
    mh_store_lock(store);
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    err = device_modules(store, device_id, &count, st);
    if (err == MH_OK && count >= MH_MODULES_PER_DEVICE_MAX)
        err = mh_fail(st, MH_ERR_TOO_MANY_MODULES, "Device %s already has %lld modules (the maximum)",
                      device_id, count);
    if (err == MH_OK)
        err = mh_store_module_insert_locked(store, device_id, module_id, managed_by, &row, st);
    if (err == MH_OK)
        err = module_fetch(store, identity, 1, &mod, st);
    if (err != MH_OK) {
        mh_db_rollback(store);
        goto done;
    }
    err = mh_db_commit(store, st);
    if (err == MH_OK) {
        *out_module = mod;
        mod = NULL;
    }
done:
    mh_store_unlock(store);
    cJSON_Delete(mod);
    return err;
}

/* Loads the module row's auth and etag for an update or delete and checks If-Match; lock held. */
static mh_err module_row_checked(mh_store *store, const char *identity, const char *if_match, dev_row *row,
                                 char *managed_by, size_t mbsz, mh_status *st)
{
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_MODULE_GET);
    char etag[32];
    int rc, ok = 0;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    memset(row, 0, sizeof *row);
    mh_db_bind_text(s, 1, identity);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        row->etag = sqlite3_column_int64(s, 4);
        row->has_primary_thumbprint = sqlite3_column_type(s, 12) != SQLITE_NULL;
        row->has_secondary_thumbprint = sqlite3_column_type(s, 13) != SQLITE_NULL;
        ok = mh_db_col_copy(s, 2, managed_by, mbsz) &&
             mh_db_col_copy(s, 9, row->auth_type, sizeof row->auth_type) &&
             mh_db_col_copy(s, 10, row->primary_key, sizeof row->primary_key) &&
             mh_db_col_copy(s, 11, row->secondary_key, sizeof row->secondary_key) &&
             mh_db_col_copy(s, 12, row->primary_thumbprint, sizeof row->primary_thumbprint) &&
             mh_db_col_copy(s, 13, row->secondary_thumbprint, sizeof row->secondary_thumbprint);
        if (sqlite3_column_type(s, 2) == SQLITE_NULL)
            managed_by[0] = '\0';
    }
    mh_db_done(s);
    if (rc == SQLITE_DONE)
        return mh_store_not_found(store, identity, st);
    if (rc != SQLITE_ROW)
        return mh_db_fail(store, st, "module get");
    if (!ok)
        return mh_fail(st, MH_ERR_INTERNAL, "stored module row is corrupt");
    mh_twin_device_etag_format(row->etag, etag);
    if (!mh_twin_etag_matches(if_match, etag))
        return mh_fail(st, MH_ERR_PRECONDITION, "PreconditionFailed");
    return MH_OK;
}

mh_err mh_store_module_update(mh_store *store, const char *device_id, const char *module_id,
                              const cJSON *body, const char *if_match, cJSON **out_module, mh_status *st)
{
    char identity[MH_IDENTITY_MAX + 1], stored_by[130];
    const char *managed_by = NULL;
    int managed_by_set = 0;
    cJSON *mod = NULL;
    dev_row row;
    sqlite3_stmt *s;
    mh_err err;

    if (!store || !out_module)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    err = identity_of(device_id, module_id, identity, st);
    if (err != MH_OK)
        return err;
    mh_store_lock(store);
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    err = module_row_checked(store, identity, if_match, &row, stored_by, sizeof stored_by, st);
    /* MOCK: as for devices, empty keys in an update keep the stored ones */
    if (err == MH_OK)
        err = module_body_apply(body, device_id, module_id, &row, &managed_by, &managed_by_set, st);
    if (err == MH_OK)
        err = mh_store_fill_keys(&row, st);
    if (err != MH_OK)
        goto rollback;
    s = mh_db_stmt(store, MH_STMT_MODULE_UPDATE);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
        goto rollback;
    }
    mh_db_bind_text(s, 1, identity);
    sqlite3_bind_int64(s, 2, row.etag + 1);
    mh_db_bind_text(s, 3, row.auth_type);
    mh_db_bind_text(s, 4, row.primary_key[0] ? row.primary_key : NULL);
    mh_db_bind_text(s, 5, row.secondary_key[0] ? row.secondary_key : NULL);
    mh_db_bind_text(s, 6, row.has_primary_thumbprint ? row.primary_thumbprint : NULL);
    mh_db_bind_text(s, 7, row.has_secondary_thumbprint ? row.secondary_thumbprint : NULL);
    mh_db_bind_text(s, 8, managed_by_set ? managed_by : (stored_by[0] ? stored_by : NULL));
    if (sqlite3_step(s) != SQLITE_DONE) {
        err = mh_db_fail(store, st, "module update");
        mh_db_done(s);
        goto rollback;
    }
    mh_db_done(s);
    err = module_fetch(store, identity, 0, &mod, st);
    if (err != MH_OK)
        goto rollback;
    err = mh_db_commit(store, st);
    if (err == MH_OK) {
        *out_module = mod;
        mod = NULL;
    }
    goto done;
rollback:
    mh_db_rollback(store);
done:
    mh_store_unlock(store);
    cJSON_Delete(mod);
    return err;
}

mh_err mh_store_module_get(mh_store *store, const char *device_id, const char *module_id, cJSON **out_module,
                           mh_status *st)
{
    char identity[MH_IDENTITY_MAX + 1];
    mh_err err;

    if (!store || !out_module)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    err = identity_of(device_id, module_id, identity, st);
    if (err != MH_OK)
        return err;
    mh_store_lock(store);
    err = module_fetch(store, identity, 0, out_module, st);
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_module_delete(mh_store *store, const char *device_id, const char *module_id,
                              const char *if_match, mh_status *st)
{
    char identity[MH_IDENTITY_MAX + 1], stored_by[130];
    dev_row row;
    mh_err err;

    if (!store)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    err = identity_of(device_id, module_id, identity, st);
    if (err != MH_OK)
        return err;
    mh_store_lock(store);
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    err = module_row_checked(store, identity, if_match, &row, stored_by, sizeof stored_by, st);
    if (err == MH_OK)
        err = mh_db_exec_texts(store, st, MH_STMT_DEVICE_DELETE, identity, NULL);
    if (err == MH_OK)
        err = mh_db_commit(store, st);
    else
        mh_db_rollback(store);
done:
    mh_store_unlock(store);
    return err;
}

/* Runs MODULE_LIST for device_id, adding each module's document to arr. Lock held. */
static mh_err list_rows(mh_store *store, const char *device_id, cJSON *arr, mh_status *st)
{
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_MODULE_LIST);
    mh_err err = MH_OK;
    int rc;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, device_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *item = module_render(s, 0);
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
            break;
        }
    }
    if (err == MH_OK && rc != SQLITE_DONE)
        err = mh_db_fail(store, st, "module list");
    mh_db_done(s);
    return err;
}

mh_err mh_store_module_list(mh_store *store, const char *device_id, cJSON **out_array, mh_status *st)
{
    long long count = 0;
    cJSON *arr;
    mh_err err;

    if (!store || !device_id || !out_array)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    if ((err = mh_device_id_check(device_id, st)) != MH_OK)
        return err;
    if (!(arr = cJSON_CreateArray()))
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    mh_store_lock(store);
    err = device_modules(store, device_id, &count, st);
    if (err == MH_OK)
        err = list_rows(store, device_id, arr, st);
    mh_store_unlock(store);
    if (err != MH_OK) {
        cJSON_Delete(arr);
        return err;
    }
    *out_array = arr;
    return MH_OK;
}
