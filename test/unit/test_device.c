/*
 * test_device.c -- the device side of the compute seam (ops/sm_ops_device.c)
 * with the fake device module of test/device/fake_device.h: the
 * sm_device.h functions computed by the naive reference on the host.  It checks what a real module (CUDA)
 * relies on and what the engine promises around it: the routing by mode
 * (off / auto / always), the weight keys and owners, forget, the fallback
 * to the CPU when the device fails (same answer, counted, the message kept),
 * an open that fails leaving the CPU backend in place; and, with
 * sm_fake_device_api in "always" mode, test_main runs every model suite so
 * each product of every architecture crosses the device interface with its
 * real shapes, strides and layouts and still meets the PyTorch fixtures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "ops/sm_ops.h"
#include "fake_device.h"

static void
fill(float *v, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (float) sm_test_urand(&seed);
}

void
test_device(void)
{
	sm_fake_device_ctl *fake = sm_fake_device_ctl_get();
	const sm_device_api *fake_api = sm_fake_device_api();
	sm_error	err;
	sm_packed	small,
				big;
	sm_ops_device_status st;
	const int	M = 256,
				N = 256,
				K = 256;
	float	   *w = malloc(sizeof(float) * N * K),
			   *x = malloc(sizeof(float) * M * K),
			   *y = malloc(sizeof(float) * M * N),
			   *ref = malloc(sizeof(float) * M * N);

	fill(w, (size_t) N * K, 1);
	fill(x, (size_t) M * K, 2);
	sm_gemm_naive(w, K, false, N, K, x, K, M, 1.0f, 0.0f, ref, N);

	/* an open that fails: an error with the module's reason, the CPU stays */
	fake->fail_open = true;
	CHECK(sm_ops_attach_device(fake_api, &err) == SM_ERR_UNSUPPORTED);
	CHECK(strstr(err.detail, "switched off") != NULL);
	CHECK(sm_ops_device() == NULL);
	sm_ops_use_device(SM_DEVICE_ALWAYS);
	CHECK(sm_ops == &sm_cpu_backend && sm_ops_device_mode() == SM_DEVICE_OFF);
	fake->fail_open = false;

	/* weights packed while an owner is set carry it, each with its own key */
	sm_ops_set_owner(42);
	CHECK(sm_packed_init(&big, w, N, K, false, &err) == SM_OK);
	CHECK(sm_packed_init(&small, w, 16, 16, false, &err) == SM_OK);
	sm_ops_set_owner(0);
	CHECK(big.owner == 42 && small.owner == 42 && big.key != small.key && big.key != 0);

	CHECK(sm_ops_attach_device(fake_api, &err) == SM_OK);
	CHECK(sm_ops_device() == fake_api);

	/* off: nothing reaches the device */
	sm_ops_use_device(SM_DEVICE_OFF);
	sm_op_matmul(&big, x, K, M, 0.0f, y, N);
	CHECK(fake->matmuls == 0);

	/* auto: the big product goes, the small one stays on the CPU */
	sm_ops_use_device(SM_DEVICE_AUTO);
	CHECK(strcmp(sm_ops->name, "fake") == 0);
	sm_op_matmul(&big, x, K, M, 0.0f, y, N);
	CHECK(fake->matmuls == 1 && fake->last_key == big.key && fake->last_owner == 42);
	CHECK(sm_test_normwise(y, ref, M, N, N) < 1e-6);
	sm_op_matmul(&small, x, K, 4, 0.0f, y, 16);
	CHECK(fake->matmuls == 1);

	/* always: every product, products of activations too */
	sm_ops_use_device(SM_DEVICE_ALWAYS);
	sm_op_matmul(&small, x, K, 4, 0.0f, y, 16);
	CHECK(fake->matmuls == 2 && fake->last_key == small.key);
	sm_op_gemm(true, 8, 8, 8, 0.5f, x, K, w, K, 0.0f, y, 8, NULL);
	CHECK(fake->gemms == 1);

	/* a failing device: the CPU computes the same answer, the failure is counted */
	fake->fail_products = true;
	memset(y, 0, sizeof(float) * M * N);
	sm_op_matmul(&big, x, K, M, 0.0f, y, N);
	CHECK(sm_test_normwise(y, ref, M, N, N) < 1e-6);
	sm_ops_device_status_get(&st);
	CHECK(st.fallbacks == 1 && st.offloaded == 4);
	CHECK(strstr(st.last_error, "fake failure of a 256 x 256 x 256 product") != NULL);
	fake->fail_products = false;

	/* each weight was uploaded once and is held for its owner; forget drops them */
	CHECK(fake_api->owner_bytes(42) == sizeof(float) * (N * K + 16 * 16));
	sm_ops_device_status_get(&st);
	CHECK(st.dev.cached_bytes == sizeof(float) * (N * K + 16 * 16) && st.dev.uploads == 2);
	sm_ops_forget(42);
	CHECK(fake->forgotten == 42 && fake_api->owner_bytes(42) == 0);

	/* reduced precisions: the operands rounded (bf16 8 bits, tf32 11), float32 sums */
	{
		double		e32,
					e16;
		char		msg[128];

		CHECK(fake_api->set_precision(SM_DEVICE_TF32, msg, sizeof(msg)) == 0);
		sm_op_matmul(&big, x, K, M, 0.0f, y, N);
		e32 = sm_test_normwise(y, ref, M, N, N);
		CHECK(fake_api->set_precision(SM_DEVICE_BF16, msg, sizeof(msg)) == 0);
		sm_op_matmul(&big, x, K, M, 0.0f, y, N);
		e16 = sm_test_normwise(y, ref, M, N, N);
		CHECK(e32 > 1e-6 && e32 < 1e-3 && e16 > e32 && e16 < 2e-2);
		CHECK(fake_api->set_precision(7, msg, sizeof(msg)) != 0 && strstr(msg, "not one of") != NULL);
		CHECK(fake_api->set_precision(SM_DEVICE_FP32, msg, sizeof(msg)) == 0);
	}

	/* the budget: a weight that does not fit evicts the least recently used */
	fake_api->set_cache_bytes(sizeof(float) * N * K);
	sm_op_matmul(&big, x, K, M, 0.0f, y, N);
	sm_op_matmul(&small, x, K, 4, 0.0f, y, 16);
	sm_ops_device_status_get(&st);
	CHECK(st.dev.evictions == 1 && st.dev.cached_bytes == sizeof(float) * 16 * 16);
	fake_api->set_cache_bytes((size_t) 1 << 30);

	/* out of device memory: the message says what was asked and what is free; the CPU answers */
	fake->memory_bytes = sizeof(float) * N * K / 2;
	memset(y, 0, sizeof(float) * M * N);
	sm_op_matmul(&big, x, K, M, 0.0f, y, N);
	CHECK(sm_test_normwise(y, ref, M, N, N) < 1e-6);
	sm_ops_device_status_get(&st);
	CHECK(sm_ops_device_failures() == 2 && strstr(st.last_error, "out of memory (0.1 MB free of 0.1 MB)") != NULL);
	fake->memory_bytes = 0;

	/* detach releases the device (its weights and context); attaching opens it again */
	sm_ops_use_device(SM_DEVICE_ALWAYS);
	sm_ops_detach_device();
	CHECK(sm_ops_device() == NULL && sm_ops == &sm_cpu_backend && fake->releases == 1);
	sm_ops_device_status_get(&st);
	CHECK(st.dev.cached_bytes == 0);
	CHECK(sm_ops_attach_device(fake_api, &err) == SM_OK && fake->opens == 2);

	sm_ops_use_device(SM_DEVICE_OFF);
	CHECK(sm_ops == &sm_cpu_backend);
	sm_packed_free(&big);
	sm_packed_free(&small);
	free(w);
	free(x);
	free(y);
	free(ref);
}
