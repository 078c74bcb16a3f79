/* hub_internal.h - the hub core as its transports see it. The core owns presence (connections,
 * generations, subscriptions), method calls in flight and the per-device order of twin pushes;
 * REST (routes.c), the MQTT link (devproto.c and the plugin events in hub.c) and a future AMQP
 * listener are peers that call it. Nothing here knows HTTP. Not for use outside the daemon.
 */
#ifndef MH_HUB_INTERNAL_H
#define MH_HUB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "activity.h"
#include "amqp.h"
#include "c2d.h"
#include "htab.h"
#include "http.h"
#include "hub.h"
#include "link.h"
#include "methods.h"
#include "presence.h"
#include "svcauth.h"
#include "testctl.h"
#include "wsproxy.h"

#define MH_PUSH_STRIPES 64

struct mh_hub {
    mh_config cfg;
    mh_store *store;
    _Atomic(mh_http *) http; /* atomics: set by the main and link threads, read by REST threads */
    mh_link *link;
    mh_methods *methods;
    mh_presence *presence;
    mh_svcauth_cache *auth_cache;
    mh_wsproxy *wsproxy;   /* NULL without MQTT over WebSockets */
    mh_testctl *testctl;   /* MOCK: test control (/mockhub/...) */
    mh_activity *activity; /* MOCK: recent activity for the dashboard's live log (/ui) */
    atomic_int link_up;
    atomic_int plugin_ready;
    /* the barrier with the plugin (mh_hub_device_subscribed) */
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_cond;
    uint64_t sync_sent, sync_done;
    /* the launcher's supervision of the broker (mh_hub_note_broker), for /health */
    pthread_mutex_t broker_lock;
    unsigned broker_restarts;
    long broker_backoff_ms;
    char broker_last_exit[256];
    /* a twin update and its push happen under the device's stripe, so pushes go in $version order */
    pthread_mutex_t push_locks[MH_PUSH_STRIPES];
    /* devices whose C2D queue the AMQP thread delivers next (mh_hub_c2d_deliver_later) */
    pthread_mutex_t c2d_later_lock;
    char **c2d_later;
    size_t c2d_later_n;
    /* device id -> its C2D messages handed to the plugin and not yet answered (hub_c2d.c); a leaf
     * lock, taken by the link thread too */
    pthread_mutex_t c2d_handed_lock;
    mh_htab *c2d_handed;
    /* AMQP (amqp.c) and C2D feedback records waiting for a feedback receiver (hub_c2d.c) */
    _Atomic(mh_amqp *) amqp; /* NULL without AMQP; atomic: the link thread reads it while it starts */
    pthread_mutex_t fb_lock;
    cJSON *fb_pending; /* array of feedback records, at most MH_FEEDBACK_MAX */
};

#define MH_FEEDBACK_MAX 10000 /* cap: records kept for a feedback receiver (the oldest dropped) */
#define MH_C2D_HANDED_DEVICES_MAX (1u << 22) /* devices with C2D messages awaiting the plugin's answer */

/* REST entry point (routes.c), the libmicrohttpd handler. */
void mh_routes_handle(void *hub, const mh_http_request *req, mh_http_reply *reply);

/* A device published on {azure topic} (devproto.c); called on the link thread. */
void mh_devproto_handle(mh_hub *hub, const char *device_id, const char *topic, const void *payload,
                        size_t len);

/* ---- the core's operations, for every transport ---- */

/* Publishes to one device through the plugin ($mockhub/to/{id}/{topic}). */
mh_err mh_hub_to_device(mh_hub *hub, const char *device_id, const char *topic, const void *payload,
                        size_t len, int qos) MH_WARN_UNUSED;
/* 1 when the device is connected and holds bit (MH_SUB_*), as exact as its SUBACK: when the
 * daemon's view lacks it, waits (up to a second) until the plugin has delivered every event it
 * emitted before now, then looks again. Blocks; never call it on the link thread. */
int mh_hub_device_subscribed(mh_hub *hub, const char *device_id, unsigned bit);
/* Starts a direct-method call (see mh_methods_invoke); ends with MH_ERR_DEVICE_NOT_FOUND when the
 * device is neither connected nor registered. done may run before this returns. */
void mh_hub_invoke_method(mh_hub *hub, const char *device_id, const char *method_name, const char *payload,
                          size_t payload_len, int response_timeout_s, int connect_timeout_s,
                          mh_method_done_fn done, void *done_ctx);
/* Updates a twin (mh_store_twin_update) and pushes a desired change to the device when it is
 * subscribed, in $version order per device. *out_twin: the new twin. */
mh_err mh_hub_twin_write(mh_hub *hub, const char *device_id, const cJSON *body, const char *if_match,
                         int replace, cJSON **out_twin, mh_status *st) MH_WARN_UNUSED;
/* Drops the device's live connection and forgets its session state (disable, delete). */
void mh_hub_kick(mh_hub *hub, const char *device_id, int forget);
size_t mh_hub_connected_count(mh_hub *hub);
/* MOCK: test control: the plugin refuses the device's next count CONNECTs (0: stops refusing). */
mh_err mh_hub_refuse_connects(mh_hub *hub, const char *device_id, unsigned long long count) MH_WARN_UNUSED;
/* What mh_hub_note_broker recorded (for /health); last_exit gets "" when the broker never exited. */
void mh_hub_broker_info(mh_hub *hub, unsigned *out_restarts, long *out_backoff_ms, char *last_exit,
                        size_t last_exit_size);
/* Records device activity (lastActivityTime), at most one store write per device and second. */
void mh_hub_touch(mh_hub *hub, const char *device_id);

/* ---- cloud-to-device messages (hub_c2d.c) ---- */

/* Validates and enqueues m (its strings and body are copied) and delivers it at once when the
 * device is connected and subscribed. Errors: DeviceNotFound, QueueFull, TooLarge,
 * ArgumentInvalid, store errors; st says why. */
mh_err mh_hub_c2d_send(mh_hub *hub, mh_c2d_msg *m, mh_status *st) MH_WARN_UNUSED;
/* Hands device_id's pending messages to the plugin when it is connected with MH_SUB_C2D, except
 * those still waiting for the plugin's answer. Any thread. */
void mh_hub_c2d_deliver(mh_hub *hub, const char *device_id);
/* The plugin's answer for a message handed on topic (bus EV_DELIVERED / EV_UNDELIVERED): delivered
 * completes it (Success feedback); undelivered leaves it queued for the device's next subscription.
 * On the link thread. */
void mh_hub_c2d_answered(mh_hub *hub, const char *device_id, const char *topic, int delivered);
/* Forgets every handed message (the link was lost: no answer will come); they stay queued. A hub
 * whose table was never made: no-op. */
void mh_hub_c2d_handed_reset(mh_hub *hub);
/* Asks the AMQP thread to deliver the device's queue (for the link thread, which must not take a
 * device's stripe lock inside libmosquitto's callback: lock-order inversion under TSan). */
void mh_hub_c2d_deliver_later(mh_hub *hub, const char *device_id);
/* On the AMQP thread: delivers the queues asked for with mh_hub_c2d_deliver_later. */
void mh_hub_c2d_run_later(mh_hub *hub);
/* Empties device_id's queue (DELETE /devices/{id}/commands); *out_n: messages purged. */
mh_err mh_hub_c2d_purge(mh_hub *hub, const char *device_id, int *out_n) MH_WARN_UNUSED;
/* Drops expired messages (feedback Expired); called about once a second. */
void mh_hub_c2d_sweep(mh_hub *hub);
/* The next batch of at most max feedback records as JSON array text (heap), NULL when none. */
char *mh_hub_feedback_take(mh_hub *hub, int max);

#endif
