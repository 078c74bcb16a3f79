/* lexer.c - tokenizer of the IoT Hub twin query language (see lexer.h). Every error names the byte
 * position (1-based) and the reason, as the REST answer carries it to the client.
 */
#include "query/lexer.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *word;
    mh_qtok_kind kind;
} keywords[] = {
    {"SELECT", MH_QT_SELECT}, {"FROM", MH_QT_FROM},   {"WHERE", MH_QT_WHERE}, {"GROUP", MH_QT_GROUP},
    {"BY", MH_QT_BY},         {"AS", MH_QT_AS},       {"TOP", MH_QT_TOP},     {"AND", MH_QT_AND},
    {"OR", MH_QT_OR},         {"NOT", MH_QT_NOT},     {"IN", MH_QT_IN},       {"NIN", MH_QT_NIN},
    {"TRUE", MH_QT_TRUE},     {"FALSE", MH_QT_FALSE}, {"NULL", MH_QT_NULL},   {"UNDEFINED", MH_QT_UNDEFINED},
};

static const char *const tok_names[MH_QT__COUNT] = {
    [MH_QT_EOF] = "end of query",
    [MH_QT_IDENT] = "name",
    [MH_QT_STRING] = "string",
    [MH_QT_NUMBER] = "number",
    [MH_QT_LPAREN] = "'('",
    [MH_QT_RPAREN] = "')'",
    [MH_QT_LBRACKET] = "'['",
    [MH_QT_RBRACKET] = "']'",
    [MH_QT_COMMA] = "','",
    [MH_QT_DOT] = "'.'",
    [MH_QT_STAR] = "'*'",
    [MH_QT_PLUS] = "'+'",
    [MH_QT_MINUS] = "'-'",
    [MH_QT_SLASH] = "'/'",
    [MH_QT_PERCENT] = "'%'",
    [MH_QT_EQ] = "'='",
    [MH_QT_NE] = "'!='",
    [MH_QT_LT] = "'<'",
    [MH_QT_GT] = "'>'",
    [MH_QT_LE] = "'<='",
    [MH_QT_GE] = "'>='",
    [MH_QT_SELECT] = "SELECT",
    [MH_QT_FROM] = "FROM",
    [MH_QT_WHERE] = "WHERE",
    [MH_QT_GROUP] = "GROUP",
    [MH_QT_BY] = "BY",
    [MH_QT_AS] = "AS",
    [MH_QT_TOP] = "TOP",
    [MH_QT_AND] = "AND",
    [MH_QT_OR] = "OR",
    [MH_QT_NOT] = "NOT",
    [MH_QT_IN] = "IN",
    [MH_QT_NIN] = "NIN",
    [MH_QT_TRUE] = "true",
    [MH_QT_FALSE] = "false",
    [MH_QT_NULL] = "null",
    [MH_QT_UNDEFINED] = "undefined",
};

const char *mh_q_tok_name(mh_qtok_kind kind)
{
    if ((int)kind < 0 || kind >= MH_QT__COUNT || !tok_names[kind])
        return "token";
    return tok_names[kind];
}

void mh_q_tokens_cleanup(mh_qtoks *toks)
{
    size_t i;

    if (!toks)
        return;
    for (i = 0; i < toks->n; i++)
        free(toks->v[i].text);
    free(toks->v);
    toks->v = NULL;
    toks->n = 0;
}

static int is_ident_start(int c)
{
    return isalpha(c) || c == '_' || c == '$';
}

static int is_ident_char(int c)
{
    return isalnum(c) || c == '_' || c == '$';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Reads 4 hex digits at s[i..]; -1 when not there. */
static long hex4(const char *s, size_t len, size_t i)
{
    long v = 0;
    size_t k;

    if (i + 4 > len)
        return -1;
    for (k = 0; k < 4; k++) {
        int h = hexval((unsigned char)s[i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static mh_err lex_fail(mh_status *st, size_t pos, const char *reason, const char *detail)
{
    if (detail)
        return mh_fail(st, MH_ERR_QUERY, "Syntax error at position %zu: %s '%s'", pos + 1, reason, detail);
    return mh_fail(st, MH_ERR_QUERY, "Syntax error at position %zu: %s", pos + 1, reason);
}

/* A quoted string starting at s[start] (the quote). Decodes into a new string. */
static mh_err lex_string(const char *s, size_t len, size_t start, mh_qtok *tok, mh_status *st)
{
    char quote = s[start];
    size_t i = start + 1, o = 0;
    char *out = malloc(len - start + 1); /* decoding never grows the text */

    if (!out)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    for (;;) {
        unsigned char c;
        if (i >= len) {
            free(out);
            return lex_fail(st, start, "unterminated string", NULL);
        }
        c = (unsigned char)s[i];
        if (c == (unsigned char)quote) {
            i++;
            break;
        }
        if (c != '\\') {
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (i + 1 >= len) {
            free(out);
            return lex_fail(st, start, "unterminated string", NULL);
        }
        switch (s[i + 1]) {
        case '\'':
            out[o++] = '\'';
            i += 2;
            break;
        case '"':
            out[o++] = '"';
            i += 2;
            break;
        case '\\':
            out[o++] = '\\';
            i += 2;
            break;
        case '/':
            out[o++] = '/';
            i += 2;
            break;
        case 'b':
            out[o++] = '\b';
            i += 2;
            break;
        case 'f':
            out[o++] = '\f';
            i += 2;
            break;
        case 'n':
            out[o++] = '\n';
            i += 2;
            break;
        case 'r':
            out[o++] = '\r';
            i += 2;
            break;
        case 't':
            out[o++] = '\t';
            i += 2;
            break;
        case 'u': {
            long cp = hex4(s, len, i + 2);
            size_t esc = i;
            if (cp < 0) {
                free(out);
                return lex_fail(st, esc, "invalid \\u escape (4 hex digits expected)", NULL);
            }
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = (i + 1 < len && s[i] == '\\' && s[i + 1] == 'u') ? hex4(s, len, i + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    free(out);
                    return lex_fail(st, esc, "unpaired UTF-16 surrogate in \\u escape", NULL);
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(out);
                return lex_fail(st, esc, "unpaired UTF-16 surrogate in \\u escape", NULL);
            }
            if (cp == 0) {
                /* MOCK: values travel as C strings; the real hub would accept \u0000. */
                free(out);
                return lex_fail(st, esc, "\\u0000 is not supported in strings", NULL);
            }
            o += put_utf8(out + o, (unsigned long)cp);
            break;
        }
        default: {
            char bad[3] = {'\\', s[i + 1], '\0'};
            size_t esc = i;
            free(out);
            return lex_fail(st, esc, "invalid escape sequence", bad);
        }
        }
    }
    out[o] = '\0';
    tok->kind = MH_QT_STRING;
    tok->text = out;
    tok->len = i - start;
    return MH_OK;
}

static mh_err lex_number(const char *s, size_t len, size_t start, mh_qtok *tok, mh_status *st)
{
    size_t i = start;
    char buf[128];

    if (s[i] == '0' && i + 1 < len && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        unsigned long long v = 0;
        size_t digits = 0;
        i += 2;
        while (i < len && hexval((unsigned char)s[i]) >= 0) {
            if (v > (0x7FFFFFFFFFFFFFFFULL >> 4))
                return lex_fail(st, start, "hexadecimal number too large", NULL);
            v = v * 16 + (unsigned long long)hexval((unsigned char)s[i]);
            i++;
            digits++;
        }
        if (digits == 0)
            return lex_fail(st, start, "hexadecimal number without digits", NULL);
        if (i < len && is_ident_char((unsigned char)s[i]))
            return lex_fail(st, start, "invalid number", NULL);
        tok->kind = MH_QT_NUMBER;
        tok->is_int = 1;
        tok->ival = (long long)v;
        tok->num = (double)v;
        tok->len = i - start;
        return MH_OK;
    }
    while (i < len && isdigit((unsigned char)s[i]))
        i++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = i + 1;
        if (e < len && (s[e] == '+' || s[e] == '-'))
            e++;
        if (e >= len || !isdigit((unsigned char)s[e]))
            return lex_fail(st, start, "invalid number exponent", NULL);
        i = e;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < len && (is_ident_char((unsigned char)s[i]) || s[i] == '.'))
        return lex_fail(st, start, "invalid number", NULL);
    if (i - start >= sizeof buf)
        return lex_fail(st, start, "number too long", NULL);
    memcpy(buf, s + start, i - start);
    buf[i - start] = '\0';
    if (strcmp(buf, ".") == 0)
        return lex_fail(st, start, "invalid number", NULL);
    errno = 0;
    tok->num = strtod(buf, NULL);
    if (errno == ERANGE && isinf(tok->num))
        return lex_fail(st, start, "number out of range", NULL);
    tok->kind = MH_QT_NUMBER;
    tok->is_int = !strpbrk(buf, ".eE") && fabs(tok->num) < 9.2e18;
    tok->ival = tok->is_int ? strtoll(buf, NULL, 10) : 0;
    tok->len = i - start;
    return MH_OK;
}

mh_err mh_q_lex(const char *s, size_t len, mh_qtoks *out, mh_status *st)
{
    mh_qtoks toks = {NULL, 0};
    size_t i = 0;
    mh_err err = MH_OK;

    size_t chars = 0, ci;

    for (ci = 0; ci < len; ci++)
        chars += ((unsigned char)s[ci] & 0xC0) != 0x80; /* UTF-8 lead bytes = characters */
    if (chars > MH_QUERY_MAX_LEN)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The query is longer than %d characters",
                       MH_QUERY_MAX_LEN);
    /* Never more tokens than characters, plus EOF. */
    toks.v = calloc(len + 1, sizeof *toks.v);
    if (!toks.v)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    for (;;) {
        mh_qtok *t;
        unsigned char c;

        while (i < len && isspace((unsigned char)s[i]))
            i++;
        t = &toks.v[toks.n];
        t->pos = i;
        if (i >= len) {
            t->kind = MH_QT_EOF;
            toks.n++;
            break;
        }
        c = (unsigned char)s[i];
        if (c == '\0') {
            err = lex_fail(st, i, "unexpected NUL character", NULL);
            goto cleanup;
        }
        if (is_ident_start(c)) {
            size_t k, start = i;
            while (i < len && is_ident_char((unsigned char)s[i]))
                i++;
            t->len = i - start;
            t->kind = MH_QT_IDENT;
            for (k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
                if (strlen(keywords[k].word) == t->len &&
                    strncasecmp(keywords[k].word, s + start, t->len) == 0) {
                    t->kind = keywords[k].kind;
                    break;
                }
            }
            /* Keep the spelling of keywords too: after a '.', the parser takes them as names. */
            t->text = strndup(s + start, t->len);
            if (!t->text) {
                err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
                goto cleanup;
            }
            toks.n++;
            continue;
        }
        if (isdigit(c) || (c == '.' && i + 1 < len && isdigit((unsigned char)s[i + 1]))) {
            err = lex_number(s, len, i, t, st);
            if (err)
                goto cleanup;
            i += t->len;
            toks.n++;
            continue;
        }
        if (c == '\'' || c == '"') {
            err = lex_string(s, len, i, t, st);
            if (err)
                goto cleanup;
            i += t->len;
            toks.n++;
            continue;
        }
        /* [[escaped name]]: only right after '.', where an array constant cannot start. */
        if (c == '[' && i + 1 < len && s[i + 1] == '[' && toks.n > 0 &&
            toks.v[toks.n - 1].kind == MH_QT_DOT) {
            const char *end = NULL;
            size_t k;
            for (k = i + 2; k + 1 < len; k++) {
                if (s[k] == ']' && s[k + 1] == ']') {
                    end = s + k;
                    break;
                }
            }
            if (!end) {
                err = lex_fail(st, i, "unterminated [[name]]", NULL);
                goto cleanup;
            }
            if (end == s + i + 2) {
                err = lex_fail(st, i, "empty [[name]]", NULL);
                goto cleanup;
            }
            t->kind = MH_QT_IDENT;
            t->escaped = 1;
            t->text = strndup(s + i + 2, (size_t)(end - (s + i + 2)));
            if (!t->text) {
                err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
                goto cleanup;
            }
            if (strlen(t->text) != (size_t)(end - (s + i + 2))) {
                free(t->text); /* not counted in toks.n yet, so cleanup would not free it */
                t->text = NULL;
                err = lex_fail(st, i, "unexpected NUL character", NULL);
                goto cleanup;
            }
            t->len = (size_t)(end - (s + i)) + 2;
            i += t->len;
            toks.n++;
            continue;
        }
        t->len = 1;
        switch (c) {
        case '(':
            t->kind = MH_QT_LPAREN;
            break;
        case ')':
            t->kind = MH_QT_RPAREN;
            break;
        case '[':
            t->kind = MH_QT_LBRACKET;
            break;
        case ']':
            t->kind = MH_QT_RBRACKET;
            break;
        case ',':
            t->kind = MH_QT_COMMA;
            break;
        case '.':
            t->kind = MH_QT_DOT;
            break;
        case '*':
            t->kind = MH_QT_STAR;
            break;
        case '+':
            t->kind = MH_QT_PLUS;
            break;
        case '-':
            t->kind = MH_QT_MINUS;
            break;
        case '/':
            t->kind = MH_QT_SLASH;
            break;
        case '%':
            t->kind = MH_QT_PERCENT;
            break;
        case '=':
            t->kind = MH_QT_EQ;
            break;
        case '!':
            if (i + 1 < len && s[i + 1] == '=') {
                t->kind = MH_QT_NE;
                t->len = 2;
                break;
            }
            err = lex_fail(st, i, "unexpected character", "!");
            goto cleanup;
        case '<':
            t->kind = MH_QT_LT;
            if (i + 1 < len && s[i + 1] == '=') {
                t->kind = MH_QT_LE;
                t->len = 2;
            } else if (i + 1 < len && s[i + 1] == '>') {
                t->kind = MH_QT_NE;
                t->len = 2;
            }
            break;
        case '>':
            t->kind = MH_QT_GT;
            if (i + 1 < len && s[i + 1] == '=') {
                t->kind = MH_QT_GE;
                t->len = 2;
            }
            break;
        default: {
            char bad[8];
            if (c >= 0x20 && c < 0x7F) {
                bad[0] = (char)c;
                bad[1] = '\0';
            } else {
                snprintf(bad, sizeof bad, "\\x%02X", c);
            }
            err = lex_fail(st, i, "unexpected character", bad);
            goto cleanup;
        }
        }
        i += t->len;
        toks.n++;
    }
    *out = toks;
    return MH_OK;
cleanup:
    mh_q_tokens_cleanup(&toks);
    return err;
}
