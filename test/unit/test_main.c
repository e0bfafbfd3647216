/*
 * test_main.c -- runs every engine unit-test suite and prints the closing
 * "N passed, N failed" line that test/run-tests adds up.
 */
#include "sm_test.h"
#include "sm_tests.h"
#include "core/sm_core.h"

int			sm_test_passed = 0;
int			sm_test_failed = 0;

int
main(void)
{
	sm_set_threads(1);
	test_json();
	test_dtype();
	test_safetensors();
	test_model();
	test_activ();
	test_rnn();
	test_tfm();
	test_generate();
	test_tokenizer();
	printf("%d passed, %d failed\n", sm_test_passed, sm_test_failed);
	return sm_test_failed == 0 ? 0 : 1;
}
