/* mh_report.c - turns the bench programs' result lines (JSON lines, see mb_stats.h) into the one table
 * `make bench` prints and the JSON file it writes, with each figure's ratio to the floor measured in
 * the same run and the target next to it (printed, never enforced).
 *
 * usage: mh_report --in=results.jsonl --out=latest.json [--mode=full] [--commit=abc] [--nofile=N]
 *                  [--broker=version] [--floor=floor_tls]
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "mb_stats.h"

typedef struct target {
    const char *key;
    const char *text;
    int kind; /* 0 median <= x*floor_median, 1 throughput >= max(x*floor_tput, y), 2 median <= y us,
                     3 throughput >= y, 4 value <= y */
    double x, y;
} target;

static const target TARGETS[] = {
    {"method_seq", "median <= 2x floor seq", 0, 2.0, 0},
    {"method_c64", ">= 50% floor w64 and >= 10000/s", 1, 0.5, 10000},
    {"twin_reported", ">= 10000/s acknowledged", 3, 0, 10000},
    {"twin_desired", "median <= 1 ms", 2, 0, 1000},
    {"conn_rate", ">= 1000 connects/s", 3, 0, 1000},
    {"conn_rss", "<= 30 KiB per device", 4, 0, 30},
    {"query_reboot", "median <= 100 ms", 2, 0, 100000},
    {"query_groupby", "median <= 100 ms", 2, 0, 100000},
    {"startup_warm", "<= 1 s", 2, 0, 1000000},
    {"startup_cold", "<= 1 s", 2, 0, 1000000},
};

static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static cJSON *find(cJSON *arr, const char *key)
{
    cJSON *it;
    cJSON_ArrayForEach(it, arr) if (strcmp(str(it, "key"), key) == 0) return it;
    return NULL;
}

static void fmt_us(char *b, size_t n, double us)
{
    if (us < 0)
        snprintf(b, n, "-");
    else if (us < 1000)
        snprintf(b, n, "%.0f us", us);
    else if (us < 1e6)
        snprintf(b, n, "%.2f ms", us / 1000);
    else
        snprintf(b, n, "%.2f s", us / 1e6);
}

static void cpu_model(char *out, size_t n)
{
    snprintf(out, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ')
                    p++;
                p[strcspn(p, "\n")] = '\0';
                snprintf(out, n, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

static long mem_total_mib(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    long kb = 0;
    if (!f)
        return 0;
    if (fscanf(f, "MemTotal: %ld kB", &kb) != 1)
        kb = 0;
    fclose(f);
    return kb / 1024;
}

int main(int argc, char **argv)
{
    const char *in = mb_arg(argc, argv, "in", NULL);
    const char *out = mb_arg(argc, argv, "out", NULL);
    const char *floor = mb_arg(argc, argv, "floor", "floor_tls");
    if (!in)
        mb_die("usage: mh_report --in=results.jsonl [--out=latest.json]");
    FILE *f = fopen(in, "r");
    cJSON *figs = cJSON_CreateArray();
    long bad_lines = 0;
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
            cJSON *o = cJSON_Parse(line);
            if (o)
                cJSON_AddItemToArray(figs, o);
            else
                bad_lines++;
        }
        free(line);
        fclose(f);
    }
    char k_seq[64], k_win[64];
    snprintf(k_seq, sizeof k_seq, "%s_seq", floor);
    snprintf(k_win, sizeof k_win, "%s_w64", floor);
    cJSON *fs = find(figs, k_seq), *fw = find(figs, k_win);
    double floor_med = fs ? num(fs, "median_us", -1) : -1;
    double floor_tput = fw ? num(fw, "throughput", -1) : -1;

    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    struct utsname un;
    uname(&un);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    double la[3] = {0};
    getloadavg(la, 3);

    printf("\nmockhub bench (%s): %s, %ld cores, %ld MiB, Linux %s, %s, load %.2f\n",
           mb_arg(argc, argv, "mode", "full"), cpu, ncpu, mem_total_mib(), un.release,
           mb_arg(argc, argv, "broker", "mosquitto"), la[0]);
    printf("ratios: latency = median / floor sequential median (%s); throughput = / floor 64-outstanding "
           "(%s)\n\n",
           k_seq, k_win);
    printf("%-20s %-46s %9s %9s %13s %8s %7s %9s %6s  %-34s %s\n", "figure", "what", "median", "p99",
           "throughput", "x floor", "%floor", "srv us/op", "errors", "target", "");
    long total_errors = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, figs)
    {
        const char *key = str(it, "key");
        double med = num(it, "median_us", -1), p99 = num(it, "p99_us", -1), tput = num(it, "throughput", 0);
        double value = num(it, "value", 0);
        long errors = (long)num(it, "errors", 0);
        total_errors += errors;
        char bm[32], bp[32], bt[48], rl[16] = "-", rt[16] = "-";
        fmt_us(bm, sizeof bm, med);
        fmt_us(bp, sizeof bp, p99);
        if (tput > 0)
            snprintf(bt, sizeof bt, "%.0f/s", tput);
        else if (cJSON_GetObjectItem(it, "value_unit"))
            snprintf(bt, sizeof bt, "%.1f %s", value, str(it, "value_unit"));
        else
            snprintf(bt, sizeof bt, "-");
        if (med >= 0 && floor_med > 0) {
            double r = med / floor_med;
            snprintf(rl, sizeof rl, "%.2fx", r);
            cJSON_AddNumberToObject(it, "ratio_median", r);
        }
        if (tput > 0 && floor_tput > 0) {
            double r = tput / floor_tput;
            snprintf(rt, sizeof rt, "%.0f%%", r * 100);
            cJSON_AddNumberToObject(it, "ratio_throughput", r);
        }
        const char *ttext = "";
        const char *met = "";
        for (size_t i = 0; i < sizeof TARGETS / sizeof TARGETS[0]; i++) {
            const target *t = &TARGETS[i];
            if (strcmp(t->key, key) != 0)
                continue;
            int ok = -1;
            if (t->kind == 0 && med >= 0 && floor_med > 0)
                ok = med <= t->x * floor_med;
            if (t->kind == 1 && floor_tput > 0)
                ok = tput >= t->x * floor_tput && tput >= t->y;
            if (t->kind == 2 && med >= 0)
                ok = med <= t->y;
            if (t->kind == 3)
                ok = tput >= t->y;
            if (t->kind == 4)
                ok = value <= t->y;
            ttext = t->text;
            met = ok < 0 ? "?" : ok ? "met" : "MISSED";
            cJSON_AddStringToObject(it, "target", t->text);
            if (ok >= 0)
                cJSON_AddBoolToObject(it, "target_met", ok);
        }
        char so[24] = "-";
        double sop = num(it, "server_cpu_us_per_op", -1);
        if (sop >= 0)
            snprintf(so, sizeof so, "%.0f", sop);
        printf("%-20s %-46.46s %9s %9s %13s %8s %7s %9s %6ld  %-34s %s\n", key, str(it, "label"), bm, bp, bt,
               rl, rt, so, errors, ttext, met);
    }
    if (bad_lines)
        printf("(%ld unreadable result lines)\n", bad_lines);
    printf("\n");

    if (out) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *m = cJSON_AddObjectToObject(doc, "machine");
        cJSON_AddStringToObject(m, "cpu", cpu);
        cJSON_AddNumberToObject(m, "cores", (double)ncpu);
        cJSON_AddNumberToObject(m, "mem_mib", (double)mem_total_mib());
        cJSON_AddStringToObject(m, "kernel", un.release);
        cJSON_AddNumberToObject(m, "load1_at_end", la[0]);
        cJSON_AddStringToObject(m, "broker", mb_arg(argc, argv, "broker", ""));
        cJSON_AddNumberToObject(m, "nofile", (double)mb_arg_long(argc, argv, "nofile", 0));
        cJSON_AddStringToObject(doc, "date", date);
        cJSON_AddStringToObject(doc, "commit", mb_arg(argc, argv, "commit", ""));
        cJSON_AddStringToObject(doc, "mode", mb_arg(argc, argv, "mode", "full"));
        cJSON_AddStringToObject(doc, "command", "make bench");
        cJSON *fl = cJSON_AddObjectToObject(doc, "floor");
        cJSON_AddStringToObject(fl, "latency_key", k_seq);
        cJSON_AddStringToObject(fl, "throughput_key", k_win);
        cJSON_AddNumberToObject(fl, "median_us", floor_med);
        cJSON_AddNumberToObject(fl, "throughput", floor_tput);
        cJSON_AddItemToObject(doc, "figures", figs);
        figs = NULL;
        char *txt = cJSON_Print(doc);
        FILE *o = fopen(out, "w");
        if (!o || !txt)
            mb_die("cannot write %s", out);
        fprintf(o, "%s\n", txt);
        fclose(o);
        free(txt);
        cJSON_Delete(doc);
        printf("JSON: %s\n", out);
    }
    cJSON_Delete(figs);
    if (total_errors)
        printf("%ld operations failed: see the errors column and the bench output above\n", total_errors);
    return total_errors ? 1 : 0;
}
