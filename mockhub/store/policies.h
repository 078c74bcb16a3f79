/* policies.h - the hub's shared access policies in the store (policies.c): the five defaults and
 * lookup by name. Part of store.h; same locking and ownership rules. */
#ifndef MH_STORE_POLICIES_H
#define MH_STORE_POLICIES_H

#include "errors.h"
#include "identity.h"

typedef struct mh_store mh_store; /* store.h */

/* Creates the five default policies (iothubowner, service, device, registryRead,
 * registryReadWrite) when missing, with random keys; then sets iothubowner's primary key to
 * owner_key (the configured or well-known development key). */
mh_err mh_store_policies_init(mh_store *store, const char *owner_key) MH_WARN_UNUSED;
/* MH_ERR_NOT_FOUND when there is no such policy. */
mh_err mh_store_policy_get(mh_store *store, const char *name, mh_policy *out_policy) MH_WARN_UNUSED;

#endif
