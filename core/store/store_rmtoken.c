/* edgekey core: removing an emptied token directory (ek_store.h).
 *
 * Only the token's own bookkeeping may be left when this runs: token.conf,
 * the PIN attempt counter and temporary files a crashed writer left. A key,
 * certificate, data object or PIN secret still there means the caller did
 * not empty the token, and removing it would lose something the TPM or a
 * user still needs, so it is named and nothing is removed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ek_store.h"
#include "ek_store_int.h"

static bool bookkeeping(const char *name)
{
    if (name[0] == '.') /* ".name.tmp.pid.n" / ".name.pid.tmp": an interrupted write */
        return strstr(name, ".tmp") != NULL;
    return strcmp(name, "token.conf") == 0 || strcmp(name, "pin.tries") == 0;
}

/* A directory stream on dfd from its start (a dup shares dfd's offset). */
static DIR *open_from_start(int dfd)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d)
        rewinddir(d);
    else if (fd >= 0)
        close(fd);
    return d;
}

/* The first entry of dir that is not bookkeeping, into what; false if none. */
static bool first_foreign(int dfd, char *what, size_t size)
{
    DIR *d = open_from_start(dfd);
    bool found = false;
    if (!d) {
        snprintf(what, size, "(unreadable: %s)", strerror(errno));
        return true;
    }
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || bookkeeping(e->d_name))
            continue;
        snprintf(what, size, "%s", e->d_name);
        found = true;
    }
    closedir(d);
    return found;
}

/* Names first, unlinks after: unlinking while readdir walks the directory
 * may make it skip entries (tmpfs). */
static ek_rc unlink_bookkeeping(int dfd, const char *dir)
{
    char names[32][256];
    size_t n = 0;
    DIR *d = open_from_start(dfd);
    if (!d)
        return ek_error(EK_ERR_IO, "cannot read %s: %s", dir, strerror(errno));
    for (struct dirent *e; n < 32 && (e = readdir(d)) != NULL;)
        if (bookkeeping(e->d_name))
            snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
    closedir(d);
    for (size_t i = 0; i < n; i++)
        if (unlinkat(dfd, names[i], 0) != 0 && errno != ENOENT)
            return ek_error(EK_ERR_IO, "cannot remove %s/%s: %s", dir, names[i], strerror(errno));
    return EK_OK;
}

ek_rc ek_store_token_remove(const char *token)
{
    ek_token_info ti;
    char what[256];
    int dfd;
    ek_rc rc = ek_store_token_get(token, &ti);
    if (rc == EK_OK)
        rc = ek_io_lock_dir(ti.dir, &dfd);
    if (rc != EK_OK)
        return rc;
    if (first_foreign(dfd, what, sizeof(what)))
        rc = ek_error(EK_ERR_EXISTS,
                      "token %s still holds %s in %s; delete its objects and PINs first "
                      "(edgekey token delete does both)",
                      token, what, ti.dir);
    else
        rc = unlink_bookkeeping(dfd, ti.dir);
    if (rc == EK_OK && rmdir(ti.dir) != 0)
        rc = ek_error(EK_ERR_IO, "cannot remove %s: %s", ti.dir, strerror(errno));
    close(dfd); /* the lock goes with the last reference to the directory */
    return rc;
}
