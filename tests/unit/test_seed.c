/* test_seed.c - the seed file check (core/seed.c): good seeds, and bad ones refused with the JSON
 * path and the line and column of the offending value. */
#include <criterion/criterion.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "seed.h"

static mh_err parse(const char *text, cJSON **doc, mh_status *st)
{
    *doc = NULL;
    return mh_seed_parse(text, strlen(text), "seed.json", doc, st);
}

Test(seed, mh_seed_parse_full_seed_succeeds)
{
    const char *text =
        "{\n"
        "  \"$schema\": \"../docs/seed.schema.json\",\n"
        "  \"devices\": [\n"
        "    {\"deviceId\": \"d1\"},\n"
        "    {\"deviceId\": \"d2\", \"primaryKey\": \"AAECAwQFBgcICQoLDA0ODw==\", \"status\": \"disabled\",\n"
        "     \"edgeEnabled\": true, \"tags\": {\"site\": \"a\"}, \"desired\": {\"fw\": {\"v\": 1}}}\n"
        "  ],\n"
        "  \"policies\": [{\"name\": \"ci\", \"rights\": [\"RegistryRead\", \"ServiceConnect\"]}]\n"
        "}\n";
    cJSON *doc = NULL;
    mh_status st = {0};
    cr_assert_eq(parse(text, &doc, &st), MH_OK, "%s", st.text);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "devices")), 2);
    cJSON_Delete(doc);
    cr_assert_eq(parse("{}", &doc, &st), MH_OK, "an empty seed is fine");
    cJSON_Delete(doc);
}

Test(seed, mh_seed_parse_bad_seeds_report_path_and_line_fails)
{
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"{\n  \"devices\": [\n    {\"deviceId\": \"d1\"},\n    {\"deviceId\": \"d2\",\n     \"status\": "
         "\"on\"}\n  ]\n}",
         "seed.json:5:16: $.devices[1].status: must be \"enabled\" or \"disabled\""},
        {"{\"devices\": [{\"deviceId\": \"a/b\"}]}",
         "seed.json:1:27: $.devices[0].deviceId: The device id a/b is invalid"},
        {"{\"devices\": [{\"deviceId\": \"d\"}, {\"deviceId\": \"d\"}]}",
         "seed.json:1:46: $.devices[1].deviceId: device 'd' is already seeded at $.devices[0]"},
        {"{\"devices\": [{\"id\": \"d\"}]}", "seed.json:1:21: $.devices[0].id: unknown member of a device"},
        {"{\"devices\": [{\"deviceId\": \"d\", \"primaryKey\": \"short\"}]}",
         "seed.json:1:46: $.devices[0].primaryKey: must be a base64 key"},
        {"{\"devices\": [{\"deviceId\": \"d\", \"desired\": {\"a.b\": 1}}]}", "$.devices[0].desired: "},
        {"{\"devices\": [{\"deviceId\": \"d\", \"tags\": []}]}", "$.devices[0].tags: must be a JSON object"},
        {"{\"devices\": [{\"deviceId\": \"d\", \"edgeEnabled\": \"yes\"}]}",
         "$.devices[0].edgeEnabled: must be true"},
        {"{\"devices\": {}}", "seed.json:1:13: $.devices: must be an array"},
        {"{\"device\": []}", "seed.json:1:12: $.device: unknown member of the seed"},
        {"[]", "seed.json:1:1: $: a seed is a JSON object"},
        {"{\"policies\": [{\"name\": \"service\", \"rights\": [\"RegistryRead\"]}]}",
         "$.policies[0].name: 'service' is built in"},
        {"{\"policies\": [{\"name\": \"p\", \"rights\": [\"RegistryRead\", \"Admin\"]}]}",
         "seed.json:1:56: $.policies[0].rights[1]: must be one of"},
        {"{\"policies\": [{\"name\": \"p\"}]}", "$.policies[0]: rights is required"},
        {"{\n  \"devices\": [\n    {\"deviceId\": \"d\",}\n  ]\n}", "seed.json:3:"},
        {"{\"devices\": []} x", "seed.json:1:17: not valid JSON here"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *doc = (cJSON *)1;
        mh_status st = {0};
        cr_assert_neq(parse(cases[i].text, &doc, &st), MH_OK, "%s", cases[i].text);
        cr_assert(strstr(st.text, cases[i].expect) != NULL, "case %zu: got '%s', want '%s'", i, st.text,
                  cases[i].expect);
    }
}
