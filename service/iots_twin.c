/* iots_twin.c - twin document lookups and ISO-8601 parsing for service apps (cJSON only). */
#include "iots_twin.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "iots_proto.h"

static iots_err copy_string_item(const cJSON *item, char *out, size_t outsz)
{
    if (!cJSON_IsString(item))
        return IOTS_ERR_NOT_FOUND;
    size_t n = strlen(item->valuestring);
    if (n + 1 > outsz)
        return IOTS_ERR_ARG;
    memcpy(out, item->valuestring, n + 1);
    return IOTS_OK;
}

iots_err iots_twin_reported_string(const char *twin_json, size_t len, const char *dotted_path, char *out,
                                   size_t outsz)
{
    cJSON *root = NULL;
    iots_err rc = IOTS_ERR_PROTOCOL;
    char seg[256];

    if (!twin_json || !dotted_path || !*dotted_path || !out || len > IOTS_BODY_MAX)
        return IOTS_ERR_ARG;
    root = cJSON_ParseWithLength(twin_json, len);
    if (!cJSON_IsObject(root))
        goto cleanup;
    rc = IOTS_ERR_NOT_FOUND;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(root, "properties");
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(props, "reported");
    const char *p = dotted_path;
    while (node && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof seg) {
            rc = IOTS_ERR_ARG;
            goto cleanup;
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        node = cJSON_GetObjectItemCaseSensitive(node, seg);
        p += n + (dot ? 1 : 0);
    }
    if (node)
        rc = copy_string_item(node, out, outsz);

cleanup:
    cJSON_Delete(root);
    return rc;
}

iots_err iots_twin_reboot_time(const char *twin_json, size_t len, char *out, size_t outsz)
{
    iots_err rc = iots_twin_reported_string(twin_json, len, "rebootTime", out, outsz);
    if (rc == IOTS_ERR_NOT_FOUND)
        rc = iots_twin_reported_string(twin_json, len, "iothubDM.reboot.lastReboot", out, outsz);
    return rc;
}

iots_err iots_twin_etag(const char *twin_json, size_t len, char *out, size_t outsz)
{
    if (!twin_json || !out || len > IOTS_BODY_MAX)
        return IOTS_ERR_ARG;
    cJSON *root = cJSON_ParseWithLength(twin_json, len);
    iots_err rc = cJSON_IsObject(root)
                      ? copy_string_item(cJSON_GetObjectItemCaseSensitive(root, "etag"), out, outsz)
                      : IOTS_ERR_PROTOCOL;
    cJSON_Delete(root);
    return rc;
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return 0;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

iots_err iots_iso8601_parse(const char *s, long long *out_ms)
{
    int Y, M, D, h, m, sec, ms = 0, tzh = 0, tzm = 0, sign = 0;
    const char *p = s;

    if (!s || !out_ms)
        return IOTS_ERR_ARG;
    if (!digits(&p, 4, &Y) || *p++ != '-' || !digits(&p, 2, &M) || *p++ != '-' || !digits(&p, 2, &D) ||
        (*p != 'T' && *p != 't') || !(++p, digits(&p, 2, &h)) || *p++ != ':' || !digits(&p, 2, &m) ||
        *p++ != ':' || !digits(&p, 2, &sec))
        return IOTS_ERR_ARG;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return IOTS_ERR_ARG;
        for (int i = nd; i < 3; i++)
            ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!digits(&p, 2, &tzh) || *p++ != ':' || !digits(&p, 2, &tzm) || tzh > 23 || tzm > 59)
            return IOTS_ERR_ARG;
    }
    if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return IOTS_ERR_ARG;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    long long t = (long long)timegm(&tm);
    t -= (long long)sign * (tzh * 3600 + tzm * 60);
    *out_ms = t * 1000 + ms;
    return IOTS_OK;
}
