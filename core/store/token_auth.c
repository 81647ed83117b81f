/* edgekey core: the token/PIN model (ek_token.h) - files, counters, derivation.
 * The TPM work is in token_seal.c (the secret in a DA-protected sealed
 * object: every new copy) and token_nv.c (reading and removing the noDA NV
 * indices of tokens made before 0.2). The migration of such tokens is here
 * too: it is a login followed by a re-seal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "ek_config.h"
#include "ek_key.h"
#include "ek_log.h"
#include "ek_store.h"
#include "ek_crypto.h"
#include "ek_store_int.h"
#include "ek_tpm_int.h"
#include "ek_token.h"
#include "token_nv.h"
#include "token_seal.h"
#include "token_tries.h"

#define SEAL_SO "pin-so.seal"
#define SEAL_USER "pin-user.seal"
#define NV_SO "pin-so.nv"
#define NV_USER "pin-user.nv"
#define NV_MAGIC "EKNV1"

static const char *seal_name(ek_token_user who)
{
    return who == EK_TOKEN_SO ? SEAL_SO : SEAL_USER;
}

static const char *nv_file(ek_token_user who)
{
    return who == EK_TOKEN_SO ? NV_SO : NV_USER;
}

static const char *who_name(ek_token_user who)
{
    return who == EK_TOKEN_SO ? "SO PIN" : "user PIN";
}

static ek_rc token_dir(const char *token, char *buf, size_t size)
{
    return ek_store_token_dir(token, buf, size);
}

/* HMAC-SHA256(key, prefix || data) with trailing zero bytes removed: the TPM
 * strips them from auth values, so we never hand it one that ends in zero.
 * In the core's private OpenSSL library context (crypto.c): no provider of
 * the application sees the PIN. */
ek_rc ek_token_derive_auth(const unsigned char *key, size_t key_len, const char *prefix,
                           const unsigned char *data, size_t len, unsigned char *out,
                           size_t *out_len)
{
    unsigned char buf[32], msg[256];
    size_t pl = strlen(prefix);
    bool ok = pl + len <= sizeof(msg);
    if (ok) {
        memcpy(msg, prefix, pl);
        memcpy(msg + pl, data, len);
        ok = ek_sw_hmac_sha256(key, key_len, msg, pl + len, buf);
    }
    ek_wipe(msg, sizeof(msg));
    size_t n = ok ? sizeof(buf) : 0;
    if (!ok) {
        ek_wipe(buf, sizeof(buf));
        return ek_error(EK_ERR_INVALID, "token auth: HMAC-SHA256 failed");
    }
    while (n > 0 && buf[n - 1] == 0)
        n--;
    memcpy(out, buf, n);
    *out_len = n;
    ek_wipe(buf, sizeof(buf));
    return EK_OK;
}

static ek_rc pin_auth(const char *pin, size_t len, unsigned char *out, size_t *out_len)
{
    static const unsigned char k[] = "edgekey pin";
    return ek_token_derive_auth(k, sizeof(k) - 1, "", (const unsigned char *)pin, len, out,
                                out_len);
}

static ek_rc read_seal(const char *dir, ek_token_user who, ek_sealed *blob)
{
    char path[1200], *buf = NULL;
    size_t n = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, seal_name(who));
    ek_rc rc = ek_io_read_in(dir, seal_name(who), EK_SEAL_FILE_MAX, &buf, &n);
    if (rc == EK_ERR_NOT_FOUND)
        return ek_error(EK_ERR_NOT_FOUND, "%s not set (%s missing)", who_name(who), path);
    if (rc != EK_OK)
        return ek_error(rc, "%s: %s", dir, ek_last_error());
    rc = ek_seal_decode((const unsigned char *)buf, n, blob, path);
    free(buf);
    return rc;
}

/* Atomic write under the token's flock (store_io.c); secrets are 0600. */
static ek_rc write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    ek_rc rc = ek_io_write_in(dir, name, data, len, 0600);
    return rc == EK_OK ? rc : ek_error(rc, "%s: %s", dir, ek_last_error());
}

static ek_rc write_seal(const char *dir, ek_token_user who, const ek_sealed *blob)
{
    unsigned char buf[EK_SEAL_FILE_MAX];
    size_t len;
    ek_rc rc = ek_seal_encode(blob, buf, sizeof(buf), &len);
    return rc == EK_OK ? write_atomic(dir, seal_name(who), buf, len) : rc;
}

/* ---- the secret in an NV index: pin-<who>.nv names the index ---- */

/* The index a token's pin-<who>.nv records: EK_OK, EK_ERR_NOT_FOUND (no
 * file, no message), EK_ERR_INVALID (damaged). */
static ek_rc read_nv(const char *dir, ek_token_user who, uint32_t *index)
{
    char path[1200], *buf = NULL, v[32], magic[16];
    size_t n = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, nv_file(who));
    ek_rc rc = ek_io_read_in(dir, nv_file(who), 255, &buf, &n);
    if (rc != EK_OK)
        return rc == EK_ERR_NOT_FOUND ? rc : ek_error(rc, "%s: %s", dir, ek_last_error());
    char *end = NULL;
    unsigned long h = 0;
    if (ek_kv_get(buf, "format", magic, sizeof(magic)) == EK_OK && strcmp(magic, NV_MAGIC) == 0 &&
        ek_kv_get(buf, "index", v, sizeof(v)) == EK_OK)
        h = strtoul(v, &end, 0);
    free(buf);
    if (!end || *end || h < EK_NV_BASE || h >= EK_NV_BASE + EK_NV_COUNT)
        return ek_error(EK_ERR_INVALID,
                        "%s: not an edgekey NV record (%s); re-initialise the "
                        "token's PINs",
                        path, NV_MAGIC);
    *index = (uint32_t)h;
    return EK_OK;
}

static void unlink_in(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
        ek_log(EK_LOG_WARN, "edgekey: cannot remove %s: %s", path, strerror(errno));
}

/* Forget who's secret: both kinds of file, and the NV index if any. */
static ek_rc remove_secret(const char *dir, ek_token_user who)
{
    uint32_t old = 0;
    char path[1200];
    bool had_nv = read_nv(dir, who, &old) == EK_OK;
    snprintf(path, sizeof(path), "%s/%s", dir, seal_name(who));
    if (unlink(path) != 0 && errno != ENOENT)
        return ek_error(EK_ERR_IO, "%s: %s", path, strerror(errno));
    unlink_in(dir, nv_file(who));
    if (had_nv && ek_nv_secret_remove(old) != EK_OK)
        ek_log(EK_LOG_WARN, "edgekey: %s: NV index 0x%08x not removed: %s", dir, old,
               ek_last_error());
    ek_clear_error();
    return EK_OK;
}

/* Store who's copy of the secret under auth in a DA-protected sealed object
 * (a file in the token directory); then an older NV copy, if any, goes. */
static ek_rc store_secret(const char *dir, ek_token_user who, const ek_token_secret *s,
                          const unsigned char *auth, size_t alen)
{
    uint32_t old = 0;
    bool had_nv = read_nv(dir, who, &old) == EK_OK;
    ek_clear_error();
    ek_sealed blob;
    ek_rc rc = ek_seal_create(s->v, sizeof(s->v), auth, alen, true, &blob);
    if (rc == EK_OK)
        rc = write_seal(dir, who, &blob);
    ek_wipe(&blob, sizeof(blob));
    if (rc != EK_OK)
        return rc;
    unlink_in(dir, nv_file(who));
    if (had_nv && ek_nv_secret_remove(old) != EK_OK)
        ek_log(EK_LOG_WARN, "edgekey: %s: old NV index 0x%08x not removed: %s", dir, old,
               ek_last_error());
    ek_clear_error();
    return EK_OK;
}

/* who's secret back with auth: from NV if the token has a record, else
 * from the seal file (tokens made before NV, or NV unavailable). */
static ek_rc load_secret(const char *dir, ek_token_user who, const unsigned char *auth, size_t alen,
                         ek_token_secret *out)
{
    uint32_t index = 0;
    size_t slen = sizeof(out->v);
    ek_rc rc = read_nv(dir, who, &index);
    if (rc == EK_OK)
        return ek_nv_secret_read(index, auth, alen, out->v, sizeof(out->v));
    if (rc != EK_ERR_NOT_FOUND)
        return rc;
    ek_sealed blob;
    rc = read_seal(dir, who, &blob);
    if (rc == EK_OK)
        rc = ek_seal_unseal(&blob, auth, alen, out->v, &slen);
    if (rc == EK_OK && slen != sizeof(out->v))
        rc = ek_error(EK_ERR_INVALID, "sealed token secret has the wrong size");
    return rc;
}

/* ---- where each PIN's copy lives (files only, no TPM) ---- */

static bool kind_is_old(ek_token_pin_kind k)
{
    return k == EK_PIN_NV || k == EK_PIN_SEALED_NODA;
}

/* An NV record wins over a seal file, as in load_secret. A present seal
 * file is decoded for its noDA attribute; the caller's error message is
 * kept, since a status query must not replace it. */
static ek_token_pin_kind pin_kind(int dfd, const char *dir, ek_token_user who)
{
    if (ek_io_present_at(dfd, nv_file(who)))
        return EK_PIN_NV;
    if (!ek_io_present_at(dfd, seal_name(who)))
        return EK_PIN_UNSET;
    char keep[1024];
    snprintf(keep, sizeof(keep), "%s", ek_last_error());
    ek_sealed blob;
    ek_token_pin_kind k = EK_PIN_UNREADABLE;
    if (read_seal(dir, who, &blob) == EK_OK)
        k = ek_seal_noda(&blob) ? EK_PIN_SEALED_NODA : EK_PIN_SEALED;
    ek_wipe(&blob, sizeof(blob));
    ek_error(EK_OK, "%s", keep);
    return k;
}

static const char *kind_text(ek_token_pin_kind k)
{
    return k == EK_PIN_NV ? "a noDA NV index" : "a noDA sealed object";
}

/* One line per login to a token made before 0.2 (never the PIN): what is
 * wrong and the command that fixes it. EK_LOG_ALERT: shown at log level 0. */
static void warn_old(const char *token, const ek_token_pins *st)
{
    ek_token_pin_kind k =
        kind_is_old(st->kind[EK_TOKEN_SO]) ? st->kind[EK_TOKEN_SO] : st->kind[EK_TOKEN_USER];
    ek_log(EK_LOG_ALERT,
           "token %s: its PIN secret is kept in %s (made before edgekey 0.2), without TPM "
           "dictionary-attack protection: anyone with TPM access can guess the PINs without "
           "limit; fix: edgekey token migrate --token %s",
           token, kind_text(k), token);
}

/* ---- public API ---- */

ek_rc ek_token_pin_state(const char *token, ek_token_pins *out)
{
    char dir[1100];
    memset(out, 0, sizeof(*out));
    out->max_tries = EK_TOKEN_MAX_TRIES;
    ek_rc rc = token_dir(token, dir, sizeof(dir));
    if (rc != EK_OK)
        return rc;
    /* A PIN file present in any form (a link too, not followed) makes the
     * token need a login: never fail open into a PIN-less token. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ek_error(EK_ERR_IO, "token %s: cannot open %s: %s", token, dir, strerror(errno));
    out->has_so_pin = ek_io_present_at(dfd, SEAL_SO) || ek_io_present_at(dfd, NV_SO);
    out->has_user_pin = ek_io_present_at(dfd, SEAL_USER) || ek_io_present_at(dfd, NV_USER);
    for (int w = EK_TOKEN_USER; w <= EK_TOKEN_SO; w++)
        out->kind[w] = pin_kind(dfd, dir, (ek_token_user)w);
    out->needs_migration =
        kind_is_old(out->kind[EK_TOKEN_SO]) || kind_is_old(out->kind[EK_TOKEN_USER]);
    close(dfd);
    unsigned f[2];
    ek_tries_state(dir, f);
    out->user_fails = f[EK_TOKEN_USER];
    out->so_fails = f[EK_TOKEN_SO];
    return EK_OK;
}

bool ek_token_login_required(const char *token)
{
    ek_token_pins p;
    return ek_token_pin_state(token, &p) == EK_OK && p.has_so_pin;
}

ek_rc ek_token_init(const char *token, const char *so_pin, size_t so_pin_len)
{
    char dir[1100];
    ek_rc rc = token_dir(token, dir, sizeof(dir));
    if (rc != EK_OK)
        return rc;
    if (so_pin_len != 0 && (so_pin_len < EK_TOKEN_PIN_MIN || so_pin_len > EK_TOKEN_PIN_MAX))
        return ek_error(EK_ERR_INVALID, "SO PIN refused: length must be %d..%d", EK_TOKEN_PIN_MIN,
                        EK_TOKEN_PIN_MAX);
    rc = remove_secret(dir, EK_TOKEN_USER);
    if (rc != EK_OK)
        return rc;
    if (so_pin_len == 0) {
        rc = remove_secret(dir, EK_TOKEN_SO);
        return rc == EK_OK ? ek_tries_remove(dir) : rc;
    }
    ek_token_secret s = {.set = true};
    unsigned char auth[EK_TOKEN_AUTH_MAX];
    size_t alen = 0;
    if (!ek_sw_random(s.v, sizeof(s.v)))
        return ek_error(EK_ERR_INVALID, "token %s: no random bytes for the secret", token);
    rc = pin_auth(so_pin, so_pin_len, auth, &alen);
    if (rc == EK_OK)
        rc = store_secret(dir, EK_TOKEN_SO, &s, auth, alen);
    if (rc == EK_OK)
        rc = ek_tries_clear(dir, true, true);
    ek_wipe(auth, sizeof(auth));
    ek_token_secret_wipe(&s);
    return rc;
}

/* ek_token_login without its warning (migration logs in quietly). */
static ek_rc login(const char *token, ek_token_user who, const char *pin, size_t pin_len,
                   ek_token_secret *secret, bool warn)
{
    char dir[1100];
    memset(secret, 0, sizeof(*secret));
    ek_rc rc = token_dir(token, dir, sizeof(dir));
    if (rc != EK_OK)
        return rc;
    ek_token_pins st;
    if (ek_token_pin_state(token, &st) == EK_OK) {
        if (!(who == EK_TOKEN_SO ? st.has_so_pin : st.has_user_pin))
            return ek_error(EK_ERR_NOT_FOUND, "token %s: %s not set", token, who_name(who));
        if (warn && st.needs_migration)
            warn_old(token, &st);
    }
    unsigned count = 0;
    rc = ek_tries_begin(dir, token, who, who_name(who), &count);
    if (rc != EK_OK)
        return rc;
    unsigned char auth[EK_TOKEN_AUTH_MAX];
    size_t alen = 0;
    rc = pin_auth(pin, pin_len, auth, &alen);
    if (rc == EK_OK)
        rc = load_secret(dir, who, auth, alen, secret);
    ek_wipe(auth, sizeof(auth));
    if (rc == EK_ERR_AUTH) { /* already counted */
        rc = ek_error(EK_ERR_AUTH, "token %s: %s incorrect (%u of %u attempts left)", token,
                      who_name(who), count >= EK_TOKEN_MAX_TRIES ? 0 : EK_TOKEN_MAX_TRIES - count,
                      EK_TOKEN_MAX_TRIES);
    } else if (rc == EK_OK) {
        secret->set = true;
        rc = ek_tries_end(dir, who, true); /* a count left standing fails closed */
    } else {
        /* The PIN was not judged (TPM unreachable, damaged record): give the
         * attempt back, keeping this error. */
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", ek_last_error());
        ek_tries_end(dir, who, false);
        ek_error(rc, "%s", msg);
    }
    if (rc != EK_OK)
        ek_token_secret_wipe(secret);
    return rc;
}

ek_rc ek_token_login(const char *token, ek_token_user who, const char *pin, size_t pin_len,
                     ek_token_secret *secret)
{
    return login(token, who, pin, pin_len, secret, true);
}

static ek_rc seal_for(const char *token, ek_token_user who, const ek_token_secret *secret,
                      const char *pin, size_t pin_len)
{
    char dir[1100];
    if (!secret || !secret->set)
        return ek_error(EK_ERR_AUTH, "token %s: log in first", token);
    if (pin_len < EK_TOKEN_PIN_MIN || pin_len > EK_TOKEN_PIN_MAX)
        return ek_error(EK_ERR_INVALID, "%s refused: length must be %d..%d", who_name(who),
                        EK_TOKEN_PIN_MIN, EK_TOKEN_PIN_MAX);
    ek_rc rc = token_dir(token, dir, sizeof(dir));
    if (rc != EK_OK)
        return rc;
    unsigned char auth[EK_TOKEN_AUTH_MAX];
    size_t alen = 0;
    rc = pin_auth(pin, pin_len, auth, &alen);
    if (rc == EK_OK)
        rc = store_secret(dir, who, secret, auth, alen);
    ek_wipe(auth, sizeof(auth));
    if (rc == EK_OK)
        rc = ek_tries_clear(dir, who == EK_TOKEN_USER, who == EK_TOKEN_SO);
    return rc;
}

ek_rc ek_token_set_user_pin(const char *token, const ek_token_secret *secret, const char *pin,
                            size_t pin_len)
{
    return seal_for(token, EK_TOKEN_USER, secret, pin, pin_len);
}

ek_rc ek_token_change_pin(const char *token, ek_token_user who, const char *old_pin, size_t old_len,
                          const char *new_pin, size_t new_len)
{
    ek_token_secret s;
    ek_rc rc = ek_token_login(token, who, old_pin, old_len, &s);
    if (rc == EK_OK)
        rc = seal_for(token, who, &s, new_pin, new_len);
    ek_token_secret_wipe(&s);
    return rc;
}

/* ---- migration of tokens made before 0.2 ---- */

/* Every PIN whose copy must move was given: checked before any login, so a
 * missing one costs no attempt and changes nothing. */
static ek_rc check_pins_given(const char *token, const ek_token_pin_kind kind[2],
                              const size_t len[2])
{
    for (int w = EK_TOKEN_USER; w <= EK_TOKEN_SO; w++)
        if (kind_is_old(kind[w]) && len[w] == 0)
            return ek_error(EK_ERR_INVALID,
                            "token %s: its %s's secret is kept in %s; give the %s to migrate "
                            "it (nothing changed)",
                            token, who_name((ek_token_user)w), kind_text(kind[w]),
                            who_name((ek_token_user)w));
    return EK_OK;
}

/* Both PINs unlock the same secret (keys derive their auth from it), or
 * re-sealing would make one of them useless. */
static ek_rc check_same(const char *token, const ek_token_secret s[2])
{
    if (!s[EK_TOKEN_USER].set || !s[EK_TOKEN_SO].set ||
        CRYPTO_memcmp(s[EK_TOKEN_USER].v, s[EK_TOKEN_SO].v, EK_TOKEN_SECRET_LEN) == 0)
        return EK_OK;
    return ek_error(EK_ERR_INVALID,
                    "token %s: the SO and user PINs unlock different secrets; "
                    "nothing changed (re-initialise the token: edgekey token init --erase)",
                    token);
}

/* Re-seal the moved copies, SO first. A failure after the first leaves the
 * second PIN as it was (still usable); a second run finishes the job. */
static ek_rc reseal_old(const char *token, const ek_token_pin_kind kind[2],
                        const ek_token_secret s[2], const char *const pin[2], const size_t len[2])
{
    for (int w = EK_TOKEN_SO; w >= EK_TOKEN_USER; w--) {
        if (!kind_is_old(kind[w]))
            continue;
        ek_rc rc = seal_for(token, (ek_token_user)w, &s[w], pin[w], len[w]);
        if (rc != EK_OK)
            return ek_error(rc,
                            "token %s: migrating the %s's secret: %s; the %s still works "
                            "as before, run edgekey token migrate again",
                            token, who_name((ek_token_user)w), ek_last_error(),
                            who_name((ek_token_user)w));
    }
    return EK_OK;
}

ek_rc ek_token_migrate(const char *token, const char *so_pin, size_t so_len, const char *user_pin,
                       size_t user_len, ek_token_pin_kind before[2])
{
    const char *const pin[2] = {user_pin, so_pin};
    const size_t len[2] = {user_pin ? user_len : 0, so_pin ? so_len : 0};
    ek_token_pins st;
    ek_rc rc = ek_token_pin_state(token, &st);
    if (rc != EK_OK)
        return rc;
    memcpy(before, st.kind, sizeof(st.kind));
    if (!st.needs_migration)
        return EK_OK;
    rc = check_pins_given(token, st.kind, len);
    ek_token_secret s[2];
    memset(s, 0, sizeof(s));
    /* Every PIN is checked (and counted) before anything is written. */
    for (int w = EK_TOKEN_SO; rc == EK_OK && w >= EK_TOKEN_USER; w--)
        if (kind_is_old(st.kind[w]))
            rc = login(token, (ek_token_user)w, pin[w], len[w], &s[w], false);
    if (rc == EK_OK)
        rc = check_same(token, s);
    if (rc == EK_OK)
        rc = reseal_old(token, st.kind, s, pin, len);
    ek_wipe(s, sizeof(s));
    return rc;
}

ek_rc ek_token_key_auth(const ek_token_secret *secret, const unsigned char *id, size_t id_len,
                        unsigned char auth[EK_TOKEN_AUTH_MAX], size_t *auth_len)
{
    if (!secret || !secret->set)
        return ek_error(EK_ERR_AUTH, "key auth: not logged in to the token");
    return ek_token_derive_auth(secret->v, sizeof(secret->v), "edgekey key auth", id, id_len, auth,
                                auth_len);
}

ek_rc ek_token_key_auth_pin(const char *token, const char *pin, size_t pin_len,
                            const unsigned char *id, size_t id_len,
                            unsigned char auth[EK_TOKEN_AUTH_MAX], size_t *auth_len)
{
    *auth_len = 0;
    if (!ek_token_login_required(token))
        return EK_OK;
    ek_token_secret s;
    ek_rc rc = ek_token_login(token, EK_TOKEN_USER, pin, pin_len, &s);
    if (rc == EK_OK)
        rc = ek_token_key_auth(&s, id, id_len, auth, auth_len);
    ek_token_secret_wipe(&s);
    return rc;
}

ek_rc ek_token_key_set_pin(ek_key *key, const char *token, const unsigned char *id, size_t id_len,
                           const char *pin, size_t pin_len)
{
    unsigned char auth[EK_TOKEN_AUTH_MAX];
    size_t auth_len = 0;
    ek_rc rc = ek_token_key_auth_pin(token, pin, pin_len, id, id_len, auth, &auth_len);
    if (rc == EK_OK)
        rc = auth_len ? ek_key_set_auth(key, auth, auth_len)
                      : ek_key_set_auth(key, (const unsigned char *)pin, pin_len);
    ek_wipe(auth, sizeof(auth));
    return rc;
}

void ek_token_secret_wipe(ek_token_secret *secret)
{
    if (secret)
        ek_wipe(secret, sizeof(*secret));
}
