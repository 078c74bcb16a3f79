/* parser.c - recursive-descent parser of the twin query language into the tree of parser.h.
 * Precedence, lowest first: OR, AND, NOT, comparison (= != <> < > <= >= IN NIN), + -, * / %,
 * unary - +. Every error names the position of the offending token and what was expected.
 */
#include "query/parser.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct parser {
    const mh_qtoks *toks;
    size_t i;
    int depth;
    mh_status *st;
} parser;

static const mh_qtok *peek(const parser *p)
{
    return &p->toks->v[p->i];
}

static const mh_qtok *peek2(const parser *p)
{
    return p->i + 1 < p->toks->n ? &p->toks->v[p->i + 1] : &p->toks->v[p->toks->n - 1];
}

static const mh_qtok *next(parser *p)
{
    const mh_qtok *t = &p->toks->v[p->i];
    if (t->kind != MH_QT_EOF)
        p->i++;
    return t;
}

static mh_err nomem(parser *p)
{
    return mh_fail(p->st, MH_ERR_NOMEM, "out of memory");
}

/* "Syntax error at position N: expected X, found Y". */
static mh_err expected(parser *p, const char *what)
{
    const mh_qtok *t = peek(p);
    if (t->kind == MH_QT_EOF)
        return mh_fail(p->st, MH_ERR_QUERY, "Syntax error at position %zu: expected %s, found end of query",
                       t->pos + 1, what);
    if (t->kind == MH_QT_STRING)
        return mh_fail(p->st, MH_ERR_QUERY, "Syntax error at position %zu: expected %s, found string '%.64s'",
                       t->pos + 1, what, t->text);
    if (t->text)
        return mh_fail(p->st, MH_ERR_QUERY, "Syntax error at position %zu: expected %s, found '%.64s'",
                       t->pos + 1, what, t->text);
    return mh_fail(p->st, MH_ERR_QUERY, "Syntax error at position %zu: expected %s, found %s", t->pos + 1,
                   what, mh_q_tok_name(t->kind));
}

static int accept(parser *p, mh_qtok_kind kind)
{
    if (peek(p)->kind != kind)
        return 0;
    next(p);
    return 1;
}

static int is_keyword(mh_qtok_kind k)
{
    return k >= MH_QT_SELECT && k < MH_QT__COUNT;
}

void mh_q_node_free(mh_qnode *n)
{
    size_t i;

    if (!n)
        return;
    cJSON_Delete(n->value);
    for (i = 0; i < n->nsegs; i++)
        free(n->segs[i].name);
    free(n->segs);
    free(n->name);
    mh_q_node_free(n->left);
    mh_q_node_free(n->right);
    for (i = 0; i < n->nargs; i++)
        mh_q_node_free(n->args[i]);
    free(n->args);
    free(n);
}

void mh_q_ast_free(mh_qast *ast)
{
    size_t i;

    if (!ast)
        return;
    for (i = 0; i < ast->nprojs; i++) {
        mh_q_node_free(ast->projs[i].expr);
        free(ast->projs[i].alias);
    }
    free(ast->projs);
    mh_q_node_free(ast->where);
    for (i = 0; i < ast->ngroup; i++)
        mh_q_node_free(ast->group[i]);
    free(ast->group);
    free(ast);
}

static mh_qnode *node_new(mh_qnode_kind kind, size_t pos)
{
    mh_qnode *n = calloc(1, sizeof *n);
    if (n) {
        n->kind = kind;
        n->pos = pos;
    }
    return n;
}

static mh_err parse_expr(parser *p, mh_qnode **out);

static mh_err enter(parser *p)
{
    if (++p->depth > MH_Q_MAX_DEPTH)
        return mh_fail(p->st, MH_ERR_QUERY,
                       "Syntax error at position %zu: expression nested too deeply (max %d)",
                       peek(p)->pos + 1, MH_Q_MAX_DEPTH);
    return MH_OK;
}

static cJSON *number_json(const mh_qtok *t, int negate)
{
    return cJSON_CreateNumber(negate ? -t->num : t->num);
}

/* constant := string | number | -number | true | false | null | '[' constant, ... ']' */
static mh_err parse_constant(parser *p, cJSON **out)
{
    const mh_qtok *t = peek(p);
    cJSON *v = NULL;
    mh_err err = MH_OK;

    if ((err = enter(p)))
        return err;
    switch (t->kind) {
    case MH_QT_STRING:
        v = cJSON_CreateString(t->text);
        next(p);
        break;
    case MH_QT_NUMBER:
        v = number_json(t, 0);
        next(p);
        break;
    case MH_QT_MINUS:
        if (peek2(p)->kind != MH_QT_NUMBER) {
            next(p);
            err = expected(p, "number");
            goto done;
        }
        next(p);
        v = number_json(next(p), 1);
        break;
    case MH_QT_TRUE:
        v = cJSON_CreateTrue();
        next(p);
        break;
    case MH_QT_FALSE:
        v = cJSON_CreateFalse();
        next(p);
        break;
    case MH_QT_NULL:
        v = cJSON_CreateNull();
        next(p);
        break;
    case MH_QT_LBRACKET:
        next(p);
        v = cJSON_CreateArray();
        if (!v) {
            err = nomem(p);
            goto done;
        }
        if (accept(p, MH_QT_RBRACKET))
            break;
        for (;;) {
            cJSON *item = NULL;
            if ((err = parse_constant(p, &item)))
                goto done;
            cJSON_AddItemToArray(v, item);
            if (accept(p, MH_QT_RBRACKET))
                break;
            if (!accept(p, MH_QT_COMMA)) {
                err = expected(p, "',' or ']' in array constant");
                goto done;
            }
        }
        break;
    default:
        err = expected(p, "constant");
        goto done;
    }
    if (!v)
        err = nomem(p);
done:
    p->depth--;
    if (err) {
        cJSON_Delete(v);
        return err;
    }
    *out = v;
    return MH_OK;
}

static mh_err add_seg(parser *p, mh_qnode *n, const char *name, long index, size_t pos)
{
    mh_qseg *ns = realloc(n->segs, (n->nsegs + 1) * sizeof *ns);
    if (!ns)
        return nomem(p);
    n->segs = ns;
    ns[n->nsegs].name = NULL;
    ns[n->nsegs].index = index;
    ns[n->nsegs].pos = (int)pos;
    if (name && !(ns[n->nsegs].name = strdup(name)))
        return nomem(p);
    n->nsegs++;
    return MH_OK;
}

/* path := name ('.' name | '[' number ']' | '[' string ']')* ; after '.', keywords are names.
 * MOCK: the real hub rejects keywords as property names (tags.group fails, MicrosoftDocs
 * azure-docs#17106); accepting them after '.' cannot change the meaning of a valid query. */
static mh_err parse_path(parser *p, mh_qnode **out)
{
    const mh_qtok *t = next(p);
    mh_qnode *n = node_new(MH_QN_PATH, t->pos);
    mh_err err;

    if (!n)
        return nomem(p);
    if ((err = add_seg(p, n, t->text, 0, t->pos)))
        goto fail;
    for (;;) {
        if (accept(p, MH_QT_DOT)) {
            t = peek(p);
            if (t->kind != MH_QT_IDENT && !(is_keyword(t->kind) && t->text)) {
                err = expected(p, "property name after '.'");
                goto fail;
            }
            next(p);
            if ((err = add_seg(p, n, t->text, 0, t->pos)))
                goto fail;
        } else if (peek(p)->kind == MH_QT_LBRACKET) {
            next(p);
            t = peek(p);
            if (t->kind == MH_QT_NUMBER && t->is_int && t->ival >= 0 && t->ival < 1000000) {
                err = add_seg(p, n, NULL, (long)t->ival, t->pos);
            } else if (t->kind == MH_QT_STRING) {
                err = add_seg(p, n, t->text, 0, t->pos);
            } else {
                err = expected(p, "array index or property name string in '[ ]'");
                goto fail;
            }
            if (err)
                goto fail;
            next(p);
            if (!accept(p, MH_QT_RBRACKET)) {
                err = expected(p, "']'");
                goto fail;
            }
        } else {
            break;
        }
    }
    *out = n;
    return MH_OK;
fail:
    mh_q_node_free(n);
    return err;
}

static mh_err parse_call(parser *p, mh_qnode **out)
{
    const mh_qtok *t = next(p);
    mh_qnode *n = node_new(MH_QN_CALL, t->pos);
    mh_err err = MH_OK;
    char *c;

    if (!n || !(n->name = strdup(t->text))) {
        mh_q_node_free(n);
        return nomem(p);
    }
    for (c = n->name; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    next(p); /* ( */
    if (accept(p, MH_QT_RPAREN))
        goto done;
    if (peek(p)->kind == MH_QT_STAR && peek2(p)->kind == MH_QT_RPAREN) {
        next(p);
        next(p);
        n->star_arg = 1;
        goto done;
    }
    for (;;) {
        mh_qnode *arg = NULL;
        mh_qnode **na;
        if ((err = parse_expr(p, &arg)))
            goto fail;
        na = realloc(n->args, (n->nargs + 1) * sizeof *na);
        if (!na) {
            mh_q_node_free(arg);
            err = nomem(p);
            goto fail;
        }
        n->args = na;
        n->args[n->nargs++] = arg;
        if (accept(p, MH_QT_RPAREN))
            break;
        if (!accept(p, MH_QT_COMMA)) {
            err = expected(p, "',' or ')'");
            goto fail;
        }
    }
done:
    *out = n;
    return MH_OK;
fail:
    mh_q_node_free(n);
    return err;
}

static mh_err parse_primary(parser *p, mh_qnode **out)
{
    const mh_qtok *t = peek(p);
    mh_qnode *n = NULL;
    mh_err err;

    switch (t->kind) {
    case MH_QT_IDENT:
        if (peek2(p)->kind == MH_QT_LPAREN && !t->escaped)
            return parse_call(p, out);
        return parse_path(p, out);
    case MH_QT_LPAREN:
        if ((err = enter(p)))
            return err;
        next(p);
        err = parse_expr(p, &n);
        p->depth--;
        if (err)
            return err;
        if (!accept(p, MH_QT_RPAREN)) {
            mh_q_node_free(n);
            return expected(p, "')'");
        }
        *out = n;
        return MH_OK;
    case MH_QT_UNDEFINED:
        next(p);
        if (!(n = node_new(MH_QN_CONST, t->pos)))
            return nomem(p);
        *out = n;
        return MH_OK;
    case MH_QT_STRING:
    case MH_QT_NUMBER:
    case MH_QT_TRUE:
    case MH_QT_FALSE:
    case MH_QT_NULL:
    case MH_QT_LBRACKET:
        if (!(n = node_new(MH_QN_CONST, t->pos)))
            return nomem(p);
        if ((err = parse_constant(p, &n->value))) {
            mh_q_node_free(n);
            return err;
        }
        *out = n;
        return MH_OK;
    default:
        return expected(p, "expression");
    }
}

static mh_err parse_unary(parser *p, mh_qnode **out)
{
    const mh_qtok *t = peek(p);
    mh_qnode *n = NULL, *child = NULL;
    mh_err err;

    if (t->kind != MH_QT_MINUS && t->kind != MH_QT_PLUS)
        return parse_primary(p, out);
    if ((err = enter(p)))
        return err;
    next(p);
    err = parse_unary(p, &child);
    p->depth--;
    if (err)
        return err;
    /* Fold -<number> into a constant so "x > -5" binds -5 like any constant. */
    if (child->kind == MH_QN_CONST && child->value && cJSON_IsNumber(child->value)) {
        if (t->kind == MH_QT_MINUS)
            cJSON_SetNumberValue(child->value, -child->value->valuedouble);
        child->pos = t->pos;
        *out = child;
        return MH_OK;
    }
    if (!(n = node_new(MH_QN_UNARY, t->pos))) {
        mh_q_node_free(child);
        return nomem(p);
    }
    n->op = t->kind;
    n->left = child;
    *out = n;
    return MH_OK;
}

typedef mh_err (*level_fn)(parser *, mh_qnode **);

/* Left-associative binary level: operand (op operand)*. */
static mh_err parse_binary(parser *p, mh_qnode **out, level_fn operand, const mh_qtok_kind *ops, size_t nops)
{
    mh_qnode *left = NULL;
    int chain = 0;
    mh_err err;

    if ((err = operand(p, &left)))
        goto done;
    for (;;) {
        const mh_qtok *t = peek(p);
        mh_qnode *right = NULL, *n;
        size_t k;
        for (k = 0; k < nops && ops[k] != t->kind; k++)
            ;
        if (k == nops)
            break;
        /* A chain a+b+c... nests like parentheses; AND/OR chains are flattened later and may
         * be longer (SQLite's own expression depth limit is 1000). */
        if (++chain >
            (t->kind == MH_QT_AND || t->kind == MH_QT_OR ? MH_Q_MAX_TERMS : MH_Q_MAX_DEPTH - p->depth)) {
            err = mh_fail(p->st, MH_ERR_QUERY,
                          "Syntax error at position %zu: expression nested too deeply or too many terms",
                          t->pos + 1);
            goto done;
        }
        next(p);
        if ((err = operand(p, &right)))
            goto done;
        if (!(n = node_new(MH_QN_BINARY, t->pos))) {
            mh_q_node_free(right);
            err = nomem(p);
            goto done;
        }
        n->op = t->kind;
        n->left = left;
        n->right = right;
        left = n;
    }
done:
    if (err) {
        mh_q_node_free(left);
        return err;
    }
    *out = left;
    return MH_OK;
}

static mh_err parse_mul(parser *p, mh_qnode **out)
{
    static const mh_qtok_kind ops[] = {MH_QT_STAR, MH_QT_SLASH, MH_QT_PERCENT};
    return parse_binary(p, out, parse_unary, ops, 3);
}

static mh_err parse_add(parser *p, mh_qnode **out)
{
    static const mh_qtok_kind ops[] = {MH_QT_PLUS, MH_QT_MINUS};
    return parse_binary(p, out, parse_mul, ops, 2);
}

/* comparison := additive ((= != < > <= >=) additive | (IN | NIN) array-constant)* */
static mh_err parse_cmp(parser *p, mh_qnode **out)
{
    static const mh_qtok_kind ops[] = {MH_QT_EQ, MH_QT_NE, MH_QT_LT, MH_QT_GT, MH_QT_LE, MH_QT_GE};
    mh_qnode *left = NULL;
    mh_err err;

    if ((err = parse_binary(p, &left, parse_add, ops, 6)))
        return err;
    while (peek(p)->kind == MH_QT_IN || peek(p)->kind == MH_QT_NIN) {
        const mh_qtok *t = next(p);
        mh_qnode *n = node_new(MH_QN_IN, t->pos);
        if (!n) {
            mh_q_node_free(left);
            return nomem(p);
        }
        n->op = t->kind;
        n->left = left;
        left = n;
        if (peek(p)->kind != MH_QT_LBRACKET) {
            mh_q_node_free(left);
            return expected(p, "array constant '[...]' after IN/NIN");
        }
        if ((err = parse_constant(p, &n->value))) {
            mh_q_node_free(left);
            return err;
        }
    }
    *out = left;
    return MH_OK;
}

static mh_err parse_not(parser *p, mh_qnode **out)
{
    const mh_qtok *t = peek(p);
    mh_qnode *child = NULL, *n;
    mh_err err;

    if (t->kind != MH_QT_NOT)
        return parse_cmp(p, out);
    if ((err = enter(p)))
        return err;
    next(p);
    err = parse_not(p, &child);
    p->depth--;
    if (err)
        return err;
    if (!(n = node_new(MH_QN_UNARY, t->pos))) {
        mh_q_node_free(child);
        return nomem(p);
    }
    n->op = MH_QT_NOT;
    n->left = child;
    *out = n;
    return MH_OK;
}

static mh_err parse_and(parser *p, mh_qnode **out)
{
    static const mh_qtok_kind ops[] = {MH_QT_AND};
    return parse_binary(p, out, parse_not, ops, 1);
}

static mh_err parse_expr(parser *p, mh_qnode **out)
{
    static const mh_qtok_kind ops[] = {MH_QT_OR};
    return parse_binary(p, out, parse_and, ops, 1);
}

static mh_err parse_select_list(parser *p, mh_qast *ast)
{
    mh_err err;

    if (accept(p, MH_QT_STAR)) {
        ast->select_star = 1;
        return MH_OK;
    }
    for (;;) {
        mh_qproj *np = realloc(ast->projs, (ast->nprojs + 1) * sizeof *np);
        mh_qproj *pr;
        if (!np)
            return nomem(p);
        ast->projs = np;
        pr = &ast->projs[ast->nprojs];
        memset(pr, 0, sizeof *pr);
        pr->pos = peek(p)->pos;
        if (peek(p)->kind == MH_QT_STAR)
            return mh_fail(p->st, MH_ERR_QUERY,
                           "Syntax error at position %zu: '*' must be the only item of the select list",
                           peek(p)->pos + 1);
        if ((err = parse_expr(p, &pr->expr)))
            return err;
        ast->nprojs++;
        if (accept(p, MH_QT_AS)) {
            const mh_qtok *t = peek(p);
            if (t->kind != MH_QT_IDENT)
                return expected(p, "alias name after AS");
            if (!(pr->alias = strdup(t->text)))
                return nomem(p);
            next(p);
        }
        if (!accept(p, MH_QT_COMMA))
            return MH_OK;
    }
}

static mh_err parse_from(parser *p, mh_qast *ast)
{
    const mh_qtok *t = peek(p);
    const mh_qtok *sub;

    ast->from_pos = t->pos;
    if (t->kind != MH_QT_IDENT || strcasecmp(t->text, "devices") != 0) {
        if (t->kind == MH_QT_IDENT)
            return mh_fail(p->st, MH_ERR_QUERY,
                           "Syntax error at position %zu: unknown collection '%.64s' (expected devices, "
                           "devices.modules or devices.jobs)",
                           t->pos + 1, t->text);
        return expected(p, "collection name (devices)");
    }
    next(p);
    ast->from = MH_QFROM_DEVICES;
    if (!accept(p, MH_QT_DOT))
        return MH_OK;
    sub = peek(p);
    if (sub->kind == MH_QT_IDENT && strcasecmp(sub->text, "modules") == 0)
        ast->from = MH_QFROM_MODULES;
    else if (sub->kind == MH_QT_IDENT && strcasecmp(sub->text, "jobs") == 0)
        ast->from = MH_QFROM_JOBS;
    else
        return expected(p, "modules or jobs after 'devices.'");
    next(p);
    return MH_OK;
}

mh_err mh_q_parse(const char *query, size_t len, mh_qast **out_ast, mh_status *st)
{
    mh_qtoks toks = {NULL, 0};
    mh_qast *ast = NULL;
    parser p;
    mh_err err;

    if ((err = mh_q_lex(query, len, &toks, st)))
        return err;
    p.toks = &toks;
    p.i = 0;
    p.depth = 0;
    p.st = st;
    if (!(ast = calloc(1, sizeof *ast))) {
        err = nomem(&p);
        goto cleanup;
    }
    ast->top = -1;
    if (!accept(&p, MH_QT_SELECT)) {
        err = expected(&p, "SELECT");
        goto cleanup;
    }
    if (peek(&p)->kind == MH_QT_TOP) {
        const mh_qtok *t;
        next(&p);
        t = peek(&p);
        if (t->kind != MH_QT_NUMBER || !t->is_int || t->ival < 0) {
            err = expected(&p, "non-negative integer after TOP");
            goto cleanup;
        }
        ast->top = t->ival;
        next(&p);
    }
    if ((err = parse_select_list(&p, ast)))
        goto cleanup;
    if (!accept(&p, MH_QT_FROM)) {
        err = expected(&p, ast->select_star ? "FROM" : "',', AS or FROM");
        goto cleanup;
    }
    if ((err = parse_from(&p, ast)))
        goto cleanup;
    if (accept(&p, MH_QT_WHERE) && (err = parse_expr(&p, &ast->where)))
        goto cleanup;
    if (accept(&p, MH_QT_GROUP)) {
        if (!accept(&p, MH_QT_BY)) {
            err = expected(&p, "BY after GROUP");
            goto cleanup;
        }
        for (;;) {
            mh_qnode **ng = realloc(ast->group, (ast->ngroup + 1) * sizeof *ng);
            if (!ng) {
                err = nomem(&p);
                goto cleanup;
            }
            ast->group = ng;
            ast->group[ast->ngroup] = NULL;
            if ((err = parse_expr(&p, &ast->group[ast->ngroup])))
                goto cleanup;
            ast->ngroup++;
            if (!accept(&p, MH_QT_COMMA))
                break;
        }
    }
    if (peek(&p)->kind != MH_QT_EOF) {
        err = expected(&p, ast->where || ast->ngroup ? "end of query" : "WHERE, GROUP BY or end of query");
        goto cleanup;
    }
    *out_ast = ast;
    ast = NULL;
cleanup:
    mh_q_ast_free(ast);
    mh_q_tokens_cleanup(&toks);
    return err;
}
