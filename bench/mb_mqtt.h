/* mb_mqtt.h - many libmosquitto clients driven by one epoll loop in one thread.
 *
 * The bench needs thousands of device connections; a thread per client (mosquitto_loop_start) would
 * measure the scheduler. One mb_loop belongs to one thread: every call on a loop and its clients must
 * come from that thread.
 */
#ifndef MB_MQTT_H
#define MB_MQTT_H

#include <mosquitto.h>
#include <openssl/ssl.h>
#include <stdint.h>

typedef struct mb_loop mb_loop;
typedef struct mb_client mb_client;

typedef enum mb_client_state {
    MB_C_CONNECTING = 0,
    MB_C_CONNECTED, /* CONNACK 0 received, SUBACKs pending */
    MB_C_READY,     /* CONNACK 0 and every SUBACK received */
    MB_C_FAILED,    /* refused or lost before READY */
    MB_C_LOST       /* lost after READY */
} mb_client_state;

typedef void (*mb_on_msg)(mb_client *c, const struct mosquitto_message *m);
typedef void (*mb_on_state)(mb_client *c, mb_client_state st);

typedef struct mb_client_cfg {
    const char *host;
    int port;
    SSL_CTX *ssl_ctx; /* shared, borrowed; NULL = plain TCP */
    const char *id;
    const char *username, *password; /* NULL: none */
    int clean_session;
    int keepalive;       /* seconds, 0 -> 300 */
    const char *subs[4]; /* filters subscribed after CONNACK, NULL-terminated */
    int sub_qos;
} mb_client_cfg;

mb_loop *mb_loop_new(void);
void mb_loop_free(mb_loop *l); /* destroys every client without DISCONNECT */

/* Creates a client and starts connecting (TCP + TLS + CONNECT); NULL when it cannot even start
 * (then *out_rc is the mosquitto error). on_msg/on_state may be NULL. ud is the caller's. */
mb_client *mb_client_start(mb_loop *l, const mb_client_cfg *cfg, mb_on_msg on_msg, mb_on_state on_state,
                           void *ud, int *out_rc);

/* Waits up to timeout_ms for socket events and handles them (callbacks run inside). Returns the
 * number of events handled, or -1 on an epoll error. */
int mb_loop_poll(mb_loop *l, int timeout_ms);

/* Publishes and makes sure the bytes get written (arms EPOLLOUT if the socket is full). Returns the
 * mosquitto error code. Safe inside on_msg. */
int mb_client_publish(mb_client *c, const char *topic, int len, const void *payload, int qos);

mb_client_state mb_client_get_state(const mb_client *c);
void *mb_client_ud(const mb_client *c);
const char *mb_client_id(const mb_client *c);
uint64_t mb_client_started_ns(const mb_client *c);
uint64_t mb_client_connack_ns(const mb_client *c); /* 0 until CONNACK */
int mb_client_connack_rc(const mb_client *c);      /* CONNACK code, -1 before, or the loss reason */

/* Counters over the loop's life. */
typedef struct mb_loop_stats {
    long started, connected, ready, failed, lost, publish_errors;
} mb_loop_stats;
void mb_loop_get_stats(const mb_loop *l, mb_loop_stats *out);

/* Shared client TLS context trusting cafile (host name checked by libmosquitto). */
SSL_CTX *mb_tls_ctx_new(const char *cafile);

#endif
