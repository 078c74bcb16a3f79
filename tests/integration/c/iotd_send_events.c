/* iotd_send_events: sends D2C telemetry with our C device library (iotd_client_send_event), for the
 * integration tests that read it back through the Event Hubs-compatible endpoint.
 *
 * usage: iotd_send_events PREFIX COUNT
 * Env: IOTHUB_DEVICE_CONNECTION_STRING (a module's too), IOTHUB_CA_FILE, IOTD_OUTPUT_NAME (a module's
 * output name, $.on, for every message). Message i (1..COUNT) has body
 * {"prefix":"PREFIX","i":i}, message id PREFIX-i, content type application/json, content encoding utf-8
 * and application properties source=c-device, seq=i. Prints "sent PREFIX-i" per message, "done" at the
 * end; exits 0, 1 on bad usage, 2 when not connected within 20 s or a send fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotd_client.h"

static void on_connection(void *ctx, iotd_conn_event ev, const char *why)
{
    (void)ctx;
    fprintf(stderr, "connection event %d: %s\n", (int)ev, why ? why : "");
}

int main(int argc, char **argv)
{
    const char *cs = getenv("IOTHUB_DEVICE_CONNECTION_STRING");
    iotd_options opt;
    iotd_client *c = NULL;
    char why[512] = "";
    int rc = 0;

    if (argc != 3 || !cs || !*cs) {
        fprintf(stderr, "usage: IOTHUB_DEVICE_CONNECTION_STRING=... iotd_send_events PREFIX COUNT\n");
        return 1;
    }
    const char *prefix = argv[1];
    int count = atoi(argv[2]);
    if (count < 1 || count > 10000) {
        fprintf(stderr, "error: COUNT must be 1..10000\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&opt, 0, sizeof(opt));
    opt.on_connection = on_connection;
    if (iotd_client_new(cs, &opt, &c, why, sizeof(why)) != IOTD_OK) {
        fprintf(stderr, "error: %s\n", why);
        return 1;
    }
    for (int waited = 0; !iotd_client_connected(c); waited += 100) {
        if (waited >= 20000 || iotd_client_run(c, 100) != IOTD_OK) {
            fprintf(stderr, "error: not connected: %s\n", iotd_client_last_error(c));
            iotd_client_free(c);
            return 2;
        }
    }
    for (int i = 1; i <= count && rc == 0; i++) {
        char body[256], mid[160], seq[16];
        snprintf(body, sizeof body, "{\"prefix\":\"%s\",\"i\":%d}", prefix, i);
        snprintf(mid, sizeof mid, "%s-%d", prefix, i);
        snprintf(seq, sizeof seq, "%d", i);
        iotd_property user[] = {{"source", "c-device"}, {"seq", seq}};
        iotd_message_props props;
        memset(&props, 0, sizeof(props));
        props.message_id = mid;
        props.content_type = "application/json";
        props.content_encoding = "utf-8";
        props.user = user;
        props.user_count = 2;
        props.output_name = getenv("IOTD_OUTPUT_NAME");
        if (iotd_client_send_event(c, body, strlen(body), &props) != IOTD_OK) {
            fprintf(stderr, "error: send %s failed: %s\n", mid, iotd_client_last_error(c));
            rc = 2;
        } else {
            printf("sent %s\n", mid);
        }
        if (iotd_client_run(c, 10) != IOTD_OK)
            rc = 2;
    }
    /* let the QoS 1 publishes and their PUBACKs go through before DISCONNECT */
    for (int t = 0; t < 10 && rc == 0; t++)
        if (iotd_client_run(c, 100) != IOTD_OK)
            rc = 2;
    if (rc == 0)
        printf("done\n");
    iotd_client_close(c);
    iotd_client_free(c);
    return rc;
}
