/* edgekey doctor --fix-openssl-cnf [FILE] [--yes]: activate edgekey in an
 * openssl.cnf by appending one line, `.include <drop-in>` (the drop-in,
 * installed by meson, activates default and then edgekey), and removing the
 * line the old docs had users add under [openssl_init] (`edgekey = ...`),
 * which stops every OpenSSL program. Shows the change as a unified diff
 * (diff -u) first; writes only with --yes or a 'y' on the terminal.
 *
 * Safety: a link is resolved and the message names its target (the link
 * stays a link); only a regular file is rewritten, never a device node or
 * FIFO; a backup FILE.edgekey-bak is made with O_EXCL; the new file is
 * written beside it and renamed over it with the old owner and mode, after
 * checking it is still the file that was read. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "doctor.h"

extern char **environ;

#define CNF_MAX (1 << 20)

static ek_rc read_regular(const char *path, struct stat *st, char **text)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return ek_error(EK_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    ek_rc rc = EK_OK;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
        rc = ek_error(EK_ERR_INVALID,
                      "%s refused: not a regular file (a device node, FIFO or directory is never "
                      "rewritten); name the real openssl.cnf",
                      path);
    else if (st->st_size > CNF_MAX)
        rc = ek_error(EK_ERR_INVALID, "%s refused: larger than 1 MiB", path);
    *text = rc == EK_OK ? calloc(1, (size_t)st->st_size + 1) : NULL;
    if (rc == EK_OK && *text == NULL)
        rc = ek_error(EK_ERR_NOMEM, "out of memory reading %s", path);
    if (rc == EK_OK && read(fd, *text, (size_t)st->st_size) != st->st_size)
        rc = ek_error(EK_ERR_IO, "cannot read %s", path);
    close(fd);
    return rc;
}

/* Section header name of a line ("[ openssl_init ]" -> openssl_init), or NULL. */
static bool section_is(const char *line, size_t n, const char *name)
{
    while (n && (*line == ' ' || *line == '\t'))
        line++, n--;
    if (!n || *line != '[')
        return false;
    line++, n--;
    while (n && *line == ' ')
        line++, n--;
    size_t k = strlen(name);
    return n > k && strncmp(line, name, k) == 0 && (line[k] == ' ' || line[k] == ']');
}

static bool is_section(const char *line, size_t n)
{
    while (n && (*line == ' ' || *line == '\t'))
        line++, n--;
    return n && *line == '[';
}

/* An uncommented "key =" line. */
static bool sets(const char *line, size_t n, const char *key)
{
    while (n && (*line == ' ' || *line == '\t'))
        line++, n--;
    size_t k = strlen(key);
    if (n <= k || strncmp(line, key, k) != 0)
        return false;
    line += k, n -= k;
    while (n && (*line == ' ' || *line == '\t'))
        line++, n--;
    return n && *line == '=';
}

struct plan {
    char *text;         /* the new file */
    bool included;      /* the drop-in is already included */
    bool own_providers; /* [openssl_init] names a providers section of its own */
};

/* The last section header, or text itself when there is none. */
static const char *last_section(const char *text)
{
    const char *last = text;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        if (is_section(l, n))
            last = l;
        l = e ? e + 1 : l + n;
    }
    return last;
}

/* Copy text without the old docs' [openssl_init] edgekey line and without
 * an .include of the drop-in that sits before a section header (the
 * drop-in leaves its last section open, so what follows would land in it);
 * append the .include when missing. */
static ek_rc make_plan(const char *text, const char *dropin, struct plan *p)
{
    size_t len = strlen(text), dl = strlen(dropin);
    p->text = malloc(len + dl + 128);
    if (!p->text)
        return ek_error(EK_ERR_NOMEM, "out of memory");
    char *o = p->text;
    const char *last = last_section(text);
    bool init = false;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        if (is_section(l, n))
            init = section_is(l, n, "openssl_init");
        bool drop = init && sets(l, n, "edgekey");
        p->own_providers = p->own_providers || (init && sets(l, n, "providers"));
        const char *t = l + strspn(l, " \t");
        if (strncmp(t, ".include", 8) == 0 && memmem(t, n - (size_t)(t - l), dropin, dl)) {
            drop = drop || l < last; /* misplaced: moved to the end */
            p->included = p->included || l > last;
        }
        if (!drop) {
            memcpy(o, l, n + (e ? 1 : 0));
            o += n + (e ? 1 : 0);
        }
        l = e ? e + 1 : l + n;
    }
    if (!p->included) {
        if (o > p->text && o[-1] != '\n')
            *o++ = '\n';
        o += sprintf(o,
                     "\n# edgekey: activate default, then edgekey (the TPM key provider)\n"
                     ".include %s\n",
                     dropin);
    }
    *o = '\0';
    return EK_OK;
}

/* diff -u of the two files into buf (diffutils is Essential in Debian). */
static ek_rc show_diff(const char *label, const char *old, const char *newf)
{
    char lnew[PATH_MAX + 8];
    snprintf(lnew, sizeof(lnew), "%s (new)", label);
    char *argv[] = {"diff", "-u",        "--label",    (char *)label, "--label",
                    lnew,   (char *)old, (char *)newf, NULL};
    pid_t pid;
    fflush(stdout);
    if (posix_spawnp(&pid, "diff", NULL, NULL, argv, environ) != 0)
        return ek_error(EK_ERR_IO, "cannot run diff: %s", strerror(errno));
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) <= 1 ? EK_OK : ek_error(EK_ERR_IO, "diff -u failed");
}

static ek_rc write_fd(int fd, const char *text, const char *path)
{
    size_t len = strlen(text);
    while (len) {
        ssize_t w = write(fd, text, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ek_error(EK_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        text += w;
        len -= (size_t)w;
    }
    return fsync(fd) == 0 ? EK_OK
                          : ek_error(EK_ERR_IO, "cannot write %s: %s", path, strerror(errno));
}

/* FILE.edgekey-bak, or .edgekey-bak.1..9 when older backups exist. */
static ek_rc backup(const char *real, const struct stat *st, const char *old, char *b, size_t bs)
{
    for (int i = 0; i < 10; i++) {
        snprintf(b, bs, i ? "%s.edgekey-bak.%d" : "%s.edgekey-bak", real, i);
        int fd = open(b, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return ek_error(EK_ERR_IO, "cannot create the backup %s: %s", b, strerror(errno));
        ek_rc rc = write_fd(fd, old, b);
        close(fd);
        return rc;
    }
    return ek_error(EK_ERR_IO, "%s.edgekey-bak .. .9 all exist: remove old backups", real);
}

static ek_rc replace(const char *real, const struct stat *st, const char *text)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", real);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ek_error(EK_ERR_IO, "cannot create a file beside %s: %s", real, strerror(errno));
    ek_rc rc = EK_OK;
    if (fchmod(fd, st->st_mode & 07777) != 0 ||
        (fchown(fd, st->st_uid, st->st_gid) != 0 && errno != EPERM))
        rc = ek_error(EK_ERR_IO, "cannot give %s the old owner and mode: %s", tmp, strerror(errno));
    if (rc == EK_OK)
        rc = write_fd(fd, text, tmp);
    close(fd);
    struct stat now;
    if (rc == EK_OK && (lstat(real, &now) != 0 || !S_ISREG(now.st_mode) ||
                        now.st_ino != st->st_ino || now.st_dev != st->st_dev))
        rc = ek_error(EK_ERR_IO,
                      "%s changed while it was being edited: nothing written; run "
                      "again",
                      real);
    if (rc == EK_OK && rename(tmp, real) != 0)
        rc = ek_error(EK_ERR_IO, "cannot replace %s: %s", real, strerror(errno));
    if (rc != EK_OK)
        unlink(tmp);
    return rc;
}

static bool ask(const char *real)
{
    char line[16];
    printf("Apply this change to %s? [y/N] ", real);
    fflush(stdout);
    return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

/* Write the planned text to a temp file and show the diff against real. */
static ek_rc diff_plan(const char *label, const char *real, const char *text)
{
    const char *td = getenv("TMPDIR");
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/edgekey-cnf.XXXXXX", td && *td ? td : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ek_error(EK_ERR_IO, "cannot create a temporary file: %s", strerror(errno));
    ek_rc rc = write_fd(fd, text, tmp);
    close(fd);
    if (rc == EK_OK)
        rc = show_diff(label, real, tmp);
    unlink(tmp);
    return rc;
}

static int finish(const cli_ctx *ctx, const char *real, const char *state, const char *bak,
                  int code)
{
    if (ctx->json)
        out_json(json_pack("{s:o,s:s,s:o,s:s}", "file", out_str(real), "result", state, "backup",
                           out_str(bak), "dropin", dr_cnf_dropin()));
    return code;
}

static int apply(const cli_ctx *ctx, const char *real, const char *text, const struct plan *p,
                 const struct stat *st, bool yes)
{
    ek_rc rc = ctx->json ? EK_OK : diff_plan(real, real, p->text);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    if (!yes && (ctx->json || !isatty(STDIN_FILENO) || !ask(real))) {
        fprintf(stderr,
                "edgekey: not applied: run 'edgekey doctor --fix-openssl-cnf %s --yes' "
                "to write it (a backup %s.edgekey-bak is kept)\n",
                real, real);
        return finish(ctx, real, "not applied", NULL, EXIT_USAGE);
    }
    char bak[PATH_MAX + 32];
    rc = backup(real, st, text, bak, sizeof(bak));
    if (rc == EK_OK)
        rc = replace(real, st, p->text);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    if (!ctx->json)
        printf("applied to %s (backup: %s)\n", real, bak);
    return finish(ctx, real, "applied", bak, EXIT_OK);
}

int dr_fix_openssl_cnf(const cli_ctx *ctx, const char *file, bool yes)
{
    char *given = file ? strdup(file) : dr_cnf_effective();
    char real[PATH_MAX];
    struct stat st;
    char *text = NULL;
    struct plan p = {0};
    int code;
    ek_rc rc = given ? EK_OK : ek_error(EK_ERR_NOMEM, "out of memory");
    if (rc == EK_OK && realpath(given, real) == NULL)
        rc = ek_error(EK_ERR_NOT_FOUND, "cannot resolve %s: %s", given, strerror(errno));
    if (rc == EK_OK)
        rc = read_regular(real, &st, &text);
    if (rc == EK_OK)
        rc = make_plan(text, dr_cnf_dropin(), &p);
    if (rc == EK_OK && p.own_providers && !p.included)
        rc = ek_error(EK_ERR_INVALID,
                      "%s refused: its [openssl_init] already names a providers section, which "
                      "the drop-in would replace; add 'edgekey = edgekey_provider_sect' after "
                      "'default' in that section and '.include %s' at the end by hand "
                      "(docs/provider.md)",
                      real, dr_cnf_dropin());
    if (rc != EK_OK) {
        code = out_fail(ctx, rc);
    } else {
        struct stat ls;
        if (!ctx->json && lstat(given, &ls) == 0 && S_ISLNK(ls.st_mode))
            printf("%s is a link to %s: that file is edited, the link stays\n", given, real);
        if (strcmp(p.text, text) == 0) {
            if (!ctx->json)
                printf("%s: nothing to do (it includes %s)\n", real, dr_cnf_dropin());
            code = finish(ctx, real, "nothing to do", NULL, EXIT_OK);
        } else {
            code = apply(ctx, real, text, &p, &st, yes);
        }
    }
    free(given);
    free(text);
    free(p.text);
    return code;
}
