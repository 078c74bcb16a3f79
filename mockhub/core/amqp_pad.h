/* amqp_pad.h - pads the AMQP performatives the hub sends to their full field count
 * (amqp-protocol.md 1.6): Proton 0.37 drops trailing null fields and sends a 4-field BEGIN, which
 * Python azure-eventhub 5.11 (pyamqp) cannot decode. Pure: bytes in, bytes out.
 */
#ifndef MH_AMQP_PAD_H
#define MH_AMQP_PAD_H

#include <stddef.h>

#include "errors.h"

/* A growable output buffer with a cap (max: the most it may hold). */
typedef struct mh_amqp_buf {
    unsigned char *data;
    size_t len, cap, max;
} mh_amqp_buf;

void mh_amqp_buf_cleanup(mh_amqp_buf *b);
/* Appends n bytes; TooLarge when the buffer would exceed its max, NoMem. */
mh_err mh_amqp_buf_append(mh_amqp_buf *b, const void *data, size_t n) MH_WARN_UNUSED;
/* Drops the first n bytes. */
void mh_amqp_buf_consume(mh_amqp_buf *b, size_t n);

/* Copies the protocol headers ("AMQP" + 4 bytes) and whole frames at the start of in[0..len) to
 * out, re-encoding BEGIN, FLOW, TRANSFER, DISPOSITION, DETACH, END and CLOSE as list32 padded to
 * the field count pyamqp indexes (BEGIN's handle-max as uint 0xFFFFFFFF). Everything else (SASL
 * frames, other performatives, frames already long enough) is copied unchanged. A trailing
 * partial frame is left: *out_used says how many bytes of in were taken. Errors: TooLarge/NoMem
 * from out; ArgumentInvalid for bytes that are not an AMQP frame (nothing is taken then). */
mh_err mh_amqp_pad(const unsigned char *in, size_t len, mh_amqp_buf *out, size_t *out_used) MH_WARN_UNUSED;

#endif
