/*
 * sm_test.h -- the engine's unit-test harness: counters and CHECK macros.
 * Each test_*.c file defines one suite function `void test_<name>(void)`,
 * declared in sm_tests.h and called from test_main.c.  A CHECK counts one
 * test: passed or failed.  The runner prints "N passed, N failed".
 */
#ifndef SM_TEST_H
#define SM_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

extern int	sm_test_passed;
extern int	sm_test_failed;

#define CHECK(cond) \
	do { \
		if (cond) sm_test_passed++; \
		else { sm_test_failed++; \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
	} while (0)

#define CHECK_MSG(cond, ...) \
	do { \
		if (cond) sm_test_passed++; \
		else { sm_test_failed++; \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
	} while (0)

/* an sm_error's message contains the given substring */
#define CHECK_ERR(err, status, substr) \
	CHECK_MSG((err).code == (status) && strstr((err).message, (substr)) != NULL, \
			  "got status %d message \"%s\"", (int) (err).code, (err).message)

#endif
