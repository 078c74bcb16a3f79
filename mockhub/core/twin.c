/* twin.c - pure twin-document logic: merge patch with $metadata, replace with its notification,
 * IoT Hub's limits and key rules, service-body stripping, etag formats. cJSON only, no I/O.
 * Rules: shared/reference/iothub-protocol.md 3.3 and the addendum 1-3 and 8.
 */
#include "twin.h"

#include <stdio.h>
#include <string.h>

#include "iot_b64.h"
#include "utf8.h"

/* ---- parsing ---- */

int mh_json_has_nul_escape(const char *text, size_t len)
{
    /* Backslashes only occur inside strings, each one starting an escape: skipping the escaped
     * character keeps "\\u0000" (an escaped backslash, then text) from matching. */
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\')
            continue;
        if (i + 5 < len && memcmp(text + i + 1, "u0000", 5) == 0)
            return 1;
        i++;
    }
    return 0;
}

cJSON *mh_twin_parse_object(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *doc;

    if (!text || !mh_utf8_valid(text, len))
        return NULL;
    doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!cJSON_IsObject(doc))
        goto fail;
    /* cJSON stops after the value: the rest must be whitespace */
    for (; end && (size_t)(end - text) < len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n')
            goto fail;
    return doc;
fail:
    cJSON_Delete(doc);
    return NULL;
}

/* ---- validation ---- */

/* AZURE: key rules of the docs (no '.', '$', space, C0/C1 controls, <= 1 KB). The texts follow
 * the edgeHub copy of the hub's validator (ReportedPropertiesValidator.cs). */
static mh_err check_key(const char *key, mh_status *st)
{
    size_t len = strlen(key), i;

    if (!mh_utf8_valid(key, len))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Property name is not valid UTF-8");
    if (len > MH_TWIN_MAX_KEY)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "Length of property name %.10s.. exceeds maximum length of %d", key, MH_TWIN_MAX_KEY);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        int bad = c < 0x20 || c == 0x7f || c == '.' || c == '$' || c == ' ';
        /* C1 controls U+0080..U+009F are 0xC2 0x80..0x9F in UTF-8 */
        if (c == 0xc2 && i + 1 < len && (unsigned char)key[i + 1] >= 0x80 &&
            (unsigned char)key[i + 1] <= 0x9f)
            bad = 1;
        if (bad) {
            if (c >= 0x20 && c < 0x7f)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                               "Property name %.256s contains invalid character '%c'", key, c);
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "Property name %.256s contains invalid control character 0x%02x", key, c);
        }
    }
    return MH_OK;
}

static mh_err check_value(const char *name, const cJSON *item, int depth, int allow_null, mh_status *st)
{
    const cJSON *child;
    mh_err err;

    if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
        if (depth > MH_TWIN_MAX_DEPTH)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Nested depth of twin property exceeds %d",
                           MH_TWIN_MAX_DEPTH);
        cJSON_ArrayForEach(child, item)
        {
            const char *child_name = name;
            if (cJSON_IsObject(item)) {
                if (!child->string)
                    return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Property without a name");
                err = check_key(child->string, st);
                if (err != MH_OK)
                    return err;
                child_name = child->string;
            }
            /* nulls inside arrays are values, not deletions */
            err = check_value(child_name, child, depth + 1, cJSON_IsArray(item) ? 1 : allow_null, st);
            if (err != MH_OK)
                return err;
        }
        return MH_OK;
    }
    if (cJSON_IsString(item)) {
        if (!mh_utf8_valid(item->valuestring, strlen(item->valuestring)))
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Value of property %.256s is not valid UTF-8", name);
        if (strlen(item->valuestring) > MH_TWIN_MAX_VALUE)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "Property or Tag value should be maximum %d bytes. Error in Property/Tag %.256s",
                           MH_TWIN_MAX_VALUE, name);
        return MH_OK;
    }
    if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        /* an integral value outside +-2^52 cannot round-trip the hub's integer type */
        int integral = v >= -9.2e18 && v <= 9.2e18 ? (double)(long long)v == v : v == v;
        if (integral && (v > MH_TWIN_INT_MAX || v < MH_TWIN_INT_MIN))
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "Property %.256s has an out of bound value. Valid values are between "
                           "-4503599627370496 and 4503599627370495",
                           name);
        return MH_OK;
    }
    if (cJSON_IsNull(item)) {
        if (!allow_null)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Property %.256s has a null value", name);
        return MH_OK;
    }
    if (cJSON_IsBool(item))
        return MH_OK;
    return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Property %.256s has a value of unsupported type", name);
}

mh_err mh_twin_validate(const cJSON *doc, int allow_null, mh_status *st)
{
    if (!cJSON_IsObject(doc))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Twin section must be a JSON object");
    return check_value("", doc, 0, allow_null, st);
}

size_t mh_twin_size(const cJSON *doc)
{
    const cJSON *child;
    size_t n = 0;

    if (!doc)
        return 0;
    if (cJSON_IsObject(doc) || cJSON_IsArray(doc)) {
        cJSON_ArrayForEach(child, doc)
        {
            if (child->string && cJSON_IsObject(doc))
                n += strlen(child->string);
            n += mh_twin_size(child);
        }
        return n;
    }
    if (cJSON_IsString(doc))
        return strlen(doc->valuestring);
    if (cJSON_IsNumber(doc))
        return 8;
    return 4; /* booleans (and null) */
}

mh_err mh_twin_check_size(const cJSON *doc, mh_twin_section section, mh_status *st)
{
    size_t n = mh_twin_size(doc);

    if (section == MH_TWIN_TAGS) {
        if (n > MH_TWIN_MAX_TAGS)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Twin tags size %zu exceeds maximum %d", n,
                           MH_TWIN_MAX_TAGS);
        return MH_OK;
    }
    if (n > MH_TWIN_MAX_PROPERTIES)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Twin properties size %zu exceeds maximum %d", n,
                       MH_TWIN_MAX_PROPERTIES);
    return MH_OK;
}

/* mh_twin_size without the null members of objects (a merge patch's deletions). */
static size_t patch_size(const cJSON *doc)
{
    const cJSON *child;
    size_t n = 0;

    if (!cJSON_IsObject(doc))
        return mh_twin_size(doc);
    cJSON_ArrayForEach(child, doc)
    {
        if (cJSON_IsNull(child))
            continue;
        n += (child->string ? strlen(child->string) : 0) + patch_size(child);
    }
    return n;
}

mh_err mh_twin_check_patch_size(const cJSON *patch, mh_twin_section section, mh_status *st)
{
    size_t n = patch_size(patch);
    size_t max = section == MH_TWIN_TAGS ? MH_TWIN_MAX_TAGS : MH_TWIN_MAX_PROPERTIES;

    if (n > max)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "Twin %s size %zu exceeds maximum %zu",
                       section == MH_TWIN_TAGS ? "tags" : "properties", n, max);
    return MH_OK;
}

/* ---- metadata and merge ---- */

/* Sets (replacing or adding) obj.$lastUpdated = now and, when version >= 0, $lastUpdatedVersion. */
static mh_err stamp(cJSON *obj, const char *now, long version)
{
    cJSON *item = NULL;

    item = cJSON_CreateString(now);
    if (!item)
        return MH_ERR_NOMEM;
    if (cJSON_GetObjectItemCaseSensitive(obj, "$lastUpdated")) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, "$lastUpdated", item))
            goto fail;
    } else if (!cJSON_AddItemToObject(obj, "$lastUpdated", item)) {
        goto fail;
    }
    if (version < 0)
        return MH_OK;
    item = cJSON_CreateNumber((double)version);
    if (!item)
        return MH_ERR_NOMEM;
    if (cJSON_GetObjectItemCaseSensitive(obj, "$lastUpdatedVersion")) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, "$lastUpdatedVersion", item))
            goto fail;
    } else if (!cJSON_AddItemToObject(obj, "$lastUpdatedVersion", item)) {
        goto fail;
    }
    return MH_OK;
fail:
    cJSON_Delete(item);
    return MH_ERR_NOMEM;
}

/* Puts item under key in obj (replacing an existing member in place); takes item, even on failure. */
static mh_err put(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return MH_ERR_NOMEM;
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item))
            return MH_OK;
    } else if (cJSON_AddItemToObject(obj, key, item)) {
        return MH_OK;
    }
    cJSON_Delete(item);
    return MH_ERR_NOMEM;
}

/* Deep copy without null members of objects (a merge patch applied to nothing). A member named
 * twice keeps its last value, and a later null removes it: the stored document never holds a
 * name twice (a later null patch would delete only the first). */
static cJSON *dup_without_nulls(const cJSON *src)
{
    const cJSON *child;
    cJSON *out = NULL;

    if (!cJSON_IsObject(src))
        return cJSON_Duplicate(src, 1);
    out = cJSON_CreateObject();
    if (!out)
        return NULL;
    cJSON_ArrayForEach(child, src)
    {
        if (cJSON_IsNull(child)) {
            cJSON_DeleteItemFromObjectCaseSensitive(out, child->string);
            continue;
        }
        if (put(out, child->string, dup_without_nulls(child)) != MH_OK) {
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}

cJSON *mh_twin_meta_new(const cJSON *doc, const char *now, long version)
{
    const cJSON *child;
    cJSON *meta = cJSON_CreateObject();

    if (!meta || stamp(meta, now, version) != MH_OK)
        goto fail;
    if (cJSON_IsObject(doc)) {
        cJSON_ArrayForEach(child, doc)
        {
            cJSON *sub;
            if (cJSON_IsNull(child))
                continue;
            sub = mh_twin_meta_new(child, now, version);
            if (!sub || !cJSON_AddItemToObject(meta, child->string, sub)) {
                cJSON_Delete(sub);
                goto fail;
            }
        }
    }
    return meta;
fail:
    cJSON_Delete(meta);
    return NULL;
}

static mh_err merge_into(cJSON *doc, cJSON *meta, const cJSON *patch, const char *now, long version)
{
    const cJSON *p;
    mh_err err;

    cJSON_ArrayForEach(p, patch)
    {
        const char *key = p->string;
        cJSON *existing = cJSON_GetObjectItemCaseSensitive(doc, key);
        const cJSON *later = p->next;

        /* A member named twice counts once, by its last value, as in dup_without_nulls: merging
         * both would make the result depend on whether the member existed (fuzz_twin found a
         * patch that gave another document when applied a second time). */
        while (later && strcmp(later->string, key) != 0)
            later = later->next;
        if (later)
            continue;
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
            if (meta)
                cJSON_DeleteItemFromObjectCaseSensitive(meta, key);
            continue;
        }
        if (cJSON_IsObject(p) && cJSON_IsObject(existing)) {
            cJSON *m = NULL;
            if (meta) {
                m = cJSON_GetObjectItemCaseSensitive(meta, key);
                if (!cJSON_IsObject(m)) {
                    /* metadata out of step with the document: rebuild it for this member */
                    err = put(meta, key, mh_twin_meta_new(existing, now, version));
                    if (err != MH_OK)
                        return err;
                    m = cJSON_GetObjectItemCaseSensitive(meta, key);
                }
                err = stamp(m, now, version);
                if (err != MH_OK)
                    return err;
            }
            err = merge_into(existing, m, p, now, version);
            if (err != MH_OK)
                return err;
            continue;
        }
        err = put(doc, key, dup_without_nulls(p));
        if (err != MH_OK)
            return err;
        if (meta) { /* from the stored copy: p may name a member twice */
            err = put(meta, key, mh_twin_meta_new(cJSON_GetObjectItemCaseSensitive(doc, key), now, version));
            if (err != MH_OK)
                return err;
        }
    }
    return MH_OK;
}

mh_err mh_twin_merge(cJSON *doc, cJSON *meta, const cJSON *patch, const char *now, long version)
{
    mh_err err;

    if (!cJSON_IsObject(doc) || !cJSON_IsObject(patch) || (meta && !cJSON_IsObject(meta)))
        return MH_ERR_INTERNAL;
    if (meta) {
        err = stamp(meta, now, version);
        if (err != MH_OK)
            return err;
    }
    return merge_into(doc, meta, patch, now, version);
}

mh_err mh_twin_replace(const cJSON *olddoc, const cJSON *newdoc, const char *now, long version,
                       cJSON **out_doc, cJSON **out_meta, cJSON **out_push)
{
    cJSON *doc = NULL, *meta = NULL, *push = NULL;
    const cJSON *old;
    mh_err err = MH_ERR_NOMEM;

    if (!cJSON_IsObject(newdoc))
        return MH_ERR_INTERNAL;
    doc = dup_without_nulls(newdoc);
    if (!doc)
        goto cleanup;
    meta = mh_twin_meta_new(doc, now, version);
    if (!meta)
        goto cleanup;
    if (out_push) {
        push = cJSON_Duplicate(doc, 1);
        if (!push)
            goto cleanup;
        /* AZURE: removed top-level keys reach the device as null (csharp#954) */
        cJSON_ArrayForEach(old, olddoc)
        {
            if (!cJSON_GetObjectItemCaseSensitive(doc, old->string) &&
                !cJSON_AddNullToObject(push, old->string))
                goto cleanup;
        }
        if (!cJSON_AddNumberToObject(push, "$version", (double)version))
            goto cleanup;
    }
    *out_doc = doc;
    *out_meta = meta;
    if (out_push)
        *out_push = push;
    doc = meta = push = NULL;
    err = MH_OK;
cleanup:
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    cJSON_Delete(push);
    return err;
}

cJSON *mh_twin_patch_push(const cJSON *patch, long version)
{
    cJSON *push = cJSON_Duplicate(patch, 1);

    if (!push)
        return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(push, "$version");
    if (!cJSON_AddNumberToObject(push, "$version", (double)version)) {
        cJSON_Delete(push);
        return NULL;
    }
    return push;
}

/* ---- service body ---- */

static mh_err section_copy(const cJSON *item, const char *what, cJSON **out, int *out_null, mh_status *st)
{
    if (cJSON_IsNull(item)) {
        *out = cJSON_CreateObject();
        *out_null = 1;
    } else if (cJSON_IsObject(item)) {
        *out = cJSON_Duplicate(item, 1);
    } else {
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "'%s' must be a JSON object", what);
    }
    return *out ? MH_OK : mh_fail(st, MH_ERR_NOMEM, "out of memory");
}

mh_err mh_twin_body_parse(const cJSON *body, mh_twin_body *out_body, mh_status *st)
{
    mh_twin_body b = {0};
    const cJSON *tags, *props, *desired;
    mh_err err;

    if (!cJSON_IsObject(body))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "The twin must be a JSON object");
    tags = cJSON_GetObjectItemCaseSensitive(body, "tags");
    if (tags) {
        err = section_copy(tags, "tags", &b.tags, &b.tags_null, st);
        if (err != MH_OK)
            goto fail;
    }
    props = cJSON_GetObjectItemCaseSensitive(body, "properties");
    if (props && !cJSON_IsNull(props)) {
        if (!cJSON_IsObject(props)) {
            err = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "'properties' must be a JSON object");
            goto fail;
        }
        desired = cJSON_GetObjectItemCaseSensitive(props, "desired");
        if (desired) {
            err = section_copy(desired, "properties.desired", &b.desired, &b.desired_null, st);
            if (err != MH_OK)
                goto fail;
            /* AZURE: .NET sends the whole twin; the hub ignores the read-only members ([R-twin]) */
            cJSON_DeleteItemFromObjectCaseSensitive(b.desired, "$metadata");
            cJSON_DeleteItemFromObjectCaseSensitive(b.desired, "$version");
        }
        /* properties.reported is read-only for the service: ignored */
    }
    *out_body = b;
    return MH_OK;
fail:
    mh_twin_body_cleanup(&b);
    return err;
}

void mh_twin_body_cleanup(mh_twin_body *body)
{
    if (!body)
        return;
    cJSON_Delete(body->tags);
    cJSON_Delete(body->desired);
    memset(body, 0, sizeof *body);
}

/* ---- etags ---- */

void mh_twin_etag_format(uint64_t n, char out[16])
{
    unsigned char raw[8];
    int i;

    for (i = 7; i >= 0; i--) {
        raw[i] = (unsigned char)(n & 0xff);
        n >>= 8;
    }
    if (iot_b64_encode(raw, sizeof raw, out, 16) != IOT_OK)
        out[0] = '\0';
}

void mh_twin_device_etag_format(long long n, char out[32])
{
    char dec[24];
    int len = snprintf(dec, sizeof dec, "%lld", n);

    if (len < 0 || iot_b64_encode((const unsigned char *)dec, (size_t)len, out, 32) != IOT_OK)
        out[0] = '\0';
}

int mh_twin_etag_matches(const char *if_match, const char *etag)
{
    size_t len;

    if (!if_match)
        return 1;
    while (*if_match == ' ' || *if_match == '\t')
        if_match++;
    if (strncmp(if_match, "W/", 2) == 0)
        if_match += 2;
    len = strlen(if_match);
    while (len > 0 && (if_match[len - 1] == ' ' || if_match[len - 1] == '\t'))
        len--;
    if (len >= 2 && if_match[0] == '"' && if_match[len - 1] == '"') {
        if_match++;
        len -= 2;
    }
    if (len == 0 || (len == 1 && if_match[0] == '*'))
        return 1;
    return etag && strlen(etag) == len && memcmp(if_match, etag, len) == 0;
}
