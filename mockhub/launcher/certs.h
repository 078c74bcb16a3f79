/* certs.h - the development CA and the server certificate in the data dir (OpenSSL 3).
 *
 * The CA (ca.pem/ca.key, P-256, 10 years, CN "mockhub development CA") is created once and kept, so
 * a developer trusts it once (NODE_EXTRA_CA_CERTS=<data dir>/ca.pem). The server certificate
 * (server.pem/server.key) is signed by it for the hub's host name, localhost, 127.0.0.1 and ::1, and
 * is re-issued whenever it no longer fits (host name changed, CA changed, expires within 30 days).
 */
#ifndef MH_CERTS_H
#define MH_CERTS_H

#include "config.h"
#include "errors.h"

/* What mh_certs_ensure did (bit mask, for the start banner). */
enum {
    MH_CERTS_CA_CREATED = 1u << 0,    /* a new CA was generated: clients must trust the new ca.pem */
    MH_CERTS_SERVER_ISSUED = 1u << 1, /* a new server certificate was issued */
};

/* Days a server certificate is valid, and how close to expiry it gets re-issued. 397 days is the
 * longest validity every TLS client accepts for a leaf (Apple's and browsers' rule). */
#define MH_CERTS_SERVER_DAYS 397
#define MH_CERTS_RENEW_DAYS 30

/* Makes sure cfg->ca_cert/ca_key and cfg->server_cert/server_key exist and fit cfg->hostname.
 * The data dir must exist. Keys are written 0600 and certificates 0644, atomically (temp + rename).
 * Errors: MH_ERR_INTERNAL (I/O or OpenSSL failure, text says which file), MH_ERR_ARGUMENT_INVALID
 * (only one of ca.pem / ca.key exists, or they do not match: we never replace a CA silently).
 * *out_actions (may be NULL) receives MH_CERTS_* bits on success. */
mh_err mh_certs_ensure(const mh_config *cfg, unsigned *out_actions, mh_status *st) MH_WARN_UNUSED;

/* Checks that the server certificate at cert_path is signed by the CA at ca_path, is valid for more
 * than min_days days, covers hostname (DNS or IP SAN), "localhost" and 127.0.0.1, and matches the key
 * at key_path. MH_OK when it does; MH_ERR_ARGUMENT_INVALID with the reason otherwise. */
mh_err mh_certs_check_server(const char *ca_path, const char *cert_path, const char *key_path,
                             const char *hostname, int min_days, mh_status *st) MH_WARN_UNUSED;

#endif
