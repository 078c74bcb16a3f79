/* qbuf.c - growable, capped text buffer for the query compiler (see qbuf.h). */
#include "qbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mh_qbuf_init(mh_qbuf *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void mh_qbuf_cleanup(mh_qbuf *b)
{
    free(b->p);
    mh_qbuf_init(b);
}

static int reserve(mh_qbuf *b, size_t extra)
{
    size_t need, ncap;
    char *np;

    if (b->failed)
        return 0;
    if (extra > MH_QBUF_MAX || b->len + extra + 1 > MH_QBUF_MAX) {
        b->failed = 1;
        return 0;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 1;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    if (ncap > MH_QBUF_MAX)
        ncap = MH_QBUF_MAX;
    np = realloc(b->p, ncap);
    if (!np) {
        b->failed = 1;
        return 0;
    }
    b->p = np;
    b->cap = ncap;
    return 1;
}

void mh_qbuf_addn(mh_qbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void mh_qbuf_add(mh_qbuf *b, const char *s)
{
    mh_qbuf_addn(b, s, strlen(s));
}

void mh_qbuf_addf(mh_qbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int mh_qbuf_failed(const mh_qbuf *b)
{
    return b->failed;
}

char *mh_qbuf_take(mh_qbuf *b)
{
    char *p;

    if (b->failed) {
        mh_qbuf_cleanup(b);
        return NULL;
    }
    p = b->p ? b->p : calloc(1, 1);
    mh_qbuf_init(b);
    return p;
}
