/* identity.c - IoT Hub's identity rules that need no storage (see identity.h). */
#include "identity.h"

#include <string.h>

mh_err mh_device_id_check(const char *device_id, mh_status *st)
{
    size_t len, i;

    if (!device_id || !*device_id)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The device id must not be empty");
    len = strlen(device_id);
    if (len > 128)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The device id %.32s... is longer than 128 characters",
                       device_id);
    for (i = 0; i < len; i++) {
        char c = device_id[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c && strchr("-.+%_#*?!(),=@$'", c)))
            continue;
        return mh_fail(
            st, MH_ERR_ARGUMENT_INVALID,
            "The device id %.128s is invalid: use up to 128 ASCII letters, digits and - . + %% _ # * "
            "? ! ( ) , = @ $ '",
            device_id);
    }
    return MH_OK;
}
