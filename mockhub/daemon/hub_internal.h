/* hub_internal.h - what the daemon's parts (hub.c, routes.c, devproto.c) share: the hub state and
 * the device-connection table fed by the plugin's events. Not for use outside the daemon.
 */
#ifndef MH_HUB_INTERNAL_H
#define MH_HUB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "http.h"
#include "hub.h"
#include "link.h"
#include "methods.h"
#include "svcauth.h"
#include "wsproxy.h"

enum { MH_SUB_METHODS = 1u << 0, MH_SUB_DESIRED = 1u << 1 };

typedef struct mh_conn {
    char id[129];
    uint64_t gen; /* the plugin's number of the current connection */
    int connected;
    unsigned subs;      /* MH_SUB_*: survives disconnects of clean-session-0 devices */
    long long touched;  /* second of the last lastActivityTime written for this device */
    int clean;          /* the current connection's session ends with it */
    int session_loaded; /* subs were read from the store since this daemon started */
    struct mh_conn *next;
} mh_conn;

#define MH_CONN_BUCKETS 8192

struct mh_hub {
    mh_config cfg;
    mh_store *store;
    _Atomic(mh_http *) http; /* atomics: set by the main and link threads, read by REST threads */
    mh_link *link;
    mh_methods *methods;
    mh_svcauth_cache *auth_cache;
    mh_wsproxy *wsproxy; /* NULL without MQTT over WebSockets */
    pthread_mutex_t conn_lock;
    mh_conn *conns[MH_CONN_BUCKETS];
    size_t connected_count;
    atomic_int link_up;
    atomic_int plugin_ready;
};

/* REST entry point (routes.c), the libmicrohttpd handler. */
void mh_routes_handle(void *hub, const mh_http_request *req, mh_http_reply *reply);

/* A device published on {azure topic} (devproto.c); called on the link thread. */
void mh_devproto_handle(mh_hub *hub, const char *device_id, const char *topic, const void *payload,
                        size_t len);

/* Publishes to one device through the plugin ($mockhub/to/{id}/{topic}). */
mh_err mh_hub_to_device(mh_hub *hub, const char *device_id, const char *topic, const void *payload,
                        size_t len, int qos) MH_WARN_UNUSED;
/* Subscriptions (MH_SUB_*) of a connected device; 0 when not connected. */
unsigned mh_hub_device_subs(mh_hub *hub, const char *device_id);
/* Drops the device's live connection and forgets its session state (disable, delete). */
void mh_hub_kick(mh_hub *hub, const char *device_id, int forget);
size_t mh_hub_connected_count(mh_hub *hub);
/* Records device activity (lastActivityTime), at most one store write per device and second. */
void mh_hub_touch(mh_hub *hub, const char *device_id);

#endif
