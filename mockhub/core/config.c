/* config.c - reads the hub's configuration from the environment (the MOCKHUB_* names are a contract,
 * see config.h) and derives the paths of the files inside the data dir.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iot_b64.h"

#define MH_DEFAULT_DATA_DIR "./data"
#define MH_DEFAULT_HOSTNAME "localhost"

/* Parses a decimal TCP port 1..65535 from name's value; default when unset or empty. */
static mh_err read_port(const char *name, int def, int *out_port, mh_status *st)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        *out_port = def;
        return MH_OK;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 1 || n > 65535)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "%s='%s' is not a TCP port (a number from 1 to 65535)",
                       name, v);
    *out_port = (int)n;
    return MH_OK;
}

/* IoT Hub accepts keys that are base64 of 16 to 64 bytes; we check the same so that a key that
 * works here also works on a real hub. */
static mh_err check_key(const char *name, const char *key, mh_status *st)
{
    unsigned char raw[128];
    size_t n = 0;
    size_t len = strlen(key);
    if (iot_b64_decode(key, len, raw, sizeof raw, &n) != IOT_OK || n < 16 || n > 64)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "%s is not a valid key: it must be standard base64 (with '=' padding) of 16 to 64 "
                       "bytes, e.g. the output of `openssl rand -base64 32`",
                       name);
    return MH_OK;
}

/* Host names end up in certificates, connection strings and the plugin's user name check:
 * accept what DNS and IP literals allow, nothing that could break those formats. */
static mh_err check_hostname(const char *h, mh_status *st)
{
    size_t len = strlen(h);
    if (len == 0 || len > 253)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "MOCKHUB_HOSTNAME must be 1 to 253 characters");
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '.' || c == ':';
        if (!ok)
            return mh_fail(
                st, MH_ERR_ARGUMENT_INVALID,
                "MOCKHUB_HOSTNAME='%s' is not a host name (letters, digits, '-', '.'; or an IP address)", h);
    }
    return MH_OK;
}

static mh_err join(char *out, size_t outsz, const char *dir, const char *file, mh_status *st)
{
    int n = snprintf(out, outsz, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= outsz)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "MOCKHUB_DATA_DIR is too long");
    return MH_OK;
}

mh_err mh_config_from_env(mh_config *out_cfg, mh_status *st)
{
    mh_config c;
    memset(&c, 0, sizeof c);
    mh_err rc = MH_OK;

    /* data dir: made absolute so that the broker (other cwd-independent process) and the printed
     * hints name the same files; it need not exist yet. */
    const char *dir = getenv("MOCKHUB_DATA_DIR");
    if (dir == NULL || *dir == '\0')
        dir = MH_DEFAULT_DATA_DIR;
    if (dir[0] == '/') {
        if (strlen(dir) >= sizeof c.data_dir)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "MOCKHUB_DATA_DIR is too long (max %zu characters)",
                           sizeof c.data_dir - 1);
        strcpy(c.data_dir, dir);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL)
            return mh_fail(st, MH_ERR_INTERNAL, "cannot resolve MOCKHUB_DATA_DIR: getcwd: %s",
                           strerror(errno));
        const char *rel = dir;
        if (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        else if (rel[0] == '.' && rel[1] == '\0')
            rel = "";
        int n = *rel ? snprintf(c.data_dir, sizeof c.data_dir, "%s/%s", strcmp(cwd, "/") ? cwd : "", rel)
                     : snprintf(c.data_dir, sizeof c.data_dir, "%s", cwd);
        if (n < 0 || (size_t)n >= sizeof c.data_dir)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "MOCKHUB_DATA_DIR is too long (max %zu characters)",
                           sizeof c.data_dir - 1);
    }
    /* trailing slashes would double up in derived paths */
    size_t dl = strlen(c.data_dir);
    while (dl > 1 && c.data_dir[dl - 1] == '/')
        c.data_dir[--dl] = '\0';

    const char *host = getenv("MOCKHUB_HOSTNAME");
    if (host == NULL || *host == '\0')
        host = MH_DEFAULT_HOSTNAME;
    if ((rc = check_hostname(host, st)) != MH_OK)
        return rc;
    if (strlen(host) >= sizeof c.hostname)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "MOCKHUB_HOSTNAME is too long");
    strcpy(c.hostname, host);

    if ((rc = read_port("MOCKHUB_MQTT_PORT", 8883, &c.mqtt_port, st)) != MH_OK)
        return rc;
    if ((rc = read_port("MOCKHUB_HTTPS_PORT", 443, &c.https_port, st)) != MH_OK)
        return rc;
    if (c.mqtt_port == c.https_port)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "MOCKHUB_MQTT_PORT and MOCKHUB_HTTPS_PORT are both %d; they must differ", c.mqtt_port);
    if ((rc = read_port("MOCKHUB_AMQP_PORT", 5671, &c.amqp_port, st)) != MH_OK)
        return rc;
    if ((rc = read_port("MOCKHUB_AMQP_PLAIN_PORT", 5672, &c.amqp_plain_port, st)) != MH_OK)
        return rc;
    {
        int ports[4] = {c.mqtt_port, c.https_port, c.amqp_port, c.amqp_plain_port};
        for (int i = 0; i < 4; i++)
            for (int j = i + 1; j < 4; j++)
                if (ports[i] == ports[j])
                    return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                                   "two of MOCKHUB_MQTT_PORT, MOCKHUB_HTTPS_PORT, MOCKHUB_AMQP_PORT and "
                                   "MOCKHUB_AMQP_PLAIN_PORT are both %d; they must differ",
                                   ports[i]);
    }
    {
        const char *parts = getenv("MOCKHUB_PARTITIONS");
        c.partitions = 4;
        if (parts != NULL && *parts != '\0') {
            char *end = NULL;
            long n = strtol(parts, &end, 10);
            if (*end != '\0' || n < 1 || n > 32)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                               "MOCKHUB_PARTITIONS='%s' is not a partition count (a number from 1 to 32)",
                               parts);
            c.partitions = (int)n;
        }
    }

    const char *idle = getenv("MOCKHUB_HTTP_IDLE_TIMEOUT");
    c.http_idle_timeout_s = 600;
    if (idle != NULL && *idle != '\0') {
        char *end = NULL;
        errno = 0;
        long n = strtol(idle, &end, 10);
        if (errno != 0 || end == idle || *end != '\0' || n < 1 || n > 3600)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "MOCKHUB_HTTP_IDLE_TIMEOUT='%s' is not a number of seconds from 1 to 3600", idle);
        c.http_idle_timeout_s = (int)n;
    }

    const char *key = getenv("MOCKHUB_OWNER_KEY");
    if (key == NULL || *key == '\0')
        key = MH_DEV_OWNER_KEY;
    if (strlen(key) >= sizeof c.owner_key)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "MOCKHUB_OWNER_KEY is too long (a key is base64 of 16 to 64 bytes)");
    if ((rc = check_key("MOCKHUB_OWNER_KEY", key, st)) != MH_OK)
        return rc;
    strcpy(c.owner_key, key);

    if ((rc = join(c.db_path, sizeof c.db_path, c.data_dir, "mockhub.db", st)) != MH_OK ||
        (rc = join(c.ca_cert, sizeof c.ca_cert, c.data_dir, "ca.pem", st)) != MH_OK ||
        (rc = join(c.ca_key, sizeof c.ca_key, c.data_dir, "ca.key", st)) != MH_OK ||
        (rc = join(c.server_cert, sizeof c.server_cert, c.data_dir, "server.pem", st)) != MH_OK ||
        (rc = join(c.server_key, sizeof c.server_key, c.data_dir, "server.key", st)) != MH_OK)
        return rc;

    *out_cfg = c;
    return MH_OK;
}
