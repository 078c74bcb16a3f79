/* eventlog.h - the telemetry table read as an Event Hubs partitioned log (eventlog.c): a device's
 * messages all land in partition mh_eh_partition(device, count); sequence numbers and offsets are
 * the table's seq. Part of store.h.
 * MOCK: sequence numbers are hub-wide, so they increase within a partition but have gaps.
 */
#ifndef MH_STORE_EVENTLOG_H
#define MH_STORE_EVENTLOG_H

#include <stddef.h>

#include "errors.h"

typedef struct mh_store mh_store; /* store.h */

typedef struct mh_event {
    long long seq;
    char device_id[129];
    char module_id[129]; /* "" for a device's message */
    long long enqueued_ms;
    char *props_json; /* heap: the stored property object (raw keys "$.mid", "k") */
    unsigned char *body;
    size_t len;
} mh_event;

void mh_event_cleanup(mh_event *e); /* frees props_json and body */

/* Up to limit events of partition (of count) with seq > after_seq, oldest first, into out (each
 * cleaned up by the caller). */
mh_err mh_store_eventlog_read(mh_store *store, int partition, int count, long long after_seq, int limit,
                              mh_event *out, int *out_n) MH_WARN_UNUSED;

typedef struct mh_partition_info {
    long long begin_seq; /* first kept event, -1 when empty */
    long long last_seq;  /* last event, -1 when empty */
    long long last_ms;   /* its enqueued time, 0 when empty */
} mh_partition_info;

mh_err mh_store_eventlog_info(mh_store *store, int partition, int count,
                              mh_partition_info *out) MH_WARN_UNUSED;

/* The seq to read after so that reading starts at the first event enqueued after time_ms
 * (inclusive: at or after). */
mh_err mh_store_eventlog_after_time(mh_store *store, long long time_ms, int inclusive,
                                    long long *out_after_seq) MH_WARN_UNUSED;

#endif
