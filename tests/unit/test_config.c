/* Unit tests for mh_config_from_env: defaults, overrides, and refused values (the MOCKHUB_* names
 * are a contract, issue #2). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static void clear_env(void)
{
    unsetenv("MOCKHUB_DATA_DIR");
    unsetenv("MOCKHUB_HOSTNAME");
    unsetenv("MOCKHUB_MQTT_PORT");
    unsetenv("MOCKHUB_HTTPS_PORT");
    unsetenv("MOCKHUB_OWNER_KEY");
    unsetenv("MOCKHUB_HTTP_IDLE_TIMEOUT");
}

TestSuite(config, .init = clear_env);

Test(config, mh_config_from_env_defaults_succeeds)
{
    mh_config c;
    mh_status st = {MH_OK, ""};
    char cwd[PATH_MAX], want[PATH_MAX + 16];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/data", strcmp(cwd, "/") ? cwd : "");
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    cr_assert_str_eq(c.data_dir, want);
    cr_assert_str_eq(c.hostname, "localhost");
    cr_assert_eq(c.mqtt_port, 8883);
    cr_assert_eq(c.https_port, 443);
    cr_assert_str_eq(c.owner_key, MH_DEV_OWNER_KEY);
    snprintf(want, sizeof want, "%s/data/ca.pem", strcmp(cwd, "/") ? cwd : "");
    cr_assert_str_eq(c.ca_cert, want);
}

Test(config, mh_config_from_env_overrides_succeeds)
{
    setenv("MOCKHUB_DATA_DIR", "/tmp/mh-cfg-test//", 1);
    setenv("MOCKHUB_HOSTNAME", "hub.example.test", 1);
    setenv("MOCKHUB_MQTT_PORT", "18883", 1);
    setenv("MOCKHUB_HTTPS_PORT", "8443", 1);
    setenv("MOCKHUB_OWNER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 1);
    mh_config c;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    cr_assert_str_eq(c.data_dir, "/tmp/mh-cfg-test");
    cr_assert_str_eq(c.db_path, "/tmp/mh-cfg-test/mockhub.db");
    cr_assert_str_eq(c.ca_key, "/tmp/mh-cfg-test/ca.key");
    cr_assert_str_eq(c.server_cert, "/tmp/mh-cfg-test/server.pem");
    cr_assert_str_eq(c.server_key, "/tmp/mh-cfg-test/server.key");
    cr_assert_str_eq(c.hostname, "hub.example.test");
    cr_assert_eq(c.mqtt_port, 18883);
    cr_assert_eq(c.https_port, 8443);
    cr_assert_str_eq(c.owner_key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
}

Test(config, mh_config_from_env_relative_dir_succeeds)
{
    setenv("MOCKHUB_DATA_DIR", "./sub/dir", 1);
    mh_config c;
    mh_status st = {MH_OK, ""};
    char cwd[PATH_MAX], want[PATH_MAX + 16];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/sub/dir", strcmp(cwd, "/") ? cwd : "");
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    cr_assert_str_eq(c.data_dir, want);
}

Test(config, mh_config_from_env_empty_values_use_defaults_succeeds)
{
    setenv("MOCKHUB_MQTT_PORT", "", 1);
    setenv("MOCKHUB_OWNER_KEY", "", 1);
    mh_config c;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    cr_assert_eq(c.mqtt_port, 8883);
    cr_assert_str_eq(c.owner_key, MH_DEV_OWNER_KEY);
}

Test(config, mh_config_from_env_port_bounds_succeeds)
{
    setenv("MOCKHUB_MQTT_PORT", "1", 1);
    setenv("MOCKHUB_HTTPS_PORT", "65535", 1);
    mh_config c;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    cr_assert_eq(c.mqtt_port, 1);
    cr_assert_eq(c.https_port, 65535);
}

static void expect_bad(const char *name, const char *value, const char *in_text)
{
    clear_env();
    setenv(name, value, 1);
    mh_config c;
    memset(&c, 0x5a, sizeof c);
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_config_from_env(&c, &st), MH_ERR_ARGUMENT_INVALID, "%s=%s accepted", name, value);
    cr_assert_eq(st.code, MH_ERR_ARGUMENT_INVALID);
    cr_assert_not_null(strstr(st.text, in_text), "text '%s' lacks '%s'", st.text, in_text);
    cr_assert_eq(c.mqtt_port, 0x5a5a5a5a, "output written on failure");
}

Test(config, mh_config_from_env_bad_ports_fails)
{
    const char *bad[] = {"0", "65536", "-1", "abc", "88a3", "8883 ", " ", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_bad("MOCKHUB_MQTT_PORT", bad[i], "MOCKHUB_MQTT_PORT");
        expect_bad("MOCKHUB_HTTPS_PORT", bad[i], "MOCKHUB_HTTPS_PORT");
    }
}

Test(config, mh_config_from_env_same_ports_fails)
{
    setenv("MOCKHUB_MQTT_PORT", "443", 1);
    mh_config c;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_config_from_env(&c, &st), MH_ERR_ARGUMENT_INVALID);
    cr_assert_not_null(strstr(st.text, "must differ"));
}

Test(config, mh_config_from_env_bad_owner_keys_fails)
{
    const char *bad[] = {
        "not base64!",                                 /* alphabet */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", /* missing padding */
        "AAECAwQFBgcICQ==",                            /* 10 bytes: too short for IoT Hub */
        "YWJj",                                        /* 3 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad("MOCKHUB_OWNER_KEY", bad[i], "base64");
}

Test(config, mh_config_from_env_bad_hostname_fails)
{
    expect_bad("MOCKHUB_HOSTNAME", "host;DeviceId=x", "MOCKHUB_HOSTNAME");
    expect_bad("MOCKHUB_HOSTNAME", "a b", "MOCKHUB_HOSTNAME");
    expect_bad("MOCKHUB_HOSTNAME", "host/x", "MOCKHUB_HOSTNAME");
}

Test(config, mh_dev_owner_key_is_valid_succeeds)
{
    setenv("MOCKHUB_OWNER_KEY", MH_DEV_OWNER_KEY, 1);
    mh_config c;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
}

Test(config, mh_config_from_env_http_idle_timeout_succeeds)
{
    mh_config c;
    mh_status st = {MH_OK, ""};
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    cr_assert_eq(c.http_idle_timeout_s, 600);
    setenv("MOCKHUB_HTTP_IDLE_TIMEOUT", "5", 1);
    cr_assert_eq(mh_config_from_env(&c, &st), MH_OK, "%s", st.text);
    cr_assert_eq(c.http_idle_timeout_s, 5);
}

Test(config, mh_config_from_env_http_idle_timeout_fails)
{
    const char *bad[] = {"0", "3601", "-1", "5s", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mh_config c;
        mh_status st = {MH_OK, ""};
        setenv("MOCKHUB_HTTP_IDLE_TIMEOUT", bad[i], 1);
        cr_assert_eq(mh_config_from_env(&c, &st), MH_ERR_ARGUMENT_INVALID, "%s accepted", bad[i]);
        cr_assert(strstr(st.text, "MOCKHUB_HTTP_IDLE_TIMEOUT") != NULL, "%s", st.text);
    }
}
