/* htab.h - one small generic hash table for the hub and the plugin: borrowed keys (NUL-terminated
 * strings by default, or anything with a caller-given hash and compare) mapped to non-NULL values.
 * Open addressing with linear probing; grows (and sheds deleted slots) as needed; capped by a
 * maximum entry count. Not thread-safe: callers that share a table lock around it.
 */
#ifndef MH_HTAB_H
#define MH_HTAB_H

#include <stddef.h>

#include "errors.h"

typedef struct mh_htab mh_htab;

/* Hash of a key, and equality of two keys (non-zero when equal). Keys are never NULL. */
typedef size_t (*mh_htab_hash_fn)(const void *key);
typedef int (*mh_htab_eq_fn)(const void *a, const void *b);

/* Ready-made key kinds: NUL-terminated strings (the default) and pointers compared by address
 * (the key is the pointer itself, e.g. a broker client, never dereferenced). */
size_t mh_htab_hash_str(const void *key);
int mh_htab_eq_str(const void *a, const void *b);
size_t mh_htab_hash_ptr(const void *key);
int mh_htab_eq_ptr(const void *a, const void *b);

/* Makes an empty table holding at most max_entries entries (> 0). hash and eq both NULL mean
 * string keys (mh_htab_hash_str, mh_htab_eq_str); otherwise both must be given.
 * Errors: MH_ERR_ARGUMENT_INVALID (max_entries 0, only one of hash/eq), MH_ERR_NOMEM.
 * *out is written only on MH_OK; free it with mh_htab_free. */
mh_err mh_htab_new(size_t max_entries, mh_htab_hash_fn hash, mh_htab_eq_fn eq, mh_htab **out) MH_WARN_UNUSED;

/* Frees the table, not the keys or values (iterate first to free those). NULL is a no-op. */
void mh_htab_free(mh_htab *t);

/* The value stored under key, or NULL when absent. O(1) on average. */
void *mh_htab_get(const mh_htab *t, const void *key);

/* Stores value (not NULL) under key. The key is borrowed, not copied: it must stay valid and
 * unchanged while the entry is in the table (usually it points into the value). When key is
 * already present, both the stored key pointer and the value are replaced (the old value is not
 * freed; get it first if it must be). Errors: MH_ERR_ARGUMENT_INVALID (NULL key or value),
 * MH_ERR_TOO_LARGE (a new key while the table holds max_entries), MH_ERR_NOMEM (growing failed);
 * the table is unchanged on error. */
mh_err mh_htab_put(mh_htab *t, const void *key, void *value) MH_WARN_UNUSED;

/* Removes key's entry and returns its value (for the caller to free), or NULL when absent. */
void *mh_htab_remove(mh_htab *t, const void *key);

/* Number of entries. */
size_t mh_htab_count(const mh_htab *t);

/* Iteration: start with *cursor = 0 and call until it returns 0; each call that returns 1 gives
 * one entry in *out_key and *out_value (either may be NULL). Order is unspecified. Removing
 * entries (the current one or others) during an iteration is allowed; putting is not. */
int mh_htab_next(const mh_htab *t, size_t *cursor, const void **out_key, void **out_value);

#endif
