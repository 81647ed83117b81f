/* edge-client: trust anchors and CRL, refreshed from the hub; the hub's own
 * certificates checked against them (see trust.h). */
#include "trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "enroll.h"
#include "http.h"

static char ca_buf[1100], crl_buf[1100];
static int quiet; /* no refusal text (a first or internal check) */

static int check_api(const edge_config *c);

static void data_path(const edge_config *c, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", c->data_dir, name);
}

const char *edge_trust_ca(const edge_config *c)
{
    data_path(c, "ca.pem", ca_buf, sizeof(ca_buf));
    return access(ca_buf, R_OK) == 0 ? ca_buf : c->ca_file;
}

const char *edge_trust_crl(const edge_config *c)
{
    if (c->crl_file)
        return access(c->crl_file, R_OK) == 0 ? c->crl_file : NULL;
    data_path(c, "crl.pem", crl_buf, sizeof(crl_buf));
    return access(crl_buf, R_OK) == 0 ? crl_buf : NULL;
}

/* All certificates of a PEM file or buffer. */
static STACK_OF(X509) * read_certs(BIO *b)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    ERR_clear_error(); /* end of input */
    return sk;
}

static STACK_OF(X509) * anchors(const edge_config *c)
{
    BIO *b = BIO_new_file(edge_trust_ca(c), "r");
    STACK_OF(X509) *sk = b ? read_certs(b) : NULL;
    BIO_free(b);
    return sk;
}

static X509_CRL *read_crl_file(const char *path)
{
    BIO *b = path ? BIO_new_file(path, "r") : NULL;
    X509_CRL *crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return crl;
}

/* 1 if a CA among the anchors signed crl. */
static int crl_signed_by_anchor(X509_CRL *crl, STACK_OF(X509) * cas)
{
    for (int i = 0; i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        if (X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 &&
            X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
            return 1;
    }
    ERR_clear_error();
    return 0;
}

/* crlNumber of new minus the installed one's sign (missing number = 0). */
static int crl_number_cmp(X509_CRL *a, X509_CRL *b)
{
    ASN1_INTEGER *na = X509_CRL_get_ext_d2i(a, NID_crl_number, NULL, NULL);
    ASN1_INTEGER *nb = b ? X509_CRL_get_ext_d2i(b, NID_crl_number, NULL, NULL) : NULL;
    int r = na && nb ? ASN1_INTEGER_cmp(na, nb) : (nb ? -1 : 1);
    ASN1_INTEGER_free(na);
    ASN1_INTEGER_free(nb);
    return r;
}

static int install_crl(const edge_config *c, const char *pem)
{
    char path[1100];
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509_CRL *crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL, *old = NULL;
    STACK_OF(X509) *cas = anchors(c);
    int rc = -1;

    data_path(c, "crl.pem", path, sizeof(path));
    if (crl == NULL)
        fprintf(stderr, "edge-client: the hub's CRL is not a PEM CRL; keeping the installed one\n");
    else if (!crl_signed_by_anchor(crl, cas))
        fprintf(stderr, "edge-client: the CRL from the hub is not signed by a trusted CA; "
                        "refused, keeping the installed one\n");
    else if ((old = read_crl_file(path)) != NULL && crl_number_cmp(crl, old) < 0)
        fprintf(stderr, "edge-client: the CRL from the hub is older (lower crlNumber) than the "
                        "installed one: a replay? refused, keeping the installed one\n");
    else
        rc = edge_write_file(path, pem, 0644);
    X509_CRL_free(old);
    X509_CRL_free(crl);
    sk_X509_pop_free(cas, X509_free);
    BIO_free(b);
    ERR_clear_error();
    return rc;
}

/* 1 if x verifies against the anchors (others as intermediates). */
static int verifies(X509_STORE *st, X509 *x, STACK_OF(X509) * others)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = ctx && X509_STORE_CTX_init(ctx, st, x, others) == 1 && X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static int install_chain(const edge_config *c, const char *pem)
{
    char path[1100];
    BIO *b = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509) *sk = b ? read_certs(b) : NULL;
    X509_STORE *st = X509_STORE_new();
    int ok = sk && sk_X509_num(sk) > 0 && st && X509_STORE_load_file(st, edge_trust_ca(c)) == 1;

    for (int i = 0; ok && i < sk_X509_num(sk); i++)
        ok = verifies(st, sk_X509_value(sk, i), sk);
    data_path(c, "ca.pem", path, sizeof(path));
    if (!ok)
        fprintf(stderr,
                "edge-client: the CA chain from the hub does not verify against the "
                "trusted anchors (%s); refused, keeping them\n",
                edge_trust_ca(c));
    else
        ok = edge_write_file(path, pem, 0644) == 0;
    X509_STORE_free(st);
    sk_X509_pop_free(sk, X509_free);
    BIO_free(b);
    ERR_clear_error();
    return ok ? 0 : -1;
}

static int due(const edge_config *c)
{
    char path[1100];
    struct stat st;
    data_path(c, "trust.stamp", path, sizeof(path));
    return stat(path, &st) != 0 || time(NULL) - st.st_mtime >= c->trust_refresh_s ||
           time(NULL) < st.st_mtime;
}

int edge_trust_refresh(const edge_config *c, int force)
{
    char stamp[1100], when[32];
    edge_http h = {c->hub_url, edge_trust_ca(c), NULL, NULL, NULL};
    char *pem;
    int got = 0;

    /* every call, due or not: the running session calls this periodically,
     * and a CRL's or chain's validity means nothing with a clock set back */
    if (edge_clock_check(c) == EDGE_CLOCK_ROLLBACK) {
        fprintf(stderr, "edge-client: trust anchors and CRL not refreshed: the clock is not "
                        "trusted\n");
        return -1;
    }
    if (!force && !due(c))
        return 0;
    if (c->crl_file == NULL &&
        (pem = edge_http_get(&h, "/api/v1/crl.pem", "CRL refresh")) != NULL) {
        if (install_crl(c, pem) == 0) {
            printf("edge: CRL downloaded from the hub -> %s (verified; checked on every hub "
                   "handshake)\n",
                   edge_trust_crl(c));
            got++;
        }
        free(pem);
    }
    /* the chain comes only from an API whose certificate is not revoked
     * (curl's CRLFILE would also want a CRL for the root: checked here) */
    h.ca_file = edge_trust_ca(c);
    quiet = 1;
    int api_ok = check_api(c) == 0;
    quiet = 0;
    if (api_ok && (pem = edge_http_get(&h, "/api/v1/ca/chain", "CA chain refresh")) != NULL) {
        if (install_chain(c, pem) == 0)
            got++;
        free(pem);
    }
    data_path(c, "trust.stamp", stamp, sizeof(stamp));
    snprintf(when, sizeof(when), "%lld\n", edge_now_ms());
    if (got == (c->crl_file ? 1 : 2)) /* all fetched: next refresh in trust_refresh_s */
        edge_write_file(stamp, when, 0644);
    return access(edge_trust_ca(c), R_OK) == 0 ? 0 : -1;
}

int edge_trust_update_ctx(SSL_CTX *ctx, const edge_config *c)
{
    X509_CRL *crl = read_crl_file(edge_trust_crl(c));
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    int ok = crl && X509_STORE_add_crl(st, crl) == 1 &&
             X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK) == 1;
    X509_CRL_free(crl);
    ERR_clear_error(); /* "already in the store" is fine */
    return ok ? 0 : -1;
}

/* ---- checking the hub's servers --------------------------------------- */

static X509 *seen_leaf; /* the server's certificate, caught during verify */

static int on_verify(int ok, X509_STORE_CTX *x)
{
    if (X509_STORE_CTX_get_error_depth(x) == 0 && seen_leaf == NULL) {
        seen_leaf = X509_STORE_CTX_get_current_cert(x);
        X509_up_ref(seen_leaf);
    }
    return ok;
}

static SSL_CTX *check_ctx(const edge_config *c, const char *host)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_VERIFY_PARAM *vp = ctx ? SSL_CTX_get0_param(ctx) : NULL;
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;

    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, edge_trust_ca(c), NULL) != 1 ||
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
               : X509_VERIFY_PARAM_set1_host(vp, host, 0)) != 1 ||
        (edge_trust_crl(c) && edge_trust_update_ctx(ctx, c) != 0)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
    return ctx;
}

static void say_refused(const edge_config *c, const char *what, const char *host, int port, long vr)
{
    char serial[80] = "?", cn[128] = "?";
    X509_CRL *crl = read_crl_file(edge_trust_crl(c));
    X509_REVOKED *rev = NULL;
    if (seen_leaf) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(seen_leaf), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        snprintf(serial, sizeof(serial), "%s", hex ? hex : "?");
        OPENSSL_free(hex);
        BN_free(bn);
        X509_NAME_get_text_by_NID(X509_get_subject_name(seen_leaf), NID_commonName, cn, sizeof(cn));
    }
    if (vr == X509_V_ERR_CERT_REVOKED) {
        char when[64] = "?";
        long reason = -1;
        if (crl && seen_leaf && X509_CRL_get0_by_cert(crl, &rev, seen_leaf) == 1 && rev) {
            ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
            BIO *m = BIO_new(BIO_s_mem());
            reason = e ? ASN1_ENUMERATED_get(e) : 0;
            if (m && ASN1_TIME_print(m, X509_REVOKED_get0_revocationDate(rev))) {
                int n = BIO_read(m, when, sizeof(when) - 1);
                when[n > 0 ? n : 0] = '\0';
            }
            BIO_free(m);
            ASN1_ENUMERATED_free(e);
        }
        fprintf(stderr,
                "edge-client: REFUSED: the hub's %s certificate at %s:%d (CN=%s, serial %s) is "
                "REVOKED on the hub's CRL %s (since %s, reason %ld): not connecting. The hub "
                "operator must issue a new server certificate.\n",
                what, host, port, cn, serial, edge_trust_crl(c) ? edge_trust_crl(c) : "?", when,
                reason);
    } else {
        fprintf(stderr,
                "edge-client: REFUSED: the hub's %s certificate at %s:%d (CN=%s, serial "
                "%s) does not verify: %s; not connecting. Check ca_file, the CRL and "
                "the system time.\n",
                what, host, port, cn, serial, X509_verify_cert_error_string(vr));
    }
    X509_CRL_free(crl);
}

/* TCP connect with a 10 s limit and no retry (a hub that is down must
 * neither hang nor delay the start: the session retries with backoff),
 * then a blocking socket with 10 s I/O timeouts. */
static BIO *connect_bio(const char *target)
{
    struct timeval tv = {10, 0};
    BIO *b = BIO_new_connect(target);
    int fd = -1, rv;

    if (b == NULL || BIO_set_nbio(b, 1) != 1)
        goto fail;
    rv = BIO_do_connect(b);
    if (rv <= 0 && BIO_should_retry(b) && (fd = (int)BIO_get_fd(b, NULL)) >= 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, 10000) != 1)
            goto fail;
        rv = BIO_do_connect(b); /* completes, or fails with the socket's error */
    }
    if (rv != 1 || (fd = (int)BIO_get_fd(b, NULL)) < 0 || !BIO_socket_nbio(fd, 0) ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        goto fail;
    return b;
fail:
    BIO_free_all(b);
    ERR_clear_error();
    return NULL;
}

/* 0 valid, 1 refused, -1 unreachable. No client certificate is sent. */
static int check_server(const edge_config *c, const char *what, const char *host, int port)
{
    char target[600];
    SSL_CTX *ctx = check_ctx(c, host);
    BIO *b;
    SSL *s = NULL;
    int rc = -1, conn;
    long vr;

    if (ctx == NULL) {
        fprintf(stderr, "edge-client: cannot set up the trust check (CA %s)\n", edge_trust_ca(c));
        return 1;
    }
    snprintf(target, sizeof(target), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    seen_leaf = NULL;
    if ((b = connect_bio(target)) != NULL && (s = SSL_new(ctx)) != NULL) {
        SSL_set_bio(s, b, b);
        b = NULL;
        SSL_set_tlsext_host_name(s, host);
        conn = SSL_connect(s);
        vr = SSL_get_verify_result(s);
        if (seen_leaf != NULL && vr != X509_V_OK) {
            if (!quiet)
                say_refused(c, what, host, port, vr);
            rc = 1;
        } else if (seen_leaf != NULL) {
            rc = 0; /* verified; the server may still want our certificate */
        }
        (void)conn;
    }
    if (rc < 0)
        fprintf(stderr,
                "edge-client: note: cannot reach the hub's %s at %s to check its "
                "certificate now\n",
                what, target);
    BIO_free_all(b);
    SSL_free(s);
    SSL_CTX_free(ctx);
    X509_free(seen_leaf);
    seen_leaf = NULL;
    ERR_clear_error();
    return rc;
}

static int check_api(const edge_config *c)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int r = -1;

    if (u && curl_url_set(u, CURLUPART_URL, c->hub_url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        if (host[0] == '[') { /* IPv6 literal */
            memmove(host, host + 1, strlen(host));
            host[strcspn(host, "]")] = '\0';
        }
        r = check_server(c, "API", host, atoi(port));
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return r;
}

static int check_all(const edge_config *c, int quiet_pass)
{
    int r1, r2;
    quiet = quiet_pass;
    r1 = check_server(c, "broker", c->mqtt_host, c->mqtt_port);
    r2 = check_api(c);
    quiet = 0;
    return r1 == 1 || r2 == 1 ? 1 : (r1 < 0 || r2 < 0 ? -1 : 0);
}

int edge_trust_check_hub(const edge_config *c)
{
    int r = check_all(c, 1);
    if (r != 1)
        return r;
    /* refused: maybe only our CRL or chain is stale; refresh once, recheck */
    edge_trust_refresh(c, 1);
    return check_all(c, 0);
}
