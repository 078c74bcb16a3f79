/* Unit tests for the REST handlers' input checks in mockhub/daemon/routes.c. http.c and routes.c are
 * compiled into this test with #include (as fuzz/fuzz_rest.c does), so their static checks are
 * reachable and a reply can be made without a connection; libmhdaemon's copies are then not linked. */
#include <criterion/criterion.h>

#include "http.c"
#include "routes.c"

/* A reply as on_access makes it before the handler runs. */
static mh_http_reply *reply_new(void)
{
    mh_http_reply *reply = calloc(1, sizeof *reply);
    cr_assert_not_null(reply);
    pthread_mutex_init(&reply->lock, NULL);
    reply->refs = 2;
    reply->state = REPLY_IN_HANDLER;
    return reply;
}

/* Drops the request's reference (and the handler's when it sent nothing); returns the status sent. */
static int reply_done(mh_http_reply *reply)
{
    int status = reply->has_response ? reply->response.status : 0;
    if (!reply->has_response)
        reply->refs--;
    reply_unref(reply);
    return status;
}

static int check_timeout(const char *json, int *out)
{
    cJSON *body = cJSON_Parse(json);
    cr_assert_not_null(body);
    mh_http_reply *reply = reply_new();
    int ok = timeout_arg(body, "responseTimeoutInSeconds", 5, 300, out, reply);
    int status = reply_done(reply);
    cJSON_Delete(body);
    cr_assert_eq(ok, status == 0);
    return status;
}

Test(routes, timeout_arg_in_range_succeeds)
{
    int t = 30;
    cr_expect_eq(check_timeout("{\"responseTimeoutInSeconds\":300}", &t), 0);
    cr_expect_eq(t, 300);
    t = 30;
    cr_expect_eq(check_timeout("{\"responseTimeoutInSeconds\":null}", &t), 0);
    cr_expect_eq(t, 30);
}

Test(routes, timeout_arg_out_of_range_fails)
{
    int t = 30;
    cr_expect_eq(check_timeout("{\"responseTimeoutInSeconds\":4}", &t), 400);
    cr_expect_eq(check_timeout("{\"responseTimeoutInSeconds\":1.5}", &t), 400);
    cr_expect_eq(check_timeout("{\"responseTimeoutInSeconds\":\"30\"}", &t), 400);
    cr_expect_eq(t, 30);
}

/* Found by fuzz/fuzz_rest (UBSan): a number beyond long's range was cast to long before the range
 * check, which is undefined behaviour. */
Test(routes, timeout_arg_huge_number_fails)
{
    int t = 30;
    cr_expect_eq(check_timeout("{\"methodName\":\"bad me\",\"responseTimeoutInSeconds\":"
                               "7777777777777777777777777777777777777777777777777777777777777777777771.5}",
                               &t),
                 400);
    cr_expect_eq(check_timeout("{\"responseTimeoutInSeconds\":-1e300}", &t), 400);
    cr_expect_eq(t, 30);
}
