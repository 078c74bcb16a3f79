/* Unit tests for the telemetry part of store.c: adding device-to-cloud messages, listing them in
 * the shape of `az iot hub monitor-events --props all`, trimming to the newest rows. SQLite in memory. */
#include <criterion/criterion.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "store.h"

static mh_store *store;

static void open_memory(void)
{
    cr_assert_eq(mh_store_open(":memory:", 0, &store), MH_OK);
}

static void close_store(void)
{
    mh_store_free(store);
    store = NULL;
}

TestSuite(telemetry, .init = open_memory, .fini = close_store);

static const char *str_at(const cJSON *obj, const char *a, const char *b, const char *c)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    if (c)
        x = cJSON_GetObjectItemCaseSensitive(x, c);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

Test(telemetry, mh_store_telemetry_add_sequence_numbers_increase_succeeds)
{
    long long a = 0, b = 0;
    cr_assert_eq(mh_store_telemetry_add(store, "dev1", "{}", "x", 1, &a), MH_OK);
    cr_assert_eq(mh_store_telemetry_add(store, "dev1", NULL, NULL, 0, &b), MH_OK);
    cr_assert_gt(a, 0);
    cr_assert_eq(b, a + 1);
    long long last = 0;
    cr_assert_eq(mh_store_telemetry_last_seq(store, &last), MH_OK);
    cr_assert_eq(last, b);
}

Test(telemetry, mh_store_telemetry_add_props_not_object_fails)
{
    cr_assert_eq(mh_store_telemetry_add(store, "dev1", "[1]", "x", 1, NULL), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_store_telemetry_add(NULL, "dev1", "{}", "x", 1, NULL), MH_ERR_ARGUMENT_NULL);
}

Test(telemetry, mh_store_telemetry_add_keeps_newest_rows_succeeds)
{
    long long seq = 0;
    int total =
        (MH_TELEMETRY_KEEP / MH_TELEMETRY_TRIM_EVERY + 1) * MH_TELEMETRY_TRIM_EVERY; /* a trim point */
    for (int i = 0; i < total; i++)
        cr_assert_eq(mh_store_telemetry_add(store, "dev1", "{}", "1", 1, &seq), MH_OK);
    cJSON *arr = NULL;
    cr_assert_eq(mh_store_telemetry_list(store, 0, NULL, 1, &arr), MH_OK);
    double first = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "sequenceNumber"));
    cJSON_Delete(arr);
    /* the trim at add number `total` leaves exactly the newest MH_TELEMETRY_KEEP */
    cr_assert_eq((long long)first, seq - MH_TELEMETRY_KEEP + 1);
}

Test(telemetry, mh_store_telemetry_list_renders_monitor_events_shape_succeeds)
{
    /* decoded from a Node SDK bag: %24.mid=msg-1&%24.cid=corr-1&%24.ct=application%2Fjson&%24.ce=utf-8&alert=hot%20%26%20humid&%24.sub=sensor1 */
    const char *props =
        "{\"$.mid\":\"msg-1\",\"$.cid\":\"corr-1\",\"$.ct\":\"application/json\",\"$.ce\":\"utf-8\","
        "\"alert\":\"hot & humid\",\"$.sub\":\"sensor1\",\"$.ctime\":\"2026-01-01T00:00:00Z\"}";
    const char *body = "{\"temperature\": 21.5}";
    cJSON *arr = NULL;
    cr_assert_eq(mh_store_telemetry_add(store, "dev1", props, body, strlen(body), NULL), MH_OK);
    cr_assert_eq(mh_store_telemetry_list(store, 0, NULL, 100, &arr), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 1);
    cJSON *row = cJSON_GetArrayItem(arr, 0);
    cJSON *ev = cJSON_GetObjectItem(row, "event");
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(row, "sequenceNumber")), 1);
    cr_assert_str_eq(str_at(ev, "origin", NULL, NULL), "dev1");
    cr_assert_str_eq(str_at(ev, "module", NULL, NULL), "");
    cr_assert_str_eq(str_at(ev, "properties", "system", "messageId"), "msg-1");
    cr_assert_str_eq(str_at(ev, "properties", "system", "correlationId"), "corr-1");
    cr_assert_str_eq(str_at(ev, "properties", "system", "contentType"), "application/json");
    cr_assert_str_eq(str_at(ev, "properties", "system", "contentEncoding"), "utf-8");
    cr_assert_str_eq(str_at(ev, "properties", "system", "dt-subject"), "sensor1");
    cr_assert_str_eq(str_at(ev, "properties", "system", "$.ctime"), "2026-01-01T00:00:00Z");
    cr_assert_str_eq(str_at(ev, "properties", "application", "alert"), "hot & humid");
    cr_assert_eq(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "properties"), "application")), 1);
    cr_assert_str_eq(str_at(ev, "annotations", "iothub-connection-device-id", NULL), "dev1");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "annotations"), "iothub-connection-module-id"),
                   "a device's message has no module annotation");
    cr_assert_not_null(str_at(ev, "annotations", "iothub-enqueuedtime", NULL));
    cJSON *payload = cJSON_GetObjectItem(ev, "payload");
    cr_assert(cJSON_IsObject(payload));
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(payload, "temperature")), 21.5);
    cr_assert_null(cJSON_GetObjectItem(ev, "payloadEncoding"));
    cJSON_Delete(arr);
}

Test(telemetry, mh_store_telemetry_list_text_and_binary_payloads_succeeds)
{
    const unsigned char bin[] = {0xff, 0x00, 0x01};
    cJSON *arr = NULL;
    cr_assert_eq(mh_store_telemetry_add(store, "dev1", "{}", "h\xc3\xa9llo {", 8, NULL), MH_OK);
    cr_assert_eq(mh_store_telemetry_add(store, "dev1", "{}", bin, sizeof bin, NULL), MH_OK);
    cr_assert_eq(mh_store_telemetry_add(store, "dev1", "{}", NULL, 0, NULL), MH_OK);
    cr_assert_eq(mh_store_telemetry_list(store, 0, NULL, 100, &arr), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 3);
    cJSON *e0 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "event");
    cJSON *e1 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "event");
    cJSON *e2 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 2), "event");
    cr_assert_str_eq(str_at(e0, "payload", NULL, NULL), "h\xc3\xa9llo {");
    cr_assert_str_eq(str_at(e1, "payload", NULL, NULL), "/wAB");
    cr_assert_str_eq(str_at(e1, "payloadEncoding", NULL, NULL), "base64");
    cr_assert_str_eq(str_at(e2, "payload", NULL, NULL), "");
    cJSON_Delete(arr);
}

Test(telemetry, mh_store_telemetry_list_after_and_device_filter_succeeds)
{
    long long s1 = 0, s2 = 0, s3 = 0;
    cJSON *arr = NULL;
    cr_assert_eq(mh_store_telemetry_add(store, "a", "{}", "1", 1, &s1), MH_OK);
    cr_assert_eq(mh_store_telemetry_add(store, "b", "{}", "2", 1, &s2), MH_OK);
    cr_assert_eq(mh_store_telemetry_add(store, "a", "{}", "3", 1, &s3), MH_OK);
    cr_assert_eq(mh_store_telemetry_list(store, 0, "a", 100, &arr), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 2);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "event"), "payload")),
                 1);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "event"), "payload")),
                 3);
    cJSON_Delete(arr);
    cr_assert_eq(mh_store_telemetry_list(store, s1, NULL, 1, &arr), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 1);
    cr_assert_eq(
        (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "sequenceNumber")),
        s2);
    cJSON_Delete(arr);
    cr_assert_eq(mh_store_telemetry_list(store, s3, NULL, 100, &arr), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 0);
    cJSON_Delete(arr);
}

Test(telemetry, mh_store_telemetry_list_bad_limit_fails)
{
    cJSON *arr = NULL;
    cr_assert_eq(mh_store_telemetry_list(store, 0, NULL, 0, &arr), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_store_telemetry_list(store, 0, NULL, MH_TELEMETRY_LIST_MAX + 1, &arr),
                 MH_ERR_ARGUMENT_INVALID);
    cr_assert_null(arr);
}

Test(telemetry, mh_store_telemetry_module_messages_carry_module_id_succeeds)
{
    /* a Node ModuleClient sendOutputEvent bag: $.on stays a system property */
    const char *props = "{\"$.on\":\"out1\",\"$.mid\":\"m-1\",\"k\":\"v\"}";
    cJSON *arr = NULL;
    mh_event evs[4];
    int n = 0;

    cr_assert_eq(mh_store_telemetry_add(store, "dev1/mod-a", props, "{\"t\":1}", 7, NULL), MH_OK);
    cr_assert_eq(mh_store_telemetry_add(store, "dev1", "{}", "2", 1, NULL), MH_OK);
    cr_assert_eq(mh_store_telemetry_add(store, "dev2/mod-a", "{}", "3", 1, NULL), MH_OK);

    cr_assert_eq(mh_store_telemetry_list(store, 0, NULL, 100, &arr), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 3);
    cJSON *e0 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "event");
    cJSON *e1 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "event");
    cJSON *e2 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 2), "event");
    cr_assert_str_eq(str_at(e0, "origin", NULL, NULL), "dev1",
                     "origin is the device id, as in monitor-events");
    cr_assert_str_eq(str_at(e0, "module", NULL, NULL), "mod-a");
    cr_assert_str_eq(str_at(e0, "annotations", "iothub-connection-device-id", NULL), "dev1");
    cr_assert_str_eq(str_at(e0, "annotations", "iothub-connection-module-id", NULL), "mod-a");
    cr_assert_str_eq(str_at(e0, "properties", "system", "$.on"), "out1");
    cr_assert_str_eq(str_at(e0, "properties", "system", "messageId"), "m-1");
    cr_assert_str_eq(str_at(e0, "properties", "application", "k"), "v");
    cr_assert_str_eq(str_at(e1, "module", NULL, NULL), "");
    cr_assert_null(
        cJSON_GetObjectItem(cJSON_GetObjectItem(e1, "annotations"), "iothub-connection-module-id"));
    cr_assert_str_eq(str_at(e2, "origin", NULL, NULL), "dev2");
    cr_assert_str_eq(str_at(e2, "module", NULL, NULL), "mod-a");
    cJSON_Delete(arr);

    /* the device filter takes the device's own messages and its modules' */
    cr_assert_eq(mh_store_telemetry_list(store, 0, "dev1", 100, &arr), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 2);
    cJSON_Delete(arr);
    cr_assert_eq(mh_store_telemetry_list(store, 0, "dev1/mod-a", 100, &arr), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 0, "the filter is a device id, never an identity");
    cJSON_Delete(arr);

    /* the Event Hubs view (eventlog.c) has the module id too; one partition holds everything */
    cr_assert_eq(mh_store_eventlog_read(store, 0, 1, 0, 4, evs, &n), MH_OK);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(evs[0].device_id, "dev1");
    cr_assert_str_eq(evs[0].module_id, "mod-a");
    cr_assert_str_eq(evs[1].module_id, "");
    cr_assert_str_eq(evs[2].device_id, "dev2");
    cr_assert_str_eq(evs[2].module_id, "mod-a");
    for (int i = 0; i < n; i++)
        mh_event_cleanup(&evs[i]);
}
