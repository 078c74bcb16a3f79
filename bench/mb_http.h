/* mb_http.h - HTTPS load with libcurl: a multi driver that keeps N requests in flight on keep-alive
 * connections, and a blocking one-request helper. One mb_http per thread.
 */
#ifndef MB_HTTP_H
#define MB_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct mb_http mb_http;

typedef struct mb_http_req {
    const char *method; /* "GET", "PUT", "PATCH", "POST" */
    char path[512];     /* "/twins/x?api-version=...", appended to the base URL */
    const char *body;   /* borrowed until the done callback returns; NULL = none */
    size_t body_len;
    const char *if_match;     /* optional If-Match value */
    const char *continuation; /* optional x-ms-continuation value */
    const char *extra_header; /* optional "Name: value" */
    long tag;                 /* caller's */
    uint64_t start_ns;        /* set by the driver */
} mb_http_req;

typedef struct mb_http_resp {
    long status;      /* 0 on a transport error (then error says why) */
    const char *body; /* NUL-terminated, valid during the callback */
    size_t body_len;
    const char *continuation; /* x-ms-continuation header, or NULL */
    const char *error;
    uint64_t latency_ns;
} mb_http_resp;

/* Fills *req for the next request; returns 0 when there is none (the run ends when all are done). */
typedef int (*mb_http_next_fn)(void *ud, mb_http_req *req);
typedef void (*mb_http_done_fn)(void *ud, const mb_http_req *req, const mb_http_resp *resp);

/* base: "https://localhost:443"; cafile: CA to trust (NULL = no verification); auth: Authorization
 * header value or NULL; concurrency: requests in flight (= connections). */
mb_http *mb_http_new(const char *base, const char *cafile, const char *auth, int concurrency);
void mb_http_free(mb_http *h);

/* Runs until next() says stop and the in-flight requests finished, or until deadline_ns (CLOCK_MONOTONIC;
 * 0 = none), after which no new request starts and in-flight ones get up to 10 s more; ones still
 * pending then are reported with status 0. Returns the number of requests completed. */
long mb_http_run(mb_http *h, mb_http_next_fn next, mb_http_done_fn done, void *ud, uint64_t deadline_ns);

/* One blocking request on the handle's first connection (kept alive between calls). resp->body is
 * valid until the next call on h. Returns resp->status. */
long mb_http_once(mb_http *h, mb_http_req *req, mb_http_resp *resp);

#endif
