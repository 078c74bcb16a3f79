/* mb_stats.c - bench clock, latency samples and result records (see mb_stats.h). */
#include "mb_stats.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t mb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double mb_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

void mb_samples_add(mb_samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4096;
        if (ncap > MB_SAMPLES_MAX)
            ncap = MB_SAMPLES_MAX;
        if (ncap <= s->cap) {
            s->dropped++;
            return;
        }
        uint64_t *nv = realloc(s->v, ncap * sizeof *nv);
        if (!nv) {
            s->dropped++;
            return;
        }
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = ns;
}

void mb_samples_free(mb_samples *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double pct(const mb_samples *s, double p)
{
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    if (i >= s->n)
        i = s->n - 1;
    return (double)s->v[i] / 1000.0;
}

void mb_samples_summarize(mb_samples *s, mb_summary *out)
{
    memset(out, 0, sizeof *out);
    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof s->v[0], cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += (double)s->v[i];
    out->n = s->n;
    out->median_us = pct(s, 0.5);
    out->p99_us = pct(s, 0.99);
    out->mean_us = sum / (double)s->n / 1000.0;
    out->max_us = (double)s->v[s->n - 1] / 1000.0;
}

void mb_result_init(mb_result *r, const char *key, const char *label)
{
    memset(r, 0, sizeof *r);
    r->key = key;
    r->label = label;
    r->median_us = -1;
    r->p99_us = -1;
    r->server_cpu = -1;
    r->server_us_per_op = -1;
    r->daemon_us_per_op = -1;
}

int mb_proc_parent(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* comm may contain spaces */
    int ppid = -1;
    char st;
    if (!p || sscanf(p + 1, " %c %d", &st, &ppid) != 2)
        return -1;
    return ppid;
}

/* CPU seconds of every live thread of pid, from /proc/<pid>/task/<tid>/schedstat (nanoseconds; the
 * clock-tick counters in /proc/<pid>/stat are too coarse for short phases). */
static double proc_cpu_s(int pid)
{
    char path[96], buf[128];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    double total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%.16s/schedstat", pid, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        unsigned long long ns = 0;
        if (fgets(buf, sizeof buf, f) && sscanf(buf, "%llu", &ns) == 1)
            total += (double)ns / 1e9;
        fclose(f);
    }
    closedir(d);
    return total;
}

double mb_proc_tree_cpu_s(int root_pid)
{
    if (root_pid <= 0)
        return -1;
    double total = proc_cpu_s(root_pid);
    if (total < 0)
        return -1;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pid = atoi(e->d_name);
        for (int p = mb_proc_parent(pid), hops = 0; p > 1 && hops < 8; p = mb_proc_parent(p), hops++) {
            if (p == root_pid) {
                double c = proc_cpu_s(pid);
                if (c > 0)
                    total += c;
                break;
            }
        }
    }
    if (d)
        closedir(d);
    return total;
}

void mb_phase_begin(mb_phase *p, int server_pid)
{
    p->server_pid = server_pid;
    p->srv0 = mb_proc_tree_cpu_s(server_pid);
    p->own0 = server_pid > 0 ? proc_cpu_s(server_pid) : -1;
    p->cpu0 = mb_cpu_s();
    p->t0 = mb_now_ns();
}

double mb_phase_end(const mb_phase *p, mb_result *r, double ops)
{
    double wall = (double)(mb_now_ns() - p->t0) / 1e9;
    if (wall <= 0)
        wall = 1e-9;
    r->client_cpu = (mb_cpu_s() - p->cpu0) / wall;
    double srv = mb_proc_tree_cpu_s(p->server_pid);
    if (p->srv0 >= 0 && srv >= 0) {
        r->server_cpu = (srv - p->srv0) / wall;
        if (ops > 0)
            r->server_us_per_op = (srv - p->srv0) * 1e6 / ops;
    }
    double own = p->server_pid > 0 ? proc_cpu_s(p->server_pid) : -1;
    if (p->own0 >= 0 && own >= 0 && ops > 0)
        r->daemon_us_per_op = (own - p->own0) * 1e6 / ops;
    return wall;
}

void mb_result_set_latency(mb_result *r, mb_samples *s)
{
    mb_summary sm;
    mb_samples_summarize(s, &sm);
    if (sm.n == 0)
        return;
    r->median_us = sm.median_us;
    r->p99_us = sm.p99_us;
    if (r->n == 0)
        r->n = sm.n;
}

void mb_result_emit(const mb_result *r)
{
    printf("  %-16s %-44s", r->key, r->label ? r->label : "");
    if (r->median_us >= 0)
        printf(" median %8.1f us  p99 %8.1f us", r->median_us, r->p99_us);
    if (r->throughput > 0)
        printf("  %10.0f %s", r->throughput, r->unit ? r->unit : "ops/s");
    if (r->value_unit)
        printf("  %.2f %s", r->value, r->value_unit);
    printf("  n=%zu errors=%ld cpu=%.2f", r->n, r->errors, r->client_cpu);
    if (r->server_cpu >= 0)
        printf(" server_cpu=%.2f", r->server_cpu);
    if (r->server_us_per_op >= 0)
        printf(" server_us/op=%.1f", r->server_us_per_op);
    if (r->daemon_us_per_op >= 0)
        printf(" (daemon %.1f)", r->daemon_us_per_op);
    printf("\n");
    if (r->note)
        printf("  %-16s   note: %s\n", "", r->note);
    fflush(stdout);

    const char *path = getenv("MB_RESULTS");
    if (!path || !*path)
        return;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "key", r->key);
    cJSON_AddStringToObject(o, "label", r->label ? r->label : "");
    cJSON_AddNumberToObject(o, "n", (double)r->n);
    if (r->median_us >= 0) {
        cJSON_AddNumberToObject(o, "median_us", r->median_us);
        cJSON_AddNumberToObject(o, "p99_us", r->p99_us);
    }
    if (r->throughput > 0) {
        cJSON_AddNumberToObject(o, "throughput", r->throughput);
        cJSON_AddStringToObject(o, "unit", r->unit ? r->unit : "ops/s");
    }
    if (r->value_unit) {
        cJSON_AddNumberToObject(o, "value", r->value);
        cJSON_AddStringToObject(o, "value_unit", r->value_unit);
    }
    cJSON_AddNumberToObject(o, "errors", (double)r->errors);
    cJSON_AddNumberToObject(o, "client_cpu", r->client_cpu);
    if (r->server_cpu >= 0)
        cJSON_AddNumberToObject(o, "server_cpu", r->server_cpu);
    if (r->server_us_per_op >= 0)
        cJSON_AddNumberToObject(o, "server_cpu_us_per_op", r->server_us_per_op);
    if (r->daemon_us_per_op >= 0)
        cJSON_AddNumberToObject(o, "daemon_cpu_us_per_op", r->daemon_us_per_op);
    if (r->note)
        cJSON_AddStringToObject(o, "note", r->note);
    char *txt = cJSON_PrintUnformatted(o);
    FILE *f = txt ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", txt);
        fclose(f);
    }
    free(txt);
    cJSON_Delete(o);
}

const char *mb_arg(int argc, char **argv, const char *name, const char *dflt)
{
    size_t nl = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, nl) == 0 && argv[i][2 + nl] == '=')
            return argv[i] + 3 + nl;
    }
    return dflt;
}

long mb_arg_long(int argc, char **argv, const char *name, long dflt)
{
    const char *v = mb_arg(argc, argv, name, NULL);
    return v ? strtol(v, NULL, 10) : dflt;
}

double mb_arg_double(int argc, char **argv, const char *name, double dflt)
{
    const char *v = mb_arg(argc, argv, name, NULL);
    return v ? strtod(v, NULL) : dflt;
}

int mb_arg_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, name) == 0)
            return 1;
    return 0;
}

void mb_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

long mb_raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if ((long)rl.rlim_cur >= want)
        return (long)rl.rlim_cur;
    struct rlimit nrl = rl;
    nrl.rlim_cur = (rlim_t)want;
    if (nrl.rlim_max < nrl.rlim_cur)
        nrl.rlim_max = nrl.rlim_cur; /* works as root */
    if (setrlimit(RLIMIT_NOFILE, &nrl) != 0) {
        nrl.rlim_cur = rl.rlim_max;
        nrl.rlim_max = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nrl) != 0)
            return (long)rl.rlim_cur;
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}
