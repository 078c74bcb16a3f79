/* Unit tests for core/c2d (C2D rules, the device's MQTT topic, feedback records) and
 * core/amqp_pad (pyamqp-compatible performatives, amqp-protocol.md 1.6). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_pad.h"
#include "c2d.h"

static mh_c2d_msg msg(void)
{
    mh_c2d_msg m;
    memset(&m, 0, sizeof m);
    strcpy(m.device_id, "dev1");
    return m;
}

Test(c2d, mh_c2d_topic_node_sdk_form_succeeds)
{
    /* the form node-sdk-behaviour.md 1.4 saw the Node SDK parse */
    mh_c2d_msg m = msg();
    strcpy(m.message_id, "c2d-1");
    strcpy(m.correlation_id, "cc");
    m.ack = MH_C2D_ACK_FULL;
    m.props_json = (char *)"{\"color\":\"blue\",\"a/b\":\"c d\"}";
    char *topic = NULL;
    cr_assert_eq(mh_c2d_topic(&m, &topic), MH_OK);
    cr_assert_str_eq(
        topic,
        "devices/dev1/messages/devicebound/%24.mid=c2d-1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound"
        "&%24.cid=cc&iothub-ack=full&color=blue&a%2Fb=c%20d");
    free(topic);
}

Test(c2d, mh_c2d_topic_bad_props_fails)
{
    mh_c2d_msg m = msg();
    m.props_json = (char *)"{\"n\":1}";
    char *topic = NULL;
    cr_assert_eq(mh_c2d_topic(&m, &topic), MH_ERR_ARGUMENT_INVALID);
    cr_assert_null(topic);
}

Test(c2d, mh_c2d_validate_limits_fails)
{
    mh_status st = {0};
    mh_c2d_msg m = msg();
    m.len = MH_C2D_BODY_MAX + 1;
    cr_assert_eq(mh_c2d_validate(&m, 1000000, &st), MH_ERR_TOO_LARGE);
    m = msg();
    m.expiry_ms = 999;
    cr_assert_eq(mh_c2d_validate(&m, 1000000, &st), MH_ERR_ARGUMENT_INVALID);
    m.expiry_ms = 1000000 + MH_C2D_TTL_MAX_MS + 1;
    cr_assert_eq(mh_c2d_validate(&m, 1000000, &st), MH_ERR_ARGUMENT_INVALID);
}

Test(c2d, mh_c2d_validate_default_expiry_succeeds)
{
    mh_status st = {0};
    mh_c2d_msg m = msg();
    cr_assert_eq(mh_c2d_validate(&m, 1000000, &st), MH_OK);
    cr_assert_eq(m.expiry_ms, 1000000 + MH_C2D_TTL_DEFAULT_MS);
    cr_assert_eq(m.enqueued_ms, 1000000);
}

Test(c2d, mh_c2d_ack_modes_succeeds)
{
    mh_c2d_ack a;
    cr_assert_eq(mh_c2d_ack_parse("Full", &a), MH_OK);
    cr_assert_eq(a, MH_C2D_ACK_FULL);
    cr_assert_eq(mh_c2d_ack_parse("sometimes", &a), MH_ERR_ARGUMENT_INVALID);
    cr_assert(mh_c2d_ack_wants(MH_C2D_ACK_POSITIVE, MH_C2D_SUCCESS));
    cr_assert(!mh_c2d_ack_wants(MH_C2D_ACK_POSITIVE, MH_C2D_EXPIRED));
    cr_assert(mh_c2d_ack_wants(MH_C2D_ACK_NEGATIVE, MH_C2D_PURGED));
    cr_assert(!mh_c2d_ack_wants(MH_C2D_ACK_NEGATIVE, MH_C2D_SUCCESS));
    cr_assert(!mh_c2d_ack_wants(MH_C2D_ACK_NONE, MH_C2D_EXPIRED));
    cr_assert(mh_c2d_ack_wants(MH_C2D_ACK_FULL, MH_C2D_REJECTED));
}

Test(c2d, mh_c2d_feedback_record_fields_succeeds)
{
    mh_c2d_msg m = msg();
    strcpy(m.message_id, "m1");
    cJSON *r =
        mh_c2d_feedback_record(&m, MH_C2D_DELIVERY_COUNT_EXCEEDED, "636000000000000001", 1700000000123LL);
    char *text = cJSON_PrintUnformatted(r);
    cr_assert_str_eq(text,
                     "{\"originalMessageId\":\"m1\",\"enqueuedTimeUtc\":\"2023-11-14T22:13:20.123Z\","
                     "\"statusCode\":\"DeliveryCountExceeded\",\"description\":\"Message Delivery Count "
                     "Exceeded\",\"deviceId\":\"dev1\",\"deviceGenerationId\":\"636000000000000001\"}");
    free(text);
    cJSON_Delete(r);
}

Test(c2d, mh_c2d_parse_iso_ms_store_forms_succeeds)
{
    cr_assert_eq(mh_c2d_parse_iso_ms("2023-11-14T22:13:20.1234567Z"), 1700000000123LL);
    cr_assert_eq(mh_c2d_parse_iso_ms("2023-11-14T22:13:20Z"), 1700000000000LL);
    cr_assert_eq(mh_c2d_parse_iso_ms("yesterday"), -1);
}

/* Proton 0.37's shortened frames, captured form: BEGIN with 4 fields, END as list0. */
Test(amqp_pad, mh_amqp_pad_begin_and_end_succeeds)
{
    static const unsigned char in[] = {
        'A', 'M', 'Q', 'P', 0, 1, 0, 0,
        /* BEGIN: size 22, doff 2, type 0, channel 0; 00 53 11 c0 size count=4: null, uint0 0, uint 2048, uint 2048 */
        0, 0, 0, 22, 2, 0, 0, 0, 0x00, 0x53, 0x11, 0xc0, 0x09, 0x04, 0x40, 0x43, 0x70, 0, 0, 8, 0, 0x43,
        /* END: list0 */
        0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x17, 0x45};
    mh_amqp_buf out = {.max = 4096};
    size_t used = 0;
    cr_assert_eq(mh_amqp_pad(in, sizeof in, &out, &used), MH_OK);
    cr_assert_eq(used, sizeof in);
    /* BEGIN: list32 of 8: 4 fields (7 bytes) + uint 0xffffffff + 3 nulls */
    static const unsigned char begin[] = {0, 0, 0, 36,   2,    0,    0,    0,    0x00, 0x53, 0x11, 0xd0,
                                          0, 0, 0, 20,   0,    0,    0,    8,    0x40, 0x43, 0x70, 0,
                                          0, 8, 0, 0x43, 0x70, 0xff, 0xff, 0xff, 0xff, 0x40, 0x40, 0x40};
    static const unsigned char end[] = {0,    0, 0, 21, 2, 0, 0, 0, 0x00, 0x53, 0x17,
                                        0xd0, 0, 0, 0,  5, 0, 0, 0, 1,    0x40};
    cr_assert_eq(out.len, 8 + sizeof begin + sizeof end);
    cr_assert_eq(memcmp(out.data + 8, begin, sizeof begin), 0);
    cr_assert_eq(memcmp(out.data + 8 + sizeof begin, end, sizeof end), 0);
    mh_amqp_buf_cleanup(&out);
}

Test(amqp_pad, mh_amqp_pad_partial_frame_left_succeeds)
{
    static const unsigned char in[] = {0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53};
    mh_amqp_buf out = {.max = 4096};
    size_t used = 99;
    cr_assert_eq(mh_amqp_pad(in, sizeof in, &out, &used), MH_OK);
    cr_assert_eq(used, 0);
    cr_assert_eq(out.len, 0);
    mh_amqp_buf_cleanup(&out);
}

Test(amqp_pad, mh_amqp_pad_output_cap_fails)
{
    static const unsigned char in[] = {0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x17, 0x45};
    mh_amqp_buf out = {.max = 10};
    size_t used = 0;
    cr_assert_eq(mh_amqp_pad(in, sizeof in, &out, &used), MH_ERR_TOO_LARGE);
    mh_amqp_buf_cleanup(&out);
}
