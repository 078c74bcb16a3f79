/* dmpatterns_getstarted_service.c - the service half of IoT Hub's "device management with direct
 * methods" tutorial (dmpatterns_getstarted_service.js) in C: invokes rebootDevice on a device, prints
 * the answer, then polls the device twin until the device reports a reboot time newer than the call.
 * Same binary for mockhub and a real hub; only the connection string (and CA file) differ.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iots_client.h"
#include "iots_twin.h"

#define PROG "dmpatterns_getstarted_service"
#define METHOD_NAME "rebootDevice"

enum exit_code {
    EXIT_OK = 0,
    EXIT_USAGE = 1,
    EXIT_CONFIG = 2,         /* bad connection string or CA file */
    EXIT_AUTH = 3,           /* 401 / 403 */
    EXIT_UNREACHABLE = 4,    /* hub unreachable or TLS failure */
    EXIT_NOT_FOUND = 5,      /* device not registered */
    EXIT_NOT_ONLINE = 6,     /* DeviceNotOnline */
    EXIT_METHOD_TIMEOUT = 7, /* GatewayTimeout: device did not answer in time */
    EXIT_NO_REBOOT = 8,      /* no new rebootTime after --count polls */
    EXIT_DEVICE_ERROR = 9,   /* the device answered with a non-2xx status */
    EXIT_HUB_ERROR = 10,     /* any other hub error */
};

typedef struct settings {
    const char *connection_string;
    const char *device_id;
    const char *module_id; /* NULL or "": the device itself */
    const char *ca_file;
    long interval_s;
    long count;
    long response_timeout_s;
    long connect_timeout_s;
} settings;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: " PROG " [options]\n"
            "\n"
            "Invokes the direct method '" METHOD_NAME "' on a device (payload null, like the IoT Hub\n"
            "device management tutorial), prints the device's answer, then reads the device twin every\n"
            "--interval seconds and prints the last reboot time (reported property rebootTime, or\n"
            "iothubDM.reboot.lastReboot). Exits 0 once the device reports a reboot time newer than the\n"
            "method call.\n"
            "\n"
            "Settings (flags override the environment):\n"
            "  --connection-string CS  service connection string      [env IOTHUB_CONNECTION_STRING]\n"
            "                          HostName=<hub>;SharedAccessKeyName=<policy>;SharedAccessKey=<key>\n"
            "                          (HostName may be host:port for a hub on another port)\n"
            "  --device-id ID          target device                   [env IOTHUB_DEVICE_ID]\n"
            "  --module-id ID          target a module of the device instead (its method and module twin)\n"
            "                                                          [env IOTHUB_MODULE_ID]\n"
            "  --ca FILE               extra trusted CA (PEM), added to the system store\n"
            "                          [env IOTHUB_CA_FILE; for mockhub: <data dir>/ca.pem]\n"
            "  --interval SECONDS      time between twin reads (default 5)\n"
            "  --count N               number of twin reads before giving up (default 10)\n"
            "  --response-timeout S    how long the hub waits for the device's answer, 5..300 (default 30)\n"
            "  --connect-timeout S     how long the hub waits for the device to connect, 0..300 (default 0)\n"
            "  --help                  this text\n"
            "\n"
            "Exit codes:\n"
            "  0  the device reported a new reboot time\n"
            "  1  usage error (unknown flag, missing connection string or device id)\n"
            "  2  bad connection string or unreadable CA file\n"
            "  3  authentication failed (wrong key or policy without ServiceConnect)\n"
            "  4  hub unreachable or TLS failure\n"
            "  5  device not found (not registered in the hub)\n"
            "  6  device not online (not connected, or not listening for direct methods)\n"
            "  7  method timed out (the device did not answer within --response-timeout)\n"
            "  8  no new reboot time after --count twin reads\n"
            "  9  the device answered the method with an error status\n"
            " 10  other hub error (bad request, throttling, server error, unreadable answer)\n");
}

static int parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

static int parse_args(int argc, char **argv, settings *s)
{
    enum { OPT_CS = 1, OPT_DEV, OPT_MOD, OPT_CA, OPT_INTERVAL, OPT_COUNT, OPT_RESP, OPT_CONN, OPT_HELP };
    static const struct option longopts[] = {
        {"connection-string", required_argument, NULL, OPT_CS},
        {"device-id", required_argument, NULL, OPT_DEV},
        {"module-id", required_argument, NULL, OPT_MOD},
        {"ca", required_argument, NULL, OPT_CA},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"count", required_argument, NULL, OPT_COUNT},
        {"response-timeout", required_argument, NULL, OPT_RESP},
        {"connect-timeout", required_argument, NULL, OPT_CONN},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_CS:
            s->connection_string = optarg;
            break;
        case OPT_DEV:
            s->device_id = optarg;
            break;
        case OPT_MOD:
            s->module_id = optarg;
            break;
        case OPT_CA:
            s->ca_file = optarg;
            break;
        case OPT_INTERVAL:
            if (!parse_long(optarg, 1, 3600, &s->interval_s)) {
                fprintf(stderr, PROG ": error: --interval needs a number of seconds 1..3600\n");
                return 0;
            }
            break;
        case OPT_COUNT:
            if (!parse_long(optarg, 1, 100000, &s->count)) {
                fprintf(stderr, PROG ": error: --count needs a number 1..100000\n");
                return 0;
            }
            break;
        case OPT_RESP:
            if (!parse_long(optarg, 5, 300, &s->response_timeout_s)) {
                fprintf(stderr, PROG ": error: --response-timeout needs seconds 5..300\n");
                return 0;
            }
            break;
        case OPT_CONN:
            if (!parse_long(optarg, 0, 300, &s->connect_timeout_s)) {
                fprintf(stderr, PROG ": error: --connect-timeout needs seconds 0..300\n");
                return 0;
            }
            break;
        case OPT_HELP:
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        default:
            fprintf(stderr, "Try '" PROG " --help'.\n");
            return 0;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": error: unexpected argument '%s'. Try '" PROG " --help'.\n", argv[optind]);
        return 0;
    }
    if (!s->connection_string || !*s->connection_string) {
        fprintf(stderr, PROG
                ": error: no connection string: set IOTHUB_CONNECTION_STRING or pass --connection-string\n"
                "  (the hub's service connection string: "
                "HostName=...;SharedAccessKeyName=...;SharedAccessKey=...)\n");
        return 0;
    }
    if (!s->device_id || !*s->device_id) {
        fprintf(stderr, PROG ": error: no device id: set IOTHUB_DEVICE_ID or pass --device-id\n");
        return 0;
    }
    return 1;
}

/* Prints what went wrong in a way that says what to do, and picks the exit code. */
static int report(const char *what, const iots_error_info *e, const settings *s, const char *host)
{
    switch (e->err) {
    case IOTS_ERR_CONNSTR:
        fprintf(stderr, PROG ": error: %s\n", e->message);
        return EXIT_CONFIG;
    case IOTS_ERR_CONFIG:
        fprintf(stderr, PROG ": error: %s\n", e->message);
        return EXIT_CONFIG;
    case IOTS_ERR_UNAUTHORIZED:
    case IOTS_ERR_FORBIDDEN:
        fprintf(stderr,
                PROG
                ": error: %s: authentication failed (HTTP %ld%s%s): %s\n"
                "  check SharedAccessKeyName and SharedAccessKey in the connection string; the policy needs"
                " ServiceConnect (e.g. iothubowner or service)\n",
                what, e->http_status, e->name[0] ? " " : "", e->name, e->message);
        return EXIT_AUTH;
    case IOTS_ERR_TRANSPORT:
        fprintf(stderr, PROG ": error: %s: hub unreachable at %s: %s\n", what, host, e->message);
        return EXIT_UNREACHABLE;
    case IOTS_ERR_TLS:
        fprintf(stderr,
                PROG
                ": error: %s: TLS failure with %s: %s\n"
                "  for mockhub, trust its CA: --ca <data dir>/ca.pem or IOTHUB_CA_FILE=<data dir>/ca.pem\n",
                what, host, e->message);
        return EXIT_UNREACHABLE;
    case IOTS_ERR_DEVICE_NOT_FOUND:
        fprintf(stderr, PROG ": error: %s: device '%s' not found in the hub (DeviceNotFound): %s\n", what,
                s->device_id, e->message);
        return EXIT_NOT_FOUND;
    case IOTS_ERR_DEVICE_NOT_ONLINE:
        fprintf(stderr,
                PROG ": error: %s: device '%s' is not online (DeviceNotOnline%s%ld): %s\n"
                     "  start the device app first (it must be connected and listening for direct methods)\n",
                what, s->device_id, e->code ? " " : "", e->code, e->message);
        return EXIT_NOT_ONLINE;
    case IOTS_ERR_TIMEOUT:
        fprintf(stderr,
                PROG ": error: %s: device '%s' did not answer within %ld s (GatewayTimeout%s%ld): %s\n", what,
                s->device_id, s->response_timeout_s, e->code ? " " : "", e->code, e->message);
        return EXIT_METHOD_TIMEOUT;
    default:
        fprintf(stderr, PROG ": error: %s: %s (HTTP %ld%s%s%s%ld): %s\n", what, iots_err_str(e->err),
                e->http_status, e->name[0] ? " " : "", e->name, e->code ? " " : "", e->code, e->message);
        return EXIT_HUB_ERROR;
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_s(long s)
{
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Reads the twin's reboot time into out ("" when not reported). Returns IOTS_OK or the call's error. */
static iots_err read_reboot_time(iots_client *c, const settings *s, char *out, size_t outsz)
{
    char *twin = NULL;
    iots_err rc = s->module_id && *s->module_id ? iots_get_module_twin(c, s->device_id, s->module_id, &twin)
                                                : iots_get_twin(c, s->device_id, &twin);
    out[0] = '\0';
    if (rc != IOTS_OK)
        return rc;
    if (iots_twin_reboot_time(twin, strlen(twin), out, outsz) != IOTS_OK)
        out[0] = '\0';
    free(twin);
    return IOTS_OK;
}

/* A reboot time counts as new when it differs from the one seen before the call and is not older
 * than the call (compared at whole seconds: devices may report second-precision times). */
static int is_new_reboot(const char *value, const char *before, long long invoked_ms)
{
    long long t;
    if (!value[0] || strcmp(value, before) == 0)
        return 0;
    if (iots_iso8601_parse(value, &t) != IOTS_OK)
        return 0;
    return t >= invoked_ms - invoked_ms % 1000;
}

int main(int argc, char **argv)
{
    settings s = {
        .connection_string = getenv("IOTHUB_CONNECTION_STRING"),
        .device_id = getenv("IOTHUB_DEVICE_ID"),
        .module_id = getenv("IOTHUB_MODULE_ID"),
        .interval_s = 5,
        .count = 10,
        .response_timeout_s = 30,
        .connect_timeout_s = 0,
    };
    iots_client *client = NULL;
    iots_error_info err;
    char before[128], seen[128];
    char *payload = NULL;
    int status = 0;
    int code = EXIT_OK;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!parse_args(argc, argv, &s))
        return EXIT_USAGE;

    iots_options opts = {.ca_file = s.ca_file};
    if (iots_client_new(s.connection_string, &opts, &client, &err) != IOTS_OK)
        return report("setup", &err, &s, "?");
    const char *host = iots_client_host_name(client);

    /* The reboot time before the call, so an old report is not taken for the new one. */
    if (read_reboot_time(client, &s, before, sizeof before) != IOTS_OK) {
        code = report("reading the device twin", iots_client_last_error(client), &s, host);
        goto cleanup;
    }

    long long invoked_ms = now_ms();
    int module = s.module_id && *s.module_id;
    if (module)
        printf("Invoking direct method '%s' on module '%s/%s' (hub %s)...\n", METHOD_NAME, s.device_id,
               s.module_id, host);
    else
        printf("Invoking direct method '%s' on device '%s' (hub %s)...\n", METHOD_NAME, s.device_id, host);
    if ((module ? iots_invoke_module_method(client, s.device_id, s.module_id, METHOD_NAME, NULL,
                                            (int)s.response_timeout_s, (int)s.connect_timeout_s, &status,
                                            &payload)
                : iots_invoke_method(client, s.device_id, METHOD_NAME, NULL, (int)s.response_timeout_s,
                                     (int)s.connect_timeout_s, &status, &payload)) != IOTS_OK) {
        code = report("direct method " METHOD_NAME, iots_client_last_error(client), &s, host);
        goto cleanup;
    }
    printf("Device answered the direct method: status %d, payload %s\n", status, payload);
    if (status < 200 || status > 299) {
        fprintf(stderr, PROG ": error: device '%s' answered " METHOD_NAME " with status %d\n", s.device_id,
                status);
        code = EXIT_DEVICE_ERROR;
        goto cleanup;
    }
    printf("Successfully invoked the device to reboot.\n");

    for (long i = 1; i <= s.count; i++) {
        sleep_s(s.interval_s);
        if (read_reboot_time(client, &s, seen, sizeof seen) != IOTS_OK) {
            code = report("reading the device twin", iots_client_last_error(client), &s, host);
            goto cleanup;
        }
        if (!seen[0]) {
            printf("Waiting for device to report last reboot time.\n");
            continue;
        }
        printf("Last reboot time: \"%s\"\n", seen);
        if (is_new_reboot(seen, before, invoked_ms)) {
            printf("Device '%s' rebooted after the method call.\n", s.device_id);
            goto cleanup;
        }
    }
    fprintf(stderr,
            PROG ": error: device '%s' reported no new reboot time after %ld twin reads, %ld s apart\n",
            s.device_id, s.count, s.interval_s);
    code = EXIT_NO_REBOOT;

cleanup:
    free(payload);
    iots_client_free(client);
    return code;
}
