/* Helpers shared by the unit tests; see test_util.h. */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ftw.h>
#include <unistd.h>

#include "ek_config.h"
#include "test_util.h"

#ifndef UNIT_DATA_DIR
#error "UNIT_DATA_DIR must point at tests/unit/data"
#endif

char *tu_fixture_path(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/%s", UNIT_DATA_DIR, name);
    return path;
}

unsigned char *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

unsigned char *tu_fixture(const char *name, size_t *len)
{
    return tu_read(tu_fixture_path(name), len);
}

const char *tu_mkdtemp(void)
{
    static char dir[256];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/ek-unit.XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tu_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

bool tu_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle)) {
        print_error("expected \"%s\" in \"%s\"\n", needle, haystack);
        return false;
    }
    return true;
}

int tu_count_names(const char *dir, const char *s)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strstr(e->d_name, s))
            n++;
    closedir(d);
    return n;
}

const char *tu_use_store(const char *dir)
{
    static char root[512], conf[512];
    snprintf(root, sizeof(root), "%s/store", dir);
    snprintf(conf, sizeof(conf), "%s/edgekey.conf", dir);
    tu_write(conf, "", 0);
    setenv("EDGEKEY_STORE", root, 1);
    setenv("EDGEKEY_CONF", conf, 1);
    unsetenv("EDGEKEY_TCTI");
    unsetenv("EDGEKEY_LOG_LEVEL");
    ek_config_reset();
    return root;
}
