/* Timing shared by every benchmark program (header only, no library, so
 * esys_floor still links tss2 alone).
 *
 * A case runs for `seconds` split into `rounds` equal windows and reports
 * the best window's rate, with the median beside it: on a shared machine
 * (2 cores, swtpm and tpm2-abrmd competing with the client) the best window
 * is the one least disturbed by others, and ratios of best rates taken in
 * the same run are what docs/performance.md compares. */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#define BM_MAX_ROUNDS 16

typedef struct bm_result {
    double best, median; /* operations per second */
    unsigned long n;     /* operations in all rounds */
    double cpu_us;       /* this process's CPU time (user + system) per operation:
                          * the client's own cost, which waiting for the TPM
                          * and other processes' load hardly change */
} bm_result;

static inline double bm_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static inline double bm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bm_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Rounds from BENCH_ROUNDS (default 3, at most BM_MAX_ROUNDS). */
static inline int bm_rounds(void)
{
    const char *e = getenv("BENCH_ROUNDS");
    int r = e ? atoi(e) : 3;
    return r < 1 ? 1 : r > BM_MAX_ROUNDS ? BM_MAX_ROUNDS : r;
}

/* Call op(arg, i) until each window is over; op returns 0 on success.
 * Returns 0, or op's failure. */
static inline int bm_measure(double seconds, int (*op)(void *arg, unsigned long i), void *arg,
                             bm_result *out)
{
    int rounds = bm_rounds();
    double rates[BM_MAX_ROUNDS], win = seconds / rounds;
    unsigned long i = 0;
    double cpu0 = bm_cpu_s();
    for (int r = 0; r < rounds; r++) {
        unsigned long n = 0;
        double t0 = bm_now(), t;
        do {
            int rc = op(arg, i++);
            if (rc != 0)
                return rc;
            n++;
            t = bm_now();
        } while (t - t0 < win);
        rates[r] = (double)n / (t - t0);
    }
    out->cpu_us = (bm_cpu_s() - cpu0) * 1e6 / (double)i;
    qsort(rates, (size_t)rounds, sizeof rates[0], bm_cmp);
    out->best = rates[rounds - 1];
    out->median = rates[rounds / 2];
    out->n = i;
    return 0;
}

#endif
