/* Unit tests for mockhub/query/parser: queries parsed into a tree (rendered as S-expressions),
 * precedence, and every parser error with its position. Table-driven. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/parser.h"

typedef struct out {
    char buf[1024];
    size_t o;
} out;

static void put(out *b, const char *s)
{
    size_t n = strlen(s);
    if (b->o + n < sizeof b->buf) {
        memcpy(b->buf + b->o, s, n + 1);
        b->o += n;
    }
}

static const char *opname(mh_qtok_kind k)
{
    switch (k) {
    case MH_QT_EQ:
        return "=";
    case MH_QT_NE:
        return "!=";
    case MH_QT_LT:
        return "<";
    case MH_QT_GT:
        return ">";
    case MH_QT_LE:
        return "<=";
    case MH_QT_GE:
        return ">=";
    case MH_QT_PLUS:
        return "+";
    case MH_QT_MINUS:
        return "-";
    case MH_QT_STAR:
        return "*";
    case MH_QT_SLASH:
        return "/";
    case MH_QT_PERCENT:
        return "%";
    case MH_QT_AND:
        return "AND";
    case MH_QT_OR:
        return "OR";
    case MH_QT_NOT:
        return "NOT";
    case MH_QT_IN:
        return "IN";
    case MH_QT_NIN:
        return "NIN";
    default:
        return "?";
    }
}

static void dump(out *b, const mh_qnode *n)
{
    char tmp[64];
    size_t i;

    switch (n->kind) {
    case MH_QN_CONST: {
        char *j = n->value ? cJSON_PrintUnformatted(n->value) : NULL;
        put(b, j ? j : "undefined");
        free(j);
        break;
    }
    case MH_QN_PATH:
        for (i = 0; i < n->nsegs; i++) {
            if (n->segs[i].name) {
                if (i)
                    put(b, ".");
                put(b, n->segs[i].name);
            } else {
                snprintf(tmp, sizeof tmp, "[%ld]", n->segs[i].index);
                put(b, tmp);
            }
        }
        break;
    case MH_QN_BINARY:
        put(b, "(");
        put(b, opname(n->op));
        put(b, " ");
        dump(b, n->left);
        put(b, " ");
        dump(b, n->right);
        put(b, ")");
        break;
    case MH_QN_UNARY:
        put(b, "(");
        put(b, n->op == MH_QT_MINUS ? "neg" : n->op == MH_QT_PLUS ? "pos" : "NOT");
        put(b, " ");
        dump(b, n->left);
        put(b, ")");
        break;
    case MH_QN_CALL:
        put(b, n->name);
        put(b, "(");
        if (n->star_arg)
            put(b, "*");
        for (i = 0; i < n->nargs; i++) {
            if (i)
                put(b, ", ");
            dump(b, n->args[i]);
        }
        put(b, ")");
        break;
    case MH_QN_IN: {
        char *j = cJSON_PrintUnformatted(n->value);
        put(b, "(");
        put(b, opname(n->op));
        put(b, " ");
        dump(b, n->left);
        put(b, " ");
        put(b, j);
        put(b, ")");
        free(j);
        break;
    }
    }
}

static void dump_query(out *b, const mh_qast *a)
{
    char tmp[64];
    size_t i;

    b->o = 0;
    b->buf[0] = '\0';
    put(b, "SELECT ");
    if (a->top >= 0) {
        snprintf(tmp, sizeof tmp, "TOP %lld ", a->top);
        put(b, tmp);
    }
    if (a->select_star)
        put(b, "*");
    for (i = 0; i < a->nprojs; i++) {
        if (i)
            put(b, ", ");
        dump(b, a->projs[i].expr);
        if (a->projs[i].alias) {
            put(b, " AS ");
            put(b, a->projs[i].alias);
        }
    }
    put(b, a->from == MH_QFROM_DEVICES   ? " FROM devices"
           : a->from == MH_QFROM_MODULES ? " FROM devices.modules"
                                         : " FROM devices.jobs");
    if (a->where) {
        put(b, " WHERE ");
        dump(b, a->where);
    }
    for (i = 0; i < a->ngroup; i++) {
        put(b, i ? ", " : " GROUP BY ");
        dump(b, a->group[i]);
    }
}

struct parse_ok {
    const char *in;
    const char *out;
};

static const struct parse_ok parse_ok_cases[] = {
    {"SELECT * FROM devices", "SELECT * FROM devices"},
    {"select * from Devices where tags.location.region = 'US'",
     "SELECT * FROM devices WHERE (= tags.location.region \"US\")"},
    {"SELECT * FROM devices WHERE tags.location.region = 'US' AND "
     "properties.reported.telemetryConfig.sendFrequencyInSecs >= 60",
     "SELECT * FROM devices WHERE (AND (= tags.location.region \"US\") (>= "
     "properties.reported.telemetryConfig.sendFrequencyInSecs 60))"},
    {"SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired', 'wifi']",
     "SELECT * FROM devices WHERE (IN properties.reported.connectivity [\"wired\",\"wifi\"])"},
    {"SELECT * FROM devices WHERE x NIN [1, -2, 0x10, true, null, [\"a\"]]",
     "SELECT * FROM devices WHERE (NIN x [1,-2,16,true,null,[\"a\"]])"},
    {"SELECT * FROM devices WHERE is_defined(properties.reported.connectivity)",
     "SELECT * FROM devices WHERE IS_DEFINED(properties.reported.connectivity)"},
    {"SELECT properties.reported.telemetryConfig.status AS status, COUNT() AS numberOfDevices FROM devices "
     "GROUP BY properties.reported.telemetryConfig.status",
     "SELECT properties.reported.telemetryConfig.status AS status, COUNT() AS numberOfDevices FROM devices "
     "GROUP BY properties.reported.telemetryConfig.status"},
    {"SELECT COUNT() as totalNumberOfDevices FROM devices",
     "SELECT COUNT() AS totalNumberOfDevices FROM devices"},
    {"SELECT count(*) FROM devices", "SELECT COUNT(*) FROM devices"},
    {"SELECT DeviceId, LastActivityTime FROM devices WHERE status = 'enabled' AND connectionState = "
     "'Disconnected'",
     "SELECT DeviceId, LastActivityTime FROM devices WHERE (AND (= status \"enabled\") (= connectionState "
     "\"Disconnected\"))"},
    {"SELECT TOP 3 * FROM devices", "SELECT TOP 3 * FROM devices"},
    {"SELECT * FROM devices.modules WHERE deviceId IN ['device1']",
     "SELECT * FROM devices.modules WHERE (IN deviceId [\"device1\"])"},
    {"SELECT * FROM devices.jobs", "SELECT * FROM devices.jobs"},
    {"SELECT deviceId, moduleId FROM DEVICES.Modules WHERE devices.modules.moduleId = 'm' AND deviceId NIN "
     "['a']",
     "SELECT deviceId, moduleId FROM devices.modules WHERE (AND (= devices.modules.moduleId \"m\") (NIN "
     "deviceId [\"a\"]))"},
    /* precedence: OR < AND < NOT < comparison < additive < multiplicative < unary */
    {"SELECT * FROM devices WHERE a = 1 OR b = 2 AND NOT c = 3",
     "SELECT * FROM devices WHERE (OR (= a 1) (AND (= b 2) (NOT (= c 3))))"},
    {"SELECT * FROM devices WHERE a + b * c - d / e % f > -g",
     "SELECT * FROM devices WHERE (> (- (+ a (* b c)) (% (/ d e) f)) (neg g))"},
    {"SELECT * FROM devices WHERE (a OR b) AND c", "SELECT * FROM devices WHERE (AND (OR a b) c)"},
    {"SELECT * FROM devices WHERE x > -5 AND y < - 2.5",
     "SELECT * FROM devices WHERE (AND (> x -5) (< y -2.5))"},
    {"SELECT * FROM devices WHERE a <> 'x' AND b != \"y\"",
     "SELECT * FROM devices WHERE (AND (!= a \"x\") (!= b \"y\"))"},
    /* names: keywords after '.', [[escaped]], indexers, $-names */
    {"SELECT * FROM devices WHERE tags.group.from = 1", "SELECT * FROM devices WHERE (= tags.group.from 1)"},
    {"SELECT * FROM devices WHERE tags.[[my key!]] = 1", "SELECT * FROM devices WHERE (= tags.my key! 1)"},
    {"SELECT * FROM devices WHERE tags.list[2] = 1 AND tags['a b'] = 2",
     "SELECT * FROM devices WHERE (AND (= tags.list[2] 1) (= tags.a b 2))"},
    {"SELECT * FROM devices WHERE properties.desired.$version > 3 AND "
     "properties.reported.$metadata.x.$lastUpdated > '2024'",
     "SELECT * FROM devices WHERE (AND (> properties.desired.$version 3) (> "
     "properties.reported.$metadata.x.$lastUpdated \"2024\"))"},
    {"SELECT * FROM devices WHERE x = undefined OR y = null",
     "SELECT * FROM devices WHERE (OR (= x undefined) (= y null))"},
    {"SELECT a.b AS x, SUM(c), AVG(c), MIN(d), MAX(d) FROM devices GROUP BY a.b, e",
     "SELECT a.b AS x, SUM(c), AVG(c), MIN(d), MAX(d) FROM devices GROUP BY a.b, e"},
};

Test(query_parser, mh_q_parse_table_succeeds)
{
    for (size_t i = 0; i < sizeof parse_ok_cases / sizeof parse_ok_cases[0]; i++) {
        mh_qast *a = NULL;
        mh_status st = {0};
        out b;
        mh_err err = mh_q_parse(parse_ok_cases[i].in, strlen(parse_ok_cases[i].in), &a, &st);
        cr_assert_eq(err, MH_OK, "case %zu (%s): %s", i, parse_ok_cases[i].in, st.text);
        dump_query(&b, a);
        cr_expect_str_eq(b.buf, parse_ok_cases[i].out, "case %zu", i);
        mh_q_ast_free(a);
    }
}

struct parse_err {
    const char *in;
    mh_err code;
    const char *msg;
};

static const struct parse_err parse_err_cases[] = {
    {"", MH_ERR_QUERY, "Syntax error at position 1: expected SELECT, found end of query"},
    {"UPDATE devices", MH_ERR_QUERY, "Syntax error at position 1: expected SELECT, found 'UPDATE'"},
    {"SELECT", MH_ERR_QUERY, "Syntax error at position 7: expected expression, found end of query"},
    {"SELECT * devices", MH_ERR_QUERY, "Syntax error at position 10: expected FROM, found 'devices'"},
    {"SELECT deviceId devices", MH_ERR_QUERY,
     "Syntax error at position 17: expected ',', AS or FROM, found 'devices'"},
    {"SELECT * FROM", MH_ERR_QUERY,
     "Syntax error at position 14: expected collection name (devices), found end of query"},
    {"SELECT * FROM twins", MH_ERR_QUERY, "Syntax error at position 15: unknown collection 'twins'"},
    {"SELECT * FROM devices.things", MH_ERR_QUERY,
     "Syntax error at position 23: expected modules or jobs after 'devices.', found 'things'"},
    {"SELECT * FROM devices WHERE", MH_ERR_QUERY,
     "Syntax error at position 28: expected expression, found end of query"},
    {"SELECT * FROM devices WHERE x =", MH_ERR_QUERY,
     "Syntax error at position 32: expected expression, found end of query"},
    {"SELECT * FROM devices WHERE (x = 1", MH_ERR_QUERY,
     "Syntax error at position 35: expected ')', found end of query"},
    {"SELECT * FROM devices WHERE x IN ('a')", MH_ERR_QUERY,
     "Syntax error at position 34: expected array constant '[...]' after IN/NIN, found '('"},
    {"SELECT * FROM devices WHERE x IN ['a' 'b']", MH_ERR_QUERY,
     "Syntax error at position 39: expected ',' or ']' in array constant, found string 'b'"},
    {"SELECT * FROM devices WHERE x IN [y]", MH_ERR_QUERY,
     "Syntax error at position 35: expected constant, found 'y'"},
    {"SELECT * FROM devices WHERE x IN [-y]", MH_ERR_QUERY,
     "Syntax error at position 36: expected number, found 'y'"},
    {"SELECT * FROM devices WHERE tags. = 1", MH_ERR_QUERY,
     "Syntax error at position 35: expected property name after '.', found '='"},
    {"SELECT * FROM devices WHERE tags[x] = 1", MH_ERR_QUERY,
     "Syntax error at position 34: expected array index or property name string in '[ ]', found 'x'"},
    {"SELECT * FROM devices WHERE tags[1 = 1", MH_ERR_QUERY,
     "Syntax error at position 36: expected ']', found '='"},
    {"SELECT * FROM devices WHERE f(1 2)", MH_ERR_QUERY,
     "Syntax error at position 33: expected ',' or ')', found number"},
    {"SELECT * FROM devices GROUP x", MH_ERR_QUERY,
     "Syntax error at position 29: expected BY after GROUP, found 'x'"},
    {"SELECT * FROM devices WHERE x = 1 ORDER BY x", MH_ERR_QUERY,
     "Syntax error at position 35: expected end of query, found 'ORDER'"},
    {"SELECT * FROM devices LIMIT 5", MH_ERR_QUERY,
     "Syntax error at position 23: expected WHERE, GROUP BY or end of query, found 'LIMIT'"},
    {"SELECT * FROM devices WHERE x = 1; DROP TABLE devices", MH_ERR_QUERY,
     "Syntax error at position 34: unexpected character ';'"},
    {"SELECT TOP x * FROM devices", MH_ERR_QUERY,
     "Syntax error at position 12: expected non-negative integer after TOP, found 'x'"},
    {"SELECT TOP 1.5 * FROM devices", MH_ERR_QUERY,
     "Syntax error at position 12: expected non-negative integer after TOP, found number"},
    {"SELECT x AS FROM devices", MH_ERR_QUERY,
     "Syntax error at position 13: expected alias name after AS, found 'FROM'"},
    {"SELECT x, * FROM devices", MH_ERR_QUERY,
     "Syntax error at position 11: '*' must be the only item of the select list"},
    {"SELECT * FROM devices WHERE x = 'abc", MH_ERR_QUERY,
     "Syntax error at position 33: unterminated string"},
};

Test(query_parser, mh_q_parse_errors_fails)
{
    for (size_t i = 0; i < sizeof parse_err_cases / sizeof parse_err_cases[0]; i++) {
        mh_qast *a = NULL;
        mh_status st = {0};
        mh_err err = mh_q_parse(parse_err_cases[i].in, strlen(parse_err_cases[i].in), &a, &st);
        cr_expect_eq(err, parse_err_cases[i].code, "case %zu (%s): %d %s", i, parse_err_cases[i].in, err,
                     st.text);
        cr_expect(strncmp(st.text, parse_err_cases[i].msg, strlen(parse_err_cases[i].msg)) == 0,
                  "case %zu: got '%s', want '%s'", i, st.text, parse_err_cases[i].msg);
        cr_expect_null(a);
    }
}

Test(query_parser, mh_q_parse_nesting_too_deep_fails)
{
    char q[1024];
    size_t o = (size_t)snprintf(q, sizeof q, "SELECT * FROM devices WHERE ");
    mh_qast *a = NULL;
    mh_status st = {0};
    for (int i = 0; i < 100; i++)
        q[o++] = '(';
    q[o++] = 'x';
    for (int i = 0; i < 100; i++)
        q[o++] = ')';
    q[o] = '\0';
    cr_expect_eq(mh_q_parse(q, o, &a, &st), MH_ERR_QUERY);
    cr_expect(strstr(st.text, "nested too deeply") != NULL, "%s", st.text);
    cr_expect_null(a);
}

Test(query_parser, mh_q_parse_moderate_nesting_succeeds)
{
    char q[512];
    size_t o = (size_t)snprintf(q, sizeof q, "SELECT * FROM devices WHERE ");
    mh_qast *a = NULL;
    mh_status st = {0};
    for (int i = 0; i < 10; i++)
        q[o++] = '(';
    q[o++] = 'x';
    for (int i = 0; i < 10; i++)
        q[o++] = ')';
    q[o] = '\0';
    cr_expect_eq(mh_q_parse(q, o, &a, &st), MH_OK, "%s", st.text);
    mh_q_ast_free(a);
}
