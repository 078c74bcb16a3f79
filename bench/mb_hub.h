/* mb_hub.h - what the bench needs to talk to a running mockhub: the service SAS header, device
 * registration over REST (keys from the reply), device SAS passwords and MQTT settings.
 */
#ifndef MB_HUB_H
#define MB_HUB_H

#include <openssl/ssl.h>

#include "mb_http.h"
#include "mb_mqtt.h"
#include "mb_stats.h"

#define MB_API "api-version=2021-04-12"

typedef struct mb_hub {
    char host[128];     /* --host, default localhost (the name in the server certificate) */
    int https_port;     /* --https-port, default 443 */
    int mqtt_port;      /* --mqtt-port, default 8883 */
    char cafile[1100];  /* --cafile, default <--data>/ca.pem */
    char base[300];     /* https://host:port */
    char svc_auth[700]; /* service SAS (iothubowner) */
    SSL_CTX *tls;       /* device TLS context trusting cafile */
    int pid;            /* --hub-pid: the `mockhub run` process (CPU accounting), 0 = unknown */
} mb_hub;

typedef struct mb_device {
    char id[64];
    char key[100];  /* primary key, base64 */
    char user[256]; /* {host}/{id}/?api-version=2021-04-12 */
    char pass[400]; /* SharedAccessSignature ... */
} mb_device;

/* Reads --data, --host, --https-port, --mqtt-port, --cafile and MOCKHUB_OWNER_KEY; dies on setup
 * errors (missing CA file, bad key). */
void mb_hub_init(mb_hub *hub, int argc, char **argv);

/* Registers devices prefix+index for index in [from, to) with `concurrency` PUT /devices in flight,
 * filling devs[index - from] (id, key, MQTT credentials). Counts failures in *out_errors and reports
 * the registration figure under result key `key` unless key is NULL. Returns the number registered. */
long mb_hub_register(mb_hub *hub, const char *prefix, long from, long to, int concurrency, mb_device *devs,
                     const char *key, long *out_errors);

/* MQTT settings for device d (TLS, SAS, clean session off, keepalive 300). */
void mb_hub_device_cfg(const mb_hub *hub, const mb_device *d, mb_client_cfg *out);

/* Polls GET /health (no certificate check) until 200 or timeout; returns 1 when healthy. */
int mb_hub_wait_healthy(const char *base, double timeout_s);

#endif

/* Connects devs[0..n) on loop l with at most `inflight` connections being set up at a time, each
 * subscribed to subs (NULL-terminated, at most 4), and waits until all are READY or failed, or
 * timeout_s passed. clients[i] receives each client (NULL when it could not start). connect_lat (may
 * be NULL) gets start -> CONNACK per device; *out_wall_s the time from first start to last READY.
 * Returns the number READY; prints the first failures. */
long mb_hub_connect_all(mb_loop *l, const mb_hub *hub, mb_device *devs, long n, int inflight,
                        const char *const *subs, mb_on_msg on_msg, void *ud, double timeout_s,
                        mb_client **clients, mb_samples *connect_lat, double *out_wall_s);
