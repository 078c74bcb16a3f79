/* Unit tests for svcauth.c: service SAS tokens on REST calls. Tokens are made with iot_sas_format
 * (itself checked against Microsoft's SDK vectors in test_sas.c) and one literal token produced by
 * the Node service SDK (azure-iothub 1.16.6 Registry, node-sdk-behaviour.md 3). */
#include <criterion/criterion.h>
#include <string.h>

#include "iot_sas.h"
#include "svcauth.h"

#define OWNER_KEY "bW9ja2h1Yi13ZWxsLWtub3duLWRldmVsb3BtZW50LWtleQ=="
#define REGREAD_KEY "cmVnaXN0cnlSZWFkLWtleS1mb3ItdGVzdHMtb25seQ=="
#define NOW 1795680000LL

static mh_err lookup(void *ctx, const char *name, mh_policy *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    if (strcmp(name, "iothubowner") == 0) {
        strcpy(out->name, name);
        strcpy(out->primary_key, "c2Vjb25kYXJ5LWlzLW5vdC10aGUtcHJpbWFyeQ==");
        strcpy(out->secondary_key, OWNER_KEY);
        out->rights = MH_RIGHT_REGISTRY_READ | MH_RIGHT_REGISTRY_WRITE | MH_RIGHT_SERVICE_CONNECT |
                      MH_RIGHT_DEVICE_CONNECT;
        return MH_OK;
    }
    if (strcmp(name, "registryRead") == 0) {
        strcpy(out->name, name);
        strcpy(out->primary_key, REGREAD_KEY);
        strcpy(out->secondary_key, REGREAD_KEY);
        out->rights = MH_RIGHT_REGISTRY_READ;
        return MH_OK;
    }
    return MH_ERR_NOT_FOUND;
}

static void token(const char *resource, const char *key, const char *policy, long long se, char *out)
{
    cr_assert_eq(iot_sas_format(resource, key, policy, se, out, 1024), IOT_OK);
}

Test(svcauth, check_owner_secondary_key_succeeds)
{
    char t[1024];
    mh_status st = {0};
    token("localhost", OWNER_KEY, "iothubowner", NOW + 3600, t);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, lookup, NULL, &st), MH_OK,
                 "%s", st.text);
}

Test(svcauth, check_host_case_insensitive_succeeds)
{
    char t[1024];
    token("LocalHost", OWNER_KEY, "iothubowner", NOW + 3600, t);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_REGISTRY_READ, NOW, lookup, NULL, NULL), MH_OK);
}

Test(svcauth, check_expired_fails)
{
    char t[1024];
    mh_status st = {0};
    token("localhost", OWNER_KEY, "iothubowner", NOW - 1, t);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, lookup, NULL, &st),
                 MH_ERR_UNAUTHORIZED);
    cr_assert(strstr(st.text, "expired") != NULL, "%s", st.text);
}

Test(svcauth, check_wrong_key_fails)
{
    char t[1024];
    token("localhost", REGREAD_KEY, "iothubowner", NOW + 60, t);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, lookup, NULL, NULL),
                 MH_ERR_UNAUTHORIZED);
}

Test(svcauth, check_missing_right_fails)
{
    char t[1024];
    mh_status st = {0};
    token("localhost", REGREAD_KEY, "registryRead", NOW + 60, t);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_REGISTRY_READ, NOW, lookup, NULL, &st), MH_OK);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_REGISTRY_WRITE, NOW, lookup, NULL, &st),
                 MH_ERR_UNAUTHORIZED);
    cr_assert(strstr(st.text, "registryRead") != NULL, "%s", st.text);
}

Test(svcauth, check_other_hub_fails)
{
    char t[1024];
    token("otherhub.azure-devices.net", OWNER_KEY, "iothubowner", NOW + 60, t);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, lookup, NULL, NULL),
                 MH_ERR_UNAUTHORIZED);
}

Test(svcauth, check_device_scoped_token_fails)
{
    char t[1024];
    /* a device token (no skn) presented to the service API */
    token("localhost/devices/dev1", OWNER_KEY, NULL, NOW + 60, t);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, lookup, NULL, NULL),
                 MH_ERR_UNAUTHORIZED);
}

Test(svcauth, check_unknown_policy_and_garbage_fail)
{
    char t[1024];
    token("localhost", OWNER_KEY, "nosuchpolicy", NOW + 60, t);
    cr_assert_eq(mh_svcauth_check(t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, lookup, NULL, NULL),
                 MH_ERR_UNAUTHORIZED);
    cr_assert_eq(mh_svcauth_check(NULL, "localhost", 1, NOW, lookup, NULL, NULL), MH_ERR_UNAUTHORIZED);
    cr_assert_eq(mh_svcauth_check("", "localhost", 1, NOW, lookup, NULL, NULL), MH_ERR_UNAUTHORIZED);
    cr_assert_eq(mh_svcauth_check("Bearer abc", "localhost", 1, NOW, lookup, NULL, NULL),
                 MH_ERR_UNAUTHORIZED);
    cr_assert_eq(mh_svcauth_check("SharedAccessSignature sr=localhost&sig=%%%&se=1&skn=iothubowner",
                                  "localhost", 1, NOW, lookup, NULL, NULL),
                 MH_ERR_UNAUTHORIZED);
}

static int lookups;

static mh_err counting_lookup(void *ctx, const char *name, mh_policy *out)
{
    lookups++;
    return lookup(ctx, name, out);
}

Test(svcauth, check_cached_second_call_skips_lookup_succeeds)
{
    char t[1024];
    mh_svcauth_cache *c = mh_svcauth_cache_new();
    cr_assert_not_null(c);
    lookups = 0;
    token("localhost", OWNER_KEY, "iothubowner", NOW + 3600, t);
    cr_assert_eq(mh_svcauth_check_cached(c, t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, counting_lookup,
                                         NULL, NULL),
                 MH_OK);
    cr_assert_eq(
        mh_svcauth_check_cached(c, t, "localhost", MH_RIGHT_REGISTRY_WRITE, NOW, counting_lookup, NULL, NULL),
        MH_OK);
    cr_assert_eq(lookups, 1);
    mh_svcauth_cache_free(c);
}

Test(svcauth, check_cached_expired_and_rights_fail)
{
    char t[1024];
    mh_svcauth_cache *c = mh_svcauth_cache_new();
    lookups = 0;
    token("localhost", REGREAD_KEY, "registryRead", NOW + 10, t);
    cr_assert_eq(
        mh_svcauth_check_cached(c, t, "localhost", MH_RIGHT_REGISTRY_READ, NOW, counting_lookup, NULL, NULL),
        MH_OK);
    /* cached, but the right is still enforced */
    cr_assert_eq(mh_svcauth_check_cached(c, t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, counting_lookup,
                                         NULL, NULL),
                 MH_ERR_UNAUTHORIZED);
    cr_assert_eq(lookups, 1);
    /* once expired the cache does not answer: the full check refuses it */
    cr_assert_eq(mh_svcauth_check_cached(c, t, "localhost", MH_RIGHT_REGISTRY_READ, NOW + 10, counting_lookup,
                                         NULL, NULL),
                 MH_ERR_UNAUTHORIZED);
    /* a tampered token never hits the cache */
    t[strlen(t) - 1] = t[strlen(t) - 1] == '1' ? '2' : '1';
    cr_assert_eq(
        mh_svcauth_check_cached(c, t, "localhost", MH_RIGHT_REGISTRY_READ, NOW, counting_lookup, NULL, NULL),
        MH_ERR_UNAUTHORIZED);
    mh_svcauth_cache_free(c);
}

/* Fills the cache with tokens NOW + base + i for i in [0, n) and returns the cache. */
static mh_svcauth_cache *filled_cache(long long base, int n)
{
    char t[1024];
    mh_svcauth_cache *c = mh_svcauth_cache_new();
    cr_assert_not_null(c);
    for (long long i = 0; i < n; i++) {
        token("localhost", OWNER_KEY, "iothubowner", NOW + base + i, t);
        cr_assert_eq(
            mh_svcauth_check_cached(c, t, "localhost", MH_RIGHT_SERVICE_CONNECT, NOW, lookup, NULL, NULL),
            MH_OK);
    }
    return c;
}

static int cached(mh_svcauth_cache *c, long long se, long long now)
{
    char t[1024];
    token("localhost", OWNER_KEY, "iothubowner", se, t);
    lookups = 0;
    cr_assert_eq(mh_svcauth_check_cached(c, t, "localhost", MH_RIGHT_SERVICE_CONNECT, now, counting_lookup,
                                         NULL, NULL),
                 MH_OK);
    return lookups == 0;
}

Test(svcauth, check_cached_more_live_tokens_than_the_cap_succeeds)
{
    /* 5000 live tokens overflow the 4096-entry cache: it starts over at the 4097th and keeps
     * answering right */
    mh_svcauth_cache *c = filled_cache(100000, 5000);
    cr_assert(cached(c, NOW + 100000 + 4999, NOW), "the newest token is cached");
    cr_assert_not(cached(c, NOW + 100000, NOW), "the first token was dropped, and is checked again");
    cr_assert(cached(c, NOW + 100000, NOW), "and cached again");
    mh_svcauth_cache_free(c);
}

Test(svcauth, check_cached_full_drops_expired_first_succeeds)
{
    mh_svcauth_cache *c = filled_cache(100000, 4096);
    long long later = NOW + 100000 + 2048; /* tokens 0..2048 have expired by then */
    cr_assert_not(cached(c, NOW + 900000, later), "a new token, cached after dropping the expired ones");
    cr_assert(cached(c, NOW + 100000 + 4095, later), "live tokens stay cached");
    cr_assert(cached(c, NOW + 100000 + 2049, later));
    cr_assert(cached(c, NOW + 900000, later));
    mh_svcauth_cache_free(c);
}

/* core-amqp's form (amqp-protocol.md 2.4): sr = encodeURIComponent of the sb:// audience, HMAC keyed
 * with the key string's bytes, not base64-decoded. */
#define EH_TOKEN                                                                                             \
    "SharedAccessSignature "                                                                                 \
    "sr=sb%3A%2F%2Flocalhost%3A5672%2Flocalhost%2F%24management&sig="                                        \
    "0P1NK7VhscyO8LIWPsrkeAUyfjwp74ljk2O1spdujPY%3D&se=1795683600&skn=iothubowner"

Test(svcauth, mh_svcauth_check_amqp_event_hubs_raw_key_succeeds)
{
    unsigned rights = 0;
    long long se = 0;
    mh_status st = {0};
    cr_assert_eq(mh_svcauth_check_amqp(EH_TOKEN, "localhost", NOW, lookup, NULL, &rights, &se, &st), MH_OK,
                 "%s", st.text);
    cr_assert(rights & MH_RIGHT_SERVICE_CONNECT);
    cr_assert_eq(se, 1795683600LL);
}

Test(svcauth, mh_svcauth_check_amqp_iothub_token_succeeds)
{
    char t[1024];
    unsigned rights = 0;
    long long se = 0;
    token("localhost", OWNER_KEY, "iothubowner", NOW + 3600, t);
    cr_assert_eq(mh_svcauth_check_amqp(t, "localhost", NOW, lookup, NULL, &rights, &se, NULL), MH_OK);
}

Test(svcauth, mh_svcauth_check_amqp_other_host_or_expired_fails)
{
    unsigned rights = 0;
    long long se = 0;
    mh_status st = {0};
    cr_assert_eq(mh_svcauth_check_amqp(EH_TOKEN, "otherhub", NOW, lookup, NULL, &rights, &se, &st),
                 MH_ERR_UNAUTHORIZED);
    cr_assert_eq(mh_svcauth_check_amqp(EH_TOKEN, "localhost", 1795683600LL, lookup, NULL, &rights, &se, &st),
                 MH_ERR_UNAUTHORIZED);
    char t[1024];
    token("localhost", REGREAD_KEY, "iothubowner", NOW + 3600, t); /* wrong key for the policy */
    cr_assert_eq(mh_svcauth_check_amqp(t, "localhost", NOW, lookup, NULL, &rights, &se, &st),
                 MH_ERR_UNAUTHORIZED);
}
