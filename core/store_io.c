/* edgekey core: the store's file primitives (ek_store_int.h): bounded
 * reads, atomic writes (temp file in the same directory, fsync, rename,
 * fsync of the directory), mkdir -p for the store root, and the writers'
 * flock on a token directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ek_store_int.h"

/* Read a whole file relative to dfd, NUL-terminated; EK_ERR_NOT_FOUND (no
 * message) if it does not exist. */
ek_rc ek_io_read_at(int dfd, const char *name, size_t max, char **out, size_t *len)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? EK_ERR_NOT_FOUND
                               : ek_error(EK_ERR_IO, "cannot read %s: %s", name, strerror(errno));
    char *buf = malloc(max + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (buf && n <= max && (r = read(fd, buf + n, max + 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (!buf || r < 0 || n > max) {
        free(buf);
        return ek_error(!buf ? EK_ERR_NOMEM : EK_ERR_IO, "cannot read %s: %s", name,
                        r < 0 ? strerror(errno) : "file too large");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return EK_OK;
}

static ek_rc io_write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return EK_ERR_IO;
        data += w;
        len -= (size_t)w;
    }
    return EK_OK;
}

/* Write name atomically: temp file in the same directory, fsync, rename,
 * fsync the directory. Readers see the old or the new file, never a part. */
ek_rc ek_io_write_at(int dfd, const char *name, const char *data, size_t len, mode_t mode)
{
    static _Atomic unsigned counter;
    char tmp[200];
    snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld.%u", name, (long)getpid(), counter++);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return ek_error(EK_ERR_IO, "cannot create %s: %s; check the store's permissions", tmp,
                        strerror(errno));
    ek_rc rc = EK_OK;
    if (fchmod(fd, mode) != 0 || io_write_all(fd, data, len) != EK_OK || fsync(fd) != 0)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s", name, strerror(errno));
    if (close(fd) != 0 && rc == EK_OK)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s", name, strerror(errno));
    if (rc == EK_OK && renameat(dfd, tmp, dfd, name) != 0)
        rc = ek_error(EK_ERR_IO, "cannot rename %s to %s: %s", tmp, name, strerror(errno));
    if (rc != EK_OK) {
        unlinkat(dfd, tmp, 0);
        return rc;
    }
    return fsync(dfd) == 0 ? EK_OK
                           : ek_error(EK_ERR_IO, "cannot sync directory: %s", strerror(errno));
}

ek_rc ek_io_sync_dir(int dfd)
{
    return fsync(dfd) == 0 ? EK_OK
                           : ek_error(EK_ERR_IO, "cannot sync directory: %s", strerror(errno));
}

/* mkdir -p for the store root (mode applies to directories created here). */
ek_rc ek_io_mkdirs(const char *path, mode_t mode)
{
    char buf[1100];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return ek_error(EK_ERR_INVALID, "store path %s is too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return ek_error(EK_ERR_IO,
                            "cannot create store directory %s: %s; create it or set "
                            "store = ... in the configuration",
                            buf, strerror(errno));
        if (!(*p = c))
            return EK_OK;
    }
}

/* Open dir and take the writers' lock on the directory itself. */
ek_rc ek_io_lock_dir(const char *dir, int *dfd)
{
    *dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dfd < 0)
        return ek_error(errno == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO, "cannot open %s: %s", dir,
                        strerror(errno));
    int r;
    while ((r = flock(*dfd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        close(*dfd);
        return ek_error(EK_ERR_IO, "cannot lock %s: %s", dir, strerror(errno));
    }
    return EK_OK;
}
