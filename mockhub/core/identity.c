/* identity.c - IoT Hub's identity rules that need no storage (see identity.h). */
#include "identity.h"

#include <stdio.h>
#include <string.h>

static mh_err id_check(const char *what, const char *device_id, mh_status *st)
{
    size_t len, i;

    if (!device_id || !*device_id)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The %s id must not be empty", what);
    len = strlen(device_id);
    if (len > MH_ID_MAX)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The %s id %.32s... is longer than 128 characters", what,
                       device_id);
    for (i = 0; i < len; i++) {
        char c = device_id[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c && strchr("-.+%_#*?!(),=@$'", c)))
            continue;
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "The %s id %.128s is invalid: use up to 128 ASCII letters, digits and - . + %% _ # * "
                       "? ! ( ) , = @ $ '",
                       what, device_id);
    }
    return MH_OK;
}

mh_err mh_device_id_check(const char *device_id, mh_status *st)
{
    return id_check("device", device_id, st);
}

mh_err mh_module_id_check(const char *module_id, mh_status *st)
{
    return id_check("module", module_id, st);
}

const char *mh_identity_module(const char *identity)
{
    const char *slash = identity ? strchr(identity, '/') : NULL;

    return slash ? slash + 1 : NULL;
}

mh_err mh_identity_join(char *out, size_t outsz, const char *device_id, const char *module_id, mh_status *st)
{
    mh_err err = mh_device_id_check(device_id, st);
    int n;

    if (err != MH_OK)
        return err;
    if (module_id && *module_id && (err = mh_module_id_check(module_id, st)) != MH_OK)
        return err;
    n = module_id && *module_id ? snprintf(out, outsz, "%s/%s", device_id, module_id)
                                : snprintf(out, outsz, "%s", device_id);
    if (n < 0 || (size_t)n >= outsz)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "identity %s/%s is too long", device_id,
                       module_id ? module_id : "");
    return MH_OK;
}

int mh_identity_device(const char *identity, char *out, size_t outsz)
{
    const char *slash = strchr(identity, '/');
    size_t n = slash ? (size_t)(slash - identity) : strlen(identity);

    if (n >= outsz)
        return 0;
    memcpy(out, identity, n);
    out[n] = '\0';
    return 1;
}
