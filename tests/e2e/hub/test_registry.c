/* The hub registry's test suite (cmocka), one code for both backends: the
 * registry URL comes from EDGEKEY_REGISTRY_URL (registry.sh starts a private
 * PostgreSQL or names a fresh SQLite file). Every case uses its own keys, so
 * the cases share one database. The race cases open one handle per thread,
 * as several hub nodes (or processes) on one registry do
 * (test_registry_race.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "hub_util.h"
#include "test_registry.h"

const char *url;

hub_registry *open_reg(void)
{
    hub_registry *r = NULL;
    if (reg_open(url, false, &r) != 0)
        fail_msg("reg_open(%s): %s", url, hub_err());
    return r;
}

int setup(void **state)
{
    *state = open_reg();
    return 0;
}

int teardown(void **state)
{
    reg_close(*state);
    return 0;
}

void add_product(hub_registry *r, const char *pk)
{
    hub_product p = {.key_types = HUB_KT_EC, .validity_days = 30, .dynamic_activation = true};
    snprintf(p.pk, sizeof(p.pk), "%s", pk);
    snprintf(p.secret, sizeof(p.secret), "secret-of-%s", pk);
    assert_int_equal(reg_product_add(r, &p), 0);
}

void add_cert(hub_registry *r, const char *serial, const char *dk)
{
    hub_cert c = {.kind = HUB_CK_DEVICE,
                  .state = HUB_CERT_ACTIVE,
                  .not_before = 1,
                  .not_after = 2,
                  .pem = "-----PEM-----"};
    snprintf(c.serial, sizeof(c.serial), "%s", serial);
    snprintf(c.pk, sizeof(c.pk), "P-certs");
    snprintf(c.dk, sizeof(c.dk), "%s", dk);
    assert_int_equal(reg_cert_add(r, &c), 0);
}

static void test_schema(void **state)
{
    int v = reg_schema_version(*state);
    assert_true(v > 0);
    /* a second open applies nothing and sees the same version */
    hub_registry *again = open_reg();
    assert_int_equal(reg_schema_version(again), v);
    reg_close(again);
}

static void test_products(void **state)
{
    hub_registry *r = *state;
    hub_product got;
    add_product(r, "P-prod");
    hub_product dup = {.pk = "P-prod", .secret = "x"};
    assert_int_equal(reg_product_add(r, &dup), 1);
    assert_int_equal(reg_product_get(r, "P-prod", &got), 0);
    assert_string_equal(got.secret, "secret-of-P-prod");
    assert_int_equal(got.key_types, HUB_KT_EC);
    assert_int_equal(got.validity_days, 30);
    assert_true(got.dynamic_activation);
    assert_int_equal(reg_product_get(r, "P-none", &got), 1);
}

/* Quotes, backslashes, SQL and non-ASCII are stored as they are. */
static void test_verbatim(void **state)
{
    hub_registry *r = *state;
    const char *pk = "P-'; DROP TABLE devices;--";
    const char *dk = "D-\"quoted\"\\é€";
    add_product(r, pk);
    assert_int_equal(reg_device_add(r, pk, dk), 0);
    hub_device d;
    assert_int_equal(reg_device_get(r, dk, &d), 0);
    assert_string_equal(d.pk, pk);
    assert_string_equal(d.dk, dk);
}

static int count_dev(const hub_device *d, void *arg)
{
    (void)d;
    ++*(int *)arg;
    return 0;
}

static void test_devices(void **state)
{
    hub_registry *r = *state;
    hub_device d;
    add_product(r, "P-dev");
    assert_int_equal(reg_device_add(r, "P-dev", "D-dev1"), 0);
    assert_int_equal(reg_device_add(r, "P-dev", "D-dev1"), 1);
    assert_int_equal(reg_device_add(r, "P-dev", "D-dev2"), 0);
    assert_int_equal(reg_device_get(r, "D-dev1", &d), 0);
    assert_int_equal(d.state, HUB_DEV_REGISTERED);
    assert_string_equal(d.secret, "");
    /* wrong product, then the right one, then a second activation */
    assert_int_equal(reg_device_activate(r, "P-other", "D-dev1", "s1", "a1"), 1);
    assert_int_equal(reg_device_activate(r, "P-dev", "D-dev1", "s1", "a1"), 0);
    assert_int_equal(reg_device_activate(r, "P-dev", "D-dev1", "s2", "a2"), 1);
    assert_int_equal(reg_device_get(r, "D-dev1", &d), 0);
    assert_int_equal(d.state, HUB_DEV_ACTIVATED);
    assert_string_equal(d.secret, "s1");
    assert_string_equal(d.asset_id, "a1");
    assert_true(d.activated > 0);
    assert_int_equal(reg_device_set_state(r, "D-dev2", HUB_DEV_DISABLED), 0);
    assert_int_equal(reg_device_set_state(r, "D-none", HUB_DEV_DISABLED), 1);
    int n = 0;
    assert_int_equal(reg_device_list(r, "P-dev", count_dev, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(reg_device_get(r, "D-none", &d), 1);
}

static void test_nonces(void **state)
{
    hub_registry *r = *state;
    int64_t later = hub_now_s() + 600;
    assert_int_equal(reg_nonce_use(r, "N-1", later), 0);
    assert_int_equal(reg_nonce_use(r, "N-1", later), 1);
    /* a rolled-back use never happened */
    assert_int_equal(reg_begin(r), 0);
    assert_int_equal(reg_nonce_use(r, "N-2", later), 0);
    reg_rollback(r);
    assert_int_equal(reg_nonce_use(r, "N-2", later), 0);
    /* an expired nonce is swept and may come again */
    assert_int_equal(reg_nonce_use(r, "N-old", hub_now_s() - 10), 0);
    assert_int_equal(reg_nonce_use(r, "N-old", later), 0);
}

/* A refusal inside a transaction (an existing row) leaves the rest of the
 * transaction usable, and a rollback stores nothing of it. */
static void test_transactions(void **state)
{
    hub_registry *r = *state;
    hub_product p;
    add_product(r, "P-tx");
    assert_int_equal(reg_begin(r), 0);
    assert_int_equal(reg_device_add(r, "P-tx", "D-tx1"), 0);
    assert_int_equal(reg_device_add(r, "P-tx", "D-tx1"), 1);
    assert_int_equal(reg_device_add(r, "P-tx", "D-tx2"), 0);
    assert_int_equal(reg_commit(r), 0);
    hub_device d;
    assert_int_equal(reg_device_get(r, "D-tx2", &d), 0);
    assert_int_equal(reg_begin(r), 0);
    add_product(r, "P-tx-gone");
    assert_int_equal(reg_device_add(r, "P-tx-gone", "D-tx-gone"), 0);
    reg_rollback(r);
    assert_int_equal(reg_product_get(r, "P-tx-gone", &p), 1);
    assert_int_equal(reg_device_get(r, "D-tx-gone", &d), 1);
}

static void test_serials(void **state)
{
    hub_registry *r = *state;
    uint64_t a, b, c;
    assert_int_equal(reg_serial_next(r, &a), 0);
    /* a serial handed out in a rolled-back transaction is not reused */
    assert_int_equal(reg_begin(r), 0);
    assert_int_equal(reg_serial_next(r, &b), 0);
    reg_rollback(r);
    assert_int_equal(reg_serial_next(r, &c), 0);
    assert_true(b > a);
    assert_true(c > a);
    assert_int_not_equal(c, a);
}

typedef struct cert_seen {
    int n;
    char last[41];
    int64_t last_seq;
} cert_seen;

static int seen_cert(const hub_cert *c, void *arg)
{
    cert_seen *s = arg;
    s->n++;
    snprintf(s->last, sizeof(s->last), "%s", c->serial);
    s->last_seq = c->rev_seq;
    return 0;
}

static void test_certs(void **state)
{
    hub_registry *r = *state;
    hub_cert c;
    add_product(r, "P-certs");
    assert_int_equal(reg_device_add(r, "P-certs", "D-cert"), 0);
    add_cert(r, "C1", "D-cert");
    add_cert(r, "C2", "D-cert");
    assert_int_equal(reg_cert_get(r, "C1", &c), 0);
    assert_string_equal(c.pem, "-----PEM-----");
    assert_int_equal(c.state, HUB_CERT_ACTIVE);
    assert_int_equal(c.reason, -1);
    reg_cert_clear(&c);
    assert_int_equal(reg_cert_get(r, "C-none", &c), 1);
    cert_seen s = {0};
    assert_int_equal(reg_cert_list(r, "D-cert", true, seen_cert, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.last, "C2"); /* oldest first */
    int n = -1;
    assert_int_equal(reg_cert_supersede_device(r, "D-cert", "C2", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(reg_cert_get(r, "C1", &c), 0);
    assert_int_equal(c.state, HUB_CERT_SUPERSEDED);
    reg_cert_clear(&c);
    int64_t before = reg_cert_max_rev_seq(r);
    assert_true(before >= 0);
    assert_int_equal(reg_cert_revoke(r, "C2", 1), 0);
    assert_int_equal(reg_cert_revoke(r, "C2", 1), 1);
    assert_int_equal(reg_cert_revoke(r, "C-none", 1), 1);
    assert_int_equal(reg_cert_max_rev_seq(r), before + 1);
    assert_int_equal(reg_cert_get(r, "C2", &c), 0);
    assert_int_equal(c.state, HUB_CERT_REVOKED);
    assert_int_equal(c.reason, 1);
    assert_int_equal(c.rev_seq, before + 1);
    reg_cert_clear(&c);
    /* C1 was superseded "now": expiring those older than now+1 revokes it */
    assert_int_equal(reg_cert_expire_superseded(r, hub_now_s() + 1, &n), 0);
    assert_int_equal(n, 1);
    memset(&s, 0, sizeof(s));
    assert_int_equal(reg_cert_revoked_since(r, before, seen_cert, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.last, "C1");
    assert_int_equal(s.last_seq, before + 2);
}

static int seen_point(const char *point, const char *value, int64_t ts, void *arg)
{
    (void)point, (void)ts;
    snprintf(arg, 32, "%s", value);
    return 0;
}

static void test_telemetry(void **state)
{
    hub_registry *r = *state;
    char v[32] = "";
    assert_int_equal(reg_telemetry_put(r, "P-t", "D-t", "temp", "20", 2000), 0);
    assert_int_equal(reg_telemetry_put(r, "P-t", "D-t", "temp", "19", 1000), 0); /* older */
    assert_int_equal(reg_telemetry_get(r, "D-t", seen_point, v), 0);
    assert_string_equal(v, "20");
    assert_int_equal(reg_telemetry_msg(r, "P-t", "D-t", "m1"), 0);
    assert_int_equal(reg_telemetry_msg(r, "P-t", "D-t", "m1"), 1);
    int n = 0;
    assert_int_equal(reg_telemetry_msg_sweep(r, hub_now_ms() + 1000, &n), 0);
    assert_true(n >= 1);
    assert_int_equal(reg_telemetry_msg(r, "P-t", "D-t", "m1"), 0);
    assert_int_equal(reg_audit(r, "tester", "act", "obj", "it's \"fine\""), 0);
    int64_t a, b;
    assert_int_equal(reg_counter_next(r, "T-counter", &a), 0);
    assert_int_equal(reg_counter_next(r, "T-counter", &b), 0);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
}

typedef struct issuers_seen {
    int n;
    char crl[32];
    int64_t rev_seq;
} issuers_seen;

static int seen_issuer(const hub_issuer *i, void *arg)
{
    issuers_seen *s = arg;
    if (strncmp(i->id, "I-", 2) != 0)
        return 0;
    s->n++;
    if (strcmp(i->id, "I-A") == 0) {
        snprintf(s->crl, sizeof(s->crl), "%s", i->crl_pem);
        s->rev_seq = i->crl_rev_seq;
    }
    return 0;
}

/* Several issuing CAs: each certificate names its issuer; each issuer's
 * certificate and latest CRL are shared through the registry. */
static void test_issuers(void **state)
{
    hub_registry *r = *state;
    assert_int_equal(reg_issuer_put(r, "I-A", "cert A"), 0);
    assert_int_equal(reg_issuer_put(r, "I-A", "cert A"), 0); /* again: no change */
    assert_int_equal(reg_issuer_put(r, "I-B", "cert B"), 0);
    assert_int_equal(reg_issuer_set_crl(r, "I-A", "crl A 1", 7), 0);
    assert_int_equal(reg_issuer_set_crl(r, "I-none", "crl", 1), 1);
    issuers_seen s = {0};
    assert_int_equal(reg_issuer_list(r, seen_issuer, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.crl, "crl A 1");
    assert_int_equal(s.rev_seq, 7);
    hub_cert c = {.kind = HUB_CK_DEVICE, .pem = "pem", .issuer = "I-B"};
    snprintf(c.serial, sizeof(c.serial), "C-issued-by-B");
    snprintf(c.dk, sizeof(c.dk), "D-iss");
    assert_int_equal(reg_cert_add(r, &c), 0);
    hub_cert got;
    assert_int_equal(reg_cert_get(r, "C-issued-by-B", &got), 0);
    assert_string_equal(got.issuer, "I-B");
    reg_cert_clear(&got);
}

/* Key attestation records (issue 13): a product's mode, one EK per device
 * (a second device with the same EK is refused), single-use challenges
 * whose binary fields come back byte for byte, expired ones never. */
static void test_attestation(void **state)
{
    hub_registry *r = *state;
    add_product(r, "P-att");
    int mode = -1;
    assert_int_equal(reg_product_attest_set(r, "P-att", 2), 0);
    assert_int_equal(reg_product_attest_get(r, "P-att", &mode), 0);
    assert_int_equal(mode, 2);
    assert_int_equal(reg_product_attest_set(r, "P-none", 1), 1);
    assert_int_equal(reg_product_attest_get(r, "P-none", &mode), 1);

    assert_int_equal(reg_device_add(r, "P-att", "D-att1"), 0);
    assert_int_equal(reg_device_add(r, "P-att", "D-att2"), 0);
    char ek[65], owner[HUB_KEY_MAX + 1];
    bool attested = true;
    assert_int_equal(reg_device_ek_get(r, "D-att1", ek, &attested), 0);
    assert_string_equal(ek, "");
    assert_false(attested);
    const char *h = "AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34";
    assert_int_equal(reg_ek_owner(r, h, owner), 1);
    assert_int_equal(reg_device_ek_set(r, "D-att1", h, true), 0);
    assert_int_equal(reg_device_ek_get(r, "D-att1", ek, &attested), 0);
    assert_string_equal(ek, h);
    assert_true(attested);
    assert_int_equal(reg_ek_owner(r, h, owner), 0);
    assert_string_equal(owner, "D-att1");
    assert_int_equal(reg_device_ek_set(r, "D-att2", h, true), -1);  /* one EK, one device */
    assert_int_equal(reg_device_ek_set(r, "D-att1", "", false), 0); /* the admin's reset */
    assert_int_equal(reg_device_ek_set(r, "D-att2", h, false), 0);

    hub_challenge c = {.ak_pub_len = 300, .expires = hub_now_s() + 120};
    snprintf(c.id, sizeof(c.id), "CH-1");
    snprintf(c.dk, sizeof(c.dk), "D-att2");
    snprintf(c.ek_hash, sizeof(c.ek_hash), "%s", h);
    for (size_t i = 0; i < c.ak_pub_len; i++)
        c.ak_pub[i] = (unsigned char)(i * 7);
    memset(c.secret_hash, 0xA5, 32);
    memset(c.nonce, 0x00, 32);
    c.nonce[31] = 1;
    assert_int_equal(reg_challenge_put(r, &c), 0);
    hub_challenge old = c;
    snprintf(old.id, sizeof(old.id), "CH-old");
    old.expires = hub_now_s() - 1;
    assert_int_equal(reg_challenge_put(r, &old), 0);
    hub_challenge got;
    assert_int_equal(reg_challenge_take(r, "CH-old", &got), 1);
    assert_int_equal(reg_challenge_take(r, "CH-1", &got), 0);
    assert_string_equal(got.dk, "D-att2");
    assert_string_equal(got.ek_hash, h);
    assert_int_equal(got.ak_pub_len, c.ak_pub_len);
    assert_memory_equal(got.ak_pub, c.ak_pub, c.ak_pub_len);
    assert_memory_equal(got.secret_hash, c.secret_hash, 32);
    assert_memory_equal(got.nonce, c.nonce, 32);
    assert_int_equal(reg_challenge_take(r, "CH-1", &got), 1); /* single use */
}

static void test_readonly(void **state)
{
    (void)state;
    hub_registry *ro = NULL;
    assert_int_equal(reg_open(url, true, &ro), 0);
    hub_product p;
    assert_int_equal(reg_product_get(ro, "P-prod", &p), 0);
    assert_int_equal(reg_audit(ro, "plugin", "write", "x", "y"), -1);
    reg_close(ro);
}

static void test_bad_urls(void **state)
{
    (void)state;
    hub_registry *r = NULL;
    assert_int_equal(reg_open("mysql://h/db", false, &r), -1);
    assert_non_null(strstr(hub_err(), "postgresql://"));
    /* a database that is not there: refused, and said to be unreachable */
    assert_int_equal(reg_open("host=/nonexistent-dir dbname=hub connect_timeout=2", false, &r), -1);
    assert_true(reg_unavailable());
    assert_non_null(strstr(hub_err(), "cannot connect"));
}

int main(void)
{
    url = getenv("EDGEKEY_REGISTRY_URL");
    if (!url || !*url) {
        fprintf(stderr, "set EDGEKEY_REGISTRY_URL (run through registry.sh)\n");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_products, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verbatim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issuers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attestation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test_setup_teardown(test_race_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_activate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_serials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_renew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_revoke, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
