/* edgekey core: a TCTI for tpm2-abrmd that does not use GLib.
 *
 * Why: tpm2-abrmd's own TCTI talks D-Bus through GLib's per-process bus
 * singleton and GDBus worker thread. After fork() the child inherits both
 * but not the thread, so a child whose parent ever used the tabrmd TCTI
 * hangs in the TCTI's init (checked: tabrmd init in such a child never
 * returns). The design wants a fresh TPM connection in every forked child,
 * so we speak the tiny part of D-Bus that tpm2-abrmd needs ourselves:
 * SASL EXTERNAL with unix-fd passing, Hello, and one CreateConnection call
 * to com.intel.tss2.TctiTabrmd, whose reply carries a socket (SCM_RIGHTS).
 * TPM commands and responses then travel raw over that socket, exactly as
 * with tpm2-abrmd's TCTI, and abrmd drops the connection when it closes.
 *
 * Configuration string as tpm2-abrmd's: "bus_name=NAME,bus_type=session|
 * system" (defaults com.intel.tss2.Tabrmd on the system bus). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ek_tcti_abrmd.h"

#define EK_ABRMD_MAGIC 0x656b746162726d64ULL /* "ektabrmd" */
#define BUS_TIMEOUT_MS 10000
#define MSG_MAX 4096

typedef struct ek_abrmd_tcti {
    TSS2_TCTI_CONTEXT_COMMON_V2 common;
    int fd;
} ek_abrmd_tcti;

/* ---- D-Bus wire format (only what we send and read) ---- */

typedef struct wbuf { uint8_t b[512]; size_t n; bool bad; } wbuf;

static void w_pad(wbuf *w, size_t a)
{
    while (w->n % a) {
        if (w->n >= sizeof(w->b)) {
            w->bad = true;
            return;
        }
        w->b[w->n++] = 0;
    }
}

static void w_bytes(wbuf *w, const void *p, size_t n)
{
    if (w->n + n > sizeof(w->b)) {
        w->bad = true;
        return;
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void w_u32(wbuf *w, uint32_t v)
{
    w_pad(w, 4);
    w_bytes(w, &v, 4); /* we send little-endian ('l') on a little-endian host */
}

static void w_str(wbuf *w, const char *s)
{
    w_u32(w, (uint32_t)strlen(s));
    w_bytes(w, s, strlen(s) + 1);
}

/* One header field: STRUCT(BYTE code, VARIANT value) with a string value. */
static void w_field(wbuf *w, uint8_t code, char type, const char *s)
{
    uint8_t sig[3] = {1, (uint8_t)type, 0};
    w_pad(w, 8);
    w_bytes(w, &code, 1);
    w_bytes(w, sig, 3);
    w_str(w, s);
}

static size_t build_call(wbuf *w, uint32_t serial, const char *dest, const char *path,
                         const char *iface, const char *member)
{
    static const uint8_t fixed[4] = {'l', 1 /* METHOD_CALL */, 0, 1};
    w->n = 0;
    w->bad = false;
    w_bytes(w, fixed, 4);
    w_u32(w, 0);      /* body length */
    w_u32(w, serial);
    w_u32(w, 0);      /* header field array length, patched */
    size_t start = w->n; /* 16: the first element is already 8-aligned */
    w_field(w, 1, 'o', path);
    w_field(w, 2, 's', iface);
    w_field(w, 3, 's', member);
    w_field(w, 6, 's', dest);
    uint32_t alen = (uint32_t)(w->n - start);
    memcpy(w->b + 12, &alen, 4);
    w_pad(w, 8);
    return w->bad ? 0 : w->n;
}

static uint32_t r_u32(const uint8_t *p, bool big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

typedef struct msg {
    uint8_t type;
    uint32_t reply_serial, unix_fds;
    const uint8_t *body;
    uint32_t body_len;
    char error[128];
    bool big;
} msg;

/* Header fields we care about; others are skipped by their signature. */
static bool parse_fields(const uint8_t *m, size_t end, msg *out)
{
    size_t o = 16;
    while (o < end) {
        o = (o + 7) & ~(size_t)7;
        if (o + 3 > end)
            return false;
        uint8_t code = m[o], slen = m[o + 1];
        if (slen != 1 || o + 4 > end)
            return false;
        char t = (char)m[o + 2];
        o += 4;
        if (t == 'u' || t == 's' || t == 'o') {
            o = (o + 3) & ~(size_t)3;
            if (o + 4 > end)
                return false;
            uint32_t v = r_u32(m + o, out->big);
            o += 4;
            if (t == 'u') {
                if (code == 5)
                    out->reply_serial = v;
                if (code == 9)
                    out->unix_fds = v;
                continue;
            }
            if (v > end - o)
                return false;
            if (code == 4)
                snprintf(out->error, sizeof(out->error), "%.*s", (int)v, (const char *)m + o);
            o += v + 1;
        } else if (t == 'g') {
            o += 1u + m[o] + 1u;
        } else {
            return false;
        }
    }
    return true;
}

typedef struct bus {
    int fd;
    uint8_t buf[MSG_MAX];
    size_t len;
    int fds[8];
    int nfds;
} bus;

static int bus_recv(bus *b)
{
    struct pollfd p = {.fd = b->fd, .events = POLLIN};
    if (poll(&p, 1, BUS_TIMEOUT_MS) != 1)
        return -1;
    union { struct cmsghdr h; char c[CMSG_SPACE(8 * sizeof(int))]; } ctl;
    struct iovec iov = {b->buf + b->len, sizeof(b->buf) - b->len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.c,
                        .msg_controllen = sizeof(ctl.c)};
    ssize_t n = recvmsg(b->fd, &mh, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return -1;
    b->len += (size_t)n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (b->nfds < 8)
                b->fds[b->nfds++] = fd;
            else
                close(fd);
        }
    }
    return 0;
}

/* Read the next whole message into *m; returns its total size, 0 on error.
 * The caller drops it from the buffer with bus_consume. */
static size_t bus_next(bus *b, msg *m)
{
    for (;;) {
        if (b->len >= 16) {
            bool big = b->buf[0] == 'B';
            uint32_t blen = r_u32(b->buf + 4, big), flen = r_u32(b->buf + 12, big);
            size_t hlen = (16 + (size_t)flen + 7) & ~(size_t)7;
            if (flen > MSG_MAX || blen > MSG_MAX || hlen + blen > sizeof(b->buf))
                return 0;
            if (b->len >= hlen + blen) {
                memset(m, 0, sizeof(*m));
                m->big = big;
                m->type = b->buf[1];
                m->body = b->buf + hlen;
                m->body_len = blen;
                return parse_fields(b->buf, 16 + flen, m) ? hlen + blen : 0;
            }
        }
        if (bus_recv(b) != 0)
            return 0;
    }
}

static void bus_consume(bus *b, size_t n)
{
    memmove(b->buf, b->buf + n, b->len - n);
    b->len -= n;
}

static bool send_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        c += k;
        n -= (size_t)k;
    }
    return true;
}

/* The daemon's replies to the two SASL lines we send at once ("OK <guid>",
 * then "AGREE_UNIX_FD" or an error). It says nothing more before our BEGIN
 * and Hello, so reading whole chunks cannot swallow a message. */
static bool sasl_replies(int fd, char *buf, size_t size, char **first, char **second)
{
    size_t n = 0;
    char *mid = NULL, *end = NULL;
    while (!end && n + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t k = poll(&p, 1, BUS_TIMEOUT_MS) == 1 ? recv(fd, buf + n, size - 1 - n, 0) : -1;
        if (k <= 0)
            return false;
        n += (size_t)k;
        buf[n] = '\0';
        if (!mid && (mid = strstr(buf, "\r\n")) != NULL)
            mid += 2;
        if (mid)
            end = strstr(mid, "\r\n");
    }
    if (!end)
        return false;
    mid[-2] = '\0';
    *end = '\0';
    *first = buf;
    *second = mid;
    return true;
}

/* AUTH EXTERNAL and NEGOTIATE_UNIX_FD in one go (the D-Bus spec lets a
 * client pipeline them): one round trip with the daemon instead of two. */
static bool sasl(int fd, char *err, size_t errlen)
{
    char line[256], uid[16], hex[40] = "", *ok = NULL, *agree = NULL;
    snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
    for (size_t i = 0; uid[i]; i++)
        snprintf(hex + 2 * i, sizeof(hex) - 2 * i, "%02x", (unsigned char)uid[i]);
    snprintf(line, sizeof(line), "AUTH EXTERNAL %s\r\nNEGOTIATE_UNIX_FD\r\n", hex);
    if (!send_all(fd, "", 1) || !send_all(fd, line, strlen(line)) ||
        !sasl_replies(fd, line, sizeof(line), &ok, &agree) || strncmp(ok, "OK ", 3) != 0) {
        snprintf(err, errlen, "D-Bus authentication (EXTERNAL) was refused");
        return false;
    }
    if (strcmp(agree, "AGREE_UNIX_FD") != 0) {
        snprintf(err, errlen, "the D-Bus daemon cannot pass file descriptors");
        return false;
    }
    static const char begin[] = "BEGIN\r\n";
    return send_all(fd, begin, sizeof(begin) - 1);
}

/* ---- bus address ("unix:path=...;unix:abstract=...,guid=...") ---- */

static size_t unescape(const char *s, size_t n, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < size; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &v) == 1) {
            out[k++] = (char)v;
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return k;
}

static int connect_one(const char *e, size_t n)
{
    if (n < 5 || strncmp(e, "unix:", 5) != 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = 0, off = 0;
    for (const char *kv = e + 5; kv < e + n;) {
        const char *end = memchr(kv, ',', (size_t)(e + n - kv));
        size_t len = end ? (size_t)(end - kv) : (size_t)(e + n - kv);
        if (len > 5 && strncmp(kv, "path=", 5) == 0)
            plen = unescape(kv + 5, len - 5, sa.sun_path, sizeof(sa.sun_path));
        else if (len > 9 && strncmp(kv, "abstract=", 9) == 0)
            plen = 1 + unescape(kv + 9, len - 9, sa.sun_path + 1, sizeof(sa.sun_path) - 1),
            off = 1;
        kv += len + 1;
    }
    if (!plen)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (off ? 0 : 1));
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sl) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int bus_connect(bool system, char *err, size_t errlen)
{
    const char *addr = getenv(system ? "DBUS_SYSTEM_BUS_ADDRESS" : "DBUS_SESSION_BUS_ADDRESS");
    if (!addr && system)
        addr = "unix:path=/var/run/dbus/system_bus_socket";
    if (!addr) {
        snprintf(err, errlen, "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)");
        return -1;
    }
    for (const char *e = addr; *e;) {
        size_t n = strcspn(e, ";");
        int fd = connect_one(e, n);
        if (fd >= 0)
            return fd;
        e += n + (e[n] == ';');
    }
    snprintf(err, errlen, "cannot connect to the D-Bus %s bus (%s)", system ? "system" : "session",
             addr);
    return -1;
}

/* ---- CreateConnection ---- */

static bool call(bus *b, uint32_t serial, const char *dest, const char *path, const char *iface,
                 const char *member, msg *reply, size_t *size, char *err, size_t errlen)
{
    wbuf w;
    size_t n = build_call(&w, serial, dest, path, iface, member);
    if (!n || !send_all(b->fd, w.b, n)) {
        snprintf(err, errlen, "cannot send the D-Bus call %s", member);
        return false;
    }
    for (;;) { /* skip signals (NameAcquired) and other replies */
        *size = bus_next(b, reply);
        if (!*size) {
            snprintf(err, errlen, "no D-Bus reply to %s from %s", member, dest);
            return false;
        }
        if ((reply->type == 2 || reply->type == 3) && reply->reply_serial == serial)
            break;
        bus_consume(b, *size);
    }
    if (reply->type == 3) {
        snprintf(err, errlen, "%s.%s failed: %s", dest, member, reply->error);
        return false;
    }
    return true;
}

static int create_connection(bus *b, const char *name, char *err, size_t errlen)
{
    msg m;
    size_t size;
    if (!call(b, 1, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
              "Hello", &m, &size, err, errlen))
        return -1;
    bus_consume(b, size);
    if (!call(b, 2, name, "/com/intel/tss2/Tabrmd/Tcti", "com.intel.tss2.TctiTabrmd",
              "CreateConnection", &m, &size, err, errlen))
        return -1;
    /* tpm2-abrmd 3.0 replies "(t)" (connection id) with the socket as the
     * message's only unix fd; older ones sent "(aht)" with its index 0. */
    if (m.unix_fds < 1 || b->nfds < 1) {
        snprintf(err, errlen, "tpm2-abrmd's CreateConnection reply carried no socket");
        return -1;
    }
    int fd = b->fds[0];
    b->fds[0] = -1;
    return fd;
}

/* ---- the TCTI ---- */

static int tfd(TSS2_TCTI_CONTEXT *ctx)
{
    return ((ek_abrmd_tcti *)ctx)->fd;
}

static TSS2_RC t_transmit(TSS2_TCTI_CONTEXT *ctx, size_t size, const uint8_t *cmd)
{
    return tfd(ctx) >= 0 && send_all(tfd(ctx), cmd, size) ? TSS2_RC_SUCCESS
                                                          : TSS2_TCTI_RC_IO_ERROR;
}

static TSS2_RC read_full(int fd, uint8_t *p, size_t n, int32_t timeout)
{
    while (n) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, timeout < 0 ? -1 : timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return TSS2_TCTI_RC_TRY_AGAIN;
        ssize_t k = r > 0 ? recv(fd, p, n, 0) : -1;
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return TSS2_TCTI_RC_IO_ERROR;
        p += k;
        n -= (size_t)k;
    }
    return TSS2_RC_SUCCESS;
}

static TSS2_RC t_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size, uint8_t *rsp, int32_t timeout)
{
    if (!size)
        return TSS2_TCTI_RC_BAD_REFERENCE;
    if (!rsp) { /* size query: the most a response can be */
        *size = TPM2_MAX_RESPONSE_SIZE;
        return TSS2_RC_SUCCESS;
    }
    if (*size < 10 || tfd(ctx) < 0)
        return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
    TSS2_RC rc = read_full(tfd(ctx), rsp, 10, timeout);
    if (rc)
        return rc;
    uint32_t len = r_u32(rsp + 2, true);
    if (len < 10 || len > *size)
        return TSS2_TCTI_RC_MALFORMED_RESPONSE;
    rc = read_full(tfd(ctx), rsp + 10, len - 10, -1);
    if (!rc)
        *size = len;
    return rc;
}

static void t_finalize(TSS2_TCTI_CONTEXT *ctx)
{
    ek_abrmd_tcti *t = (ek_abrmd_tcti *)ctx;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static TSS2_RC t_unsupported(void)
{
    return TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC t_cancel(TSS2_TCTI_CONTEXT *ctx)
{
    (void)ctx;
    return t_unsupported();
}

static TSS2_RC t_poll(TSS2_TCTI_CONTEXT *ctx, TSS2_TCTI_POLL_HANDLE *h, size_t *n)
{
    if (!n)
        return TSS2_TCTI_RC_BAD_REFERENCE;
    if (h && *n >= 1) {
        h->fd = tfd(ctx);
        h->events = POLLIN;
    }
    *n = 1;
    return TSS2_RC_SUCCESS;
}

static TSS2_RC t_locality(TSS2_TCTI_CONTEXT *ctx, uint8_t loc)
{
    (void)ctx;
    (void)loc;
    return t_unsupported();
}

static TSS2_RC t_sticky(TSS2_TCTI_CONTEXT *ctx, TPM2_HANDLE *h, uint8_t sticky)
{
    (void)ctx;
    (void)h;
    (void)sticky;
    return t_unsupported();
}

static void parse_conf(const char *conf, char *name, size_t size, bool *system)
{
    snprintf(name, size, "com.intel.tss2.Tabrmd");
    *system = true;
    while (conf && *conf) {
        size_t n = strcspn(conf, ",");
        if (n > 9 && strncmp(conf, "bus_name=", 9) == 0)
            snprintf(name, size, "%.*s", (int)(n - 9), conf + 9);
        else if (n > 9 && strncmp(conf, "bus_type=", 9) == 0)
            *system = strncmp(conf + 9, "session", n - 9) != 0;
        conf += n + (conf[n] == ',');
    }
}

TSS2_RC ek_abrmd_open(const char *conf, TSS2_TCTI_CONTEXT **out, char *err, size_t errlen)
{
    char name[256];
    bool system;
    parse_conf(conf, name, sizeof(name), &system);
    bus *b = calloc(1, sizeof(*b));
    ek_abrmd_tcti *t = calloc(1, sizeof(*t));
    int fd = -1;
    if (b && t && (b->fd = bus_connect(system, err, errlen)) >= 0) {
        if (sasl(b->fd, err, errlen))
            fd = create_connection(b, name, err, errlen);
        close(b->fd);
    }
    for (int i = 0; b && i < b->nfds; i++)
        if (b->fds[i] >= 0)
            close(b->fds[i]);
    free(b);
    if (fd < 0) {
        free(t);
        return TSS2_TCTI_RC_NO_CONNECTION;
    }
    t->common.v1.magic = EK_ABRMD_MAGIC;
    t->common.v1.version = 2;
    t->common.v1.transmit = t_transmit;
    t->common.v1.receive = t_receive;
    t->common.v1.finalize = t_finalize;
    t->common.v1.cancel = t_cancel;
    t->common.v1.getPollHandles = t_poll;
    t->common.v1.setLocality = t_locality;
    t->common.makeSticky = t_sticky;
    t->fd = fd;
    *out = (TSS2_TCTI_CONTEXT *)t;
    return TSS2_RC_SUCCESS;
}

bool ek_abrmd_is(const TSS2_TCTI_CONTEXT *t)
{
    return t && TSS2_TCTI_MAGIC(t) == EK_ABRMD_MAGIC;
}

void ek_abrmd_close(TSS2_TCTI_CONTEXT *t)
{
    if (!t)
        return;
    t_finalize(t);
    free(t);
}
