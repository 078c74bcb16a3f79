/* fuzz_twin.c - libFuzzer target for twin documents (core/twin), along the store's own paths: the
 * first byte picks a device reported patch, a service PATCH body or a service PUT body; the rest is
 * parsed as JSON, checked (NUL escapes, key/value rules, size limits) and applied to a stored
 * document with its $metadata. Checks RFC 7396's idempotence and that a merged document is valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin.h"
#include "utf8.h"

#define NOW "2023-11-14T22:13:20.0000000Z"
#define BASE "{\"a\":{\"b\":1,\"c\":\"x\",\"d\":{\"e\":[1,{\"f\":true}]}},\"g\":\"h\",\"n\":4503599627370495}"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Merges patch into copies of doc/meta twice: the second merge must change nothing. */
static void merge_twice(const cJSON *doc, const cJSON *meta, const cJSON *patch, long version,
                        mh_twin_section section)
{
    mh_status st = {0};
    cJSON *d = cJSON_Duplicate(doc, 1);
    cJSON *m = meta ? cJSON_Duplicate(meta, 1) : NULL;
    cJSON *d2 = NULL, *m2 = NULL;
    if (d == NULL || (meta && m == NULL))
        goto done;
    if (mh_twin_merge(d, m, patch, NOW, version) != MH_OK)
        goto done;
    if (mh_twin_validate(d, 0, &st) != MH_OK)
        abort(); /* a valid patch merged into a valid document gives a valid document */
    (void)mh_twin_check_size(d, section, &st);
    d2 = cJSON_Duplicate(d, 1);
    m2 = m ? cJSON_Duplicate(m, 1) : NULL;
    if (d2 == NULL || (m && m2 == NULL) || mh_twin_merge(d2, m2, patch, NOW, version) != MH_OK)
        goto done;
    if (!cJSON_Compare(d, d2, 1) || (m && !cJSON_Compare(m, m2, 1)))
        abort();
done:
    cJSON_Delete(d);
    cJSON_Delete(m);
    cJSON_Delete(d2);
    cJSON_Delete(m2);
}

static void reported_patch(const char *text, size_t len, const cJSON *base)
{
    mh_status st = {0};
    if (mh_json_has_nul_escape(text, len))
        return;
    cJSON *p = mh_twin_parse_object(text, len);
    if (p == NULL)
        return;
    cJSON *meta = mh_twin_meta_new(base, NOW, -1);
    if (meta != NULL && mh_twin_validate(p, 1, &st) == MH_OK &&
        mh_twin_check_patch_size(p, MH_TWIN_REPORTED, &st) == MH_OK)
        merge_twice(base, meta, p, -1, MH_TWIN_REPORTED);
    (void)mh_twin_size(p);
    cJSON_Delete(meta);
    cJSON_Delete(p);
}

static void service_body(const char *text, size_t len, const cJSON *base, int replace)
{
    mh_status st = {0};
    mh_twin_body b = {0};
    cJSON *body = cJSON_ParseWithLength(text, len);
    cJSON *meta = mh_twin_meta_new(base, NOW, 3);
    if (body == NULL || meta == NULL || mh_twin_body_parse(body, &b, &st) != MH_OK)
        goto done;
    if (b.tags && mh_twin_validate(b.tags, 1, &st) == MH_OK &&
        mh_twin_check_patch_size(b.tags, MH_TWIN_TAGS, &st) == MH_OK)
        merge_twice(base, NULL, b.tags, -1, MH_TWIN_TAGS);
    if (b.desired && mh_twin_validate(b.desired, 1, &st) == MH_OK &&
        mh_twin_check_patch_size(b.desired, MH_TWIN_DESIRED, &st) == MH_OK) {
        if (replace) {
            cJSON *doc = NULL, *m = NULL, *push = NULL;
            if (mh_twin_replace(base, b.desired, NOW, 4, &doc, &m, &push) == MH_OK &&
                mh_twin_validate(doc, 0, &st) != MH_OK)
                abort();
            cJSON_Delete(doc);
            cJSON_Delete(m);
            cJSON_Delete(push);
        } else {
            merge_twice(base, meta, b.desired, 4, MH_TWIN_DESIRED);
            cJSON_Delete(mh_twin_patch_push(b.desired, 4));
        }
    }
done:
    mh_twin_body_cleanup(&b);
    cJSON_Delete(meta);
    cJSON_Delete(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    char *text = malloc(len + 1);
    cJSON *base = cJSON_Parse(BASE);
    if (text == NULL || base == NULL)
        goto done;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    switch (data[0] % 4) {
    case 0:
        reported_patch(text, len, base);
        break;
    case 1:
        service_body(text, len, base, 0);
        break;
    case 2:
        service_body(text, len, base, 1);
        break;
    default:
        (void)mh_utf8_valid(text, len);
        (void)mh_twin_etag_matches(text, "AAAAAAAAAAE=");
        break;
    }
done:
    cJSON_Delete(base);
    free(text);
    return 0;
}
