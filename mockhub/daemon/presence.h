/* presence.h - the hub core's view of which devices are connected and what they subscribed to, fed
 * by the transports' connection events (today the plugin's, later AMQP's). Transport-neutral and
 * storage-free: each call says what the caller must record (connection state, session
 * subscriptions) and whether calls waiting for the device may go now. Thread-safe.
 */
#ifndef MH_PRESENCE_H
#define MH_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

/* What a device subscribed to (bit mask): the bus's bits (core/bus.h). */
enum {
    MH_SUB_METHODS = MH_BUS_SUB_METHODS,
    MH_SUB_DESIRED = MH_BUS_SUB_DESIRED,
    MH_SUB_C2D = MH_BUS_SUB_C2D
};

typedef struct mh_presence mh_presence;

/* What the caller must do after an event (outside any presence lock). */
typedef struct mh_presence_change {
    int state;          /* 1: record "Connected", 0: record "Disconnected", -1: nothing */
    long persist;       /* session subscriptions (MH_SUB_*) to record for a kept session, or -1 */
    int methods_online; /* the device can take method calls now: send the ones waiting for it */
} mh_presence_change;

mh_presence *mh_presence_new(void);    /* NULL when out of memory */
void mh_presence_free(mh_presence *p); /* NULL is a no-op */

/* 1 when the device's kept-session subscriptions must be read from the store and passed to the
 * next mh_presence_connected (the first connection this daemon sees for it: a session the broker
 * restored from its persistence has subscriptions this daemon never saw). */
int mh_presence_needs_session(mh_presence *p, const char *id);

/* Connection gen (increasing per transport instance) of device id. clean: its session ends with
 * it. stored_subs: see mh_presence_needs_session (ignored otherwise). */
mh_presence_change mh_presence_connected(mh_presence *p, const char *id, uint64_t gen, int clean,
                                         unsigned stored_subs);
/* Ignored unless gen is the device's current connection (a takeover's late goodbye). */
mh_presence_change mh_presence_disconnected(mh_presence *p, const char *id, uint64_t gen);
mh_presence_change mh_presence_subscribed(mh_presence *p, const char *id, uint64_t gen, unsigned bit);
mh_presence_change mh_presence_unsubscribed(mh_presence *p, const char *id, uint64_t gen, unsigned bit);

/* The transport lost every connection at once (the broker died or the link to it was lost): every
 * device is disconnected; kept (clean-session-0) sessions keep their subscriptions for when the
 * device comes back, clean ones lose them. Returns how many devices were connected. The caller
 * records "Disconnected" for all of them (mh_store_reset_connections). */
size_t mh_presence_reset(mh_presence *p);

/* Subscriptions (MH_SUB_*) of a connected device; 0 when not connected. */
unsigned mh_presence_subs(mh_presence *p, const char *id);
size_t mh_presence_connected_count(mh_presence *p);
/* Forgets everything about the device (deleted or disabled: its session ends). */
void mh_presence_forget(mh_presence *p, const char *id);
/* Forgets every device (MOCK: test control's reset). *out_ids: a malloc'd array of the ids that
 * were connected (NULL when none, or out of memory), returns their number. */
size_t mh_presence_clear(mh_presence *p, char (**out_ids)[MH_IDENTITY_MAX + 1]);
/* 1 when device activity at second now should be written (at most once a second per device). */
int mh_presence_touch(mh_presence *p, const char *id, long long now);

#endif
