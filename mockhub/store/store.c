/* store.c - the hub's state in SQLite: device registry, twins (columns of the devices row, see
 * docs/INTERNALS.md), shared access policies. One mutex around every public call, one transaction
 * per write, prepared statements cached per mh_store. Document logic lives in twin.c.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "iot_b64.h"
#include "store_internal.h"
#include "twin.h"

#define NEVER_TIME "0001-01-01T00:00:00Z"
#define MAX_REASON 512 /* statusReason bytes (input cap) */
#define MAX_THUMBPRINT 128
#define MAX_PATCH (256 * 1024) /* reported payload bytes: far above 32 KB of content */

#define DEVICE_COLUMNS                                                                                       \
    "id, generation_id, etag, status, status_reason, status_updated, auth_type, primary_key, "               \
    "secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, connection_state, "                  \
    "connection_state_updated, last_activity, c2d_count"

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
    " twin_etag INTEGER NOT NULL);"
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
    " enqueued TEXT NOT NULL, props TEXT NOT NULL, body BLOB NOT NULL);";

static const char *const stmt_sql[MH_STMT__COUNT] = {
    [MH_STMT_DEVICE_AUTH] = "SELECT primary_key, secondary_key, status, auth_type FROM devices WHERE id = ?1",
    [MH_STMT_DEVICE_GET] = "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?1",
    [MH_STMT_DEVICE_INSERT] =
        "INSERT INTO devices(id, generation_id, etag, status, status_reason, status_updated, auth_type,"
        " primary_key, secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, connection_state,"
        " connection_state_updated, last_activity, c2d_count, model_id, tags, desired, desired_meta,"
        " desired_version, reported, reported_meta, reported_version, twin_etag)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'Disconnected', ?6, ?6, 0, '', NULL,"
        " '{}', ?13, 1, '{}', ?13, 1, 1)",
    [MH_STMT_DEVICE_UPDATE] =
        "UPDATE devices SET etag = ?2, status = ?3, status_reason = ?4, status_updated = ?5, auth_type = ?6,"
        " primary_key = ?7, secondary_key = ?8, primary_thumbprint = ?9, secondary_thumbprint = ?10,"
        " iot_edge = ?11 WHERE id = ?1",
    [MH_STMT_DEVICE_DELETE] = "DELETE FROM devices WHERE id = ?1",
    [MH_STMT_DEVICE_LIST] = "SELECT " DEVICE_COLUMNS " FROM devices ORDER BY id LIMIT ?1",
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
        "INSERT INTO telemetry(device_id, enqueued, props, body) VALUES(?1, ?2, ?3, ?4)",
    [MH_STMT_TELEMETRY_TRIM] = "DELETE FROM telemetry WHERE seq <= ?1",
    [MH_STMT_TELEMETRY_LIST] = "SELECT seq, device_id, enqueued, props, body FROM telemetry"
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
static sqlite3_stmt *stmt_get(mh_store *store, int id)
{
    if (!store->stmts[id] && sqlite3_prepare_v3(store->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                                &store->stmts[id], NULL) != SQLITE_OK) {
        sqlite3_finalize(store->stmts[id]);
        store->stmts[id] = NULL;
    }
    return store->stmts[id];
}

/* Ends a use of a cached statement: a reset statement holds no read snapshot (WAL readers). */
static void stmt_done(sqlite3_stmt *stmt)
{
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
}

static mh_err db_fail(mh_store *store, mh_status *st, const char *what)
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
    sqlite3_stmt *s = stmt_get(store, id);
    int rc;

    if (!s)
        return db_fail(store, st, "prepare");
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE)
        return db_fail(store, st, stmt_sql[id]);
    return MH_OK;
}

static mh_err tx_begin(mh_store *store, mh_status *st)
{
    return exec_simple(store, MH_STMT_BEGIN, st);
}

static mh_err tx_commit(mh_store *store, mh_status *st)
{
    mh_err err = exec_simple(store, MH_STMT_COMMIT, st);

    if (err != MH_OK && !sqlite3_get_autocommit(store->db))
        (void)exec_simple(store, MH_STMT_ROLLBACK, NULL);
    return err;
}

static void tx_rollback(mh_store *store)
{
    if (!sqlite3_get_autocommit(store->db))
        (void)exec_simple(store, MH_STMT_ROLLBACK, NULL);
}

static int bind_text(sqlite3_stmt *s, int i, const char *text)
{
    return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* Runs cached statement id, which returns no rows, with the text parameters ?1 = a1 and ?2 = a2
 * (NULL: not bound). The caller holds the lock. */
static mh_err exec_texts(mh_store *store, mh_status *st, int id, const char *a1, const char *a2)
{
    sqlite3_stmt *s = stmt_get(store, id);
    mh_err err = MH_OK;

    if (!s)
        return db_fail(store, st, "prepare");
    if (a1)
        bind_text(s, 1, a1);
    if (a2)
        bind_text(s, 2, a2);
    if (sqlite3_step(s) != SQLITE_DONE)
        err = db_fail(store, st, stmt_sql[id]);
    stmt_done(s);
    return err;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* Copies column i into buf (empty when NULL); 0 when it did not fit. */
static int col_copy(sqlite3_stmt *s, int i, char *buf, size_t len)
{
    const char *t = col_text(s, i);

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
    if (sqlite3_open_v2(path, &store->db, oflags, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(store->db, 5000);
    sqlite3_extended_result_codes(store->db, 0);
    if (!(flags & MH_STORE_READONLY)) {
        /* WAL: the plugin reads while the daemon writes; NORMAL: a commit survives a process crash. */
        if (sqlite3_exec(store->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                         NULL) != SQLITE_OK ||
            sqlite3_exec(store->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
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

/* ---- helpers: randomness, keys, times ---- */

static int random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n <= 0)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* A new symmetric key: base64 of 32 random bytes (44 characters). */
static int key_generate(char out[64])
{
    unsigned char raw[32];

    return random_bytes(raw, sizeof raw) && iot_b64_encode(raw, sizeof raw, out, 64) == IOT_OK;
}

/* AZURE: symmetric keys are base64 of 16..64 bytes. */
static int key_valid(const char *key)
{
    unsigned char raw[MH_KEY_SIZE];
    size_t n = 0, len = strlen(key);

    if (len == 0 || len >= MH_KEY_SIZE || iot_b64_decode(key, len, raw, sizeof raw, &n) != IOT_OK)
        return 0;
    return n >= 16 && n <= 64;
}

/* generationId: .NET ticks of now (18 digits), as the real hub's values are. */
static void generation_id(char out[24])
{
    struct timespec ts;
    unsigned long long ticks;

    clock_gettime(CLOCK_REALTIME, &ts);
    ticks = (unsigned long long)ts.tv_sec * 10000000ull + (unsigned long long)ts.tv_nsec / 100 +
            621355968000000000ull;
    snprintf(out, 24, "%llu", ticks);
}

/* ---- device rows ---- */

typedef struct dev_row {
    long long etag;
    char status[16];
    char status_reason[MAX_REASON + 1];
    int has_reason;
    char status_updated[40];
    char auth_type[32];
    char primary_key[MH_KEY_SIZE];
    char secondary_key[MH_KEY_SIZE];
    char primary_thumbprint[MAX_THUMBPRINT + 1];
    int has_primary_thumbprint;
    char secondary_thumbprint[MAX_THUMBPRINT + 1];
    int has_secondary_thumbprint;
    int iot_edge;
} dev_row;

/* Loads the writable fields of a DEVICE_COLUMNS row. */
static int dev_row_load(sqlite3_stmt *s, dev_row *row)
{
    memset(row, 0, sizeof *row);
    row->etag = sqlite3_column_int64(s, 2);
    row->has_reason = sqlite3_column_type(s, 4) != SQLITE_NULL;
    row->has_primary_thumbprint = sqlite3_column_type(s, 9) != SQLITE_NULL;
    row->has_secondary_thumbprint = sqlite3_column_type(s, 10) != SQLITE_NULL;
    row->iot_edge = sqlite3_column_int(s, 11);
    return col_copy(s, 3, row->status, sizeof row->status) &&
           col_copy(s, 4, row->status_reason, sizeof row->status_reason) &&
           col_copy(s, 5, row->status_updated, sizeof row->status_updated) &&
           col_copy(s, 6, row->auth_type, sizeof row->auth_type) &&
           col_copy(s, 7, row->primary_key, sizeof row->primary_key) &&
           col_copy(s, 8, row->secondary_key, sizeof row->secondary_key) &&
           col_copy(s, 9, row->primary_thumbprint, sizeof row->primary_thumbprint) &&
           col_copy(s, 10, row->secondary_thumbprint, sizeof row->secondary_thumbprint);
}

/* Optional string member: absent -> 0 (keep), null -> 1 with *out NULL, string -> 1. Else -1. */
static int opt_string(const cJSON *obj, const char *name, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = NULL;
    if (!item)
        return 0;
    if (cJSON_IsNull(item))
        return 1;
    if (cJSON_IsString(item)) {
        *out = item->valuestring;
        return 1;
    }
    return -1;
}

static mh_err set_thumbprint(const cJSON *x509, const char *name, char *buf, int *has, mh_status *st)
{
    const char *v;
    int r = opt_string(x509, name, &v);

    if (r < 0 || (v && strlen(v) > MAX_THUMBPRINT))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Invalid x509Thumbprint.%s", name);
    if (r == 1) {
        *has = v != NULL;
        snprintf(buf, MAX_THUMBPRINT + 1, "%s", v ? v : "");
    }
    return MH_OK;
}

/* Applies the writable members of a Device JSON body to row. Empty or absent keys leave the row's
 * keys as they are (the caller generates missing ones). */
static mh_err dev_row_apply(dev_row *row, const char *device_id, const cJSON *body, mh_status *st)
{
    const cJSON *auth, *sym, *x509, *caps, *edge, *id;
    const char *v;
    int r;

    if (!body || cJSON_IsNull(body))
        return MH_OK;
    if (!cJSON_IsObject(body))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The device must be a JSON object");
    id = cJSON_GetObjectItemCaseSensitive(body, "deviceId");
    if (id && !cJSON_IsNull(id) && (!cJSON_IsString(id) || strcmp(id->valuestring, device_id) != 0))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "The deviceId in the body does not match the device id '%s'", device_id);
    r = opt_string(body, "status", &v);
    if (r < 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "status must be 'enabled' or 'disabled'");
    if (r == 1 && v) {
        if (strcasecmp(v, "enabled") == 0)
            strcpy(row->status, "enabled");
        else if (strcasecmp(v, "disabled") == 0)
            strcpy(row->status, "disabled");
        else
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "status must be 'enabled' or 'disabled', not '%.64s'",
                           v);
    }
    r = opt_string(body, "statusReason", &v);
    if (r < 0 || (v && strlen(v) > MAX_REASON))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "statusReason must be a string of at most %d bytes",
                       MAX_REASON);
    if (r == 1) {
        row->has_reason = v != NULL;
        snprintf(row->status_reason, sizeof row->status_reason, "%s", v ? v : "");
    }
    caps = cJSON_GetObjectItemCaseSensitive(body, "capabilities");
    if (cJSON_IsObject(caps)) {
        edge = cJSON_GetObjectItemCaseSensitive(caps, "iotEdge");
        if (edge && !cJSON_IsBool(edge) && !cJSON_IsNull(edge))
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "capabilities.iotEdge must be a boolean");
        if (cJSON_IsBool(edge))
            row->iot_edge = cJSON_IsTrue(edge);
    } else if (caps && !cJSON_IsNull(caps)) {
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "capabilities must be a JSON object");
    }
    auth = cJSON_GetObjectItemCaseSensitive(body, "authentication");
    if (!auth || cJSON_IsNull(auth))
        return MH_OK;
    if (!cJSON_IsObject(auth))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "authentication must be a JSON object");
    r = opt_string(auth, "type", &v);
    if (r < 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "authentication.type must be a string");
    if (r == 1 && v) {
        static const char *const types[] = {"sas", "selfSigned", "certificateAuthority", "none"};
        size_t i;
        for (i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(v, types[i]) == 0)
                break;
        if (i == sizeof types / sizeof types[0])
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "authentication.type must be sas, selfSigned, certificateAuthority or none");
        strcpy(row->auth_type, types[i]);
    }
    sym = cJSON_GetObjectItemCaseSensitive(auth, "symmetricKey");
    if (cJSON_IsObject(sym)) {
        static const char *const names[2] = {"primaryKey", "secondaryKey"};
        char *bufs[2] = {row->primary_key, row->secondary_key};
        int i;
        for (i = 0; i < 2; i++) {
            r = opt_string(sym, names[i], &v);
            if (r < 0)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "symmetricKey.%s must be a string", names[i]);
            if (!v || !*v)
                continue;
            if (!key_valid(v))
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                               "symmetricKey.%s is not a valid key: base64 of 16 to 64 bytes expected",
                               names[i]);
            snprintf(bufs[i], MH_KEY_SIZE, "%s", v);
        }
    } else if (sym && !cJSON_IsNull(sym)) {
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "authentication.symmetricKey must be a JSON object");
    }
    x509 = cJSON_GetObjectItemCaseSensitive(auth, "x509Thumbprint");
    if (cJSON_IsObject(x509)) {
        mh_err err = set_thumbprint(x509, "primaryThumbprint", row->primary_thumbprint,
                                    &row->has_primary_thumbprint, st);
        if (err == MH_OK)
            err = set_thumbprint(x509, "secondaryThumbprint", row->secondary_thumbprint,
                                 &row->has_secondary_thumbprint, st);
        if (err != MH_OK)
            return err;
    } else if (x509 && !cJSON_IsNull(x509)) {
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "authentication.x509Thumbprint must be a JSON object");
    }
    return MH_OK;
}

/* SAS devices need both keys: generates the empty ones. */
static mh_err dev_row_fill_keys(dev_row *row, mh_status *st)
{
    if (strcmp(row->auth_type, "sas") != 0)
        return MH_OK;
    if ((!row->primary_key[0] && !key_generate(row->primary_key)) ||
        (!row->secondary_key[0] && !key_generate(row->secondary_key)))
        return mh_fail(st, MH_ERR_INTERNAL, "no random bytes for a key");
    return MH_OK;
}

/* Device time as stored (with Z); the create response drops the Z of never-set times. */
static cJSON *add_time(cJSON *obj, const char *name, const char *t, int create_form)
{
    if (create_form && t && strcmp(t, NEVER_TIME) == 0)
        return cJSON_AddStringToObject(obj, name, "0001-01-01T00:00:00");
    return cJSON_AddStringToObject(obj, name, t ? t : NEVER_TIME);
}

static cJSON *add_text_or_null(cJSON *obj, const char *name, const char *t)
{
    return t ? cJSON_AddStringToObject(obj, name, t) : cJSON_AddNullToObject(obj, name);
}

/* The Device JSON of a DEVICE_COLUMNS row. */
static cJSON *device_render(sqlite3_stmt *s, int create_form)
{
    cJSON *dev = cJSON_CreateObject(), *auth, *sym, *x509, *caps;
    char etag[32];
    int sas = col_text(s, 6) && strcmp(col_text(s, 6), "sas") == 0;

    mh_twin_device_etag_format(sqlite3_column_int64(s, 2), etag);
    if (!dev || !cJSON_AddStringToObject(dev, "deviceId", col_text(s, 0)) ||
        !cJSON_AddStringToObject(dev, "generationId", col_text(s, 1)) ||
        !cJSON_AddStringToObject(dev, "etag", etag) ||
        !cJSON_AddStringToObject(dev, "connectionState", col_text(s, 12)) ||
        !cJSON_AddStringToObject(dev, "status", col_text(s, 3)) ||
        !add_text_or_null(dev, "statusReason", col_text(s, 4)) ||
        !add_time(dev, "connectionStateUpdatedTime", col_text(s, 13), create_form) ||
        !add_time(dev, "statusUpdatedTime", col_text(s, 5), create_form) ||
        !add_time(dev, "lastActivityTime", col_text(s, 14), create_form) ||
        !cJSON_AddNumberToObject(dev, "cloudToDeviceMessageCount", (double)sqlite3_column_int64(s, 15)) ||
        !(auth = cJSON_AddObjectToObject(dev, "authentication")) ||
        !(sym = cJSON_AddObjectToObject(auth, "symmetricKey")) ||
        !add_text_or_null(sym, "primaryKey", sas ? col_text(s, 7) : NULL) ||
        !add_text_or_null(sym, "secondaryKey", sas ? col_text(s, 8) : NULL) ||
        !(x509 = cJSON_AddObjectToObject(auth, "x509Thumbprint")) ||
        !add_text_or_null(x509, "primaryThumbprint", col_text(s, 9)) ||
        !add_text_or_null(x509, "secondaryThumbprint", col_text(s, 10)) ||
        !cJSON_AddStringToObject(auth, "type", col_text(s, 6)) ||
        !(caps = cJSON_AddObjectToObject(dev, "capabilities")) ||
        !cJSON_AddBoolToObject(caps, "iotEdge", sqlite3_column_int(s, 11)) ||
        !cJSON_AddNullToObject(dev, "deviceScope") || !cJSON_AddArrayToObject(dev, "parentScopes")) {
        cJSON_Delete(dev);
        return NULL;
    }
    return dev;
}

/* Reads device id's row (DEVICE_GET) and renders it; the statement is reset afterwards. */
static mh_err device_fetch(mh_store *store, const char *device_id, int create_form, cJSON **out,
                           mh_status *st)
{
    sqlite3_stmt *s = stmt_get(store, MH_STMT_DEVICE_GET);
    cJSON *dev = NULL;
    int rc;

    if (!s)
        return db_fail(store, st, "prepare");
    bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        dev = device_render(s, create_form);
    stmt_done(s);
    if (rc == SQLITE_DONE)
        return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
    if (rc != SQLITE_ROW)
        return db_fail(store, st, "device get");
    if (!dev)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    *out = dev;
    return MH_OK;
}

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

    if (!store || !owner_key || !key_valid(owner_key))
        return MH_ERR_ARGUMENT_INVALID;
    mh_store_lock(store);
    err = tx_begin(store, NULL);
    if (err != MH_OK)
        goto done;
    for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        char k1[64], k2[64];
        if (!key_generate(k1) || !key_generate(k2)) {
            err = MH_ERR_INTERNAL;
            goto rollback;
        }
        s = stmt_get(store, MH_STMT_POLICY_INSERT);
        if (!s) {
            err = MH_ERR_INTERNAL;
            goto rollback;
        }
        bind_text(s, 1, defaults[i].name);
        bind_text(s, 2, k1);
        bind_text(s, 3, k2);
        sqlite3_bind_int(s, 4, (int)defaults[i].rights);
        rc = sqlite3_step(s);
        stmt_done(s);
        if (rc != SQLITE_DONE) {
            err = db_fail(store, NULL, "policy insert");
            goto rollback;
        }
    }
    err = exec_texts(store, NULL, MH_STMT_POLICY_OWNER, owner_key, NULL);
    if (err != MH_OK)
        goto rollback;
    err = tx_commit(store, NULL);
    goto done;
rollback:
    tx_rollback(store);
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
    s = stmt_get(store, MH_STMT_POLICY_GET);
    if (!s) {
        err = MH_ERR_INTERNAL;
        goto done;
    }
    bind_text(s, 1, name);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        p.rights = (unsigned)sqlite3_column_int(s, 3);
        if (!col_copy(s, 0, p.name, sizeof p.name) || !col_copy(s, 1, p.primary_key, sizeof p.primary_key) ||
            !col_copy(s, 2, p.secondary_key, sizeof p.secondary_key))
            err = MH_ERR_INTERNAL;
    } else {
        err = rc == SQLITE_DONE ? MH_ERR_NOT_FOUND : db_fail(store, NULL, "policy get");
    }
    stmt_done(s);
done:
    mh_store_unlock(store);
    if (err == MH_OK)
        *out_policy = p;
    return err;
}

/* ---- registry ---- */

mh_err mh_store_device_auth(mh_store *store, const char *device_id, mh_device_auth *out_auth)
{
    sqlite3_stmt *s;
    mh_device_auth a;
    mh_err err = MH_OK;
    int rc;

    if (!store || !device_id || !out_auth)
        return MH_ERR_ARGUMENT_NULL;
    memset(&a, 0, sizeof a);
    mh_store_lock(store);
    s = stmt_get(store, MH_STMT_DEVICE_AUTH);
    if (!s) {
        err = db_fail(store, NULL, "prepare");
        goto done;
    }
    bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *status = col_text(s, 2), *type = col_text(s, 3);
        a.enabled = status && strcmp(status, "enabled") == 0;
        a.sas = type && strcmp(type, "sas") == 0;
        if (!col_copy(s, 0, a.primary_key, sizeof a.primary_key) ||
            !col_copy(s, 1, a.secondary_key, sizeof a.secondary_key))
            err = MH_ERR_INTERNAL;
    } else {
        err = rc == SQLITE_DONE ? MH_ERR_DEVICE_NOT_FOUND : db_fail(store, NULL, "device auth");
    }
    stmt_done(s);
done:
    mh_store_unlock(store);
    if (err == MH_OK)
        *out_auth = a;
    return err;
}

mh_err mh_store_device_create(mh_store *store, const char *device_id, const cJSON *body, cJSON **out_device,
                              mh_status *st)
{
    dev_row row;
    char now[40], gen[24], meta[80];
    long long etag_start;
    unsigned int rnd = 0;
    cJSON *dev = NULL;
    sqlite3_stmt *s;
    mh_err err;
    int rc;

    if (!store || !out_device)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    err = mh_device_id_check(device_id, st);
    if (err != MH_OK)
        return err;
    memset(&row, 0, sizeof row);
    strcpy(row.status, "enabled");
    strcpy(row.auth_type, "sas");
    strcpy(row.status_updated, NEVER_TIME);
    err = dev_row_apply(&row, device_id, body, st);
    if (err == MH_OK)
        err = dev_row_fill_keys(&row, st);
    if (err != MH_OK)
        return err;
    /* AZURE: the device etag is a decimal counter with a random start ("945273454") */
    if (!random_bytes(&rnd, sizeof rnd))
        rnd = (unsigned)time(NULL);
    etag_start = 100000000LL + (long long)(rnd % 900000000u);
    mh_time_now_iso(now, sizeof now);
    generation_id(gen);
    snprintf(meta, sizeof meta, "{\"$lastUpdated\":\"%s\"}", now);

    mh_store_lock(store);
    err = tx_begin(store, st);
    if (err != MH_OK)
        goto done;
    s = stmt_get(store, MH_STMT_DEVICE_INSERT);
    if (!s) {
        err = db_fail(store, st, "prepare");
        goto rollback;
    }
    bind_text(s, 1, device_id);
    bind_text(s, 2, gen);
    sqlite3_bind_int64(s, 3, etag_start);
    bind_text(s, 4, row.status);
    bind_text(s, 5, row.has_reason ? row.status_reason : NULL);
    bind_text(s, 6, NEVER_TIME);
    bind_text(s, 7, row.auth_type);
    bind_text(s, 8, row.primary_key[0] ? row.primary_key : NULL);
    bind_text(s, 9, row.secondary_key[0] ? row.secondary_key : NULL);
    bind_text(s, 10, row.has_primary_thumbprint ? row.primary_thumbprint : NULL);
    bind_text(s, 11, row.has_secondary_thumbprint ? row.secondary_thumbprint : NULL);
    sqlite3_bind_int(s, 12, row.iot_edge);
    bind_text(s, 13, meta);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc == SQLITE_CONSTRAINT) {
        err = mh_fail(st, MH_ERR_DEVICE_EXISTS, "A device with ID '%s' is already registered.", device_id);
        goto rollback;
    }
    if (rc != SQLITE_DONE) {
        err = db_fail(store, st, "device insert");
        goto rollback;
    }
    err = device_fetch(store, device_id, 1, &dev, st);
    if (err != MH_OK)
        goto rollback;
    err = tx_commit(store, st);
    if (err != MH_OK)
        goto done;
    *out_device = dev;
    dev = NULL;
    goto done;
rollback:
    tx_rollback(store);
done:
    mh_store_unlock(store);
    cJSON_Delete(dev);
    return err;
}

/* Reads the row of device_id for an update/delete and checks If-Match against its device etag. */
static mh_err device_row_checked(mh_store *store, const char *device_id, const char *if_match, dev_row *row,
                                 mh_status *st)
{
    sqlite3_stmt *s = stmt_get(store, MH_STMT_DEVICE_GET);
    char etag[32];
    int rc, ok = 0;

    if (!s)
        return db_fail(store, st, "prepare");
    bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        ok = dev_row_load(s, row);
    stmt_done(s);
    if (rc == SQLITE_DONE)
        return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
    if (rc != SQLITE_ROW)
        return db_fail(store, st, "device get");
    if (!ok)
        return mh_fail(st, MH_ERR_INTERNAL, "stored device row is corrupt");
    mh_twin_device_etag_format(row->etag, etag);
    /* AZURE: the device 412 text is just "PreconditionFailed" ([R-dev412]) */
    if (!mh_twin_etag_matches(if_match, etag))
        return mh_fail(st, MH_ERR_PRECONDITION, "PreconditionFailed");
    return MH_OK;
}

mh_err mh_store_device_update(mh_store *store, const char *device_id, const cJSON *body, const char *if_match,
                              cJSON **out_device, int *out_now_disabled, mh_status *st)
{
    dev_row row;
    char now[40];
    int was_enabled, status_changed;
    char old_status[16];
    cJSON *dev = NULL;
    sqlite3_stmt *s;
    mh_err err;
    int rc;

    if (!store || !device_id || !out_device)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    mh_store_lock(store);
    err = tx_begin(store, st);
    if (err != MH_OK)
        goto done;
    err = device_row_checked(store, device_id, if_match, &row, st);
    if (err != MH_OK)
        goto rollback;
    memcpy(old_status, row.status, sizeof old_status);
    was_enabled = strcmp(row.status, "enabled") == 0;
    /* MOCK: empty keys in an update keep the stored keys (Node's Registry.update sends "" keys for a
     * status-only update); the real hub's handling of that case is not captured. */
    err = dev_row_apply(&row, device_id, body, st);
    if (err == MH_OK)
        err = dev_row_fill_keys(&row, st);
    if (err != MH_OK)
        goto rollback;
    status_changed = strcmp(old_status, row.status) != 0;
    if (status_changed) {
        mh_time_now_iso(now, sizeof now);
        memcpy(row.status_updated, now, sizeof now);
    }
    s = stmt_get(store, MH_STMT_DEVICE_UPDATE);
    if (!s) {
        err = db_fail(store, st, "prepare");
        goto rollback;
    }
    bind_text(s, 1, device_id);
    sqlite3_bind_int64(s, 2, row.etag + 1);
    bind_text(s, 3, row.status);
    bind_text(s, 4, row.has_reason ? row.status_reason : NULL);
    bind_text(s, 5, row.status_updated);
    bind_text(s, 6, row.auth_type);
    bind_text(s, 7, row.primary_key[0] ? row.primary_key : NULL);
    bind_text(s, 8, row.secondary_key[0] ? row.secondary_key : NULL);
    bind_text(s, 9, row.has_primary_thumbprint ? row.primary_thumbprint : NULL);
    bind_text(s, 10, row.has_secondary_thumbprint ? row.secondary_thumbprint : NULL);
    sqlite3_bind_int(s, 11, row.iot_edge);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        err = db_fail(store, st, "device update");
        goto rollback;
    }
    err = device_fetch(store, device_id, 0, &dev, st);
    if (err != MH_OK)
        goto rollback;
    err = tx_commit(store, st);
    if (err != MH_OK)
        goto done;
    *out_device = dev;
    dev = NULL;
    if (out_now_disabled)
        *out_now_disabled = was_enabled && strcmp(row.status, "disabled") == 0;
    goto done;
rollback:
    tx_rollback(store);
done:
    mh_store_unlock(store);
    cJSON_Delete(dev);
    return err;
}

mh_err mh_store_device_get(mh_store *store, const char *device_id, cJSON **out_device, mh_status *st)
{
    mh_err err;

    if (!store || !device_id || !out_device)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    mh_store_lock(store);
    err = device_fetch(store, device_id, 0, out_device, st);
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_device_delete(mh_store *store, const char *device_id, const char *if_match, mh_status *st)
{
    dev_row row;
    mh_err err;

    if (!store || !device_id)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    mh_store_lock(store);
    err = tx_begin(store, st);
    if (err != MH_OK)
        goto done;
    err = device_row_checked(store, device_id, if_match, &row, st);
    if (err != MH_OK)
        goto rollback;
    err = exec_texts(store, st, MH_STMT_DEVICE_DELETE, device_id, NULL);
    if (err != MH_OK)
        goto rollback;
    err = tx_commit(store, st);
    goto done;
rollback:
    tx_rollback(store);
done:
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_device_list(mh_store *store, int top, cJSON **out_array, mh_status *st)
{
    cJSON *arr = NULL, *dev;
    sqlite3_stmt *s;
    mh_err err = MH_OK;
    int rc;

    if (!store || !out_array)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    /* AZURE: "Any value outside the range of 1-1000 is considered to be 1000" (swagger) */
    if (top < 1 || top > 1000)
        top = 1000;
    arr = cJSON_CreateArray();
    if (!arr)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    mh_store_lock(store);
    s = stmt_get(store, MH_STMT_DEVICE_LIST);
    if (!s) {
        err = db_fail(store, st, "prepare");
        goto done;
    }
    sqlite3_bind_int(s, 1, top);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        dev = device_render(s, 0);
        if (!dev || !cJSON_AddItemToArray(arr, dev)) {
            cJSON_Delete(dev);
            err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
            break;
        }
    }
    if (err == MH_OK && rc != SQLITE_DONE)
        err = db_fail(store, st, "device list");
    stmt_done(s);
done:
    mh_store_unlock(store);
    if (err != MH_OK) {
        cJSON_Delete(arr);
        return err;
    }
    *out_array = arr;
    return MH_OK;
}

/* ---- connection state ---- */

static mh_err update_by_id(mh_store *store, int id, const char *device_id, const char *now)
{
    mh_store_lock(store);
    mh_err err = exec_texts(store, NULL, id, device_id, now);
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_set_connected(mh_store *store, const char *device_id, int connected)
{
    char now[40];

    if (!store || !device_id)
        return MH_ERR_ARGUMENT_NULL;
    mh_time_now_iso(now, sizeof now);
    return update_by_id(store, connected ? MH_STMT_SET_CONNECTED : MH_STMT_SET_DISCONNECTED, device_id, now);
}

mh_err mh_store_device_touch(mh_store *store, const char *device_id)
{
    char now[40];

    if (!store || !device_id)
        return MH_ERR_ARGUMENT_NULL;
    mh_time_now_iso(now, sizeof now);
    return update_by_id(store, MH_STMT_TOUCH, device_id, now);
}

mh_err mh_store_session_subs_get(mh_store *store, const char *device_id, unsigned *out_subs)
{
    mh_err err = MH_OK;
    if (!store || !device_id || !out_subs)
        return MH_ERR_ARGUMENT_NULL;
    mh_store_lock(store);
    sqlite3_stmt *s = stmt_get(store, MH_STMT_SESSION_GET);
    if (!s) {
        err = db_fail(store, NULL, "prepare");
        goto done;
    }
    bind_text(s, 1, device_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out_subs = (unsigned)sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        *out_subs = 0;
    else
        err = db_fail(store, NULL, "session get");
    stmt_done(s);
done:
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_session_subs_set(mh_store *store, const char *device_id, unsigned subs)
{
    mh_err err = MH_OK;
    if (!store || !device_id)
        return MH_ERR_ARGUMENT_NULL;
    mh_store_lock(store);
    sqlite3_stmt *s = stmt_get(store, subs ? MH_STMT_SESSION_SET : MH_STMT_SESSION_DELETE);
    if (!s) {
        err = db_fail(store, NULL, "prepare");
        goto done;
    }
    bind_text(s, 1, device_id);
    if (subs)
        sqlite3_bind_int64(s, 2, subs);
    if (sqlite3_step(s) != SQLITE_DONE)
        err = db_fail(store, NULL, "session set");
    stmt_done(s);
done:
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_reset_connections(mh_store *store)
{
    char now[40];

    if (!store)
        return MH_ERR_ARGUMENT_NULL;
    mh_time_now_iso(now, sizeof now);
    mh_store_lock(store);
    mh_err err = exec_texts(store, NULL, MH_STMT_RESET_CONNECTIONS, now, NULL);
    mh_store_unlock(store);
    return err;
}

/* ---- twins ---- */

/* Parses stored JSON text (an object); NULL when corrupt or out of memory. */
static cJSON *parse_col(sqlite3_stmt *s, int i)
{
    const char *t = col_text(s, i);
    cJSON *doc;

    if (!t)
        return NULL;
    doc = cJSON_ParseWithLength(t, (size_t)sqlite3_column_bytes(s, i));
    if (doc && !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

/* properties.desired / reported: the document plus $metadata and $version. Takes doc and meta. */
static cJSON *props_section(cJSON *doc, cJSON *meta, long long version)
{
    if (!doc || !meta || !cJSON_AddItemToObject(doc, "$metadata", meta)) {
        cJSON_Delete(doc);
        cJSON_Delete(meta);
        return NULL;
    }
    if (!cJSON_AddNumberToObject(doc, "$version", (double)version)) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

cJSON *mh_store_twin_render(sqlite3_stmt *s, int c)
{
    cJSON *twin = cJSON_CreateObject(), *x509, *props, *caps, *sec, *tags;
    char etag[16], dev_etag[32];
    long long twin_n = sqlite3_column_int64(s, c + 20), reported_version = sqlite3_column_int64(s, c + 19);

    if (!twin)
        return NULL;
    mh_twin_etag_format((uint64_t)twin_n, etag);
    mh_twin_device_etag_format(sqlite3_column_int64(s, c + 1), dev_etag);
    if (!cJSON_AddStringToObject(twin, "deviceId", col_text(s, c)) ||
        !cJSON_AddStringToObject(twin, "etag", etag) ||
        !cJSON_AddStringToObject(twin, "deviceEtag", dev_etag) ||
        !cJSON_AddStringToObject(twin, "status", col_text(s, c + 2)) ||
        (col_text(s, c + 3) && !cJSON_AddStringToObject(twin, "statusReason", col_text(s, c + 3))) ||
        !cJSON_AddStringToObject(twin, "statusUpdateTime", col_text(s, c + 4)) ||
        !cJSON_AddStringToObject(twin, "connectionState", col_text(s, c + 9)) ||
        !cJSON_AddStringToObject(twin, "lastActivityTime", col_text(s, c + 10)) ||
        !cJSON_AddNumberToObject(twin, "cloudToDeviceMessageCount",
                                 (double)sqlite3_column_int64(s, c + 11)) ||
        !cJSON_AddStringToObject(twin, "authenticationType", col_text(s, c + 5)) ||
        !(x509 = cJSON_AddObjectToObject(twin, "x509Thumbprint")) ||
        !add_text_or_null(x509, "primaryThumbprint", col_text(s, c + 6)) ||
        !add_text_or_null(x509, "secondaryThumbprint", col_text(s, c + 7)) ||
        !cJSON_AddStringToObject(twin, "modelId", col_text(s, c + 12) ? col_text(s, c + 12) : "") ||
        !cJSON_AddNumberToObject(twin, "version", (double)(twin_n + reported_version)))
        goto fail;
    if (sqlite3_column_type(s, c + 13) != SQLITE_NULL) {
        tags = parse_col(s, c + 13);
        if (!tags || !cJSON_AddItemToObject(twin, "tags", tags)) {
            cJSON_Delete(tags);
            goto fail;
        }
    }
    if (!(props = cJSON_AddObjectToObject(twin, "properties")))
        goto fail;
    sec = props_section(parse_col(s, c + 14), parse_col(s, c + 15), sqlite3_column_int64(s, c + 16));
    if (!sec || !cJSON_AddItemToObject(props, "desired", sec)) {
        cJSON_Delete(sec);
        goto fail;
    }
    sec = props_section(parse_col(s, c + 17), parse_col(s, c + 18), reported_version);
    if (!sec || !cJSON_AddItemToObject(props, "reported", sec)) {
        cJSON_Delete(sec);
        goto fail;
    }
    if (!(caps = cJSON_AddObjectToObject(twin, "capabilities")) ||
        !cJSON_AddBoolToObject(caps, "iotEdge", sqlite3_column_int(s, c + 8)))
        goto fail;
    return twin;
fail:
    cJSON_Delete(twin);
    return NULL;
}

static mh_err twin_fetch(mh_store *store, const char *device_id, cJSON **out, mh_status *st)
{
    sqlite3_stmt *s = stmt_get(store, MH_STMT_TWIN_GET);
    cJSON *twin = NULL;
    int rc;

    if (!s)
        return db_fail(store, st, "prepare");
    bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        twin = mh_store_twin_render(s, 0);
    stmt_done(s);
    if (rc == SQLITE_DONE)
        return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
    if (rc != SQLITE_ROW)
        return db_fail(store, st, "twin get");
    if (!twin)
        return mh_fail(st, MH_ERR_INTERNAL, "stored twin of %s is corrupt or out of memory", device_id);
    *out = twin;
    return MH_OK;
}

mh_err mh_store_twin_get(mh_store *store, const char *device_id, cJSON **out_twin, mh_status *st)
{
    mh_err err;

    if (!store || !device_id || !out_twin)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    mh_store_lock(store);
    err = twin_fetch(store, device_id, out_twin, st);
    mh_store_unlock(store);
    return err;
}

/* Binds a cJSON document as unformatted JSON text; 0 when out of memory. */
static int bind_json(sqlite3_stmt *s, int i, const cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);

    if (!text)
        return 0;
    return sqlite3_bind_text(s, i, text, -1, free) == SQLITE_OK;
}

/* Parses and validates a service twin body before any database work. PUT replaces both
 * sections: an absent one becomes empty. */
static mh_err twin_body_prepare(const cJSON *body, int replace, mh_twin_body *out, mh_status *st)
{
    mh_twin_body b = {0};
    mh_err err = mh_twin_body_parse(body, &b, st);

    if (err != MH_OK)
        return err;
    if (replace && ((!b.tags && !(b.tags = cJSON_CreateObject())) ||
                    (!b.desired && !(b.desired = cJSON_CreateObject())))) {
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((b.tags && ((err = mh_twin_validate(b.tags, 1, st)) != MH_OK ||
                    (err = mh_twin_check_patch_size(b.tags, MH_TWIN_TAGS, st)) != MH_OK)) ||
        (b.desired && ((err = mh_twin_validate(b.desired, 1, st)) != MH_OK ||
                       (err = mh_twin_check_patch_size(b.desired, MH_TWIN_DESIRED, st)) != MH_OK)))
        goto fail;
    *out = b;
    return MH_OK;
fail:
    mh_twin_body_cleanup(&b);
    return err;
}

mh_err mh_store_twin_update(mh_store *store, const char *device_id, const cJSON *body, const char *if_match,
                            int replace, cJSON **out_twin, cJSON **out_desired_push,
                            long *out_desired_version, mh_status *st)
{
    mh_twin_body b = {0};
    cJSON *tags = NULL, *desired = NULL, *meta = NULL, *push = NULL, *twin = NULL, *tmp_doc, *tmp_meta;
    long long desired_version = 0, twin_n = 0;
    char now[40], etag[16];
    int has_tags, has_desired, had_tags = 0, rc;
    sqlite3_stmt *s;
    mh_err err;

    if (!store || !device_id || !out_twin)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    err = twin_body_prepare(body, replace, &b, st);
    if (err != MH_OK)
        return err;
    has_tags = b.tags != NULL;
    has_desired = b.desired != NULL;
    mh_time_now_iso(now, sizeof now);

    mh_store_lock(store);
    err = tx_begin(store, st);
    if (err != MH_OK)
        goto done;
    s = stmt_get(store, MH_STMT_TWIN_SERVICE_ROW);
    if (!s) {
        err = db_fail(store, st, "prepare");
        goto rollback;
    }
    bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        had_tags = sqlite3_column_type(s, 0) != SQLITE_NULL;
        tags = had_tags ? parse_col(s, 0) : cJSON_CreateObject();
        desired = parse_col(s, 1);
        meta = parse_col(s, 2);
        desired_version = sqlite3_column_int64(s, 3);
        twin_n = sqlite3_column_int64(s, 4);
    }
    stmt_done(s);
    if (rc == SQLITE_DONE) {
        err = mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
        goto rollback;
    }
    if (rc != SQLITE_ROW) {
        err = db_fail(store, st, "twin get");
        goto rollback;
    }
    if (!tags || !desired || !meta) {
        err = mh_fail(st, MH_ERR_INTERNAL, "stored twin of %s is corrupt or out of memory", device_id);
        goto rollback;
    }
    mh_twin_etag_format((uint64_t)twin_n, etag);
    if (!mh_twin_etag_matches(if_match, etag)) {
        err = mh_fail(st, MH_ERR_PRECONDITION, "ETag mismatch for device ID '%s'", device_id);
        goto rollback;
    }
    if (!has_tags && !has_desired) {
        /* nothing writable in the body: no write, no counter moves */
        err = twin_fetch(store, device_id, &twin, st);
        tx_rollback(store);
        goto out;
    }
    if (has_tags) {
        if (replace || b.tags_null) {
            /* A replace is a merge into nothing, as for desired: nulls dropped, a member named
             * twice stored once (its last value). */
            cJSON_Delete(tags);
            tags = cJSON_CreateObject();
            if (!tags || mh_twin_merge(tags, NULL, b.tags, now, -1) != MH_OK)
                goto nomem_rollback;
        } else if (mh_twin_merge(tags, NULL, b.tags, now, -1) != MH_OK) {
            goto nomem_rollback;
        }
        if ((err = mh_twin_validate(tags, 0, st)) != MH_OK ||
            (err = mh_twin_check_size(tags, MH_TWIN_TAGS, st)) != MH_OK)
            goto rollback;
    }
    if (has_desired) {
        /* AZURE: every service write with a desired section bumps $version, even a no-op (addendum 1) */
        desired_version++;
        if (replace || b.desired_null) {
            if (mh_twin_replace(desired, b.desired, now, (long)desired_version, &tmp_doc, &tmp_meta, &push) !=
                MH_OK)
                goto nomem_rollback;
            cJSON_Delete(desired);
            cJSON_Delete(meta);
            desired = tmp_doc;
            meta = tmp_meta;
        } else {
            if (mh_twin_merge(desired, meta, b.desired, now, (long)desired_version) != MH_OK)
                goto nomem_rollback;
            push = mh_twin_patch_push(b.desired, (long)desired_version);
            if (!push)
                goto nomem_rollback;
        }
        if ((err = mh_twin_validate(desired, 0, st)) != MH_OK ||
            (err = mh_twin_check_size(desired, MH_TWIN_DESIRED, st)) != MH_OK)
            goto rollback;
    }
    twin_n++; /* AZURE: one etag step per service write, tags and desired together count once */
    s = stmt_get(store, MH_STMT_TWIN_SERVICE_UPDATE);
    if (!s) {
        err = db_fail(store, st, "prepare");
        goto rollback;
    }
    bind_text(s, 1, device_id);
    if ((has_tags || had_tags) ? !bind_json(s, 2, tags) : sqlite3_bind_null(s, 2) != SQLITE_OK) {
        stmt_done(s);
        goto nomem_rollback;
    }
    if (!bind_json(s, 3, desired) || !bind_json(s, 4, meta)) {
        stmt_done(s);
        goto nomem_rollback;
    }
    sqlite3_bind_int64(s, 5, desired_version);
    sqlite3_bind_int64(s, 6, twin_n);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        err = db_fail(store, st, "twin update");
        goto rollback;
    }
    err = twin_fetch(store, device_id, &twin, st);
    if (err != MH_OK)
        goto rollback;
    err = tx_commit(store, st);
    goto out;
nomem_rollback:
    err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
rollback:
    tx_rollback(store);
out:
    if (err == MH_OK) {
        *out_twin = twin;
        twin = NULL;
        if (out_desired_push) {
            *out_desired_push = push;
            push = NULL;
        }
        if (out_desired_version)
            *out_desired_version = (long)desired_version;
    }
done:
    mh_store_unlock(store);
    mh_twin_body_cleanup(&b);
    cJSON_Delete(tags);
    cJSON_Delete(desired);
    cJSON_Delete(meta);
    cJSON_Delete(push);
    cJSON_Delete(twin);
    return err;
}

/* Appends a stored section text ("{...}") with "$version": n spliced in before its closing brace. */
static int splice_version(char *out, size_t cap, size_t *pos, const char *name, const char *doc,
                          long long version)
{
    size_t len = doc ? strlen(doc) : 0;
    int n;

    if (len < 2 || doc[0] != '{' || doc[len - 1] != '}')
        return 0;
    n = snprintf(out + *pos, cap - *pos, "\"%s\":%.*s%s\"$version\":%lld}", name, (int)(len - 1), doc,
                 len == 2 ? "" : ",", version);
    if (n < 0 || (size_t)n >= cap - *pos)
        return 0;
    *pos += (size_t)n;
    return 1;
}

mh_err mh_store_twin_get_properties(mh_store *store, const char *device_id, char **out_json, mh_status *st)
{
    sqlite3_stmt *s;
    char *out = NULL;
    size_t cap, pos = 0;
    mh_err err = MH_OK;
    int rc;

    if (!store || !device_id || !out_json)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    mh_store_lock(store);
    s = stmt_get(store, MH_STMT_TWIN_PROPS);
    if (!s) {
        err = db_fail(store, st, "prepare");
        goto done;
    }
    bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        cap = (size_t)sqlite3_column_bytes(s, 0) + (size_t)sqlite3_column_bytes(s, 2) + 128;
        out = malloc(cap);
        if (!out) {
            err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        } else {
            out[pos++] = '{';
            if (!splice_version(out, cap, &pos, "desired", col_text(s, 0), sqlite3_column_int64(s, 1)))
                err = mh_fail(st, MH_ERR_INTERNAL, "stored twin of %s is corrupt", device_id);
            if (err == MH_OK) {
                out[pos++] = ',';
                if (!splice_version(out, cap, &pos, "reported", col_text(s, 2), sqlite3_column_int64(s, 3)) ||
                    pos + 2 > cap)
                    err = mh_fail(st, MH_ERR_INTERNAL, "stored twin of %s is corrupt", device_id);
            }
            if (err == MH_OK) {
                out[pos++] = '}';
                out[pos] = '\0';
            }
        }
    } else if (rc == SQLITE_DONE) {
        err = mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
    } else {
        err = db_fail(store, st, "twin properties");
    }
    stmt_done(s);
done:
    mh_store_unlock(store);
    if (err != MH_OK) {
        free(out);
        return err;
    }
    *out_json = out;
    return MH_OK;
}

mh_err mh_store_twin_report(mh_store *store, const char *device_id, const char *patch, size_t len,
                            long expected_version, long *out_version, mh_status *st)
{
    cJSON *p = NULL, *reported = NULL, *meta = NULL, *child;
    long long version = 0;
    char now[40];
    sqlite3_stmt *s;
    mh_err err;
    int rc;

    if (!store || !device_id || (!patch && len > 0))
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    if (len > MAX_PATCH)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Twin properties size %zu exceeds maximum %d", len,
                       MH_TWIN_MAX_PROPERTIES);
    if (mh_json_has_nul_escape(patch, len))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "Property names and values may not contain the NUL character (\\u0000)");
    p = mh_twin_parse_object(patch, len);
    if (!p) {
        /* AZURE: the hub's text, typo included (iot-central-firmware#107) */
        return mh_fail(st, MH_ERR_FORMAT,
                       "Error occured while parsing message payload as UTF-8 JSON object.");
    }
    cJSON_ArrayForEach(child, p)
    {
        if (child->string && child->string[0] == '$') {
            err = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Property name %.256s contains invalid character '$'",
                          child->string);
            cJSON_Delete(p);
            return err;
        }
    }
    err = mh_twin_validate(p, 1, st);
    if (err == MH_OK)
        err = mh_twin_check_patch_size(p, MH_TWIN_REPORTED, st);
    if (err != MH_OK) {
        cJSON_Delete(p);
        return err;
    }
    mh_time_now_iso(now, sizeof now);

    mh_store_lock(store);
    err = tx_begin(store, st);
    if (err != MH_OK)
        goto done;
    s = stmt_get(store, MH_STMT_REPORTED_GET);
    if (!s) {
        err = db_fail(store, st, "prepare");
        goto rollback;
    }
    bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        reported = parse_col(s, 0);
        meta = parse_col(s, 1);
        version = sqlite3_column_int64(s, 2);
    }
    stmt_done(s);
    if (rc == SQLITE_DONE) {
        err = mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
        goto rollback;
    }
    if (rc != SQLITE_ROW) {
        err = db_fail(store, st, "reported get");
        goto rollback;
    }
    if (!reported || !meta) {
        err = mh_fail(st, MH_ERR_INTERNAL, "stored twin of %s is corrupt or out of memory", device_id);
        goto rollback;
    }
    if (expected_version >= 0 && expected_version != version) {
        err = mh_fail(st, MH_ERR_PRECONDITION,
                      "Version mismatch for device ID '%s': reported $version is %lld", device_id, version);
        goto rollback;
    }
    if (mh_twin_merge(reported, meta, p, now, -1) != MH_OK) {
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto rollback;
    }
    err = mh_twin_check_size(reported, MH_TWIN_REPORTED, st);
    if (err != MH_OK)
        goto rollback;
    version++; /* AZURE: every reported patch counts, no-op included */
    s = stmt_get(store, MH_STMT_REPORTED_UPDATE);
    if (!s) {
        err = db_fail(store, st, "prepare");
        goto rollback;
    }
    bind_text(s, 1, device_id);
    if (!bind_json(s, 2, reported) || !bind_json(s, 3, meta)) {
        stmt_done(s);
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto rollback;
    }
    sqlite3_bind_int64(s, 4, version);
    bind_text(s, 5, now);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        err = db_fail(store, st, "reported update");
        goto rollback;
    }
    err = tx_commit(store, st);
    if (err == MH_OK && out_version)
        *out_version = (long)version;
    goto done;
rollback:
    tx_rollback(store);
done:
    mh_store_unlock(store);
    cJSON_Delete(p);
    cJSON_Delete(reported);
    cJSON_Delete(meta);
    return err;
}

/* ---- telemetry ---- */

mh_err mh_store_telemetry_add(mh_store *store, const char *device_id, const char *props_json,
                              const void *body, size_t len, long long *out_seq)
{
    mh_err err = MH_OK;
    sqlite3_stmt *s = NULL;
    char now[40];
    int in_tx = 0;

    if (!store || !device_id || (!body && len > 0))
        return MH_ERR_ARGUMENT_NULL;
    if (!props_json)
        props_json = "{}";
    {
        /* Only objects: the list renders from this text (cheap check: the first character). */
        const char *p = props_json;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p != '{')
            return MH_ERR_ARGUMENT_INVALID;
    }
    mh_time_now_iso(now, sizeof now);
    mh_store_lock(store);
    /* Trimming shares the insert's transaction; most adds are one autocommit INSERT. */
    int trim = (store->telemetry_adds + 1) % MH_TELEMETRY_TRIM_EVERY == 0;
    if (trim) {
        if ((err = tx_begin(store, NULL)) != MH_OK)
            goto done;
        in_tx = 1;
    }
    s = stmt_get(store, MH_STMT_TELEMETRY_INSERT);
    if (!s) {
        err = db_fail(store, NULL, "prepare");
        goto done;
    }
    bind_text(s, 1, device_id);
    bind_text(s, 2, now);
    bind_text(s, 3, props_json);
    sqlite3_bind_blob(s, 4, len ? body : "", (int)len, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE) {
        err = db_fail(store, NULL, "telemetry insert");
        stmt_done(s);
        goto done;
    }
    stmt_done(s);
    long long seq = sqlite3_last_insert_rowid(store->db);
    if (trim) {
        s = stmt_get(store, MH_STMT_TELEMETRY_TRIM);
        if (!s) {
            err = db_fail(store, NULL, "prepare");
            goto done;
        }
        sqlite3_bind_int64(s, 1, seq - MH_TELEMETRY_KEEP);
        if (sqlite3_step(s) != SQLITE_DONE)
            err = db_fail(store, NULL, "telemetry trim");
        stmt_done(s);
        if (err != MH_OK)
            goto done;
        in_tx = 0;
        if ((err = tx_commit(store, NULL)) != MH_OK)
            goto done;
    }
    store->telemetry_adds++;
    if (out_seq)
        *out_seq = seq;
done:
    if (in_tx)
        tx_rollback(store);
    mh_store_unlock(store);
    return err;
}

/* 1 when buf is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF) without NUL bytes. */
static int utf8_text(const unsigned char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = buf[i];
        size_t n;
        unsigned min;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            min = 0x80;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            min = 0x800;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((buf[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (buf[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* The payload as az monitor-events shows it: parsed JSON, else text, else base64 (flagged in ev). */
static cJSON *telemetry_payload(const unsigned char *body, size_t len, cJSON *ev)
{
    if (len > 0 && utf8_text(body, len)) {
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithLengthOpts((const char *)body, len, &end, 0);
        if (doc) {
            while (end < (const char *)body + len &&
                   (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
                end++;
            if (end == (const char *)body + len)
                return doc;
            cJSON_Delete(doc);
        }
    }
    if (utf8_text(body, len)) {
        char *text = malloc(len + 1);
        if (!text)
            return NULL;
        if (len)
            memcpy(text, body, len);
        text[len] = '\0';
        cJSON *str = cJSON_CreateString(text);
        free(text);
        return str;
    }
    size_t cap = IOT_B64_ENCODED_SIZE(len);
    char *b64 = malloc(cap);
    if (!b64 || iot_b64_encode(body, len, b64, cap) != IOT_OK) {
        free(b64);
        return NULL;
    }
    cJSON *str = cJSON_CreateString(b64);
    free(b64);
    if (str && !cJSON_AddStringToObject(ev, "payloadEncoding", "base64")) {
        cJSON_Delete(str);
        return NULL;
    }
    return str;
}

/* Splits the stored flat property object into IoT Hub's system and application properties. */
static cJSON *telemetry_properties(const char *props_text)
{
    static const char *const sys_names[][2] = {
        {"$.mid", "messageId"},     {"$.cid", "correlationId"},  {"$.uid", "userId"},
        {"$.ct", "contentType"},    {"$.ce", "contentEncoding"}, {"$.to", "to"},
        {"$.exp", "expiryTimeUtc"}, {"$.sub", "dt-subject"},
    };
    cJSON *props = cJSON_Parse(props_text ? props_text : "{}");
    cJSON *out = cJSON_CreateObject();
    cJSON *sys = cJSON_AddObjectToObject(out, "system");
    cJSON *app = cJSON_AddObjectToObject(out, "application");
    const cJSON *item = NULL;

    if (!out || !sys || !app) {
        cJSON_Delete(props);
        cJSON_Delete(out);
        return NULL;
    }
    cJSON_ArrayForEach(item, props)
    {
        const char *key = item->string;
        const char *name = key;
        cJSON *into = app;
        if (!key || !cJSON_IsString(item))
            continue;
        if (strncmp(key, "$.", 2) == 0) {
            into = sys;
            for (size_t i = 0; i < sizeof sys_names / sizeof sys_names[0]; i++)
                if (strcmp(key, sys_names[i][0]) == 0)
                    name = sys_names[i][1];
        }
        /* A repeated key: the last one wins, as for query strings in most parsers. */
        cJSON_DeleteItemFromObjectCaseSensitive(into, name);
        if (!cJSON_AddStringToObject(into, name, item->valuestring)) {
            cJSON_Delete(props);
            cJSON_Delete(out);
            return NULL;
        }
    }
    cJSON_Delete(props);
    return out;
}

static cJSON *telemetry_render(sqlite3_stmt *s)
{
    const char *id = col_text(s, 1);
    const unsigned char *body = sqlite3_column_blob(s, 4);
    size_t len = (size_t)sqlite3_column_bytes(s, 4);
    cJSON *row = cJSON_CreateObject();
    cJSON *ev = NULL, *ann = NULL, *props = NULL, *payload = NULL;

    if (!row || !cJSON_AddNumberToObject(row, "sequenceNumber", (double)sqlite3_column_int64(s, 0)) ||
        !(ev = cJSON_AddObjectToObject(row, "event")) ||
        !cJSON_AddStringToObject(ev, "origin", id ? id : "") || !cJSON_AddStringToObject(ev, "module", ""))
        goto fail;
    if (!(props = telemetry_properties(col_text(s, 3))))
        goto fail;
    cJSON_AddItemToObject(ev, "properties", props);
    if (!(ann = cJSON_AddObjectToObject(ev, "annotations")) ||
        !cJSON_AddStringToObject(ann, "iothub-enqueuedtime", col_text(s, 2) ? col_text(s, 2) : "") ||
        !cJSON_AddStringToObject(ann, "iothub-connection-device-id", id ? id : ""))
        goto fail;
    if (!(payload = telemetry_payload(body ? body : (const unsigned char *)"", body ? len : 0, ev)))
        goto fail;
    cJSON_AddItemToObject(ev, "payload", payload);
    return row;
fail:
    cJSON_Delete(row);
    return NULL;
}

mh_err mh_store_telemetry_list(mh_store *store, long long after_seq, const char *device_id, int limit,
                               cJSON **out_array)
{
    mh_err err = MH_OK;
    cJSON *arr = NULL;
    sqlite3_stmt *s = NULL;
    int rc;

    if (!store || !out_array)
        return MH_ERR_ARGUMENT_NULL;
    if (limit < 1 || limit > MH_TELEMETRY_LIST_MAX)
        return MH_ERR_ARGUMENT_INVALID;
    if (!(arr = cJSON_CreateArray()))
        return MH_ERR_NOMEM;
    mh_store_lock(store);
    s = stmt_get(store, MH_STMT_TELEMETRY_LIST);
    if (!s) {
        err = db_fail(store, NULL, "prepare");
        goto done;
    }
    sqlite3_bind_int64(s, 1, after_seq);
    bind_text(s, 2, device_id);
    sqlite3_bind_int(s, 3, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *row = telemetry_render(s);
        if (!row) {
            err = MH_ERR_NOMEM;
            break;
        }
        cJSON_AddItemToArray(arr, row);
    }
    if (err == MH_OK && rc != SQLITE_DONE)
        err = db_fail(store, NULL, "telemetry list");
    stmt_done(s);
done:
    mh_store_unlock(store);
    if (err != MH_OK) {
        cJSON_Delete(arr);
        return err;
    }
    *out_array = arr;
    return MH_OK;
}

mh_err mh_store_telemetry_last_seq(mh_store *store, long long *out_seq)
{
    mh_err err = MH_OK;

    if (!store || !out_seq)
        return MH_ERR_ARGUMENT_NULL;
    mh_store_lock(store);
    sqlite3_stmt *s = stmt_get(store, MH_STMT_TELEMETRY_LAST);
    if (!s) {
        err = db_fail(store, NULL, "prepare");
        goto done;
    }
    if (sqlite3_step(s) == SQLITE_ROW)
        *out_seq = sqlite3_column_int64(s, 0);
    else
        err = db_fail(store, NULL, "telemetry last");
    stmt_done(s);
done:
    mh_store_unlock(store);
    return err;
}
