/* mb_http.c - libcurl multi driver for HTTPS load (see mb_http.h). Each slot owns an easy handle; the
 * multi handle's connection cache keeps one TLS connection per slot alive between requests. */
#include "mb_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mb_stats.h"

#define RESP_MAX (64u * 1024u * 1024u) /* cap on a buffered response body */

typedef struct slot {
    mb_http *h;
    CURL *easy;
    struct curl_slist *headers;
    mb_http_req req;
    char *buf;
    size_t len, cap;
    char cont[1024];
    int has_cont;
    int busy;
    char errbuf[CURL_ERROR_SIZE];
} slot;

struct mb_http {
    CURLM *multi;
    char base[256];
    char cafile[1024];
    char auth[1024];
    int n;
    slot *slots;
};

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
    slot *s = ud;
    size_t n = sz * nm;
    if (s->len + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->len + n + 1)
            nc *= 2;
        if (nc > RESP_MAX)
            return 0;
        char *nb = realloc(s->buf, nc);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    slot *s = ud;
    size_t n = sz * nm;
    static const char name[] = "x-ms-continuation:";
    if (n > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        const char *v = p + sizeof name - 1;
        size_t vl = n - (sizeof name - 1);
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl > 0 && vl < sizeof s->cont) {
            memcpy(s->cont, v, vl);
            s->cont[vl] = '\0';
            s->has_cont = 1;
        }
    }
    return n;
}

mb_http *mb_http_new(const char *base, const char *cafile, const char *auth, int concurrency)
{
    static int inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = 1;
    }
    if (concurrency < 1)
        concurrency = 1;
    mb_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->slots = calloc((size_t)concurrency, sizeof *h->slots);
    h->multi = curl_multi_init();
    if (!h->slots || !h->multi) {
        mb_http_free(h);
        return NULL;
    }
    h->n = concurrency;
    snprintf(h->base, sizeof h->base, "%s", base);
    if (cafile)
        snprintf(h->cafile, sizeof h->cafile, "%s", cafile);
    if (auth)
        snprintf(h->auth, sizeof h->auth, "%s", auth);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)concurrency + 4);
    for (int i = 0; i < concurrency; i++) {
        slot *s = &h->slots[i];
        s->h = h;
        s->easy = curl_easy_init();
        if (!s->easy) {
            mb_http_free(h);
            return NULL;
        }
    }
    return h;
}

void mb_http_free(mb_http *h)
{
    if (!h)
        return;
    for (int i = 0; h->slots && i < h->n; i++) {
        slot *s = &h->slots[i];
        if (s->busy)
            curl_multi_remove_handle(h->multi, s->easy);
        if (s->easy)
            curl_easy_cleanup(s->easy);
        curl_slist_free_all(s->headers);
        free(s->buf);
    }
    if (h->multi)
        curl_multi_cleanup(h->multi);
    free(h->slots);
    free(h);
}

static void prepare(slot *s)
{
    mb_http *h = s->h;
    CURL *e = s->easy;
    char url[1024], hdr[1200];
    snprintf(url, sizeof url, "%s%s", h->base, s->req.path);
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
    if (h->cafile[0]) {
        curl_easy_setopt(e, CURLOPT_CAINFO, h->cafile);
    } else {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    if (h->auth[0]) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", h->auth);
        s->headers = curl_slist_append(s->headers, hdr);
    }
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json; charset=utf-8");
    s->headers = curl_slist_append(s->headers, "Expect:");
    if (s->req.if_match) {
        snprintf(hdr, sizeof hdr, "If-Match: %s", s->req.if_match);
        s->headers = curl_slist_append(s->headers, hdr);
    }
    if (s->req.continuation) {
        snprintf(hdr, sizeof hdr, "x-ms-continuation: %s", s->req.continuation);
        s->headers = curl_slist_append(s->headers, hdr);
    }
    if (s->req.extra_header)
        s->headers = curl_slist_append(s->headers, s->req.extra_header);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->req.method);
    if (s->req.body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->req.body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)s->req.body_len);
    } else if (strcmp(s->req.method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    s->len = 0;
    if (s->buf)
        s->buf[0] = '\0';
    s->has_cont = 0;
    s->errbuf[0] = '\0';
}

static void finish(slot *s, CURLcode cc, mb_http_resp *r)
{
    memset(r, 0, sizeof *r);
    r->latency_ns = mb_now_ns() - s->req.start_ns;
    if (cc == CURLE_OK)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &r->status);
    else
        r->error = s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc);
    r->body = s->buf ? s->buf : "";
    r->body_len = s->len;
    r->continuation = s->has_cont ? s->cont : NULL;
}

long mb_http_run(mb_http *h, mb_http_next_fn next, mb_http_done_fn done, void *ud, uint64_t deadline_ns)
{
    long completed = 0;
    int inflight = 0, more = 1;
    uint64_t hard_deadline = 0;
    for (;;) {
        uint64_t now = mb_now_ns();
        if (deadline_ns && now >= deadline_ns) {
            more = 0;
            if (!hard_deadline)
                hard_deadline = now + 10000000000u;
        }
        for (int i = 0; more && i < h->n; i++) {
            slot *s = &h->slots[i];
            if (s->busy)
                continue;
            memset(&s->req, 0, sizeof s->req);
            if (!next(ud, &s->req)) {
                more = 0;
                break;
            }
            prepare(s);
            s->req.start_ns = mb_now_ns();
            curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
            curl_multi_add_handle(h->multi, s->easy);
            s->busy = 1;
            inflight++;
        }
        if (inflight == 0)
            break;
        if (hard_deadline && now >= hard_deadline) {
            for (int i = 0; i < h->n; i++) {
                slot *s = &h->slots[i];
                if (!s->busy)
                    continue;
                curl_multi_remove_handle(h->multi, s->easy);
                s->busy = 0;
                mb_http_resp r = {
                    .status = 0, .body = "", .error = "no reply within 10 s after the run ended"};
                r.latency_ns = mb_now_ns() - s->req.start_ns;
                done(ud, &s->req, &r);
            }
            break;
        }
        int running = 0;
        curl_multi_perform(h->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(h->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode cc = m->data.result;
            mb_http_resp r;
            finish(s, cc, &r);
            curl_multi_remove_handle(h->multi, s->easy);
            s->busy = 0;
            inflight--;
            completed++;
            done(ud, &s->req, &r);
            /* start the next one on this slot right away */
            if (more && !(deadline_ns && mb_now_ns() >= deadline_ns)) {
                memset(&s->req, 0, sizeof s->req);
                if (next(ud, &s->req)) {
                    prepare(s);
                    s->req.start_ns = mb_now_ns();
                    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
                    curl_multi_add_handle(h->multi, s->easy);
                    s->busy = 1;
                    inflight++;
                } else {
                    more = 0;
                }
            }
        }
        if (inflight > 0)
            curl_multi_poll(h->multi, NULL, 0, 100, NULL);
    }
    return completed;
}

long mb_http_once(mb_http *h, mb_http_req *req, mb_http_resp *resp)
{
    slot *s = &h->slots[0];
    s->req = *req;
    prepare(s);
    s->req.start_ns = mb_now_ns();
    req->start_ns = s->req.start_ns;
    CURLcode cc = curl_easy_perform(s->easy);
    finish(s, cc, resp);
    return resp->status;
}
