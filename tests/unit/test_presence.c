/* test_presence.c - the hub core's presence rules: generations (a takeover's late goodbye),
 * clean and kept sessions, subscriptions, what callers must record. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence.h"

static mh_presence *p;

static void setup(void)
{
    p = mh_presence_new();
    cr_assert_not_null(p);
}

static void teardown(void)
{
    mh_presence_free(p);
}

TestSuite(presence, .init = setup, .fini = teardown);

Test(presence, connected_new_device_succeeds)
{
    cr_assert(mh_presence_needs_session(p, "d1"));
    mh_presence_change ch = mh_presence_connected(p, "d1", 1, 1, 0);
    cr_assert_eq(ch.state, 1);
    cr_assert_eq(ch.persist, -1);
    cr_assert_eq(ch.methods_online, 0);
    cr_assert_eq(mh_presence_connected_count(p), 1);
    cr_assert_not(mh_presence_needs_session(p, "d1"));
}

Test(presence, subscribed_methods_brings_device_online_succeeds)
{
    mh_presence_connected(p, "d1", 1, 1, 0);
    mh_presence_change ch = mh_presence_subscribed(p, "d1", 1, MH_SUB_METHODS);
    cr_assert(ch.methods_online);
    cr_assert_eq(ch.persist, -1, "a clean session records nothing");
    cr_assert_eq(mh_presence_subs(p, "d1"), MH_SUB_METHODS);
    ch = mh_presence_subscribed(p, "d1", 1, MH_SUB_DESIRED);
    cr_assert_not(ch.methods_online);
    cr_assert_eq(mh_presence_subs(p, "d1"), MH_SUB_METHODS | MH_SUB_DESIRED);
}

Test(presence, takeover_late_goodbye_ignored_succeeds)
{
    /* plugin order on takeover: connected gen 8, connected gen 9, disconnected gen 8 */
    mh_presence_connected(p, "d1", 8, 1, 0);
    mh_presence_connected(p, "d1", 9, 1, 0);
    mh_presence_subscribed(p, "d1", 9, MH_SUB_METHODS);
    mh_presence_change ch = mh_presence_disconnected(p, "d1", 8);
    cr_assert_eq(ch.state, -1);
    cr_assert_eq(mh_presence_connected_count(p), 1);
    cr_assert_eq(mh_presence_subs(p, "d1"), MH_SUB_METHODS);
    ch = mh_presence_disconnected(p, "d1", 9);
    cr_assert_eq(ch.state, 0);
    cr_assert_eq(mh_presence_connected_count(p), 0);
    cr_assert_eq(mh_presence_subs(p, "d1"), 0, "not connected: no subscriptions in effect");
}

Test(presence, subscribed_stale_generation_fails)
{
    mh_presence_connected(p, "d1", 3, 1, 0);
    mh_presence_change ch = mh_presence_subscribed(p, "d1", 2, MH_SUB_METHODS);
    cr_assert_not(ch.methods_online);
    cr_assert_eq(mh_presence_subs(p, "d1"), 0);
}

Test(presence, kept_session_records_and_resumes_succeeds)
{
    mh_presence_connected(p, "d1", 1, 0, 0);
    mh_presence_change ch = mh_presence_subscribed(p, "d1", 1, MH_SUB_DESIRED);
    cr_assert_eq(ch.persist, MH_SUB_DESIRED);
    mh_presence_disconnected(p, "d1", 1);
    /* resumed: the broker sends no subscribe events; the kept subscriptions are in effect */
    ch = mh_presence_connected(p, "d1", 2, 0, 0);
    cr_assert_eq(ch.persist, -1);
    cr_assert_eq(mh_presence_subs(p, "d1"), MH_SUB_DESIRED);
    ch = mh_presence_unsubscribed(p, "d1", 2, MH_SUB_DESIRED);
    cr_assert_eq(ch.persist, 0);
}

Test(presence, clean_connect_drops_kept_subscriptions_succeeds)
{
    mh_presence_connected(p, "d1", 1, 0, 0);
    mh_presence_subscribed(p, "d1", 1, MH_SUB_METHODS);
    mh_presence_change ch = mh_presence_connected(p, "d1", 2, 1, 0);
    cr_assert_eq(ch.persist, 0, "the stored session must be cleared");
    cr_assert_not(ch.methods_online);
    cr_assert_eq(mh_presence_subs(p, "d1"), 0);
}

Test(presence, stored_session_after_restart_succeeds)
{
    /* a daemon restart: the broker restored the session; the store knows its subscriptions */
    mh_presence_change ch = mh_presence_connected(p, "d1", 1, 0, MH_SUB_METHODS | MH_SUB_DESIRED);
    cr_assert(ch.methods_online);
    cr_assert_eq(mh_presence_subs(p, "d1"), MH_SUB_METHODS | MH_SUB_DESIRED);
    /* read once only: a later connect does not take stored_subs again */
    mh_presence_disconnected(p, "d1", 1);
    mh_presence_connected(p, "d1", 2, 0, 0);
    cr_assert_eq(mh_presence_subs(p, "d1"), MH_SUB_METHODS | MH_SUB_DESIRED);
}

Test(presence, forget_connected_device_succeeds)
{
    mh_presence_connected(p, "d1", 1, 0, 0);
    mh_presence_connected(p, "d2", 2, 1, 0);
    mh_presence_forget(p, "d1");
    cr_assert_eq(mh_presence_connected_count(p), 1);
    cr_assert(mh_presence_needs_session(p, "d1"));
    mh_presence_forget(p, "nobody");
    cr_assert_eq(mh_presence_connected_count(p), 1);
}

Test(presence, touch_once_a_second_succeeds)
{
    mh_presence_connected(p, "d1", 1, 1, 0);
    cr_assert(mh_presence_touch(p, "d1", 100));
    cr_assert_not(mh_presence_touch(p, "d1", 100));
    cr_assert(mh_presence_touch(p, "d1", 101));
    cr_assert(mh_presence_touch(p, "unknown", 101), "unknown devices are always written");
}

Test(presence, many_devices_counted_succeeds)
{
    char id[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "dev-%d", i);
        mh_presence_connected(p, id, (uint64_t)i + 1, 1, 0);
    }
    cr_assert_eq(mh_presence_connected_count(p), 20000);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(id, sizeof id, "dev-%d", i);
        mh_presence_disconnected(p, id, (uint64_t)i + 1);
    }
    cr_assert_eq(mh_presence_connected_count(p), 10000);
}

Test(presence, mh_presence_clear_returns_connected_and_forgets_all_succeeds)
{
    char(*ids)[MH_IDENTITY_MAX + 1] = NULL;
    mh_presence_connected(p, "d1", 1, 1, 0);
    mh_presence_connected(p, "d2", 2, 0, 0);
    mh_presence_subscribed(p, "d2", 2, MH_SUB_METHODS);
    mh_presence_connected(p, "d3", 3, 1, 0);
    mh_presence_disconnected(p, "d3", 3);
    size_t n = mh_presence_clear(p, &ids);
    cr_assert_eq(n, 2, "d3 was no longer connected");
    cr_assert_not_null(ids);
    int seen1 = 0, seen2 = 0;
    for (size_t i = 0; i < n; i++) {
        seen1 += strcmp(ids[i], "d1") == 0;
        seen2 += strcmp(ids[i], "d2") == 0;
    }
    cr_assert(seen1 == 1 && seen2 == 1);
    free(ids);
    cr_assert_eq(mh_presence_connected_count(p), 0);
    cr_assert_eq(mh_presence_subs(p, "d2"), 0);
    cr_assert(mh_presence_needs_session(p, "d2"), "a reconnect reads the kept session again");
    /* the kicked connection's late goodbye changes nothing */
    cr_assert_eq(mh_presence_disconnected(p, "d1", 1).state, -1);
}

Test(presence, mh_presence_clear_empty_succeeds)
{
    char(*ids)[MH_IDENTITY_MAX + 1] = (void *)1;
    cr_assert_eq(mh_presence_clear(p, &ids), 0);
    cr_assert_null(ids);
}

Test(presence, reset_disconnects_all_keeps_kept_sessions_succeeds)
{
    mh_presence_connected(p, "kept", 5, 0, 0);
    mh_presence_subscribed(p, "kept", 5, MH_SUB_METHODS);
    mh_presence_connected(p, "clean", 6, 1, 0);
    mh_presence_subscribed(p, "clean", 6, MH_SUB_DESIRED);
    mh_presence_connected(p, "gone", 7, 0, 0);
    mh_presence_disconnected(p, "gone", 7);
    cr_assert_eq(mh_presence_reset(p), 2);
    cr_assert_eq(mh_presence_connected_count(p), 0);
    cr_assert_eq(mh_presence_subs(p, "kept"), 0, "not connected: no subscriptions in effect");
    /* a new broker numbers connections from 1 again; the kept session resumes its subscriptions */
    mh_presence_change ch = mh_presence_connected(p, "kept", 1, 0, 0);
    cr_assert_eq(ch.state, 1);
    cr_assert(ch.methods_online);
    cr_assert_eq(mh_presence_subs(p, "kept"), MH_SUB_METHODS);
    /* a clean session ended with the broker */
    mh_presence_connected(p, "clean", 2, 0, 0);
    cr_assert_eq(mh_presence_subs(p, "clean"), 0);
    cr_assert_eq(mh_presence_connected_count(p), 2);
}

Test(presence, reset_empty_table_succeeds)
{
    cr_assert_eq(mh_presence_reset(p), 0);
    cr_assert_eq(mh_presence_connected_count(p), 0);
}
