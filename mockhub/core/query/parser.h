/* parser.h - the syntax tree of a twin query and the recursive-descent parser that builds it:
 *   SELECT [TOP n] (* | expr [AS alias], ...) FROM devices [WHERE cond] [GROUP BY expr, ...]
 * (https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-query-language). Names are resolved
 * later by the SQL generator (sqlgen.h); the parser only checks the shape. Pure code, no I/O.
 */
#ifndef MH_QUERY_PARSER_H
#define MH_QUERY_PARSER_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "errors.h"
#include "query/lexer.h"

#define MH_Q_MAX_DEPTH 40  /* nesting of parentheses / operators / arrays */
#define MH_Q_MAX_TERMS 300 /* operands of one AND or OR chain */

typedef enum mh_qnode_kind {
    MH_QN_CONST,  /* value (cJSON; NULL = undefined) */
    MH_QN_PATH,   /* segs: a.b.c, [[x]], a[0], a['x'] */
    MH_QN_BINARY, /* op, left, right */
    MH_QN_UNARY,  /* op (MH_QT_NOT, MH_QT_MINUS, MH_QT_PLUS), left */
    MH_QN_CALL,   /* name (upper-cased), args */
    MH_QN_IN      /* op (MH_QT_IN / MH_QT_NIN), left, value = cJSON array of constants */
} mh_qnode_kind;

typedef struct mh_qseg {
    char *name; /* NULL for an index */
    long index; /* name == NULL: array index */
    int pos;
} mh_qseg;

typedef struct mh_qnode mh_qnode;
struct mh_qnode {
    mh_qnode_kind kind;
    size_t pos; /* byte offset of the first token */
    mh_qtok_kind op;
    cJSON *value;  /* CONST (NULL = undefined) and IN list; owned */
    mh_qseg *segs; /* PATH */
    size_t nsegs;
    char *name; /* CALL */
    mh_qnode *left, *right;
    mh_qnode **args; /* CALL */
    size_t nargs;
    int star_arg; /* CALL written as f(*) */
};

typedef struct mh_qproj {
    mh_qnode *expr;
    char *alias; /* NULL when no AS */
    size_t pos;
} mh_qproj;

typedef enum mh_qfrom {
    MH_QFROM_DEVICES = 0,
    MH_QFROM_MODULES, /* devices.modules */
    MH_QFROM_JOBS,    /* devices.jobs */
} mh_qfrom;

typedef struct mh_qast {
    int select_star;
    long long top; /* -1 without TOP */
    mh_qproj *projs;
    size_t nprojs;
    mh_qfrom from;
    size_t from_pos;
    mh_qnode *where;  /* NULL without WHERE */
    mh_qnode **group; /* GROUP BY expressions */
    size_t ngroup;
} mh_qast;

/* Parses query text into *out_ast (owned; free with mh_q_ast_free). Errors: MH_ERR_QUERY
 * ("Syntax error at position N: ..."), MH_ERR_ARGUMENT_INVALID (longer than 8192 characters),
 * MH_ERR_NOMEM. */
mh_err mh_q_parse(const char *query, size_t len, mh_qast **out_ast, mh_status *st) MH_WARN_UNUSED;
void mh_q_ast_free(mh_qast *ast);
void mh_q_node_free(mh_qnode *node);

#endif
