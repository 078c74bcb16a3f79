/* cli.c - `mockhub device-identity|device-twin|invoke-device-method|module-identity|module-twin|
 * invoke-module-method|c2d-message send|query|generate-sas-token|connection-string show|test ...`: names and flags follow `az iot hub` (azure-iot CLI extension)
 * where they exist; every verb answers --help, prints JSON by default (-o table for a table), and
 * exits 0 (done), 1 (the hub said no), 2 (bad command line) or 3 (hub unreachable).
 * https://learn.microsoft.com/cli/azure/iot/hub
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "iot_b64.h"
#include "iot_connstr.h"
#include "iot_sas.h"
#include "iot_url.h"
#include "iots_error.h"
#include "iots_http.h"

#define API_VERSION "2021-04-12"
#define MAX_ARGS 24
#define FILE_MAX (1024 * 1024) /* @file arguments */

/* ---- option table ---- */

typedef struct opt {
    const char *name;  /* long name without "--" */
    const char *alias; /* another spelling ("d" for -d, "ee" for --ee), or NULL */
    int flag;          /* takes no value */
    const char *help;
} opt;

typedef struct cli cli;
typedef int (*verb_fn)(cli *c);

typedef struct verb {
    const char *path; /* "device-identity create" */
    verb_fn fn;
    const char *summary;
    const char *const *opts; /* names of the options it takes (besides the global ones) */
} verb;

struct cli {
    const mh_config *cfg;
    const char *prog;
    const verb *verb;
    const char *names[MAX_ARGS];
    const char *values[MAX_ARGS];
    int n;
    int table; /* -o table */
    char host[256];
    char policy[128];
    char key[128];
    iots_http *http;
};

static const opt options[] = {
    {"device-id", "d", 0, "device id"},
    {"module-id", "m", 0, "module id (of the device given with -d)"},
    {"edge-enabled", "ee", 1, "the device is an IoT Edge device"},
    {"status", NULL, 0, "enabled or disabled"},
    {"status-reason", NULL, 0, "why the status is what it is"},
    {"primary-key", "pk", 0, "primary symmetric key (base64); generated when absent"},
    {"secondary-key", "sk", 0, "secondary symmetric key (base64); generated when absent"},
    {"key-type", "kt", 0, "primary, secondary, both or swap (renew-key); primary or secondary (others)"},
    {"etag", "e", 0, "etag to match (If-Match); default * (any)"},
    {"top", NULL, 0, "maximum number of items"},
    {"desired", NULL, 0, "desired properties, JSON object (or @file)"},
    {"tags", NULL, 0, "tags, JSON object (or @file)"},
    {"json", "j", 0, "the whole twin, JSON object (or @file)"},
    {"method-name", "mn", 0, "direct method name"},
    {"method-payload", "mp", 0, "method payload, JSON (or @file); default {}"},
    {"timeout", "to", 0, "seconds to wait"},
    {"connect-timeout", "ct", 0, "seconds to wait for the device to connect (default 0)"},
    {"query-command", "q", 0, "IoT Hub query, e.g. \"SELECT * FROM devices\""},
    {"duration", "du", 0, "token lifetime in seconds (default 3600)"},
    {"policy-name", "pn", 0, "shared access policy (default: the login's, iothubowner)"},
    {"to", NULL, 0, "reset target: empty or seed (default: seed when one was loaded)"},
    {"connected", NULL, 1, "wait until the device is connected (default condition)"},
    {"disconnected", NULL, 1, "wait until the device is disconnected"},
    {"methods", NULL, 1, "wait until the device takes direct methods"},
    {"desired-subscribed", NULL, 1, "wait until the device receives desired-property updates"},
    {"path", NULL, 0, "wait until this twin path (e.g. properties.reported.fw) has a value"},
    {"value", NULL, 0, "... equal to this JSON value"},
    {"operations", "ops", 0,
     "comma-separated: registry, twin, twin.read, twin.write, method, query (default: all of these), "
     "device.twin"},
    {"latency", NULL, 0, "added latency in milliseconds"},
    {"error", NULL, 0, "IoT Hub error to answer: a name (ThrottlingException, ServerBusy), number or status"},
    {"count", NULL, 0, "affect only the next N requests"},
    {"refuse-connects", NULL, 0, "refuse the device's next N MQTT connects (CONNACK 3)"},
    {"id", NULL, 0, "fault id"},
    {"data", "da", 0, "message body (text)"},
    {"props", "p", 0, "application properties: key0=value0;key1=value1"},
    {"ack", NULL, 0, "feedback wanted: positive, negative or full (default none)"},
    {"message-id", "mid", 0, "message id (default: a new UUID)"},
    {"correlation-id", "cid", 0, "correlation id"},
    {"user-id", "uid", 0, "user id"},
    {"content-type", "ct", 0, "content type, e.g. application/json"},
    {"content-encoding", "ce", 0, "content encoding, e.g. utf-8"},
    {"expiry-time-utc", "expiry", 0, "expiry as milliseconds since the epoch (default: the hub's, 1 hour)"},
    /* global */
    {"output", "o", 0, "json (default) or table"},
    {"login", "l", 0, "service connection string (default: this hub's iothubowner from the environment)"},
    {"ca", NULL, 0, "CA file to trust (default: $MOCKHUB_DATA_DIR/ca.pem)"},
    {"hub-name", "n", 0, "ignored (az compatibility): the hub is the login's"},
    {"help", "h", 1, "this help"},
};

static const opt *find_opt(const char *name)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(options[i].name, name) == 0 || (options[i].alias && strcmp(options[i].alias, name) == 0))
            return &options[i];
    return NULL;
}

static const char *arg(const cli *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0)
            return c->values[i];
    return NULL;
}

static int has(const cli *c, const char *name)
{
    return arg(c, name) != NULL;
}

static int usage_error(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const cli *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s %s: ", c->prog, c->verb ? c->verb->path : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `%s %s --help`)\n", c->prog, c->verb ? c->verb->path : "--help");
    return MH_CLI_ERR_USAGE;
}

/* ---- output ---- */

/* Prints doc as az does: two-space indentation (cJSON indents with tabs; raw tabs appear in its
 * output only as formatting, since tabs inside strings are escaped). */
static void print_json(const cJSON *doc)
{
    char *text = cJSON_Print(doc);
    if (text == NULL)
        return;
    int line_start = 1;
    for (const char *p = text; *p; p++) {
        if (*p == '\t')
            fputs(line_start ? "  " : " ", stdout);
        else
            putchar(*p);
        line_start = *p == '\n' || (line_start && *p == '\t');
    }
    putchar('\n');
    free(text);
}

/* Prints a table of the given columns (dotted paths) over an array (or one object). */
static void print_table(const cJSON *doc, const char *const *cols, const char *const *heads)
{
    const cJSON *row;
    int ncols = 0;
    while (cols[ncols])
        ncols++;
    for (int i = 0; i < ncols; i++)
        printf("%-*s", i + 1 < ncols ? 28 : 0, heads[i]);
    printf("\n");
    for (int i = 0; i < ncols; i++)
        printf("%-*s", i + 1 < ncols ? 28 : 0, i + 1 < ncols ? "---------------------------" : "----------");
    printf("\n");
    cJSON *one = NULL;
    if (!cJSON_IsArray(doc)) {
        one = cJSON_CreateArray();
        cJSON_AddItemReferenceToArray(one, (cJSON *)doc);
        doc = one;
    }
    cJSON_ArrayForEach(row, doc)
    {
        for (int i = 0; i < ncols; i++) {
            const cJSON *v = row;
            char seg[128];
            const char *p = cols[i];
            while (v && *p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                snprintf(seg, sizeof seg, "%.*s", (int)n, p);
                v = cJSON_GetObjectItemCaseSensitive(v, seg);
                p += n + (dot != NULL);
            }
            char *text = NULL;
            if (cJSON_IsString(v))
                text = strdup(v->valuestring);
            else if (v && !cJSON_IsNull(v))
                text = cJSON_PrintUnformatted(v);
            printf("%-*s", i + 1 < ncols ? 28 : 0, text ? text : "");
            if (i + 1 < ncols && text && strlen(text) >= 28)
                printf(" ");
            free(text);
        }
        printf("\n");
    }
    cJSON_Delete(one);
}

/* Prints doc as JSON or, with -o table, as the table given (cols NULL: key/value rows). */
static int output(const cli *c, const cJSON *doc, const char *const *cols, const char *const *heads)
{
    if (!c->table) {
        print_json(doc);
        return MH_CLI_OK;
    }
    if (cols != NULL) {
        print_table(doc, cols, heads);
        return MH_CLI_OK;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, doc)
    {
        char *text = cJSON_IsString(m) ? strdup(m->valuestring) : cJSON_PrintUnformatted(m);
        printf("%-28s %s\n", m->string ? m->string : "", text ? text : "");
        free(text);
    }
    return MH_CLI_OK;
}

/* ---- HTTP ---- */

typedef struct resp {
    long status;
    cJSON *json;
    char etag[128];
    char cont[1024]; /* x-ms-continuation, "" when none */
} resp;

static int transport(cli *c)
{
    if (c->http)
        return 0;
    const char *ca = arg(c, "ca");
    if (ca == NULL && access(c->cfg->ca_cert, R_OK) == 0)
        ca = c->cfg->ca_cert;
    char why[256] = "";
    if (iots_http_new(ca, "mockhub-cli", &c->http, why, sizeof why) != IOTS_OK) {
        fprintf(stderr, "%s: cannot set up HTTPS: %s\n", c->prog, why);
        return -1;
    }
    return 0;
}

/* Sends one request to the hub and reads the answer. Returns MH_CLI_OK for a 2xx answer (r->json
 * holds the body, NULL when empty), else prints the error (the hub's name and text) and returns
 * MH_CLI_ERR_HUB, or MH_CLI_ERR_UNREACHABLE when no answer came. */
static int call(cli *c, const char *method, const char *path, const char *body, const char *if_match,
                const char *const *extra, resp *r)
{
    char url[1024], token[1024], auth[1100], ifm[200], *headers[8];
    size_t nh = 0;
    memset(r, 0, sizeof *r);
    if (transport(c) != 0)
        return MH_CLI_ERR_UNREACHABLE;
    snprintf(url, sizeof url, "https://%s:%d%s%capi-version=" API_VERSION, c->host, c->cfg->https_port, path,
             strchr(path, '?') ? '&' : '?');
    if (iot_sas_format(c->host, c->key, c->policy, (long long)time(NULL) + 3600, token, sizeof token) !=
        IOT_OK) {
        fprintf(stderr, "%s: cannot sign a token with the key of policy %s\n", c->prog, c->policy);
        return MH_CLI_ERR_USAGE;
    }
    snprintf(auth, sizeof auth, "Authorization: %s", token);
    headers[nh++] = auth;
    headers[nh++] = (char *)"Content-Type: application/json; charset=utf-8";
    if (if_match) {
        snprintf(ifm, sizeof ifm, "If-Match: \"%s\"", if_match);
        if (strcmp(if_match, "*") == 0 || if_match[0] == '"')
            snprintf(ifm, sizeof ifm, "If-Match: %s", if_match);
        headers[nh++] = ifm;
    }
    for (size_t i = 0; extra && extra[i] && nh < 8; i++)
        headers[nh++] = (char *)extra[i];
    iots_http_request req = {.method = method,
                             .url = url,
                             .headers = (const char *const *)headers,
                             .nheaders = nh,
                             .body = body,
                             .body_len = body ? strlen(body) : 0,
                             .timeout_s = 330,
                             .connect_timeout_s = 10};
    iots_http_response out = {0};
    iots_error_info err = {0};
    if (iots_http_perform(c->http, &req, &out, &err) != IOTS_OK) {
        fprintf(stderr,
                "%s: cannot reach the hub at https://%s:%d: %s\n(is `%s run` running? see `%s --help`)\n",
                c->prog, c->host, c->cfg->https_port, err.message, c->prog, c->prog);
        return MH_CLI_ERR_UNREACHABLE;
    }
    r->status = out.status;
    if (out.body_len > 0)
        r->json = cJSON_ParseWithLength(out.body, out.body_len);
    if (out.status >= 300) {
        iots_error_info info;
        iots_error_parse(out.status, out.body, out.body_len, out.errorcode[0] ? out.errorcode : NULL, &info);
        if (out.status == 408 && r->json) /* wait-for: the condition did not hold in time */
            fprintf(stderr, "ERROR: the condition did not hold within the timeout\n");
        else
            fprintf(stderr, "ERROR: %ld %s: %s\n", out.status, info.name[0] ? info.name : "error",
                    info.message[0] ? info.message : out.body);
        iots_http_response_cleanup(&out);
        return MH_CLI_ERR_HUB;
    }
    if (out.continuation)
        snprintf(r->cont, sizeof r->cont, "%s", out.continuation);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "etag");
    if (cJSON_IsString(e))
        snprintf(r->etag, sizeof r->etag, "%s", e->valuestring);
    iots_http_response_cleanup(&out);
    return MH_CLI_OK;
}

/* Reads a JSON argument: inline text or @file. NULL (message printed) when not valid JSON. */
static cJSON *json_arg(cli *c, const char *name)
{
    const char *text = arg(c, name);
    char *buf = NULL;
    cJSON *doc = NULL;
    if (text == NULL)
        return NULL;
    if (text[0] == '@') {
        FILE *f = fopen(text + 1, "r");
        if (f == NULL) {
            fprintf(stderr, "%s: cannot read %s: %s\n", c->prog, text + 1, strerror(errno));
            return NULL;
        }
        buf = calloc(1, FILE_MAX + 1);
        size_t n = buf ? fread(buf, 1, FILE_MAX, f) : 0;
        fclose(f);
        if (buf == NULL)
            return NULL;
        buf[n] = '\0';
        text = buf;
    }
    doc = cJSON_Parse(text);
    if (doc == NULL)
        fprintf(stderr, "%s: --%s is not valid JSON: %.80s\n", c->prog, name, text);
    free(buf);
    return doc;
}

static int need(cli *c, const char *name)
{
    if (has(c, name))
        return 1;
    usage_error(c, "--%s is required", name);
    return 0;
}

/* A whole number option in [lo, hi]; def when absent; -1 (message printed) when bad. */
static long num_arg(cli *c, const char *name, long lo, long hi, long def)
{
    const char *t = arg(c, name);
    if (t == NULL)
        return def;
    char *end = NULL;
    errno = 0;
    long v = strtol(t, &end, 10);
    if (t[0] < '0' || t[0] > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        char what[160];
        snprintf(what, sizeof what, "--%s must be a whole number from %ld to %ld", name, lo, hi);
        usage_error(c, "%s", what);
        return -1;
    }
    return v;
}

/* prefix + the url-encoded id + suffix */
static void path_for(char *out, size_t len, const char *prefix, const char *id, const char *suffix)
{
    char enc[512];
    if (iot_url_encode(id, strlen(id), enc, sizeof enc) != IOT_OK)
        snprintf(enc, sizeof enc, "%s", id);
    snprintf(out, len, "%s%s%s", prefix, enc, suffix);
}

/* ---- device-identity ---- */

static const char *const dev_cols[] = {
    "deviceId", "status", "connectionState", "capabilities.iotEdge", "lastActivityTime", NULL};
static const char *const dev_heads[] = {"DeviceId", "Status",           "ConnectionState",
                                        "Edge",     "LastActivityTime", NULL};

static int random_key(char out[64])
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return 0;
    return iot_b64_encode(raw, sizeof raw, out, 64) == IOT_OK;
}

/* Applies the identity options to a Device document. 0 on a bad value (message printed). */
static int apply_identity(cli *c, cJSON *dev)
{
    const char *status = arg(c, "status");
    if (status) {
        if (strcmp(status, "enabled") && strcmp(status, "disabled")) {
            usage_error(c, "--status must be enabled or disabled, not '%s'", status);
            return 0;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(dev, "status");
        cJSON_AddStringToObject(dev, "status", status);
    }
    if (has(c, "status-reason")) {
        cJSON_DeleteItemFromObjectCaseSensitive(dev, "statusReason");
        cJSON_AddStringToObject(dev, "statusReason", arg(c, "status-reason"));
    }
    if (has(c, "edge-enabled")) {
        const char *v = arg(c, "edge-enabled");
        int on = strcmp(v, "") == 0 || strcmp(v, "true") == 0;
        cJSON *caps = cJSON_GetObjectItemCaseSensitive(dev, "capabilities");
        if (caps == NULL)
            caps = cJSON_AddObjectToObject(dev, "capabilities");
        cJSON_DeleteItemFromObjectCaseSensitive(caps, "iotEdge");
        cJSON_AddBoolToObject(caps, "iotEdge", on);
    }
    if (has(c, "primary-key") || has(c, "secondary-key")) {
        cJSON *auth = cJSON_GetObjectItemCaseSensitive(dev, "authentication");
        if (auth == NULL) {
            auth = cJSON_AddObjectToObject(dev, "authentication");
            cJSON_AddStringToObject(auth, "type", "sas");
        }
        cJSON *sym = cJSON_GetObjectItemCaseSensitive(auth, "symmetricKey");
        if (sym == NULL)
            sym = cJSON_AddObjectToObject(auth, "symmetricKey");
        const char *names[2] = {"primary-key", "secondary-key"}, *fields[2] = {"primaryKey", "secondaryKey"};
        for (int i = 0; i < 2; i++) {
            if (!has(c, names[i]))
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(sym, fields[i]);
            cJSON_AddStringToObject(sym, fields[i], arg(c, names[i]));
        }
    }
    return 1;
}

static int need_id(cli *c, char *path, size_t len, const char *prefix, const char *suffix)
{
    if (!need(c, "device-id"))
        return 0;
    path_for(path, len, prefix, arg(c, "device-id"), suffix);
    return 1;
}

/* Sends body (taken over; NULL: none, as for GET) as JSON and prints the answer with cols/heads: the
 * shape of most verbs. */
static int send_and_print(cli *c, const char *method, const char *path, cJSON *body, const char *if_match,
                          const char *const *cols, const char *const *heads)
{
    resp r;
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    int rc = call(c, method, path, text, if_match, NULL, &r);
    free(text);
    if (rc == MH_CLI_OK)
        output(c, r.json, cols, heads);
    cJSON_Delete(r.json);
    return rc;
}

static int v_identity_create(cli *c)
{
    char path[600];
    if (!need_id(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    cJSON *dev = cJSON_CreateObject();
    cJSON_AddStringToObject(dev, "deviceId", arg(c, "device-id"));
    if (!apply_identity(c, dev)) {
        cJSON_Delete(dev);
        return MH_CLI_ERR_USAGE;
    }
    return send_and_print(c, "PUT", path, dev, NULL, dev_cols, dev_heads);
}

static int v_identity_show(cli *c)
{
    char path[600];
    if (!need_id(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    return send_and_print(c, "GET", path, NULL, NULL, dev_cols, dev_heads);
}

static int v_identity_list(cli *c)
{
    char path[64];
    long top = num_arg(c, "top", 1, 1000, 1000);
    if (top < 0)
        return MH_CLI_ERR_USAGE;
    snprintf(path, sizeof path, "/devices?top=%ld", top);
    return send_and_print(c, "GET", path, NULL, NULL, dev_cols, dev_heads);
}

/* GET the device, change it, PUT it back with its etag (or --etag). */
static int update_device(cli *c, int renew)
{
    char path[600];
    resp r, w;
    if (!need_id(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    int rc = call(c, "GET", path, NULL, NULL, NULL, &r);
    if (rc != MH_CLI_OK)
        return rc;
    rc = MH_CLI_ERR_USAGE;
    if (renew) {
        const char *kt = arg(c, "key-type");
        cJSON *sym = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r.json, "authentication"), "symmetricKey");
        char k1[64], k2[64];
        if (kt == NULL) {
            usage_error(c, "--key-type is required (primary, secondary, both or swap)");
            goto done;
        }
        if (sym == NULL) {
            fprintf(stderr, "%s: the device has no symmetric keys\n", c->prog);
            rc = MH_CLI_ERR_HUB;
            goto done;
        }
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(sym, "primaryKey");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(sym, "secondaryKey");
        snprintf(k1, sizeof k1, "%s", cJSON_IsString(p) ? p->valuestring : "");
        snprintf(k2, sizeof k2, "%s", cJSON_IsString(s) ? s->valuestring : "");
        if (strcmp(kt, "swap") == 0) {
            char t[64];
            memcpy(t, k1, sizeof t);
            memcpy(k1, k2, sizeof t);
            memcpy(k2, t, sizeof t);
        } else if (!strcmp(kt, "primary") || !strcmp(kt, "secondary") || !strcmp(kt, "both")) {
            if ((strcmp(kt, "secondary") && !random_key(k1)) || (strcmp(kt, "primary") && !random_key(k2))) {
                fprintf(stderr, "%s: no random bytes\n", c->prog);
                goto done;
            }
        } else {
            usage_error(c, "--key-type must be primary, secondary, both or swap, not '%s'", kt);
            goto done;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(sym, "primaryKey", cJSON_CreateString(k1));
        cJSON_ReplaceItemInObjectCaseSensitive(sym, "secondaryKey", cJSON_CreateString(k2));
    } else if (!apply_identity(c, r.json)) {
        goto done;
    }
    char *body = cJSON_PrintUnformatted(r.json);
    rc = call(c, "PUT", path, body, has(c, "etag") ? arg(c, "etag") : (r.etag[0] ? r.etag : "*"), NULL, &w);
    free(body);
    if (rc == MH_CLI_OK)
        output(c, w.json, dev_cols, dev_heads);
    cJSON_Delete(w.json);
done:
    cJSON_Delete(r.json);
    return rc;
}

static int v_identity_update(cli *c)
{
    return update_device(c, 0);
}

static int v_identity_renew_key(cli *c)
{
    return update_device(c, 1);
}

static int v_identity_delete(cli *c)
{
    char path[600];
    resp r;
    if (!need_id(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    int rc = call(c, "DELETE", path, NULL, has(c, "etag") ? arg(c, "etag") : "*", NULL, &r);
    cJSON_Delete(r.json);
    return rc; /* like az: nothing printed on success */
}

static int v_identity_cs(cli *c)
{
    char path[600], cs[1024];
    resp r;
    if (!need_id(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    const char *kt = arg(c, "key-type") ? arg(c, "key-type") : "primary";
    if (strcmp(kt, "primary") && strcmp(kt, "secondary"))
        return usage_error(c, "--key-type must be primary or secondary, not '%s'", kt);
    int rc = call(c, "GET", path, NULL, NULL, NULL, &r);
    if (rc != MH_CLI_OK)
        return rc;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r.json, "authentication"),
                                         "symmetricKey"),
        strcmp(kt, "primary") == 0 ? "primaryKey" : "secondaryKey");
    if (!cJSON_IsString(key) || key->valuestring[0] == '\0') {
        fprintf(stderr, "ERROR: the device has no symmetric key (not a SAS device)\n");
        cJSON_Delete(r.json);
        return MH_CLI_ERR_HUB;
    }
    int n = snprintf(cs, sizeof cs, "HostName=%s;DeviceId=%s;SharedAccessKey=%s", c->host,
                     arg(c, "device-id"), key->valuestring);
    /* a non-default MQTT port goes in GatewayHostName, which the device SDKs dial */
    if (c->cfg->mqtt_port != 8883 && n > 0 && (size_t)n < sizeof cs)
        snprintf(cs + n, sizeof cs - (size_t)n, ";GatewayHostName=%s:%d", c->host, c->cfg->mqtt_port);
    cJSON_Delete(r.json);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "connectionString", cs);
    output(c, doc, NULL, NULL);
    cJSON_Delete(doc);
    return MH_CLI_OK;
}

/* ---- device-twin ---- */

static const char *const twin_cols[] = {"deviceId", "status", "connectionState", "version", "etag", NULL};
static const char *const twin_heads[] = {"DeviceId", "Status", "ConnectionState", "Version", "Etag", NULL};

static int v_twin_show(cli *c)
{
    char path[600];
    if (!need_id(c, path, sizeof path, "/twins/", ""))
        return MH_CLI_ERR_USAGE;
    return send_and_print(c, "GET", path, NULL, NULL, twin_cols, twin_heads);
}

static int twin_write(cli *c, const char *method, cJSON *body)
{
    char path[600];
    path_for(path, sizeof path, "/twins/", arg(c, "device-id"), "");
    return send_and_print(c, method, path, body, has(c, "etag") ? arg(c, "etag") : "*", twin_cols,
                          twin_heads);
}

/* {"tags":..,"properties":{"desired":..}} from --tags/--desired; NULL (message printed) when bad. */
static cJSON *twin_patch_body(cli *c)
{
    if (!has(c, "desired") && !has(c, "tags")) {
        usage_error(c, "give --desired and/or --tags");
        return NULL;
    }
    cJSON *body = cJSON_CreateObject(), *v = NULL;
    if (has(c, "tags")) {
        if ((v = json_arg(c, "tags")) == NULL || !cJSON_IsObject(v))
            goto bad;
        cJSON_AddItemToObject(body, "tags", v);
    }
    if (has(c, "desired")) {
        if ((v = json_arg(c, "desired")) == NULL || !cJSON_IsObject(v))
            goto bad;
        cJSON_AddItemToObject(cJSON_AddObjectToObject(body, "properties"), "desired", v);
    }
    return body;
bad:
    if (v != NULL)
        fprintf(stderr, "%s: --tags and --desired must be JSON objects\n", c->prog);
    cJSON_Delete(v);
    cJSON_Delete(body);
    return NULL;
}

/* The --json twin; NULL (message printed) when it is not a JSON object. */
static cJSON *twin_json_body(cli *c)
{
    cJSON *body = json_arg(c, "json");
    if (!cJSON_IsObject(body)) {
        if (body)
            fprintf(stderr, "%s: --json must be a JSON object (a twin)\n", c->prog);
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

static int v_twin_update(cli *c)
{
    if (!need(c, "device-id"))
        return MH_CLI_ERR_USAGE;
    cJSON *body = twin_patch_body(c);
    if (body == NULL)
        return MH_CLI_ERR_USAGE;
    return twin_write(c, "PATCH", body);
}

static int v_twin_replace(cli *c)
{
    if (!need(c, "device-id") || !need(c, "json"))
        return MH_CLI_ERR_USAGE;
    cJSON *body = twin_json_body(c);
    if (body == NULL)
        return MH_CLI_ERR_USAGE;
    return twin_write(c, "PUT", body);
}

/* ---- invoke-device-method, query ---- */

/* The method call body from --method-name/--method-payload/--timeout/--connect-timeout; NULL (message
 * printed) when an option is bad. */
static cJSON *method_body(cli *c)
{
    long timeout = num_arg(c, "timeout", 5, 300, 30), ct = num_arg(c, "connect-timeout", 0, 300, 0);
    if (timeout < 0 || ct < 0)
        return NULL;
    cJSON *payload = has(c, "method-payload") ? json_arg(c, "method-payload") : cJSON_CreateObject();
    if (payload == NULL)
        return NULL;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "methodName", arg(c, "method-name"));
    cJSON_AddItemToObject(body, "payload", payload);
    cJSON_AddNumberToObject(body, "responseTimeoutInSeconds", (double)timeout);
    cJSON_AddNumberToObject(body, "connectTimeoutInSeconds", (double)ct);
    return body;
}

static int v_invoke(cli *c)
{
    char path[600];
    if (!need_id(c, path, sizeof path, "/twins/", "/methods") || !need(c, "method-name"))
        return MH_CLI_ERR_USAGE;
    cJSON *body = method_body(c);
    if (body == NULL)
        return MH_CLI_ERR_USAGE;
    return send_and_print(c, "POST", path, body, NULL, NULL, NULL);
}

static int v_query(cli *c)
{
    if (!need(c, "query-command"))
        return MH_CLI_ERR_USAGE;
    long top = num_arg(c, "top", 1, 1000000, 0); /* az: all by default */
    if (top < 0)
        return MH_CLI_ERR_USAGE;
    cJSON *all = cJSON_CreateArray(), *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "query", arg(c, "query-command"));
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char page[64], cont[1100] = "";
    int rc = MH_CLI_OK;
    long got = 0;
    resp r = {0};
    /* pages of up to 100 (or what is left of --top), following x-ms-continuation */
    do {
        long want = top > 0 && top - got < 100 ? top - got : 100;
        snprintf(page, sizeof page, "x-ms-max-item-count: %ld", want);
        const char *extra[] = {page, cont[0] ? cont : NULL, NULL};
        cJSON_Delete(r.json);
        rc = call(c, "POST", "/devices/query", text, NULL, extra, &r);
        if (rc != MH_CLI_OK)
            break;
        cJSON *it;
        cJSON_ArrayForEach(it, r.json)
        {
            if (top > 0 && got >= top)
                break;
            cJSON_AddItemToArray(all, cJSON_Duplicate(it, 1));
            got++;
        }
        snprintf(cont, sizeof cont, "x-ms-continuation: %s", r.cont);
    } while (r.cont[0] && (top == 0 || got < top));
    free(text);
    if (rc == MH_CLI_OK)
        output(c, all, dev_cols, dev_heads);
    cJSON_Delete(r.json);
    cJSON_Delete(all);
    return rc;
}

/* ---- modules: module-identity, module-twin, invoke-module-method ---- */

static const char *const mod_cols[] = {"deviceId",  "moduleId",         "connectionState",
                                       "managedBy", "lastActivityTime", NULL};
static const char *const mod_heads[] = {"DeviceId",  "ModuleId",         "ConnectionState",
                                        "ManagedBy", "LastActivityTime", NULL};
static const char *const mtwin_cols[] = {"deviceId", "moduleId", "connectionState", "version", "etag", NULL};
static const char *const mtwin_heads[] = {"DeviceId", "ModuleId", "ConnectionState", "Version", "Etag", NULL};

/* prefix{device}/modules/{module}suffix, both ids url-encoded; 0 (message printed) without -d and -m */
static int need_module(cli *c, char *path, size_t len, const char *prefix, const char *suffix)
{
    char enc[512], tail[700];
    if (!need(c, "device-id") || !need(c, "module-id"))
        return 0;
    const char *m = arg(c, "module-id");
    if (iot_url_encode(m, strlen(m), enc, sizeof enc) != IOT_OK)
        snprintf(enc, sizeof enc, "%s", m);
    snprintf(tail, sizeof tail, "/modules/%s%s", enc, suffix);
    path_for(path, len, prefix, arg(c, "device-id"), tail);
    return 1;
}

/* Sets authentication.symmetricKey from --primary-key/--secondary-key (type sas). */
static void apply_module_keys(cli *c, cJSON *mod)
{
    if (!has(c, "primary-key") && !has(c, "secondary-key"))
        return;
    cJSON *auth = cJSON_GetObjectItemCaseSensitive(mod, "authentication");
    if (auth == NULL) {
        auth = cJSON_AddObjectToObject(mod, "authentication");
        cJSON_AddStringToObject(auth, "type", "sas");
    }
    cJSON *sym = cJSON_GetObjectItemCaseSensitive(auth, "symmetricKey");
    if (sym == NULL)
        sym = cJSON_AddObjectToObject(auth, "symmetricKey");
    const char *names[2] = {"primary-key", "secondary-key"}, *fields[2] = {"primaryKey", "secondaryKey"};
    for (int i = 0; i < 2; i++) {
        if (!has(c, names[i]))
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(sym, fields[i]);
        cJSON_AddStringToObject(sym, fields[i], arg(c, names[i]));
    }
}

static int v_module_create(cli *c)
{
    char path[1400];
    if (!need_module(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    /* AZURE: Registry.addModule sends {deviceId, moduleId, authentication}; empty keys -> generated */
    cJSON *mod = cJSON_CreateObject();
    cJSON_AddStringToObject(mod, "deviceId", arg(c, "device-id"));
    cJSON_AddStringToObject(mod, "moduleId", arg(c, "module-id"));
    apply_module_keys(c, mod);
    return send_and_print(c, "PUT", path, mod, NULL, mod_cols, mod_heads);
}

static int v_module_show(cli *c)
{
    char path[1400];
    if (!need_module(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    return send_and_print(c, "GET", path, NULL, NULL, mod_cols, mod_heads);
}

static int v_module_list(cli *c)
{
    char path[700];
    resp r;
    long top = num_arg(c, "top", 1, 1000, 1000);
    if (top < 0)
        return MH_CLI_ERR_USAGE;
    if (!need_id(c, path, sizeof path, "/devices/", "/modules"))
        return MH_CLI_ERR_USAGE;
    int rc = call(c, "GET", path, NULL, NULL, NULL, &r);
    if (rc == MH_CLI_OK) {
        /* the hub answers all of the device's modules (at most 50); --top trims like az */
        while (cJSON_GetArraySize(r.json) > top)
            cJSON_DeleteItemFromArray(r.json, cJSON_GetArraySize(r.json) - 1);
        output(c, r.json, mod_cols, mod_heads);
    }
    cJSON_Delete(r.json);
    return rc;
}

/* GET the module, set the keys given, PUT it back with its etag (or --etag). */
static int v_module_update(cli *c)
{
    char path[1400];
    resp r, w;
    if (!need_module(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    if (!has(c, "primary-key") && !has(c, "secondary-key"))
        return usage_error(c, "give --primary-key and/or --secondary-key");
    int rc = call(c, "GET", path, NULL, NULL, NULL, &r);
    if (rc != MH_CLI_OK)
        return rc;
    apply_module_keys(c, r.json);
    char *body = cJSON_PrintUnformatted(r.json);
    rc = call(c, "PUT", path, body, has(c, "etag") ? arg(c, "etag") : (r.etag[0] ? r.etag : "*"), NULL, &w);
    free(body);
    if (rc == MH_CLI_OK)
        output(c, w.json, mod_cols, mod_heads);
    cJSON_Delete(w.json);
    cJSON_Delete(r.json);
    return rc;
}

static int v_module_delete(cli *c)
{
    char path[1400];
    resp r;
    if (!need_module(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    int rc = call(c, "DELETE", path, NULL, has(c, "etag") ? arg(c, "etag") : "*", NULL, &r);
    cJSON_Delete(r.json);
    return rc; /* like az: nothing printed on success */
}

/* The --key-type key of a device or module document; NULL (message printed) when it has none. */
static const char *doc_key(const cJSON *doc, const char *kt)
{
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "authentication"),
                                         "symmetricKey"),
        strcmp(kt, "primary") == 0 ? "primaryKey" : "secondaryKey");
    if (!cJSON_IsString(key) || key->valuestring[0] == '\0')
        return NULL;
    return key->valuestring;
}

static int v_module_cs(cli *c)
{
    char path[1400], cs[1400];
    resp r;
    if (!need_module(c, path, sizeof path, "/devices/", ""))
        return MH_CLI_ERR_USAGE;
    const char *kt = arg(c, "key-type") ? arg(c, "key-type") : "primary";
    if (strcmp(kt, "primary") && strcmp(kt, "secondary"))
        return usage_error(c, "--key-type must be primary or secondary, not '%s'", kt);
    int rc = call(c, "GET", path, NULL, NULL, NULL, &r);
    if (rc != MH_CLI_OK)
        return rc;
    const char *key = doc_key(r.json, kt);
    if (key == NULL) {
        fprintf(stderr, "ERROR: the module has no symmetric key (not a SAS module)\n");
        cJSON_Delete(r.json);
        return MH_CLI_ERR_HUB;
    }
    int n = snprintf(cs, sizeof cs, "HostName=%s;DeviceId=%s;ModuleId=%s;SharedAccessKey=%s", c->host,
                     arg(c, "device-id"), arg(c, "module-id"), key);
    /* a non-default MQTT port goes in GatewayHostName, which the device SDKs dial */
    if (c->cfg->mqtt_port != 8883 && n > 0 && (size_t)n < sizeof cs)
        snprintf(cs + n, sizeof cs - (size_t)n, ";GatewayHostName=%s:%d", c->host, c->cfg->mqtt_port);
    cJSON_Delete(r.json);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "connectionString", cs);
    output(c, doc, NULL, NULL);
    cJSON_Delete(doc);
    return MH_CLI_OK;
}

static int v_mtwin_show(cli *c)
{
    char path[1400];
    if (!need_module(c, path, sizeof path, "/twins/", ""))
        return MH_CLI_ERR_USAGE;
    return send_and_print(c, "GET", path, NULL, NULL, mtwin_cols, mtwin_heads);
}

static int v_mtwin_update(cli *c)
{
    char path[1400];
    if (!need_module(c, path, sizeof path, "/twins/", ""))
        return MH_CLI_ERR_USAGE;
    cJSON *body = twin_patch_body(c);
    if (body == NULL)
        return MH_CLI_ERR_USAGE;
    return send_and_print(c, "PATCH", path, body, has(c, "etag") ? arg(c, "etag") : "*", mtwin_cols,
                          mtwin_heads);
}

static int v_mtwin_replace(cli *c)
{
    char path[1400];
    if (!need_module(c, path, sizeof path, "/twins/", "") || !need(c, "json"))
        return MH_CLI_ERR_USAGE;
    cJSON *body = twin_json_body(c);
    if (body == NULL)
        return MH_CLI_ERR_USAGE;
    return send_and_print(c, "PUT", path, body, has(c, "etag") ? arg(c, "etag") : "*", mtwin_cols,
                          mtwin_heads);
}

static int v_invoke_module(cli *c)
{
    char path[1400];
    if (!need_module(c, path, sizeof path, "/twins/", "/methods") || !need(c, "method-name"))
        return MH_CLI_ERR_USAGE;
    cJSON *body = method_body(c);
    if (body == NULL)
        return MH_CLI_ERR_USAGE;
    return send_and_print(c, "POST", path, body, NULL, NULL, NULL);
}

/* ---- c2d-message send ---- */

/* Parses --props "k0=v0;k1=v1" (az's form) into an object; NULL (message printed) when malformed. */
static cJSON *props_arg(cli *c)
{
    cJSON *o = cJSON_CreateObject();
    const char *p = arg(c, "props");
    while (p && *p) {
        size_t n = strcspn(p, ";");
        const char *eq = memchr(p, '=', n);
        if (n > 0) {
            if (eq == NULL || eq == p) {
                usage_error(c, "--props must be key0=value0;key1=value1, not '%.*s'", (int)n, p);
                cJSON_Delete(o);
                return NULL;
            }
            char key[256], val[1024];
            snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
            snprintf(val, sizeof val, "%.*s", (int)(n - (size_t)(eq - p) - 1), eq + 1);
            cJSON_DeleteItemFromObjectCaseSensitive(o, key);
            cJSON_AddStringToObject(o, key, val);
        }
        p += n + (p[n] == ';');
    }
    return o;
}

static int v_c2d_send(cli *c)
{
    char path[700];
    if (!need_id(c, path, sizeof path, "/mockhub/devices/", "/messages"))
        return MH_CLI_ERR_USAGE;
    const char *ack = arg(c, "ack");
    if (ack && strcmp(ack, "positive") && strcmp(ack, "negative") && strcmp(ack, "full") &&
        strcmp(ack, "none"))
        return usage_error(c, "--ack must be positive, negative or full, not '%s'", ack);
    long long expiry = 0;
    if (has(c, "expiry-time-utc")) {
        char *end = NULL;
        const char *t = arg(c, "expiry-time-utc");
        errno = 0;
        expiry = strtoll(t, &end, 10);
        if (t[0] < '0' || t[0] > '9' || *end != '\0' || errno != 0 || expiry <= 0)
            return usage_error(c, "--expiry-time-utc must be milliseconds since the epoch, not '%s'", t);
    }
    cJSON *props = props_arg(c);
    if (props == NULL)
        return MH_CLI_ERR_USAGE;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "data", has(c, "data") ? arg(c, "data") : "Ping from Az CLI IoT Extension");
    cJSON_AddItemToObject(body, "properties", props);
    const char *strs[][2] = {
        {"ack", "ack"},        {"message-id", "messageId"},     {"correlation-id", "correlationId"},
        {"user-id", "userId"}, {"content-type", "contentType"}, {"content-encoding", "contentEncoding"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (has(c, strs[i][0]))
            cJSON_AddStringToObject(body, strs[i][1], arg(c, strs[i][0]));
    if (expiry > 0) {
        char iso[40];
        time_t secs = (time_t)(expiry / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(iso + n, sizeof iso - n, ".%03lldZ", expiry % 1000);
        cJSON_AddStringToObject(body, "expiryTimeUtc", iso);
    }
    /* MOCK: the hub takes C2D over AMQP only; mockhub's test-control route enqueues the same message */
    return send_and_print(c, "POST", path, body, NULL, NULL, NULL);
}

/* ---- tokens and connection strings (offline) ---- */

static int v_sas(cli *c)
{
    char resource[800], token[1400];
    long du = num_arg(c, "duration", 1, 365L * 24 * 3600, 3600);
    if (du < 0)
        return MH_CLI_ERR_USAGE;
    long long expiry = (long long)time(NULL) + du;
    iot_err err;
    if (has(c, "module-id") && !has(c, "device-id"))
        return usage_error(c, "--module-id needs --device-id (-d)");
    if (has(c, "device-id")) {
        char path[1400];
        resp r;
        int module = has(c, "module-id");
        if (module)
            need_module(c, path, sizeof path, "/devices/", "");
        else
            path_for(path, sizeof path, "/devices/", arg(c, "device-id"), "");
        const char *kt = arg(c, "key-type") ? arg(c, "key-type") : "primary";
        if (strcmp(kt, "primary") && strcmp(kt, "secondary"))
            return usage_error(c, "--key-type must be primary or secondary, not '%s'", kt);
        int rc = call(c, "GET", path, NULL, NULL, NULL, &r);
        if (rc != MH_CLI_OK)
            return rc;
        const char *key = doc_key(r.json, kt);
        /* AZURE: a module's token is for {host}/devices/{d}/modules/{m}, signed with the module's key */
        if (module)
            snprintf(resource, sizeof resource, "%s/devices/%s/modules/%s", c->host, arg(c, "device-id"),
                     arg(c, "module-id"));
        else
            snprintf(resource, sizeof resource, "%s/devices/%s", c->host, arg(c, "device-id"));
        err = key ? iot_sas_format(resource, key, NULL, expiry, token, sizeof token) : IOT_E_INVALID;
        cJSON_Delete(r.json);
    } else {
        if (has(c, "policy-name") && strcmp(arg(c, "policy-name"), c->policy) != 0)
            return usage_error(c,
                               "only the login's policy (%s) can sign here; give -l with that policy's "
                               "connection string",
                               c->policy);
        err = iot_sas_format(c->host, c->key, c->policy, expiry, token, sizeof token);
    }
    if (err != IOT_OK) {
        fprintf(stderr, "ERROR: cannot sign a token (no symmetric key)\n");
        return MH_CLI_ERR_HUB;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "sas", token);
    output(c, doc, NULL, NULL);
    cJSON_Delete(doc);
    return MH_CLI_OK;
}

static int v_cs_show(cli *c)
{
    char cs[600];
    snprintf(cs, sizeof cs, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s", c->host, c->policy,
             c->key);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "connectionString", cs);
    output(c, doc, NULL, NULL);
    cJSON_Delete(doc);
    return MH_CLI_OK;
}

/* ---- test control ---- */

static int v_test_reset(cli *c)
{
    resp r;
    const char *to = arg(c, "to");
    char body[64] = "{}";
    if (to != NULL) {
        if (strcmp(to, "empty") && strcmp(to, "seed"))
            return usage_error(c, "--to must be empty or seed, not '%s'", to);
        snprintf(body, sizeof body, "{\"to\":\"%s\"}", to);
    }
    int rc = call(c, "POST", "/mockhub/reset", body, NULL, NULL, &r);
    if (rc == MH_CLI_OK)
        output(c, r.json, NULL, NULL);
    cJSON_Delete(r.json);
    return rc;
}

static int v_test_wait(cli *c)
{
    char path[1600], enc[1024];
    resp r;
    if (!need_id(c, path, sizeof path, "/mockhub/wait?deviceId=", ""))
        return MH_CLI_ERR_USAGE;
    long timeout = num_arg(c, "timeout", 0, 300, 30);
    if (timeout < 0)
        return MH_CLI_ERR_USAGE;
    const char *cond = "connected";
    int nconds = has(c, "connected") + has(c, "disconnected") + has(c, "methods") +
                 has(c, "desired-subscribed") + has(c, "path");
    if (nconds > 1)
        return usage_error(c, "give one condition (--connected, --disconnected, --methods, "
                              "--desired-subscribed or --path)");
    if (has(c, "disconnected"))
        cond = "disconnected";
    else if (has(c, "methods"))
        cond = "methods";
    else if (has(c, "desired-subscribed"))
        cond = "desired";
    else if (has(c, "path"))
        cond = "twin";
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "&condition=%s&timeout=%ld", cond, timeout);
    if (has(c, "path")) {
        n = strlen(path);
        if (iot_url_encode(arg(c, "path"), strlen(arg(c, "path")), enc, sizeof enc) != IOT_OK)
            return usage_error(c, "--path is too long");
        snprintf(path + n, sizeof path - n, "&path=%s", enc);
    }
    if (has(c, "value")) {
        n = strlen(path);
        if (iot_url_encode(arg(c, "value"), strlen(arg(c, "value")), enc, sizeof enc) != IOT_OK)
            return usage_error(c, "--value is too long");
        snprintf(path + n, sizeof path - n, "&value=%s", enc);
    }
    int rc = call(c, "GET", path, NULL, NULL, NULL, &r);
    if (r.json)
        output(c, r.json, NULL, NULL);
    cJSON_Delete(r.json);
    return rc;
}

static const char *const fault_cols[] = {"id",         "deviceId",  "operations", "latencyMs",
                                         "error.name", "remaining", "hits",       NULL};
static const char *const fault_heads[] = {"Id",    "DeviceId",  "Operations", "LatencyMs",
                                          "Error", "Remaining", "Hits",       NULL};

static int v_fault_add(cli *c)
{
    cJSON *body = cJSON_CreateObject();
    if (has(c, "device-id"))
        cJSON_AddStringToObject(body, "deviceId", arg(c, "device-id"));
    if (has(c, "operations")) {
        cJSON *ops = cJSON_AddArrayToObject(body, "operations");
        char buf[256];
        snprintf(buf, sizeof buf, "%s", arg(c, "operations"));
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(ops, cJSON_CreateString(t));
    }
    const char *nums[][2] = {
        {"latency", "latencyMs"}, {"count", "count"}, {"refuse-connects", "refuseConnects"}};
    for (size_t i = 0; i < 3; i++) {
        long v = num_arg(c, nums[i][0], 0, 1000000000L, -2);
        if (v == -1) {
            cJSON_Delete(body);
            return MH_CLI_ERR_USAGE;
        }
        if (v >= 0)
            cJSON_AddNumberToObject(body, nums[i][1], (double)v);
    }
    if (has(c, "error")) {
        const char *e = arg(c, "error");
        char *end = NULL;
        long n = strtol(e, &end, 10);
        if (e[0] >= '0' && e[0] <= '9' && *end == '\0')
            cJSON_AddNumberToObject(body, "error", (double)n);
        else
            cJSON_AddStringToObject(body, "error", e);
    }
    return send_and_print(c, "POST", "/mockhub/faults", body, NULL, fault_cols, fault_heads);
}

static int v_fault_list(cli *c)
{
    resp r;
    int rc = call(c, "GET", "/mockhub/faults", NULL, NULL, NULL, &r);
    if (rc == MH_CLI_OK)
        output(c, r.json, fault_cols, fault_heads);
    cJSON_Delete(r.json);
    return rc;
}

static int v_fault_clear(cli *c)
{
    resp r;
    char path[64] = "/mockhub/faults";
    if (has(c, "id")) {
        long id = num_arg(c, "id", 1, 1000000000L, 0);
        if (id < 0)
            return MH_CLI_ERR_USAGE;
        snprintf(path, sizeof path, "/mockhub/faults/%ld", id);
    }
    int rc = call(c, "DELETE", path, NULL, NULL, NULL, &r);
    if (rc == MH_CLI_OK && r.json)
        output(c, r.json, NULL, NULL);
    cJSON_Delete(r.json);
    return rc;
}

static int v_test_drop(cli *c)
{
    char path[600];
    resp r;
    if (!need_id(c, path, sizeof path, "/mockhub/devices/", "/drop"))
        return MH_CLI_ERR_USAGE;
    int rc = call(c, "POST", path, "{}", NULL, NULL, &r);
    if (rc == MH_CLI_OK)
        output(c, r.json, NULL, NULL);
    cJSON_Delete(r.json);
    return rc;
}

/* ---- the verb table ---- */

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const verb verbs[] = {
    {"device-identity connection-string show", v_identity_cs, "a device's connection string",
     OPTS("device-id", "key-type")},
    {"device-identity create", v_identity_create, "register a device (keys generated unless given)",
     OPTS("device-id", "edge-enabled", "status", "status-reason", "primary-key", "secondary-key")},
    {"device-identity show", v_identity_show, "a device's identity", OPTS("device-id")},
    {"device-identity list", v_identity_list, "the registered devices", OPTS("top")},
    {"device-identity update", v_identity_update,
     "change status, edge flag or keys (disabling drops the device)",
     OPTS("device-id", "edge-enabled", "status", "status-reason", "primary-key", "secondary-key", "etag")},
    {"device-identity delete", v_identity_delete, "delete a device (drops its live connection)",
     OPTS("device-id", "etag")},
    {"device-identity renew-key", v_identity_renew_key, "regenerate or swap a device's keys",
     OPTS("device-id", "key-type", "etag")},
    {"device-twin show", v_twin_show, "a device's twin", OPTS("device-id")},
    {"device-twin update", v_twin_update, "merge desired properties and/or tags (JSON merge patch)",
     OPTS("device-id", "desired", "tags", "etag")},
    {"device-twin replace", v_twin_replace, "replace tags and desired properties with a whole twin",
     OPTS("device-id", "json", "etag")},
    {"invoke-device-method", v_invoke, "call a direct method and print the device's answer",
     OPTS("device-id", "method-name", "method-payload", "timeout", "connect-timeout")},
    {"module-identity create", v_module_create, "register a module of a device (keys generated unless given)",
     OPTS("device-id", "module-id", "primary-key", "secondary-key")},
    {"module-identity show", v_module_show, "a module's identity", OPTS("device-id", "module-id")},
    {"module-identity list", v_module_list, "the modules of a device", OPTS("device-id", "top")},
    {"module-identity update", v_module_update, "change a module's keys",
     OPTS("device-id", "module-id", "primary-key", "secondary-key", "etag")},
    {"module-identity delete", v_module_delete, "delete a module (drops its live connection)",
     OPTS("device-id", "module-id", "etag")},
    {"module-identity connection-string show", v_module_cs, "a module's connection string",
     OPTS("device-id", "module-id", "key-type")},
    {"module-twin show", v_mtwin_show, "a module's twin", OPTS("device-id", "module-id")},
    {"module-twin update", v_mtwin_update, "merge desired properties and/or tags into a module twin",
     OPTS("device-id", "module-id", "desired", "tags", "etag")},
    {"module-twin replace", v_mtwin_replace, "replace a module twin's tags and desired properties",
     OPTS("device-id", "module-id", "json", "etag")},
    {"invoke-module-method", v_invoke_module, "call a module's direct method and print its answer",
     OPTS("device-id", "module-id", "method-name", "method-payload", "timeout", "connect-timeout")},
    {"c2d-message send", v_c2d_send, "send a cloud-to-device message to a device (queued until it takes it)",
     OPTS("device-id", "data", "props", "ack", "message-id", "correlation-id", "user-id", "content-type",
          "content-encoding", "expiry-time-utc")},
    {"query", v_query, "run an IoT Hub query", OPTS("query-command", "top")},
    {"generate-sas-token", v_sas, "a SAS token for a device (-d), a module (-d -m) or the login's policy",
     OPTS("device-id", "module-id", "key-type", "duration", "policy-name")},
    {"connection-string show", v_cs_show, "the service connection string (iothubowner)", OPTS("policy-name")},
    {"test reset", v_test_reset, "MOCK: reset the hub to empty or to its seed; drops live connections",
     OPTS("to")},
    {"test wait-for", v_test_wait, "MOCK: wait until a device is connected or a twin path has a value",
     OPTS("device-id", "connected", "disconnected", "methods", "desired-subscribed", "path", "value",
          "timeout")},
    {"test fault add", v_fault_add, "MOCK: inject latency, an error, or refused connects",
     OPTS("device-id", "operations", "latency", "error", "count", "refuse-connects")},
    {"test fault list", v_fault_list, "MOCK: the faults in effect", OPTS("top")},
    {"test fault clear", v_fault_clear, "MOCK: remove one fault (--id) or all", OPTS("id")},
    {"test drop", v_test_drop, "MOCK: drop a device's connection (it reconnects by itself)",
     OPTS("device-id")},
};

static const char *const global_opts[] = {"output", "login", "ca", "hub-name", "help", NULL};

int mh_cli_handles(const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strncmp(verbs[i].path, word, n) == 0 && (verbs[i].path[n] == ' ' || verbs[i].path[n] == '\0'))
            return 1;
    return 0;
}

void mh_cli_usage(FILE *f)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(f, "  %-39s %s\n", verbs[i].path, verbs[i].summary);
}

static void verb_help(const cli *c, FILE *f)
{
    const verb *v = c->verb;
    fprintf(f, "usage: %s %s [options]\n\n%s\n\noptions:\n", c->prog, v->path, v->summary);
    for (int pass = 0; pass < 2; pass++) {
        const char *const *names = pass == 0 ? v->opts : global_opts;
        if (pass == 1)
            fprintf(f, "global options:\n");
        for (size_t i = 0; names[i]; i++) {
            const opt *o = find_opt(names[i]);
            char spell[64];
            if (o->alias)
                snprintf(spell, sizeof spell, "--%s, %s%s", o->name, strlen(o->alias) == 1 ? "-" : "--",
                         o->alias);
            else
                snprintf(spell, sizeof spell, "--%s", o->name);
            fprintf(f, "  %-30s %s%s\n", spell, o->flag ? "" : "VALUE  ", o->help);
        }
    }
    fprintf(
        f, "\nexit codes: 0 done, 1 the hub answered with an error, 2 bad command line, 3 hub unreachable\n");
}

static int takes(const verb *v, const char *name)
{
    for (size_t i = 0; v->opts[i]; i++)
        if (strcmp(v->opts[i], name) == 0)
            return 1;
    for (size_t i = 0; global_opts[i]; i++)
        if (strcmp(global_opts[i], name) == 0)
            return 1;
    return 0;
}

/* The option name (or alias) spells among those verb v takes; NULL when none. */
static const opt *find_verb_opt(const verb *v, const char *name)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if ((strcmp(options[i].name, name) == 0 ||
             (options[i].alias && strcmp(options[i].alias, name) == 0)) &&
            takes(v, options[i].name))
            return &options[i];
    return NULL;
}

int mh_cli_main(const mh_config *cfg, const char *prog, int argc, char **argv)
{
    cli c = {.cfg = cfg, .prog = prog};
    int rc = MH_CLI_ERR_USAGE, words = 0;
    /* the longest verb path that the leading words spell */
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        char joined[128] = "";
        int w = 0;
        for (; w < argc && argv[w][0] != '-'; w++) {
            size_t n = strlen(joined);
            snprintf(joined + n, sizeof joined - n, "%s%s", w ? " " : "", argv[w]);
            if (strcmp(joined, verbs[i].path) == 0 && w + 1 > words) {
                c.verb = &verbs[i];
                words = w + 1;
            }
        }
    }
    if (c.verb == NULL) {
        fprintf(stderr, "%s: '%s%s%s' is not a complete command; commands starting so:\n", prog, argv[0],
                argc > 1 && argv[1][0] != '-' ? " " : "", argc > 1 && argv[1][0] != '-' ? argv[1] : "");
        for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
            if (strncmp(verbs[i].path, argv[0], strlen(argv[0])) == 0)
                fprintf(stderr, "  %s %-39s %s\n", prog, verbs[i].path, verbs[i].summary);
        return MH_CLI_ERR_USAGE;
    }
    for (int i = words; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            return usage_error(&c, "unexpected argument '%s'", a);
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        char nbuf[64];
        snprintf(nbuf, sizeof nbuf, "%.*s", eq ? (int)(eq - name) : (int)strlen(name), name);
        const opt *o = find_verb_opt(c.verb, nbuf);
        if (o == NULL)
            return usage_error(&c, "unknown option '%s'", a);
        if (c.n == MAX_ARGS)
            return usage_error(&c, "too many options");
        c.names[c.n] = o->name;
        if (eq)
            c.values[c.n] = eq + 1;
        else if (o->flag &&
                 !(i + 1 < argc && (!strcmp(argv[i + 1], "true") || !strcmp(argv[i + 1], "false"))))
            c.values[c.n] = "";
        else if (i + 1 < argc)
            c.values[c.n] = argv[++i];
        else
            return usage_error(&c, "option '%s' needs a value", a);
        c.n++;
    }
    if (has(&c, "help")) {
        verb_help(&c, stdout);
        return MH_CLI_OK;
    }
    const char *out = arg(&c, "output");
    if (out && strcmp(out, "json") && strcmp(out, "table"))
        return usage_error(&c, "--output must be json or table, not '%s'", out);
    c.table = out && strcmp(out, "table") == 0;
    const char *login = arg(&c, "login") ? arg(&c, "login") : getenv("IOTHUB_SERVICE_CONNECTION_STRING");
    if (login) {
        iot_connstr cs;
        char why[256] = "";
        if (iot_connstr_parse_service(login, &cs, why, sizeof why) != IOT_OK)
            return usage_error(&c, "--login is not a service connection string: %s", why);
        snprintf(c.host, sizeof c.host, "%s", cs.host_name);
        snprintf(c.policy, sizeof c.policy, "%s", cs.shared_access_key_name);
        snprintf(c.key, sizeof c.key, "%s", cs.shared_access_key);
    } else {
        snprintf(c.host, sizeof c.host, "%s", cfg->hostname);
        snprintf(c.policy, sizeof c.policy, "iothubowner");
        snprintf(c.key, sizeof c.key, "%s", cfg->owner_key);
    }
    rc = c.verb->fn(&c);
    iots_http_free(c.http);
    return rc;
}
