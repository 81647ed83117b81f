/* Small helpers shared by the unit tests (files, temp dirs, fixtures). */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Read a fixture from tests/unit/data (malloc'ed, NUL-terminated). */
unsigned char *tu_fixture(const char *name, size_t *len);
char *tu_fixture_path(const char *name); /* static buffer */

/* A fresh temp dir (static buffer until the next call) and rm -rf. */
const char *tu_mkdtemp(void);
void tu_rmrf(const char *path);

void tu_write(const char *path, const void *data, size_t len);
unsigned char *tu_read(const char *path, size_t *len);
bool tu_contains(const char *haystack, const char *needle);
/* Number of directory entries whose name contains s. */
int tu_count_names(const char *dir, const char *s);
/* Point the configuration at a fresh store root under dir (EDGEKEY_STORE,
 * an empty EDGEKEY_CONF) and reload it. Returns the store root. */
const char *tu_use_store(const char *dir);

#endif
