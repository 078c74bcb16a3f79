/* certs.c - creates and checks the development CA and the server certificate with OpenSSL 3.
 *
 * Extensions follow what strict verifiers (Python 3.13's VERIFY_X509_STRICT, Node, GnuTLS) demand:
 * CA with critical basicConstraints CA:TRUE and keyCertSign; leaf with SAN, serverAuth EKU,
 * subject and authority key identifiers.
 */
#include "certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CA_CN "mockhub development CA"
#define CA_DAYS 3650

/* Appends OpenSSL's last error to a failure text, so "cannot sign" says why. */
static mh_err ossl_fail(mh_status *st, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return mh_fail(st, MH_ERR_INTERNAL, "%s%s%s", what, e ? ": " : "", buf);
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static EVP_PKEY *new_key(void)
{
    return EVP_EC_gen("P-256");
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

/* Writes cert or key (exactly one non-NULL) to path via a temp file and rename, with mode. */
static mh_err write_pem(const char *path, X509 *cert, EVP_PKEY *key, mode_t mode, mh_status *st)
{
    char tmp[1200];
    FILE *f = NULL;
    int fd = -1;
    mh_err rc = MH_OK;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return mh_fail(st, MH_ERR_INTERNAL, "path too long: %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return mh_fail(st, MH_ERR_INTERNAL, "cannot write %s: %s", path, strerror(errno));
    (void)fchmod(fd, mode); /* umask may have narrowed it */
    f = fdopen(fd, "w");
    if (f == NULL) {
        rc = mh_fail(st, MH_ERR_INTERNAL, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        goto done;
    }
    int ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    f = NULL;
    if (!ok) {
        rc = ossl_fail(st, "cannot write PEM file");
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = mh_fail(st, MH_ERR_INTERNAL, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    return MH_OK;
done:
    unlink(tmp);
    return rc;
}

/* Adds one extension given in openssl.cnf syntax ("critical,CA:TRUE"). */
static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (ex == NULL)
        return 0;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok;
}

static int set_random_serial(X509 *cert)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return 0;
    raw[0] &= 0x7f; /* positive */
    raw[0] |= 0x40; /* and no leading zero byte */
    BIGNUM *bn = BN_bin2bn(raw, sizeof raw, NULL);
    if (bn == NULL)
        return 0;
    int ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    return ok;
}

/* A cert shell: v3, random serial, validity now-1h .. now+days, subject CN, public key. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, int days)
{
    X509 *x = X509_new();
    if (x == NULL)
        return NULL;
    X509_NAME *name = X509_get_subject_name(x);
    int ok =
        X509_set_version(x, X509_VERSION_3) && set_random_serial(x) &&
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
        X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) != NULL && X509_set_pubkey(x, key) &&
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"mockhub", -1, -1, 0) &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int is_ip(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static mh_err create_ca(const mh_config *cfg, mh_status *st)
{
    EVP_PKEY *key = NULL;
    X509 *ca = NULL;
    mh_err rc = MH_OK;

    key = new_key();
    if (key == NULL) {
        rc = ossl_fail(st, "cannot generate the CA key");
        goto done;
    }
    ca = new_cert(key, CA_CN, CA_DAYS);
    if (ca == NULL) {
        rc = ossl_fail(st, "cannot build the CA certificate");
        goto done;
    }
    if (!X509_set_issuer_name(ca, X509_get_subject_name(ca))) {
        rc = ossl_fail(st, "cannot build the CA certificate");
        goto done;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca, ca, NULL, NULL, 0);
    if (!add_ext(ca, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(ca, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") ||
        !add_ext(ca, &ctx, NID_subject_key_identifier, "hash") ||
        !add_ext(ca, &ctx, NID_authority_key_identifier, "keyid:always") ||
        X509_sign(ca, key, EVP_sha256()) == 0) {
        rc = ossl_fail(st, "cannot sign the CA certificate");
        goto done;
    }
    /* key first: a crash in between leaves a key without cert, which ensure treats as an error
     * the user resolves, never a cert whose key is lost. */
    if ((rc = write_pem(cfg->ca_key, NULL, key, 0600, st)) != MH_OK ||
        (rc = write_pem(cfg->ca_cert, ca, NULL, 0644, st)) != MH_OK)
        goto done;
done:
    X509_free(ca);
    EVP_PKEY_free(key);
    return rc;
}

static mh_err issue_server(const mh_config *cfg, X509 *ca, EVP_PKEY *ca_key, mh_status *st)
{
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    mh_err rc = MH_OK;
    char san[700];

    /* The hub name as DNS (or IP) SAN, plus the loopback names every local client uses. */
    if (strcmp(cfg->hostname, "localhost") == 0 || strcmp(cfg->hostname, "127.0.0.1") == 0 ||
        strcmp(cfg->hostname, "::1") == 0)
        snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1");
    else
        snprintf(san, sizeof san, "%s:%s,DNS:localhost,IP:127.0.0.1,IP:::1",
                 is_ip(cfg->hostname) ? "IP" : "DNS", cfg->hostname);

    key = new_key();
    if (key == NULL) {
        rc = ossl_fail(st, "cannot generate the server key");
        goto done;
    }
    x = new_cert(key, cfg->hostname, MH_CERTS_SERVER_DAYS);
    if (x == NULL || !X509_set_issuer_name(x, X509_get_subject_name(ca))) {
        rc = ossl_fail(st, "cannot build the server certificate");
        goto done;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyAgreement") ||
        !add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") || !add_ext(x, &ctx, NID_subject_alt_name, san) ||
        !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
        !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") ||
        X509_sign(x, ca_key, EVP_sha256()) == 0) {
        rc = ossl_fail(st, "cannot sign the server certificate");
        goto done;
    }
    if ((rc = write_pem(cfg->server_key, NULL, key, 0600, st)) != MH_OK ||
        (rc = write_pem(cfg->server_cert, x, NULL, 0644, st)) != MH_OK)
        goto done;
done:
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

mh_err mh_certs_check_server(const char *ca_path, const char *cert_path, const char *key_path,
                             const char *hostname, int min_days, mh_status *st)
{
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *ca_pub = NULL, *key = NULL;
    mh_err rc = MH_OK;

    ca = read_cert(ca_path);
    x = read_cert(cert_path);
    key = read_key(key_path);
    ERR_clear_error();
    if (ca == NULL || x == NULL || key == NULL) {
        rc = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s is missing or unreadable",
                     ca == NULL  ? ca_path
                     : x == NULL ? cert_path
                                 : key_path);
        goto done;
    }
    ca_pub = X509_get_pubkey(ca);
    if (ca_pub == NULL || X509_verify(x, ca_pub) != 1 ||
        X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) != 0) {
        ERR_clear_error();
        rc = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s is not signed by %s", cert_path, ca_path);
        goto done;
    }
    if (X509_check_private_key(x, key) != 1) {
        ERR_clear_error();
        rc = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s does not match %s", key_path, cert_path);
        goto done;
    }
    time_t limit = time(NULL) + (time_t)min_days * 86400;
    if (X509_cmp_time(X509_get0_notAfter(x), &limit) <= 0) {
        rc = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s expires within %d days", cert_path, min_days);
        goto done;
    }
    int host_ok = is_ip(hostname) ? X509_check_ip_asc(x, hostname, 0) == 1
                                  : X509_check_host(x, hostname, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
    if (!host_ok || X509_check_host(x, "localhost", 0, 0, NULL) != 1 ||
        X509_check_ip_asc(x, "127.0.0.1", 0) != 1) {
        rc = mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s does not cover %s, localhost and 127.0.0.1", cert_path,
                     hostname);
        goto done;
    }
done:
    EVP_PKEY_free(ca_pub);
    EVP_PKEY_free(key);
    X509_free(x);
    X509_free(ca);
    return rc;
}

mh_err mh_certs_ensure(const mh_config *cfg, unsigned *out_actions, mh_status *st)
{
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    unsigned actions = 0;
    mh_err rc = MH_OK;

    int have_cert = file_exists(cfg->ca_cert), have_key = file_exists(cfg->ca_key);
    if (have_cert != have_key) {
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "%s exists but %s does not; restore the missing file, or delete both to create a new "
                       "development CA (clients must then trust the new ca.pem)",
                       have_cert ? cfg->ca_cert : cfg->ca_key, have_cert ? cfg->ca_key : cfg->ca_cert);
    }
    if (!have_cert) {
        if ((rc = create_ca(cfg, st)) != MH_OK)
            return rc;
        actions |= MH_CERTS_CA_CREATED;
    }
    ca = read_cert(cfg->ca_cert);
    ca_key = read_key(cfg->ca_key);
    if (ca == NULL || ca_key == NULL) {
        rc = ossl_fail(st, ca == NULL ? "cannot read the CA certificate (ca.pem)"
                                      : "cannot read the CA key (ca.key)");
        goto done;
    }
    if (X509_check_private_key(ca, ca_key) != 1) {
        ERR_clear_error();
        rc = mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                     "%s does not match %s; delete both to create a new development CA", cfg->ca_key,
                     cfg->ca_cert);
        goto done;
    }
    mh_status why;
    if (mh_certs_check_server(cfg->ca_cert, cfg->server_cert, cfg->server_key, cfg->hostname,
                              MH_CERTS_RENEW_DAYS, &why) != MH_OK) {
        if ((rc = issue_server(cfg, ca, ca_key, st)) != MH_OK)
            goto done;
        actions |= MH_CERTS_SERVER_ISSUED;
    }
    if (out_actions != NULL)
        *out_actions = actions;
done:
    EVP_PKEY_free(ca_key);
    X509_free(ca);
    return rc;
}
