/* config.h - the hub's configuration, read once from the environment at start.
 *
 * The names are a contract other tools and tests rely on (issue #2): MOCKHUB_DATA_DIR,
 * MOCKHUB_HOSTNAME, MOCKHUB_MQTT_PORT, MOCKHUB_HTTPS_PORT, MOCKHUB_OWNER_KEY, MOCKHUB_AMQP_PORT,
 * MOCKHUB_AMQP_PLAIN_PORT, MOCKHUB_PARTITIONS.
 */
#ifndef MH_CONFIG_H
#define MH_CONFIG_H

#include "errors.h"

/* The well-known development key of the iothubowner policy, used when MOCKHUB_OWNER_KEY is unset
 * (like Azurite's account key): base64 of "mockhub-well-known-development-key" (34 bytes).
 * MOCK: never use it for anything reachable from a network you do not control. */
#define MH_DEV_OWNER_KEY "bW9ja2h1Yi13ZWxsLWtub3duLWRldmVsb3BtZW50LWtleQ=="

typedef struct mh_config {
    char data_dir[1024]; /* MOCKHUB_DATA_DIR, default "./data", made absolute */
    char hostname[256];  /* MOCKHUB_HOSTNAME, default "localhost" */
    int mqtt_port;       /* MOCKHUB_MQTT_PORT, default 8883 */
    int https_port;      /* MOCKHUB_HTTPS_PORT, default 443 */
    char owner_key[128]; /* MOCKHUB_OWNER_KEY, default MH_DEV_OWNER_KEY */
    int amqp_port;       /* MOCKHUB_AMQP_PORT, default 5671 (AMQP over TLS) */
    int amqp_plain_port; /* MOCKHUB_AMQP_PLAIN_PORT, default 5672 (plain AMQP, loopback only) */
    int partitions;      /* MOCKHUB_PARTITIONS, default 4 (Event Hubs-compatible endpoint, 1..32) */
    /* MOCKHUB_HTTP_IDLE_TIMEOUT (seconds, 1-3600), default 600: an HTTPS connection that sends
     * nothing for this long (a stalled TLS handshake or request, an idle keep-alive) is closed */
    int http_idle_timeout_s;
    /* derived paths inside data_dir */
    char db_path[1100];     /* mockhub.db */
    char ca_cert[1100];     /* ca.pem */
    char ca_key[1100];      /* ca.key */
    char server_cert[1100]; /* server.pem */
    char server_key[1100];  /* server.key */
} mh_config;

/* Reads the environment; ArgumentInvalid with a clear text for a bad port or key. */
mh_err mh_config_from_env(mh_config *out_cfg, mh_status *st) MH_WARN_UNUSED;

#endif
