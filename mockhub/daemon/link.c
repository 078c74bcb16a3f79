/* link.c - libmosquitto client of the broker's internal listener. Messages are read on the link's
 * own thread, but libmosquitto runs in its non-threaded mode (our thread drives mosquitto_loop;
 * mosquitto_loop_start is not used), so a publish from a REST thread is written to the socket by
 * that thread at once instead of waking the loop thread for every call.
 * It subscribes to the plugin's `$mockhub/from/#` and `$mockhub/ev/#` (wildcards never match
 * `$` topics, hence the explicit prefix) and asks the plugin to resync after every connect.
 */
#include "link.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "bus.h"

struct mh_link {
    struct mosquitto *mosq;
    pthread_t thread;
    atomic_int stopping; /* set by mh_link_stop; the link thread disconnects and ends */
    mh_link_on_message on_message;
    mh_link_on_state on_state;
    void *ctx;
};

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    mh_link *link = obj;
    if (rc != 0) {
        fprintf(stderr, "mockhub: broker refused the hub link: %s\n", mosquitto_connack_string(rc));
        return;
    }
    char *subs[] = {(char *)MH_BUS_DAEMON_FILTER_FROM, (char *)MH_BUS_DAEMON_FILTER_EV};
    mosquitto_subscribe_multiple(mosq, NULL, 2, subs, 1, 0, NULL);
    link->on_state(link->ctx, 1);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count, const int *granted)
{
    (void)obj;
    (void)mid;
    (void)qos_count;
    (void)granted;
    /* Only now can the plugin's answer to resync not be missed. */
    mh_bus_msg resync = {.kind = MH_BUS_RESYNC};
    char *topic = NULL, *payload = NULL;
    size_t len = 0;
    if (mh_bus_encode(&resync, &topic, &payload, &len) == MH_OK)
        mosquitto_publish(mosq, NULL, topic, (int)len, payload, 0, false);
    free(topic);
    free(payload);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    mh_link *link = obj;
    if (rc != 0)
        fprintf(stderr, "mockhub: lost the broker link (%s); reconnecting\n", mosquitto_strerror(rc));
    link->on_state(link->ctx, 0);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    mh_link *link = obj;
    link->on_message(link->ctx, msg->topic, msg->payload, (size_t)msg->payloadlen);
}

#define LOOP_WAIT_MS 100       /* how long one mosquitto_loop waits for input: mh_link_stop's latency */
#define RECONNECT_WAIT_MS 1000 /* between attempts while the broker is away (the launcher restarts it) */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads, keeps alive and reconnects until mh_link_stop. The DISCONNECT is sent on this thread:
 * libmosquitto closes the socket in whichever thread writes it, and a close from another thread
 * while this one is in read() races on the descriptor (TSan saw it with mosquitto_loop_forever and
 * a disconnect from the main thread). */
static void *link_main(void *arg)
{
    mh_link *link = arg;
    while (!atomic_load(&link->stopping)) {
        if (mosquitto_loop(link->mosq, LOOP_WAIT_MS, 1) == MOSQ_ERR_SUCCESS)
            continue;
        /* lost (on_disconnect has told the hub) or not yet back: wait, then try again */
        for (long waited = 0; waited < RECONNECT_WAIT_MS && !atomic_load(&link->stopping); waited += 50)
            sleep_ms(50);
        if (!atomic_load(&link->stopping))
            (void)mosquitto_reconnect(link->mosq);
    }
    mosquitto_disconnect(link->mosq);
    return NULL;
}

mh_err mh_link_start(const char *socket_path, const char *secret, mh_link_on_message on_msg,
                     mh_link_on_state on_state, void *ctx, mh_link **out_link, mh_status *st)
{
    mosquitto_lib_init();
    mh_link *link = calloc(1, sizeof *link);
    if (link == NULL)
        return mh_fail(st, MH_ERR_NOMEM, "out of memory");
    link->on_message = on_msg;
    link->on_state = on_state;
    link->ctx = ctx;
    link->mosq = mosquitto_new("$mockhub-hub", true, link);
    if (link->mosq == NULL) {
        free(link);
        return mh_fail(st, MH_ERR_NOMEM, "mosquitto_new failed");
    }
    mosquitto_int_option(link->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(link->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(link->mosq, 0);
    mosquitto_username_pw_set(link->mosq, "$mockhub", secret);
    mosquitto_connect_callback_set(link->mosq, on_connect);
    mosquitto_subscribe_callback_set(link->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(link->mosq, on_disconnect);
    mosquitto_message_callback_set(link->mosq, on_message);
    int rc = mosquitto_connect(link->mosq, socket_path, 0, 60);
    if (rc != MOSQ_ERR_SUCCESS) {
        mh_fail(st, MH_ERR_UNAVAILABLE, "cannot connect to the broker's internal socket %s: %s", socket_path,
                mosquitto_strerror(rc));
        goto fail;
    }
    if (pthread_create(&link->thread, NULL, link_main, link) != 0) {
        mh_fail(st, MH_ERR_INTERNAL, "cannot start the broker link thread");
        goto fail;
    }
    *out_link = link;
    return MH_OK;
fail:
    mosquitto_destroy(link->mosq);
    free(link);
    return st ? st->code : MH_ERR_UNAVAILABLE;
}

mh_err mh_link_publish(mh_link *link, const char *topic, const void *payload, size_t len, int qos)
{
    int rc = mosquitto_publish(link->mosq, NULL, topic, (int)len, payload, qos, false);
    return rc == MOSQ_ERR_SUCCESS ? MH_OK : MH_ERR_UNAVAILABLE;
}

void mh_link_stop(mh_link *link)
{
    if (link == NULL)
        return;
    atomic_store(&link->stopping, 1);
    pthread_join(link->thread, NULL);
    mosquitto_destroy(link->mosq);
    free(link);
}
