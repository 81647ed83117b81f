/* edgekey core: digests, HMAC, AES-128-CFB and random bytes for the TPM
 * side without OpenSSL's provider or ENGINE layers.
 *
 * Why not EVP here: a process that only logs in to a token or signs once
 * (a PKCS#11 client, one `openssl s_client`) would otherwise pay for a
 * private library context with the default provider (about 1.2 ms), the
 * application's openssl.cnf, which the first EVP_DigestInit loads through
 * the ENGINE lookup (about 0.8 ms), and a DRBG with its cipher store (about
 * 1 ms): more than the TPM commands themselves. OpenSSL 3.0's low-level
 * SHA and AES functions call the implementations directly: no fetch, no
 * configuration, and neither an application's provider (tpm2-openssl with
 * tpm2.digest) nor its default ENGINE (libp11) can take them over, which is
 * the isolation core needs. They are deprecated in 3.0, not removed; this
 * file alone opts in. Random bytes come from the kernel (getrandom), the
 * source OpenSSL's own DRBG seeds from; no ENGINE can intercept that either. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/aes.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ek_tpm_int.h"

typedef union hash_st {
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512; /* also SHA-384 */
} hash_st;

size_t ek_sw_md_size(TPM2_ALG_ID alg)
{
    switch (alg) {
    case TPM2_ALG_SHA1:
        return SHA_DIGEST_LENGTH;
    case TPM2_ALG_SHA256:
        return SHA256_DIGEST_LENGTH;
    case TPM2_ALG_SHA384:
        return SHA384_DIGEST_LENGTH;
    case TPM2_ALG_SHA512:
        return SHA512_DIGEST_LENGTH;
    default:
        return 0;
    }
}

static size_t block_size(TPM2_ALG_ID alg)
{
    return alg == TPM2_ALG_SHA384 || alg == TPM2_ALG_SHA512 ? SHA512_CBLOCK : SHA256_CBLOCK;
}

static bool h_init(hash_st *h, TPM2_ALG_ID alg)
{
    switch (alg) {
    case TPM2_ALG_SHA1:
        return SHA1_Init(&h->sha1) == 1;
    case TPM2_ALG_SHA256:
        return SHA256_Init(&h->sha256) == 1;
    case TPM2_ALG_SHA384:
        return SHA384_Init(&h->sha512) == 1;
    case TPM2_ALG_SHA512:
        return SHA512_Init(&h->sha512) == 1;
    default:
        return false;
    }
}

static bool h_update(hash_st *h, TPM2_ALG_ID alg, const void *p, size_t n)
{
    if (!n)
        return true;
    switch (alg) {
    case TPM2_ALG_SHA1:
        return SHA1_Update(&h->sha1, p, n) == 1;
    case TPM2_ALG_SHA256:
        return SHA256_Update(&h->sha256, p, n) == 1;
    case TPM2_ALG_SHA384:
        return SHA384_Update(&h->sha512, p, n) == 1;
    default:
        return SHA512_Update(&h->sha512, p, n) == 1;
    }
}

static bool h_final(hash_st *h, TPM2_ALG_ID alg, uint8_t *out)
{
    int ok;
    switch (alg) {
    case TPM2_ALG_SHA1:
        ok = SHA1_Final(out, &h->sha1);
        break;
    case TPM2_ALG_SHA256:
        ok = SHA256_Final(out, &h->sha256);
        break;
    case TPM2_ALG_SHA384:
        ok = SHA384_Final(out, &h->sha512);
        break;
    default:
        ok = SHA512_Final(out, &h->sha512);
        break;
    }
    OPENSSL_cleanse(h, sizeof(*h));
    return ok == 1;
}

static bool hash_parts(hash_st *h, TPM2_ALG_ID alg, const ek_iov *v, size_t n)
{
    bool ok = h_init(h, alg);
    for (size_t i = 0; ok && i < n; i++)
        ok = h_update(h, alg, v[i].p, v[i].n);
    return ok;
}

bool ek_sw_hash(TPM2_ALG_ID alg, const ek_iov *v, size_t n, uint8_t *out)
{
    hash_st h;
    bool ok = hash_parts(&h, alg, v, n);
    return h_final(&h, alg, out) && ok;
}

/* RFC 2104. */
bool ek_sw_hmac(TPM2_ALG_ID alg, const uint8_t *key, size_t klen, const ek_iov *v, size_t n,
                uint8_t *out)
{
    size_t bs = block_size(alg), ds = ek_sw_md_size(alg);
    uint8_t k[SHA512_CBLOCK] = {0}, pad[SHA512_CBLOCK], inner[SHA512_DIGEST_LENGTH];
    hash_st h;
    if (!ds)
        return false;
    if (klen > bs) {
        ek_iov kv = {key, klen};
        if (!ek_sw_hash(alg, &kv, 1, k))
            return false;
    } else if (klen) {
        memcpy(k, key, klen);
    }
    for (size_t i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x36;
    bool ok = h_init(&h, alg) && h_update(&h, alg, pad, bs);
    for (size_t i = 0; ok && i < n; i++)
        ok = h_update(&h, alg, v[i].p, v[i].n);
    ok = h_final(&h, alg, inner) && ok;
    for (size_t i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && h_init(&h, alg) && h_update(&h, alg, pad, bs) && h_update(&h, alg, inner, ds);
    ok = h_final(&h, alg, out) && ok;
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));
    return ok;
}

/* AES-128-CFB (TPM parameter encryption), in place. CFB runs the block
 * cipher forwards in both directions, hence the encryption key schedule. */
bool ek_sw_aes128_cfb(const uint8_t key[16], const uint8_t iv[16], uint8_t *buf, size_t len,
                      bool encrypt)
{
    AES_KEY ks;
    uint8_t ivb[16];
    int num = 0;
    if (AES_set_encrypt_key(key, 128, &ks) != 0)
        return false;
    memcpy(ivb, iv, sizeof(ivb));
    AES_cfb128_encrypt(buf, buf, len, &ks, ivb, &num, encrypt ? AES_ENCRYPT : AES_DECRYPT);
    OPENSSL_cleanse(&ks, sizeof(ks));
    OPENSSL_cleanse(ivb, sizeof(ivb));
    return true;
}

/* Nonces, salts and ephemeral scalars: the kernel's CSPRNG. */
bool ek_sw_random(uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

/* ---- ek_md_ctx (ek_key.h): the same digests for the faces ---- */

struct ek_md_ctx {
    ek_md md;
    TPM2_ALG_ID alg;
    hash_st h;
};

TPM2_ALG_ID ek_md_tpm_alg(ek_md md)
{
    switch (md) {
    case EK_MD_SHA1:
        return TPM2_ALG_SHA1;
    case EK_MD_SHA256:
        return TPM2_ALG_SHA256;
    case EK_MD_SHA384:
        return TPM2_ALG_SHA384;
    case EK_MD_SHA512:
        return TPM2_ALG_SHA512;
    case EK_MD_NONE:
        break;
    }
    return TPM2_ALG_NULL;
}

bool ek_md_ctx_reset(ek_md_ctx *c, ek_md md)
{
    c->md = md;
    c->alg = ek_md_tpm_alg(md);
    return c->alg != TPM2_ALG_NULL && h_init(&c->h, c->alg);
}

ek_md_ctx *ek_md_ctx_new(ek_md md)
{
    ek_md_ctx *c = OPENSSL_zalloc(sizeof(*c));
    if (c && !ek_md_ctx_reset(c, md)) {
        OPENSSL_free(c);
        c = NULL;
    }
    return c;
}

ek_md_ctx *ek_md_ctx_dup(const ek_md_ctx *src)
{
    ek_md_ctx *c = OPENSSL_malloc(sizeof(*c));
    if (c)
        *c = *src; /* the low-level states are plain structs */
    return c;
}

bool ek_md_ctx_update(ek_md_ctx *c, const void *data, size_t len)
{
    return c->alg != TPM2_ALG_NULL && h_update(&c->h, c->alg, data, len);
}

bool ek_md_ctx_final(ek_md_ctx *c, unsigned char *out)
{
    bool ok = c->alg != TPM2_ALG_NULL && h_final(&c->h, c->alg, out);
    c->alg = TPM2_ALG_NULL; /* finished: reset before reuse */
    return ok;
}

ek_md ek_md_ctx_md(const ek_md_ctx *c)
{
    return c->md;
}

void ek_md_ctx_free(ek_md_ctx *c)
{
    OPENSSL_clear_free(c, sizeof(*c));
}

bool ek_md_digest(ek_md md, const void *data, size_t len, unsigned char *out)
{
    ek_iov v = {data, len};
    TPM2_ALG_ID alg = ek_md_tpm_alg(md);
    return alg != TPM2_ALG_NULL && ek_sw_hash(alg, &v, 1, out);
}
