/* c2d_queue.h - cloud-to-device queues in the store (c2d_queue.c): per-device pending messages in
 * SQLite, kept across restarts; devices.c2d_count (cloudToDeviceMessageCount) follows the queue.
 * Part of store.h. */
#ifndef MH_STORE_C2D_QUEUE_H
#define MH_STORE_C2D_QUEUE_H

#include "c2d.h"
#include "errors.h"

typedef struct mh_store mh_store; /* store.h */

/* Enqueues m (validated: mh_c2d_validate) for m->device_id; fills m->id and m->generation_id.
 * Errors: DeviceNotFound, QueueFull (MH_C2D_QUEUE_MAX pending), database errors; st says why. */
mh_err mh_store_c2d_enqueue(mh_store *store, mh_c2d_msg *m, mh_status *st) MH_WARN_UNUSED;

/* The oldest pending message of device_id not expired at now_ms whose id is not one of
 * skip[0..nskip) (messages already on their way), into *out (caller cleans up with
 * mh_c2d_msg_cleanup); MH_ERR_NOT_FOUND when none. */
mh_err mh_store_c2d_next(mh_store *store, const char *device_id, long long now_ms, const long long *skip,
                         size_t nskip, mh_c2d_msg *out) MH_WARN_UNUSED;

/* Removes message id (completed); its metadata (no props, no body) into *out_meta when not NULL.
 * MH_ERR_NOT_FOUND when it is not queued (any more). */
mh_err mh_store_c2d_remove(mh_store *store, long long id, mh_c2d_msg *out_meta) MH_WARN_UNUSED;

/* Removes up to max messages: those of device_id (purge; NULL: none), or, when device_id is NULL,
 * those expired at now_ms. Their metadata (no props, no body) goes to out[0..*out_n). Purge of an
 * unknown device: DeviceNotFound. */
mh_err mh_store_c2d_take(mh_store *store, const char *device_id, long long now_ms, mh_c2d_msg *out, int max,
                         int *out_n) MH_WARN_UNUSED;

/* Pending messages of device_id (0 for an unknown device). */
mh_err mh_store_c2d_count(mh_store *store, const char *device_id, int *out_count) MH_WARN_UNUSED;

#endif
