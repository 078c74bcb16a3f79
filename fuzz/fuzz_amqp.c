/* fuzz_amqp.c - libFuzzer target for what an AMQP client sends before Proton sees it and what the
 * daemon parses out of its links: the input filter (core/amqp_infilter: frames on ended sessions),
 * the performative padding (core/amqp_pad, run on the same bytes as if the hub had written them),
 * link addresses and the Event Hubs start-position selector (core/amqp_addr).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_addr.h"
#include "amqp_infilter.h"
#include "amqp_pad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Streams data through the filter in chunks of the sizes the first byte picks, into a "Proton" of
 * room bytes a call: every byte is decided once, none is passed twice, at most 1,030 stay undecided. */
static void filter_stream(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    size_t chunk = (size_t)(data[0] & 0x3f) + 1, room = (size_t)(data[0] >> 6) * 7 + 1;
    data++;
    size--;
    unsigned char *stage = malloc(size + 1);
    if (stage == NULL)
        return;
    mh_amqp_infilter f = {0};
    size_t slen = 0, fed = 0, passed = 0, dropped_bytes = 0;
    for (;;) {
        size_t add = size - fed < chunk ? size - fed : chunk;
        memcpy(stage + slen, data + fed, add);
        slen += add;
        fed += add;
        for (;;) {
            int drop = -1;
            size_t n = mh_amqp_infilter_next(&f, stage, slen, &drop);
            if (n == 0)
                break;
            if (n > slen || (drop != 0 && drop != 1))
                abort();
            if (!drop && n > room)
                n = room;
            if (drop)
                dropped_bytes += n;
            else
                passed += n;
            mh_amqp_infilter_consumed(&f, n);
            memmove(stage, stage + n, slen - n);
            slen -= n;
        }
        if (fed == size)
            break;
    }
    if (passed + dropped_bytes + slen != size || slen > 1030)
        abort();
    if (dropped_bytes == 0 && f.dropped != 0)
        abort();
    mh_amqp_infilter_cleanup(&f);
    free(stage);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    filter_stream(data, size);

    mh_amqp_buf out = {.max = 1 << 20};
    size_t used = 0;
    if (mh_amqp_pad(data, size, &out, &used) == MH_OK && used > size)
        abort();
    mh_amqp_buf_cleanup(&out);

    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    mh_amqp_addr a;
    if (mh_amqp_addr_parse(text, &a) == MH_OK) {
        if (strnlen(a.entity, sizeof a.entity) == sizeof a.entity ||
            strnlen(a.group, sizeof a.group) == sizeof a.group)
            abort();
        if (a.node == MH_NODE_PARTITION && (a.partition < 0 || a.partition > 999999))
            abort();
    }
    mh_eh_position p;
    if (mh_eh_position_parse(text, &p) == MH_OK && p.from != MH_EH_FROM_START && p.from != MH_EH_FROM_END &&
        p.from != MH_EH_FROM_SEQ && p.from != MH_EH_FROM_OFFSET && p.from != MH_EH_FROM_TIME)
        abort();
    (void)mh_eh_partition(text, 4);
    free(text);
    return 0;
}
