/* store_internal.h - what the store's own .c files share: the mh_store struct, the lock, the
 * statement and transaction helpers of db.c, key and document helpers of devices.c, the rendering
 * of a devices row as the full service-side Twin JSON (twins.c) and keys.c's connection opening and
 * device key lookup.
 * Not for use outside mockhub/store/.
 */
#ifndef MH_STORE_INTERNAL_H
#define MH_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

/* Cached prepared statements (indexes into mh_store.stmts; their SQL is in db.c). */
enum {
    MH_STMT_DEVICE_AUTH,
    MH_STMT_DEVICE_GET,
    MH_STMT_DEVICE_INSERT,
    MH_STMT_DEVICE_UPDATE,
    MH_STMT_DEVICE_DELETE,
    MH_STMT_DEVICE_LIST,
    MH_STMT_MODULE_INSERT,
    MH_STMT_MODULE_UPDATE,
    MH_STMT_MODULE_GET,
    MH_STMT_MODULE_LIST,
    MH_STMT_MODULE_COUNT,
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

/* ---- db.c: the lock, cached statements, transactions ---- */

/* The store's mutex: take it around any use of store->db. Not recursive. */
void mh_store_lock(mh_store *store);
void mh_store_unlock(mh_store *store);

/* The cached statement id, prepared on first use; NULL on failure (text in db's errmsg). */
sqlite3_stmt *mh_db_stmt(mh_store *store, int id);
/* Ends a use of a cached statement: a reset statement holds no read snapshot (WAL readers). */
void mh_db_done(sqlite3_stmt *stmt);
/* The error of the last failed SQLite call on store->db (busy: MH_ERR_UNAVAILABLE), text in st. */
mh_err mh_db_fail(mh_store *store, mh_status *st, const char *what);
/* BEGIN IMMEDIATE / COMMIT (rolled back when it fails) / ROLLBACK when a transaction is open. */
mh_err mh_db_begin(mh_store *store, mh_status *st);
mh_err mh_db_commit(mh_store *store, mh_status *st);
void mh_db_rollback(mh_store *store);
/* Binds text as ?i, or NULL when text is NULL. */
int mh_db_bind_text(sqlite3_stmt *s, int i, const char *text);
/* Runs cached statement id, which returns no rows, with the text parameters ?1 = a1 and ?2 = a2
 * (NULL: not bound). The caller holds the lock. */
mh_err mh_db_exec_texts(mh_store *store, mh_status *st, int id, const char *a1, const char *a2);
/* The same with ?1 = a1 (NULL: not bound) and the integer n as the next parameter (?2, or ?1
 * without a1). */
mh_err mh_db_exec_int(mh_store *store, mh_status *st, int id, const char *a1, long long n);
const char *mh_db_col_text(sqlite3_stmt *s, int i);
/* Copies column i into buf (empty when NULL); 0 when it did not fit. */
int mh_db_col_copy(sqlite3_stmt *s, int i, char *buf, size_t len);

/* ---- devices.c: keys and document helpers also used by policies.c and twins.c ---- */

/* The writable fields of a devices row (devices.c, modules.c). */
#define MH_MAX_REASON 512 /* statusReason bytes (input cap) */
#define MH_MAX_THUMBPRINT 128
#define MH_SCOPE_MAX 256 /* "ms-azure-iot-edge://{deviceId}-{generation}" is at most 168 */
typedef struct dev_row {
    long long etag;
    char status[16];
    char status_reason[MH_MAX_REASON + 1];
    int has_reason;
    char status_updated[40];
    char auth_type[32];
    char primary_key[MH_KEY_SIZE];
    char secondary_key[MH_KEY_SIZE];
    char primary_thumbprint[MH_MAX_THUMBPRINT + 1];
    int has_primary_thumbprint;
    char secondary_thumbprint[MH_MAX_THUMBPRINT + 1];
    int has_secondary_thumbprint;
    int iot_edge;
    char generation[24];                 /* generationId (read only) */
    char scope[MH_SCOPE_MAX + 1];        /* deviceScope, "" when none */
    char parent_scope[MH_SCOPE_MAX + 1]; /* parentScopes[0], "" when none (the hub allows one) */
} dev_row;

#define MH_NEVER_TIME "0001-01-01T00:00:00Z"

/* Applies an "authentication" member (type, symmetricKey, x509Thumbprint) to row; absent or null
 * changes nothing, empty keys keep the row's. */
mh_err mh_store_auth_apply(dev_row *row, const cJSON *auth, mh_status *st);
/* SAS identities need both keys: generates the empty ones. */
mh_err mh_store_fill_keys(dev_row *row, mh_status *st);
/* generationId: .NET ticks of now (18 digits). */
void mh_store_generation_id(char out[24]);
/* 1 when len random bytes were read into buf. */
int mh_store_random_bytes(void *buf, size_t len);
/* Adds an identity time (create_form: never-set times without the Z, as the create response). */
cJSON *mh_store_add_time(cJSON *obj, const char *name, const char *t, int create_form);
/* The not-found error for identity (caller holds the lock): DeviceNotFound for a device, or for a
 * module of a device that does not exist; ModuleNotFound otherwise. */
mh_err mh_store_not_found(mh_store *store, const char *identity, mh_status *st);

/* Inserts module module_id of device_id (which must exist) with row's auth (keys already filled)
 * inside the caller's transaction, lock held. Errors: ModuleAlreadyExistsOnDevice, database errors. */
mh_err mh_store_module_insert_locked(mh_store *store, const char *device_id, const char *module_id,
                                     const char *managed_by, const dev_row *row, mh_status *st);

/* A new symmetric key: base64 of 32 random bytes (44 characters). 0 when no random bytes. */
int mh_store_key_generate(char out[64]);
/* 1 when key is base64 of 16..64 bytes (IoT Hub's symmetric keys). */
int mh_store_key_valid(const char *key);
/* Adds member name as text t, or as null when t is NULL; NULL when out of memory. */
cJSON *mh_store_add_text_or_null(cJSON *obj, const char *name, const char *t);

/* ---- keys.c: connection settings and the device key lookup, shared with the broker plugin ---- */

/* Opens path with the SQLite open flags oflags and the settings every connection of the hub uses
 * (busy timeout, primary result codes). 0 when it cannot be opened (*out_db untouched). */
int mh_keys_db_open(const char *path, int oflags, sqlite3 **out_db);

#define MH_KEYS_AUTH_SQL "SELECT primary_key, secondary_key, status, auth_type FROM devices WHERE id = ?1"

/* Runs s (MH_KEYS_AUTH_SQL, prepared on db) for device_id, then resets it and clears its bindings.
 * *out_auth is written only on success. Errors: MH_ERR_DEVICE_NOT_FOUND, MH_ERR_UNAVAILABLE
 * (database busy), MH_ERR_NOMEM, MH_ERR_INTERNAL (other SQLite errors, stored key too long). */
mh_err mh_keys_auth_read(sqlite3 *db, sqlite3_stmt *s, const char *device_id,
                         mh_device_auth *out_auth) MH_WARN_UNUSED;

#endif
