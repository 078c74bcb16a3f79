/* Unit tests for modules.c and the module/edge parts of devices.c and twins.c: module identities as
 * "{deviceId}/{moduleId}" rows, their documents and errors, cascade on device delete, edge scopes
 * and system modules, and the upgrade of a data dir made before modules existed. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static cJSON *J(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "bad test JSON: %s", text);
    return j;
}

static const char *str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void make_device(const char *id, const char *body)
{
    mh_status st = {0};
    cJSON *b = J(body), *out = NULL;
    cr_assert_eq(mh_store_device_create(store, id, b, &out, &st), MH_OK, "%s", st.text);
    cJSON_Delete(b);
    cJSON_Delete(out);
}

TestSuite(modules, .init = open_memory, .fini = close_store);

Test(modules, mh_store_module_create_get_list_succeeds)
{
    mh_status st = {0};
    cJSON *body = J("{\"moduleId\":\"m1\",\"managedBy\":\"ops\"}"), *mod = NULL, *got = NULL, *list = NULL;
    make_device("d1", "{}");
    cr_assert_eq(mh_store_module_create(store, "d1", "m1", body, &mod, &st), MH_OK, "%s", st.text);
    cr_assert_str_eq(str(mod, "moduleId"), "m1");
    cr_assert_str_eq(str(mod, "deviceId"), "d1");
    cr_assert_str_eq(str(mod, "managedBy"), "ops");
    cr_assert_str_eq(str(mod, "connectionState"), "Disconnected");
    const cJSON *sym = cJSON_GetObjectItem(cJSON_GetObjectItem(mod, "authentication"), "symmetricKey");
    cr_assert_eq(strlen(str(sym, "primaryKey")), 44);
    cr_assert_str_neq(str(sym, "primaryKey"), str(sym, "secondaryKey"));
    cr_assert_eq(mh_store_module_get(store, "d1", "m1", &got, &st), MH_OK);
    cr_assert_str_eq(str(got, "etag"), str(mod, "etag"));
    cr_assert_eq(mh_store_module_list(store, "d1", &list, &st), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    /* devices are listed without their modules */
    cr_assert_eq(mh_store_device_list(store, 100, &list, &st), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    cJSON_Delete(body);
    cJSON_Delete(mod);
    cJSON_Delete(got);
}

Test(modules, mh_store_module_errors_fails)
{
    mh_status st = {0};
    cJSON *out = NULL;
    make_device("d1", "{}");
    cr_assert_eq(mh_store_module_create(store, "nodev", "m1", NULL, &out, &st), MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_eq(mh_store_module_create(store, "d1", "bad id", NULL, &out, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_store_module_create(store, "d1", "", NULL, &out, &st), MH_ERR_ARGUMENT_INVALID);
    cJSON *mismatch = J("{\"moduleId\":\"other\"}");
    cr_assert_eq(mh_store_module_create(store, "d1", "m1", mismatch, &out, &st), MH_ERR_ARGUMENT_INVALID);
    cJSON_Delete(mismatch);
    cr_assert_eq(mh_store_module_create(store, "d1", "m1", NULL, &out, &st), MH_OK);
    cJSON_Delete(out);
    cr_assert_eq(mh_store_module_create(store, "d1", "m1", NULL, &out, &st), MH_ERR_MODULE_EXISTS);
    cr_assert_eq(mh_store_module_get(store, "d1", "m2", &out, &st), MH_ERR_MODULE_NOT_FOUND);
    cr_assert_eq(mh_store_module_get(store, "d2", "m1", &out, &st), MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_eq(mh_store_twin_get(store, "d1/m2", &out, &st), MH_ERR_MODULE_NOT_FOUND);
    cr_assert_eq(mh_store_module_delete(store, "d1", "m1", "\"nope\"", &st), MH_ERR_PRECONDITION);
    cr_assert_eq(mh_store_module_delete(store, "d1", "m1", "*", &st), MH_OK);
    cr_assert_eq(mh_store_module_delete(store, "d1", "m1", NULL, &st), MH_ERR_MODULE_NOT_FOUND);
}

Test(modules, mh_store_module_limit_fails)
{
    mh_status st = {0};
    cJSON *out = NULL;
    char id[16];
    make_device("d1", "{}");
    for (int i = 0; i < MH_MODULES_PER_DEVICE_MAX; i++) {
        snprintf(id, sizeof id, "m%d", i);
        cr_assert_eq(mh_store_module_create(store, "d1", id, NULL, &out, &st), MH_OK);
        cJSON_Delete(out);
    }
    cr_assert_eq(mh_store_module_create(store, "d1", "one-more", NULL, &out, &st), MH_ERR_TOO_MANY_MODULES);
}

Test(modules, module_twin_and_cascade_succeeds)
{
    mh_status st = {0};
    cJSON *out = NULL, *twin = NULL, *ids = NULL;
    make_device("d1", "{}");
    cr_assert_eq(mh_store_module_create(store, "d1", "m1", NULL, &out, &st), MH_OK);
    cJSON_Delete(out);
    cr_assert_eq(mh_store_twin_get(store, "d1/m1", &twin, &st), MH_OK, "%s", st.text);
    cr_assert_str_eq(str(twin, "deviceId"), "d1");
    cr_assert_str_eq(str(twin, "moduleId"), "m1");
    cr_assert_null(cJSON_GetObjectItem(twin, "capabilities"));
    const cJSON *meta = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(twin, "properties"), "desired"), "$metadata");
    cr_assert_str_eq(str(meta, "$lastUpdated"), "0001-01-01T00:00:00Z");
    cJSON_Delete(twin);
    cr_assert_eq(mh_store_module_list(store, "d1", &ids, &st), MH_OK);
    cr_assert_str_eq(str(cJSON_GetArrayItem(ids, 0), "moduleId"), "m1");
    cJSON_Delete(ids);
    cr_assert_eq(mh_store_device_delete(store, "d1", NULL, &st), MH_OK);
    cr_assert_eq(mh_store_twin_get(store, "d1/m1", &twin, &st), MH_ERR_DEVICE_NOT_FOUND);
    make_device("d1", "{}");
    cr_assert_eq(mh_store_module_list(store, "d1", &ids, &st), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(ids), 0, "a re-created device has no modules");
    cJSON_Delete(ids);
}

Test(modules, edge_scopes_and_system_modules_succeeds)
{
    mh_status st = {0};
    cJSON *edge = NULL, *leaf = NULL, *list = NULL, *b;
    b = J("{\"capabilities\":{\"iotEdge\":true}}");
    cr_assert_eq(mh_store_device_create(store, "e1", b, &edge, &st), MH_OK);
    cJSON_Delete(b);
    const char *scope = str(edge, "deviceScope");
    cr_assert_not_null(scope);
    cr_assert_eq(strncmp(scope, "ms-azure-iot-edge://e1-", 23), 0, "%s", scope);
    cr_assert_eq(mh_store_module_list(store, "e1", &list, &st), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(list), 2);
    cr_assert_str_eq(str(cJSON_GetArrayItem(list, 0), "moduleId"), "$edgeAgent");
    cr_assert_str_eq(str(cJSON_GetArrayItem(list, 1), "moduleId"), "$edgeHub");
    cJSON_Delete(list);
    char body[512];
    snprintf(body, sizeof body, "{\"deviceScope\":\"%s\"}", scope);
    b = J(body);
    cr_assert_eq(mh_store_device_create(store, "leaf", b, &leaf, &st), MH_OK);
    cJSON_Delete(b);
    cr_assert_str_eq(str(leaf, "deviceScope"), scope);
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(leaf, "parentScopes"), 0)->valuestring, scope);
    cJSON *changed = NULL;
    b = J("{\"deviceScope\":\"ms-azure-iot-edge://x-1\"}");
    cr_assert_eq(mh_store_device_update(store, "e1", b, "*", &changed, NULL, &st), MH_ERR_ARGUMENT_INVALID);
    cJSON_Delete(b);
    b = J("{\"parentScopes\":[\"a\",\"b\"]}");
    cr_assert_eq(mh_store_device_update(store, "e1", b, "*", &changed, NULL, &st), MH_ERR_ARGUMENT_INVALID);
    cJSON_Delete(b);
    cJSON_Delete(edge);
    cJSON_Delete(leaf);
}

/* A data dir made before modules: the columns are added and the old rows still read. */
Test(upgrade, old_schema_gets_module_columns_succeeds)
{
    char dir[] = "/tmp/mh_modules_test_XXXXXX", path[96];
    sqlite3 *db = NULL;
    mh_status st = {0};
    cJSON *dev = NULL, *out = NULL;
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/mockhub.db", dir);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(
            db,
            "CREATE TABLE devices(id TEXT PRIMARY KEY, generation_id TEXT NOT NULL, etag INTEGER NOT NULL,"
            " status TEXT NOT NULL, status_reason TEXT, status_updated TEXT NOT NULL, auth_type TEXT NOT "
            "NULL,"
            " primary_key TEXT, secondary_key TEXT, primary_thumbprint TEXT, secondary_thumbprint TEXT,"
            " iot_edge INTEGER NOT NULL DEFAULT 0, connection_state TEXT NOT NULL,"
            " connection_state_updated TEXT NOT NULL, last_activity TEXT NOT NULL,"
            " c2d_count INTEGER NOT NULL DEFAULT 0, model_id TEXT NOT NULL DEFAULT '', tags TEXT,"
            " desired TEXT NOT NULL, desired_meta TEXT NOT NULL, desired_version INTEGER NOT NULL,"
            " reported TEXT NOT NULL, reported_meta TEXT NOT NULL, reported_version INTEGER NOT NULL,"
            " twin_etag INTEGER NOT NULL);"
            "INSERT INTO devices VALUES('old', '1', 5, 'enabled', NULL, '0001-01-01T00:00:00Z', 'sas',"
            " 'AAAAAAAAAAAAAAAAAAAAAA==', 'AAAAAAAAAAAAAAAAAAAAAA==', NULL, NULL, 0, 'Disconnected',"
            " '0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z', 0, '', NULL, '{}', '{}', 1, '{}', '{}', 1, 1);"
            "CREATE TABLE telemetry(seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL,"
            " enqueued TEXT NOT NULL, props TEXT NOT NULL, body BLOB NOT NULL);",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(mh_store_open(path, 0, &store), MH_OK);
    cr_assert_eq(mh_store_device_get(store, "old", &dev, &st), MH_OK, "%s", st.text);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(dev, "deviceScope")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(dev, "parentScopes")), 0);
    cr_assert_eq(mh_store_module_create(store, "old", "m1", NULL, &out, &st), MH_OK, "%s", st.text);
    cJSON_Delete(out);
    cJSON_Delete(dev);
    close_store();
    /* opened again: nothing to add, nothing lost */
    cr_assert_eq(mh_store_open(path, 0, &store), MH_OK);
    cr_assert_eq(mh_store_module_get(store, "old", "m1", &out, &st), MH_OK);
    cJSON_Delete(out);
    close_store();
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
