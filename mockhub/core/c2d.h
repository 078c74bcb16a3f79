/* c2d.h - cloud-to-device message rules (iothub-protocol.md 4.2, amqp-protocol.md 3-4): the
 * message as the hub keeps it, its limits, the `iothub-ack` modes, the MQTT topic a device receives
 * it on, and the feedback records the service reads. Pure.
 * https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-messages-c2d
 */
#ifndef MH_C2D_H
#define MH_C2D_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "errors.h"

#define MH_C2D_QUEUE_MAX 50             /* AZURE: pending messages per device (403004 beyond) */
#define MH_C2D_BODY_MAX (64 * 1024)     /* AZURE: 64 KB per message */
#define MH_C2D_TTL_DEFAULT_MS 3600000LL /* AZURE: default expiry 1 hour */
#define MH_C2D_TTL_MAX_MS 172800000LL   /* AZURE: at most 48 hours */
#define MH_C2D_MAX_DELIVERIES 10        /* AZURE: max delivery count */
#define MH_C2D_FEEDBACK_BATCH 64        /* AZURE: records per feedback message */
#define MH_C2D_PROPS_MAX 4096           /* bytes of application properties as JSON text */

typedef enum mh_c2d_ack {
    MH_C2D_ACK_NONE,
    MH_C2D_ACK_POSITIVE,
    MH_C2D_ACK_NEGATIVE,
    MH_C2D_ACK_FULL
} mh_c2d_ack;

/* Feedback status codes the SDKs parse. */
typedef enum mh_c2d_outcome {
    MH_C2D_SUCCESS,
    MH_C2D_EXPIRED,
    MH_C2D_DELIVERY_COUNT_EXCEEDED,
    MH_C2D_REJECTED,
    MH_C2D_PURGED
} mh_c2d_outcome;

/* One queued message. Strings are NUL-terminated ("" when absent); props_json is a JSON object of
 * string values (the application properties); body is borrowed or owned as the caller says. */
typedef struct mh_c2d_msg {
    long long id; /* queue row id (store), 0 before enqueue */
    char device_id[129];
    char message_id[129];
    char correlation_id[129];
    char user_id[129];
    char content_type[129];
    char content_encoding[129];
    char generation_id[40]; /* the device's, at enqueue (feedback records) */
    mh_c2d_ack ack;
    long long enqueued_ms; /* ms since the epoch */
    long long expiry_ms;   /* absolute; 0 = enqueued_ms + default */
    int deliveries;
    char *props_json; /* owned by whoever filled it (store: heap, freed by mh_c2d_msg_cleanup) */
    unsigned char *body;
    size_t len;
} mh_c2d_msg;

/* Frees props_json and body (store-filled messages); the struct itself is the caller's. */
void mh_c2d_msg_cleanup(mh_c2d_msg *m);

/* "none" | "positive" | "negative" | "full" (case-insensitive; NULL = none). ArgumentInvalid else. */
mh_err mh_c2d_ack_parse(const char *text, mh_c2d_ack *out) MH_WARN_UNUSED;
const char *mh_c2d_ack_name(mh_c2d_ack ack);
/* 1 when a message with ack gets a feedback record for outcome. */
int mh_c2d_ack_wants(mh_c2d_ack ack, mh_c2d_outcome outcome);
const char *mh_c2d_outcome_name(mh_c2d_outcome outcome); /* "Success", "Expired", ... */

/* Checks a message before enqueue at time now_ms and fills in its expiry: the default TTL when
 * expiry_ms is 0. Errors: TooLarge (body over 64 KB), ArgumentInvalid (expiry in the past or more
 * than 48 hours ahead, a device id or message id that is empty), st says why. */
mh_err mh_c2d_validate(mh_c2d_msg *m, long long now_ms, mh_status *st) MH_WARN_UNUSED;

/* The MQTT topic device m->device_id receives m on: devices/{id}/messages/devicebound/{bag} with
 * %24.mid, %24.to, %24.cid, %24.uid, %24.ct, %24.ce, %24.exp, iothub-ack and the application
 * properties, every key and value URL-encoded (so '/' never appears in the bag). *out: heap text.
 * Errors: NoMem, ArgumentInvalid (props_json not an object of strings). */
mh_err mh_c2d_topic(const mh_c2d_msg *m, char **out) MH_WARN_UNUSED;

/* A feedback record {"originalMessageId","enqueuedTimeUtc","statusCode","description","deviceId",
 * "deviceGenerationId"} for m; enqueued_iso is the time of the outcome. NULL when out of memory. */
cJSON *mh_c2d_feedback_record(const mh_c2d_msg *m, mh_c2d_outcome outcome, const char *generation_id,
                              long long now_ms);

/* Formats ms since the epoch as ISO 8601 UTC with milliseconds ("2024-01-02T03:04:05.678Z"). */
void mh_c2d_iso_ms(long long ms, char *out, size_t len);
/* Parses ISO 8601 UTC ("2024-01-02T03:04:05Z", optional fraction); -1 when it does not parse. */
long long mh_c2d_parse_iso_ms(const char *iso);

#endif
