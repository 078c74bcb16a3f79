/* fuzz_query.c - libFuzzer target for the twin query compiler (core/query): lexer, parser and SQL
 * generation for a keyset page and an offset page. Every plan is then run on a small ":memory:"
 * store, so SQL that SQLite refuses (MH_ERR_INTERNAL, "query compilation produced invalid SQL")
 * counts as a crash: the compiler must only produce SQL that runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/lexer.h"
#include "query/parser.h"
#include "query/sqlgen.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mh_store *store;

/* Three devices with tags, desired and reported members of several types. */
static void store_setup(void)
{
    static const char *const twins[] = {
        "{\"tags\":{\"region\":\"US\",\"n\":1,\"flag\":true,\"a\":[1,2]},\"properties\":{\"desired\":{\"x\":"
        "1}}}",
        "{\"tags\":{\"region\":\"EU\",\"n\":\"2\",\"o\":{\"p\":null}},\"properties\":{\"desired\":{\"x\":"
        "\"y\"}}}",
        "{\"properties\":{\"desired\":{\"x\":2.5,\"deep\":{\"er\":[{\"z\":1}]}}}}",
    };
    static const char *const reported[] = {"{\"temp\":21.5,\"s\":\"ok\"}", "{\"temp\":-3}", "{}"};
    mh_status st = {0};
    if (mh_store_open(":memory:", 0, &store) != MH_OK)
        abort();
    for (int i = 0; i < 3; i++) {
        char id[16];
        cJSON *out = NULL, *push = NULL, *body = cJSON_Parse(twins[i]);
        long v;
        snprintf(id, sizeof id, "dev%d", i);
        if (body == NULL || mh_store_device_create(store, id, NULL, &out, &st) != MH_OK)
            abort();
        cJSON_Delete(out);
        out = NULL;
        if (mh_store_twin_update(store, id, body, NULL, 0, &out, &push, &v, &st) != MH_OK ||
            mh_store_twin_report(store, id, reported[i], strlen(reported[i]), -1, &v, &st) != MH_OK)
            abort();
        cJSON_Delete(body);
        cJSON_Delete(out);
        cJSON_Delete(push);
    }
}

static int on_row(void *ctx, cJSON *row)
{
    (void)ctx;
    cJSON_Delete(row);
    return 0;
}

static void compile_and_run(const mh_qast *ast, const mh_qpage_req *pg)
{
    mh_qplan plan = {0};
    mh_status st = {0};
    if (mh_q_compile(ast, pg, &plan, &st) != MH_OK)
        return;
    if (plan.sql == NULL || !cJSON_IsArray(plan.params))
        abort();
    if (mh_store_query_run(store, plan.sql, plan.params, on_row, NULL, &st) == MH_ERR_INTERNAL) {
        fprintf(stderr, "invalid SQL: %s\n%s\n", st.text, plan.sql);
        abort();
    }
    mh_q_plan_cleanup(&plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (store == NULL)
        store_setup();
    const char *query = (const char *)data; /* not NUL-terminated: the API takes a length */
    mh_status st = {0};
    mh_qtoks toks = {0};
    if (mh_q_lex(query, size, &toks, &st) == MH_OK) {
        if (toks.n == 0 || toks.v[toks.n - 1].kind != MH_QT_EOF)
            abort();
        for (size_t i = 0; i < toks.n; i++)
            (void)mh_q_tok_name(toks.v[i].kind);
        mh_q_tokens_cleanup(&toks);
    }

    mh_qast *ast = NULL;
    if (mh_q_parse(query, size, &ast, &st) != MH_OK)
        return 0;
    (void)mh_q_is_twin_query(ast);
    mh_qpage_req first = {.after_id = NULL, .offset = 0, .limit = 3};
    mh_qpage_req next = {.after_id = "dev0", .offset = 1, .limit = 2};
    compile_and_run(ast, mh_q_is_keyset_query(ast) ? &next : &first);
    compile_and_run(ast, &first);
    mh_q_ast_free(ast);
    return 0;
}
