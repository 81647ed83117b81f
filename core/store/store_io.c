/* edgekey core: the store's file primitives (ek_store_int.h): bounded
 * reads, atomic writes (temp file in the same directory, fsync, rename,
 * fsync of the directory), mkdir -p for the store root, and the writers'
 * flock on a token directory. The one place store files are opened: every
 * open is O_NOFOLLOW, reads take regular files only, writes replace only a
 * regular file (never a link or device node) in a directory no one else
 * can write. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ek_store_int.h"

/* Why a store file is refused, for messages: the rule and its fix. */
static const char *io_rule(int err)
{
    switch (err) {
    case ELOOP:
        return "it is a symbolic link; the store never follows links: remove the link and "
               "put the real file there";
    case ENXIO:
    case EISDIR:
    case ENOTDIR:
        return "it is not a regular file; store files are regular files: remove it";
    case EFBIG:
    case ENOSPC:
    case EDQUOT:
        return "the store is full or over a size limit: free space";
    case EACCES:
    case EPERM:
    case EROFS:
        return "the store is not writable by this user: check its owner and permissions";
    default:
        return "check the store directory";
    }
}

/* Open an existing store file for reading: never through a link, never a
 * FIFO or device (O_NONBLOCK so a FIFO cannot block the open). */
static int io_open_regular(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        errno = ENXIO;
        return -1;
    }
    return fd;
}

/* Read a whole file relative to dfd, NUL-terminated; EK_ERR_NOT_FOUND (no
 * message) if it does not exist. */
ek_rc ek_io_read_at(int dfd, const char *name, size_t max, char **out, size_t *len)
{
    int fd = io_open_regular(dfd, name);
    if (fd < 0)
        return errno == ENOENT ? EK_ERR_NOT_FOUND
                               : ek_error(EK_ERR_IO, "cannot read %s: %s; %s", name,
                                          strerror(errno), io_rule(errno));
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
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return EK_ERR_IO;
        }
        data += w;
        len -= (size_t)w;
    }
    return EK_OK;
}

/* The target may be absent or a regular file, nothing else: rename would
 * replace a link, FIFO or device node in the store instead of refusing. A
 * directory writable by others would let them swap our files. */
static ek_rc io_check_target(int dfd, const char *name)
{
    struct stat st;
    if (fstat(dfd, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)))
        return ek_error(EK_ERR_IO,
                        "refusing to write %s: its directory is writable by group or others, "
                        "who could replace store files; chmod go-w the directory",
                        name);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? EK_OK
                               : ek_error(EK_ERR_IO, "cannot write %s: %s; %s", name,
                                          strerror(errno), io_rule(errno));
    if (S_ISREG(st.st_mode))
        return EK_OK;
    return ek_error(EK_ERR_IO, "refusing to replace %s: %s", name,
                    io_rule(S_ISLNK(st.st_mode) ? ELOOP : ENXIO));
}

/* A new temp file next to name: O_EXCL, so neither a link nor an existing
 * file (a stale temp of a crashed writer) is ever opened. */
static int io_create_temp(int dfd, const char *name, mode_t mode, char *tmp, size_t size)
{
    static _Atomic unsigned counter;
    for (int i = 0; i < 8; i++) {
        if ((size_t)snprintf(tmp, size, ".%s.tmp.%ld.%u", name, (long)getpid(), counter++) >=
            size) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Write name atomically: temp file in the same directory, fsync, rename,
 * fsync the directory. Readers see the old or the new file, never a part. */
ek_rc ek_io_write_at(int dfd, const char *name, const char *data, size_t len, mode_t mode)
{
    char tmp[300];
    ek_rc rc = io_check_target(dfd, name);
    if (rc != EK_OK)
        return rc;
    int fd = io_create_temp(dfd, name, mode, tmp, sizeof(tmp));
    if (fd < 0)
        return ek_error(EK_ERR_IO, "cannot create a temporary file for %s: %s; %s", name,
                        strerror(errno), io_rule(errno));
    if (fchmod(fd, mode) != 0 || io_write_all(fd, data, len) != EK_OK || fsync(fd) != 0)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s; %s", name, strerror(errno), io_rule(errno));
    if (close(fd) != 0 && rc == EK_OK)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s; %s", name, strerror(errno), io_rule(errno));
    if (rc == EK_OK && (rc = io_check_target(dfd, name)) == EK_OK &&
        renameat(dfd, tmp, dfd, name) != 0)
        rc = ek_error(EK_ERR_IO, "cannot rename %s to %s: %s; %s", tmp, name, strerror(errno),
                      io_rule(errno));
    if (rc != EK_OK) {
        unlinkat(dfd, tmp, 0);
        return rc;
    }
    return ek_io_sync_dir(dfd);
}

/* The same for a directory given by path, under its writers' flock. */
ek_rc ek_io_write_in(const char *dir, const char *name, const void *data, size_t len, mode_t mode)
{
    int dfd;
    ek_rc rc = ek_io_lock_dir(dir, &dfd);
    if (rc != EK_OK)
        return rc;
    rc = ek_io_write_at(dfd, name, data, len, mode);
    close(dfd); /* drops the lock */
    return rc;
}

ek_rc ek_io_read_in(const char *dir, const char *name, size_t max, char **out, size_t *len)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? EK_ERR_NOT_FOUND
                               : ek_error(EK_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    ek_rc rc = ek_io_read_at(dfd, name, max, out, len);
    close(dfd);
    return rc;
}

bool ek_io_present_at(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

ek_rc ek_io_sync_dir(int dfd)
{
    return fsync(dfd) == 0 ? EK_OK
                           : ek_error(EK_ERR_IO, "cannot sync the store directory: %s; %s",
                                      strerror(errno), io_rule(errno));
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
    *dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (*dfd < 0)
        return ek_error(errno == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO, "cannot open %s: %s; %s",
                        dir, strerror(errno), io_rule(errno));
    int r;
    while ((r = flock(*dfd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        close(*dfd);
        return ek_error(EK_ERR_IO, "cannot lock %s: %s", dir, strerror(errno));
    }
    return EK_OK;
}
