/* replies.c - REST answers: IoT Hub error envelopes and JSON documents. */
#include "replies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mh_reply_error_response(mh_http_response *resp, mh_err code, const char *text)
{
    const mh_err_info *info = mh_err_lookup(code);
    resp->status = info->http_status;
    resp->body = mh_err_rest_body(code, text ? text : "");
    mh_http_response_header(resp, "iothub-errorcode", info->name);
}

void mh_reply_error(mh_http_reply *reply, mh_err code, const char *text)
{
    mh_http_response resp = {0};
    mh_reply_error_response(&resp, code, text);
    mh_http_reply_send(reply, &resp);
}

void mh_reply_status(mh_http_reply *reply, const mh_status *st)
{
    mh_reply_error(reply, st->code, st->text);
}

void mh_reply_raw(mh_http_reply *reply, int status, char *json_text)
{
    mh_http_response resp = {.status = status, .body = json_text};
    if (json_text == NULL) {
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    mh_http_reply_send(reply, &resp);
}

void mh_reply_json(mh_http_reply *reply, int status, cJSON *doc, const char *etag)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : strdup("null");
    cJSON_Delete(doc);
    if (text == NULL) {
        mh_reply_error(reply, MH_ERR_NOMEM, "out of memory");
        return;
    }
    mh_http_response resp = {.status = status, .body = text};
    if (etag != NULL) {
        char quoted[160];
        snprintf(quoted, sizeof quoted, "\"%s\"", etag);
        mh_http_response_header(&resp, "ETag", quoted);
    }
    mh_http_reply_send(reply, &resp);
}

void mh_reply_empty(mh_http_reply *reply, int status)
{
    mh_http_response resp = {.status = status};
    mh_http_reply_send(reply, &resp);
}
