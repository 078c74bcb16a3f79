/* main.c - the `mockhub` command: `mockhub run` starts the broker and the daemon, restarts the broker
 * when it dies (backing off when it keeps dying) and stops both on Ctrl-C; the device subcommands edit the registry directly in SQLite, whether or not the hub runs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "broker.h"
#include "certs.h"
#include "cli.h"
#include "amqp_addr.h"
#include "config.h"
#include "errors.h"
#include "hub.h"
#include "preflight.h"
#include "seed.h"
#include "seeding.h"
#include "store.h"

#define BROKER_START_MS 15000
#define HUB_READY_MS 15000
#define BROKER_STABLE_MS 10000 /* a broker that ran this long before exiting was not crash-looping */
#define BROKER_BACKOFF_FIRST_MS 500
#define BROKER_BACKOFF_MAX_MS 30000

static const char *g_prog = "mockhub";

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: %s <command> [args]\n"
        "\n"
        "  run [--seed FILE]               start the hub (broker + daemon) in the foreground; Ctrl-C stops "
        "it\n"
        "                                  --seed (or MOCKHUB_SEED): devices, twins, policies to create "
        "when\n"
        "                                  missing (format: docs/seed.schema.json); `test reset` returns to "
        "it\n"
        "  device create <id> [--disabled] register a device and print its connection string\n"
        "  device show <id>                print the device as JSON (REST shape)\n"
        "  device list                     list devices: id, status, connection state\n"
        "  device delete <id>              remove a device and its twin\n"
        "  device connection-string <id>   print the device's connection string\n"
        "  connection-string               print the service (iothubowner) connection string\n"
        "  connection-string --eventhub    print the Event Hubs-compatible connection string (telemetry)\n"
        "  monitor-events [--device ID] [--module ID] [--timeout SECONDS] [--count N] [--from-start]\n"
        "                                  print device-to-cloud messages as JSON lines as they arrive\n"
        "                                  (a module's carry its id in \"module\"; --module keeps only "
        "those)\n"
        "                                  (after the newest one stored, or all with --from-start); stops\n"
        "                                  after N events or SECONDS (0: until Ctrl-C)\n"
        "  --help                          this text\n"
        "\n"
        "az iot hub-style commands (they talk to the running hub's REST API with the owner policy, so a\n"
        "delete or disable drops live connections; JSON output, -o table; `<command> --help` on each):\n",
        g_prog);
    mh_cli_usage(f);
    fprintf(
        f,
        "\n"
        "The device commands write the registry (SQLite in the data dir) directly and work whether or not\n"
        "the hub is running. A device created here can connect at once. Deleting a device here does not\n"
        "drop a live connection of that device: to delete or disable a connected device, use the REST API\n"
        "(e.g. the service SDK's Registry.delete / Registry.update, or `device-identity delete` above),\n"
        "which also disconnects it.\n"
        "\n"
        "Environment (defaults in brackets):\n"
        "  MOCKHUB_DATA_DIR    [./data]      database, broker config, ca.pem (the CA to trust), server cert\n"
        "  MOCKHUB_HOSTNAME    [localhost]   the hub's host name (HostName= in connection strings)\n"
        "  MOCKHUB_MQTT_PORT   [8883]        MQTT over TLS for devices\n"
        "  MOCKHUB_HTTPS_PORT  [443]         REST API for service apps, GET /health\n"
        "  MOCKHUB_OWNER_KEY   [well-known]  iothubowner policy key (base64 of 16-64 bytes)\n"
        "  MOCKHUB_TIER        [off]         quota mode: S1, S2 or S3[:units] throttles like that tier\n"
        "  IOTHUB_SERVICE_CONNECTION_STRING  the hub the az-style commands talk to (default: this one)\n");
}

static int fail_status(const mh_status *st)
{
    fprintf(stderr, "%s: %s\n", g_prog, st->text[0] ? st->text : "failed");
    return 1;
}

static int device_fail(const mh_status *st, const char *id)
{
    if (st->code == MH_ERR_DEVICE_NOT_FOUND) {
        fprintf(stderr, "%s: device '%s' is not registered (see `%s device list`)\n", g_prog, id, g_prog);
        return 1;
    }
    return fail_status(st);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void print_service_cs(const mh_config *cfg)
{
    printf("HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s\n", cfg->hostname, cfg->owner_key);
}

/* The device connection string for a Device JSON; a non-default MQTT port goes in GatewayHostName,
 * which Microsoft's device SDKs dial instead of HostName (the SAS audience stays HostName). */
static int print_device_cs(const mh_config *cfg, const cJSON *dev)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(dev, "deviceId");
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(dev, "authentication");
    const cJSON *sym = cJSON_GetObjectItemCaseSensitive(auth, "symmetricKey");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(sym, "primaryKey");
    if (!cJSON_IsString(id) || !cJSON_IsString(key) || key->valuestring[0] == '\0') {
        fprintf(stderr, "%s: the device has no symmetric key (not a SAS device)\n", g_prog);
        return 1;
    }
    printf("HostName=%s;DeviceId=%s;SharedAccessKey=%s", cfg->hostname, id->valuestring, key->valuestring);
    if (cfg->mqtt_port != 8883)
        printf(";GatewayHostName=%s:%d", cfg->hostname, cfg->mqtt_port);
    printf("\n");
    return 0;
}

static int open_store(const mh_config *cfg, mh_store **out_store)
{
    mh_status st = {MH_OK, ""};
    if (mh_preflight_data_dir(cfg->data_dir, &st) != MH_OK)
        return fail_status(&st);
    if (mh_store_open(cfg->db_path, 0, out_store) != MH_OK) {
        fprintf(stderr, "%s: cannot open the database %s\n", g_prog, cfg->db_path);
        return 1;
    }
    return 0;
}

static int cmd_device(const mh_config *cfg, int argc, char **argv)
{
    mh_store *store = NULL;
    cJSON *dev = NULL, *body = NULL;
    mh_status st = {MH_OK, ""};
    int rc = 1;
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[0];
    int needs_id = strcmp(sub, "list") != 0;
    int known = !strcmp(sub, "create") || !strcmp(sub, "show") || !strcmp(sub, "list") ||
                !strcmp(sub, "delete") || !strcmp(sub, "connection-string");
    int disabled = 0;
    if (!strcmp(sub, "create") && argc == 3 && !strcmp(argv[2], "--disabled"))
        disabled = 1;
    int want_args = needs_id ? 2 + disabled : 1;
    if (!known || argc != want_args) {
        usage(stderr);
        return 2;
    }
    const char *id = needs_id ? argv[1] : NULL;
    if (id != NULL && mh_device_id_check(id, &st) != MH_OK)
        return fail_status(&st);
    if (open_store(cfg, &store) != 0)
        return 1;

    if (!strcmp(sub, "create")) {
        body = cJSON_CreateObject();
        if (body == NULL || cJSON_AddStringToObject(body, "deviceId", id) == NULL ||
            cJSON_AddStringToObject(body, "status", disabled ? "disabled" : "enabled") == NULL) {
            fprintf(stderr, "%s: out of memory\n", g_prog);
            goto done;
        }
        if (mh_store_device_create(store, id, body, &dev, &st) != MH_OK) {
            rc = device_fail(&st, id);
            goto done;
        }
        rc = print_device_cs(cfg, dev);
    } else if (!strcmp(sub, "show") || !strcmp(sub, "connection-string")) {
        if (mh_store_device_get(store, id, &dev, &st) != MH_OK) {
            rc = device_fail(&st, id);
            goto done;
        }
        if (!strcmp(sub, "show")) {
            char *text = cJSON_Print(dev);
            if (text == NULL) {
                fprintf(stderr, "%s: out of memory\n", g_prog);
                goto done;
            }
            printf("%s\n", text);
            free(text);
            rc = 0;
        } else {
            rc = print_device_cs(cfg, dev);
        }
    } else if (!strcmp(sub, "delete")) {
        if (mh_store_device_delete(store, id, NULL, &st) != MH_OK) {
            rc = device_fail(&st, id);
            goto done;
        }
        printf("deleted %s\n", id);
        rc = 0;
    } else { /* list */
        if (mh_store_device_list(store, 1000, &dev, &st) != MH_OK) {
            rc = device_fail(&st, id);
            goto done;
        }
        const cJSON *d = NULL;
        int n = 0;
        cJSON_ArrayForEach(d, dev)
        {
            const cJSON *did = cJSON_GetObjectItemCaseSensitive(d, "deviceId");
            const cJSON *status = cJSON_GetObjectItemCaseSensitive(d, "status");
            const cJSON *cs = cJSON_GetObjectItemCaseSensitive(d, "connectionState");
            if (n++ == 0)
                printf("%-40s %-9s %s\n", "DEVICE ID", "STATUS", "CONNECTION");
            printf("%-40s %-9s %s\n", cJSON_IsString(did) ? did->valuestring : "?",
                   cJSON_IsString(status) ? status->valuestring : "?",
                   cJSON_IsString(cs) ? cs->valuestring : "?");
        }
        if (n == 0)
            printf("no devices (register one with `%s device create <id>`)\n", g_prog);
        else if (n == 1000) /* the registry list's own cap; queries page past it */
            fprintf(stderr, "(the first 1000 devices by id; the query API lists all: "
                            "POST /devices/query {\"query\":\"SELECT deviceId FROM devices\"})\n");
        rc = 0;
    }
done:
    cJSON_Delete(body);
    cJSON_Delete(dev);
    mh_store_free(store);
    return rc;
}

/* The Event Hubs-compatible connection string (iothubowner; the entity is the hub's name). */
static void print_eventhub_cs(const mh_config *cfg)
{
    char entity[64];
    mh_eh_entity_name(cfg->hostname, entity, sizeof entity);
    printf("Endpoint=sb://%s/;SharedAccessKeyName=iothubowner;SharedAccessKey=%s;EntityPath=%s",
           cfg->hostname, cfg->owner_key, entity);
}

static void print_banner(const mh_config *cfg, unsigned cert_actions, long ready_ms)
{
    printf("\n"
           "mockhub is ready (%ld ms). Data dir: %s\n"
           "\n"
           "  Service connection string (Registry/Client.fromConnectionString, iothubowner policy):\n"
           "    ",
           ready_ms, cfg->data_dir);
    print_service_cs(cfg);
    printf("\n"
           "  CA certificate (trust it in your apps%s):\n"
           "    %s\n"
           "    Node.js: export NODE_EXTRA_CA_CERTS=%s\n"
           "\n"
           "  Devices:  MQTT over TLS  %s:%d\n"
           "  Service:  HTTPS          https://%s:%d  (health: /health)\n",
           (cert_actions & MH_CERTS_CA_CREATED) ? "; NEW: created just now" : "", cfg->ca_cert, cfg->ca_cert,
           cfg->hostname, cfg->mqtt_port, cfg->hostname, cfg->https_port);
    printf("  Service:  AMQP over TLS  amqps://%s:%d  (C2D send and feedback, Event Hubs readers)\n"
           "            plain AMQP     %s:%d on loopback (Event Hubs UseDevelopmentEmulator=true)\n"
           "  Telemetry (Event Hubs-compatible endpoint, %d partitions):\n    ",
           cfg->hostname, cfg->amqp_port, cfg->hostname, cfg->amqp_plain_port, cfg->partitions);
    print_eventhub_cs(cfg);
    printf(
        "\n    (add ;UseDevelopmentEmulator=true for plain AMQP on %d; Event Hubs SDKs dial 5671 for TLS)\n",
        cfg->amqp_plain_port);
    if (cfg->https_port != 443)
        printf("    Note: Microsoft's service SDKs always dial port 443; port %d serves our own clients and "
               "curl.\n",
               cfg->https_port);
    if (cfg->mqtt_port != 8883)
        printf("    Note: device SDKs dial 8883 unless the connection string has GatewayHostName=%s:%d\n"
               "          (the device connection strings printed by `%s device` include it).\n",
               cfg->hostname, cfg->mqtt_port, g_prog);
    printf("\n"
           "  Register a device and get its connection string:\n"
           "    %s device create mydevice\n"
           "\n"
           "  Ctrl-C stops the hub.\n\n",
           g_prog);
    fflush(stdout);
}

static long mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* The wait before restarting a broker that has now exited `quick` times in a row within
 * BROKER_STABLE_MS of its start: the first restart is immediate, then 0.5 s doubling to 30 s. */
static long broker_backoff_ms(unsigned quick)
{
    if (quick <= 1)
        return 0;
    long ms = BROKER_BACKOFF_FIRST_MS;
    for (unsigned i = 2; i < quick && ms < BROKER_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BROKER_BACKOFF_MAX_MS ? ms : BROKER_BACKOFF_MAX_MS;
}

/* Runs until SIGINT/SIGTERM/SIGHUP (returns 0). A broker that exits is started again with the same
 * configuration and persistence (the daemon's link reconnects by itself and resynchronises); one that
 * keeps dying backs off, reported on stderr and in /health. */
static int supervise(const mh_config *cfg, mh_broker *broker, mh_hub *hub, const sigset_t *set)
{
    unsigned restarts = 0, quick = 0;
    long started_at = mono_ms(), restart_at = -1; /* -1: the broker runs */
    char why[2048] = "";
    for (;;) {
        int sig = 0;
        if (restart_at >= 0) {
            long wait = restart_at - mono_ms();
            if (wait > 0) {
                struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
                sig = sigtimedwait(set, NULL, &ts);
                if (sig < 0 && errno != EAGAIN && errno != EINTR)
                    continue;
            } else {
                sig = -1;
            }
            if (sig < 0) { /* time to start it again */
                mh_status st = {MH_OK, ""};
                restarts++;
                started_at = mono_ms();
                if (mh_broker_restart(broker, cfg, BROKER_START_MS, &st) == MH_OK) {
                    fprintf(stderr, "%s: the broker is running again (restart %u, pid %d)\n", g_prog,
                            restarts, (int)mh_broker_pid(broker));
                    restart_at = -1;
                    mh_hub_note_broker(hub, restarts, 0, why);
                } else {
                    quick++;
                    long backoff = broker_backoff_ms(quick);
                    if (backoff == 0)
                        backoff = BROKER_BACKOFF_FIRST_MS;
                    snprintf(why, sizeof why, "%s", st.text);
                    fprintf(stderr, "%s: the broker did not start again (%s); next try in %ld ms\n", g_prog,
                            st.text, backoff);
                    restart_at = mono_ms() + backoff;
                    mh_hub_note_broker(hub, restarts, backoff, why);
                }
                continue;
            }
        } else if (sigwait(set, &sig) != 0) {
            continue;
        }
        if (sig == SIGCHLD) {
            if (restart_at < 0 && mh_broker_exited(broker, why, sizeof why)) {
                quick = mono_ms() - started_at < BROKER_STABLE_MS ? quick + 1 : 1;
                long backoff = broker_backoff_ms(quick);
                if (backoff > 0)
                    fprintf(
                        stderr,
                        "%s: the broker exited unexpectedly (%s); it exited %u times in a row within %d ms "
                        "of starting: crash loop, restarting it in %ld ms\n",
                        g_prog, why, quick, BROKER_STABLE_MS, backoff);
                else
                    fprintf(stderr, "%s: the broker exited unexpectedly (%s); restarting it\n", g_prog, why);
                restart_at = mono_ms() + backoff;
                mh_hub_note_broker(hub, restarts, backoff, why);
            }
            continue;
        }
        printf("\nmockhub: %s received, stopping\n", sig == SIGINT    ? "SIGINT"
                                                     : sig == SIGTERM ? "SIGTERM"
                                                                      : "SIGHUP");
        fflush(stdout);
        return 0;
    }
}

/* Reads and checks the seed file before anything starts. 0 (and *out NULL) without a seed. */
static int load_seed(const char *path, cJSON **out)
{
    mh_status st = {MH_OK, ""};
    *out = NULL;
    if (path == NULL || *path == '\0')
        return 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot read the seed file %s: %s\n", g_prog, path, strerror(errno));
        return 1;
    }
    char *text = malloc(MH_SEED_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, MH_SEED_MAX_BYTES + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (text == NULL || bad) {
        fprintf(stderr, "%s: cannot read the seed file %s\n", g_prog, path);
        free(text);
        return 1;
    }
    mh_err err = mh_seed_parse(text, n, path, out, &st);
    free(text);
    if (err != MH_OK) {
        fprintf(stderr, "%s: refusing the seed file: %s\n", g_prog, st.text);
        return 1;
    }
    return 0;
}

static int cmd_run(const mh_config *cfg, const struct timespec *t0, const char *seed_path)
{
    mh_status st = {MH_OK, ""};
    mh_store *store = NULL;
    mh_broker *broker = NULL;
    mh_hub *hub = NULL;
    unsigned cert_actions = 0;
    char secret[MH_BROKER_SECRET_SIZE];
    int rc = 1, seeded = 0;
    cJSON *seed = NULL;

    /* A bad seed is refused before anything starts, with the path and line of the problem. */
    if (load_seed(seed_path, &seed) != 0)
        return 1;

    /* Blocked in every thread we start (they inherit the mask), so sigwait below is the only place
     * that sees them; the broker child unblocks them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Everything that would stop the hub later, checked before anything starts: one line, at once. */
    if (mh_preflight_run(cfg, &st) != MH_OK || mh_certs_ensure(cfg, &cert_actions, &st) != MH_OK) {
        rc = fail_status(&st);
        goto done;
    }
    if (cert_actions & MH_CERTS_CA_CREATED)
        printf("mockhub: created a development CA: %s\n", cfg->ca_cert);
    if (cert_actions & MH_CERTS_SERVER_ISSUED)
        printf("mockhub: issued a server certificate for %s%s\n", cfg->hostname,
               strcmp(cfg->hostname, "localhost") ? ", localhost, 127.0.0.1, ::1" : ", 127.0.0.1, ::1");
    if (mh_store_open(cfg->db_path, 0, &store) != MH_OK) {
        fprintf(stderr, "%s: cannot open the database %s\n", g_prog, cfg->db_path);
        goto done;
    }
    if (mh_store_policies_init(store, cfg->owner_key) != MH_OK ||
        mh_store_reset_connections(store) != MH_OK) {
        fprintf(stderr, "%s: cannot initialise the database %s\n", g_prog, cfg->db_path);
        goto done;
    }
    if (seed != NULL && mh_store_seed_apply(store, seed, &seeded, &st) != MH_OK) {
        fprintf(stderr, "%s: cannot apply the seed %s: %s\n", g_prog, seed_path, st.text);
        goto done;
    }
    if (mh_broker_make_secret(secret, &st) != MH_OK ||
        mh_broker_start(cfg, secret, BROKER_START_MS, &broker, &st) != MH_OK) {
        rc = fail_status(&st);
        goto done;
    }
    if (mh_hub_start(cfg, store, mh_broker_socket(broker), secret, mh_broker_ws_port(broker), &hub, &st) !=
        MH_OK) {
        rc = fail_status(&st);
        goto done;
    }
    if (seed != NULL && mh_hub_set_seed(hub, seed) != MH_OK) {
        fprintf(stderr, "%s: out of memory\n", g_prog);
        goto done;
    }
    /* Ready = REST listening, link up, plugin answered: what /health reports. */
    char why[2048];
    long waited0 = ms_since(t0);
    while (!mh_hub_ready(hub)) {
        if (mh_broker_exited(broker, why, sizeof why)) {
            fprintf(stderr, "%s: the broker stopped while the hub was starting: %s\n", g_prog, why);
            goto done;
        }
        if (ms_since(t0) - waited0 > HUB_READY_MS) {
            fprintf(stderr,
                    "%s: the hub did not become ready within %d ms (the daemon could not reach the broker's "
                    "plugin on %s; see the broker: lines above)\n",
                    g_prog, HUB_READY_MS, mh_broker_socket(broker));
            goto done;
        }
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    print_banner(cfg, cert_actions, ms_since(t0));
    if (seed != NULL)
        printf("  Seed: %s (%d device(s) created now, %d in all)\n\n", seed_path, seeded,
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(seed, "devices")));

    rc = supervise(cfg, broker, hub, &set);
done:
    mh_hub_stop(hub);
    mh_broker_stop(broker);
    mh_store_free(store);
    cJSON_Delete(seed);
    return rc;
}

static volatile sig_atomic_t g_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* A whole decimal number >= 0 from a command-line argument; 0 on success. */
static int parse_count(const char *text, long long *out)
{
    char *end = NULL;
    if (!text || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end != '\0' || errno != 0)
        return -1;
    *out = v;
    return 0;
}

/* `mockhub monitor-events`: polls the telemetry table (SQLite WAL: safe while the hub writes) every
 * 100 ms and prints each event as one JSON line, like `az iot hub monitor-events --props all`. */
static int cmd_monitor_events(const mh_config *cfg, int argc, char **argv)
{
    const char *device = NULL, *module = NULL;
    long long timeout_s = 0, count = 0, after = 0, printed = 0;
    int from_start = 0, rc = 1;
    mh_store *store = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--from-start")) {
            from_start = 1;
        } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if (!strcmp(argv[i], "--module") && i + 1 < argc) {
            module = argv[++i];
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc &&
                   parse_count(argv[i + 1], &timeout_s) == 0) {
            i++;
        } else if (!strcmp(argv[i], "--count") && i + 1 < argc && parse_count(argv[i + 1], &count) == 0) {
            i++;
        } else {
            fprintf(stderr, "%s: monitor-events: bad argument '%s'\n\n", g_prog, argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (open_store(cfg, &store) != 0)
        return 1;
    if (!from_start && mh_store_telemetry_last_seq(store, &after) != MH_OK) {
        fprintf(stderr, "%s: cannot read the telemetry table in %s\n", g_prog, cfg->db_path);
        goto done;
    }
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!g_stop && (count == 0 || printed < count)) {
        cJSON *events = NULL;
        if (mh_store_telemetry_list(store, after, device, 100, &events) != MH_OK) {
            fprintf(stderr, "%s: cannot read the telemetry table in %s\n", g_prog, cfg->db_path);
            goto done;
        }
        const cJSON *ev = NULL;
        cJSON_ArrayForEach(ev, events)
        {
            if (count != 0 && printed >= count)
                break;
            after = (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ev, "sequenceNumber"));
            const cJSON *mod =
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "event"), "module");
            if (module != NULL && !(cJSON_IsString(mod) && strcmp(mod->valuestring, module) == 0))
                continue; /* another module's, or a device's own message */
            char *line = cJSON_PrintUnformatted(ev);
            if (line)
                printf("%s\n", line);
            free(line);
            printed++;
        }
        int got = cJSON_GetArraySize(events);
        cJSON_Delete(events);
        if (count != 0 && printed >= count)
            break;
        if (timeout_s > 0 && ms_since(&t0) >= timeout_s * 1000)
            break;
        if (got < 100) {
            struct timespec pause = {0, 100 * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    fflush(stdout);
    rc = 0;
done:
    mh_store_free(store);
    return rc;
}

int main(int argc, char **argv)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (argc > 0 && argv[0] != NULL && argv[0][0] != '\0')
        g_prog = argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    /* `connection-string` alone or with --eventhub is the older command; `connection-string show` the az one */
    int cli = mh_cli_handles(cmd) &&
              (strcmp(cmd, "connection-string") != 0 || (argc > 2 && !strcmp(argv[2], "show")));
    int known = cli || !strcmp(cmd, "run") || !strcmp(cmd, "device") || !strcmp(cmd, "connection-string") ||
                !strcmp(cmd, "monitor-events");
    if (!known) {
        fprintf(stderr, "%s: unknown command '%s'\n\n", g_prog, cmd);
        usage(stderr);
        return 2;
    }
    mh_config cfg;
    mh_status st = {MH_OK, ""};
    if (mh_config_from_env(&cfg, &st) != MH_OK)
        return fail_status(&st);

    if (cli)
        return mh_cli_main(&cfg, g_prog, argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) {
        const char *seed_path = getenv("MOCKHUB_SEED");
        if (argc == 4 && !strcmp(argv[2], "--seed"))
            seed_path = argv[3];
        else if (argc != 2) {
            usage(stderr);
            return 2;
        }
        return cmd_run(&cfg, &t0, seed_path);
    }
    if (!strcmp(cmd, "connection-string")) {
        if (argc == 3 && !strcmp(argv[2], "--eventhub")) {
            print_eventhub_cs(&cfg);
            printf("\n");
            return 0;
        }
        if (argc != 2) {
            usage(stderr);
            return 2;
        }
        print_service_cs(&cfg);
        return 0;
    }
    if (!strcmp(cmd, "monitor-events"))
        return cmd_monitor_events(&cfg, argc - 2, argv + 2);
    return cmd_device(&cfg, argc - 2, argv + 2);
}
