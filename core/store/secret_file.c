/* edgekey core: <name>.data records of sealed secrets (ek_secret_int.h):
 * the "key = value" codec, listing a token's data objects, and atomic
 * writes under the token directory's flock (store_io.c primitives). The
 * records hold no secret in clear: only the TPM-sealed blob. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ek_crypto.h"
#include "ek_config.h"
#include "ek_log.h"
#include "ek_secret_int.h"
#include "ek_store.h"
#include "ek_store_int.h"

#define MAGIC "EKDATA1"
#define EXT ".data"

/* "key = <hex>\n" appended at *off; false if it does not fit. */
static bool put_hex(char *buf, size_t size, size_t *off, const char *key, const void *v, size_t n)
{
    size_t need = strlen(key) + 3 + 2 * n + 1;
    if (*off + need + 1 > size)
        return false;
    *off += (size_t)snprintf(buf + *off, size - *off, "%s = ", key);
    ek_hex(v, n, buf + *off);
    *off += 2 * n;
    buf[(*off)++] = '\n';
    buf[*off] = '\0';
    return true;
}

ek_rc ek_secret_format(const ek_secret_obj *o, const unsigned char *blob, size_t blob_len,
                       char **text, size_t *len)
{
    size_t size = 1024 + 2 * (sizeof(o->label) + sizeof(o->application) + sizeof(o->id) +
                              sizeof(o->object_id) + blob_len);
    char *buf = malloc(size);
    if (!buf)
        return ek_error(EK_ERR_NOMEM, "data object: out of memory");
    size_t off = (size_t)snprintf(buf, size, "format = %s\n", MAGIC);
    bool ok = put_hex(buf, size, &off, "label", o->label, strlen(o->label)) &&
              put_hex(buf, size, &off, "application", o->application, strlen(o->application)) &&
              put_hex(buf, size, &off, "id", o->id, o->id_len) &&
              put_hex(buf, size, &off, "object_id", o->object_id, o->object_id_len);
    if (ok) {
        off += (size_t)snprintf(
            buf + off, size - off, "private = %d\nauth = %s\nvalue_len = %zu\ncreated = %lld\n",
            o->priv ? 1 : 0, o->token_auth ? "token" : "none", o->value_len, (long long)o->created);
        ok = put_hex(buf, size, &off, "sealed", blob, blob_len);
    }
    if (!ok) {
        free(buf);
        return ek_error(EK_ERR_INVALID, "data object '%s': record too large", o->label);
    }
    *text = buf;
    *len = off;
    return EK_OK;
}

/* Hex value of key into out (max bytes); a string when str (NUL added,
 * no NUL inside). */
static bool get_hex(const char *text, const char *key, unsigned char *out, size_t max, size_t *n,
                    bool str)
{
    char hex[2 * EK_SECRET_BLOB_MAX + 1];
    size_t len = 0;
    if (ek_kv_get(text, key, hex, sizeof(hex)) != EK_OK ||
        ek_unhex(hex, out, str ? max - 1 : max, &len) != EK_OK)
        return false;
    if (str) {
        if (memchr(out, 0, len))
            return false;
        out[len] = 0;
    }
    if (n)
        *n = len;
    return true;
}

static bool get_num(const char *text, const char *key, long long *v)
{
    char buf[32], *end;
    if (ek_kv_get(text, key, buf, sizeof(buf)) != EK_OK || !buf[0])
        return false;
    *v = strtoll(buf, &end, 10);
    return *end == '\0';
}

ek_rc ek_secret_parse(const char *text, const char *token, const char *name, ek_secret_obj *o,
                      unsigned char *blob, size_t blob_size, size_t *blob_len)
{
    char fmt[16], auth[8];
    long long priv, vlen, created;
    size_t label_len = 0;
    memset(o, 0, sizeof(*o));
    if (ek_kv_get(text, "format", fmt, sizeof(fmt)) != EK_OK || strcmp(fmt, MAGIC) != 0 ||
        !get_hex(text, "label", (unsigned char *)o->label, sizeof(o->label), &label_len, true) ||
        label_len == 0 ||
        !get_hex(text, "application", (unsigned char *)o->application, sizeof(o->application), NULL,
                 true) ||
        !get_hex(text, "id", o->id, sizeof(o->id), &o->id_len, false) ||
        !get_hex(text, "object_id", o->object_id, sizeof(o->object_id), &o->object_id_len, false) ||
        !get_num(text, "private", &priv) || !get_num(text, "value_len", &vlen) ||
        !get_num(text, "created", &created) || ek_kv_get(text, "auth", auth, sizeof(auth)) != EK_OK)
        return EK_ERR_INVALID;
    if ((priv != 0 && priv != 1) || vlen < 1 || vlen > EK_SECRET_MAX ||
        (strcmp(auth, "token") != 0 && strcmp(auth, "none") != 0))
        return EK_ERR_INVALID;
    if (blob && !get_hex(text, "sealed", blob, blob_size, blob_len, false))
        return EK_ERR_INVALID;
    snprintf(o->token, sizeof(o->token), "%s", token);
    snprintf(o->name, sizeof(o->name), "%s", name);
    o->priv = priv == 1;
    o->token_auth = strcmp(auth, "token") == 0;
    o->value_len = (size_t)vlen;
    o->created = (time_t)created;
    return EK_OK;
}

ek_rc ek_secret_new_name(char name[17])
{
    unsigned char raw[8];
    if (!ek_sw_random(raw, sizeof(raw))) /* core's private context (crypto.c) */
        return ek_error(EK_ERR_IO, "data object: no random bytes for its file name");
    ek_hex(raw, sizeof(raw), name);
    return EK_OK;
}

/* "<16 hex>.data" -> stem; false for other files. */
static bool data_stem(const char *file, char stem[17])
{
    size_t n = strlen(file);
    if (n != 16 + strlen(EXT) || strcmp(file + 16, EXT) != 0 ||
        strspn(file, "0123456789abcdef") != 16)
        return false;
    memcpy(stem, file, 16);
    stem[16] = '\0';
    return true;
}

static int cmp_label(const void *a, const void *b)
{
    const ek_secret_obj *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    return c ? c : strcmp(x->name, y->name);
}

/* All data objects of the token directory dfd, optionally one label. */
static ek_rc list_dir(int dfd, const char *token, const char *label, ek_secret_obj **out, size_t *n)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return ek_error(EK_ERR_IO, "token %s: cannot list: %s", token, strerror(errno));
    }
    ek_rc rc = EK_OK;
    size_t cap = 0;
    struct dirent *e;
    while (rc == EK_OK && (e = readdir(d))) {
        char stem[17], *text = NULL;
        size_t len = 0;
        ek_secret_obj o;
        if (!data_stem(e->d_name, stem))
            continue;
        ek_rc lrc = ek_io_read_at(dfd, e->d_name, 4 * EK_SECRET_BLOB_MAX + 8192, &text, &len);
        if (lrc == EK_OK)
            lrc = ek_secret_parse(text, token, stem, &o, NULL, 0, NULL);
        free(text);
        if (lrc != EK_OK) {
            if (lrc != EK_ERR_NOT_FOUND) /* NOT_FOUND: deleted while we looked */
                ek_log(EK_LOG_WARN, "token %s: skipping damaged data object file %s", token,
                       e->d_name);
            continue;
        }
        if (label && *label && strcmp(o.label, label) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            ek_secret_obj *p = realloc(*out, cap * sizeof(*p));
            if (!p) {
                rc = ek_error(EK_ERR_NOMEM, "token %s: out of memory", token);
                break;
            }
            *out = p;
        }
        (*out)[(*n)++] = o;
    }
    closedir(d);
    return rc;
}

/* Open the token directory (NOT_FOUND without a message if absent). */
static ek_rc open_token(const char *token, bool lock, int *dfd)
{
    ek_token_info ti;
    ek_rc rc = ek_store_token_get(token, &ti);
    if (rc != EK_OK)
        return rc;
    if (lock)
        return ek_io_lock_dir(ti.dir, dfd);
    *dfd = open(ti.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dfd < 0)
        return errno == ENOENT
                   ? EK_ERR_NOT_FOUND
                   : ek_error(EK_ERR_IO, "token %s: %s: %s", token, ti.dir, strerror(errno));
    return EK_OK;
}

ek_rc ek_secret_find(const char *token, const char *label, ek_secret_obj **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int dfd;
    ek_rc rc = open_token(token, false, &dfd);
    if (rc == EK_ERR_NOT_FOUND) {
        ek_clear_error();
        return EK_OK;
    }
    if (rc != EK_OK)
        return rc;
    rc = list_dir(dfd, token, label, out, n);
    close(dfd);
    if (rc != EK_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), cmp_label);
    return EK_OK;
}

ek_rc ek_secret_store(const ek_secret_obj *o, const unsigned char *blob, size_t blob_len)
{
    char *text = NULL, file[32];
    size_t len = 0;
    ek_rc rc = ek_secret_format(o, blob, blob_len, &text, &len);
    if (rc != EK_OK)
        return rc;
    int dfd = -1;
    ek_secret_obj *all = NULL;
    size_t n = 0;
    snprintf(file, sizeof(file), "%s%s", o->name, EXT);
    if ((rc = ek_store_token_ensure(o->token, NULL)) == EK_OK &&
        (rc = open_token(o->token, true, &dfd)) == EK_OK &&
        (rc = list_dir(dfd, o->token, o->label, &all, &n)) == EK_OK) {
        if (n > 0)
            rc = ek_error(EK_ERR_EXISTS,
                          "token '%s' already has a data object labelled '%s'; choose another "
                          "label or delete the old one first",
                          o->token, o->label);
        else if (faccessat(dfd, file, F_OK, 0) == 0)
            rc = ek_error(EK_ERR_EXISTS, "token '%s': %s exists; try again", o->token, file);
        else
            rc = ek_io_write_at(dfd, file, text, len, 0600);
    }
    if (dfd >= 0)
        close(dfd); /* drops the lock */
    free(all);
    free(text);
    return rc;
}

ek_rc ek_secret_load_blob(const ek_secret_obj *o, unsigned char *blob, size_t size, size_t *len)
{
    char file[32], *text = NULL;
    size_t tlen = 0;
    int dfd;
    ek_secret_obj cur;
    ek_rc rc = open_token(o->token, false, &dfd);
    if (rc != EK_OK)
        return rc == EK_ERR_NOT_FOUND ? ek_error(rc, "token '%s' is gone", o->token) : rc;
    snprintf(file, sizeof(file), "%s%s", o->name, EXT);
    rc = ek_io_read_at(dfd, file, 4 * EK_SECRET_BLOB_MAX + 8192, &text, &tlen);
    close(dfd);
    if (rc == EK_ERR_NOT_FOUND)
        return ek_error(rc, "data object '%s' was deleted from token '%s'", o->label, o->token);
    if (rc == EK_OK && ek_secret_parse(text, o->token, o->name, &cur, blob, size, len) != EK_OK)
        rc = ek_error(EK_ERR_INVALID,
                      "data object '%s' in token '%s': %s is damaged; delete it and store "
                      "the secret again",
                      o->label, o->token, file);
    free(text);
    return rc;
}

ek_rc ek_secret_delete(const ek_secret_obj *obj)
{
    char file[32];
    int dfd;
    ek_rc rc = open_token(obj->token, true, &dfd);
    if (rc != EK_OK)
        return rc;
    snprintf(file, sizeof(file), "%s%s", obj->name, EXT);
    if (unlinkat(dfd, file, 0) != 0)
        rc = errno == ENOENT ? ek_error(EK_ERR_NOT_FOUND,
                                        "data object '%s' in token '%s' is "
                                        "already gone",
                                        obj->label, obj->token)
                             : ek_error(EK_ERR_IO, "token %s: cannot remove %s: %s", obj->token,
                                        file, strerror(errno));
    if (rc == EK_OK)
        rc = ek_io_sync_dir(dfd);
    close(dfd);
    return rc;
}

ek_rc ek_secret_delete_all(const char *token, size_t *count)
{
    ek_secret_obj *all = NULL;
    size_t n = 0;
    ek_rc rc = ek_secret_find(token, NULL, &all, &n);
    for (size_t i = 0; rc == EK_OK && i < n; i++) {
        rc = ek_secret_delete(&all[i]);
        if (rc == EK_ERR_NOT_FOUND) {
            ek_clear_error();
            rc = EK_OK;
        }
    }
    free(all);
    if (count)
        *count = rc == EK_OK ? n : 0;
    return rc;
}
