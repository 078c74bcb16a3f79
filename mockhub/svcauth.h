/* svcauth.h - service-side authorization: the SAS token in a REST call's Authorization header,
 * checked against a shared access policy and the rights the route needs.
 * https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas
 */
#ifndef MH_SVCAUTH_H
#define MH_SVCAUTH_H

#include "errors.h"
#include "store.h"

/* Looks up a policy by name; MH_OK or MH_ERR_NOT_FOUND. */
typedef mh_err (*mh_policy_lookup_fn)(void *ctx, const char *name, mh_policy *out);

/* MH_OK when authorization ("SharedAccessSignature sr=<host>&sig=..&se=..&skn=<policy>") is valid
 * at time now for hostname, signed with the policy's primary or secondary key, and the policy has
 * any of the rights in need (MH_RIGHT_* mask). Else MH_ERR_UNAUTHORIZED with a reason in st. */
mh_err mh_svcauth_check(const char *authorization, const char *hostname, unsigned need, long long now,
                        mh_policy_lookup_fn lookup, void *ctx, mh_status *st) MH_WARN_UNUSED;

#endif
