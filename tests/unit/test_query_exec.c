/* End-to-end tests of mh_query_execute over a ":memory:" store filled through store.h's public API:
 * result sets of many queries against expectations computed here from the same fleet description,
 * paging with several page sizes (the union of the pages is the full result, without repeats),
 * TOP, GROUP BY, aggregates, continuation token checks and the error codes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "store.h"

#define NDEV 40

typedef struct dev {
    char id[32];
    int disabled;
    int has_tags;
    const char *region; /* NULL: no tags.region */
    int n_is_num;       /* tags.n: i as a number (even i) or as a string (odd i) */
    int n;
    int flag; /* tags.flag: i % 5 == 0 */
    int has_reboot;
    char reboot[32];
    int has_temp;
    double temp;
    const char *status; /* reported.telemetryConfig.status */
    int has_nul;        /* reported.nul = null */
    int desired_writes; /* desired $version = 1 + writes */
} dev;

static dev fleet[NDEV];
static mh_store *store;

static void fleet_build(void)
{
    static const char *const regions[] = {"US", "EU", "ASIA"};
    static const char *const statuses[] = {"Success", "Pending", "Error"};
    mh_status st = {0};

    cr_assert_eq(mh_store_open(":memory:", 0, &store), MH_OK);
    cr_assert_eq(mh_query_prepare_schema(store), MH_OK);
    for (int i = 0; i < NDEV; i++) {
        dev *d = &fleet[i];
        char buf[512];
        cJSON *body, *out = NULL, *push = NULL;
        long v;

        memset(d, 0, sizeof *d);
        /* ids include a quote and a $ to exercise keyset paging with odd ids */
        if (i == 7)
            snprintf(d->id, sizeof d->id, "dev'q");
        else if (i == 8)
            snprintf(d->id, sizeof d->id, "$dev");
        else
            snprintf(d->id, sizeof d->id, "dev-%02d", i);
        d->disabled = i % 6 == 0;
        snprintf(buf, sizeof buf, "{\"deviceId\":\"%.31s\",\"status\":\"%s\"}", d->id,
                 d->disabled ? "disabled" : "enabled");
        body = cJSON_Parse(buf);
        cr_assert_eq(mh_store_device_create(store, d->id, body, &out, &st), MH_OK, "%s: %s", d->id, st.text);
        cJSON_Delete(body);
        cJSON_Delete(out);

        d->has_tags = i % 4 != 3;
        d->region = i % 4 == 3 ? NULL : regions[i % 4];
        d->n = i;
        d->n_is_num = i % 2 == 0;
        d->flag = i % 5 == 0;
        if (d->has_tags) {
            snprintf(buf, sizeof buf,
                     "{\"tags\":{\"region\":\"%s\",\"n\":%s%d%s,\"flag\":%s},\"properties\":{\"desired\":{"
                     "\"x\":%d}}}",
                     d->region, d->n_is_num ? "" : "\"", i, d->n_is_num ? "" : "\"",
                     d->flag ? "true" : "false", i);
            body = cJSON_Parse(buf);
            cr_assert_not_null(body);
            cr_assert_eq(mh_store_twin_update(store, d->id, body, NULL, 0, &out, &push, &v, &st), MH_OK, "%s",
                         st.text);
            cJSON_Delete(body);
            cJSON_Delete(out);
            cJSON_Delete(push);
            d->desired_writes = 1;
        }
        d->has_reboot = i % 3 != 0;
        snprintf(d->reboot, sizeof d->reboot, "2024-01-%02dT00:00:00Z", i % 28 + 1);
        d->has_temp = i % 2 == 1;
        d->temp = i * 1.5;
        d->status = statuses[i % 3];
        d->has_nul = i % 7 == 0;
        snprintf(buf, sizeof buf, "{%s%s%s\"telemetryConfig\":{\"status\":\"%s\"}%s%s}",
                 d->has_reboot ? "\"rebootTime\":\"" : "", d->has_reboot ? d->reboot : "",
                 d->has_reboot ? "\"," : "", d->status, d->has_temp ? "" : "",
                 d->has_nul ? ",\"nul\":null" : "");
        cr_assert_eq(mh_store_twin_report(store, d->id, buf, strlen(buf), -1, &v, &st), MH_OK, "%s: %s", buf,
                     st.text);
        if (d->has_temp) {
            snprintf(buf, sizeof buf, "{\"temp\":%.1f}", d->temp);
            cr_assert_eq(mh_store_twin_report(store, d->id, buf, strlen(buf), -1, &v, &st), MH_OK, "%s",
                         st.text);
        }
    }
}

static void fleet_free(void)
{
    mh_store_free(store);
    store = NULL;
}

TestSuite(query_exec, .init = fleet_build, .fini = fleet_free);

/* Runs query over all pages of page_size; returns the concatenated items; *out_pages: pages. */
static cJSON *run_all(const char *query, int page_size, int *out_pages, const char **out_type)
{
    cJSON *all = cJSON_CreateArray();
    char *token = NULL;
    int pages = 0;

    do {
        mh_query_page page;
        mh_status st = {0};
        cJSON *it;
        mh_err err = mh_query_execute(store, query, page_size, token, &page, &st);
        cr_assert_eq(err, MH_OK, "%s: %s", query, st.text);
        free(token);
        token = page.continuation;
        page.continuation = NULL;
        if (out_type)
            *out_type = page.item_type;
        if (page_size > 0)
            cr_assert_leq(cJSON_GetArraySize(page.items), page_size);
        if (token)
            cr_assert_gt(cJSON_GetArraySize(page.items), 0, "a page with a continuation must not be empty");
        while ((it = cJSON_DetachItemFromArray(page.items, 0)))
            cJSON_AddItemToArray(all, it);
        mh_query_page_cleanup(&page);
        cr_assert_lt(++pages, 1000, "paging does not end");
    } while (token);
    if (out_pages)
        *out_pages = pages;
    return all;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Expected ids (sorted as SQLite's BINARY collation, i.e. strcmp) joined by ','. */
static void expected_ids(int (*pred)(const dev *), char *out, size_t len)
{
    const char *ids[NDEV];
    int k = 0;

    for (int i = 0; i < NDEV; i++)
        if (pred(&fleet[i]))
            ids[k++] = fleet[i].id;
    qsort(ids, (size_t)k, sizeof ids[0], cmp_str);
    out[0] = '\0';
    for (int i = 0; i < k; i++) {
        strncat(out, i ? "," : "", len - strlen(out) - 1);
        strncat(out, ids[i], len - strlen(out) - 1);
    }
}

static void got_ids(const cJSON *items, char *out, size_t len)
{
    const cJSON *it;
    int i = 0;

    out[0] = '\0';
    cJSON_ArrayForEach(it, items)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "deviceId");
        cr_assert(cJSON_IsString(id));
        strncat(out, i++ ? "," : "", len - strlen(out) - 1);
        strncat(out, id->valuestring, len - strlen(out) - 1);
    }
}

/* predicates, each the independent meaning of one query */
static int p_all(const dev *d)
{
    (void)d;
    return 1;
}
static int p_us(const dev *d)
{
    return d->region && !strcmp(d->region, "US");
}
static int p_not_us(const dev *d)
{
    return d->region && strcmp(d->region, "US") != 0;
}
static int p_n_gt_10(const dev *d)
{
    return d->has_tags && d->n_is_num && d->n > 10;
}
static int p_n_str_gt_10(const dev *d)
{
    char s[16];
    snprintf(s, sizeof s, "%d", d->n);
    return d->has_tags && !d->n_is_num && strcmp(s, "10") > 0;
}
static int p_flag(const dev *d)
{
    return d->has_tags && d->flag;
}
static int p_not_flag(const dev *d)
{
    return d->has_tags && !d->flag;
}
static int p_reboot_gt(const dev *d)
{
    return d->has_reboot && strcmp(d->reboot, "2024-01-10") > 0;
}
static int p_reboot_def(const dev *d)
{
    return d->has_reboot;
}
static int p_no_tags(const dev *d)
{
    return !d->has_tags;
}
static int p_us_eu(const dev *d)
{
    return d->region && (!strcmp(d->region, "US") || !strcmp(d->region, "EU"));
}
static int p_not_us_eu(const dev *d)
{
    return d->region && strcmp(d->region, "US") && strcmp(d->region, "EU");
}
static int p_temp_range(const dev *d)
{
    return d->has_temp && d->temp >= 15.0 && d->temp < 40;
}
static int p_disabled(const dev *d)
{
    return d->disabled;
}
static int p_enabled(const dev *d)
{
    return !d->disabled;
}
static int p_n_plus(const dev *d)
{
    return d->has_tags && d->n_is_num && d->n + 1 > 20;
}
static int p_n_mod(const dev *d)
{
    return d->has_tags && d->n_is_num && d->n % 4 == 0;
}
static int p_n_div(const dev *d)
{
    return d->has_tags && d->n_is_num && d->n / 2.0 == 3;
}
static int p_desired_v(const dev *d)
{
    return d->desired_writes > 0;
}
static int p_ids(const dev *d)
{
    return !strcmp(d->id, "dev-01") || !strcmp(d->id, "dev'q");
}
static int p_none(const dev *d)
{
    (void)d;
    return 0;
}
static int p_n_eq_3(const dev *d)
{
    return d->has_tags && !d->n_is_num && d->n == 3;
}
static int p_n_4_or_5(const dev *d)
{
    return d->has_tags && ((d->n_is_num && d->n == 4) || (!d->n_is_num && d->n == 5));
}
static int p_status_success_us(const dev *d)
{
    return !strcmp(d->status, "Success") || p_us(d);
}
static int p_n_in_mixed(const dev *d)
{
    return d->has_tags && ((d->n_is_num && (d->n == 2 || d->n == 4)) || (!d->n_is_num && d->n == 3));
}
static int p_n_nin_mixed(const dev *d)
{
    return d->has_tags && !p_n_in_mixed(d);
}

struct exec_case {
    const char *q;
    int (*pred)(const dev *);
};

static const struct exec_case exec_cases[] = {
    {"SELECT * FROM devices", p_all},
    {"SELECT * FROM devices WHERE tags.region = 'US'", p_us},
    {"SELECT * FROM devices WHERE tags.region != 'US'", p_not_us},
    {"SELECT * FROM devices WHERE tags.region <> \"US\"", p_not_us},
    {"SELECT * FROM devices WHERE NOT (tags.region = 'US')", p_not_us},
    {"SELECT * FROM devices WHERE tags.n > 10", p_n_gt_10},
    {"SELECT * FROM devices WHERE tags.n > '10'", p_n_str_gt_10},
    {"SELECT * FROM devices WHERE 10 < tags.n", p_n_gt_10},
    {"SELECT * FROM devices WHERE tags.flag = true", p_flag},
    {"SELECT * FROM devices WHERE tags.flag", p_flag},
    {"SELECT * FROM devices WHERE NOT tags.flag", p_not_flag},
    {"SELECT * FROM devices WHERE tags.flag = false", p_not_flag},
    {"SELECT * FROM devices WHERE properties.reported.rebootTime > '2024-01-10'", p_reboot_gt},
    {"SELECT * FROM devices WHERE is_defined(properties.reported.rebootTime)", p_reboot_def},
    {"SELECT * FROM devices WHERE NOT IS_DEFINED(tags)", p_no_tags},
    {"SELECT * FROM devices WHERE tags.region IN ['US', 'EU']", p_us_eu},
    {"SELECT * FROM devices WHERE tags.region NIN ['US', 'EU']", p_not_us_eu},
    {"SELECT * FROM devices WHERE NOT (tags.region IN ['US', 'EU'])", p_not_us_eu},
    {"SELECT * FROM devices WHERE properties.reported.temp >= 15.0 AND properties.reported.temp < 40",
     p_temp_range},
    /* a reported null deletes the property (merge patch), so nothing is null in reported */
    {"SELECT * FROM devices WHERE properties.reported.nul = null", p_none},
    {"SELECT * FROM devices WHERE x509Thumbprint.primaryThumbprint = null", p_all},
    {"SELECT * FROM devices WHERE status = 'disabled'", p_disabled},
    {"SELECT * FROM devices WHERE STATUS = 'enabled'", p_enabled},
    {"SELECT * FROM devices WHERE tags.n + 1 > 20", p_n_plus},
    {"SELECT * FROM devices WHERE tags.n % 4 = 0", p_n_mod},
    {"SELECT * FROM devices WHERE tags.n / 2 = 3", p_n_div},
    {"SELECT * FROM devices WHERE properties.desired.$version > 1", p_desired_v},
    {"SELECT * FROM devices WHERE deviceId IN ['dev-01', \"dev'q\"]", p_ids},
    {"SELECT * FROM devices WHERE deviceId IN ['dev-01', 'dev\\'q']", p_ids},
    {"SELECT * FROM devices WHERE tags.Region = 'US'", p_none},
    {"SELECT * FROM devices WHERE Tags.region = 'US'", p_us},
    {"SELECT * FROM devices WHERE tags.n = '3'", p_n_eq_3},
    {"SELECT * FROM devices WHERE tags.n = 4 OR tags.n = '5'", p_n_4_or_5},
    {"SELECT * FROM devices WHERE tags.n = 0x4 OR tags.n = \"\\u0035\"", p_n_4_or_5},
    {"SELECT * FROM devices WHERE properties.reported.telemetryConfig.status = 'Success' OR tags.region = "
     "'US'",
     p_status_success_us},
    {"SELECT * FROM devices WHERE tags.n IN [2, 4, '3', true, null]", p_n_in_mixed},
    {"SELECT * FROM devices WHERE tags.n NIN [2, 4, '3']", p_n_nin_mixed},
    {"SELECT * FROM devices WHERE tags.region = 1 OR tags.n = 'x' OR tags.flag = 'true' OR tags = 1", p_none},
    {"SELECT * FROM devices WHERE tags.region > 5 OR tags.n < 'a' AND tags.n > 100", p_none},
    {"SELECT * FROM devices WHERE nonexistent = 1 OR undefined = undefined OR null != null", p_none},
    {"SELECT * FROM devices WHERE 1 = 1 AND 'a' = 'a' AND true", p_all},
    {"SELECT * FROM devices WHERE tags.region = 'US' AND properties.reported.$version > 0 AND version > 0",
     p_us},
};

Test(query_exec, mh_query_execute_result_sets_succeeds)
{
    for (size_t i = 0; i < sizeof exec_cases / sizeof exec_cases[0]; i++) {
        char want[2048], got[2048];
        const char *type = NULL;
        cJSON *items = run_all(exec_cases[i].q, 1000, NULL, &type);
        expected_ids(exec_cases[i].pred, want, sizeof want);
        got_ids(items, got, sizeof got);
        cr_expect_str_eq(got, want, "case %zu: %s", i, exec_cases[i].q);
        cr_expect_str_eq(type, "Twin");
        cJSON_Delete(items);
    }
}

Test(query_exec, mh_query_execute_twin_items_succeeds)
{
    cJSON *items = run_all("SELECT * FROM devices WHERE deviceId = 'dev-02'", 0, NULL, NULL);
    const cJSON *t = cJSON_GetArrayItem(items, 0);
    cr_assert_eq(cJSON_GetArraySize(items), 1);
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(t, "deviceId")->valuestring, "dev-02");
    cr_expect(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "etag")));
    cr_expect_str_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "tags"), "region")->valuestring,
        "ASIA");
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "properties"), "reported"),
        "$version")));
    cJSON_Delete(items);
}

Test(query_exec, mh_query_execute_projection_succeeds)
{
    const char *type = NULL;
    cJSON *items = run_all("SELECT DeviceId, tags.region, properties.reported.temp AS t, tags.flag AS f FROM "
                           "devices WHERE deviceId IN ['dev-03', 'dev-04']",
                           0, NULL, &type);
    char *text = cJSON_PrintUnformatted(items);
    cr_expect_str_eq(type, "Raw");
    /* dev-03 has no tags (i % 4 == 3): those members are left out, not null */
    cr_expect_str_eq(
        text,
        "[{\"deviceId\":\"dev-03\",\"t\":4.5},{\"deviceId\":\"dev-04\",\"region\":\"US\",\"f\":false}]");
    free(text);
    cJSON_Delete(items);
    items = run_all(
        "SELECT properties.desired.$version AS v, properties.reported.telemetryConfig AS tc, capabilities, "
        "x509Thumbprint.primaryThumbprint AS p, 2 * 3 + 1 AS seven, 7 / 2 AS half, 7 % 3 AS m, -tags.n AS "
        "neg "
        "FROM devices WHERE deviceId = 'dev-04'",
        0, NULL, NULL);
    text = cJSON_PrintUnformatted(items);
    cr_expect_str_eq(text, "[{\"v\":2,\"tc\":{\"status\":\"Pending\"},\"capabilities\":{\"iotEdge\":false},"
                           "\"p\":null,\"seven\":7,\"half\":3.5,\"m\":1,\"neg\":-4}]");
    free(text);
    cJSON_Delete(items);
}

Test(query_exec, mh_query_execute_group_by_succeeds)
{
    int want[4] = {0}; /* US, EU, ASIA, undefined */
    const cJSON *it;
    const char *type = NULL;
    int seen = 0;
    cJSON *items =
        run_all("SELECT tags.region AS region, COUNT() AS numberOfDevices FROM devices GROUP BY tags.region",
                0, NULL, &type);

    for (int i = 0; i < NDEV; i++)
        want[fleet[i].region ? (!strcmp(fleet[i].region, "US")   ? 0
                                : !strcmp(fleet[i].region, "EU") ? 1
                                                                 : 2)
                             : 3]++;
    cr_expect_str_eq(type, "Raw");
    cr_assert_eq(cJSON_GetArraySize(items), 4);
    cJSON_ArrayForEach(it, items)
    {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "region");
        int n = (int)cJSON_GetObjectItemCaseSensitive(it, "numberOfDevices")->valuedouble;
        int k = !r ? 3 : !strcmp(r->valuestring, "US") ? 0 : !strcmp(r->valuestring, "EU") ? 1 : 2;
        cr_expect_eq(n, want[k], "group %d", k);
        seen |= 1 << k;
    }
    cr_expect_eq(seen, 15);
    cJSON_Delete(items);

    /* GROUP BY the alias, two keys, WHERE, a page size of 1 */
    {
        int pages = 0, total = 0;
        items = run_all(
            "SELECT properties.reported.telemetryConfig.status AS s, status AS st, COUNT() AS n FROM devices "
            "WHERE status = 'enabled' GROUP BY s, status",
            1, &pages, NULL);
        cJSON_ArrayForEach(it, items)
        {
            int want_n = 0;
            const char *s = cJSON_GetObjectItemCaseSensitive(it, "s")->valuestring;
            cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(it, "st")->valuestring, "enabled");
            for (int i = 0; i < NDEV; i++)
                want_n += !fleet[i].disabled && !strcmp(fleet[i].status, s);
            cr_expect_eq((int)cJSON_GetObjectItemCaseSensitive(it, "n")->valuedouble, want_n, "%s", s);
            total += want_n;
        }
        cr_expect_eq(cJSON_GetArraySize(items), 3);
        cr_expect_eq(pages, 3);
        cr_expect_eq(total, NDEV - 7); /* 7 disabled: i % 6 == 0 */
        cJSON_Delete(items);
    }
}

Test(query_exec, mh_query_execute_aggregates_succeeds)
{
    double sum = 0, tsum = 0, tmin = 1e9, tmax = -1e9;
    int cnt = 0, tcnt = 0;
    char want[512], *got;
    cJSON *items;

    for (int i = 0; i < NDEV; i++) {
        if (fleet[i].has_tags && fleet[i].n_is_num) {
            sum += fleet[i].n;
            cnt++;
        }
        if (fleet[i].has_temp) {
            tsum += fleet[i].temp;
            tcnt++;
            tmin = fmin(tmin, fleet[i].temp);
            tmax = fmax(tmax, fleet[i].temp);
        }
    }
    items = run_all(
        "SELECT COUNT() AS total, COUNT(tags.n) AS withN, SUM(tags.n) AS s, AVG(properties.reported.temp) AS "
        "a, "
        "MIN(properties.reported.temp) AS lo, MAX(properties.reported.temp) AS hi, MIN(tags.region) AS r, "
        "SUM(tags.region) AS none FROM devices",
        0, NULL, NULL);
    got = cJSON_PrintUnformatted(items);
    {
        cJSON *w = cJSON_CreateArray(), *o = cJSON_CreateObject();
        char *t;
        int withn = 0;
        for (int i = 0; i < NDEV; i++)
            withn += fleet[i].has_tags;
        cJSON_AddNumberToObject(o, "total", NDEV);
        cJSON_AddNumberToObject(o, "withN", withn);
        cJSON_AddNumberToObject(o, "s", sum);
        cJSON_AddNumberToObject(o, "a", tsum / tcnt);
        cJSON_AddNumberToObject(o, "lo", tmin);
        cJSON_AddNumberToObject(o, "hi", tmax);
        cJSON_AddStringToObject(o, "r", "ASIA");
        cJSON_AddItemToArray(w, o);
        t = cJSON_PrintUnformatted(w);
        snprintf(want, sizeof want, "%s", t);
        free(t);
        cJSON_Delete(w);
    }
    cr_expect_str_eq(got, want);
    (void)cnt;
    free(got);
    cJSON_Delete(items);

    items = run_all("SELECT COUNT() AS n FROM devices WHERE tags.region = 'nowhere'", 0, NULL, NULL);
    got = cJSON_PrintUnformatted(items);
    cr_expect_str_eq(got, "[{\"n\":0}]");
    free(got);
    cJSON_Delete(items);
}

Test(query_exec, mh_query_execute_paging_succeeds)
{
    static const char *const queries[] = {
        "SELECT * FROM devices",
        "SELECT * FROM devices WHERE is_defined(tags)",
        "SELECT deviceId FROM devices WHERE properties.reported.rebootTime > '2024-01-05'",
    };
    static const int sizes[] = {1, 3, 7, 100};
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        char full[2048];
        cJSON *ref = run_all(queries[q], 1000, NULL, NULL);
        int n = cJSON_GetArraySize(ref);
        got_ids(ref, full, sizeof full);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            char got[2048];
            int pages = 0;
            cJSON *all = run_all(queries[q], sizes[s], &pages, NULL);
            got_ids(all, got, sizeof got); /* ordered by id: equal text means same set, no repeats */
            cr_expect_str_eq(got, full, "%s page %d", queries[q], sizes[s]);
            cr_expect_eq(pages, n == 0 ? 1 : (n + sizes[s] - 1) / sizes[s], "%s page %d", queries[q],
                         sizes[s]);
            cJSON_Delete(all);
        }
        cJSON_Delete(ref);
    }
}

Test(query_exec, mh_query_execute_top_succeeds)
{
    int pages = 0;
    char got[512], want[512];
    cJSON *items = run_all("SELECT TOP 5 * FROM devices", 2, &pages, NULL);
    cJSON *ref = run_all("SELECT * FROM devices", 5, NULL, NULL);
    cr_expect_eq(cJSON_GetArraySize(items), 5);
    cr_expect_eq(pages, 3);
    got_ids(items, got, sizeof got);
    while (cJSON_GetArraySize(ref) > 5)
        cJSON_DeleteItemFromArray(ref, 5);
    got_ids(ref, want, sizeof want);
    cr_expect_str_eq(got, want);
    cJSON_Delete(items);
    cJSON_Delete(ref);
    items = run_all("SELECT TOP 5 * FROM devices", 5, &pages, NULL);
    cr_expect_eq(pages, 1, "no continuation when TOP is reached exactly");
    cJSON_Delete(items);
    items = run_all("SELECT TOP 0 deviceId FROM devices", 0, &pages, NULL);
    cr_expect_eq(cJSON_GetArraySize(items), 0);
    cJSON_Delete(items);
}

Test(query_exec, mh_query_execute_empty_result_succeeds)
{
    mh_query_page page;
    mh_status st = {0};
    cr_assert_eq(
        mh_query_execute(store, "SELECT * FROM devices WHERE tags.region = 'Mars'", 10, NULL, &page, &st),
        MH_OK);
    cr_expect_eq(cJSON_GetArraySize(page.items), 0);
    cr_expect_null(page.continuation);
    cr_expect_str_eq(page.item_type, "Twin");
    mh_query_page_cleanup(&page);
}

Test(query_exec, mh_query_execute_default_and_capped_page_size_succeeds)
{
    mh_query_page page;
    mh_status st = {0};
    cr_assert_eq(mh_query_execute(store, "SELECT deviceId FROM devices", 5000, NULL, &page, &st), MH_OK);
    cr_expect_eq(cJSON_GetArraySize(page.items), NDEV);
    cr_expect_null(page.continuation);
    mh_query_page_cleanup(&page);
}

Test(query_exec, mh_query_execute_bad_continuation_fails)
{
    mh_query_page page, p2;
    mh_status st = {0};
    cr_assert_eq(mh_query_execute(store, "SELECT * FROM devices", 2, NULL, &page, &st), MH_OK);
    cr_assert_not_null(page.continuation);
    /* a token of another query */
    cr_expect_eq(mh_query_execute(store, "SELECT * FROM devices WHERE status = 'enabled'", 2,
                                  page.continuation, &p2, &st),
                 MH_ERR_ARGUMENT_INVALID);
    cr_expect_str_eq(st.text, "The continuation token is not valid for this query");
    /* garbage, and valid base64 of something else */
    cr_expect_eq(mh_query_execute(store, "SELECT * FROM devices", 2, "not a token!", &p2, &st),
                 MH_ERR_ARGUMENT_INVALID);
    cr_expect_eq(mh_query_execute(store, "SELECT * FROM devices", 2, "", &p2, &st), MH_ERR_ARGUMENT_INVALID);
    cr_expect_eq(mh_query_execute(store, "SELECT * FROM devices", 2, "eyJ4IjoxfQ==", &p2, &st),
                 MH_ERR_ARGUMENT_INVALID);
    mh_query_page_cleanup(&page);
}

struct exec_err {
    const char *q;
    mh_err code;
};

Test(query_exec, mh_query_execute_errors_fails)
{
    static char longq[8300];
    static const struct exec_err cases[] = {
        {"", MH_ERR_ARGUMENT_INVALID},
        {"SELECT * FORM devices", MH_ERR_QUERY},
        {"SELECT * FROM devices.jobs", MH_ERR_NOT_IMPLEMENTED},
        {"SELECT * FROM devices WHERE x = 'unterminated", MH_ERR_QUERY},
        {longq, MH_ERR_ARGUMENT_INVALID},
    };
    snprintf(longq, sizeof longq, "SELECT * FROM devices WHERE deviceId = '%8200d'", 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mh_query_page page = {NULL, NULL, NULL};
        mh_status st = {0};
        cr_expect_eq(mh_query_execute(store, cases[i].q, 0, NULL, &page, &st), cases[i].code, "case %zu: %s",
                     i, st.text);
        cr_expect_null(page.items);
    }
    {
        mh_query_page page = {NULL, NULL, NULL};
        mh_status st = {0};
        cr_expect_eq(mh_query_execute(store, NULL, 0, NULL, &page, &st), MH_ERR_ARGUMENT_INVALID);
    }
}

Test(query_exec, mh_query_execute_deep_nesting_succeeds_or_fails_cleanly)
{
    char q[512];
    size_t o = (size_t)snprintf(q, sizeof q, "SELECT * FROM devices WHERE ");
    mh_query_page page;
    mh_status st = {0};
    mh_err err;
    for (int i = 0; i < 38; i++)
        o += (size_t)snprintf(q + o, sizeof q - o, "(");
    o += (size_t)snprintf(q + o, sizeof q - o, "tags.n + 1 > 2");
    for (int i = 0; i < 38; i++)
        o += (size_t)snprintf(q + o, sizeof q - o, ")");
    err = mh_query_execute(store, q, 0, NULL, &page, &st);
    cr_expect(err == MH_OK || err == MH_ERR_QUERY, "%d %s", err, st.text);
    if (!err)
        mh_query_page_cleanup(&page);
}

Test(query_exec, mh_query_execute_sees_updates_succeeds)
{
    mh_status st = {0};
    long v;
    cJSON *items;
    const char *patch = "{\"rebootTime\":\"2030-01-01T00:00:00Z\"}";
    cr_assert_eq(mh_store_twin_report(store, "dev-05", patch, strlen(patch), -1, &v, &st), MH_OK);
    items = run_all("SELECT deviceId FROM devices WHERE properties.reported.rebootTime > '2029-12-31'", 0,
                    NULL, NULL);
    cr_expect_eq(cJSON_GetArraySize(items), 1);
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, 0), "deviceId")->valuestring,
                     "dev-05");
    cJSON_Delete(items);
}

/* "deviceId/moduleId" of each module twin in items, comma-separated. */
static void got_module_ids(const cJSON *items, char *out, size_t len)
{
    const cJSON *it;
    out[0] = '\0';
    cJSON_ArrayForEach(it, items)
    {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "deviceId");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "moduleId");
        cr_assert(cJSON_IsString(d));
        cr_assert(cJSON_IsString(m), "a module twin has moduleId");
        if (out[0])
            strncat(out, ",", len - strlen(out) - 1);
        strncat(out, d->valuestring, len - strlen(out) - 1);
        strncat(out, "/", len - strlen(out) - 1);
        strncat(out, m->valuestring, len - strlen(out) - 1);
    }
}

/* Modules: dev-01..dev-05 get modules "ma" and "mb" (tags.k = device index), dev-02's "ma" reports
 * status scanning. FROM devices.modules pages over them; FROM devices still sees devices only. */
Test(query_exec, mh_query_execute_modules_succeeds)
{
    mh_status st = {0};
    for (int i = 1; i <= 5; i++) {
        static const char *const names[] = {"ma", "mb"};
        for (int k = 0; k < 2; k++) {
            char id[64], buf[128];
            cJSON *out = NULL, *push = NULL;
            long v;
            snprintf(id, sizeof id, "dev-%02d/%s", i, names[k]);
            cr_assert_eq(mh_store_module_create(store, fleet[i].id, names[k], NULL, &out, &st), MH_OK, "%s",
                         st.text);
            cJSON_Delete(out);
            snprintf(buf, sizeof buf, "{\"tags\":{\"k\":%d}}", i);
            cJSON *body = cJSON_Parse(buf);
            cr_assert_eq(mh_store_twin_update(store, id, body, NULL, 0, &out, &push, &v, &st), MH_OK, "%s",
                         st.text);
            cJSON_Delete(body);
            cJSON_Delete(out);
            cJSON_Delete(push);
        }
    }
    long ver;
    cr_assert_eq(mh_store_twin_report(store, "dev-02/ma", "{\"status\":\"scanning\"}", 21, -1, &ver, &st),
                 MH_OK, "%s", st.text);

    static const struct {
        const char *q;
        const char *want;
    } cases[] = {
        {"SELECT * FROM devices.modules", "dev-01/ma,dev-01/mb,dev-02/ma,dev-02/mb,dev-03/ma,dev-03/"
                                          "mb,dev-04/ma,dev-04/mb,dev-05/ma,dev-05/mb"},
        {"SELECT * FROM devices.modules WHERE moduleId = 'mb' AND tags.k > 3", "dev-04/mb,dev-05/mb"},
        {"SELECT * FROM devices.modules WHERE deviceId IN ['dev-03', 'dev-09']", "dev-03/ma,dev-03/mb"},
        {"SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN "
         "['dev-01', 'dev-02']",
         "dev-02/ma"},
        {"SELECT * FROM devices.modules WHERE devices.modules.moduleId = 'ma' AND deviceId = 'dev-05'",
         "dev-05/ma"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        static const int sizes[] = {1, 3, 1000};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            char got[1024];
            const char *type = NULL;
            cJSON *all = run_all(cases[c].q, sizes[s], NULL, &type);
            got_module_ids(all, got, sizeof got);
            cr_expect_str_eq(got, cases[c].want, "%s page %d", cases[c].q, sizes[s]);
            cr_expect_str_eq(type, "Twin");
            cJSON_Delete(all);
        }
    }
    /* projections and aggregates see the module columns */
    cJSON *rows = run_all("SELECT deviceId, moduleId FROM devices.modules WHERE tags.k = 2", 1, NULL, NULL);
    char *text = cJSON_PrintUnformatted(rows);
    cr_expect_str_eq(
        text,
        "[{\"deviceId\":\"dev-02\",\"moduleId\":\"ma\"},{\"deviceId\":\"dev-02\",\"moduleId\":\"mb\"}]");
    free(text);
    cJSON_Delete(rows);
    rows = run_all("SELECT COUNT() AS n FROM devices.modules", 10, NULL, NULL);
    cr_expect_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "n")->valueint, 10);
    cJSON_Delete(rows);
    rows = run_all("SELECT COUNT() AS n FROM devices", 10, NULL, NULL);
    cr_expect_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "n")->valueint, NDEV);
    cJSON_Delete(rows);
    rows = run_all("SELECT * FROM devices", 1000, NULL, NULL);
    cr_expect_eq(cJSON_GetArraySize(rows), NDEV);
    cJSON_Delete(rows);
}
