/* ui.c - MOCK: the web dashboard's routes (see ui.h). A login page turns the owner connection
 * string into a SAS token in the browser (WebCrypto) or takes a token as is; POST /ui/session
 * checks it like any REST call and keeps it in an HttpOnly cookie for the dashboard's files and
 * its event stream. Nothing but the login page is served without a valid token.
 */
#include "ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activity.h"
#include "hub_internal.h"
#include "iot_url.h"
#include "replies.h"

#define COOKIE "mockhub_ui"
#define TOKEN_MAX 1024
/* what a dashboard session needs: the dashboard reads the registry and twins and calls methods */
#define UI_RIGHTS (MH_RIGHT_REGISTRY_READ | MH_RIGHT_SERVICE_CONNECT)

static const mh_ui_asset *asset(const char *name)
{
    for (size_t i = 0; i < mh_ui_asset_count; i++)
        if (strcmp(mh_ui_assets[i].name, name) == 0)
            return &mh_ui_assets[i];
    return NULL;
}

static void send_asset(mh_http_reply *reply, const mh_ui_asset *a)
{
    char *body = malloc(a->len + 1);
    if (body == NULL) {
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    memcpy(body, a->data, a->len);
    body[a->len] = '\0'; /* the files are text: the server sends strlen(body) bytes */
    mh_http_response resp = {.status = 200, .body = body, .content_type = a->content_type};
    mh_http_response_header(&resp, "Cache-Control", "no-store");
    mh_http_response_header(&resp, "X-Content-Type-Options", "nosniff");
    mh_http_response_header(
        &resp, "Content-Security-Policy",
        "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'");
    mh_http_reply_send(reply, &resp);
}

static mh_err policy_lookup(void *store, const char *name, mh_policy *out)
{
    return mh_store_policy_get(store, name, out);
}

static int token_ok(mh_hub *hub, const char *token)
{
    mh_status st = {0};
    return token != NULL &&
           mh_svcauth_check_cached(hub->auth_cache, token, hub->cfg.hostname, UI_RIGHTS,
                                   (long long)time(NULL), policy_lookup, hub->store, &st) == MH_OK;
}

/* The session's token from the Cookie header, url-decoded into out; 0 when there is none. */
static int cookie_token(const mh_http_request *req, char *out, size_t len)
{
    const char *c = mh_http_header(req, "Cookie");
    while (c != NULL && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        const char *end = strchr(c, ';');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        size_t klen = strlen(COOKIE);
        if (n > klen && strncmp(c, COOKIE, klen) == 0 && c[klen] == '=') {
            size_t outlen = 0;
            if (iot_url_decode(c + klen + 1, n - klen - 1, out, len - 1, &outlen) != IOT_OK)
                return 0;
            out[outlen] = '\0';
            return 1;
        }
        c = end;
    }
    return 0;
}

static int session_ok(mh_hub *hub, const mh_http_request *req)
{
    char token[TOKEN_MAX];
    return cookie_token(req, token, sizeof token) && token_ok(hub, token);
}

/* GET /ui, /ui/ (login), /ui/app (the dashboard), /ui/<file>, /ui/events (the live log). */
void mh_ui_r_get(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    const char *rest = req->path + 3; /* after "/ui" */
    if (*rest == '/')
        rest++;
    if (*rest == '\0' || strcmp(rest, "login.js") == 0 || strcmp(rest, "style.css") == 0) {
        const mh_ui_asset *a = asset(*rest ? rest : "login.html");
        if (a != NULL) {
            send_asset(reply, a);
            return;
        }
    }
    if (!session_ok(hub, req)) {
        /* a browser asking for a page goes to the login page; anything else gets the hub's 401 */
        if (strcmp(rest, "app") == 0) {
            mh_http_response resp = {.status = 303};
            mh_http_response_header(&resp, "Location", "/ui/");
            mh_http_reply_send(reply, &resp);
            return;
        }
        mh_reply_error(reply, MH_ERR_UNAUTHORIZED, "The dashboard needs a login: open /ui/");
        return;
    }
    if (strcmp(rest, "events") == 0) {
        const char *last = mh_http_header(req, "Last-Event-ID");
        if (last == NULL)
            last = mh_http_query_arg(req, "after");
        mh_activity_read(hub->activity, last ? strtoull(last, NULL, 10) : 0, reply);
        return;
    }
    const mh_ui_asset *a = asset(strcmp(rest, "app") == 0 ? "app.html" : rest);
    if (a == NULL || strcmp(rest, "login.html") == 0) {
        mh_reply_error(reply, MH_ERR_NOT_FOUND, "No such dashboard file");
        return;
    }
    send_asset(reply, a);
}

/* POST /ui/session {"token":"SharedAccessSignature ..."}: 204 with the session cookie, or 401.
 * DELETE-like logout: {"token":null} clears the cookie. */
void mh_ui_r_session(mh_hub *hub, const mh_http_request *req, mh_http_reply *reply, const char *id)
{
    (void)id;
    cJSON *body = req->body_too_large ? NULL : cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "token");
    char cookie[TOKEN_MAX * 3 + 128], enc[TOKEN_MAX * 3 + 1];
    if (cJSON_IsNull(t)) {
        mh_http_response resp = {.status = 204};
        mh_http_response_header(&resp, "Set-Cookie",
                                COOKIE "=; Path=/ui; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
        mh_http_reply_send(reply, &resp);
        cJSON_Delete(body);
        return;
    }
    if (!cJSON_IsString(t) || strlen(t->valuestring) >= TOKEN_MAX || !token_ok(hub, t->valuestring)) {
        cJSON_Delete(body);
        mh_reply_error(reply, MH_ERR_UNAUTHORIZED,
                       "That is not a valid token of a policy with registry read and service connect rights "
                       "(use the owner connection string)");
        return;
    }
    if (iot_url_encode(t->valuestring, strlen(t->valuestring), enc, sizeof enc) != IOT_OK) {
        cJSON_Delete(body);
        mh_reply_error(reply, MH_ERR_ARGUMENT_INVALID, "token too long");
        return;
    }
    cJSON_Delete(body);
    /* the cookie lives as long as the browser session; the token inside still expires */
    snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/ui; HttpOnly; Secure; SameSite=Strict", enc);
    mh_http_response resp = {.status = 204};
    mh_http_response_header(&resp, "Set-Cookie", cookie);
    mh_http_reply_send(reply, &resp);
}
