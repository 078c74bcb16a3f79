/* methods.h - direct-method calls in flight: request ids, timeouts, matching device responses.
 *
 * A call holds its suspended HTTP reply until the device answers (200 {"status","payload"}),
 * the response timeout passes (504 GatewayTimeout 504101) or, when the device was not online,
 * the connect timeout passes (404 DeviceNotOnline 404103). One timer thread serves all calls.
 * https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-direct-methods
 */
#ifndef MH_METHODS_H
#define MH_METHODS_H

#include <stddef.h>

#include "errors.h"
#include "http.h"

typedef struct mh_methods mh_methods;

/* Delivers a method request to a device: topic is the Azure topic
 * ("$iothub/methods/POST/<name>/?$rid=<n>"). Called without any methods lock held. Returns
 * MH_OK when handed to the broker. */
typedef mh_err (*mh_methods_send_fn)(void *ctx, const char *device_id, const char *topic, const char *payload,
                                     size_t len);

mh_err mh_methods_new(mh_methods_send_fn send, void *ctx, mh_methods **out_methods) MH_WARN_UNUSED;
/* Stops the timer and fails every call still in flight with 503; calls invoked afterwards are
 * answered 503 at once. The other functions stay safe to call (from the REST and link threads
 * that are still running) until mh_methods_free. NULL is a no-op. */
void mh_methods_shutdown(mh_methods *methods);
/* Shuts down (if not done yet) and frees. Call only once no other thread uses methods. NULL is a no-op. */
void mh_methods_free(mh_methods *methods);

/* Starts a call and takes over reply (it always gets answered). payload is the JSON text to send
 * (may be empty: a 0-byte request). online: the device is connected and subscribed to methods
 * now; if not, the call waits connect_timeout_s for mh_methods_device_online (0: answers 404
 * DeviceNotOnline at once). */
void mh_methods_invoke(mh_methods *methods, const char *device_id, const char *method_name,
                       const char *payload, size_t payload_len, int response_timeout_s, int connect_timeout_s,
                       int online, mh_http_reply *reply);

/* The device became reachable for methods: sends the calls waiting for it. */
void mh_methods_device_online(mh_methods *methods, const char *device_id);

/* A device answered on $iothub/methods/res/<status>/?$rid=<rid>. Answers from another device than
 * the one called, or for unknown/finished rids, are dropped (returns 0); 1 when matched. */
int mh_methods_response(mh_methods *methods, const char *device_id, const char *rid, int status,
                        const char *payload, size_t len);

/* Calls in flight (for /health and tests). */
size_t mh_methods_pending(mh_methods *methods);

#endif
