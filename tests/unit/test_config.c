/* Unit tests: configuration file, environment and overrides. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include "ek_config.h"
#include "ek_log.h"
#include "test_util.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s", tu_mkdtemp());
    unsetenv("EDGEKEY_CONF");
    unsetenv("EDGEKEY_STORE");
    unsetenv("EDGEKEY_TCTI");
    unsetenv("EDGEKEY_LOG_LEVEL");
    ek_config_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmrf(dir);
    ek_config_reset();
    return 0;
}

static const char *conf_file(const char *text)
{
    static char path[300];
    snprintf(path, sizeof(path), "%s/edgekey.conf", dir);
    tu_write(path, text, strlen(text));
    return path;
}

static void test_parse_file(void **state)
{
    (void)state;
    const char *path = conf_file("# edgekey\n\n  tcti = swtpm:host=127.0.0.1,port=2321 # kept\n"
                                 "store=/srv/ek\ntoken = \"plant-7\"\nrsa_min_bits = 3072\n"
                                 "allow_ec = no\r\nlog_level=2\n");
    ek_config c;
    ek_config_defaults(&c);
    assert_int_equal(ek_config_parse_file(path, &c), EK_OK);
    assert_string_equal(c.tcti, "swtpm:host=127.0.0.1,port=2321 # kept");
    assert_string_equal(c.store, "/srv/ek");
    assert_string_equal(c.token, "plant-7");
    assert_int_equal(c.rsa_min_bits, 3072);
    assert_false(c.allow_ec);
    assert_int_equal(c.log_level, 2);
}

static void test_defaults(void **state)
{
    (void)state;
    ek_config c;
    ek_config_defaults(&c);
    assert_string_equal(c.store, EK_DEFAULT_STORE);
    assert_string_equal(c.token, EK_DEFAULT_TOKEN);
    assert_string_equal(c.tcti, "");
    assert_int_equal(c.rsa_min_bits, 2048);
    assert_true(c.allow_ec);
    assert_int_equal(c.log_level, 0);
}

static void expect_bad(const char *text, const char *msg)
{
    const char *path = conf_file(text);
    char want[600];
    ek_config c;
    ek_config_defaults(&c);
    assert_int_equal(ek_config_parse_file(path, &c), EK_ERR_INVALID);
    snprintf(want, sizeof(want), "%s:%s", path, msg);
    assert_true(tu_contains(ek_last_error(), want));
}

static void test_bad_lines(void **state)
{
    (void)state;
    expect_bad("tcti = x\n\nfoo = 1\n", "3: unknown key 'foo'; allowed keys: tcti, store, token, "
                                        "rsa_min_bits, allow_ec, log_level");
    expect_bad("rsa_min_bits = 1024\n", "1: rsa_min_bits = 1024 refused: edgekey never allows "
                                        "RSA keys below 2048 bits; set rsa_min_bits = 2048");
    expect_bad("# c\nrsa_min_bits = lots\n", "2: rsa_min_bits = 'lots' is not a number");
    expect_bad("rsa_min_bits = 8192\n", "1: rsa_min_bits = 8192 would refuse every RSA key");
    expect_bad("just words\n", "1: expected 'key = value'");
    expect_bad(" = 3\n", "1: missing key");
    expect_bad("allow_ec = maybe\n", "1: allow_ec = 'maybe' is not yes/no");
    expect_bad("log_level = 4\n", "1: log_level = '4' refused");
    expect_bad("store = relative/dir\n", "1: store = 'relative/dir' must be an absolute path");
    expect_bad("token = a/b\n", "1: token label 'a/b' refused");
    expect_bad("token = ..\n", "1: token label '..' refused");
}

static void test_env_and_overrides(void **state)
{
    (void)state;
    setenv("EDGEKEY_CONF", conf_file("store = /from/file\ntcti = file-tcti\ntoken = filetok\n"), 1);
    setenv("EDGEKEY_STORE", "/from/env", 1);
    setenv("EDGEKEY_LOG_LEVEL", "3", 1);
    assert_null(ek_config_peek());
    assert_int_equal(ek_config_set("token", "override-tok"), EK_OK);
    assert_int_equal(ek_config_set("token", "override-2"), EK_OK); /* last one wins */
    assert_int_equal(ek_config_set("colour", "blue"), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "unknown key 'colour'"));
    assert_int_equal(ek_config_set("rsa_min_bits", "1024"), EK_ERR_INVALID);
    const ek_config *c = ek_config_get();
    assert_non_null(c);
    assert_ptr_equal(ek_config_peek(), c);
    assert_string_equal(c->store, "/from/env"); /* env beats the file */
    assert_string_equal(c->tcti, "file-tcti");
    assert_string_equal(c->token, "override-2"); /* override beats both */
    assert_int_equal(c->log_level, 3);
    assert_ptr_equal(ek_config_get(), c); /* loaded once */
    assert_int_equal(ek_config_set("token", "late"), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "already in use"));
    unsetenv("EDGEKEY_STORE");
    unsetenv("EDGEKEY_LOG_LEVEL");
}

static void test_broken_sources(void **state)
{
    (void)state;
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope.conf", dir);
    setenv("EDGEKEY_CONF", missing, 1);
    assert_null(ek_config_get());
    assert_true(tu_contains(ek_last_error(), "EDGEKEY_CONF="));
    assert_true(tu_contains(ek_last_error(), "no such file"));
    ek_clear_error();
    assert_null(ek_config_get()); /* the failure is remembered, message repeated */
    assert_true(tu_contains(ek_last_error(), "no such file"));

    ek_config_reset();
    setenv("EDGEKEY_CONF", conf_file("store = /ok\nbogus line\n"), 1);
    assert_null(ek_config_get());
    assert_true(tu_contains(ek_last_error(), "edgekey.conf:2: expected 'key = value'"));

    ek_config_reset();
    setenv("EDGEKEY_CONF", conf_file(""), 1);
    setenv("EDGEKEY_STORE", "not/absolute", 1);
    assert_null(ek_config_get());
    assert_true(tu_contains(ek_last_error(), "EDGEKEY_STORE (environment): store = "));
    unsetenv("EDGEKEY_STORE");
    unsetenv("EDGEKEY_CONF");
}

static void test_kv_get(void **state)
{
    (void)state;
    const char *t = "label = edge\n  serial=00ff \nlabelx = no\nempty =\n";
    char buf[8];
    assert_int_equal(ek_kv_get(t, "label", buf, sizeof(buf)), EK_OK);
    assert_string_equal(buf, "edge");
    assert_int_equal(ek_kv_get(t, "serial", buf, sizeof(buf)), EK_OK);
    assert_string_equal(buf, "00ff");
    assert_int_equal(ek_kv_get(t, "empty", buf, sizeof(buf)), EK_OK);
    assert_string_equal(buf, "");
    assert_int_equal(ek_kv_get(t, "flags", buf, sizeof(buf)), EK_ERR_NOT_FOUND);
    assert_int_equal(ek_kv_get(t, "label", buf, 4), EK_ERR_BUFFER_TOO_SMALL);
}

static void *get_config(void *arg)
{
    (void)arg;
    return (void *)ek_config_get();
}

/* Loaded once even when many threads ask first at the same time. */
static void test_threads_load_once(void **state)
{
    (void)state;
    setenv("EDGEKEY_CONF", conf_file("token = threads\n"), 1);
    pthread_t t[8];
    void *got[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, get_config, NULL), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], &got[i]);
    for (int i = 0; i < 8; i++) {
        assert_non_null(got[i]);
        assert_ptr_equal(got[i], got[0]);
    }
    assert_string_equal(((const ek_config *)got[0])->token, "threads");
    unsetenv("EDGEKEY_CONF");
}

/* Run ek_log with stderr captured; returns what it printed. */
static const char *log_capture(int level, const char *msg)
{
    static char out[512];
    char path[300];
    snprintf(path, sizeof(path), "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w+");
    dup2(fileno(f), 2);
    ek_log(level, "%s", msg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = 0;
    fclose(f);
    return out;
}

static void test_log_level(void **state)
{
    (void)state;
    assert_string_equal(log_capture(EK_LOG_ERR, "broken"), "edgekey: error: broken\n");
    assert_string_equal(log_capture(EK_LOG_INFO, "chatty"), ""); /* default: errors only */
    setenv("EDGEKEY_CONF", conf_file("log_level = 2\n"), 1);
    assert_non_null(ek_config_get());
    assert_string_equal(log_capture(EK_LOG_INFO, "chatty"), "edgekey: info: chatty\n");
    assert_string_equal(log_capture(EK_LOG_DEBUG, "noisy"), "");
    setenv("EDGEKEY_LOG_LEVEL", "3", 1); /* the environment wins at once */
    assert_string_equal(log_capture(EK_LOG_DEBUG, "noisy"), "edgekey: debug: noisy\n");
    unsetenv("EDGEKEY_LOG_LEVEL");
    unsetenv("EDGEKEY_CONF");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_and_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_load_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_level, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
