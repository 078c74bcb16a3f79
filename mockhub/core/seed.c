/* seed.c - MOCK: checks a seed file (see seed.h and docs/seed.schema.json). cJSON keeps no
 * positions, so a failed check walks the text again along the JSON path to report the line and
 * column where the offending value starts.
 */
#include "seed.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "htab.h"
#include "identity.h"
#include "iot_b64.h"
#include "twin.h"

#define PATH_DEPTH 8

typedef struct seg {
    const char *key; /* NULL: an array index */
    int index;
} seg;

typedef struct ctx {
    const char *text;
    size_t len;
    const char *name;
    seg path[PATH_DEPTH];
    int depth;
    mh_status *st;
    mh_htab *ids; /* seeded device ids -> their index + 1 */
} ctx;

/* ---- finding a path in the text (which cJSON has already accepted as JSON) ---- */

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p < end ? p + 1 : end;
}

static const char *skip_value(const char *p, const char *end)
{
    p = ws(p, end);
    if (p >= end)
        return end;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int level = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = skip_string(p, end) - 1;
                continue;
            }
            if (*p == '{' || *p == '[')
                level++;
            else if ((*p == '}' || *p == ']') && --level == 0)
                return p + 1;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' &&
           *p != '\t')
        p++;
    return p;
}

/* Where the value at path starts (the deepest part of it that can be found). */
static const char *locate(const ctx *c)
{
    const char *p = ws(c->text, c->text + c->len), *end = c->text + c->len;
    for (int d = 0; d < c->depth && p < end; d++) {
        const seg *s = &c->path[d];
        const char *found = NULL;
        if (s->key != NULL && *p == '{') {
            const char *q = ws(p + 1, end);
            while (q < end && *q == '"' && found == NULL) {
                const char *kend = skip_string(q, end);
                size_t klen = (size_t)(kend - q) - 2;
                const char *v = ws(ws(kend, end) + 1, end); /* past ':' */
                if (klen == strlen(s->key) && memcmp(q + 1, s->key, klen) == 0)
                    found = v;
                q = ws(skip_value(v, end), end);
                if (q < end && *q == ',')
                    q = ws(q + 1, end);
            }
        } else if (s->key == NULL && *p == '[') {
            const char *q = ws(p + 1, end);
            for (int i = 0; q < end && *q != ']'; i++) {
                if (i == s->index) {
                    found = q;
                    break;
                }
                q = ws(skip_value(q, end), end);
                if (q < end && *q == ',')
                    q = ws(q + 1, end);
            }
        }
        if (found == NULL)
            break;
        p = found;
    }
    return p;
}

static void where(const char *text, const char *p, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *q = text; q < p; q++) {
        if (*q == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static mh_err fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fails with "<name>:<line>:<col>: <path>: <text>". */
static mh_err fail(ctx *c, const char *fmt, ...)
{
    char path[256] = "$", msg[256];
    va_list ap;
    for (int d = 0; d < c->depth; d++) {
        size_t n = strlen(path);
        if (c->path[d].key)
            snprintf(path + n, sizeof path - n, ".%.60s", c->path[d].key);
        else
            snprintf(path + n, sizeof path - n, "[%d]", c->path[d].index);
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(c->text, locate(c), &line, &col);
    return mh_fail(c->st, MH_ERR_ARGUMENT_INVALID, "%.100s:%d:%d: %s: %s", c->name, line, col, path, msg);
}

static void push_key(ctx *c, const char *key)
{
    c->path[c->depth++] = (seg){key, 0};
}

static void push_index(ctx *c, int index)
{
    c->path[c->depth++] = (seg){NULL, index};
}

static void pop(ctx *c)
{
    c->depth--;
}

/* ---- the checks ---- */

/* Fails on a member of obj not in allowed (NULL-terminated). */
static mh_err only(ctx *c, const cJSON *obj, const char *const *allowed, const char *what)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(m->string, allowed[i]) == 0;
        if (!ok) {
            char list[256] = "";
            for (size_t i = 0; allowed[i]; i++) {
                size_t n = strlen(list);
                snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
            }
            push_key(c, m->string);
            mh_err err = fail(c, "unknown member of %s (allowed: %s)", what, list);
            pop(c);
            return err;
        }
    }
    return MH_OK;
}

static mh_err key_member(ctx *c, const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    unsigned char raw[96];
    size_t n = 0;
    if (v == NULL)
        return MH_OK;
    push_key(c, name);
    mh_err err = MH_OK;
    if (!cJSON_IsString(v) ||
        iot_b64_decode(v->valuestring, strlen(v->valuestring), raw, sizeof raw, &n) != IOT_OK || n < 16 ||
        n > 64)
        err = fail(c, "must be a base64 key of 16 to 64 bytes (or leave it out to have one generated)");
    pop(c);
    return err;
}

static mh_err twin_member(ctx *c, const cJSON *obj, const char *name, mh_twin_section section)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    mh_status st = {0};
    if (v == NULL)
        return MH_OK;
    push_key(c, name);
    mh_err err = MH_OK;
    if (!cJSON_IsObject(v))
        err = fail(c, "must be a JSON object");
    else if (mh_twin_validate(v, 0, &st) != MH_OK || mh_twin_check_size(v, section, &st) != MH_OK)
        err = fail(c, "%s", st.text);
    pop(c);
    return err;
}

static mh_err check_device(ctx *c, const cJSON *d, const cJSON *devices, int index)
{
    static const char *const allowed[] = {"deviceId",    "primaryKey", "secondaryKey", "status",
                                          "edgeEnabled", "tags",       "desired",      NULL};
    mh_status st = {0};
    mh_err err;
    if (!cJSON_IsObject(d))
        return fail(c, "a device must be an object with at least a deviceId");
    if ((err = only(c, d, allowed, "a device")) != MH_OK)
        return err;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "deviceId");
    if (id == NULL)
        return fail(c, "deviceId is required");
    push_key(c, "deviceId");
    if (!cJSON_IsString(id) || mh_device_id_check(id->valuestring, &st) != MH_OK)
        err = fail(c, "%s", cJSON_IsString(id) ? st.text : "must be a string");
    (void)devices;
    if (err == MH_OK) {
        void *seen = mh_htab_get(c->ids, id->valuestring);
        if (seen != NULL)
            err = fail(c, "device '%.128s' is already seeded at $.devices[%d]", id->valuestring,
                       (int)(intptr_t)seen - 1);
        else if (mh_htab_put(c->ids, id->valuestring, (void *)(intptr_t)(index + 1)) != MH_OK)
            err = mh_fail(c->st, MH_ERR_NOMEM, "out of memory");
    }
    pop(c);
    if (err != MH_OK)
        return err;
    if ((err = key_member(c, d, "primaryKey")) != MH_OK || (err = key_member(c, d, "secondaryKey")) != MH_OK)
        return err;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(d, "status");
    if (status != NULL && (!cJSON_IsString(status) || (strcmp(status->valuestring, "enabled") &&
                                                       strcmp(status->valuestring, "disabled")))) {
        push_key(c, "status");
        err = fail(c, "must be \"enabled\" or \"disabled\"");
        pop(c);
        return err;
    }
    const cJSON *edge = cJSON_GetObjectItemCaseSensitive(d, "edgeEnabled");
    if (edge != NULL && !cJSON_IsBool(edge)) {
        push_key(c, "edgeEnabled");
        err = fail(c, "must be true or false");
        pop(c);
        return err;
    }
    if ((err = twin_member(c, d, "tags", MH_TWIN_TAGS)) != MH_OK)
        return err;
    return twin_member(c, d, "desired", MH_TWIN_DESIRED);
}

static mh_err check_policy(ctx *c, const cJSON *p, const cJSON *policies, int index)
{
    static const char *const allowed[] = {"name", "primaryKey", "secondaryKey", "rights", NULL};
    static const char *const builtin[] = {"iothubowner", "service", "device", "registryRead",
                                          "registryReadWrite"};
    static const char *const rights[] = {"RegistryRead", "RegistryWrite", "ServiceConnect", "DeviceConnect"};
    mh_err err;
    if (!cJSON_IsObject(p))
        return fail(c, "a policy must be an object with a name and rights");
    if ((err = only(c, p, allowed, "a policy")) != MH_OK)
        return err;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
    if (name == NULL)
        return fail(c, "name is required");
    push_key(c, "name");
    size_t n = cJSON_IsString(name) ? strlen(name->valuestring) : 0;
    if (n == 0 || n > 63 ||
        strspn(name->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789-_.") != n)
        err = fail(c, "must be 1 to 63 letters, digits, '-', '_' or '.'");
    for (size_t i = 0; err == MH_OK && i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(name->valuestring, builtin[i]) == 0)
            err = fail(c,
                       "'%s' is built in (its keys are generated; iothubowner's is MOCKHUB_OWNER_KEY): "
                       "choose another name",
                       builtin[i]);
    for (int i = 0; err == MH_OK && i < index; i++) {
        const cJSON *other = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(policies, i), "name");
        if (cJSON_IsString(other) && strcmp(other->valuestring, name->valuestring) == 0)
            err = fail(c, "policy '%s' is already seeded at $.policies[%d]", name->valuestring, i);
    }
    pop(c);
    if (err != MH_OK)
        return err;
    if ((err = key_member(c, p, "primaryKey")) != MH_OK || (err = key_member(c, p, "secondaryKey")) != MH_OK)
        return err;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "rights");
    if (r == NULL)
        return fail(c, "rights is required");
    push_key(c, "rights");
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) == 0)
        err = fail(c,
                   "must be a non-empty array of RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect");
    int i = 0;
    const cJSON *v;
    const cJSON *arr = cJSON_IsArray(r) ? r : NULL;
    cJSON_ArrayForEach(v, arr)
    {
        int ok = 0;
        for (size_t k = 0; k < 4 && cJSON_IsString(v); k++)
            ok |= strcmp(v->valuestring, rights[k]) == 0;
        if (!ok && err == MH_OK) {
            push_index(c, i);
            err = fail(c, "must be one of RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect");
            pop(c);
        }
        i++;
    }
    pop(c);
    return err;
}

/* The array member name of root, each item checked by fn. */
static mh_err check_list(ctx *c, const cJSON *root, const char *name, int max,
                         mh_err (*fn)(ctx *, const cJSON *, const cJSON *, int))
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, name);
    mh_err err = MH_OK;
    if (list == NULL)
        return MH_OK;
    push_key(c, name);
    if (!cJSON_IsArray(list))
        err = fail(c, "must be an array");
    else if (cJSON_GetArraySize(list) > max)
        err = fail(c, "at most %d entries", max);
    int i = 0;
    const cJSON *item;
    const cJSON *items = err == MH_OK ? list : NULL;
    cJSON_ArrayForEach(item, items)
    {
        push_index(c, i);
        err = fn(c, item, list, i);
        pop(c);
        if (err != MH_OK)
            break;
        i++;
    }
    pop(c);
    return err;
}

mh_err mh_seed_parse(const char *text, size_t len, const char *name, cJSON **out, mh_status *st)
{
    static const char *const allowed[] = {"$schema", "devices", "policies", NULL};
    ctx c = {.text = text, .len = len, .name = name ? name : "seed", .st = st};
    const char *end = NULL;
    if (text == NULL || out == NULL)
        return mh_fail(st, MH_ERR_ARGUMENT_NULL, "no seed text");
    if (len > MH_SEED_MAX_BYTES)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%.100s: larger than %d bytes", c.name,
                       MH_SEED_MAX_BYTES);
    if (mh_json_has_nul_escape(text, len))
        return mh_fail(st, MH_ERR_FORMAT, "%.100s: JSON strings may not contain \\u0000", c.name);
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (doc != NULL) {
        end = ws(end, text + len);
        if (end != text + len) {
            cJSON_Delete(doc);
            doc = NULL;
        }
    } else {
        end = cJSON_GetErrorPtr();
    }
    if (doc == NULL) {
        int line, col;
        if (end == NULL || end < text || end > text + len)
            end = text + len;
        where(text, end, &line, &col);
        return mh_fail(st, MH_ERR_FORMAT, "%.100s:%d:%d: not valid JSON here", c.name, line, col);
    }
    mh_err err = mh_htab_new(MH_SEED_MAX_DEVICES, NULL, NULL, &c.ids);
    if (err != MH_OK) {
        cJSON_Delete(doc);
        return mh_fail(st, err, "out of memory");
    }
    if (!cJSON_IsObject(doc))
        err =
            fail(&c, "a seed is a JSON object with \"devices\" and/or \"policies\" (docs/seed.schema.json)");
    if (err == MH_OK)
        err = only(&c, doc, allowed, "the seed");
    if (err == MH_OK)
        err = check_list(&c, doc, "policies", MH_SEED_MAX_POLICIES, check_policy);
    if (err == MH_OK)
        err = check_list(&c, doc, "devices", MH_SEED_MAX_DEVICES, check_device);
    mh_htab_free(c.ids);
    if (err != MH_OK) {
        cJSON_Delete(doc);
        return err;
    }
    *out = doc;
    return MH_OK;
}
