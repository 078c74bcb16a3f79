/* amqp_infilter.h - drops the frames a client sends on a session after it ended that session.
 *
 * rhea (under @azure/event-hubs and azure-iothub) can settle deliveries of a receiver after it sent
 * END for the receiver's session: DETACH, END, then DISPOSITION on the same channel. Proton 0.37
 * answers any frame on a channel it no longer maps with a connection error ("amqp:not-allowed: no
 * such channel"), which closes every other link of that client (its $cbs link included; the SDK's
 * close then times out after 60 s). The real hub ignores such frames. This filter sits in front of
 * Proton: after a client's END on channel c, the client's session frames (ATTACH to END) on c are
 * dropped until it begins a new session there. Everything else (OPEN and CLOSE, SASL, headers,
 * heartbeats) passes unchanged. Pure: bytes in, decisions out.
 */
#ifndef MH_AMQP_INFILTER_H
#define MH_AMQP_INFILTER_H

#include <stddef.h>

typedef struct mh_amqp_infilter {
    unsigned char *ended;  /* bitmap of channels the client ended; NULL until its first END */
    size_t remaining;      /* bytes of the current header or frame not yet decided on */
    int dropping;          /* the current frame is dropped */
    int off;               /* bytes that are not AMQP framing were seen: all pass from then on */
    unsigned long dropped; /* frames dropped so far */
} mh_amqp_infilter;

/* Decides on the bytes at the start of in[0..len), which continue the stream where the last
 * consumed byte ended. Returns how many of them share one decision (*drop: 1 to drop them, 0 to
 * hand them to Proton), or 0 when more bytes are needed to decide (at most 1,030 are ever needed).
 * The caller then calls mh_amqp_infilter_consumed with how many of those it used (it may use fewer,
 * when Proton has less room). */
size_t mh_amqp_infilter_next(mh_amqp_infilter *f, const unsigned char *in, size_t len, int *drop);
void mh_amqp_infilter_consumed(mh_amqp_infilter *f, size_t n);
void mh_amqp_infilter_cleanup(mh_amqp_infilter *f);

#endif
