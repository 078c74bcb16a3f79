/* Unit tests for certs.c: the CA and server certificate are generated into a temp dir and checked
 * with OpenSSL's own verifier and a TLS 1.2 handshake in memory (the Python SDK pins TLS 1.2). */
#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs.h"

static char g_dir[64];

static void setup(void)
{
    strcpy(g_dir, "/tmp/mh-certs-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static void teardown(void)
{
    const char *files[] = {"ca.pem", "ca.key", "server.pem", "server.key"};
    char p[128];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    rmdir(g_dir);
}

TestSuite(certs, .init = setup, .fini = teardown);

static mh_config cfg_for(const char *host)
{
    mh_config c;
    mh_status st = {MH_OK, ""};
    setenv("MOCKHUB_DATA_DIR", g_dir, 1);
    setenv("MOCKHUB_HOSTNAME", host, 1);
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    return c;
}

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(x);
    return x;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char bufs[4][8192];
    static int next;
    char *b = bufs[next++ % 4];
    size_t n = fread(b, 1, 8191, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* Verifies server.pem against ca.pem as a TLS client would: chain, purpose, and host or IP. */
static int verify(const mh_config *c, const char *host, const char *ip)
{
    X509 *ca = load_cert(c->ca_cert), *x = load_cert(c->server_cert);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, x, NULL);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    if (host)
        X509_VERIFY_PARAM_set1_host(param, host, 0);
    if (ip)
        X509_VERIFY_PARAM_set1_ip_asc(param, ip);
    int ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(ca);
    X509_free(x);
    return ok == 1;
}

Test(certs, mh_certs_ensure_fresh_dir_succeeds)
{
    mh_config c = cfg_for("localhost");
    mh_status st = {MH_OK, ""};
    unsigned actions = 0;
    cr_assert_eq(mh_certs_ensure(&c, &actions, &st), MH_OK, "%s", st.text);
    cr_assert_eq(actions, MH_CERTS_CA_CREATED | MH_CERTS_SERVER_ISSUED);
    cr_assert(verify(&c, "localhost", NULL));
    cr_assert(verify(&c, NULL, "127.0.0.1"));
    cr_assert(verify(&c, NULL, "::1"));
    cr_assert_not(verify(&c, "example.com", NULL));

    X509 *ca = load_cert(c.ca_cert);
    char cn[128];
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof cn);
    cr_assert_str_eq(cn, "mockhub development CA");
    cr_assert_eq(X509_check_ca(ca), 1);
    /* 10 years, give or take the backdating */
    int days = 0, secs = 0;
    cr_assert_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca), X509_get0_notAfter(ca)), 1);
    cr_assert(days >= 3649 && days <= 3651, "CA valid for %d days", days);
    X509_free(ca);

    X509 *x = load_cert(c.server_cert);
    cr_assert_eq(X509_check_ca(x), 0);
    cr_assert(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
    X509_free(x);

    struct stat sb;
    cr_assert_eq(stat(c.ca_key, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(stat(c.server_key, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(stat(c.ca_cert, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0644);
}

Test(certs, mh_certs_ensure_second_call_keeps_everything_succeeds)
{
    mh_config c = cfg_for("localhost");
    mh_status st = {MH_OK, ""};
    unsigned actions = 0;
    cr_assert_eq(mh_certs_ensure(&c, &actions, &st), MH_OK, "%s", st.text);
    char ca1[8192], srv1[8192];
    strcpy(ca1, slurp(c.ca_cert));
    strcpy(srv1, slurp(c.server_cert));
    cr_assert_eq(mh_certs_ensure(&c, &actions, &st), MH_OK, "%s", st.text);
    cr_assert_eq(actions, 0u);
    cr_assert_str_eq(slurp(c.ca_cert), ca1);
    cr_assert_str_eq(slurp(c.server_cert), srv1);
}

Test(certs, mh_certs_ensure_hostname_change_reissues_succeeds)
{
    mh_config c = cfg_for("localhost");
    mh_status st = {MH_OK, ""};
    unsigned actions = 0;
    cr_assert_eq(mh_certs_ensure(&c, &actions, &st), MH_OK, "%s", st.text);
    char ca1[8192];
    strcpy(ca1, slurp(c.ca_cert));

    c = cfg_for("myhub.example.test");
    cr_assert_eq(mh_certs_ensure(&c, &actions, &st), MH_OK, "%s", st.text);
    cr_assert_eq(actions, MH_CERTS_SERVER_ISSUED);
    cr_assert_str_eq(slurp(c.ca_cert), ca1, "the CA must be kept");
    cr_assert(verify(&c, "myhub.example.test", NULL));
    cr_assert(verify(&c, "localhost", NULL));
    cr_assert(verify(&c, NULL, "127.0.0.1"));

    c = cfg_for("192.168.7.9"); /* an IP host name becomes an IP SAN */
    cr_assert_eq(mh_certs_ensure(&c, &actions, &st), MH_OK, "%s", st.text);
    cr_assert_eq(actions, MH_CERTS_SERVER_ISSUED);
    cr_assert(verify(&c, NULL, "192.168.7.9"));
}

Test(certs, mh_certs_check_server_expiring_fails)
{
    mh_config c = cfg_for("localhost");
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_certs_ensure(&c, NULL, &st), MH_OK, "%s", st.text);
    cr_assert_eq(mh_certs_check_server(c.ca_cert, c.server_cert, c.server_key, "localhost", 30, &st), MH_OK);
    cr_assert_eq(mh_certs_check_server(c.ca_cert, c.server_cert, c.server_key, "localhost",
                                       MH_CERTS_SERVER_DAYS + 1, &st),
                 MH_ERR_ARGUMENT_INVALID);
    cr_assert_not_null(strstr(st.text, "expires"), "%s", st.text);
}

Test(certs, mh_certs_ensure_new_ca_reissues_server_succeeds)
{
    mh_config c = cfg_for("localhost");
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_certs_ensure(&c, NULL, &st), MH_OK, "%s", st.text);
    unlink(c.ca_cert);
    unlink(c.ca_key);
    unsigned actions = 0;
    cr_assert_eq(mh_certs_ensure(&c, &actions, &st), MH_OK, "%s", st.text);
    cr_assert_eq(actions, MH_CERTS_CA_CREATED | MH_CERTS_SERVER_ISSUED);
    cr_assert(verify(&c, "localhost", NULL));
}

Test(certs, mh_certs_ensure_half_ca_fails)
{
    mh_config c = cfg_for("localhost");
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_certs_ensure(&c, NULL, &st), MH_OK, "%s", st.text);
    unlink(c.ca_key);
    cr_assert_eq(mh_certs_ensure(&c, NULL, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_not_null(strstr(st.text, "ca.key"), "%s", st.text);
    struct stat sb;
    cr_assert_neq(stat(c.ca_key, &sb), 0, "the CA must not be replaced silently");
}

Test(certs, mh_certs_ensure_missing_dir_fails)
{
    mh_config c = cfg_for("localhost");
    strcat(c.ca_cert, ".nodir/x");
    strcat(c.ca_key, ".nodir/x");
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_certs_ensure(&c, NULL, &st), MH_ERR_INTERNAL);
    cr_assert_neq(st.text[0], '\0');
}

/* A full TLS 1.2 handshake in memory, the client verifying the chain and "localhost". */
Test(certs, mh_certs_ensure_tls12_handshake_succeeds)
{
    mh_config c = cfg_for("localhost");
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_certs_ensure(&c, NULL, &st), MH_OK, "%s", st.text);

    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    cr_assert_eq(SSL_CTX_use_certificate_file(sctx, c.server_cert, SSL_FILETYPE_PEM), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(sctx, c.server_key, SSL_FILETYPE_PEM), 1);
    cr_assert_eq(SSL_CTX_load_verify_locations(cctx, c.ca_cert, NULL), 1);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);

    SSL *s = SSL_new(sctx), *cl = SSL_new(cctx);
    BIO *bs = NULL, *bc = NULL;
    cr_assert_eq(BIO_new_bio_pair(&bs, 0, &bc, 0), 1);
    SSL_set_bio(s, bs, bs);
    SSL_set_bio(cl, bc, bc);
    SSL_set_tlsext_host_name(cl, "localhost");
    SSL_set1_host(cl, "localhost");
    SSL_set_accept_state(s);
    SSL_set_connect_state(cl);
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 50 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(cl);
            if (r == 1)
                cdone = 1;
            else
                cr_assert_eq(SSL_get_error(cl, r), SSL_ERROR_WANT_READ, "client: %s",
                             ERR_error_string(ERR_get_error(), NULL));
        }
        if (!sdone) {
            int r = SSL_do_handshake(s);
            if (r == 1)
                sdone = 1;
            else
                cr_assert_eq(SSL_get_error(s, r), SSL_ERROR_WANT_READ, "server: %s",
                             ERR_error_string(ERR_get_error(), NULL));
        }
    }
    cr_assert(cdone && sdone);
    cr_assert_eq(SSL_version(cl), TLS1_2_VERSION);
    cr_assert_eq(SSL_get_verify_result(cl), X509_V_OK);
    SSL_free(cl);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}
