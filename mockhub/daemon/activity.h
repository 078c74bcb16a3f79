/* activity.h - MOCK: the hub's recent activity for the web dashboard's live log: connections,
 * telemetry, method calls and twin changes, in a ring of the newest MH_ACTIVITY_RING entries, read as
 * Server-Sent Events. A reader's request is held (suspended, no thread) until there is something
 * newer than what it saw or 15 s pass; the response then ends and EventSource reconnects with
 * Last-Event-ID, so every event is delivered once, in order, across reconnects.
 */
#ifndef MH_ACTIVITY_H
#define MH_ACTIVITY_H

#include <stddef.h>

#include "errors.h"
#include "http.h"

#define MH_ACTIVITY_RING 1024
#define MH_ACTIVITY_DETAIL 600 /* bytes of detail kept per event (longer ones are cut, as text) */

typedef struct mh_activity mh_activity;

mh_err mh_activity_new(mh_activity **out) MH_WARN_UNUSED;
/* Answers every held reader (before the HTTP server stops) and stops the timer. NULL: no-op. */
void mh_activity_shutdown(mh_activity *a);
void mh_activity_free(mh_activity *a); /* NULL is a no-op */

/* Records an event: kind ("connected", "disconnected", "telemetry", "method", "twin.desired",
 * "twin.reported"), the device and a detail (JSON text or plain text; len bytes, may be 0). Any
 * thread; cheap (a lock and a copy). NULL a: no-op. */
void mh_activity_add(mh_activity *a, const char *kind, const char *device_id, const char *detail, size_t len);

/* Answers reply with the events after sequence number after as an event stream, now when there
 * are some (after 0: the newest 50), else when the next one comes or after 15 s. */
void mh_activity_read(mh_activity *a, unsigned long long after, mh_http_reply *reply);

#endif
