/* Unit tests for wsproxy.c's pure parts: parsing the broker's WebSocket handshake answer, and the
 * relay's lifecycle without any connection. The splice itself is covered by websocket.test.js. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "wsproxy.h"

/* Mosquitto 2.0.11's (libwebsockets') answer to the Node SDK's MqttWs upgrade request. */
static const char MOSQ_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: WebSocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: MtJC+qOgoZnHEinnJDAdBr8eG1k=\r\n"
                               "Sec-WebSocket-Protocol: mqtt\r\n"
                               "\r\n";

Test(wsproxy, mh_wsproxy_reply_parse_mosquitto_101_succeeds)
{
    mh_wsproxy_reply r;
    mh_status st = {MH_OK, ""};
    char buf[512];
    /* two bytes of a first frame after the head must not count as head */
    snprintf(buf, sizeof buf, "%s\x82\x02", MOSQ_101);
    cr_assert_eq(mh_wsproxy_reply_parse(buf, strlen(buf), &r, &st), MH_OK, "%s", st.text);
    cr_assert_eq(r.status, 101);
    cr_assert_str_eq(r.accept, "MtJC+qOgoZnHEinnJDAdBr8eG1k=");
    cr_assert_str_eq(r.protocol, "mqtt");
    cr_assert_null(r.extensions);
    cr_assert_eq(r.head_len, strlen(MOSQ_101));
    mh_wsproxy_reply_cleanup(&r);
}

Test(wsproxy, mh_wsproxy_reply_parse_header_case_and_spaces_succeeds)
{
    static const char text[] =
        "HTTP/1.1 101 OK\r\nsec-websocket-PROTOCOL:   mqtt  \r\nSEC-WEBSOCKET-EXTENSIONS: "
        "permessage-deflate\r\n\r\n";
    mh_wsproxy_reply r;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_wsproxy_reply_parse(text, sizeof text - 1, &r, &st), MH_OK, "%s", st.text);
    cr_assert_str_eq(r.protocol, "mqtt");
    cr_assert_str_eq(r.extensions, "permessage-deflate");
    cr_assert_null(r.accept);
    mh_wsproxy_reply_cleanup(&r);
}

Test(wsproxy, mh_wsproxy_reply_parse_refusal_status_succeeds)
{
    static const char text[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    mh_wsproxy_reply r;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_wsproxy_reply_parse(text, sizeof text - 1, &r, &st), MH_OK, "%s", st.text);
    cr_assert_eq(r.status, 400);
    mh_wsproxy_reply_cleanup(&r);
}

Test(wsproxy, mh_wsproxy_reply_parse_incomplete_fails)
{
    mh_wsproxy_reply r = {.status = 7};
    mh_status st = {MH_OK, ""};
    for (size_t n = 0; n < sizeof MOSQ_101 - 1; n++)
        cr_assert_eq(mh_wsproxy_reply_parse(MOSQ_101, n, &r, &st), MH_ERR_NOT_FOUND, "length %zu", n);
    cr_assert_eq(r.status, 7, "outputs are written only on success");
}

Test(wsproxy, mh_wsproxy_reply_parse_malformed_fails)
{
    static const char *const bad[] = {
        "HTTP/2 101 x\r\n\r\n",
        "HTTX/1.1 101 x\r\n\r\n",
        "HTTP/1.1 1O1 x\r\n\r\n",
        "HTTP/1.1 101 x\r\nno colon here\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mh_wsproxy_reply r;
        mh_status st = {MH_OK, ""};
        cr_assert_eq(mh_wsproxy_reply_parse(bad[i], strlen(bad[i]), &r, &st), MH_ERR_FORMAT, "case %zu", i);
    }
}

Test(wsproxy, mh_wsproxy_reply_parse_overlong_fails)
{
    static char big[MH_WSPROXY_HEAD_MAX + 64];
    memset(big, 'a', sizeof big);
    memcpy(big, "HTTP/1.1 101 x\r\nX: ", 19);
    mh_wsproxy_reply r;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_wsproxy_reply_parse(big, MH_WSPROXY_HEAD_MAX, &r, &st), MH_ERR_FORMAT);
    memcpy(big + sizeof big - 4, "\r\n\r\n", 4); /* complete, but longer than the cap */
    cr_assert_eq(mh_wsproxy_reply_parse(big, sizeof big, &r, &st), MH_ERR_FORMAT);
}

Test(wsproxy, mh_wsproxy_new_bad_port_fails)
{
    mh_wsproxy *p = NULL;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_wsproxy_new(0, NULL, NULL, &p, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_eq(mh_wsproxy_new(70000, NULL, NULL, &p, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_null(p);
}

Test(wsproxy, mh_wsproxy_new_shutdown_free_succeeds)
{
    mh_wsproxy *p = NULL;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_wsproxy_new(9, NULL, NULL, &p, &st), MH_OK, "%s", st.text);
    cr_assert_eq(mh_wsproxy_count(p), 0);
    mh_http_upgrade_hook hook;
    mh_wsproxy_hook(p, &hook);
    cr_assert(hook.on_request && hook.on_upgraded && hook.on_abandoned && hook.ctx == p);
    mh_wsproxy_shutdown(p);
    mh_wsproxy_shutdown(p); /* idempotent */
    mh_wsproxy_free(p);
    mh_wsproxy_free(NULL);
}
