/* A process killed with SIGKILL in the middle of signing on a direct TCTI
 * leaves its objects and session loaded in the TPM (3 slots). The next
 * process must still work: our connect flushes transient objects and
 * loaded sessions nobody can own any more. Here the victim is a child that
 * never shares the parent's connection (the parent disconnects first). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ek_key.h"
#include "ek_tpm.h"
#include "tpm_test.h"

static const unsigned char PIN[] = "kill-pin";

static char *export(ek_key *k, size_t *len)
{
    char *pem = NULL;
    REQUIRE_OK(ek_key_to_tss2_pem(k, &pem, len));
    return pem;
}

static void victim(const char *pa, size_t la, const char *pb, size_t lb, int fd)
{
    ek_key *a = NULL, *b = NULL;
    if (ek_key_from_tss2_pem(pa, la, &a) || ek_key_from_tss2_pem(pb, lb, &b))
        _exit(2);
    ek_key_set_auth(b, PIN, sizeof(PIN) - 1);
    for (long i = 0;; i++) { /* both keys loaded, session open: all in use */
        tt_sign_verify(a, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "victim");
        tt_sign_verify(b, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "victim pin");
        if (i == 5 && write(fd, "x", 1) != 1)
            _exit(3);
    }
}

int main(void)
{
    ek_keygen_spec ec = {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256};
    ek_keygen_spec pinned = ec;
    pinned.auth = PIN;
    pinned.auth_len = sizeof(PIN) - 1;
    ek_key *a = NULL, *b = NULL;
    REQUIRE_OK(ek_key_generate(&ec, &a));
    REQUIRE_OK(ek_key_generate(&pinned, &b));
    size_t la, lb;
    char *pa = export(a, &la), *pb = export(b, &lb);
    ek_key_free(a);
    ek_key_free(b);
    ek_tpm_disconnect();

    int p[2];
    REQUIRE_OK(pipe(p) ? EK_ERR_IO : EK_OK);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        victim(pa, la, pb, lb, p[1]);
    }
    close(p[1]);
    char c;
    CHECK(read(p[0], &c, 1) == 1, "victim never signed");
    usleep(100000); /* let it get well into a TPM command */
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "victim status 0x%x", st);

    ek_key *a2 = NULL, *b2 = NULL;
    REQUIRE_OK(ek_key_from_tss2_pem(pa, la, &a2));
    REQUIRE_OK(ek_key_from_tss2_pem(pb, lb, &b2));
    CHECK_OK(ek_key_set_auth(b2, PIN, sizeof(PIN) - 1));
    for (int i = 0; i < 5; i++) {
        CHECK(tt_sign_verify(a2, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_RAW, "after"), "after kill");
        CHECK(tt_sign_verify(b2, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_RAW, "after pin"),
              "pinned after kill");
    }
    ek_key *c2 = NULL; /* a third key must fit too */
    REQUIRE_OK(ek_key_generate(&ec, &c2));
    CHECK(tt_sign_verify(c2, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "third"), "third key");
    ek_key_free(a2);
    ek_key_free(b2);
    ek_key_free(c2);
    free(pa);
    free(pb);
    ek_tpm_disconnect();
    return tt_finish("kill");
}
