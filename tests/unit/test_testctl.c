/* test_testctl.c - test control's pure parts: MOCKHUB_TIER parsing and the tiers' rates, and the
 * store side of reset and seeding (SQLite in memory). */
#include <criterion/criterion.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "reset.h"
#include "seeding.h"
#include "store.h"
#include "testctl.h"

Test(testctl, mh_tier_parse_valid_succeeds)
{
    mh_tier t;
    mh_status st = {0};
    cr_assert_eq(mh_tier_parse(NULL, &t, &st), MH_OK);
    cr_assert_eq(t.units, 0, "unset: off");
    cr_assert_eq(mh_tier_parse("", &t, &st), MH_OK);
    cr_assert_eq(t.units, 0);
    cr_assert_eq(mh_tier_parse("S1", &t, &st), MH_OK);
    cr_assert_str_eq(t.name, "S1");
    cr_assert_eq(t.units, 1);
    cr_assert_eq(mh_tier_parse("s2:4", &t, &st), MH_OK);
    cr_assert_str_eq(t.name, "S2");
    cr_assert_eq(t.units, 4);
    cr_assert_eq(mh_tier_parse("S3:10", &t, &st), MH_OK);
    cr_assert_eq(t.units, 10);
}

Test(testctl, mh_tier_parse_invalid_fails)
{
    const char *bad[] = {"S4", "B1", "S1:", "S1:0", "S1:201", "S3:11", "S1:2x", "S1 ", "S", "S1:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mh_tier t = {"S9", 77};
        mh_status st = {0};
        cr_assert_eq(mh_tier_parse(bad[i], &t, &st), MH_ERR_ARGUMENT_INVALID, "%s", bad[i]);
        cr_assert(strstr(st.text, "MOCKHUB_TIER") != NULL, "%s", st.text);
        cr_assert_eq(t.units, 77, "untouched on failure");
    }
}

Test(testctl, mh_tier_rate_quota_table_succeeds)
{
    mh_tier s1 = {"S1", 1}, s1x2 = {"S1", 2}, s2x20 = {"S2", 20}, s3 = {"S3", 1}, off = {"", 0};
    cr_assert_float_eq(mh_tier_rate(&s1, "registry"), 100.0 / 60, 1e-9);
    cr_assert_float_eq(mh_tier_rate(&s1x2, "method"), 80, 1e-9, "40 calls/s/unit (160 KB at 4 KB)");
    cr_assert_float_eq(mh_tier_rate(&s1x2, "twin.read"), 100, 1e-9, "S1 twin reads are flat");
    cr_assert_float_eq(mh_tier_rate(&s2x20, "twin.read"), 200, 1e-9, "higher of 100/s or 10/s/unit");
    cr_assert_float_eq(mh_tier_rate(&s2x20, "twin.write"), 100, 1e-9);
    cr_assert_float_eq(mh_tier_rate(&s3, "query"), 1000.0 / 60, 1e-9);
    cr_assert_float_eq(mh_tier_rate(&s1, "nope"), 0, 1e-9);
    cr_assert_float_eq(mh_tier_rate(&off, "registry"), 0, 1e-9);
}

static cJSON *seed_doc(void)
{
    cJSON *seed =
        cJSON_Parse("{\"devices\":["
                    "{\"deviceId\":\"s1\",\"primaryKey\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
                    "\"secondaryKey\":\"AQIDBAUGBwgJCgsMDQ4PEA==\",\"tags\":{\"site\":\"a\"},"
                    "\"desired\":{\"fw\":\"1.0\"}},"
                    "{\"deviceId\":\"s2\",\"status\":\"disabled\",\"edgeEnabled\":true}],"
                    "\"policies\":[{\"name\":\"ci\",\"rights\":[\"RegistryRead\",\"ServiceConnect\"]}]}");
    cr_assert_not_null(seed);
    return seed;
}

Test(testctl, mh_store_seed_apply_twice_changes_nothing_succeeds)
{
    mh_store *store = NULL;
    mh_status st = {0};
    int created = -1;
    cJSON *seed = seed_doc(), *twin1 = NULL, *twin2 = NULL, *dev = NULL;
    cr_assert_eq(mh_store_open(":memory:", 0, &store), MH_OK);
    cr_assert_eq(mh_store_seed_apply(store, seed, &created, &st), MH_OK, "%s", st.text);
    cr_assert_eq(created, 2);
    cr_assert_eq(mh_store_twin_get(store, "s1", &twin1, &st), MH_OK);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(twin1, "tags"), "site")->valuestring, "a");
    cJSON *desired = cJSON_GetObjectItem(cJSON_GetObjectItem(twin1, "properties"), "desired");
    cr_assert_str_eq(cJSON_GetObjectItem(desired, "fw")->valuestring, "1.0");
    cr_assert_eq(mh_store_device_get(store, "s2", &dev, &st), MH_OK);
    cr_assert_str_eq(cJSON_GetObjectItem(dev, "status")->valuestring, "disabled");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(dev, "capabilities"), "iotEdge")));
    /* generated keys are written back into the seed */
    const cJSON *s2 = cJSON_GetArrayItem(cJSON_GetObjectItem(seed, "devices"), 1);
    cr_assert_eq(strlen(cJSON_GetObjectItem(s2, "primaryKey")->valuestring), 44);
    mh_policy pol;
    cr_assert_eq(mh_store_policy_get(store, "ci", &pol), MH_OK);
    cr_assert_eq(pol.rights, MH_RIGHT_REGISTRY_READ | MH_RIGHT_SERVICE_CONNECT);
    /* the second time nothing is created and the twin keeps its etag and versions */
    cr_assert_eq(mh_store_seed_apply(store, seed, &created, &st), MH_OK);
    cr_assert_eq(created, 0);
    cr_assert_eq(mh_store_twin_get(store, "s1", &twin2, &st), MH_OK);
    cr_assert(cJSON_Compare(twin1, twin2, 1), "unchanged");
    cJSON_Delete(twin1);
    cJSON_Delete(twin2);
    cJSON_Delete(dev);
    cJSON_Delete(seed);
    mh_store_free(store);
}

Test(testctl, mh_store_reset_all_then_seed_restores_same_keys_succeeds)
{
    mh_store *store = NULL;
    mh_status st = {0};
    int created = 0;
    cJSON *seed = seed_doc(), *out = NULL;
    mh_device_auth before, after;
    cr_assert_eq(mh_store_open(":memory:", 0, &store), MH_OK);
    cr_assert_eq(mh_store_seed_apply(store, seed, &created, &st), MH_OK);
    cr_assert_eq(mh_store_device_auth(store, "s2", &before), MH_OK);
    cJSON *body = cJSON_Parse("{}");
    cr_assert_eq(mh_store_device_create(store, "extra", body, &out, &st), MH_OK);
    cJSON_Delete(out);
    cJSON_Delete(body);
    cr_assert_eq(mh_store_reset_all(store, &st), MH_OK, "%s", st.text);
    cr_assert_eq(mh_store_device_auth(store, "extra", &after), MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_eq(mh_store_device_auth(store, "s2", &after), MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_eq(mh_store_seed_apply(store, seed, &created, &st), MH_OK);
    cr_assert_eq(created, 2);
    cr_assert_eq(mh_store_device_auth(store, "s2", &after), MH_OK);
    cr_assert_str_eq(after.primary_key, before.primary_key, "a generated key survives a reset");
    cJSON_Delete(seed);
    mh_store_free(store);
}
