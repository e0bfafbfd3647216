/*
 * test_gemm.c -- the compute seam's products against the naive reference:
 * every kernel variant this CPU runs, over shapes that hit every edge of
 * the blocking (1, primes, 7/8/15/16/17, 64, 257, 1000+ rows, columns and
 * inputs), both weight layouts, strides wider than the matrices, beta 0
 * and 1, alpha; the packing itself; the kernel-set choice and its errors.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"
#include "ops/sm_cpu.h"
#include "ops/sm_ops.h"
#include "ops/sm_pool.h"

static double worst_err = 0;	/* the largest normwise error seen */

static const sm_kernels variants[] = {SM_KERNELS_GENERIC, SM_KERNELS_AVX2, SM_KERNELS_AVX512};

/* normwise: max |y - ref| / max(max |ref|, 1e-30) over M rows of N (stride ld) */
double
sm_test_normwise(const float *y, const float *ref, int M, int N, int ld)
{
	double		md = 0,
				mr = 0;

	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
		{
			double		d = fabs((double) y[(size_t) i * ld + j] - ref[(size_t) i * ld + j]);

			if (d > md || isnan(d))
				md = isnan(d) ? INFINITY : d;
			if (fabs(ref[(size_t) i * ld + j]) > mr)
				mr = fabs(ref[(size_t) i * ld + j]);
		}
	return md / (mr > 1e-30 ? mr : 1e-30);
}

/* one shape through every variant; returns false on a mismatch */
static bool
check_shape(int M, int N, int K, bool in_major, float alpha, float beta, int pad, unsigned *seed)
{
	int			ldw = (in_major ? N : K) + pad,
				ldx = K + pad,
				ldy = N + pad;
	size_t		wn = (size_t) (in_major ? K : N) * ldw;
	float	   *W = malloc(sizeof(float) * (wn ? wn : 1));
	float	   *x = malloc(sizeof(float) * (size_t) M * ldx + 1);
	float	   *y0 = malloc(sizeof(float) * (size_t) M * ldy + 1);
	float	   *ref = malloc(sizeof(float) * (size_t) M * ldy + 1);
	float	   *y = malloc(sizeof(float) * (size_t) M * ldy + 1);
	float	   *P = aligned_alloc(64, sizeof(float) * sm_pack_floats(N, K));
	float	   *first = malloc(sizeof(float) * (size_t) M * ldy + 1);
	bool		ok = true;
	bool		have_first = false;

	sm_test_fill(W, wn, seed);
	sm_test_fill(x, (size_t) M * ldx, seed);
	sm_test_fill(y0, (size_t) M * ldy, seed);
	memcpy(ref, y0, sizeof(float) * (size_t) M * ldy);
	sm_gemm_naive(W, ldw, in_major, N, K, x, ldx, M, alpha, beta, ref, ldy);
	sm_pack_into(P, W, ldw, N, K, in_major);

	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
	{
		double		e;
		bool		pad_intact = true;

		if (!sm_kernels_supported(variants[v]))
			continue;
		memcpy(y, y0, sizeof(float) * (size_t) M * ldy);
		sm_gemm_packed(variants[v], P, sm_pack_stride(K), N, K, x, ldx, 0, M, alpha, beta, y, ldy);
		e = sm_test_normwise(y, ref, M, N, ldy);
		/* the columns past N (the stride's padding) are never written */
		for (int i = 0; i < M; i++)
			for (int j = N; j < ldy; j++)
				if (y[(size_t) i * ldy + j] != y0[(size_t) i * ldy + j])
					pad_intact = false;
		if (e > worst_err)
			worst_err = e;
		/* float32 sums of K terms: rounding grows about as sqrt(K) (1e-6 at K = 25) */
		if (e > 2e-7 * sqrt((double) K) || !pad_intact)
		{
			fprintf(stderr, "gemm %s M %d N %d K %d in_major %d alpha %g beta %g pad %d: normwise %.2e%s\n",
					sm_kernels_name(variants[v]), M, N, K, in_major, alpha, beta, pad, e,
					pad_intact ? "" : ", wrote past N");
			ok = false;
		}
		/* the FMA variants (AVX2, AVX-512) give the same bits */
		if (variants[v] != SM_KERNELS_GENERIC)
		{
			if (have_first && memcmp(first, y, sizeof(float) * (size_t) M * ldy) != 0)
			{
				fprintf(stderr, "gemm %s differs from avx2 bit for bit (M %d N %d K %d)\n",
						sm_kernels_name(variants[v]), M, N, K);
				ok = false;
			}
			memcpy(first, y, sizeof(float) * (size_t) M * ldy);
			have_first = true;
		}
	}
	free(W);
	free(x);
	free(y0);
	free(ref);
	free(y);
	free(P);
	free(first);
	return ok;
}

/* rows computed in pieces equal rows computed at once, bit for bit (threads split by rows) */
static bool
check_row_split(unsigned *seed)
{
	const int	M = 203,
				N = 77,
				K = 300;
	float	   *W = malloc(sizeof(float) * N * K),
			   *x = malloc(sizeof(float) * M * K),
			   *a = malloc(sizeof(float) * M * N),
			   *b = malloc(sizeof(float) * M * N),
			   *P = aligned_alloc(64, sizeof(float) * sm_pack_floats(N, K));
	bool		ok = true;

	for (int i = 0; i < N * K; i++)
		W[i] = (float) sm_test_urand(seed);
	for (int i = 0; i < M * K; i++)
		x[i] = (float) sm_test_urand(seed);
	sm_pack_into(P, W, K, N, K, false);
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
	{
		if (!sm_kernels_supported(variants[v]))
			continue;
		sm_gemm_packed(variants[v], P, sm_pack_stride(K), N, K, x, K, 0, M, 1.0f, 0.0f, a, N);
		/* rows one at a time, then uneven pieces */
		for (int i = 0; i < M; i++)
			sm_gemm_packed(variants[v], P, sm_pack_stride(K), N, K, x, K, i, i + 1, 1.0f, 0.0f, b, N);
		ok &= memcmp(a, b, sizeof(float) * M * N) == 0;
		sm_gemm_packed(variants[v], P, sm_pack_stride(K), N, K, x, K, 0, 2, 1.0f, 0.0f, b, N);
		sm_gemm_packed(variants[v], P, sm_pack_stride(K), N, K, x, K, 2, 101, 1.0f, 0.0f, b, N);
		sm_gemm_packed(variants[v], P, sm_pack_stride(K), N, K, x, K, 101, M, 1.0f, 0.0f, b, N);
		ok &= memcmp(a, b, sizeof(float) * M * N) == 0;
	}
	free(W);
	free(x);
	free(a);
	free(b);
	free(P);
	return ok;
}

/* the pool: every item once, on any thread count */
static void
mark_item(void *ctx, int i)
{
	__atomic_fetch_add(&((int *) ctx)[i], 1, __ATOMIC_RELAXED);
}

/* products through the seam on 1, 2 and 3 threads: the same bits (rows or panels split) */
static bool
check_threads(int M, int N, int K, unsigned *seed)
{
	float	   *W = malloc(sizeof(float) * (size_t) N * K),
			   *x = malloc(sizeof(float) * (size_t) M * K),
			   *a = malloc(sizeof(float) * (size_t) M * N),
			   *b = malloc(sizeof(float) * (size_t) M * N);
	sm_packed	p;
	sm_error	err;
	bool		ok = true;

	sm_test_fill(W, (size_t) N * K, seed);
	sm_test_fill(x, (size_t) M * K, seed);
	if (sm_packed_init(&p, W, N, K, false, &err) != SM_OK)
		return false;
	sm_set_threads(1);
	sm_op_matmul(&p, x, K, M, 0.0f, a, N);
	for (int t = 2; t <= 3; t++)
	{
		sm_set_threads(t);
		memset(b, 0, sizeof(float) * (size_t) M * N);
		sm_op_matmul(&p, x, K, M, 0.0f, b, N);
		ok &= memcmp(a, b, sizeof(float) * (size_t) M * N) == 0;
	}
	sm_set_threads(1);
	sm_packed_free(&p);
	free(W);
	free(x);
	free(a);
	free(b);
	return ok;
}

/*
 * The fused epilogue (sm_gemm_packed_epi, sm_op_matmul_act): the bits of the
 * product followed by sm_bias_act, for every variant, activation, a bias or
 * none, row ranges, a stride wider than N, several K chunks, and through the
 * seam on 1 to 3 threads (rows and panels split) and on the blas kernels.
 */
static bool
check_epilogue(int M, int N, int K, int pad, unsigned *seed)
{
	static const sm_act acts[] = {SM_ACT_RELU, SM_ACT_GELU, SM_ACT_GELU_TANH, SM_ACT_TANH,
	SM_ACT_IDENTITY, SM_ACT_SILU};
	const int	ldy = N + pad;
	float	   *W = malloc(sizeof(float) * (size_t) N * K),
			   *x = malloc(sizeof(float) * (size_t) M * K),
			   *bias = malloc(sizeof(float) * (size_t) N),
			   *a = malloc(sizeof(float) * (size_t) M * ldy),
			   *b = malloc(sizeof(float) * (size_t) M * ldy),
			   *P = aligned_alloc(64, sizeof(float) * sm_pack_floats(N, K));
	sm_packed	pk;
	sm_error	err;
	bool		ok = true;

	for (size_t i = 0; i < (size_t) N * K; i++)
		W[i] = (float) sm_test_urand(seed) * 0.2f;
	sm_test_fill(x, (size_t) M * K, seed);
	for (int i = 0; i < N; i++)
		bias[i] = (float) sm_test_urand(seed);
	sm_pack_into(P, W, K, N, K, false);
	if (sm_packed_init(&pk, W, N, K, false, &err) != SM_OK)
		return false;
	for (size_t ai = 0; ai < sizeof(acts) / sizeof(acts[0]); ai++)
		for (int with_bias = 0; with_bias < 2; with_bias++)
		{
			sm_gemm_epi epi = {.bias = with_bias ? bias : NULL, .act = acts[ai]};

			for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
			{
				if (!sm_kernels_supported(variants[v]))
					continue;
				sm_activ_use(variants[v] == SM_KERNELS_AVX512 ? SM_ACTIV_AVX512 :
							 variants[v] == SM_KERNELS_AVX2 ? SM_ACTIV_FMA : SM_ACTIV_BASE);
				memset(a, 0, sizeof(float) * (size_t) M * ldy);
				memset(b, 0, sizeof(float) * (size_t) M * ldy);
				sm_gemm_packed(variants[v], P, sm_pack_stride(K), N, K, x, K, 0, M, 1.0f, 0.0f, a, ldy);
				sm_bias_act_ld(a, (size_t) ldy, epi.bias, (size_t) M, N, epi.act);
				/* in two row ranges, so a range's epilogue starts mid-matrix */
				sm_gemm_packed_epi(variants[v], P, sm_pack_stride(K), N, K, x, K, 0, M / 3, 1.0f, 0.0f,
								   b, ldy, &epi);
				sm_gemm_packed_epi(variants[v], P, sm_pack_stride(K), N, K, x, K, M / 3, M, 1.0f, 0.0f,
								   b, ldy, &epi);
				if (memcmp(a, b, sizeof(float) * (size_t) M * ldy) != 0)
				{
					printf("epilogue: %d x %d x %d, variant %d, act %d, bias %d: differs\n",
						   M, N, K, (int) variants[v], (int) epi.act, with_bias);
					ok = false;
				}
			}
			/* through the seam: every kernel set this CPU runs, 1 to 3 threads */
			for (int ks = 0; ks < 4; ks++)
			{
				static const char *const sets[] = {"generic", "avx2", "avx512", "blas"};

				if (sm_ops_set_kernels(sets[ks], &err) != SM_OK)
					continue;
				for (int t = 1; t <= 3; t++)
				{
					/* the reference on as many threads (OpenBLAS's bits may change with them) */
					sm_set_threads(t);
					memset(a, 0, sizeof(float) * (size_t) M * ldy);
					sm_op_matmul(&pk, x, K, M, 0.0f, a, ldy);
					sm_bias_act_ld(a, (size_t) ldy, epi.bias, (size_t) M, N, epi.act);
					memset(b, 0, sizeof(float) * (size_t) M * ldy);
					sm_op_matmul_act(&pk, x, K, M, b, ldy, epi.bias, epi.act);
					if (memcmp(a, b, sizeof(float) * (size_t) M * ldy) != 0)
					{
						printf("epilogue: %d x %d x %d, %s kernels, %d threads, act %d, bias %d: differs\n",
							   M, N, K, sets[ks], t, (int) epi.act, with_bias);
						ok = false;
					}
				}
			}
			sm_set_threads(1);
			(void) sm_ops_set_kernels("auto", &err);
		}
	sm_packed_free(&pk);
	free(W);
	free(x);
	free(bias);
	free(a);
	free(b);
	free(P);
	return ok;
}

/*
 * Two operand pairs in one product (sm_gemm_packed2): y = x1 W1^T + x2 W2^T
 * must have the bits of the two products (beta 0, then beta 1) in every
 * variant, also over a range of rows, with strides wider than the
 * matrices, and when K1 + K2 needs more than one pass (the fallback).
 */
static bool
check_two(int M, int N, int K1, int K2, int pad, unsigned *seed)
{
	int			ld1 = K1 + pad,
				ld2 = K2 + 2 * pad,
				ldy = N + pad;
	size_t		ny = (size_t) M * ldy;
	float	   *W1 = malloc(sizeof(float) * (size_t) N * K1),
			   *W2 = malloc(sizeof(float) * (size_t) N * K2),
			   *x1 = malloc(sizeof(float) * (size_t) M * ld1),
			   *x2 = malloc(sizeof(float) * (size_t) M * ld2),
			   *ref = malloc(sizeof(float) * ny),
			   *a = malloc(sizeof(float) * ny),
			   *b = malloc(sizeof(float) * ny),
			   *P1 = aligned_alloc(64, sizeof(float) * sm_pack_floats(N, K1)),
			   *P2 = aligned_alloc(64, sizeof(float) * sm_pack_floats(N, K2));
	bool		ok = true;

	sm_test_fill(W1, (size_t) N * K1, seed);
	sm_test_fill(W2, (size_t) N * K2, seed);
	sm_test_fill(x1, (size_t) M * ld1, seed);
	sm_test_fill(x2, (size_t) M * ld2, seed);
	sm_pack_into(P1, W1, K1, N, K1, false);
	sm_pack_into(P2, W2, K2, N, K2, false);
	for (size_t i = 0; i < ny; i++)
		ref[i] = -7.0f;
	sm_gemm_naive(W1, K1, false, N, K1, x1, ld1, M, 1.0f, 0.0f, ref, ldy);
	sm_gemm_naive(W2, K2, false, N, K2, x2, ld2, M, 1.0f, 1.0f, ref, ldy);
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
	{
		sm_gemm_seg s2 = {P2, sm_pack_stride(K2), K2, x2, ld2};
		int			split = M / 3;
		double		e;

		if (!sm_kernels_supported(variants[v]))
			continue;
		for (size_t i = 0; i < ny; i++)
			a[i] = b[i] = -7.0f;	/* the padding must stay */
		sm_gemm_packed2(variants[v], P1, sm_pack_stride(K1), N, K1, x1, ld1, &s2, 0, split, a, ldy);
		sm_gemm_packed2(variants[v], P1, sm_pack_stride(K1), N, K1, x1, ld1, &s2, split, M, a, ldy);
		sm_gemm_packed(variants[v], P1, sm_pack_stride(K1), N, K1, x1, ld1, 0, M, 1.0f, 0.0f, b, ldy);
		sm_gemm_packed(variants[v], P2, sm_pack_stride(K2), N, K2, x2, ld2, 0, M, 1.0f, 1.0f, b, ldy);
		e = sm_test_normwise(a, ref, M, ldy, ldy);
		if (memcmp(a, b, sizeof(float) * ny) != 0 || e > 2e-7 * sqrt((double) (K1 + K2)))
		{
			fprintf(stderr, "gemm two pairs %s M %d N %d K %d + %d: %s, normwise %.2e\n",
					sm_kernels_name(variants[v]), M, N, K1, K2,
					memcmp(a, b, sizeof(float) * ny) ? "bits differ from the two products" : "inexact", e);
			ok = false;
		}
		if (e > worst_err)
			worst_err = e;
	}
	free(W1);
	free(W2);
	free(x1);
	free(x2);
	free(ref);
	free(a);
	free(b);
	free(P1);
	free(P2);
	return ok;
}

/*
 * sm_op_matmul2 through the seam: the bits of sm_op_matmul then sm_op_matmul
 * with beta 1, on every kernel set this CPU runs (blas: the two products
 * themselves) and on 1, 2 and 3 threads (the split by rows or panels): our
 * kernels' bits do not change with the thread count.
 */
static bool
check_matmul2(int M, int N, int K1, int K2, unsigned *seed)
{
	static const char *const sets[] = {"generic", "avx2", "avx512", "blas"};
	float	   *W1 = malloc(sizeof(float) * (size_t) N * K1),
			   *W2 = malloc(sizeof(float) * (size_t) N * K2),
			   *x1 = malloc(sizeof(float) * (size_t) M * K1),
			   *x2 = malloc(sizeof(float) * (size_t) M * K2),
			   *a = malloc(sizeof(float) * (size_t) M * N),
			   *b = malloc(sizeof(float) * (size_t) M * N);
	sm_packed	p1,
				p2;
	sm_error	err;
	bool		ok = true;

	sm_test_fill(W1, (size_t) N * K1, seed);
	sm_test_fill(W2, (size_t) N * K2, seed);
	sm_test_fill(x1, (size_t) M * K1, seed);
	sm_test_fill(x2, (size_t) M * K2, seed);
	if (sm_packed_init(&p1, W1, N, K1, false, &err) != SM_OK ||
		sm_packed_init(&p2, W2, N, K2, false, &err) != SM_OK)
		return false;
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
	{
		if (sm_ops_set_kernels(sets[s], &err) != SM_OK)
			continue;			/* not on this CPU */
		for (int t = 1; t <= 3; t++)
		{
			sm_set_threads(t);
			memset(a, 0, sizeof(float) * (size_t) M * N);
			sm_op_matmul2(&p1, x1, K1, &p2, x2, K2, M, a, N);
			/* OpenBLAS's bits change with its thread count: the blas set on the same count */
			sm_set_threads(strcmp(sets[s], "blas") == 0 ? t : 1);
			sm_op_matmul(&p1, x1, K1, M, 0.0f, b, N);
			sm_op_matmul(&p2, x2, K2, M, 1.0f, b, N);
			if (memcmp(a, b, sizeof(float) * (size_t) M * N) != 0)
			{
				fprintf(stderr, "matmul2 %s, %d threads, M %d N %d K %d + %d: bits differ\n",
						sets[s], t, M, N, K1, K2);
				ok = false;
			}
		}
	}
	(void) sm_ops_set_kernels("auto", &err);
	sm_set_threads(1);
	sm_packed_free(&p1);
	sm_packed_free(&p2);
	free(W1);
	free(W2);
	free(x1);
	free(x2);
	free(a);
	free(b);
	return ok;
}

void
test_gemm(void)
{
	static const int sizes[] = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 64, 97, 257};
	const int	n = sizeof(sizes) / sizeof(sizes[0]);
	unsigned	seed = 12345;
	int			bad = 0,
				shapes = 0;
	sm_error	err;
	char		feats[256];

	sm_cpu_feature_list(feats, sizeof(feats));
	printf("gemm: CPU features: %s; variants run:%s%s%s\n", feats,
		   " generic", sm_kernels_supported(SM_KERNELS_AVX2) ? " avx2" : "",
		   sm_kernels_supported(SM_KERNELS_AVX512) ? " avx512" : "");

	/* every M x N x K of the edge sizes, both layouts */
	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++)
			for (int c = 0; c < n; c += 2)
			{
				bool		in_major = ((a + b + c) & 1) != 0;

				shapes++;
				if (!check_shape(sizes[a], sizes[b], sizes[c], in_major, 1.0f, (a & 1) ? 1.0f : 0.0f,
								 (b % 3 == 0) ? 3 : 0, &seed))
					bad++;
			}
	CHECK_MSG(bad == 0, "%d of %d shapes differ from the naive reference", bad, shapes);

	/* long K (several KC chunks), large M (several MC blocks), wide N, alpha */
	CHECK(check_shape(1000, 40, 1030, false, 1.0f, 1.0f, 0, &seed));
	CHECK(check_shape(130, 1001, 513, true, 1.0f, 0.0f, 5, &seed));
	CHECK(check_shape(257, 129, 64, false, 0.125f, 0.0f, 1, &seed));
	CHECK(check_shape(1, 5000, 300, false, 1.0f, 0.0f, 0, &seed));
	CHECK(check_shape(2, 1000, 1, true, 1.0f, 1.0f, 2, &seed));
	CHECK(check_row_split(&seed));
	printf("gemm: %d shapes, largest normwise difference from the naive reference %.2e\n",
		   shapes + 5, worst_err);

	/* threads inside one product: wide (split by panels) and narrow (split by rows) */
	{
		int			items[1000] = {0};
		bool		once = true;

		for (int t = 1; t <= 4; t++)
			sm_pool_run(t, 1000, mark_item, items);
		for (int i = 0; i < 1000; i++)
			once &= items[i] == 4;
		CHECK(once);
		CHECK(check_threads(300, 1000, 64, &seed));
		CHECK(check_threads(5000, 17, 100, &seed));
		CHECK(check_threads(3, 20000, 64, &seed));
	}

	/* two operand pairs in one product (a recurrent step's input and state parts) */
	{
		static const int ms[] = {1, 2, 3, 7, 16, 17, 64, 65, 257};
		static const int ns[] = {1, 15, 16, 17, 64, 256, 300};
		static const int ks[][2] = {{1, 64}, {7, 16}, {64, 64}, {1, 1}, {300, 212}, {64, 449}, {300, 300}, {600, 5}};
		int			bad2 = 0,
					n2 = 0;

		for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
			for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++)
				for (size_t k = (i + j) % 2; k < sizeof(ks) / sizeof(ks[0]); k += 2)
				{
					n2++;
					if (!check_two(ms[i], ns[j], ks[k][0], ks[k][1], (int) ((i + k) % 3), &seed))
						bad2++;
				}
		CHECK_MSG(bad2 == 0, "%d of %d two-pair products differ from the two products", bad2, n2);
		printf("gemm: %d two-pair products, the bits of the two products\n", n2);
		CHECK(check_matmul2(300, 1000, 64, 64, &seed));	/* split by panels */
		CHECK(check_matmul2(5000, 17, 1, 100, &seed));	/* split by rows */
		CHECK(check_matmul2(256, 256, 65, 64, &seed));
		CHECK(check_matmul2(3, 256, 700, 64, &seed));	/* past one pass */
	}

	/* the fused bias + activation epilogue */
	CHECK(check_epilogue(203, 77, 300, 0, &seed));
	CHECK(check_epilogue(130, 1001, 513, 7, &seed));
	CHECK(check_epilogue(1, 50, 17, 0, &seed));
	CHECK(check_epilogue(2, 3000, 64, 0, &seed));
	CHECK(check_epilogue(5, 16, 1, 3, &seed));

	/* packing: zero past N, the same for both layouts */
	{
		float		W[3 * 5],
					Wt[5 * 3];
		float	   *P = aligned_alloc(64, sizeof(float) * sm_pack_floats(3, 5)),
				   *Q = aligned_alloc(64, sizeof(float) * sm_pack_floats(3, 5));
		bool		zero = true;

		for (int i = 0; i < 15; i++)
			W[i] = (float) (i + 1);
		for (int r = 0; r < 3; r++)
			for (int k = 0; k < 5; k++)
				Wt[k * 3 + r] = W[r * 5 + k];
		sm_pack_into(P, W, 5, 3, 5, false);
		sm_pack_into(Q, Wt, 3, 3, 5, true);
		CHECK(memcmp(P, Q, sizeof(float) * sm_pack_floats(3, 5)) == 0);
		CHECK(P[0] == 1.0f && P[1] == 6.0f && P[2] == 11.0f && P[16] == 2.0f);
		for (int k = 0; k < 5; k++)
			for (int j = 3; j < SM_PANEL; j++)
				zero &= P[k * SM_PANEL + j] == 0.0f;
		CHECK(zero);
		free(P);
		free(Q);
	}

	/* the kernel-set choice */
	CHECK(sm_ops_set_kernels("generic", &err) == SM_OK && sm_ops_kernels() == SM_KERNELS_GENERIC);
	CHECK(sm_ops_set_kernels("blas", &err) == SM_OK && sm_ops_kernels() == SM_KERNELS_BLAS);
	CHECK(sm_ops_set_kernels("nonsense", &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "unknown CPU kernel set \"nonsense\"");
	if (!sm_kernels_supported(SM_KERNELS_AVX512))
	{
		CHECK(sm_ops_set_kernels("avx512", &err) == SM_ERR_UNSUPPORTED);
		CHECK_ERR(err, SM_ERR_UNSUPPORTED, "this CPU cannot run the avx512 kernels");
		CHECK(strstr(err.detail, "this CPU has:") != NULL);
	}
	else
		CHECK(sm_ops_set_kernels("avx512", &err) == SM_OK);
	CHECK(sm_ops_set_kernels("auto", &err) == SM_OK);
	CHECK(sm_ops_kernels() == (sm_kernels_supported(SM_KERNELS_AVX512) ? SM_KERNELS_AVX512
							   : sm_kernels_supported(SM_KERNELS_AVX2) ? SM_KERNELS_AVX2 : SM_KERNELS_GENERIC));
	{
		sm_ops_info info;

		sm_ops_describe(&info);
		CHECK(strcmp(info.backend, "cpu") == 0 && info.blas_core != NULL && info.cpu[0] != '\0');
		printf("gemm: CPU \"%s\", kernels %s, OpenBLAS core %s\n", info.cpu, info.kernels, info.blas_core);
	}
}
