/* edgekey core: a token's wrong-PIN counters, <token dir>/pin.tries
 * (token_tries.h).
 *
 * The file is rewritten whole, atomically (store_io.c: O_EXCL temp file,
 * fsync, rename) under the token directory's flock, so a crash or a full
 * disk leaves the old count or the new one, never half a file. An attempt
 * is counted before its PIN reaches the TPM: a process killed after the
 * TPM's answer (SIGXFSZ, SIGKILL) has already paid for it, and one whose
 * count cannot be written never learns whether its PIN was right. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ek_config.h"
#include "ek_store_int.h"
#include "token_tries.h"

#define TRIES_TEXT_MAX 256
#define TRIES_COUNT_MAX 1000000u

static bool parse_count(const char *text, const char *key, unsigned *out)
{
    char v[16], *end = NULL;
    if (ek_kv_get(text, key, v, sizeof(v)) != EK_OK || v[0] < '0' || v[0] > '9')
        return false;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (*end || errno || n > TRIES_COUNT_MAX)
        return false;
    *out = (unsigned)n;
    return true;
}

bool ek_tries_parse(const char *text, unsigned fails[2])
{
    unsigned u, s;
    /* The last line must be whole: a cut "so_fails = 1" of "... = 10\n"
     * would otherwise read as a smaller count. */
    size_t len = text ? strlen(text) : 0;
    if (len > 0 && text[len - 1] == '\n' && parse_count(text, "user_fails", &u) &&
        parse_count(text, "so_fails", &s)) {
        fails[EK_TOKEN_USER] = u;
        fails[EK_TOKEN_SO] = s;
        return true;
    }
    /* Damaged: the user PIN is locked; the SO keeps one attempt, enough to
     * set a new user PIN (which rewrites the file) but not to guess. */
    fails[EK_TOKEN_USER] = EK_TOKEN_MAX_TRIES;
    fails[EK_TOKEN_SO] = EK_TOKEN_MAX_TRIES - 1;
    return false;
}

/* The counts in dfd: EK_OK (absent: 0 and 0), or EK_ERR_LOCKOUT with a
 * message and the damaged values when the file cannot be trusted. */
static ek_rc tries_read(int dfd, const char *dir, unsigned fails[2])
{
    char *text = NULL;
    size_t len = 0;
    ek_rc rc = ek_io_read_at(dfd, EK_TRIES_FILE, TRIES_TEXT_MAX, &text, &len);
    if (rc == EK_ERR_NOT_FOUND) {
        fails[0] = fails[1] = 0;
        return EK_OK;
    }
    bool ok = rc == EK_OK && strlen(text) == len && ek_tries_parse(text, fails);
    free(text);
    if (ok)
        return EK_OK;
    ek_tries_parse(NULL, fails);
    if (rc == EK_OK)
        return ek_error(EK_ERR_LOCKOUT,
                        "%s/%s is damaged (not a 'user_fails = N' and a 'so_fails = N' line)", dir,
                        EK_TRIES_FILE);
    return ek_error(EK_ERR_LOCKOUT, "%s: %s", dir, ek_last_error());
}

static ek_rc tries_write(int dfd, const char *dir, const unsigned fails[2])
{
    char buf[96];
    int n = snprintf(buf, sizeof(buf), "user_fails = %u\nso_fails = %u\n", fails[EK_TOKEN_USER],
                     fails[EK_TOKEN_SO]);
    ek_rc rc = ek_io_write_at(dfd, EK_TRIES_FILE, buf, (size_t)n, 0600);
    return rc == EK_OK ? rc : ek_error(rc, "%s: %s", dir, ek_last_error());
}

void ek_tries_state(const char *dir, unsigned fails[2])
{
    char *text = NULL;
    size_t len = 0;
    ek_rc rc = ek_io_read_in(dir, EK_TRIES_FILE, TRIES_TEXT_MAX, &text, &len);
    if (rc == EK_ERR_NOT_FOUND)
        fails[0] = fails[1] = 0;
    else if (rc != EK_OK || strlen(text) != len)
        ek_tries_parse(NULL, fails);
    else
        ek_tries_parse(text, fails);
    free(text);
    ek_clear_error();
}

static const char *unlock_hint(ek_token_user who)
{
    return who == EK_TOKEN_USER ? "the SO sets a new user PIN (C_InitPIN)"
                                : "re-initialise the token";
}

/* The count could not be written: leave an empty pin.tries (creating it
 * writes no data, so it works where the count failed on EFBIG or a full
 * disk), which reads as damaged, i.e. the user PIN locked. */
static bool mark_locked(int dfd)
{
    return ek_io_write_at(dfd, EK_TRIES_FILE, "", 0, 0600) == EK_OK;
}

static ek_rc count_attempt(int dfd, const char *dir, const char *token, ek_token_user who,
                           const char *what, unsigned *count)
{
    unsigned f[2];
    ek_rc rrc = tries_read(dfd, dir, f);
    if (f[who] >= EK_TOKEN_MAX_TRIES && rrc != EK_OK)
        return ek_error(EK_ERR_LOCKOUT,
                        "token %s: %s locked: its attempt counter cannot be trusted (%s); "
                        "logins fail closed until %s",
                        token, what, ek_last_error(), unlock_hint(who));
    if (f[who] >= EK_TOKEN_MAX_TRIES)
        return ek_error(EK_ERR_LOCKOUT, "token %s: %s locked after %u wrong attempts; %s", token,
                        what, f[who], unlock_hint(who));
    f[who]++;
    *count = f[who];
    ek_rc rc = tries_write(dfd, dir, f);
    if (rc == EK_OK)
        return EK_OK;
    bool locked = mark_locked(dfd);
    return ek_error(EK_ERR_IO,
                    "token %s: %s refused: the attempt could not be counted (%s); a PIN is "
                    "tried only after its attempt is counted%s",
                    token, what, ek_last_error(),
                    locked ? ", so the user PIN is locked until the SO sets a new one" : "");
}

ek_rc ek_tries_begin(const char *dir, const char *token, ek_token_user who, const char *what,
                     unsigned *count)
{
    int dfd;
    ek_rc rc = ek_io_lock_dir(dir, &dfd);
    if (rc != EK_OK)
        return ek_error(rc, "token %s: %s refused: cannot count the attempt: %s", token, what,
                        ek_last_error());
    rc = count_attempt(dfd, dir, token, who, what, count);
    close(dfd); /* drops the lock */
    return rc;
}

/* Apply a change to the counts under the lock; write only if it changed. */
static ek_rc tries_update(const char *dir, ek_token_user who, int how, bool so_too)
{
    int dfd;
    unsigned f[2], old[2];
    ek_rc rc = ek_io_lock_dir(dir, &dfd);
    if (rc != EK_OK)
        return rc;
    bool damaged = tries_read(dfd, dir, f) != EK_OK;
    memcpy(old, f, sizeof(old));
    if (how == 0)
        f[who] = 0;
    else if (f[who] > 0)
        f[who]--;
    if (so_too)
        f[EK_TOKEN_SO] = 0;
    rc = damaged || how == 0 || memcmp(old, f, sizeof(f)) != 0 ? tries_write(dfd, dir, f) : EK_OK;
    close(dfd);
    return rc;
}

ek_rc ek_tries_end(const char *dir, ek_token_user who, bool ok)
{
    return tries_update(dir, who, ok ? 0 : -1, false);
}

ek_rc ek_tries_clear(const char *dir, bool user, bool so)
{
    if (!user && !so)
        return EK_OK;
    return tries_update(dir, user ? EK_TOKEN_USER : EK_TOKEN_SO, 0, user && so);
}

ek_rc ek_tries_remove(const char *dir)
{
    int dfd;
    ek_rc rc = ek_io_lock_dir(dir, &dfd);
    if (rc != EK_OK)
        return rc;
    if (unlinkat(dfd, EK_TRIES_FILE, 0) != 0 && errno != ENOENT)
        rc = ek_error(EK_ERR_IO, "cannot remove %s/%s: %s", dir, EK_TRIES_FILE, strerror(errno));
    close(dfd);
    return rc;
}
