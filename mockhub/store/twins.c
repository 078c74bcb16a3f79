/* twins.c - device twins in the store (columns of the devices row, see docs/INTERNALS.md): the
 * service-side Twin document, its PATCH and PUT with If-Match, and the device side's GET and
 * reported PATCH. Document logic lives in core/twin.c.
 */
#include "twins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "twin.h"

#define MAX_PATCH (256 * 1024) /* reported payload bytes: far above 32 KB of content */

/* ---- twins ---- */

/* Parses stored JSON text (an object); NULL when corrupt or out of memory. */
static cJSON *parse_col(sqlite3_stmt *s, int i)
{
    const char *t = mh_db_col_text(s, i);
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
    const char *identity = mh_db_col_text(s, c), *module = mh_identity_module(identity);
    char device[MH_ID_MAX + 1];

    mh_twin_etag_format((uint64_t)twin_n, etag);
    mh_twin_device_etag_format(sqlite3_column_int64(s, c + 1), dev_etag);
    /* a module's row id is "{deviceId}/{moduleId}" (identity.h): its twin names both */
    if (!mh_identity_device(identity, device, sizeof device) ||
        !cJSON_AddStringToObject(twin, "deviceId", device) ||
        (module && !cJSON_AddStringToObject(twin, "moduleId", module)) ||
        !cJSON_AddStringToObject(twin, "etag", etag) ||
        !cJSON_AddStringToObject(twin, "deviceEtag", dev_etag) ||
        !cJSON_AddStringToObject(twin, "status", mh_db_col_text(s, c + 2)) ||
        (mh_db_col_text(s, c + 3) &&
         !cJSON_AddStringToObject(twin, "statusReason", mh_db_col_text(s, c + 3))) ||
        !cJSON_AddStringToObject(twin, "statusUpdateTime", mh_db_col_text(s, c + 4)) ||
        !cJSON_AddStringToObject(twin, "connectionState", mh_db_col_text(s, c + 9)) ||
        !cJSON_AddStringToObject(twin, "lastActivityTime", mh_db_col_text(s, c + 10)) ||
        !cJSON_AddNumberToObject(twin, "cloudToDeviceMessageCount",
                                 (double)sqlite3_column_int64(s, c + 11)) ||
        !cJSON_AddStringToObject(twin, "authenticationType", mh_db_col_text(s, c + 5)) ||
        !(x509 = cJSON_AddObjectToObject(twin, "x509Thumbprint")) ||
        !mh_store_add_text_or_null(x509, "primaryThumbprint", mh_db_col_text(s, c + 6)) ||
        !mh_store_add_text_or_null(x509, "secondaryThumbprint", mh_db_col_text(s, c + 7)) ||
        !cJSON_AddStringToObject(twin, "modelId",
                                 mh_db_col_text(s, c + 12) ? mh_db_col_text(s, c + 12) : "") ||
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
    if (!module && (!(caps = cJSON_AddObjectToObject(twin, "capabilities")) ||
                    !cJSON_AddBoolToObject(caps, "iotEdge", sqlite3_column_int(s, c + 8))))
        goto fail;
    return twin;
fail:
    cJSON_Delete(twin);
    return NULL;
}

static mh_err twin_fetch(mh_store *store, const char *device_id, cJSON **out, mh_status *st)
{
    sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_TWIN_GET);
    cJSON *twin = NULL;
    int rc;

    if (!s)
        return mh_db_fail(store, st, "prepare");
    mh_db_bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        twin = mh_store_twin_render(s, 0);
    mh_db_done(s);
    if (rc == SQLITE_DONE)
        return mh_store_not_found(store, device_id, st);
    if (rc != SQLITE_ROW)
        return mh_db_fail(store, st, "twin get");
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
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    s = mh_db_stmt(store, MH_STMT_TWIN_SERVICE_ROW);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
        goto rollback;
    }
    mh_db_bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        had_tags = sqlite3_column_type(s, 0) != SQLITE_NULL;
        tags = had_tags ? parse_col(s, 0) : cJSON_CreateObject();
        desired = parse_col(s, 1);
        meta = parse_col(s, 2);
        desired_version = sqlite3_column_int64(s, 3);
        twin_n = sqlite3_column_int64(s, 4);
    }
    mh_db_done(s);
    if (rc == SQLITE_DONE) {
        err = mh_store_not_found(store, device_id, st);
        goto rollback;
    }
    if (rc != SQLITE_ROW) {
        err = mh_db_fail(store, st, "twin get");
        goto rollback;
    }
    if (!tags || !desired || !meta) {
        err = mh_fail(st, MH_ERR_INTERNAL, "stored twin of %s is corrupt or out of memory", device_id);
        goto rollback;
    }
    mh_twin_etag_format((uint64_t)twin_n, etag);
    if (!mh_twin_etag_matches(if_match, etag)) {
        /* AZURE: a module twin's 412 names the device id too ([R-mtwin412]) */
        char device[MH_ID_MAX + 1] = "";
        (void)mh_identity_device(device_id, device, sizeof device);
        err = mh_fail(st, MH_ERR_PRECONDITION, "ETag mismatch for device ID '%s'", device);
        goto rollback;
    }
    if (!has_tags && !has_desired) {
        /* nothing writable in the body: no write, no counter moves */
        err = twin_fetch(store, device_id, &twin, st);
        mh_db_rollback(store);
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
    s = mh_db_stmt(store, MH_STMT_TWIN_SERVICE_UPDATE);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
        goto rollback;
    }
    mh_db_bind_text(s, 1, device_id);
    if ((has_tags || had_tags) ? !bind_json(s, 2, tags) : sqlite3_bind_null(s, 2) != SQLITE_OK) {
        mh_db_done(s);
        goto nomem_rollback;
    }
    if (!bind_json(s, 3, desired) || !bind_json(s, 4, meta)) {
        mh_db_done(s);
        goto nomem_rollback;
    }
    sqlite3_bind_int64(s, 5, desired_version);
    sqlite3_bind_int64(s, 6, twin_n);
    rc = sqlite3_step(s);
    mh_db_done(s);
    if (rc != SQLITE_DONE) {
        err = mh_db_fail(store, st, "twin update");
        goto rollback;
    }
    err = twin_fetch(store, device_id, &twin, st);
    if (err != MH_OK)
        goto rollback;
    err = mh_db_commit(store, st);
    goto out;
nomem_rollback:
    err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
rollback:
    mh_db_rollback(store);
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
    s = mh_db_stmt(store, MH_STMT_TWIN_PROPS);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
        goto done;
    }
    mh_db_bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        cap = (size_t)sqlite3_column_bytes(s, 0) + (size_t)sqlite3_column_bytes(s, 2) + 128;
        out = malloc(cap);
        if (!out) {
            err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        } else {
            out[pos++] = '{';
            if (!splice_version(out, cap, &pos, "desired", mh_db_col_text(s, 0), sqlite3_column_int64(s, 1)))
                err = mh_fail(st, MH_ERR_INTERNAL, "stored twin of %s is corrupt", device_id);
            if (err == MH_OK) {
                out[pos++] = ',';
                if (!splice_version(out, cap, &pos, "reported", mh_db_col_text(s, 2),
                                    sqlite3_column_int64(s, 3)) ||
                    pos + 2 > cap)
                    err = mh_fail(st, MH_ERR_INTERNAL, "stored twin of %s is corrupt", device_id);
            }
            if (err == MH_OK) {
                out[pos++] = '}';
                out[pos] = '\0';
            }
        }
    } else if (rc == SQLITE_DONE) {
        err = mh_store_not_found(store, device_id, st);
    } else {
        err = mh_db_fail(store, st, "twin properties");
    }
    mh_db_done(s);
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
    err = mh_db_begin(store, st);
    if (err != MH_OK)
        goto done;
    s = mh_db_stmt(store, MH_STMT_REPORTED_GET);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
        goto rollback;
    }
    mh_db_bind_text(s, 1, device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        reported = parse_col(s, 0);
        meta = parse_col(s, 1);
        version = sqlite3_column_int64(s, 2);
    }
    mh_db_done(s);
    if (rc == SQLITE_DONE) {
        err = mh_store_not_found(store, device_id, st);
        goto rollback;
    }
    if (rc != SQLITE_ROW) {
        err = mh_db_fail(store, st, "reported get");
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
    s = mh_db_stmt(store, MH_STMT_REPORTED_UPDATE);
    if (!s) {
        err = mh_db_fail(store, st, "prepare");
        goto rollback;
    }
    mh_db_bind_text(s, 1, device_id);
    if (!bind_json(s, 2, reported) || !bind_json(s, 3, meta)) {
        mh_db_done(s);
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto rollback;
    }
    sqlite3_bind_int64(s, 4, version);
    mh_db_bind_text(s, 5, now);
    rc = sqlite3_step(s);
    mh_db_done(s);
    if (rc != SQLITE_DONE) {
        err = mh_db_fail(store, st, "reported update");
        goto rollback;
    }
    err = mh_db_commit(store, st);
    if (err == MH_OK && out_version)
        *out_version = (long)version;
    goto done;
rollback:
    mh_db_rollback(store);
done:
    mh_store_unlock(store);
    cJSON_Delete(p);
    cJSON_Delete(reported);
    cJSON_Delete(meta);
    return err;
}
