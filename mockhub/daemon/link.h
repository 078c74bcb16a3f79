/* link.h - the daemon's MQTT connection to the broker's internal unix-socket listener
 * (libmosquitto). Messages from the bridge plugin arrive on the link's own thread.
 */
#ifndef MH_LINK_H
#define MH_LINK_H

#include <stddef.h>

#include "errors.h"

typedef struct mh_link mh_link;

/* Called on the link thread. topic and payload are valid for the call only. */
typedef void (*mh_link_on_message)(void *ctx, const char *topic, const void *payload, size_t len);
/* Called on the link thread after each (re)connection and subscription, and on loss (up = 0). */
typedef void (*mh_link_on_state)(void *ctx, int up);

mh_err mh_link_start(const char *socket_path, const char *secret, mh_link_on_message on_message,
                     mh_link_on_state on_state, void *ctx, mh_link **out_link, mh_status *st) MH_WARN_UNUSED;
/* Thread-safe. QoS 0 or 1. */
mh_err mh_link_publish(mh_link *link, const char *topic, const void *payload, size_t len,
                       int qos) MH_WARN_UNUSED;
void mh_link_stop(mh_link *link); /* NULL is a no-op */

#endif
