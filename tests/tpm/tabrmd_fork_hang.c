/* The claim behind core/tpm.c's refusal of tabrmd in a forked child, shown
 * with tpm2-tss alone (no edgekey code): a process opens tpm2-abrmd's stock
 * TCTI (GLib D-Bus) and sends a command, closes it, forks, and the child
 * opens its own connection. GLib's D-Bus worker thread is made once per
 * process and never exists in the child, so the child's connect hangs.
 * Passes when the child hangs (killed by its alarm); fails when the child
 * gets its answer: then the stock TCTI became fork-safe and the refusal in
 * core/tpm.c (refuse_gdbus_child) should go. Run in abrmd mode only. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

static int use(const char *conf)
{
    TSS2_TCTI_CONTEXT *t = NULL;
    ESYS_CONTEXT *e = NULL;
    TPM2B_DIGEST *r = NULL;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &t);
    if (!rc)
        rc = Esys_Initialize(&e, t, NULL);
    if (!rc)
        rc = Esys_GetRandom(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 8, &r);
    Esys_Free(r);
    Esys_Finalize(&e);
    Tss2_TctiLdr_Finalize(&t);
    return rc != 0;
}

int main(void)
{
    const char *conf = getenv("EDGEKEY_TCTI");
    if (!conf || use(conf) != 0) {
        fprintf(stderr, "tabrmd-fork-hang: the parent cannot use \"%s\"\n", conf ? conf : "");
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        _exit(use(conf) ? 2 : 0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return 1;
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
        printf("tabrmd-fork-hang: the child hung in its own tabrmd connect, as claimed\n");
        return 0;
    }
    fprintf(stderr,
            "tabrmd-fork-hang: the child did not hang (status 0x%x): the stock TCTI "
            "works after fork now; drop refuse_gdbus_child in core/tpm.c\n",
            st);
    return 1;
}
