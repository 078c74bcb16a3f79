/* methods.h - direct-method calls in flight, transport-neutral: request ids, timeouts, matching
 * device responses, and one completion callback per call.
 *
 * A call ends exactly once: the device answers (MH_OK with its status and payload), the response
 * timeout passes (MH_ERR_GATEWAY_TIMEOUT, 504101) or, when the device was not online, the connect
 * timeout passes (MH_ERR_DEVICE_NOT_ONLINE, 404103). One timer thread serves all calls.
 * https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-direct-methods
 */
#ifndef MH_METHODS_H
#define MH_METHODS_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

typedef struct mh_methods mh_methods;

/* Delivers a method request to a device: topic is the Azure topic
 * ("$iothub/methods/POST/<name>/?$rid=<n>"). Called without any methods lock held. Returns
 * MH_OK when handed to the broker. */
typedef mh_err (*mh_methods_send_fn)(void *ctx, const char *device_id, const char *topic, const char *payload,
                                     size_t len);

mh_err mh_methods_new(mh_methods_send_fn send, void *ctx, mh_methods **out_methods) MH_WARN_UNUSED;
/* How a call ended, called exactly once per call from the thread that ended it (REST, link or
 * timer), with no methods lock held. err MH_OK: the device answered status with payload (its bytes
 * as sent; len 0 when empty). Otherwise err and text say why (text is IoT Hub's message). */
typedef void (*mh_method_done_fn)(void *ctx, mh_err err, int status, const char *payload, size_t len,
                                  const char *text);

/* Stops the timer and fails every call still in flight with MH_ERR_UNAVAILABLE; calls invoked afterwards are
 * answered 503 at once. The other functions stay safe to call (from the REST and link threads
 * that are still running) until mh_methods_free. NULL is a no-op. */
void mh_methods_shutdown(mh_methods *methods);
/* Ends every call in flight now with code and text (MOCK: test control's reset); the table keeps
 * serving new calls. NULL is a no-op. */
void mh_methods_cancel_all(mh_methods *methods, mh_err code, const char *text);
/* Shuts down (if not done yet) and frees. Call only once no other thread uses methods. NULL is a no-op. */
void mh_methods_free(mh_methods *methods);

/* Starts a call; done(done_ctx, ...) is called exactly once, possibly before this returns.
 * payload is the JSON text to send (may be empty: a 0-byte request). online: the device is
 * connected and subscribed to methods now; if not, the call waits connect_timeout_s for
 * mh_methods_device_online (0: ends with DeviceNotOnline at once). */
void mh_methods_invoke(mh_methods *methods, const char *device_id, const char *method_name,
                       const char *payload, size_t payload_len, int response_timeout_s, int connect_timeout_s,
                       int online, mh_method_done_fn done, void *done_ctx);

/* Like mh_methods_invoke for a device the caller's view says is not online, when that view may
 * lag behind the transport (a subscribe event still on its way): the call waits for
 * mh_methods_probed(probe_token) to decide, or at most connect_timeout_s (1 s when that is 0). */
void mh_methods_invoke_probe(mh_methods *methods, const char *device_id, const char *method_name,
                             const char *payload, size_t payload_len, int response_timeout_s,
                             int connect_timeout_s, uint64_t probe_token, mh_method_done_fn done,
                             void *done_ctx);

/* The transport caught up to probe token: each call probing with a token up to it is sent when
 * online(ctx, device_id) says the device takes methods now, else ends DeviceNotOnline (connect
 * timeout 0) or goes on waiting for mh_methods_device_online. */
void mh_methods_probed(mh_methods *methods, uint64_t token, int (*online)(void *ctx, const char *device_id),
                       void *ctx);

/* The device became reachable for methods: sends the calls waiting for it. */
void mh_methods_device_online(mh_methods *methods, const char *device_id);

/* The device's connection ended (device_id), or every device's did (NULL: the link to the transport
 * was lost, e.g. the broker died): calls already sent to it, waiting for its response, end at once
 * with MH_ERR_DEVICE_NOT_ONLINE (404103) instead of waiting for their response timeout; calls waiting
 * for the device to connect go on waiting. Returns how many calls ended. */
size_t mh_methods_device_gone(mh_methods *methods, const char *device_id);

/* A device answered on $iothub/methods/res/<status>/?$rid=<rid>. Answers from another device than
 * the one called, or for unknown/finished rids, are dropped (returns 0); 1 when matched. */
int mh_methods_response(mh_methods *methods, const char *device_id, const char *rid, int status,
                        const char *payload, size_t len);

/* The transport did not deliver the request on topic (the device unsubscribed its methods filter
 * just before): the call sent on it goes back to waiting for the device when its connect timeout
 * has not run out, else ends at once with MH_ERR_DEVICE_NOT_ONLINE (404103), as a call to a device
 * not subscribed does. Returns 1 when a call of device_id matched, 0 otherwise. */
int mh_methods_undelivered(mh_methods *methods, const char *device_id, const char *topic);

/* Calls in flight (for /health and tests). */
size_t mh_methods_pending(mh_methods *methods);

#endif
