/* CHECK for the hub's C end-to-end tests (test_attest_cred.c,
 * test_attest_ops.c): a false condition is printed with its place and
 * counted in the including file's `int failures`, and the test goes on, so
 * one run reports every refusal that went wrong. */
#ifndef HUB_TEST_CHECK_H
#define HUB_TEST_CHECK_H

#include <stdio.h>

#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);                           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#endif
