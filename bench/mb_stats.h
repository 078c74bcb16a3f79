/* mb_stats.h - bench clock, latency samples and result records.
 *
 * Every bench program measures into mb_samples and emits one mb_result per figure: a JSON line appended
 * to $MB_RESULTS (read by mh_report, which prints the table) and a human line on stdout.
 */
#ifndef MB_STATS_H
#define MB_STATS_H

#include <stddef.h>
#include <stdint.h>

uint64_t mb_now_ns(void); /* CLOCK_MONOTONIC */
double mb_cpu_s(void);    /* user+system CPU seconds of this process (all threads) */

/* Latencies in nanoseconds; grows to at most MB_SAMPLES_MAX values (later ones are counted only). */
#define MB_SAMPLES_MAX 20000000u
typedef struct mb_samples {
    uint64_t *v;
    size_t n, cap;
    size_t dropped;
} mb_samples;

void mb_samples_add(mb_samples *s, uint64_t ns);
void mb_samples_free(mb_samples *s);

typedef struct mb_summary {
    size_t n;
    double median_us, p99_us, mean_us, max_us;
} mb_summary;

void mb_samples_summarize(mb_samples *s, mb_summary *out); /* sorts s in place */

/* One figure. Any field may be left 0/NULL: median/p99 < 0 means "not a latency figure". */
typedef struct mb_result {
    const char *key;   /* stable id, e.g. "floor_tls_seq", "method_c64" */
    const char *label; /* human text for the table */
    size_t n;          /* operations measured */
    double median_us, p99_us;
    double throughput; /* operations per second, 0 when not meaningful */
    const char *unit;  /* unit of throughput, e.g. "calls/s" */
    double value;      /* a single value figure (memory, seconds), with value_unit */
    const char *value_unit;
    long errors;             /* every failed or lost operation */
    double client_cpu;       /* bench process CPU seconds / wall seconds over the run (load generator cost) */
    double server_cpu;       /* hub + broker CPU seconds / wall seconds over the run; < 0 unknown */
    double server_us_per_op; /* hub + broker CPU microseconds per operation; < 0 unknown */
    double daemon_us_per_op; /* of which the hub process itself (daemon, not the broker); < 0 unknown */
    const char *note;        /* free text (settings, what bounds it) */
} mb_result;

void mb_result_init(mb_result *r, const char *key, const char *label);
void mb_result_set_latency(mb_result *r, mb_samples *s);
void mb_result_emit(const mb_result *r);

/* CPU seconds (user + system) used so far by process root_pid and all its descendants; < 0 when
 * root_pid is not running. The hub's tree is the daemon plus its broker. */
double mb_proc_tree_cpu_s(int root_pid);
int mb_proc_parent(int pid); /* -1 when unknown */

/* Measures a phase: client and server CPU over wall time. */
typedef struct mb_phase {
    int server_pid;
    uint64_t t0;
    double cpu0, srv0, own0;
} mb_phase;
void mb_phase_begin(mb_phase *p, int server_pid);
/* Fills r->client_cpu, r->server_cpu and (ops > 0) r->server_us_per_op; returns the wall seconds. */
double mb_phase_end(const mb_phase *p, mb_result *r, double ops);

/* Command-line helpers shared by the bench programs: "--name=value" parsing. */
const char *mb_arg(int argc, char **argv, const char *name, const char *dflt);
long mb_arg_long(int argc, char **argv, const char *name, long dflt);
double mb_arg_double(int argc, char **argv, const char *name, double dflt);
int mb_arg_flag(int argc, char **argv, const char *name);

/* Prints "bench: <msg>" to stderr and exits 2 (setup failure, not a measurement). */
void mb_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Raises RLIMIT_NOFILE to at least want (up to the hard limit, or beyond it when root); returns the
 * soft limit now in force. */
long mb_raise_nofile(long want);

#endif
