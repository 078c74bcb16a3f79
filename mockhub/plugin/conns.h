/* conns.h - the plugin's table of live device and module connections: broker client pointer ->
 * identity ("d" or "d/m", the MQTT client id),
 * per-connection generation number, SAS expiry, clean-session flag. Needed because Mosquitto 2.0
 * has no CONNECT event and a takeover's DISCONNECT arrives after the new connection's auth
 * (shared/reference/mosquitto-plugin-notes.md (e)). Single-threaded, like the broker.
 */
#ifndef MH_PLUGIN_CONNS_H
#define MH_PLUGIN_CONNS_H

#include <stddef.h>

#include "identity.h"

typedef struct mh_conn {
    const void *client;           /* struct mosquitto *, used only as a key */
    char id[MH_IDENTITY_MAX + 1]; /* identity "d" or "d/m" (= MQTT client id) */
    unsigned long long gen;       /* increasing over the broker's life, never 0 */
    long long expiry;             /* SAS se; 0 = never checked again */
    int clean;                    /* clean session flag of the CONNECT */
    unsigned subs;                /* MH_BUS_SUB_* this connection subscribed to (for the daemon's resync) */
    unsigned unsubs;              /* MH_BUS_SUB_* it unsubscribed and has not subscribed again */
    struct mh_conn *older;        /* the same device's next live connection, lower gen (takeovers) */
} mh_conn;

/* Inserts (or replaces) the entry for client with a new generation. NULL when out of memory or
 * when the table holds its maximum of entries (a replaced entry is then gone). The entry stays
 * valid until removed. */
mh_conn *mh_conns_add(const void *client, const char *id, long long expiry, int clean);
mh_conn *mh_conns_find(const void *client);
void mh_conns_remove(const void *client);
/* The live connection for identity id with the highest generation, or NULL. O(1). */
mh_conn *mh_conns_newest(const char *id);
/* Whether connection c holds the subscription bit (one MH_BUS_SUB_*) as far as the plugin knows:
 * it subscribed to it, or it is a kept session (clean 0) whose subscriptions from an earlier
 * connection the broker resumed without an ACL check, and this connection did not unsubscribe it.
 * A clean session holds only what it subscribed to. */
int mh_conns_holds(const mh_conn *c, unsigned bit);
size_t mh_conns_count(void);
/* Calls fn for every entry; fn must not add or remove entries. */
void mh_conns_foreach(void (*fn)(mh_conn *conn, void *ctx), void *ctx);
void mh_conns_clear(void);

#endif
