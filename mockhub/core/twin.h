/* twin.h - pure twin-document logic (cJSON only, no I/O): JSON merge patch with the $metadata
 * tree, full replace with its device notification, IoT Hub's key/value/depth/size rules, the
 * read-only members of a service body, and etag formats. Follows shared/reference/
 * iothub-protocol.md 3.2-3.3, 5.4 and the addendum 1-3, 8.
 */
#ifndef MH_TWIN_H
#define MH_TWIN_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "errors.h"

typedef enum mh_twin_section {
    MH_TWIN_TAGS,     /* tags: 8 KB, no metadata */
    MH_TWIN_DESIRED,  /* properties.desired: 32 KB, metadata with $lastUpdatedVersion */
    MH_TWIN_REPORTED, /* properties.reported: 32 KB, metadata with $lastUpdated only */
} mh_twin_section;

#define MH_TWIN_MAX_DEPTH 10                /* nested objects/arrays below the section root */
#define MH_TWIN_MAX_KEY 1024                /* bytes of a member name */
#define MH_TWIN_MAX_VALUE 4096              /* bytes of a string value */
#define MH_TWIN_MAX_TAGS 8192               /* size of tags (mh_twin_size) */
#define MH_TWIN_MAX_PROPERTIES 32768        /* size of desired or of reported */
#define MH_TWIN_INT_MAX 4503599627370495.0  /* 2^52 - 1 */
#define MH_TWIN_INT_MIN -4503599627370496.0 /* -2^52 */

/* Checks a document or patch against the key and value rules: member names (no '.', '$', space,
 * C0/C1 control characters; <= 1024 bytes; UTF-8), depth <= 10, strings <= 4096 bytes, integers within
 * +-2^52. allow_null: 1 for patches (null deletes), 0 for stored documents. The root must be an
 * object. Returns MH_OK or ArgumentInvalid with the hub's text in *st. Does not check the size. */
mh_err mh_twin_validate(const cJSON *doc, int allow_null, mh_status *st) MH_WARN_UNUSED;

/* Parses len bytes as one JSON object: valid UTF-8, nothing but whitespace after the value.
 * Returns the tree (caller owns) or NULL. */
cJSON *mh_twin_parse_object(const char *text, size_t len);

/* 1 when the JSON text holds the escape \u0000 (a NUL inside a string or name), which cJSON
 * would silently cut the string at: callers refuse such input rather than store a shorter value. */
int mh_json_has_nul_escape(const char *text, size_t len);

/* The size of a section as IoT Hub counts it: the sum over members of name bytes + value size,
 * strings by UTF-8 bytes, numbers 8, booleans 4, null 4, objects and arrays the sum of their parts. */
size_t mh_twin_size(const cJSON *doc);

/* ArgumentInvalid ("Twin properties size {n} exceeds maximum 32768", tags: "Twin tags size ...")
 * when doc is over the limit of section. */
mh_err mh_twin_check_size(const cJSON *doc, mh_twin_section section, mh_status *st) MH_WARN_UNUSED;

/* The same check on a merge patch before it is applied, by the size of what it sets (null members
 * of objects, deletions, count nothing): every member it sets ends up in the merged section, so a
 * patch over the limit gives a section over the limit. Refuses it before the merge, whose member
 * lookups are quadratic in the number of members. */
mh_err mh_twin_check_patch_size(const cJSON *patch, mh_twin_section section, mh_status *st) MH_WARN_UNUSED;

/* A fresh metadata tree for doc: {"$lastUpdated":now[,"$lastUpdatedVersion":version]} at the
 * root and at every member (recursively into objects; arrays are leaves). version < 0 omits
 * $lastUpdatedVersion (reported). NULL when out of memory. */
cJSON *mh_twin_meta_new(const cJSON *doc, const char *now, long version);

/* RFC 7396 merge of patch (an object) into doc (an object, modified in place) and the matching
 * update of meta (NULL for tags, which have no metadata): the root and every touched object and
 * leaf get {"$lastUpdated": now} (plus "$lastUpdatedVersion": version when version >= 0); removed
 * members lose their metadata entry; replaced members get a fresh subtree. On MH_ERR_NOMEM doc
 * and meta are valid but partly updated: callers merge into scratch copies. */
mh_err mh_twin_merge(cJSON *doc, cJSON *meta, const cJSON *patch, const char *now,
                     long version) MH_WARN_UNUSED;

/* Full replace (PUT /twins): *out_doc = newdoc without null members, *out_meta its fresh metadata
 * (root and members at now/version), *out_push (when out_push is not NULL) = the device
 * notification: the new document plus every top-level member of olddoc it lacks as null, plus
 * "$version": version. Outputs written only on success. */
mh_err mh_twin_replace(const cJSON *olddoc, const cJSON *newdoc, const char *now, long version,
                       cJSON **out_doc, cJSON **out_meta, cJSON **out_push) MH_WARN_UNUSED;

/* The notification for a desired PATCH: the patch as sent (nulls kept) plus "$version". */
cJSON *mh_twin_patch_push(const cJSON *patch, long version);

/* Splits a service PATCH/PUT /twins body into its writable sections. Read-only members are
 * ignored (deviceId, etag, version, status..., properties.reported, and "$metadata"/"$version" at
 * the root of desired). *out_tags / *out_desired get a copy of the section (an object; a JSON null
 * section becomes an empty object with *out_*_null set), or NULL when the body has no such
 * section ("properties": null counts as absent). Errors: ArgumentInvalid when body is not an object or a section is neither an object
 * nor null. Outputs written only on success. */
typedef struct mh_twin_body {
    cJSON *tags;      /* NULL when absent */
    cJSON *desired;   /* NULL when absent */
    int tags_null;    /* "tags": null */
    int desired_null; /* "properties": {"desired": null} or "properties": null */
} mh_twin_body;
mh_err mh_twin_body_parse(const cJSON *body, mh_twin_body *out_body, mh_status *st) MH_WARN_UNUSED;
void mh_twin_body_cleanup(mh_twin_body *body);

/* Twin etag: base64 of the 8-byte big-endian n ("AAAAAAAAAAE=" for 1). out: 16 bytes. */
void mh_twin_etag_format(uint64_t n, char out[16]);
/* Device etag: base64 of the decimal text of n ("OTQ1MjczNDU0" for 945273454). out: 32 bytes. */
void mh_twin_device_etag_format(long long n, char out[32]);
/* 1 when an If-Match header value allows a write to an entity whose etag is etag: NULL, empty,
 * `*`, `"*"`, or the etag itself quoted, bare or with a W/ prefix. */
int mh_twin_etag_matches(const char *if_match, const char *etag);

#endif
