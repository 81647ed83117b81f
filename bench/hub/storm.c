/* hub_storm: MQTT connect storm at the broker. Each enrolled device (as left
 * by hub_devsim --keys DIR) opens TCP, does a mutual-TLS handshake with its
 * own certificate, sends an MQTT 3.1.1 CONNECT with the EnOS login, waits for
 * CONNACK 0, then DISCONNECT and close. libmosquitto cannot hand a saved
 * TLS session back to OpenSSL, hence this client of its own.
 *
 *   hub_storm --host H --port P --ca FILE --product PK --keys DIR
 *             [--devices N] [--threads T] [--resume] [--tls-only] [--label TEXT]
 *             [--cpu-pid PID]
 * --resume: one unmeasured connect per device keeps its SSL_SESSION, then
 * the measured connects offer it back (TLS 1.2 ticket or session id);
 * SSL_session_reused() tells whether the broker took it.
 * --cpu-pid PID: the CPU time that process (the broker) spent during the
 * measured connects, per connect; on a shared machine that figure moves far
 * less with the load than connects/s do. tls_p50_ms is TCP + handshake alone.
 * --tls-only: the measured connects do the handshake and close_notify
 * without MQTT, which tells the broker's TLS cost apart from its MQTT and
 * login (plugin) cost. The --resume warm-up still logs in: with a warm-up
 * that also left before CONNECT, the broker took none of the sessions back
 * (seen once with 2,000 devices; the cause is not known yet).
 * Prints one JSON line; exit status 1 if any connect failed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "hub_util.h"
#include "mqtt_login.h"

typedef struct dev {
    char dk[64], secret[65];
    EVP_PKEY *key;
    X509 *cert;
    SSL_SESSION *sess; /* --resume: from the unmeasured connect */
} dev;

typedef struct storm {
    SSL_CTX *ctx;
    struct sockaddr_in addr;
    const char *pk;
    dev *devs;
    int n, measure, tls_only;
    double *lat, *lat_tls;
    atomic_int next, failed, reused;
    atomic_int errs_logged;
} storm;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Only the first few failures are printed: a refused resumption would
 * otherwise print 2,000 identical lines. */
static void why(storm *s, const dev *d, const char *what)
{
    if (atomic_fetch_add(&s->errs_logged, 1) >= 5)
        return;
    unsigned long e = ERR_peek_last_error();
    fprintf(stderr, "hub_storm: %s: %s%s%s\n", d->dk, what, e ? ": " : "",
            e ? ERR_reason_error_string(e) : "");
}

static size_t put_str(unsigned char *p, const char *s)
{
    size_t n = strlen(s);
    p[0] = (unsigned char)(n >> 8);
    p[1] = (unsigned char)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

/* MQTT 3.1.1 CONNECT (clean session, user name and password, keep-alive
 * 60 s) with the login the broker plugin checks (mqtt_login.c). */
static int connect_packet(const storm *s, const dev *d, unsigned char *out, size_t outsize)
{
    char cid[256], user[160], pw[65];
    unsigned char body[600];
    int64_t ts = hub_now_ms();
    hub_mqtt_clientid(d->dk, ts, cid, sizeof(cid));
    snprintf(user, sizeof(user), "%s&%s", d->dk, s->pk);
    hub_mqtt_password(d->dk, d->dk, s->pk, ts, d->secret, pw);
    static const unsigned char vh[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0, 60};
    size_t n = sizeof(vh);
    if (n + strlen(cid) + strlen(user) + strlen(pw) + 6 > sizeof(body))
        return -1;
    memcpy(body, vh, n);
    n += put_str(body + n, cid);
    n += put_str(body + n, user);
    n += put_str(body + n, pw);
    /* remaining length < 16384: two bytes of varint at most */
    size_t h = 0;
    out[h++] = 0x10;
    if (n < 128) {
        out[h++] = (unsigned char)n;
    } else {
        out[h++] = (unsigned char)((n & 0x7f) | 0x80);
        out[h++] = (unsigned char)(n >> 7);
    }
    if (h + n > outsize)
        return -1;
    memcpy(out + h, body, n);
    return (int)(h + n);
}

static int read_full(SSL *ssl, unsigned char *buf, int n)
{
    for (int got = 0; got < n;) {
        int r = SSL_read(ssl, buf + got, n - got);
        if (r <= 0)
            return -1;
        got += r;
    }
    return 0;
}

/* One device: TCP, TLS, CONNECT, CONNACK 0, DISCONNECT, close. */
static int one_connect(storm *s, dev *d, int *reused, double *tls_s)
{
    double t0 = now_s();
    unsigned char pkt[700], ack[4];
    int len = connect_packet(s, d, pkt, sizeof(pkt));
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, rc = -1;
    SSL *ssl = NULL;
    if (len < 0 || fd < 0)
        goto out;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) != 0) {
        why(s, d, "TCP connect failed");
        goto out;
    }
    ssl = SSL_new(s->ctx);
    if (!ssl || !SSL_use_certificate(ssl, d->cert) || !SSL_use_PrivateKey(ssl, d->key) ||
        !SSL_set_fd(ssl, fd) || (d->sess && !SSL_set_session(ssl, d->sess)))
        goto out;
    if (SSL_connect(ssl) != 1) {
        why(s, d, d->sess ? "TLS handshake (resuming) failed" : "TLS handshake failed");
        goto out;
    }
    *reused = SSL_session_reused(ssl);
    *tls_s = now_s() - t0;
    if (s->tls_only && s->measure)
        goto done;
    if (SSL_write(ssl, pkt, len) != len || read_full(ssl, ack, 4) != 0) {
        why(s, d, "no CONNACK (login refused? see the broker log)");
        goto out;
    }
    if (ack[0] != 0x20 || ack[1] != 2 || ack[3] != 0) {
        why(s, d, "CONNACK refused the login");
        goto out;
    }
    static const unsigned char disc[] = {0xE0, 0};
    SSL_write(ssl, disc, sizeof(disc));
done:
    /* keep the session for the next connect: taken after a clean handshake */
    if (!s->measure) {
        SSL_SESSION_free(d->sess);
        d->sess = SSL_get1_session(ssl);
    }
    /* close_notify, so that neither side treats the session as broken */
    SSL_shutdown(ssl);
    rc = 0;
out:
    ERR_clear_error();
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    return rc;
}

static void *worker(void *arg)
{
    storm *s = arg;
    int i;
    while ((i = atomic_fetch_add(&s->next, 1)) < s->n) {
        int reused = 0;
        double t0 = now_s();
        if (one_connect(s, &s->devs[i], &reused, &s->lat_tls[i]) != 0)
            atomic_fetch_add(&s->failed, 1);
        else if (reused)
            atomic_fetch_add(&s->reused, 1);
        s->lat[i] = now_s() - t0;
    }
    return NULL;
}

/* All devices once with nt threads; wall time returned. */
static double run(storm *s, int nt, int measure)
{
    pthread_t th[64];
    s->measure = measure;
    atomic_store(&s->next, 0);
    atomic_store(&s->failed, 0);
    atomic_store(&s->reused, 0);
    double t0 = now_s();
    for (int i = 0; i < nt; i++)
        pthread_create(&th[i], NULL, worker, s);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    return now_s() - t0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* utime + stime of pid in seconds; -1 if unreadable. */
static double cpu_s(const char *pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    /* fields after the command name, which may hold spaces: state is field 3 */
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int load(const char *dir, dev *devs, int max)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/devices.txt", dir);
    FILE *list = fopen(path, "r");
    int n = 0;
    if (!list) {
        perror(path);
        return -1;
    }
    while (n < max && fscanf(list, "%63s %64s", devs[n].dk, devs[n].secret) == 2) {
        snprintf(path, sizeof(path), "%s/%s.pem", dir, devs[n].dk);
        FILE *f = fopen(path, "r");
        devs[n].key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        devs[n].cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f)
            fclose(f);
        if (!devs[n].key || !devs[n].cert) {
            fprintf(stderr, "hub_storm: %s: no key and certificate\n", path);
            fclose(list);
            return -1;
        }
        n++;
    }
    fclose(list);
    return n;
}

/* One client context for all devices (the certificate and key are set per
 * connection): the CA store is parsed once. */
static SSL_CTX *client_ctx(const char *ca, const char *host)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_load_verify_locations(ctx, ca, NULL)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), host);
    return ctx;
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
    const char *host = arg(argc, argv, "--host", "127.0.0.1");
    const char *ca = arg(argc, argv, "--ca", NULL), *dir = arg(argc, argv, "--keys", NULL);
    const char *label = arg(argc, argv, "--label", "storm");
    const char *cpu_pid = arg(argc, argv, "--cpu-pid", NULL);
    int port = atoi(arg(argc, argv, "--port", "0"));
    int max = atoi(arg(argc, argv, "--devices", "2000"));
    int nt = atoi(arg(argc, argv, "--threads", "8")), resume = 0;
    storm s = {.pk = arg(argc, argv, "--product", NULL)};
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--resume") == 0)
            resume = 1;
        else if (strcmp(argv[i], "--tls-only") == 0)
            s.tls_only = 1;
    s.addr.sin_family = AF_INET;
    s.addr.sin_port = htons((uint16_t)port);
    if (!ca || !dir || !s.pk || port <= 0 || max < 1 || nt < 1 || nt > 64 ||
        inet_pton(AF_INET, host, &s.addr.sin_addr) != 1) {
        fprintf(stderr, "usage: hub_storm --host IPv4 --port P --ca FILE --product PK --keys DIR "
                        "[--devices N] [--threads T (1-64)] [--resume] [--tls-only] [--label TEXT] "
                        "[--cpu-pid PID]\n");
        return 2;
    }
    s.devs = calloc((size_t)max, sizeof(dev));
    s.n = s.devs ? load(dir, s.devs, max) : -1;
    s.ctx = client_ctx(ca, host);
    if (s.n < 1 || !s.ctx)
        return 2;
    s.lat = calloc((size_t)s.n, sizeof(double));
    s.lat_tls = calloc((size_t)s.n, sizeof(double));
    int warm_failed = 0, have_sess = 0, tickets = 0;
    if (resume) {
        run(&s, nt, 0);
        warm_failed = atomic_load(&s.failed);
        for (int i = 0; i < s.n; i++) {
            have_sess += s.devs[i].sess != NULL;
            tickets += s.devs[i].sess && SSL_SESSION_has_ticket(s.devs[i].sess);
        }
    }
    double cpu0 = cpu_pid ? cpu_s(cpu_pid) : -1;
    double wall = run(&s, nt, 1);
    double cpu1 = cpu_pid ? cpu_s(cpu_pid) : -1;
    int failed = atomic_load(&s.failed), ok = s.n - failed;
    qsort(s.lat, (size_t)s.n, sizeof(double), cmp_d);
    double p50 = s.lat[s.n / 2] * 1000;
    double p99 = s.lat[s.n >= 100 ? (s.n * 99) / 100 - 1 : s.n - 1] * 1000;
    qsort(s.lat_tls, (size_t)s.n, sizeof(double), cmp_d);
    printf("{\"label\":\"%s\",\"phase\":\"%s\",\"devices\":%d,\"threads\":%d,\"ok\":%d,"
           "\"failed\":%d,\"reused\":%d,\"wall_s\":%.3f,\"connects_per_s\":%.1f,"
           "\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"tls_p50_ms\":%.1f",
           label,
           s.tls_only ? (resume ? "tls-resumed" : "tls-full")
                      : (resume ? "storm-resumed" : "storm-full"),
           s.n, nt, ok, failed, atomic_load(&s.reused), wall, (double)ok / wall, p50, p99,
           s.lat_tls[s.n / 2] * 1000);
    if (cpu0 >= 0 && cpu1 >= 0)
        printf(",\"cpu_ms_per_connect\":%.2f", (cpu1 - cpu0) * 1000 / s.n);
    if (resume)
        printf(",\"warmup_failed\":%d,\"sessions_kept\":%d,\"with_ticket\":%d", warm_failed,
               have_sess, tickets);
    printf("}\n");
    for (int i = 0; i < s.n; i++) {
        EVP_PKEY_free(s.devs[i].key);
        X509_free(s.devs[i].cert);
        SSL_SESSION_free(s.devs[i].sess);
    }
    free(s.devs);
    free(s.lat);
    free(s.lat_tls);
    SSL_CTX_free(s.ctx);
    return failed ? 1 : 0;
}
