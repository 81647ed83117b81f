/* hub_devsim: run N simulated devices through the hub in phases (register,
 * activate, apply, connect, publish) with T worker threads, and report per
 * phase the rate and the p50/p99 latency, plus the hub's peak RSS.
 *
 *   hub_devsim --api URL --ca FILE --product PK --product-secret S
 *              [--token T --register] [--devices N] [--threads T]
 *              [--messages M --mqtt-host H --mqtt-port P] [--prefix P]
 *              [--log FILE] [--hub-pid PID] [--label TEXT] [--keys DIR]
 * --keys DIR leaves each enrolled device's key and certificate in DIR/<dk>.pem
 * and "dk secret" lines in DIR/devices.txt, so that hub_storm (storm.c) can
 * log the same devices in again without enrolling them.
 * Exit status 1 if any device failed a step. */
#include <mosquitto.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include "devsim.h"

double sim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef int (*step_fn)(CURL *c, const sim_cfg *cfg, sim_dev *d);

typedef struct phase {
    step_fn fn;
    const sim_cfg *cfg;
    sim_dev *devs;
    int n; /* devices in this run */
    double *lat;
    atomic_int next, failed;
} phase;

static void *worker(void *arg)
{
    phase *p = arg;
    CURL *c = sim_curl(p->cfg);
    int i;
    while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
        double t0 = sim_now();
        if (p->fn(c, p->cfg, &p->devs[i]) != 0)
            atomic_fetch_add(&p->failed, 1);
        p->lat[i] = sim_now() - t0;
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Totals of one phase over one or more batches. */
typedef struct stats {
    double wall;
    int failed;
    double *lat; /* cfg->devices entries */
} stats;

/* Run fn over devs[0..n) with the worker threads; latencies go to lat. */
static void run_batch(step_fn fn, const sim_cfg *cfg, sim_dev *devs, int n, double *lat, stats *st)
{
    phase p = {.fn = fn, .cfg = cfg, .devs = devs, .n = n, .lat = lat};
    pthread_t th[64];
    int nt = cfg->threads > 64 ? 64 : cfg->threads;
    double t0 = sim_now();
    for (int i = 0; i < nt; i++)
        pthread_create(&th[i], NULL, worker, &p);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    st->wall += sim_now() - t0;
    st->failed += p.failed;
}

static int report(const char *name, const sim_cfg *cfg, stats *st, int units, const char *label)
{
    int n = cfg->devices, ok = n - st->failed;
    qsort(st->lat, (size_t)n, sizeof(double), cmp_d);
    double p50 = st->lat[n / 2] * 1000;
    double p99 = st->lat[n >= 100 ? (n * 99) / 100 - 1 : n - 1] * 1000;
    printf("{\"label\":\"%s\",\"phase\":\"%s\",\"ok\":%d,\"failed\":%d,\"wall_s\":%.3f,"
           "\"rate_per_s\":%.1f,\"p50_ms\":%.1f,\"p99_ms\":%.1f}\n",
           label, name, ok, st->failed, st->wall, (double)ok * units / st->wall, p50, p99);
    fflush(stdout);
    return st->failed ? -1 : 0;
}

static int run(const char *name, step_fn fn, const sim_cfg *cfg, sim_dev *devs, int units,
               const char *label)
{
    stats st = {0};
    st.lat = calloc((size_t)cfg->devices, sizeof(double));
    run_batch(fn, cfg, devs, cfg->devices, st.lat, &st);
    int rc = report(name, cfg, &st, units, label);
    free(st.lat);
    return rc;
}

static int step_register(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    return sim_register(c, cfg, d);
}
static int step_activate(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    return sim_activate(c, cfg, d);
}
static int step_apply(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    return sim_apply(c, cfg, d);
}
static int step_connect(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    (void)c;
    return sim_connect(cfg, d);
}
static int step_publish(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    (void)c;
    return sim_publish(cfg, d);
}
static int step_disconnect(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    (void)c, (void)cfg;
    sim_disconnect(d);
    return 0;
}

/* MQTT in batches of MQTT_BATCH live sessions: libmosquitto's select()
 * cannot watch descriptors past FD_SETSIZE (each session holds three). */
#define MQTT_BATCH 200

static int run_mqtt(const sim_cfg *cfg, sim_dev *devs, const char *label)
{
    stats con = {0}, pub = {0}, dis = {0};
    size_t n = (size_t)cfg->devices;
    con.lat = calloc(n, sizeof(double));
    pub.lat = calloc(n, sizeof(double));
    dis.lat = calloc(n, sizeof(double));
    for (int off = 0; off < cfg->devices; off += MQTT_BATCH) {
        int b = cfg->devices - off < MQTT_BATCH ? cfg->devices - off : MQTT_BATCH;
        run_batch(step_connect, cfg, devs + off, b, con.lat + off, &con);
        run_batch(step_publish, cfg, devs + off, b, pub.lat + off, &pub);
        run_batch(step_disconnect, cfg, devs + off, b, dis.lat + off, &dis);
    }
    int rc = report("connect", cfg, &con, 1, label);
    rc |= report("publish", cfg, &pub, cfg->messages, label);
    report("disconnect", cfg, &dis, 1, label);
    free(con.lat);
    free(pub.lat);
    free(dis.lat);
    return rc;
}

static long hub_rss_kb(const char *pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* DIR/<dk>.pem (key, then certificate) and DIR/devices.txt for the enrolled
 * devices; the key files are 0600 as any private key should be. */
static int save_keys(const char *dir, const sim_dev *devs, int n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/devices.txt", dir);
    FILE *list = fopen(path, "w");
    if (!list) {
        perror(path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!devs[i].key || !devs[i].cert)
            continue;
        snprintf(path, sizeof(path), "%s/%s.pem", dir, devs[i].dk);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f || !PEM_write_PrivateKey(f, devs[i].key, NULL, NULL, 0, NULL, NULL) ||
            !PEM_write_X509(f, devs[i].cert))
            rc = -1;
        if (f)
            rc |= fclose(f) ? -1 : 0;
        else if (fd >= 0)
            close(fd);
        fprintf(list, "%s %s\n", devs[i].dk, devs[i].secret);
    }
    rc |= fclose(list) ? -1 : 0;
    if (rc)
        fprintf(stderr, "hub_devsim: cannot write the device keys to %s\n", dir);
    return rc;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    sim_cfg cfg = {0};
    cfg.api = arg(argc, argv, "--api", NULL);
    cfg.ca = arg(argc, argv, "--ca", NULL);
    cfg.token = arg(argc, argv, "--token", "");
    cfg.pk = arg(argc, argv, "--product", NULL);
    cfg.psecret = arg(argc, argv, "--product-secret", NULL);
    cfg.prefix = arg(argc, argv, "--prefix", "SIM");
    cfg.mqtt_host = arg(argc, argv, "--mqtt-host", "localhost");
    cfg.mqtt_port = atoi(arg(argc, argv, "--mqtt-port", "0"));
    cfg.devices = atoi(arg(argc, argv, "--devices", "10"));
    cfg.messages = atoi(arg(argc, argv, "--messages", "10"));
    cfg.threads = atoi(arg(argc, argv, "--threads", "4"));
    const char *logp = arg(argc, argv, "--log", NULL), *pid = arg(argc, argv, "--hub-pid", NULL);
    const char *label = arg(argc, argv, "--label", "hub");
    const char *keys = arg(argc, argv, "--keys", NULL);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--register") == 0)
            cfg.register_devices = 1;
    if (!cfg.api || !cfg.ca || !cfg.pk || !cfg.psecret || cfg.devices < 1 || cfg.threads < 1) {
        fprintf(stderr, "usage: hub_devsim --api URL --ca FILE --product PK --product-secret S "
                        "[--token T --register] [--devices N] [--threads T] [--messages M "
                        "--mqtt-host H --mqtt-port P] [--prefix P] [--log FILE] [--hub-pid PID] "
                        "[--keys DIR]\n");
        return 2;
    }
    if (logp && !(cfg.log = fopen(logp, "a"))) {
        perror(logp);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mosquitto_lib_init();
    sim_dev *devs = calloc((size_t)cfg.devices, sizeof(*devs));
    for (int i = 0; i < cfg.devices; i++)
        snprintf(devs[i].dk, sizeof(devs[i].dk), "%s%05d", cfg.prefix, i);
    int rc = 0;
    if (cfg.register_devices)
        rc |= run("register", step_register, &cfg, devs, 1, label);
    rc |= run("activate", step_activate, &cfg, devs, 1, label);
    rc |= run("apply", step_apply, &cfg, devs, 1, label);
    if (cfg.mqtt_port > 0 && rc == 0)
        rc |= run_mqtt(&cfg, devs, label);
    if (keys)
        rc |= save_keys(keys, devs, cfg.devices);
    if (pid)
        printf("{\"label\":\"%s\",\"hub_peak_rss_kb\":%ld}\n", label, hub_rss_kb(pid));
    for (int i = 0; i < cfg.devices; i++) {
        EVP_PKEY_free(devs[i].key);
        X509_free(devs[i].cert);
    }
    free(devs);
    if (cfg.log)
        fclose(cfg.log);
    mosquitto_lib_cleanup();
    curl_global_cleanup();
    return rc ? 1 : 0;
}
