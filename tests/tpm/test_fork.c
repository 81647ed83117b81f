/* fork: the parent loads and signs, forks; the child signs with the same
 * ek_key objects (its own connection) and the signatures verify; the parent
 * signs again after the child exits. Twice: once with the parent idle while
 * the child works, once with a child that exits without disconnecting
 * (on a direct TCTI its objects stay behind and the parent's reconnect must
 * cope).
 * Through tpm2-abrmd (stock GLib TCTI) a child of a process that used the
 * TPM cannot connect (GLib's D-Bus thread does not survive fork, see
 * tabrmd_fork_hang.c): there the child must fail at once with an error
 * that says so, the parent must go on, and a child forked before the
 * parent's first TPM use must work. */
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ek_key.h"
#include "ek_tpm.h"
#include "tpm_test.h"

static const unsigned char PIN[] = "fork-pin";

static int child(ek_key *plain, ek_key *pinned, bool clean)
{
    bool ok = true;
    for (int i = 0; i < 10; i++) {
        ok = ok && tt_sign_verify(plain, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "child");
        ok = ok && tt_sign_verify(pinned, EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "child pin");
    }
    if (clean)
        ek_tpm_disconnect();
    fprintf(stderr, "child %d: %s\n", (int)getpid(), ok ? "ok" : "FAILED");
    _exit(ok ? 0 : 1); /* _exit: no atexit cleanup, as if it crashed at the end */
}

static void round_trip(ek_key *plain, ek_key *pinned, bool clean)
{
    CHECK(tt_sign_verify(plain, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "parent before"),
          "parent before fork");
    CHECK(tt_sign_verify(pinned, EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "parent pin"), "pin before");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child(plain, pinned, clean);
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid, "fork/wait");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status 0x%x)", st);
    CHECK(tt_sign_verify(plain, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_RAW, "parent after"),
          "parent after the child exited");
    CHECK(tt_sign_verify(pinned, EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "parent pin after"),
          "pin after");
}

/* abrmd: the child of a parent that used the TPM gets a clear refusal, fast. */
static void refused_child(ek_key *plain)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20); /* a hang is a failure, not a stuck suite */
        unsigned char dg[32] = {1}, sig[128];
        size_t n = sizeof(sig);
        ek_rc r = ek_key_sign(plain, EK_SIG_ECDSA, EK_MD_SHA256, dg, 32, EK_ECDSA_DER, sig, &n);
        bool ok = r == EK_ERR_CONNECT && strstr(ek_last_error(), "forked") &&
                  strstr(ek_last_error(), "/dev/tpmrm0");
        fprintf(stderr, "child: %s (%s)\n", ok ? "refused as expected" : "WRONG", ek_last_error());
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid, "fork/wait");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child not refused cleanly (status 0x%x)", st);
    CHECK(tt_sign_verify(plain, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "parent after"),
          "parent after the refused child");
}

static int main_abrmd(void)
{
    ek_keygen_spec ec = {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256};
    /* fork before any TPM use: the child connects on its own */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        ek_key *k = NULL;
        bool ok = ek_key_generate(&ec, &k) == EK_OK &&
                  tt_sign_verify(k, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "early child");
        ek_key_free(k);
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "a child forked before the first TPM use signs (status 0x%x)", st);
    ek_key *plain = NULL;
    REQUIRE_OK(ek_key_generate(&ec, &plain));
    CHECK(tt_sign_verify(plain, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "parent"), "parent");
    refused_child(plain);
    ek_key_free(plain);
    ek_tpm_disconnect();
    return tt_finish("fork");
}

int main(void)
{
    const char *mode = getenv("EDGEKEY_TEST_MODE");
    if (mode && strcmp(mode, "abrmd") == 0)
        return main_abrmd();
    ek_keygen_spec ec = {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256};
    ek_keygen_spec rsa = {
        .alg = EK_ALG_RSA, .bits = 2048, .auth = PIN, .auth_len = sizeof(PIN) - 1};
    ek_key *plain = NULL, *pinned = NULL;
    REQUIRE_OK(ek_key_generate(&ec, &plain));
    REQUIRE_OK(ek_key_generate(&rsa, &pinned));
    round_trip(plain, pinned, true);
    round_trip(plain, pinned, false);
    ek_key_free(plain);
    ek_key_free(pinned);
    ek_tpm_disconnect();
    return tt_finish("fork");
}
