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
 * the EC point 04||X||Y.
 * File primitives are in store_io.c, the record formats and object listing
 * in store_meta.c (ek_store_int.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ek_addr.h"
#include "ek_config.h"
#include "ek_keyfile.h"
#include "ek_log.h"
#include "ek_store.h"
#include "ek_store_int.h"

const char *ek_store_root(void)
{
    const ek_config *cfg = ek_config_get();
    return cfg ? cfg->store : NULL;
}

static ek_rc token_dir(const char *token, char *dir, size_t size)
{
    ek_rc rc = ek_token_label_check(token);
    if (rc != EK_OK)
        return rc;
    const char *root = ek_store_root();
    if (!root)
        return EK_ERR_INVALID; /* the configuration's message stands */
    if ((size_t)snprintf(dir, size, "%s/%s", root, token) >= size)
        return ek_error(EK_ERR_INVALID, "store path %s/%s is too long", root, token);
    return EK_OK;
}

/* A stat instead of reading token.conf: the PIN code asks for the
 * directory several times per PKCS#11 call. */
ek_rc ek_store_token_dir(const char *token, char *buf, size_t size)
{
    struct stat st;
    ek_rc rc = token_dir(token, buf, size);
    if (rc == EK_OK && (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = ek_error(EK_ERR_NOT_FOUND,
                      "token '%s' not found in store %s; create it with 'edgekey token init' "
                      "or by storing a key in it",
                      token, ek_store_root());
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
    rc = dfd < 0 ? EK_ERR_NOT_FOUND : ek_token_conf_read(dfd, dir, out);
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
    if ((rc = ek_io_mkdirs(ek_store_root(), 0755)) != EK_OK)
        return rc;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ek_error(EK_ERR_IO,
                        "token %s: cannot create %s: %s; check the store's owner "
                        "and permissions",
                        token, dir, strerror(errno));
    int dfd;
    if ((rc = ek_io_lock_dir(dir, &dfd)) != EK_OK)
        return rc;
    rc = ek_token_conf_read(dfd, dir, info);
    if (rc == EK_ERR_NOT_FOUND && (rc = ek_token_conf_write(dfd, token, dir)) == EK_OK)
        rc = ek_token_conf_read(dfd, dir, info);
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
        if (ek_token_label_check(e->d_name) != EK_OK || e->d_name[0] == '.')
            continue;
        ek_rc trc = ek_store_token_get(e->d_name, &info);
        if (trc != EK_OK) {
            /* Not a token directory: skip it quietly; one whose token.conf
             * is refused (a link, unreadable) is skipped loudly. */
            if (trc != EK_ERR_NOT_FOUND && e->d_type == DT_DIR)
                ek_log(EK_LOG_ERR, "edgekey: store: token '%s' skipped: %s", e->d_name,
                       ek_last_error());
            ek_clear_error();
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
                           size_t id_len, ek_obj_list *out)
{
    char dir[1100];
    if (ek_token_label_check(token) != EK_OK) {
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
    ek_obj_list all = {0};
    rc = ek_token_objects(dfd, token, &all);
    close(dfd);
    for (size_t i = 0; rc == EK_OK && i < all.n; i++)
        if (obj_matches(&all.v[i], label, id, id_len))
            rc = ek_obj_list_push(out, &all.v[i], all.hash[i]);
    ek_obj_list_free(&all);
    return rc;
}

ek_rc ek_store_find(const char *token, const char *label, const unsigned char *id, size_t id_len,
                    ek_store_obj **out, size_t *n)
{
    ek_obj_list l = {0};
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
        ek_obj_list_free(&l);
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
static ek_rc check_unique(const ek_obj_list *l, const char *token, const char *label,
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
    ek_obj_list l = {0};
    if ((rc = token_open_locked(o.token, &info, &dfd)) == EK_OK &&
        (rc = ek_token_objects(dfd, o.token, &l)) == EK_OK &&
        (rc = check_unique(&l, o.token, label, o.id, o.id_len)) == EK_OK &&
        (!pem || (rc = ek_obj_write_file(dfd, &o, 0, pem, pem_len)) == EK_OK) &&
        (rc = ek_obj_write_meta(dfd, &o, hashhex)) != EK_OK && pem) /* last: the object appears */
        unlink_obj(dfd, &o, 0);                                     /* no orphan key file */
    if (dfd >= 0)
        close(dfd);
    ek_obj_list_free(&l);
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
static ek_rc put_cert_locked(int dfd, const ek_obj_list *l, const certinfo *ci, const char *label,
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
        return ek_obj_write_file(dfd, o, 2, ci->pem, ci->pem_len);
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
        (rc = ek_obj_write_file(dfd, o, 2, ci->pem, ci->pem_len)) != EK_OK)
        return rc;
    return ek_obj_write_meta(dfd, o, hashhex);
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
    ek_obj_list l = {0};
    if ((rc = token_open_locked(o.token, &info, &dfd)) == EK_OK &&
        (rc = ek_token_objects(dfd, o.token, &l)) == EK_OK)
        rc = put_cert_locked(dfd, &l, &ci, label, id, id_len, &o);
    if (dfd >= 0)
        close(dfd);
    ek_obj_list_free(&l);
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
        return ek_io_lock_dir(dir, dfd);
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
    ek_obj_name(obj, 1, meta, sizeof(meta));
    ek_rc rc = ek_io_read_at(dfd, meta, 16384, &text, &len);
    if (rc == EK_OK)
        rc = ek_meta_parse(text, &cur, hashhex);
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
    ek_obj_name(obj, 0, name, sizeof(name));
    rc = ek_io_read_at(dfd, name, 65536, &pem, &len);
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
    ek_obj_name(obj, 2, name, sizeof(name));
    rc = ek_io_read_at(dfd, name, 65536, &pem, &pem_len);
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
    ek_obj_name(o, ext, name, sizeof(name));
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
    if (cert && !key && !ek_obj_file_exists(dfd, obj, 2))
        return ek_error(EK_ERR_NOT_FOUND, "object '%s' in token '%s' has no certificate",
                        obj->label, obj->token);
    if (key && with_tpm && obj->handle) {
        rc = ek_key_evict_handle(obj->handle);
        if (rc != EK_OK && rc != EK_ERR_NOT_FOUND)
            return rc; /* keep the files: the key still exists in the TPM */
    }
    bool key_left = !key && (obj->handle || ek_obj_file_exists(dfd, obj, 0));
    bool cert_left = !cert && ek_obj_file_exists(dfd, obj, 2);
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
        ek_obj_name(obj, 1, name, sizeof(name));
        rc = ek_io_read_at(dfd, name, 16384, &text, &len);
        if (rc == EK_OK && (rc = ek_meta_parse(text, &cur, hashhex)) == EK_OK) {
            cur.handle = 0;
            memcpy(cur.id, obj->id, obj->id_len);
            cur.id_len = obj->id_len;
            rc = ek_obj_write_meta(dfd, &cur, hashhex);
        }
        free(text);
        if (rc != EK_OK)
            return rc;
    }
    return ek_io_sync_dir(dfd);
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
