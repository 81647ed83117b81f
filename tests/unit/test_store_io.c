/* Unit tests: the store's one atomic writer and safe reader (store_io.c)
 * and the PIN attempt counter (token_tries.c), on a temp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ek_store_int.h"
#include "test_util.h"
#include "token_tries.h"

static char dir[256], outside[300];
static int dfd = -1;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s", tu_mkdtemp());
    chmod(dir, 0700);
    snprintf(outside, sizeof(outside), "%s.victim", dir);
    tu_write(outside, "victim\n", 7);
    dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(dfd);
    tu_rmrf(dir);
    unlink(outside);
    return 0;
}

static void assert_victim_intact(void)
{
    size_t len;
    unsigned char *v = tu_read(outside, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(v, "victim\n", 7);
    free(v);
}

/* Only name (and nothing like a temp file) in the directory. */
static void assert_no_temp_files(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        assert_null(strstr(e->d_name, ".tmp"));
    closedir(d);
}

static void test_write_read(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len;
    struct stat st;
    assert_int_equal(ek_io_write_at(dfd, "a.key", "one\n", 4, 0600), EK_OK);
    assert_int_equal(ek_io_write_at(dfd, "a.key", "two\n", 4, 0600), EK_OK);
    assert_int_equal(fstatat(dfd, "a.key", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ek_io_read_at(dfd, "a.key", 100, &text, &len), EK_OK);
    assert_string_equal(text, "two\n");
    free(text);
    assert_int_equal(ek_io_read_at(dfd, "none", 100, &text, &len), EK_ERR_NOT_FOUND);
    assert_no_temp_files();
}

static void test_link_target_refused(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len;
    assert_int_equal(symlinkat(outside, dfd, "pin.tries"), 0);
    assert_int_equal(ek_io_write_at(dfd, "pin.tries", "x\n", 2, 0600), EK_ERR_IO);
    assert_true(tu_contains(ek_last_error(), "pin.tries"));
    assert_true(tu_contains(ek_last_error(), "symbolic link"));
    assert_int_equal(ek_io_read_at(dfd, "pin.tries", 100, &text, &len), EK_ERR_IO);
    assert_true(tu_contains(ek_last_error(), "symbolic link"));
    assert_victim_intact();
    assert_true(ek_io_present_at(dfd, "pin.tries"));
    assert_no_temp_files();
}

static void test_fifo_refused(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len;
    assert_int_equal(mkfifoat(dfd, "x.meta", 0600), 0);
    /* must not block on a FIFO nobody writes to */
    assert_int_equal(ek_io_read_at(dfd, "x.meta", 100, &text, &len), EK_ERR_IO);
    assert_true(tu_contains(ek_last_error(), "not a regular file"));
    assert_int_equal(ek_io_write_at(dfd, "x.meta", "x", 1, 0600), EK_ERR_IO);
    assert_true(tu_contains(ek_last_error(), "x.meta"));
}

static void test_open_dir_refused(void **state)
{
    (void)state;
    chmod(dir, 0770);
    assert_int_equal(ek_io_write_at(dfd, "a.key", "x", 1, 0600), EK_ERR_IO);
    assert_true(tu_contains(ek_last_error(), "chmod go-w"));
    chmod(dir, 0700);
}

static void test_tries_parse(void **state)
{
    (void)state;
    unsigned f[2];
    assert_true(ek_tries_parse("user_fails = 3\nso_fails = 1\n", f));
    assert_int_equal(f[EK_TOKEN_USER], 3);
    assert_int_equal(f[EK_TOKEN_SO], 1);
    /* damaged: user locked, SO one attempt left */
    static const char *const bad[] = {"",
                                      "user_fails = 3\n",
                                      "user_fails = 3\nso_fails = 1",
                                      "user_fails = -1\nso_fails = 0\n",
                                      "user_fails = 3x\nso_fails = 0\n",
                                      "garbage\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(ek_tries_parse(bad[i], f));
        assert_int_equal(f[EK_TOKEN_USER], EK_TOKEN_MAX_TRIES);
        assert_int_equal(f[EK_TOKEN_SO], EK_TOKEN_MAX_TRIES - 1);
    }
}

static void test_tries_count(void **state)
{
    (void)state;
    unsigned c = 0, f[2];
    for (unsigned i = 1; i <= EK_TOKEN_MAX_TRIES; i++) {
        assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_USER, "user PIN", &c), EK_OK);
        assert_int_equal(c, i);
    }
    assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_USER, "user PIN", &c), EK_ERR_LOCKOUT);
    assert_true(tu_contains(ek_last_error(), "locked"));
    /* the PIN not judged: the attempt is given back */
    assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_SO, "SO PIN", &c), EK_OK);
    assert_int_equal(ek_tries_end(dir, EK_TOKEN_SO, false), EK_OK);
    ek_tries_state(dir, f);
    assert_int_equal(f[EK_TOKEN_SO], 0);
    assert_int_equal(ek_tries_clear(dir, true, false), EK_OK);
    ek_tries_state(dir, f);
    assert_int_equal(f[EK_TOKEN_USER], 0);
    assert_no_temp_files();
}

static void test_tries_damaged(void **state)
{
    (void)state;
    unsigned c = 0;
    int fd = openat(dfd, EK_TRIES_FILE, O_WRONLY | O_CREAT, 0600); /* empty: truncated */
    close(fd);
    assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_USER, "user PIN", &c), EK_ERR_LOCKOUT);
    assert_true(tu_contains(ek_last_error(), "cannot be trusted"));
    /* the SO gets one attempt, and a right SO PIN makes the file whole */
    assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_SO, "SO PIN", &c), EK_OK);
    assert_int_equal(ek_tries_end(dir, EK_TOKEN_SO, true), EK_OK);
    assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_USER, "user PIN", &c), EK_ERR_LOCKOUT);
    assert_int_equal(ek_tries_clear(dir, true, false), EK_OK);
    assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_USER, "user PIN", &c), EK_OK);
    assert_int_equal(c, 1);
}

static void test_tries_link(void **state)
{
    (void)state;
    unsigned c = 0;
    assert_int_equal(symlinkat(outside, dfd, EK_TRIES_FILE), 0);
    assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_USER, "user PIN", &c), EK_ERR_LOCKOUT);
    assert_int_equal(ek_tries_begin(dir, "t", EK_TOKEN_SO, "SO PIN", &c), EK_ERR_IO);
    assert_true(tu_contains(ek_last_error(), "symbolic link"));
    assert_int_equal(ek_tries_clear(dir, true, true), EK_ERR_IO);
    assert_victim_intact();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_target_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_dir_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tries_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tries_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tries_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tries_link, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
