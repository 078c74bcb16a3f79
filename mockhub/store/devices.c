/* devices.c - the device registry in the store: device rows and their Device JSON documents, id,
 * key and generation id generation, device etags, connection state and last activity.
 */
#include "devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "iot_b64.h"
#include "store_internal.h"
#include "twin.h"

/* ---- helpers: randomness, keys, times ---- */

int mh_store_random_bytes(void *buf, size_t len)
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
int mh_store_key_generate(char out[64])
{
    unsigned char raw[32];

    return mh_store_random_bytes(raw, sizeof raw) && iot_b64_encode(raw, sizeof raw, out, 64) == IOT_OK;
}

/* AZURE: symmetric keys are base64 of 16..64 bytes. */
int mh_store_key_valid(const char *key)
{
    unsigned char raw[MH_KEY_SIZE];
    size_t n = 0, len = strlen(key);

    if (len == 0 || len >= MH_KEY_SIZE || iot_b64_decode(key, len, raw, sizeof raw, &n) != IOT_OK)
        return 0;
    return n >= 16 && n <= 64;
}

/* generationId: .NET ticks of now (18 digits), as the real hub's values are. */
void mh_store_generation_id(char out[24])
{
    struct timespec ts;
    unsigned long long ticks;

    clock_gettime(CLOCK_REALTIME, &ts);
    ticks = (unsigned long long)ts.tv_sec * 10000000ull + (unsigned long long)ts.tv_nsec / 100 +
            621355968000000000ull;
    snprintf(out, 24, "%llu", ticks);
}

/* ---- device rows ---- */

/* Loads the writable fields of a DEVICE_COLUMNS row. */
static int dev_row_load(sqlite3_stmt *s, dev_row *row)
{
    memset(row, 0, sizeof *row);
    row->etag = sqlite3_column_int64(s, 2);
    row->has_reason = sqlite3_column_type(s, 4) != SQLITE_NULL;
    row->has_primary_thumbprint = sqlite3_column_type(s, 9) != SQLITE_NULL;
    row->has_secondary_thumbprint = sqlite3_column_type(s, 10) != SQLITE_NULL;
    row->iot_edge = sqlite3_column_int(s, 11);
    if (!mh_db_col_copy(s, 16, row->scope, sizeof row->scope) ||
        !mh_db_col_copy(s, 1, row->generation, sizeof row->generation))
        return 0;
    cJSON *parents = cJSON_Parse(mh_db_col_text(s, 17) ? mh_db_col_text(s, 17) : "[]");
    const cJSON *first = cJSON_GetArrayItem(parents, 0);
    snprintf(row->parent_scope, sizeof row->parent_scope, "%s",
             cJSON_IsString(first) ? first->valuestring : "");
    cJSON_Delete(parents);
    return mh_db_col_copy(s, 3, row->status, sizeof row->status) &&
           mh_db_col_copy(s, 4, row->status_reason, sizeof row->status_reason) &&
           mh_db_col_copy(s, 5, row->status_updated, sizeof row->status_updated) &&
           mh_db_col_copy(s, 6, row->auth_type, sizeof row->auth_type) &&
           mh_db_col_copy(s, 7, row->primary_key, sizeof row->primary_key) &&
           mh_db_col_copy(s, 8, row->secondary_key, sizeof row->secondary_key) &&
           mh_db_col_copy(s, 9, row->primary_thumbprint, sizeof row->primary_thumbprint) &&
           mh_db_col_copy(s, 10, row->secondary_thumbprint, sizeof row->secondary_thumbprint);
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

    if (r < 0 || (v && strlen(v) > MH_MAX_THUMBPRINT))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Invalid x509Thumbprint.%s", name);
    if (r == 1) {
        *has = v != NULL;
        snprintf(buf, MH_MAX_THUMBPRINT + 1, "%s", v ? v : "");
    }
    return MH_OK;
}

/* Applies the writable members of a Device JSON body to row. Empty or absent keys leave the row's
 * keys as they are (the caller generates missing ones). */
static mh_err dev_row_apply(dev_row *row, const char *device_id, const cJSON *body, mh_status *st)
{
    const cJSON *caps, *edge, *id;
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
    if (r < 0 || (v && strlen(v) > MH_MAX_REASON))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "statusReason must be a string of at most %d bytes",
                       MH_MAX_REASON);
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
    return mh_store_auth_apply(row, cJSON_GetObjectItemCaseSensitive(body, "authentication"), st);
}

/* The edge scope of device_id: "ms-azure-iot-edge://{deviceId}-{generation}". */
static void edge_scope(char out[MH_SCOPE_MAX + 1], const char *device_id, const char *generation)
{
    snprintf(out, MH_SCOPE_MAX + 1, "ms-azure-iot-edge://%s-%s", device_id, generation);
}

/* Applies deviceScope and parentScopes of a Device body (create: creating = 1) to row, whose
 * iot_edge is already the new value.
 * AZURE (azure-iot-sdk-csharp e2e RegistryManagerE2ETests AddAndRemoveDeviceWithScope,
 * AddDevices2Async_Works): an edge device gets a generated scope of its own, a nested edge device
 * keeps the parentScopes it is given, a device created or updated with a deviceScope gets that
 * scope copied into its parentScopes. Scopes are not checked against existing edge devices.
 * MOCK: an edge device's own scope cannot be changed by an update (400); the hub's exact answer
 * there is not captured. An empty deviceScope on a leaf device removes its parent. */
static mh_err dev_row_apply_scopes(dev_row *row, const char *device_id, const char *generation, int was_edge,
                                   const cJSON *body, mh_status *st)
{
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(body, "deviceScope");
    const cJSON *parents = cJSON_GetObjectItemCaseSensitive(body, "parentScopes");
    char own[MH_SCOPE_MAX + 1];
    int scope_given = cJSON_IsString(scope), parents_given = cJSON_IsArray(parents);

    if (scope && !cJSON_IsNull(scope) && !scope_given)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "deviceScope must be a string");
    if (scope_given && strlen(scope->valuestring) > MH_SCOPE_MAX)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "deviceScope is longer than %d characters", MH_SCOPE_MAX);
    if (parents && !cJSON_IsNull(parents)) {
        const cJSON *first = cJSON_GetArrayItem(parents, 0);
        if (!parents_given || cJSON_GetArraySize(parents) > 1 || (first && !cJSON_IsString(first)) ||
            (first && strlen(first->valuestring) > MH_SCOPE_MAX))
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "parentScopes must be an array of at most one scope string");
    }
    edge_scope(own, device_id, generation);
    if (row->iot_edge) {
        int owns = strncmp(row->scope, own, strlen(own)) == 0 && row->scope[0] != '\0';
        if (!was_edge || !row->scope[0]) {
            /* becoming an edge device: a scope it held as a leaf becomes its parent */
            if (row->scope[0] && !owns && !row->parent_scope[0])
                snprintf(row->parent_scope, sizeof row->parent_scope, "%s", row->scope);
            if (scope_given && scope->valuestring[0])
                snprintf(row->scope, sizeof row->scope, "%s", scope->valuestring);
            else
                snprintf(row->scope, sizeof row->scope, "%s", own);
        } else if (scope_given && scope->valuestring[0] && strcmp(scope->valuestring, row->scope) != 0) {
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "The deviceScope of edge device %s cannot be changed (it is %s)", device_id,
                           row->scope);
        }
        if (parents_given) {
            const cJSON *first = cJSON_GetArrayItem(parents, 0);
            snprintf(row->parent_scope, sizeof row->parent_scope, "%s", first ? first->valuestring : "");
        }
        return MH_OK;
    }
    if (scope_given) {
        snprintf(row->scope, sizeof row->scope, "%s", scope->valuestring);
        snprintf(row->parent_scope, sizeof row->parent_scope, "%s", scope->valuestring);
    } else if (parents_given && !row->scope[0]) {
        const cJSON *first = cJSON_GetArrayItem(parents, 0);
        snprintf(row->parent_scope, sizeof row->parent_scope, "%s", first ? first->valuestring : "");
    }
    return MH_OK;
}

/* parentScopes as stored: a JSON array text (malloc'd), NULL when out of memory. */
static char *parent_scopes_json(const dev_row *row)
{
    cJSON *arr = cJSON_CreateArray();
    char *text = NULL;

    if (arr && (!row->parent_scope[0] || cJSON_AddItemToArray(arr, cJSON_CreateString(row->parent_scope))))
        text = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return text;
}

/* The system modules of an edge device (AZURE: the hub creates $edgeAgent and $edgeHub with the
 * device; their twins start empty here). Lock and transaction held; existing ones are kept. */
static mh_err edge_modules(mh_store *store, const char *device_id, mh_status *st)
{
    static const char *const names[] = {"$edgeAgent", "$edgeHub"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        dev_row mod;
        memset(&mod, 0, sizeof mod);
        strcpy(mod.auth_type, "sas");
        mh_err err = mh_store_fill_keys(&mod, st);
        if (err == MH_OK)
            err = mh_store_module_insert_locked(store, device_id, names[i], NULL, &mod, st);
        if (err != MH_OK && err != MH_ERR_MODULE_EXISTS)
            return err;
    }
    return MH_OK;
}

mh_err mh_store_auth_apply(dev_row *row, const cJSON *auth, mh_status *st)
{
    const cJSON *sym, *x509;
    const char *v;
    int r;

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
            if (!mh_store_key_valid(v))
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
mh_err mh_store_fill_keys(dev_row *row, mh_status *st)
{
    if (strcmp(row->auth_type, "sas") != 0)
        return MH_OK;
    if ((!row->primary_key[0] && !mh_store_key_generate(row->primary_key)) ||
        (!row->secondary_key[0] && !mh_store_key_generate(row->secondary_key)))
        return mh_fail(st, MH_ERR_INTERNAL, "no random bytes for a key");
    return MH_OK;
}

/* Device time as stored (with Z); the create response drops the Z of never-set times. */
cJSON *mh_store_add_time(cJSON *obj, const char *name, const char *t, int create_form)
{
    if (create_form && t && strcmp(t, MH_NEVER_TIME) == 0)
        return cJSON_AddStringToObject(obj, name, "0001-01-01T00:00:00");
    return cJSON_AddStringToObject(obj, name, t ? t : MH_NEVER_TIME);
}

cJSON *mh_store_add_text_or_null(cJSON *obj, const char *name, const char *t)
{
    return t ? cJSON_AddStringToObject(obj, name, t) : cJSON_AddNullToObject(obj, name);
}

/* The Device JSON of a DEVICE_COLUMNS row. */
static cJSON *device_render(sqlite3_stmt *s, int create_form)
{
    cJSON *dev = cJSON_CreateObject(), *auth, *sym, *x509, *caps;
    char etag[32];
    int sas = mh_db_col_text(s, 6) && strcmp(mh_db_col_text(s, 6), "sas") == 0;

    mh_twin_device_etag_format(sqlite3_column_int64(s, 2), etag);
    if (!dev || !cJSON_AddStringToObject(dev, "deviceId", mh_db_col_text(s, 0)) ||
        !cJSON_AddStringToObject(dev, "generationId", mh_db_col_text(s, 1)) ||
        !cJSON_AddStringToObject(dev, "etag", etag) ||
        !cJSON_AddStringToObject(dev, "connectionState", mh_db_col_text(s, 12)) ||
        !cJSON_AddStringToObject(dev, "status", mh_db_col_text(s, 3)) ||
        !mh_store_add_text_or_null(dev, "statusReason", mh_db_col_text(s, 4)) ||
        !mh_store_add_time(dev, "connectionStateUpdatedTime", mh_db_col_text(s, 13), create_form) ||
        !mh_store_add_time(dev, "statusUpdatedTime", mh_db_col_text(s, 5), create_form) ||
        !mh_store_add_time(dev, "lastActivityTime", mh_db_col_text(s, 14), create_form) ||
        !cJSON_AddNumberToObject(dev, "cloudToDeviceMessageCount", (double)sqlite3_column_int64(s, 15)) ||
        !(auth = cJSON_AddObjectToObject(dev, "authentication")) ||
        !(sym = cJSON_AddObjectToObject(auth, "symmetricKey")) ||
        !mh_store_add_text_or_null(sym, "primaryKey", sas ? mh_db_col_text(s, 7) : NULL) ||
        !mh_store_add_text_or_null(sym, "secondaryKey", sas ? mh_db_col_text(s, 8) : NULL) ||
        !(x509 = cJSON_AddObjectToObject(auth, "x509Thumbprint")) ||
        !mh_store_add_text_or_null(x509, "primaryThumbprint", mh_db_col_text(s, 9)) ||
        !mh_store_add_text_or_null(x509, "secondaryThumbprint", mh_db_col_text(s, 10)) ||
        !cJSON_AddStringToObject(auth, "type", mh_db_col_text(s, 6)) ||
        !(caps = cJSON_AddObjectToObject(dev, "capabilities")) ||
        !cJSON_AddBoolToObject(caps, "iotEdge", sqlite3_column_int(s, 11)) ||
        !(mh_db_col_text(s, 16) && mh_db_col_text(s, 16)[0]
              ? cJSON_AddStringToObject(dev, "deviceScope", mh_db_col_text(s, 16))
              : cJSON_AddNullToObject(dev, "deviceScope"))) {
        cJSON_Delete(dev);
        return NULL;
    }
    cJSON *parents = cJSON_Parse(mh_db_col_text(s, 17) ? mh_db_col_text(s, 17) : "[]");
    if (!cJSON_IsArray(parents) || !cJSON_AddItemToObject(dev, "parentScopes", parents)) {
        cJSON_Delete(parents);
        cJSON_Delete(dev);
        return NULL;
    }
    return dev;
}

/* Reads device id's row (DEVICE_GET) and renders it; the statement is reset afterwards. */
static mh_err device_fetch(mh_store *store, const char *device_id, int create_form, cJSON **out,
                           mh_status *st)
{
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_DEVICE_GET);
    cJSON *dev = NULL;
    int rc;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        dev = device_render(s, create_form);
    mh_db_done(s);
    if (rc == SQLITE_DONE)
        return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
    if (rc != SQLITE_ROW)
        return mh_db_fail(store, st, "device get");
    if (!dev)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    *out = dev;
    return MH_OK;
}

/* ---- registry ---- */

mh_err mh_store_device_auth(mh_store *store, const char *device_id, mh_device_auth *out_auth)
{
    sqlite3_stmt *s;
    mh_err err;

    if (!store || !device_id || !out_auth)
        return MH_ERR_ARGUMENT_NULL;
    mh_store_lock(store);
    s = mh_db_stmt(store, MH_STMT_DEVICE_AUTH);
    /* the same row reading as the plugin's read-only lookup (keys.c) */
    err = s ? mh_keys_auth_read(store->db, s, device_id, out_auth) : mh_db_fail(store, NULL, "prepare");
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_device_create(mh_store *store, const char *device_id, const cJSON *body, cJSON **out_device,
                              mh_status *st)
{
    dev_row row;
    char now[40], gen[24], meta[80], *parents = NULL;
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
    strcpy(row.status_updated, MH_NEVER_TIME);
    mh_store_generation_id(gen);
    err = dev_row_apply(&row, device_id, body, st);
    if (err == MH_OK)
        err = dev_row_apply_scopes(&row, device_id, gen, 0, body, st);
    if (err == MH_OK)
        err = mh_store_fill_keys(&row, st);
    if (err != MH_OK)
        return err;
    parents = parent_scopes_json(&row);
    if (!parents)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    /* AZURE: the device etag is a decimal counter with a random start ("945273454") */
    if (!mh_store_random_bytes(&rnd, sizeof rnd))
        rnd = (unsigned)time(NULL);
    etag_start = 100000000LL + (long long)(rnd % 900000000u);
    mh_time_now_iso(now, sizeof now);
    snprintf(meta, sizeof meta, "{\"$lastUpdated\":\"%s\"}", now);

    mh_store_lock(store);
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    s = mh_db_stmt(store, MH_STMT_DEVICE_INSERT);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
        goto rollback;
    }
    mh_db_bind_text(s, 1, device_id);
    mh_db_bind_text(s, 2, gen);
    sqlite3_bind_int64(s, 3, etag_start);
    mh_db_bind_text(s, 4, row.status);
    mh_db_bind_text(s, 5, row.has_reason ? row.status_reason : NULL);
    mh_db_bind_text(s, 6, MH_NEVER_TIME);
    mh_db_bind_text(s, 7, row.auth_type);
    mh_db_bind_text(s, 8, row.primary_key[0] ? row.primary_key : NULL);
    mh_db_bind_text(s, 9, row.secondary_key[0] ? row.secondary_key : NULL);
    mh_db_bind_text(s, 10, row.has_primary_thumbprint ? row.primary_thumbprint : NULL);
    mh_db_bind_text(s, 11, row.has_secondary_thumbprint ? row.secondary_thumbprint : NULL);
    sqlite3_bind_int(s, 12, row.iot_edge);
    mh_db_bind_text(s, 13, meta);
    mh_db_bind_text(s, 14, row.scope);
    mh_db_bind_text(s, 15, parents);
    rc = sqlite3_step(s);
    mh_db_done(s);
    if (rc == SQLITE_CONSTRAINT) {
        err = mh_fail(st, MH_ERR_DEVICE_EXISTS, "A device with ID '%s' is already registered.", device_id);
        goto rollback;
    }
    if (rc != SQLITE_DONE) {
        err = mh_db_fail(store, st, "device insert");
        goto rollback;
    }
    if (row.iot_edge && (err = edge_modules(store, device_id, st)) != MH_OK)
        goto rollback;
    err = device_fetch(store, device_id, 1, &dev, st);
    if (err != MH_OK)
        goto rollback;
    err = mh_db_commit(store, st);
    if (err != MH_OK)
        goto done;
    *out_device = dev;
    dev = NULL;
    goto done;
rollback:
    mh_db_rollback(store);
done:
    mh_store_unlock(store);
    cJSON_Delete(dev);
    free(parents);
    return err;
}

/* Reads the row of device_id for an update/delete and checks If-Match against its device etag. */
static mh_err device_row_checked(mh_store *store, const char *device_id, const char *if_match, dev_row *row,
                                 mh_status *st)
{
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_DEVICE_GET);
    char etag[32];
    int rc, ok = 0;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        ok = dev_row_load(s, row);
    mh_db_done(s);
    if (rc == SQLITE_DONE)
        return mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "%s", device_id);
    if (rc != SQLITE_ROW)
        return mh_db_fail(store, st, "device get");
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
    char now[40], *parents = NULL;
    int was_enabled, status_changed, was_edge;
    char old_status[16];
    cJSON *dev = NULL;
    sqlite3_stmt *s;
    mh_err err;
    int rc;

    if (!store || !device_id || !out_device)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest");
    mh_store_lock(store);
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    err = device_row_checked(store, device_id, if_match, &row, st);
    if (err != MH_OK)
        goto rollback;
    memcpy(old_status, row.status, sizeof old_status);
    was_enabled = strcmp(row.status, "enabled") == 0;
    /* MOCK: empty keys in an update keep the stored keys (Node's Registry.update sends "" keys for a
     * status-only update); the real hub's handling of that case is not captured. */
    was_edge = row.iot_edge;
    err = dev_row_apply(&row, device_id, body, st);
    if (err == MH_OK)
        err = dev_row_apply_scopes(&row, device_id, row.generation, was_edge, body, st);
    if (err == MH_OK)
        err = mh_store_fill_keys(&row, st);
    if (err == MH_OK && !(parents = parent_scopes_json(&row)))
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
    if (err == MH_OK && row.iot_edge && !was_edge)
        err = edge_modules(store, device_id, st);
    if (err != MH_OK)
        goto rollback;
    status_changed = strcmp(old_status, row.status) != 0;
    if (status_changed) {
        mh_time_now_iso(now, sizeof now);
        memcpy(row.status_updated, now, sizeof now);
    }
    s = mh_db_stmt(store, MH_STMT_DEVICE_UPDATE);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
        goto rollback;
    }
    mh_db_bind_text(s, 1, device_id);
    sqlite3_bind_int64(s, 2, row.etag + 1);
    mh_db_bind_text(s, 3, row.status);
    mh_db_bind_text(s, 4, row.has_reason ? row.status_reason : NULL);
    mh_db_bind_text(s, 5, row.status_updated);
    mh_db_bind_text(s, 6, row.auth_type);
    mh_db_bind_text(s, 7, row.primary_key[0] ? row.primary_key : NULL);
    mh_db_bind_text(s, 8, row.secondary_key[0] ? row.secondary_key : NULL);
    mh_db_bind_text(s, 9, row.has_primary_thumbprint ? row.primary_thumbprint : NULL);
    mh_db_bind_text(s, 10, row.has_secondary_thumbprint ? row.secondary_thumbprint : NULL);
    sqlite3_bind_int(s, 11, row.iot_edge);
    mh_db_bind_text(s, 12, row.scope);
    mh_db_bind_text(s, 13, parents);
    rc = sqlite3_step(s);
    mh_db_done(s);
    if (rc != SQLITE_DONE) {
        err = mh_db_fail(store, st, "device update");
        goto rollback;
    }
    err = device_fetch(store, device_id, 0, &dev, st);
    if (err != MH_OK)
        goto rollback;
    err = mh_db_commit(store, st);
    if (err != MH_OK)
        goto done;
    *out_device = dev;
    dev = NULL;
    if (out_now_disabled)
        *out_now_disabled = was_enabled && strcmp(row.status, "disabled") == 0;
    goto done;
rollback:
    mh_db_rollback(store);
done:
    mh_store_unlock(store);
    cJSON_Delete(dev);
    free(parents);
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
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    err = device_row_checked(store, device_id, if_match, &row, st);
    if (err != MH_OK)
        goto rollback;
    err = mh_db_exec_texts(store, st, MH_STMT_DEVICE_DELETE, device_id, NULL);
    if (err != MH_OK)
        goto rollback;
    err = mh_db_commit(store, st);
    goto done;
rollback:
    mh_db_rollback(store);
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
    s = mh_db_stmt(store, MH_STMT_DEVICE_LIST);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
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
        err = mh_db_fail(store, st, "device list");
    mh_db_done(s);
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
    mh_err err = mh_db_exec_texts(store, NULL, id, device_id, now);
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

mh_err mh_store_reset_connections(mh_store *store)
{
    char now[40];

    if (!store)
        return MH_ERR_ARGUMENT_NULL;
    mh_time_now_iso(now, sizeof now);
    mh_store_lock(store);
    mh_err err = mh_db_exec_texts(store, NULL, MH_STMT_RESET_CONNECTIONS, now, NULL);
    mh_store_unlock(store);
    return err;
}
