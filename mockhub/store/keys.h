/* keys.h - the broker plugin's read-only view of the registry: a device's keys, status and
 * authentication type, read from mockhub.db over a connection of its own opened read-only.
 * keys.c calls nothing else of the store, so the plugin links it alone (docs/INTERNALS.md).
 */
#ifndef MH_KEYS_H
#define MH_KEYS_H

#include "errors.h"
#include "identity.h"

typedef struct mh_keys mh_keys;

/* Opens the database file at path read-only (never creating it). Not thread-safe: one thread uses
 * an mh_keys (the broker's). Errors: MH_ERR_ARGUMENT_NULL, MH_ERR_NOMEM, MH_ERR_INTERNAL (the file
 * cannot be opened, e.g. missing: the caller may retry later). */
mh_err mh_keys_open(const char *path, mh_keys **out_keys) MH_WARN_UNUSED;

/* The authentication data of device_id, as committed when the call starts (WAL: the daemon's later
 * writes are seen by later calls). *out_auth is written only on success.
 * Errors: MH_ERR_DEVICE_NOT_FOUND, MH_ERR_UNAVAILABLE (database busy), MH_ERR_NOMEM,
 * MH_ERR_INTERNAL (no schema yet, other SQLite errors). */
mh_err mh_keys_device_auth(mh_keys *keys, const char *device_id, mh_device_auth *out_auth) MH_WARN_UNUSED;

void mh_keys_free(mh_keys *keys); /* NULL is a no-op */

#endif
