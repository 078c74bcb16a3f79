/* wsframe.h - the WebSocket frame codec (RFC 6455 section 5) for the streams the daemon terminates
 * itself (AMQP over WebSockets, amqp.c): an incremental decoder for client frames (masked, possibly
 * fragmented, with pings and a close) and the header of the unmasked frames a server sends. Pure:
 * bytes in, bytes out.
 */
#ifndef MH_WSFRAME_H
#define MH_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum {
    MH_WS_OP_CONT = 0x0,
    MH_WS_OP_TEXT = 0x1,
    MH_WS_OP_BINARY = 0x2,
    MH_WS_OP_CLOSE = 0x8,
    MH_WS_OP_PING = 0x9,
    MH_WS_OP_PONG = 0xA,
};

/* What one mh_ws_decode call found. */
typedef enum mh_ws_event_kind {
    MH_WS_NONE,  /* bytes consumed (a header, a partial control payload), nothing to act on */
    MH_WS_DATA,  /* payload bytes of a binary message (any fragment), unmasked in place */
    MH_WS_PING,  /* a whole ping: answer with a pong carrying the same payload */
    MH_WS_PONG,  /* a whole pong */
    MH_WS_CLOSE, /* a whole close: answer with a close, then end the stream */
} mh_ws_event_kind;

typedef struct mh_ws_event {
    mh_ws_event_kind kind;
    const unsigned char *data; /* DATA: inside the caller's input; controls: inside the decoder */
    size_t len;
} mh_ws_event;

/* Decoder state; zero it (= {0}) to start. require_mask: refuse unmasked frames (a server's view of a
 * client, RFC 6455 5.1). */
typedef struct mh_ws_decoder {
    int require_mask;
    unsigned char hdr[14];
    size_t hdr_len;
    int in_payload;
    int opcode;
    int fin;
    int masked;
    unsigned char mask[4];
    uint64_t left;  /* payload bytes of the current frame still to come */
    uint64_t pos;   /* payload bytes of the current frame already seen (mask phase) */
    int in_message; /* a fragmented binary message is open */
    unsigned char ctl[125];
    size_t ctl_len;
} mh_ws_decoder;

/* Decodes from in[0..len): consumes a frame header, a control payload, or data bytes (unmasked in
 * place, so in is written to), and reports at most one event; call again with the rest. *out_used is
 * how many bytes were taken (0 only when len is 0). Errors (the stream must be closed, with close code
 * 1002, or 1003 for ArgumentInvalid): Format (reserved bits, an unmasked client frame, an oversized or
 * fragmented control frame, a continuation with no message or a new message inside one, a length
 * with its top bit set), ArgumentInvalid (a text frame: AMQP is binary). Nothing is written on error. */
mh_err mh_ws_decode(mh_ws_decoder *d, unsigned char *in, size_t len, size_t *out_used,
                    mh_ws_event *out_ev) MH_WARN_UNUSED;

/* Writes the header of an unmasked, final frame (a server's) with opcode and payload length into
 * out (at least 10 bytes); returns its length (2, 4 or 10). */
size_t mh_ws_header_format(unsigned char *out, int opcode, uint64_t len);

#endif
