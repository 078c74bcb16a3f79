/* Unit tests for mockhub/daemon/bulk.c: parsing a POST /devices body (the whole-call refusals),
 * the import modes, and applying entries to a ":memory:" store, where a failing entry does not
 * stop the others and kicks follow disables and deletes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "store.h"

static mh_store *store;
static char kicked[512];

static void open_store(void)
{
    cr_assert_eq(mh_store_open(":memory:", 0, &store), MH_OK);
    kicked[0] = '\0';
}

static void close_store(void)
{
    mh_store_free(store);
    store = NULL;
}

TestSuite(bulk, .init = open_store, .fini = close_store);

static void on_kick(void *ctx, const char *id, int forget)
{
    (void)ctx;
    char one[200];
    snprintf(one, sizeof one, "%s%s:%d", kicked[0] ? "," : "", id, forget);
    strncat(kicked, one, sizeof kicked - strlen(kicked) - 1);
}

static mh_err parse(const char *body, mh_bulk_request *out, mh_status *st)
{
    return mh_bulk_parse(body, strlen(body), out, st);
}

/* Applies body and returns the result as compact JSON (caller frees). */
static char *apply(const char *body)
{
    mh_bulk_request req = {0};
    mh_status st = {0};
    cr_assert_eq(parse(body, &req, &st), MH_OK, "%s", st.text);
    mh_bulk_env env = {.store = store, .kick = on_kick};
    cJSON *res = mh_bulk_apply(&env, &req);
    cr_assert_not_null(res);
    char *text = cJSON_PrintUnformatted(res);
    cJSON_Delete(res);
    mh_bulk_request_cleanup(&req);
    return text;
}

static void create(const char *id)
{
    mh_status st = {0};
    cJSON *dev = NULL;
    cr_assert_eq(mh_store_device_create(store, id, NULL, &dev, &st), MH_OK, "%s", st.text);
    cJSON_Delete(dev);
}

static int exists(const char *id)
{
    mh_status st = {0};
    cJSON *dev = NULL;
    mh_err err = mh_store_device_get(store, id, &dev, &st);
    cJSON_Delete(dev);
    return err == MH_OK;
}

/* The device etag as the REST API renders it. */
static void etag_of(const char *id, char *out, size_t size)
{
    mh_status st = {0};
    cJSON *dev = NULL;
    cr_assert_eq(mh_store_device_get(store, id, &dev, &st), MH_OK);
    snprintf(out, size, "%s", cJSON_GetObjectItem(dev, "etag")->valuestring);
    cJSON_Delete(dev);
}

static const char *status_of(const char *id, char *buf, size_t size)
{
    mh_status st = {0};
    cJSON *dev = NULL;
    cr_assert_eq(mh_store_device_get(store, id, &dev, &st), MH_OK);
    snprintf(buf, size, "%s", cJSON_GetObjectItem(dev, "status")->valuestring);
    cJSON_Delete(dev);
    return buf;
}

Test(bulk, mh_bulk_mode_parse_names_succeeds)
{
    static const struct {
        const char *text;
        mh_bulk_mode mode;
    } cases[] = {
        {"create", MH_BULK_CREATE},
        {"Create", MH_BULK_CREATE},
        {"createOrUpdate", MH_BULK_CREATE_OR_UPDATE},
        {"Update", MH_BULK_UPDATE},
        {"UpdateIfMatchETag", MH_BULK_UPDATE_IF_MATCH},
        {"createOrUpdateIfMatchETag", MH_BULK_CREATE_OR_UPDATE_IF_MATCH},
        {"delete", MH_BULK_DELETE},
        {"DeleteIfMatchETag", MH_BULK_DELETE_IF_MATCH},
        {"updateTwin", MH_BULK_UPDATE_TWIN},
        {"updateTwinIfMatchETag", MH_BULK_UPDATE_TWIN_IF_MATCH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mh_bulk_mode m = (mh_bulk_mode)-1;
        cr_expect(mh_bulk_mode_parse(cases[i].text, &m), "%s", cases[i].text);
        cr_expect_eq(m, cases[i].mode, "%s", cases[i].text);
    }
}

Test(bulk, mh_bulk_mode_parse_unknown_fails)
{
    mh_bulk_mode m = MH_BULK_CREATE;
    cr_expect(!mh_bulk_mode_parse("upsert", &m));
    cr_expect(!mh_bulk_mode_parse("", &m));
    cr_expect(!mh_bulk_mode_parse("create ", &m));
    cr_expect(!mh_bulk_mode_parse(NULL, &m));
    cr_expect_eq(m, MH_BULK_CREATE);
}

struct parse_err {
    const char *body;
    mh_err code;
    const char *text; /* a part of the error text */
};

Test(bulk, mh_bulk_parse_whole_call_errors_fails)
{
    static const struct parse_err cases[] = {
        {"", MH_ERR_ARGUMENT_NULL, "empty"},
        {"  ", MH_ERR_ARGUMENT_NULL, "empty"},
        {"null", MH_ERR_ARGUMENT_NULL, "null"},
        {"[{\"id\":\"a\"}", MH_ERR_FORMAT, "not valid JSON"},
        {"[] x", MH_ERR_FORMAT, "not valid JSON"},
        {"{\"id\":\"a\"}", MH_ERR_ARGUMENT_INVALID, "JSON array"},
        {"[]", MH_ERR_ARGUMENT_INVALID, "empty"},
        {"[1]", MH_ERR_ARGUMENT_INVALID, "Entry 0"},
        {"[{\"id\":\"a\"},{\"deviceId\":\"b\"}]", MH_ERR_ARGUMENT_INVALID,
         "Entry 1 of the device list has no"},
        {"[{\"id\":7}]", MH_ERR_ARGUMENT_INVALID, "no device id"},
        {"[{\"id\":\"a\",\"importMode\":\"upsert\"}]", MH_ERR_ARGUMENT_INVALID, "importMode 'upsert'"},
        {"[{\"id\":\"a\",\"importMode\":3}]", MH_ERR_ARGUMENT_INVALID, "must be a string"},
        {"[{\"id\":\"a\",\"eTag\":1}]", MH_ERR_ARGUMENT_INVALID, "eTag"},
        {"[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"a\",\"importMode\":\"delete\"}]", MH_ERR_DEFINED_TWICE,
         "'a' is defined more than once"},
        {"[{\"id\":\"a\",\"moduleId\":\"m\"},{\"id\":\"a\",\"moduleId\":\"m\"}]", MH_ERR_DEFINED_TWICE,
         "Module 'a/m' is defined more than once"},
        {"[{\"id\":\"a\",\"moduleId\":1}]", MH_ERR_ARGUMENT_INVALID, "moduleId"},
        {"[{\"id\":\"a\\u0000b\"}]", MH_ERR_ARGUMENT_INVALID, "NUL"},
        {"[{\"id\":\"a\",\"properties\":[1]}]", MH_ERR_ARGUMENT_INVALID, "properties"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mh_bulk_request req = {0};
        mh_status st = {0};
        cr_expect_eq(parse(cases[i].body, &req, &st), cases[i].code, "case %zu: %s", i, st.text);
        cr_expect(strstr(st.text, cases[i].text) != NULL, "case %zu: %s", i, st.text);
        cr_expect_null(req.ops);
        cr_expect_null(req.doc);
    }
}

Test(bulk, mh_bulk_parse_over_100_entries_fails)
{
    char *body = malloc(101 * 32 + 8);
    size_t n = 0;
    body[n++] = '[';
    for (int i = 0; i < 101; i++)
        n += (size_t)sprintf(body + n, "%s{\"id\":\"d%d\"}", i ? "," : "", i);
    body[n++] = ']';
    body[n] = '\0';
    mh_bulk_request req = {0};
    mh_status st = {0};
    cr_expect_eq(parse(body, &req, &st), MH_ERR_TOO_MANY_DEVICES);
    cr_expect(strstr(st.text, "101") != NULL, "%s", st.text);
    /* 100 is the maximum, not over it */
    char *last = strrchr(body, ',');
    strcpy(last, "]");
    cr_expect_eq(parse(body, &req, &st), MH_OK, "%s", st.text);
    cr_expect_eq(req.n, 100);
    mh_bulk_request_cleanup(&req);
    free(body);
}

Test(bulk, mh_bulk_parse_entries_succeeds)
{
    mh_bulk_request req = {0};
    mh_status st = {0};
    cr_assert_eq(
        parse("[{\"id\":\"a\"},{\"id\":\"b\",\"importMode\":\"deleteIfMatchETag\",\"eTag\":\"MTIz\"},"
              "{\"id\":\"c\",\"importMode\":null,\"moduleId\":null,\"tags\":{\"t\":1}}]",
              &req, &st),
        MH_OK, "%s", st.text);
    cr_assert_eq(req.n, 3);
    cr_expect_str_eq(req.ops[0].id, "a");
    cr_expect_eq(req.ops[0].mode, MH_BULK_CREATE_OR_UPDATE); /* the default */
    cr_expect_null(req.ops[0].etag);
    cr_expect_null(req.ops[0].twin);
    cr_expect_eq(req.ops[1].mode, MH_BULK_DELETE_IF_MATCH);
    cr_expect_str_eq(req.ops[1].etag, "MTIz");
    cr_expect_eq(req.ops[2].mode, MH_BULK_CREATE_OR_UPDATE);
    cr_assert_not_null(req.ops[2].twin);
    char *twin = cJSON_PrintUnformatted(req.ops[2].twin);
    cr_expect_str_eq(twin, "{\"tags\":{\"t\":1}}");
    free(twin);
    mh_bulk_request_cleanup(&req);
}

Test(bulk, mh_bulk_apply_all_good_succeeds)
{
    char *res = apply("[{\"id\":\"b1\",\"importMode\":\"create\"},{\"id\":\"b2\",\"importMode\":\"create\","
                      "\"status\":\"disabled\"}]");
    cr_expect_str_eq(res, "{\"isSuccessful\":true,\"errors\":[],\"warnings\":[]}");
    free(res);
    char buf[32];
    cr_expect(exists("b1"));
    cr_expect_str_eq(status_of("b2", buf, sizeof buf), "disabled");
    cr_expect_str_eq(kicked, "");
}

Test(bulk, mh_bulk_apply_bad_entries_do_not_stop_good_ones_succeeds)
{
    create("old");
    char *res = apply("[{\"id\":\"new1\",\"importMode\":\"create\"},"
                      "{\"id\":\"old\",\"importMode\":\"create\"},"
                      "{\"id\":\"bad id!\",\"importMode\":\"create\"},"
                      "{\"id\":\"new2\",\"importMode\":\"create\",\"status\":\"sleeping\"},"
                      "{\"id\":\"ghost\",\"importMode\":\"delete\"},"
                      "{\"id\":\"ghost2\",\"importMode\":\"Update\"},"
                      "{\"id\":\"new3\",\"importMode\":\"create\"}]");
    cJSON *doc = cJSON_Parse(res);
    cr_assert_not_null(doc);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(doc, "isSuccessful")));
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "warnings")), 0);
    const cJSON *errors = cJSON_GetObjectItem(doc, "errors");
    static const char *const want[][2] = {
        {"old", "DeviceAlreadyExists"}, {"bad id!", "ArgumentInvalid"}, {"new2", "ArgumentInvalid"},
        {"ghost", "DeviceNotFound"},    {"ghost2", "DeviceNotFound"},
    };
    cr_assert_eq(cJSON_GetArraySize(errors), 5, "%s", res);
    for (int i = 0; i < 5; i++) {
        const cJSON *e = cJSON_GetArrayItem(errors, i);
        cr_expect_str_eq(cJSON_GetObjectItem(e, "deviceId")->valuestring, want[i][0]);
        cr_expect_str_eq(cJSON_GetObjectItem(e, "errorCode")->valuestring, want[i][1]);
        cr_expect(cJSON_IsString(cJSON_GetObjectItem(e, "errorStatus")));
    }
    cr_expect(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 0), "errorStatus")->valuestring,
                     "already registered") != NULL);
    cJSON_Delete(doc);
    free(res);
    cr_expect(exists("new1"));
    cr_expect(exists("new3"));
    cr_expect(!exists("new2"));
    cr_expect(!exists("ghost2")); /* update does not create */
}

Test(bulk, mh_bulk_apply_etags_succeeds)
{
    char e1[32], e2[32], e3[32], body[512], buf[32];
    create("u1");
    create("u2");
    create("u3");
    etag_of("u1", e1, sizeof e1);
    etag_of("u2", e2, sizeof e2);
    etag_of("u3", e3, sizeof e3);
    /* u1: matching etag; u2: stale etag; u3: no etag in an IfMatchETag mode */
    snprintf(
        body, sizeof body,
        "[{\"id\":\"u1\",\"importMode\":\"updateIfMatchETag\",\"eTag\":\"%s\",\"status\":\"disabled\"},"
        "{\"id\":\"u2\",\"importMode\":\"updateIfMatchETag\",\"eTag\":\"AAAA%s\",\"status\":\"disabled\"},"
        "{\"id\":\"u3\",\"importMode\":\"UpdateIfMatchETag\",\"status\":\"disabled\"}]",
        e1, e2);
    char *res = apply(body);
    cJSON *doc = cJSON_Parse(res);
    const cJSON *errors = cJSON_GetObjectItem(doc, "errors");
    cr_assert_eq(cJSON_GetArraySize(errors), 2, "%s", res);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 0), "deviceId")->valuestring, "u2");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 0), "errorCode")->valuestring,
                     "PreconditionFailed");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 1), "deviceId")->valuestring, "u3");
    cJSON_Delete(doc);
    free(res);
    cr_expect_str_eq(status_of("u1", buf, sizeof buf), "disabled");
    cr_expect_str_eq(status_of("u2", buf, sizeof buf), "enabled");
    cr_expect_str_eq(kicked, "u1:0"); /* disabled: the connection is dropped, the session kept */

    /* update ignores a stale etag; deleteIfMatchETag needs the current one; delete ignores it */
    kicked[0] = '\0';
    etag_of("u1", e1, sizeof e1);
    snprintf(body, sizeof body,
             "[{\"id\":\"u2\",\"importMode\":\"update\",\"eTag\":\"stale\",\"status\":\"disabled\"},"
             "{\"id\":\"u1\",\"importMode\":\"deleteIfMatchETag\",\"eTag\":\"stale\"},"
             "{\"id\":\"u3\",\"importMode\":\"delete\",\"eTag\":\"stale\"}]");
    res = apply(body);
    doc = cJSON_Parse(res);
    errors = cJSON_GetObjectItem(doc, "errors");
    cr_assert_eq(cJSON_GetArraySize(errors), 1, "%s", res);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 0), "deviceId")->valuestring, "u1");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 0), "errorCode")->valuestring,
                     "PreconditionFailed");
    cJSON_Delete(doc);
    free(res);
    cr_expect_str_eq(status_of("u2", buf, sizeof buf), "disabled");
    cr_expect(exists("u1"));
    cr_expect(!exists("u3"));
    cr_expect_str_eq(kicked, "u2:0,u3:1");

    kicked[0] = '\0';
    snprintf(body, sizeof body, "[{\"id\":\"u1\",\"importMode\":\"deleteIfMatchETag\",\"eTag\":\"%s\"}]", e1);
    res = apply(body);
    cr_expect_str_eq(res, "{\"isSuccessful\":true,\"errors\":[],\"warnings\":[]}");
    free(res);
    cr_expect(!exists("u1"));
    cr_expect_str_eq(kicked, "u1:1");
}

Test(bulk, mh_bulk_apply_create_or_update_succeeds)
{
    char buf[32];
    create("c1");
    char *res =
        apply("[{\"id\":\"c1\",\"status\":\"disabled\"},{\"id\":\"c2\",\"importMode\":\"createOrUpdate\"}]");
    cr_expect_str_eq(res, "{\"isSuccessful\":true,\"errors\":[],\"warnings\":[]}");
    free(res);
    cr_expect_str_eq(status_of("c1", buf, sizeof buf), "disabled");
    cr_expect(exists("c2"));
    cr_expect_str_eq(kicked, "c1:0");
}

Test(bulk, mh_bulk_apply_twin_sections_succeeds)
{
    mh_status st = {0};
    cJSON *twin = NULL;
    char *res = apply("[{\"id\":\"t1\",\"importMode\":\"create\",\"tags\":{\"site\":\"north\"},"
                      "\"properties\":{\"desired\":{\"rate\":5},\"reported\":{\"ignored\":1}}}]");
    cr_expect_str_eq(res, "{\"isSuccessful\":true,\"errors\":[],\"warnings\":[]}");
    free(res);
    cr_assert_eq(mh_store_twin_get(store, "t1", &twin, &st), MH_OK);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(twin, "tags"), "site")->valuestring, "north");
    const cJSON *props = cJSON_GetObjectItem(twin, "properties");
    cr_expect_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(props, "desired"), "rate")->valueint, 5);
    cr_expect_null(cJSON_GetObjectItem(cJSON_GetObjectItem(props, "reported"), "ignored"));
    cJSON_Delete(twin);

    /* updateTwin writes the twin only; a stale twinETag fails the IfMatchETag form */
    res = apply("[{\"id\":\"t1\",\"importMode\":\"updateTwin\",\"tags\":{\"site\":\"south\"}},"
                "{\"id\":\"nobody\",\"importMode\":\"updateTwin\",\"tags\":{\"site\":\"x\"}}]");
    cr_expect(strstr(res, "\"deviceId\":\"nobody\",\"errorCode\":\"DeviceNotFound\"") != NULL, "%s", res);
    free(res);
    res = apply("[{\"id\":\"t1\",\"importMode\":\"updateTwinIfMatchETag\",\"twinETag\":\"AAAAAAAAAAE=\","
                "\"tags\":{\"site\":\"west\"}}]");
    cr_expect(strstr(res, "\"errorCode\":\"PreconditionFailed\"") != NULL, "%s", res);
    free(res);
    cr_assert_eq(mh_store_twin_get(store, "t1", &twin, &st), MH_OK);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(twin, "tags"), "site")->valuestring, "south");
    cJSON_Delete(twin);
}

Test(bulk, mh_bulk_apply_module_entries_succeeds)
{
    mh_status st = {0};
    cJSON *mod = NULL;
    create("md");
    /* a device and its module in one call: entries apply in order */
    char *res = apply("[{\"id\":\"md2\",\"importMode\":\"create\"},"
                      "{\"id\":\"md2\",\"moduleId\":\"m1\",\"importMode\":\"create\",\"tags\":{\"k\":1}},"
                      "{\"id\":\"md\",\"moduleId\":\"m1\",\"importMode\":\"create\",\"managedBy\":\"me\"},"
                      "{\"id\":\"md\",\"moduleId\":\"m2\"},"
                      "{\"id\":\"nodev\",\"moduleId\":\"m1\",\"importMode\":\"create\"},"
                      "{\"id\":\"md\",\"moduleId\":\"bad/id\",\"importMode\":\"create\"}]");
    cJSON *doc = cJSON_Parse(res);
    const cJSON *errors = cJSON_GetObjectItem(doc, "errors");
    cr_assert_eq(cJSON_GetArraySize(errors), 2, "%s", res);
    const cJSON *e0 = cJSON_GetArrayItem(errors, 0);
    cr_expect_str_eq(cJSON_GetObjectItem(e0, "deviceId")->valuestring, "nodev");
    cr_expect_str_eq(cJSON_GetObjectItem(e0, "moduleId")->valuestring, "m1");
    cr_expect_str_eq(cJSON_GetObjectItem(e0, "errorCode")->valuestring, "DeviceNotFound");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 1), "errorCode")->valuestring,
                     "ArgumentInvalid");
    cJSON_Delete(doc);
    free(res);
    cr_assert_eq(mh_store_module_get(store, "md", "m1", &mod, &st), MH_OK, "%s", st.text);
    cr_expect_str_eq(cJSON_GetObjectItem(mod, "managedBy")->valuestring, "me");
    cJSON_Delete(mod);
    cr_assert_eq(mh_store_module_get(store, "md", "m2", &mod, &st), MH_OK, "%s", st.text);
    cJSON_Delete(mod);
    cJSON *twin = NULL;
    cr_assert_eq(mh_store_twin_get(store, "md2/m1", &twin, &st), MH_OK, "%s", st.text);
    cr_expect_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(twin, "tags"), "k")->valueint, 1);
    cJSON_Delete(twin);
    cr_expect_str_eq(kicked, "");

    /* module create on an existing module fails; delete drops the module's connection; deleting the
     * device drops its own and its remaining modules' */
    res = apply("[{\"id\":\"md\",\"moduleId\":\"m1\",\"importMode\":\"create\"},"
                "{\"id\":\"md\",\"moduleId\":\"m2\",\"importMode\":\"delete\"},"
                "{\"id\":\"md\",\"moduleId\":\"m9\",\"importMode\":\"delete\"}]");
    cr_expect(strstr(res, "\"moduleId\":\"m1\",\"errorCode\":\"ModuleAlreadyExistsOnDevice\"") != NULL, "%s",
              res);
    cr_expect(strstr(res, "\"moduleId\":\"m9\",\"errorCode\":\"ModuleNotFound\"") != NULL, "%s", res);
    free(res);
    cr_expect_str_eq(kicked, "md/m2:1");
    kicked[0] = '\0';
    res = apply("[{\"id\":\"md\",\"importMode\":\"delete\"}]");
    cr_expect_str_eq(res, "{\"isSuccessful\":true,\"errors\":[],\"warnings\":[]}");
    free(res);
    /* one kick for the device: the plugin drops its modules' connections with it (modules_mqtt.test.js
     * and bulk.test.js see them go) */
    cr_expect_str_eq(kicked, "md:1");
    cr_expect_eq(mh_store_module_get(store, "md", "m1", &mod, &st), MH_ERR_DEVICE_NOT_FOUND);
}
