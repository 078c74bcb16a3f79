/* bulk.c - bulk registry operations (POST /devices): parses the ExportImportDevice array, applies
 * each entry through the registry's public store calls (as the single PUT/DELETE /devices/{id}
 * do), and answers a BulkRegistryOperationResult.
 * https://learn.microsoft.com/rest/api/iothub/service/bulk-registry/update-registry and the
 * ImportMode enum of the .NET service SDK (Microsoft.Azure.Devices.ImportMode) for each mode.
 */
#include "bulk.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hub_internal.h"
#include "identity.h"
#include "replies.h"
#include "twin.h"

static const struct {
    const char *name;
    mh_bulk_mode mode;
} modes[] = {
    {"createOrUpdate", MH_BULK_CREATE_OR_UPDATE},
    {"create", MH_BULK_CREATE},
    {"update", MH_BULK_UPDATE},
    {"updateIfMatchETag", MH_BULK_UPDATE_IF_MATCH},
    {"createOrUpdateIfMatchETag", MH_BULK_CREATE_OR_UPDATE_IF_MATCH},
    {"delete", MH_BULK_DELETE},
    {"deleteIfMatchETag", MH_BULK_DELETE_IF_MATCH},
    {"updateTwin", MH_BULK_UPDATE_TWIN},
    {"updateTwinIfMatchETag", MH_BULK_UPDATE_TWIN_IF_MATCH},
};

int mh_bulk_mode_parse(const char *text, mh_bulk_mode *out)
{
    if (text == NULL)
        return 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcasecmp(text, modes[i].name) == 0) {
            *out = modes[i].mode;
            return 1;
        }
    return 0;
}

void mh_bulk_request_cleanup(mh_bulk_request *req)
{
    if (req == NULL)
        return;
    cJSON_Delete(req->doc);
    cJSON_Delete(req->twins);
    free(req->ops);
    memset(req, 0, sizeof *req);
}

/* Optional string member: absent or null -> 1 with *out NULL; a string -> 1; anything else 0.
 * MOCK: ExportImportDevice member names are matched without case ("etag" as "eTag"): Node's
 * Registry.updateDevices sends a device's own "etag" member, and the hub's .NET deserialiser is
 * assumed to match names as Json.NET does by default (not captured). */
static int opt_str(const cJSON *obj, const char *name, const char **out)
{
    const cJSON *v = cJSON_GetObjectItem(obj, name);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 1;
    if (!cJSON_IsString(v))
        return 0;
    *out = v->valuestring;
    return 1;
}

/* The twin sections of an entry as a service PATCH body ({"tags":..,"properties":{"desired":..}}),
 * added to owner; *out NULL when the entry has neither. Reported properties are read-only for the
 * service and ignored, as a twin PATCH ignores them. */
static mh_err twin_patch_of(const cJSON *entry, cJSON *owner, const cJSON **out, mh_status *st)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(entry, "tags");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(entry, "properties");
    const cJSON *desired = NULL;
    *out = NULL;
    if (tags != NULL && cJSON_IsNull(tags))
        tags = NULL;
    if (props != NULL && !cJSON_IsNull(props)) {
        if (!cJSON_IsObject(props))
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "properties must be a JSON object");
        desired = cJSON_GetObjectItemCaseSensitive(props, "desired");
        if (desired != NULL && cJSON_IsNull(desired))
            desired = NULL;
    }
    if (tags == NULL && desired == NULL)
        return MH_OK;
    cJSON *patch = cJSON_CreateObject();
    cJSON *p = NULL;
    if (patch == NULL || !cJSON_AddItemToArray(owner, patch))
        goto nomem;
    if (tags != NULL && !cJSON_AddItemToObject(patch, "tags", cJSON_Duplicate(tags, 1)))
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    if (desired != NULL) {
        p = cJSON_AddObjectToObject(patch, "properties");
        if (p == NULL || !cJSON_AddItemToObject(p, "desired", cJSON_Duplicate(desired, 1)))
            return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    }
    *out = patch;
    return MH_OK;
nomem:
    cJSON_Delete(patch);
    return mh_fail(st, MH_ERR_NOMEM, "out of memory");
}

static mh_err parse_entry(const cJSON *entry, int index, mh_bulk_op *op, cJSON *twins, mh_status *st)
{
    const char *mode_text = NULL, *module = NULL;
    if (!cJSON_IsObject(entry))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Entry %d of the device list is not a JSON object",
                       index);
    const cJSON *id = cJSON_GetObjectItem(entry, "id");
    if (!cJSON_IsString(id))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Entry %d of the device list has no device id (\"id\")",
                       index);
    op->entry = entry;
    op->id = id->valuestring;
    if (!opt_str(entry, "importMode", &mode_text))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "importMode of device '%.128s' must be a string", op->id);
    op->mode = MH_BULK_CREATE_OR_UPDATE;
    if (mode_text != NULL && !mh_bulk_mode_parse(mode_text, &op->mode))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "importMode '%.64s' of device '%.128s' is not one of create, createOrUpdate, "
                       "createOrUpdateIfMatchETag, update, updateIfMatchETag, delete, deleteIfMatchETag, "
                       "updateTwin, updateTwinIfMatchETag",
                       mode_text, op->id);
    if (!opt_str(entry, "eTag", &op->etag) || !opt_str(entry, "twinETag", &op->twin_etag))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "eTag and twinETag of device '%.128s' must be strings",
                       op->id);
    if (!opt_str(entry, "moduleId", &module))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "moduleId of device '%.128s' must be a string", op->id);
    op->module = module != NULL && module[0] != '\0' ? module : NULL;
    return twin_patch_of(entry, twins, &op->twin, st);
}

mh_err mh_bulk_parse(const char *body, size_t len, mh_bulk_request *out, mh_status *st)
{
    mh_bulk_request r = {0};
    const char *p = body, *end = NULL;
    mh_err err = MH_OK;

    while (p < body + len && isspace((unsigned char)*p))
        p++;
    if (p == body + len)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest: the request body is empty");
    /* MOCK: as for single devices, \u0000 is refused rather than stored shorter (routes.c body_json) */
    if (mh_json_has_nul_escape(body, len))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "JSON strings may not contain the NUL character (\\u0000)");
    r.doc = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (r.doc != NULL) {
        while (end < body + len && isspace((unsigned char)*end))
            end++;
        if (end != body + len) {
            cJSON_Delete(r.doc);
            r.doc = NULL;
        }
    }
    if (r.doc == NULL)
        return mh_fail(st, MH_ERR_FORMAT, "The request body is not valid JSON");
    if (cJSON_IsNull(r.doc)) {
        err = mh_fail(st, MH_ERR_ARGUMENT_NULL, "BadRequest: the request body is null");
        goto fail;
    }
    if (!cJSON_IsArray(r.doc)) {
        err = mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                      "The request body must be a JSON array of ExportImportDevice");
        goto fail;
    }
    r.n = cJSON_GetArraySize(r.doc);
    if (r.n == 0) {
        err = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The device list is empty");
        goto fail;
    }
    /* AZURE: the .NET service SDK maps the hub's 413 on this call to TooManyDevicesException */
    if (r.n > MH_BULK_MAX) {
        err = mh_fail(st, MH_ERR_TOO_MANY_DEVICES,
                      "Too many devices: %d in one bulk registry operation; the maximum is %d", r.n,
                      MH_BULK_MAX);
        goto fail;
    }
    r.ops = calloc((size_t)r.n, sizeof *r.ops);
    r.twins = cJSON_CreateArray();
    if (r.ops == NULL || r.twins == NULL) {
        err = mh_fail(st, MH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int i = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, r.doc)
    {
        err = parse_entry(entry, i, &r.ops[i], r.twins, st);
        if (err != MH_OK)
            goto fail;
        /* AZURE: "A device identity can be specified only once in the list" (checked before any
         * entry is applied; MOCK: whether the hub refuses the call or only the repeated entry is
         * not documented). At most 100 entries: quadratic is fine. */
        for (int j = 0; j < i; j++)
            if (strcmp(r.ops[j].id, r.ops[i].id) == 0 &&
                (r.ops[j].module == NULL) == (r.ops[i].module == NULL) &&
                (r.ops[i].module == NULL || strcmp(r.ops[j].module, r.ops[i].module) == 0)) {
                err = mh_fail(st, MH_ERR_DEFINED_TWICE,
                              "%s '%.128s%s%.128s' is defined more than once in the list",
                              r.ops[i].module ? "Module" : "Device", r.ops[i].id, r.ops[i].module ? "/" : "",
                              r.ops[i].module ? r.ops[i].module : "");
                goto fail;
            }
        i++;
    }
    *out = r;
    return MH_OK;
fail:
    mh_bulk_request_cleanup(&r);
    return err;
}

/* ---- applying entries ---- */

static mh_err twin_write(const mh_bulk_env *env, const char *id, const cJSON *patch, const char *if_match,
                         mh_status *st)
{
    if (env->twin_write != NULL)
        return env->twin_write(env->ctx, id, patch, if_match, st);
    cJSON *twin = NULL, *push = NULL;
    long version = 0;
    mh_err err = mh_store_twin_update(env->store, id, patch, if_match, 0, &twin, &push, &version, st);
    cJSON_Delete(twin);
    cJSON_Delete(push);
    return err;
}

static void kick(const mh_bulk_env *env, const char *id, int forget)
{
    if (env->kick != NULL)
        env->kick(env->ctx, id, forget);
}

/* An If-Match value for an entry's etag: the IfMatchETag modes need one (an absent etag never
 * matches, MOCK: the hub's answer to a missing eTag is not captured); other modes ignore it. */
static const char *if_match_of(const char *etag, int required, char *buf, size_t size)
{
    if (!required)
        return NULL;
    if (etag == NULL || etag[0] == '\0')
        etag = "\x01"; /* matches no stored etag */
    if (strcmp(etag, "*") == 0)
        return "*";
    snprintf(buf, size, "\"%s\"", etag);
    return buf;
}

/* Creates the device of op (and writes its twin sections). */
static mh_err op_create(const mh_bulk_env *env, const mh_bulk_op *op, mh_status *st)
{
    cJSON *dev = NULL;
    mh_err err = mh_store_device_create(env->store, op->id, op->entry, &dev, st);
    cJSON_Delete(dev);
    /* MOCK: the twin sections are a PATCH after the create, so desired $version is 2 where an
     * import on the hub leaves it at 1 (addendum 1, [R-bulk]). */
    if (err == MH_OK && op->twin != NULL)
        err = twin_write(env, op->id, op->twin, NULL, st);
    return err;
}

static mh_err op_update(const mh_bulk_env *env, const mh_bulk_op *op, int if_match, mh_status *st)
{
    char buf[160];
    cJSON *dev = NULL;
    int now_disabled = 0;
    mh_err err = mh_store_device_update(env->store, op->id, op->entry,
                                        if_match ? if_match_of(op->etag, 1, buf, sizeof buf) : "*", &dev,
                                        &now_disabled, st);
    cJSON_Delete(dev);
    if (err != MH_OK)
        return err;
    if (now_disabled) /* AZURE: the hub closes a disabled device's connection at once (and its modules') */
        kick(env, op->id, 0);
    /* MOCK: twin sections of an update are merged as a twin PATCH (the import documentation says
     * "overwritten"; the difference for absent members is not captured). */
    if (op->twin != NULL)
        err = twin_write(env, op->id, op->twin, NULL, st);
    return err;
}

/* A module entry: the same modes on mh_store_module_*, the twin on the identity "{id}/{module}". */
static mh_err module_apply(const mh_bulk_env *env, const mh_bulk_op *op, mh_status *st)
{
    char identity[MH_IDENTITY_MAX + 1], buf[160];
    cJSON *out = NULL;
    mh_err err = mh_identity_join(identity, sizeof identity, op->id, op->module, st);
    int create = 0, if_match = 0;
    if (err != MH_OK)
        return err;
    switch (op->mode) {
    case MH_BULK_CREATE:
        create = 1;
        break;
    case MH_BULK_CREATE_OR_UPDATE:
    case MH_BULK_CREATE_OR_UPDATE_IF_MATCH:
        err = mh_store_module_get(env->store, op->id, op->module, &out, st);
        cJSON_Delete(out);
        out = NULL;
        if (err != MH_OK && err != MH_ERR_MODULE_NOT_FOUND)
            return err;
        create = err == MH_ERR_MODULE_NOT_FOUND;
        if_match = op->mode == MH_BULK_CREATE_OR_UPDATE_IF_MATCH;
        break;
    case MH_BULK_UPDATE:
        break;
    case MH_BULK_UPDATE_IF_MATCH:
        if_match = 1;
        break;
    case MH_BULK_DELETE:
    case MH_BULK_DELETE_IF_MATCH:
        err = mh_store_module_delete(
            env->store, op->id, op->module,
            if_match_of(op->etag, op->mode == MH_BULK_DELETE_IF_MATCH, buf, sizeof buf), st);
        if (err == MH_OK)
            kick(env, identity, 1); /* AZURE: a deleted identity's connection is closed */
        return err;
    case MH_BULK_UPDATE_TWIN:
    case MH_BULK_UPDATE_TWIN_IF_MATCH:
        if (op->twin == NULL) {
            err = mh_store_module_get(env->store, op->id, op->module, &out, st);
            cJSON_Delete(out);
            return err;
        }
        return twin_write(
            env, identity, op->twin,
            if_match_of(op->twin_etag, op->mode == MH_BULK_UPDATE_TWIN_IF_MATCH, buf, sizeof buf), st);
    }
    if (create)
        err = mh_store_module_create(env->store, op->id, op->module, op->entry, &out, st);
    else
        err = mh_store_module_update(env->store, op->id, op->module, op->entry,
                                     if_match ? if_match_of(op->etag, 1, buf, sizeof buf) : "*", &out, st);
    cJSON_Delete(out);
    if (err == MH_OK && op->twin != NULL) /* MOCK: as for devices, a twin PATCH after the write */
        err = twin_write(env, identity, op->twin, NULL, st);
    return err;
}

static mh_err op_apply(const mh_bulk_env *env, const mh_bulk_op *op, mh_status *st)
{
    char buf[160];
    if (op->module != NULL)
        return module_apply(env, op, st);
    mh_err err = mh_device_id_check(op->id, st);
    if (err != MH_OK)
        return err;
    switch (op->mode) {
    case MH_BULK_CREATE:
        return op_create(env, op, st);
    case MH_BULK_CREATE_OR_UPDATE:
    case MH_BULK_CREATE_OR_UPDATE_IF_MATCH: {
        cJSON *dev = NULL;
        err = mh_store_device_get(env->store, op->id, &dev, st);
        cJSON_Delete(dev);
        if (err == MH_ERR_DEVICE_NOT_FOUND)
            return op_create(env, op, st);
        if (err != MH_OK)
            return err;
        return op_update(env, op, op->mode == MH_BULK_CREATE_OR_UPDATE_IF_MATCH, st);
    }
    case MH_BULK_UPDATE:
        return op_update(env, op, 0, st);
    case MH_BULK_UPDATE_IF_MATCH:
        return op_update(env, op, 1, st);
    case MH_BULK_DELETE:
    case MH_BULK_DELETE_IF_MATCH:
        err = mh_store_device_delete(
            env->store, op->id, if_match_of(op->etag, op->mode == MH_BULK_DELETE_IF_MATCH, buf, sizeof buf),
            st);
        if (err == MH_OK)
            kick(env, op->id, 1); /* its modules go with it */
        return err;
    case MH_BULK_UPDATE_TWIN:
    case MH_BULK_UPDATE_TWIN_IF_MATCH:
        if (op->twin == NULL) { /* nothing to write, but the device must exist */
            cJSON *dev = NULL;
            err = mh_store_device_get(env->store, op->id, &dev, st);
            cJSON_Delete(dev);
            return err;
        }
        return twin_write(
            env, op->id, op->twin,
            if_match_of(op->twin_etag, op->mode == MH_BULK_UPDATE_TWIN_IF_MATCH, buf, sizeof buf), st);
    }
    return mh_fail(st, MH_ERR_INTERNAL, "unknown import mode");
}

cJSON *mh_bulk_apply(const mh_bulk_env *env, const mh_bulk_request *req)
{
    cJSON *result = cJSON_CreateObject();
    cJSON *errors = cJSON_CreateArray();
    cJSON *warnings = cJSON_CreateArray();
    if (result == NULL || errors == NULL || warnings == NULL) {
        cJSON_Delete(errors);
        cJSON_Delete(warnings);
        goto nomem;
    }
    for (int i = 0; i < req->n; i++) {
        mh_status st = {0};
        mh_err err = op_apply(env, &req->ops[i], &st);
        if (err == MH_OK)
            continue;
        /* AZURE: errorCode is the ErrorCode name (DeviceRegistryOperationError in the REST reference) */
        cJSON *e = cJSON_CreateObject();
        if (e == NULL || !cJSON_AddStringToObject(e, "deviceId", req->ops[i].id) ||
            (req->ops[i].module && !cJSON_AddStringToObject(e, "moduleId", req->ops[i].module)) ||
            !cJSON_AddStringToObject(e, "errorCode", mh_err_lookup(err)->name) ||
            !cJSON_AddStringToObject(e, "errorStatus", st.text[0] ? st.text : mh_err_lookup(err)->name) ||
            !cJSON_AddItemToArray(errors, e)) {
            cJSON_Delete(e);
            cJSON_Delete(errors);
            cJSON_Delete(warnings);
            goto nomem;
        }
    }
    if (!cJSON_AddBoolToObject(result, "isSuccessful", cJSON_GetArraySize(errors) == 0)) {
        cJSON_Delete(errors);
        cJSON_Delete(warnings);
        goto nomem;
    }
    cJSON_AddItemToObject(result, "errors", errors);
    cJSON_AddItemToObject(result, "warnings", warnings);
    return result;
nomem:
    cJSON_Delete(result);
    return NULL;
}

/* ---- the route ---- */

static void hub_kick(void *ctx, const char *id, int forget)
{
    mh_hub_kick(ctx, id, forget);
}

static mh_err hub_twin_write(void *ctx, const char *id, const cJSON *patch, const char *if_match,
                             mh_status *st)
{
    cJSON *twin = NULL;
    mh_err err = mh_hub_twin_write(ctx, id, patch, if_match, 0, &twin, st);
    cJSON_Delete(twin);
    return err;
}

void mh_bulk_r_post(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    mh_status st = {0};
    mh_bulk_request br = {0};
    if (req->body_too_large) {
        mh_reply_error(reply, MH_ERR_TOO_LARGE, "Message body is too large");
        return;
    }
    if (mh_bulk_parse(req->body, req->body_len, &br, &st) != MH_OK) {
        mh_reply_status(reply, &st);
        return;
    }
    mh_bulk_env env = {.store = hub->store, .ctx = hub, .kick = hub_kick, .twin_write = hub_twin_write};
    cJSON *result = mh_bulk_apply(&env, &br);
    mh_bulk_request_cleanup(&br);
    if (result == NULL) {
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    /* AZURE: the REST reference answers a BulkRegistryOperationResult with 200 or 400. MOCK: every
     * good entry is applied even when others fail (the import job's per-entry semantics) and the
     * call answers 400 when any entry failed; the hub's choice between the two is not captured. */
    int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isSuccessful"));
    mh_reply_json(reply, ok ? 200 : 400, result, NULL);
}
