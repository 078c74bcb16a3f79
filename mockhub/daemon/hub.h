/* hub.h - the running hub: the HTTPS REST server, the link to the broker, direct-method calls in
 * flight, and the device-side twin protocol, all over one mh_store.
 *
 * main.c prepares the data dir and starts the broker; then mh_hub_start() brings up the daemon's
 * threads (libmicrohttpd's and libmosquitto's) and returns; mh_hub_stop() ends them.
 */
#ifndef MH_HUB_H
#define MH_HUB_H

#include <cjson/cJSON.h>

#include "config.h"
#include "errors.h"
#include "store.h"

typedef struct mh_hub mh_hub;

/* Starts serving. store is borrowed and must outlive the hub. broker_socket is the path of the
 * broker's internal unix-socket listener and hub_secret the password the plugin expects from the
 * hub (username "$mockhub"). broker_ws_port is the broker's internal plain websockets listener that
 * the HTTPS port's /$iothub/websocket is spliced to (0: no MQTT over WebSockets). On failure *st
 * says why (port in use, TLS files unreadable...). */
mh_err mh_hub_start(const mh_config *cfg, mh_store *store, const char *broker_socket, const char *hub_secret,
                    int broker_ws_port, mh_hub **out_hub, mh_status *st) MH_WARN_UNUSED;

/* 1 when the REST server listens, the link to the broker is up and the plugin answered. */
int mh_hub_ready(const mh_hub *hub);

/* MOCK: the seed (already applied to the store) that test control's reset goes back to; copied. */
mh_err mh_hub_set_seed(mh_hub *hub, const cJSON *seed) MH_WARN_UNUSED;

/* The launcher's supervision of the broker, shown by /health: restarts so far, the back-off before
 * the next start (ms; 0 when none is pending) and how the broker last exited (copied; NULL = ""). */
void mh_hub_note_broker(mh_hub *hub, unsigned restarts, long backoff_ms, const char *last_exit);

void mh_hub_stop(mh_hub *hub); /* NULL is a no-op; fails pending method calls with 503 first */

#endif
