/* Unit test (cmocka) for the edge client's on-disk telemetry queue:
 * order, persistence across a reopen, ids that never go back, deletes that
 * tolerate a resend, and the queue_max bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue.h"

static char dir[] = "/tmp/edge-queue-XXXXXX";
static char path[sizeof(dir) + 16];

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/queue.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[sizeof(dir) + 16];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static long long push(edge_queue *q, const char *params)
{
    long long seq = 0;
    assert_int_equal(edge_queue_push(q, params, &seq), 0);
    return seq;
}

static void test_order_and_persistence(void **state)
{
    edge_queue *q;
    long long a, b, seq;
    char *params = NULL;
    (void)state;

    assert_int_equal(edge_queue_open(path, 1, 0, &q), 0);
    a = push(q, "{\"t\":1}");
    b = push(q, "{\"t\":2}");
    assert_true(b > a);
    edge_queue_close(q);

    /* a restart sends what is left, oldest first */
    assert_int_equal(edge_queue_open(path, 1, 0, &q), 0);
    assert_int_equal(edge_queue_depth(q), 2);
    assert_int_equal(edge_queue_next(q, 0, &seq, &params), 1);
    assert_int_equal(seq, a);
    assert_string_equal(params, "{\"t\":1}");
    free(params);
    assert_int_equal(edge_queue_next(q, a, &seq, &params), 1);
    assert_int_equal(seq, b);
    free(params);
    assert_int_equal(edge_queue_next(q, b, &seq, &params), 0);

    /* a second ack for the same row (a resend) is not an error */
    assert_int_equal(edge_queue_delete(q, a), 1);
    assert_int_equal(edge_queue_delete(q, a), 0);
    assert_int_equal(edge_queue_delete(q, b), 1);
    assert_int_equal(edge_queue_depth(q), 0);
    edge_queue_close(q);

    /* ids never go back, even after the queue emptied and was reopened:
     * the hub de-duplicates on them */
    assert_int_equal(edge_queue_open(path, 0, 0, &q), 0);
    assert_true(push(q, "{\"t\":3}") > b);
    edge_queue_close(q);
}

static void test_bound(void **state)
{
    edge_queue *q;
    long long first, last = 0, seq;
    char *params = NULL;
    (void)state;

    unlink(path);
    assert_int_equal(edge_queue_open(path, 0, 5, &q), 0);
    first = push(q, "{\"n\":0}");
    for (int i = 1; i < 8; i++)
        last = push(q, "{\"n\":1}");
    /* the newest 5 stay, the 3 oldest were dropped */
    assert_int_equal(edge_queue_depth(q), 5);
    assert_int_equal(edge_queue_next(q, 0, &seq, &params), 1);
    assert_int_equal(seq, first + 3);
    assert_int_equal(seq, last - 4);
    free(params);
    /* a late ack of a dropped row is harmless */
    assert_int_equal(edge_queue_delete(q, first), 0);
    edge_queue_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_persistence),
        cmocka_unit_test(test_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
