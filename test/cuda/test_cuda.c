/*
 * test_cuda.c -- the CUDA device module (kernels/sm_cuda.cu, built into
 * seqmodel_cuda.so) from the host side, linked against it as the extension
 * loads it: through its one entry point and the sm_device.h table.
 *
 * On a machine without a GPU (CI, the developers' machines) it checks that
 * the module loads with its CUDA libraries and that opening it fails
 * cleanly with a reason.  With a GPU it checks every product shape and
 * layout the engine sends against a double-precision reference (FP32
 * within 1e-5 normwise), the weight cache (one upload per key, LRU
 * eviction within the budget, forget by owner, a weight larger than the
 * budget), and the products of activations; owner_bytes; tf32 and bf16
 * within their tolerances (1e-3, 1e-2 normwise) and not fp32's bits; an
 * out-of-memory message that says what was asked and what is free; release
 * (the memory back, then open again).
 *
 *   make cuda-test        (builds seqmodel_cuda.so and this, runs it)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/sm_device.h"

const sm_device_api *seqmodel_device_api(void);

static int	passed = 0,
			failed = 0;

#define CHECK(cond) \
	do { \
		if (cond) \
			passed++; \
		else \
		{ \
			failed++; \
			printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		} \
	} while (0)

static unsigned seed = 7;

static float
urand(void)
{
	seed = seed * 1103515245u + 12345u;
	return (float) ((seed >> 8) / 8388608.0 - 1.0);
}

/* y = alpha x W^T + beta y in double, W [N, K] (w_nk) or [K, N] */
static double
check_product(const float *w, bool w_nk, int N, int K, float alpha, const float *x, int ldx,
			  int M, float beta, const float *y0, const float *y, int ldy)
{
	double		err = 0,
				ref_max = 0;

	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
		{
			double		s = 0;

			for (int k = 0; k < K; k++)
				s += (double) x[(size_t) i * ldx + k] *
					(w_nk ? w[(size_t) j * K + k] : w[(size_t) k * N + j]);
			s = alpha * s + (beta != 0.0f ? (double) y0[(size_t) i * ldy + j] : 0.0);
			err = fmax(err, fabs(y[(size_t) i * ldy + j] - s));
			ref_max = fmax(ref_max, fabs(s));
		}
	return ref_max > 0 ? err / ref_max : err;
}

static void
products(const sm_device_api *api)
{
	static const int shapes[][3] = {{1, 1, 1}, {1, 256, 64}, {7, 13, 17}, {64, 256, 64},
	{257, 300, 129}, {1000, 64, 1}, {33, 1024, 256}};
	char		msg[256];
	uint64_t	key = 100;

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
		for (int layout = 0; layout < 2; layout++)
			for (int b = 0; b < 2; b++)
			{
				int			M = shapes[s][0],
							N = shapes[s][1],
							K = shapes[s][2];
				int			ldx = K + 3,
							ldy = N + 5;
				float	   *w = malloc(sizeof(float) * N * K),
						   *x = malloc(sizeof(float) * M * ldx),
						   *y0 = malloc(sizeof(float) * M * ldy),
						   *y = malloc(sizeof(float) * M * ldy);
				float		beta = (float) b;
				double		e;

				for (int i = 0; i < N * K; i++)
					w[i] = urand();
				for (int i = 0; i < M * ldx; i++)
					x[i] = urand();
				for (int i = 0; i < M * ldy; i++)
					y0[i] = urand();
				memcpy(y, y0, sizeof(float) * M * ldy);
				CHECK(api->matmul(++key, 1, w, N, K, layout == 1, x, ldx, M, beta, y, ldy, msg,
								  sizeof(msg)) == 0);
				e = check_product(w, layout == 0, N, K, 1.0f, x, ldx, M, beta, y0, y, ldy);
				printf("matmul %d x %d x %d %s beta %g: normwise %.2g\n", M, N, K,
					   layout ? "[K, N]" : "[N, K]", beta, e);
				CHECK(e < 1e-5);
				/* columns past N in each row of y are untouched */
				CHECK(N + 5 > ldy || y[ldy - 1] == y0[ldy - 1]);
				/* products of activations: the same with alpha, B as given */
				memcpy(y, y0, sizeof(float) * M * ldy);
				CHECK(api->gemm(layout == 0, M, N, K, b ? 1.0f : 0.125f, x, ldx, w,
								layout == 0 ? K : N, beta, y, ldy, msg, sizeof(msg)) == 0);
				CHECK(check_product(w, layout == 0, N, K, b ? 1.0f : 0.125f, x, ldx, M, beta, y0,
									y, ldy) < 1e-5);
				free(w);
				free(x);
				free(y0);
				free(y);
			}
}

static void
weight_cache(const sm_device_api *api)
{
	const int	N = 512,
				K = 512,
				M = 4;
	size_t		wbytes = sizeof(float) * N * K;
	float	   *w = malloc(wbytes),
			   *x = malloc(sizeof(float) * M * K),
			   *y = malloc(sizeof(float) * M * N),
			   *y2 = malloc(sizeof(float) * M * N);
	char		msg[256];
	sm_device_stats st0,
				st;

	for (int i = 0; i < N * K; i++)
		w[i] = urand();
	for (int i = 0; i < M * K; i++)
		x[i] = urand();
	api->set_cache_bytes(3 * wbytes);
	api->stats(&st0);
	/* one upload per key, whatever the number of products */
	CHECK(api->matmul(1001, 7, w, N, K, false, x, K, M, 0.0f, y, N, msg, sizeof(msg)) == 0);
	CHECK(api->matmul(1001, 7, w, N, K, false, x, K, M, 0.0f, y2, N, msg, sizeof(msg)) == 0);
	api->stats(&st);
	CHECK(st.uploads == st0.uploads + 1);
	CHECK(memcmp(y, y2, sizeof(float) * M * N) == 0);
	/* a fourth weight in a budget of three evicts the least recently used */
	for (uint64_t k = 1002; k <= 1004; k++)
		CHECK(api->matmul(k, k == 1004 ? 8 : 7, w, N, K, false, x, K, M, 0.0f, y, N, msg,
						  sizeof(msg)) == 0);
	api->stats(&st);
	CHECK(st.evictions >= st0.evictions + 1);
	CHECK(st.cached_bytes <= 3 * wbytes);
	/* forget drops an owner's weights and no other's */
	api->forget(7);
	api->stats(&st);
	CHECK(st.cached_bytes == wbytes);
	api->forget(8);
	api->stats(&st);
	CHECK(st.cached_bytes == 0);
	/* a weight larger than the whole budget still runs (uploaded per product) */
	api->set_cache_bytes(wbytes / 2);
	CHECK(api->matmul(1005, 9, w, N, K, false, x, K, M, 0.0f, y2, N, msg, sizeof(msg)) == 0);
	CHECK(check_product(w, true, N, K, 1.0f, x, K, M, 0.0f, NULL, y2, N) < 1e-5);
	api->stats(&st);
	CHECK(st.cached_bytes == 0);
	api->set_cache_bytes((size_t) 1 << 30);
	free(w);
	free(x);
	free(y);
	free(y2);
}

/* tf32 and bf16: coarser than fp32, within their tolerances; owner_bytes */
static void
precisions(const sm_device_api *api)
{
	const int	N = 256,
				K = 512,
				M = 64;
	float	   *w = malloc(sizeof(float) * N * K),
			   *x = malloc(sizeof(float) * M * K),
			   *y = malloc(sizeof(float) * M * N);
	char		msg[256];
	double		e[3];

	for (int i = 0; i < N * K; i++)
		w[i] = urand();
	for (int i = 0; i < M * K; i++)
		x[i] = urand();
	for (int p = SM_DEVICE_FP32; p <= SM_DEVICE_BF16; p++)
	{
		CHECK(api->set_precision(p, msg, sizeof(msg)) == 0);
		CHECK(api->matmul(2001, 21, w, N, K, false, x, K, M, 0.0f, y, N, msg, sizeof(msg)) == 0);
		e[p] = check_product(w, true, N, K, 1.0f, x, K, M, 0.0f, NULL, y, N);
		printf("precision %d: normwise %.2g\n", p, e[p]);
	}
	CHECK(e[SM_DEVICE_FP32] < 1e-5);
	CHECK(e[SM_DEVICE_TF32] > e[SM_DEVICE_FP32] && e[SM_DEVICE_TF32] < 1e-3);
	CHECK(e[SM_DEVICE_BF16] > e[SM_DEVICE_TF32] && e[SM_DEVICE_BF16] < 1e-2);
	CHECK(api->set_precision(9, msg, sizeof(msg)) != 0 && strstr(msg, "not one of") != NULL);
	CHECK(api->set_precision(SM_DEVICE_FP32, msg, sizeof(msg)) == 0);
	CHECK(api->owner_bytes(21) == sizeof(float) * N * K && api->owner_bytes(22) == 0);
	api->forget(21);
	CHECK(api->owner_bytes(21) == 0);
	free(w);
	free(x);
	free(y);
}

/* a weight the device cannot hold: the message names the size and the free memory */
static void
out_of_memory(const sm_device_api *api)
{
	sm_device_stats st;
	char		msg[256];
	float		x = 1,
				y = 0;

	api->stats(&st);
	api->set_cache_bytes((size_t) -1 / 2);
	/* N K floats of more than the whole device: cudaMalloc fails before any copy reads w */
	CHECK(api->matmul(3001, 31, &x, (int) (st.total_bytes / 4 / 65536) + 1, 65536, false, &x, 65536, 1,
					  0.0f, &y, 1, msg, sizeof(msg)) != 0);
	printf("out of memory: %s\n", msg);
	CHECK(strstr(msg, "MB free of") != NULL);
	api->set_cache_bytes((size_t) 1 << 30);
}

int
main(void)
{
	const sm_device_api *api = seqmodel_device_api();
	char		msg[256] = "";
	char		desc[256];

	CHECK(api != NULL && api->abi == SM_DEVICE_ABI && strcmp(api->name, "cuda") == 0);
	if (api->open(msg, sizeof(msg)) != 0)
	{
		/* no GPU here: a clean refusal with a reason, and nothing else runs */
		printf("no CUDA device: %s (the products are tested on a machine with a GPU)\n", msg);
		CHECK(msg[0] != '\0');
		api->describe(desc, sizeof(desc));
		CHECK(strcmp(desc, "not opened") == 0);
	}
	else
	{
		api->describe(desc, sizeof(desc));
		printf("device: %s\n", desc);
		CHECK(api->open(msg, sizeof(msg)) == 0);	/* a second open is a no-op */
		products(api);
		weight_cache(api);
		precisions(api);
		out_of_memory(api);
		{
			sm_device_stats st;

			/* release gives the memory back; the device opens again */
			api->release();
			api->stats(&st);
			CHECK(st.cached_bytes == 0 && st.buffer_bytes == 0);
			api->describe(desc, sizeof(desc));
			CHECK(strcmp(desc, "not opened") == 0);
			CHECK(api->open(msg, sizeof(msg)) == 0);
			products(api);
			api->release();
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
