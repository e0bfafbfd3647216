/*
 * test_gemm_avx512.c -- the AVX-512 kernels' logic on any AVX2 machine:
 * ops/sm_gemm.c compiled once more with its AVX-512 part targeted at
 * AVX2 + FMA (GCC then runs each 16-float vector as two AVX2 ones), under
 * other names.  The block shapes, edges and K/M chunking are the AVX-512
 * build's; only the instruction encoding differs.  It must match the naive
 * reference and give the AVX2 kernels' bits (both sum with FMA in the same
 * order).  On an AVX-512 CPU test_gemm.c runs the real build as well.
 */
#define SM_GEMM_AVX512_TARGET "avx2,fma"
#define sm_gemm_packed emu_gemm_packed
#define sm_gemm_packed2 emu_gemm_packed2
#define sm_gemm_packed_epi emu_gemm_packed_epi
#define sm_pack_into emu_pack_into
#define sm_pack_floats emu_pack_floats
#define sm_pack_stride emu_pack_stride
#define sm_gemm_naive emu_gemm_naive
#include "../../src/engine/ops/sm_gemm.c"
#undef sm_gemm_packed
#undef sm_gemm_packed2
#undef sm_gemm_packed_epi
#undef sm_pack_into
#undef sm_pack_floats
#undef sm_pack_stride
#undef sm_gemm_naive

#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"
#include "ops/sm_cpu.h"

void
test_gemm_avx512(void)
{
	static const int sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 257, 600};
	const int	n = sizeof(sizes) / sizeof(sizes[0]);
	unsigned	seed = 777;
	int			bad = 0,
				same = 0,
				shapes = 0;
	double		worst = 0;

	if (!sm_cpu()->avx2_fma)
	{
		printf("gemm avx512 (emulated on AVX2): skipped, this CPU has no AVX2 + FMA\n");
		return;
	}
	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++)
			for (int c = 0; c < n; c += 3)
			{
				int			M = sizes[a],
							N = sizes[b],
							K = sizes[c] + (a == n - 1 ? 600 : 0);	/* K past one 512 chunk */
				bool		in_major = ((a + b) & 1) != 0;
				float		beta = (b & 1) ? 1.0f : 0.0f;
				int			ldw = in_major ? N : K,
							ldy = N + (a % 3);
				float	   *W = malloc(sizeof(float) * (size_t) N * K),
						   *x = malloc(sizeof(float) * (size_t) M * K),
						   *y0 = malloc(sizeof(float) * (size_t) M * ldy),
						   *ref = malloc(sizeof(float) * (size_t) M * ldy),
						   *ye = malloc(sizeof(float) * (size_t) M * ldy),
						   *ya = malloc(sizeof(float) * (size_t) M * ldy),
						   *P = aligned_alloc(64, sizeof(float) * emu_pack_floats(N, K));
				double		md;

				sm_test_fill(W, (size_t) N * K, &seed);
				sm_test_fill(x, (size_t) M * K, &seed);
				sm_test_fill(y0, (size_t) M * ldy, &seed);
				memcpy(ref, y0, sizeof(float) * (size_t) M * ldy);
				memcpy(ye, y0, sizeof(float) * (size_t) M * ldy);
				memcpy(ya, y0, sizeof(float) * (size_t) M * ldy);
				emu_gemm_naive(W, ldw, in_major, N, K, x, K, M, 1.0f, beta, ref, ldy);
				emu_pack_into(P, W, ldw, N, K, in_major);
				emu_gemm_packed(SM_KERNELS_AVX512, P, emu_pack_stride(K), N, K, x, K, 0, M, 1.0f, beta, ye, ldy);
				emu_gemm_packed(SM_KERNELS_AVX2, P, emu_pack_stride(K), N, K, x, K, 0, M, 1.0f, beta, ya, ldy);
				md = sm_test_normwise(ye, ref, M, N, ldy);
				/* the columns past N (the stride's padding) are never written */
				for (int i = 0; i < M; i++)
					for (int j = N; j < ldy; j++)
						if (ye[(size_t) i * ldy + j] != y0[(size_t) i * ldy + j])
							md = INFINITY;
				if (md > worst)
					worst = md;
				shapes++;
				if (md > 2e-7 * sqrt((double) K))
				{
					bad++;
					fprintf(stderr, "gemm avx512 (emulated) M %d N %d K %d: normwise %.2e\n", M, N, K, md);
				}
				same += memcmp(ye, ya, sizeof(float) * (size_t) M * ldy) == 0;
				free(W);
				free(x);
				free(y0);
				free(ref);
				free(ye);
				free(ya);
				free(P);
			}
	CHECK_MSG(bad == 0, "%d of %d shapes differ from the naive reference", bad, shapes);
	CHECK_MSG(same == shapes, "%d of %d shapes differ from the avx2 kernels' bits", shapes - same, shapes);

	/* two operand pairs in one pass (emu_gemm_packed2): the bits of the two products */
	{
		static const int two[][4] = {{1, 256, 1, 64}, {2, 300, 64, 64}, {9, 33, 7, 100}, {17, 256, 65, 64},
		{64, 17, 300, 212}, {100, 64, 600, 5}};
		int			two_same = 0;

		for (size_t t = 0; t < sizeof(two) / sizeof(two[0]); t++)
		{
			int			M = two[t][0],
						N = two[t][1],
						K1 = two[t][2],
						K2 = two[t][3];
			float	   *W1 = malloc(sizeof(float) * (size_t) N * K1),
					   *W2 = malloc(sizeof(float) * (size_t) N * K2),
					   *x1 = malloc(sizeof(float) * (size_t) M * K1),
					   *x2 = malloc(sizeof(float) * (size_t) M * K2),
					   *ya = malloc(sizeof(float) * (size_t) M * N),
					   *yb = malloc(sizeof(float) * (size_t) M * N),
					   *P1 = aligned_alloc(64, sizeof(float) * emu_pack_floats(N, K1)),
					   *P2 = aligned_alloc(64, sizeof(float) * emu_pack_floats(N, K2));
			sm_gemm_seg s2 = {P2, emu_pack_stride(K2), K2, x2, K2};

			sm_test_fill(W1, (size_t) N * K1, &seed);
			sm_test_fill(W2, (size_t) N * K2, &seed);
			sm_test_fill(x1, (size_t) M * K1, &seed);
			sm_test_fill(x2, (size_t) M * K2, &seed);
			emu_pack_into(P1, W1, K1, N, K1, false);
			emu_pack_into(P2, W2, K2, N, K2, false);
			emu_gemm_packed2(SM_KERNELS_AVX512, P1, emu_pack_stride(K1), N, K1, x1, K1, &s2, 0, M, ya, N);
			emu_gemm_packed(SM_KERNELS_AVX512, P1, emu_pack_stride(K1), N, K1, x1, K1, 0, M, 1.0f, 0.0f, yb, N);
			emu_gemm_packed(SM_KERNELS_AVX512, P2, emu_pack_stride(K2), N, K2, x2, K2, 0, M, 1.0f, 1.0f, yb, N);
			two_same += memcmp(ya, yb, sizeof(float) * (size_t) M * N) == 0;
			free(W1);
			free(W2);
			free(x1);
			free(x2);
			free(ya);
			free(yb);
			free(P1);
			free(P2);
		}
		CHECK_MSG(two_same == (int) (sizeof(two) / sizeof(two[0])), "%d two-pair products differ from the two products",
				  (int) (sizeof(two) / sizeof(two[0])) - two_same);
	}
	printf("gemm avx512 (emulated on AVX2): %d shapes, largest normwise difference %.2e, %d bit-identical to avx2\n",
		   shapes, worst, same);
}
