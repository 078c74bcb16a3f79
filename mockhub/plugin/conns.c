/* conns.c - live device connections of the bridge plugin in two hash tables (core/htab.c): by
 * broker client pointer (events) and by device id (kick, SAS expiry: the newest connection). A
 * device id maps to its newest connection, which links the older ones still closing (takeovers).
 */
#include "conns.h"

#include <stdio.h>
#include <stdlib.h>

#include "htab.h"

#define MAX_CONNS 1000000u /* cap: the tables grow with input (connections) */

static mh_htab *by_client; /* client pointer -> mh_conn */
static mh_htab *by_id;     /* device id -> its newest mh_conn (key: that entry's id) */
static unsigned long long next_gen = 1;

static int tables_ready(void)
{
    if (by_client == NULL && mh_htab_new(MAX_CONNS, mh_htab_hash_ptr, mh_htab_eq_ptr, &by_client) != MH_OK)
        return 0;
    if (by_id == NULL && mh_htab_new(MAX_CONNS, NULL, NULL, &by_id) != MH_OK)
        return 0;
    return 1;
}

/* Makes c, which has the highest gen of all, the newest connection of its device id. */
static mh_err link_id(mh_conn *c)
{
    mh_conn *head = mh_htab_get(by_id, c->id);
    mh_err err = mh_htab_put(by_id, c->id, c);

    if (err != MH_OK)
        return err;
    c->older = head;
    return MH_OK;
}

/* Takes c out of its device id's list; the next older connection becomes the newest. */
static void unlink_id(mh_conn *c)
{
    mh_conn *head = mh_htab_get(by_id, c->id), **pp;

    if (head == c) {
        /* The older entry has the same id: the put replaces key and value in place, it never
         * grows the table; removal is only the fallback that leaves no key into c behind. */
        if (c->older == NULL || mh_htab_put(by_id, c->older->id, c->older) != MH_OK)
            mh_htab_remove(by_id, c->id);
    } else if (head != NULL) {
        for (pp = &head->older; *pp != NULL; pp = &(*pp)->older) {
            if (*pp == c) {
                *pp = c->older;
                break;
            }
        }
    }
    c->older = NULL;
}

mh_conn *mh_conns_find(const void *client)
{
    return mh_htab_get(by_client, client);
}

mh_conn *mh_conns_add(const void *client, const char *id, long long expiry, int clean)
{
    mh_conn *c;

    if (client == NULL || id == NULL || !tables_ready())
        return NULL;
    c = mh_htab_get(by_client, client);
    if (c != NULL) {
        unlink_id(c); /* before its id changes: the id table's key may be c->id */
    } else {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            return NULL;
        c->client = client;
        if (mh_htab_put(by_client, client, c) != MH_OK) {
            free(c);
            return NULL;
        }
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    c->gen = next_gen++;
    c->expiry = expiry;
    c->clean = clean;
    c->subs = 0; /* a new connection on a reused context has subscribed to nothing yet */
    c->unsubs = 0;
    if (link_id(c) != MH_OK) {
        mh_htab_remove(by_client, client);
        free(c);
        return NULL;
    }
    return c;
}

void mh_conns_remove(const void *client)
{
    mh_conn *c = mh_htab_remove(by_client, client);

    if (c == NULL)
        return;
    unlink_id(c);
    free(c);
}

mh_conn *mh_conns_newest(const char *id)
{
    return id ? mh_htab_get(by_id, id) : NULL;
}

int mh_conns_holds(const mh_conn *c, unsigned bit)
{
    if (c->subs & bit)
        return 1;
    return !c->clean && !(c->unsubs & bit);
}

size_t mh_conns_count(void)
{
    return mh_htab_count(by_client);
}

void mh_conns_foreach(void (*fn)(mh_conn *conn, void *ctx), void *ctx)
{
    size_t cur = 0;
    void *value;

    while (mh_htab_next(by_client, &cur, NULL, &value))
        fn(value, ctx);
}

void mh_conns_clear(void)
{
    size_t cur = 0;
    void *value;

    while (mh_htab_next(by_client, &cur, NULL, &value))
        free(value);
    mh_htab_free(by_client);
    mh_htab_free(by_id);
    by_client = NULL;
    by_id = NULL;
}
