/* Unit tests for plugin/conns.c: the plugin's table of live device connections (by client pointer
 * and by device id), including the takeover order of shared/reference/mosquitto-plugin-notes.md (e):
 * the new connection's auth comes before the old one's DISCONNECT. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "conns.h"

/* stand-ins for struct mosquitto pointers: only their addresses are used */
static char clients[4000];

static void count_one(mh_conn *c, void *ctx)
{
    size_t *n = ctx;
    cr_assert_not_null(c);
    (*n)++;
}

Test(conns, mh_conns_add_find_remove_succeeds)
{
    mh_conn *a = mh_conns_add(&clients[0], "dev1", 100, 1);
    mh_conn *b = mh_conns_add(&clients[1], "dev2", 0, 0);

    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_str_eq(a->id, "dev1");
    cr_assert_eq(a->expiry, 100);
    cr_assert_eq(a->clean, 1);
    cr_assert_gt(b->gen, a->gen, "generations increase");
    cr_assert_neq(a->gen, 0);
    cr_assert_eq(mh_conns_find(&clients[0]), a);
    cr_assert_eq(mh_conns_find(&clients[1]), b);
    cr_assert_null(mh_conns_find(&clients[2]));
    cr_assert_eq(mh_conns_count(), 2);
    mh_conns_remove(&clients[0]);
    cr_assert_null(mh_conns_find(&clients[0]));
    cr_assert_null(mh_conns_newest("dev1"));
    mh_conns_remove(&clients[0]); /* a second DISCONNECT of the same context is harmless */
    cr_assert_eq(mh_conns_count(), 1);
    mh_conns_clear();
    cr_assert_eq(mh_conns_count(), 0);
    cr_assert_null(mh_conns_find(&clients[1]));
}

Test(conns, mh_conns_newest_takeover_then_old_disconnect_succeeds)
{
    mh_conn *old = mh_conns_add(&clients[0], "devC", 0, 0);
    mh_conn *cur = mh_conns_add(&clients[1], "devC", 0, 0);

    cr_assert_eq(mh_conns_newest("devC"), cur);
    mh_conns_remove(&clients[0]); /* the old connection's late DISCONNECT */
    cr_assert_eq(mh_conns_newest("devC"), cur);
    (void)old;
    mh_conns_remove(&clients[1]);
    cr_assert_null(mh_conns_newest("devC"));
    mh_conns_clear();
}

Test(conns, mh_conns_newest_newest_leaves_first_succeeds)
{
    mh_conn *c1 = mh_conns_add(&clients[0], "devC", 0, 0);
    mh_conn *c2 = mh_conns_add(&clients[1], "devC", 0, 0);
    mh_conn *c3 = mh_conns_add(&clients[2], "devC", 0, 0);

    cr_assert_eq(mh_conns_newest("devC"), c3);
    mh_conns_remove(&clients[2]);
    cr_assert_eq(mh_conns_newest("devC"), c2, "the next older live connection");
    mh_conns_remove(&clients[1]);
    cr_assert_eq(mh_conns_newest("devC"), c1);
    cr_assert_str_eq(mh_conns_newest("devC")->id, "devC");
    mh_conns_remove(&clients[0]);
    cr_assert_null(mh_conns_newest("devC"));
    cr_assert_eq(mh_conns_count(), 0);
    mh_conns_clear();
}

Test(conns, mh_conns_newest_middle_leaves_succeeds)
{
    mh_conn *c1 = mh_conns_add(&clients[0], "devC", 0, 0);
    mh_conns_add(&clients[1], "devC", 0, 0);
    mh_conn *c3 = mh_conns_add(&clients[2], "devC", 0, 0);

    mh_conns_remove(&clients[1]);
    cr_assert_eq(mh_conns_newest("devC"), c3);
    mh_conns_remove(&clients[2]);
    cr_assert_eq(mh_conns_newest("devC"), c1, "the middle one is unlinked, not lost with its tail");
    mh_conns_clear();
}

Test(conns, mh_conns_add_same_client_again_moves_id_succeeds)
{
    mh_conn *a = mh_conns_add(&clients[0], "devA", 0, 1);
    unsigned long long g = a->gen;
    mh_conn *again = mh_conns_add(&clients[0], "devB", 5, 0);

    cr_assert_eq(again, a, "one entry per client pointer");
    cr_assert_gt(again->gen, g);
    cr_assert_str_eq(again->id, "devB");
    cr_assert_null(mh_conns_newest("devA"));
    cr_assert_eq(mh_conns_newest("devB"), a);
    cr_assert_eq(mh_conns_count(), 1);
    mh_conns_clear();
}

Test(conns, mh_conns_many_devices_newest_and_foreach_succeeds)
{
    char id[32];
    size_t i, n = 0;

    for (i = 0; i < sizeof clients; i++) {
        snprintf(id, sizeof id, "dev%zu", i % 1000);
        cr_assert_not_null(mh_conns_add(&clients[i], id, 0, 0));
    }
    cr_assert_eq(mh_conns_count(), sizeof clients);
    for (i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "dev%zu", i);
        cr_assert_eq(mh_conns_newest(id), mh_conns_find(&clients[3000 + i]), "%s", id);
    }
    cr_assert_null(mh_conns_newest("dev1000"));
    cr_assert_null(mh_conns_newest(NULL));
    mh_conns_foreach(count_one, &n);
    cr_assert_eq(n, sizeof clients);
    mh_conns_clear();
    n = 0;
    mh_conns_foreach(count_one, &n);
    cr_assert_eq(n, 0);
}

Test(conns, mh_conns_add_null_fails)
{
    cr_assert_null(mh_conns_add(NULL, "dev", 0, 0));
    cr_assert_null(mh_conns_add(&clients[0], NULL, 0, 0));
    cr_assert_eq(mh_conns_count(), 0);
}

/* The subscriptions the daemon's resync replays belong to one connection: a new connection on a
 * reused broker context starts with none. */
Test(conns, mh_conns_add_reused_client_clears_subs_succeeds)
{
    static int client;
    mh_conn *c = mh_conns_add(&client, "devS", 0, 1);
    cr_assert_not_null(c);
    c->subs = MH_BUS_SUB_METHODS | MH_BUS_SUB_DESIRED;
    c = mh_conns_add(&client, "devS", 0, 1);
    cr_assert_not_null(c);
    cr_assert_eq(c->subs, 0);
    mh_conns_remove(&client);
}

Test(conns, mh_conns_holds_clean_session_only_what_it_subscribed_succeeds)
{
    mh_conn *c = mh_conns_add(&clients[3000], "holds1", 0, 1);

    cr_assert_not_null(c);
    cr_assert_not(mh_conns_holds(c, MH_BUS_SUB_METHODS), "a clean session starts with nothing");
    c->subs |= MH_BUS_SUB_METHODS;
    cr_assert(mh_conns_holds(c, MH_BUS_SUB_METHODS));
    cr_assert_not(mh_conns_holds(c, MH_BUS_SUB_DESIRED));
    c->subs &= ~MH_BUS_SUB_METHODS;
    c->unsubs |= MH_BUS_SUB_METHODS;
    cr_assert_not(mh_conns_holds(c, MH_BUS_SUB_METHODS));
    mh_conns_clear();
}

Test(conns, mh_conns_holds_kept_session_until_unsubscribed_succeeds)
{
    mh_conn *c = mh_conns_add(&clients[3001], "holds2", 0, 0);

    cr_assert_not_null(c);
    cr_assert(mh_conns_holds(c, MH_BUS_SUB_DESIRED), "a resumed session may hold it from before");
    c->unsubs |= MH_BUS_SUB_DESIRED;
    cr_assert_not(mh_conns_holds(c, MH_BUS_SUB_DESIRED), "unsubscribed on this connection");
    cr_assert(mh_conns_holds(c, MH_BUS_SUB_METHODS));
    /* the same context connecting again starts over */
    c = mh_conns_add(&clients[3001], "holds2", 0, 1);
    cr_assert_eq(c->unsubs, 0);
    cr_assert_not(mh_conns_holds(c, MH_BUS_SUB_DESIRED));
    mh_conns_clear();
}
