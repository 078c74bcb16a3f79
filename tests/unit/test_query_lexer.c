/* Unit tests for mockhub/query/lexer: token streams of the IoT Hub query language and every lexer
 * error (each message names the 1-based position). Table-driven. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "query/lexer.h"

/* Renders tokens as a compact string: kinds by name, names/strings/numbers with their value. */
static void render(const mh_qtoks *t, char *out, size_t len)
{
    size_t i, o = 0;

    out[0] = '\0';
    for (i = 0; i < t->n && o < len; i++) {
        const mh_qtok *k = &t->v[i];
        int n;
        if (k->kind == MH_QT_IDENT)
            n = snprintf(out + o, len - o, "%sid:%s%s", i ? " " : "", k->escaped ? "[[" : "", k->text);
        else if (k->kind == MH_QT_STRING)
            n = snprintf(out + o, len - o, "%sstr:%s", i ? " " : "", k->text);
        else if (k->kind == MH_QT_NUMBER && k->is_int)
            n = snprintf(out + o, len - o, "%sint:%lld", i ? " " : "", k->ival);
        else if (k->kind == MH_QT_NUMBER)
            n = snprintf(out + o, len - o, "%snum:%g", i ? " " : "", k->num);
        else
            n = snprintf(out + o, len - o, "%s%s", i ? " " : "", mh_q_tok_name(k->kind));
        o += (size_t)n;
    }
}

struct lex_ok {
    const char *in;
    const char *out;
};

static const struct lex_ok lex_ok_cases[] = {
    {"", "end of query"},
    {"SELECT * FROM devices", "SELECT '*' FROM id:devices end of query"},
    {"select top 5 deviceId from DEVICES", "SELECT TOP int:5 id:deviceId FROM id:DEVICES end of query"},
    {"a.b.c", "id:a '.' id:b '.' id:c end of query"},
    {"tags.[[my-key]]", "id:tags '.' id:[[my-key end of query"},
    {"$version", "id:$version end of query"},
    {"'it\\'s' \"say \\\"hi\\\"\" '\\\\'", "str:it's str:say \"hi\" str:\\ end of query"},
    {"'\\u00e9\\u20AC'", "str:\xC3\xA9\xE2\x82\xAC end of query"},
    {"'\\uD83D\\uDE00'", "str:\xF0\x9F\x98\x80 end of query"},
    {"'a\\/b\\n'", "str:a/b\n end of query"},
    {"0x1F 0XfF 42 3.5 .5 1e3 2E-2", "int:31 int:255 int:42 num:3.5 num:0.5 num:1000 num:0.02 end of query"},
    {"= != <> < > <= >= + - * / %", "'=' '!=' '!=' '<' '>' '<=' '>=' '+' '-' '*' '/' '%' end of query"},
    {"( ) [ ] ,", "'(' ')' '[' ']' ',' end of query"},
    {"AND or Not in NIN true FALSE null Undefined",
     "AND OR NOT IN NIN true false null undefined end of query"},
    {"x IN ['a',1]", "id:x IN '[' str:a ',' int:1 ']' end of query"},
    {"is_defined(p)", "id:is_defined '(' id:p ')' end of query"},
    {" \t\r\nx\n", "id:x end of query"},
};

Test(query_lexer, mh_q_lex_table_succeeds)
{
    for (size_t i = 0; i < sizeof lex_ok_cases / sizeof lex_ok_cases[0]; i++) {
        mh_qtoks t;
        mh_status st = {0};
        char out[512];
        mh_err err = mh_q_lex(lex_ok_cases[i].in, strlen(lex_ok_cases[i].in), &t, &st);
        cr_assert_eq(err, MH_OK, "case %zu (%s): %s", i, lex_ok_cases[i].in, st.text);
        render(&t, out, sizeof out);
        cr_expect_str_eq(out, lex_ok_cases[i].out, "case %zu", i);
        mh_q_tokens_cleanup(&t);
    }
}

Test(query_lexer, mh_q_lex_positions_succeeds)
{
    mh_qtoks t;
    mh_status st = {0};
    cr_assert_eq(mh_q_lex("SELECT  x", 9, &t, &st), MH_OK);
    cr_expect_eq(t.v[0].pos, 0);
    cr_expect_eq(t.v[1].pos, 8);
    cr_expect_eq(t.v[2].pos, 9);
    mh_q_tokens_cleanup(&t);
}

struct lex_err {
    const char *in;
    mh_err code;
    const char *msg;
};

static const struct lex_err lex_err_cases[] = {
    {"'abc", MH_ERR_QUERY, "Syntax error at position 1: unterminated string"},
    {"x = \"abc\\", MH_ERR_QUERY, "Syntax error at position 5: unterminated string"},
    {"'a\\qb'", MH_ERR_QUERY, "Syntax error at position 3: invalid escape sequence '\\q'"},
    {"'\\u12'", MH_ERR_QUERY, "Syntax error at position 2: invalid \\u escape (4 hex digits expected)"},
    {"'\\uZZZZ'", MH_ERR_QUERY, "Syntax error at position 2: invalid \\u escape"},
    {"'\\uD800'", MH_ERR_QUERY, "Syntax error at position 2: unpaired UTF-16 surrogate"},
    {"'\\uDC00'", MH_ERR_QUERY, "Syntax error at position 2: unpaired UTF-16 surrogate"},
    {"'\\u0000'", MH_ERR_QUERY, "Syntax error at position 2: \\u0000 is not supported"},
    {"x = 0x", MH_ERR_QUERY, "Syntax error at position 5: hexadecimal number without digits"},
    {"0x8000000000000000", MH_ERR_QUERY, "Syntax error at position 1: hexadecimal number too large"},
    {"x = 12abc", MH_ERR_QUERY, "Syntax error at position 5: invalid number"},
    {"1.2.3", MH_ERR_QUERY, "Syntax error at position 1: invalid number"},
    {"1e", MH_ERR_QUERY, "Syntax error at position 1: invalid number exponent"},
    {"1e999", MH_ERR_QUERY, "Syntax error at position 1: number out of range"},
    {"x ! y", MH_ERR_QUERY, "Syntax error at position 3: unexpected character '!'"},
    {"x ; DROP TABLE devices", MH_ERR_QUERY, "Syntax error at position 3: unexpected character ';'"},
    {"x = @p", MH_ERR_QUERY, "Syntax error at position 5: unexpected character '@'"},
    {"x \x01", MH_ERR_QUERY, "Syntax error at position 3: unexpected character '\\x01'"},
    {"tags.[[abc", MH_ERR_QUERY, "Syntax error at position 6: unterminated [[name]]"},
    {"tags.[[]]", MH_ERR_QUERY, "Syntax error at position 6: empty [[name]]"},
};

Test(query_lexer, mh_q_lex_errors_fails)
{
    for (size_t i = 0; i < sizeof lex_err_cases / sizeof lex_err_cases[0]; i++) {
        mh_qtoks t = {NULL, 0};
        mh_status st = {0};
        mh_err err = mh_q_lex(lex_err_cases[i].in, strlen(lex_err_cases[i].in), &t, &st);
        cr_expect_eq(err, lex_err_cases[i].code, "case %zu (%s): %d", i, lex_err_cases[i].in, err);
        cr_expect(strncmp(st.text, lex_err_cases[i].msg, strlen(lex_err_cases[i].msg)) == 0,
                  "case %zu: got '%s', want '%s'", i, st.text, lex_err_cases[i].msg);
        cr_expect_null(t.v);
    }
}

Test(query_lexer, mh_q_lex_embedded_nul_fails)
{
    mh_qtoks t = {NULL, 0};
    mh_status st = {0};
    cr_expect_eq(mh_q_lex("x\0y", 3, &t, &st), MH_ERR_QUERY);
    cr_expect_str_eq(st.text, "Syntax error at position 2: unexpected NUL character");
}

/* Found by fuzz/fuzz_query (a leak under ASan): a NUL inside [[...]] failed after the name was
 * copied but before the token was counted, so the copy was never freed. */
Test(query_lexer, mh_q_lex_nul_in_escaped_name_fails)
{
    static const char q[] = "SELECT * FROM devices WHERE tags.[[my\0key]] = 1";
    mh_qtoks t = {NULL, 0};
    mh_status st = {0};
    cr_expect_eq(mh_q_lex(q, sizeof q - 1, &t, &st), MH_ERR_QUERY);
    cr_expect_str_eq(st.text, "Syntax error at position 34: unexpected NUL character");
    cr_expect_null(t.v);
}

Test(query_lexer, mh_q_lex_over_8192_characters_fails)
{
    static char q[8194];
    mh_qtoks t = {NULL, 0};
    mh_status st = {0};
    memset(q, 'x', 8193);
    cr_expect_eq(mh_q_lex(q, 8193, &t, &st), MH_ERR_ARGUMENT_INVALID);
    cr_expect_str_eq(st.text, "The query is longer than 8192 characters");
    cr_expect_eq(mh_q_lex(q, 8192, &t, &st), MH_OK);
    mh_q_tokens_cleanup(&t);
}

Test(query_lexer, mh_q_lex_counts_characters_not_bytes_succeeds)
{
    /* 5000 two-byte characters inside a string: 5002 characters, 10002 bytes. */
    static char q[11000];
    size_t o = 0;
    mh_qtoks t = {NULL, 0};
    mh_status st = {0};
    q[o++] = '\'';
    for (int i = 0; i < 5000; i++) {
        q[o++] = (char)0xC3;
        q[o++] = (char)0xA9;
    }
    q[o++] = '\'';
    cr_expect_eq(mh_q_lex(q, o, &t, &st), MH_OK, "%s", st.text);
    mh_q_tokens_cleanup(&t);
}
