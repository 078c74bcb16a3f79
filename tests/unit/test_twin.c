/* Unit tests for twin.c: validation rules and texts, size counting, merge patch with $metadata,
 * replace notifications, service body stripping, etag formats. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "twin.h"
#include "utf8.h"

#define T1 "2020-07-28T22:17:23.785061Z"
#define T2 "2020-07-28T22:18:00.1Z"

static cJSON *J(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "bad test JSON: %s", text);
    return j;
}

static void assert_json(const cJSON *got, const char *expect)
{
    cJSON *e = J(expect);
    char *g = cJSON_PrintUnformatted(got);

    cr_assert(cJSON_Compare(got, e, 1), "got %s\nexpected %s", g, expect);
    free(g);
    cJSON_Delete(e);
}

/* Builds {"k0":{"k1":{...{"kN-1": 1}}}} with n nested objects below the root. */
static char *nested(int n)
{
    size_t cap = (size_t)n * 16 + 16, pos = 0;
    char *s = malloc(cap);
    int i;

    pos += (size_t)snprintf(s + pos, cap - pos, "{");
    for (i = 0; i < n; i++)
        pos += (size_t)snprintf(s + pos, cap - pos, "\"k%d\":%s", i, i == n - 1 ? "1" : "{");
    for (i = 0; i < n; i++)
        pos += (size_t)snprintf(s + pos, cap - pos, "}");
    return s;
}

/* ---- validation (table-driven) ---- */

static const struct {
    const char *json;
    int allow_null;
    int ok;
    const char *text; /* expected text prefix when failing */
} validate_cases[] = {
    {"{}", 0, 1, NULL},
    {"{\"a\":1,\"b\":\"x\",\"c\":true,\"d\":1.5,\"e\":[1,\"2\",{\"f\":3}]}", 0, 1, NULL},
    {"{\"a\":null}", 1, 1, NULL},
    {"{\"a\":null}", 0, 0, "Property a has a null value"},
    {"{\"a.b\":1}", 1, 0, "Property name a.b contains invalid character '.'"},
    {"{\"$a\":1}", 1, 0, "Property name $a contains invalid character '$'"},
    {"{\"a b\":1}", 1, 0, "Property name a b contains invalid character ' '"},
    {"{\"a\\u0001\":1}", 1, 0, "Property name a"},
    {"{\"a\\u0085\":1}", 1, 0, "Property name a"},
    {"{\"x\":{\"a.b\":1}}", 1, 0, "Property name a.b contains invalid character '.'"},
    {"{\"a\":4503599627370495}", 0, 1, NULL},
    {"{\"a\":-4503599627370496}", 0, 1, NULL},
    {"{\"a\":4503599627370496}", 0, 0, "Property a has an out of bound value"},
    {"{\"a\":-4503599627370497}", 0, 0, "Property a has an out of bound value"},
    {"{\"a\":[4503599627370496]}", 0, 0, "Property a has an out of bound value"},
    {"{\"a\":1e300}", 0, 0, "Property a has an out of bound value"},
    {"{\"a\":0.000001}", 0, 1, NULL},
    {"[]", 0, 0, "Twin section must be a JSON object"},
};

Test(twin, mh_twin_validate_table_succeeds)
{
    size_t i;

    for (i = 0; i < sizeof validate_cases / sizeof validate_cases[0]; i++) {
        cJSON *doc = J(validate_cases[i].json);
        mh_status st = {0};
        mh_err err = mh_twin_validate(doc, validate_cases[i].allow_null, &st);
        if (validate_cases[i].ok) {
            cr_assert_eq(err, MH_OK, "case %zu %s: %s", i, validate_cases[i].json, st.text);
        } else {
            cr_assert_eq(err, MH_ERR_ARGUMENT_INVALID, "case %zu %s", i, validate_cases[i].json);
            cr_assert(strncmp(st.text, validate_cases[i].text, strlen(validate_cases[i].text)) == 0,
                      "case %zu: text '%s'", i, st.text);
        }
        cJSON_Delete(doc);
    }
}

Test(twin, mh_twin_validate_string_4096_succeeds)
{
    cJSON *doc = cJSON_CreateObject();
    char *v = malloc(4097);

    memset(v, 'x', 4096);
    v[4096] = '\0';
    cJSON_AddStringToObject(doc, "big", v);
    cr_assert_eq(mh_twin_validate(doc, 0, NULL), MH_OK);
    cJSON_Delete(doc);
    free(v);
}

Test(twin, mh_twin_validate_string_4097_fails)
{
    cJSON *doc = cJSON_CreateObject(), *inner = cJSON_AddObjectToObject(doc, "outer");
    char *v = malloc(4098);
    mh_status st;

    memset(v, 'x', 4097);
    v[4097] = '\0';
    cJSON_AddStringToObject(inner, "big", v);
    cr_assert_eq(mh_twin_validate(doc, 0, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_str_eq(st.text,
                     "Property or Tag value should be maximum 4096 bytes. Error in Property/Tag big");
    cJSON_Delete(doc);
    free(v);
}

Test(twin, mh_twin_validate_key_1024_bytes_succeeds)
{
    char key[1025];
    cJSON *doc = cJSON_CreateObject();

    memset(key, 'k', 1024);
    key[1024] = '\0';
    cJSON_AddNumberToObject(doc, key, 1);
    cr_assert_eq(mh_twin_validate(doc, 0, NULL), MH_OK);
    cJSON_Delete(doc);
}

Test(twin, mh_twin_validate_key_1025_bytes_fails)
{
    char key[1026];
    cJSON *doc = cJSON_CreateObject();
    mh_status st;

    memset(key, 'k', 1025);
    key[1025] = '\0';
    cJSON_AddNumberToObject(doc, key, 1);
    cr_assert_eq(mh_twin_validate(doc, 0, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_str_eq(st.text, "Length of property name kkkkkkkkkk.. exceeds maximum length of 1024");
    cJSON_Delete(doc);
}

Test(twin, mh_twin_validate_depth_10_succeeds)
{
    char *s = nested(11); /* 10 nested objects below the root, then a leaf */
    cJSON *doc = J(s);

    cr_assert_eq(mh_twin_validate(doc, 0, NULL), MH_OK);
    cJSON_Delete(doc);
    free(s);
}

Test(twin, mh_twin_validate_depth_11_fails)
{
    char *s = nested(12);
    cJSON *doc = J(s);
    mh_status st;

    cr_assert_eq(mh_twin_validate(doc, 0, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_str_eq(st.text, "Nested depth of twin property exceeds 10");
    cJSON_Delete(doc);
    free(s);
}

/* ---- size ---- */

Test(twin, mh_twin_size_counts_as_docs_succeeds)
{
    /* "ab"(2)+"xyz"(3) + "n"(1)+8 + "t"(1)+4 + "o"(1)+("p"(1)+"q"(1)) + "arr"(3)+(8+1("z")) */
    cJSON *doc = J("{\"ab\":\"xyz\",\"n\":12.5,\"t\":true,\"o\":{\"p\":\"q\"},\"arr\":[7,\"z\"]}");

    cr_assert_eq(mh_twin_size(doc), 2 + 3 + 1 + 8 + 1 + 4 + 1 + 1 + 1 + 3 + 8 + 1);
    cJSON_Delete(doc);
}

Test(twin, mh_twin_check_size_limits_fails)
{
    cJSON *doc = cJSON_CreateObject();
    char key[16];
    mh_status st;
    int i;

    /* 8 keys of 2 chars + 4000-byte strings: 32016 bytes: fits 32 KB, over 8 KB */
    for (i = 0; i < 8; i++) {
        char *v = malloc(4001);
        memset(v, 'v', 4000);
        v[4000] = '\0';
        snprintf(key, sizeof key, "k%d", i);
        cJSON_AddStringToObject(doc, key, v);
        free(v);
    }
    cr_assert_eq(mh_twin_check_size(doc, MH_TWIN_DESIRED, NULL), MH_OK);
    cr_assert_eq(mh_twin_check_size(doc, MH_TWIN_TAGS, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_str_eq(st.text, "Twin tags size 32016 exceeds maximum 8192");
    cJSON_AddStringToObject(
        doc, "more",
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890");
    cr_assert_eq(mh_twin_check_size(doc, MH_TWIN_REPORTED, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_str_eq(st.text, "Twin properties size 32820 exceeds maximum 32768");
    cJSON_Delete(doc);
}

Test(twin, mh_twin_check_patch_size_skips_deletions_succeeds)
{
    /* "a":null and "n":null delete: only k (1 + 4) and o.x (1 + 1 + 8) count */
    cJSON *patch = J("{\"k\":true,\"a\":null,\"o\":{\"x\":1,\"n\":null},\"arr\":[null]}");
    mh_status st;

    cr_assert_eq(mh_twin_check_patch_size(patch, MH_TWIN_TAGS, NULL), MH_OK);
    cJSON_Delete(patch);
    /* 2000 members of 4 + 8 bytes: 24,000, over 8 KB of tags */
    patch = cJSON_CreateObject();
    for (int i = 0; i < 2000; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%03d", i % 1000);
        cJSON_AddNumberToObject(patch, key, i);
        cJSON_AddNullToObject(patch, "gone");
    }
    cr_assert_eq(mh_twin_check_patch_size(patch, MH_TWIN_DESIRED, NULL), MH_OK);
    cr_assert_eq(mh_twin_check_patch_size(patch, MH_TWIN_TAGS, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_str_eq(st.text, "Twin tags size 24000 exceeds maximum 8192");
    cJSON_Delete(patch);
}

/* ---- merge and metadata ---- */

/* JSON with a member twice: the last one wins (as JSON.parse and Newtonsoft read it), also inside
 * a member the patch adds, and a later null deletes; nothing is stored twice. */
Test(twin, mh_twin_merge_duplicate_keys_last_wins_succeeds)
{
    cJSON *doc = J("{}"), *meta = J("{}");
    cJSON *patch = J("{\"o\":{\"k\":1,\"k\":2,\"g\":3,\"g\":null},\"t\":1,\"t\":{\"x\":1}}");
    cJSON *clear = J("{\"o\":{\"k\":null}}");

    cr_assert_eq(mh_twin_merge(doc, meta, patch, T1, -1), MH_OK);
    assert_json(doc, "{\"o\":{\"k\":2},\"t\":{\"x\":1}}");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(meta, "o")), 2, "o: $lastUpdated and k");
    cr_assert_eq(mh_twin_merge(doc, meta, clear, T2, -1), MH_OK);
    assert_json(doc, "{\"o\":{},\"t\":{\"x\":1}}");
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(patch);
    cJSON_Delete(clear);
}

/* Found by fuzz/fuzz_twin: into a member the document already has, both copies of a duplicate
 * were merged ({"o":{"x":1,"y":1,"z":1}}), so the same patch gave another document the second
 * time. The last copy wins there too, and applying the patch again changes nothing. */
Test(twin, mh_twin_merge_duplicate_keys_into_existing_last_wins_succeeds)
{
    cJSON *doc = J("{\"o\":{\"x\":1}}"), *meta = mh_twin_meta_new(doc, T1, 1);
    cJSON *patch = J("{\"o\":{\"y\":1},\"o\":{\"z\":1},\"n\":{\"a\":{\"b\":1},\"a\":{\"c\":1}}}");

    cr_assert_eq(mh_twin_merge(doc, meta, patch, T2, 2), MH_OK);
    assert_json(doc, "{\"o\":{\"x\":1,\"z\":1},\"n\":{\"a\":{\"c\":1}}}");
    cr_assert_eq(mh_twin_merge(doc, meta, patch, T2, 2), MH_OK);
    assert_json(doc, "{\"o\":{\"x\":1,\"z\":1},\"n\":{\"a\":{\"c\":1}}}");
    cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(meta, "o"), "z"));
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(meta, "o"), "y"));
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(patch);
}

Test(twin, mh_twin_merge_desired_metadata_succeeds)
{
    cJSON *doc = J("{}"), *meta = J("{\"$lastUpdated\":\"" T1 "\"}"), *patch = J("{\"username\":\"x\"}");

    cr_assert_eq(mh_twin_merge(doc, meta, patch, T2, 2), MH_OK);
    assert_json(doc, "{\"username\":\"x\"}");
    /* AZURE: [R-twin] shape after the first desired PATCH */
    assert_json(meta, "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":2,"
                      "\"username\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":2}}");
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(patch);
}

Test(twin, mh_twin_merge_nested_desired_metadata_succeeds)
{
    cJSON *doc = J("{}"), *meta = J("{\"$lastUpdated\":\"" T1 "\"}");
    cJSON *patch = J("{\"conditions\":{\"temperature\":{\"critical\":90,\"warning\":70}}}");

    cr_assert_eq(mh_twin_merge(doc, meta, patch, T1, 2), MH_OK);
    assert_json(meta, "{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2,"
                      "\"conditions\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2,"
                      "\"temperature\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2,"
                      "\"critical\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2},"
                      "\"warning\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2}}}}");
    cJSON_Delete(patch);
    /* a later patch of one leaf moves that leaf and its parents, not its sibling */
    patch = J("{\"conditions\":{\"temperature\":{\"warning\":75}}}");
    cr_assert_eq(mh_twin_merge(doc, meta, patch, T2, 3), MH_OK);
    assert_json(doc, "{\"conditions\":{\"temperature\":{\"critical\":90,\"warning\":75}}}");
    assert_json(meta, "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
                      "\"conditions\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
                      "\"temperature\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
                      "\"critical\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2},"
                      "\"warning\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3}}}}");
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(patch);
}

Test(twin, mh_twin_merge_reported_has_no_version_succeeds)
{
    cJSON *doc = J("{}"), *meta = J("{\"$lastUpdated\":\"" T1 "\"}");
    cJSON *patch = J("{\"connectivity\":{\"type\":\"cellular\"}}");

    cr_assert_eq(mh_twin_merge(doc, meta, patch, T2, -1), MH_OK);
    assert_json(meta, "{\"$lastUpdated\":\"" T2 "\",\"connectivity\":{\"$lastUpdated\":\"" T2 "\","
                      "\"type\":{\"$lastUpdated\":\"" T2 "\"}}}");
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(patch);
}

Test(twin, mh_twin_merge_null_deletes_value_and_metadata_succeeds)
{
    cJSON *doc = J("{\"a\":1,\"o\":{\"x\":1,\"y\":2}}");
    cJSON *meta = J("{\"$lastUpdated\":\"" T1 "\",\"a\":{\"$lastUpdated\":\"" T1 "\"},"
                    "\"o\":{\"$lastUpdated\":\"" T1 "\",\"x\":{\"$lastUpdated\":\"" T1 "\"},"
                    "\"y\":{\"$lastUpdated\":\"" T1 "\"}}}");
    cJSON *patch = J("{\"a\":null,\"o\":{\"x\":null},\"missing\":null}");

    cr_assert_eq(mh_twin_merge(doc, meta, patch, T2, -1), MH_OK);
    assert_json(doc, "{\"o\":{\"y\":2}}");
    assert_json(meta, "{\"$lastUpdated\":\"" T2 "\",\"o\":{\"$lastUpdated\":\"" T2 "\","
                      "\"y\":{\"$lastUpdated\":\"" T1 "\"}}}");
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(patch);
}

Test(twin, mh_twin_merge_object_replaces_scalar_succeeds)
{
    cJSON *doc = J("{\"a\":1,\"b\":{\"c\":1}}"), *meta = J("{\"$lastUpdated\":\"" T1 "\"}");
    cJSON *patch = J("{\"a\":{\"n\":null,\"m\":2},\"b\":[1,2]}");

    cr_assert_eq(mh_twin_merge(doc, meta, patch, T2, 5), MH_OK);
    assert_json(doc, "{\"a\":{\"m\":2},\"b\":[1,2]}");
    assert_json(meta, "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":5,"
                      "\"a\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":5,"
                      "\"m\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":5}},"
                      "\"b\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":5}}");
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(patch);
}

Test(twin, mh_twin_merge_without_metadata_succeeds)
{
    cJSON *doc = J("{\"loc\":{\"region\":\"US\",\"plant\":\"R\"}}"),
          *patch = J("{\"loc\":{\"plant\":null},\"x\":1}");

    cr_assert_eq(mh_twin_merge(doc, NULL, patch, T1, -1), MH_OK);
    assert_json(doc, "{\"loc\":{\"region\":\"US\"},\"x\":1}");
    cJSON_Delete(doc);
    cJSON_Delete(patch);
}

/* ---- replace and notifications ---- */

Test(twin, mh_twin_replace_notification_nulls_removed_keys_succeeds)
{
    /* AZURE: csharp#954: {a:1,b:2} then PUT {a:1,c:100} -> device gets {a:1,b:null,c:100} */
    cJSON *old = J("{\"a\":1,\"b\":2}"), *put = J("{\"a\":1,\"c\":100}");
    cJSON *doc = NULL, *meta = NULL, *push = NULL;

    cr_assert_eq(mh_twin_replace(old, put, T2, 3, &doc, &meta, &push), MH_OK);
    assert_json(doc, "{\"a\":1,\"c\":100}");
    assert_json(push, "{\"a\":1,\"b\":null,\"c\":100,\"$version\":3}");
    assert_json(meta, "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
                      "\"a\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3},"
                      "\"c\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3}}");
    cJSON_Delete(old);
    cJSON_Delete(put);
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(push);
}

Test(twin, mh_twin_replace_drops_nulls_succeeds)
{
    cJSON *old = J("{}"), *put = J("{\"a\":null,\"b\":{\"c\":null,\"d\":1}}");
    cJSON *doc = NULL, *meta = NULL;

    cr_assert_eq(mh_twin_replace(old, put, T2, 2, &doc, &meta, NULL), MH_OK);
    assert_json(doc, "{\"b\":{\"d\":1}}");
    cJSON_Delete(old);
    cJSON_Delete(put);
    cJSON_Delete(doc);
    cJSON_Delete(meta);
}

Test(twin, mh_twin_patch_push_keeps_patch_and_nulls_succeeds)
{
    cJSON *patch = J("{\"telemetrySendFrequency\":\"5m\",\"route\":null}");
    cJSON *push = mh_twin_patch_push(patch, 8);

    assert_json(push, "{\"telemetrySendFrequency\":\"5m\",\"route\":null,\"$version\":8}");
    cJSON_Delete(patch);
    cJSON_Delete(push);
}

Test(twin, mh_twin_meta_new_reported_succeeds)
{
    cJSON *doc = J("{\"a\":[1,{\"b\":2}],\"o\":{}}"), *meta = mh_twin_meta_new(doc, T1, -1);

    assert_json(meta, "{\"$lastUpdated\":\"" T1 "\",\"a\":{\"$lastUpdated\":\"" T1 "\"},"
                      "\"o\":{\"$lastUpdated\":\"" T1 "\"}}");
    cJSON_Delete(doc);
    cJSON_Delete(meta);
}

/* ---- service body ---- */

Test(twin, mh_twin_body_parse_strips_read_only_succeeds)
{
    /* the shape .NET UpdateTwinAsync sends: the whole twin */
    cJSON *body = J("{\"deviceId\":\"d1\",\"etag\":\"AAAAAAAAAAE=\",\"version\":2,\"status\":\"enabled\","
                    "\"tags\":{\"t\":1},\"properties\":{\"desired\":{\"username\":\"x\",\"$metadata\":"
                    "{\"$lastUpdated\":\"" T1 "\"},\"$version\":1},\"reported\":{\"r\":1,\"$version\":1}}}");
    mh_twin_body b;

    cr_assert_eq(mh_twin_body_parse(body, &b, NULL), MH_OK);
    assert_json(b.tags, "{\"t\":1}");
    assert_json(b.desired, "{\"username\":\"x\"}");
    cr_assert_eq(b.tags_null, 0);
    cr_assert_eq(b.desired_null, 0);
    mh_twin_body_cleanup(&b);
    cJSON_Delete(body);
}

Test(twin, mh_twin_body_parse_sections_absent_and_null_succeeds)
{
    cJSON *body = J("{\"properties\":{\"desired\":null}}");
    mh_twin_body b;

    cr_assert_eq(mh_twin_body_parse(body, &b, NULL), MH_OK);
    cr_assert_null(b.tags);
    assert_json(b.desired, "{}");
    cr_assert_eq(b.desired_null, 1);
    mh_twin_body_cleanup(&b);
    cJSON_Delete(body);
    body = J("{\"tags\":null,\"properties\":null}");
    cr_assert_eq(mh_twin_body_parse(body, &b, NULL), MH_OK);
    cr_assert_eq(b.tags_null, 1);
    cr_assert_null(b.desired);
    mh_twin_body_cleanup(&b);
    cJSON_Delete(body);
}

Test(twin, mh_twin_body_parse_bad_sections_fails)
{
    static const char *const bad[] = {"[]",
                                      "3",
                                      "{\"tags\":[1]}",
                                      "{\"tags\":\"x\"}",
                                      "{\"properties\":[]}",
                                      "{\"properties\":{\"desired\":5}}"};
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *body = J(bad[i]);
        mh_twin_body b = {0};
        cr_assert_eq(mh_twin_body_parse(body, &b, NULL), MH_ERR_ARGUMENT_INVALID, "%s", bad[i]);
        cJSON_Delete(body);
    }
}

/* ---- etags ---- */

Test(twin, mh_twin_etag_format_vectors_succeeds)
{
    /* AZURE: values seen in recordings and captures (addendum 1) */
    static const struct {
        uint64_t n;
        const char *etag;
    } v[] = {{1, "AAAAAAAAAAE="},
             {2, "AAAAAAAAAAI="},
             {7, "AAAAAAAAAAc="},
             {18, "AAAAAAAAABI="},
             {26, "AAAAAAAAABo="}};
    char out[16];
    size_t i;

    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        mh_twin_etag_format(v[i].n, out);
        cr_assert_str_eq(out, v[i].etag);
    }
}

Test(twin, mh_twin_device_etag_format_vectors_succeeds)
{
    static const struct {
        long long n;
        const char *etag;
    } v[] = {{945273454, "OTQ1MjczNDU0"},
             {945273455, "OTQ1MjczNDU1"},
             {318751955, "MzE4NzUxOTU1"},
             {241791198, "MjQxNzkxMTk4"},
             {84849939, "ODQ4NDk5Mzk="}};
    char out[32];
    size_t i;

    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        mh_twin_device_etag_format(v[i].n, out);
        cr_assert_str_eq(out, v[i].etag);
    }
}

Test(twin, mh_twin_etag_matches_table_succeeds)
{
    static const struct {
        const char *if_match;
        int match;
    } v[] = {
        {NULL, 1},
        {"*", 1},
        {"\"*\"", 1},
        {"", 1},
        {"\"\"", 1},
        {"\"AAAAAAAAAAE=\"", 1},
        {"AAAAAAAAAAE=", 1},
        {"W/\"AAAAAAAAAAE=\"", 1},
        {"\"AAAAAAAAAAI=\"", 0},
        {"AAAAAAAAAAI=", 0},
        {"\"AAAAAAAAAAE", 0},
        {"x", 0},
    };
    size_t i;

    for (i = 0; i < sizeof v / sizeof v[0]; i++)
        cr_assert_eq(mh_twin_etag_matches(v[i].if_match, "AAAAAAAAAAE="), v[i].match, "case %zu %s", i,
                     v[i].if_match ? v[i].if_match : "(null)");
}

/* ---- parsing ---- */

Test(twin, mh_utf8_valid_table_succeeds)
{
    static const struct {
        const char *s;
        int ok;
    } v[] = {
        {"abc", 1},  {"\xc3\xa9", 1}, {"\xe2\x82\xac", 1}, {"\xf0\x9f\x98\x80", 1}, {"\xff", 0},
        {"\xc3", 0}, {"\xc0\xaf", 0}, {"\xe0\x80\xaf", 0}, {"\xed\xa0\x80", 0},     {"\xf4\x90\x80\x80", 0},
        {"\x80", 0}};
    size_t i;

    for (i = 0; i < sizeof v / sizeof v[0]; i++)
        cr_assert_eq(mh_utf8_valid(v[i].s, strlen(v[i].s)), v[i].ok, "case %zu", i);
}

Test(twin, mh_twin_parse_object_succeeds)
{
    const char text[] = " {\"a\":1}\r\n  garbage-after-len";
    cJSON *doc = mh_twin_parse_object(text, 12);

    cr_assert_not_null(doc);
    assert_json(doc, "{\"a\":1}");
    cJSON_Delete(doc);
}

Test(twin, mh_twin_parse_object_bad_input_fails)
{
    static const char *const bad[] = {"", "[]", "1", "null", "{", "{}x", "{} {}", "{\"a\":\"\xc3\"}"};
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_null(mh_twin_parse_object(bad[i], strlen(bad[i])), "%s", bad[i]);
    cr_assert_null(mh_twin_parse_object(NULL, 0));
}

Test(twin, mh_json_has_nul_escape_cases_succeeds)
{
    static const struct {
        const char *text;
        int expected;
    } v[] = {
        {"{\"a\":\"x\\u0000y\"}", 1},   /* NUL in a value */
        {"{\"a\\u0000\":1}", 1},        /* NUL in a name */
        {"{\"a\":\"\\\\u0000\"}", 0},   /* an escaped backslash, then the text u0000 */
        {"{\"a\":\"\\\\\\u0000\"}", 1}, /* an escaped backslash, then a NUL escape */
        {"{\"a\":\"\\u0001\"}", 0},     {"{\"a\":\"u0000\"}", 0}, {"{\"a\":\"\\u000\"}", 0}, /* cut short */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        cr_assert_eq(mh_json_has_nul_escape(v[i].text, strlen(v[i].text)), v[i].expected, "%s", v[i].text);
}
