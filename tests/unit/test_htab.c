/* Unit tests for core/htab.c: the generic hash table (string and pointer keys, growth, removal,
 * the entry cap, iteration with removal). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

static mh_htab *new_table(size_t max, mh_htab_hash_fn hash, mh_htab_eq_fn eq)
{
    mh_htab *t = NULL;

    cr_assert_eq(mh_htab_new(max, hash, eq, &t), MH_OK);
    cr_assert_not_null(t);
    return t;
}

/* A hash that sends every key to the same slot: probing and removal under full collision. */
static size_t hash_same(const void *key)
{
    (void)key;
    return 7;
}

Test(htab, mh_htab_new_bad_arguments_fails)
{
    mh_htab *t = (mh_htab *)&t;

    cr_assert_eq(mh_htab_new(0, NULL, NULL, &t), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_htab_new(10, mh_htab_hash_ptr, NULL, &t), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_htab_new(10, NULL, mh_htab_eq_ptr, &t), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(t, (mh_htab *)&t, "out written on error");
    mh_htab_free(NULL);
}

Test(htab, mh_htab_put_get_string_keys_succeeds)
{
    mh_htab *t = new_table(100, NULL, NULL);
    char key[] = "dev1";
    int a = 1, b = 2;

    cr_assert_null(mh_htab_get(t, "dev1"));
    cr_assert_eq(mh_htab_put(t, key, &a), MH_OK);
    cr_assert_eq(mh_htab_put(t, "dev2", &b), MH_OK);
    /* found by content, not by address */
    cr_assert_eq(mh_htab_get(t, "dev1"), &a);
    cr_assert_eq(mh_htab_get(t, "dev2"), &b);
    cr_assert_null(mh_htab_get(t, "dev3"));
    cr_assert_null(mh_htab_get(t, "Dev1"), "keys are case-sensitive");
    cr_assert_eq(mh_htab_count(t), 2);
    mh_htab_free(t);
}

Test(htab, mh_htab_put_existing_key_replaces_value_and_key_succeeds)
{
    mh_htab *t = new_table(100, NULL, NULL);
    char k1[] = "dev1", k2[] = "dev1";
    int a = 1, b = 2;
    const void *key = NULL;
    size_t cur = 0;

    cr_assert_eq(mh_htab_put(t, k1, &a), MH_OK);
    cr_assert_eq(mh_htab_put(t, k2, &b), MH_OK);
    cr_assert_eq(mh_htab_count(t), 1);
    cr_assert_eq(mh_htab_get(t, "dev1"), &b);
    cr_assert_eq(mh_htab_next(t, &cur, &key, NULL), 1);
    cr_assert_eq(key, k2, "the stored key pointer is the new one");
    mh_htab_free(t);
}

Test(htab, mh_htab_put_null_key_or_value_fails)
{
    mh_htab *t = new_table(100, NULL, NULL);
    int a = 1;

    cr_assert_eq(mh_htab_put(t, NULL, &a), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_htab_put(t, "x", NULL), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_htab_count(t), 0);
    mh_htab_free(t);
}

Test(htab, mh_htab_put_over_max_entries_fails)
{
    mh_htab *t = new_table(3, NULL, NULL);
    int v[4];

    cr_assert_eq(mh_htab_put(t, "a", &v[0]), MH_OK);
    cr_assert_eq(mh_htab_put(t, "b", &v[1]), MH_OK);
    cr_assert_eq(mh_htab_put(t, "c", &v[2]), MH_OK);
    cr_assert_eq(mh_htab_put(t, "d", &v[3]), MH_ERR_TOO_LARGE);
    cr_assert_null(mh_htab_get(t, "d"));
    /* replacing an existing key is not a new entry */
    cr_assert_eq(mh_htab_put(t, "a", &v[3]), MH_OK);
    /* after a removal there is room again */
    cr_assert_eq(mh_htab_remove(t, "b"), &v[1]);
    cr_assert_eq(mh_htab_put(t, "d", &v[3]), MH_OK);
    cr_assert_eq(mh_htab_count(t), 3);
    mh_htab_free(t);
}

Test(htab, mh_htab_remove_returns_value_succeeds)
{
    mh_htab *t = new_table(100, NULL, NULL);
    int a = 1;

    cr_assert_eq(mh_htab_put(t, "dev1", &a), MH_OK);
    cr_assert_eq(mh_htab_remove(t, "dev1"), &a);
    cr_assert_null(mh_htab_remove(t, "dev1"), "second removal finds nothing");
    cr_assert_null(mh_htab_get(t, "dev1"));
    cr_assert_eq(mh_htab_count(t), 0);
    cr_assert_null(mh_htab_remove(t, "never"));
    mh_htab_free(t);
}

Test(htab, mh_htab_put_many_grows_and_finds_all_succeeds)
{
    enum { N = 20000 };
    static char keys[N][16];
    mh_htab *t = new_table(N, NULL, NULL);
    size_t i;

    for (i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "device-%zu", i);
        cr_assert_eq(mh_htab_put(t, keys[i], keys[i]), MH_OK);
    }
    cr_assert_eq(mh_htab_count(t), N);
    for (i = 0; i < N; i++)
        cr_assert_eq(mh_htab_get(t, keys[i]), keys[i], "%s", keys[i]);
    /* remove the even ones, the odd ones stay reachable past the removed slots */
    for (i = 0; i < N; i += 2)
        cr_assert_eq(mh_htab_remove(t, keys[i]), keys[i]);
    for (i = 0; i < N; i++) {
        if (i % 2)
            cr_assert_eq(mh_htab_get(t, keys[i]), keys[i], "%s", keys[i]);
        else
            cr_assert_null(mh_htab_get(t, keys[i]), "%s", keys[i]);
    }
    cr_assert_eq(mh_htab_count(t), N / 2);
    mh_htab_free(t);
}

Test(htab, mh_htab_churn_reuses_removed_slots_succeeds)
{
    /* insert/remove cycles over a few live keys must not fill the table with removed marks */
    mh_htab *t = new_table(4, NULL, NULL);
    char keys[1000][8];
    size_t i;

    for (i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        cr_assert_eq(mh_htab_put(t, keys[i], keys[i]), MH_OK);
        if (i >= 3)
            cr_assert_eq(mh_htab_remove(t, keys[i - 3]), keys[i - 3]);
    }
    cr_assert_eq(mh_htab_count(t), 3);
    cr_assert_eq(mh_htab_get(t, "k999"), keys[999]);
    cr_assert_eq(mh_htab_get(t, "k997"), keys[997]);
    cr_assert_null(mh_htab_get(t, "k996"));
    mh_htab_free(t);
}

Test(htab, mh_htab_full_collisions_probe_past_removed_succeeds)
{
    mh_htab *t = new_table(100, hash_same, mh_htab_eq_str);
    int v[5];

    cr_assert_eq(mh_htab_put(t, "a", &v[0]), MH_OK);
    cr_assert_eq(mh_htab_put(t, "b", &v[1]), MH_OK);
    cr_assert_eq(mh_htab_put(t, "c", &v[2]), MH_OK);
    cr_assert_eq(mh_htab_remove(t, "b"), &v[1]);
    cr_assert_eq(mh_htab_get(t, "c"), &v[2], "found past the removed slot");
    cr_assert_eq(mh_htab_put(t, "c", &v[3]), MH_OK);
    cr_assert_eq(mh_htab_count(t), 2, "a replaced key is not inserted twice");
    cr_assert_eq(mh_htab_put(t, "d", &v[4]), MH_OK);
    cr_assert_eq(mh_htab_get(t, "a"), &v[0]);
    cr_assert_eq(mh_htab_get(t, "c"), &v[3]);
    cr_assert_eq(mh_htab_get(t, "d"), &v[4]);
    mh_htab_free(t);
}

Test(htab, mh_htab_pointer_keys_compare_by_address_succeeds)
{
    mh_htab *t = new_table(100, mh_htab_hash_ptr, mh_htab_eq_ptr);
    char a[] = "same", b[] = "same", va[] = "A", vb[] = "B";

    cr_assert_eq(mh_htab_put(t, a, va), MH_OK);
    cr_assert_eq(mh_htab_put(t, b, vb), MH_OK);
    cr_assert_eq(mh_htab_count(t), 2, "equal strings at different addresses are different keys");
    cr_assert_str_eq(mh_htab_get(t, a), "A");
    cr_assert_str_eq(mh_htab_get(t, b), "B");
    mh_htab_free(t);
}

Test(htab, mh_htab_next_visits_each_entry_once_while_removing_succeeds)
{
    enum { N = 500 };
    static char keys[N][8];
    static int seen[N];
    mh_htab *t = new_table(N, NULL, NULL);
    const void *key;
    void *value;
    size_t i, cur = 0, visits = 0;

    for (i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "%zu", i);
        cr_assert_eq(mh_htab_put(t, keys[i], &seen[i]), MH_OK);
    }
    while (mh_htab_next(t, &cur, &key, &value)) {
        int *s = value;
        cr_assert_eq(mh_htab_get(t, key), value);
        (*s)++;
        visits++;
        /* removing the current entry does not disturb the walk */
        if (atoi(key) % 3 == 0)
            cr_assert_eq(mh_htab_remove(t, key), value);
    }
    cr_assert_eq(visits, N);
    for (i = 0; i < N; i++)
        cr_assert_eq(seen[i], 1, "entry %zu seen %d times", i, seen[i]);
    cr_assert_eq(mh_htab_count(t), N - (N + 2) / 3);
    cur = 0;
    cr_assert_eq(mh_htab_next(NULL, &cur, NULL, NULL), 0);
    mh_htab_free(t);
}

Test(htab, mh_htab_next_empty_table_fails)
{
    mh_htab *t = new_table(10, NULL, NULL);
    size_t cur = 0;
    int v = 1;

    cr_assert_eq(mh_htab_next(t, &cur, NULL, NULL), 0);
    cr_assert_eq(mh_htab_put(t, "x", &v), MH_OK);
    cr_assert_null(mh_htab_remove(t, "y"));
    cr_assert_eq(mh_htab_next(t, &cur, NULL, NULL), 1);
    cr_assert_eq(mh_htab_next(t, &cur, NULL, NULL), 0);
    mh_htab_free(t);
}
