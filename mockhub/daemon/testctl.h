/* testctl.h - MOCK: test control, mockhub-only REST under /mockhub/ for other people's CI (the real
 * hub has none of it): reset to empty or to the seed, wait-for (long-polls held without a thread),
 * fault injection on REST operations (latency, a chosen IoT Hub error), dropped connections,
 * refused CONNECTs (through the plugin), and the optional quota mode (MOCKHUB_TIER).
 * Every test-control reply carries the header "x-mockhub: test-control"; an injected error
 * carries "x-mockhub-fault: <fault id>". Only the owner policy (all four rights) may call it.
 */
#ifndef MH_TESTCTL_H
#define MH_TESTCTL_H

#include <cjson/cJSON.h>

#include "errors.h"
#include "http.h"

typedef struct mh_hub mh_hub;
typedef struct mh_testctl mh_testctl;

/* The REST handler signature of routes.c. */
typedef void (*mh_testctl_route_fn)(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply,
                                    const char *id);

/* The quota mode: a tier and its number of units (0 units: off). */
typedef struct mh_tier {
    char name[4]; /* "S1", "S2", "S3" */
    int units;
} mh_tier;

/* Parses MOCKHUB_TIER: "S1", "S2", "S3" with an optional ":<units>" (1..200, 1..10 for S3), case
 * insensitive; NULL or "" is off (units 0). Errors: MH_ERR_ARGUMENT_INVALID with a text saying
 * what is accepted. *out written only on success. */
mh_err mh_tier_parse(const char *text, mh_tier *out, mh_status *st) MH_WARN_UNUSED;

/* The rate (operations per second) the tier allows for op ("registry", "twin.read",
 * "twin.write", "method", "query"), from IoT Hub's quota table; 0 for an unknown op or tier. */
double mh_tier_rate(const mh_tier *tier, const char *op);

/* Starts test control for hub (its timer thread); tier may have 0 units. */
mh_err mh_testctl_new(mh_hub *hub, const mh_tier *tier, mh_testctl **out, mh_status *st) MH_WARN_UNUSED;
/* Answers every held request (waits: 503, delayed calls: run now) and stops the timer. Call before
 * the REST server stops. NULL is a no-op. */
void mh_testctl_shutdown(mh_testctl *t);
void mh_testctl_free(mh_testctl *t); /* NULL is a no-op */

/* The seed to reset to (JSON text, copied; NULL: none). */
mh_err mh_testctl_set_seed(mh_testctl *t, const cJSON *seed) MH_WARN_UNUSED;

/* Called by routes.c for every authorized IoT Hub request before its handler: applies the quota
 * and the matching faults. Returns 1 when it took the request over (answered it, or will run
 * fn(hub, req, reply, id) later), 0 when the caller runs fn now. method and pattern are the
 * route's. */
int mh_testctl_intercept(mh_testctl *t, const char *method, const char *pattern, const mh_http_request *req,
                         mh_http_reply *reply, const char *id, mh_testctl_route_fn fn);

/* For a device's own twin request (GET or reported PATCH over MQTT): 1 when a fault on
 * "device.twin" matches; *out_err is the error to answer (MH_OK: none) and *out_latency_ms the
 * delay to add to the reply. */
int mh_testctl_device_twin_fault(mh_testctl *t, const char *device_id, mh_err *out_err, long *out_latency_ms);
/* Sends payload on topic to the device after delay_ms (the timer thread). 0 when it could not be
 * held (the caller sends it now). */
int mh_testctl_send_later(mh_testctl *t, const char *device_id, const char *topic, const void *payload,
                          size_t len, long delay_ms);

/* The /mockhub/ test-control routes (routes.c's table). */
void mh_testctl_r_reset(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);
void mh_testctl_r_wait(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);
void mh_testctl_r_faults_add(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);
void mh_testctl_r_faults_list(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);
void mh_testctl_r_faults_clear(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);
void mh_testctl_r_fault_delete(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);
void mh_testctl_r_drop(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);
/* POST /mockhub/devices/{id}/messages: enqueues a cloud-to-device message as a service's AMQP send
 * would (body {"data","properties","ack","messageId","correlationId","userId","contentType",
 * "contentEncoding","expiryTimeUtc"}, all optional). MOCK: the hub sends C2D over AMQP only; this
 * lets `mockhub c2d-message send` and tests enqueue without an AMQP client. Owner policy. */
void mh_testctl_r_c2d_send(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id);

#endif
