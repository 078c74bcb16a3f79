/* svcauth.c - service SAS tokens on REST calls. Pure: the policy comes from a lookup callback. */
#include "svcauth.h"

#include <string.h>

#include "iot_sas.h"

mh_err mh_svcauth_check(const char *authorization, const char *hostname, unsigned need, long long now,
                        mh_policy_lookup_fn lookup, void *ctx, mh_status *st)
{
    iot_sas_token tok;
    mh_policy pol;
    if (authorization == NULL || *authorization == '\0')
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: no Authorization header");
    if (iot_sas_parse(authorization, &tok) != IOT_OK)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: malformed SharedAccessSignature");
    if (tok.skn[0] == '\0')
        return mh_fail(st, MH_ERR_UNAUTHORIZED,
                       "Unauthorized: the token names no shared access policy (skn)");
    /* A service token is scoped to the hub: sr is the host name (a longer sr names one device). */
    if (!iot_sas_covers(tok.sr_decoded, hostname))
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: token audience '%s' is not this hub '%s'",
                       tok.sr_decoded, hostname);
    if (tok.se <= now)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: the SAS token has expired");
    if (lookup(ctx, tok.skn, &pol) != MH_OK)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: unknown shared access policy '%s'", tok.skn);
    if (!iot_sas_verify(&tok, pol.primary_key) && !iot_sas_verify(&tok, pol.secondary_key))
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: signature does not match policy '%s'", tok.skn);
    if ((pol.rights & need) == 0)
        return mh_fail(st, MH_ERR_UNAUTHORIZED,
                       "Unauthorized: policy '%s' lacks the permission this operation needs", tok.skn);
    return MH_OK;
}
