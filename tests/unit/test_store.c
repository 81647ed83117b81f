/* Unit tests: the store's file logic (no TPM: keys come from stub_key.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ek_addr.h"
#include "ek_config.h"
#include "ek_keyfile.h"
#include "ek_store.h"
#include "stub_key.h"
#include "test_util.h"

static char dir[256];
static const char *root;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s", tu_mkdtemp());
    root = tu_use_store(dir);
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

static mode_t file_mode(const char *token, const ek_store_obj *o, const char *ext)
{
    char path[1400], hex[129];
    struct stat st;
    ek_hex(o->id, o->id_len, hex);
    snprintf(path, sizeof(path), "%s/%s/%s%s", root, token, hex, ext);
    if (stat(path, &st) != 0)
        return 0;
    return st.st_mode & 07777;
}

static void test_token_create_and_serial(void **state)
{
    (void)state;
    ek_token_info a, b;
    struct stat st;
    assert_int_equal(ek_store_token_get("edge", &a), EK_ERR_NOT_FOUND);
    assert_true(tu_contains(ek_last_error(), "token 'edge' not found in store"));
    assert_int_equal(ek_store_token_ensure("edge", &a), EK_OK);
    assert_string_equal(a.label, "edge");
    assert_int_equal(strlen(a.serial), 16);
    assert_int_equal(strspn(a.serial, "0123456789abcdef"), 16);
    assert_int_equal(stat(a.dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* stable: again, and after the process "restarts" (config reloaded) */
    assert_int_equal(ek_store_token_ensure("edge", &b), EK_OK);
    assert_string_equal(a.serial, b.serial);
    ek_config_reset();
    assert_int_equal(ek_store_token_get("edge", &b), EK_OK);
    assert_string_equal(a.serial, b.serial);
    /* another token gets another serial */
    assert_int_equal(ek_store_token_ensure("other", &b), EK_OK);
    assert_string_not_equal(a.serial, b.serial);
    ek_token_info *all;
    size_t n;
    assert_int_equal(ek_store_tokens(&all, &n), EK_OK);
    assert_int_equal(n, 2);
    assert_string_equal(all[0].label, "edge");
    assert_string_equal(all[1].label, "other");
    free(all);
    assert_int_equal(tu_count_names(a.dir, ".tmp."), 0);
}

static void test_bad_token_labels(void **state)
{
    (void)state;
    const char *bad[] = {"",    "a/b", "..", ".", "has space", "0123456789abcdef0123456789abcdefX",
                         "x\ny"};
    ek_token_info t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ek_store_token_ensure(bad[i], &t), EK_ERR_INVALID);
        assert_true(tu_contains(ek_last_error(), "token label"));
    }
    assert_int_equal(ek_token_label_check("Edge_1.a-b"), EK_OK);
    assert_int_equal(tu_count_names(dir, "store"), 0); /* not even the root */
    ek_token_info *all;
    size_t n;
    assert_int_equal(ek_store_tokens(&all, &n), EK_OK);
    assert_int_equal(n, 0); /* nothing was created */
    free(all);
}

static void test_readers_write_nothing(void **state)
{
    (void)state;
    ek_store_obj *objs;
    size_t n;
    assert_int_equal(ek_store_find(NULL, NULL, NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 0);
    free(objs);
    assert_int_equal(ek_store_find("edge", "x", NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 0);
    free(objs);
    struct stat st;
    assert_int_not_equal(stat(root, &st), 0); /* the root was not created by readers */
}

static void test_put_find_load(void **state)
{
    (void)state;
    ek_key *k = stub_key_rsa(2048), *loaded = NULL;
    ek_store_obj o, *objs;
    size_t n;
    assert_int_equal(ek_store_put_key("edge", "device", NULL, 0, k, &o), EK_OK);
    /* default id: SHA-256 over n || e, first 8 bytes */
    const ek_pubkey *pub = ek_key_public(k);
    unsigned char in[600], md[32];
    memcpy(in, pub->n, pub->n_len);
    memcpy(in + pub->n_len, "\x01\x00\x01", 3);
    EVP_Digest(in, pub->n_len + 3, md, NULL, EVP_sha256(), NULL);
    assert_int_equal(o.id_len, 8);
    assert_memory_equal(o.id, md, 8);
    assert_true(o.has_key);
    assert_false(o.has_cert);
    assert_int_equal(o.alg, EK_ALG_RSA);
    assert_int_equal(o.bits, 2048);
    assert_int_equal(file_mode("edge", &o, ".key"), 0600);
    assert_int_equal(file_mode("edge", &o, ".meta"), 0600);

    ek_key *e = stub_key_ec_p256();
    unsigned char myid[] = {0xde, 0xad};
    const char *odd = "odd label = %41 with\nnewline";
    assert_int_equal(ek_store_put_key("edge", odd, myid, 2, e, NULL), EK_OK);

    assert_int_equal(ek_store_find("edge", "device", NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(objs[0].id, o.id, 8);
    assert_int_equal(ek_store_load_key(&objs[0], &loaded), EK_OK);
    assert_int_equal(ek_key_public(loaded)->n_len, pub->n_len);
    assert_memory_equal(ek_key_public(loaded)->n, pub->n, pub->n_len);
    ek_key_free(loaded);
    free(objs);

    assert_int_equal(ek_store_find(NULL, NULL, myid, 2, &objs, &n), EK_OK);
    assert_int_equal(n, 1);
    assert_string_equal(objs[0].label, odd); /* survives the line format */
    assert_int_equal(objs[0].alg, EK_ALG_EC);
    assert_int_equal(objs[0].curve, EK_CURVE_P256);
    free(objs);
    assert_int_equal(ek_store_find("edge", NULL, NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 2);
    assert_string_equal(objs[0].label, "device"); /* sorted by label */
    free(objs);
    assert_int_equal(ek_store_find("edge", "nothing", NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 0);
    free(objs);

    char tokdir[600];
    snprintf(tokdir, sizeof(tokdir), "%s/edge", root);
    assert_int_equal(tu_count_names(tokdir, ".tmp."), 0); /* atomic writes leave nothing */
    ek_key_free(k);
    ek_key_free(e);
}

static void test_duplicates(void **state)
{
    (void)state;
    ek_key *k = stub_key_rsa(2048), *k2 = stub_key_rsa(2048);
    assert_int_equal(ek_store_put_key("edge", "device", NULL, 0, k, NULL), EK_OK);
    assert_int_equal(ek_store_put_key("edge", "device", NULL, 0, k2, NULL), EK_ERR_EXISTS);
    assert_true(tu_contains(ek_last_error(),
                            "token 'edge' already has an object labelled 'device'; choose "
                            "another label or delete"));
    /* same key (so same id) under another label */
    assert_int_equal(ek_store_put_key("edge", "second", NULL, 0, k, NULL), EK_ERR_EXISTS);
    assert_true(tu_contains(ek_last_error(), "already has an object with id"));
    /* the same label in another token is fine */
    assert_int_equal(ek_store_put_key("other", "device", NULL, 0, k2, NULL), EK_OK);
    assert_int_equal(ek_store_put_key("edge", "", NULL, 0, k2, NULL), EK_ERR_INVALID);
    ek_key_free(k);
    ek_key_free(k2);
}

static void test_handle_only_key(void **state)
{
    (void)state;
    ek_key *blob = stub_key_rsa(2048);
    ek_key *h = stub_key_handle_only(blob, 0x81000005);
    ek_store_obj o, *objs;
    size_t n;
    ek_key *loaded;
    stub_persist(0x81000005, blob);
    assert_int_equal(ek_store_put_key("edge", "persistent", NULL, 0, h, &o), EK_OK);
    assert_int_equal(o.handle, 0x81000005);
    assert_int_equal(file_mode("edge", &o, ".key"), 0); /* no blob file */
    assert_int_equal(ek_store_find("edge", "persistent", NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(objs[0].handle, 0x81000005);
    assert_true(objs[0].has_key);
    assert_int_equal(ek_store_load_key(&objs[0], &loaded), EK_OK);
    assert_int_equal(ek_key_handle(loaded), 0x81000005);
    ek_key_free(loaded);
    /* someone put another key at the handle: refused, not silently used */
    ek_key *intruder = stub_key_rsa(2048);
    stub_persist(0x81000005, intruder);
    assert_int_equal(ek_store_load_key(&objs[0], &loaded), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "now holds a different key"));
    /* delete with the TPM evicts the handle */
    assert_int_equal(ek_store_delete(&objs[0], EK_OBJ_ANY, true), EK_OK);
    assert_true(stub_was_evicted(0x81000005));
    free(objs);
    assert_int_equal(ek_store_find("edge", NULL, NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 0);
    free(objs);
    ek_key_free(intruder);
    ek_key_free(h);
    ek_key_free(blob);
}

/* A key that is both a blob and persistent loads through the handle, and
 * through the blob once the handle is gone. */
static void test_blob_and_handle(void **state)
{
    (void)state;
    ek_key *k = stub_key_rsa(2048), *loaded;
    ek_store_obj o;
    stub_key_set_handle(k, 0x81000007);
    stub_persist(0x81000007, k);
    assert_int_equal(ek_store_put_key("edge", "both", NULL, 0, k, &o), EK_OK);
    assert_int_equal(file_mode("edge", &o, ".key"), 0600);
    assert_int_equal(o.handle, 0x81000007);
    assert_int_equal(ek_store_load_key(&o, &loaded), EK_OK);
    assert_int_equal(ek_key_handle(loaded), 0x81000007);
    ek_key_free(loaded);
    stub_persist(0x81000007, NULL); /* evicted behind our back */
    assert_int_equal(ek_store_load_key(&o, &loaded), EK_OK);
    assert_int_equal(ek_key_handle(loaded), 0);
    assert_memory_equal(ek_key_public(loaded)->n, ek_key_public(k)->n, 256);
    ek_key_free(loaded);
    ek_key_free(k);
}

static unsigned char *self_signed(EVP_PKEY *pk, size_t *len)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"edge-1", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    X509_free(x);
    unsigned char *out = malloc((size_t)n);
    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return out;
}

static void test_certificates(void **state)
{
    (void)state;
    EVP_PKEY *pk = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
    ek_key *k = stub_key_from_evp(pk);
    ek_store_obj o, c, *objs;
    size_t n, cert_len, other_len, got_len;
    unsigned char *cert = self_signed(pk, &cert_len), *ocert = self_signed(other, &other_len);
    unsigned char *got = NULL;
    assert_int_equal(ek_store_put_key("edge", "device", NULL, 0, k, &o), EK_OK);
    assert_int_equal(ek_store_read_cert(&o, &got, &got_len), EK_ERR_NOT_FOUND);
    /* no id: matched by public key */
    assert_int_equal(ek_store_put_cert("edge", NULL, NULL, 0, cert, cert_len, &c), EK_OK);
    assert_memory_equal(c.id, o.id, o.id_len);
    assert_string_equal(c.label, "device");
    assert_true(c.has_cert);
    assert_int_equal(file_mode("edge", &o, ".crt"), 0644);
    assert_int_equal(ek_store_read_cert(&o, &got, &got_len), EK_OK);
    assert_int_equal(got_len, cert_len);
    assert_memory_equal(got, cert, cert_len);
    free(got);
    /* by id, but for another key: refused */
    assert_int_equal(ek_store_put_cert("edge", NULL, o.id, o.id_len, ocert, other_len, NULL),
                     EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "does not match key 'device'"));
    /* an unmatched certificate needs a label and makes a certificate-only object */
    assert_int_equal(ek_store_put_cert("edge", NULL, NULL, 0, ocert, other_len, NULL),
                     EK_ERR_INVALID);
    assert_int_equal(ek_store_put_cert("edge", "ca", NULL, 0, ocert, other_len, &c), EK_OK);
    assert_false(c.has_key);
    ek_key *none;
    assert_int_equal(ek_store_load_key(&c, &none), EK_ERR_NOT_FOUND);
    assert_int_equal(ek_store_put_cert("edge", "x", NULL, 0, cert, cert_len - 1, NULL),
                     EK_ERR_INVALID);
    /* delete only the certificate, then everything */
    assert_int_equal(ek_store_delete(&o, EK_OBJ_CERT, false), EK_OK);
    assert_int_equal(ek_store_find("edge", "device", NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 1);
    assert_true(objs[0].has_key);
    assert_false(objs[0].has_cert);
    assert_int_equal(ek_store_delete(&objs[0], EK_OBJ_CERT, false), EK_ERR_NOT_FOUND);
    free(objs);
    assert_int_equal(ek_store_delete(&c, EK_OBJ_CERT, false), EK_OK); /* cert-only: gone */
    assert_int_equal(ek_store_delete(&o, EK_OBJ_ANY, false), EK_OK);
    assert_int_equal(ek_store_find("edge", NULL, NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, 0);
    free(objs);
    char tokdir[600];
    snprintf(tokdir, sizeof(tokdir), "%s/edge", root);
    assert_int_equal(tu_count_names(tokdir, ".key") + tu_count_names(tokdir, ".crt") +
                         tu_count_names(tokdir, ".meta"),
                     0);
    free(cert);
    free(ocert);
    ek_key_free(k);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(other);
}

static void test_hex(void **state)
{
    (void)state;
    unsigned char in[] = {0x00, 0xab, 0xff}, out[4];
    char hex[7];
    size_t n;
    ek_hex(in, 3, hex);
    assert_string_equal(hex, "00abff");
    assert_int_equal(ek_unhex("00ABff", out, sizeof(out), &n), EK_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(in, out, 3);
    assert_int_equal(ek_unhex("abc", out, sizeof(out), &n), EK_ERR_INVALID);
    assert_int_equal(ek_unhex("zz", out, sizeof(out), &n), EK_ERR_INVALID);
    assert_int_equal(ek_unhex("0011223344", out, sizeof(out), &n), EK_ERR_BUFFER_TOO_SMALL);
}

/* Many processes writing one token at once: every put lands, none is torn,
 * no temp file is left, and exactly one of several same-label puts wins. */
#define WRITERS 8
#define PER_WRITER 6

static void test_concurrent_writers(void **state)
{
    (void)state;
    pid_t pids[WRITERS];
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            char c;
            close(gate[1]);
            if (read(gate[0], &c, 1) != 0) /* all start together when the gate closes */
                _exit(101);
            ek_key *k = stub_key_rsa(2048);
            int won = ek_store_put_key("busy", "contested", NULL, 0, k, NULL) == EK_OK;
            ek_key_free(k);
            int fails = 0;
            for (int i = 0; i < PER_WRITER; i++) {
                char label[32];
                snprintf(label, sizeof(label), "w%d-k%d", w, i);
                k = stub_key_rsa(2048);
                fails += ek_store_put_key("busy", label, NULL, 0, k, NULL) != EK_OK;
                ek_key_free(k);
            }
            _exit(fails ? 100 : won ? 1 : 0);
        }
    }
    close(gate[0]);
    close(gate[1]);
    int winners = 0;
    for (int w = 0; w < WRITERS; w++) {
        int st;
        assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
        assert_true(WIFEXITED(st));
        assert_true(WEXITSTATUS(st) <= 1);
        winners += WEXITSTATUS(st);
    }
    assert_int_equal(winners, 1);
    ek_store_obj *objs;
    size_t n;
    assert_int_equal(ek_store_find("busy", NULL, NULL, 0, &objs, &n), EK_OK);
    assert_int_equal(n, WRITERS * PER_WRITER + 1);
    for (size_t i = 0; i < n; i++) {
        ek_key *k;
        assert_int_equal(ek_store_load_key(&objs[i], &k), EK_OK);
        ek_key_free(k);
    }
    free(objs);
    char tokdir[600];
    snprintf(tokdir, sizeof(tokdir), "%s/busy", root);
    assert_int_equal(tu_count_names(tokdir, ".tmp."), 0);
    assert_int_equal(tu_count_names(tokdir, ".meta"), WRITERS * PER_WRITER + 1);
    ek_token_info *all;
    assert_int_equal(ek_store_tokens(&all, &n), EK_OK);
    assert_int_equal(n, 1); /* one token.conf, written once */
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_create_and_serial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_token_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readers_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_find_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handle_only_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_and_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certificates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hex, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
