/* seeding.h - MOCK: loads a seed (mockhub run --seed FILE, docs/seed.schema.json) into the store
 * (seeding.c): devices with their keys, status, edge flag, tags and desired properties, and shared
 * access policies. Same locking and ownership rules as store.h. */
#ifndef MH_STORE_SEEDING_H
#define MH_STORE_SEEDING_H

#include <cjson/cJSON.h>

#include "errors.h"

typedef struct mh_store mh_store; /* store.h */

/* Applies seed, a document mh_seed_parse (core/seed.h) accepted: creates each device that does
 * not exist yet (keys given or generated, then its tags and desired properties), and each policy
 * that does not exist yet. Existing devices and policies are left as they are, so applying the
 * same seed twice changes nothing. Then writes into seed the keys every seeded device and policy
 * has in the store, so that a later reset recreates them with the same keys. *out_created: devices
 * created (may be NULL). Errors: the store's, text in st (with the device id). */
mh_err mh_store_seed_apply(mh_store *store, cJSON *seed, int *out_created, mh_status *st) MH_WARN_UNUSED;

#endif
