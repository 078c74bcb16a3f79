/* preflight.h - the checks `mockhub run` makes before it starts anything (data dir, broker binary,
 * ports), so that a hub that cannot work stops within milliseconds with one line that says what is
 * wrong and what to do, instead of failing later inside the broker or the daemon.
 *
 * Every error text is one line (no newline) that names the path or port, the reason (errno text)
 * and the fix; the caller prints it as "mockhub: <text>".
 */
#ifndef MH_PREFLIGHT_H
#define MH_PREFLIGHT_H

#include "config.h"
#include "errors.h"

/* Creates dir and its missing parents (mode 0755), then checks that it is a directory this process
 * can create files in (it creates and removes a probe file: access() would pass for root on a
 * read-only file system) and that the files the hub keeps there (database, CA, server key, broker
 * config and persistence), where they exist, are readable and writable by us.
 * Errors: MH_ERR_ARGUMENT_INVALID with the path, errno text and fix. */
mh_err mh_preflight_data_dir(const char *dir, mh_status *st) MH_WARN_UNUSED;

/* Probe-binds TCP port (as the daemon and the broker will: SO_REUSEADDR, the IPv6 wildcard with
 * IPv4 mapped, or the IPv4 wildcard without IPv6) and releases it at once. what names the listener
 * ("HTTPS", "MQTT"), var the variable that sets its port. Errors: MH_ERR_UNAVAILABLE with the text
 * of mh_preflight_port_explain. */
mh_err mh_preflight_port(int port, const char *what, const char *var, mh_status *st) MH_WARN_UNUSED;

/* The one-line explanation of a failure to bind port with errno err (EACCES: privileged port;
 * EADDRINUSE: held by another process; others: strerror), into *st; returns MH_ERR_UNAVAILABLE.
 * Also used for the broker's own bind failures. */
mh_err mh_preflight_port_explain(int port, const char *what, const char *var, int err, mh_status *st);

/* All of `mockhub run`'s checks in order: the broker binary and plugin, no other mockhub on this
 * data dir, the data dir, the HTTPS and MQTT ports. Stops at the first failure. */
mh_err mh_preflight_run(const mh_config *cfg, mh_status *st) MH_WARN_UNUSED;

#endif
