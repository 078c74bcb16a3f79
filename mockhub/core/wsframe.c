/* wsframe.c - the WebSocket frame codec (RFC 6455 section 5): an incremental decoder of client
 * frames that hands data bytes on without buffering them, and the server's frame header.
 */
#include "wsframe.h"

#include <string.h>

/* Header length once its first two bytes are known (RFC 6455 5.2). */
static size_t header_len(const unsigned char *h)
{
    size_t n = 2;
    unsigned l7 = h[1] & 0x7F;
    if (l7 == 126)
        n += 2;
    else if (l7 == 127)
        n += 8;
    if (h[1] & 0x80)
        n += 4;
    return n;
}

/* A complete header in d->hdr: validates it and enters its payload. */
static mh_err start_frame(mh_ws_decoder *d)
{
    const unsigned char *h = d->hdr;
    int fin = (h[0] & 0x80) != 0, opcode = h[0] & 0x0F, masked = (h[1] & 0x80) != 0;
    unsigned l7 = h[1] & 0x7F;
    uint64_t len = l7;
    size_t at = 2;
    if (h[0] & 0x70)
        return MH_ERR_FORMAT; /* RSV bits: no extension was negotiated */
    if (d->require_mask && !masked)
        return MH_ERR_FORMAT;
    if (l7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        at = 4;
    } else if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
        if (len >> 63)
            return MH_ERR_FORMAT;
        at = 10;
    }
    if (opcode >= 0x8) {
        if (opcode > MH_WS_OP_PONG || !fin || len > sizeof d->ctl)
            return MH_ERR_FORMAT;
    } else if (opcode == MH_WS_OP_TEXT) {
        return MH_ERR_ARGUMENT_INVALID;
    } else if (opcode == MH_WS_OP_BINARY) {
        if (d->in_message)
            return MH_ERR_FORMAT;
    } else if (opcode == MH_WS_OP_CONT) {
        if (!d->in_message)
            return MH_ERR_FORMAT;
    } else {
        return MH_ERR_FORMAT; /* reserved data opcodes */
    }
    d->opcode = opcode;
    d->fin = fin;
    d->masked = masked;
    if (masked)
        memcpy(d->mask, h + at, 4);
    d->left = len;
    d->pos = 0;
    d->ctl_len = 0;
    d->in_payload = 1;
    if (opcode < 0x8)
        d->in_message = !fin;
    return MH_OK;
}

static void unmask(mh_ws_decoder *d, unsigned char *p, size_t n)
{
    if (!d->masked)
        return;
    for (size_t i = 0; i < n; i++)
        p[i] ^= d->mask[(d->pos + i) & 3];
}

/* The end of a control frame's payload: its event. */
static mh_ws_event control_event(mh_ws_decoder *d)
{
    mh_ws_event ev = {.kind = MH_WS_PING, .data = d->ctl, .len = d->ctl_len};
    if (d->opcode == MH_WS_OP_PONG)
        ev.kind = MH_WS_PONG;
    else if (d->opcode == MH_WS_OP_CLOSE)
        ev.kind = MH_WS_CLOSE;
    return ev;
}

mh_err mh_ws_decode(mh_ws_decoder *d, unsigned char *in, size_t len, size_t *out_used, mh_ws_event *out_ev)
{
    mh_ws_event ev = {.kind = MH_WS_NONE};
    size_t used = 0;
    if (!d->in_payload) {
        /* gather the header: 2 bytes tell its full length */
        size_t need = d->hdr_len < 2 ? 2 : header_len(d->hdr);
        while (used < len && d->hdr_len < need) {
            d->hdr[d->hdr_len++] = in[used++];
            if (d->hdr_len == 2)
                need = header_len(d->hdr);
        }
        if (d->hdr_len < need) {
            *out_used = used;
            *out_ev = ev;
            return MH_OK;
        }
        mh_ws_decoder saved = *d;
        mh_err err = start_frame(d);
        if (err != MH_OK) {
            *d = saved;
            d->hdr_len -= used; /* nothing taken */
            return err;
        }
        d->hdr_len = 0;
        if (d->left == 0) { /* an empty frame ends here */
            d->in_payload = 0;
            if (d->opcode >= 0x8)
                ev = control_event(d);
        }
        *out_used = used;
        *out_ev = ev;
        return MH_OK;
    }
    size_t n = len;
    if ((uint64_t)n > d->left)
        n = (size_t)d->left;
    if (d->opcode >= 0x8) {
        memcpy(d->ctl + d->ctl_len, in, n);
        unmask(d, d->ctl + d->ctl_len, n);
        d->ctl_len += n;
    } else {
        unmask(d, in, n);
        if (n > 0)
            ev = (mh_ws_event){.kind = MH_WS_DATA, .data = in, .len = n};
    }
    d->pos += n;
    d->left -= n;
    if (d->left == 0) {
        d->in_payload = 0;
        if (d->opcode >= 0x8)
            ev = control_event(d);
    }
    *out_used = n;
    *out_ev = ev;
    return MH_OK;
}

size_t mh_ws_header_format(unsigned char *out, int opcode, uint64_t len)
{
    out[0] = (unsigned char)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}
