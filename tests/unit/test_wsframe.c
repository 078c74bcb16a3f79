/* Unit tests for core/wsframe: client frames as RFC 6455 section 5.7 spells them (masked "Hello",
 * fragments, pings, close), fed whole and byte by byte, the errors that close the stream, and the
 * server's frame headers. */
#include <criterion/criterion.h>
#include <string.h>

#include "wsframe.h"

/* Feeds buf in chunks of step bytes; collects DATA into data, the last control event's kind and
 * payload into ctl. Returns the first error, or MH_OK. */
static mh_err feed(mh_ws_decoder *d, const unsigned char *src, size_t len, size_t step, char *data,
                   size_t *data_len, mh_ws_event_kind *ctl_kind, char *ctl, size_t *ctl_len)
{
    unsigned char buf[512];
    memcpy(buf, src, len);
    size_t at = 0;
    *data_len = 0;
    while (at < len) {
        size_t chunk = len - at < step ? len - at : step;
        size_t off = 0;
        while (off < chunk) {
            size_t used = 0;
            mh_ws_event ev;
            mh_err err = mh_ws_decode(d, buf + at + off, chunk - off, &used, &ev);
            if (err != MH_OK)
                return err;
            cr_assert_gt(used, 0);
            if (ev.kind == MH_WS_DATA) {
                memcpy(data + *data_len, ev.data, ev.len);
                *data_len += ev.len;
            } else if (ev.kind != MH_WS_NONE) {
                *ctl_kind = ev.kind;
                memcpy(ctl, ev.data, ev.len);
                *ctl_len = ev.len;
            }
            off += used;
        }
        at += chunk;
    }
    return MH_OK;
}

/* RFC 6455 5.7: a single-frame masked text message "Hello", here as binary (opcode 2). */
static const unsigned char masked_hello[] = {0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                             0x7f, 0x9f, 0x4d, 0x51, 0x58};

Test(wsframe, mh_ws_decode_masked_binary_succeeds)
{
    for (size_t step = 1; step <= sizeof masked_hello; step++) {
        mh_ws_decoder d = {.require_mask = 1};
        char data[64], ctl[128];
        size_t dl = 0, cl = 0;
        mh_ws_event_kind k = MH_WS_NONE;
        cr_assert_eq(feed(&d, masked_hello, sizeof masked_hello, step, data, &dl, &k, ctl, &cl), MH_OK);
        cr_assert_eq(dl, 5, "step %zu", step);
        cr_assert_eq(memcmp(data, "Hello", 5), 0, "step %zu", step);
        cr_assert_eq(k, MH_WS_NONE);
    }
}

Test(wsframe, mh_ws_decode_fragments_with_ping_between_succeeds)
{
    /* RFC 6455 5.7: unmasked "Hel" + "lo" fragments, a ping "Hello" in between, as a client would not
     * send unmasked (require_mask off here) */
    static const unsigned char in[] = {0x02, 0x03, 'H', 'e', 'l',  0x89, 0x05, 'H',
                                       'e',  'l',  'l', 'o', 0x80, 0x02, 'l',  'o'};
    for (size_t step = 1; step <= sizeof in; step++) {
        mh_ws_decoder d = {0};
        char data[64], ctl[128];
        size_t dl = 0, cl = 0;
        mh_ws_event_kind k = MH_WS_NONE;
        cr_assert_eq(feed(&d, in, sizeof in, step, data, &dl, &k, ctl, &cl), MH_OK);
        cr_assert_eq(dl, 5);
        cr_assert_eq(memcmp(data, "Hello", 5), 0);
        cr_assert_eq(k, MH_WS_PING);
        cr_assert_eq(cl, 5);
        cr_assert_eq(memcmp(ctl, "Hello", 5), 0);
        cr_assert_eq(d.in_message, 0);
    }
}

Test(wsframe, mh_ws_decode_masked_close_succeeds)
{
    /* close 1000 masked with 01 02 03 04 */
    static const unsigned char in[] = {0x88, 0x82, 0x01, 0x02, 0x03, 0x04, 0x03 ^ 0x01, 0xe8 ^ 0x02};
    mh_ws_decoder d = {.require_mask = 1};
    char data[64], ctl[128];
    size_t dl = 0, cl = 0;
    mh_ws_event_kind k = MH_WS_NONE;
    cr_assert_eq(feed(&d, in, sizeof in, 3, data, &dl, &k, ctl, &cl), MH_OK);
    cr_assert_eq(k, MH_WS_CLOSE);
    cr_assert_eq(cl, 2);
    cr_assert_eq((unsigned char)ctl[0], 0x03);
    cr_assert_eq((unsigned char)ctl[1], 0xe8);
}

Test(wsframe, mh_ws_decode_empty_pong_succeeds)
{
    static const unsigned char in[] = {0x8a, 0x80, 1, 2, 3, 4};
    mh_ws_decoder d = {.require_mask = 1};
    char data[8], ctl[128];
    size_t dl = 0, cl = 9;
    mh_ws_event_kind k = MH_WS_NONE;
    cr_assert_eq(feed(&d, in, sizeof in, sizeof in, data, &dl, &k, ctl, &cl), MH_OK);
    cr_assert_eq(k, MH_WS_PONG);
    cr_assert_eq(cl, 0);
}

Test(wsframe, mh_ws_decode_16bit_length_succeeds)
{
    unsigned char in[4 + 300];
    in[0] = 0x82;
    in[1] = 126;
    in[2] = 300 >> 8;
    in[3] = 300 & 0xff;
    for (int i = 0; i < 300; i++)
        in[4 + i] = (unsigned char)i;
    mh_ws_decoder d = {0};
    static char data[512];
    char ctl[128];
    size_t dl = 0, cl = 0;
    mh_ws_event_kind k = MH_WS_NONE;
    cr_assert_eq(feed(&d, in, sizeof in, 7, data, &dl, &k, ctl, &cl), MH_OK);
    cr_assert_eq(dl, 300);
    cr_assert_eq((unsigned char)data[299], 299 & 0xff);
}

struct bad_vec {
    const char *why;
    unsigned char in[14];
    size_t len;
    mh_err err;
};

static const struct bad_vec bad[] = {
    {"unmasked client frame", {0x82, 0x01, 'x'}, 3, MH_ERR_FORMAT},
    {"reserved bit", {0xc2, 0x81, 0, 0, 0, 0, 'x'}, 7, MH_ERR_FORMAT},
    {"text frame", {0x81, 0x81, 0, 0, 0, 0, 'x'}, 7, MH_ERR_ARGUMENT_INVALID},
    {"continuation first", {0x80, 0x81, 0, 0, 0, 0, 'x'}, 7, MH_ERR_FORMAT},
    {"fragmented ping", {0x09, 0x80, 0, 0, 0, 0}, 6, MH_ERR_FORMAT},
    {"control over 125", {0x89, 0xfe, 0x00, 0x7e, 0, 0, 0, 0}, 8, MH_ERR_FORMAT},
    {"reserved opcode", {0x83, 0x80, 0, 0, 0, 0}, 6, MH_ERR_FORMAT},
    {"length top bit", {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 14, MH_ERR_FORMAT},
};

Test(wsframe, mh_ws_decode_bad_frames_fail)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mh_ws_decoder d = {.require_mask = 1};
        char data[64], ctl[128];
        size_t dl = 0, cl = 0;
        mh_ws_event_kind k = MH_WS_NONE;
        cr_assert_eq(feed(&d, bad[i].in, bad[i].len, bad[i].len, data, &dl, &k, ctl, &cl), bad[i].err, "%s",
                     bad[i].why);
    }
}

Test(wsframe, mh_ws_decode_binary_inside_message_fails)
{
    static const unsigned char in[] = {0x02, 0x81, 0, 0, 0, 0, 'a', 0x82, 0x81, 0, 0, 0, 0, 'b'};
    mh_ws_decoder d = {.require_mask = 1};
    char data[64], ctl[128];
    size_t dl = 0, cl = 0;
    mh_ws_event_kind k = MH_WS_NONE;
    cr_assert_eq(feed(&d, in, sizeof in, sizeof in, data, &dl, &k, ctl, &cl), MH_ERR_FORMAT);
}

Test(wsframe, mh_ws_header_format_lengths_succeed)
{
    unsigned char h[10];
    cr_assert_eq(mh_ws_header_format(h, MH_WS_OP_BINARY, 5), 2);
    cr_assert_eq(h[0], 0x82);
    cr_assert_eq(h[1], 5);
    cr_assert_eq(mh_ws_header_format(h, MH_WS_OP_BINARY, 256), 4);
    cr_assert_eq(h[1], 126);
    cr_assert_eq(h[2], 1);
    cr_assert_eq(h[3], 0);
    cr_assert_eq(mh_ws_header_format(h, MH_WS_OP_CLOSE, 65536), 10);
    cr_assert_eq(h[0], 0x88);
    cr_assert_eq(h[1], 127);
    static const unsigned char len64[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    cr_assert_eq(memcmp(h + 2, len64, 8), 0);
}
