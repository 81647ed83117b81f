/* edgekey hub: TPM key generation through edgekey's CLI or provider. */
#include "tpm_keygen.h"

#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "config.h"
#include "hub_util.h"

#ifndef HUB_EDGEKEY_CLI
#define HUB_EDGEKEY_CLI "/usr/local/bin/edgekey"
#endif

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

static bool executable(const char *path)
{
    return path[0] && access(path, X_OK) == 0;
}

/* The edgekey CLI this hub was built with: $EDGEKEY_HUB_CLI if set (it
 * must then work: a typo should not silently pick another), else beside
 * this executable (installed together in bindir, or the build tree's
 * cli/), else the install path, else PATH. */
static int find_cli(char *out, size_t size)
{
    const char *env = getenv("EDGEKEY_HUB_CLI");
    if (env) {
        snprintf(out, size, "%s", env);
        return executable(out) ? 0
                               : hub_fail("EDGEKEY_HUB_CLI=%s is not an executable file; point "
                                          "it at the edgekey CLI or unset it",
                                          env);
    }
    char self[HUB_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(out, size, "%s/edgekey", self);
        if (executable(out))
            return 0;
        snprintf(out, size, "%s/../../cli/edgekey", self); /* examples/hub -> cli */
        if (executable(out))
            return 0;
    }
    snprintf(out, size, "%s", HUB_EDGEKEY_CLI);
    if (executable(out))
        return 0;
    char *const probe[] = {"edgekey", "--version", NULL};
    if (hub_run(probe, NULL, 0) == 0) {
        snprintf(out, size, "edgekey");
        return 0;
    }
    return hub_fail("the edgekey CLI was not found (not beside %s, not at %s, not on PATH); a TPM "
                    "key needs it: install edgekey (meson install), put its directory on PATH or "
                    "set EDGEKEY_HUB_CLI=/path/to/edgekey; or choose software keys with "
                    "--ca-key file --hub-key file",
                    n > 0 ? self : "edgekey-hub", HUB_EDGEKEY_CLI);
}

int hub_tpm_keygen(const char *label, const char *path, char *uri, size_t urisize)
{
    uri[0] = '\0';
    char cli[HUB_PATH_MAX + 32];
    if (find_cli(cli, sizeof(cli)) != 0)
        return -1;
    char out[1024];
    char *const kg[] = {cli,           "keygen", "--token", "hub", "--label",
                        (char *)label, "--alg",  "ec-p256", NULL};
    int rc = hub_run(kg, out, sizeof(out));
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    if (rc != 0 || strncmp(out, "pkcs11:", 7) != 0)
        return hub_fail("%s keygen --token hub --label %s failed (exit %d); check "
                        "EDGEKEY_TCTI and that the label is free",
                        cli, label, rc);
    snprintf(uri, urisize, "%s", out);
    char *const ex[] = {cli, "export-ref", uri, "--out", (char *)path, NULL};
    rc = hub_run(ex, NULL, 0);
    if (rc != 0)
        return hub_fail("%s export-ref %s --out %s failed (exit %d)", cli, uri, path, rc);
    return 0;
}
