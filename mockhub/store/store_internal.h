/* store_internal.h - what the store's own .c files (store.c, store_query.c) share: the mh_store
 * struct, the lock, and the rendering of a devices row as the full service-side Twin JSON.
 * Not for use outside store*.c.
 */
#ifndef MH_STORE_INTERNAL_H
#define MH_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

/* Cached prepared statements of store.c (indexes into mh_store.stmts). */
enum {
    MH_STMT_DEVICE_AUTH,
    MH_STMT_DEVICE_GET,
    MH_STMT_DEVICE_INSERT,
    MH_STMT_DEVICE_UPDATE,
    MH_STMT_DEVICE_DELETE,
    MH_STMT_DEVICE_LIST,
    MH_STMT_DEVICE_ETAG,
    MH_STMT_SET_CONNECTED,
    MH_STMT_SET_DISCONNECTED,
    MH_STMT_TOUCH,
    MH_STMT_RESET_CONNECTIONS,
    MH_STMT_TWIN_GET,
    MH_STMT_TWIN_PROPS,
    MH_STMT_TWIN_SERVICE_ROW,
    MH_STMT_TWIN_SERVICE_UPDATE,
    MH_STMT_REPORTED_GET,
    MH_STMT_REPORTED_UPDATE,
    MH_STMT_POLICY_GET,
    MH_STMT_POLICY_INSERT,
    MH_STMT_POLICY_OWNER,
    MH_STMT_SESSION_GET,
    MH_STMT_SESSION_SET,
    MH_STMT_SESSION_DELETE,
    MH_STMT_TELEMETRY_INSERT,
    MH_STMT_TELEMETRY_TRIM,
    MH_STMT_TELEMETRY_LIST,
    MH_STMT_TELEMETRY_LAST,
    MH_STMT_BEGIN,
    MH_STMT_COMMIT,
    MH_STMT_ROLLBACK,
    MH_STMT__COUNT
};

struct mh_store {
    sqlite3 *db;
    pthread_mutex_t lock;                /* held around every public call (mh_store_lock / mh_store_unlock) */
    unsigned flags;                      /* MH_STORE_* given to mh_store_open */
    sqlite3_stmt *stmts[MH_STMT__COUNT]; /* prepared on first use, finalized by mh_store_free */
    unsigned telemetry_adds; /* telemetry rows added since open: trims every MH_TELEMETRY_TRIM_EVERY */
};

/* The devices columns, in order, that mh_store_twin_render reads. Select them as
 * "SELECT " MH_TWIN_COLUMNS " FROM devices ..." (optionally after other columns). */
#define MH_TWIN_COLUMNS                                                                                      \
    "id, etag, status, status_reason, status_updated, auth_type, primary_thumbprint, "                       \
    "secondary_thumbprint, iot_edge, connection_state, last_activity, c2d_count, model_id, "                 \
    "tags, desired, desired_meta, desired_version, reported, reported_meta, reported_version, "              \
    "twin_etag"
#define MH_TWIN_NCOLUMNS 21

/* Renders the full Twin JSON (as GET /twins/{id}) from the current row of stmt, whose columns
 * first_col .. first_col + MH_TWIN_NCOLUMNS - 1 are MH_TWIN_COLUMNS. Returns a new cJSON tree the
 * caller owns, or NULL when out of memory or the stored JSON is corrupt. */
cJSON *mh_store_twin_render(sqlite3_stmt *stmt, int first_col);

/* The store's mutex, for store_query.c: take it around any use of store->db. Not recursive. */
void mh_store_lock(mh_store *store);
void mh_store_unlock(mh_store *store);

#endif
