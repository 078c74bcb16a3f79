/* devauth.c - device and module CONNECT decision: IoT Hub username forms, SAS token checks against
 * the identity's primary and secondary keys, and the CONNACK class the real hub answers with
 * (iothub-protocol.md 1.2-1.4, addendum 5: disabled -> 3, everything else -> 5).
 */
#include "devauth.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "iot_sas.h"

#define HUB_ID_PREFIX "$mockhub" /* reserved for the daemon's own client ids */

/* Copies len bytes into a fixed buffer; -1 when empty or too long. */
static int copy_part(char *dst, size_t dstsz, const char *src, size_t len)
{
    if (len == 0 || len >= dstsz)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* Reads the parameters we care about from "k=v&k=v"; a value longer than its buffer is cut
 * (they are informational). */
static void parse_params(const char *q, mh_devauth_username *u)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t seg = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', seg);
        size_t klen = eq ? (size_t)(eq - q) : seg;
        const char *v = eq ? eq + 1 : q + seg;
        size_t vlen = (size_t)(q + seg - v);

        if (klen == 11 && memcmp(q, "api-version", 11) == 0)
            snprintf(u->api_version, sizeof u->api_version, "%.*s", (int)vlen, v);
        else if (klen == 8 && memcmp(q, "model-id", 8) == 0)
            snprintf(u->model_id, sizeof u->model_id, "%.*s", (int)vlen, v);
        q += seg;
        if (*q == '&')
            q++;
    }
}

mh_err mh_devauth_username_parse(const char *username, mh_devauth_username *out, mh_status *st)
{
    mh_devauth_username u;
    const char *q, *path_end, *s1, *s2, *s3;
    size_t path_len;

    if (!username || !out)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "no username");
    memset(&u, 0, sizeof u);

    /* Where the path ends: "/?" (current SDKs), "/api-version=" (old legacy C), else the first '?'. */
    if ((q = strstr(username, "/?")) != NULL) {
        path_end = q;
        parse_params(q + 2, &u);
    } else if ((q = strstr(username, "/api-version=")) != NULL) {
        path_end = q;
        parse_params(q + 1, &u);
    } else {
        q = strchr(username, '?');
        path_end = q ? q : username + strlen(username);
        if (q)
            parse_params(q + 1, &u);
        if (path_end > username && path_end[-1] == '/')
            path_end--; /* "{host}/{id}/" */
    }
    path_len = (size_t)(path_end - username);

    s1 = memchr(username, '/', path_len);
    if (!s1)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "username must be {host}/{deviceId}/?api-version=...");
    s2 = memchr(s1 + 1, '/', path_len - (size_t)(s1 + 1 - username));
    s3 = s2 ? memchr(s2 + 1, '/', path_len - (size_t)(s2 + 1 - username)) : NULL;
    if (s3)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "username has too many path parts");
    if (copy_part(u.host, sizeof u.host, username, (size_t)(s1 - username)) != 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "username host part is empty or too long");
    if (copy_part(u.device_id, sizeof u.device_id, s1 + 1,
                  (size_t)((s2 ? s2 : username + path_len) - (s1 + 1))) != 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "username device id is empty or too long");
    if (s2 &&
        copy_part(u.module_id, sizeof u.module_id, s2 + 1, (size_t)(username + path_len - (s2 + 1))) != 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "username module id is empty or too long");
    memcpy(out, &u, sizeof u);
    return MH_OK;
}

static mh_devauth_verdict verdict(mh_devauth_result *out, mh_devauth_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the verdict and its reason in *out and returns the verdict. */
static mh_devauth_verdict verdict(mh_devauth_result *out, mh_devauth_verdict v, const char *fmt, ...)
{
    va_list ap;

    out->verdict = v;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    return v;
}

/* Splits client id "{d}" or "{d}/{m}" into dev and mod ("" for a device); -1 when a part is empty,
 * longer than an id may be, or there is more than one '/'. */
static int split_client_id(const char *client_id, char dev[MH_ID_MAX + 1], char mod[MH_ID_MAX + 1])
{
    const char *slash = strchr(client_id, '/');
    size_t dlen = slash ? (size_t)(slash - client_id) : strlen(client_id);

    mod[0] = '\0';
    if (copy_part(dev, MH_ID_MAX + 1, client_id, dlen) != 0)
        return -1;
    if (!slash)
        return 0;
    if (strchr(slash + 1, '/') || copy_part(mod, MH_ID_MAX + 1, slash + 1, strlen(slash + 1)) != 0)
        return -1;
    return 0;
}

mh_devauth_verdict mh_devauth_check(const char *hostname, const char *client_id, const char *username,
                                    const char *password, long long now, mh_devauth_lookup_fn lookup,
                                    void *lookup_ctx, mh_devauth_result *out)
{
    mh_devauth_username u;
    iot_sas_token tok;
    mh_device_auth auth;
    mh_status st;
    char resource[512], dev[MH_ID_MAX + 1], mod[MH_ID_MAX + 1];
    const char *what; /* "device" or "module", for the reasons */
    iot_err ierr;
    mh_err err;
    int n, matched, enabled;

    memset(out, 0, sizeof *out);
    if (!client_id || !*client_id)
        return verdict(out, MH_DEVAUTH_DENIED, "empty client id");
    if (strlen(client_id) > MH_IDENTITY_MAX)
        return verdict(out, MH_DEVAUTH_DENIED, "client id longer than %d characters", MH_IDENTITY_MAX);
    if (split_client_id(client_id, dev, mod) != 0)
        /* AZURE: the client id is "{deviceId}" or "{deviceId}/{moduleId}" (iothub-protocol.md 1.2);
         * neither id may contain '/' or be longer than 128 characters. */
        return verdict(out, MH_DEVAUTH_DENIED,
                       "client id '%.300s' is neither {deviceId} nor {deviceId}/{moduleId} (empty or too "
                       "long part, or more than one '/')",
                       client_id);
    what = mod[0] ? "module" : "device";
    if (strpbrk(client_id, "+#"))
        /* MOCK: the registry allows '+' and '#' in device ids, but they cannot appear in the internal
         * $mockhub/... topic names (MQTT wildcards), so such devices cannot connect here. */
        return verdict(out, MH_DEVAUTH_DENIED, "client id '%s' contains '+' or '#'", client_id);
    if (strncmp(client_id, HUB_ID_PREFIX, strlen(HUB_ID_PREFIX)) == 0)
        /* MOCK: ids starting with $mockhub are the daemon's; the real hub would accept them. */
        return verdict(out, MH_DEVAUTH_DENIED, "client id '%s' is reserved", client_id);
    snprintf(out->identity, sizeof out->identity, "%s", client_id);

    if (!username)
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s sent no username", what, client_id);
    if (mh_devauth_username_parse(username, &u, &st) != MH_OK)
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s: bad username '%.120s': %s", what, client_id, username,
                       st.text);
    if (!hostname || strcasecmp(u.host, hostname) != 0)
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s: username host '%s' is not this hub ('%s')", what,
                       client_id, u.host, hostname ? hostname : "");
    if (strcmp(u.device_id, dev) != 0 || strcmp(u.module_id, mod) != 0)
        return verdict(out, MH_DEVAUTH_DENIED, "client id '%s' and username identity '%s%s%s' differ",
                       client_id, u.device_id, u.module_id[0] ? "/" : "", u.module_id);

    if (!password || !*password)
        /* MOCK: X.509 authentication (no password) is not supported. */
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s sent no SAS token (X.509 is not supported)", what,
                       client_id);
    ierr = iot_sas_parse(password, &tok);
    if (ierr != IOT_OK)
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s: malformed SAS token (%s)", what, client_id,
                       iot_err_str(ierr));
    if (tok.skn[0])
        /* MOCK: tokens signed with a shared access policy (skn=, DeviceConnect) are refused; the
         * real hub accepts them for policies with the DeviceConnect right. */
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s: policy tokens (skn=%s) are not supported", what,
                       client_id, tok.skn);
    /* AZURE: a module's resource is {host}/devices/{d}/modules/{m} (iothub-protocol.md 1.3). sr is a
     * prefix matched by segment, so a device-scope sr {host}/devices/{d} covers it as well; the hub
     * then checks the signature against the MODULE's keys (Azure/iotedge#5155: a module presenting a
     * device-scope token got "invalid signature. It does not match either the primary or secondary
     * key"), which is what happens below. */
    n = mod[0] ? snprintf(resource, sizeof resource, "%s/devices/%s/modules/%s", hostname, dev, mod)
               : snprintf(resource, sizeof resource, "%s/devices/%s", hostname, dev);
    if (n < 0 || (size_t)n >= sizeof resource || !iot_sas_covers(tok.sr_decoded, resource))
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s: token sr '%s' does not cover %s", what, client_id,
                       tok.sr_decoded, resource);
    if (tok.se <= now)
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s: SAS token expired at %lld (now %lld)", what, client_id,
                       tok.se, now);

    err = lookup(lookup_ctx, client_id, &auth);
    if (err == MH_ERR_DEVICE_NOT_FOUND)
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s is not registered", what, client_id);
    if (err != MH_OK)
        return verdict(out, MH_DEVAUTH_ERROR, "%s %s: registry lookup failed (error %d)", what, client_id,
                       (int)err);
    if (!auth.sas)
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s does not use SAS authentication", what, client_id);
    matched = (auth.primary_key[0] && iot_sas_verify(&tok, auth.primary_key)) ||
              (auth.secondary_key[0] && iot_sas_verify(&tok, auth.secondary_key));
    enabled = auth.enabled;
    OPENSSL_cleanse(&auth, sizeof auth);
    if (!matched)
        return verdict(out, MH_DEVAUTH_DENIED, "%s %s: signature matches neither %s key", what, client_id,
                       what);
    if (!enabled)
        return verdict(out, MH_DEVAUTH_DISABLED, "%s %s is disabled", what, client_id);
    if (mod[0]) {
        /* MOCK: a module of a disabled device is refused like the device (CONNACK 3): the hub's
         * "a disabled device cannot access any device-facing endpoint" [D-idreg] read as covering the
         * endpoints under /devices/{d}/modules/; not verified against a hub. */
        memset(&auth, 0, sizeof auth);
        err = lookup(lookup_ctx, dev, &auth);
        enabled = err == MH_OK && auth.enabled;
        OPENSSL_cleanse(&auth, sizeof auth);
        if (err == MH_ERR_DEVICE_NOT_FOUND)
            return verdict(out, MH_DEVAUTH_DENIED, "module %s: device %s is not registered", client_id, dev);
        if (err != MH_OK)
            return verdict(out, MH_DEVAUTH_ERROR, "module %s: registry lookup of device %s failed (error %d)",
                           client_id, dev, (int)err);
        if (!enabled)
            return verdict(out, MH_DEVAUTH_DISABLED, "module %s: device %s is disabled", client_id, dev);
    }
    out->verdict = MH_DEVAUTH_OK;
    out->expiry = tok.se;
    out->reason[0] = '\0';
    return MH_DEVAUTH_OK;
}

int mh_devauth_hub_ok(const char *password, const char *secret)
{
    size_t len;

    if (!password || !secret || !*secret)
        return 0;
    len = strlen(secret);
    if (strlen(password) != len)
        return 0;
    return CRYPTO_memcmp(password, secret, len) == 0;
}
