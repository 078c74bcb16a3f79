/* amqp_infilter.c - see amqp_infilter.h. AMQP 1.0 part 2.3: a frame is size (4 bytes, big endian,
 * the whole frame), doff (data offset in 4-byte words, at least 2), type (0 AMQP, 1 SASL), channel
 * (2 bytes); the body of an AMQP frame starts with the performative's descriptor, 0x00 then a
 * smallulong (0x53 code) or ulong (0x80, 8 bytes). Protocol headers are "AMQP" + 4 bytes.
 */
#include "amqp_infilter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PERF_BEGIN 0x11
#define PERF_ATTACH 0x12 /* ATTACH, FLOW, TRANSFER, DISPOSITION, DETACH, END: session frames */
#define PERF_END 0x17
#define CHANNELS 65536

static int ended(const mh_amqp_infilter *f, unsigned ch)
{
    return f->ended != NULL && (f->ended[ch >> 3] >> (ch & 7)) & 1;
}

static void mark(mh_amqp_infilter *f, unsigned ch, int on)
{
    if (f->ended == NULL) {
        if (!on)
            return;
        f->ended = calloc(CHANNELS / 8, 1);
        if (f->ended == NULL)
            return; /* out of memory: nothing is dropped, as without the filter */
    }
    if (on)
        f->ended[ch >> 3] |= (unsigned char)(1u << (ch & 7));
    else
        f->ended[ch >> 3] &= (unsigned char)~(1u << (ch & 7));
}

/* At a frame boundary: sets remaining and dropping for the unit starting at in, or returns 0 when
 * more bytes are needed. */
static int start_unit(mh_amqp_infilter *f, const unsigned char *in, size_t len)
{
    if (len < 8)
        return 0;
    if (memcmp(in, "AMQP", 4) == 0) {
        f->remaining = 8;
        f->dropping = 0;
        return 1;
    }
    uint32_t size = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
    size_t body = (size_t)in[4] * 4;
    unsigned type = in[5], ch = (unsigned)in[6] << 8 | in[7];
    if (size < 8 || body < 8 || body > size) {
        f->off = 1; /* not framing we understand: Proton decides what it is */
        return 1;
    }
    f->dropping = 0;
    if (type != 0 || size == body) {
        f->remaining = size; /* SASL, or an empty frame (heartbeat) */
        return 1;
    }
    unsigned code;
    if (size < body + 3) {
        f->off = 1;
        return 1;
    }
    if (len < body + 3)
        return 0;
    if (in[body] != 0x00) {
        f->off = 1;
        return 1;
    }
    if (in[body + 1] == 0x53) {
        code = in[body + 2];
    } else if (in[body + 1] == 0x80) {
        if (size < body + 10) {
            f->off = 1;
            return 1;
        }
        if (len < body + 10)
            return 0;
        for (size_t i = body + 2; i < body + 9; i++)
            if (in[i] != 0) {
                f->off = 1;
                return 1;
            }
        code = in[body + 9];
    } else {
        f->off = 1;
        return 1;
    }
    f->remaining = size;
    if (code == PERF_BEGIN)
        mark(f, ch, 0); /* a new session on the channel: its frames count again */
    else if (code < PERF_ATTACH || code > PERF_END)
        ; /* OPEN, CLOSE (connection frames, on channel 0 whatever its session did), unknown */
    else if (ended(f, ch))
        f->dropping = 1;
    else if (code == PERF_END)
        mark(f, ch, 1);
    return 1;
}

size_t mh_amqp_infilter_next(mh_amqp_infilter *f, const unsigned char *in, size_t len, int *drop)
{
    *drop = 0;
    if (len == 0)
        return 0;
    if (!f->off && f->remaining == 0 && !start_unit(f, in, len))
        return 0;
    if (f->off)
        return len;
    *drop = f->dropping;
    return len < f->remaining ? len : f->remaining;
}

void mh_amqp_infilter_consumed(mh_amqp_infilter *f, size_t n)
{
    if (f->off || n == 0)
        return;
    f->remaining = n < f->remaining ? f->remaining - n : 0;
    if (f->remaining == 0 && f->dropping) {
        f->dropped++;
        f->dropping = 0;
    }
}

void mh_amqp_infilter_cleanup(mh_amqp_infilter *f)
{
    free(f->ended);
    f->ended = NULL;
}
