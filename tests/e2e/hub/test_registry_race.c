/* Registry races: RACERS threads, each with its own handle (its own
 * connection, like separate hub nodes), released together by a barrier,
 * do the same thing at once; the registry must keep its promises. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "hub_util.h"
#include "test_registry.h"

#define RACERS 8

typedef struct racer {
    int id;
    hub_registry *r;
    pthread_barrier_t *go;
    int (*fn)(struct racer *);
    int rc;
    uint64_t value;
} racer;

static void *race_main(void *arg)
{
    racer *x = arg;
    pthread_barrier_wait(x->go);
    x->rc = x->fn(x);
    return NULL;
}

/* Run fn in RACERS threads at once; results in out[]. */
static void race(int (*fn)(racer *), racer out[RACERS])
{
    pthread_barrier_t go;
    pthread_t t[RACERS];
    pthread_barrier_init(&go, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        out[i] = (racer){.id = i, .r = open_reg(), .go = &go, .fn = fn, .rc = -2};
    }
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_main, &out[i]), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < RACERS; i++)
        reg_close(out[i].r);
    pthread_barrier_destroy(&go);
}

static int count_rc(const racer x[RACERS], int rc)
{
    int n = 0;
    for (int i = 0; i < RACERS; i++)
        n += x[i].rc == rc;
    return n;
}

/* A nonce used inside each racer's transaction (as an apply does). */
static int nonce_in_tx(racer *x)
{
    if (reg_begin(x->r) != 0)
        return -1;
    int rc = reg_nonce_use(x->r, "N-race", hub_now_s() + 600);
    if (rc != 0) {
        reg_rollback(x->r);
        return rc;
    }
    return reg_commit(x->r);
}

void test_race_nonce(void **state)
{
    (void)state;
    racer x[RACERS];
    race(nonce_in_tx, x);
    assert_int_equal(count_rc(x, 0), 1); /* accepted once */
    assert_int_equal(count_rc(x, 1), RACERS - 1);
}

static int activate(racer *x)
{
    char secret[16];
    snprintf(secret, sizeof(secret), "s%d", x->id);
    return reg_device_activate(x->r, "P-race", "D-race", secret, "asset");
}

void test_race_activate(void **state)
{
    hub_registry *r = *state;
    add_product(r, "P-race");
    assert_int_equal(reg_device_add(r, "P-race", "D-race"), 0);
    racer x[RACERS];
    race(activate, x);
    assert_int_equal(count_rc(x, 0), 1);
    assert_int_equal(count_rc(x, 1), RACERS - 1);
    hub_device d;
    assert_int_equal(reg_device_get(r, "D-race", &d), 0);
    int winner = -1;
    for (int i = 0; i < RACERS; i++)
        if (x[i].rc == 0)
            winner = i;
    char want[16];
    snprintf(want, sizeof(want), "s%d", winner);
    assert_string_equal(d.secret, want); /* the one told "yes" holds the secret */
}

#define SERIALS_EACH 20

static int serials(racer *x)
{
    uint64_t last = 0, v;
    for (int i = 0; i < SERIALS_EACH; i++) {
        if (reg_serial_next(x->r, &v) != 0 || v <= last)
            return -1;
        last = v;
        x->value ^= v * 0x9E3779B97F4A7C15ull; /* order-free digest of the set */
    }
    return 0;
}

void test_race_serials(void **state)
{
    hub_registry *r = *state;
    uint64_t before, after;
    assert_int_equal(reg_serial_next(r, &before), 0);
    racer x[RACERS];
    race(serials, x);
    assert_int_equal(count_rc(x, 0), RACERS);
    assert_int_equal(reg_serial_next(r, &after), 0);
    /* RACERS*SERIALS_EACH distinct values strictly between before and after,
     * and no gaps: exactly the range, so none was handed out twice */
    assert_int_equal(after - before - 1, RACERS * SERIALS_EACH);
    uint64_t want = 0, got = 0;
    for (uint64_t v = before + 1; v < after; v++)
        want ^= v * 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < RACERS; i++)
        got ^= x[i].value;
    assert_int_equal(got, want);
}

/* Each racer renews D-renew: new certificate + supersede the others, in one
 * transaction, as ops_device.c's issue() does. */
static int renew(racer *x)
{
    char serial[41];
    snprintf(serial, sizeof(serial), "R-%d", x->id);
    hub_cert c = {.kind = HUB_CK_DEVICE, .state = HUB_CERT_ACTIVE, .pem = "pem"};
    snprintf(c.serial, sizeof(c.serial), "%s", serial);
    snprintf(c.pk, sizeof(c.pk), "P-renew");
    snprintf(c.dk, sizeof(c.dk), "D-renew");
    uint64_t id;
    if (reg_begin(x->r) != 0)
        return -1;
    if (reg_serial_next(x->r, &id) != 0 || reg_cert_add(x->r, &c) != 0 ||
        reg_cert_supersede_device(x->r, "D-renew", serial, NULL) != 0) {
        reg_rollback(x->r);
        return -1;
    }
    return reg_commit(x->r);
}

static int count_active(const hub_cert *c, void *arg)
{
    *(int *)arg += c->state == HUB_CERT_ACTIVE;
    return 0;
}

void test_race_renew(void **state)
{
    hub_registry *r = *state;
    add_product(r, "P-renew");
    assert_int_equal(reg_device_add(r, "P-renew", "D-renew"), 0);
    add_cert(r, "R-first", "D-renew");
    racer x[RACERS];
    race(renew, x);
    assert_int_equal(count_rc(x, 0), RACERS);
    int active = 0;
    assert_int_equal(reg_cert_list(r, "D-renew", false, count_active, &active), 0);
    assert_int_equal(active, 1); /* one device, one active certificate */
}

static int revoke(racer *x)
{
    char serial[41];
    snprintf(serial, sizeof(serial), "V-%d", x->id);
    return reg_cert_revoke(x->r, serial, 1);
}

static int rev_seqs(const hub_cert *c, void *arg)
{
    int64_t *seen = arg;
    if (strncmp(c->serial, "V-", 2) == 0)
        seen[c->serial[2] - '0'] = c->rev_seq;
    return 0;
}

void test_race_revoke(void **state)
{
    hub_registry *r = *state;
    add_product(r, "P-rev");
    for (int i = 0; i < RACERS; i++) {
        char serial[41];
        snprintf(serial, sizeof(serial), "V-%d", i);
        add_cert(r, serial, "D-rev");
    }
    int64_t base = reg_cert_max_rev_seq(r);
    racer x[RACERS];
    race(revoke, x);
    assert_int_equal(count_rc(x, 0), RACERS);
    int64_t seen[RACERS] = {0};
    assert_int_equal(reg_cert_revoked_since(r, base, rev_seqs, seen), 0);
    /* RACERS distinct numbers right after base: the broker reads them all */
    unsigned mask = 0;
    for (int i = 0; i < RACERS; i++) {
        assert_true(seen[i] > base && seen[i] <= base + RACERS);
        mask |= 1u << (seen[i] - base - 1);
    }
    assert_int_equal(mask, (1u << RACERS) - 1);
}
