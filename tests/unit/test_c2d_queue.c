/* Unit tests for store/c2d_queue.c (per-device C2D queues, cloudToDeviceMessageCount) and
 * store/eventlog.c (the telemetry table by partition). SQLite in memory. */
#include <criterion/criterion.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "amqp_addr.h"
#include "store.h"

static mh_store *store;

static void open_memory(void)
{
    cr_assert_eq(mh_store_open(":memory:", 0, &store), MH_OK);
    cJSON *dev = NULL;
    cr_assert_eq(mh_store_device_create(store, "dev1", NULL, &dev, NULL), MH_OK);
    cJSON_Delete(dev);
}

static void close_store(void)
{
    mh_store_free(store);
    store = NULL;
}

TestSuite(c2d_queue, .init = open_memory, .fini = close_store);

static mh_c2d_msg msg(const char *device, const char *mid, long long expiry)
{
    mh_c2d_msg m;
    memset(&m, 0, sizeof m);
    strcpy(m.device_id, device);
    strcpy(m.message_id, mid);
    m.enqueued_ms = 1000;
    m.expiry_ms = expiry;
    m.body = (unsigned char *)"hi";
    m.len = 2;
    return m;
}

static int c2d_count(void)
{
    cJSON *dev = NULL;
    cr_assert_eq(mh_store_device_get(store, "dev1", &dev, NULL), MH_OK);
    int n = cJSON_GetObjectItem(dev, "cloudToDeviceMessageCount")->valueint;
    cJSON_Delete(dev);
    return n;
}

Test(c2d_queue, mh_store_c2d_enqueue_next_remove_succeeds)
{
    mh_c2d_msg a = msg("dev1", "a", 5000), b = msg("dev1", "b", 5000), got;
    cr_assert_eq(mh_store_c2d_enqueue(store, &a, NULL), MH_OK);
    cr_assert_eq(mh_store_c2d_enqueue(store, &b, NULL), MH_OK);
    cr_assert(a.id > 0 && b.id > a.id);
    cr_assert(strlen(a.generation_id) > 0);
    cr_assert_eq(c2d_count(), 2);
    cr_assert_eq(mh_store_c2d_next(store, "dev1", 2000, NULL, 0, &got), MH_OK);
    cr_assert_str_eq(got.message_id, "a");
    cr_assert_eq(got.len, 2);
    cr_assert_eq(memcmp(got.body, "hi", 2), 0);
    mh_c2d_msg meta;
    cr_assert_eq(mh_store_c2d_remove(store, got.id, &meta), MH_OK);
    cr_assert_eq(meta.id, got.id);
    cr_assert_str_eq(meta.message_id, "a");
    cr_assert_str_eq(meta.device_id, "dev1");
    cr_assert_str_eq(meta.generation_id, a.generation_id);
    cr_assert_eq(mh_store_c2d_remove(store, got.id, NULL), MH_ERR_NOT_FOUND);
    mh_c2d_msg_cleanup(&got);
    cr_assert_eq(c2d_count(), 1);
}

Test(c2d_queue, mh_store_c2d_next_skips_the_ids_given)
{
    mh_c2d_msg a = msg("dev1", "a", 5000), b = msg("dev1", "b", 5000), c = msg("dev1", "c", 5000), got;
    cr_assert_eq(mh_store_c2d_enqueue(store, &a, NULL), MH_OK);
    cr_assert_eq(mh_store_c2d_enqueue(store, &b, NULL), MH_OK);
    cr_assert_eq(mh_store_c2d_enqueue(store, &c, NULL), MH_OK);
    long long skip[] = {a.id, c.id};
    cr_assert_eq(mh_store_c2d_next(store, "dev1", 2000, skip, 2, &got), MH_OK);
    cr_assert_str_eq(got.message_id, "b");
    cr_assert_eq(got.len, 2);
    mh_c2d_msg_cleanup(&got);
    long long all[] = {c.id, b.id, a.id};
    cr_assert_eq(mh_store_c2d_next(store, "dev1", 2000, all, 3, &got), MH_ERR_NOT_FOUND);
    cr_assert_eq(mh_store_c2d_next(store, "dev1", 2000, skip + 1, 1, &got), MH_OK);
    cr_assert_str_eq(got.message_id, "a");
    mh_c2d_msg_cleanup(&got);
    cr_assert_eq(c2d_count(), 3); /* reading takes nothing */
}

Test(c2d_queue, mh_store_c2d_enqueue_full_or_unknown_fails)
{
    for (int i = 0; i < MH_C2D_QUEUE_MAX; i++) {
        mh_c2d_msg m = msg("dev1", "m", 5000);
        cr_assert_eq(mh_store_c2d_enqueue(store, &m, NULL), MH_OK);
    }
    mh_c2d_msg m = msg("dev1", "too many", 5000);
    mh_status st = {0};
    cr_assert_eq(mh_store_c2d_enqueue(store, &m, &st), MH_ERR_QUEUE_FULL);
    m = msg("nobody", "x", 5000);
    cr_assert_eq(mh_store_c2d_enqueue(store, &m, &st), MH_ERR_DEVICE_NOT_FOUND);
}

Test(c2d_queue, mh_store_c2d_take_expired_and_purge_succeeds)
{
    mh_c2d_msg a = msg("dev1", "old", 1500), b = msg("dev1", "new", 9000), out[8];
    int n = 0;
    cr_assert_eq(mh_store_c2d_enqueue(store, &a, NULL), MH_OK);
    cr_assert_eq(mh_store_c2d_enqueue(store, &b, NULL), MH_OK);
    mh_c2d_msg got;
    cr_assert_eq(mh_store_c2d_next(store, "dev1", 2000, NULL, 0, &got),
                 MH_OK); /* the expired one is skipped */
    cr_assert_str_eq(got.message_id, "new");
    mh_c2d_msg_cleanup(&got);
    cr_assert_eq(mh_store_c2d_take(store, NULL, 2000, out, 8, &n), MH_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].message_id, "old");
    cr_assert_eq(mh_store_c2d_take(store, "dev1", 0, out, 8, &n), MH_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].message_id, "new");
    cr_assert_eq(c2d_count(), 0);
    cr_assert_eq(mh_store_c2d_take(store, "nobody", 0, out, 8, &n), MH_ERR_DEVICE_NOT_FOUND);
}

Test(c2d_queue, mh_store_eventlog_read_by_partition_succeeds)
{
    const char *devs[] = {"dev-a", "dev-b", "dev-c", "dev-d", "dev-e", "dev-f"};
    for (int i = 0; i < 12; i++)
        cr_assert_eq(mh_store_telemetry_add(store, devs[i % 6], "{\"$.mid\":\"x\"}", "b", 1, NULL), MH_OK);
    int total = 0;
    for (int p = 0; p < 4; p++) {
        mh_event ev[16];
        int n = 0;
        cr_assert_eq(mh_store_eventlog_read(store, p, 4, 0, 16, ev, &n), MH_OK);
        long long last = 0;
        for (int i = 0; i < n; i++) {
            cr_assert_eq(mh_eh_partition(ev[i].device_id, 4), p);
            cr_assert(ev[i].seq > last);
            cr_assert(ev[i].enqueued_ms > 0);
            last = ev[i].seq;
            mh_event_cleanup(&ev[i]);
        }
        mh_partition_info info;
        cr_assert_eq(mh_store_eventlog_info(store, p, 4, &info), MH_OK);
        cr_assert_eq(info.last_seq, n ? last : -1);
        total += n;
    }
    cr_assert_eq(total, 12);
}
