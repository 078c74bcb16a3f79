/* Unit tests for broker.c's pure parts: the generated mosquitto.conf, the socket path fallback and
 * the hub secret. No broker process is started here (integration tests do that). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

static mh_config cfg_for(const char *dir)
{
    mh_config c;
    mh_status st = {MH_OK, ""};
    setenv("MOCKHUB_DATA_DIR", dir, 1);
    setenv("MOCKHUB_HOSTNAME", "hub.local", 1);
    setenv("MOCKHUB_MQTT_PORT", "18883", 1);
    unsetenv("MOCKHUB_HTTPS_PORT");
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    return c;
}

static const mh_broker_params P = {"alice", "/opt/mh/mockhub_bridge.so", "/data/broker.sock", "s3cr3t", 0};

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

Test(broker, mh_broker_conf_format_required_directives_succeeds)
{
    mh_config c = cfg_for("/data");
    mh_status st = {MH_OK, ""};
    char *t = NULL;
    cr_assert_eq(mh_broker_conf_format(&c, &P, &t, &st), MH_OK, "%s", st.text);
    const char *want[] = {
        "per_listener_settings false",
        "set_tcp_nodelay true",
        "allow_anonymous false",
        "user alice",
        "persistence true",
        "persistence_location /data",
        "persistence_file mosquitto.db",
        "log_dest stderr",
        "plugin /opt/mh/mockhub_bridge.so",
        "plugin_opt_db_path /data/mockhub.db",
        "plugin_opt_hostname hub.local",
        "plugin_opt_hub_secret s3cr3t",
        "listener 18883",
        "certfile /data/server.pem",
        "keyfile /data/server.key",
        "tls_version tlsv1.2",
        "listener 0 /data/broker.sock",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(has_line(t, want[i]), "missing line '%s' in:\n%s", want[i], t);
    /* the TLS options belong to the device listener, which precedes the internal one (last) */
    const char *l1 = strstr(t, "\nlistener 18883\n"), *cf = strstr(t, "\ncertfile "),
               *l0 = strstr(t, "\nlistener 0 ");
    cr_assert(l1 && cf && l0 && l1 < cf && cf < l0);
    cr_assert_null(strstr(l0 + 1, "\nlistener "), "the unix listener must be last");
    cr_assert_null(strstr(t, "per_listener_settings true"));
    free(t);
}

Test(broker, mh_broker_conf_format_websockets_listener_succeeds)
{
    mh_config c = cfg_for("/data");
    mh_status st = {MH_OK, ""};
    char *t = NULL;
    mh_broker_params p = P;
    p.ws_port = 34567;
    cr_assert_eq(mh_broker_conf_format(&c, &p, &t, &st), MH_OK, "%s", st.text);
    cr_assert(has_line(t, "listener 34567 127.0.0.1"), "%s", t);
    cr_assert(has_line(t, "protocol websockets"), "%s", t);
    /* plain ws (TLS ends in the HTTPS server): no TLS options after it, and the unix listener stays last */
    const char *lw = strstr(t, "\nlistener 34567 127.0.0.1\n"), *l0 = strstr(t, "\nlistener 0 "),
               *pw = strstr(t, "\nprotocol websockets\n");
    cr_assert(lw && l0 && pw && lw < pw && pw < l0);
    cr_assert_null(strstr(lw, "\ncertfile "), "%s", t);
    cr_assert_null(strstr(l0 + 1, "\nlistener "), "the unix listener must be last");
    free(t);
}

Test(broker, mh_broker_conf_format_no_websockets_port_succeeds)
{
    mh_config c = cfg_for("/data");
    mh_status st = {MH_OK, ""};
    char *t = NULL;
    cr_assert_eq(mh_broker_conf_format(&c, &P, &t, &st), MH_OK, "%s", st.text);
    cr_assert_null(strstr(t, "websockets"), "%s", t);
    free(t);
}

Test(broker, mh_broker_conf_format_unsafe_value_fails)
{
    mh_config c = cfg_for("/data");
    mh_status st = {MH_OK, ""};
    char *t = (char *)"untouched";
    mh_broker_params p = P;
    p.hub_secret = "a\nlistener 1883";
    cr_assert_eq(mh_broker_conf_format(&c, &p, &t, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_str_eq(t, "untouched");
    p = P;
    p.plugin_path = "/my plugins/x.so";
    cr_assert_eq(mh_broker_conf_format(&c, &p, &t, &st), MH_ERR_ARGUMENT_INVALID);
    p = P;
    p.user = "";
    cr_assert_eq(mh_broker_conf_format(&c, &p, &t, &st), MH_ERR_ARGUMENT_INVALID);
    c = cfg_for("/my data");
    cr_assert_eq(mh_broker_conf_format(&c, &P, &t, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_not_null(strstr(st.text, "data dir"), "%s", st.text);
}

Test(broker, mh_broker_socket_path_short_dir_succeeds)
{
    mh_config c = cfg_for("/var/lib/mockhub");
    mh_status st = {MH_OK, ""};
    char sock[MH_BROKER_SOCK_MAX + 1];
    cr_assert_eq(mh_broker_socket_path(&c, sock, sizeof sock, &st), MH_OK);
    cr_assert_str_eq(sock, "/var/lib/mockhub/broker.sock");
}

Test(broker, mh_broker_socket_path_long_dir_falls_back_succeeds)
{
    char dir[300] = "/tmp/";
    memset(dir + 5, 'd', 150);
    dir[155] = '\0';
    mh_config c = cfg_for(dir);
    mh_status st = {MH_OK, ""};
    char sock[MH_BROKER_SOCK_MAX + 1], again[MH_BROKER_SOCK_MAX + 1];
    cr_assert_eq(mh_broker_socket_path(&c, sock, sizeof sock, &st), MH_OK);
    cr_assert_eq(strncmp(sock, "/tmp/mockhub-", 13), 0, "%s", sock);
    cr_assert(strlen(sock) <= MH_BROKER_SOCK_MAX);
    cr_assert_eq(mh_broker_socket_path(&c, again, sizeof again, &st), MH_OK);
    cr_assert_str_eq(sock, again, "stable per data dir");
    dir[154] = 'e';
    c = cfg_for(dir);
    cr_assert_eq(mh_broker_socket_path(&c, again, sizeof again, &st), MH_OK);
    cr_assert_str_neq(sock, again, "distinct per data dir");

    c = cfg_for("/tmp/with space");
    cr_assert_eq(mh_broker_socket_path(&c, sock, sizeof sock, &st), MH_OK);
    cr_assert_null(strchr(sock, ' '));
}

Test(broker, mh_broker_make_secret_random_hex_succeeds)
{
    char a[MH_BROKER_SECRET_SIZE], b[MH_BROKER_SECRET_SIZE];
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_broker_make_secret(a, &st), MH_OK);
    cr_assert_eq(mh_broker_make_secret(b, &st), MH_OK);
    cr_assert_eq(strlen(a), 64u);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 64u);
    cr_assert_str_neq(a, b);
}

Test(broker, mh_broker_plugin_path_missing_fails)
{
    setenv("MOCKHUB_PLUGIN", "/nonexistent/mockhub_bridge.so", 1);
    char out[256];
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_broker_plugin_path(out, sizeof out, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_not_null(strstr(st.text, "make"), "%s", st.text);
}

Test(broker, mh_broker_stop_null_succeeds)
{
    mh_broker_stop(NULL);
}

Test(broker, mh_broker_find_mosquitto_env_override_succeeds)
{
    setenv("MOCKHUB_MOSQUITTO", "/bin/sh", 1);
    char out[256] = "";
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_broker_find_mosquitto(out, sizeof out, &st), MH_OK, "%s", st.text);
    cr_assert_str_eq(out, "/bin/sh");
}

Test(broker, mh_broker_find_mosquitto_env_not_executable_fails)
{
    setenv("MOCKHUB_MOSQUITTO", "/nonexistent/mosquitto", 1);
    char out[256] = "";
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_broker_find_mosquitto(out, sizeof out, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_str_eq(st.text, "MOCKHUB_MOSQUITTO=/nonexistent/mosquitto is not an executable file");
    cr_assert_str_eq(out, "", "no output on failure");
}

Test(broker, mh_broker_check_not_running_no_socket_succeeds)
{
    char dir[] = "/tmp/mh-broker-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    mh_config c = cfg_for(dir);
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_broker_check_not_running(&c, &st), MH_OK, "%s", st.text);
    rmdir(dir);
}
