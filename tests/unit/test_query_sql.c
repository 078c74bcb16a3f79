/* Unit tests for mockhub/query/sqlgen: the SQL and parameters compiled from twin queries, that no
 * query text ever reaches the SQL (injection attempts), that every generated statement is valid
 * SQLite over the store's schema, and every compile-time error (400 with position, 501). */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/parser.h"
#include "query/sqlgen.h"
#include "store_internal.h" /* MH_TWIN_COLUMNS: the row layout SELECT * must produce */

/* The devices table of docs/INTERNALS.md. */
static const char schema[] =
    "CREATE TABLE devices(id TEXT PRIMARY KEY, generation_id TEXT NOT NULL, etag INTEGER NOT NULL,"
    " status TEXT NOT NULL, status_reason TEXT, status_updated TEXT NOT NULL, auth_type TEXT NOT NULL,"
    " primary_key TEXT, secondary_key TEXT, primary_thumbprint TEXT, secondary_thumbprint TEXT,"
    " iot_edge INTEGER NOT NULL DEFAULT 0, connection_state TEXT NOT NULL, connection_state_updated TEXT NOT "
    "NULL,"
    " last_activity TEXT NOT NULL, c2d_count INTEGER NOT NULL DEFAULT 0, model_id TEXT NOT NULL DEFAULT '',"
    " tags TEXT, desired TEXT NOT NULL, desired_meta TEXT NOT NULL, desired_version INTEGER NOT NULL,"
    " reported TEXT NOT NULL, reported_meta TEXT NOT NULL, reported_version INTEGER NOT NULL,"
    " twin_etag INTEGER NOT NULL, owner_id TEXT NOT NULL DEFAULT '', module_id TEXT NOT NULL DEFAULT '',"
    " managed_by TEXT);";

static mh_err compile(const char *q, const char *after, long long offset, mh_qplan *plan, mh_status *st)
{
    mh_qast *a = NULL;
    mh_qpage_req pg = {after, offset, 11};
    mh_err err = mh_q_parse(q, strlen(q), &a, st);
    if (err)
        return err;
    err = mh_q_compile(a, &pg, plan, st);
    mh_q_ast_free(a);
    return err;
}

/* Prepares and runs plan->sql with its parameters on an empty devices table. */
static void check_runs(const mh_qplan *plan)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    const cJSON *p;
    int i = 0, rc;

    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, schema, NULL, NULL, NULL), SQLITE_OK);
    rc = sqlite3_prepare_v2(db, plan->sql, -1, &s, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s\n%s", sqlite3_errmsg(db), plan->sql);
    cJSON_ArrayForEach(p, plan->params)
    {
        i++;
        if (cJSON_IsString(p))
            sqlite3_bind_text(s, i, p->valuestring, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_double(s, i, p->valuedouble);
    }
    cr_expect_eq(sqlite3_bind_parameter_count(s), i, "%s", plan->sql);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    cr_expect_eq(rc, SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Every query here must compile to valid SQL. */
static const char *const valid_queries[] = {
    "SELECT * FROM devices",
    "SELECT * FROM devices WHERE tags.location.region = 'US'",
    "SELECT * FROM devices WHERE tags.location.region = 'US' AND "
    "properties.reported.telemetryConfig.sendFrequencyInSecs >= 60",
    "SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired', 'wifi']",
    "SELECT * FROM devices WHERE properties.reported.connectivity NIN ['wired', 1, true, false, null, [1]]",
    "SELECT * FROM devices WHERE NOT (properties.reported.x IN [1, 'a', true, null])",
    "SELECT * FROM devices WHERE is_defined(properties.reported.connectivity)",
    "SELECT * FROM devices WHERE NOT is_defined(tags.x) OR IS_DEFINED(deviceId) OR IS_DEFINED(undefined) OR "
    "IS_DEFINED(null)",
    "SELECT properties.reported.telemetryConfig.status AS status, COUNT() AS numberOfDevices FROM devices "
    "GROUP BY properties.reported.telemetryConfig.status",
    "SELECT COUNT() as totalNumberOfDevices FROM devices",
    "SELECT DeviceId, LastActivityTime FROM devices WHERE status = 'enabled' AND connectionState = "
    "'Disconnected'",
    "SELECT * FROM devices WHERE properties.reported.rebootTime > '2024-01-01T00:00:00Z'",
    "SELECT * FROM devices WHERE properties.desired.$version > 2 AND properties.reported.$version >= 1",
    "SELECT * FROM devices WHERE properties.desired.$metadata.x.$lastUpdated > '2024' AND "
    "properties.desired.$metadata.$lastUpdatedVersion = 2",
    "SELECT * FROM devices WHERE tags.a + tags.b * 2 - tags.c / 4 % 3 > -1",
    "SELECT * FROM devices WHERE tags.a = tags.b AND tags.c != tags.d AND tags.e <> null AND null = null",
    "SELECT * FROM devices WHERE tags.flag AND NOT tags.other OR tags.x = true",
    "SELECT * FROM devices WHERE (tags.x > 1) = true",
    "SELECT * FROM devices WHERE deviceId > 'a' AND version > 1 AND cloudToDeviceMessageCount = 0 AND "
    "capabilities.iotEdge = false",
    "SELECT * FROM devices WHERE x509Thumbprint.primaryThumbprint = null AND statusReason = 'x' AND modelId "
    "= '' AND authenticationType = 'sas'",
    "SELECT * FROM devices WHERE tags.list[0] = 1 AND tags['spaced name'] = 2 AND tags.[[odd-name]] = 3",
    "SELECT * FROM devices WHERE devices.tags.x = 1 AND moduleId = 'm' AND 'a' < 'b' AND 1 < 2 AND -tags.n < "
    "+tags.m",
    "SELECT deviceId, tags, properties, properties.desired, properties.reported, capabilities, "
    "x509Thumbprint FROM devices",
    "SELECT deviceId AS id, tags.x AS x, 1 + 2 AS three, 'lit' AS s, [1,2] AS arr, null AS n, true AS t FROM "
    "devices",
    "SELECT COUNT(), COUNT(tags.x), COUNT(undefined), COUNT(null), SUM(tags.n), AVG(tags.n), MIN(tags.n), "
    "MAX(tags.s), MIN(deviceId), MAX(version) FROM devices",
    "SELECT tags.a AS a, tags.b AS b, COUNT() AS n FROM devices WHERE status = 'enabled' GROUP BY tags.a, "
    "tags.b",
    "SELECT status, COUNT() AS n FROM devices GROUP BY status",
    "SELECT properties.reported.x AS s, COUNT() AS n FROM devices GROUP BY s",
    "SELECT TOP 5 * FROM devices WHERE tags.n > 1",
    "SELECT TOP 0 deviceId FROM devices",
    "SELECT * FROM devices.modules",
    "SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['device1', "
    "'device2']",
    "SELECT * FROM devices.modules WHERE moduleId = 'm' AND devices.modules.moduleId = 'm' AND "
    "devices.deviceId > 'a'",
    "SELECT deviceId, moduleId, tags.x FROM devices.modules WHERE tags.x > 1",
    "SELECT moduleId, COUNT() AS n FROM devices.modules GROUP BY moduleId",
    "SELECT COUNT() AS n FROM devices.modules WHERE deviceId = 'd'",
    "SELECT * FROM devices WHERE modules.x = 1 OR tags.y = 2",
};

Test(query_sql, mh_q_compile_valid_sql_succeeds)
{
    for (size_t i = 0; i < sizeof valid_queries / sizeof valid_queries[0]; i++) {
        mh_qplan plan;
        mh_status st = {0};
        cr_assert_eq(compile(valid_queries[i], NULL, 0, &plan, &st), MH_OK, "case %zu (%s): %s", i,
                     valid_queries[i], st.text);
        check_runs(&plan);
        mh_q_plan_cleanup(&plan);
        /* later pages too */
        cr_assert_eq(compile(valid_queries[i], "dev1", 7, &plan, &st), MH_OK, "%s", st.text);
        check_runs(&plan);
        mh_q_plan_cleanup(&plan);
    }
}

Test(query_sql, mh_q_compile_select_star_twin_columns_succeeds)
{
    mh_qplan plan;
    mh_status st = {0};
    cr_assert_eq(compile("SELECT * FROM devices", NULL, 0, &plan, &st), MH_OK);
    cr_expect(plan.twin);
    cr_expect(plan.keyset);
    cr_expect(strncmp(plan.sql, "SELECT id AS __twin_id, " MH_TWIN_COLUMNS " FROM devices",
                      strlen("SELECT id AS __twin_id, " MH_TWIN_COLUMNS " FROM devices")) == 0,
              "%s", plan.sql);
    cr_expect(strstr(plan.sql, "ORDER BY id LIMIT 11) ORDER BY id") != NULL, "%s", plan.sql);
    mh_q_plan_cleanup(&plan);
}

/* Runs plan on a devices table holding two devices and three modules (identity.h: a module row is
 * "{device}/{module}" with owner_id and module_id set) and returns the ids or first columns of the
 * rows, comma-separated. */
static void run_on_rows(const mh_qplan *plan, char *out, size_t outsz)
{
    static const char rows[] =
        "INSERT INTO devices(id, generation_id, etag, status, status_updated, auth_type, connection_state,"
        " connection_state_updated, last_activity, tags, desired, desired_meta, desired_version, reported,"
        " reported_meta, reported_version, twin_etag, owner_id, module_id) VALUES"
        " ('d1', 'g', 1, 'enabled', 't', 'sas', 'Disconnected', 't', 't', '{\"x\":1}', '{}', '{}', 1, '{}',"
        "  '{}', 1, 1, '', ''),"
        " ('d2', 'g', 1, 'disabled', 't', 'sas', 'Disconnected', 't', 't', NULL, '{}', '{}', 1, '{}', '{}', "
        "1, 1,"
        "  '', ''),"
        " ('d1/m1', 'g', 1, 'enabled', 't', 'sas', 'Disconnected', 't', 't', '{\"x\":2}', '{}', '{}', 1,"
        "  '{\"status\":\"scanning\"}', '{}', 1, 1, 'd1', 'm1'),"
        " ('d1/m2', 'g', 1, 'enabled', 't', 'sas', 'Disconnected', 't', 't', NULL, '{}', '{}', 1, '{}', "
        "'{}', 1,"
        "  1, 'd1', 'm2'),"
        " ('d2/m1', 'g', 1, 'enabled', 't', 'sas', 'Disconnected', 't', 't', '{\"x\":3}', '{}', '{}', 1,"
        "  '{\"status\":\"scanning\"}', '{}', 1, 1, 'd2', 'm1');";
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    const cJSON *p;
    int i = 0, rc;

    out[0] = '\0';
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, schema, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_prepare_v2(db, plan->sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cJSON_ArrayForEach(p, plan->params)
    {
        i++;
        if (cJSON_IsString(p))
            sqlite3_bind_text(s, i, p->valuestring, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_double(s, i, p->valuedouble);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        /* twins: __twin_id first; keyset projections: __id then c0; aggregates: c0 */
        const char *v = (const char *)sqlite3_column_text(s, !plan->twin && plan->keyset ? 1 : 0);
        if (out[0])
            strncat(out, ",", outsz - strlen(out) - 1);
        strncat(out, v ? v : "(null)", outsz - strlen(out) - 1);
    }
    cr_expect_eq(rc, SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

struct rows_case {
    const char *q;
    const char *after;
    const char *rows;
};

static const struct rows_case rows_cases[] = {
    /* devices only: module rows share the table but are not devices */
    {"SELECT * FROM devices", NULL, "d1,d2"},
    {"SELECT * FROM devices WHERE tags.x > 0", NULL, "d1"},
    {"SELECT COUNT() AS n FROM devices", NULL, "2"},
    {"SELECT * FROM devices WHERE moduleId = 'm1'", NULL, ""},
    /* modules only, paged by their identity "{device}/{module}" */
    {"SELECT * FROM devices.modules", NULL, "d1/m1,d1/m2,d2/m1"},
    {"SELECT * FROM devices.modules", "d1/m1", "d1/m2,d2/m1"},
    {"SELECT * FROM devices.modules WHERE moduleId = 'm1'", NULL, "d1/m1,d2/m1"},
    {"SELECT * FROM devices.modules WHERE devices.modules.moduleId = 'm2'", NULL, "d1/m2"},
    {"SELECT * FROM devices.modules WHERE deviceId = 'd1'", NULL, "d1/m1,d1/m2"},
    {"SELECT * FROM devices.modules WHERE deviceId IN ['d2', 'x'] AND moduleId NIN ['m2']", NULL, "d2/m1"},
    {"SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['d1']",
     NULL, "d1/m1"},
    {"SELECT * FROM devices.modules WHERE tags.x >= 2", NULL, "d1/m1,d2/m1"},
    {"SELECT * FROM devices.modules WHERE status = 'disabled'", NULL, ""},
    {"SELECT COUNT() AS n FROM devices.modules", NULL, "3"},
    {"SELECT COUNT() AS n FROM devices.modules WHERE deviceId = 'd1'", NULL, "2"},
    {"SELECT deviceId FROM devices.modules WHERE moduleId = 'm1'", NULL, "\"d1\",\"d2\""},
    {"SELECT moduleId, COUNT() AS n FROM devices.modules GROUP BY moduleId", NULL, "\"m1\",\"m2\""},
};

Test(query_sql, mh_q_compile_module_rows_succeeds)
{
    for (size_t i = 0; i < sizeof rows_cases / sizeof rows_cases[0]; i++) {
        mh_qplan plan;
        mh_status st = {0};
        char got[256];
        cr_assert_eq(compile(rows_cases[i].q, rows_cases[i].after, 0, &plan, &st), MH_OK, "case %zu: %s", i,
                     st.text);
        run_on_rows(&plan, got, sizeof got);
        cr_expect_str_eq(got, rows_cases[i].rows, "case %zu (%s)\n%s", i, rows_cases[i].q, plan.sql);
        mh_q_plan_cleanup(&plan);
    }
}

Test(query_sql, mh_q_compile_modules_row_filter_succeeds)
{
    mh_qplan plan;
    mh_status st = {0};
    cr_assert_eq(compile("SELECT * FROM devices.modules", NULL, 0, &plan, &st), MH_OK, "%s", st.text);
    cr_expect(plan.twin);
    cr_expect(strstr(plan.sql, "SELECT id FROM devices WHERE owner_id <> ''") != NULL, "%s", plan.sql);
    mh_q_plan_cleanup(&plan);
    cr_assert_eq(compile("SELECT COUNT() AS n FROM devices", NULL, 0, &plan, &st), MH_OK, "%s", st.text);
    cr_expect(strstr(plan.sql, "FROM devices WHERE owner_id = ''") != NULL, "%s", plan.sql);
    mh_q_plan_cleanup(&plan);
}

Test(query_sql, mh_q_compile_constants_are_parameters_succeeds)
{
    mh_qplan plan;
    mh_status st = {0};
    char *params;
    cr_assert_eq(compile("SELECT * FROM devices WHERE tags.region = 'US' AND properties.reported.n > 0x10 "
                         "AND deviceId IN ['a', \"b\"]",
                         "last-id", 0, &plan, &st),
                 MH_OK, "%s", st.text);
    params = cJSON_PrintUnformatted(plan.params);
    cr_expect_str_eq(params, "[\"US\",16,\"a\",\"b\",\"last-id\"]");
    cr_expect(strstr(plan.sql, "'US'") == NULL);
    cr_expect(strstr(plan.sql, "last-id") == NULL);
    cr_expect(
        strstr(plan.sql,
               "json_extract(tags, '$.\"region\"') = ?1 AND json_type(tags, '$.\"region\"') = 'text'") !=
            NULL,
        "%s", plan.sql);
    cr_expect(strstr(plan.sql, "id > ?5") != NULL, "%s", plan.sql);
    free(params);
    mh_q_plan_cleanup(&plan);
}

Test(query_sql, mh_q_compile_index_candidates_succeeds)
{
    mh_qplan plan;
    mh_status st = {0};
    char *idx;
    cr_assert_eq(compile("SELECT * FROM devices WHERE properties.reported.rebootTime > '2024' AND NOT tags.a "
                         "= 1 AND tags.[[b c]] = 2 "
                         "AND properties.desired.$metadata.x.$lastUpdated > '1'",
                         NULL, 0, &plan, &st),
                 MH_OK, "%s", st.text);
    idx = cJSON_PrintUnformatted(plan.indexes);
    /* tags.a is under NOT (no index form); "b c" is not a literal-safe name (bound path) */
    cr_expect_str_eq(
        idx,
        "[[\"reported\",\"$.\\\"rebootTime\\\"\"],[\"desired_meta\",\"$.\\\"x\\\".\\\"$lastUpdated\\\"\"]]");
    free(idx);
    mh_q_plan_cleanup(&plan);
    cr_assert_eq(compile("SELECT tags.region AS r, COUNT() AS n FROM devices GROUP BY tags.region", NULL, 0,
                         &plan, &st),
                 MH_OK);
    idx = cJSON_PrintUnformatted(plan.indexes);
    cr_expect_str_eq(idx, "[[\"tags\",\"$.\\\"region\\\"\"]]");
    cr_expect(!plan.keyset);
    cr_expect(strstr(plan.sql,
                     "GROUP BY json_type(tags, '$.\"region\"'), json_extract(tags, '$.\"region\"')") != NULL,
              "%s", plan.sql);
    free(idx);
    mh_q_plan_cleanup(&plan);
}

struct names_case {
    const char *q;
    const char *names;
};

static const struct names_case names_cases[] = {
    {"SELECT DeviceId, LastActivityTime FROM devices", "deviceId,lastActivityTime"},
    {"SELECT devices.deviceId, CONNECTIONSTATE FROM devices", "deviceId,connectionState"},
    {"SELECT tags.location.region, properties.reported.Temp FROM devices", "region,Temp"},
    {"SELECT deviceId AS id, tags.x AS X FROM devices", "id,X"},
    {"SELECT COUNT(), SUM(tags.n), tags.list[0] FROM devices GROUP BY tags.list[0]", "$1,$2,$3"},
    {"SELECT properties.desired.$version FROM devices", "$version"},
    {"SELECT ModuleId, DEVICEID, devices.modules.moduleId AS m FROM devices.modules", "moduleId,deviceId,m"},
    {"SELECT moduleId FROM devices", "moduleId"},
};

Test(query_sql, mh_q_compile_projection_names_succeeds)
{
    for (size_t i = 0; i < sizeof names_cases / sizeof names_cases[0]; i++) {
        mh_qplan plan;
        mh_status st = {0};
        char got[256] = "";
        cr_assert_eq(compile(names_cases[i].q, NULL, 0, &plan, &st), MH_OK, "case %zu: %s", i, st.text);
        for (size_t k = 0; k < plan.ncols; k++) {
            strcat(got, k ? "," : "");
            strcat(got, plan.names[k]);
        }
        cr_expect_str_eq(got, names_cases[i].names, "case %zu", i);
        cr_expect(!plan.twin);
        mh_q_plan_cleanup(&plan);
    }
}

/* Attack strings: none may appear in the SQL; each must travel as a parameter (or be refused). */
static const char *const attacks[] = {
    "x'); DROP TABLE devices; --",
    "' OR '1'='1",
    "\" OR 1=1 --",
    "$.a') OR 1=1 OR ('",
    "a'||(SELECT primary_key FROM devices)||'",
    "*/ UNION SELECT primary_key FROM devices /*",
    ":p @p $p ?7",
};

Test(query_sql, mh_q_compile_injection_in_strings_succeeds)
{
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        mh_qplan plan;
        mh_status st = {0};
        cJSON *q = cJSON_CreateString(attacks[i]); /* JSON string escaping is valid query escaping here */
        char *lit = cJSON_PrintUnformatted(q), text[512];
        snprintf(text, sizeof text,
                 "SELECT * FROM devices WHERE tags.a = %s OR deviceId IN [%s] OR tags.b > %s", lit, lit, lit);
        cr_assert_eq(compile(text, attacks[i], 0, &plan, &st), MH_OK, "case %zu (%s): %s", i, text, st.text);
        cr_expect(strstr(plan.sql, attacks[i]) == NULL, "case %zu leaked into SQL: %s", i, plan.sql);
        check_runs(&plan);
        mh_q_plan_cleanup(&plan);
        free(lit);
        cJSON_Delete(q);
    }
}

Test(query_sql, mh_q_compile_injection_in_names_succeeds)
{
    static const char *const names[] = {"a'b",         "x') OR 1=1 --", "a b", "semi;colon",
                                        "back\\slash", "pct%",          "()",  "'--"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mh_qplan plan;
        mh_status st = {0};
        char text[256];
        snprintf(text, sizeof text,
                 "SELECT tags.[[%s]] AS v, COUNT() AS n FROM devices WHERE properties.reported.[[%s]] > 1 "
                 "GROUP BY tags.[[%s]]",
                 names[i], names[i], names[i]);
        cr_assert_eq(compile(text, NULL, 0, &plan, &st), MH_OK, "case %zu (%s): %s", i, text, st.text);
        cr_expect(strstr(plan.sql, names[i]) == NULL, "case %zu leaked into SQL: %s", i, plan.sql);
        cr_expect_eq(cJSON_GetArraySize(plan.indexes), 0, "case %zu", i);
        check_runs(&plan);
        mh_q_plan_cleanup(&plan);
    }
}

Test(query_sql, mh_q_compile_alias_never_in_sql_succeeds)
{
    mh_qplan plan;
    mh_status st = {0};
    cr_assert_eq(compile("SELECT deviceId AS DROP_TABLE_x FROM devices", NULL, 0, &plan, &st), MH_OK);
    cr_expect(strstr(plan.sql, "DROP_TABLE_x") == NULL);
    cr_expect_str_eq(plan.names[0], "DROP_TABLE_x");
    mh_q_plan_cleanup(&plan);
}

struct sql_err {
    const char *q;
    mh_err code;
    const char *msg;
};

static const struct sql_err sql_err_cases[] = {
    {"SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'x'", MH_ERR_NOT_IMPLEMENTED,
     "mockhub does not support queries on devices.jobs"},
    {"SELECT * FROM devices WHERE etag = 'AAAAAAAAAAE='", MH_ERR_NOT_IMPLEMENTED,
     "mockhub does not support 'etag' in queries (at position 29)"},
    {"SELECT deviceEtag FROM devices", MH_ERR_NOT_IMPLEMENTED,
     "mockhub does not support 'deviceEtag' in queries"},
    {"SELECT * FROM devices WHERE jobs.x = 1", MH_ERR_NOT_IMPLEMENTED,
     "mockhub does not support 'jobs' in queries on devices"},
    {"SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'a')", MH_ERR_QUERY,
     "Syntax error at position 29: function 'STARTS_WITH' is not supported in twin queries (only "
     "IS_DEFINED)"},
    {"SELECT * FROM devices WHERE lower(deviceId) = 'a'", MH_ERR_QUERY,
     "Syntax error at position 29: function 'LOWER' is not supported"},
    {"SELECT * FROM devices WHERE COUNT() > 1", MH_ERR_QUERY,
     "Syntax error at position 29: aggregate function COUNT() is only allowed as a select item"},
    {"SELECT deviceId FROM devices WHERE 1 = 1 AND SUM(tags.n) > 1", MH_ERR_QUERY,
     "Syntax error at position 46: aggregate function SUM()"},
    {"SELECT * FROM devices WHERE IS_DEFINED()", MH_ERR_QUERY,
     "Syntax error at position 29: IS_DEFINED takes exactly one argument"},
    {"SELECT * FROM devices WHERE IS_DEFINED(a, b)", MH_ERR_QUERY,
     "Syntax error at position 29: IS_DEFINED takes exactly one argument"},
    {"SELECT SUM() FROM devices", MH_ERR_QUERY, "Syntax error at position 8: SUM takes exactly one argument"},
    {"SELECT AVG(a, b) FROM devices", MH_ERR_QUERY,
     "Syntax error at position 8: AVG takes exactly one argument"},
    {"SELECT MAX(*) FROM devices", MH_ERR_QUERY,
     "Syntax error at position 8: MAX takes exactly one argument"},
    {"SELECT SUM(COUNT()) FROM devices", MH_ERR_QUERY,
     "Syntax error at position 12: aggregate functions cannot be nested"},
    {"SELECT deviceId, COUNT() FROM devices", MH_ERR_QUERY,
     "Syntax error at position 8: select item 1 is neither an aggregate nor a GROUP BY expression"},
    {"SELECT tags.a AS a, tags.b, COUNT() FROM devices GROUP BY tags.a", MH_ERR_QUERY,
     "Syntax error at position 21: select item 2 is neither"},
    {"SELECT * FROM devices GROUP BY tags.a", MH_ERR_QUERY,
     "Syntax error at position 32: GROUP BY needs a select list, not *"},
    {"SELECT COUNT() AS n FROM devices GROUP BY COUNT()", MH_ERR_QUERY,
     "Syntax error at position 43: cannot GROUP BY an aggregate"},
    {"SELECT tags.x, properties.reported.x FROM devices", MH_ERR_QUERY,
     "Syntax error at position 16: duplicate projection name 'x' (use AS)"},
    {"SELECT deviceId AS a, status AS a FROM devices", MH_ERR_QUERY,
     "Syntax error at position 23: duplicate projection name 'a'"},
    {"SELECT * FROM devices WHERE tags['a\"b'] = 1", MH_ERR_QUERY,
     "Syntax error at position 34: property name 'a\"b' contains '\"'"},
};

Test(query_sql, mh_q_compile_errors_fails)
{
    for (size_t i = 0; i < sizeof sql_err_cases / sizeof sql_err_cases[0]; i++) {
        mh_qplan plan;
        mh_status st = {0};
        mh_err err;
        memset(&plan, 0, sizeof plan);
        err = compile(sql_err_cases[i].q, NULL, 0, &plan, &st);
        cr_expect_eq(err, sql_err_cases[i].code, "case %zu (%s): %d %s", i, sql_err_cases[i].q, err, st.text);
        cr_expect(strncmp(st.text, sql_err_cases[i].msg, strlen(sql_err_cases[i].msg)) == 0,
                  "case %zu: got '%s', want '%s'", i, st.text, sql_err_cases[i].msg);
        cr_expect_null(plan.sql);
    }
}

Test(query_sql, mh_q_compile_too_complex_fails)
{
    /* 8192 characters of nested-free ORs over bound-path comparisons stay under the cap; a long
     * chain of dynamic comparisons between two paths must not exceed it either: both succeed or
     * fail cleanly with a 400, never crash. */
    static char q[8193];
    size_t o = (size_t)snprintf(q, sizeof q, "SELECT * FROM devices WHERE ");
    mh_qplan plan;
    mh_status st = {0};
    mh_err err;
    while (o + 40 < 8192)
        o += (size_t)snprintf(q + o, sizeof q - o, "tags.[[a b]] = tags.[[c d]] OR ");
    o += (size_t)snprintf(q + o, sizeof q - o, "1 = 1");
    memset(&plan, 0, sizeof plan);
    err = compile(q, NULL, 0, &plan, &st);
    cr_expect(err == MH_OK || err == MH_ERR_QUERY, "%d %s", err, st.text);
    if (err == MH_OK)
        check_runs(&plan);
    mh_q_plan_cleanup(&plan);
}
