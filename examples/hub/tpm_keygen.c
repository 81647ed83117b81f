/* edgekey hub: TPM key generation through edgekey's CLI or provider. */
#include "tpm_keygen.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "hub_util.h"

extern char **environ;

int hub_run(char *const argv[], char *out, size_t outsize)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    size_t n = 0;
    char sink[256];
    for (;;) {
        char *dst = out && n + 1 < outsize ? out + n : sink;
        size_t room = out && n + 1 < outsize ? outsize - n - 1 : sizeof(sink);
        ssize_t r = read(fds[0], dst, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (dst != sink)
            n += (size_t)r;
    }
    if (out && outsize)
        out[n] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int have_cli(void)
{
    char *const argv[] = {"edgekey", "--help", NULL};
    return hub_run(argv, NULL, 0) >= 0;
}

int hub_tpm_keygen(const char *label, const char *path, char *uri, size_t urisize)
{
    uri[0] = '\0';
    if (have_cli()) {
        char out[1024];
        char *const kg[] = {"edgekey",     "keygen", "--token", "hub", "--label",
                            (char *)label, "--alg",  "ec-p256", NULL};
        int rc = hub_run(kg, out, sizeof(out));
        char *nl = strchr(out, '\n');
        if (nl)
            *nl = '\0';
        if (rc != 0 || strncmp(out, "pkcs11:", 7) != 0)
            return hub_fail("edgekey keygen --token hub --label %s failed (exit %d); check "
                            "EDGEKEY_TCTI and that the label is free",
                            label, rc);
        snprintf(uri, urisize, "%s", out);
        char *const ex[] = {"edgekey", "export-ref", uri, "--out", (char *)path, NULL};
        rc = hub_run(ex, NULL, 0);
        if (rc != 0)
            return hub_fail("edgekey export-ref %s --out %s failed (exit %d)", uri, path, rc);
        return 0;
    }
    /* edgekey loads only after default; the property query picks it. */
    char *const gp[] = {"openssl",    "genpkey",    "-provider",  "default",
                        "-provider",  "edgekey",    "-propquery", "provider=edgekey",
                        "-algorithm", "EC",         "-pkeyopt",   "group:P-256",
                        "-out",       (char *)path, NULL};
    int rc = hub_run(gp, NULL, 0);
    if (rc != 0)
        return hub_fail("TPM key %s: openssl genpkey -provider edgekey failed (exit %d); is "
                        "edgekey.so on OPENSSL_MODULES and EDGEKEY_TCTI set?",
                        label, rc);
    return 0;
}
