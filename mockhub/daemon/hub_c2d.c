/* hub_c2d.c - the hub core's cloud-to-device messages: enqueue (from AMQP), delivery to devices
 * subscribed over MQTT or MQTT-WS (devices/{id}/messages/devicebound/{bag}, QoS 1), purge, expiry,
 * and the feedback records the service reads on /messages/serviceBound/feedback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_internal.h"
#include "store.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void feedback(mh_hub *hub, const mh_c2d_msg *m, mh_c2d_outcome outcome)
{
    if (!mh_c2d_ack_wants(m->ack, outcome))
        return;
    cJSON *rec = mh_c2d_feedback_record(m, outcome, m->generation_id, now_ms());
    if (rec == NULL)
        return;
    pthread_mutex_lock(&hub->fb_lock);
    if (hub->fb_pending == NULL)
        hub->fb_pending = cJSON_CreateArray();
    if (hub->fb_pending != NULL && cJSON_GetArraySize(hub->fb_pending) >= MH_FEEDBACK_MAX)
        cJSON_DeleteItemFromArray(hub->fb_pending, 0);
    if (hub->fb_pending != NULL)
        cJSON_AddItemToArray(hub->fb_pending, rec);
    else
        cJSON_Delete(rec);
    pthread_mutex_unlock(&hub->fb_lock);
    mh_amqp_wake(hub->amqp);
}

char *mh_hub_feedback_take(mh_hub *hub, int max)
{
    char *text = NULL;
    pthread_mutex_lock(&hub->fb_lock);
    int n = hub->fb_pending ? cJSON_GetArraySize(hub->fb_pending) : 0;
    if (n > 0) {
        cJSON *batch = cJSON_CreateArray();
        for (int i = 0; i < n && i < max && batch; i++)
            cJSON_AddItemToArray(batch, cJSON_DetachItemFromArray(hub->fb_pending, 0));
        text = batch ? cJSON_PrintUnformatted(batch) : NULL;
        cJSON_Delete(batch);
    }
    pthread_mutex_unlock(&hub->fb_lock);
    return text;
}

/* The per-device stripe lock of twin pushes also orders C2D deliveries to the device. */
static pthread_mutex_t *device_lock(mh_hub *hub, const char *id)
{
    size_t h = 5381;
    while (*id)
        h = h * 33 + (unsigned char)*id++;
    return &hub->push_locks[h % MH_PUSH_STRIPES];
}

void mh_hub_c2d_deliver(mh_hub *hub, const char *device_id)
{
    pthread_mutex_t *lock = device_lock(hub, device_id);
    pthread_mutex_lock(lock);
    for (int i = 0; i < MH_C2D_QUEUE_MAX; i++) {
        if (!(mh_presence_subs(hub->presence, device_id) & MH_SUB_C2D))
            break;
        mh_c2d_msg m;
        if (mh_store_c2d_next(hub->store, device_id, now_ms(), &m) != MH_OK)
            break;
        char *topic = NULL;
        mh_err err = mh_c2d_topic(&m, &topic);
        if (err == MH_OK)
            err = mh_hub_to_device(hub, device_id, topic, m.body, m.len, 1);
        free(topic);
        if (err != MH_OK) {
            fprintf(stderr, "mockhub: could not deliver a cloud-to-device message to %s: %s\n", device_id,
                    mh_err_lookup(err)->name);
            mh_c2d_msg_cleanup(&m);
            break;
        }
        /* MOCK: Mosquitto 2.0.11's plugin API reports no PUBACK, so a message completes when it is
         * handed to the broker at QoS 1 for a connected, subscribed device (the broker then owns
         * its redelivery in the device's session). Real IoT Hub completes it on the PUBACK. */
        if (mh_store_c2d_remove(hub->store, m.id) == MH_OK)
            feedback(hub, &m, MH_C2D_SUCCESS);
        mh_c2d_msg_cleanup(&m);
    }
    pthread_mutex_unlock(lock);
}

mh_err mh_hub_c2d_send(mh_hub *hub, mh_c2d_msg *m, mh_status *st)
{
    mh_err err = mh_c2d_validate(m, now_ms(), st);
    if (err == MH_OK)
        err = mh_store_c2d_enqueue(hub->store, m, st);
    if (err != MH_OK)
        return err;
    if (mh_presence_subs(hub->presence, m->device_id) & MH_SUB_C2D)
        mh_hub_c2d_deliver(hub, m->device_id);
    return MH_OK;
}

mh_err mh_hub_c2d_purge(mh_hub *hub, const char *device_id, int *out_n)
{
    mh_c2d_msg *taken = calloc(MH_C2D_QUEUE_MAX * 2, sizeof *taken);
    int n = 0;
    if (taken == NULL)
        return MH_ERR_NOMEM;
    pthread_mutex_t *lock = device_lock(hub, device_id);
    pthread_mutex_lock(lock);
    mh_err err = mh_store_c2d_take(hub->store, device_id, 0, taken, MH_C2D_QUEUE_MAX * 2, &n);
    pthread_mutex_unlock(lock);
    for (int i = 0; err == MH_OK && i < n; i++)
        feedback(hub, &taken[i], MH_C2D_PURGED);
    free(taken);
    if (err == MH_OK)
        *out_n = n;
    return err;
}

#define C2D_LATER_MAX 100000

void mh_hub_c2d_deliver_later(mh_hub *hub, const char *device_id)
{
    char *id = strdup(device_id);
    pthread_mutex_lock(&hub->c2d_later_lock);
    char **grown = id && hub->c2d_later_n < C2D_LATER_MAX
                       ? realloc(hub->c2d_later, (hub->c2d_later_n + 1) * sizeof *grown)
                       : NULL;
    if (grown != NULL) {
        hub->c2d_later = grown;
        hub->c2d_later[hub->c2d_later_n++] = id;
        id = NULL;
    }
    pthread_mutex_unlock(&hub->c2d_later_lock);
    if (id != NULL) /* out of memory or C2D_LATER_MAX pending: the queue stays in the store */
        fprintf(stderr,
                "mockhub: cloud-to-device queue of %s not delivered now (too many pending); it goes out "
                "with the device's next message or subscription\n",
                device_id);
    free(id);
    mh_amqp_wake(hub->amqp);
}

void mh_hub_c2d_run_later(mh_hub *hub)
{
    pthread_mutex_lock(&hub->c2d_later_lock);
    char **later = hub->c2d_later;
    size_t later_n = hub->c2d_later_n;
    hub->c2d_later = NULL;
    hub->c2d_later_n = 0;
    pthread_mutex_unlock(&hub->c2d_later_lock);
    for (size_t i = 0; i < later_n; i++) {
        mh_hub_c2d_deliver(hub, later[i]);
        free(later[i]);
    }
    free(later);
}

void mh_hub_c2d_sweep(mh_hub *hub)
{
    mh_hub_c2d_run_later(hub);

    mh_c2d_msg taken[64];
    int n = 0;
    if (mh_store_c2d_take(hub->store, NULL, now_ms(), taken, 64, &n) != MH_OK)
        return;
    for (int i = 0; i < n; i++)
        feedback(hub, &taken[i], MH_C2D_EXPIRED);
}
