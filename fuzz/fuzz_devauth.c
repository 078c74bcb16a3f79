/* fuzz_devauth.c - libFuzzer target for a device's or module's MQTT CONNECT (core/devauth): the user name parse
 * and the whole decision with a stub key lookup. The input is "client id\nuser name\npassword"; a
 * missing field is passed as NULL, as the broker does for an absent user name or password.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devauth.h"

#define KEY1 "/+MlfCDwB4XemwS84MPGOfZj2z3qKtQVxPQyK+uBsEs="
#define KEY2 "bXlzZWNyZXRrZXltb2NraHViMDEyMzQ1Njc4OWFiY2Q="
#define NOW 1700000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* dev1 (KEY1, KEY2), its module dev1/m1 (same keys) and off1 (disabled) on hub "localhost"; x509
 * is a non-SAS device. */
static mh_err stub_lookup(void *ctx, const char *id, mh_device_auth *out)
{
    int *calls = ctx;
    if (++*calls > 2)
        abort(); /* devauth.h: at most twice (a module's row, then its device's) */
    memset(out, 0, sizeof *out);
    if (strcmp(id, "dev1") == 0 || strcmp(id, "off1") == 0 || strcmp(id, "dev1/m1") == 0) {
        strcpy(out->primary_key, KEY1);
        strcpy(out->secondary_key, KEY2);
        out->enabled = id[0] == 'd';
        out->sas = 1;
        return MH_OK;
    }
    if (strcmp(id, "x509") == 0) {
        out->enabled = 1;
        return MH_OK;
    }
    if (strcmp(id, "broken") == 0)
        return MH_ERR_INTERNAL;
    return MH_ERR_DEVICE_NOT_FOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    /* split at the first two newlines */
    char *fields[3] = {text, NULL, NULL};
    for (int i = 1; i < 3; i++) {
        char *nl = fields[i - 1] ? strchr(fields[i - 1], '\n') : NULL;
        if (nl != NULL) {
            *nl = '\0';
            fields[i] = nl + 1;
        }
    }

    mh_devauth_username u;
    mh_status st = {0};
    if (fields[1] != NULL && mh_devauth_username_parse(fields[1], &u, &st) == MH_OK) {
        if (u.host[0] == '\0' || u.device_id[0] == '\0' || strlen(u.model_id) >= sizeof u.model_id)
            abort();
    }

    int calls = 0;
    mh_devauth_result r;
    mh_devauth_verdict v =
        mh_devauth_check("localhost", fields[0], fields[1], fields[2], NOW, stub_lookup, &calls, &r);
    if (v != r.verdict || (v == MH_DEVAUTH_OK) != (r.reason[0] == '\0') ||
        strlen(r.reason) >= sizeof r.reason)
        abort();
    if (v == MH_DEVAUTH_OK &&
        ((strcmp(r.identity, "dev1") != 0 && strcmp(r.identity, "dev1/m1") != 0) || r.expiry <= NOW))
        abort(); /* only dev1 and dev1/m1 have keys a token can be signed with and are enabled */

    (void)mh_devauth_hub_ok(fields[2], fields[0]);
    free(text);
    return 0;
}
