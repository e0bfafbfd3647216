/*
 * test_device.c -- the device side of the compute seam (ops/sm_ops_device.c)
 * with a fake device module: a table of the sm_device.h functions computed
 * by the naive reference on the host.  It checks what a real module (CUDA)
 * relies on and what the engine promises around it: the routing by mode
 * (off / auto / always), the weight keys and owners, forget, the fallback
 * to the CPU when the device fails (same answer, counted, the message kept),
 * an open that fails leaving the CPU backend in place; and, with
 * sm_test_fake_device in "always" mode, test_main runs every model suite so
 * each product of every architecture crosses the device interface with its
 * real shapes, strides and layouts and still meets the PyTorch fixtures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "ops/sm_ops.h"

static struct
{
	bool		fail_open;
	bool		fail_products;
	int			matmuls;
	int			gemms;
	uint64_t	last_key;
	uint64_t	last_owner;
	uint64_t	forgotten;
} fake;

static int
fake_open(char *msg, size_t len)
{
	if (fake.fail_open)
	{
		snprintf(msg, len, "the fake device is switched off");
		return 1;
	}
	return 0;
}

static void
fake_describe(char *buf, size_t len)
{
	snprintf(buf, len, "fake device (host memory)");
}

static int
fake_matmul(uint64_t key, uint64_t owner, const float *w, int N, int K, bool in_major,
			const float *x, int ldx, int M, float beta, float *y, int ldy, char *msg, size_t len)
{
	fake.matmuls++;
	fake.last_key = key;
	fake.last_owner = owner;
	if (fake.fail_products)
	{
		snprintf(msg, len, "fake failure of a %d x %d x %d product", M, N, K);
		return 1;
	}
	sm_gemm_naive(w, in_major ? N : K, in_major, N, K, x, ldx, M, 1.0f, beta, y, ldy);
	return 0;
}

static int
fake_gemm(bool b_trans, int M, int N, int K, float alpha, const float *A, int lda,
		  const float *B, int ldb, float beta, float *C, int ldc, char *msg, size_t len)
{
	fake.gemms++;
	if (fake.fail_products)
	{
		snprintf(msg, len, "fake failure");
		return 1;
	}
	sm_gemm_naive(B, ldb, !b_trans, N, K, A, lda, M, alpha, beta, C, ldc);
	return 0;
}

static void
fake_forget(uint64_t owner)
{
	fake.forgotten = owner;
}

static void
fake_set_cache_bytes(size_t bytes)
{
	(void) bytes;
}

static void
fake_stats(sm_device_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->products = (uint64_t) (fake.matmuls + fake.gemms);
}

static const sm_device_api fake_api = {
	.abi = SM_DEVICE_ABI,
	.name = "fake",
	.open = fake_open,
	.describe = fake_describe,
	.matmul = fake_matmul,
	.gemm = fake_gemm,
	.forget = fake_forget,
	.set_cache_bytes = fake_set_cache_bytes,
	.stats = fake_stats,
};

const sm_device_api *
sm_test_fake_device(void)
{
	return &fake_api;
}

static void
fill(float *v, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (float) sm_test_urand(&seed);
}

void
test_device(void)
{
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
	fake.fail_open = true;
	CHECK(sm_ops_attach_device(&fake_api, &err) == SM_ERR_UNSUPPORTED);
	CHECK(strstr(err.detail, "switched off") != NULL);
	CHECK(sm_ops_device() == NULL);
	sm_ops_use_device(SM_DEVICE_ALWAYS);
	CHECK(sm_ops == &sm_cpu_backend && sm_ops_device_mode() == SM_DEVICE_OFF);
	fake.fail_open = false;

	/* weights packed while an owner is set carry it, each with its own key */
	sm_ops_set_owner(42);
	CHECK(sm_packed_init(&big, w, N, K, false, &err) == SM_OK);
	CHECK(sm_packed_init(&small, w, 16, 16, false, &err) == SM_OK);
	sm_ops_set_owner(0);
	CHECK(big.owner == 42 && small.owner == 42 && big.key != small.key && big.key != 0);

	CHECK(sm_ops_attach_device(&fake_api, &err) == SM_OK);
	CHECK(sm_ops_device() == &fake_api);

	/* off: nothing reaches the device */
	sm_ops_use_device(SM_DEVICE_OFF);
	sm_op_matmul(&big, x, K, M, 0.0f, y, N);
	CHECK(fake.matmuls == 0);

	/* auto: the big product goes, the small one stays on the CPU */
	sm_ops_use_device(SM_DEVICE_AUTO);
	CHECK(strcmp(sm_ops->name, "fake") == 0);
	sm_op_matmul(&big, x, K, M, 0.0f, y, N);
	CHECK(fake.matmuls == 1 && fake.last_key == big.key && fake.last_owner == 42);
	CHECK(sm_test_normwise(y, ref, M, N, N) < 1e-6);
	sm_op_matmul(&small, x, K, 4, 0.0f, y, 16);
	CHECK(fake.matmuls == 1);

	/* always: every product, products of activations too */
	sm_ops_use_device(SM_DEVICE_ALWAYS);
	sm_op_matmul(&small, x, K, 4, 0.0f, y, 16);
	CHECK(fake.matmuls == 2 && fake.last_key == small.key);
	sm_op_gemm(true, 8, 8, 8, 0.5f, x, K, w, K, 0.0f, y, 8, NULL);
	CHECK(fake.gemms == 1);

	/* a failing device: the CPU computes the same answer, the failure is counted */
	fake.fail_products = true;
	memset(y, 0, sizeof(float) * M * N);
	sm_op_matmul(&big, x, K, M, 0.0f, y, N);
	CHECK(sm_test_normwise(y, ref, M, N, N) < 1e-6);
	sm_ops_device_status_get(&st);
	CHECK(st.fallbacks == 1 && st.offloaded == 4);
	CHECK(strstr(st.last_error, "fake failure of a 256 x 256 x 256 product") != NULL);
	fake.fail_products = false;

	sm_ops_forget(42);
	CHECK(fake.forgotten == 42);

	sm_ops_use_device(SM_DEVICE_OFF);
	CHECK(sm_ops == &sm_cpu_backend);
	sm_packed_free(&big);
	sm_packed_free(&small);
	free(w);
	free(x);
	free(y);
	free(ref);
}
