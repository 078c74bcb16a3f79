/* svcauth.c - service SAS tokens on REST calls. Pure: the policy comes from a lookup callback. */
#include "svcauth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot_sas.h"

/* Verifies everything but the rights; *out_rights and *out_se describe the valid token. */
static mh_err verify(const char *authorization, const char *hostname, long long now,
                     mh_policy_lookup_fn lookup, void *ctx, unsigned *out_rights, long long *out_se,
                     char *out_name, mh_status *st)
{
    iot_sas_token tok;
    mh_policy pol;
    if (authorization == NULL || *authorization == '\0')
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: no Authorization header");
    if (iot_sas_parse(authorization, &tok) != IOT_OK)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: malformed SharedAccessSignature");
    if (tok.skn[0] == '\0')
        return mh_fail(st, MH_ERR_UNAUTHORIZED,
                       "Unauthorized: the token names no shared access policy (skn)");
    /* A service token is scoped to the hub: sr is the host name (a longer sr names one device). */
    if (!iot_sas_covers(tok.sr_decoded, hostname))
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: token audience '%s' is not this hub '%s'",
                       tok.sr_decoded, hostname);
    if (tok.se <= now)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: the SAS token has expired");
    if (lookup(ctx, tok.skn, &pol) != MH_OK)
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: unknown shared access policy '%s'", tok.skn);
    if (!iot_sas_verify(&tok, pol.primary_key) && !iot_sas_verify(&tok, pol.secondary_key))
        return mh_fail(st, MH_ERR_UNAUTHORIZED, "Unauthorized: signature does not match policy '%s'",
                       tok.skn);
    *out_rights = pol.rights;
    *out_se = tok.se;
    snprintf(out_name, 64, "%.63s", tok.skn);
    return MH_OK;
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
    mh_err err = verify(authorization, hostname, now, lookup, ctx, &rights, &se, name, st);
    return err != MH_OK ? err : rights_fail(rights, need, name, st);
}

#define CACHE_SLOTS 1024
#define CACHE_TOKEN_MAX 512

typedef struct slot {
    char token[CACHE_TOKEN_MAX]; /* "" when empty */
    long long se;
    unsigned rights;
    char name[64];
} slot;

struct mh_svcauth_cache {
    pthread_mutex_t lock;
    slot slots[CACHE_SLOTS];
};

mh_svcauth_cache *mh_svcauth_cache_new(void)
{
    mh_svcauth_cache *c = calloc(1, sizeof *c);
    if (c != NULL)
        pthread_mutex_init(&c->lock, NULL);
    return c;
}

void mh_svcauth_cache_free(mh_svcauth_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static size_t slot_of(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h % CACHE_SLOTS;
}

mh_err mh_svcauth_check_cached(mh_svcauth_cache *c, const char *authorization, const char *hostname,
                               unsigned need, long long now, mh_policy_lookup_fn lookup, void *ctx,
                               mh_status *st)
{
    if (c == NULL || authorization == NULL || strlen(authorization) >= CACHE_TOKEN_MAX)
        return mh_svcauth_check(authorization, hostname, need, now, lookup, ctx, st);
    slot *sl = &c->slots[slot_of(authorization)];
    pthread_mutex_lock(&c->lock);
    int hit = strcmp(sl->token, authorization) == 0 && sl->se > now;
    unsigned rights = sl->rights;
    char name[64];
    memcpy(name, sl->name, sizeof name);
    pthread_mutex_unlock(&c->lock);
    if (hit)
        return rights_fail(rights, need, name, st);

    long long se = 0;
    mh_err err = verify(authorization, hostname, now, lookup, ctx, &rights, &se, name, st);
    if (err != MH_OK)
        return err;
    pthread_mutex_lock(&c->lock);
    strcpy(sl->token, authorization);
    sl->se = se;
    sl->rights = rights;
    memcpy(sl->name, name, sizeof name);
    pthread_mutex_unlock(&c->lock);
    return rights_fail(rights, need, name, st);
}
