/* fork: the parent loads and signs, forks; the child signs with the same
 * ek_key objects (its own connection) and the signatures verify; the parent
 * signs again after the child exits. Twice: once with the parent idle while
 * the child works, once with a child that exits without disconnecting
 * (on a direct TCTI its objects stay behind and the parent's reconnect must
 * cope). */
#include <stdlib.h>
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

int main(void)
{
    ek_keygen_spec ec = {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256};
    ek_keygen_spec rsa = {.alg = EK_ALG_RSA, .bits = 2048, .auth = PIN,
                          .auth_len = sizeof(PIN) - 1};
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
