/*
 * test_main.c -- runs every engine unit-test suite and prints the closing
 * "N passed, N failed" line that test/run-tests adds up.  The suites that
 * run models run once per CPU kernel set this machine supports (auto's
 * choice first), so every variant is checked against the fixtures.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"
#include "fake_device.h"
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
	test_tok_spm();
	test_tok_hf();
	test_grapheme();
	test_tok_regex();
	test_metrics();
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
			test_attention();
			test_rnn();
			test_rnn_state();
			test_cov();
			test_tfm();
			test_generate();
			test_seq2seq();
			test_tfm_seq2seq();
			sm_ops_set_kernels("auto", &err);
		}
	}
	/*
	 * The device seam: routing, fallback, owners (test_device.c); then every
	 * model suite with each product sent through the device interface to
	 * the fake module, which computes it on the host from the weights as
	 * stored, as a real device does.
	 */
	test_device();
	{
		sm_error	err;

		printf("== every product through the device interface (fake device, always)\n");
		if (sm_ops_attach_device(sm_fake_device_api(), &err) == SM_OK)
		{
			sm_ops_use_device(SM_DEVICE_ALWAYS);
			test_rnn();
			test_tfm();
			test_generate();
			test_seq2seq();
			test_tfm_seq2seq();
			{
				sm_ops_device_status st;

				sm_ops_device_status_get(&st);
				printf("device products: %llu offloaded, %llu fell back\n",
					   (unsigned long long) st.offloaded, (unsigned long long) st.fallbacks);
				CHECK(st.offloaded > 1000 && st.fallbacks == 2);	/* the two test_device forced */
			}
			sm_ops_use_device(SM_DEVICE_OFF);
		}
		else
			CHECK(!"the fake device attaches");
	}
	printf("%d passed, %d failed\n", sm_test_passed, sm_test_failed);
	return sm_test_failed == 0 ? 0 : 1;
}
