/* edge-client: wall clock rollback detection with the TPM clock (clock.h). */
#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/params.h>
#include <openssl/provider.h>

#include "enroll.h"
#include "tpmkey.h"

static int rolled_back; /* sticky for the process: see edge_clock_rolled_back */

int edge_clock_rolled_back(void)
{
    return rolled_back;
}

typedef struct {
    int64_t wall_ms;
    uint64_t tpm_ms;
    uint32_t resets, restarts;
    int safe;
} mark_t;

/* One TPM2_ReadClock through the provider's parameters. */
static int read_tpm(mark_t *m)
{
    OSSL_PROVIDER *p = edge_provider_edgekey();
    unsigned int resets = 0, restarts = 0;
    int safe = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_uint64("edgekey-tpm-clock", &m->tpm_ms),
        OSSL_PARAM_uint("edgekey-tpm-reset-count", &resets),
        OSSL_PARAM_uint("edgekey-tpm-restart-count", &restarts),
        OSSL_PARAM_int("edgekey-tpm-clock-safe", &safe),
        OSSL_PARAM_END,
    };
    if (p == NULL || !OSSL_PROVIDER_get_params(p, params) || !OSSL_PARAM_modified(&params[0])) {
        edge_ossl_error("cannot read the TPM clock (provider parameter edgekey-tpm-clock); "
                        "check the TPM connection (EDGEKEY_TCTI) and that edgekey.so is current");
        return -1;
    }
    m->resets = resets;
    m->restarts = restarts;
    m->safe = safe;
    return 0;
}

static void mark_path(const edge_config *c, char *out, size_t size)
{
    snprintf(out, size, "%s/clock.mark", c->data_dir);
}

/* 0 read, 1 no mark yet, -1 unreadable. */
static int mark_load(const char *path, mark_t *m)
{
    char *s = edge_read_file(path);
    long long w;
    unsigned long long t;
    unsigned r1, r2;

    if (s == NULL)
        return errno == ENOENT ? 1 : -1;
    int n = sscanf(s, "wall_ms=%lld tpm_clock_ms=%llu reset_count=%u restart_count=%u", &w, &t, &r1,
                   &r2);
    free(s);
    if (n != 4) {
        fprintf(stderr,
                "edge-client: %s is damaged; delete it only if the wall clock is known "
                "to be right (it is the rollback high-water mark)\n",
                path);
        return -1;
    }
    m->wall_ms = w;
    m->tpm_ms = t;
    m->resets = r1;
    m->restarts = r2;
    return 0;
}

static int mark_save(const char *path, const mark_t *m)
{
    char buf[160];
    snprintf(buf, sizeof(buf), "wall_ms=%lld tpm_clock_ms=%llu reset_count=%u restart_count=%u\n",
             (long long)m->wall_ms, (unsigned long long)m->tpm_ms, m->resets, m->restarts);
    return edge_write_file(path, buf, 0644);
}

static void iso(int64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void say_rollback(const mark_t *mark, const mark_t *now, int64_t wall_d, int64_t tpm_d)
{
    char a[32], b[32];
    iso(now->wall_ms, a, sizeof(a));
    iso(mark->wall_ms, b, sizeof(b));
    fprintf(stderr,
            "edge-client: CLOCK ROLLBACK detected: the wall clock says %s, the last trusted time "
            "was %s; since then the TPM clock advanced %+.1f s but the wall clock %+.1f s.\n"
            "edge-client: certificate validity cannot be trusted: refusing to connect and to "
            "renew. Fix the system time (NTP) and start again.\n",
            a, b, (double)tpm_d / 1000.0, (double)wall_d / 1000.0);
}

int edge_clock_check(const edge_config *c)
{
    char path[1100];
    mark_t mark, now = {0};
    int64_t tol = (int64_t)c->clock_tolerance_s * 1000, drift;
    int have;

    mark_path(c, path, sizeof(path));
    if (read_tpm(&now) != 0)
        return -1;
    now.wall_ms = edge_now_ms();
    if ((have = mark_load(path, &mark)) < 0)
        return -1;
    if (have == 0) {
        int64_t wall_d = now.wall_ms - mark.wall_ms;
        int tpm_ok = now.tpm_ms >= mark.tpm_ms;
        int64_t tpm_d = tpm_ok ? (int64_t)(now.tpm_ms - mark.tpm_ms) : 0;
        /* a TPM oscillator is not a precise clock: allow clock_drift_pct of
         * the time passed on top of the fixed tolerance */
        drift = wall_d > 0 ? wall_d / 100 * c->clock_drift_pct : 0;
        if (wall_d < -tol || (tpm_ok && tpm_d - wall_d > tol + drift)) {
            say_rollback(&mark, &now, wall_d, tpm_d);
            rolled_back = 1;
            return EDGE_CLOCK_ROLLBACK;
        }
        if (!tpm_ok)
            fprintf(stderr,
                    "edge-client: warning: the TPM clock is behind the mark in %s (TPM "
                    "cleared or replaced?): re-basing the rollback check on it\n",
                    path);
        /* high-water: never move the wall mark back (within tolerance) */
        if (now.wall_ms < mark.wall_ms && tpm_ok)
            return EDGE_CLOCK_OK;
    }
    if (!now.safe)
        fprintf(stderr, "edge-client: note: the TPM reports its clock as not safe (it may have "
                        "lost time at an unorderly shutdown): the rollback check is less strict\n");
    return mark_save(path, &now) == 0 ? EDGE_CLOCK_OK : -1;
}
