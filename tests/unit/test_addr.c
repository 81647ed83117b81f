/* Unit tests: key addresses (pkcs11: URIs, handle:, files, URI PEM) and
 * ek_key_open over a store in a temp dir (keys from stub_key.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/asn1t.h>
#include <openssl/pem.h>

#include "ek_addr.h"
#include "ek_config.h"
#include "ek_store.h"
#include "stub_key.h"
#include "test_util.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s", tu_mkdtemp());
    tu_use_store(dir);
    stub_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stub_reset();
    tu_rmrf(dir);
    ek_config_reset();
    return 0;
}

static const char *tmpfile_with(const char *name, const void *data, size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tu_write(path, data, len);
    return path;
}

/* ---- pkcs11: ---- */

static void test_pkcs11_good(void **state)
{
    (void)state;
    ek_addr a;
    assert_int_equal(ek_addr_parse("pkcs11:token=edge;object=device;type=private", &a), EK_OK);
    assert_int_equal(a.kind, EK_ADDR_PKCS11);
    assert_string_equal(a.token, "edge");
    assert_string_equal(a.object, "device");
    assert_int_equal(a.type, EK_OBJ_PRIVATE);
    assert_int_equal(a.id_len, 0);
    assert_false(a.has_pin);
    assert_string_equal(a.serial, "");

    assert_int_equal(ek_addr_parse_pkcs11("PKCS11:token=my%20token;object=a%2Fb%3Bc;id=%01%ff%00;"
                                          "serial=0123456789abcdef;model=TPM2%20key%20store;"
                                          "manufacturer=edgekey;type=cert",
                                          &a),
                     EK_OK);
    assert_string_equal(a.token, "my token");
    assert_string_equal(a.object, "a/b;c");
    assert_int_equal(a.id_len, 3);
    assert_memory_equal(a.id, "\x01\xff\x00", 3);
    assert_string_equal(a.serial, "0123456789abcdef");
    assert_string_equal(a.model, "TPM2 key store");
    assert_string_equal(a.manufacturer, "edgekey");
    assert_int_equal(a.type, EK_OBJ_CERT);

    assert_int_equal(ek_addr_parse_pkcs11("pkcs11:", &a), EK_OK); /* any object */
    assert_int_equal(a.type, EK_OBJ_ANY);
    assert_int_equal(ek_addr_parse_pkcs11("pkcs11:type=public;slot-id=3", &a), EK_OK);
    assert_int_equal(a.type, EK_OBJ_PUBLIC);
    assert_int_equal(ek_addr_parse_pkcs11("pkcs11:object=k?module-name=edgekey-pkcs11", &a), EK_OK);
}

static void test_pkcs11_pin(void **state)
{
    (void)state;
    ek_addr a;
    assert_int_equal(ek_addr_parse("pkcs11:token=edge;object=d?pin-value=12%2034", &a), EK_OK);
    assert_true(a.has_pin);
    assert_string_equal(a.pin, "12 34");
    ek_addr_clear(&a);
    assert_false(a.has_pin);
    assert_int_equal(a.pin[0], 0);
    assert_int_equal(a.pin[1], 0);
    /* a refused URI never echoes its PIN */
    assert_int_not_equal(ek_addr_parse("pkcs11:token=%zz;object=d?pin-value=SeCrEt", &a), EK_OK);
    assert_null(strstr(ek_last_error(), "SeCrEt"));
    assert_true(tu_contains(ek_last_error(), "pin-value=***"));
    assert_int_not_equal(ek_addr_parse("pkcs11:bogus=1?pin-value=SeCrEt&x=1", &a), EK_OK);
    assert_null(strstr(ek_last_error(), "SeCrEt"));
    assert_false(a.has_pin);
    assert_int_equal(ek_addr_parse("pkcs11:object=d?pin-source=file:/etc/pin", &a),
                     EK_ERR_UNSUPPORTED);
    assert_true(tu_contains(ek_last_error(), "pin-source is not supported"));
}

static void test_pkcs11_bad(void **state)
{
    (void)state;
    ek_addr a;
    static const struct {
        const char *uri;
        ek_rc rc;
        const char *msg;
    } bad[] = {
        {"pkcs11:token=%zz", EK_ERR_INVALID, "not a valid pkcs11: URI"},
        {"pkcs11:colour=blue", EK_ERR_INVALID, "attributes edgekey does not know"},
        {"pkcs11:type=secret-key", EK_ERR_NOT_FOUND, "type=private"},
        {"pkcs11:object=k?module-name=softhsm2", EK_ERR_NOT_FOUND, "another PKCS#11 module"},
        {"pkcs11:object=k?module-path=/usr/lib/softhsm/libsofthsm2.so", EK_ERR_NOT_FOUND,
         "another PKCS#11 module"},
        {"pkcs11:object=a%00b", EK_ERR_INVALID, "NUL"},
        {"pkcs11:token=t%20%00%00%01", EK_ERR_INVALID, "token= contains a NUL"},
        {"pkcs11:serial=%00", EK_ERR_INVALID, "serial= contains a NUL"},
        {"pkcs11:token=0123456789abcdef0123456789abcdefX", EK_ERR_INVALID, "pkcs11"},
        {"pkcs12:token=edge", EK_ERR_INVALID, "accepted forms"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ek_rc rc = strncmp(bad[i].uri, "pkcs11", 6) ? ek_addr_parse_pkcs11(bad[i].uri, &a)
                                                    : ek_addr_parse(bad[i].uri, &a);
        if (rc != bad[i].rc)
            print_error("%s: rc %d (%s)\n", bad[i].uri, rc, ek_last_error());
        assert_int_equal(rc, bad[i].rc);
        assert_true(tu_contains(ek_last_error(), bad[i].msg));
    }
    char longid[400] = "pkcs11:id=";
    for (int i = 0; i < 65; i++)
        strcat(longid, "%01");
    assert_int_equal(ek_addr_parse(longid, &a), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "id= must be 1-64 bytes"));
}

static void test_format_round_trip(void **state)
{
    (void)state;
    char buf[512];
    unsigned char id[] = {0x00, 0x7f, 0xa5};
    ek_addr a;
    assert_int_equal(
        ek_addr_format_pkcs11("edge", "dev ice;1/%", id, 3, EK_OBJ_PRIVATE, buf, sizeof(buf)),
        EK_OK);
    assert_true(tu_contains(buf, "pkcs11:"));
    assert_true(tu_contains(buf, "token=edge"));
    assert_true(tu_contains(buf, "type=private"));
    assert_null(strchr(buf, ' ')); /* percent-encoded */
    assert_int_equal(ek_addr_parse(buf, &a), EK_OK);
    assert_string_equal(a.token, "edge");
    assert_string_equal(a.object, "dev ice;1/%");
    assert_int_equal(a.id_len, 3);
    assert_memory_equal(a.id, id, 3);
    assert_int_equal(a.type, EK_OBJ_PRIVATE);
    assert_int_equal(ek_addr_format_pkcs11("edge", "device", NULL, 0, EK_OBJ_ANY, buf, 10),
                     EK_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ek_addr_format_pkcs11("edge", NULL, NULL, 0, EK_OBJ_CERT, buf, sizeof(buf)),
                     EK_OK);
    assert_int_equal(ek_addr_parse(buf, &a), EK_OK);
    assert_int_equal(a.type, EK_OBJ_CERT);
    assert_string_equal(a.object, "");
}

/* ---- handle: ---- */

static void test_handles(void **state)
{
    (void)state;
    ek_addr a;
    assert_int_equal(ek_addr_parse("handle:0x81010001", &a), EK_OK);
    assert_int_equal(a.kind, EK_ADDR_HANDLE);
    assert_int_equal(a.handle, 0x81010001);
    assert_int_equal(ek_addr_parse("handle:81FFFFFF", &a), EK_OK);
    assert_int_equal(a.handle, 0x81FFFFFF);
    assert_int_equal(ek_addr_parse("handle:0x81000000", &a), EK_OK);
    assert_int_equal(ek_addr_parse("handle:0x80FFFFFF", &a), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(),
                            "handle:0x80ffffff refused: persistent key handles are "
                            "0x81000000-0x81FFFFFF"));
    assert_int_equal(ek_addr_parse("handle:0x82000000", &a), EK_ERR_INVALID);
    const char *bad[] = {
        "handle:",   "handle:0x",          "handle:xyz",       "handle:0x810100011",
        "handle:-1", "handle:0x8101 0001", "handle:2164326401"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ek_addr_parse(bad[i], &a), EK_ERR_INVALID);
}

/* ---- files ---- */

static void test_tss2_files(void **state)
{
    (void)state;
    ek_addr a;
    char url[700];
    assert_int_equal(ek_addr_parse(tu_fixture_path("tpm2openssl-p256.pem"), &a), EK_OK);
    assert_int_equal(a.kind, EK_ADDR_TSS2_FILE);
    assert_string_equal(a.path, tu_fixture_path("tpm2openssl-p256.pem"));
    assert_int_equal(ek_addr_parse(tu_fixture_path("tpm2openssl-rsa2048.der"), &a), EK_OK);
    assert_int_equal(a.kind, EK_ADDR_TSS2_FILE);
    size_t len;
    unsigned char *der = tu_fixture("tpm2openssl-rsa2048.der", &len);
    const char *p = tmpfile_with("my key.der", der, len);
    snprintf(url, sizeof(url), "file://%.*s%%20key.der", (int)(strrchr(p, ' ') - p), p);
    assert_int_equal(ek_addr_parse(url, &a), EK_OK);
    assert_string_equal(a.path, p);
    snprintf(url, sizeof(url), "file://localhost%s", tu_fixture_path("tpm2openssl-p256.pem"));
    assert_int_equal(ek_addr_parse(url, &a), EK_OK);
    assert_int_equal(ek_addr_parse("file://elsewhere/etc/key.pem", &a), EK_ERR_UNSUPPORTED);
    free(der);

    char missing[300];
    snprintf(missing, sizeof(missing), "%s/none.pem", dir);
    assert_int_equal(ek_addr_parse(missing, &a), EK_ERR_NOT_FOUND);
    assert_true(tu_contains(ek_last_error(), "accepted forms"));
    p = tmpfile_with("junk.pem", "hello world\n", 12);
    assert_int_equal(ek_addr_parse(p, &a), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "neither a TSS2 PRIVATE KEY"));
    p = tmpfile_with("bad.pem",
                     "-----BEGIN TSS2 PRIVATE KEY-----\nMAA=\n"
                     "-----END TSS2 PRIVATE KEY-----\n",
                     69);
    assert_int_equal(ek_addr_parse(p, &a), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "bad.pem"));
    assert_int_equal(ek_addr_parse("", &a), EK_ERR_INVALID);
}

static void test_uri_pem(void **state)
{
    (void)state;
    char *pem;
    size_t len;
    char uri[256];
    ek_addr a;
    const char *u = "pkcs11:token=edge;object=device;type=private";
    assert_int_equal(ek_addr_uri_pem_encode(u, &pem, &len), EK_OK);
    assert_true(tu_contains(pem, "-----BEGIN EDGEKEY URI-----"));
    assert_int_equal(ek_addr_uri_pem_decode(pem, len, uri, sizeof(uri)), EK_OK);
    assert_string_equal(uri, u);
    assert_int_equal(ek_addr_uri_pem_decode(pem, len, uri, 10), EK_ERR_BUFFER_TOO_SMALL);
    const char *p = tmpfile_with("ref.pem", pem, len);
    assert_int_equal(ek_addr_parse(p, &a), EK_OK);
    assert_int_equal(a.kind, EK_ADDR_URI_FILE);
    assert_string_equal(a.path, p);
    assert_string_equal(a.token, "edge");
    assert_string_equal(a.object, "device");
    free(pem);

    assert_int_equal(ek_addr_uri_pem_encode("handle:0x81000010", &pem, &len), EK_OK);
    p = tmpfile_with("handle.pem", pem, len);
    assert_int_equal(ek_addr_parse(p, &a), EK_OK);
    assert_int_equal(a.kind, EK_ADDR_HANDLE);
    assert_int_equal(a.handle, 0x81000010);
    assert_string_equal(a.path, p);
    free(pem);

    assert_int_equal(ek_addr_uri_pem_encode("/etc/passwd", &pem, &len), EK_ERR_INVALID);
    assert_int_equal(ek_addr_uri_pem_encode("handle:0x1", &pem, &len), EK_ERR_INVALID);
}

/* pkcs11-provider's file: SEQUENCE { VisibleString desc, UTF8String uri }. */
typedef struct {
    ASN1_VISIBLESTRING *desc;
    ASN1_UTF8STRING *uri;
} P11P_URI;
/* clang-format off */
ASN1_SEQUENCE(P11P_URI) = {
    ASN1_SIMPLE(P11P_URI, desc, ASN1_VISIBLESTRING),
    ASN1_SIMPLE(P11P_URI, uri, ASN1_UTF8STRING),
} ASN1_SEQUENCE_END(P11P_URI)
const ASN1_ITEM *P11P_URI_it(void); /* ends the macro for clang-format */
/* clang-format on */
#define P11P_URI_IT ASN1_ITEM_rptr(P11P_URI)

static char *p11prov_pem(const char *uri, const unsigned char *extra, size_t extra_len)
{
    P11P_URI *v = (P11P_URI *)ASN1_item_new(P11P_URI_IT);
    ASN1_STRING_set(v->desc, "PKCS#11 Provider URI v1.0", -1);
    ASN1_STRING_set(v->uri, uri, -1);
    unsigned char *der = NULL;
    int n = ASN1_item_i2d((ASN1_VALUE *)v, &der, P11P_URI_IT);
    unsigned char *all = malloc((size_t)n + extra_len);
    memcpy(all, der, (size_t)n);
    if (extra_len)
        memcpy(all + n, extra, extra_len);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio(b, "PKCS#11 PROVIDER URI", "", all, n + (long)extra_len);
    char *mem;
    long len = BIO_get_mem_data(b, &mem);
    char *out = strndup(mem, (size_t)len);
    BIO_free(b);
    free(all);
    OPENSSL_free(der);
    ASN1_item_free((ASN1_VALUE *)v, P11P_URI_IT);
    return out;
}

static void test_pkcs11_provider_pem(void **state)
{
    (void)state;
    char uri[256];
    ek_addr a;
    char *pem = p11prov_pem("pkcs11:model=TPM2%20key%20store;token=edge;object=device;type=private",
                            NULL, 0);
    assert_int_equal(ek_addr_uri_pem_decode(pem, strlen(pem), uri, sizeof(uri)), EK_OK);
    assert_true(tu_contains(uri, "object=device"));
    const char *p = tmpfile_with("p11prov.pem", pem, strlen(pem));
    assert_int_equal(ek_addr_parse(p, &a), EK_OK);
    assert_int_equal(a.kind, EK_ADDR_URI_FILE);
    assert_string_equal(a.model, "TPM2 key store");
    free(pem);
    pem = p11prov_pem("pkcs11:object=x", (const unsigned char *)"\x05\x00", 2);
    assert_int_equal(ek_addr_uri_pem_decode(pem, strlen(pem), uri, sizeof(uri)), EK_ERR_INVALID);
    free(pem);
    const char *none = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    assert_int_equal(ek_addr_uri_pem_decode(none, strlen(none), uri, sizeof(uri)), EK_ERR_INVALID);
}

/* ---- ek_key_open ---- */

static void test_key_open(void **state)
{
    (void)state;
    ek_key *k1 = stub_key_rsa(2048), *k2 = stub_key_rsa(2048), *k3 = stub_key_ec_p256();
    ek_key *got = NULL;
    ek_store_obj o1;
    ek_token_info ti;
    assert_int_equal(ek_store_put_key("edge", "device", NULL, 0, k1, &o1), EK_OK);
    assert_int_equal(ek_store_put_key("spare", "device", NULL, 0, k2, NULL), EK_OK);
    assert_int_equal(ek_store_put_key("pintok", "signer", NULL, 0, k3, NULL), EK_OK);
    assert_int_equal(ek_store_token_get("edge", &ti), EK_OK);

    assert_int_equal(ek_key_open("pkcs11:token=edge;object=device;type=private", &got), EK_OK);
    assert_memory_equal(ek_key_public(got)->n, ek_key_public(k1)->n, 256);
    ek_key_free(got);

    assert_int_equal(ek_key_open("pkcs11:object=device", &got), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "ambiguous: 2 keys match"));
    assert_true(tu_contains(ek_last_error(), "add id= or object="));
    assert_null(got);

    char uri[512], hex[17];
    ek_hex(o1.id, o1.id_len, hex);
    assert_int_equal(
        ek_addr_format_pkcs11(NULL, NULL, o1.id, o1.id_len, EK_OBJ_PRIVATE, uri, sizeof(uri)),
        EK_OK);
    assert_int_equal(ek_key_open(uri, &got), EK_OK); /* by id alone */
    ek_key_free(got);
    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=device", ti.serial);
    assert_int_equal(ek_key_open(uri, &got), EK_OK); /* serial picks the token */
    ek_key_free(got);

    assert_int_equal(ek_key_open("pkcs11:token=edge;object=nothing", &got), EK_ERR_NOT_FOUND);
    assert_true(tu_contains(ek_last_error(), "no edgekey key matches"));
    assert_true(tu_contains(ek_last_error(), "token 'edge'"));
    assert_true(tu_contains(ek_last_error(), "object 'nothing'"));
    assert_int_equal(ek_key_open("pkcs11:serial=0000000000000000;object=device", &got),
                     EK_ERR_NOT_FOUND);
    assert_int_equal(ek_key_open("pkcs11:manufacturer=SoftHSM;object=device", &got),
                     EK_ERR_NOT_FOUND);
    assert_int_equal(ek_key_open("pkcs11:token=edge;object=device;type=cert", &got),
                     EK_ERR_NOT_FOUND);
    /* another module's token label (not even a valid store label): declinable */
    assert_int_equal(ek_key_open("pkcs11:token=SoftHSM%20token;object=device", &got),
                     EK_ERR_NOT_FOUND);

    /* pin-value: the key's own auth in a PIN-less token ... */
    size_t alen;
    assert_int_equal(ek_key_open("pkcs11:token=edge;object=device?pin-value=1234", &got), EK_OK);
    assert_int_equal(alen = 0, 0);
    const unsigned char *auth = stub_key_auth(got, &alen);
    assert_int_equal(alen, 4);
    assert_memory_equal(auth, "1234", 4);
    ek_key_free(got);
    /* ... and the user PIN the auth is derived from in a PIN token */
    assert_int_equal(ek_key_open("pkcs11:token=pintok;object=signer?pin-value=1234", &got), EK_OK);
    auth = stub_key_auth(got, &alen);
    assert_int_equal(alen, 12);
    assert_memory_equal(auth, "derived:1234", 12);
    ek_key_free(got);

    /* a URI file leads to the same key */
    char *pem;
    size_t len;
    assert_int_equal(ek_addr_uri_pem_encode("pkcs11:token=edge;object=device", &pem, &len), EK_OK);
    assert_int_equal(ek_key_open(tmpfile_with("ref.pem", pem, len), &got), EK_OK);
    assert_memory_equal(ek_key_public(got)->n, ek_key_public(k1)->n, 256);
    ek_key_free(got);
    free(pem);

    /* handle: and TSS2 files */
    stub_persist(0x81000020, k2);
    assert_int_equal(ek_key_open("handle:0x81000020", &got), EK_OK);
    assert_int_equal(ek_key_handle(got), 0x81000020);
    ek_key_free(got);
    assert_int_equal(ek_key_open("handle:0x81000021", &got), EK_ERR_NOT_FOUND);
    assert_int_equal(ek_key_open(tu_fixture_path("tpm2openssl-rsa2048.der"), &got), EK_OK);
    assert_int_equal(ek_key_public(got)->bits, 2048);
    ek_key_free(got);
    assert_int_equal(ek_key_open(tu_fixture_path("tpm2openssl-p256.pem"), &got), EK_OK);
    assert_int_equal(ek_key_public(got)->curve, EK_CURVE_P256);
    ek_key_free(got);

    ek_key_free(k1);
    ek_key_free(k2);
    ek_key_free(k3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pkcs11_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pkcs11_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pkcs11_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tss2_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pkcs11_provider_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_open, setup, teardown),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
