/*
 * sm_gemm_kernel.h -- the matrix-product kernel, written once and compiled
 * once per instruction set: sm_gemm.c includes it with
 *
 *   VW             floats per vector (4: SSE2 or any GCC target, 8: AVX2+FMA,
 *                  16: AVX-512F), under a matching `#pragma GCC target`
 *   KNAME(x)       the variant's names (x_generic, x_avx2, x_avx512)
 *   MR_BIG, NP_BIG the large-batch block: MR_BIG rows x NP_BIG panels
 *   NP_ONE, NP_TWO panels per block when one or two rows remain
 *
 * and undefines them at its end, ready for the next variant.
 *
 * The operation: y[M, N] = alpha * x[M, K] W^T + beta * y with W packed in
 * panels of SM_PANEL (16) output columns, K-major inside a panel
 * (panel p, step k, column j at P[p * pstride + k * 16 + j]; see sm_gemm.h).
 * Each output element is one chain of multiply-adds over k = 0 .. K-1 in
 * order, whatever the block shape, row count or thread: so a row's result
 * does not depend on the batch it came in, and AVX2 and AVX-512 (both with
 * FMA) give the same bits.  Blocks: K in chunks of KC (the chain continues
 * from y, so the order is unchanged), M in chunks of MC rows (they stay in
 * L2 while every panel passes over them), one panel chunk (16 x KC floats)
 * in L1 while MR-row blocks of x stream past it.  An epilogue (bias +
 * activation, sm_gemm.h) runs on each MC-row x panel-chunk block as soon as
 * its last K chunk is done.
 */

#define NV (SM_PANEL / VW)		/* vectors per panel row */

/* a vector of copies of s (one broadcast load; `{0} + s` would add a 0) */
#if VW == 4
#define SPLAT(s) ((VEC) {s, s, s, s})
#elif VW == 8
#define SPLAT(s) ((VEC) {s, s, s, s, s, s, s, s})
#elif VW == 16
#define SPLAT(s) ((VEC) {s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s})
#endif

typedef float KNAME(vec) __attribute__((vector_size(VW * 4)));
typedef float KNAME(uvec) __attribute__((vector_size(VW * 4), aligned(4)));

#define VEC KNAME(vec)
#define UVEC KNAME(uvec)

/*
 * One block: R rows of x against NP panels, kc steps, into y (ldy) whose
 * NP * 16 columns all exist (the caller stages a partial last panel through
 * a buffer).  R and NP are constants of each generated function, so the
 * accumulators live in registers.  init: start from y (a later K chunk, or
 * beta = 1), else from zero.  last: apply alpha on the way out.
 */
#define UNROLL _Pragma("GCC unroll 16")
#define DEFINE_BLOCK(R, NP) \
static inline __attribute__((always_inline)) void \
KNAME(block_##R##_##NP) (const float *restrict x, int ldx, const float *restrict P, \
						 size_t pstride, int kc, const sm_gemm_seg *s2, float *restrict y, \
						 int ldy, bool init, bool last, float alpha) \
{ \
	VEC			acc[R][NP][NV]; \
	UNROLL for (int i = 0; i < R; i++) \
	UNROLL for (int p = 0; p < NP; p++) \
	UNROLL for (int v = 0; v < NV; v++) \
		acc[i][p][v] = init ? *(const UVEC *) (y + (size_t) i * ldy + p * SM_PANEL + v * VW) \
			: (VEC) {0}; \
	for (int k = 0; k < kc; k++) \
	{ \
		const float *pk = P + (size_t) k * SM_PANEL; \
		UNROLL for (int i = 0; i < R; i++) \
		{ \
			const float s = x[(size_t) i * ldx + k]; \
			VEC			a = SPLAT(s); \
			UNROLL for (int p = 0; p < NP; p++) \
			UNROLL for (int v = 0; v < NV; v++) \
				acc[i][p][v] += a * *(const VEC *) (pk + p * pstride + v * VW); \
		} \
	} \
	/* the second operand pair, its chain continuing from the first's */ \
	for (int k = 0; s2 && k < s2->K; k++) \
	{ \
		const float *pk = s2->P + (size_t) k * SM_PANEL; \
		UNROLL for (int i = 0; i < R; i++) \
		{ \
			const float s = s2->x[(size_t) i * s2->ldx + k]; \
			VEC			a = SPLAT(s); \
			UNROLL for (int p = 0; p < NP; p++) \
			UNROLL for (int v = 0; v < NV; v++) \
				acc[i][p][v] += a * *(const VEC *) (pk + p * s2->pstride + v * VW); \
		} \
	} \
	UNROLL for (int i = 0; i < R; i++) \
	UNROLL for (int p = 0; p < NP; p++) \
	UNROLL for (int v = 0; v < NV; v++) \
		*(UVEC *) (y + (size_t) i * ldy + p * SM_PANEL + v * VW) = \
			last && alpha != 1.0f ? acc[i][p][v] * alpha : acc[i][p][v]; \
}

DEFINE_BLOCK(1, 1)
DEFINE_BLOCK(2, 1)
DEFINE_BLOCK(1, NP_ONE)
DEFINE_BLOCK(2, NP_TWO)
#if MR_BIG >= 3
DEFINE_BLOCK(3, 1)
DEFINE_BLOCK(3, NP_BIG)
#endif
#if MR_BIG >= 4
DEFINE_BLOCK(4, 1)
DEFINE_BLOCK(4, NP_BIG)
#endif
#if MR_BIG >= 5
DEFINE_BLOCK(5, 1)
DEFINE_BLOCK(5, NP_BIG)
#endif
#if MR_BIG >= 6
DEFINE_BLOCK(6, 1)
DEFINE_BLOCK(6, NP_BIG)
#endif
#if MR_BIG >= 7
DEFINE_BLOCK(7, 1)
DEFINE_BLOCK(7, NP_BIG)
#endif
#if MR_BIG >= 8
DEFINE_BLOCK(8, 1)
DEFINE_BLOCK(8, NP_BIG)
#endif

/* mr rows against np panels with all np * 16 columns present in y */
static void
KNAME(full) (int mr, int np, const float *x, int ldx, const float *P, size_t pstride, int kc,
			 const sm_gemm_seg *s2, float *y, int ldy, bool init, bool last, float alpha)
{
	sm_gemm_seg s2p;			/* s2 at panel p (one panel at a time, below) */

#define CALL(R, N) KNAME(block_##R##_##N) (x, ldx, P, pstride, kc, s2, y, ldy, init, last, alpha)
#define CALL1(R) KNAME(block_##R##_1) (x, ldx, P + (size_t) p * pstride, pstride, kc, \
									   s2 ? &s2p : NULL, y + p * SM_PANEL, ldy, init, last, alpha)
	if (np == NP_BIG && mr >= 3)
		switch (mr)
		{
#if MR_BIG >= 3
			case 3: CALL(3, NP_BIG); return;
#endif
#if MR_BIG >= 4
			case 4: CALL(4, NP_BIG); return;
#endif
#if MR_BIG >= 5
			case 5: CALL(5, NP_BIG); return;
#endif
#if MR_BIG >= 6
			case 6: CALL(6, NP_BIG); return;
#endif
#if MR_BIG >= 7
			case 7: CALL(7, NP_BIG); return;
#endif
#if MR_BIG >= 8
			case 8: CALL(8, NP_BIG); return;
#endif
		}
	if (mr == 1 && np == NP_ONE)
	{
		CALL(1, NP_ONE);
		return;
	}
	if (mr == 2 && np == NP_TWO)
	{
		CALL(2, NP_TWO);
		return;
	}
	/* what is left: one panel at a time */
	for (int p = 0; p < np; p++)
	{
		if (s2)
			s2p = sm_gemm_seg_at(s2, p, 0);
		switch (mr)
		{
			case 1: CALL1(1); break;
			case 2: CALL1(2); break;
#if MR_BIG >= 3
			case 3: CALL1(3); break;
#endif
#if MR_BIG >= 4
			case 4: CALL1(4); break;
#endif
#if MR_BIG >= 5
			case 5: CALL1(5); break;
#endif
#if MR_BIG >= 6
			case 6: CALL1(6); break;
#endif
#if MR_BIG >= 7
			case 7: CALL1(7); break;
#endif
#if MR_BIG >= 8
			case 8: CALL1(8); break;
#endif
		}
	}
#undef CALL
#undef CALL1
}

/*
 * mr rows against np panels of which only ncols columns exist in y: the
 * last panels go through a zero-padded buffer, so the kernels never read
 * or write past column N.
 */
static void
KNAME(rows) (int mr, int np, const float *x, int ldx, const float *P, size_t pstride, int kc,
			 const sm_gemm_seg *s2, float *y, int ldy, int ncols, bool init, bool last, float alpha)
{
	float		buf[MR_BIG * NP_MAX * SM_PANEL] __attribute__((aligned(64)));
	const int	ldb = np * SM_PANEL;

	if (ncols == np * SM_PANEL)
	{
		KNAME(full) (mr, np, x, ldx, P, pstride, kc, s2, y, ldy, init, last, alpha);
		return;
	}
	for (int i = 0; i < mr; i++)
	{
		if (init)
			memcpy(buf + i * ldb, y + (size_t) i * ldy, sizeof(float) * (size_t) ncols);
		memset(buf + i * ldb + ncols, 0, sizeof(float) * (size_t) (ldb - ncols));
	}
	KNAME(full) (mr, np, x, ldx, P, pstride, kc, s2, buf, ldb, init, last, alpha);
	for (int i = 0; i < mr; i++)
		memcpy(y + (size_t) i * ldy, buf + i * ldb, sizeof(float) * (size_t) ncols);
}

/*
 * The whole product (see the header comment); rows [m0, m1) only.  s2: a
 * second operand pair (sm_gemm_packed2, which passes it only when K + K2 <=
 * SM_GEMM_KC): in the one K pass, each block's accumulators run on over
 * W2's K before they are stored.
 */
static void
KNAME(sm_gemm_packed) (const float *P, size_t pstride, int N, int K, const float *x, int ldx,
					   const sm_gemm_seg *s2, int m0, int m1, float alpha, float beta, float *y,
					   int ldy, const sm_gemm_epi *epi)
{
	const int	panels = (N + SM_PANEL - 1) / SM_PANEL;

	for (int k0 = 0; k0 < K; k0 += SM_GEMM_KC)
	{
		int			kc = K - k0 < SM_GEMM_KC ? K - k0 : SM_GEMM_KC;
		bool		init = k0 > 0 || beta != 0.0f;
		bool		last = k0 + kc >= K;

		/*
		 * Rows per pass: SM_GEMM_MC (x's block in L2), or where this pass's
		 * K (with the second pair's) is short, as many blocks of MR_BIG rows
		 * as keep x's block within half the L1, so it stays there while
		 * every panel passes over it (an LSTM step of hidden 64: K 65 and
		 * 128).  Rows go to blocks as before; only the order of the blocks
		 * changes, so the bits do not.
		 */
		const int	kp = kc + (s2 ? s2->K : 0);
		const int	mc = kp <= SM_GEMM_KSHORT ?
			(SM_GEMM_L1X / (int) sizeof(float) / kp) / MR_BIG * MR_BIG : SM_GEMM_MC;

		for (int mb = m0; mb < m1; mb += mc)
		{
			int			me = m1 - mb < mc ? m1 : mb + mc;
			int			rows = me - mb;
			/* blocks of one or two rows take more panels at once */
			int			npb = rows == 1 ? NP_ONE : rows == 2 ? NP_TWO : NP_BIG;

			for (int p0 = 0; p0 < panels; p0 += npb)
			{
				int			np = panels - p0 < npb ? panels - p0 : npb;
				int			ncols = N - p0 * SM_PANEL < np * SM_PANEL ? N - p0 * SM_PANEL : np * SM_PANEL;
				const float *Pp = P + (size_t) p0 * pstride + (size_t) k0 * SM_PANEL;

				for (int i = mb; i < me; i += MR_BIG)
				{
					int			mr = me - i < MR_BIG ? me - i : MR_BIG;
					sm_gemm_seg b2;

					if (s2)
						b2 = sm_gemm_seg_at(s2, p0, i);
					KNAME(rows) (mr, np, x + (size_t) i * ldx + k0, ldx, Pp, pstride, kc, s2 ? &b2 : NULL,
								 y + (size_t) i * ldy + p0 * SM_PANEL, ldy, ncols, init, last, alpha);
				}
				/* the epilogue on these rows x columns: finished, and still in L1 */
				if (last && epi)
					sm_bias_act_ld(y + (size_t) mb * ldy + p0 * SM_PANEL, (size_t) ldy,
								   epi->bias ? epi->bias + p0 * SM_PANEL : NULL, (size_t) rows,
								   ncols, epi->act);
			}
		}
	}
}

#undef NV
#undef SPLAT
#undef UNROLL
#undef DEFINE_BLOCK
#undef VEC
#undef UVEC
#undef VW
#undef KNAME
#undef MR_BIG
#undef NP_BIG
#undef NP_ONE
#undef NP_TWO
