/* edgekey core: the store of tokens, keys and certificates (ek_store.h).
 *
 * Plain files, one directory per token:
 *   <root>/                 created 0755 if missing (readers must traverse it)
 *   <root>/<token>/         0700
 *     token.conf            0644  label, serial (16 hex from RAND_bytes), flags
 *     <idhex>.key           0600  TSS2 PRIVATE KEY PEM (blob keys only)
 *     <idhex>.meta          0600  label (percent-encoded), alg, bits, curve,
 *                                 handle, pubkey_sha256, created
 *     <idhex>.crt           0644  certificate PEM
 * An object exists while its .meta exists: writers write .key/.crt before
 * the .meta and remove the .meta first, so a reader never sees half an
 * object. Every write goes to a temp file in the same directory that is
 * fsync'ed, renamed over the target, and followed by an fsync of the
 * directory. Writers hold flock(LOCK_EX) on the token directory itself (no
 * lock file anywhere); readers take no lock and need no write access.
 * The default CKA_ID is the first 8 bytes of SHA-256 over the public key:
 * RSA modulus (no leading zeros) || exponent (minimal big-endian bytes), or
 * the EC point 04||X||Y. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ek_addr.h"
#include "ek_config.h"
#include "ek_keyfile.h"
#include "ek_log.h"
#include "ek_store.h"

static const char *const obj_ext[] = {".key", ".meta", ".crt"};

/* ---- file helpers: atomic writes, bounded reads, the token lock ---- */

/* Read a whole file relative to dfd, NUL-terminated; EK_ERR_NOT_FOUND (no
 * message) if it does not exist. */
static ek_rc io_read_at(int dfd, const char *name, size_t max, char **out, size_t *len)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? EK_ERR_NOT_FOUND
                               : ek_error(EK_ERR_IO, "cannot read %s: %s", name, strerror(errno));
    char *buf = malloc(max + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (buf && n <= max && (r = read(fd, buf + n, max + 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (!buf || r < 0 || n > max) {
        free(buf);
        return ek_error(!buf ? EK_ERR_NOMEM : EK_ERR_IO, "cannot read %s: %s", name,
                        r < 0 ? strerror(errno) : "file too large");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return EK_OK;
}

static ek_rc io_write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return EK_ERR_IO;
        data += w;
        len -= (size_t)w;
    }
    return EK_OK;
}

/* Write name atomically: temp file in the same directory, fsync, rename,
 * fsync the directory. Readers see the old or the new file, never a part. */
static ek_rc io_write_at(int dfd, const char *name, const char *data, size_t len, mode_t mode)
{
    static _Atomic unsigned counter;
    char tmp[200];
    snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld.%u", name, (long)getpid(), counter++);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return ek_error(EK_ERR_IO, "cannot create %s: %s; check the store's permissions", tmp,
                        strerror(errno));
    ek_rc rc = EK_OK;
    if (fchmod(fd, mode) != 0 || io_write_all(fd, data, len) != EK_OK || fsync(fd) != 0)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s", name, strerror(errno));
    if (close(fd) != 0 && rc == EK_OK)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s", name, strerror(errno));
    if (rc == EK_OK && renameat(dfd, tmp, dfd, name) != 0)
        rc = ek_error(EK_ERR_IO, "cannot rename %s to %s: %s", tmp, name, strerror(errno));
    if (rc != EK_OK) {
        unlinkat(dfd, tmp, 0);
        return rc;
    }
    return fsync(dfd) == 0 ? EK_OK
                           : ek_error(EK_ERR_IO, "cannot sync directory: %s", strerror(errno));
}

static ek_rc io_sync_dir(int dfd)
{
    return fsync(dfd) == 0 ? EK_OK
                           : ek_error(EK_ERR_IO, "cannot sync directory: %s", strerror(errno));
}

/* mkdir -p for the store root (mode applies to directories created here). */
static ek_rc io_mkdirs(const char *path, mode_t mode)
{
    char buf[1100];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return ek_error(EK_ERR_INVALID, "store path %s is too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return ek_error(EK_ERR_IO,
                            "cannot create store directory %s: %s; create it or set "
                            "store = ... in the configuration",
                            buf, strerror(errno));
        if (!(*p = c))
            return EK_OK;
    }
}

/* Open dir and take the writers' lock on the directory itself. */
static ek_rc io_lock_dir(const char *dir, int *dfd)
{
    *dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dfd < 0)
        return ek_error(errno == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO, "cannot open %s: %s", dir,
                        strerror(errno));
    int r;
    while ((r = flock(*dfd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        close(*dfd);
        return ek_error(EK_ERR_IO, "cannot lock %s: %s", dir, strerror(errno));
    }
    return EK_OK;
}

/* ---- .meta files: "key = value" lines; the label is percent-encoded so
 * any CKA_LABEL bytes (spaces, newlines, '=') survive the line format ---- */

static void label_encode(const char *in, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        if (c > 0x20 && c < 0x7f && c != '%') {
            *out++ = (char)c;
        } else {
            *out++ = '%';
            *out++ = digits[c >> 4];
            *out++ = digits[c & 15];
        }
    }
    *out = '\0';
}

static int hexval(char c);

static ek_rc label_decode(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in; in++) {
        int c = (unsigned char)*in;
        if (c == '%') {
            int hi = hexval(in[1]), lo = hi < 0 ? -1 : hexval(in[2]);
            if (lo < 0 || (c = hi << 4 | lo) == 0)
                return EK_ERR_INVALID;
            in += 2;
        }
        if (n + 1 >= size)
            return EK_ERR_INVALID;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return n ? EK_OK : EK_ERR_INVALID;
}

static size_t meta_format(const ek_store_obj *o, const char *pubhash, char *buf, size_t size)
{
    char label[3 * sizeof(o->label)];
    label_encode(o->label, label);
    const char *alg = o->alg == EK_ALG_RSA ? "rsa" : o->alg == EK_ALG_EC ? "ec" : "none";
    const char *curve = o->curve == EK_CURVE_P256   ? "p256"
                        : o->curve == EK_CURVE_P384 ? "p384"
                                                    : "none";
    int n = snprintf(buf, size,
                     "label = %s\nalg = %s\nbits = %u\ncurve = %s\nhandle = 0x%08x\n"
                     "pubkey_sha256 = %s\ncreated = %lld\n",
                     label, alg, o->bits, curve, o->handle, pubhash, (long long)o->created);
    return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

/* Fill label/alg/bits/curve/handle/created (not token/id) and the hash. */
static ek_rc meta_parse(const char *text, ek_store_obj *o, char pubhash[65])
{
    char label[3 * sizeof(o->label)], alg[8], bits[8], curve[8], handle[16], created[24];
    pubhash[0] = '\0';
    if (ek_kv_get(text, "label", label, sizeof(label)) != EK_OK ||
        label_decode(label, o->label, sizeof(o->label)) != EK_OK ||
        ek_kv_get(text, "alg", alg, sizeof(alg)) != EK_OK ||
        ek_kv_get(text, "bits", bits, sizeof(bits)) != EK_OK ||
        ek_kv_get(text, "curve", curve, sizeof(curve)) != EK_OK ||
        ek_kv_get(text, "handle", handle, sizeof(handle)) != EK_OK)
        return EK_ERR_INVALID;
    if (ek_kv_get(text, "pubkey_sha256", pubhash, 65) != EK_OK)
        pubhash[0] = '\0';
    o->alg = strcmp(alg, "rsa") == 0 ? EK_ALG_RSA : strcmp(alg, "ec") == 0 ? EK_ALG_EC : 0;
    o->curve = strcmp(curve, "p256") == 0   ? EK_CURVE_P256
               : strcmp(curve, "p384") == 0 ? EK_CURVE_P384
                                            : EK_CURVE_NONE;
    o->bits = (unsigned)strtoul(bits, NULL, 10);
    o->handle = (uint32_t)strtoul(handle, NULL, 16);
    o->created = ek_kv_get(text, "created", created, sizeof(created)) == EK_OK
                     ? (time_t)strtoll(created, NULL, 10)
                     : 0;
    return EK_OK;
}

const char *ek_store_root(void)
{
    const ek_config *cfg = ek_config_get();
    return cfg ? cfg->store : NULL;
}

ek_rc ek_store_check_token_label(const char *label)
{
    size_t n = label ? strlen(label) : 0;
    if (n == 0 || n > 32)
        return ek_error(EK_ERR_INVALID, "token label '%s' refused: it must be 1-32 characters long",
                        label ? label : "");
    if (strcmp(label, ".") == 0 || strcmp(label, "..") == 0)
        return ek_error(EK_ERR_INVALID, "token label '%s' refused: '.' and '..' are not labels",
                        label);
    if (strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
        return ek_error(EK_ERR_INVALID,
                        "token label '%s' refused: use only letters, digits, '.', '_' and '-'",
                        label);
    return EK_OK;
}

void ek_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ek_rc ek_unhex(const char *in, unsigned char *out, size_t max, size_t *len)
{
    size_t n = strlen(in);
    if (n % 2)
        return ek_error(EK_ERR_INVALID, "hex string '%.40s' has an odd number of digits", in);
    if (n / 2 > max)
        return ek_error(EK_ERR_BUFFER_TOO_SMALL, "hex string is %zu bytes, at most %zu fit", n / 2,
                        max);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ek_error(EK_ERR_INVALID, "'%.40s' is not a hex string", in);
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return EK_OK;
}

static ek_rc token_dir(const char *token, char *dir, size_t size)
{
    ek_rc rc = ek_store_check_token_label(token);
    if (rc != EK_OK)
        return rc;
    const char *root = ek_store_root();
    if (!root)
        return EK_ERR_INVALID; /* the configuration's message stands */
    if ((size_t)snprintf(dir, size, "%s/%s", root, token) >= size)
        return ek_error(EK_ERR_INVALID, "store path %s/%s is too long", root, token);
    return EK_OK;
}

static ek_rc read_token_conf(int dfd, const char *dir, ek_token_info *out)
{
    char *text = NULL;
    size_t len = 0;
    ek_rc rc = io_read_at(dfd, "token.conf", 4096, &text, &len);
    if (rc != EK_OK)
        return rc;
    memset(out, 0, sizeof(*out));
    if (ek_kv_get(text, "label", out->label, sizeof(out->label)) != EK_OK ||
        ek_kv_get(text, "serial", out->serial, sizeof(out->serial)) != EK_OK)
        rc = ek_error(EK_ERR_INVALID,
                      "%s/token.conf is damaged (label or serial missing); "
                      "restore it from a backup",
                      dir);
    free(text);
    snprintf(out->dir, sizeof(out->dir), "%s", dir);
    return rc;
}

static ek_rc write_token_conf(int dfd, const char *token, const char *dir)
{
    unsigned char raw[8];
    char serial[17], text[128];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return ek_error(EK_ERR_IO, "token %s: no random bytes for the serial number", token);
    ek_hex(raw, sizeof(raw), serial);
    int n = snprintf(text, sizeof(text), "label = %s\nserial = %s\nflags = 0\n", token, serial);
    ek_rc rc = io_write_at(dfd, "token.conf", text, (size_t)n, 0644);
    if (rc == EK_OK)
        ek_log(EK_LOG_INFO, "created token %s in %s (serial %s)", token, dir, serial);
    return rc;
}

ek_rc ek_store_token_get(const char *token, ek_token_info *out)
{
    char dir[1100];
    ek_rc rc = token_dir(token, dir, sizeof(dir));
    if (rc != EK_OK)
        return rc;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 && errno != ENOENT)
        return ek_error(EK_ERR_IO, "token %s: cannot open %s: %s", token, dir, strerror(errno));
    rc = dfd < 0 ? EK_ERR_NOT_FOUND : read_token_conf(dfd, dir, out);
    if (dfd >= 0)
        close(dfd);
    if (rc == EK_ERR_NOT_FOUND)
        return ek_error(rc,
                        "token '%s' not found in store %s; it is created when the first key "
                        "is stored in it",
                        token, ek_store_root());
    return rc;
}

/* Create the token directory if needed and return it open and locked. */
static ek_rc token_open_locked(const char *token, ek_token_info *info, int *dfd_out)
{
    char dir[1100];
    ek_rc rc = token_dir(token, dir, sizeof(dir));
    if (rc != EK_OK)
        return rc;
    if ((rc = io_mkdirs(ek_store_root(), 0755)) != EK_OK)
        return rc;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ek_error(EK_ERR_IO,
                        "token %s: cannot create %s: %s; check the store's owner "
                        "and permissions",
                        token, dir, strerror(errno));
    int dfd;
    if ((rc = io_lock_dir(dir, &dfd)) != EK_OK)
        return rc;
    rc = read_token_conf(dfd, dir, info);
    if (rc == EK_ERR_NOT_FOUND && (rc = write_token_conf(dfd, token, dir)) == EK_OK)
        rc = read_token_conf(dfd, dir, info);
    if (rc != EK_OK) {
        close(dfd);
        return rc;
    }
    *dfd_out = dfd;
    return EK_OK;
}

ek_rc ek_store_token_ensure(const char *token, ek_token_info *out)
{
    ek_token_info info;
    int dfd;
    ek_rc rc = token_open_locked(token, &info, &dfd);
    if (rc != EK_OK)
        return rc;
    close(dfd); /* drops the lock */
    if (out)
        *out = info;
    return EK_OK;
}

static int cmp_token(const void *a, const void *b)
{
    return strcmp(((const ek_token_info *)a)->label, ((const ek_token_info *)b)->label);
}

ek_rc ek_store_tokens(ek_token_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *root = ek_store_root();
    if (!root)
        return EK_ERR_INVALID;
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? EK_OK : ek_error(EK_ERR_IO, "store %s: %s", root, strerror(errno));
    ek_rc rc = EK_OK;
    size_t cap = 0;
    struct dirent *e;
    while (rc == EK_OK && (e = readdir(d))) {
        ek_token_info info;
        if (ek_store_check_token_label(e->d_name) != EK_OK || e->d_name[0] == '.')
            continue;
        if (ek_store_token_get(e->d_name, &info) != EK_OK) {
            ek_clear_error(); /* not a token directory: skip it quietly */
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            ek_token_info *p = realloc(*out, cap * sizeof(**out));
            if (!p) {
                rc = ek_error(EK_ERR_NOMEM, "store: out of memory");
                break;
            }
            *out = p;
        }
        (*out)[(*n)++] = info;
    }
    closedir(d);
    if (rc != EK_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    if (*n)
        qsort(*out, *n, sizeof(**out), cmp_token);
    return EK_OK;
}

/* ---- objects ---- */

static void obj_name(const ek_store_obj *o, int ext, char *buf, size_t size)
{
    char hex[2 * sizeof(o->id) + 1];
    ek_hex(o->id, o->id_len, hex);
    snprintf(buf, size, "%s%s", hex, obj_ext[ext]);
}

static bool obj_file_exists(int dfd, const ek_store_obj *o, int ext)
{
    char name[160];
    obj_name(o, ext, name, sizeof(name));
    return faccessat(dfd, name, F_OK, 0) == 0;
}

/* Load one object from its .meta file (name = "<idhex>.meta"). */
static ek_rc obj_load(int dfd, const char *token, const char *name, ek_store_obj *o,
                      char pubhash[65])
{
    char hex[129];
    size_t hl = strlen(name) - strlen(".meta");
    memset(o, 0, sizeof(*o));
    if (hl == 0 || hl >= sizeof(hex))
        return EK_ERR_INVALID;
    memcpy(hex, name, hl);
    hex[hl] = '\0';
    if (ek_unhex(hex, o->id, sizeof(o->id), &o->id_len) != EK_OK)
        return EK_ERR_INVALID;
    char *text = NULL;
    size_t len;
    ek_rc rc = io_read_at(dfd, name, 16384, &text, &len);
    if (rc != EK_OK)
        return rc;
    snprintf(o->token, sizeof(o->token), "%s", token);
    rc = meta_parse(text, o, pubhash);
    free(text);
    if (rc != EK_OK)
        return rc;
    o->has_key = o->handle != 0 || obj_file_exists(dfd, o, 0);
    o->has_cert = obj_file_exists(dfd, o, 2);
    return EK_OK;
}

typedef struct obj_list {
    ek_store_obj *v;
    char (*hash)[65];
    size_t n, cap;
} obj_list;

static ek_rc list_push(obj_list *l, const ek_store_obj *o, const char *hash)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        ek_store_obj *v = realloc(l->v, cap * sizeof(*v));
        if (v)
            l->v = v;
        char(*h)[65] = v ? realloc(l->hash, cap * sizeof(*h)) : NULL;
        if (!v || !h)
            return ek_error(EK_ERR_NOMEM, "store: out of memory");
        l->hash = h;
        l->cap = cap;
    }
    l->v[l->n] = *o;
    memcpy(l->hash[l->n], hash, 65);
    l->n++;
    return EK_OK;
}

static void list_free(obj_list *l)
{
    free(l->v);
    free(l->hash);
    memset(l, 0, sizeof(*l));
}

/* All objects of one token (directory open as dfd). Damaged .meta files
 * are skipped with a warning rather than hiding every other object. */
static ek_rc token_objects(int dfd, const char *token, obj_list *l)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return ek_error(EK_ERR_IO, "token %s: cannot list: %s", token, strerror(errno));
    }
    rewinddir(d);
    ek_rc rc = EK_OK;
    struct dirent *e;
    while (rc == EK_OK && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n <= 5 || strcmp(e->d_name + n - 5, ".meta") != 0)
            continue;
        ek_store_obj o;
        char hash[65];
        ek_rc lrc = obj_load(dfd, token, e->d_name, &o, hash);
        if (lrc == EK_OK)
            rc = list_push(l, &o, hash);
        else if (lrc != EK_ERR_NOT_FOUND) /* NOT_FOUND: deleted while we looked */
            ek_log(EK_LOG_WARN, "token %s: skipping damaged %s", token, e->d_name);
    }
    closedir(d);
    return rc;
}

static bool obj_matches(const ek_store_obj *o, const char *label, const unsigned char *id,
                        size_t id_len)
{
    if (label && *label && strcmp(o->label, label) != 0)
        return false;
    return !id_len || (o->id_len == id_len && memcmp(o->id, id, id_len) == 0);
}

static int cmp_obj(const void *a, const void *b)
{
    const ek_store_obj *x = a, *y = b;
    int c = strcmp(x->token, y->token);
    if (c == 0)
        c = strcmp(x->label, y->label);
    if (c == 0)
        c = memcmp(x->id, y->id, x->id_len < y->id_len ? x->id_len : y->id_len);
    return c;
}

static ek_rc find_in_token(const char *token, const char *label, const unsigned char *id,
                           size_t id_len, obj_list *out)
{
    char dir[1100];
    if (ek_store_check_token_label(token) != EK_OK) {
        ek_clear_error(); /* a label we never use, e.g. another module's token */
        return EK_OK;
    }
    ek_rc rc = token_dir(token, dir, sizeof(dir));
    if (rc != EK_OK)
        return rc;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? EK_OK
                               : ek_error(EK_ERR_IO, "token %s: %s", token, strerror(errno));
    obj_list all = {0};
    rc = token_objects(dfd, token, &all);
    close(dfd);
    for (size_t i = 0; rc == EK_OK && i < all.n; i++)
        if (obj_matches(&all.v[i], label, id, id_len))
            rc = list_push(out, &all.v[i], all.hash[i]);
    list_free(&all);
    return rc;
}

ek_rc ek_store_find(const char *token, const char *label, const unsigned char *id, size_t id_len,
                    ek_store_obj **out, size_t *n)
{
    obj_list l = {0};
    ek_rc rc = EK_OK;
    *out = NULL;
    *n = 0;
    if (token && *token) {
        rc = find_in_token(token, label, id, id_len, &l);
    } else {
        ek_token_info *toks;
        size_t nt;
        rc = ek_store_tokens(&toks, &nt);
        for (size_t i = 0; rc == EK_OK && i < nt; i++)
            rc = find_in_token(toks[i].label, label, id, id_len, &l);
        free(toks); /* NULL when listing failed */
    }
    if (rc != EK_OK) {
        list_free(&l);
        return rc;
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), cmp_obj);
    free(l.hash);
    *out = l.v;
    *n = l.n;
    return EK_OK;
}

/* ---- writing objects ---- */

static ek_rc check_label(const char *label)
{
    size_t n = label ? strlen(label) : 0;
    if (n == 0 || n > 255)
        return ek_error(EK_ERR_INVALID, "object label must be 1-255 bytes long (got %zu)", n);
    return EK_OK;
}

/* Refuse a second object with the same label or id in one token. */
static ek_rc check_unique(const obj_list *l, const char *token, const char *label,
                          const unsigned char *id, size_t id_len)
{
    char hex[129];
    for (size_t i = 0; i < l->n; i++) {
        const ek_store_obj *o = &l->v[i];
        if (strcmp(o->label, label) == 0)
            return ek_error(EK_ERR_EXISTS,
                            "token '%s' already has an object labelled '%s'; choose another "
                            "label or delete the old one first (pkcs11:token=%s;object=%s)",
                            token, label, token, label);
        if (o->id_len == id_len && memcmp(o->id, id, id_len) == 0) {
            ek_hex(id, id_len, hex);
            return ek_error(EK_ERR_EXISTS,
                            "token '%s' already has an object with id %s (label '%s'); give "
                            "the new key another id or delete the old object first",
                            token, hex, o->label);
        }
    }
    return EK_OK;
}

static ek_rc unlink_obj(int dfd, const ek_store_obj *o, int ext);

static ek_rc write_obj_file(int dfd, const ek_store_obj *o, int ext, const char *data, size_t len)
{
    char name[160];
    obj_name(o, ext, name, sizeof(name));
    return io_write_at(dfd, name, data, len, ext == 2 ? 0644 : 0600);
}

static ek_rc write_meta(int dfd, const ek_store_obj *o, const char *pubhash)
{
    char text[2048];
    size_t n = meta_format(o, pubhash, text, sizeof(text));
    return write_obj_file(dfd, o, 1, text, n);
}

/* Key file text for a key: its TSS2 PEM, or NULL for a handle-only key. */
static ek_rc key_pem(const ek_key *key, char **pem, size_t *len)
{
    *pem = NULL;
    *len = 0;
    ek_rc rc = ek_key_to_tss2_pem(key, pem, len);
    if (rc == EK_ERR_UNSUPPORTED && ek_key_handle(key) != 0) {
        ek_clear_error();
        return EK_OK;
    }
    return rc;
}

ek_rc ek_store_put_key(const char *token, const char *label, const unsigned char *id, size_t id_len,
                       const ek_key *key, ek_store_obj *obj)
{
    const ek_pubkey *pub = key ? ek_key_public(key) : NULL;
    if (!pub)
        return ek_error(EK_ERR_INVALID, "store: no key to save");
    ek_rc rc = check_label(label);
    if (rc != EK_OK)
        return rc;
    if (id && (id_len == 0 || id_len > sizeof(obj->id)))
        return ek_error(EK_ERR_INVALID, "key id must be 1-64 bytes (got %zu)", id_len);
    ek_store_obj o = {0};
    unsigned char hash[32];
    char hashhex[65];
    ek_pubkey_sha256(pub, hash);
    ek_hex(hash, sizeof(hash), hashhex);
    o.id_len = id ? id_len : 8;
    memcpy(o.id, id ? id : hash, o.id_len);
    snprintf(o.token, sizeof(o.token), "%s", token ? token : "");
    snprintf(o.label, sizeof(o.label), "%s", label);
    o.alg = pub->alg;
    o.bits = pub->bits;
    o.curve = pub->curve;
    o.handle = ek_key_handle(key);
    o.created = time(NULL);

    char *pem = NULL;
    size_t pem_len = 0;
    if ((rc = key_pem(key, &pem, &pem_len)) != EK_OK)
        return rc;
    ek_token_info info;
    int dfd = -1;
    obj_list l = {0};
    if ((rc = token_open_locked(o.token, &info, &dfd)) == EK_OK &&
        (rc = token_objects(dfd, o.token, &l)) == EK_OK &&
        (rc = check_unique(&l, o.token, label, o.id, o.id_len)) == EK_OK &&
        (!pem || (rc = write_obj_file(dfd, &o, 0, pem, pem_len)) == EK_OK) &&
        (rc = write_meta(dfd, &o, hashhex)) != EK_OK && pem) /* last: the object appears */
        unlink_obj(dfd, &o, 0);                              /* no orphan key file */
    if (dfd >= 0)
        close(dfd);
    list_free(&l);
    free(pem);
    if (rc == EK_OK && obj) {
        o.has_key = true;
        *obj = o;
    }
    return rc;
}

typedef struct certinfo {
    ek_pubkey pub;
    unsigned char pubhash[32];
    char *pem;
    size_t pem_len;
} certinfo;

/* Attach a certificate to an existing object (by id, else by public key),
 * or make a certificate-only object. Runs with the token locked. */
static ek_rc put_cert_locked(int dfd, const obj_list *l, const certinfo *ci, const char *label,
                             const unsigned char *id, size_t id_len, ek_store_obj *o)
{
    char hashhex[65], hex[129];
    ek_hex(ci->pubhash, sizeof(ci->pubhash), hashhex);
    for (size_t i = 0; i < l->n; i++) {
        bool by_id = id && l->v[i].id_len == id_len && !memcmp(l->v[i].id, id, id_len);
        bool by_key = !id && strcmp(l->hash[i], hashhex) == 0;
        if (!by_id && !by_key)
            continue;
        *o = l->v[i];
        ek_hex(o->id, o->id_len, hex);
        if (l->hash[i][0] && strcmp(l->hash[i], hashhex) != 0)
            return ek_error(EK_ERR_INVALID,
                            "certificate refused: its public key does not match key '%s' (id "
                            "%s) in token '%s'; import the certificate issued for that key",
                            o->label, hex, o->token);
        o->has_cert = true;
        return write_obj_file(dfd, o, 2, ci->pem, ci->pem_len);
    }
    ek_rc rc = check_label(label);
    if (rc != EK_OK)
        return ek_error(rc, "certificate: no stored key matches it, so it needs a label of its "
                            "own (1-255 bytes)");
    o->id_len = id ? id_len : 8;
    memcpy(o->id, id ? id : ci->pubhash, o->id_len);
    snprintf(o->label, sizeof(o->label), "%s", label);
    o->alg = ci->pub.alg;
    o->bits = ci->pub.bits;
    o->curve = ci->pub.curve;
    o->created = time(NULL);
    o->has_cert = true;
    if ((rc = check_unique(l, o->token, label, o->id, o->id_len)) != EK_OK ||
        (rc = write_obj_file(dfd, o, 2, ci->pem, ci->pem_len)) != EK_OK)
        return rc;
    return write_meta(dfd, o, hashhex);
}

ek_rc ek_store_put_cert(const char *token, const char *label, const unsigned char *id,
                        size_t id_len, const unsigned char *der, size_t der_len, ek_store_obj *obj)
{
    if (id && (id_len == 0 || id_len > sizeof(obj->id)))
        return ek_error(EK_ERR_INVALID, "certificate id must be 1-64 bytes (got %zu)", id_len);
    certinfo ci = {0};
    ek_rc rc = ek_pubkey_from_cert_der(der, der_len, &ci.pub);
    if (rc != EK_OK)
        return rc;
    ek_pubkey_sha256(&ci.pub, ci.pubhash);
    if ((rc = ek_pem_encode("CERTIFICATE", der, der_len, &ci.pem, &ci.pem_len)) != EK_OK)
        return rc;
    ek_store_obj o = {0};
    snprintf(o.token, sizeof(o.token), "%s", token ? token : "");
    ek_token_info info;
    int dfd = -1;
    obj_list l = {0};
    if ((rc = token_open_locked(o.token, &info, &dfd)) == EK_OK &&
        (rc = token_objects(dfd, o.token, &l)) == EK_OK)
        rc = put_cert_locked(dfd, &l, &ci, label, id, id_len, &o);
    if (dfd >= 0)
        close(dfd);
    list_free(&l);
    free(ci.pem);
    if (rc == EK_OK && obj)
        *obj = o;
    return rc;
}

/* ---- reading and deleting ---- */

static ek_rc obj_dir_open(const ek_store_obj *obj, bool lock, int *dfd)
{
    char dir[1100];
    ek_rc rc = token_dir(obj->token, dir, sizeof(dir));
    if (rc != EK_OK)
        return rc;
    if (lock)
        return io_lock_dir(dir, dfd);
    *dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dfd < 0)
        return ek_error(errno == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO, "token %s: %s: %s",
                        obj->token, dir, strerror(errno));
    return EK_OK;
}

static ek_rc check_same_key(const ek_store_obj *obj, int dfd, const ek_key *key)
{
    char meta[160], hashhex[65], *text = NULL;
    unsigned char hash[32];
    size_t len;
    ek_store_obj cur;
    obj_name(obj, 1, meta, sizeof(meta));
    ek_rc rc = io_read_at(dfd, meta, 16384, &text, &len);
    if (rc == EK_OK)
        rc = meta_parse(text, &cur, hashhex);
    free(text);
    if (rc != EK_OK || !hashhex[0])
        return rc == EK_ERR_NOT_FOUND
                   ? ek_error(rc, "object '%s' was deleted from token '%s'", obj->label, obj->token)
                   : rc;
    char got[65];
    ek_pubkey_sha256(ek_key_public(key), hash);
    ek_hex(hash, sizeof(hash), got);
    if (strcmp(got, hashhex) != 0)
        return ek_error(EK_ERR_INVALID,
                        "key '%s' in token '%s': persistent handle 0x%08x now holds a different "
                        "key; delete the object or restore the handle",
                        obj->label, obj->token, obj->handle);
    return EK_OK;
}

/* The persistent handle first (one ReadPublic instead of SRK + Load), the
 * blob if the handle is gone, and never a different key that took the
 * handle's place. */
ek_rc ek_store_load_key(const ek_store_obj *obj, ek_key **out)
{
    int dfd;
    *out = NULL;
    ek_rc rc = obj_dir_open(obj, false, &dfd);
    if (rc != EK_OK)
        return rc;
    if (obj->handle && (rc = ek_key_from_handle(obj->handle, out)) == EK_OK) {
        if ((rc = check_same_key(obj, dfd, *out)) != EK_OK) {
            ek_key_free(*out);
            *out = NULL;
        }
        close(dfd);
        return rc;
    }
    if (obj->handle && rc != EK_ERR_NOT_FOUND) {
        close(dfd);
        return rc; /* e.g. the TPM is unreachable: do not mask that */
    }
    char name[160], *pem = NULL;
    size_t len;
    obj_name(obj, 0, name, sizeof(name));
    rc = io_read_at(dfd, name, 65536, &pem, &len);
    close(dfd);
    if (rc == EK_OK)
        rc = ek_key_from_tss2_pem(pem, len, out);
    else if (rc == EK_ERR_NOT_FOUND && obj->handle)
        rc = ek_error(rc,
                      "key '%s' in token '%s': persistent handle 0x%08x is empty and no key "
                      "file is stored; delete the object",
                      obj->label, obj->token, obj->handle);
    else if (rc == EK_ERR_NOT_FOUND)
        rc = ek_error(rc, "object '%s' in token '%s' has no key (certificate only)", obj->label,
                      obj->token);
    free(pem);
    return rc;
}

ek_rc ek_store_read_cert(const ek_store_obj *obj, unsigned char **der, size_t *len)
{
    int dfd;
    ek_rc rc = obj_dir_open(obj, false, &dfd);
    if (rc != EK_OK)
        return rc;
    static const char *const labels[] = {"CERTIFICATE"};
    char name[160], *pem = NULL;
    size_t pem_len;
    obj_name(obj, 2, name, sizeof(name));
    rc = io_read_at(dfd, name, 65536, &pem, &pem_len);
    close(dfd);
    if (rc == EK_ERR_NOT_FOUND)
        return ek_error(rc, "object '%s' in token '%s' has no certificate", obj->label, obj->token);
    if (rc == EK_OK)
        rc = ek_pem_find(pem, pem_len, labels, 1, der, len, NULL);
    free(pem);
    return rc;
}

static ek_rc unlink_obj(int dfd, const ek_store_obj *o, int ext)
{
    char name[160];
    obj_name(o, ext, name, sizeof(name));
    if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
        return ek_error(EK_ERR_IO, "token %s: cannot remove %s: %s", o->token, name,
                        strerror(errno));
    return EK_OK;
}

/* With the token locked: remove what was asked; keep .meta while a key or
 * certificate remains (rewritten without the handle if the key went). */
static ek_rc delete_locked(int dfd, const ek_store_obj *obj, int what, bool with_tpm)
{
    ek_rc rc;
    bool key = what != EK_OBJ_CERT, cert = what != EK_OBJ_PRIVATE;
    if (cert && !key && !obj_file_exists(dfd, obj, 2))
        return ek_error(EK_ERR_NOT_FOUND, "object '%s' in token '%s' has no certificate",
                        obj->label, obj->token);
    if (key && with_tpm && obj->handle) {
        rc = ek_key_evict_handle(obj->handle);
        if (rc != EK_OK && rc != EK_ERR_NOT_FOUND)
            return rc; /* keep the files: the key still exists in the TPM */
    }
    bool key_left = !key && (obj->handle || obj_file_exists(dfd, obj, 0));
    bool cert_left = !cert && obj_file_exists(dfd, obj, 2);
    if (!key_left && !cert_left && (rc = unlink_obj(dfd, obj, 1)) != EK_OK)
        return rc; /* the object disappears for readers here */
    if ((key && (rc = unlink_obj(dfd, obj, 0)) != EK_OK) ||
        (cert && (rc = unlink_obj(dfd, obj, 2)) != EK_OK))
        return rc;
    if (key && cert_left) {
        char *text = NULL, hashhex[65];
        size_t len;
        ek_store_obj cur;
        char name[160];
        obj_name(obj, 1, name, sizeof(name));
        rc = io_read_at(dfd, name, 16384, &text, &len);
        if (rc == EK_OK && (rc = meta_parse(text, &cur, hashhex)) == EK_OK) {
            cur.handle = 0;
            memcpy(cur.id, obj->id, obj->id_len);
            cur.id_len = obj->id_len;
            rc = write_meta(dfd, &cur, hashhex);
        }
        free(text);
        if (rc != EK_OK)
            return rc;
    }
    return io_sync_dir(dfd);
}

ek_rc ek_store_delete(const ek_store_obj *obj, int what, bool with_tpm)
{
    if (!obj)
        return ek_error(EK_ERR_INVALID, "store delete: no object");
    if (what != EK_OBJ_ANY && what != EK_OBJ_CERT && what != EK_OBJ_PRIVATE)
        return ek_error(EK_ERR_INVALID, "store delete: remove the key (EK_OBJ_PRIVATE), the "
                                        "certificate (EK_OBJ_CERT) or both (EK_OBJ_ANY)");
    int dfd;
    ek_rc rc = obj_dir_open(obj, true, &dfd);
    if (rc != EK_OK)
        return rc;
    rc = delete_locked(dfd, obj, what, with_tpm);
    close(dfd);
    return rc;
}
