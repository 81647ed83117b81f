/* edgekey csr: a PKCS#10 certificate signing request signed by a TPM key.
 *
 * Built with OpenSSL's X509_REQ but signed without any provider: the TBS
 * part is encoded (i2d_re_X509_REQ_tbs), hashed in software, and the
 * digest is signed by the TPM (ek_key_sign). The result is checked in
 * software against the key's public half before it is written, so a bad
 * signature never leaves the tool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "cli.h"
#include "ek_addr.h"

struct csr_opts {
    const char *key, *subject, *out, *auth_file, *md;
    char san[2048];
    bool auth, san_too_long;
};

enum { O_KEY = OPT_CMD_BASE, O_SUBJECT, O_OUT, O_SAN, O_MD, O_AUTH, O_AUTH_FILE };

static void usage(void)
{
    printf("usage: edgekey csr --key ADDR --subject /C=../O=../CN=.. [--san DNS:..,IP:..]\n"
           "                   [--out FILE] [--md sha256|sha384|sha512] [--auth | --auth-file F]\n"
           "\n  --key ADDR        the TPM key (pkcs11: URI, handle:0x81..., TSS2 key file)\n"
           "  --subject NAME    /type=value/... ('\\/' for a literal slash), UTF-8\n"
           "  --san VALUE       subjectAltName, OpenSSL syntax; may be repeated\n"
           "  --out FILE        write the PEM there (default: stdout)\n"
           "  --md DIGEST       signature digest (default sha256; sha384 for P-384 keys)\n"
           "  --auth, --auth-file FILE  the key's auth value (asked if the key needs one)\n");
}

static int on_opt(void *state, int c, const char *arg)
{
    struct csr_opts *o = state;
    size_t used;
    switch (c) {
    case O_KEY:
        o->key = arg;
        break;
    case O_SUBJECT:
        o->subject = arg;
        break;
    case O_OUT:
        o->out = arg;
        break;
    case O_MD:
        o->md = arg;
        break;
    case O_AUTH:
        o->auth = true;
        break;
    case O_AUTH_FILE:
        o->auth_file = arg;
        break;
    case O_SAN:
        used = strlen(o->san);
        if (used + strlen(arg) + 2 > sizeof(o->san))
            o->san_too_long = true;
        else
            snprintf(o->san + used, sizeof(o->san) - used, "%s%s", used ? "," : "", arg);
        break;
    }
    return 0;
}

/* "/C=DE/O=Acme/CN=SN0001" -> X509_NAME; '\' escapes the next character. */
static ek_rc parse_subject(const char *s, X509_NAME **out)
{
    if (s[0] != '/')
        return ek_error(EK_ERR_INVALID,
                        "subject '%s' must start with '/', e.g. "
                        "/C=DE/O=Acme/CN=SN0001",
                        s);
    X509_NAME *name = X509_NAME_new();
    char *buf = malloc(strlen(s) + 1);
    if (name == NULL || buf == NULL) {
        X509_NAME_free(name);
        free(buf);
        return ek_error(EK_ERR_NOMEM, "out of memory parsing subject");
    }
    ek_rc rc = EK_OK;
    const char *p = s + 1;
    while (rc == EK_OK && *p) {
        size_t n = 0;
        for (; *p && *p != '/'; p++) {
            if (*p == '\\' && p[1])
                p++;
            buf[n++] = *p;
        }
        buf[n] = '\0';
        if (*p == '/')
            p++;
        char *eq = strchr(buf, '=');
        if (eq == NULL || eq == buf || eq[1] == '\0') {
            rc = ek_error(EK_ERR_INVALID, "subject part '%s' is not type=value (in '%s')", buf, s);
            break;
        }
        *eq = '\0';
        if (!X509_NAME_add_entry_by_txt(name, buf, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1,
                                        0))
            rc = ek_error(EK_ERR_INVALID,
                          "subject attribute '%s' is unknown or its value is "
                          "invalid; use C, ST, L, O, OU, CN, serialNumber, ...",
                          buf);
    }
    ERR_clear_error();
    free(buf);
    if (rc == EK_OK && X509_NAME_entry_count(name) == 0)
        rc = ek_error(EK_ERR_INVALID, "subject '%s' is empty; give at least /CN=...", s);
    if (rc != EK_OK) {
        X509_NAME_free(name);
        return rc;
    }
    *out = name;
    return EK_OK;
}

static ek_rc add_san(X509_REQ *req, const char *san)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, NULL, NULL, req, NULL, 0);
    X509V3_set_ctx_nodb(&v3);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    ek_rc rc = EK_OK;
    if (ext == NULL)
        rc = ek_error(EK_ERR_INVALID,
                      "--san '%s' is not a subjectAltName; use e.g. "
                      "DNS:edge1.example,IP:192.0.2.7,URI:urn:dev:sn1",
                      san);
    else if (exts == NULL || !sk_X509_EXTENSION_push(exts, ext) ||
             !X509_REQ_add_extensions(req, exts))
        rc = ek_error(EK_ERR_NOMEM, "out of memory adding subjectAltName");
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (exts == NULL)
        X509_EXTENSION_free(ext);
    ERR_clear_error();
    return rc;
}

static int sig_nid(ek_alg alg, ek_md md)
{
    static const int rsa[] = {0, 0, NID_sha256WithRSAEncryption, NID_sha384WithRSAEncryption,
                              NID_sha512WithRSAEncryption};
    static const int ec[] = {0, 0, NID_ecdsa_with_SHA256, NID_ecdsa_with_SHA384,
                             NID_ecdsa_with_SHA512};
    if (md < EK_MD_SHA256 || md > EK_MD_SHA512)
        return 0;
    return alg == EK_ALG_RSA ? rsa[md] : ec[md];
}

static ek_rc set_sig_alg(X509_REQ *req, ek_alg alg, ek_md md)
{
    X509_ALGOR *a = X509_ALGOR_new();
    /* PKCS#1 algorithms carry NULL parameters, ECDSA ones none (RFC 5754). */
    if (a == NULL ||
        !X509_ALGOR_set0(a, OBJ_nid2obj(sig_nid(alg, md)),
                         alg == EK_ALG_RSA ? V_ASN1_NULL : V_ASN1_UNDEF, NULL) ||
        !X509_REQ_set1_signature_algo(req, a)) {
        X509_ALGOR_free(a);
        return ek_error(EK_ERR_NOMEM, "out of memory setting the CSR signature algorithm");
    }
    X509_ALGOR_free(a);
    return EK_OK;
}

/* The digest of the request body (CertificationRequestInfo), in software. */
static ek_rc digest_tbs(X509_REQ *req, ek_md md, unsigned char *dg, unsigned int *dlen)
{
    unsigned char *tbs = NULL;
    int tlen = i2d_re_X509_REQ_tbs(req, &tbs);
    EVP_MD *evmd = EVP_MD_fetch(NULL, ek_md_name(md), "provider=default");
    int ok = tlen > 0 && evmd != NULL && EVP_Digest(tbs, (size_t)tlen, dg, dlen, evmd, NULL);
    EVP_MD_free(evmd);
    OPENSSL_free(tbs);
    if (!ok)
        return ek_error(EK_ERR_NOMEM, "cannot encode and hash the CSR (%s)", ek_md_name(md));
    return EK_OK;
}

static ek_rc set_signature(X509_REQ *req, unsigned char *sig, size_t siglen)
{
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    if (bs == NULL || !ASN1_BIT_STRING_set(bs, sig, (int)siglen)) {
        ASN1_BIT_STRING_free(bs);
        return ek_error(EK_ERR_NOMEM, "out of memory signing the CSR");
    }
    /* A signature is whole bytes: no unused bits. */
    bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    X509_REQ_set0_signature(req, bs);
    return EK_OK;
}

/* Hash the TBS in software, sign the digest in the TPM. */
static ek_rc sign_req(X509_REQ *req, ek_key *key, ek_md md)
{
    const ek_pubkey *pub = ek_key_public(key);
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    ek_rc rc = set_sig_alg(req, pub->alg, md);
    if (rc == EK_OK)
        rc = digest_tbs(req, md, dg, &dlen);
    if (rc != EK_OK)
        return rc;
    size_t siglen = ek_key_max_sig_size(key, EK_ECDSA_DER);
    unsigned char *sig = malloc(siglen ? siglen : 1);
    if (sig == NULL)
        return ek_error(EK_ERR_NOMEM, "out of memory signing the CSR");
    ek_sig_scheme scheme = pub->alg == EK_ALG_RSA ? EK_SIG_RSA_PKCS1 : EK_SIG_ECDSA;
    rc = ek_key_sign(key, scheme, md, dg, dlen, EK_ECDSA_DER, sig, &siglen);
    if (rc == EK_OK)
        rc = set_signature(req, sig, siglen);
    free(sig);
    return rc;
}

static ek_rc build_req(const struct csr_opts *o, ek_key *key, ek_md md, X509_REQ **out)
{
    EVP_PKEY *pkey = NULL;
    X509_NAME *name = NULL;
    X509_REQ *req = X509_REQ_new();
    ek_rc rc = req ? EK_OK : ek_error(EK_ERR_NOMEM, "out of memory making the CSR");
    if (rc == EK_OK)
        rc = parse_subject(o->subject, &name);
    if (rc == EK_OK)
        rc = cli_pkey_from_pub(ek_key_public(key), &pkey);
    if (rc == EK_OK && (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
                        !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, pkey)))
        rc = ek_error(EK_ERR_NOMEM, "out of memory making the CSR");
    if (rc == EK_OK && o->san[0])
        rc = add_san(req, o->san);
    if (rc == EK_OK)
        rc = sign_req(req, key, md);
    if (rc == EK_OK && X509_REQ_verify(req, pkey) <= 0)
        rc = ek_error(EK_ERR_TPM, "the TPM's signature on the CSR does not verify with the "
                                  "key's public half; the key or TPM is faulty, nothing was "
                                  "written");
    ERR_clear_error();
    X509_NAME_free(name);
    EVP_PKEY_free(pkey);
    if (rc != EK_OK) {
        X509_REQ_free(req);
        return rc;
    }
    *out = req;
    return EK_OK;
}

static ek_rc req_pem(X509_REQ *req, char **pem, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    if (b == NULL || !PEM_write_bio_X509_REQ(b, req)) {
        BIO_free(b);
        return ek_error(EK_ERR_NOMEM, "out of memory writing the CSR");
    }
    long n = BIO_get_mem_data(b, &p);
    *pem = malloc((size_t)n + 1);
    if (*pem != NULL) {
        memcpy(*pem, p, (size_t)n);
        (*pem)[n] = '\0';
        *len = (size_t)n;
    }
    BIO_free(b);
    return *pem ? EK_OK : ek_error(EK_ERR_NOMEM, "out of memory writing the CSR");
}

static ek_rc pick_md(const char *name, const ek_pubkey *pub, ek_md *md)
{
    if (name == NULL) {
        *md = pub->alg == EK_ALG_EC && pub->curve == EK_CURVE_P384 ? EK_MD_SHA384 : EK_MD_SHA256;
        return EK_OK;
    }
    *md = ek_md_from_name(name);
    if (*md < EK_MD_SHA256 || *md > EK_MD_SHA512)
        return ek_error(EK_ERR_INVALID, "--md %s is not offered; use sha256, sha384 or sha512",
                        name);
    return EK_OK;
}

static int report(const cli_ctx *ctx, const struct csr_opts *o, X509_REQ *req, ek_alg alg, ek_md md,
                  char *pem, size_t len)
{
    /* With --json and no --out the PEM travels inside the JSON. */
    ek_rc rc = o->out || !ctx->json ? out_write_file(o->out, pem, len) : EK_OK;
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    if (o->out == NULL && !ctx->json)
        return EXIT_OK; /* the PEM on stdout is the output */
    char *subject = cli_name_str(X509_REQ_get_subject_name(req));
    char shown[1100]; /* the key's URI without its pin-value */
    json_t *res =
        json_pack("{s:o,s:o,s:s,s:o}", "key", out_str(ek_addr_masked(o->key, shown, sizeof(shown))),
                  "subject", out_str(subject), "signature", OBJ_nid2ln(sig_nid(alg, md)), "out",
                  o->out ? out_str(o->out) : json_null());
    free(subject);
    if (res && ctx->json)
        json_object_set_new(res, "pem", json_string(pem));
    return out_result(ctx, res);
}

int cmd_csr(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {CLI_GLOBAL_LONGOPTS,
                                         {"key", required_argument, NULL, O_KEY},
                                         {"subject", required_argument, NULL, O_SUBJECT},
                                         {"out", required_argument, NULL, O_OUT},
                                         {"san", required_argument, NULL, O_SAN},
                                         {"md", required_argument, NULL, O_MD},
                                         {"auth", no_argument, NULL, O_AUTH},
                                         {"auth-file", required_argument, NULL, O_AUTH_FILE},
                                         {NULL, 0, NULL, 0}};
    struct csr_opts o = {0};
    int r = cli_parse_opts(ctx, argc, argv, "h", opts, on_opt, &o);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    if (optind < argc)
        return out_usage(ctx, "csr", "unexpected argument '%s'", argv[optind]);
    if (o.key == NULL || o.subject == NULL)
        return out_usage(ctx, "csr", "--key ADDR and --subject /.../CN=... are required");
    if ((o.auth || o.auth_file) && cli_address_has_pin(o.key))
        return out_usage(ctx, "csr",
                         "the key's URI carries a pin-value and --auth/--auth-file gives "
                         "another value; give it once (drop pin-value= or the option)");
    if (o.san_too_long)
        return out_usage(ctx, "csr", "the --san values are longer than %zu bytes", sizeof(o.san));

    ek_key *key = NULL;
    X509_REQ *req = NULL;
    char *pem = NULL;
    size_t len = 0;
    ek_md md = EK_MD_NONE;
    ek_alg alg = EK_ALG_NONE;
    ek_rc rc = ek_key_open(o.key, &key);
    if (rc == EK_OK) {
        alg = ek_key_public(key)->alg;
        rc = pick_md(o.md, ek_key_public(key), &md);
    }
    if (rc == EK_OK)
        rc = cli_auth_for(key, o.key, o.auth, o.auth_file);
    if (rc == EK_OK)
        rc = build_req(&o, key, md, &req);
    if (rc == EK_OK)
        rc = req_pem(req, &pem, &len);
    ek_key_free(key);
    int code = rc == EK_OK ? report(ctx, &o, req, alg, md, pem, len) : out_fail(ctx, rc);
    free(pem);
    X509_REQ_free(req);
    return code;
}
