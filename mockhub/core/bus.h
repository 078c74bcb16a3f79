/* bus.h - the internal bus between the broker plugin and the daemon: the only code that knows the
 * $mockhub/... topics and their payloads (docs/INTERNALS.md, "Broker <-> daemon"). Both sides
 * encode what they send and decode what they receive here. Pure: no I/O, no broker, no socket.
 */
#ifndef MH_BUS_H
#define MH_BUS_H

#include <stddef.h>

#include "errors.h"
#include "identity.h"

/* Identities (identity.h: "{d}" or "{d}/{m}", at most MH_IDENTITY_MAX bytes) are one topic level on
 * the bus: a module's '/' travels as MH_BUS_ID_SEP, a character no device or module id may contain.
 * Only bus.c encodes and decodes it; mh_bus_msg.id always holds the identity with its '/'. */
#define MH_BUS_ID_SEP ':'
#define MH_BUS_FILTER_MAX 255       /* (un)subscribed filter length; the plugin only reports allowed ones */
#define MH_BUS_NUM_MAX (1ull << 53) /* gen, token, connections: exact as JSON numbers (doubles) */

/* A KICK of a device drops its modules' connections too (plugin/bridge.c hub_kick). */

/* What the daemon subscribes to (wildcards never match $ topics, so the prefixes are explicit). */
#define MH_BUS_DAEMON_FILTER_FROM "$mockhub/from/#"
#define MH_BUS_DAEMON_FILTER_EV "$mockhub/ev/#"

typedef enum mh_bus_kind {
    MH_BUS_FROM,            /* plugin -> daemon  $mockhub/from/{id}/{azure topic}  device payload as is */
    MH_BUS_TO,              /* daemon -> plugin  $mockhub/to/{id}/{azure topic}    payload to deliver as is */
    MH_BUS_EV_CONNECTED,    /* plugin -> daemon  $mockhub/ev/connected/{id}        {"gen":N,"clean":true} */
    MH_BUS_EV_DISCONNECTED, /* plugin -> daemon  $mockhub/ev/disconnected/{id}     {"gen":N} */
    MH_BUS_EV_SUBSCRIBED,   /* plugin -> daemon  $mockhub/ev/subscribed/{id}       {"gen":N,"filter":"..."} */
    MH_BUS_EV_UNSUBSCRIBED, /* plugin -> daemon  $mockhub/ev/unsubscribed/{id}     {"gen":N,"filter":"..."} */
    MH_BUS_EV_READY,        /* plugin -> daemon  $mockhub/ev/ready                 {"connections":N} */
    MH_BUS_EV_SYNCED,       /* plugin -> daemon  $mockhub/ev/synced                {"token":N} */
    MH_BUS_EV_UNDELIVERED,  /* plugin -> daemon  $mockhub/ev/undelivered/{id}/{azure topic}  {"gen":N}:
                               a TO the plugin dropped: the device had unsubscribed its filter, or (a
                               C2D message) is not connected */
    MH_BUS_EV_DELIVERED,    /* plugin -> daemon  $mockhub/ev/delivered/{id}/{azure topic}    {"gen":N}:
                               a C2D message TO the plugin handed to the device's connection N; every
                               C2D TO gets one of the two answers, in the order they were sent */
    MH_BUS_KICK,            /* daemon -> plugin  $mockhub/kick/{id}                empty */
    MH_BUS_RESYNC,          /* daemon -> plugin  $mockhub/resync                   empty */
    MH_BUS_SYNC,            /* daemon -> plugin  $mockhub/sync                     N as decimal text */
    MH_BUS_REFUSE, /* daemon -> plugin  $mockhub/refuse/{id}              N as decimal text (MOCK: test control) */
    MH_BUS_WAKE, /* daemon -> plugin  $mockhub/wake                     empty: only ends the broker's sleep */
    MH_BUS_KIND_COUNT
} mh_bus_kind;

/* The subscriptions the daemon tracks, as bits: $iothub/methods/POST/#,
 * $iothub/twin/PATCH/properties/desired/#, devices/{id or +}/messages/devicebound/#. */
enum { MH_BUS_SUB_METHODS = 1u << 0, MH_BUS_SUB_DESIRED = 1u << 1, MH_BUS_SUB_C2D = 1u << 2 };

/* The MH_BUS_SUB_* bit of a filter identity device_id subscribed to, 0 for any other filter (or NULLs).
 * Never MH_BUS_SUB_C2D for a module ("d/m"): C2D is not a module feature. */
unsigned mh_bus_sub_bit(const char *device_id, const char *filter);

/* The MH_BUS_SUB_* bit a delivery of azure_topic to identity device_id needs: METHODS for a
 * method request, DESIRED for a desired-properties push, C2D for a device's devicebound message;
 * 0 for anything else (twin replies, NULLs). */
unsigned mh_bus_delivery_bit(const char *device_id, const char *azure_topic);

/* One bus message, decoded. Fields a kind does not use are 0 / "" / NULL. */
typedef struct mh_bus_msg {
    mh_bus_kind kind;
    char id[MH_IDENTITY_MAX + 1]; /* identity "d" or "d/m": FROM, TO, EV_(DIS)CONNECTED, EV_(UN)SUBSCRIBED,
                                     EV_(UN)DELIVERED, KICK, REFUSE */
    const char *topic;            /* FROM/TO/EV_(UN)DELIVERED: the Azure topic (after decode: points into the
                                     input topic) */
    const void *payload;          /* FROM/TO: the payload as is (after decode: the input payload) */
    size_t len;                   /* FROM/TO: payload length */
    unsigned long long gen;       /* EV_(DIS)CONNECTED, EV_(UN)SUBSCRIBED, EV_(UN)DELIVERED: the connection's
                                     number */
    int clean;                    /* EV_CONNECTED: clean session flag (0 or 1) */
    unsigned sub;                 /* EV_(UN)SUBSCRIBED: mh_bus_sub_bit(id, filter), 0 when other */
    char filter[MH_BUS_FILTER_MAX + 1]; /* EV_(UN)SUBSCRIBED */
    unsigned long long token;           /* SYNC, EV_SYNCED */
    size_t connections;                 /* EV_READY */
    unsigned long long count;           /* REFUSE: refuse the device's next N CONNECTs (0: stop refusing) */
} mh_bus_msg;

/* Decodes one message of the bus. topic is NUL-terminated; payload (len bytes, not necessarily
 * NUL-terminated, may be NULL when len is 0) is JSON for the events, decimal text for SYNC, and is
 * ignored for KICK and RESYNC. On MH_OK *out is fully written; out->topic and out->payload
 * (FROM/TO) borrow from the inputs and live as long as they do.
 * Errors: MH_ERR_NOT_FOUND when topic is not a bus topic at all (not under $mockhub/, or an
 * unknown kind under it); MH_ERR_ARGUMENT_INVALID when it is one but malformed (id level empty,
 * over MH_IDENTITY_MAX, holding '/', '+', '#', more than one MH_BUS_ID_SEP, or an empty or over-long
 * part; empty Azure topic, bad JSON, a missing or non-integer member,
 * a number over MH_BUS_NUM_MAX, a filter over MH_BUS_FILTER_MAX). */
mh_err mh_bus_decode(const char *topic, const void *payload, size_t len, mh_bus_msg *out) MH_WARN_UNUSED;

/* Encodes msg (msg->sub is ignored; the other fields its kind uses must be valid as above, and
 * ids must be identities: at most one '/', non-empty parts of at most MH_ID_MAX, no '+', '#' or
 * MH_BUS_ID_SEP; REFUSE's count at most MH_BUS_NUM_MAX). *out_topic is a malloc'd string. For FROM and TO the
 * payload is not copied: *out_payload is NULL and *out_len is msg->len, publish msg->payload.
 * For every other kind *out_payload is a malloc'd NUL-terminated string ("" for KICK and RESYNC)
 * and *out_len its length. The caller frees both. Outputs are written only on MH_OK.
 * Errors: MH_ERR_ARGUMENT_INVALID, MH_ERR_NOMEM. */
mh_err mh_bus_encode(const mh_bus_msg *msg, char **out_topic, char **out_payload,
                     size_t *out_len) MH_WARN_UNUSED;

/* 1 when topic is under the internal $mockhub/ prefix, whatever its kind. */
int mh_bus_is_internal(const char *topic);

/* Table-driven dispatch: decodes (topic, payload, len) and calls table[kind](ctx, &msg) when that
 * entry is not NULL. Returns 1 when a handler ran, 0 when the message was not a valid bus message
 * or its kind has no handler. msg lives for the call only. */
typedef void (*mh_bus_handler)(void *ctx, const mh_bus_msg *msg);
int mh_bus_dispatch(const char *topic, const void *payload, size_t len,
                    const mh_bus_handler table[MH_BUS_KIND_COUNT], void *ctx);

#endif
