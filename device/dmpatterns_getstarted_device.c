/* The "device management with direct methods" tutorial's device app in C (dmpatterns_getstarted_device):
 * answers rebootDevice at once, simulates a reboot for --reboot-delay seconds without blocking the
 * network loop, then reports rebootTime in the twin's reported properties. Runs until Ctrl-C. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iotd_client.h"

#define EXIT_USAGE 1
#define EXIT_AUTH 2

static volatile sig_atomic_t stop_requested;

struct app {
    iotd_client *client;
    int reboot_delay_s;
    long long reboot_at_ms; /* 0 = no reboot in progress */
    int report_pending;     /* a rebootTime patch waits to be (re)sent */
    int report_inflight;
    long long next_report_ms;
    char reboot_time[64];
    char patch[256];
};

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* UTC now as JavaScript's Date.toISOString() writes it: 2024-05-01T12:00:00.123Z */
static void iso8601_now(char *out, size_t outsz)
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outsz, "%.20s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

static int on_reboot(void *ctx, iotd_client *c, const char *method, const char *rid, const char *payload,
                     size_t len, char *resp, size_t respsz)
{
    struct app *app = ctx;
    (void)c;
    (void)rid;
    (void)len;
    printf("%s invoked (payload %s): rebooting in %d s\n", method, len ? payload : "none",
           app->reboot_delay_s);
    printf("Rebooting!\n");
    app->reboot_at_ms = mono_ms() + (long long)app->reboot_delay_s * 1000;
    snprintf(resp, respsz, "{\"result\":\"Reboot started\"}");
    printf("responded 200 %s\n", resp);
    fflush(stdout);
    return 200;
}

static int on_unknown(void *ctx, iotd_client *c, const char *method, const char *rid, const char *payload,
                      size_t len, char *resp, size_t respsz)
{
    (void)ctx;
    (void)c;
    (void)rid;
    (void)payload;
    (void)len;
    printf("unknown method %s invoked: responding 404\n", method);
    fflush(stdout);
    snprintf(resp, respsz, "{\"Response\":\"Unknown method\"}");
    return 404;
}

static void on_reported(void *ctx, iotd_err err, int status, long long version, const char *body, size_t len)
{
    struct app *app = ctx;

    app->report_inflight = 0;
    if (err == IOTD_OK) {
        app->report_pending = 0;
        printf("reported rebootTime=%s (reported $version %lld)\n", app->reboot_time, version);
    } else {
        fprintf(stderr, "reporting rebootTime failed: %s%s%.*s; will retry\n", iotd_err_str(err),
                status ? " " : "", status ? (int)len : 0, status ? body : "");
        app->next_report_ms = mono_ms() + 1000;
    }
    fflush(stdout);
}

/* Cloud-to-device messages (the service's Client.send / send_c2d_message): printed as they arrive. */
static void on_c2d(void *ctx, const iotd_c2d_message *msg, const void *body, size_t len)
{
    (void)ctx;
    printf("C2D message received: %.*s\n", len > 4096 ? 4096 : (int)len, (const char *)body);
    if (msg->message_id[0])
        printf("  messageId: %s\n", msg->message_id);
    if (msg->correlation_id[0])
        printf("  correlationId: %s\n", msg->correlation_id);
    if (msg->content_type[0])
        printf("  contentType: %s\n", msg->content_type);
    if (msg->content_encoding[0])
        printf("  contentEncoding: %s\n", msg->content_encoding);
    for (size_t i = 0; i < msg->prop_count; i++)
        printf("  property %s: %s\n", msg->props[i].key, msg->props[i].value);
    fflush(stdout);
}

static void on_connection(void *ctx, iotd_conn_event ev, const char *why)
{
    (void)ctx;
    switch (ev) {
    case IOTD_CONN_CONNECTING:
        printf("connecting to %s\n", why);
        break;
    case IOTD_CONN_CONNECTED:
        printf("connected to %s\nWaiting for rebootDevice direct method...\n", why);
        break;
    case IOTD_CONN_RETRYING:
        printf("connection failed: %s\n", why);
        break;
    case IOTD_CONN_RENEWING:
        printf("%s\n", why);
        break;
    case IOTD_CONN_FAILED:
        break; /* main prints the reason once */
    case IOTD_CONN_CLOSED:
        printf("disconnected\n");
        break;
    }
    fflush(stdout);
}

static void step_reboot(struct app *app)
{
    long long now = mono_ms();

    if (app->reboot_at_ms && now >= app->reboot_at_ms) {
        app->reboot_at_ms = 0;
        iso8601_now(app->reboot_time, sizeof(app->reboot_time));
        /* top-level rebootTime for this project's service app, plus the tutorial's iothubDM shape */
        snprintf(app->patch, sizeof(app->patch),
                 "{\"rebootTime\":\"%s\",\"iothubDM\":{\"reboot\":{\"lastReboot\":\"%s\"}}}",
                 app->reboot_time, app->reboot_time);
        printf("reboot complete at %s; reporting rebootTime\n", app->reboot_time);
        fflush(stdout);
        app->report_pending = 1;
        app->next_report_ms = 0;
    }
    if (app->report_pending && !app->report_inflight && now >= app->next_report_ms &&
        iotd_client_connected(app->client)) {
        iotd_err err = iotd_client_twin_report(app->client, app->patch, on_reported, app);
        if (err == IOTD_OK)
            app->report_inflight = 1;
        else
            app->next_report_ms = now + 1000;
    }
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: dmpatterns_getstarted_device [options]\n"
        "Answers the rebootDevice direct method, simulates a reboot, then reports rebootTime.\n"
        "\n"
        "  --connection-string CS  device connection string (default: $IOTHUB_DEVICE_CONNECTION_STRING)\n"
        "                          "
        "HostName=<hub>;DeviceId=<id>;SharedAccessKey=<key>[;GatewayHostName=<host:port>]\n"
        "  --reboot-delay SECONDS  simulated reboot time before reporting (default 20)\n"
        "  --ca FILE               extra trusted CA certificate, PEM (default: $IOTHUB_CA_FILE; the system\n"
        "                          store is always trusted; for mockhub use <data dir>/ca.pem)\n"
        "  --token-ttl SECONDS     SAS token lifetime; renewed by reconnecting (default 3600)\n"
        "  --help                  this text\n"
        "\n"
        "Exit status: 0 after Ctrl-C, 1 bad usage or connection string, 2 authentication refused.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"connection-string", required_argument, NULL, 'c'},
        {"reboot-delay", required_argument, NULL, 'r'},
        {"ca", required_argument, NULL, 'a'},
        {"token-ttl", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct app app;
    iotd_options opt;
    const char *cs = getenv("IOTHUB_DEVICE_CONNECTION_STRING");
    char why[512] = "";
    struct sigaction sa;
    int ch, rc = 0;
    char *end;
    long v;

    memset(&app, 0, sizeof(app));
    memset(&opt, 0, sizeof(opt));
    app.reboot_delay_s = 20;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            cs = optarg;
            break;
        case 'a':
            opt.ca_file = optarg;
            break;
        case 'r':
        case 't':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 0 || v > 86400 || (ch == 't' && v < 60)) {
                fprintf(stderr, "error: --%s needs a number of seconds (%s)\n",
                        ch == 'r' ? "reboot-delay" : "token-ttl", ch == 'r' ? "0..86400" : "60..86400");
                return EXIT_USAGE;
            }
            if (ch == 'r')
                app.reboot_delay_s = (int)v;
            else
                opt.token_ttl_s = (int)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!cs || !*cs) {
        fprintf(stderr, "error: no device connection string: set IOTHUB_DEVICE_CONNECTION_STRING or pass "
                        "--connection-string\n");
        return EXIT_USAGE;
    }
    opt.on_connection = on_connection;
    opt.ctx = &app;
    if (iotd_client_new(cs, &opt, &app.client, why, sizeof(why)) != IOTD_OK) {
        fprintf(stderr, "error: %s\n", why);
        return EXIT_USAGE;
    }
    if (iotd_client_on_method(app.client, "rebootDevice", on_reboot, &app) != IOTD_OK ||
        iotd_client_on_method(app.client, NULL, on_unknown, &app) != IOTD_OK ||
        /* modules get no cloud-to-device messages (the hub has no queue for them) */
        (!iotd_client_is_module(app.client) && iotd_client_on_c2d(app.client, on_c2d, &app) != IOTD_OK)) {
        fprintf(stderr, "error: cannot register method and message handlers\n");
        iotd_client_free(app.client);
        return EXIT_USAGE;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    while (!stop_requested) {
        if (iotd_client_run(app.client, 100) != IOTD_OK) {
            fprintf(stderr, "error: authentication failed, not retrying: %s\n",
                    iotd_client_last_error(app.client));
            rc = EXIT_AUTH;
            break;
        }
        step_reboot(&app);
    }
    if (stop_requested)
        printf("shutting down\n");
    iotd_client_close(app.client);
    iotd_client_free(app.client);
    return rc;
}
