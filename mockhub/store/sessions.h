/* sessions.h - the subscriptions of devices' persistent broker sessions, in the store (sessions.c).
 * Part of store.h; same locking rules. */
#ifndef MH_STORE_SESSIONS_H
#define MH_STORE_SESSIONS_H

#include "errors.h"

typedef struct mh_store mh_store; /* store.h */

/* The subscriptions of a device's persistent broker session (a bit mask the daemon defines; 0 when
 * none is recorded), kept so that a restarted daemon knows what the broker restored from its
 * persistence: resumed sessions are not re-subscribed. Deleting the device deletes it. */
mh_err mh_store_session_subs_get(mh_store *store, const char *device_id, unsigned *out_subs) MH_WARN_UNUSED;
mh_err mh_store_session_subs_set(mh_store *store, const char *device_id, unsigned subs) MH_WARN_UNUSED;

#endif
