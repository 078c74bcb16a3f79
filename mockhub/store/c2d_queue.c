/* c2d_queue.c - cloud-to-device queues: one SQLite table (schema in db.c), the device's
 * c2d_count kept equal to its pending messages in the same transaction. */
#include "c2d_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define C2D_COLUMNS                                                                                          \
    "id, device_id, generation_id, message_id, correlation_id, user_id, content_type, content_encoding, "    \
    "ack, enqueued, expiry, deliveries"

static mh_err prep(mh_store *store, const char *sql, sqlite3_stmt **out, mh_status *st)
{
    if (sqlite3_prepare_v2(store->db, sql, -1, out, NULL) != SQLITE_OK)
        return mh_db_fail(store, st, "prepare");
    return MH_OK;
}

/* Reads the C2D_COLUMNS of the current row into m (no props, no body). */
static void read_meta(sqlite3_stmt *s, mh_c2d_msg *m)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(s, 0);
    mh_db_col_copy(s, 1, m->device_id, sizeof m->device_id);
    mh_db_col_copy(s, 2, m->generation_id, sizeof m->generation_id);
    mh_db_col_copy(s, 3, m->message_id, sizeof m->message_id);
    mh_db_col_copy(s, 4, m->correlation_id, sizeof m->correlation_id);
    mh_db_col_copy(s, 5, m->user_id, sizeof m->user_id);
    mh_db_col_copy(s, 6, m->content_type, sizeof m->content_type);
    mh_db_col_copy(s, 7, m->content_encoding, sizeof m->content_encoding);
    m->ack = (mh_c2d_ack)sqlite3_column_int(s, 8);
    m->enqueued_ms = sqlite3_column_int64(s, 9);
    m->expiry_ms = sqlite3_column_int64(s, 10);
    m->deliveries = sqlite3_column_int(s, 11);
}

/* Sets the device's c2d_count to its pending messages. Lock held. */
static mh_err recount(mh_store *store, const char *device_id, mh_status *st)
{
    sqlite3_stmt *s = NULL;
    mh_err err = prep(store,
                      "UPDATE devices SET c2d_count = (SELECT count(*) FROM c2d WHERE device_id = ?1)"
                      " WHERE id = ?1",
                      &s, st);
    if (err != MH_OK)
        return err;
    mh_db_bind_text(s, 1, device_id);
    if (sqlite3_step(s) != SQLITE_DONE)
        err = mh_db_fail(store, st, "c2d count");
    sqlite3_finalize(s);
    return err;
}

mh_err mh_store_c2d_enqueue(mh_store *store, mh_c2d_msg *m, mh_status *st)
{
    mh_err err = MH_OK;
    sqlite3_stmt *s = NULL;
    char gen[40] = "";
    int in_tx = 0, pending = 0;

    mh_store_lock(store);
    if ((err = mh_db_begin(store, st)) != MH_OK)
        goto done;
    in_tx = 1;
    if ((err = prep(store,
                    "SELECT generation_id, (SELECT count(*) FROM c2d WHERE device_id = ?1) FROM devices"
                    " WHERE id = ?1",
                    &s, st)) != MH_OK)
        goto done;
    mh_db_bind_text(s, 1, m->device_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        mh_db_col_copy(s, 0, gen, sizeof gen);
        pending = sqlite3_column_int(s, 1);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (rc == SQLITE_DONE) {
        err = mh_fail(st, MH_ERR_DEVICE_NOT_FOUND, "Device %s not registered", m->device_id);
        goto done;
    }
    if (rc != SQLITE_ROW) {
        err = mh_db_fail(store, st, "c2d device");
        goto done;
    }
    if (pending >= MH_C2D_QUEUE_MAX) {
        err = mh_fail(st, MH_ERR_QUEUE_FULL,
                      "Device %s has reached the maximum of %d pending cloud-to-device messages",
                      m->device_id, MH_C2D_QUEUE_MAX);
        goto done;
    }
    if ((err = prep(store,
                    "INSERT INTO c2d(device_id, generation_id, message_id, correlation_id, user_id,"
                    " content_type, content_encoding, ack, enqueued, expiry, props, body)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    &s, st)) != MH_OK)
        goto done;
    mh_db_bind_text(s, 1, m->device_id);
    mh_db_bind_text(s, 2, gen);
    mh_db_bind_text(s, 3, m->message_id);
    mh_db_bind_text(s, 4, m->correlation_id);
    mh_db_bind_text(s, 5, m->user_id);
    mh_db_bind_text(s, 6, m->content_type);
    mh_db_bind_text(s, 7, m->content_encoding);
    sqlite3_bind_int(s, 8, (int)m->ack);
    sqlite3_bind_int64(s, 9, m->enqueued_ms);
    sqlite3_bind_int64(s, 10, m->expiry_ms);
    mh_db_bind_text(s, 11, m->props_json ? m->props_json : "{}");
    sqlite3_bind_blob(s, 12, m->len ? (const void *)m->body : "", (int)m->len, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE) {
        err = mh_db_fail(store, st, "c2d insert");
        goto done;
    }
    long long id = sqlite3_last_insert_rowid(store->db);
    if ((err = recount(store, m->device_id, st)) != MH_OK)
        goto done;
    in_tx = 0;
    if ((err = mh_db_commit(store, st)) != MH_OK)
        goto done;
    m->id = id;
    snprintf(m->generation_id, sizeof m->generation_id, "%s", gen);
done:
    sqlite3_finalize(s);
    if (in_tx)
        mh_db_rollback(store);
    mh_store_unlock(store);
    return err;
}

static int skipped(long long id, const long long *skip, size_t nskip)
{
    for (size_t i = 0; i < nskip; i++)
        if (skip[i] == id)
            return 1;
    return 0;
}

mh_err mh_store_c2d_next(mh_store *store, const char *device_id, long long now_ms, const long long *skip,
                         size_t nskip, mh_c2d_msg *out)
{
    sqlite3_stmt *s = NULL;
    mh_c2d_msg m;
    int rc;
    mh_store_lock(store);
    /* at most MH_C2D_QUEUE_MAX rows; only the one returned has its props and body read */
    mh_err err = prep(store,
                      "SELECT " C2D_COLUMNS ", props, body FROM c2d WHERE device_id = ?1 AND expiry > ?2"
                      " ORDER BY id",
                      &s, NULL);
    if (err != MH_OK)
        goto done;
    mh_db_bind_text(s, 1, device_id);
    sqlite3_bind_int64(s, 2, now_ms);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && skipped(sqlite3_column_int64(s, 0), skip, nskip))
        ;
    if (rc == SQLITE_DONE) {
        err = MH_ERR_NOT_FOUND;
        goto done;
    }
    if (rc != SQLITE_ROW) {
        err = mh_db_fail(store, NULL, "c2d next");
        goto done;
    }
    read_meta(s, &m);
    const char *props = mh_db_col_text(s, 12);
    size_t len = (size_t)sqlite3_column_bytes(s, 13);
    const void *body = sqlite3_column_blob(s, 13);
    m.props_json = strdup(props ? props : "{}");
    m.body = malloc(len ? len : 1);
    if (m.props_json == NULL || m.body == NULL) {
        mh_c2d_msg_cleanup(&m);
        err = MH_ERR_NOMEM;
        goto done;
    }
    if (len)
        memcpy(m.body, body, len);
    m.len = len;
    *out = m;
done:
    sqlite3_finalize(s);
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_c2d_remove(mh_store *store, long long id, mh_c2d_msg *out_meta)
{
    sqlite3_stmt *s = NULL;
    char dev[129] = "";
    int in_tx = 0;
    mh_c2d_msg meta;
    mh_store_lock(store);
    mh_err err = mh_db_begin(store, NULL);
    if (err != MH_OK)
        goto done;
    in_tx = 1;
    if ((err = prep(store, "DELETE FROM c2d WHERE id = ?1 RETURNING " C2D_COLUMNS, &s, NULL)) != MH_OK)
        goto done;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_meta(s, &meta);
        snprintf(dev, sizeof dev, "%s", meta.device_id);
    } else if (rc == SQLITE_DONE)
        err = MH_ERR_NOT_FOUND;
    else
        err = mh_db_fail(store, NULL, "c2d remove");
    sqlite3_finalize(s);
    s = NULL;
    if (err != MH_OK || (err = recount(store, dev, NULL)) != MH_OK)
        goto done;
    in_tx = 0;
    err = mh_db_commit(store, NULL);
    if (err == MH_OK && out_meta != NULL)
        *out_meta = meta;
done:
    if (in_tx)
        mh_db_rollback(store);
    mh_store_unlock(store);
    return err;
}

mh_err mh_store_c2d_take(mh_store *store, const char *device_id, long long now_ms, mh_c2d_msg *out, int max,
                         int *out_n)
{
    sqlite3_stmt *s = NULL;
    int n = 0, in_tx = 0;
    mh_store_lock(store);
    mh_err err = mh_db_begin(store, NULL);
    if (err != MH_OK)
        goto done;
    in_tx = 1;
    if (device_id != NULL) {
        if ((err = prep(store, "SELECT 1 FROM devices WHERE id = ?1", &s, NULL)) != MH_OK)
            goto done;
        mh_db_bind_text(s, 1, device_id);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        s = NULL;
        if (rc != SQLITE_ROW) {
            err = rc == SQLITE_DONE ? MH_ERR_DEVICE_NOT_FOUND : mh_db_fail(store, NULL, "c2d purge");
            goto done;
        }
        err = prep(store, "SELECT " C2D_COLUMNS " FROM c2d WHERE device_id = ?1 ORDER BY id LIMIT ?2", &s,
                   NULL);
        if (err == MH_OK)
            mh_db_bind_text(s, 1, device_id);
    } else {
        err =
            prep(store, "SELECT " C2D_COLUMNS " FROM c2d WHERE expiry <= ?1 ORDER BY id LIMIT ?2", &s, NULL);
        if (err == MH_OK)
            sqlite3_bind_int64(s, 1, now_ms);
    }
    if (err != MH_OK)
        goto done;
    sqlite3_bind_int(s, 2, max);
    int rc;
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_meta(s, &out[n++]);
    sqlite3_finalize(s);
    s = NULL;
    for (int i = 0; i < n && err == MH_OK; i++) {
        if ((err = prep(store, "DELETE FROM c2d WHERE id = ?1", &s, NULL)) != MH_OK)
            break;
        sqlite3_bind_int64(s, 1, out[i].id);
        if (sqlite3_step(s) != SQLITE_DONE)
            err = mh_db_fail(store, NULL, "c2d take");
        sqlite3_finalize(s);
        s = NULL;
        if (err == MH_OK && (i == 0 || strcmp(out[i].device_id, out[i - 1].device_id) != 0))
            err = recount(store, out[i].device_id, NULL);
    }
    if (err != MH_OK)
        goto done;
    if (device_id != NULL && (err = recount(store, device_id, NULL)) != MH_OK)
        goto done;
    in_tx = 0;
    err = mh_db_commit(store, NULL);
done:
    sqlite3_finalize(s);
    if (in_tx)
        mh_db_rollback(store);
    mh_store_unlock(store);
    if (err == MH_OK)
        *out_n = n;
    return err;
}

mh_err mh_store_c2d_count(mh_store *store, const char *device_id, int *out_count)
{
    sqlite3_stmt *s = NULL;
    mh_store_lock(store);
    mh_err err = prep(store, "SELECT count(*) FROM c2d WHERE device_id = ?1", &s, NULL);
    if (err == MH_OK) {
        mh_db_bind_text(s, 1, device_id);
        if (sqlite3_step(s) == SQLITE_ROW)
            *out_count = sqlite3_column_int(s, 0);
        else
            err = mh_db_fail(store, NULL, "c2d count");
    }
    sqlite3_finalize(s);
    mh_store_unlock(store);
    return err;
}
