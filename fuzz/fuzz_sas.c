/* fuzz_sas.c - libFuzzer target for SAS tokens (common/iot_sas) and the REST Authorization header
 * check built on them (core/svcauth): parse, resource coverage, signature verification, and the
 * whole service decision with a stub policy table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iot_sas.h"
#include "svcauth.h"

#define KEY1 "/+MlfCDwB4XemwS84MPGOfZj2z3qKtQVxPQyK+uBsEs="
#define KEY2 "bXlzZWNyZXRrZXltb2NraHViMDEyMzQ1Njc4OWFiY2Q="
#define NOW 1700000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mh_err stub_policy(void *ctx, const char *name, mh_policy *out)
{
    (void)ctx;
    if (strcmp(name, "iothubowner") != 0 && strcmp(name, "service") != 0)
        return MH_ERR_NOT_FOUND;
    memset(out, 0, sizeof *out);
    strcpy(out->name, name);
    strcpy(out->primary_key, KEY1);
    strcpy(out->secondary_key, KEY2);
    out->rights = name[0] == 'i' ? 0xf : MH_RIGHT_SERVICE_CONNECT;
    return MH_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    iot_sas_token tok;
    if (iot_sas_parse(text, &tok) == IOT_OK) {
        /* what the parse promises: NUL-terminated fields within their buffers */
        if (strlen(tok.sr) >= sizeof tok.sr || strlen(tok.sr_decoded) >= sizeof tok.sr_decoded ||
            strlen(tok.skn) >= sizeof tok.skn || tok.sig_len > sizeof tok.sig || tok.se <= 0)
            abort();
        (void)iot_sas_covers(tok.sr_decoded, "myhub.azure-devices.net/devices/dev1");
        (void)iot_sas_covers(tok.sr_decoded, "localhost");
        (void)iot_sas_verify(&tok, KEY1);
    }
    /* the decoded resource as a resource to cover, both ways */
    (void)iot_sas_covers(text, "myhub.azure-devices.net/devices/dev1/modules/m1");
    (void)iot_sas_covers("myhub.azure-devices.net/devices/", text);

    mh_status st = {0};
    (void)mh_svcauth_check(text, "myhub.azure-devices.net", MH_RIGHT_SERVICE_CONNECT, NOW, stub_policy, NULL,
                           &st);
    free(text);
    return 0;
}
