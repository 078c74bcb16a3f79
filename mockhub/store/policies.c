/* policies.c - the hub's shared access policies in the store: the five IoT Hub defaults with random
 * keys (iothubowner's primary key from the configuration) and lookup by name.
 */
#include "policies.h"

#include <string.h>

#include "store_internal.h"

/* ---- policies ---- */

mh_err mh_store_policies_init(mh_store *store, const char *owner_key)
{
    static const struct {
        const char *name;
        unsigned rights;
    } defaults[] = {
        {"iothubowner", MH_RIGHT_REGISTRY_READ | MH_RIGHT_REGISTRY_WRITE | MH_RIGHT_SERVICE_CONNECT |
                            MH_RIGHT_DEVICE_CONNECT},
        {"service", MH_RIGHT_SERVICE_CONNECT},
        {"device", MH_RIGHT_DEVICE_CONNECT},
        {"registryRead", MH_RIGHT_REGISTRY_READ},
        {"registryReadWrite", MH_RIGHT_REGISTRY_READ | MH_RIGHT_REGISTRY_WRITE},
    };
    sqlite3_stmt *s;
    mh_err err;
    size_t i;
    int rc;

    if (!store || !owner_key || !mh_store_key_valid(owner_key))
        return MH_ERR_ARGUMENT_INVALID;
    mh_store_lock(store);
    err = mh_db_begin(store, NULL);
    if (err != MH_OK)
        goto done;
    for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        char k1[64], k2[64];
        if (!mh_store_key_generate(k1) || !mh_store_key_generate(k2)) {
            err = MH_ERR_INTERNAL;
            goto rollback;
        }
        s = mh_db_stmt(store, MH_STMT_POLICY_INSERT);
        if (!s) {
            err = MH_ERR_INTERNAL;
            goto rollback;
        }
        mh_db_bind_text(s, 1, defaults[i].name);
        mh_db_bind_text(s, 2, k1);
        mh_db_bind_text(s, 3, k2);
        sqlite3_bind_int(s, 4, (int)defaults[i].rights);
        rc = sqlite3_step(s);
        mh_db_done(s);
        if (rc != SQLITE_DONE) {
            err = mh_db_fail(store, NULL, "policy insert");
            goto rollback;
        }
    }
    err = mh_db_exec_texts(store, NULL, MH_STMT_POLICY_OWNER, owner_key, NULL);
    if (err != MH_OK)
        goto rollback;
    err = mh_db_commit(store, NULL);
    goto done;
rollback:
    mh_db_rollback(store);
done:
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_policy_get(mh_store *store, const char *name, mh_policy *out_policy)
{
    sqlite3_stmt *s;
    mh_policy p;
    mh_err err = MH_OK;
    int rc;

    if (!store || !name || !out_policy)
        return MH_ERR_ARGUMENT_NULL;
    memset(&p, 0, sizeof p);
    mh_store_lock(store);
    s = mh_db_stmt(store, MH_STMT_POLICY_GET);
    if (!s) {
        err = MH_ERR_INTERNAL;
        goto done;
    }
    mh_db_bind_text(s, 1, name);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        p.rights = (unsigned)sqlite3_column_int(s, 3);
        if (!mh_db_col_copy(s, 0, p.name, sizeof p.name) ||
            !mh_db_col_copy(s, 1, p.primary_key, sizeof p.primary_key) ||
            !mh_db_col_copy(s, 2, p.secondary_key, sizeof p.secondary_key))
            err = MH_ERR_INTERNAL;
    } else {
        err = rc == SQLITE_DONE ? MH_ERR_NOT_FOUND : mh_db_fail(store, NULL, "policy get");
    }
    mh_db_done(s);
done:
    mh_store_unlock(store);
    if (err == MH_OK)
        *out_policy = p;
    return err;
}
