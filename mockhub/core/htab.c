/* htab.c - the generic hash table of htab.h: open addressing, linear probing, deleted slots marked
 * (so removal during iteration moves nothing) and dropped at the next rebuild. Rebuilds keep the
 * load at most 3/4 and leave it at most 1/2, so a probe is short on average.
 */
#include "htab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 8u

typedef struct slot {
    const void *key; /* NULL: empty; &deleted: a removed entry (probes go on past it) */
    void *value;
    size_t hash;
} slot;

struct mh_htab {
    slot *slots;
    size_t cap; /* a power of two, or 0 before the first put */
    size_t count;
    size_t deleted; /* slots marked deleted */
    size_t max_entries;
    mh_htab_hash_fn hash;
    mh_htab_eq_fn eq;
};

static const char deleted;
#define DELETED ((const void *)&deleted)

size_t mh_htab_hash_str(const void *key)
{
    const unsigned char *s = key;
    uint64_t h = 1469598103934665603u; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ *s) * 1099511628211u;
    return (size_t)h;
}

int mh_htab_eq_str(const void *a, const void *b)
{
    return strcmp(a, b) == 0;
}

size_t mh_htab_hash_ptr(const void *key)
{
    uint64_t p = (uint64_t)(uintptr_t)key;

    /* allocator addresses share their low bits: mix before the table masks them */
    p ^= p >> 33;
    p *= 0xff51afd7ed558ccdu;
    p ^= p >> 33;
    return (size_t)p;
}

int mh_htab_eq_ptr(const void *a, const void *b)
{
    return a == b;
}

mh_err mh_htab_new(size_t max_entries, mh_htab_hash_fn hash, mh_htab_eq_fn eq, mh_htab **out)
{
    mh_htab *t;

    if (max_entries == 0 || (hash == NULL) != (eq == NULL) || out == NULL)
        return MH_ERR_ARGUMENT_INVALID;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return MH_ERR_NOMEM;
    t->max_entries = max_entries;
    t->hash = hash ? hash : mh_htab_hash_str;
    t->eq = eq ? eq : mh_htab_eq_str;
    *out = t;
    return MH_OK;
}

void mh_htab_free(mh_htab *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t);
}

/* Index of key's live slot, or SIZE_MAX. */
static size_t find(const mh_htab *t, const void *key, size_t h)
{
    size_t mask = t->cap - 1, i;

    if (t->cap == 0)
        return SIZE_MAX;
    for (i = h & mask;; i = (i + 1) & mask) {
        const slot *s = &t->slots[i];
        if (s->key == NULL)
            return SIZE_MAX;
        if (s->key != DELETED && s->hash == h && t->eq(s->key, key))
            return i;
    }
}

/* Rebuilds the slot array for count + 1 entries at load <= 1/2, dropping deleted marks. */
static mh_err rebuild(mh_htab *t)
{
    size_t cap = MIN_SLOTS, i;
    slot *slots;

    while ((t->count + 1) * 2 > cap) {
        if (cap > SIZE_MAX / 4 / sizeof *slots)
            return MH_ERR_NOMEM;
        cap *= 2;
    }
    slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return MH_ERR_NOMEM;
    for (i = 0; i < t->cap; i++) {
        const slot *s = &t->slots[i];
        size_t j;
        if (s->key == NULL || s->key == DELETED)
            continue;
        for (j = s->hash & (cap - 1); slots[j].key != NULL; j = (j + 1) & (cap - 1))
            ;
        slots[j] = *s;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->deleted = 0;
    return MH_OK;
}

void *mh_htab_get(const mh_htab *t, const void *key)
{
    size_t i;

    if (t == NULL || key == NULL)
        return NULL;
    i = find(t, key, t->hash(key));
    return i == SIZE_MAX ? NULL : t->slots[i].value;
}

mh_err mh_htab_put(mh_htab *t, const void *key, void *value)
{
    size_t h, i, mask;
    mh_err err;

    if (t == NULL || key == NULL || value == NULL)
        return MH_ERR_ARGUMENT_INVALID;
    h = t->hash(key);
    i = find(t, key, h);
    if (i != SIZE_MAX) {
        t->slots[i].key = key;
        t->slots[i].value = value;
        return MH_OK;
    }
    if (t->count >= t->max_entries)
        return MH_ERR_TOO_LARGE;
    /* Keep at least a quarter of the slots empty, so every probe ends at an empty one. */
    if ((t->count + t->deleted + 1) * 4 > t->cap * 3) {
        err = rebuild(t);
        if (err != MH_OK)
            return err;
    }
    mask = t->cap - 1;
    for (i = h & mask; t->slots[i].key != NULL && t->slots[i].key != DELETED; i = (i + 1) & mask)
        ;
    if (t->slots[i].key == DELETED)
        t->deleted--;
    t->slots[i].key = key;
    t->slots[i].value = value;
    t->slots[i].hash = h;
    t->count++;
    return MH_OK;
}

void *mh_htab_remove(mh_htab *t, const void *key)
{
    size_t i;
    void *value;

    if (t == NULL || key == NULL)
        return NULL;
    i = find(t, key, t->hash(key));
    if (i == SIZE_MAX)
        return NULL;
    value = t->slots[i].value;
    /* A slot followed by an empty one ends every probe through it: it can become empty too. */
    if (t->slots[(i + 1) & (t->cap - 1)].key == NULL) {
        t->slots[i].key = NULL;
    } else {
        t->slots[i].key = DELETED;
        t->deleted++;
    }
    t->slots[i].value = NULL;
    t->count--;
    return value;
}

size_t mh_htab_count(const mh_htab *t)
{
    return t ? t->count : 0;
}

int mh_htab_next(const mh_htab *t, size_t *cursor, const void **out_key, void **out_value)
{
    size_t i;

    if (t == NULL || cursor == NULL)
        return 0;
    for (i = *cursor; i < t->cap; i++) {
        const slot *s = &t->slots[i];
        if (s->key == NULL || s->key == DELETED)
            continue;
        if (out_key)
            *out_key = s->key;
        if (out_value)
            *out_value = s->value;
        *cursor = i + 1;
        return 1;
    }
    *cursor = t->cap;
    return 0;
}
