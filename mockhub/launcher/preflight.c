/* preflight.c - `mockhub run`'s checks before anything starts: each failure is one line naming what
 * is wrong and the fix; see preflight.h.
 */
#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "broker.h"

/* What to do about a data dir we cannot use; appended to every data dir error. */
#define DATA_DIR_FIX "set MOCKHUB_DATA_DIR to a directory you can write, or fix this one's owner/permissions"

/* mkdir -p with mode 0755 for the created levels. */
static mh_err make_dirs(const char *path, mh_status *st)
{
    char tmp[1100];
    if (path[0] == '\0')
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "MOCKHUB_DATA_DIR is empty: " DATA_DIR_FIX);
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "the data dir path is too long: %s", path);
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            /* Name the existing level that refused: the file in the way, or the unwritable parent. */
            char *slash = strrchr(tmp, '/');
            if (slash != NULL && slash != tmp)
                *slash = '\0';
            if (e == ENOTDIR)
                return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                               "cannot create the data dir %s: %s (%s is a file): remove that file, or set "
                               "MOCKHUB_DATA_DIR to another directory",
                               path, strerror(e), slash == tmp ? "/" : tmp);
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "cannot create the data dir %s: %s (in %s, as uid %u); " DATA_DIR_FIX, path,
                           strerror(e), slash == tmp ? "/" : tmp, (unsigned)geteuid());
        }
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "cannot use the data dir %s: %s; " DATA_DIR_FIX, path,
                       strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "the data dir %s is a file, not a directory: remove it, or set MOCKHUB_DATA_DIR to a "
                       "directory",
                       path);
    return MH_OK;
}

mh_err mh_preflight_data_dir(const char *dir, mh_status *st)
{
    /* The files the hub reads and rewrites in place; an earlier run as root leaves them root's. */
    static const char *const kept[] = {"mockhub.db", "mockhub.db-wal", "mockhub.db-shm", "ca.pem",
                                       "ca.key",     "server.pem",     "server.key",     "mosquitto.db"};
    char path[1200];
    mh_err rc = make_dirs(dir, st);
    if (rc != MH_OK)
        return rc;
    /* Create a file for real: access(W_OK) says yes to root on a read-only mount. */
    if (snprintf(path, sizeof path, "%s/.mockhub-write-test-XXXXXX", dir) >= (int)sizeof path)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID, "the data dir path is too long: %s", dir);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                       "the data dir %s is not writable by uid %u: %s; " DATA_DIR_FIX, dir,
                       (unsigned)geteuid(), strerror(errno));
    close(fd);
    unlink(path);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kept[i]);
        if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) != 0)
            return mh_fail(st, MH_ERR_ARGUMENT_INVALID,
                           "%s is not readable and writable by uid %u (%s; left by a run as another user, "
                           "e.g. root?): `sudo chown -R %u %s`, or set MOCKHUB_DATA_DIR to another directory",
                           path, (unsigned)geteuid(), strerror(errno), (unsigned)geteuid(), dir);
    }
    return MH_OK;
}

mh_err mh_preflight_port_explain(int port, const char *what, const char *var, int err, mh_status *st)
{
    if (err == EACCES || err == EPERM) {
        char exe[1024];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            snprintf(exe, sizeof exe, "build/mockhub");
        else
            exe[n] = '\0';
        return mh_fail(
            st, MH_ERR_UNAVAILABLE,
            "cannot bind %s port %d: permission denied (ports below 1024 need root or "
            "CAP_NET_BIND_SERVICE). Fix: run as root, or `sudo setcap cap_net_bind_service=+ep %s` "
            "(again after every rebuild), or set %s above 1023%s",
            what, port, exe, var,
            port == 443 ? " (e.g. 8443; Microsoft's service SDKs always dial 443)" : "");
    }
    if (err == EADDRINUSE)
        return mh_fail(st, MH_ERR_UNAVAILABLE,
                       "%s port %d is already in use by another process (another mockhub, broker or web "
                       "server? `ss -ltnp 'sport = :%d'` shows which): stop it, or pick a free port with %s",
                       what, port, port, var);
    return mh_fail(st, MH_ERR_UNAVAILABLE, "cannot bind %s port %d: %s (set %s to use another port)", what,
                   port, strerror(err), var);
}

/* 0 when port can be bound now, else the errno: bound as the daemon binds it (the broker binds
 * the same wildcard). */
static int probe_bind(int port)
{
    int fd = mh_http_bind_any(port);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

mh_err mh_preflight_port(int port, const char *what, const char *var, mh_status *st)
{
    int e = probe_bind(port);
    if (e != 0)
        return mh_preflight_port_explain(port, what, var, e, st);
    return MH_OK;
}

mh_err mh_preflight_run(const mh_config *cfg, mh_status *st)
{
    char path[4096];
    mh_err rc = MH_OK;
    if ((rc = mh_broker_find_mosquitto(path, sizeof path, st)) != MH_OK ||
        (rc = mh_broker_plugin_path(path, sizeof path, st)) != MH_OK)
        return rc;
    /* Before the ports: another mockhub on this data dir holds them too, and this says it better. */
    if ((rc = mh_broker_check_not_running(cfg, st)) != MH_OK)
        return rc;
    if ((rc = mh_preflight_data_dir(cfg->data_dir, st)) != MH_OK)
        return rc;
    if ((rc = mh_preflight_port(cfg->https_port, "HTTPS", "MOCKHUB_HTTPS_PORT", st)) != MH_OK)
        return rc;
    if ((rc = mh_preflight_port(cfg->amqp_port, "AMQP", "MOCKHUB_AMQP_PORT", st)) != MH_OK ||
        (rc = mh_preflight_port(cfg->amqp_plain_port, "plain AMQP", "MOCKHUB_AMQP_PLAIN_PORT", st)) != MH_OK)
        return rc;
    return mh_preflight_port(cfg->mqtt_port, "MQTT", "MOCKHUB_MQTT_PORT", st);
}
