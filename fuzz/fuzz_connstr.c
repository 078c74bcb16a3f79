/* fuzz_connstr.c - libFuzzer target for connection strings (common/iot_connstr): the generic parse
 * and the device and service forms Microsoft's SDKs accept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iot_connstr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    iot_connstr cs;
    char why[160];
    if (iot_connstr_parse(text, &cs, why, sizeof why) == IOT_OK) {
        if (strlen(cs.host_name) >= sizeof cs.host_name || strlen(cs.device_id) >= sizeof cs.device_id ||
            strlen(cs.shared_access_signature) >= sizeof cs.shared_access_signature)
            abort();
    } else if (strlen(why) >= sizeof why) {
        abort();
    }
    (void)iot_connstr_parse_device(text, &cs, why, sizeof why);
    (void)iot_connstr_parse_service(text, &cs, NULL, 0);
    (void)iot_connstr_parse_device(text, &cs, why, 1); /* the shortest why buffer */
    free(text);
    return 0;
}
