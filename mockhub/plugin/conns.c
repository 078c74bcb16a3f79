/* conns.c - live device connections of the bridge plugin, hashed by broker client pointer.
 * A fixed bucket array with chains: lookups are O(1) at the connection counts a laptop hub sees,
 * iteration (resync, SAS expiry sweep) visits every entry.
 */
#include "conns.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096u
#define MAX_CONNS 1000000u /* cap: the table grows with input (connections) */

static mh_conn *buckets[BUCKETS];
static size_t count;
static unsigned long long next_gen = 1;

static size_t bucket_of(const void *client)
{
    uintptr_t p = (uintptr_t)client;
    /* allocator pointers share low bits; mix before masking */
    p ^= p >> 17;
    p *= (uintptr_t)0x9E3779B97F4A7C15ull;
    p ^= p >> 29;
    return (size_t)(p & (BUCKETS - 1));
}

mh_conn *mh_conns_find(const void *client)
{
    mh_conn *c;

    for (c = buckets[bucket_of(client)]; c; c = c->next) {
        if (c->client == client)
            return c;
    }
    return NULL;
}

mh_conn *mh_conns_add(const void *client, const char *id, long long expiry, int clean)
{
    mh_conn *c = mh_conns_find(client);
    size_t b;

    if (!c) {
        if (count >= MAX_CONNS)
            return NULL;
        c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        b = bucket_of(client);
        c->client = client;
        c->next = buckets[b];
        buckets[b] = c;
        count++;
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    c->gen = next_gen++;
    c->expiry = expiry;
    c->clean = clean;
    return c;
}

void mh_conns_remove(const void *client)
{
    mh_conn **pp = &buckets[bucket_of(client)];

    while (*pp) {
        if ((*pp)->client == client) {
            mh_conn *dead = *pp;
            *pp = dead->next;
            free(dead);
            count--;
            return;
        }
        pp = &(*pp)->next;
    }
}

mh_conn *mh_conns_newest(const char *id)
{
    mh_conn *best = NULL, *c;
    size_t b;

    for (b = 0; b < BUCKETS; b++) {
        for (c = buckets[b]; c; c = c->next) {
            if (strcmp(c->id, id) == 0 && (!best || c->gen > best->gen))
                best = c;
        }
    }
    return best;
}

size_t mh_conns_count(void)
{
    return count;
}

void mh_conns_foreach(void (*fn)(mh_conn *conn, void *ctx), void *ctx)
{
    mh_conn *c;
    size_t b;

    for (b = 0; b < BUCKETS; b++) {
        for (c = buckets[b]; c; c = c->next)
            fn(c, ctx);
    }
}

void mh_conns_clear(void)
{
    size_t b;

    for (b = 0; b < BUCKETS; b++) {
        while (buckets[b]) {
            mh_conn *dead = buckets[b];
            buckets[b] = dead->next;
            free(dead);
        }
    }
    count = 0;
}
