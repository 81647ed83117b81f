/* edgekey core: the store's records (ek_store_int.h): hex ids, token.conf,
 * the "<idhex>.meta" files and their percent-encoded labels, object file
 * names, and the listing of a token's objects from its .meta files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ek_crypto.h"
#include "ek_config.h"
#include "ek_log.h"
#include "ek_store_int.h"

static const char *const obj_ext[] = {".key", ".meta", ".crt"};

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
ek_rc ek_meta_parse(const char *text, ek_store_obj *o, char pubhash[65])
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

ek_rc ek_token_conf_read(int dfd, const char *dir, ek_token_info *out)
{
    char *text = NULL;
    size_t len = 0;
    ek_rc rc = ek_io_read_at(dfd, "token.conf", 4096, &text, &len);
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

ek_rc ek_token_conf_write(int dfd, const char *token, const char *dir)
{
    unsigned char raw[8];
    char serial[17], text[128];
    if (!ek_sw_random(raw, sizeof(raw))) /* core's private context (crypto.c) */
        return ek_error(EK_ERR_IO, "token %s: no random bytes for the serial number", token);
    ek_hex(raw, sizeof(raw), serial);
    int n = snprintf(text, sizeof(text), "label = %s\nserial = %s\nflags = 0\n", token, serial);
    ek_rc rc = ek_io_write_at(dfd, "token.conf", text, (size_t)n, 0644);
    if (rc == EK_OK)
        ek_log(EK_LOG_INFO, "created token %s in %s (serial %s)", token, dir, serial);
    return rc;
}

void ek_obj_name(const ek_store_obj *o, int ext, char *buf, size_t size)
{
    char hex[2 * sizeof(o->id) + 1];
    ek_hex(o->id, o->id_len, hex);
    snprintf(buf, size, "%s%s", hex, obj_ext[ext]);
}

bool ek_obj_file_exists(int dfd, const ek_store_obj *o, int ext)
{
    char name[160];
    ek_obj_name(o, ext, name, sizeof(name));
    return ek_io_present_at(dfd, name); /* a link counts; reading it is refused */
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
    ek_rc rc = ek_io_read_at(dfd, name, 16384, &text, &len);
    if (rc != EK_OK)
        return rc;
    snprintf(o->token, sizeof(o->token), "%s", token);
    rc = ek_meta_parse(text, o, pubhash);
    free(text);
    if (rc != EK_OK)
        return rc;
    o->has_key = o->handle != 0 || ek_obj_file_exists(dfd, o, 0);
    o->has_cert = ek_obj_file_exists(dfd, o, 2);
    return EK_OK;
}

ek_rc ek_obj_list_push(ek_obj_list *l, const ek_store_obj *o, const char *hash)
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

void ek_obj_list_free(ek_obj_list *l)
{
    free(l->v);
    free(l->hash);
    memset(l, 0, sizeof(*l));
}

/* All objects of one token (directory open as dfd). Damaged .meta files
 * are skipped with a warning rather than hiding every other object. */
ek_rc ek_token_objects(int dfd, const char *token, ek_obj_list *l)
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
            rc = ek_obj_list_push(l, &o, hash);
        else if (lrc == EK_ERR_IO) /* refused (a link, not a regular file): say so */
            ek_log(EK_LOG_ERR, "edgekey: token %s: skipping %s: %s", token, e->d_name,
                   ek_last_error());
        else if (lrc != EK_ERR_NOT_FOUND) /* NOT_FOUND: deleted while we looked */
            ek_log(EK_LOG_WARN, "token %s: skipping damaged %s", token, e->d_name);
    }
    closedir(d);
    return rc;
}

ek_rc ek_obj_write_file(int dfd, const ek_store_obj *o, int ext, const char *data, size_t len)
{
    char name[160];
    ek_obj_name(o, ext, name, sizeof(name));
    return ek_io_write_at(dfd, name, data, len, ext == 2 ? 0644 : 0600);
}

ek_rc ek_obj_write_meta(int dfd, const ek_store_obj *o, const char *pubhash)
{
    char text[2048];
    size_t n = meta_format(o, pubhash, text, sizeof(text));
    return ek_obj_write_file(dfd, o, 1, text, n);
}
