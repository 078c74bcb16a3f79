/* fuzz_rest.c - libFuzzer target for REST request decoding (daemon/http.c, daemon/routes.c). The
 * input is "METHOD URL\nbody". It runs what the daemon runs before a handler touches the store: the
 * percent-decoding of the path and of each query argument (http.c's unescape, after MHD's split at
 * '?', '&', '=' and its '+' to ' '), the route table match, and the handlers' own input checks
 * (device id, whole-number query arguments, JSON body, direct-method name and timeouts).
 *
 * Both .c files are compiled into this target with #include, so their static functions stay
 * static and production code carries no test-only exports; MHD_lookup_connection_value is
 * replaced by a lookup in the arguments decoded here (the executable's definition wins).
 */
#include "../mockhub/daemon/http.c"
#include "../mockhub/daemon/routes.c"

#define MAX_ARGS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What MHD keeps per connection and mh_http_query_arg reads. */
struct fake_conn {
    char *keys[MAX_ARGS];
    char *values[MAX_ARGS];
    int n;
};

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
    const struct fake_conn *c = (const struct fake_conn *)connection;
    if (kind != MHD_GET_ARGUMENT_KIND || key == NULL)
        return NULL;
    for (int i = 0; i < c->n; i++)
        if (strcasecmp(c->keys[i], key) == 0)
            return c->values[i];
    return NULL;
}

/* A reply as on_access makes it, before the handler: one owner besides the request. */
static mh_http_reply *reply_new(void)
{
    mh_http_reply *reply = calloc(1, sizeof *reply);
    if (reply == NULL)
        abort();
    pthread_mutex_init(&reply->lock, NULL);
    reply->refs = 2;
    reply->state = REPLY_IN_HANDLER;
    return reply;
}

/* Releases the request's reference; returns the status sent (0 for none). An error reply must be
 * a 4xx (input was refused) or 5xx. */
static int reply_done(mh_http_reply *reply)
{
    int status = reply->has_response ? reply->response.status : 0;
    if (reply->has_response && (status < 400 || status > 599))
        abort();
    if (!reply->has_response) {
        reply->refs--; /* the handler's reference was never used */
    }
    reply_unref(reply);
    return status;
}

/* MHD's argument split: '&'-separated, key[=value], '+' as space, then our unescape on both. */
static void parse_args(char *q, struct fake_conn *c)
{
    while (q != NULL && *q != '\0' && c->n < MAX_ARGS) {
        char *amp = strchr(q, '&');
        if (amp != NULL)
            *amp = '\0';
        char *eq = strchr(q, '=');
        if (eq != NULL)
            *eq = '\0';
        for (char *p = q; *p; p++)
            if (*p == '+')
                *p = ' ';
        char *v = eq ? eq + 1 : q + strlen(q);
        for (char *p = v; *p; p++)
            if (*p == '+')
                *p = ' ';
        unescape(NULL, NULL, q);
        unescape(NULL, NULL, v);
        c->keys[c->n] = q;
        c->values[c->n] = v;
        c->n++;
        q = amp ? amp + 1 : NULL;
    }
}

static void check_route(const route *r, const mh_http_request *req, const char *id)
{
    mh_http_reply *reply;
    if (strstr(r->pattern, "{id}") != NULL) {
        reply = reply_new();
        int ok = id_ok(id, reply);
        if (ok != (reply_done(reply) == 0))
            abort();
    }
    if (r->fn == r_events) {
        long long v;
        reply = reply_new();
        if (number_arg(req, "after", 0, 9007199254740991LL, 0, &v, reply) &&
            (v < 0 || v > 9007199254740991LL))
            abort();
        reply_done(reply);
        reply = reply_new();
        if (number_arg(req, "limit", 1, MH_TELEMETRY_LIST_MAX, 100, &v, reply) &&
            (v < 1 || v > MH_TELEMETRY_LIST_MAX))
            abort();
        reply_done(reply);
        const char *device = mh_http_query_arg(req, "deviceId");
        if (device != NULL) {
            reply = reply_new();
            (void)id_ok(device, reply);
            reply_done(reply);
        }
    }
    if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0 ||
        strcmp(req->method, "POST") == 0) {
        reply = reply_new();
        cJSON *body = body_json(req, reply);
        if ((body != NULL) != (reply_done(reply) == 0))
            abort();
        if (body != NULL && r->fn == r_method) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "methodName");
            if (cJSON_IsString(name))
                (void)method_name_ok(name->valuestring);
            int t = 0;
            reply = reply_new();
            if (timeout_arg(body, "responseTimeoutInSeconds", 5, 300, &t, reply) && (t < 0 || t > 300))
                abort();
            reply_done(reply);
        }
        cJSON_Delete(body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    /* "METHOD URL\nbody" */
    char *body = strchr(text, '\n');
    size_t body_len = 0;
    if (body != NULL) {
        *body++ = '\0';
        body_len = size - (size_t)(body - text);
    } else {
        body = text + size;
    }
    char *url = strchr(text, ' ');
    if (url == NULL)
        goto done;
    *url++ = '\0';
    char *query = strchr(url, '?');
    if (query != NULL)
        *query++ = '\0';
    struct fake_conn conn = {0};
    size_t plen = unescape(NULL, NULL, url);
    if (plen != strlen(url))
        abort(); /* %00 must never cut the path */
    parse_args(query, &conn);

    mh_http_request req = {
        .method = text,
        .path = url,
        .body = body,
        .body_len = body_len,
        .internal = (struct MHD_Connection *)&conn,
    };
    /* mh_routes_handle's dispatch, up to the authorization check */
    char id[256] = "";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, req.path, id, sizeof id))
            continue;
        if (strlen(id) >= sizeof id)
            abort();
        if (strcmp(routes[i].method, "*") == 0 || strcmp(routes[i].method, req.method) == 0) {
            check_route(&routes[i], &req, id);
            break;
        }
    }
done:
    free(text);
    return 0;
}
