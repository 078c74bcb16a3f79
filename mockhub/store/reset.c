/* reset.c - MOCK: test control's reset of the store (see reset.h); the real hub has no such call.
 */
#include "reset.h"

#include "store_internal.h"

mh_err mh_store_reset_all(mh_store *store, mh_status *st)
{
    mh_err err = MH_OK;
    if (store == NULL)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "no store");
    if (store->flags & MH_STORE_READONLY)
        return mh_fail(st, MH_ERR_INTERNAL, "the store is read-only");
    mh_store_lock(store);
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    if (sqlite3_exec(store->db, "DELETE FROM devices; DELETE FROM telemetry;", NULL, NULL, NULL) !=
        SQLITE_OK) {
        err = mh_db_fail(store, st, "reset");
        mh_db_rollback(store);
        goto done;
    }
    err = mh_db_commit(store, st);
done:
    mh_store_unlock(store);
    return err;
}
