/* lexer.h - tokens of IoT Hub's twin query language (SELECT ... FROM devices WHERE ...), following
 * https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-query-language ("Expressions and
 * conditions"): identifiers, [[escaped names]], strings in ' or " with \' \" \\ \uXXXX escapes,
 * decimal and 0x hex numbers, operators and case-insensitive keywords. Pure code, no I/O.
 */
#ifndef MH_QUERY_LEXER_H
#define MH_QUERY_LEXER_H

#include <stddef.h>

#include "errors.h"

#define MH_QUERY_MAX_LEN 8192 /* IoT Hub's cap on query text, in characters */

typedef enum mh_qtok_kind {
    MH_QT_EOF = 0,
    MH_QT_IDENT,  /* name or [[escaped name]]; text is the name */
    MH_QT_STRING, /* text is the decoded UTF-8 value */
    MH_QT_NUMBER, /* num (and is_int/ival when integral) */
    MH_QT_LPAREN,
    MH_QT_RPAREN,
    MH_QT_LBRACKET,
    MH_QT_RBRACKET,
    MH_QT_COMMA,
    MH_QT_DOT,
    MH_QT_STAR,
    MH_QT_PLUS,
    MH_QT_MINUS,
    MH_QT_SLASH,
    MH_QT_PERCENT,
    MH_QT_EQ,
    MH_QT_NE,
    MH_QT_LT,
    MH_QT_GT,
    MH_QT_LE,
    MH_QT_GE,
    /* keywords (case-insensitive) */
    MH_QT_SELECT,
    MH_QT_FROM,
    MH_QT_WHERE,
    MH_QT_GROUP,
    MH_QT_BY,
    MH_QT_AS,
    MH_QT_TOP,
    MH_QT_AND,
    MH_QT_OR,
    MH_QT_NOT,
    MH_QT_IN,
    MH_QT_NIN,
    MH_QT_TRUE,
    MH_QT_FALSE,
    MH_QT_NULL,
    MH_QT_UNDEFINED,
    MH_QT__COUNT
} mh_qtok_kind;

typedef struct mh_qtok {
    mh_qtok_kind kind;
    size_t pos;  /* byte offset in the query text (messages print pos + 1) */
    size_t len;  /* bytes of source text */
    char *text;  /* IDENT/STRING: decoded, NUL-terminated, owned; keywords: NULL */
    int escaped; /* IDENT written as [[name]] */
    double num;  /* NUMBER */
    int is_int;  /* NUMBER is an integer that fits in long long */
    long long ival;
} mh_qtok;

typedef struct mh_qtoks {
    mh_qtok *v; /* ends with one MH_QT_EOF token */
    size_t n;
} mh_qtoks;

/* Splits query (len bytes) into tokens. Errors: MH_ERR_QUERY with "Syntax error at position N:
 * <reason>" in st (unterminated string, bad escape, bad number, unexpected character...). On
 * success *out owns the tokens (free with mh_q_tokens_cleanup). */
mh_err mh_q_lex(const char *query, size_t len, mh_qtoks *out, mh_status *st) MH_WARN_UNUSED;
void mh_q_tokens_cleanup(mh_qtoks *toks);

/* Static display name of a token kind for messages ("FROM", "','", "end of query"). */
const char *mh_q_tok_name(mh_qtok_kind kind);

#endif
