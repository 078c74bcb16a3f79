/* fuzz_bus.c - libFuzzer target for the internal bus (core/bus.c): "topic\npayload" decoded as the
 * plugin and the daemon decode each other's messages; whatever decodes must encode back and decode
 * to the same message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t tlen = nl ? (size_t)(nl - data) : size;
    char *topic = malloc(tlen + 1);
    if (topic == NULL)
        return 0;
    memcpy(topic, data, tlen);
    topic[tlen] = '\0';
    const uint8_t *payload = nl ? nl + 1 : data + size;
    size_t plen = (size_t)(data + size - payload);

    mh_bus_msg m, again;
    if (mh_bus_decode(topic, payload, plen, &m) == MH_OK) {
        char *t2 = NULL, *p2 = NULL;
        size_t l2 = 0;
        if (mh_bus_encode(&m, &t2, &p2, &l2) != MH_OK)
            abort(); /* a decoded message must encode */
        if (mh_bus_decode(t2, p2 ? p2 : m.payload, l2, &again) != MH_OK || again.kind != m.kind ||
            strcmp(again.id, m.id) != 0 || again.gen != m.gen || again.token != m.token ||
            again.sub != m.sub || again.connections != m.connections ||
            (m.topic != NULL && (again.topic == NULL || strcmp(again.topic, m.topic) != 0)))
            abort();
        free(t2);
        free(p2);
    }
    free(topic);
    return 0;
}
