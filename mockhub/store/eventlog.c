/* eventlog.c - the telemetry table as an Event Hubs partitioned log. The table holds at most
 * MH_TELEMETRY_KEEP + 256 rows, so partitions are filtered in C rather than stored. */
#include "eventlog.h"

#include <stdlib.h>
#include <string.h>

#include "amqp_addr.h"
#include "c2d.h"
#include "store_internal.h"

#define SCAN_BATCH 512

void mh_event_cleanup(mh_event *e)
{
    if (e == NULL)
        return;
    free(e->props_json);
    free(e->body);
    e->props_json = NULL;
    e->body = NULL;
}

mh_err mh_store_eventlog_read(mh_store *store, int partition, int count, long long after_seq, int limit,
                              mh_event *out, int *out_n)
{
    sqlite3_stmt *s = NULL;
    mh_err err = MH_OK;
    int n = 0;
    mh_store_lock(store);
    if (sqlite3_prepare_v2(
            store->db,
            "SELECT seq, device_id, enqueued, props, body, module_id FROM telemetry WHERE seq > ?1"
            " ORDER BY seq LIMIT ?2",
            -1, &s, NULL) != SQLITE_OK) {
        err = mh_db_fail(store, NULL, "prepare");
        goto done;
    }
    long long from = after_seq;
    for (;;) {
        int rows = 0, rc;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, from);
        sqlite3_bind_int(s, 2, SCAN_BATCH);
        while (n < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
            rows++;
            from = sqlite3_column_int64(s, 0);
            const char *dev = mh_db_col_text(s, 1);
            if (dev == NULL || mh_eh_partition(dev, count) != partition)
                continue;
            mh_event e = {.seq = from};
            mh_db_col_copy(s, 1, e.device_id, sizeof e.device_id);
            mh_db_col_copy(s, 5, e.module_id, sizeof e.module_id);
            e.enqueued_ms = mh_c2d_parse_iso_ms(mh_db_col_text(s, 2));
            const char *props = mh_db_col_text(s, 3);
            e.len = (size_t)sqlite3_column_bytes(s, 4);
            e.props_json = strdup(props ? props : "{}");
            e.body = malloc(e.len ? e.len : 1);
            if (e.props_json == NULL || e.body == NULL) {
                mh_event_cleanup(&e);
                err = MH_ERR_NOMEM;
                goto done;
            }
            if (e.len)
                memcpy(e.body, sqlite3_column_blob(s, 4), e.len);
            out[n++] = e;
        }
        if (n >= limit || rows < SCAN_BATCH)
            break;
    }
done:
    sqlite3_finalize(s);
    mh_store_unlock(store);
    if (err != MH_OK) {
        for (int i = 0; i < n; i++)
            mh_event_cleanup(&out[i]);
        return err;
    }
    *out_n = n;
    return MH_OK;
}

mh_err mh_store_eventlog_info(mh_store *store, int partition, int count, mh_partition_info *out)
{
    sqlite3_stmt *s = NULL;
    mh_partition_info info = {-1, -1, 0};
    mh_err err = MH_OK;
    mh_store_lock(store);
    if (sqlite3_prepare_v2(store->db, "SELECT seq, device_id, enqueued FROM telemetry ORDER BY seq", -1, &s,
                           NULL) != SQLITE_OK) {
        err = mh_db_fail(store, NULL, "prepare");
        goto done;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *dev = mh_db_col_text(s, 1);
        if (dev == NULL || mh_eh_partition(dev, count) != partition)
            continue;
        long long seq = sqlite3_column_int64(s, 0);
        if (info.begin_seq < 0)
            info.begin_seq = seq;
        info.last_seq = seq;
        info.last_ms = mh_c2d_parse_iso_ms(mh_db_col_text(s, 2));
    }
    if (rc != SQLITE_DONE)
        err = mh_db_fail(store, NULL, "eventlog info");
done:
    sqlite3_finalize(s);
    mh_store_unlock(store);
    if (err == MH_OK)
        *out = info;
    return err;
}

mh_err mh_store_eventlog_after_time(mh_store *store, long long time_ms, int inclusive,
                                    long long *out_after_seq)
{
    sqlite3_stmt *s = NULL;
    mh_err err = MH_OK;
    long long after = 0;
    mh_store_lock(store);
    if (sqlite3_prepare_v2(store->db, "SELECT seq, enqueued FROM telemetry ORDER BY seq", -1, &s, NULL) !=
        SQLITE_OK) {
        err = mh_db_fail(store, NULL, "prepare");
        goto done;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        long long ms = mh_c2d_parse_iso_ms(mh_db_col_text(s, 1));
        if (inclusive ? ms >= time_ms : ms > time_ms)
            break;
        after = sqlite3_column_int64(s, 0);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = mh_db_fail(store, NULL, "eventlog time");
done:
    sqlite3_finalize(s);
    mh_store_unlock(store);
    if (err == MH_OK)
        *out_after_seq = after;
    return err;
}
