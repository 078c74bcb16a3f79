/* qbuf.h - the query compiler's growable text buffer with a hard cap (every buffer that grows from
 * input has one). Appends after a failure are no-ops; check mh_qbuf_failed once at the end.
 */
#ifndef MH_QBUF_H
#define MH_QBUF_H

#include <stddef.h>

#define MH_QBUF_MAX (256u * 1024u) /* generated SQL for an 8192-character query stays far below */

typedef struct mh_qbuf {
    char *p; /* NUL-terminated when len > 0 or after mh_qbuf_str; owned */
    size_t len;
    size_t cap;
    int failed; /* out of memory or over MH_QBUF_MAX */
} mh_qbuf;

void mh_qbuf_init(mh_qbuf *b);
void mh_qbuf_cleanup(mh_qbuf *b);
void mh_qbuf_add(mh_qbuf *b, const char *s);
void mh_qbuf_addn(mh_qbuf *b, const char *s, size_t n);
void mh_qbuf_addf(mh_qbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mh_qbuf_failed(const mh_qbuf *b);
/* Moves the text out (never NULL unless failed; "" for an empty buffer); the buffer is reset. */
char *mh_qbuf_take(mh_qbuf *b);

#endif
