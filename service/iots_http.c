/* iots_http.c - libcurl transport for the service client (the only libcurl user in service/).
 * Trust: libcurl's default CA store (the system bundle) plus, when given, the certificates of an
 * extra PEM file added to the same OpenSSL X509_STORE from CURLOPT_SSL_CTX_FUNCTION. CURLOPT_CAINFO
 * alone would replace the system store, and a real hub needs that store.
 */
#include "iots_http.h"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iots_proto.h"

#define CA_FILE_MAX (1024 * 1024)
#define CONTINUATION_MAX (16 * 1024)

struct iots_http {
    CURL *curl;
    char *user_agent;
    char *ca_pem; /* extra CA certificates (PEM text), NULL when none */
    size_t ca_pem_len;
    char errbuf[CURL_ERROR_SIZE];
};

/* Per-request receive state. */
typedef struct recv_state {
    char *body;
    size_t len, cap;
    int too_big;
    iots_http_response *resp;
} recv_state;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

__attribute__((format(printf, 3, 4))) static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Reads the whole CA file and checks it holds at least one certificate, so a wrong path fails at
 * once with a clear message rather than at the first TLS handshake. */
static iots_err read_ca_file(const char *path, char **out, size_t *out_len, char *why, size_t whylen)
{
    FILE *f = NULL;
    char *buf = NULL;
    BIO *bio = NULL;
    X509 *x = NULL;
    iots_err rc = IOTS_ERR_CONFIG;

    f = fopen(path, "rb");
    if (!f) {
        set_why(why, whylen, "cannot open CA file %s", path);
        goto cleanup;
    }
    buf = malloc(CA_FILE_MAX + 1);
    if (!buf) {
        rc = IOTS_ERR_NOMEM;
        goto cleanup;
    }
    size_t n = fread(buf, 1, CA_FILE_MAX + 1, f);
    if (n > CA_FILE_MAX || ferror(f)) {
        set_why(why, whylen, "CA file %s is unreadable or larger than 1 MB", path);
        goto cleanup;
    }
    buf[n] = '\0';
    bio = BIO_new_mem_buf(buf, (int)n);
    if (!bio || !(x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        ERR_clear_error();
        set_why(why, whylen, "CA file %s holds no PEM certificate", path);
        goto cleanup;
    }
    *out = buf;
    *out_len = n;
    buf = NULL;
    rc = IOTS_OK;

cleanup:
    X509_free(x);
    BIO_free(bio);
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

iots_err iots_http_new(const char *ca_file, const char *user_agent, iots_http **out, char *why, size_t whylen)
{
    iots_http *h = NULL;
    iots_err rc = IOTS_ERR_NOMEM;

    if (!out || !user_agent)
        return IOTS_ERR_ARG;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        set_why(why, whylen, "libcurl initialisation failed: %s", curl_easy_strerror(global_rc));
        return IOTS_ERR_CONFIG;
    }
    h = calloc(1, sizeof *h);
    if (!h || !(h->user_agent = strdup(user_agent)))
        goto cleanup;
    if (ca_file && *ca_file) {
        rc = read_ca_file(ca_file, &h->ca_pem, &h->ca_pem_len, why, whylen);
        if (rc != IOTS_OK)
            goto cleanup;
    }
    h->curl = curl_easy_init();
    if (!h->curl) {
        rc = IOTS_ERR_CONFIG;
        set_why(why, whylen, "%s", "curl_easy_init failed");
        goto cleanup;
    }
    *out = h;
    h = NULL;
    rc = IOTS_OK;

cleanup:
    iots_http_free(h);
    return rc;
}

void iots_http_free(iots_http *http)
{
    if (!http)
        return;
    if (http->curl)
        curl_easy_cleanup(http->curl);
    free(http->user_agent);
    free(http->ca_pem);
    free(http);
}

void iots_http_response_cleanup(iots_http_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    free(resp->continuation);
    memset(resp, 0, sizeof *resp);
}

iots_err iots_http_classify(int curl_code)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OK:
        return IOTS_OK;
    case CURLE_OUT_OF_MEMORY:
        return IOTS_ERR_NOMEM;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CLIENTCERT:
        return IOTS_ERR_TLS;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return IOTS_ERR_ARG;
    case CURLE_FUNCTION_NOT_FOUND:
    case CURLE_NOT_BUILT_IN:
    case CURLE_FAILED_INIT:
    case CURLE_UNKNOWN_OPTION:
        return IOTS_ERR_CONFIG;
    default:
        return IOTS_ERR_TRANSPORT;
    }
}

static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *userp)
{
    const iots_http *h = userp;
    BIO *bio = NULL;
    X509 *x = NULL;
    int added = 0;
    (void)curl;

    X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
    bio = BIO_new_mem_buf(h->ca_pem, (int)h->ca_pem_len);
    if (!store || !bio)
        goto cleanup;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        /* OpenSSL 3 returns 1 for a certificate already in the store. */
        if (X509_STORE_add_cert(store, x) == 1)
            added++;
        X509_free(x);
    }

cleanup:
    ERR_clear_error(); /* the end-of-file "no start line" error from the loop */
    BIO_free(bio);
    return added > 0 ? CURLE_OK : CURLE_SSL_CERTPROBLEM;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userp)
{
    recv_state *st = userp;
    size_t n = size * nmemb;

    if (st->len + n > IOTS_BODY_MAX) {
        st->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n + 1)
            cap *= 2;
        char *nb = realloc(st->body, cap);
        if (!nb)
            return 0;
        st->body = nb;
        st->cap = cap;
    }
    memcpy(st->body + st->len, ptr, n);
    st->len += n;
    st->body[st->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *userp)
{
    recv_state *st = userp;
    size_t n = size * nitems;
    char value[CONTINUATION_MAX];

    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue): forget headers seen so far */
        free(st->resp->continuation);
        st->resp->continuation = NULL;
        st->resp->errorcode[0] = '\0';
    } else if (iots_header_match(ptr, n, "x-ms-continuation", value, sizeof value)) {
        free(st->resp->continuation);
        st->resp->continuation = strdup(value);
        if (!st->resp->continuation)
            return 0;
    } else {
        (void)iots_header_match(ptr, n, "iothub-errorcode", st->resp->errorcode, sizeof st->resp->errorcode);
    }
    return n;
}

iots_err iots_http_perform(iots_http *http, const iots_http_request *req, iots_http_response *out,
                           iots_error_info *err)
{
    struct curl_slist *hdrs = NULL;
    iots_http_response resp = {0};
    recv_state st = {.resp = &resp};
    iots_err rc = IOTS_ERR_NOMEM;
    char msg[sizeof err->message];
    CURL *c;

    if (!http || !req || !req->method || !req->url || !out || !err)
        return IOTS_ERR_ARG;
    c = http->curl;
    /* Reset keeps the connection cache, so consecutive calls reuse one TLS connection. */
    curl_easy_reset(c);
    http->errbuf[0] = '\0';

    for (size_t i = 0; i < req->nheaders; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, req->headers[i]);
        if (!n)
            goto cleanup;
        hdrs = n;
    }
    /* No "Expect: 100-continue" round trip for bodies over 1 KB. */
    struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
    if (!n)
        goto cleanup;
    hdrs = n;

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, http->user_agent);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, http->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
    if (req->timeout_s > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout_s);
    if (req->connect_timeout_s > 0)
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, req->connect_timeout_s);
    if (http->ca_pem) {
        /* The cached system store would be shared between handles; ours gets the extra CA. */
        curl_easy_setopt(c, CURLOPT_CA_CACHE_TIMEOUT, 0L);
        if (curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) != CURLE_OK) {
            iots_error_set(err, IOTS_ERR_CONFIG,
                           "libcurl is not built with OpenSSL: cannot add the extra CA to the system store");
            rc = IOTS_ERR_CONFIG;
            goto cleanup;
        }
        curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, http);
    }
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
    }

    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (st.too_big) {
            snprintf(msg, sizeof msg, "%s: answer larger than %d bytes", req->url, IOTS_BODY_MAX);
            rc = IOTS_ERR_PROTOCOL;
        } else {
            snprintf(msg, sizeof msg, "%s: %s", req->url,
                     http->errbuf[0] ? http->errbuf : curl_easy_strerror(cc));
            rc = iots_http_classify((int)cc);
        }
        iots_error_set(err, rc, msg);
        goto cleanup;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    if (!st.body && !(st.body = calloc(1, 1)))
        goto cleanup;
    resp.body = st.body;
    resp.body_len = st.len;
    st.body = NULL;
    *out = resp;
    memset(&resp, 0, sizeof resp);
    rc = IOTS_OK;

cleanup:
    if (rc == IOTS_ERR_NOMEM)
        iots_error_set(err, IOTS_ERR_NOMEM, "out of memory");
    free(st.body);
    iots_http_response_cleanup(&resp);
    curl_slist_free_all(hdrs);
    return rc;
}
