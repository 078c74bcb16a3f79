/* sessions.c - the subscriptions of devices' persistent broker sessions (clean session 0), kept in
 * the store so that a restarted daemon knows what the broker restored from its own persistence.
 */
#include "sessions.h"

#include "store_internal.h"

mh_err mh_store_session_subs_get(mh_store *store, const char *device_id, unsigned *out_subs)
{
    mh_err err = MH_OK;
    if (!store || !device_id || !out_subs)
        return MH_ERR_ARGUMENT_NULL;
    mh_store_lock(store);
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_SESSION_GET);
    if (!s) {
        err = mh_db_fail(store, NULL, "prepare");
        goto done;
    }
    mh_db_bind_text(s, 1, device_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out_subs = (unsigned)sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        *out_subs = 0;
    else
        err = mh_db_fail(store, NULL, "session get");
    mh_db_done(s);
done:
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_session_subs_set(mh_store *store, const char *device_id, unsigned subs)
{
    mh_err err;
    if (!store || !device_id)
        return MH_ERR_ARGUMENT_NULL;
    mh_store_lock(store);
    err = subs ? mh_db_exec_int(store, NULL, MH_STMT_SESSION_SET, device_id, subs)
               : mh_db_exec_texts(store, NULL, MH_STMT_SESSION_DELETE, device_id, NULL);
    mh_store_unlock(store);
    return err;
}
