/* seeding.c - MOCK: a seed document into the store (see seeding.h), through the registry and twin calls
 * the REST API uses, plus a policy insert of its own. The real hub has no seed.
 */
#include "seeding.h"

#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_internal.h"

static const char *text_of(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Sets obj[name] to the string s (replacing any value). 0 when out of memory. */
static int set_text(cJSON *obj, const char *name, const char *s)
{
    cJSON *v = cJSON_CreateString(s);
    if (v == NULL)
        return 0;
    if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v) ? 1 : (cJSON_Delete(v), 0);
    return cJSON_AddItemToObject(obj, name, v) ? 1 : (cJSON_Delete(v), 0);
}

/* The REST Device body for a seeded device. */
static cJSON *device_body(const cJSON *d)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *auth = cJSON_AddObjectToObject(body, "authentication");
    cJSON *keys = cJSON_AddObjectToObject(auth, "symmetricKey");
    cJSON *caps = cJSON_AddObjectToObject(body, "capabilities");
    const char *status = text_of(d, "status");
    const cJSON *edge = cJSON_GetObjectItemCaseSensitive(d, "edgeEnabled");
    if (keys == NULL || caps == NULL) {
        cJSON_Delete(body);
        return NULL;
    }
    cJSON_AddStringToObject(body, "deviceId", text_of(d, "deviceId"));
    cJSON_AddStringToObject(body, "status", status ? status : "enabled");
    cJSON_AddStringToObject(auth, "type", "sas");
    cJSON_AddStringToObject(keys, "primaryKey", text_of(d, "primaryKey") ? text_of(d, "primaryKey") : "");
    cJSON_AddStringToObject(keys, "secondaryKey",
                            text_of(d, "secondaryKey") ? text_of(d, "secondaryKey") : "");
    cJSON_AddBoolToObject(caps, "iotEdge", cJSON_IsTrue(edge));
    return body;
}

static mh_err seed_device(mh_store *store, cJSON *d, int *created, mh_status *st)
{
    mh_err err = MH_OK;
    cJSON *body = NULL, *out = NULL, *patch = NULL, *twin = NULL, *push = NULL;
    const char *id = text_of(d, "deviceId");
    mh_device_auth auth;
    if (id == NULL)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "a seeded device has no deviceId");
    err = mh_store_device_auth(store, id, &auth);
    if (err == MH_ERR_DEVICE_NOT_FOUND) {
        body = device_body(d);
        if (body == NULL) {
            err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
            goto done;
        }
        err = mh_store_device_create(store, id, body, &out, st);
        if (err != MH_OK)
            goto done;
        (*created)++;
        const cJSON *tags = cJSON_GetObjectItemCaseSensitive(d, "tags");
        const cJSON *desired = cJSON_GetObjectItemCaseSensitive(d, "desired");
        if (tags != NULL || desired != NULL) {
            patch = cJSON_CreateObject();
            if (patch == NULL || (tags && !cJSON_AddItemToObject(patch, "tags", cJSON_Duplicate(tags, 1)))) {
                err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
                goto done;
            }
            if (desired) {
                cJSON *props = cJSON_AddObjectToObject(patch, "properties");
                if (props == NULL || !cJSON_AddItemToObject(props, "desired", cJSON_Duplicate(desired, 1))) {
                    err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
                    goto done;
                }
            }
            long version = 0;
            err = mh_store_twin_update(store, id, patch, NULL, 0, &twin, &push, &version, st);
            if (err != MH_OK)
                goto done;
        }
        err = mh_store_device_auth(store, id, &auth);
    }
    if (err != MH_OK) {
        if (st && st->text[0] == '\0')
            mh_fail(st, err, "cannot read seeded device %s", id);
        goto done;
    }
    if (!set_text(d, "primaryKey", auth.primary_key) || !set_text(d, "secondaryKey", auth.secondary_key))
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
done:
    if (err != MH_OK && st && strstr(st->text, id) == NULL) {
        char text[sizeof st->text];
        memcpy(text, st->text, sizeof text);
        snprintf(st->text, sizeof st->text, "seeded device %.128s: %.300s", id, text);
    }
    cJSON_Delete(body);
    cJSON_Delete(out);
    cJSON_Delete(patch);
    cJSON_Delete(twin);
    cJSON_Delete(push);
    return err;
}

static unsigned rights_of(const cJSON *p)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"RegistryRead", MH_RIGHT_REGISTRY_READ},
                 {"RegistryWrite", MH_RIGHT_REGISTRY_WRITE},
                 {"ServiceConnect", MH_RIGHT_SERVICE_CONNECT},
                 {"DeviceConnect", MH_RIGHT_DEVICE_CONNECT}};
    unsigned rights = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(p, "rights"))
    {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (cJSON_IsString(r) && strcmp(r->valuestring, names[i].name) == 0)
                rights |= names[i].bit;
    }
    return rights;
}

static mh_err seed_policy(mh_store *store, cJSON *p, mh_status *st)
{
    const char *name = text_of(p, "name");
    mh_policy pol;
    mh_err err = mh_store_policy_get(store, name, &pol);
    if (err == MH_ERR_NOT_FOUND) {
        char k1[64], k2[64];
        const char *pk = text_of(p, "primaryKey"), *sk = text_of(p, "secondaryKey");
        if ((!pk && !mh_store_key_generate(k1)) || (!sk && !mh_store_key_generate(k2)))
            return mh_fail(st, MH_ERR_INTERNAL, "no random bytes for the keys of policy %s", name);
        mh_store_lock(store);
        sqlite3_stmt *s = mh_db_stmt(store, MH_STMT_POLICY_INSERT);
        if (s == NULL) {
            err = mh_db_fail(store, st, "prepare");
        } else {
            mh_db_bind_text(s, 1, name);
            mh_db_bind_text(s, 2, pk ? pk : k1);
            mh_db_bind_text(s, 3, sk ? sk : k2);
            sqlite3_bind_int(s, 4, (int)rights_of(p));
            err = sqlite3_step(s) == SQLITE_DONE ? MH_OK : mh_db_fail(store, st, "insert policy");
            mh_db_done(s);
        }
        mh_store_unlock(store);
        if (err == MH_OK)
            err = mh_store_policy_get(store, name, &pol);
    }
    if (err != MH_OK)
        return st && st->text[0] ? err : mh_fail(st, err, "cannot read policy %s", name);
    if (!set_text(p, "primaryKey", pol.primary_key) || !set_text(p, "secondaryKey", pol.secondary_key))
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    return MH_OK;
}

mh_err mh_store_seed_apply(mh_store *store, cJSON *seed, int *out_created, mh_status *st)
{
    int created = 0;
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(seed, "policies"))
    {
        mh_err err = seed_policy(store, item, st);
        if (err != MH_OK)
            return err;
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(seed, "devices"))
    {
        mh_err err = seed_device(store, item, &created, st);
        if (err != MH_OK)
            return err;
    }
    if (out_created)
        *out_created = created;
    return MH_OK;
}
