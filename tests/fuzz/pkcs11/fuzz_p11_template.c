/* libFuzzer target: PKCS#11 attribute templates as applications pass them.
 *
 * Input: records of { type: u32 little-endian, flags: u8 (bit 0: NULL
 * pValue), len: u16 little-endian, value: len bytes }, up to 16. The template goes
 * through the module's pure template code: well-formedness, search
 * matching against a private RSA key and a public EC key, the
 * C_GetAttributeValue buffer rules (outputs written into exact-size
 * buffers so ASan sees overruns), the typed readers, curve OIDs, and a
 * CKA_VALUE as an X.509 certificate (C_CreateObject's parse). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "p11_attr.h"

#define MAX_ATTRS 16

static p11_attrs rsa_priv, ec_pub;

/* C_GetAttributeValue rewrites ulValueLen: give each call the caller's
 * original (exact-size) buffers again, as an application would. */
static void reset(CK_ATTRIBUTE *t, const CK_ATTRIBUTE *orig, CK_ULONG n)
{
    memcpy(t, orig, n * sizeof(*t));
}

static void init_objects(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    ek_pubkey r = {.alg = EK_ALG_RSA, .bits = 2048, .n_len = 256, .e = 65537};
    memset(r.n, 0xc5, r.n_len);
    ek_pubkey e = {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256, .point_len = 65};
    memset(e.point, 0x11, e.point_len); /* not on the curve: no SPKI, still attributes */
    e.point[0] = 0x04;
    static const unsigned char id[] = {1, 2, 3};
    p11_obj_desc d = {.id = id, .id_len = 3, .label = "device", .token = true, .priv = true};
    p11_build_key_attrs(&rsa_priv, CKO_PRIVATE_KEY, &r, &d);
    d.priv = false;
    p11_build_key_attrs(&ec_pub, CKO_PUBLIC_KEY, &e, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_objects();
    CK_ATTRIBUTE t[MAX_ATTRS], orig[MAX_ATTRS];
    unsigned char *vals[MAX_ATTRS];
    CK_ULONG n = 0;
    size_t off = 0;
    while (n < MAX_ATTRS && off + 7 <= size) {
        uint32_t type = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 |
                        (uint32_t)data[off + 2] << 16 | (uint32_t)data[off + 3] << 24;
        uint8_t flags = data[off + 4];
        size_t len = (size_t)data[off + 5] | (size_t)data[off + 6] << 8;
        off += 7;
        if (len > size - off)
            len = size - off;
        vals[n] = malloc(len ? len : 1);
        memcpy(vals[n], data + off, len);
        off += len;
        t[n] = (CK_ATTRIBUTE){type, (flags & 1) ? NULL : vals[n], len};
        n++;
    }
    memcpy(orig, t, n * sizeof(*t));
    if (p11_tmpl_check(t, n) == CKR_OK) {
        p11_attrs_match(&rsa_priv, t, n);
        p11_attrs_match(&ec_pub, t, n);
        bool b, present;
        CK_ULONG u;
        p11_tmpl_bool(t, n, CKA_TOKEN, &b, &present);
        p11_tmpl_bool(t, n, CKA_EXTRACTABLE, &b, &present);
        p11_tmpl_ulong(t, n, CKA_MODULUS_BITS, &u, &present);
        p11_tmpl_ulong(t, n, CKA_CLASS, &u, &present);
        const CK_ATTRIBUTE *ecp = p11_tmpl_find(t, n, CKA_EC_PARAMS);
        if (ecp)
            p11_ec_curve_from_params(ecp->pValue, ecp->ulValueLen);
        const CK_ATTRIBUTE *v = p11_tmpl_find(t, n, CKA_VALUE);
        if (v && v->pValue) {
            p11_attrs cert = {0};
            p11_obj_desc d = {.label = "fuzz"};
            if (p11_build_cert_attrs(&cert, v->pValue, v->ulValueLen, &d) == CKR_OK) {
                CK_ATTRIBUTE out[MAX_ATTRS];
                reset(out, orig, n);
                p11_attrs_get(&cert, CKO_CERTIFICATE, out, n);
            }
            p11_attrs_free(&cert);
        }
    }
    /* C_GetAttributeValue writes into the caller's buffers; a NULL pValue
     * with any length is a length query. */
    reset(t, orig, n);
    p11_attrs_get(&rsa_priv, CKO_PRIVATE_KEY, t, n);
    reset(t, orig, n);
    p11_attrs_get(&ec_pub, CKO_PUBLIC_KEY, t, n);
    for (CK_ULONG i = 0; i < n; i++)
        free(vals[i]);
    return 0;
}
