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

/* ---- messages handed to the plugin, not yet answered ----
 * The plugin answers every C2D message the daemon hands it, in the order it was handed: delivered
 * (given to the device's connection at QoS 1) or undelivered (the connection had unsubscribed, or
 * the device was not connected). A message stays in the store until its answer says delivered,
 * so one the device never got stays queued, and while it waits for its answer it is not sent
 * again. Answers are matched by topic, the oldest first (two handed messages with one topic are
 * answered in their order). A completed message leaves the store before it leaves the handed list,
 * and a delivery reads the list before the store, so it never hands a completed message again;
 * c2d_handed_lock is a leaf lock, never held across the store or the link. */

#define HANDED_MAX (2 * MH_C2D_QUEUE_MAX) /* purged or expired messages may still await their answer */

typedef struct handed {
    char device_id[MH_ID_MAX + 1]; /* the table's key */
    size_t n;
    int full; /* a delivery stopped at HANDED_MAX: deliver again on the next answer */
    long long ids[HANDED_MAX];
    char *topics[HANDED_MAX];
} handed;

static void handed_free(handed *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->topics[i]);
    free(h);
}

/* Records message id, sent on topic, as handed to device_id. 1: recorded; 0: it already was;
 * -1: it cannot be (HANDED_MAX waiting, or out of memory): do not send it now. Lock held. */
static int handed_add_locked(mh_hub *hub, const char *device_id, long long id, const char *topic)
{
    handed *h = mh_htab_get(hub->c2d_handed, device_id);
    if (h == NULL) {
        if ((h = calloc(1, sizeof *h)) == NULL)
            return -1;
        snprintf(h->device_id, sizeof h->device_id, "%s", device_id);
        if (mh_htab_put(hub->c2d_handed, h->device_id, h) != MH_OK) {
            free(h);
            return -1;
        }
    }
    for (size_t i = 0; i < h->n; i++)
        if (h->ids[i] == id)
            return 0;
    char *t = h->n < HANDED_MAX ? strdup(topic) : NULL;
    if (t == NULL) {
        h->full = 1;
        return -1;
    }
    h->ids[h->n] = id;
    h->topics[h->n++] = t;
    return 1;
}

/* The id of the oldest message handed to device_id on topic, -1 when none. Lock held. */
static long long handed_find_locked(mh_hub *hub, const char *device_id, const char *topic)
{
    const handed *h = mh_htab_get(hub->c2d_handed, device_id);
    for (size_t i = 0; h != NULL && i < h->n; i++)
        if (strcmp(h->topics[i], topic) == 0)
            return h->ids[i];
    return -1;
}

/* Forgets message id handed to device_id; *out_refill (may be NULL) says a delivery stopped full.
 * Lock held. */
static void handed_take_locked(mh_hub *hub, const char *device_id, long long id, int *out_refill)
{
    handed *h = mh_htab_get(hub->c2d_handed, device_id);
    for (size_t i = 0; h != NULL && i < h->n; i++) {
        if (h->ids[i] != id)
            continue;
        free(h->topics[i]);
        memmove(&h->ids[i], &h->ids[i + 1], (h->n - i - 1) * sizeof h->ids[0]);
        memmove(&h->topics[i], &h->topics[i + 1], (h->n - i - 1) * sizeof h->topics[0]);
        h->n--;
        break;
    }
    if (out_refill != NULL)
        *out_refill = h != NULL && h->full;
    if (h != NULL)
        h->full = 0;
    if (h != NULL && h->n == 0) {
        mh_htab_remove(hub->c2d_handed, device_id);
        handed_free(h);
    }
}

void mh_hub_c2d_handed_reset(mh_hub *hub)
{
    size_t cursor = 0;
    void *value;
    if (hub->c2d_handed == NULL)
        return;
    pthread_mutex_lock(&hub->c2d_handed_lock);
    while (mh_htab_next(hub->c2d_handed, &cursor, NULL, &value)) {
        handed *h = value;
        mh_htab_remove(hub->c2d_handed, h->device_id);
        handed_free(h);
    }
    pthread_mutex_unlock(&hub->c2d_handed_lock);
}

void mh_hub_c2d_deliver(mh_hub *hub, const char *device_id)
{
    pthread_mutex_t *lock = device_lock(hub, device_id);
    pthread_mutex_lock(lock);
    /* at most MH_C2D_QUEUE_MAX pending, some of them perhaps handed already */
    for (int i = 0; i < MH_C2D_QUEUE_MAX; i++) {
        if (!(mh_presence_subs(hub->presence, device_id) & MH_SUB_C2D))
            break;
        mh_c2d_msg m;
        char *topic = NULL;
        int added = -1;
        long long skip[HANDED_MAX];
        size_t nskip = 0;
        pthread_mutex_lock(&hub->c2d_handed_lock);
        const handed *h = mh_htab_get(hub->c2d_handed, device_id);
        if (h != NULL) {
            nskip = h->n;
            memcpy(skip, h->ids, nskip * sizeof skip[0]);
        }
        pthread_mutex_unlock(&hub->c2d_handed_lock);
        /* safe outside the lock: a message leaves this list only after it has left the store */
        mh_err err = mh_store_c2d_next(hub->store, device_id, now_ms(), skip, nskip, &m);
        int have = err == MH_OK;
        if (have && (err = mh_c2d_topic(&m, &topic)) == MH_OK) {
            pthread_mutex_lock(&hub->c2d_handed_lock);
            added = handed_add_locked(hub, device_id, m.id, topic);
            pthread_mutex_unlock(&hub->c2d_handed_lock);
        }
        if (!have) /* none left (or the store failed: the queue stays for the next trigger) */
            break;
        /* recorded before it is sent: the answer may come before mh_hub_to_device returns */
        if (added == 1 && (err = mh_hub_to_device(hub, device_id, topic, m.body, m.len, 1)) != MH_OK) {
            pthread_mutex_lock(&hub->c2d_handed_lock);
            handed_take_locked(hub, device_id, m.id, NULL);
            pthread_mutex_unlock(&hub->c2d_handed_lock);
        }
        free(topic);
        mh_c2d_msg_cleanup(&m);
        if (err != MH_OK)
            fprintf(stderr, "mockhub: could not deliver a cloud-to-device message to %s: %s\n", device_id,
                    mh_err_lookup(err)->name);
        if (err != MH_OK || added < 0)
            break;
    }
    pthread_mutex_unlock(lock);
}

void mh_hub_c2d_answered(mh_hub *hub, const char *device_id, const char *topic, int delivered)
{
    int refill = 0, done = 0;
    mh_c2d_msg meta;
    /* Answers come on the link thread only, one at a time: the message found stays handed (so no
     * delivery reads it again) until it has left the store. */
    pthread_mutex_lock(&hub->c2d_handed_lock);
    long long id = handed_find_locked(hub, device_id, topic);
    pthread_mutex_unlock(&hub->c2d_handed_lock);
    if (id < 0) { /* handed before the link was lost (mh_hub_c2d_handed_reset) */
        fprintf(stderr,
                "mockhub: the broker answered for a cloud-to-device message to %s handed before the link was "
                "lost; it stays queued and may reach the device again\n",
                device_id);
        return;
    }
    /* MOCK: Mosquitto 2.0.11's plugin API reports no PUBACK, so a message completes when the plugin
     * has given it to the device's connection at QoS 1 (the broker then owns its redelivery in the
     * device's session). Real IoT Hub completes it on the PUBACK. */
    if (delivered)
        done = mh_store_c2d_remove(hub->store, id, &meta) == MH_OK;
    pthread_mutex_lock(&hub->c2d_handed_lock);
    handed_take_locked(hub, device_id, id, &refill);
    pthread_mutex_unlock(&hub->c2d_handed_lock);
    if (done)
        feedback(hub, &meta, MH_C2D_SUCCESS);
    if (refill && (mh_presence_subs(hub->presence, device_id) & MH_SUB_C2D))
        mh_hub_c2d_deliver_later(hub, device_id);
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
