/* query.c - POST /devices/query: parse, compile, run one page, and the continuation token.
 *
 * The token is base64 of a small JSON object: a hash of the query text (a token is refused for any
 * other query), how many rows earlier pages returned (for TOP), and where the next page starts
 * (the last deviceId for id-ordered queries, a row offset for grouped ones). Clients treat it as
 * opaque and re-send the same query with it (addendum 6).
 */
#include "query.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot_b64.h"
#include "query/parser.h"
#include "query/sqlgen.h"

#define TOKEN_MAX 2048 /* base64 text; a device id is at most 128 characters */

/* MOCK: results are ordered by deviceId (the real hub's order is unspecified) and always current
 * (the real hub's query results may lag writes by seconds). The first query that compares or
 * groups on a twin path builds an index on it (mh_query_ensure_indexes), so it is slower once. */

typedef struct cursor {
    char *after_id; /* owned */
    long long offset;
    long long returned; /* rows returned by earlier pages */
} cursor;

static uint64_t query_hash(const char *q)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
    for (; *q; q++) {
        h ^= (unsigned char)*q;
        h *= 1099511628211ULL;
    }
    return h;
}

static mh_err bad_token(mh_status *st)
{
    return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The continuation token is not valid for this query");
}

static mh_err token_decode(const char *token, const char *query, int keyset, cursor *out, mh_status *st)
{
    unsigned char raw[TOKEN_MAX];
    size_t len = strlen(token), rawlen = 0;
    cJSON *doc = NULL;
    const cJSON *h, *k, *o, *n;
    char hash[17];
    mh_err err = MH_OK;

    if (len == 0 || len >= TOKEN_MAX || iot_b64_decode(token, len, raw, sizeof raw - 1, &rawlen) != IOT_OK)
        return bad_token(st);
    raw[rawlen] = '\0';
    if (strlen((char *)raw) != rawlen || !(doc = cJSON_Parse((char *)raw)) || !cJSON_IsObject(doc))
        goto bad;
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)query_hash(query));
    h = cJSON_GetObjectItemCaseSensitive(doc, "h");
    n = cJSON_GetObjectItemCaseSensitive(doc, "n");
    k = cJSON_GetObjectItemCaseSensitive(doc, "k");
    o = cJSON_GetObjectItemCaseSensitive(doc, "o");
    if (!cJSON_IsString(h) || strcmp(h->valuestring, hash) != 0 || !cJSON_IsNumber(n) || n->valuedouble < 0)
        goto bad;
    if (keyset ? !cJSON_IsString(k) || o : !cJSON_IsNumber(o) || o->valuedouble < 0 || k)
        goto bad;
    out->returned = (long long)n->valuedouble;
    out->offset = keyset ? 0 : (long long)o->valuedouble;
    out->after_id = NULL;
    if (keyset && !(out->after_id = strdup(k->valuestring)))
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
    cJSON_Delete(doc);
    return err;
bad:
    cJSON_Delete(doc);
    return bad_token(st);
}

/* Returns a malloc'd token or NULL (out of memory). */
static char *token_encode(const char *query, long long returned, const char *last_id, long long offset)
{
    cJSON *doc = cJSON_CreateObject();
    char hash[17], *text = NULL, *out = NULL;
    size_t len;

    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)query_hash(query));
    if (!doc || !cJSON_AddStringToObject(doc, "h", hash) ||
        !cJSON_AddNumberToObject(doc, "n", (double)returned))
        goto done;
    if (last_id ? !cJSON_AddStringToObject(doc, "k", last_id)
                : !cJSON_AddNumberToObject(doc, "o", (double)offset))
        goto done;
    if (!(text = cJSON_PrintUnformatted(doc)))
        goto done;
    len = strlen(text);
    if (!(out = malloc(IOT_B64_ENCODED_SIZE(len))))
        goto done;
    if (iot_b64_encode((const unsigned char *)text, len, out, IOT_B64_ENCODED_SIZE(len)) != IOT_OK) {
        free(out);
        out = NULL;
    }
done:
    free(text);
    cJSON_Delete(doc);
    return out;
}

typedef struct collect {
    const mh_qplan *plan;
    cJSON *items;
    long long count;
    long long limit; /* rows to keep; one more means another page follows */
    int more;
    char *last_id; /* owned: id of the last kept row (keyset plans) */
    int failed;
} collect;

/* Keeps rows up to the limit, renaming projection columns c<i> to their output names. */
static int on_row(void *ctx, cJSON *row)
{
    collect *c = ctx;
    const cJSON *id;
    size_t i;

    if (c->count >= c->limit) {
        c->more = 1;
        cJSON_Delete(row);
        return 1;
    }
    if (c->plan->twin) {
        id = cJSON_GetObjectItemCaseSensitive(row, "deviceId");
    } else {
        cJSON *out = cJSON_CreateObject();
        char col[32];
        id = NULL;
        if (!out)
            goto fail;
        for (i = 0; i < c->plan->ncols; i++) {
            cJSON *v;
            snprintf(col, sizeof col, "c%zu", i);
            if ((v = cJSON_DetachItemFromObjectCaseSensitive(row, col)) &&
                !cJSON_AddItemToObject(out, c->plan->names[i], v)) {
                cJSON_Delete(v);
                cJSON_Delete(out);
                goto fail;
            }
        }
        if (c->plan->keyset) {
            free(c->last_id);
            c->last_id = NULL;
            id = cJSON_GetObjectItemCaseSensitive(row, "__id");
            if (!cJSON_IsString(id) || !(c->last_id = strdup(id->valuestring))) {
                cJSON_Delete(out);
                goto fail;
            }
            id = NULL;
        }
        cJSON_Delete(row);
        row = out;
    }
    if (id) {
        /* a module twin's row id is its identity "{deviceId}/{moduleId}" (identity.h) */
        const cJSON *module = cJSON_GetObjectItemCaseSensitive(row, "moduleId");
        char identity[MH_IDENTITY_MAX + 1];
        free(c->last_id);
        c->last_id = NULL;
        if (!cJSON_IsString(id))
            goto fail;
        if (cJSON_IsString(module) && module->valuestring[0]) {
            snprintf(identity, sizeof identity, "%s/%s", id->valuestring, module->valuestring);
            c->last_id = strdup(identity);
        } else {
            c->last_id = strdup(id->valuestring);
        }
        if (!c->last_id)
            goto fail;
    }
    cJSON_AddItemToArray(c->items, row);
    c->count++;
    return 0;
fail:
    cJSON_Delete(row);
    c->failed = 1;
    return 1;
}

mh_err mh_query_execute(mh_store *store, const char *query, int max_items, const char *continuation,
                        mh_query_page *out_page, mh_status *st)
{
    mh_qast *ast = NULL;
    mh_qplan plan;
    cursor cur = {NULL, 0, 0};
    collect col = {NULL, NULL, 0, 0, 0, NULL, 0};
    long long page = max_items <= 0                  ? MH_QUERY_DEFAULT_PAGE
                     : max_items > MH_QUERY_MAX_PAGE ? MH_QUERY_MAX_PAGE
                                                     : max_items;
    long long limit;
    mh_qpage_req pg;
    char *token = NULL;
    int keyset;
    mh_err err;

    memset(&plan, 0, sizeof plan);
    if (!query || !*query)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The query is empty");
    if ((err = mh_q_parse(query, strlen(query), &ast, st)))
        return err;
    keyset = mh_q_is_keyset_query(ast);
    if (continuation && (err = token_decode(continuation, query, keyset, &cur, st)))
        goto cleanup;
    limit = page;
    if (ast->top >= 0 && ast->top - cur.returned < limit)
        limit = ast->top - cur.returned < 0 ? 0 : ast->top - cur.returned;
    pg.after_id = cur.after_id;
    pg.offset = cur.offset;
    pg.limit = limit + 1;
    if ((err = mh_q_compile(ast, &pg, &plan, st)))
        goto cleanup;
    mh_query_ensure_indexes(store, plan.indexes);
    col.plan = &plan;
    col.limit = limit;
    if (!(col.items = cJSON_CreateArray())) {
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if (limit > 0 && (err = mh_store_query_run(store, plan.sql, plan.params, on_row, &col, st)))
        goto cleanup;
    if (col.failed) {
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if (col.more && col.count > 0 && (ast->top < 0 || cur.returned + col.count < ast->top)) {
        token = token_encode(query, cur.returned + col.count, keyset ? col.last_id : NULL,
                             cur.offset + col.count);
        if (!token) {
            err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
    }
    out_page->items = col.items;
    out_page->continuation = token;
    out_page->item_type = mh_q_is_twin_query(ast) ? "Twin" : "Raw";
    col.items = NULL;
cleanup:
    cJSON_Delete(col.items);
    free(col.last_id);
    free(cur.after_id);
    mh_q_plan_cleanup(&plan);
    mh_q_ast_free(ast);
    return err;
}

void mh_query_page_cleanup(mh_query_page *page)
{
    if (!page)
        return;
    cJSON_Delete(page->items);
    free(page->continuation);
    page->items = NULL;
    page->continuation = NULL;
}
