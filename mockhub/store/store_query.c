/* store_query.c - runs the SQL the twin query compiler (mockhub/query/) produced, under the store's
 * lock, and turns rows into cJSON: full twins for SELECT * and projection objects otherwise. Also
 * creates the indexes the query engine wants (mh_query_prepare_schema, declared in query.h).
 */
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "store_internal.h"

static mh_err bind_params(sqlite3_stmt *stmt, const cJSON *params, mh_status *st)
{
    const cJSON *p;
    int i = 0, rc = SQLITE_OK;

    cJSON_ArrayForEach(p, params)
    {
        /* Constants the compiler folded away (e.g. compared with undefined) leave trailing
         * numbers the statement does not use. */
        if (++i > sqlite3_bind_parameter_count(stmt))
            break;
        if (cJSON_IsString(p)) {
            rc = sqlite3_bind_text(stmt, i, p->valuestring, -1, SQLITE_TRANSIENT);
        } else if (cJSON_IsNumber(p)) {
            double d = p->valuedouble;
            if (d == floor(d) && fabs(d) < 9007199254740992.0)
                rc = sqlite3_bind_int64(stmt, i, (sqlite3_int64)d);
            else
                rc = sqlite3_bind_double(stmt, i, d);
        } else if (cJSON_IsBool(p)) {
            rc = sqlite3_bind_int(stmt, i, cJSON_IsTrue(p) ? 1 : 0);
        } else {
            rc = sqlite3_bind_null(stmt, i);
        }
        if (rc != SQLITE_OK)
            return mh_fail(st, MH_ERR_INTERNAL, "query parameter %d: %s", i, sqlite3_errstr(rc));
    }
    return MH_OK;
}

/* One projection row: an object of the non-NULL columns. */
static cJSON *render_raw(sqlite3_stmt *stmt)
{
    cJSON *row = cJSON_CreateObject();
    int i, n = sqlite3_column_count(stmt);

    if (!row)
        return NULL;
    for (i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(stmt, i);
        int type = sqlite3_column_type(stmt, i);
        cJSON *v = NULL;

        if (type == SQLITE_NULL)
            continue;
        if (type == SQLITE_INTEGER)
            v = cJSON_CreateNumber((double)sqlite3_column_int64(stmt, i));
        else if (type == SQLITE_FLOAT)
            v = cJSON_CreateNumber(sqlite3_column_double(stmt, i));
        else if (strncmp(name, "__", 2) == 0)
            v = cJSON_CreateString((const char *)sqlite3_column_text(stmt, i));
        else
            v = cJSON_Parse((const char *)sqlite3_column_text(stmt, i));
        if (!v || !cJSON_AddItemToObject(row, name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(row);
            return NULL;
        }
    }
    return row;
}

mh_err mh_store_query_run(mh_store *store, const char *sql, const cJSON *params, mh_store_row_cb on_row,
                          void *ctx, mh_status *st)
{
    sqlite3_stmt *stmt = NULL;
    mh_err err = MH_OK;
    int rc, twin;

    mh_store_lock(store);
    rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        const char *msg = sqlite3_errmsg(store->db);
        /* SQLite's own limits (parser stack, expression depth) are the query's fault, not ours. */
        if (strstr(msg, "stack overflow") || strstr(msg, "too large") || strstr(msg, "too many"))
            err = mh_fail(st, MH_ERR_QUERY, "The query is too complex: %s", msg);
        else
            err = mh_fail(st, MH_ERR_INTERNAL, "query compilation produced invalid SQL: %s", msg);
        goto cleanup;
    }
    if ((err = bind_params(stmt, params, st)))
        goto cleanup;
    twin = sqlite3_column_count(stmt) > 0 && strcmp(sqlite3_column_name(stmt, 0), "__twin_id") == 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        cJSON *row = twin ? mh_store_twin_render(stmt, 1) : render_raw(stmt);
        if (!row) {
            err = mh_fail(st, MH_ERR_NOMEM,
                          "out of memory (or a corrupt stored document) while reading query results");
            goto cleanup;
        }
        if (on_row(ctx, row))
            goto cleanup;
    }
    if (rc != SQLITE_DONE)
        err = mh_fail(st, MH_ERR_QUERY, "The query could not be evaluated: %s", sqlite3_errmsg(store->db));
cleanup:
    sqlite3_finalize(stmt);
    mh_store_unlock(store);
    return err;
}

mh_err mh_query_prepare_schema(mh_store *store)
{
    mh_err err = MH_OK;
    char *msg = NULL;

    if (store->flags & MH_STORE_READONLY)
        return MH_OK;
    mh_store_lock(store);
    /* Nothing the planner can use yet beyond the id primary key: twin paths are arbitrary, and
     * a full scan of 100,000 twins meets the latency target (see query.h). Kept as the one place
     * for query indexes. */
    if (sqlite3_exec(store->db, "ANALYZE devices", NULL, NULL, &msg) != SQLITE_OK)
        err = MH_ERR_INTERNAL;
    sqlite3_free(msg);
    mh_store_unlock(store);
    return err;
}

static int index_path_ok(const char *col, const char *path)
{
    static const char *const cols[] = {"tags", "desired", "reported", "desired_meta", "reported_meta"};
    size_t i;
    const char *c;

    for (i = 0; i < sizeof cols / sizeof cols[0] && strcmp(cols[i], col) != 0; i++)
        ;
    if (i == sizeof cols / sizeof cols[0] || path[0] != '$' || strlen(path) > 1024)
        return 0;
    /* Defence in depth: the compiler only sends such paths, and they are pasted into SQL. */
    for (c = path; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("_$-:@.\"[]", *c)))
            return 0;
    return 1;
}

void mh_query_ensure_indexes(mh_store *store, const cJSON *indexes)
{
    const cJSON *it;
    sqlite3_stmt *stmt = NULL;

    if (!store || (store->flags & MH_STORE_READONLY) || cJSON_GetArraySize(indexes) == 0)
        return;
    mh_store_lock(store);
    cJSON_ArrayForEach(it, indexes)
    {
        const char *col = cJSON_GetStringValue(cJSON_GetArrayItem(it, 0));
        const char *path = cJSON_GetStringValue(cJSON_GetArrayItem(it, 1));
        unsigned long long h = 1469598103934665603ULL;
        char name[64], *sql;
        const char *c;
        int exists = 0, count = 0;

        if (!col || !path || !index_path_ok(col, path))
            continue;
        for (c = path; *c; c++) {
            h ^= (unsigned char)*c;
            h *= 1099511628211ULL;
        }
        snprintf(name, sizeof name, "mhq_%s_%016llx", col, h);
        if (sqlite3_prepare_v2(store->db,
                               "SELECT name = ?1 FROM sqlite_master WHERE type = 'index' AND name LIKE "
                               "'mhq\\_%' ESCAPE '\\'",
                               -1, &stmt, NULL) != SQLITE_OK)
            break;
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            count++;
            exists |= sqlite3_column_int(stmt, 0);
        }
        sqlite3_finalize(stmt);
        stmt = NULL;
        if (exists || count >= MH_QUERY_MAX_AUTO_INDEXES)
            continue;
        sql = sqlite3_mprintf(
            "CREATE INDEX IF NOT EXISTS %s ON devices(json_type(%s, '%q'), json_extract(%s, '%q'), id)", name,
            col, path, col, path);
        if (sql)
            sqlite3_exec(store->db, sql, NULL, NULL, NULL);
        sqlite3_free(sql);
    }
    mh_store_unlock(store);
}
