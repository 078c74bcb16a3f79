/* presence.c - device connections and subscriptions (see presence.h): one table (core/htab) under
 * one mutex, the rules of generations, clean and kept sessions in one place.
 */
#include "presence.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

/* MOCK: a bound on devices the daemon tracks at once (far above what one machine connects). */
#define MAX_DEVICES 4000000

typedef struct entry {
    char id[MH_IDENTITY_MAX + 1];
    uint64_t gen; /* the transport's number of the current connection */
    int connected;
    unsigned subs;      /* MH_SUB_*: survives disconnects of kept (clean-session-0) sessions */
    long long touched;  /* second of the last activity written for this device */
    int clean;          /* the current connection's session ends with it */
    int session_loaded; /* subs were read from the store since this daemon started */
} entry;

struct mh_presence {
    pthread_mutex_t lock;
    size_t connected;
    mh_htab *by_id; /* id -> entry (the key is the entry's id) */
};

static const mh_presence_change nothing = {-1, -1, 0};

/* Requires the lock. create: add an entry when missing (NULL only when out of memory or full). */
static entry *find(mh_presence *p, const char *id, int create)
{
    entry *e = mh_htab_get(p->by_id, id);
    if (e != NULL || !create || strlen(id) >= sizeof e->id)
        return e;
    e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    strcpy(e->id, id);
    if (mh_htab_put(p->by_id, e->id, e) != MH_OK) {
        fprintf(stderr, "mockhub: cannot track device %s (out of memory or %d devices)\n", id, MAX_DEVICES);
        free(e);
        return NULL;
    }
    return e;
}

mh_presence *mh_presence_new(void)
{
    mh_presence *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (mh_htab_new(MAX_DEVICES, NULL, NULL, &p->by_id) != MH_OK) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void mh_presence_free(mh_presence *p)
{
    if (p == NULL)
        return;
    size_t cursor = 0;
    void *value = NULL;
    while (mh_htab_next(p->by_id, &cursor, NULL, &value))
        free(value);
    mh_htab_free(p->by_id);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int mh_presence_needs_session(mh_presence *p, const char *id)
{
    pthread_mutex_lock(&p->lock);
    entry *e = find(p, id, 0);
    int needs = e == NULL || !e->session_loaded;
    pthread_mutex_unlock(&p->lock);
    return needs;
}

mh_presence_change mh_presence_connected(mh_presence *p, const char *id, uint64_t gen, int clean,
                                         unsigned stored_subs)
{
    mh_presence_change ch = nothing;
    pthread_mutex_lock(&p->lock);
    entry *e = find(p, id, 1);
    if (e != NULL) {
        if (!e->session_loaded) {
            e->session_loaded = 1;
            e->subs = stored_subs;
        }
        if (!e->connected)
            p->connected++;
        e->connected = 1;
        e->gen = gen;
        e->clean = clean;
        /* A clean session starts with no subscriptions; a resumed one keeps them (the broker
         * does not re-check its ACL, so no subscribed events come). */
        if (clean && e->subs != 0) {
            e->subs = 0;
            ch.persist = 0;
        }
        ch.methods_online = (e->subs & MH_SUB_METHODS) != 0;
        ch.state = 1;
    }
    pthread_mutex_unlock(&p->lock);
    return ch;
}

mh_presence_change mh_presence_disconnected(mh_presence *p, const char *id, uint64_t gen)
{
    mh_presence_change ch = nothing;
    pthread_mutex_lock(&p->lock);
    entry *e = find(p, id, 0);
    if (e && e->connected && e->gen == gen) {
        e->connected = 0;
        p->connected--;
        ch.state = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return ch;
}

mh_presence_change mh_presence_subscribed(mh_presence *p, const char *id, uint64_t gen, unsigned bit)
{
    mh_presence_change ch = nothing;
    pthread_mutex_lock(&p->lock);
    entry *e = find(p, id, 0);
    if (e && e->gen == gen && bit && !(e->subs & bit)) {
        ch.methods_online = bit == MH_SUB_METHODS && e->connected;
        e->subs |= bit;
        if (!e->clean)
            ch.persist = e->subs;
    }
    pthread_mutex_unlock(&p->lock);
    return ch;
}

mh_presence_change mh_presence_unsubscribed(mh_presence *p, const char *id, uint64_t gen, unsigned bit)
{
    mh_presence_change ch = nothing;
    pthread_mutex_lock(&p->lock);
    entry *e = find(p, id, 0);
    if (e && e->gen == gen && (e->subs & bit)) {
        e->subs &= ~bit;
        if (!e->clean)
            ch.persist = e->subs;
    }
    pthread_mutex_unlock(&p->lock);
    return ch;
}

size_t mh_presence_reset(mh_presence *p)
{
    pthread_mutex_lock(&p->lock);
    size_t was = p->connected;
    size_t cursor = 0;
    void *value = NULL;
    while (mh_htab_next(p->by_id, &cursor, NULL, &value)) {
        entry *e = value;
        if (e->connected && e->clean)
            e->subs = 0;
        e->connected = 0;
    }
    p->connected = 0;
    pthread_mutex_unlock(&p->lock);
    return was;
}

unsigned mh_presence_subs(mh_presence *p, const char *id)
{
    pthread_mutex_lock(&p->lock);
    entry *e = find(p, id, 0);
    unsigned subs = (e && e->connected) ? e->subs : 0;
    pthread_mutex_unlock(&p->lock);
    return subs;
}

size_t mh_presence_connected_count(mh_presence *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->connected;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void mh_presence_forget(mh_presence *p, const char *id)
{
    pthread_mutex_lock(&p->lock);
    entry *e = mh_htab_remove(p->by_id, id);
    if (e != NULL && e->connected)
        p->connected--;
    pthread_mutex_unlock(&p->lock);
    free(e);
}

int mh_presence_touch(mh_presence *p, const char *id, long long now)
{
    pthread_mutex_lock(&p->lock);
    entry *e = find(p, id, 0);
    int write = e == NULL || e->touched != now;
    if (e != NULL)
        e->touched = now;
    pthread_mutex_unlock(&p->lock);
    return write;
}

size_t mh_presence_clear(mh_presence *p, char (**out_ids)[MH_IDENTITY_MAX + 1])
{
    mh_htab *fresh = NULL, *old = NULL;
    *out_ids = NULL;
    if (mh_htab_new(MAX_DEVICES, NULL, NULL, &fresh) != MH_OK)
        return 0;
    pthread_mutex_lock(&p->lock);
    old = p->by_id;
    p->by_id = fresh;
    size_t want = p->connected;
    p->connected = 0;
    pthread_mutex_unlock(&p->lock);
    /* the old table is ours alone now: collect the connected ids, free every entry */
    size_t n = 0, cursor = 0;
    void *value = NULL;
    char(*ids)[MH_IDENTITY_MAX + 1] = want ? calloc(want, sizeof *ids) : NULL;
    while (mh_htab_next(old, &cursor, NULL, &value)) {
        entry *e = value;
        if (e->connected && ids != NULL && n < want)
            memcpy(ids[n++], e->id, sizeof ids[0]);
        free(e);
    }
    mh_htab_free(old);
    *out_ids = ids;
    return n;
}
