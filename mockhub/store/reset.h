/* reset.h - MOCK: test control's reset of the store (reset.c): every device, twin and telemetry
 * message deleted at once. Policies and persistent-session subscriptions stay (the broker keeps
 * its sessions; a seeded device that reconnects finds them as the broker does). Same locking and
 * ownership rules as store.h. */
#ifndef MH_STORE_RESET_H
#define MH_STORE_RESET_H

#include "errors.h"

typedef struct mh_store mh_store; /* store.h */

/* Deletes every device (with its twin) and all telemetry in one transaction. Errors: what SQLite
 * reports (MH_ERR_UNAVAILABLE when busy, MH_ERR_INTERNAL), text in st. */
mh_err mh_store_reset_all(mh_store *store, mh_status *st) MH_WARN_UNUSED;

#endif
