/* Unit tests for service/iots_client and iots_http that need no hub: connection strings, CA file
 * handling, argument checks that fail before any I/O, libcurl error classes, and a call to a
 * closed local port (connection refused, nothing listens). */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iots_client.h"
#include "iots_http.h"

#define KEY2 "bXlzZWNyZXRrZXltb2NraHViMDEyMzQ1Njc4OWFiY2Q="
#define CS_OK "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" KEY2

static iots_options no_ca = {.ca_file = ""};

Test(service_client, iots_client_new_valid_succeeds)
{
    iots_client *c = NULL;
    iots_error_info e;
    cr_assert_eq(iots_client_new(CS_OK, &no_ca, &c, &e), IOTS_OK, "%s", e.message);
    cr_assert_str_eq(iots_client_host_name(c), "myhub.azure-devices.net");
    cr_assert_eq(iots_client_last_error(c)->err, IOTS_OK);
    iots_client_free(c);
    cr_assert_eq(iots_client_new("HostName=localhost:4443;SharedAccessKeyName=service;SharedAccessKey=" KEY2,
                                 &no_ca, &c, &e),
                 IOTS_OK);
    cr_assert_str_eq(iots_client_host_name(c), "localhost:4443");
    iots_client_free(c);
    iots_client_free(NULL);
}

Test(service_client, iots_client_new_malformed_fails)
{
    static const char *bad[] = {
        "",
        "HostName=h;SharedAccessKey=" KEY2,                            /* no key name */
        "HostName=h;SharedAccessKeyName=p",                            /* no key */
        "SharedAccessKeyName=p;SharedAccessKey=" KEY2,                 /* no host */
        "HostName=h;SharedAccessKeyName=p;SharedAccessKey=not*base64", /* bad key */
        "HostName=h:0;SharedAccessKeyName=p;SharedAccessKey=" KEY2,    /* bad port */
        "HostName=h:x;SharedAccessKeyName=p;SharedAccessKey=" KEY2,
        "HostName=h;DeviceId=d;SharedAccessKey=" KEY2, /* device string */
        "garbage",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        iots_client *c = (iots_client *)0x1;
        iots_error_info e;
        cr_assert_eq(iots_client_new(bad[i], &no_ca, &c, &e), IOTS_ERR_CONNSTR, "%s", bad[i]);
        cr_assert_eq(e.err, IOTS_ERR_CONNSTR);
        cr_assert(strstr(e.message, "connection string") != NULL, "%s", e.message);
        cr_assert_eq(c, (iots_client *)0x1);
    }
}

Test(service_client, iots_client_new_missing_ca_file_fails)
{
    iots_client *c = NULL;
    iots_error_info e;
    iots_options o = {.ca_file = "/nonexistent/ca.pem"};
    cr_assert_eq(iots_client_new(CS_OK, &o, &c, &e), IOTS_ERR_CONFIG);
    cr_assert(strstr(e.message, "/nonexistent/ca.pem") != NULL, "%s", e.message);
    cr_assert_null(c);
}

Test(service_client, iots_client_new_env_ca_file_not_pem_fails)
{
    char path[] = "/tmp/iots_test_caXXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    setenv("IOTHUB_CA_FILE", path, 1);
    iots_client *c = NULL;
    iots_error_info e;
    cr_assert_eq(iots_client_new(CS_OK, NULL, &c, &e), IOTS_ERR_CONFIG);
    cr_assert(strstr(e.message, "no PEM certificate") != NULL, "%s", e.message);
    /* an explicit "" option overrides the environment */
    cr_assert_eq(iots_client_new(CS_OK, &no_ca, &c, &e), IOTS_OK);
    iots_client_free(c);
    unsetenv("IOTHUB_CA_FILE");
    unlink(path);
}

Test(service_client, iots_calls_bad_arguments_fails)
{
    iots_client *c = NULL;
    int status = -1;
    char *out = NULL;
    cr_assert_eq(iots_client_new(CS_OK, &no_ca, &c, NULL), IOTS_OK);
    /* all of these fail before any network I/O */
    cr_assert_eq(iots_invoke_method(c, "d", "m", "{bad json", 30, 0, &status, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_client_last_error(c)->err, IOTS_ERR_ARG);
    cr_assert_eq(iots_invoke_method(c, "d", "", NULL, 30, 0, &status, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_invoke_method(c, "", "m", NULL, 30, 0, &status, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_get_twin(c, "", &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_update_twin(c, "d", NULL, NULL, NULL, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_update_twin(c, "d", "[1]", NULL, NULL, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_create_device(c, "", &out), IOTS_ERR_ARG);
    cr_assert_eq(status, -1);
    cr_assert_null(out);
    iots_query *q = NULL;
    cr_assert_eq(iots_query_new(c, "", 10, &q), IOTS_ERR_ARG);
    cr_assert_eq(iots_query_new(c, "SELECT * FROM devices", 10, &q), IOTS_OK);
    cr_assert_eq(iots_query_has_more(q), 1);
    iots_query_free(q);
    iots_client_free(c);
}

Test(service_client, iots_get_twin_closed_port_fails)
{
    /* 127.0.0.1:1 has no listener: connection refused, a transport error with libcurl's text */
    iots_client *c = NULL;
    char *twin = NULL;
    cr_assert_eq(iots_client_new("HostName=127.0.0.1:1;SharedAccessKeyName=iothubowner;SharedAccessKey=" KEY2,
                                 &no_ca, &c, NULL),
                 IOTS_OK);
    cr_assert_eq(iots_get_twin(c, "dev1", &twin), IOTS_ERR_TRANSPORT);
    const iots_error_info *e = iots_client_last_error(c);
    cr_assert_eq(e->err, IOTS_ERR_TRANSPORT);
    cr_assert_eq(e->http_status, 0);
    cr_assert(strstr(e->message, "https://127.0.0.1:1/twins/dev1?api-version=2021-04-12") != NULL, "%s",
              e->message);
    cr_assert_null(twin);
    iots_client_free(c);
}

Test(service_client, iots_http_classify_curl_codes_succeeds)
{
    cr_assert_eq(iots_http_classify(CURLE_OK), IOTS_OK);
    cr_assert_eq(iots_http_classify(CURLE_COULDNT_CONNECT), IOTS_ERR_TRANSPORT);
    cr_assert_eq(iots_http_classify(CURLE_COULDNT_RESOLVE_HOST), IOTS_ERR_TRANSPORT);
    cr_assert_eq(iots_http_classify(CURLE_OPERATION_TIMEDOUT), IOTS_ERR_TRANSPORT);
    cr_assert_eq(iots_http_classify(CURLE_RECV_ERROR), IOTS_ERR_TRANSPORT);
    cr_assert_eq(iots_http_classify(CURLE_PEER_FAILED_VERIFICATION), IOTS_ERR_TLS);
    cr_assert_eq(iots_http_classify(CURLE_SSL_CONNECT_ERROR), IOTS_ERR_TLS);
    cr_assert_eq(iots_http_classify(CURLE_SSL_CERTPROBLEM), IOTS_ERR_TLS);
    cr_assert_eq(iots_http_classify(CURLE_OUT_OF_MEMORY), IOTS_ERR_NOMEM);
}

Test(service_client, iots_module_calls_bad_arguments_fails)
{
    iots_client *c = NULL;
    int status = -1;
    char *out = NULL;
    cr_assert_eq(iots_client_new(CS_OK, &no_ca, &c, NULL), IOTS_OK);
    /* all of these fail before any network I/O */
    cr_assert_eq(iots_invoke_module_method(c, "d", NULL, "m", NULL, 30, 0, &status, &out), IOTS_ERR_ARG);
    cr_assert(strstr(iots_client_last_error(c)->message, "module_id") != NULL);
    cr_assert_eq(iots_invoke_module_method(c, "d", "", "m", NULL, 30, 0, &status, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_invoke_module_method(c, "d", "mod", "m", "{bad", 30, 0, &status, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_get_module_twin(c, "d", NULL, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_get_module_twin(c, "d", "", &out), IOTS_ERR_ARG);
    cr_assert(strstr(iots_client_last_error(c)->message, "invalid device or module id") != NULL);
    cr_assert_eq(iots_update_module_twin(c, "d", "m", NULL, NULL, NULL, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_update_module_twin(c, "d", NULL, "{}", NULL, NULL, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_replace_module_twin(c, "d", "m", "[1]", NULL, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_replace_twin(c, "d", "nope", NULL, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_create_module(c, "d", "", &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_get_module(c, "d", NULL, &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_list_modules(c, "", &out), IOTS_ERR_ARG);
    cr_assert_eq(iots_delete_module(c, "d", NULL, NULL), IOTS_ERR_ARG);
    cr_assert_eq(status, -1);
    cr_assert_null(out);
    iots_client_free(c);
}

Test(service_client, iots_get_module_twin_closed_port_fails)
{
    /* the module twin URL is the one in the transport error */
    iots_client *c = NULL;
    char *twin = NULL;
    cr_assert_eq(iots_client_new("HostName=127.0.0.1:1;SharedAccessKeyName=iothubowner;SharedAccessKey=" KEY2,
                                 &no_ca, &c, NULL),
                 IOTS_OK);
    cr_assert_eq(iots_get_module_twin(c, "dev1", "mod 1", &twin), IOTS_ERR_TRANSPORT);
    const iots_error_info *e = iots_client_last_error(c);
    cr_assert(strstr(e->message, "https://127.0.0.1:1/twins/dev1/modules/mod%201?api-version=2021-04-12") !=
                  NULL,
              "%s", e->message);
    cr_assert_null(twin);
    iots_client_free(c);
}
