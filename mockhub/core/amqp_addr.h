/* amqp_addr.h - the AMQP node addresses IoT Hub serves (amqp-protocol.md 3-5): classifying a link
 * address as the SDKs spell it (any scheme and host, any case), the Event Hubs start-position
 * selector, and the device -> partition rule of the Event Hubs-compatible endpoint. Pure.
 */
#ifndef MH_AMQP_ADDR_H
#define MH_AMQP_ADDR_H

#include "errors.h"

typedef enum mh_amqp_node {
    MH_NODE_UNKNOWN,            /* not served: detach with amqp:not-found */
    MH_NODE_CBS,                /* $cbs */
    MH_NODE_MANAGEMENT,         /* $management or {entity}/$management */
    MH_NODE_C2D,                /* /messages/devicebound (service sender) */
    MH_NODE_FEEDBACK,           /* /messages/serviceBound/feedback */
    MH_NODE_FILE_NOTIFICATIONS, /* /messages/serviceBound/filenotifications (not served) */
    MH_NODE_PARTITION,          /* {entity}/ConsumerGroups/{group}/Partitions/{n} */
    MH_NODE_DEVICE,             /* /devices/{id}/... (device AMQP, not served) */
} mh_amqp_node;

typedef struct mh_amqp_addr {
    mh_amqp_node node;
    char entity[128]; /* MANAGEMENT (may be empty), PARTITION */
    char group[128];  /* PARTITION: the consumer group as sent */
    int partition;    /* PARTITION: 0..999999 */
} mh_amqp_addr;

/* Classifies address ("amqps://host:5671/messages/devicebound", "$cbs", "hub/ConsumerGroups/
 * $default/Partitions/2", ...): scheme and host are dropped, names compared case-insensitively.
 * Errors: ArgumentNull, ArgumentInvalid (longer than 1024, an entity or group over 127 bytes, a
 * partition that is not a decimal number). An address that parses but names nothing served is
 * MH_OK with node MH_NODE_UNKNOWN. */
mh_err mh_amqp_addr_parse(const char *address, mh_amqp_addr *out) MH_WARN_UNUSED;

/* Where an Event Hubs receiver starts (the apache.org:selector-filter:string value). */
typedef enum mh_eh_from {
    MH_EH_FROM_START,  /* offset -1 / '@earliest'... everything kept */
    MH_EH_FROM_END,    /* '@latest': only events after the attach */
    MH_EH_FROM_SEQ,    /* value = sequence number */
    MH_EH_FROM_OFFSET, /* value = offset (== sequence number here) */
    MH_EH_FROM_TIME,   /* value = enqueued time, ms since the epoch */
} mh_eh_from;

typedef struct mh_eh_position {
    mh_eh_from from;
    int inclusive; /* >= rather than > */
    long long value;
} mh_eh_position;

/* Parses "amqp.annotation.x-opt-offset > '-1'", "... x-opt-sequence-number >= '5'",
 * "... x-opt-enqueued-time > '1700000000000'", "... x-opt-enqueuedtimeutc > 1700000000000",
 * "... x-opt-offset > '@latest'"; NULL or "" means from the end (the SDKs' default).
 * Errors: ArgumentInvalid (another field, operator or a value that is not a number). */
mh_err mh_eh_position_parse(const char *selector, mh_eh_position *out) MH_WARN_UNUSED;

/* The partition of device_id among count (>= 1): stable across restarts (FNV-1a of the id). */
int mh_eh_partition(const char *device_id, int count);

/* The hub's name (the first label of hostname, "localhost" for localhost), the Event Hubs entity
 * name of the endpoint; out holds at least 64 bytes. */
void mh_eh_entity_name(const char *hostname, char *out, size_t len);

#endif
