/* query.h - IoT Hub twin queries (POST /devices/query): compiles the query text to SQL over the
 * twin store (query/lexer.h, query/parser.h, query/sqlgen.h), runs it, and pages the results with
 * an opaque continuation token. Follows shared/reference/iothub-protocol.md 5.6 and 6 and the
 * addendum 6; https://learn.microsoft.com/azure/iot-hub/query-twins.
 */
#ifndef MH_QUERY_H
#define MH_QUERY_H

#include <cjson/cJSON.h>

#include "errors.h"
#include "store.h"

#define MH_QUERY_DEFAULT_PAGE 100
#define MH_QUERY_MAX_PAGE 1000

typedef struct mh_query_page {
    cJSON *items;          /* JSON array, owned */
    char *continuation;    /* malloc'd opaque token, NULL on the last page */
    const char *item_type; /* "Twin" for SELECT * FROM devices, "Raw" otherwise (static) */
} mh_query_page;

/* Runs one page of a query.
 * query: the text from {"query": "..."}; max_items: x-ms-max-item-count (<= 0 -> 100, capped at
 * 1000); continuation: x-ms-continuation from the previous page of the same query, or NULL.
 * Pages of SELECT * and plain projections are ordered by deviceId and continue after the last id
 * returned; grouped and aggregate results continue by position. No row is skipped or repeated
 * while the twins do not change.
 * Errors: MH_ERR_QUERY (400, "Syntax error at position N: reason"), MH_ERR_NOT_IMPLEMENTED (501,
 * FROM devices.modules / devices.jobs and other hub syntax mockhub lacks), MH_ERR_ARGUMENT_INVALID
 * (empty query, over 8192 characters, or a continuation token that is malformed or belongs to
 * another query), MH_ERR_NOMEM, MH_ERR_INTERNAL. On success *out_page is filled (free with
 * mh_query_page_cleanup); on error it is untouched. */
mh_err mh_query_execute(mh_store *store, const char *query, int max_items, const char *continuation,
                        mh_query_page *out_page, mh_status *st) MH_WARN_UNUSED;
void mh_query_page_cleanup(mh_query_page *page);

/* Creates what the query engine wants in the database (indexes, statistics), idempotently. Called
 * once at hub start, after mh_store_open. Implemented in store_query.c. */
mh_err mh_query_prepare_schema(mh_store *store) MH_WARN_UNUSED;

/* For query.c: creates the expression indexes a compiled query asked for (mh_qplan.indexes:
 * [[column, path], ...]) unless they exist, at most MH_QUERY_MAX_AUTO_INDEXES in all. An index on
 * a twin path costs one pass over the twins once and keeps later queries on that path from
 * parsing every twin. Failures are ignored (an index is only an optimisation). Implemented in
 * store_query.c. */
#define MH_QUERY_MAX_AUTO_INDEXES 16
void mh_query_ensure_indexes(mh_store *store, const cJSON *indexes);

#endif
