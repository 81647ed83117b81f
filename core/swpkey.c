/* edgekey core: the public-key steps of the TPM side without EVP_PKEY.
 *
 * Why not EVP_PKEY: in OpenSSL 3.0 every EVP_PKEY_CTX for an RSA or EC key
 * (EVP_PKEY_CTX_new_from_pkey, _from_name, _id), whatever its library
 * context, first asks ENGINE_get_pkey_meth_engine() and takes the
 * application's default ENGINE if there is one (crypto/evp/pmeth_lib.c,
 * int_ctx_new). With libp11's engine made default (`openssl -engine
 * pkcs11`, mosquitto's tls_engine) our salts and the PSS check would then
 * run in that engine - which signs through this very module - and fail.
 * BIGNUM and EC_POINT arithmetic never consult an ENGINE, so the three
 * steps are spelled out here on top of them (RFC 8017 EME-OAEP and
 * EMSA-PSS, SP 800-56A ephemeral-static ECDH); digests and random bytes come
 * from swdirect.c, and no library context is needed: BIGNUM and EC_POINT
 * maths fetch nothing. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "ek_tpm_int.h"

/* MGF1 (RFC 8017 B.2.1): out ^= MGF1(seed, len), in place. */
static bool mgf1_xor(TPM2_ALG_ID alg, const uint8_t *seed, size_t slen, uint8_t *out, size_t len)
{
    size_t ds = ek_sw_md_size(alg), done = 0;
    uint8_t blk[64], ctr[4];
    for (uint32_t c = 0; done < len && ds; c++) {
        ctr[0] = (uint8_t)(c >> 24);
        ctr[1] = (uint8_t)(c >> 16);
        ctr[2] = (uint8_t)(c >> 8);
        ctr[3] = (uint8_t)c;
        ek_iov v[] = {{seed, slen}, {ctr, 4}};
        if (!ek_sw_hash(alg, v, 2, blk))
            return false;
        for (size_t i = 0; i < ds && done < len; i++)
            out[done++] ^= blk[i];
    }
    OPENSSL_cleanse(blk, sizeof(blk));
    return ds != 0;
}

/* in^e mod n, written big-endian into out (nlen bytes). */
static bool rsa_public(const uint8_t *n, size_t nlen, uint32_t e, const uint8_t *in, size_t inlen,
                       uint8_t *out)
{
    BN_CTX *bc = BN_CTX_new();
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_new(),
           *bi = BN_bin2bn(in, (int)inlen, NULL);
    BIGNUM *r = BN_new();
    bool ok = bc && bn && be && bi && r && BN_set_word(be, e ? e : 65537) && BN_cmp(bi, bn) < 0 &&
              BN_mod_exp(r, bi, be, bn, bc) && BN_bn2binpad(r, out, (int)nlen) == (int)nlen;
    BN_free(bn);
    BN_free(be);
    BN_free(bi);
    BN_free(r);
    BN_CTX_free(bc);
    return ok;
}

bool ek_sw_rsa_oaep(const uint8_t *n, size_t nlen, uint32_t e, TPM2_ALG_ID alg, const char *label,
                    const uint8_t *msg, size_t mlen, uint8_t *out, size_t *outlen)
{
    size_t hl = ek_sw_md_size(alg);
    uint8_t em[EK_MAX_RSA_BYTES] = {0};
    if (!hl || nlen > sizeof(em) || *outlen < nlen || mlen + 2 * hl + 2 > nlen)
        return false;
    /* EM = 0x00 || maskedSeed || maskedDB, DB = lHash || PS || 0x01 || M */
    uint8_t *seed = em + 1, *db = em + 1 + hl;
    size_t dblen = nlen - hl - 1;
    ek_iov l = {label, strlen(label) + 1}; /* TPM labels include their NUL */
    bool ok = ek_sw_hash(alg, &l, 1, db);
    db[dblen - mlen - 1] = 0x01;
    memcpy(db + dblen - mlen, msg, mlen);
    ok = ok && ek_sw_random(seed, hl) && mgf1_xor(alg, seed, hl, db, dblen) &&
         mgf1_xor(alg, db, dblen, seed, hl) && rsa_public(n, nlen, e, em, nlen, out);
    OPENSSL_cleanse(em, sizeof(em));
    if (ok)
        *outlen = nlen;
    return ok;
}

/* EMSA-PSS-VERIFY (RFC 8017 9.1.2) with any salt length; 0 = bad, else
 * 1 + salt length. modbits: the modulus size in bits. */
static int pss_decode(uint8_t *em, size_t emlen, size_t modbits, TPM2_ALG_ID alg,
                      const uint8_t *mhash)
{
    size_t hl = ek_sw_md_size(alg), dblen, i;
    unsigned topbits = (unsigned)(8 * emlen - (modbits - 1)); /* bits to clear in em[0] */
    uint8_t h2[64], zeros[8] = {0};
    if (!hl || emlen < hl + 2 || em[emlen - 1] != 0xbc || (em[0] >> (8 - topbits)) != 0)
        return 0;
    dblen = emlen - hl - 1;
    if (!mgf1_xor(alg, em + dblen, hl, em, dblen))
        return 0;
    em[0] &= (uint8_t)(0xff >> topbits);
    for (i = 0; i < dblen && em[i] == 0; i++)
        ;
    if (i == dblen || em[i] != 0x01)
        return 0;
    ek_iov v[] = {{zeros, 8}, {mhash, hl}, {em + i + 1, dblen - i - 1}};
    if (!ek_sw_hash(alg, v, 3, h2) || CRYPTO_memcmp(h2, em + dblen, hl) != 0)
        return 0;
    return (int)(dblen - i - 1) + 1;
}

int ek_sw_rsa_pss_salt(const uint8_t *n, size_t nlen, uint32_t e, TPM2_ALG_ID alg,
                       const uint8_t *mhash, const uint8_t *sig, size_t slen)
{
    uint8_t m[EK_MAX_RSA_BYTES];
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL);
    size_t modbits = bn ? (size_t)BN_num_bits(bn) : 0;
    BN_free(bn);
    if (!modbits || nlen > sizeof(m) || slen != nlen || !rsa_public(n, nlen, e, sig, slen, m))
        return -1;
    /* emLen = ceil((modBits - 1) / 8): one byte shorter when modBits % 8 == 1 */
    size_t emlen = (modbits - 1 + 7) / 8, skip = nlen - emlen;
    if (skip && m[0] != 0)
        return -1;
    int r = pss_decode(m + skip, emlen, modbits, alg, mhash);
    return r - 1;
}

static int curve_nid(TPM2_ECC_CURVE curve)
{
    return curve == TPM2_ECC_NIST_P256   ? NID_X9_62_prime256v1
           : curve == TPM2_ECC_NIST_P384 ? NID_secp384r1
                                         : NID_undef;
}

/* A scalar in [1, order-1] from 8 more random bytes than the order has
 * (bias below 2^-64). */
static bool random_scalar(const BIGNUM *order, BIGNUM *d, BN_CTX *bc)
{
    uint8_t r[48 + 8];
    size_t len = (size_t)BN_num_bytes(order) + 8;
    BIGNUM *om1 = BN_dup(order);
    bool ok = om1 && len <= sizeof(r) && ek_sw_random(r, len) && BN_sub_word(om1, 1) &&
              BN_bin2bn(r, (int)len, d) && BN_nnmod(d, d, om1, bc) && BN_add_word(d, 1);
    OPENSSL_cleanse(r, sizeof(r));
    BN_free(om1);
    return ok;
}

static bool point_out(const EC_GROUP *g, const EC_POINT *p, size_t cs, uint8_t *x, uint8_t *y,
                      BN_CTX *bc)
{
    BIGNUM *bx = BN_new(), *by = BN_new();
    bool ok = bx && by && EC_POINT_get_affine_coordinates(g, p, bx, by, bc) &&
              BN_bn2binpad(bx, x, (int)cs) == (int)cs &&
              (!y || BN_bn2binpad(by, y, (int)cs) == (int)cs);
    BN_clear_free(bx);
    BN_free(by);
    return ok;
}

bool ek_sw_ecdh(TPM2_ECC_CURVE curve, ek_iov px, ek_iov py, uint8_t *z, size_t *zlen,
                TPMS_ECC_POINT *q)
{
    size_t cs = ek_sw_curve_size(curve);
    BN_CTX *bc = BN_CTX_new();
    EC_GROUP *g = curve_nid(curve) != NID_undef
                      ? EC_GROUP_new_by_curve_name(curve_nid(curve))
                      : NULL;
    EC_POINT *peer = g ? EC_POINT_new(g) : NULL, *pub = g ? EC_POINT_new(g) : NULL;
    EC_POINT *shared = g ? EC_POINT_new(g) : NULL;
    BIGNUM *x = BN_bin2bn(px.p, (int)px.n, NULL), *y = BN_bin2bn(py.p, (int)py.n, NULL);
    BIGNUM *d = BN_secure_new();
    bool ok = false;
    if (!bc || !peer || !pub || !shared || !x || !y || !d || *zlen < cs)
        goto out;
    BN_set_flags(d, BN_FLG_CONSTTIME);
    ok = EC_POINT_set_affine_coordinates(g, peer, x, y, bc) == 1 &&
         EC_POINT_is_on_curve(g, peer, bc) == 1 && random_scalar(EC_GROUP_get0_order(g), d, bc) &&
         EC_POINT_mul(g, pub, d, NULL, NULL, bc) && EC_POINT_mul(g, shared, NULL, peer, d, bc) &&
         !EC_POINT_is_at_infinity(g, shared) && point_out(g, shared, cs, z, NULL, bc) &&
         point_out(g, pub, cs, q->x.buffer, q->y.buffer, bc);
    if (ok) {
        *zlen = cs;
        q->x.size = q->y.size = (UINT16)cs;
    }
out:
    BN_clear_free(d);
    BN_free(x);
    BN_free(y);
    EC_POINT_free(peer);
    EC_POINT_free(pub);
    EC_POINT_clear_free(shared);
    EC_GROUP_free(g);
    BN_CTX_free(bc);
    return ok;
}
