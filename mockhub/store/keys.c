/* keys.c - the device key lookup: the broker plugin's read-only connection (mh_keys_*) and the row
 * reading it shares with mh_store_device_auth (devices.c). Self-contained: it calls only SQLite, so
 * the plugin links this file alone, without the rest of the store.
 */
#include "keys.h"

#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

struct mh_keys {
    sqlite3 *db;
    sqlite3_stmt *auth; /* MH_KEYS_AUTH_SQL, prepared at the first lookup (the schema may come later) */
};

/* The mh_err of the last failed SQLite call on db (as db.c's mh_db_fail, without a status text). */
static mh_err keys_err(sqlite3 *db)
{
    int rc = sqlite3_errcode(db);

    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return MH_ERR_UNAVAILABLE;
    return rc == SQLITE_NOMEM ? MH_ERR_NOMEM : MH_ERR_INTERNAL;
}

/* Copies text column i into a key buffer (empty when NULL); 0 when it does not fit. */
static int key_column(sqlite3_stmt *s, int i, char out[MH_KEY_SIZE])
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    size_t n = t ? strlen(t) : 0;

    if (n >= MH_KEY_SIZE)
        return 0;
    memcpy(out, t ? t : "", n + 1);
    return 1;
}

mh_err mh_keys_auth_read(sqlite3 *db, sqlite3_stmt *s, const char *device_id, mh_device_auth *out_auth)
{
    mh_device_auth a;
    mh_err err = MH_OK;
    int rc;

    memset(&a, 0, sizeof a);
    sqlite3_bind_text(s, 1, device_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(s, 2);
        const char *type = (const char *)sqlite3_column_text(s, 3);
        a.enabled = status && strcmp(status, "enabled") == 0;
        a.sas = type && strcmp(type, "sas") == 0;
        if (!key_column(s, 0, a.primary_key) || !key_column(s, 1, a.secondary_key))
            err = MH_ERR_INTERNAL;
    } else {
        err = rc == SQLITE_DONE ? MH_ERR_DEVICE_NOT_FOUND : keys_err(db);
    }
    /* a reset statement holds no read snapshot, so the daemon's checkpoints are not held back */
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (err == MH_OK)
        *out_auth = a;
    return err;
}

int mh_keys_db_open(const char *path, int oflags, sqlite3 **out_db)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, oflags, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return 0;
    }
    /* a writer holds the lock for milliseconds; waiting beats failing a CONNECT or a REST call */
    sqlite3_busy_timeout(db, 5000);
    sqlite3_extended_result_codes(db, 0);
    *out_db = db;
    return 1;
}

mh_err mh_keys_open(const char *path, mh_keys **out_keys)
{
    mh_keys *keys;

    if (!path || !out_keys)
        return MH_ERR_ARGUMENT_NULL;
    keys = calloc(1, sizeof *keys);
    if (!keys)
        return MH_ERR_NOMEM;
    /* READONLY without CREATE: the daemon creates the file and owns the schema and every write. */
    if (!mh_keys_db_open(path, SQLITE_OPEN_READONLY, &keys->db)) {
        free(keys);
        return MH_ERR_INTERNAL;
    }
    *out_keys = keys;
    return MH_OK;
}

mh_err mh_keys_device_auth(mh_keys *keys, const char *device_id, mh_device_auth *out_auth)
{
    if (!keys || !device_id || !out_auth)
        return MH_ERR_ARGUMENT_NULL;
    if (!keys->auth && sqlite3_prepare_v3(keys->db, MH_KEYS_AUTH_SQL, -1, SQLITE_PREPARE_PERSISTENT,
                                          &keys->auth, NULL) != SQLITE_OK) {
        sqlite3_finalize(keys->auth);
        keys->auth = NULL;
        return keys_err(keys->db);
    }
    return mh_keys_auth_read(keys->db, keys->auth, device_id, out_auth);
}

void mh_keys_free(mh_keys *keys)
{
    if (!keys)
        return;
    sqlite3_finalize(keys->auth);
    sqlite3_close(keys->db);
    free(keys);
}
