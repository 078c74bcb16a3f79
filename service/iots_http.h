/* iots_http.h - the service client's HTTPS transport: the only file that uses libcurl. It sends one
 * prepared request (method, URL, header lines, body) and returns status, body and the two response
 * headers the service API needs. TLS trusts the system store plus an optional extra CA (PEM file).
 */
#ifndef IOTS_HTTP_H
#define IOTS_HTTP_H

#include <stddef.h>

#include "iots_error.h"

typedef struct iots_http iots_http; /* opaque; one connection cache; not thread-safe */

typedef struct iots_http_request {
    const char *method;         /* "GET", "PUT", "PATCH", "POST", "DELETE" */
    const char *url;            /* full https URL */
    const char *const *headers; /* "Name: value" lines, borrowed for the call */
    size_t nheaders;
    const char *body; /* NULL = no body */
    size_t body_len;
    long timeout_s;         /* whole request; 0 = no limit */
    long connect_timeout_s; /* TCP + TLS; 0 = libcurl's default */
} iots_http_request;

typedef struct iots_http_response {
    long status;
    char *body; /* malloc'd, NUL-terminated (also when empty); owned by the response */
    size_t body_len;
    char *continuation; /* malloc'd x-ms-continuation value, NULL when the header was absent */
    char errorcode[64]; /* iothub-errorcode header value, "" when absent */
} iots_http_response;

/* Creates a transport. ca_file (may be NULL): a PEM file whose certificates are trusted in
 * addition to the system store; it is read now (IOTS_ERR_CONFIG with why if unreadable or holding no
 * certificate). user_agent is copied. Errors: IOTS_ERR_CONFIG, IOTS_ERR_NOMEM. */
iots_err iots_http_new(const char *ca_file, const char *user_agent, iots_http **out, char *why,
                       size_t whylen) IOTS_WARN_UNUSED;

/* No-op on NULL. */
void iots_http_free(iots_http *http);

/* Performs req. On IOTS_OK *out holds any HTTP answer (any status; the caller reads errors) and
 * must be released with iots_http_response_cleanup. On failure (no HTTP answer) *err says why:
 * IOTS_ERR_TRANSPORT (resolve, connect, reset, timeout) or IOTS_ERR_TLS, with libcurl's message;
 * IOTS_ERR_PROTOCOL when the answer is larger than IOTS_BODY_MAX; IOTS_ERR_NOMEM. */
iots_err iots_http_perform(iots_http *http, const iots_http_request *req, iots_http_response *out,
                           iots_error_info *err) IOTS_WARN_UNUSED;

void iots_http_response_cleanup(iots_http_response *resp);

/* Maps a CURLcode (passed as int) to IOTS_ERR_TLS / IOTS_ERR_TRANSPORT / IOTS_ERR_NOMEM / ... */
iots_err iots_http_classify(int curl_code);

#endif
