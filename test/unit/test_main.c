/*
 * test_main.c -- runs every engine unit-test suite and prints the closing
 * "N passed, N failed" line that test/run-tests adds up.  The suites that
 * run models run once per CPU kernel set this machine supports (auto's
 * choice first), so every variant is checked against the fixtures.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"
#include "core/sm_core.h"
#include "ops/sm_ops.h"

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
	test_gemm();
	test_gemm_avx512();
	test_tokenizer();
	{
		static const char *const sets[] = {"auto", "avx512", "avx2", "generic", "blas"};
		sm_error	err;

		sm_ops_set_kernels("auto", &err);
		for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		{
			const char *auto_name = sm_kernels_name(sm_ops_kernels());

			if (i > 0 && strcmp(sets[i], auto_name) == 0)
				continue;		/* auto's choice ran first */
			if (sm_ops_set_kernels(sets[i], &err) != SM_OK)
			{
				printf("== kernels %s: not supported by this CPU, skipped\n", sets[i]);
				sm_ops_set_kernels("auto", &err);
				continue;
			}
			printf("== kernels %s (%s)\n", sets[i], sm_kernels_name(sm_ops_kernels()));
			test_activ();
			test_rnn();
			test_tfm();
			test_generate();
			sm_ops_set_kernels("auto", &err);
		}
	}
	printf("%d passed, %d failed\n", sm_test_passed, sm_test_failed);
	return sm_test_failed == 0 ? 0 : 1;
}
