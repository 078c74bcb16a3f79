/* replies.h - the few ways the REST API answers: an IoT Hub error, a JSON document, no content.
 * The one place that turns an mh_err into an HTTP response (status, iothub-errorcode, body).
 */
#ifndef MH_REPLIES_H
#define MH_REPLIES_H

#include <cjson/cJSON.h>

#include "errors.h"
#include "http.h"

/* Fills resp with the IoT Hub error envelope for code (status, iothub-errorcode, body): the one
 * place that builds it, for replies and for responses built elsewhere (the WebSocket upgrade). */
void mh_reply_error_response(mh_http_response *resp, mh_err code, const char *text);
/* Sends the IoT Hub error for code with text (or st->text when text is NULL). */
void mh_reply_error(mh_http_reply *reply, mh_err code, const char *text);
void mh_reply_status(mh_http_reply *reply, const mh_status *st);
/* Sends doc (taken over, may be NULL for "null") as JSON with status; etag (may be NULL) is sent
 * quoted in an ETag header. */
void mh_reply_json(mh_http_reply *reply, int status, cJSON *doc, const char *etag);
/* Sends status with a ready JSON text (taken over). */
void mh_reply_raw(mh_http_reply *reply, int status, char *json_text);
void mh_reply_empty(mh_http_reply *reply, int status);

#endif
