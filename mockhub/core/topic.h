/* topic.h - the IoT Hub device and module topic set: parse what a device or module publishes, decide what it may publish
 * and subscribe to, decode telemetry property bags. Pure code, no I/O; used by the broker plugin
 * (ACL and routing) and by the daemon (dispatch of $mockhub/from/{id}/... messages).
 * Topics follow shared/reference/iothub-protocol.md 1.5, 2, 3.1 and 4.
 */
#ifndef MH_TOPIC_H
#define MH_TOPIC_H

#include "errors.h"

typedef enum mh_topic_kind {
    MH_TOPIC_INVALID = 0,
    MH_TOPIC_TWIN_GET,            /* $iothub/twin/GET/?$rid={rid} */
    MH_TOPIC_TWIN_PATCH_REPORTED, /* $iothub/twin/PATCH/properties/reported/?$rid={rid}[&$version={n}] */
    MH_TOPIC_METHOD_RESPONSE,     /* $iothub/methods/res/{status}/?$rid={rid} */
    MH_TOPIC_TELEMETRY,           /* devices/{id}/messages/events/[{bag}][/]
                                     (module: devices/{d}/modules/{m}/messages/events/[{bag}][/]) */
    MH_TOPIC_TWIN_BAD             /* a twin GET/PATCH with a readable $rid but a malformed query
                                     (bad or repeated $version, a second $rid): it gets a 400 reply
                                     on that rid, since the device waits for one (error says why) */
} mh_topic_kind;

typedef struct mh_topic {
    mh_topic_kind kind;
    char rid[256]; /* $rid value as sent, not decoded ("" when absent: telemetry) */
    long version;  /* &$version= on a reported PATCH, -1 when absent */
    int status;    /* methods/res/{status} (0 for other kinds) */
    /* telemetry property bag text after events/ (raw, trailing '/' removed, "" when none) */
    char props[4096];
    char error[160]; /* MH_TOPIC_TWIN_BAD: what is wrong with the topic */
} mh_topic;

/* In all of these, device_id is an identity (identity.h): "{d}" for a device, "{d}/{m}" for a
 * module. Modules use the same $iothub/... twin and method topics as devices.
 *
 * Parses a topic identity `device_id` published, in Azure form (e.g. "$iothub/twin/GET/?$rid=1" or
 * "devices/dev1/messages/events/%24.mid=1&a=b"). Twin and method topics need a non-empty $rid
 * (at most 255 bytes); unknown query parameters are ignored. Telemetry must name the identity
 * itself: a device "devices/{d}/messages/events/..", a module "devices/{d}/modules/{m}/messages/
 * events/.." (never its device's or a sibling's topics, and a device never a module's).
 * Errors: MH_ERR_ARGUMENT_INVALID with a text in *st (st may be NULL). *out is written only on MH_OK. */
mh_err mh_topic_parse_device_publish(const char *device_id, const char *topic, mh_topic *out,
                                     mh_status *st) MH_WARN_UNUSED;

/* 1 when device device_id may PUBLISH on topic (exactly the topics mh_topic_parse_device_publish
 * accepts), else 0. */
int mh_topic_device_may_publish(const char *device_id, const char *topic);

/* 1 when identity device_id may SUBSCRIBE to filter: $iothub/methods/POST/#, $iothub/twin/res/#,
 * $iothub/twin/PATCH/properties/desired/#; a device also devices/{d}/messages/devicebound/# and the
 * az-C SDK's devices/+/messages/devicebound/#; a module also devices/{d}/modules/{m}/inputs/#
 * (MOCK: nothing is ever delivered there) but no C2D filter. Nothing else. */
int mh_topic_device_may_subscribe(const char *device_id, const char *filter);

/* 1 when topic is one the hub delivers to identity device_id: $iothub/methods/POST/...,
 * $iothub/twin/res/..., $iothub/twin/PATCH/properties/desired/..., for a device
 * devices/{d}/messages/devicebound/..., for a module devices/{d}/modules/{m}/inputs/...
 * (the broker plugin's READ check, which the broker applies to queued messages on reconnect). */
int mh_topic_device_may_receive(const char *device_id, const char *topic);

/* One decoded telemetry property ("$.mid" -> "42"). A bare key (no '=') has value "". */
typedef struct mh_prop {
    char key[256];
    char value[1024];
} mh_prop;

/* Decodes a property bag ("%24.mid=1&%24.ct=application%2Fjson&k=v") into out[0..max-1]:
 * '&'-separated pairs, each key[=value], percent-decoded ('+' stays '+'); empty segments are
 * skipped. *out_count receives the number of pairs. Errors: MH_ERR_ARGUMENT_INVALID for bad
 * percent-encoding, an empty key, a key or value too long, or more than max pairs.
 * *out_count is written only on MH_OK; out[] may be partly overwritten on failure. */
mh_err mh_topic_props_parse(const char *bag, mh_prop *out, int max, int *out_count,
                            mh_status *st) MH_WARN_UNUSED;

#endif
