/* Token PINs (ek_token.h) with the secret in NV and in sealed files.
 *
 * 1. Seal files made while the SRK was the transient template primary
 *    (EDGEKEY_TOKEN_NV=0, no 0x81000001) keep working once a persistent
 *    SRK appears at 0x81000001: the PIN login and a sealed data object.
 *    Before seal files recorded their parent this failed with
 *    "TPM2_Load: integrity check failed".
 * 2. A new PIN token keeps its secret in NV indices (pin-so.nv,
 *    pin-user.nv): login, a wrong PIN is refused and counted, a PIN change
 *    moves the secret to a new index and removes the old one, an old
 *    seal-file token moves to NV on a PIN change, a PIN-less re-init
 *    removes the indices.
 * 3. With an owner authorization value set (NV cannot be defined), new
 *    tokens fall back to seal files and still log in.
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
    setenv("EDGEKEY_TOKEN_NV", "0", 1);
    make_pin_token("sealed");
    CHECK(has_file("sealed", "pin-so.seal") && has_file("sealed", "pin-user.seal"),
          "EDGEKEY_TOKEN_NV=0 makes seal files");
    ek_token_secret s;
    REQUIRE_OK(ek_token_login("sealed", EK_TOKEN_USER, USER, strlen(USER), &s));
    ek_secret_obj d = {.priv = true}, made;
    snprintf(d.label, sizeof(d.label), "device-secret");
    CHECK_OK(ek_secret_put("sealed", &d, &s, (const unsigned char *)"s3cr3t", 6, &made));
    ek_token_secret_wipe(&s);
    unsetenv("EDGEKEY_TOKEN_NV");

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

/* 2: the NV path. */
static void test_nv_token(void)
{
    int before = nv_count();
    make_pin_token("nv");
    CHECK(has_file("nv", "pin-so.nv") && has_file("nv", "pin-user.nv") &&
              !has_file("nv", "pin-so.seal") && !has_file("nv", "pin-user.seal"),
          "a new PIN token keeps its secret in NV");
    CHECK(nv_count() == before + 2, "two NV indices (%d -> %d)", before, nv_count());
    check_login("nv", USER, "NV login");

    ek_token_secret s;
    CHECK(ek_token_login("nv", EK_TOKEN_USER, "wrong-pin", 9, &s) == EK_ERR_AUTH,
          "a wrong PIN is EK_ERR_AUTH");
    ek_token_pins p;
    CHECK_OK(ek_token_pin_state("nv", &p));
    CHECK(p.has_so_pin && p.has_user_pin && p.user_fails == 1, "fails %u", p.user_fails);
    check_login("nv", USER, "NV login after a wrong PIN");
    CHECK_OK(ek_token_pin_state("nv", &p));
    CHECK(p.user_fails == 0, "a correct PIN resets the counter");

    CHECK_OK(ek_token_change_pin("nv", EK_TOKEN_USER, USER, strlen(USER), USER2, strlen(USER2)));
    CHECK(ek_token_login("nv", EK_TOKEN_USER, USER, strlen(USER), &s) == EK_ERR_AUTH,
          "the old PIN no longer works");
    check_login("nv", USER2, "the new PIN");
    CHECK(nv_count() == before + 2, "the PIN change removed the old index (%d)", nv_count());

    /* the seal-file token of test 1 moves to NV on a PIN change */
    CHECK_OK(ek_token_change_pin("sealed", EK_TOKEN_USER, USER, strlen(USER), USER2,
                                 strlen(USER2)));
    CHECK(has_file("sealed", "pin-user.nv") && !has_file("sealed", "pin-user.seal"),
          "the changed PIN is in NV now");
    check_login("sealed", USER2, "old token after the PIN change");

    CHECK_OK(ek_token_init("nv", NULL, 0));
    CHECK(!ek_token_login_required("nv") && !has_file("nv", "pin-so.nv"), "PIN-less again");
    CHECK(nv_count() == before + 1, "PIN-less re-init removed both indices (%d)", nv_count());
}

/* 3: owner auth set: NV_DefineSpace is refused, seal files are used. */
static void test_owner_auth_fallback(void)
{
    sh("tpm2_changeauth -c o owner-pw-1");
    make_pin_token("fallback");
    CHECK(has_file("fallback", "pin-so.seal") && has_file("fallback", "pin-user.seal") &&
              !has_file("fallback", "pin-so.nv"),
          "with owner auth set the secret is sealed in files");
    check_login("fallback", USER, "seal-file fallback login");
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
              a.alg_rsa3072 == b.alg_rsa3072 && a.alg_p384 == b.alg_p384 &&
              a.alg_pss == b.alg_pss,
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
    test_nv_token();
    test_owner_auth_fallback();
    ek_tpm_disconnect();
    return tt_finish("token");
}
