/* libmosquitto glue for the device library: translate calls and callbacks, nothing else. Reconnect,
 * tokens and topic logic live in iotd_client.c / iotd_proto.c. */
#include "iotd_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>

#define SYSTEM_CA_PATH "/etc/ssl/certs"

struct iotd_transport {
    struct mosquitto *mosq;
    iotd_transport_events ev;
    void *ctx;
    char last_log_error[256]; /* libmosquitto logs OpenSSL's reason and consumes the error queue */
};

static void tr_on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    iotd_transport *t = obj;
    (void)mosq;
    if (level == MOSQ_LOG_ERR && str)
        snprintf(t->last_log_error, sizeof(t->last_log_error), "%s", str);
}

static void tr_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    iotd_transport *t = obj;
    (void)mosq;
    if (t->ev.on_connack)
        t->ev.on_connack(t->ctx, rc);
}

static void tr_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    iotd_transport *t = obj;
    (void)mosq;
    if (t->ev.on_disconnect)
        t->ev.on_disconnect(t->ctx, rc);
}

static void tr_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    iotd_transport *t = obj;
    (void)mosq;
    if (t->ev.on_message && msg && msg->topic)
        t->ev.on_message(t->ctx, msg->topic, msg->payload ? (const char *)msg->payload : "",
                         (size_t)msg->payloadlen);
}

static void set_why(char *why, size_t whylen, const char *what, int rc, const char *detail)
{
    if (!why || whylen == 0)
        return;
    if (rc == MOSQ_ERR_TLS)
        snprintf(why, whylen,
                 "%s: TLS failed (%s); does the server certificate match the host name, and is its CA "
                 "trusted (system store, IOTHUB_CA_FILE or --ca)?",
                 what, detail && *detail ? detail : "handshake error");
    else if (rc == MOSQ_ERR_ERRNO)
        snprintf(why, whylen, "%s: %s", what, strerror(errno));
    else
        snprintf(why, whylen, "%s: %s", what, mosquitto_strerror(rc));
}

iotd_err iotd_transport_new(const char *client_id, const char *ca_file, const iotd_transport_events *ev,
                            void *ctx, iotd_transport **out, char *why, size_t whylen)
{
    static int lib_ready;
    iotd_transport *t = NULL;
    iotd_err err = IOTD_E_TRANSPORT;
    int rc;

    if (!client_id || !ev || !out)
        return IOTD_E_INVALID;
    if (!lib_ready) {
        mosquitto_lib_init();
        lib_ready = 1;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return IOTD_E_NOMEM;
    t->ev = *ev;
    t->ctx = ctx;
    /* clean session off: the SDKs rely on the hub keeping subscriptions across reconnects */
    t->mosq = mosquitto_new(client_id, false, t);
    if (!t->mosq) {
        err = errno == ENOMEM ? IOTD_E_NOMEM : IOTD_E_INVALID;
        set_why(why, whylen, "cannot create MQTT client", MOSQ_ERR_ERRNO, NULL);
        goto cleanup;
    }
    mosquitto_int_option(t->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* without TCP_NODELAY a QoS 1 round trip costs ~88 ms (Nagle + delayed ACK) */
    mosquitto_int_option(t->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (ca_file && *ca_file && access(ca_file, R_OK) != 0) {
        if (why && whylen)
            snprintf(why, whylen, "cannot read CA file %s: %s", ca_file, strerror(errno));
        err = IOTD_E_CONFIG;
        goto cleanup;
    }
    rc = mosquitto_tls_set(t->mosq, (ca_file && *ca_file) ? ca_file : NULL, SYSTEM_CA_PATH, NULL, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        set_why(why, whylen, "cannot set up TLS", rc, NULL);
        err = IOTD_E_CONFIG;
        goto cleanup;
    }
    mosquitto_connect_callback_set(t->mosq, tr_on_connect);
    mosquitto_disconnect_callback_set(t->mosq, tr_on_disconnect);
    mosquitto_message_callback_set(t->mosq, tr_on_message);
    mosquitto_log_callback_set(t->mosq, tr_on_log);
    *out = t;
    return IOTD_OK;

cleanup:
    iotd_transport_free(t);
    return err;
}

void iotd_transport_free(iotd_transport *t)
{
    if (!t)
        return;
    if (t->mosq)
        mosquitto_destroy(t->mosq);
    free(t);
}

iotd_err iotd_transport_connect(iotd_transport *t, const char *host, int port, const char *username,
                                const char *password, int keepalive_s, char *why, size_t whylen)
{
    int rc;

    if (!t || !host || !username || !password)
        return IOTD_E_INVALID;
    rc = mosquitto_username_pw_set(t->mosq, username, password);
    if (rc != MOSQ_ERR_SUCCESS) {
        set_why(why, whylen, "cannot set credentials", rc, NULL);
        return IOTD_E_INVALID;
    }
    errno = 0;
    t->last_log_error[0] = '\0';
    rc = mosquitto_connect(t->mosq, host, port, keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        char what[300];
        snprintf(what, sizeof(what), "cannot connect to %s:%d", host, port);
        set_why(why, whylen, what, rc, t->last_log_error);
        return IOTD_E_TRANSPORT;
    }
    return IOTD_OK;
}

iotd_err iotd_transport_subscribe(iotd_transport *t, const char *filter, int qos)
{
    if (!t || !filter)
        return IOTD_E_INVALID;
    return mosquitto_subscribe(t->mosq, NULL, filter, qos) == MOSQ_ERR_SUCCESS ? IOTD_OK : IOTD_E_TRANSPORT;
}

iotd_err iotd_transport_publish(iotd_transport *t, const char *topic, const void *payload, size_t len,
                                int qos)
{
    int rc;

    if (!t || !topic || len > 256 * 1024)
        return IOTD_E_INVALID;
    rc = mosquitto_publish(t->mosq, NULL, topic, (int)len, payload, qos, false);
    if (rc == MOSQ_ERR_NO_CONN)
        return IOTD_E_NOT_CONNECTED;
    return rc == MOSQ_ERR_SUCCESS ? IOTD_OK : IOTD_E_TRANSPORT;
}

void iotd_transport_disconnect(iotd_transport *t)
{
    if (t)
        mosquitto_disconnect(t->mosq);
}

iotd_err iotd_transport_loop(iotd_transport *t, int timeout_ms, char *why, size_t whylen)
{
    int rc;

    if (!t)
        return IOTD_E_INVALID;
    if (mosquitto_socket(t->mosq) < 0)
        return IOTD_E_NOT_CONNECTED;
    errno = 0;
    rc = mosquitto_loop(t->mosq, timeout_ms, 1);
    if (rc == MOSQ_ERR_SUCCESS)
        return IOTD_OK;
    if (rc == MOSQ_ERR_NO_CONN)
        return IOTD_E_NOT_CONNECTED;
    set_why(why, whylen, "connection error", rc, t->last_log_error);
    return IOTD_E_TRANSPORT;
}
