/* sqlgen.h - compiles a parsed twin query (parser.h) into one SQLite SELECT over the store's
 * `devices` table (docs/INTERNALS.md), using SQLite's JSON functions on the tags/desired/reported
 * columns. Every constant and every JSON path is a bound parameter: no query text is ever pasted
 * into the SQL. Values follow IoT Hub's rules: a missing property is undefined, comparisons
 * between different types (or with undefined) are undefined, and only boolean true selects a twin.
 * Pure code, no I/O.
 */
#ifndef MH_QUERY_SQLGEN_H
#define MH_QUERY_SQLGEN_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "errors.h"
#include "query/parser.h"

/* Where the page starts. */
typedef struct mh_qpage_req {
    const char *after_id; /* keyset plans: only ids > after_id (NULL: from the start) */
    long long offset;     /* grouped/aggregate plans: rows to skip */
    long long limit;      /* rows to return (the caller asks one more to see if a page follows) */
} mh_qpage_req;

typedef struct mh_qplan {
    char *sql;      /* owned; parameters are ?1..?n */
    cJSON *params;  /* owned JSON array: strings, numbers, booleans (param i+1 = item i) */
    cJSON *indexes; /* owned JSON array of [column, path]: expression indexes on
                         * (json_type(column, path), json_extract(column, path), id) that serve
                         * this query (the SQL spells these paths literally) */
    int twin;       /* SELECT *: columns are "__twin_id" then MH_TWIN_COLUMNS */
    int keyset;     /* ordered by id; raw rows carry the id in column "__id" */
    size_t ncols;   /* raw plans: columns "c0".."c<n-1>" hold JSON text (NULL = undefined) */
    char **names;   /* output member name of column c<i>; owned */
} mh_qplan;

/* Compiles ast for the page pg. Errors: MH_ERR_QUERY (position and reason: unknown function,
 * aggregate misuse, GROUP BY mismatch, bad names, duplicate projection names, query too complex),
 * MH_ERR_NOT_IMPLEMENTED (FROM devices.jobs, etag in expressions),
 * MH_ERR_NOMEM. On success *out owns everything (mh_q_plan_cleanup). */
mh_err mh_q_compile(const mh_qast *ast, const mh_qpage_req *pg, mh_qplan *out, mh_status *st) MH_WARN_UNUSED;
void mh_q_plan_cleanup(mh_qplan *plan);

/* 1 when the query returns full twins (x-ms-item-type Twin), 0 for Raw rows. */
int mh_q_is_twin_query(const mh_qast *ast);
/* 1 when the plan pages by keyset (id), 0 when by offset (grouped or aggregate queries). */
int mh_q_is_keyset_query(const mh_qast *ast);

#endif
