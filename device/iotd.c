/* Error names of the C device library. */
#include "iotd.h"

const char *iotd_err_str(iotd_err err)
{
    switch (err) {
    case IOTD_OK:
        return "ok";
    case IOTD_E_INVALID:
        return "invalid argument";
    case IOTD_E_NOSPACE:
        return "buffer too small";
    case IOTD_E_NOMEM:
        return "out of memory";
    case IOTD_E_CONFIG:
        return "configuration error";
    case IOTD_E_NOT_CONNECTED:
        return "not connected";
    case IOTD_E_AUTH:
        return "authentication failed";
    case IOTD_E_TIMEOUT:
        return "request timed out";
    case IOTD_E_DISCONNECTED:
        return "connection lost";
    case IOTD_E_BUSY:
        return "too many pending requests";
    case IOTD_E_TRANSPORT:
        return "transport failure";
    case IOTD_E_HUB:
        return "hub returned an error";
    }
    return "unknown error";
}
