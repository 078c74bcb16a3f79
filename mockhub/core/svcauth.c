/* svcauth.c - service SAS tokens on REST calls. Pure: the policy comes from a lookup callback. */
#include "svcauth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "htab.h"
#include "iot_sas.h"

/* 1 when sr (decoded) names hostname: "host[/...]", "scheme://host[:port][/...]" (host compared
 * case-insensitively). AMQP clients put such addresses in their CBS tokens. */
static int sr_names_host(const char *sr, const char *hostname)
{
    const char *s = strstr(sr, "://");
    s = s ? s + 3 : sr;
    size_t hl = strlen(hostname);
    if (strncasecmp(s, hostname, hl) != 0)
        return 0;
    return s[hl] == '\0' || s[hl] == '/' || s[hl] == ':';
}

/* Verifies a token string against the hub and its policies, everything but the rights;
 * *out_rights, *out_se and out_name (64 bytes, may be NULL) describe the valid token. amqp: the
 * audience may be an address naming the hub, and a signature with the key's raw bytes (the Event
 * Hubs SDKs') is accepted too. */
static mh_err verify(const char *token, int amqp, const char *hostname, long long now,
                     mh_policy_lookup_fn lookup, void *ctx, unsigned *out_rights, long long *out_se,
                     char *out_name, mh_status *st)
{
    iot_sas_token tok;
    mh_policy pol;
    if (token == NULL || *token == '\0')
        return mh_fail(st, MH_ERR_UNAUTHORIZED,
                       amqp ? "Unauthorized: malformed SharedAccessSignature"
                            : "Unauthorized: no Authorization header");
    if (iot_sas_parse(token, &tok) != IOT_OK)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: malformed SharedAccessSignature");
    if (tok.skn[0] == '\0')
        return mh_fail(st, MH_ERR_UNAUTHORIZED,
                       "Unauthorized: the token names no shared access policy (skn)");
    /* A service token is scoped to the hub: sr is the host name (a longer sr names one device). */
    if (amqp ? !sr_names_host(tok.sr_decoded, hostname) : !iot_sas_covers(tok.sr_decoded, hostname))
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: token audience '%s' is not this hub '%s'",
                       tok.sr_decoded, hostname);
    if (tok.se <= now)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: the SAS token has expired");
    if (lookup(ctx, tok.skn, &pol) != MH_OK)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: unknown shared access policy '%s'", tok.skn);
    if (!iot_sas_verify(&tok, pol.primary_key) && !iot_sas_verify(&tok, pol.secondary_key) &&
        !(amqp && (iot_sas_verify_raw(&tok, pol.primary_key) || iot_sas_verify_raw(&tok, pol.secondary_key))))
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: signature does not match policy '%s'",
                       tok.skn);
    *out_rights = pol.rights;
    *out_se = tok.se;
    if (out_name != NULL)
        snprintf(out_name, 64, "%.63s", tok.skn);
    return MH_OK;
}

mh_err mh_svcauth_check_amqp(const char *token, const char *hostname, long long now,
                             mh_policy_lookup_fn lookup, void *ctx, unsigned *out_rights, long long *out_se,
                             mh_status *st)
{
    return verify(token, 1, hostname, now, lookup, ctx, out_rights, out_se, NULL, st);
}

static mh_err rights_fail(unsigned rights, unsigned need, const char *name, mh_status *st)
{
    if ((rights & need) == 0)
        return mh_fail(st, MH_ERR_UNAUTHORIZED,
                       "Unauthorized: policy '%s' lacks the permission this operation needs", name);
    return MH_OK;
}

mh_err mh_svcauth_check(const char *authorization, const char *hostname, unsigned need, long long now,
                        mh_policy_lookup_fn lookup, void *ctx, mh_status *st)
{
    unsigned rights = 0;
    long long se = 0;
    char name[64];
    mh_err err = verify(authorization, 0, hostname, now, lookup, ctx, &rights, &se, name, st);
    return err != MH_OK ? err : rights_fail(rights, need, name, st);
}

#define CACHE_MAX 4096      /* cap: entries grow with distinct tokens presented */
#define CACHE_TOKEN_MAX 512 /* longer tokens are checked uncached */

typedef struct entry {
    long long se; /* the token's expiry: the entry is dropped after it */
    unsigned rights;
    char name[64];
    char token[]; /* the table's key */
} entry;

struct mh_svcauth_cache {
    pthread_mutex_t lock;
    mh_htab *tokens; /* token text -> entry */
};

mh_svcauth_cache *mh_svcauth_cache_new(void)
{
    mh_svcauth_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (mh_htab_new(CACHE_MAX, NULL, NULL, &c->tokens) != MH_OK) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

/* Frees the expired entries, or all of them when none has expired (the cache is full of live
 * tokens: starting over costs one HMAC per token). Called with the lock held. */
static void evict(mh_svcauth_cache *c, long long now, int all)
{
    size_t cur = 0;
    void *v;
    while (mh_htab_next(c->tokens, &cur, NULL, &v)) {
        entry *e = v;
        if (all || e->se <= now) {
            mh_htab_remove(c->tokens, e->token);
            free(e);
        }
    }
}

void mh_svcauth_cache_free(mh_svcauth_cache *c)
{
    if (c == NULL)
        return;
    evict(c, 0, 1);
    mh_htab_free(c->tokens);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

mh_err mh_svcauth_check_cached(mh_svcauth_cache *c, const char *authorization, const char *hostname,
                               unsigned need, long long now, mh_policy_lookup_fn lookup, void *ctx,
                               mh_status *st)
{
    size_t len;
    if (c == NULL || authorization == NULL || (len = strlen(authorization)) >= CACHE_TOKEN_MAX)
        return mh_svcauth_check(authorization, hostname, need, now, lookup, ctx, st);
    unsigned rights = 0;
    char name[64];
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    entry *e = mh_htab_get(c->tokens, authorization);
    if (e != NULL && e->se > now) {
        hit = 1;
        rights = e->rights;
        memcpy(name, e->name, sizeof name);
    } else if (e != NULL) {
        mh_htab_remove(c->tokens, e->token);
        free(e);
    }
    pthread_mutex_unlock(&c->lock);
    if (hit)
        return rights_fail(rights, need, name, st);

    long long se = 0;
    mh_err err = verify(authorization, 0, hostname, now, lookup, ctx, &rights, &se, name, st);
    if (err != MH_OK)
        return err;
    pthread_mutex_lock(&c->lock);
    e = mh_htab_get(c->tokens, authorization);
    if (e == NULL) { /* else another thread verified the same token meanwhile: same answer */
        e = malloc(sizeof *e + len + 1);
        if (e != NULL) {
            e->se = se;
            e->rights = rights;
            memcpy(e->name, name, sizeof name);
            memcpy(e->token, authorization, len + 1);
            if (mh_htab_count(c->tokens) >= CACHE_MAX)
                evict(c, now, 0);
            if (mh_htab_count(c->tokens) >= CACHE_MAX)
                evict(c, now, 1);
            if (mh_htab_put(c->tokens, e->token, e) != MH_OK)
                free(e); /* out of memory: stay uncached */
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rights_fail(rights, need, name, st);
}
