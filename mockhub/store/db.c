/* db.c - the store's SQLite plumbing: open and close, pragmas, the schema, the SQL of every cached
 * statement (in one table, next to the schema it must agree with), the mutex, the statement
 * helpers and transactions that devices.c, twins.c, policies.c, sessions.c and telemetry.c use.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEVICE_COLUMNS                                                                                       \
    "id, generation_id, etag, status, status_reason, status_updated, auth_type, primary_key, "               \
    "secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, connection_state, "                  \
    "connection_state_updated, last_activity, c2d_count, device_scope, parent_scopes"

/* A module row, as modules.c renders it. */
#define MODULE_COLUMNS                                                                                       \
    "owner_id, module_id, managed_by, generation_id, etag, connection_state, connection_state_updated, "     \
    "last_activity, c2d_count, auth_type, primary_key, secondary_key, primary_thumbprint, "                  \
    "secondary_thumbprint"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS devices("
    " id TEXT PRIMARY KEY,"
    " generation_id TEXT NOT NULL,"
    " etag INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " status_reason TEXT,"
    " status_updated TEXT NOT NULL,"
    " auth_type TEXT NOT NULL,"
    " primary_key TEXT, secondary_key TEXT,"
    " primary_thumbprint TEXT, secondary_thumbprint TEXT,"
    " iot_edge INTEGER NOT NULL DEFAULT 0,"
    " connection_state TEXT NOT NULL,"
    " connection_state_updated TEXT NOT NULL,"
    " last_activity TEXT NOT NULL,"
    " c2d_count INTEGER NOT NULL DEFAULT 0,"
    " model_id TEXT NOT NULL DEFAULT '',"
    " tags TEXT,"
    " desired TEXT NOT NULL,"
    " desired_meta TEXT NOT NULL,"
    " desired_version INTEGER NOT NULL,"
    " reported TEXT NOT NULL,"
    " reported_meta TEXT NOT NULL,"
    " reported_version INTEGER NOT NULL,"
    " twin_etag INTEGER NOT NULL,"
    /* modules (issue 11) are rows of this table too, id "{deviceId}/{moduleId}" (identity.h), so
     * twins, presence and method calls serve both; owner_id is the module's device ("" for a
     * device), module_id its module id ("" for a device). Edge scopes are devices' only. */
    " owner_id TEXT NOT NULL DEFAULT '',"
    " module_id TEXT NOT NULL DEFAULT '',"
    " managed_by TEXT,"
    " device_scope TEXT NOT NULL DEFAULT '',"
    " parent_scopes TEXT NOT NULL DEFAULT '[]');"
    "CREATE TABLE IF NOT EXISTS policies(name TEXT PRIMARY KEY, primary_key TEXT NOT NULL,"
    " secondary_key TEXT NOT NULL, rights INTEGER NOT NULL);"
    /* broker sessions that outlive a connection (clean session 0): their subscriptions, so a
     * restarted daemon knows what the broker restored from its own persistence */
    "CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, subs INTEGER NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS sessions_gc AFTER DELETE ON devices"
    " BEGIN DELETE FROM sessions WHERE id = old.id; END;"
    /* hub start resets only the connected rows */
    "CREATE INDEX IF NOT EXISTS devices_connected ON devices(connection_state)"
    " WHERE connection_state <> 'Disconnected';"
    /* device-to-cloud messages, newest MH_TELEMETRY_KEEP kept (props: flat JSON object, raw keys) */
    "CREATE TABLE IF NOT EXISTS telemetry(seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL,"
    " enqueued TEXT NOT NULL, props TEXT NOT NULL, body BLOB NOT NULL);"
    /* cloud-to-device queues (c2d.c): pending messages per device, kept across restarts */
    "CREATE TABLE IF NOT EXISTS c2d(id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL,"
    " generation_id TEXT NOT NULL, message_id TEXT NOT NULL, correlation_id TEXT NOT NULL,"
    " user_id TEXT NOT NULL, content_type TEXT NOT NULL, content_encoding TEXT NOT NULL,"
    " ack INTEGER NOT NULL, enqueued INTEGER NOT NULL, expiry INTEGER NOT NULL,"
    " deliveries INTEGER NOT NULL DEFAULT 0, props TEXT NOT NULL, body BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS c2d_device ON c2d(device_id, id);"
    "CREATE TRIGGER IF NOT EXISTS c2d_gc AFTER DELETE ON devices"
    " BEGIN DELETE FROM c2d WHERE device_id = old.id; END;";

/* Added after a data dir may have been created (ALTER TABLE, each once; see schema_upgrade). */
static const struct {
    const char *table, *column, *ddl;
} added_columns[] = {
    {"devices", "owner_id", "ALTER TABLE devices ADD COLUMN owner_id TEXT NOT NULL DEFAULT ''"},
    {"devices", "module_id", "ALTER TABLE devices ADD COLUMN module_id TEXT NOT NULL DEFAULT ''"},
    {"devices", "managed_by", "ALTER TABLE devices ADD COLUMN managed_by TEXT"},
    {"devices", "device_scope", "ALTER TABLE devices ADD COLUMN device_scope TEXT NOT NULL DEFAULT ''"},
    {"devices", "parent_scopes", "ALTER TABLE devices ADD COLUMN parent_scopes TEXT NOT NULL DEFAULT '[]'"},
    /* the module a telemetry message came from ("" from a device) */
    {"telemetry", "module_id", "ALTER TABLE telemetry ADD COLUMN module_id TEXT NOT NULL DEFAULT ''"},
};

/* After the columns exist: a device's modules go with it, and the module lookups are indexed. */
static const char schema_after_upgrade_sql[] =
    "CREATE INDEX IF NOT EXISTS devices_owner ON devices(owner_id, id) WHERE owner_id <> '';"
    "CREATE TRIGGER IF NOT EXISTS modules_gc AFTER DELETE ON devices WHEN old.owner_id = ''"
    " BEGIN DELETE FROM devices WHERE owner_id = old.id; END;";

/* 1 when table has column (PRAGMA table_info). */
static int has_column(sqlite3 *db, const char *table, const char *column)
{
    sqlite3_stmt *s = NULL;
    char sql[128];
    int found = 0;

    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return 0;
    while (!found && sqlite3_step(s) == SQLITE_ROW)
        found = strcmp((const char *)sqlite3_column_text(s, 1), column) == 0;
    sqlite3_finalize(s);
    return found;
}

/* Brings a data dir made by an older mockhub to the current schema. */
static int schema_upgrade(sqlite3 *db)
{
    for (size_t i = 0; i < sizeof added_columns / sizeof added_columns[0]; i++)
        if (!has_column(db, added_columns[i].table, added_columns[i].column) &&
            sqlite3_exec(db, added_columns[i].ddl, NULL, NULL, NULL) != SQLITE_OK)
            return 0;
    return sqlite3_exec(db, schema_after_upgrade_sql, NULL, NULL, NULL) == SQLITE_OK;
}

static const char *const stmt_sql[MH_STMT__COUNT] = {
    [MH_STMT_DEVICE_AUTH] = MH_KEYS_AUTH_SQL,
    [MH_STMT_DEVICE_GET] = "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?1 AND owner_id = ''",
    [MH_STMT_DEVICE_INSERT] =
        "INSERT INTO devices(id, generation_id, etag, status, status_reason, status_updated, auth_type,"
        " primary_key, secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, connection_state,"
        " connection_state_updated, last_activity, c2d_count, model_id, tags, desired, desired_meta,"
        " desired_version, reported, reported_meta, reported_version, twin_etag, device_scope, parent_scopes)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'Disconnected', ?6, ?6, 0, '', NULL,"
        " '{}', ?13, 1, '{}', ?13, 1, 1, ?14, ?15)",
    [MH_STMT_DEVICE_UPDATE] =
        "UPDATE devices SET etag = ?2, status = ?3, status_reason = ?4, status_updated = ?5, auth_type = ?6,"
        " primary_key = ?7, secondary_key = ?8, primary_thumbprint = ?9, secondary_thumbprint = ?10,"
        " iot_edge = ?11, device_scope = ?12, parent_scopes = ?13 WHERE id = ?1",
    [MH_STMT_DEVICE_DELETE] = "DELETE FROM devices WHERE id = ?1",
    [MH_STMT_DEVICE_LIST] = "SELECT " DEVICE_COLUMNS " FROM devices WHERE owner_id = '' ORDER BY id LIMIT ?1",
    [MH_STMT_MODULE_INSERT] =
        "INSERT INTO devices(id, generation_id, etag, status, status_reason, status_updated, auth_type,"
        " primary_key, secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, connection_state,"
        " connection_state_updated, last_activity, c2d_count, model_id, tags, desired, desired_meta,"
        " desired_version, reported, reported_meta, reported_version, twin_etag, owner_id, module_id, "
        "managed_by)"
        " VALUES(?1, ?2, ?3, 'enabled', NULL, '" MH_NEVER_TIME "', ?4, ?5, ?6, ?7, ?8, 0, 'Disconnected',"
        " '" MH_NEVER_TIME "', '" MH_NEVER_TIME "', 0, '', NULL, '{}',"
        " '{\"$lastUpdated\":\"" MH_NEVER_TIME "\"}', 1, '{}', '{\"$lastUpdated\":\"" MH_NEVER_TIME
        "\"}', 1, 1,"
        " ?9, ?10, ?11)",
    [MH_STMT_MODULE_UPDATE] =
        "UPDATE devices SET etag = ?2, auth_type = ?3, primary_key = ?4, secondary_key = ?5,"
        " primary_thumbprint = ?6, secondary_thumbprint = ?7, managed_by = ?8 WHERE id = ?1",
    [MH_STMT_MODULE_GET] = "SELECT " MODULE_COLUMNS " FROM devices WHERE id = ?1 AND owner_id <> ''",
    [MH_STMT_MODULE_LIST] = "SELECT " MODULE_COLUMNS " FROM devices WHERE owner_id = ?1 ORDER BY id",
    [MH_STMT_MODULE_COUNT] = "SELECT COUNT(*) FROM devices WHERE owner_id = ?1",
    [MH_STMT_DEVICE_ETAG] = "SELECT etag FROM devices WHERE id = ?1",
    [MH_STMT_SET_CONNECTED] =
        "UPDATE devices SET connection_state = 'Connected', connection_state_updated = ?2,"
        " last_activity = ?2 WHERE id = ?1",
    [MH_STMT_SET_DISCONNECTED] = "UPDATE devices SET connection_state = 'Disconnected',"
                                 " connection_state_updated = ?2 WHERE id = ?1",
    [MH_STMT_TOUCH] = "UPDATE devices SET last_activity = ?2 WHERE id = ?1",
    [MH_STMT_RESET_CONNECTIONS] = "UPDATE devices SET connection_state = 'Disconnected',"
                                  " connection_state_updated = ?1 WHERE connection_state <> 'Disconnected'",
    [MH_STMT_TWIN_GET] = "SELECT " MH_TWIN_COLUMNS " FROM devices WHERE id = ?1",
    [MH_STMT_TWIN_PROPS] =
        "SELECT desired, desired_version, reported, reported_version FROM devices WHERE id = ?1",
    [MH_STMT_TWIN_SERVICE_ROW] = "SELECT tags, desired, desired_meta, desired_version, twin_etag FROM devices"
                                 " WHERE id = ?1",
    [MH_STMT_TWIN_SERVICE_UPDATE] = "UPDATE devices SET tags = ?2, desired = ?3, desired_meta = ?4,"
                                    " desired_version = ?5, twin_etag = ?6 WHERE id = ?1",
    [MH_STMT_REPORTED_GET] = "SELECT reported, reported_meta, reported_version FROM devices WHERE id = ?1",
    [MH_STMT_REPORTED_UPDATE] = "UPDATE devices SET reported = ?2, reported_meta = ?3, reported_version = ?4,"
                                " last_activity = ?5 WHERE id = ?1",
    [MH_STMT_POLICY_GET] = "SELECT name, primary_key, secondary_key, rights FROM policies WHERE name = ?1",
    [MH_STMT_POLICY_INSERT] = "INSERT OR IGNORE INTO policies(name, primary_key, secondary_key, rights)"
                              " VALUES(?1, ?2, ?3, ?4)",
    [MH_STMT_POLICY_OWNER] = "UPDATE policies SET primary_key = ?1 WHERE name = 'iothubowner'",
    [MH_STMT_SESSION_GET] = "SELECT subs FROM sessions WHERE id = ?1",
    [MH_STMT_SESSION_SET] = "INSERT INTO sessions(id, subs) VALUES(?1, ?2)"
                            " ON CONFLICT(id) DO UPDATE SET subs = excluded.subs",
    [MH_STMT_SESSION_DELETE] = "DELETE FROM sessions WHERE id = ?1",
    [MH_STMT_TELEMETRY_INSERT] =
        "INSERT INTO telemetry(device_id, enqueued, props, body, module_id) VALUES(?1, ?2, ?3, ?4, ?5)",
    [MH_STMT_TELEMETRY_TRIM] = "DELETE FROM telemetry WHERE seq <= ?1",
    [MH_STMT_TELEMETRY_LIST] = "SELECT seq, device_id, enqueued, props, body, module_id FROM telemetry"
                               " WHERE seq > ?1 AND (?2 IS NULL OR device_id = ?2) ORDER BY seq LIMIT ?3",
    [MH_STMT_TELEMETRY_LAST] = "SELECT COALESCE(MAX(seq), 0) FROM telemetry",
    [MH_STMT_BEGIN] = "BEGIN IMMEDIATE",
    [MH_STMT_COMMIT] = "COMMIT",
    [MH_STMT_ROLLBACK] = "ROLLBACK",
};

/* ---- locking, statements, transactions ---- */

void mh_store_lock(mh_store *store)
{
    pthread_mutex_lock(&store->lock);
}

void mh_store_unlock(mh_store *store)
{
    pthread_mutex_unlock(&store->lock);
}

/* The cached statement id, prepared on first use; NULL on failure (text in db's errmsg). */
sqlite3_stmt *mh_db_stmt(mh_store *store, int id)
{
    if (!store->stmts[id] && sqlite3_prepare_v3(store->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                                &store->stmts[id], NULL) != SQLITE_OK) {
        sqlite3_finalize(store->stmts[id]);
        store->stmts[id] = NULL;
    }
    return store->stmts[id];
}

/* Ends a use of a cached statement: a reset statement holds no read snapshot (WAL readers). */
void mh_db_done(sqlite3_stmt *stmt)
{
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
}

mh_err mh_db_fail(mh_store *store, mh_status *st, const char *what)
{
    int rc = sqlite3_errcode(store->db);

    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return mh_fail(st, MH_ERR_UNAVAILABLE, "database busy (%s)", what);
    if (rc == SQLITE_NOMEM)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory (%s)", what);
    return mh_fail(st, MH_ERR_INTERNAL, "database error in %s: %s", what, sqlite3_errmsg(store->db));
}

/* Runs a cached statement that returns no rows. */
static mh_err exec_simple(mh_store *store, int id, mh_status *st)
{
    sqlite3_stmt *s = mh_db_stmt(store, id);
    int rc;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    rc = sqlite3_step(s);
    mh_db_done(s);
    if (rc != SQLITE_DONE)
        return mh_db_fail(store, st, stmt_sql[id]);
    return MH_OK;
}

mh_err mh_db_begin(mh_store *store, mh_status *st)
{
    return exec_simple(store, MH_STMT_BEGIN, st);
}

mh_err mh_db_commit(mh_store *store, mh_status *st)
{
    mh_err err = exec_simple(store, MH_STMT_COMMIT, st);

    if (err != MH_OK && !sqlite3_get_autocommit(store->db))
        (void)exec_simple(store, MH_STMT_ROLLBACK, NULL);
    return err;
}

void mh_db_rollback(mh_store *store)
{
    if (!sqlite3_get_autocommit(store->db))
        (void)exec_simple(store, MH_STMT_ROLLBACK, NULL);
}

int mh_db_bind_text(sqlite3_stmt *s, int i, const char *text)
{
    return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* Runs cached statement id, which returns no rows, with the text parameters ?1 = a1 and ?2 = a2
 * (NULL: not bound) and, when int_at > 0, the integer n as ?int_at. The caller holds the lock. */
static mh_err exec_params(mh_store *store, mh_status *st, int id, const char *a1, const char *a2, int int_at,
                          long long n)
{
    sqlite3_stmt *s = mh_db_stmt(store, id);
    mh_err err = MH_OK;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    if (a1)
        mh_db_bind_text(s, 1, a1);
    if (a2)
        mh_db_bind_text(s, 2, a2);
    if (int_at > 0)
        sqlite3_bind_int64(s, int_at, n);
    if (sqlite3_step(s) != SQLITE_DONE)
        err = mh_db_fail(store, st, stmt_sql[id]);
    mh_db_done(s);
    return err;
}

/* Runs cached statement id, which returns no rows, with the text parameters ?1 = a1 and ?2 = a2
 * (NULL: not bound). The caller holds the lock. */
mh_err mh_db_exec_texts(mh_store *store, mh_status *st, int id, const char *a1, const char *a2)
{
    return exec_params(store, st, id, a1, a2, 0, 0);
}

mh_err mh_db_exec_int(mh_store *store, mh_status *st, int id, const char *a1, long long n)
{
    return exec_params(store, st, id, a1, NULL, a1 ? 2 : 1, n);
}

const char *mh_db_col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* Copies column i into buf (empty when NULL); 0 when it did not fit. */
int mh_db_col_copy(sqlite3_stmt *s, int i, char *buf, size_t len)
{
    const char *t = mh_db_col_text(s, i);

    if (!t)
        t = "";
    if (strlen(t) >= len)
        return 0;
    memcpy(buf, t, strlen(t) + 1);
    return 1;
}

/* ---- open / close ---- */

mh_err mh_store_open(const char *path, unsigned flags, mh_store **out_store)
{
    mh_store *store = NULL;
    int oflags =
        (flags & MH_STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    mh_err err = MH_ERR_INTERNAL;

    if (!path || !out_store)
        return MH_ERR_ARGUMENT_NULL;
    store = calloc(1, sizeof *store);
    if (!store)
        return MH_ERR_NOMEM;
    store->flags = flags;
    if (pthread_mutex_init(&store->lock, NULL) != 0) {
        free(store);
        return MH_ERR_INTERNAL;
    }
    if (!mh_keys_db_open(path, oflags, &store->db))
        goto fail;
    if (!(flags & MH_STORE_READONLY)) {
        /* WAL: the plugin reads while the daemon writes; NORMAL: a commit survives a process crash. */
        if (sqlite3_exec(store->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                         NULL) != SQLITE_OK ||
            sqlite3_exec(store->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK || !schema_upgrade(store->db))
            goto fail;
    }
    *out_store = store;
    return MH_OK;
fail:
    mh_store_free(store);
    return err;
}

void mh_store_free(mh_store *store)
{
    int i;

    if (!store)
        return;
    for (i = 0; i < MH_STMT__COUNT; i++)
        sqlite3_finalize(store->stmts[i]);
    sqlite3_close(store->db);
    pthread_mutex_destroy(&store->lock);
    free(store);
}
