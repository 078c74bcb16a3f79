/* broker.h - runs the Mosquitto broker for the hub: writes data_dir/mosquitto.conf (TLS listener for
 * devices, plain websockets listener for the HTTPS server's splice, unix-socket listener for the
 * daemon, the bridge plugin), starts `mosquitto -c`, forwards its
 * log with a "broker: " prefix, waits until it accepts connections, and stops it.
 *
 * The broker runs as the current user (`user <name>`) so it never drops privileges to `mosquitto` and
 * can read the data dir; it dies with us (PR_SET_PDEATHSIG) and sits in its own process group, so a
 * terminal's Ctrl-C reaches only mockhub, which then stops the daemon first and the broker last.
 * A non-root mockhub that holds CAP_NET_BIND_SERVICE (setcap) passes it on to the broker.
 */
#ifndef MH_BROKER_H
#define MH_BROKER_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "errors.h"

/* Longest unix socket path the kernel takes (sizeof sun_path - 1). */
#define MH_BROKER_SOCK_MAX 107
/* Hub secret: 64 hex characters + NUL. */
#define MH_BROKER_SECRET_SIZE 65

typedef struct mh_broker mh_broker;

/* Everything the generated configuration depends on, besides mh_config. Borrowed strings. */
typedef struct mh_broker_params {
    const char *user;        /* the `user` the broker runs as: the current user's name */
    const char *plugin_path; /* absolute path of mockhub_bridge.so */
    const char *socket_path; /* the internal unix-socket listener (see mh_broker_socket_path) */
    const char *hub_secret;  /* plugin_opt_hub_secret */
    int ws_port;             /* internal plain-websockets listener for the HTTPS server's splice; 0 = none */
} mh_broker_params;

/* Formats the mosquitto.conf text. Values containing a newline, or paths with spaces, are refused
 * (ArgumentInvalid) since Mosquitto's config syntax cannot carry them. *out_text is malloc'd. */
mh_err mh_broker_conf_format(const mh_config *cfg, const mh_broker_params *p, char **out_text,
                             mh_status *st) MH_WARN_UNUSED;

/* The internal socket path: <data_dir>/broker.sock, or /tmp/mockhub-<uid>-<hash of data_dir>.sock
 * when that is longer than MH_BROKER_SOCK_MAX or contains a space. outsz >= MH_BROKER_SOCK_MAX + 1. */
mh_err mh_broker_socket_path(const mh_config *cfg, char *out, size_t outsz, mh_status *st) MH_WARN_UNUSED;

/* The plugin: $MOCKHUB_PLUGIN when set, else mockhub_bridge.so next to the running executable.
 * ArgumentInvalid when the file is not there (with the hint to run `make`). */
mh_err mh_broker_plugin_path(char *out, size_t outsz, mh_status *st) MH_WARN_UNUSED;

/* The broker binary: $MOCKHUB_MOSQUITTO when set (ArgumentInvalid when not executable), else the
 * first executable `mosquitto` in PATH, /usr/sbin, /usr/local/sbin, /sbin; Unavailable, with the
 * package to install, when there is none. */
mh_err mh_broker_find_mosquitto(char *out, size_t outsz, mh_status *st) MH_WARN_UNUSED;

/* Unavailable when a broker (another mockhub) already answers on this data dir's internal socket. */
mh_err mh_broker_check_not_running(const mh_config *cfg, mh_status *st) MH_WARN_UNUSED;

/* A fresh random secret for the hub's internal connection (64 hex characters). */
mh_err mh_broker_make_secret(char out[MH_BROKER_SECRET_SIZE], mh_status *st) MH_WARN_UNUSED;

/* Writes data_dir/mosquitto.conf and starts the broker; returns once the internal socket accepts
 * connections (all listeners are open then) or fails after timeout_ms. Failures explain themselves:
 * port in use, permission to bind, plugin not loadable, mosquitto not installed, with the broker's
 * last log lines in *st. Call with SIGINT/SIGTERM/SIGCHLD blocked if the caller sigwaits for them.
 * *out_broker owns the process; stop it with mh_broker_stop. */
mh_err mh_broker_start(const mh_config *cfg, const char *hub_secret, int timeout_ms, mh_broker **out_broker,
                       mh_status *st) MH_WARN_UNUSED;

/* Starts the broker again after it exited (mh_broker_exited returned 1): the same mosquitto.conf, so
 * the same ports, plugin secret and persistence file; returns once it accepts connections, like
 * mh_broker_start. On failure b stays valid (not running) and may be restarted again later. */
mh_err mh_broker_restart(mh_broker *b, const mh_config *cfg, int timeout_ms, mh_status *st) MH_WARN_UNUSED;

/* The internal socket path (valid while the broker object lives). */
const char *mh_broker_socket(const mh_broker *b);
/* The port of the broker's internal plain-websockets listener (MQTT over WebSockets, spliced from
 * the HTTPS server's /$iothub/websocket): $MOCKHUB_WS_INTERNAL_PORT when set, else a free port
 * chosen at start. */
int mh_broker_ws_port(const mh_broker *b);
pid_t mh_broker_pid(const mh_broker *b);

/* Non-blocking: 1 when the broker process has exited (it is reaped; *why, when not NULL, gets
 * "exit status N" or "killed by signal N" and the last log lines), else 0. */
int mh_broker_exited(mh_broker *b, char *why, size_t whylen);

/* SIGTERM, up to 5 s for a clean exit (the broker saves its persistence file), then SIGKILL.
 * Frees b. NULL is a no-op. */
void mh_broker_stop(mh_broker *b);

#endif
