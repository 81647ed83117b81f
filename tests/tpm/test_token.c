/* Token PINs (ek_token.h) with the secret in sealed files.
 *
 * 1. Seal files made while the SRK was the transient template primary
 *    (no 0x81000001) keep working once a persistent
 *    SRK appears at 0x81000001: the PIN login and a sealed data object.
 *    Before seal files recorded their parent this failed with
 *    "TPM2_Load: integrity check failed".
 * 2. A new PIN token keeps its secret in DA-protected sealed objects
 *    (pin-so.seal, pin-user.seal) and defines no NV index: login, a wrong
 *    PIN is refused, counted in pin.tries and by the TPM's lockout counter;
 *    a PIN change and a PIN-less re-init work.
 * 3. With an owner authorization value set, PIN tokens still work (nothing
 *    needs the owner hierarchy once the SRK exists).
 * 4. The TPM facts cache (<store>/.tpm-facts): written by the first
 *    ek_tpm_get_facts, read back equal, rewritten when damaged.
 * tpm2-tools make the persistent SRK and set the owner auth; on a direct
 * TCTI the TPM takes one connection, so the core disconnects first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ek_info.h"
#include "ek_secret.h"
#include "ek_store.h"
#include "ek_token.h"
#include "ek_tpm.h"
#include "tpm_test.h"

static const char SO[] = "so-pin-0815", USER[] = "user-4711", USER2[] = "user-new-42";

static void sh(const char *cmd)
{
    ek_tpm_disconnect();
    char full[1024];
    snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
    if (system(full) != 0) {
        fprintf(stderr, "FATAL: %s failed\n", cmd);
        exit(1);
    }
}

static bool has_file(const char *token, const char *name)
{
    ek_token_info ti;
    char path[1200];
    struct stat st;
    if (ek_store_token_get(token, &ti) != EK_OK)
        return false;
    snprintf(path, sizeof(path), "%s/%s", ti.dir, name);
    return stat(path, &st) == 0;
}

/* Number of NV indices in edgekey's range 0x010E4Bxx. */
static int nv_count(void)
{
    ek_tpm_disconnect();
    FILE *p = popen("tpm2_getcap handles-nv-index 2>/dev/null | grep -ci '0x10e4b'", "r");
    int n = -1;
    if (!p || fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

static void make_pin_token(const char *token)
{
    ek_token_info ti;
    ek_token_secret so;
    REQUIRE_OK(ek_store_token_ensure(token, &ti));
    REQUIRE_OK(ek_token_init(token, SO, strlen(SO)));
    REQUIRE_OK(ek_token_login(token, EK_TOKEN_SO, SO, strlen(SO), &so));
    REQUIRE_OK(ek_token_set_user_pin(token, &so, USER, strlen(USER)));
    ek_token_secret_wipe(&so);
}

static void check_login(const char *token, const char *pin, const char *what)
{
    ek_token_secret s;
    CHECK_OK(ek_token_login(token, EK_TOKEN_USER, pin, strlen(pin), &s));
    CHECK(s.set, "%s: secret not set", what);
    ek_token_secret_wipe(&s);
}

/* 1: seal files under the transient SRK, then a persistent SRK appears. */
static void test_parent_recorded(void)
{
    make_pin_token("sealed");
    CHECK(has_file("sealed", "pin-so.seal") && has_file("sealed", "pin-user.seal"),
          "a PIN token makes seal files");
    ek_token_secret s;
    REQUIRE_OK(ek_token_login("sealed", EK_TOKEN_USER, USER, strlen(USER), &s));
    ek_secret_obj d = {.priv = true}, made;
    snprintf(d.label, sizeof(d.label), "device-secret");
    CHECK_OK(ek_secret_put("sealed", &d, &s, (const unsigned char *)"s3cr3t", 6, &made));
    ek_token_secret_wipe(&s);

    const char *tmp = getenv("EDGEKEY_TEST_TMP");
    char cmd[600];
    snprintf(cmd, sizeof(cmd),
             "tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -c %s/srk.ctx && "
             "tpm2_evictcontrol -Q -C o -c %s/srk.ctx 0x81000001 && tpm2_flushcontext -t",
             tmp ? tmp : "/tmp", tmp ? tmp : "/tmp");
    sh(cmd);

    check_login("sealed", USER, "seal file made under the transient SRK");
    unsigned char out[EK_SECRET_MAX];
    size_t n = 0;
    CHECK_OK(ek_secret_read("sealed", "device-secret", USER, strlen(USER), out, sizeof(out), &n));
    CHECK(n == 6 && memcmp(out, "s3cr3t", 6) == 0, "data object value after the SRK change");
}

/* The TPM's DA failure counter (tpm2-tools, not our library). */
static int lockout_counter(void)
{
    ek_tpm_disconnect(); /* a direct TCTI takes one connection at a time */
    FILE *p = popen("tpm2_getcap properties-variable 2>/dev/null | "
                    "sed -n 's/^TPM2_PT_LOCKOUT_COUNTER: *//p'",
                    "r");
    unsigned n = 0;
    int ok = p && fscanf(p, "%x", &n) == 1;
    if (p)
        pclose(p);
    return ok ? (int)n : -1;
}

/* 2: sealed, DA-protected PIN secrets. */
static void test_da_token(void)
{
    int before = nv_count();
    make_pin_token("da");
    CHECK(has_file("da", "pin-so.seal") && has_file("da", "pin-user.seal") &&
              !has_file("da", "pin-so.nv") && !has_file("da", "pin-user.nv"),
          "a new PIN token keeps its secret in seal files");
    CHECK(nv_count() == before, "no NV index defined (%d -> %d)", before, nv_count());
    check_login("da", USER, "sealed login");
    int c0 = lockout_counter();
    ek_token_secret s;
    CHECK(ek_token_login("da", EK_TOKEN_USER, "wrong-pin", 9, &s) == EK_ERR_AUTH,
          "a wrong PIN is refused");
    int c1 = lockout_counter();
    CHECK(c0 >= 0 && c1 == c0 + 1, "the TPM counted the wrong PIN (lockout counter %d -> %d)", c0,
          c1);
    ek_token_pins p;
    CHECK_OK(ek_token_pin_state("da", &p));
    CHECK(p.user_fails == 1, "pin.tries counts it too (%u)", p.user_fails);
    check_login("da", USER, "login after a wrong PIN");
    CHECK_OK(ek_token_change_pin("da", EK_TOKEN_USER, USER, strlen(USER), USER2, strlen(USER2)));
    CHECK(ek_token_login("da", EK_TOKEN_USER, USER, strlen(USER), &s) == EK_ERR_AUTH,
          "the old PIN no longer works");
    check_login("da", USER2, "the new PIN");
    CHECK_OK(ek_token_init("da", NULL, 0));
    CHECK(!ek_token_login_required("da") && !has_file("da", "pin-so.seal"), "PIN-less again");
}

/* 3: owner auth set: PIN tokens keep working. */
static void test_owner_auth_fallback(void)
{
    sh("tpm2_changeauth -c o owner-pw-1");
    make_pin_token("fallback");
    CHECK(has_file("fallback", "pin-so.seal") && has_file("fallback", "pin-user.seal"),
          "with owner auth set the secret is sealed in files");
    check_login("fallback", USER, "login with owner auth set");
    sh("tpm2_changeauth -c o -p owner-pw-1");
}

static void test_facts_cache(void)
{
    ek_tpm_info a, b;
    char path[1200];
    snprintf(path, sizeof(path), "%s/.tpm-facts", ek_store_root());
    REQUIRE_OK(ek_tpm_get_facts(&a));
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s written", path);
    if (f)
        fclose(f);
    CHECK(a.transient_slots >= 3 && (a.alg_p256 || a.alg_rsa2048), "facts: %u slots",
          a.transient_slots);
    f = fopen(path, "w");
    if (f) {
        fputs("format = EKFACTS1\ngarbage\n", f);
        fclose(f);
    }
    CHECK_OK(ek_tpm_get_facts(&b)); /* damaged: asked again, rewritten */
    CHECK_OK(ek_tpm_get_facts(&b)); /* from the file */
    CHECK(strcmp(a.manufacturer, b.manufacturer) == 0 && a.fw_major == b.fw_major &&
              a.spec_revision == b.spec_revision && a.transient_slots == b.transient_slots &&
              a.alg_rsa3072 == b.alg_rsa3072 && a.alg_p384 == b.alg_p384 && a.alg_pss == b.alg_pss,
          "cached facts differ from the TPM's");
    char buf[1024] = {0};
    f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    CHECK(strstr(buf, "transient_slots = ") && !strstr(buf, "garbage"), "damaged file rewritten");
}

int main(void)
{
    test_facts_cache();
    test_parent_recorded();
    test_da_token();
    test_owner_auth_fallback();
    ek_tpm_disconnect();
    return tt_finish("token");
}
