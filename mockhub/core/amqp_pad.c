/* amqp_pad.c - re-encodes the performatives Proton shortens so that pyamqp, which reads fields by
 * list index, can decode them (amqp-protocol.md 1.6). Trailing nulls are valid AMQP 1.0. */
#include "amqp_pad.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void mh_amqp_buf_cleanup(mh_amqp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

mh_err mh_amqp_buf_append(mh_amqp_buf *b, const void *data, size_t n)
{
    if (b->len + n > b->max)
        return MH_ERR_TOO_LARGE;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + n)
            ncap *= 2;
        if (ncap > b->max)
            ncap = b->max;
        unsigned char *d = realloc(b->data, ncap);
        if (d == NULL)
            return MH_ERR_NOMEM;
        b->data = d;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return MH_OK;
}

void mh_amqp_buf_consume(mh_amqp_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* The field count pyamqp needs for performative code, 0 when it needs nothing. */
static uint32_t pad_target(unsigned code)
{
    switch (code) {
    case 0x11: /* begin */
        return 8;
    case 0x13: /* flow */
    case 0x14: /* transfer */
        return 11;
    case 0x15: /* disposition */
        return 6;
    case 0x16: /* detach */
        return 3;
    case 0x17: /* end */
    case 0x18: /* close */
        return 1;
    default:
        return 0;
    }
}

/* Pads one AMQP frame f of size n into out; MH_OK, or the buffer's error. */
static mh_err pad_frame(const unsigned char *f, size_t n, mh_amqp_buf *out)
{
    size_t hdr = (size_t)f[4] * 4;
    if (f[5] != 0 || hdr < 8 || hdr + 3 > n || f[hdr] != 0x00 || f[hdr + 1] != 0x53)
        return mh_amqp_buf_append(out, f, n);
    unsigned code = f[hdr + 2];
    uint32_t target = pad_target(code);
    const unsigned char *l = f + hdr + 3, *end = f + n;
    uint32_t count = 0;
    const unsigned char *fields = NULL, *after = NULL;
    if (target == 0 || l >= end)
        return mh_amqp_buf_append(out, f, n);
    if (*l == 0x45) {
        fields = after = l + 1;
    } else if (*l == 0xc0 && l + 3 <= end && l + 2 + l[1] <= end && l[1] >= 1) {
        count = l[2];
        fields = l + 3;
        after = l + 2 + l[1];
    } else if (*l == 0xd0 && l + 9 <= end && be32(l + 1) >= 4 && be32(l + 1) <= (size_t)(end - l - 5)) {
        count = be32(l + 5);
        fields = l + 9;
        after = l + 5 + be32(l + 1);
    } else
        return mh_amqp_buf_append(out, f, n);
    if (count >= target)
        return mh_amqp_buf_append(out, f, n);
    size_t flen = (size_t)(after - fields);
    unsigned char pad[16];
    size_t plen = 0;
    for (uint32_t i = count; i < target; i++) {
        if (code == 0x11 && i == 4) { /* handle-max: pyamqp does arithmetic with it */
            pad[plen++] = 0x70;
            memset(pad + plen, 0xff, 4);
            plen += 4;
        } else
            pad[plen++] = 0x40;
    }
    size_t rest = (size_t)(end - after);
    size_t total = hdr + 3 + 9 + flen + plen + rest;
    unsigned char head[64];
    if (hdr + 12 > sizeof head)
        return mh_amqp_buf_append(out, f, n);
    memcpy(head, f, hdr + 3);
    put32(head, (uint32_t)total);
    head[hdr + 3] = 0xd0;
    put32(head + hdr + 4, (uint32_t)(4 + flen + plen));
    put32(head + hdr + 8, target);
    mh_err err;
    if ((err = mh_amqp_buf_append(out, head, hdr + 12)) != MH_OK ||
        (err = mh_amqp_buf_append(out, fields, flen)) != MH_OK ||
        (err = mh_amqp_buf_append(out, pad, plen)) != MH_OK)
        return err;
    return mh_amqp_buf_append(out, after, rest);
}

mh_err mh_amqp_pad(const unsigned char *in, size_t len, mh_amqp_buf *out, size_t *out_used)
{
    size_t pos = 0;
    mh_err err = MH_OK;
    while (pos < len) {
        if (in[pos] == 'A') { /* a protocol header: AMQP x 1 0 0 */
            if (len - pos < 8)
                break;
            if (memcmp(in + pos, "AMQP", 4) != 0) {
                err = MH_ERR_ARGUMENT_INVALID;
                break;
            }
            if ((err = mh_amqp_buf_append(out, in + pos, 8)) != MH_OK)
                break;
            pos += 8;
            continue;
        }
        if (len - pos < 8)
            break;
        uint32_t size = be32(in + pos);
        if (size < 8 || in[pos + 4] < 2) {
            err = MH_ERR_ARGUMENT_INVALID;
            break;
        }
        if (len - pos < size)
            break;
        if ((err = pad_frame(in + pos, size, out)) != MH_OK)
            break;
        pos += size;
    }
    *out_used = pos;
    return err == MH_ERR_ARGUMENT_INVALID && pos > 0 ? MH_OK : err;
}
