/* svcauth.h - service-side authorization: the SAS token in a REST call's Authorization header,
 * checked against a shared access policy and the rights the route needs.
 * https://learn.microsoft.com/azure/iot-hub/authenticate-authorize-sas
 */
#ifndef MH_SVCAUTH_H
#define MH_SVCAUTH_H

#include "errors.h"
#include "identity.h"

/* Looks up a policy by name; MH_OK or MH_ERR_NOT_FOUND. */
typedef mh_err (*mh_policy_lookup_fn)(void *ctx, const char *name, mh_policy *out);

/* MH_OK when authorization ("SharedAccessSignature sr=<host>&sig=..&se=..&skn=<policy>") is valid
 * at time now for hostname, signed with the policy's primary or secondary key, and the policy has
 * any of the rights in need (MH_RIGHT_* mask). Else MH_ERR_UNAUTHORIZED with a reason in st. */
mh_err mh_svcauth_check(const char *authorization, const char *hostname, unsigned need, long long now,
                        mh_policy_lookup_fn lookup, void *ctx, mh_status *st) MH_WARN_UNUSED;

/* A token presented over AMQP (CBS put-token, SASL PLAIN password): like mh_svcauth_check without
 * the rights test, but sr may carry a scheme, a port and a path ("sb://host:5672/hub/$management",
 * the Event Hubs audiences) as long as its host is hostname, and the signature may use the policy
 * key base64-decoded (IoT Hub SDKs) or as raw text bytes (Event Hubs SDKs; amqp-protocol.md 2.4).
 * *out_rights: the policy's rights, *out_se: the expiry. Errors: Unauthorized with a reason. */
mh_err mh_svcauth_check_amqp(const char *token, const char *hostname, long long now,
                             mh_policy_lookup_fn lookup, void *ctx, unsigned *out_rights, long long *out_se,
                             mh_status *st) MH_WARN_UNUSED;

/* A cache of tokens already verified, so a client that reuses its token (every SDK does, for up
 * to an hour) costs one hash lookup instead of a policy lookup and an HMAC per call. Policies do
 * not change while the hub runs (their keys are set at start), so entries only expire with their
 * token. Holds at most 4096 tokens (a hash table, core/htab.h): when full, the expired ones are
 * dropped, or all of them when none has expired. Thread-safe. */
typedef struct mh_svcauth_cache mh_svcauth_cache;
mh_svcauth_cache *mh_svcauth_cache_new(void);        /* NULL when out of memory (then check uncached) */
void mh_svcauth_cache_free(mh_svcauth_cache *cache); /* NULL is a no-op */

/* mh_svcauth_check through cache (which may be NULL). */
mh_err mh_svcauth_check_cached(mh_svcauth_cache *cache, const char *authorization, const char *hostname,
                               unsigned need, long long now, mh_policy_lookup_fn lookup, void *ctx,
                               mh_status *st) MH_WARN_UNUSED;

#endif
