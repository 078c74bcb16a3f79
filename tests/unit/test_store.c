/* Unit tests for store.c: registry, twin counters of addendum 1, metadata, limits leaving the twin
 * unchanged, If-Match, policies, persistence and the read-only connection. SQLite in memory or in
 * a temporary directory. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "store.h"

static mh_store *store;
static char tmpdir[64];
static char dbpath[128];

static void open_memory(void)
{
    cr_assert_eq(mh_store_open(":memory:", 0, &store), MH_OK);
}

static void close_store(void)
{
    mh_store_free(store);
    store = NULL;
}

static void open_file(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mh_store_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/mockhub.db", tmpdir);
    cr_assert_eq(mh_store_open(dbpath, 0, &store), MH_OK);
}

static void close_file(void)
{
    char path[160];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    size_t i;

    close_store();
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", dbpath, suffixes[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static cJSON *J(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "bad test JSON: %s", text);
    return j;
}

static int matches(const char *pattern, const char *text)
{
    regex_t re;
    int rc;

    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    return rc == 0;
}

static void create(const char *id)
{
    cJSON *dev = NULL;
    mh_status st = {0};

    cr_assert_eq(mh_store_device_create(store, id, NULL, &dev, &st), MH_OK, "%s", st.text);
    cJSON_Delete(dev);
}

static cJSON *twin(const char *id)
{
    cJSON *t = NULL;
    mh_status st = {0};

    cr_assert_eq(mh_store_twin_get(store, id, &t, &st), MH_OK, "%s", st.text);
    return t;
}

static char *twin_text(const char *id)
{
    cJSON *t = twin(id);
    char *s = cJSON_PrintUnformatted(t);

    cJSON_Delete(t);
    return s;
}

static const cJSON *path(const cJSON *j, const char *a, const char *b, const char *c)
{
    j = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        j = cJSON_GetObjectItemCaseSensitive(j, b);
    if (c)
        j = cJSON_GetObjectItemCaseSensitive(j, c);
    return j;
}

static const char *str(const cJSON *j, const char *a)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
    cr_assert(cJSON_IsString(v), "member %s is not a string", a);
    return v->valuestring;
}

static double num(const cJSON *j)
{
    cr_assert(cJSON_IsNumber(j));
    return j->valuedouble;
}

/* The counters of a twin: etag, version, desired $version, reported $version. */
typedef struct counters {
    char etag[16];
    double version, desired, reported;
} counters;

static counters count(const char *id)
{
    cJSON *t = twin(id);
    counters c;

    snprintf(c.etag, sizeof c.etag, "%s", str(t, "etag"));
    c.version = num(cJSON_GetObjectItem(t, "version"));
    c.desired = num(path(t, "properties", "desired", "$version"));
    c.reported = num(path(t, "properties", "reported", "$version"));
    cJSON_Delete(t);
    return c;
}

static mh_err patch(const char *id, const char *body, const char *if_match, int replace, cJSON **out_push,
                    mh_status *st)
{
    cJSON *b = J(body), *t = NULL, *push = NULL;
    long v = 0;
    mh_err err = mh_store_twin_update(store, id, b, if_match, replace, &t, &push, &v, st);

    if (err == MH_OK) {
        cr_assert_not_null(t);
        if (push)
            cr_assert_eq(num(cJSON_GetObjectItem(push, "$version")), v);
    }
    cJSON_Delete(b);
    cJSON_Delete(t);
    if (out_push)
        *out_push = push;
    else
        cJSON_Delete(push);
    return err;
}

static void ok_patch(const char *id, const char *body)
{
    mh_status st = {0};
    cr_assert_eq(patch(id, body, NULL, 0, NULL, &st), MH_OK, "%s", st.text);
}

static mh_err report(const char *id, const char *text, long expected, long *out_v, mh_status *st)
{
    return mh_store_twin_report(store, id, text, strlen(text), expected, out_v, st);
}

static void ok_report(const char *id, const char *text)
{
    mh_status st = {0};
    long v = 0;
    cr_assert_eq(report(id, text, -1, &v, &st), MH_OK, "%s", st.text);
}

static void assert_json(const cJSON *got, const char *expect)
{
    cJSON *e = J(expect);
    char *g = cJSON_PrintUnformatted(got);

    cr_assert(cJSON_Compare(got, e, 1), "got %s\nexpected %s", g, expect);
    free(g);
    cJSON_Delete(e);
}

/* ---- registry ---- */

TestSuite(store, .init = open_memory, .fini = close_store);

Test(store, mh_store_device_create_defaults_succeeds)
{
    cJSON *dev = NULL, *auth;
    mh_status st = {0};

    cr_assert_eq(mh_store_device_create(store, "dev1", NULL, &dev, &st), MH_OK, "%s", st.text);
    cr_assert_str_eq(str(dev, "deviceId"), "dev1");
    cr_assert(matches("^[0-9]{18}$", str(dev, "generationId")), "%s", str(dev, "generationId"));
    /* base64 of 9 decimal digits: 12 characters without padding */
    cr_assert(matches("^[A-Za-z0-9+/]{12}$", str(dev, "etag")));
    cr_assert_str_eq(str(dev, "status"), "enabled");
    cr_assert_str_eq(str(dev, "connectionState"), "Disconnected");
    /* AZURE: the create response has never-set times without Z */
    cr_assert_str_eq(str(dev, "connectionStateUpdatedTime"), "0001-01-01T00:00:00");
    cr_assert_str_eq(str(dev, "statusUpdatedTime"), "0001-01-01T00:00:00");
    cr_assert_str_eq(str(dev, "lastActivityTime"), "0001-01-01T00:00:00");
    cr_assert_eq(num(cJSON_GetObjectItem(dev, "cloudToDeviceMessageCount")), 0);
    auth = cJSON_GetObjectItem(dev, "authentication");
    cr_assert_str_eq(str(auth, "type"), "sas");
    cr_assert(matches("^[A-Za-z0-9+/]{43}=$", str(cJSON_GetObjectItem(auth, "symmetricKey"), "primaryKey")));
    cr_assert(
        matches("^[A-Za-z0-9+/]{43}=$", str(cJSON_GetObjectItem(auth, "symmetricKey"), "secondaryKey")));
    cr_assert_str_neq(str(cJSON_GetObjectItem(auth, "symmetricKey"), "primaryKey"),
                      str(cJSON_GetObjectItem(auth, "symmetricKey"), "secondaryKey"));
    cr_assert(cJSON_IsFalse(path(dev, "capabilities", "iotEdge", NULL)));
    cJSON_Delete(dev);
}

Test(store, mh_store_device_create_node_empty_keys_succeeds)
{
    /* what Node's Registry.create sends without authentication */
    cJSON *body = J("{\"deviceId\":\"n1\",\"authentication\":{\"type\":\"sas\",\"symmetricKey\":"
                    "{\"primaryKey\":\"\",\"secondaryKey\":\"\"}}}");
    cJSON *dev = NULL;

    cr_assert_eq(mh_store_device_create(store, "n1", body, &dev, NULL), MH_OK);
    cr_assert_eq(strlen(str(path(dev, "authentication", "symmetricKey", NULL), "primaryKey")), 44);
    cJSON_Delete(body);
    cJSON_Delete(dev);
}

Test(store, mh_store_device_create_given_keys_and_status_succeeds)
{
    cJSON *body =
        J("{\"status\":\"disabled\",\"statusReason\":\"maint\",\"authentication\":{\"symmetricKey\":"
          "{\"primaryKey\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"secondaryKey\":null}}}");
    cJSON *dev = NULL;
    mh_device_auth a;

    cr_assert_eq(mh_store_device_create(store, "k1", body, &dev, NULL), MH_OK);
    cr_assert_str_eq(str(dev, "status"), "disabled");
    cr_assert_str_eq(str(dev, "statusReason"), "maint");
    cr_assert_eq(mh_store_device_auth(store, "k1", &a), MH_OK);
    cr_assert_str_eq(a.primary_key, "AAAAAAAAAAAAAAAAAAAAAA==");
    cr_assert_eq(strlen(a.secondary_key), 44);
    cr_assert_eq(a.enabled, 0);
    cr_assert_eq(a.sas, 1);
    cJSON_Delete(body);
    cJSON_Delete(dev);
}

Test(store, mh_store_device_create_bad_input_fails)
{
    static const char *const bad[] = {
        "{\"status\":\"paused\"}",
        "{\"status\":5}",
        "{\"deviceId\":\"other\"}",
        "{\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"not base64!\"}}}",
        "{\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"AAAA\"}}}", /* 3 bytes: too short */
        "{\"authentication\":{\"symmetricKey\":{\"primaryKey\":"
        "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A="
        "\"}}}", /* 65 bytes: too long */
        "{\"authentication\":{\"type\":\"password\"}}",
        "[1]",
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *body = J(bad[i]), *dev = NULL;
        mh_status st = {0};
        cr_assert_eq(mh_store_device_create(store, "bad1", body, &dev, &st), MH_ERR_ARGUMENT_INVALID, "%s",
                     bad[i]);
        cr_assert_null(dev);
        cJSON_Delete(body);
    }
    cr_assert_eq(mh_store_device_auth(store, "bad1", &(mh_device_auth){0}), MH_ERR_DEVICE_NOT_FOUND);
}

Test(store, mh_store_device_create_duplicate_fails)
{
    cJSON *dev = NULL;
    mh_status st;

    create("dup");
    cr_assert_eq(mh_store_device_create(store, "dup", NULL, &dev, &st), MH_ERR_DEVICE_EXISTS);
    cr_assert_null(dev);
}

Test(store, mh_device_id_check_table_succeeds)
{
    static const struct {
        const char *id;
        int ok;
    } v[] = {{"dev1", 1}, {"a-b.c+d%e_f#g*h?i!j(k)l,m=n@o$p'q", 1}, {"", 0}, {"a/b", 0}, {"a b", 0}, {"é", 0},
             {"x:y", 0}};
    char long_id[130];
    size_t i;

    for (i = 0; i < sizeof v / sizeof v[0]; i++)
        cr_assert_eq(mh_device_id_check(v[i].id, NULL) == MH_OK, v[i].ok, "%s", v[i].id);
    memset(long_id, 'a', 128);
    long_id[128] = '\0';
    cr_assert_eq(mh_device_id_check(long_id, NULL), MH_OK);
    long_id[128] = 'a';
    long_id[129] = '\0';
    cr_assert_eq(mh_device_id_check(long_id, NULL), MH_ERR_ARGUMENT_INVALID);
}

Test(store, mh_store_device_get_times_have_z_succeeds)
{
    cJSON *dev = NULL;
    mh_status st;

    create("g1");
    cr_assert_eq(mh_store_device_get(store, "g1", &dev, &st), MH_OK);
    cr_assert_str_eq(str(dev, "lastActivityTime"), "0001-01-01T00:00:00Z");
    cr_assert_str_eq(str(dev, "statusUpdatedTime"), "0001-01-01T00:00:00Z");
    cJSON_Delete(dev);
    cr_assert_eq(mh_store_device_get(store, "nope", &dev, &st), MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_str_eq(st.text, "nope");
}

/* Decodes a device etag (base64 of decimal) to its number. */
static long long dev_etag_number(const char *etag)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char dec[32] = "";
    size_t i, o = 0;
    unsigned v = 0;
    int bits = 0;

    for (i = 0; etag[i] && etag[i] != '='; i++) {
        v = (v << 6) | (unsigned)(strchr(alpha, etag[i]) - alpha);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dec[o++] = (char)((v >> bits) & 0xff);
        }
    }
    dec[o] = '\0';
    return atoll(dec);
}

Test(store, mh_store_device_update_etag_counter_succeeds)
{
    cJSON *dev = NULL, *body = J("{\"deviceId\":\"u1\",\"status\":\"disabled\",\"statusReason\":\"r\"}");
    char quoted[40];
    long long e0;
    int now_disabled = -1;
    mh_status st = {0};

    cr_assert_eq(mh_store_device_create(store, "u1", NULL, &dev, NULL), MH_OK);
    e0 = dev_etag_number(str(dev, "etag"));
    cr_assert(e0 >= 100000000 && e0 <= 999999999);
    snprintf(quoted, sizeof quoted, "\"%s\"", str(dev, "etag"));
    cJSON_Delete(dev);
    dev = NULL;
    cr_assert_eq(mh_store_device_update(store, "u1", body, quoted, &dev, &now_disabled, &st), MH_OK, "%s",
                 st.text);
    cr_assert_eq(dev_etag_number(str(dev, "etag")), e0 + 1);
    cr_assert_str_eq(str(dev, "status"), "disabled");
    cr_assert_eq(now_disabled, 1);
    cr_assert_str_neq(str(dev, "statusUpdatedTime"), "0001-01-01T00:00:00Z");
    cJSON_Delete(dev);
    dev = NULL;
    /* stale etag: 412 with the hub's text, nothing changes */
    cr_assert_eq(mh_store_device_update(store, "u1", body, quoted, &dev, &now_disabled, &st),
                 MH_ERR_PRECONDITION);
    cr_assert_str_eq(st.text, "PreconditionFailed");
    cr_assert_eq(mh_store_device_get(store, "u1", &dev, NULL), MH_OK);
    cr_assert_eq(dev_etag_number(str(dev, "etag")), e0 + 1);
    cJSON_Delete(dev);
    dev = NULL;
    /* wildcards */
    cr_assert_eq(mh_store_device_update(store, "u1", body, "*", &dev, &now_disabled, NULL), MH_OK);
    cr_assert_eq(now_disabled, 0);
    cJSON_Delete(dev);
    dev = NULL;
    cr_assert_eq(mh_store_device_update(store, "u1", body, "\"*\"", &dev, NULL, NULL), MH_OK);
    cr_assert_eq(dev_etag_number(str(dev, "etag")), e0 + 3);
    cJSON_Delete(dev);
    cJSON_Delete(body);
}

Test(store, mh_store_device_update_keeps_keys_when_empty_succeeds)
{
    cJSON *body = J("{\"deviceId\":\"u2\",\"status\":\"enabled\",\"authentication\":{\"symmetricKey\":"
                    "{\"primaryKey\":\"\",\"secondaryKey\":\"\"}}}");
    cJSON *dev = NULL;
    mh_device_auth before, after;

    create("u2");
    cr_assert_eq(mh_store_device_auth(store, "u2", &before), MH_OK);
    cr_assert_eq(mh_store_device_update(store, "u2", body, "*", &dev, NULL, NULL), MH_OK);
    cr_assert_eq(mh_store_device_auth(store, "u2", &after), MH_OK);
    cr_assert_str_eq(before.primary_key, after.primary_key);
    cr_assert_str_eq(before.secondary_key, after.secondary_key);
    cJSON_Delete(body);
    cJSON_Delete(dev);
}

Test(store, mh_store_device_update_unknown_fails)
{
    cJSON *body = J("{}"), *dev = NULL;
    mh_status st;

    cr_assert_eq(mh_store_device_update(store, "ghost", body, "*", &dev, NULL, &st), MH_ERR_DEVICE_NOT_FOUND);
    cJSON_Delete(body);
}

Test(store, mh_store_device_delete_if_match_succeeds)
{
    cJSON *dev = NULL;
    char quoted[40];
    mh_status st;

    cr_assert_eq(mh_store_device_create(store, "d1", NULL, &dev, NULL), MH_OK);
    snprintf(quoted, sizeof quoted, "\"%s\"", str(dev, "etag"));
    cJSON_Delete(dev);
    cr_assert_eq(mh_store_device_delete(store, "d1", "\"MTIz\"", &st), MH_ERR_PRECONDITION);
    cr_assert_str_eq(st.text, "PreconditionFailed");
    cr_assert_eq(mh_store_device_delete(store, "d1", quoted, &st), MH_OK);
    cr_assert_eq(mh_store_device_delete(store, "d1", NULL, &st), MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_eq(mh_store_twin_get(store, "d1", &dev, &st), MH_ERR_DEVICE_NOT_FOUND);
}

Test(store, mh_store_device_list_ordered_and_top_succeeds)
{
    cJSON *arr = NULL;
    mh_status st;

    create("c");
    create("a");
    create("b");
    cr_assert_eq(mh_store_device_list(store, 2, &arr, &st), MH_OK);
    cr_assert_eq(cJSON_GetArraySize(arr), 2);
    cr_assert_str_eq(str(cJSON_GetArrayItem(arr, 0), "deviceId"), "a");
    cr_assert_str_eq(str(cJSON_GetArrayItem(arr, 1), "deviceId"), "b");
    cJSON_Delete(arr);
    cr_assert_eq(mh_store_device_list(store, 0, &arr, &st), MH_OK); /* out of range: 1000 */
    cr_assert_eq(cJSON_GetArraySize(arr), 3);
    cJSON_Delete(arr);
}

Test(store, mh_store_set_connected_and_reset_succeeds)
{
    cJSON *dev = NULL;

    create("cs");
    cr_assert_eq(mh_store_set_connected(store, "cs", 1), MH_OK);
    cr_assert_eq(mh_store_set_connected(store, "unknown", 1), MH_OK);
    cr_assert_eq(mh_store_device_get(store, "cs", &dev, NULL), MH_OK);
    cr_assert_str_eq(str(dev, "connectionState"), "Connected");
    cr_assert_str_neq(str(dev, "lastActivityTime"), "0001-01-01T00:00:00Z");
    cr_assert_str_neq(str(dev, "connectionStateUpdatedTime"), "0001-01-01T00:00:00Z");
    cJSON_Delete(dev);
    cr_assert_eq(mh_store_reset_connections(store), MH_OK);
    cr_assert_eq(mh_store_device_get(store, "cs", &dev, NULL), MH_OK);
    cr_assert_str_eq(str(dev, "connectionState"), "Disconnected");
    cr_assert_str_neq(str(dev, "lastActivityTime"), "0001-01-01T00:00:00Z"); /* kept after disconnect */
    cJSON_Delete(dev);
    cr_assert_eq(mh_store_set_connected(store, "cs", 1), MH_OK);
    cr_assert_eq(mh_store_set_connected(store, "cs", 0), MH_OK);
    cr_assert_eq(mh_store_device_get(store, "cs", &dev, NULL), MH_OK);
    cr_assert_str_eq(str(dev, "connectionState"), "Disconnected");
    cJSON_Delete(dev);
    cr_assert_eq(mh_store_device_touch(store, "cs"), MH_OK);
}

/* ---- policies ---- */

Test(store, mh_store_policies_init_defaults_succeeds)
{
    static const struct {
        const char *name;
        unsigned rights;
    } v[] = {
        {"iothubowner", MH_RIGHT_REGISTRY_READ | MH_RIGHT_REGISTRY_WRITE | MH_RIGHT_SERVICE_CONNECT |
                            MH_RIGHT_DEVICE_CONNECT},
        {"service", MH_RIGHT_SERVICE_CONNECT},
        {"device", MH_RIGHT_DEVICE_CONNECT},
        {"registryRead", MH_RIGHT_REGISTRY_READ},
        {"registryReadWrite", MH_RIGHT_REGISTRY_READ | MH_RIGHT_REGISTRY_WRITE},
    };
    const char *owner = "bW9ja2h1Yi13ZWxsLWtub3duLWRldmVsb3BtZW50LWtleQ==";
    mh_policy p;
    size_t i;

    cr_assert_eq(mh_store_policies_init(store, owner), MH_OK);
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        cr_assert_eq(mh_store_policy_get(store, v[i].name, &p), MH_OK, "%s", v[i].name);
        cr_assert_str_eq(p.name, v[i].name);
        cr_assert_eq(p.rights, v[i].rights, "%s", v[i].name);
        cr_assert_eq(strlen(p.secondary_key), 44);
    }
    cr_assert_eq(mh_store_policy_get(store, "iothubowner", &p), MH_OK);
    cr_assert_str_eq(p.primary_key, owner);
    cr_assert_eq(mh_store_policy_get(store, "nobody", &p), MH_ERR_NOT_FOUND);
    cr_assert_eq(mh_store_policies_init(store, "not a key"), MH_ERR_ARGUMENT_INVALID);
}

/* ---- twins: new twin and the counters of addendum 1, one rule per test ---- */

Test(store, mh_store_twin_get_new_twin_succeeds)
{
    cJSON *t;
    counters c;

    create("t1");
    c = count("t1");
    cr_assert_str_eq(c.etag, "AAAAAAAAAAE=");
    cr_assert_eq(c.version, 2);
    cr_assert_eq(c.desired, 1);
    cr_assert_eq(c.reported, 1);
    t = twin("t1");
    cr_assert_str_eq(str(t, "deviceId"), "t1");
    cr_assert_str_eq(str(t, "status"), "enabled");
    cr_assert_str_eq(str(t, "connectionState"), "Disconnected");
    cr_assert_str_eq(str(t, "lastActivityTime"), "0001-01-01T00:00:00Z");
    cr_assert_str_eq(str(t, "authenticationType"), "sas");
    cr_assert_str_eq(str(t, "modelId"), "");
    cr_assert(matches("^[A-Za-z0-9+/]{12}$", str(t, "deviceEtag")));
    cr_assert_null(cJSON_GetObjectItem(t, "tags"));
    /* AZURE: new twin metadata is only the root $lastUpdated (no $lastUpdatedVersion) */
    const cJSON *dm = path(t, "properties", "desired", "$metadata");
    cr_assert_eq(cJSON_GetArraySize(dm), 1);
    cr_assert(matches("Z$", str(dm, "$lastUpdated")));
    cr_assert_str_eq(str(dm, "$lastUpdated"),
                     str(path(t, "properties", "reported", "$metadata"), "$lastUpdated"));
    cJSON_Delete(t);
}

Test(store, twin_counter_desired_patch_bumps_desired_and_etag_succeeds)
{
    counters c;

    create("v");
    ok_patch("v", "{\"properties\":{\"desired\":{\"username\":\"x\"}}}");
    c = count("v");
    cr_assert_str_eq(c.etag, "AAAAAAAAAAI=");
    cr_assert_eq(c.version, 3);
    cr_assert_eq(c.desired, 2);
    cr_assert_eq(c.reported, 1);
}

Test(store, twin_counter_noop_desired_patch_still_bumps_succeeds)
{
    counters c;

    create("v");
    ok_patch("v", "{\"properties\":{\"desired\":{\"a\":1}}}");
    ok_patch("v", "{\"properties\":{\"desired\":{\"a\":1}}}");
    c = count("v");
    cr_assert_eq(c.desired, 3);
    cr_assert_str_eq(c.etag, "AAAAAAAAAAM=");
    cr_assert_eq(c.version, 4);
}

Test(store, twin_counter_tags_only_keeps_desired_version_succeeds)
{
    counters c;

    create("v");
    ok_patch("v", "{\"tags\":{\"loc\":\"x\"}}");
    c = count("v");
    cr_assert_eq(c.desired, 1);
    cr_assert_str_eq(c.etag, "AAAAAAAAAAI=");
    cr_assert_eq(c.version, 3);
}

Test(store, twin_counter_tags_and_desired_count_once_succeeds)
{
    counters c;

    create("v");
    ok_patch("v", "{\"tags\":{\"loc\":\"x\"},\"properties\":{\"desired\":{\"a\":1}}}");
    c = count("v");
    cr_assert_eq(c.desired, 2);
    cr_assert_str_eq(c.etag, "AAAAAAAAAAI=");
    cr_assert_eq(c.version, 3);
}

Test(store, twin_counter_reported_patch_keeps_etag_succeeds)
{
    counters c;
    long v = 0;

    create("v");
    cr_assert_eq(report("v", "{\"temperature\":32}", -1, &v, NULL), MH_OK);
    cr_assert_eq(v, 2);
    c = count("v");
    cr_assert_eq(c.reported, 2);
    cr_assert_str_eq(c.etag, "AAAAAAAAAAE=");
    cr_assert_eq(c.version, 3);
    cr_assert_eq(c.desired, 1);
}

Test(store, twin_counter_noop_reported_patch_still_bumps_succeeds)
{
    counters c;

    create("v");
    ok_report("v", "{\"a\":1}");
    ok_report("v", "{\"a\":1}");
    ok_report("v", "{}");
    c = count("v");
    cr_assert_eq(c.reported, 4);
    cr_assert_eq(c.version, 5);
}

Test(store, twin_counter_desired_null_delete_bumps_succeeds)
{
    counters c;

    create("v");
    ok_patch("v", "{\"properties\":{\"desired\":{\"a\":1}}}");
    ok_patch("v", "{\"properties\":{\"desired\":{\"a\":null}}}");
    c = count("v");
    cr_assert_eq(c.desired, 3);
}

Test(store, twin_counter_replace_bumps_desired_succeeds)
{
    mh_status st = {0};
    counters c;

    create("v");
    cr_assert_eq(patch("v", "{\"properties\":{\"desired\":{\"a\":1}}}", NULL, 1, NULL, &st), MH_OK, "%s",
                 st.text);
    c = count("v");
    cr_assert_eq(c.desired, 2);
    cr_assert_str_eq(c.etag, "AAAAAAAAAAI=");
}

Test(store, twin_counter_version_is_etag_plus_reported_succeeds)
{
    counters c;
    int i;

    create("v");
    for (i = 0; i < 5; i++)
        ok_report("v", "{\"n\":1}");
    for (i = 0; i < 3; i++)
        ok_patch("v", "{\"tags\":{\"n\":1}}");
    ok_patch("v", "{\"properties\":{\"desired\":{\"n\":1}}}");
    c = count("v");
    cr_assert_str_eq(c.etag, "AAAAAAAAAAU="); /* 1 + 4 service writes */
    cr_assert_eq(c.reported, 6);
    cr_assert_eq(c.version, 5 + 6);
    cr_assert_eq(c.desired, 2);
}

Test(store, twin_counter_empty_body_changes_nothing_succeeds)
{
    counters c;

    create("v");
    ok_patch("v", "{\"deviceId\":\"v\",\"etag\":\"x\"}");
    c = count("v");
    cr_assert_str_eq(c.etag, "AAAAAAAAAAE=");
    cr_assert_eq(c.desired, 1);
}

/* ---- twin documents ---- */

Test(store, mh_store_twin_update_metadata_shape_succeeds)
{
    cJSON *t;
    const cJSON *dm, *rm;

    create("m");
    ok_patch("m", "{\"properties\":{\"desired\":{\"username\":\"x\",\"o\":{\"p\":1}}}}");
    ok_report("m", "{\"connectivity\":{\"type\":\"cellular\"}}");
    t = twin("m");
    dm = path(t, "properties", "desired", "$metadata");
    cr_assert_eq(num(cJSON_GetObjectItem(dm, "$lastUpdatedVersion")), 2);
    cr_assert_eq(num(path(dm, "username", "$lastUpdatedVersion", NULL)), 2);
    cr_assert_eq(num(path(dm, "o", "p", "$lastUpdatedVersion")), 2);
    cr_assert_str_eq(str(dm, "$lastUpdated"), str(cJSON_GetObjectItem(dm, "username"), "$lastUpdated"));
    rm = path(t, "properties", "reported", "$metadata");
    cr_assert_null(cJSON_GetObjectItem(rm, "$lastUpdatedVersion"));
    cr_assert_null(path(rm, "connectivity", "$lastUpdatedVersion", NULL));
    cr_assert_not_null(path(rm, "connectivity", "type", "$lastUpdated"));
    cr_assert_str_eq(str(path(t, "properties", "desired", NULL), "username"), "x");
    cJSON_Delete(t);
}

Test(store, mh_store_twin_update_patch_push_succeeds)
{
    cJSON *push = NULL;
    mh_status st = {0};

    create("p");
    ok_patch("p", "{\"properties\":{\"desired\":{\"a\":1,\"b\":2}}}");
    cr_assert_eq(patch("p", "{\"properties\":{\"desired\":{\"a\":-1,\"b\":null}}}", NULL, 0, &push, &st),
                 MH_OK);
    assert_json(push, "{\"a\":-1,\"b\":null,\"$version\":3}");
    cJSON_Delete(push);
    push = NULL;
    cr_assert_eq(patch("p", "{\"tags\":{\"x\":1}}", NULL, 0, &push, &st), MH_OK);
    cr_assert_null(push); /* tags-only: no notification */
}

Test(store, mh_store_twin_update_replace_push_succeeds)
{
    cJSON *push = NULL, *t;
    mh_status st = {0};

    create("r");
    ok_patch("r", "{\"tags\":{\"keep\":0},\"properties\":{\"desired\":{\"a\":1,\"b\":2}}}");
    cr_assert_eq(patch("r", "{\"tags\":{\"n\":1},\"properties\":{\"desired\":{\"a\":1,\"c\":100}}}", NULL, 1,
                       &push, &st),
                 MH_OK);
    assert_json(push, "{\"a\":1,\"b\":null,\"c\":100,\"$version\":3}");
    cJSON_Delete(push);
    t = twin("r");
    assert_json(cJSON_GetObjectItem(t, "tags"), "{\"n\":1}");
    cr_assert_null(path(t, "properties", "desired", "b"));
    cr_assert_null(path(t, "properties", "desired", "$metadata")
                       ? cJSON_GetObjectItem(path(t, "properties", "desired", "$metadata"), "b")
                       : NULL);
    cJSON_Delete(t);
}

Test(store, mh_store_twin_update_desired_null_clears_all_succeeds)
{
    cJSON *push = NULL, *t;
    mh_status st = {0};

    create("n");
    ok_patch("n", "{\"properties\":{\"desired\":{\"a\":1,\"b\":{\"c\":2}}}}");
    cr_assert_eq(patch("n", "{\"properties\":{\"desired\":null}}", NULL, 0, &push, &st), MH_OK);
    assert_json(push, "{\"a\":null,\"b\":null,\"$version\":3}");
    cJSON_Delete(push);
    t = twin("n");
    cr_assert_eq(cJSON_GetArraySize(path(t, "properties", "desired", NULL)), 2); /* $metadata, $version */
    cJSON_Delete(t);
}

Test(store, mh_store_twin_update_ignores_read_only_members_succeeds)
{
    cJSON *t;

    create("ro");
    ok_report("ro", "{\"r\":1}");
    ok_patch("ro",
             "{\"deviceId\":\"other\",\"etag\":\"zzz\",\"version\":99,\"properties\":{\"desired\":"
             "{\"u\":1,\"$metadata\":{\"$lastUpdated\":\"x\"},\"$version\":42},\"reported\":{\"r\":2}}}");
    t = twin("ro");
    cr_assert_str_eq(str(t, "deviceId"), "ro");
    cr_assert_eq(num(path(t, "properties", "reported", "r")), 1);
    cr_assert_eq(num(path(t, "properties", "desired", "$version")), 2);
    cr_assert_eq(num(path(t, "properties", "desired", "u")), 1);
    cr_assert_null(path(t, "properties", "desired", "$metadata")
                       ? cJSON_GetObjectItem(path(t, "properties", "desired", "$metadata"), "$metadata")
                       : NULL);
    cJSON_Delete(t);
}

Test(store, mh_store_twin_update_tags_merge_succeeds)
{
    cJSON *t;

    create("tg");
    ok_patch("tg", "{\"tags\":{\"location\":{\"region\":\"US\",\"plant\":\"Redmond43\"}}}");
    ok_patch("tg", "{\"tags\":{\"location\":{\"plant\":null},\"x\":1}}");
    t = twin("tg");
    assert_json(cJSON_GetObjectItem(t, "tags"), "{\"location\":{\"region\":\"US\"},\"x\":1}");
    cJSON_Delete(t);
}

Test(store, mh_store_twin_update_if_match_succeeds)
{
    mh_status st = {0};

    create("e");
    cr_assert_eq(patch("e", "{\"tags\":{\"a\":1}}", "\"AAAAAAAAAAE=\"", 0, NULL, &st), MH_OK, "%s", st.text);
    cr_assert_eq(patch("e", "{\"tags\":{\"a\":2}}", "AAAAAAAAAAI=", 0, NULL, &st), MH_OK, "%s", st.text);
    cr_assert_eq(patch("e", "{\"tags\":{\"a\":3}}", "*", 0, NULL, &st), MH_OK);
    cr_assert_eq(patch("e", "{\"tags\":{\"a\":4}}", "\"*\"", 0, NULL, &st), MH_OK);
}

Test(store, mh_store_twin_update_stale_etag_fails)
{
    mh_status st = {0};
    char *before, *after;

    create("e");
    ok_patch("e", "{\"tags\":{\"a\":1}}");
    before = twin_text("e");
    cr_assert_eq(patch("e", "{\"properties\":{\"desired\":{\"a\":1}}}", "\"AAAAAAAAAAE=\"", 0, NULL, &st),
                 MH_ERR_PRECONDITION);
    cr_assert_str_eq(st.text, "ETag mismatch for device ID 'e'");
    after = twin_text("e");
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

Test(store, mh_store_twin_update_unknown_device_fails)
{
    mh_status st = {0};

    cr_assert_eq(patch("ghost", "{\"tags\":{\"a\":1}}", NULL, 0, NULL, &st), MH_ERR_DEVICE_NOT_FOUND);
    cr_assert_str_eq(st.text, "ghost");
}

/* ---- limits: each violation leaves the stored twin unchanged ---- */

static char *big_string_json(const char *prefix, size_t n, const char *suffix)
{
    size_t len = strlen(prefix) + n + strlen(suffix) + 1;
    char *s = malloc(len);

    strcpy(s, prefix);
    memset(s + strlen(prefix), 'x', n);
    strcpy(s + strlen(prefix) + n, suffix);
    return s;
}

/* n members "kNNN" with 1000-byte strings: about n KB of content. */
static char *many_members_json(const char *prefix, int n, const char *suffix)
{
    size_t cap = strlen(prefix) + (size_t)n * 1020 + strlen(suffix) + 1, pos = 0;
    char *s = malloc(cap);
    int i;

    pos += (size_t)snprintf(s, cap, "%s", prefix);
    for (i = 0; i < n; i++) {
        pos += (size_t)snprintf(s + pos, cap - pos, "%s\"k%03d\":\"", i ? "," : "", i);
        memset(s + pos, 'y', 1000);
        pos += 1000;
        s[pos++] = '"';
    }
    snprintf(s + pos, cap - pos, "%s", suffix);
    return s;
}

static void assert_service_write_rejected(const char *body, const char *text_prefix)
{
    mh_status st = {0};
    char *before, *after;

    before = twin_text("lim");
    cr_assert_eq(patch("lim", body, NULL, 0, NULL, &st), MH_ERR_ARGUMENT_INVALID);
    if (text_prefix)
        cr_assert(strncmp(st.text, text_prefix, strlen(text_prefix)) == 0, "text: %s", st.text);
    after = twin_text("lim");
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

static void assert_report_rejected(const char *payload, mh_err code, const char *text_prefix)
{
    mh_status st = {0};
    char *before, *after;

    before = twin_text("lim");
    cr_assert_eq(report("lim", payload, -1, NULL, &st), code, "%s", st.text);
    if (text_prefix)
        cr_assert(strncmp(st.text, text_prefix, strlen(text_prefix)) == 0, "text: %s", st.text);
    after = twin_text("lim");
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

TestSuite(limits, .init = open_memory, .fini = close_store);

static void lim_setup(void)
{
    create("lim");
    ok_patch("lim", "{\"tags\":{\"t\":1},\"properties\":{\"desired\":{\"d\":1}}}");
    ok_report("lim", "{\"r\":1}");
}

Test(limits, twin_update_value_over_4096_fails)
{
    char *body = big_string_json("{\"properties\":{\"desired\":{\"big\":\"", 4097, "\"}}}");

    lim_setup();
    assert_service_write_rejected(
        body, "Property or Tag value should be maximum 4096 bytes. Error in Property/Tag big");
    free(body);
}

Test(limits, twin_update_tag_value_over_4096_fails)
{
    char *body = big_string_json("{\"tags\":{\"big\":\"", 5000, "\"}}");

    lim_setup();
    assert_service_write_rejected(
        body, "Property or Tag value should be maximum 4096 bytes. Error in Property/Tag big");
    free(body);
}

Test(limits, twin_update_bad_keys_fails)
{
    lim_setup();
    assert_service_write_rejected("{\"properties\":{\"desired\":{\"a.b\":1}}}", "Property name a.b");
    assert_service_write_rejected("{\"properties\":{\"desired\":{\"$x\":1}}}", "Property name $x");
    assert_service_write_rejected("{\"tags\":{\"a b\":1}}", "Property name a b");
    assert_service_write_rejected("{\"tags\":{\"ok\":{\"c\\u0007\":1}}}", "Property name c");
}

Test(limits, twin_update_depth_over_10_fails)
{
    lim_setup();
    assert_service_write_rejected(
        "{\"properties\":{\"desired\":{\"1\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":"
        "{\"8\":{\"9\":{\"10\":{\"11\":{}}}}}}}}}}}}}}",
        "Nested depth of twin property exceeds 10");
}

Test(limits, twin_update_depth_10_succeeds)
{
    lim_setup();
    ok_patch("lim", "{\"properties\":{\"desired\":{\"1\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":"
                    "{\"8\":{\"9\":{\"10\":1}}}}}}}}}}}}");
}

Test(limits, twin_update_integer_out_of_range_fails)
{
    lim_setup();
    assert_service_write_rejected("{\"properties\":{\"desired\":{\"n\":4503599627370496}}}",
                                  "Property n has an out");
}

Test(limits, twin_update_desired_over_32k_fails)
{
    char *first = many_members_json("{\"properties\":{\"desired\":{", 20, "}}}");
    char *second = many_members_json("{\"properties\":{\"desired\":{\"more\":{", 15, "}}}}");

    lim_setup();
    ok_patch("lim", first); /* about 20 KB: fits */
    /* the merged document would be about 35 KB */
    assert_service_write_rejected(second, "Twin properties size ");
    free(first);
    free(second);
}

Test(limits, twin_update_tags_over_8k_fails)
{
    char *body = many_members_json("{\"tags\":{", 9, "}}");

    lim_setup();
    assert_service_write_rejected(body, "Twin tags size ");
    free(body);
}

Test(limits, twin_update_bad_body_fails)
{
    lim_setup();
    assert_service_write_rejected("{\"tags\":[1,2]}", NULL);
    assert_service_write_rejected("{\"properties\":{\"desired\":\"x\"}}", NULL);
}

Test(limits, twin_report_over_32k_fails)
{
    char *first = many_members_json("{", 20, "}");
    char *second = many_members_json("{\"more\":{", 15, "}}");

    lim_setup();
    ok_report("lim", first);
    assert_report_rejected(second, MH_ERR_ARGUMENT_INVALID, "Twin properties size ");
    free(first);
    free(second);
}

/* n members "k0".."k{n-1}" with the JSON value, in {prefix ... suffix}: a body of many small keys. */
static char *many_keys_json(const char *prefix, int n, const char *value, const char *suffix)
{
    size_t cap = strlen(prefix) + (size_t)n * (16 + strlen(value)) + strlen(suffix) + 1, pos = 0;
    char *s = malloc(cap);
    int i;

    pos += (size_t)snprintf(s, cap, "%s", prefix);
    for (i = 0; i < n; i++)
        pos += (size_t)snprintf(s + pos, cap - pos, "%s\"k%d\":%s", i ? "," : "", i, value);
    snprintf(s + pos, cap - pos, "%s", suffix);
    return s;
}

/* A 1 MB body of 90,000 small members took 40 s to merge (quadratic member lookups) under the
 * store lock before being refused for its size: it must be refused before any merging. */
Test(limits, twin_update_many_keys_fails_fast, .timeout = 5)
{
    char *tags = many_keys_json("{\"tags\":{", 90000, "1", "}}");
    char *desired = many_keys_json("{\"properties\":{\"desired\":{", 90000, "1", "}}}");

    lim_setup();
    assert_service_write_rejected(tags, "Twin tags size ");
    assert_service_write_rejected(desired, "Twin properties size ");
    free(tags);
    free(desired);
}

Test(limits, twin_report_many_keys_fails_fast, .timeout = 5)
{
    char *p = many_keys_json("{", 23000, "1", "}");

    lim_setup();
    assert_report_rejected(p, MH_ERR_ARGUMENT_INVALID, "Twin properties size ");
    free(p);
}

/* Deleting many members in one patch stays possible: nulls do not count towards the limit. */
Test(limits, twin_update_many_null_keys_succeeds)
{
    char *set = many_keys_json("{\"properties\":{\"desired\":{", 2000, "1", "}}}");
    char *clear = many_keys_json("{\"properties\":{\"desired\":{", 9000, "null", "}}}");

    lim_setup();
    ok_patch("lim", set);
    ok_patch("lim", clear);
    free(set);
    free(clear);
}

Test(limits, twin_report_value_over_4096_fails)
{
    char *p = big_string_json("{\"big\":\"", 4097, "\"}");

    lim_setup();
    assert_report_rejected(p, MH_ERR_ARGUMENT_INVALID, "Property or Tag value should be maximum 4096 bytes");
    free(p);
}

Test(limits, twin_report_dollar_members_fails)
{
    lim_setup();
    assert_report_rejected("{\"$version\":3,\"a\":1}", MH_ERR_ARGUMENT_INVALID, NULL);
    assert_report_rejected("{\"$metadata\":{}}", MH_ERR_ARGUMENT_INVALID, NULL);
    assert_report_rejected("{\"a\":{\"$x\":1}}", MH_ERR_ARGUMENT_INVALID, NULL);
}

Test(limits, twin_report_not_a_json_object_fails)
{
    static const char *const bad[] = {"{\"a\":", "[1,2]",       "42",          "\"text\"",        "",
                                      "null",    "{\"a\":1} x", "{\"a\":1}{}", "{\"a\":\"\xff\"}"};
    size_t i;

    lim_setup();
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_report_rejected(bad[i], MH_ERR_FORMAT,
                               "Error occured while parsing message payload as UTF-8 JSON object.");
}

Test(limits, twin_report_depth_over_10_fails)
{
    lim_setup();
    assert_report_rejected(
        "{\"1\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":{\"8\":{\"9\":{\"10\":{\"11\":{}}}}}}}}}}}}",
        MH_ERR_ARGUMENT_INVALID, "Nested depth of twin property exceeds 10");
}

/* ---- device side ---- */

Test(store, mh_store_twin_get_properties_capture_succeeds)
{
    char *json = NULL;
    mh_status st;

    create("dp");
    cr_assert_eq(mh_store_twin_get_properties(store, "dp", &json, &st), MH_OK);
    cr_assert_str_eq(json, "{\"desired\":{\"$version\":1},\"reported\":{\"$version\":1}}");
    free(json);
    ok_report("dp", "{\"temperature\":32}");
    cr_assert_eq(mh_store_twin_get_properties(store, "dp", &json, &st), MH_OK);
    /* AZURE: the real capture of a fresh twin after one reported patch */
    cr_assert_str_eq(json, "{\"desired\":{\"$version\":1},\"reported\":{\"temperature\":32,\"$version\":2}}");
    free(json);
    ok_patch("dp", "{\"properties\":{\"desired\":{\"s\":\"v\"}}}");
    cr_assert_eq(mh_store_twin_get_properties(store, "dp", &json, &st), MH_OK);
    cr_assert_str_eq(
        json, "{\"desired\":{\"s\":\"v\",\"$version\":2},\"reported\":{\"temperature\":32,\"$version\":2}}");
    free(json);
    cr_assert_eq(mh_store_twin_get_properties(store, "none", &json, &st), MH_ERR_DEVICE_NOT_FOUND);
}

Test(store, mh_store_twin_report_merge_succeeds)
{
    cJSON *t;

    create("rm");
    ok_report("rm", "{\"a\":1,\"o\":{\"x\":1,\"y\":2}}");
    ok_report("rm", "{\"a\":null,\"o\":{\"x\":3}}");
    t = twin("rm");
    assert_json(path(t, "properties", "reported", "o"), "{\"x\":3,\"y\":2}");
    cr_assert_null(path(t, "properties", "reported", "a"));
    cr_assert_null(path(t, "properties", "reported", "$metadata")
                       ? cJSON_GetObjectItem(path(t, "properties", "reported", "$metadata"), "a")
                       : NULL);
    cr_assert_str_neq(str(t, "lastActivityTime"), "0001-01-01T00:00:00Z");
    cJSON_Delete(t);
}

Test(store, mh_store_twin_report_expected_version_succeeds)
{
    long v = 0;
    mh_status st = {0};
    char *before, *after;

    create("ev");
    cr_assert_eq(report("ev", "{\"a\":1}", 1, &v, &st), MH_OK, "%s", st.text);
    cr_assert_eq(v, 2);
    before = twin_text("ev");
    cr_assert_eq(report("ev", "{\"a\":2}", 1, &v, &st), MH_ERR_PRECONDITION);
    after = twin_text("ev");
    cr_assert_str_eq(before, after);
    cr_assert_eq(report("ev", "{\"a\":2}", 2, &v, &st), MH_OK);
    cr_assert_eq(v, 3);
    free(before);
    free(after);
}

Test(store, mh_store_twin_report_unknown_device_fails)
{
    mh_status st = {0};

    cr_assert_eq(report("ghost", "{\"a\":1}", -1, NULL, &st), MH_ERR_DEVICE_NOT_FOUND);
}

/* ---- files: persistence, read-only connection ---- */

TestSuite(file, .init = open_file, .fini = close_file);

Test(file, mh_store_open_persists_across_reopen_succeeds)
{
    mh_device_auth a1, a2;
    mh_policy p1, p2;
    char *before, *after;

    create("keep");
    ok_patch("keep", "{\"tags\":{\"a\":1},\"properties\":{\"desired\":{\"d\":2}}}");
    ok_report("keep", "{\"r\":3}");
    cr_assert_eq(mh_store_policies_init(store, "AAAAAAAAAAAAAAAAAAAAAA=="), MH_OK);
    cr_assert_eq(mh_store_policy_get(store, "service", &p1), MH_OK);
    cr_assert_eq(mh_store_device_auth(store, "keep", &a1), MH_OK);
    before = twin_text("keep");
    close_store();

    cr_assert_eq(mh_store_open(dbpath, 0, &store), MH_OK);
    /* owner key forced at every start, other policy keys kept */
    cr_assert_eq(mh_store_policies_init(store, "BBBBBBBBBBBBBBBBBBBBBA=="), MH_OK);
    cr_assert_eq(mh_store_policy_get(store, "service", &p2), MH_OK);
    cr_assert_str_eq(p1.primary_key, p2.primary_key);
    cr_assert_eq(mh_store_policy_get(store, "iothubowner", &p2), MH_OK);
    cr_assert_str_eq(p2.primary_key, "BBBBBBBBBBBBBBBBBBBBBA==");
    cr_assert_eq(mh_store_device_auth(store, "keep", &a2), MH_OK);
    cr_assert_str_eq(a1.primary_key, a2.primary_key);
    after = twin_text("keep");
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

Test(file, mh_store_open_readonly_sees_later_writes_succeeds)
{
    mh_store *ro = NULL;
    mh_device_auth a;
    cJSON *body = J("{\"status\":\"disabled\"}"), *dev = NULL;

    create("first");
    cr_assert_eq(mh_store_open(dbpath, MH_STORE_READONLY, &ro), MH_OK);
    cr_assert_eq(mh_store_device_auth(ro, "first", &a), MH_OK);
    cr_assert_eq(a.enabled, 1);
    cr_assert_eq(mh_store_device_auth(ro, "later", &a), MH_ERR_DEVICE_NOT_FOUND);
    create("later");
    cr_assert_eq(mh_store_device_auth(ro, "later", &a), MH_OK);
    cr_assert_eq(mh_store_device_update(store, "first", body, "*", &dev, NULL, NULL), MH_OK);
    cr_assert_eq(mh_store_device_auth(ro, "first", &a), MH_OK);
    cr_assert_eq(a.enabled, 0);
    /* the read-only store refuses writes */
    cr_assert_neq(mh_store_set_connected(ro, "first", 1), MH_OK);
    cJSON_Delete(body);
    cJSON_Delete(dev);
    mh_store_free(ro);
}

Test(file, mh_store_open_readonly_missing_file_fails)
{
    mh_store *ro = NULL;

    cr_assert_neq(mh_store_open("/nonexistent-dir/x.db", MH_STORE_READONLY, &ro), MH_OK);
    cr_assert_null(ro);
}

Test(store, mh_store_session_subs_set_get_and_device_delete_succeeds)
{
    unsigned subs = 99;
    create("sess1");
    cr_assert_eq(mh_store_session_subs_get(store, "sess1", &subs), MH_OK);
    cr_assert_eq(subs, 0u, "no session recorded yet");
    cr_assert_eq(mh_store_session_subs_set(store, "sess1", 3), MH_OK);
    cr_assert_eq(mh_store_session_subs_set(store, "sess1", 1), MH_OK); /* overwrite, not a second row */
    cr_assert_eq(mh_store_session_subs_get(store, "sess1", &subs), MH_OK);
    cr_assert_eq(subs, 1u);
    cr_assert_eq(mh_store_session_subs_set(store, "sess1", 0), MH_OK);
    cr_assert_eq(mh_store_session_subs_get(store, "sess1", &subs), MH_OK);
    cr_assert_eq(subs, 0u);
    /* deleting the device deletes its session record: a new device of that id starts clean */
    cr_assert_eq(mh_store_session_subs_set(store, "sess1", 2), MH_OK);
    cr_assert_eq(mh_store_device_delete(store, "sess1", NULL, NULL), MH_OK);
    create("sess1");
    cr_assert_eq(mh_store_session_subs_get(store, "sess1", &subs), MH_OK);
    cr_assert_eq(subs, 0u);
}

/* AZURE: keys are base64 of 16..64 bytes; the longest one works end to end (auth lookup included). */
Test(store, mh_store_device_create_64_byte_key_succeeds)
{
    static const char key[] =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
    cJSON *
        body = J(
           "{\"authentication\":{\"symmetricKey\":{\"primaryKey\":"
           "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\"}}}"),
       *dev = NULL;
    mh_status st = {0};
    mh_device_auth auth;
    cr_assert_eq(mh_store_device_create(store, "longkey", body, &dev, &st), MH_OK, "%s", st.text);
    cr_assert_eq(mh_store_device_auth(store, "longkey", &auth), MH_OK);
    cr_assert_str_eq(auth.primary_key, key);
    cJSON_Delete(body);
    cJSON_Delete(dev);
}

/* A replace is a merge into nothing for tags too: a member named twice is stored once (its last
 * value), so a later null patch deletes it, and null members are dropped. */
Test(store, mh_store_twin_update_replace_tags_duplicate_names_succeeds)
{
    mh_status st = {0};
    create("duptags");
    cr_assert_eq(patch("duptags", "{\"tags\":{\"a\":1,\"a\":2,\"gone\":null,\"b\":{\"c\":1,\"c\":3}}}", NULL,
                       1, NULL, &st),
                 MH_OK, "%s", st.text);
    cJSON *t = twin("duptags");
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "tags"));
    cr_assert_str_eq(text, "{\"a\":2,\"b\":{\"c\":3}}");
    free(text);
    cJSON_Delete(t);
    ok_patch("duptags", "{\"tags\":{\"a\":null}}");
    t = twin("duptags");
    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "tags"));
    cr_assert_str_eq(text, "{\"b\":{\"c\":3}}");
    free(text);
    cJSON_Delete(t);
}

/* cJSON would cut "x\u0000y" to "x": refused, nothing stored. */
Test(store, mh_store_twin_report_nul_escape_fails)
{
    mh_status st = {0};
    long v = 0;
    create("nul1");
    char *before = twin_text("nul1");
    cr_assert_eq(report("nul1", "{\"a\":\"x\\u0000y\"}", -1, &v, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert(strstr(st.text, "NUL") != NULL, "%s", st.text);
    char *after = twin_text("nul1");
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
}
