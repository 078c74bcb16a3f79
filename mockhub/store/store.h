/* store.h - the hub's state in SQLite: device registry, twins, access policies, sessions, telemetry.
 * An umbrella over one header per concern (devices.h, twins.h, policies.h, sessions.h, telemetry.h);
 * users include this one.
 *
 * The only module that talks to SQLite. One file (WAL journal, synchronous=NORMAL: a change whose
 * call returned MH_OK survives a crash of the process), or ":memory:" for unit tests. Every public
 * call is atomic (one transaction) and thread-safe (an internal mutex), so the HTTP threads and the
 * broker-link thread may share one mh_store. The plugin reads the same file through keys.h alone.
 *
 * Documents cross this interface as cJSON in IoT Hub's REST shapes (api-version 2021-04-12):
 * see shared/reference/iothub-protocol.md 5.3-5.4 and the addendum 1-3. Returned cJSON trees and
 * strings are owned by the caller (cJSON_Delete / free). Inputs are borrowed for the call only.
 */
#ifndef MH_STORE_H
#define MH_STORE_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "errors.h"
#include "identity.h"

#include "c2d_queue.h"
#include "devices.h"
#include "modules.h"
#include "eventlog.h"
#include "policies.h"
#include "sessions.h"
#include "telemetry.h"
#include "twins.h"

typedef struct mh_store mh_store;

enum {
    MH_STORE_READONLY = 1u << 0, /* no schema creation, no writes (the broker plugin uses keys.h) */
};

/* Opens (creating when needed, unless READONLY) the database at path. */
mh_err mh_store_open(const char *path, unsigned flags, mh_store **out_store) MH_WARN_UNUSED;
void mh_store_free(mh_store *store); /* NULL is a no-op */

/* ---- query (implemented in store_query.c) ---- */

/* Runs a compiled twin query (mockhub/query/sqlgen.h). sql is one SELECT over `devices`; params is
 * a JSON array bound as ?1..?n (strings as text, integral numbers as integers, other numbers as
 * reals, booleans as 1/0, null as NULL). Each result row goes to on_row, in order, as cJSON that
 * on_row owns: when the first column is named "__twin_id" the row is the device's full twin (as
 * mh_store_twin_get renders it, from MH_TWIN_COLUMNS in columns 1..); otherwise an object with one
 * member per column (names starting "__" hold plain SQL values; the others hold JSON text, or a
 * number; NULL columns are left out). on_row returns nonzero to stop early.
 * Errors: MH_ERR_QUERY when evaluation fails on the data (e.g. integer overflow in SUM),
 * MH_ERR_INTERNAL (SQL the compiler should not have produced), MH_ERR_NOMEM. */
typedef int (*mh_store_row_cb)(void *ctx, cJSON *row);
mh_err mh_store_query_run(mh_store *store, const char *sql, const cJSON *params, mh_store_row_cb on_row,
                          void *ctx, mh_status *st) MH_WARN_UNUSED;

#endif
