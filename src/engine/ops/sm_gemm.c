/*
 * sm_gemm.c -- packing and the kernel variants (see sm_gemm.h): the one
 * kernel source, sm_gemm_kernel.h, compiled for each instruction set with
 * `#pragma GCC target`, so the default build runs on any x86-64 and the
 * wider variants are only called where CPUID says they run.  FMA
 * contraction is on for this file (Makefile), so AVX2 and AVX-512 use fused
 * multiply-adds; the generic build on x86-64 has none (SSE2).
 *
 * Block shapes (accumulators in registers: AVX2 and SSE have 16 vector
 * registers, AVX-512 32):
 *   generic  (4 floats):  2 rows x 1 panel (8 accumulators), 1 row x 2 panels
 *   AVX2     (8 floats):  6 rows x 1 panel (12), 2 rows x 2 panels, 1 row x 4
 *   AVX-512 (16 floats):  8 rows x 2 panels (16), 2 rows x 4, 1 row x 8
 * The one- and two-row shapes keep eight independent chains in flight, so
 * batch-1 products (a per-row SQL call, decoding) are not bound by the
 * multiply-add latency.
 */
#include "sm_gemm.h"

#include <string.h>

#pragma GCC diagnostic ignored "-Wpsabi"

#define MR_MAX 8
#define NP_MAX 8

/*
 * A panel is K lines of 16 floats, padded to an odd number of lines.  The
 * one-row block (batch 1, decoding) reads 8 panels side by side, one line
 * of each per k: with an even stride, e.g. K = 64 (4 kB), all 8 lines of a
 * step fall in the same L1 set and evict each other's prefetched
 * successors; with an odd stride they fall in 8 different sets.  Measured
 * (2-core Zen 4, bench_rnn 1 W5_lstm_b1, ten runs of each build
 * alternated): median 0.42 -> 0.36 ms.  Costs one line per panel for even
 * K (1.6% at K = 64).  The pad line is zero and never read.
 */
size_t
sm_pack_stride(int K)
{
	size_t		lines = (size_t) (K > 0 ? K : 1);

	if (lines % 2 == 0)
		lines++;
	return lines * SM_PANEL;
}

size_t
sm_pack_floats(int N, int K)
{
	size_t		panels = (size_t) (N + SM_PANEL - 1) / SM_PANEL;

	return (panels ? panels : 1) * sm_pack_stride(K);
}

void
sm_pack_into(float *dst, const float *W, int ldw, int N, int K, bool in_major)
{
	const int	panels = (N + SM_PANEL - 1) / SM_PANEL;
	const size_t ps = sm_pack_stride(K);

	for (int p = 0; p < panels; p++)
	{
		float	   *d = dst + (size_t) p * ps;
		int			n0 = p * SM_PANEL;
		int			nc = N - n0 < SM_PANEL ? N - n0 : SM_PANEL;

		/* the pad past K (sm_pack_stride) */
		memset(d + (size_t) K * SM_PANEL, 0, sizeof(float) * (ps - (size_t) K * SM_PANEL));

		if (in_major)
			for (int k = 0; k < K; k++)
			{
				const float *src = W + (size_t) k * ldw + n0;
				float	   *o = d + (size_t) k * SM_PANEL;

				memcpy(o, src, sizeof(float) * (size_t) nc);
				if (nc < SM_PANEL)
					memset(o + nc, 0, sizeof(float) * (size_t) (SM_PANEL - nc));
			}
		else
		{
			for (int j = 0; j < nc; j++)
			{
				const float *src = W + (size_t) (n0 + j) * ldw;

				for (int k = 0; k < K; k++)
					d[(size_t) k * SM_PANEL + j] = src[k];
			}
			for (int j = nc; j < SM_PANEL; j++)
				for (int k = 0; k < K; k++)
					d[(size_t) k * SM_PANEL + j] = 0.0f;
		}
	}
}

void
sm_gemm_naive(const float *W, int ldw, bool in_major, int N, int K, const float *x, int ldx,
			  int M, float alpha, float beta, float *y, int ldy)
{
	for (int i = 0; i < M; i++)
		for (int n = 0; n < N; n++)
		{
			double		acc = 0;

			for (int k = 0; k < K; k++)
				acc += (double) x[(size_t) i * ldx + k] *
					(in_major ? W[(size_t) k * ldw + n] : W[(size_t) n * ldw + k]);
			acc *= alpha;
			if (beta != 0.0f)
				acc += (double) beta * y[(size_t) i * ldy + n];
			y[(size_t) i * ldy + n] = (float) acc;
		}
}

/* ---------------------------------------------------------------- variants */

/* generic: 4-float vectors (SSE2 on x86-64, whatever GCC has elsewhere) */
#define VW 4
#define KNAME(x) x##_generic
#define MR_BIG 2
#define NP_BIG 1
#define NP_ONE 2
#define NP_TWO 1
#include "sm_gemm_kernel.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define SM_GEMM_X86 1

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define VW 8
#define KNAME(x) x##_avx2
#define MR_BIG 6
#define NP_BIG 1
#define NP_ONE 4
#define NP_TWO 2
#include "sm_gemm_kernel.h"
#pragma GCC pop_options

/*
 * The AVX-512 build's target; the unit tests compile this file once more
 * with "avx2,fma" here, so the 16-wide code (its block shapes and edges)
 * runs, as pairs of AVX2 registers, on a CPU without AVX-512 too.
 */
#ifndef SM_GEMM_AVX512_TARGET
#define SM_GEMM_AVX512_TARGET "avx512f,avx2,fma"
#endif
#define SM_PRAGMA(x) _Pragma(#x)
#define SM_TARGET(t) SM_PRAGMA(GCC target(t))

#pragma GCC push_options
SM_TARGET(SM_GEMM_AVX512_TARGET)
#define VW 16
#define KNAME(x) x##_avx512
#define MR_BIG 8
#define NP_BIG 2
#define NP_ONE 8
#define NP_TWO 4
#include "sm_gemm_kernel.h"
#pragma GCC pop_options
#endif

/* the variant's kernel: the product, with a second operand pair (s2) or an epilogue (epi) */
static void
run_variant(sm_kernels kind, const float *P, size_t pstride, int N, int K, const float *x,
			int ldx, const sm_gemm_seg *s2, int m0, int m1, float alpha, float beta, float *y,
			int ldy, const sm_gemm_epi *epi)
{
	switch (kind)
	{
#ifdef SM_GEMM_X86
		case SM_KERNELS_AVX512:
			sm_gemm_packed_avx512(P, pstride, N, K, x, ldx, s2, m0, m1, alpha, beta, y, ldy, epi);
			return;
		case SM_KERNELS_AVX2:
			sm_gemm_packed_avx2(P, pstride, N, K, x, ldx, s2, m0, m1, alpha, beta, y, ldy, epi);
			return;
#endif
		default:
			sm_gemm_packed_generic(P, pstride, N, K, x, ldx, s2, m0, m1, alpha, beta, y, ldy, epi);
			return;
	}
}

void
sm_gemm_packed_epi(sm_kernels kind, const float *P, size_t pstride, int N, int K, const float *x,
				   int ldx, int m0, int m1, float alpha, float beta, float *y, int ldy,
				   const sm_gemm_epi *epi)
{
	if (m1 <= m0 || N <= 0)
		return;
	if (K <= 0)
	{
		/* an empty sum: y = beta * y */
		for (int i = m0; i < m1; i++)
			for (int n = 0; n < N; n++)
				y[(size_t) i * ldy + n] = beta != 0.0f ? y[(size_t) i * ldy + n] : 0.0f;
		if (epi)
			sm_bias_act_ld(y + (size_t) m0 * ldy, (size_t) ldy, epi->bias, (size_t) (m1 - m0), N,
						   epi->act);
		return;
	}
	run_variant(kind, P, pstride, N, K, x, ldx, NULL, m0, m1, alpha, beta, y, ldy, epi);
}

void
sm_gemm_packed2(sm_kernels kind, const float *P, size_t pstride, int N, int K, const float *x,
				int ldx, const sm_gemm_seg *s2, int m0, int m1, float *y, int ldy)
{
	if (m1 <= m0 || N <= 0)
		return;
	/* longer than one pass (or an empty part): the two products, same bits */
	if (K <= 0 || s2->K <= 0 || K + s2->K > SM_GEMM_KC)
	{
		sm_gemm_packed(kind, P, pstride, N, K, x, ldx, m0, m1, 1.0f, 0.0f, y, ldy);
		sm_gemm_packed(kind, s2->P, s2->pstride, N, s2->K, s2->x, s2->ldx, m0, m1, 1.0f, 1.0f, y, ldy);
		return;
	}
	run_variant(kind, P, pstride, N, K, x, ldx, s2, m0, m1, 1.0f, 0.0f, y, ldy, NULL);
}

void
sm_gemm_packed(sm_kernels kind, const float *P, size_t pstride, int N, int K, const float *x,
			   int ldx, int m0, int m1, float alpha, float beta, float *y, int ldy)
{
	sm_gemm_packed_epi(kind, P, pstride, N, K, x, ldx, m0, m1, alpha, beta, y, ldy, NULL);
}
