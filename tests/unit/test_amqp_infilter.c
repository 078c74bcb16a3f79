/* test_amqp_infilter.c - unit tests for core/amqp_infilter: the frames a client sends on a session
 * it ended are dropped (rhea's DISPOSITION after END, captured from @azure/event-hubs 6.0.4), and
 * nothing else is touched, however the bytes arrive. */
#include <criterion/criterion.h>
#include <string.h>

#include "amqp_infilter.h"

#define CH5 0, 5

static const unsigned char HEADER[] = {'A', 'M', 'Q', 'P', 0, 1, 0, 0};
/* BEGIN (list0) on channel 5 */
static const unsigned char BEGIN5[] = {0, 0, 0, 12, 2, 0, CH5, 0x00, 0x53, 0x11, 0x45};
/* DETACH handle 0 closed */
static const unsigned char DETACH5[] = {0,    0,    0,    16,   2,    0,    CH5, 0x00,
                                        0x53, 0x16, 0xc0, 0x03, 0x02, 0x43, 0x41};
static const unsigned char END5[] = {0, 0, 0, 12, 2, 0, CH5, 0x00, 0x53, 0x17, 0x45};
/* DISPOSITION role=receiver first=0 last=1 settled accepted */
static const unsigned char DISP5[] = {0,    0, 0,    23,   2,    0,    CH5,  0x00, 0x53, 0x15, 0xc0,
                                      0x0a, 5, 0x41, 0x43, 0x52, 0x01, 0x41, 0x00, 0x53, 0x24, 0x45};
/* END on channel 5 with the descriptor as a full ulong (0x80) */
static const unsigned char END5_ULONG[] = {0, 0, 0, 19, 2, 0, CH5, 0x00, 0x80,
                                           0, 0, 0, 0,  0, 0, 0,   0x17, 0x45};
/* FLOW (list0) on channel 3 */
static const unsigned char FLOW3[] = {0, 0, 0, 12, 2, 0, 0, 3, 0x00, 0x53, 0x13, 0x45};
/* an empty frame (heartbeat) on channel 5, and a frame with doff 3 (4 bytes of extended header) */
static const unsigned char EMPTY5[] = {0, 0, 0, 8, 2, 0, CH5};
static const unsigned char DISP5_DOFF3[] = {0,    0,    0,    16,   3,    0,    CH5, 0xde,
                                            0xad, 0xbe, 0xef, 0x00, 0x53, 0x15, 0x45};

typedef struct stream {
    unsigned char bytes[1024];
    size_t len;
} stream;

static void add(stream *s, const unsigned char *b, size_t n)
{
    memcpy(s->bytes + s->len, b, n);
    s->len += n;
}

/* Feeds in[] chunk bytes at a time through a staging buffer into a "Proton" that takes at most room
 * bytes a call; returns what reached it. */
static size_t run(mh_amqp_infilter *f, const stream *in, size_t chunk, size_t room, unsigned char *out)
{
    unsigned char stage[2048];
    size_t slen = 0, fed = 0, olen = 0;
    for (;;) {
        size_t n_add = in->len - fed < chunk ? in->len - fed : chunk;
        memcpy(stage + slen, in->bytes + fed, n_add);
        slen += n_add;
        fed += n_add;
        for (;;) {
            int drop = -1;
            size_t n = mh_amqp_infilter_next(f, stage, slen, &drop);
            if (n == 0)
                break;
            cr_assert(n <= slen);
            if (!drop) {
                if (n > room)
                    n = room;
                memcpy(out + olen, stage, n);
                olen += n;
            }
            mh_amqp_infilter_consumed(f, n);
            memmove(stage, stage + n, slen - n);
            slen -= n;
        }
        if (fed == in->len)
            break;
    }
    cr_assert_eq(slen, 0, "%zu bytes left undecided", slen);
    return olen;
}

static stream expected_without_disposition(void)
{
    stream e = {0};
    add(&e, HEADER, sizeof HEADER);
    add(&e, BEGIN5, sizeof BEGIN5);
    add(&e, DETACH5, sizeof DETACH5);
    add(&e, END5, sizeof END5);
    return e;
}

Test(amqp_infilter, mh_amqp_infilter_disposition_after_end_dropped_succeeds)
{
    stream in = expected_without_disposition();
    add(&in, DISP5, sizeof DISP5);
    stream want = expected_without_disposition();
    static const size_t chunks[] = {1, 2, 3, 7, 11, 1024};
    static const size_t rooms[] = {1, 5, 4096};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
        for (size_t r = 0; r < sizeof rooms / sizeof rooms[0]; r++) {
            mh_amqp_infilter f = {0};
            unsigned char out[1024];
            size_t n = run(&f, &in, chunks[c], rooms[r], out);
            cr_assert_eq(n, want.len, "chunk %zu room %zu: %zu bytes passed", chunks[c], rooms[r], n);
            cr_assert_eq(memcmp(out, want.bytes, n), 0);
            cr_assert_eq(f.dropped, 1);
            mh_amqp_infilter_cleanup(&f);
        }
}

Test(amqp_infilter, mh_amqp_infilter_new_begin_reopens_channel_succeeds)
{
    stream in = expected_without_disposition();
    add(&in, BEGIN5, sizeof BEGIN5);
    add(&in, DISP5, sizeof DISP5);
    mh_amqp_infilter f = {0};
    unsigned char out[1024];
    cr_assert_eq(run(&f, &in, 4, 4096, out), in.len);
    cr_assert_eq(memcmp(out, in.bytes, in.len), 0);
    cr_assert_eq(f.dropped, 0);
    mh_amqp_infilter_cleanup(&f);
}

Test(amqp_infilter, mh_amqp_infilter_other_channels_heartbeats_pass_succeeds)
{
    stream in = {0};
    add(&in, HEADER, sizeof HEADER);
    add(&in, END5_ULONG, sizeof END5_ULONG); /* ulong descriptor form */
    add(&in, FLOW3, sizeof FLOW3);
    add(&in, EMPTY5, sizeof EMPTY5);
    stream want = in;
    add(&in, DISP5_DOFF3, sizeof DISP5_DOFF3); /* extended header: still channel 5 */
    add(&in, DETACH5, sizeof DETACH5);
    add(&in, FLOW3, sizeof FLOW3);
    add(&want, FLOW3, sizeof FLOW3);
    mh_amqp_infilter f = {0};
    unsigned char out[1024];
    size_t n = run(&f, &in, 3, 4096, out);
    cr_assert_eq(n, want.len);
    cr_assert_eq(memcmp(out, want.bytes, n), 0);
    cr_assert_eq(f.dropped, 2);
    mh_amqp_infilter_cleanup(&f);
}

Test(amqp_infilter, mh_amqp_infilter_sasl_and_garbage_pass_unchanged_succeeds)
{
    /* SASL header and a SASL frame (type 1) on "channel 5", then bytes that are no frame (size 3):
     * from there on everything passes and Proton decides */
    static const unsigned char sasl_hdr[] = {'A', 'M', 'Q', 'P', 3, 1, 0, 0};
    static const unsigned char sasl_init[] = {0, 0, 0, 12, 2, 1, CH5, 0x00, 0x53, 0x41, 0x45};
    static const unsigned char garbage[] = {0, 0, 0, 3, 9, 9, 9, 9, 9};
    stream in = {0};
    add(&in, sasl_hdr, sizeof sasl_hdr);
    add(&in, sasl_init, sizeof sasl_init);
    add(&in, END5, sizeof END5);
    add(&in, garbage, sizeof garbage);
    add(&in, DISP5, sizeof DISP5); /* after garbage: no longer filtered */
    mh_amqp_infilter f = {0};
    unsigned char out[1024];
    cr_assert_eq(run(&f, &in, 5, 4096, out), in.len);
    cr_assert_eq(memcmp(out, in.bytes, in.len), 0);
    cr_assert(f.off);
    mh_amqp_infilter_cleanup(&f);
}

Test(amqp_infilter, mh_amqp_infilter_needs_frame_head_returns_zero_succeeds)
{
    mh_amqp_infilter f = {0};
    int drop = -1;
    cr_assert_eq(mh_amqp_infilter_next(&f, END5, 7, &drop), 0);  /* no full frame header yet */
    cr_assert_eq(mh_amqp_infilter_next(&f, END5, 10, &drop), 0); /* descriptor incomplete */
    cr_assert_eq(mh_amqp_infilter_next(&f, END5, 11, &drop), 11);
    cr_assert_eq(drop, 0);
    mh_amqp_infilter_cleanup(&f);
}

/* The SDK ends its session on channel 0 ($cbs), then closes the connection on channel 0. */
Test(amqp_infilter, mh_amqp_infilter_close_after_end_on_channel_0_passes_succeeds)
{
    static const unsigned char end0[] = {0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x17, 0x45};
    static const unsigned char flow0[] = {0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x13, 0x45};
    static const unsigned char close0[] = {0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x18, 0x45};
    stream in = {0};
    add(&in, HEADER, sizeof HEADER);
    add(&in, end0, sizeof end0);
    add(&in, flow0, sizeof flow0);
    add(&in, close0, sizeof close0);
    stream want = {0};
    add(&want, HEADER, sizeof HEADER);
    add(&want, end0, sizeof end0);
    add(&want, close0, sizeof close0);
    mh_amqp_infilter f = {0};
    unsigned char out[1024];
    size_t n = run(&f, &in, 1024, 4096, out);
    cr_assert_eq(n, want.len);
    cr_assert_eq(memcmp(out, want.bytes, n), 0);
    cr_assert_eq(f.dropped, 1);
    mh_amqp_infilter_cleanup(&f);
}
