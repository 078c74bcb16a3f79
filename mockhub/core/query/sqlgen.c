/* sqlgen.c - twin query AST -> SQLite SELECT (see sqlgen.h).
 *
 * Each expression compiles to a "typed value": a static JSON type when it is known at compile time
 * (columns, constants, operator results), or a dynamic one (JSON paths) carried as SQL that yields
 * json_type()'s name, NULL meaning undefined. Booleans are SQL 1/0/NULL (NULL = undefined), so
 * SQL's three-valued AND/OR/NOT is exactly the hub's handling of undefined. Mixed-type comparisons
 * are guarded by type checks because SQLite itself would order them by storage class instead.
 */
#include "query/sqlgen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/qbuf.h"

enum {
    ST_UNDEF, /* constant undefined */
    ST_NULL,  /* constant null */
    ST_BOOL,  /* v: 1/0, NULL = undefined */
    ST_NUM,   /* v: integer/real, NULL = undefined */
    ST_STR,   /* v: text, NULL = undefined */
    ST_ARR,   /* v: JSON text, NULL = undefined */
    ST_OBJ,   /* v: JSON text, NULL = undefined */
    ST_DYN,   /* t: json_type name or NULL (undefined); v: json_extract value; j: JSON text */
};

typedef struct qv {
    int st;
    char *v;          /* SQL value */
    char *t;          /* ST_DYN: SQL type name expression */
    char *j;          /* JSON text expression (NULL pointer: derive from st/v) */
    const char *icol; /* JSON path written literally into the SQL (indexable): column ... */
    char *ipath;      /* ... and path; NULL when the path is a bound parameter */
} qv;

typedef struct gen {
    cJSON *params;
    cJSON *indexes; /* [[column, path], ...] worth an expression index */
    mh_status *st;
    mh_err err;
    int modules; /* FROM devices.modules: module rows, deviceId is their device's id */
} gen;

static void qv_clear(qv *x)
{
    free(x->v);
    free(x->t);
    free(x->j);
    free(x->ipath);
    memset(x, 0, sizeof *x);
}

static mh_err nomem(gen *g)
{
    if (!g->err)
        g->err = mh_fail(g->st, MH_ERR_NOMEM, "out of memory");
    return g->err;
}

/* Notes that x's literal path would make this query faster with an index. */
static void want_index(gen *g, const qv *x)
{
    cJSON *pair;
    const cJSON *it;

    if (!x->ipath || g->err)
        return;
    cJSON_ArrayForEach(it, g->indexes)
    {
        if (!strcmp(cJSON_GetArrayItem(it, 0)->valuestring, x->icol) &&
            !strcmp(cJSON_GetArrayItem(it, 1)->valuestring, x->ipath))
            return;
    }
    if (!(pair = cJSON_CreateArray()) || !cJSON_AddItemToArray(pair, cJSON_CreateString(x->icol)) ||
        !cJSON_AddItemToArray(pair, cJSON_CreateString(x->ipath)) ||
        !cJSON_AddItemToArray(g->indexes, pair)) {
        cJSON_Delete(pair);
        nomem(g);
    }
}

/* printf into a new string; NULL (and g->err set) on failure or when over the SQL cap. Arguments
 * given as NULL strings are never passed: callers check their inputs first. */
static char *sfmt(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *sfmt(gen *g, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    if (g->err)
        return NULL;
    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        nomem(g);
        return NULL;
    }
    if ((size_t)n > MH_QBUF_MAX) {
        free(s);
        g->err = mh_fail(g->st, MH_ERR_QUERY, "The query is too complex (generated SQL over %u bytes)",
                         MH_QBUF_MAX);
        return NULL;
    }
    return s;
}

/* Appends item to the parameters; returns its 1-based number or 0 (g->err set). Takes item. */
static int bind(gen *g, cJSON *item)
{
    if (!item) {
        nomem(g);
        return 0;
    }
    cJSON_AddItemToArray(g->params, item);
    return cJSON_GetArraySize(g->params);
}

static char *bind_text(gen *g, const char *s)
{
    int n = bind(g, cJSON_CreateString(s));
    return n ? sfmt(g, "?%d", n) : NULL;
}

static mh_err qfail(gen *g, mh_err code, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static mh_err qfail(gen *g, mh_err code, size_t pos, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (code == MH_ERR_QUERY)
        g->err = mh_fail(g->st, code, "Syntax error at position %zu: %s", pos + 1, msg);
    else
        g->err = mh_fail(g->st, code, "%s (at position %zu)", msg, pos + 1);
    return g->err;
}

/* ---- typed values ---- */

static mh_err set_static(gen *g, qv *out, int st, char *v)
{
    if (!v)
        return g->err ? g->err : nomem(g);
    out->st = st;
    out->v = v;
    return MH_OK;
}

static mh_err set_dyn(gen *g, qv *out, char *t, char *v, char *j)
{
    if (!t || !v || !j) {
        free(t);
        free(v);
        free(j);
        return g->err ? g->err : nomem(g);
    }
    out->st = ST_DYN;
    out->t = t;
    out->v = v;
    out->j = j;
    return MH_OK;
}

static int is_primitive_class(int st)
{
    return st == ST_NULL || st == ST_BOOL || st == ST_NUM || st == ST_STR;
}

/* SQL condition: the dynamic value x (defined) has class cls. */
static char *dyn_guard(gen *g, const qv *x, int cls)
{
    switch (cls) {
    case ST_NUM:
        return sfmt(g, "%s IN ('integer','real')", x->t);
    case ST_STR:
        return sfmt(g, "%s = 'text'", x->t);
    case ST_BOOL:
        return sfmt(g, "%s IN ('true','false')", x->t);
    case ST_NULL:
        return sfmt(g, "%s = 'null'", x->t);
    default:
        return sfmt(g, "0");
    }
}

/* JSON text of x, NULL when undefined. */
static char *json_of(gen *g, const qv *x)
{
    if (x->j)
        return sfmt(g, "%s", x->j);
    switch (x->st) {
    case ST_UNDEF:
        return sfmt(g, "NULL");
    case ST_NULL:
        return sfmt(g, "'null'");
    case ST_BOOL:
        return sfmt(g, "(CASE %s WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)", x->v);
    case ST_NUM:
    case ST_STR:
        return sfmt(g, "(CASE WHEN %s IS NOT NULL THEN json_quote(%s) END)", x->v, x->v);
    default:
        return sfmt(g, "%s", x->v);
    }
}

/* SQL 1/0/NULL: x as a condition (only boolean true is true; other types are undefined). */
static char *bool_of(gen *g, const qv *x)
{
    if (x->st == ST_BOOL)
        return sfmt(g, "%s", x->v);
    if (x->st == ST_DYN)
        return sfmt(g, "(CASE %s WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)", x->t);
    return sfmt(g, "NULL");
}

/* ---- names ---- */

typedef struct sysfield {
    const char *name; /* as in the twin JSON; matched case-insensitively */
    const char *sql;
    int st;
} sysfield;

/* Top-level twin members that live in plain columns. */
static const sysfield sysfields[] = {
    {"deviceId", "id", ST_STR},
    {"status", "status", ST_STR},
    {"statusUpdateTime", "status_updated", ST_STR},
    {"connectionState", "connection_state", ST_STR},
    {"lastActivityTime", "last_activity", ST_STR},
    {"cloudToDeviceMessageCount", "c2d_count", ST_NUM},
    {"authenticationType", "auth_type", ST_STR},
    {"modelId", "model_id", ST_STR},
    {"version", "(twin_etag + reported_version)", ST_NUM},
    {"statusReason", "status_reason", ST_STR}, /* NULL column: not in the twin, so undefined */
};

/* Builds "$."a"."b"[0]" from segs; 400 for names SQLite's path syntax cannot quote. */
static char *json_path(gen *g, const mh_qseg *segs, size_t n)
{
    mh_qbuf b;
    size_t i;

    mh_qbuf_init(&b);
    mh_qbuf_add(&b, "$");
    for (i = 0; i < n; i++) {
        if (!segs[i].name) {
            mh_qbuf_addf(&b, "[%ld]", segs[i].index);
            continue;
        }
        if (strchr(segs[i].name, '"')) {
            mh_qbuf_cleanup(&b);
            qfail(g, MH_ERR_QUERY, (size_t)segs[i].pos, "property name '%.64s' contains '\"'", segs[i].name);
            return NULL;
        }
        mh_qbuf_addf(&b, ".\"%s\"", segs[i].name);
    }
    if (mh_qbuf_failed(&b)) {
        mh_qbuf_cleanup(&b);
        nomem(g);
        return NULL;
    }
    return mh_qbuf_take(&b);
}

/* Names made only of these characters are written into the SQL as part of a literal path (so an
 * expression index on the same text can serve the query); any other name is a bound parameter. */
static int literal_safe(const mh_qseg *segs, size_t n)
{
    size_t i;
    const char *c;

    for (i = 0; i < n; i++) {
        if (!segs[i].name)
            continue;
        for (c = segs[i].name; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                  strchr("_$-:@", *c)))
                return 0;
        if (c - segs[i].name > 128)
            return 0;
    }
    return 1;
}

/* A path into the JSON text column col (a static column name). */
static mh_err json_column_path(gen *g, const char *col, const mh_qseg *segs, size_t n, qv *out)
{
    char *path = json_path(g, segs, n);
    char *p;
    int literal = literal_safe(segs, n);
    mh_err err;

    if (!path)
        return g->err;
    p = literal ? sfmt(g, "'%s'", path) : bind_text(g, path);
    if (!p) {
        free(path);
        return g->err;
    }
    err = set_dyn(g, out, sfmt(g, "json_type(%s, %s)", col, p), sfmt(g, "json_extract(%s, %s)", col, p),
                  sfmt(g, "(%s -> %s)", col, p));
    free(p);
    if (!err && literal) {
        out->icol = col;
        out->ipath = path;
        path = NULL;
    }
    free(path);
    return err;
}

static int seg_is(const mh_qseg *s, const char *name)
{
    return s->name && strcasecmp(s->name, name) == 0;
}

/* The desired or reported section as in the twin, $metadata and $version included. */
static char *section_object(gen *g, const char *sec)
{
    return sfmt(g, "json_set(%s, '$.\"$metadata\"', json(%s_meta), '$.\"$version\"', %s_version)", sec, sec,
                sec);
}

static mh_err compile_section(gen *g, const char *sec, const mh_qseg *rest, size_t n, qv *out)
{

    if (n == 0)
        return set_static(g, out, ST_OBJ, section_object(g, sec));
    /* $version / $metadata are members the hub adds; exact spelling as in the twin JSON. */
    if (rest[0].name && strcmp(rest[0].name, "$version") == 0) {
        if (n > 1)
            return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
        return set_static(g, out, ST_NUM, sfmt(g, "%s_version", sec));
    }
    if (rest[0].name && strcmp(rest[0].name, "$metadata") == 0)
        return json_column_path(g, strcmp(sec, "desired") ? "reported_meta" : "desired_meta", rest + 1, n - 1,
                                out);
    return json_column_path(g, sec, rest, n, out);
}

/* Resolves a path. Top-level names (deviceId, tags, properties, desired, ...) match
 * case-insensitively like the hub's (docs: SELECT DeviceId, LastActivityTime -> deviceId...);
 * names inside tags and properties are JSON keys and match exactly. */
static mh_err compile_path(gen *g, const mh_qnode *n, qv *out)
{
    const mh_qseg *s = n->segs;
    size_t ns = n->nsegs, i;

    if (ns > 1 && seg_is(&s[0], "devices")) {
        s++;
        ns--;
        /* "devices.modules.moduleId" in a query FROM devices.modules */
        if (g->modules && ns > 1 && seg_is(&s[0], "modules")) {
            s++;
            ns--;
        }
    }
    if (!s[0].name)
        return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
    if (seg_is(&s[0], "tags"))
        return json_column_path(g, "tags", s + 1, ns - 1, out);
    if (seg_is(&s[0], "properties")) {
        if (ns == 1) {
            char *d = section_object(g, "desired"), *r = section_object(g, "reported");
            mh_err err = set_static(
                g, out, ST_OBJ, d && r ? sfmt(g, "json_object('desired', %s, 'reported', %s)", d, r) : NULL);
            free(d);
            free(r);
            return err;
        }
        if (seg_is(&s[1], "desired"))
            return compile_section(g, "desired", s + 2, ns - 2, out);
        if (seg_is(&s[1], "reported"))
            return compile_section(g, "reported", s + 2, ns - 2, out);
        return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
    }
    /* A module row's id is "{deviceId}/{moduleId}" (identity.h); its two parts have columns. In a
     * device query moduleId is undefined, as any other unknown name. */
    if (g->modules && (seg_is(&s[0], "deviceId") || seg_is(&s[0], "moduleId"))) {
        if (ns > 1)
            return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
        return set_static(g, out, ST_STR,
                          sfmt(g, "%s", seg_is(&s[0], "deviceId") ? "owner_id" : "module_id"));
    }
    for (i = 0; i < sizeof sysfields / sizeof sysfields[0]; i++) {
        if (seg_is(&s[0], sysfields[i].name)) {
            if (ns > 1)
                return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
            return set_static(g, out, sysfields[i].st, sfmt(g, "%s", sysfields[i].sql));
        }
    }
    if (seg_is(&s[0], "capabilities")) {
        if (ns == 1)
            return set_static(
                g, out, ST_OBJ,
                sfmt(g, "json_object('iotEdge', json(CASE WHEN iot_edge THEN 'true' ELSE 'false' END))"));
        if (ns == 2 && seg_is(&s[1], "iotEdge"))
            return set_static(g, out, ST_BOOL, sfmt(g, "(iot_edge <> 0)"));
        return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
    }
    if (seg_is(&s[0], "x509Thumbprint")) {
        const char *col = NULL;
        if (ns == 1)
            return set_static(g, out, ST_OBJ,
                              sfmt(g, "json_object('primaryThumbprint', primary_thumbprint, "
                                      "'secondaryThumbprint', secondary_thumbprint)"));
        if (ns == 2 && seg_is(&s[1], "primaryThumbprint"))
            col = "primary_thumbprint";
        else if (ns == 2 && seg_is(&s[1], "secondaryThumbprint"))
            col = "secondary_thumbprint";
        if (!col)
            return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
        return set_dyn(g, out, sfmt(g, "(CASE WHEN %s IS NULL THEN 'null' ELSE 'text' END)", col),
                       sfmt(g, "%s", col),
                       sfmt(g, "(CASE WHEN %s IS NULL THEN 'null' ELSE json_quote(%s) END)", col, col));
    }
    if (seg_is(&s[0], "etag") || seg_is(&s[0], "deviceEtag"))
        /* MOCK: etags are rendered from counters in C, not available to SQL. */
        return qfail(g, MH_ERR_NOT_IMPLEMENTED, n->pos, "mockhub does not support '%s' in queries",
                     s[0].name);
    if (seg_is(&s[0], "jobs"))
        return qfail(g, MH_ERR_NOT_IMPLEMENTED, n->pos, "mockhub does not support '%s' in queries on devices",
                     s[0].name);
    /* Anything else (moduleId, configurations, misspelt names) is simply undefined, as in the hub. */
    return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
}

/* ---- expressions ---- */

static mh_err compile_expr(gen *g, const mh_qnode *n, int pos, qv *out);
static mh_err compile_logic_chain(gen *g, const mh_qnode *n, mh_qtok_kind op, int pos, mh_qbuf *b);

static const char *cmp_sql(mh_qtok_kind op)
{
    switch (op) {
    case MH_QT_EQ:
        return "=";
    case MH_QT_NE:
        return "<>";
    case MH_QT_LT:
        return "<";
    case MH_QT_GT:
        return ">";
    case MH_QT_LE:
        return "<=";
    default:
        return ">=";
    }
}

/* null compared with null: equal. */
static const char *null_cmp(mh_qtok_kind op)
{
    return op == MH_QT_EQ || op == MH_QT_LE || op == MH_QT_GE ? "1" : "0";
}

/* Type class of a json_type name: numbers together, booleans together. */
#define CLASS_SQL                                                                                            \
    "CASE %s WHEN 'integer' THEN 'n' WHEN 'real' THEN 'n' WHEN 'text' THEN 's' WHEN 'true' THEN 'b' "        \
    "WHEN 'false' THEN 'b' WHEN 'null' THEN 'z' END"

static mh_err compile_cmp(gen *g, mh_qtok_kind op, const qv *a, const qv *b, int pos, qv *out)
{
    const char *o = cmp_sql(op);

    /* Where false and undefined select the same (no NOT above), a path compared with a value is
     * written as "v OP c AND <type check>": an index on (json_type, json_extract) serves it, and a
     * scan evaluates the type check only for rows that already compare true. */
    if (pos && (a->st == ST_DYN) != (b->st == ST_DYN)) {
        const qv *d = a->st == ST_DYN ? a : b, *sv = a->st == ST_DYN ? b : a;
        if (sv->st == ST_NUM || sv->st == ST_STR || sv->st == ST_BOOL) {
            char *guard = dyn_guard(g, d, sv->st);
            mh_err err = set_static(g, out, ST_BOOL,
                                    guard ? sfmt(g, "(%s %s %s AND %s)", a->v, o, b->v, guard) : NULL);
            free(guard);
            want_index(g, d);
            return err;
        }
    }

    if (a->st != ST_DYN && b->st != ST_DYN) {
        if (a->st != b->st || !is_primitive_class(a->st))
            return set_static(g, out, ST_BOOL, sfmt(g, "NULL"));
        if (a->st == ST_NULL)
            return set_static(g, out, ST_BOOL, sfmt(g, "%s", null_cmp(op)));
        return set_static(g, out, ST_BOOL, sfmt(g, "(%s %s %s)", a->v, o, b->v));
    }
    if (a->st == ST_DYN && b->st == ST_DYN) {
        char *ca = sfmt(g, CLASS_SQL, a->t), *cb = sfmt(g, CLASS_SQL, b->t);
        mh_err err = set_static(
            g, out, ST_BOOL,
            ca && cb
                ? sfmt(g,
                       "(CASE WHEN (%s) = (%s) THEN CASE WHEN %s = 'null' THEN %s ELSE (%s %s %s) END END)",
                       ca, cb, a->t, null_cmp(op), a->v, o, b->v)
                : NULL);
        free(ca);
        free(cb);
        return err;
    }
    {
        const qv *d = a->st == ST_DYN ? a : b, *s = a->st == ST_DYN ? b : a;
        char *guard;
        mh_err err;
        if (!is_primitive_class(s->st))
            return set_static(g, out, ST_BOOL, sfmt(g, "NULL"));
        if (!(guard = dyn_guard(g, d, s->st)))
            return g->err;
        if (s->st == ST_NULL)
            err = set_static(g, out, ST_BOOL, sfmt(g, "(CASE WHEN %s THEN %s END)", guard, null_cmp(op)));
        else
            err = set_static(g, out, ST_BOOL,
                             sfmt(g, "(CASE WHEN %s THEN (%s %s %s) END)", guard, a->v, o, b->v));
        free(guard);
        return err;
    }
}

/* Number operand: NULL guard pointer when static (undefined propagates as SQL NULL). Returns 0
 * when the operand can never be a number. */
static int num_operand(gen *g, const qv *x, char **guard)
{
    *guard = NULL;
    if (x->st == ST_NUM)
        return 1;
    if (x->st != ST_DYN)
        return 0;
    *guard = dyn_guard(g, x, ST_NUM);
    return 1;
}

static mh_err compile_arith(gen *g, mh_qtok_kind op, const qv *a, const qv *b, qv *out)
{
    char *ga = NULL, *gb = NULL, *e = NULL;
    mh_err err;

    if (!num_operand(g, a, &ga) || !num_operand(g, b, &gb)) {
        free(ga);
        free(gb);
        return set_static(g, out, ST_NUM, sfmt(g, "NULL"));
    }
    if (g->err)
        goto done;
    switch (op) {
    case MH_QT_PLUS:
        e = sfmt(g, "(%s + %s)", a->v, b->v);
        break;
    case MH_QT_MINUS:
        e = sfmt(g, "(%s - %s)", a->v, b->v);
        break;
    case MH_QT_STAR:
        e = sfmt(g, "(%s * %s)", a->v, b->v);
        break;
    case MH_QT_SLASH:
        e = sfmt(g, "(CAST(%s AS REAL) / %s)", a->v, b->v);
        break; /* 7 / 2 = 3.5 */
    default:   /* %: integer remainder, or the C fmod rule for reals; x % 0 is undefined */
        e = sfmt(g,
                 "(CASE WHEN typeof(%s) = 'integer' AND typeof(%s) = 'integer' THEN %s %% %s "
                 "ELSE %s - %s * CAST(CAST(%s AS REAL) / %s AS INTEGER) END)",
                 a->v, b->v, a->v, b->v, a->v, b->v, a->v, b->v);
        break;
    }
    if (e && (ga || gb)) {
        char *w =
            sfmt(g, "(CASE WHEN %s%s%s THEN %s END)", ga ? ga : "", ga && gb ? " AND " : "", gb ? gb : "", e);
        free(e);
        e = w;
    }
done:
    err = g->err ? g->err : set_static(g, out, ST_NUM, e);
    if (err && e)
        free(e);
    free(ga);
    free(gb);
    return err;
}

/* x IN [constants]: undefined when x is undefined, else true when some constant has x's type and
 * value. NIN is its negation (undefined stays undefined). */
static mh_err compile_in(gen *g, const mh_qnode *n, const qv *x, int pos, qv *out)
{
    mh_qbuf nums, strs;
    int bools[2] = {0, 0}, has_null = 0, nn = 0, nstr = 0;
    const cJSON *it;
    char *bl = NULL, *e = NULL, *res;
    mh_err err = MH_OK;

    mh_qbuf_init(&nums);
    mh_qbuf_init(&strs);
    cJSON_ArrayForEach(it, n->value)
    {
        int k;
        if (cJSON_IsNumber(it) || cJSON_IsString(it)) {
            mh_qbuf *b = cJSON_IsNumber(it) ? &nums : &strs;
            int *cnt = cJSON_IsNumber(it) ? &nn : &nstr;
            if (!(k = bind(g, cJSON_Duplicate(it, 0))))
                goto fail;
            mh_qbuf_addf(b, "%s?%d", *cnt ? ", " : "", k);
            (*cnt)++;
        } else if (cJSON_IsTrue(it)) {
            bools[1] = 1;
        } else if (cJSON_IsFalse(it)) {
            bools[0] = 1;
        } else if (cJSON_IsNull(it)) {
            has_null = 1;
        } /* arrays and objects never equal anything */
    }
    if (mh_qbuf_failed(&nums) || mh_qbuf_failed(&strs)) {
        nomem(g);
        goto fail;
    }
    bl = sfmt(g, "%s%s%s", bools[0] ? "0" : "", bools[0] && bools[1] ? ", " : "", bools[1] ? "1" : "");
    if (!bl)
        goto fail;
    if (pos && n->op == MH_QT_IN && x->st == ST_DYN) {
        /* Index-friendly form (see compile_cmp): one "type AND v IN (...)" term per type. */
        mh_qbuf terms;
        mh_qbuf_init(&terms);
        if (nn)
            mh_qbuf_addf(&terms, "(%s IN ('integer','real') AND %s IN (%s))", x->t, x->v, nums.p);
        if (nstr)
            mh_qbuf_addf(&terms, "%s(%s = 'text' AND %s IN (%s))", terms.len ? " OR " : "", x->t, x->v,
                         strs.p);
        if (*bl)
            mh_qbuf_addf(&terms, "%s(%s IN ('true','false') AND %s IN (%s))", terms.len ? " OR " : "", x->t,
                         x->v, bl);
        if (has_null)
            mh_qbuf_addf(&terms, "%s(%s = 'null')", terms.len ? " OR " : "", x->t);
        if (!terms.len)
            mh_qbuf_add(&terms, "0");
        if (mh_qbuf_failed(&terms)) {
            mh_qbuf_cleanup(&terms);
            nomem(g);
            goto fail;
        }
        e = sfmt(g, "(%s)", terms.p);
        mh_qbuf_cleanup(&terms);
        want_index(g, x);
        if (!e)
            goto fail;
        err = set_static(g, out, ST_BOOL, e);
        e = NULL;
        goto done;
    }
    switch (x->st) {
    case ST_UNDEF:
        e = sfmt(g, "NULL");
        break;
    case ST_NULL:
        e = sfmt(g, "%d", has_null);
        break;
    case ST_NUM:
        e = nn ? sfmt(g, "(%s IN (%s))", x->v, nums.p)
               : sfmt(g, "(CASE WHEN %s IS NOT NULL THEN 0 END)", x->v);
        break;
    case ST_STR:
        e = nstr ? sfmt(g, "(%s IN (%s))", x->v, strs.p)
                 : sfmt(g, "(CASE WHEN %s IS NOT NULL THEN 0 END)", x->v);
        break;
    case ST_BOOL:
        e = *bl ? sfmt(g, "(%s IN (%s))", x->v, bl) : sfmt(g, "(CASE WHEN %s IS NOT NULL THEN 0 END)", x->v);
        break;
    case ST_ARR:
    case ST_OBJ:
        e = sfmt(g, "(CASE WHEN %s IS NOT NULL THEN 0 END)", x->v);
        break;
    default:
        e = sfmt(g,
                 "(CASE WHEN %s IS NULL THEN NULL WHEN %s IN ('integer','real') THEN %s%s%s%s "
                 "WHEN %s = 'text' THEN %s%s%s%s WHEN %s IN ('true','false') THEN %s%s%s%s "
                 "WHEN %s = 'null' THEN %d ELSE 0 END)",
                 x->t, x->t, nn ? x->v : "0", nn ? " IN (" : "", nn ? nums.p : "", nn ? ")" : "", x->t,
                 nstr ? x->v : "0", nstr ? " IN (" : "", nstr ? strs.p : "", nstr ? ")" : "", x->t,
                 *bl ? x->v : "0", *bl ? " IN (" : "", bl, *bl ? ")" : "", x->t, has_null);
        break;
    }
    if (!e)
        goto fail;
    res = n->op == MH_QT_NIN ? sfmt(g, "(NOT %s)", e) : sfmt(g, "%s", e);
    err = set_static(g, out, ST_BOOL, res);
    goto done;
fail:
    err = g->err ? g->err : nomem(g);
done:
    free(e);
    free(bl);
    mh_qbuf_cleanup(&nums);
    mh_qbuf_cleanup(&strs);
    return err;
}

static int is_aggregate_name(const char *name)
{
    return !strcmp(name, "COUNT") || !strcmp(name, "SUM") || !strcmp(name, "AVG") || !strcmp(name, "MIN") ||
           !strcmp(name, "MAX");
}

static mh_err compile_call(gen *g, const mh_qnode *n, int pos, qv *out)
{
    qv x = {0};
    mh_err err;

    if (is_aggregate_name(n->name))
        return qfail(g, MH_ERR_QUERY, n->pos, "aggregate function %s() is only allowed as a select item",
                     n->name);
    if (strcmp(n->name, "IS_DEFINED") != 0)
        return qfail(g, MH_ERR_QUERY, n->pos,
                     "function '%.64s' is not supported in twin queries (only IS_DEFINED)", n->name);
    if (n->nargs != 1 || n->star_arg)
        return qfail(g, MH_ERR_QUERY, n->pos, "IS_DEFINED takes exactly one argument");
    if ((err = compile_expr(g, n->args[0], 0, &x)))
        return err;
    if (pos)
        want_index(g, &x);
    switch (x.st) {
    case ST_UNDEF:
        err = set_static(g, out, ST_BOOL, sfmt(g, "0"));
        break;
    case ST_NULL:
        err = set_static(g, out, ST_BOOL, sfmt(g, "1"));
        break;
    case ST_DYN:
        err = set_static(g, out, ST_BOOL, sfmt(g, "(%s IS NOT NULL)", x.t));
        break;
    default:
        err = set_static(g, out, ST_BOOL, sfmt(g, "(%s IS NOT NULL)", x.v));
        break;
    }
    qv_clear(&x);
    return err;
}

static mh_err compile_const(gen *g, const cJSON *v, qv *out)
{
    char *text;
    int k;

    if (!v)
        return set_static(g, out, ST_UNDEF, sfmt(g, "NULL"));
    if (cJSON_IsNull(v))
        return set_static(g, out, ST_NULL, sfmt(g, "NULL"));
    if (cJSON_IsTrue(v))
        return set_static(g, out, ST_BOOL, sfmt(g, "1"));
    if (cJSON_IsFalse(v))
        return set_static(g, out, ST_BOOL, sfmt(g, "0"));
    if (cJSON_IsNumber(v) || cJSON_IsString(v)) {
        if (!(k = bind(g, cJSON_Duplicate(v, 0))))
            return g->err;
        return set_static(g, out, cJSON_IsNumber(v) ? ST_NUM : ST_STR, sfmt(g, "?%d", k));
    }
    /* arrays: JSON text */
    if (!(text = cJSON_PrintUnformatted(v)))
        return nomem(g);
    k = bind(g, cJSON_CreateString(text));
    free(text);
    if (!k)
        return g->err;
    return set_static(g, out, ST_ARR, sfmt(g, "json(?%d)", k));
}

/* a AND b AND c ... written flat (no nested parentheses), so long chains stay within SQLite's
 * parser limits. Kleene logic makes the flattening exact. */
static mh_err compile_logic_chain(gen *g, const mh_qnode *n, mh_qtok_kind op, int pos, mh_qbuf *b)
{
    qv x = {0};
    char *s;
    mh_err err;

    if (n->kind == MH_QN_BINARY && n->op == op) {
        if ((err = compile_logic_chain(g, n->left, op, pos, b)))
            return err;
        mh_qbuf_add(b, op == MH_QT_AND ? " AND " : " OR ");
        return compile_logic_chain(g, n->right, op, pos, b);
    }
    if ((err = compile_expr(g, n, pos, &x)))
        return err;
    s = bool_of(g, &x);
    qv_clear(&x);
    if (!s)
        return g->err;
    mh_qbuf_add(b, s);
    free(s);
    return MH_OK;
}

/* pos: the value only matters as "is it true" (WHERE, and AND/OR directly under it). */
static mh_err compile_expr(gen *g, const mh_qnode *n, int pos, qv *out)
{
    qv a = {0}, b = {0};
    mh_err err;
    char *s;

    switch (n->kind) {
    case MH_QN_CONST:
        return compile_const(g, n->value, out);
    case MH_QN_PATH:
        return compile_path(g, n, out);
    case MH_QN_CALL:
        return compile_call(g, n, pos, out);
    case MH_QN_IN:
        if ((err = compile_expr(g, n->left, 0, &a)))
            return err;
        err = compile_in(g, n, &a, pos, out);
        qv_clear(&a);
        return err;
    case MH_QN_UNARY:
        if ((err = compile_expr(g, n->left, 0, &a)))
            return err;
        if (n->op == MH_QT_NOT) {
            s = bool_of(g, &a);
            err = set_static(g, out, ST_BOOL, s ? sfmt(g, "(NOT %s)", s) : NULL);
            free(s);
        } else {
            qv zero = {ST_NUM, NULL, NULL, NULL, NULL, NULL};
            if (!(zero.v = sfmt(g, "0"))) {
                err = g->err;
            } else if (n->op == MH_QT_MINUS) {
                err = compile_arith(g, MH_QT_MINUS, &zero, &a, out);
            } else {
                err = compile_arith(g, MH_QT_PLUS, &zero, &a, out);
            }
            qv_clear(&zero);
        }
        qv_clear(&a);
        return err;
    case MH_QN_BINARY:
        if (n->op == MH_QT_AND || n->op == MH_QT_OR) {
            mh_qbuf chain;
            mh_qbuf_init(&chain);
            mh_qbuf_add(&chain, "(");
            err = compile_logic_chain(g, n, n->op, pos, &chain);
            mh_qbuf_add(&chain, ")");
            if (!err && mh_qbuf_failed(&chain))
                err = qfail(g, MH_ERR_QUERY, n->pos, "the query is too complex");
            if (!err)
                err = set_static(g, out, ST_BOOL, mh_qbuf_take(&chain));
            mh_qbuf_cleanup(&chain);
            return err;
        }
        if ((err = compile_expr(g, n->left, 0, &a)) || (err = compile_expr(g, n->right, 0, &b)))
            goto binary_done;
        switch (n->op) {
        case MH_QT_PLUS:
        case MH_QT_MINUS:
        case MH_QT_STAR:
        case MH_QT_SLASH:
        case MH_QT_PERCENT:
            err = compile_arith(g, n->op, &a, &b, out);
            break;
        default:
            err = compile_cmp(g, n->op, &a, &b, pos, out);
            break;
        }
    binary_done:
        qv_clear(&a);
        qv_clear(&b);
        return err;
    }
    return qfail(g, MH_ERR_INTERNAL, n->pos, "unknown node");
}

/* ---- SELECT list, GROUP BY ---- */

static int node_equal(const mh_qnode *a, const mh_qnode *b)
{
    size_t i;

    if (!a || !b)
        return a == b;
    if (a->kind != b->kind || a->op != b->op || a->nsegs != b->nsegs || a->nargs != b->nargs ||
        a->star_arg != b->star_arg)
        return 0;
    if ((a->value || b->value) && !(a->value && b->value && cJSON_Compare(a->value, b->value, 1)))
        return 0;
    for (i = 0; i < a->nsegs; i++) {
        const mh_qseg *x = &a->segs[i], *y = &b->segs[i];
        if (!x->name != !y->name || (x->name ? strcmp(x->name, y->name) != 0 : x->index != y->index))
            return 0;
    }
    if ((a->name || b->name) && !(a->name && b->name && strcmp(a->name, b->name) == 0))
        return 0;
    for (i = 0; i < a->nargs; i++)
        if (!node_equal(a->args[i], b->args[i]))
            return 0;
    return node_equal(a->left, b->left) && node_equal(a->right, b->right);
}

static int is_aggregate(const mh_qnode *n)
{
    return n->kind == MH_QN_CALL && is_aggregate_name(n->name);
}

/* Output member name for a projection without AS: the last property name ("deviceId" spelt as in
 * the twin), else "$<k>" numbering the unnamed items, as Cosmos-style engines do. */
static char *proj_name(gen *g, const mh_qproj *p, int *unnamed)
{
    const mh_qnode *n = p->expr;
    size_t i;

    if (p->alias)
        return sfmt(g, "%s", p->alias);
    if (n->kind == MH_QN_PATH && n->segs[n->nsegs - 1].name) {
        const char *last = n->segs[n->nsegs - 1].name;
        if (n->nsegs == 1 || (n->nsegs == 2 && seg_is(&n->segs[0], "devices")) ||
            (g->modules && n->nsegs == 3 && seg_is(&n->segs[0], "devices") &&
             seg_is(&n->segs[1], "modules"))) {
            for (i = 0; i < sizeof sysfields / sizeof sysfields[0]; i++)
                if (strcasecmp(last, sysfields[i].name) == 0)
                    return sfmt(g, "%s", sysfields[i].name);
            if (g->modules && strcasecmp(last, "moduleId") == 0)
                return sfmt(g, "moduleId");
        }
        return sfmt(g, "%s", last);
    }
    return sfmt(g, "$%d", ++*unnamed);
}

static mh_err compile_aggregate(gen *g, const mh_qnode *n, char **out)
{
    qv x = {0};
    char *num = NULL, *str = NULL, *res = NULL;
    mh_err err;

    if (!strcmp(n->name, "COUNT") && (n->nargs == 0 || n->star_arg)) {
        *out = sfmt(g, "COUNT(*)");
        return *out ? MH_OK : g->err;
    }
    if (n->nargs != 1 || n->star_arg)
        return qfail(g, MH_ERR_QUERY, n->pos, "%s takes exactly one argument", n->name);
    if (is_aggregate(n->args[0]))
        return qfail(g, MH_ERR_QUERY, n->args[0]->pos, "aggregate functions cannot be nested");
    if ((err = compile_expr(g, n->args[0], 0, &x)))
        return err;
    if (!strcmp(n->name, "COUNT")) {
        const char *def = x.st == ST_DYN ? x.t : x.v;
        res = x.st == ST_UNDEF  ? sfmt(g, "0")
              : x.st == ST_NULL ? sfmt(g, "COUNT(*)")
                                : sfmt(g, "COUNT(CASE WHEN %s IS NOT NULL THEN 1 END)", def);
        goto done;
    }
    /* Numbers only for SUM/AVG; MIN/MAX also order strings (numbers sort before strings).
     * MOCK: booleans and null are ignored by MIN/MAX (Cosmos-style engines order them first). */
    if (x.st == ST_NUM)
        num = sfmt(g, "%s", x.v);
    else if (x.st == ST_DYN)
        num = sfmt(g, "(CASE WHEN %s IN ('integer','real') THEN %s END)", x.t, x.v);
    else
        num = sfmt(g, "NULL");
    if (x.st == ST_STR)
        str = sfmt(g, "%s", x.v);
    else if (x.st == ST_DYN)
        str = sfmt(g, "(CASE WHEN %s = 'text' THEN %s END)", x.t, x.v);
    else
        str = sfmt(g, "NULL");
    if (!num || !str)
        goto done;
    if (!strcmp(n->name, "SUM"))
        res = sfmt(g, "SUM(%s)", num);
    else if (!strcmp(n->name, "AVG"))
        res = sfmt(g, "AVG(%s)", num);
    else if (!strcmp(n->name, "MIN"))
        res = sfmt(g,
                   "(CASE WHEN MIN(%s) IS NOT NULL THEN MIN(%s) WHEN MIN(%s) IS NOT NULL THEN "
                   "json_quote(MIN(%s)) END)",
                   num, num, str, str);
    else
        res = sfmt(g,
                   "(CASE WHEN MAX(%s) IS NOT NULL THEN json_quote(MAX(%s)) WHEN MAX(%s) IS NOT NULL THEN "
                   "MAX(%s) END)",
                   str, str, num, num);
done:
    qv_clear(&x);
    free(num);
    free(str);
    if (!res)
        return g->err ? g->err : nomem(g);
    *out = res;
    return MH_OK;
}

static mh_err compile_json_expr(gen *g, const mh_qnode *n, char **out)
{
    qv x = {0};
    mh_err err;

    if ((err = compile_expr(g, n, 0, &x)))
        return err;
    *out = json_of(g, &x);
    qv_clear(&x);
    return *out ? MH_OK : g->err;
}

/* GROUP BY key of n: for a path, its json_type and json_extract (an expression index on both serves
 * the grouping as a covering scan); otherwise its JSON text. *out_json: the group's value as JSON
 * text (NULL = undefined), built from the key only. Groups come out ordered by key so that pages
 * by position are stable. MOCK: 1 and 1.0 form two groups (json_type integer vs real). */
static mh_err compile_group_key(gen *g, const mh_qnode *n, char **out_key, char **out_json)
{
    qv x = {0};
    mh_err err;

    if ((err = compile_expr(g, n, 0, &x)))
        return err;
    if (x.st == ST_DYN) {
        *out_key = sfmt(g, "%s, %s", x.t, x.v);
        *out_json = sfmt(
            g,
            "(CASE %s WHEN 'text' THEN json_quote(%s) WHEN 'integer' THEN json_quote(%s) WHEN 'real' THEN "
            "json_quote(%s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' ELSE "
            "%s END)",
            x.t, x.v, x.v, x.v, x.v);
        want_index(g, &x);
    } else {
        *out_key = json_of(g, &x);
        *out_json = json_of(g, &x);
    }
    qv_clear(&x);
    if (!*out_key || !*out_json) {
        free(*out_key);
        free(*out_json);
        *out_key = *out_json = NULL;
        return g->err ? g->err : nomem(g);
    }
    return MH_OK;
}

int mh_q_is_twin_query(const mh_qast *ast)
{
    return ast->select_star;
}

int mh_q_is_keyset_query(const mh_qast *ast)
{
    size_t i;

    if (ast->ngroup)
        return 0;
    for (i = 0; i < ast->nprojs; i++)
        if (is_aggregate(ast->projs[i].expr))
            return 0;
    return 1;
}

void mh_q_plan_cleanup(mh_qplan *plan)
{
    size_t i;

    if (!plan)
        return;
    free(plan->sql);
    cJSON_Delete(plan->params);
    cJSON_Delete(plan->indexes);
    for (i = 0; i < plan->ncols; i++)
        free(plan->names[i]);
    free(plan->names);
    memset(plan, 0, sizeof *plan);
}

mh_err mh_q_compile(const mh_qast *ast, const mh_qpage_req *pg, mh_qplan *out, mh_status *st)
{
    gen g = {NULL, NULL, st, MH_OK, ast->from == MH_QFROM_MODULES};
    /* Devices and modules share the devices table (identity.h): a device row has owner_id '', a
     * module row its device's id. devices_owner is a partial index on exactly this condition. */
    const char *rows = g.modules ? "owner_id <> ''" : "owner_id = ''";
    mh_qplan plan;
    mh_qbuf sql;
    char *where = NULL, **keys = NULL, **keyout = NULL, *s = NULL;
    size_t i, k;
    int unnamed = 0, keyset = mh_q_is_keyset_query(ast);
    long long limit = pg->limit < 0 ? 0 : pg->limit;

    memset(&plan, 0, sizeof plan);
    mh_qbuf_init(&sql);
    if (!(g.params = cJSON_CreateArray()) || !(g.indexes = cJSON_CreateArray()))
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    if (ast->from == MH_QFROM_JOBS) {
        qfail(&g, MH_ERR_NOT_IMPLEMENTED, ast->from_pos,
              "mockhub does not support queries on devices.jobs (no jobs)");
        goto cleanup;
    }
    if (ast->select_star && ast->ngroup) {
        qfail(&g, MH_ERR_QUERY, ast->group[0]->pos, "GROUP BY needs a select list, not *");
        goto cleanup;
    }
    /* WHERE */
    if (ast->where) {
        qv w = {0};
        if (compile_expr(&g, ast->where, 1, &w))
            goto cleanup;
        where = bool_of(&g, &w);
        qv_clear(&w);
        if (!where)
            goto cleanup;
    }
    /* GROUP BY keys: JSON text of each expression (undefined = NULL, its own group). A bare name
     * equal to a projection alias means that projection's expression. */
    if (ast->ngroup &&
        (!(keys = calloc(ast->ngroup, sizeof *keys)) || !(keyout = calloc(ast->ngroup, sizeof *keyout)))) {
        nomem(&g);
        goto cleanup;
    }
    for (i = 0; i < ast->ngroup; i++) {
        const mh_qnode *gn = ast->group[i];
        if (gn->kind == MH_QN_PATH && gn->nsegs == 1 && gn->segs[0].name) {
            for (k = 0; k < ast->nprojs; k++)
                if (ast->projs[k].alias && strcmp(ast->projs[k].alias, gn->segs[0].name) == 0) {
                    gn = ast->projs[k].expr;
                    break;
                }
        }
        if (is_aggregate(gn)) {
            qfail(&g, MH_ERR_QUERY, gn->pos, "cannot GROUP BY an aggregate");
            goto cleanup;
        }
        if (compile_group_key(&g, gn, &keys[i], &keyout[i]))
            goto cleanup;
    }
    /* SELECT list */
    plan.twin = ast->select_star;
    plan.keyset = keyset;
    if (ast->select_star) {
        mh_qbuf_add(&sql,
                    "SELECT id AS __twin_id, id, etag, status, status_reason, status_updated, auth_type, "
                    "primary_thumbprint, secondary_thumbprint, iot_edge, connection_state, last_activity, "
                    "c2d_count, model_id, tags, desired, desired_meta, desired_version, reported, "
                    "reported_meta, reported_version, twin_etag FROM devices");
    } else {
        if (!(plan.names = calloc(ast->nprojs, sizeof *plan.names))) {
            nomem(&g);
            goto cleanup;
        }
        mh_qbuf_add(&sql, keyset ? "SELECT id AS __id" : "SELECT ");
        for (i = 0; i < ast->nprojs; i++) {
            const mh_qproj *p = &ast->projs[i];
            if (!(plan.names[i] = proj_name(&g, p, &unnamed)))
                goto cleanup;
            plan.ncols = i + 1;
            for (k = 0; k < i; k++)
                if (strcmp(plan.names[k], plan.names[i]) == 0) {
                    qfail(&g, MH_ERR_QUERY, p->pos, "duplicate projection name '%.64s' (use AS)",
                          plan.names[i]);
                    goto cleanup;
                }
            if (is_aggregate(p->expr)) {
                if (compile_aggregate(&g, p->expr, &s))
                    goto cleanup;
            } else if (!keyset) {
                /* In an aggregate query a plain item must be one of the GROUP BY expressions. */
                for (k = 0; k < ast->ngroup; k++) {
                    const mh_qnode *gn = ast->group[k];
                    if (node_equal(gn, p->expr) ||
                        (gn->kind == MH_QN_PATH && gn->nsegs == 1 && p->alias && gn->segs[0].name &&
                         strcmp(gn->segs[0].name, p->alias) == 0))
                        break;
                }
                if (k == ast->ngroup) {
                    qfail(&g, MH_ERR_QUERY, p->pos,
                          "select item %zu is neither an aggregate nor a GROUP BY expression", i + 1);
                    goto cleanup;
                }
                if (!(s = sfmt(&g, "%s", keyout[k])))
                    goto cleanup;
            } else if (compile_json_expr(&g, p->expr, &s)) {
                goto cleanup;
            }
            mh_qbuf_addf(&sql, "%s%s AS c%zu", keyset || i ? ", " : "", s, i);
            free(s);
            s = NULL;
        }
        mh_qbuf_add(&sql, " FROM devices");
    }
    /* WHERE + paging. Keyset pages pick their ids in a subquery, so that sorting by id (after an
     * index on a twin path found the matches) carries ids only, not whole twins. */
    if (keyset) {
        mh_qbuf_addf(&sql, " WHERE id IN (SELECT id FROM devices WHERE %s", rows);
        if (where)
            mh_qbuf_addf(&sql, " AND (%s)", where);
        if (pg->after_id) {
            int kn = bind(&g, cJSON_CreateString(pg->after_id));
            if (!kn)
                goto cleanup;
            mh_qbuf_addf(&sql, " AND id > ?%d", kn);
        }
        mh_qbuf_addf(&sql, " ORDER BY id LIMIT %lld) ORDER BY id", limit);
    } else {
        mh_qbuf_addf(&sql, " WHERE %s", rows);
        if (where)
            mh_qbuf_addf(&sql, " AND (%s)", where);
        if (ast->ngroup) {
            mh_qbuf_add(&sql, " GROUP BY ");
            for (i = 0; i < ast->ngroup; i++)
                mh_qbuf_addf(&sql, "%s%s", i ? ", " : "", keys[i]);
            mh_qbuf_add(&sql, " ORDER BY ");
            for (i = 0; i < ast->ngroup; i++)
                mh_qbuf_addf(&sql, "%s%s", i ? ", " : "", keys[i]);
        }
        mh_qbuf_addf(&sql, " LIMIT %lld", limit);
        if (pg->offset > 0)
            mh_qbuf_addf(&sql, " OFFSET %lld", pg->offset);
    }
    if (g.err)
        goto cleanup;
    if (mh_qbuf_failed(&sql)) {
        g.err =
            mh_fail(st, MH_ERR_QUERY, "The query is too complex (generated SQL over %u bytes)", MH_QBUF_MAX);
        goto cleanup;
    }
    plan.sql = mh_qbuf_take(&sql);
    plan.params = g.params;
    plan.indexes = g.indexes;
    g.params = NULL;
    g.indexes = NULL;
    *out = plan;
    memset(&plan, 0, sizeof plan);
cleanup:
    free(s);
    free(where);
    for (i = 0; keys && i < ast->ngroup; i++)
        free(keys[i]);
    for (i = 0; keyout && i < ast->ngroup; i++)
        free(keyout[i]);
    free(keyout);
    free(keys);
    mh_q_plan_cleanup(&plan);
    mh_qbuf_cleanup(&sql);
    cJSON_Delete(g.params);
    cJSON_Delete(g.indexes);
    return g.err;
}
