/* mh_startup.c - start-up time: from exec of `mockhub run` to GET /health answering 200, polled every
 * millisecond. The first run starts from an empty data dir (CA and server certificate created), the
 * next ones reuse it, like a developer's second `make run`. Each run ends with SIGTERM; the time to exit
 * is reported too.
 *
 * usage: mh_startup --mockhub=build/mockhub --dir=DATA_DIR [--runs=5] [--https-port=443]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mb_http.h"
#include "mb_stats.h"

static long g_errors;

/* Starts the hub, returns its pid; the hub's output goes to log_path. */
static pid_t spawn(const char *prog, const char *dir, const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0)
        mb_die("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setenv("MOCKHUB_DATA_DIR", dir, 1);
        execl(prog, prog, "run", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* SIGTERM and wait up to 10 s; returns the ns it took, counts a hang or a crash as an error. */
static uint64_t stop(pid_t pid)
{
    uint64_t t0 = mb_now_ns();
    kill(pid, SIGTERM);
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (mb_now_ns() - t0 > 10000000000u) {
            fprintf(stderr, "bench: mockhub did not exit within 10 s of SIGTERM; killing it\n");
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            g_errors++;
            break;
        }
        usleep(1000);
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM) {
        fprintf(stderr, "bench: mockhub died of signal %d on SIGTERM\n", WTERMSIG(status));
        g_errors++;
    }
    return mb_now_ns() - t0;
}

int main(int argc, char **argv)
{
    const char *prog = mb_arg(argc, argv, "mockhub", "build/mockhub");
    const char *dir = mb_arg(argc, argv, "dir", NULL);
    long runs = mb_arg_long(argc, argv, "runs", 5);
    int port = (int)mb_arg_long(argc, argv, "https-port", 443);
    if (!dir)
        mb_die("usage: mh_startup --mockhub=PATH --dir=DATA_DIR [--runs=N]");
    if (access(prog, X_OK) != 0)
        mb_die("%s is not built", prog);
    char log_path[1200], base[64];
    snprintf(log_path, sizeof log_path, "%s.log", dir);
    snprintf(base, sizeof base, "https://localhost:%d", port);
    mb_http *h = mb_http_new(base, NULL, NULL, 1);
    if (!h)
        mb_die("curl");

    mb_samples cold = {0}, warm = {0}, stops = {0};
    for (long i = 0; i <= runs; i++) {
        uint64_t t0 = mb_now_ns();
        pid_t pid = spawn(prog, dir, log_path);
        int ok = 0;
        while (mb_now_ns() - t0 < 20000000000u) {
            mb_http_req req = {.method = "GET"};
            snprintf(req.path, sizeof req.path, "/health");
            mb_http_resp resp;
            if (mb_http_once(h, &req, &resp) == 200) {
                ok = 1;
                break;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                fprintf(stderr, "bench: mockhub exited before it was healthy (log: %s)\n", log_path);
                pid = -1;
                break;
            }
            usleep(1000);
        }
        uint64_t t1 = mb_now_ns();
        if (ok)
            mb_samples_add(i == 0 ? &cold : &warm, t1 - t0);
        else
            g_errors++;
        if (pid > 0)
            mb_samples_add(&stops, stop(pid));
        /* the next run must not reuse a kept-alive connection to the old process */
        mb_http_free(h);
        h = mb_http_new(base, NULL, NULL, 1);
        if (!h)
            mb_die("curl");
    }
    mb_http_free(h);

    mb_summary ss;
    mb_samples_summarize(&stops, &ss);
    char note[160];
    snprintf(note, sizeof note,
             "empty data dir: creates CA, server cert, database; stop on SIGTERM took %.0f ms",
             ss.median_us / 1000);
    mb_result r;
    mb_result_init(&r, "startup_cold", "start-up to /health 200, first start");
    mb_result_set_latency(&r, &cold);
    r.errors = cold.n ? 0 : 1;
    r.note = note;
    mb_result_emit(&r);
    mb_result_init(&r, "startup_warm", "start-up to /health 200, existing data dir");
    mb_result_set_latency(&r, &warm);
    r.errors = g_errors - (cold.n ? 0 : 1);
    snprintf(note, sizeof note, "%ld runs; median stop on SIGTERM %.0f ms, p99 %.0f ms", runs,
             ss.median_us / 1000, ss.p99_us / 1000);
    r.note = note;
    mb_result_emit(&r);
    mb_samples_free(&cold);
    mb_samples_free(&warm);
    mb_samples_free(&stops);
    return g_errors ? 1 : 0;
}
