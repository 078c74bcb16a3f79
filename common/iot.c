/* Error names for the protocol primitives in common/. */
#include "iot.h"

const char *iot_err_str(iot_err err)
{
    switch (err) {
    case IOT_OK:
        return "ok";
    case IOT_E_INVALID:
        return "invalid input";
    case IOT_E_NOSPACE:
        return "buffer too small";
    case IOT_E_CRYPTO:
        return "crypto failure";
    case IOT_E_MISSING:
        return "required field missing";
    case IOT_E_DUPLICATE:
        return "duplicate field";
    }
    return "unknown error";
}
