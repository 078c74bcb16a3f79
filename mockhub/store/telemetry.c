/* telemetry.c - device-to-cloud messages in the store: appended as they arrive, the newest
 * MH_TELEMETRY_KEEP kept, listed in the shape of `az iot hub monitor-events --props all`.
 */
#include "telemetry.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "iot_b64.h"
#include "store_internal.h"

/* ---- telemetry ---- */

mh_err mh_store_telemetry_add(mh_store *store, const char *device_id, const char *props_json,
                              const void *body, size_t len, long long *out_seq)
{
    mh_err err = MH_OK;
    sqlite3_stmt *s = NULL;
    char now[40];
    int in_tx = 0;
    const char *slash;
    int dlen;

    if (!store || !device_id || (!body && len > 0))
        return MH_ERR_ARGUMENT_NULL;
    /* a module's message: device_id d, module_id m */
    slash = strchr(device_id, '/');
    dlen = slash ? (int)(slash - device_id) : -1;
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
        if ((err = mh_db_begin(store, NULL)) != MH_OK)
            goto done;
        in_tx = 1;
    }
    s = mh_db_stmt(store, MH_STMT_TELEMETRY_INSERT);
    if (!s) {
        err = mh_db_fail(store, NULL, "prepare");
        goto done;
    }
    sqlite3_bind_text(s, 1, device_id, dlen, SQLITE_TRANSIENT);
    mh_db_bind_text(s, 2, now);
    mh_db_bind_text(s, 3, props_json);
    sqlite3_bind_blob(s, 4, len ? body : "", (int)len, SQLITE_TRANSIENT);
    mh_db_bind_text(s, 5, slash ? slash + 1 : "");
    if (sqlite3_step(s) != SQLITE_DONE) {
        err = mh_db_fail(store, NULL, "telemetry insert");
        mh_db_done(s);
        goto done;
    }
    mh_db_done(s);
    long long seq = sqlite3_last_insert_rowid(store->db);
    if (trim) {
        if ((err = mh_db_exec_int(store, NULL, MH_STMT_TELEMETRY_TRIM, NULL, seq - MH_TELEMETRY_KEEP)) !=
            MH_OK)
            goto done;
        in_tx = 0;
        if ((err = mh_db_commit(store, NULL)) != MH_OK)
            goto done;
    }
    store->telemetry_adds++;
    if (out_seq)
        *out_seq = seq;
done:
    if (in_tx)
        mh_db_rollback(store);
    mh_store_unlock(store);
    return err;
}

/* 1 when buf is well-formed UTF-8 without NUL bytes. */
static int utf8_text(const unsigned char *buf, size_t len)
{
    return memchr(buf, 0, len) == NULL && mh_utf8_valid((const char *)buf, len);
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
    const char *id = mh_db_col_text(s, 1);
    const char *mid = mh_db_col_text(s, 5);
    const unsigned char *body = sqlite3_column_blob(s, 4);
    size_t len = (size_t)sqlite3_column_bytes(s, 4);
    cJSON *row = cJSON_CreateObject();
    cJSON *ev = NULL, *ann = NULL, *props = NULL, *payload = NULL;

    if (!row || !cJSON_AddNumberToObject(row, "sequenceNumber", (double)sqlite3_column_int64(s, 0)) ||
        !(ev = cJSON_AddObjectToObject(row, "event")) ||
        !cJSON_AddStringToObject(ev, "origin", id ? id : "") ||
        !cJSON_AddStringToObject(ev, "module", mid ? mid : ""))
        goto fail;
    if (!(props = telemetry_properties(mh_db_col_text(s, 3))))
        goto fail;
    cJSON_AddItemToObject(ev, "properties", props);
    if (!(ann = cJSON_AddObjectToObject(ev, "annotations")) ||
        !cJSON_AddStringToObject(ann, "iothub-enqueuedtime",
                                 mh_db_col_text(s, 2) ? mh_db_col_text(s, 2) : "") ||
        !cJSON_AddStringToObject(ann, "iothub-connection-device-id", id ? id : ""))
        goto fail;
    /* AZURE: module messages carry iothub-connection-module-id (amqp-protocol.md 5.4, [D-msg]) */
    if (mid && *mid && !cJSON_AddStringToObject(ann, "iothub-connection-module-id", mid))
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
    s = mh_db_stmt(store, MH_STMT_TELEMETRY_LIST);
    if (!s) {
        err = mh_db_fail(store, NULL, "prepare");
        goto done;
    }
    sqlite3_bind_int64(s, 1, after_seq);
    mh_db_bind_text(s, 2, device_id);
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
        err = mh_db_fail(store, NULL, "telemetry list");
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

mh_err mh_store_telemetry_last_seq(mh_store *store, long long *out_seq)
{
    mh_err err = MH_OK;

    if (!store || !out_seq)
        return MH_ERR_ARGUMENT_NULL;
    mh_store_lock(store);
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_TELEMETRY_LAST);
    if (!s) {
        err = mh_db_fail(store, NULL, "prepare");
        goto done;
    }
    if (sqlite3_step(s) == SQLITE_ROW)
        *out_seq = sqlite3_column_int64(s, 0);
    else
        err = mh_db_fail(store, NULL, "telemetry last");
    mh_db_done(s);
done:
    mh_store_unlock(store);
    return err;
}
