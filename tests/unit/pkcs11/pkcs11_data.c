/* Unit tests (no TPM) of data objects (CKO_DATA sealed in the TPM):
 * the C_CreateObject template rules, the attribute set, the store record
 * codec (core/secret_file.c), and - on a temporary store with a record
 * written directly (a fake sealed blob: there is no TPM here) - search by
 * class/label/application/id, the CKA_VALUE length and buffer rules that
 * need no TPM, that a real read goes to the TPM (unreachable here: device
 * error, never a stored value), refusals of C_CreateObject before the TPM,
 * C_InitToken refusing to erase a PIN-less token's secrets, and
 * C_DestroyObject removing the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "ek_secret_int.h"
#include "p11_internal.h"
#include "token_seal.h"

static char tmpdir[64], store[128];
static CK_FUNCTION_LIST *f;

static CK_OBJECT_CLASS data_cls = CKO_DATA;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static unsigned char secret[32] = "deviceSecret-0123456789abcdefXYZ";

/* A valid template: class, token, private, label, application, id, value. */
static CK_ULONG good(CK_ATTRIBUTE t[8])
{
    static unsigned char id[] = {0xd1, 0x5e};
    CK_ATTRIBUTE g[] = {
        {CKA_CLASS, &data_cls, sizeof(data_cls)},
        {CKA_TOKEN, &yes, 1},
        {CKA_PRIVATE, &yes, 1},
        {CKA_LABEL, "deviceSecret", 12},
        {CKA_APPLICATION, "edge-client", 11},
        {CKA_ID, id, sizeof(id)},
        {CKA_VALUE, secret, sizeof(secret)},
    };
    memcpy(t, g, sizeof(g));
    return 7;
}

static CK_RV rules(CK_ATTRIBUTE *t, CK_ULONG n)
{
    ek_secret_obj d;
    const unsigned char *v = NULL;
    size_t vl = 0;
    return p11_data_template(t, n, &d, &v, &vl);
}

/* Replace attribute type in t (adding it if absent). */
static CK_ULONG with(CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE a)
{
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].type == a.type) {
            t[i] = a;
            return n;
        }
    t[n] = a;
    return n + 1;
}

static CK_ULONG without(CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].type == type) {
            t[i] = t[n - 1];
            return n - 1;
        }
    return n;
}

static void test_template_rules(void **state)
{
    (void)state;
    CK_ATTRIBUTE t[10];
    CK_ULONG n = good(t);
    ek_secret_obj d;
    const unsigned char *v = NULL;
    size_t vl = 0;
    assert_int_equal(p11_data_template(t, n, &d, &v, &vl), CKR_OK);
    assert_string_equal(d.label, "deviceSecret");
    assert_string_equal(d.application, "edge-client");
    assert_int_equal(d.id_len, 2);
    assert_true(d.priv);
    assert_ptr_equal(v, secret);
    assert_int_equal(vl, sizeof(secret));

    /* CKA_PRIVATE defaults to true; false is kept */
    n = without(t, good(t), CKA_PRIVATE);
    assert_int_equal(p11_data_template(t, n, &d, &v, &vl), CKR_OK);
    assert_true(d.priv);
    n = with(t, good(t), (CK_ATTRIBUTE){CKA_PRIVATE, &no, 1});
    assert_int_equal(p11_data_template(t, n, &d, &v, &vl), CKR_OK);
    assert_false(d.priv);

    /* token objects only */
    assert_int_equal(rules(t, without(t, good(t), CKA_TOKEN)), CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_TOKEN, &no, 1})),
                     CKR_TEMPLATE_INCONSISTENT);
    /* the value: required, 1..128 bytes */
    unsigned char big[EK_SECRET_MAX + 1];
    memset(big, 0x5a, sizeof(big));
    assert_int_equal(rules(t, without(t, good(t), CKA_VALUE)), CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_VALUE, big, 0})),
                     CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_VALUE, big, EK_SECRET_MAX})),
                     CKR_OK);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_VALUE, big, EK_SECRET_MAX + 1})),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    /* the label: required, 1..255 bytes, no NUL */
    char lbl[257];
    memset(lbl, 'l', sizeof(lbl));
    assert_int_equal(rules(t, without(t, good(t), CKA_LABEL)), CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_LABEL, lbl, 0})),
                     CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_LABEL, lbl, 255})), CKR_OK);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_LABEL, lbl, 256})),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_LABEL, "a\0b", 3})),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    /* application, id and object id sizes */
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_APPLICATION, lbl, 256})),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_ID, big, 65})),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_OBJECT_ID, big, 128})), CKR_OK);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_OBJECT_ID, big, 129})),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    /* what we cannot honour */
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_MODIFIABLE, &yes, 1})),
                     CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_MODIFIABLE, &no, 1})), CKR_OK);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_COPYABLE, &yes, 1})),
                     CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_DESTROYABLE, &no, 1})),
                     CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_SIGN, &yes, 1})),
                     CKR_ATTRIBUTE_TYPE_INVALID);
    /* malformed booleans, wrong class */
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_PRIVATE, big, 4})),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    CK_OBJECT_CLASS cert = CKO_CERTIFICATE;
    assert_int_equal(rules(t, with(t, good(t), (CK_ATTRIBUTE){CKA_CLASS, &cert, sizeof(cert)})),
                     CKR_TEMPLATE_INCONSISTENT);
}

static void test_attrs(void **state)
{
    (void)state;
    ek_secret_obj o = {
        .label = "deviceSecret", .application = "edge", .priv = true, .value_len = 32};
    o.id[0] = 7;
    o.id_len = 1;
    p11_attrs as = {0};
    assert_int_equal(p11_build_data_attrs(&as, &o), CKR_OK);
    /* CKA_VALUE is not kept in memory: it is unsealed on demand */
    assert_null(p11_attrs_find(&as, CKA_VALUE));
    CK_OBJECT_CLASS cls = 0;
    CK_BBOOL priv = 0, mod = 1, tok = 0;
    char label[32];
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_PRIVATE, &priv, 1},
                        {CKA_MODIFIABLE, &mod, 1},
                        {CKA_TOKEN, &tok, 1},
                        {CKA_LABEL, label, sizeof(label)}};
    assert_int_equal(p11_attrs_get(&as, CKO_DATA, t, 5), CKR_OK);
    assert_int_equal(cls, CKO_DATA);
    assert_true(priv && tok && !mod);
    assert_int_equal(t[4].ulValueLen, 12);
    assert_memory_equal(label, "deviceSecret", 12);
    p11_attrs_free(&as);
}

static void test_record_codec(void **state)
{
    (void)state;
    ek_secret_obj o = {.label = "a label\nwith = signs",
                       .application = "app",
                       .priv = true,
                       .token_auth = true,
                       .value_len = 64,
                       .created = 1700000000};
    memcpy(o.id, "\x00\x01\x02", 3);
    o.id_len = 3;
    unsigned char blob[300], back[EK_SECRET_BLOB_MAX];
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (unsigned char)(i * 13);
    char *text = NULL;
    size_t len = 0, blen = 0;
    assert_int_equal(ek_secret_format(&o, blob, sizeof(blob), &text, &len), EK_OK);
    assert_int_equal(strlen(text), len);
    ek_secret_obj p;
    assert_int_equal(
        ek_secret_parse(text, "tok", "0123456789abcdef", &p, back, sizeof(back), &blen), EK_OK);
    assert_string_equal(p.label, o.label);
    assert_string_equal(p.application, "app");
    assert_string_equal(p.token, "tok");
    assert_string_equal(p.name, "0123456789abcdef");
    assert_int_equal(p.id_len, 3);
    assert_memory_equal(p.id, o.id, 3);
    assert_true(p.priv && p.token_auth);
    assert_int_equal(p.value_len, 64);
    assert_int_equal(p.created, 1700000000);
    assert_int_equal(blen, sizeof(blob));
    assert_memory_equal(back, blob, sizeof(blob));
    free(text);

    /* damaged records are refused */
    o.value_len = EK_SECRET_MAX + 1;
    assert_int_equal(ek_secret_format(&o, blob, sizeof(blob), &text, &len), EK_OK);
    assert_int_equal(ek_secret_parse(text, "tok", "0123456789abcdef", &p, NULL, 0, NULL),
                     EK_ERR_INVALID);
    free(text);
    assert_int_equal(ek_secret_parse("format = EKDATA1\nlabel = 41\n", "t", "n", &p, NULL, 0, NULL),
                     EK_ERR_INVALID);
    assert_int_equal(ek_secret_parse("format = EKDATA2\n", "t", "n", &p, NULL, 0, NULL),
                     EK_ERR_INVALID);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ek-p11-data.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char conf[128];
    snprintf(conf, sizeof(conf), "%s/edgekey.conf", tmpdir);
    snprintf(store, sizeof(store), "%s/store", tmpdir);
    FILE *fp = fopen(conf, "w");
    fclose(fp);
    setenv("EDGEKEY_CONF", conf, 1);
    setenv("EDGEKEY_STORE", store, 1);
    setenv("EDGEKEY_TCTI", "swtpm:host=127.0.0.1,port=9", 1); /* nothing listens */
    assert_int_equal(C_GetFunctionList(&f), CKR_OK);
    CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK, .pReserved = "log_level = 0"};
    assert_int_equal(f->C_Initialize(&ia), CKR_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static CK_SLOT_ID make_token(const char *name)
{
    CK_SLOT_ID slots[P11_MAX_SLOTS];
    CK_ULONG n = P11_MAX_SLOTS;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    CK_UTF8CHAR label[32];
    memset(label, ' ', 32);
    memcpy(label, name, strlen(name));
    assert_int_equal(f->C_InitToken(slots[n - 1], NULL, 0, label), CKR_OK);
    return slots[n - 1];
}

static CK_ULONG find(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    CK_ULONG got = 0;
    assert_int_equal(f->C_FindObjectsInit(s, t, n), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, out, 4, &got), CKR_OK);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    return got;
}

static size_t data_files(const char *token)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "ls '%s/%s' | grep -c '^[0-9a-f]\\{16\\}\\.data$'", store, token);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return (size_t)n;
}

static void test_module(void **state)
{
    (void)state;
    CK_SLOT_ID slot = make_token("dtok");
    /* a stored record (what ek_secret_put writes after sealing) */
    ek_secret_obj o = {.token = "dtok",
                       .label = "deviceSecret",
                       .application = "edge-client",
                       .priv = true,
                       .value_len = sizeof(secret),
                       .created = 1};
    o.id[0] = 0x42;
    o.id_len = 1;
    assert_int_equal(ek_secret_new_name(o.name), EK_OK);
    /* a well-formed sealed blob that no TPM made: reading it must ask the TPM */
    ek_sealed sealed = {0};
    sealed.pub.publicArea.type = TPM2_ALG_KEYEDHASH;
    sealed.pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    sealed.pub.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    sealed.priv.size = 48;
    memset(sealed.priv.buffer, 0xa5, 48);
    unsigned char fake_blob[EK_SECRET_BLOB_MAX];
    size_t fake_len = 0;
    assert_int_equal(ek_seal_encode(&sealed, fake_blob, sizeof(fake_blob), &fake_len), EK_OK);
    assert_int_equal(ek_secret_store(&o, fake_blob, fake_len), EK_OK);
    assert_int_equal(data_files("dtok"), 1);
    /* a second object with the same label is refused by the store */
    ek_secret_obj dup = o;
    assert_int_equal(ek_secret_new_name(dup.name), EK_OK);
    assert_int_equal(ek_secret_store(&dup, fake_blob, fake_len), EK_ERR_EXISTS);

    CK_SESSION_HANDLE ro, rw;
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw),
                     CKR_OK);
    CK_OBJECT_HANDLE h[4], hd;
    CK_ATTRIBUTE by_class[] = {{CKA_CLASS, &data_cls, sizeof(data_cls)}};
    assert_int_equal(find(ro, by_class, 1, h), 1); /* PIN-less token: visible without login */
    hd = h[0];
    CK_ATTRIBUTE by_label[] = {{CKA_CLASS, &data_cls, sizeof(data_cls)},
                               {CKA_LABEL, "deviceSecret", 12}};
    assert_int_equal(find(ro, by_label, 2, h), 1);
    assert_int_equal(h[0], hd);
    CK_ATTRIBUTE by_app[] = {{CKA_APPLICATION, "edge-client", 11}};
    assert_int_equal(find(ro, by_app, 1, h), 1);
    CK_ATTRIBUTE by_id[] = {{CKA_ID, "\x42", 1}, {CKA_PRIVATE, &yes, 1}};
    assert_int_equal(find(ro, by_id, 2, h), 1);
    CK_ATTRIBUTE by_value[] = {{CKA_VALUE, secret, sizeof(secret)}}; /* never matched */
    assert_int_equal(find(ro, by_value, 1, h), 0);
    CK_ATTRIBUTE other[] = {{CKA_LABEL, "deviceSecreT", 12}};
    assert_int_equal(find(ro, other, 1, h), 0);

    /* CKA_VALUE: length query and short buffer need no TPM */
    unsigned char buf[EK_SECRET_MAX];
    CK_ATTRIBUTE v = {CKA_VALUE, NULL, 0};
    assert_int_equal(f->C_GetAttributeValue(ro, hd, &v, 1), CKR_OK);
    assert_int_equal(v.ulValueLen, sizeof(secret));
    v.pValue = buf;
    v.ulValueLen = sizeof(secret) - 1;
    assert_int_equal(f->C_GetAttributeValue(ro, hd, &v, 1), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(v.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    /* other attributes in the same call are still answered */
    char label[64];
    CK_BBOOL priv = 0;
    CK_ATTRIBUTE two[] = {
        {CKA_VALUE, buf, 3}, {CKA_LABEL, label, sizeof(label)}, {CKA_PRIVATE, &priv, 1}};
    assert_int_equal(f->C_GetAttributeValue(ro, hd, two, 3), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(two[1].ulValueLen, 12);
    assert_true(priv);
    /* a real read asks the TPM (unreachable here): never a stored copy */
    memset(buf, 0, sizeof(buf));
    v.ulValueLen = sizeof(buf);
    CK_RV rv = f->C_GetAttributeValue(ro, hd, &v, 1);
    assert_int_equal(rv, CKR_DEVICE_ERROR);
    assert_int_equal(v.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_null(memmem(buf, sizeof(buf), secret, 8));

    /* C_CreateObject refusals that come before the TPM */
    CK_ATTRIBUTE t[10];
    CK_ULONG n = good(t);
    CK_OBJECT_HANDLE hn;
    assert_int_equal(f->C_CreateObject(ro, t, n, &hn), CKR_SESSION_READ_ONLY);
    unsigned char big[EK_SECRET_MAX + 1] = {0};
    n = with(t, good(t), (CK_ATTRIBUTE){CKA_VALUE, big, sizeof(big)});
    assert_int_equal(f->C_CreateObject(rw, t, n, &hn), CKR_ATTRIBUTE_VALUE_INVALID);
    n = with(t, good(t), (CK_ATTRIBUTE){CKA_TOKEN, &no, 1});
    assert_int_equal(f->C_CreateObject(rw, t, n, &hn), CKR_TEMPLATE_INCONSISTENT);

    /* a PIN-less token holding secrets is not silently erased */
    assert_int_equal(f->C_CloseSession(ro), CKR_OK);
    assert_int_equal(f->C_CloseSession(rw), CKR_OK);
    CK_UTF8CHAR tl[32];
    memset(tl, ' ', 32);
    memcpy(tl, "dtok", 4);
    assert_int_equal(f->C_InitToken(slot, (CK_UTF8CHAR *)"12345678", 8, tl), CKR_FUNCTION_FAILED);
    assert_int_equal(data_files("dtok"), 1);

    /* C_DestroyObject removes the store file */
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw),
                     CKR_OK);
    assert_int_equal(find(rw, by_class, 1, h), 1);
    assert_int_equal(f->C_DestroyObject(ro, h[0]), CKR_SESSION_READ_ONLY);
    assert_int_equal(f->C_DestroyObject(rw, h[0]), CKR_OK);
    assert_int_equal(data_files("dtok"), 0);
    assert_int_equal(find(rw, by_class, 1, h), 0);
    assert_int_equal(f->C_CloseSession(ro), CKR_OK);
    assert_int_equal(f->C_CloseSession(rw), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_rules),
        cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_record_codec),
        cmocka_unit_test(test_module),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
