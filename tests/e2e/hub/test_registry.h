/* The registry suite's shared helpers (test_registry.c) and its race
 * cases (test_registry_race.c). */
#ifndef TEST_REGISTRY_H
#define TEST_REGISTRY_H

#include "registry.h"

extern const char *url; /* the registry under test */

hub_registry *open_reg(void); /* fails the test if it cannot */
int setup(void **state);      /* *state = an open handle */
int teardown(void **state);
void add_product(hub_registry *r, const char *pk);
void add_cert(hub_registry *r, const char *serial, const char *dk);

void test_race_nonce(void **state);
void test_race_activate(void **state);
void test_race_serials(void **state);
void test_race_renew(void **state);
void test_race_revoke(void **state);

#endif
