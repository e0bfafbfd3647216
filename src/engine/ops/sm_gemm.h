/*
 * sm_gemm.h -- seqmodel's own matrix-product kernels on packed weights.
 *
 * Layers compute y = x W^T with W in PyTorch's [out, in] layout (N output
 * columns, K inputs), or W given as [in, out] (GPT-2's Conv1D, "in_major").
 * W is packed once, at model load, into panels of SM_PANEL output columns:
 *
 *   packed[p * pstride + k * SM_PANEL + j] = W[16 p + j, k]    (0 past N)
 *
 * pstride = K * SM_PANEL floats padded to an odd number of 64-byte lines
 * (sm_pack_stride: side-by-side panels then fall in different L1 sets); the
 * buffer is 64-byte aligned.  One layout serves every kernel variant (generic, AVX2,
 * AVX-512), so changing seqmodel.cpu_kernels never repacks.  The kernels
 * (sm_gemm_kernel.h) sum every output element in the order k = 0 .. K-1
 * whatever the block shape, so results are bit-identical across thread
 * counts and batch compositions on one machine.
 *
 * Nothing here allocates or calls the hooks except sm_pack_alloc, so the
 * products may run on worker threads.
 */
#ifndef SM_GEMM_H
#define SM_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "sm_activ.h"

#define SM_PANEL 16				/* output columns per packed panel */
#define SM_GEMM_KC 512			/* K steps per pass over a panel chunk (16 x 512 floats: 32 kB, L1) */
#define SM_GEMM_MC 64			/* rows of x per pass over the panels (64 x 512 floats: 128 kB, L2) */
#define SM_GEMM_KSHORT 128		/* K up to this: rows per pass fitted to the L1 instead */
#define SM_GEMM_L1X (16 * 1024)	/* bytes of x per pass then (half a 32 kB L1) */

/* the CPU kernel variants, by instruction set */
typedef enum sm_kernels
{
	SM_KERNELS_GENERIC = 0,		/* portable C (GCC vector extensions, SSE2 on x86-64) */
	SM_KERNELS_AVX2,			/* AVX2 + FMA */
	SM_KERNELS_AVX512,			/* AVX-512F */
	SM_KERNELS_BLAS				/* OpenBLAS's sgemm on the unpacked weights */
} sm_kernels;

/* floats a packed copy of an [N, K] matrix takes (panel stride: sm_pack_stride) */
size_t		sm_pack_floats(int N, int K);
size_t		sm_pack_stride(int K);

/*
 * Pack W into dst (sm_pack_floats(N, K) floats, 64-byte aligned):
 * in_major = false: W[n * ldw + k]; true: W[k * ldw + n].
 */
void		sm_pack_into(float *dst, const float *W, int ldw, int N, int K, bool in_major);

/*
 * y[m0..m1) rows of y[M, N] = alpha * x[M, K] W^T + beta * y, W packed with
 * panel stride pstride.  beta is 0 or 1; alpha != 1 needs beta = 0.
 * ldx >= K, ldy >= N.  The variant must be supported by this CPU.
 */
void		sm_gemm_packed(sm_kernels kind, const float *P, size_t pstride, int N, int K,
						   const float *x, int ldx, int m0, int m1, float alpha, float beta,
						   float *y, int ldy);

/*
 * An epilogue: y = act(y + bias) on each block of the output right after its
 * last K chunk, while the block is still in L1 (a transformer's bias + GELU
 * was a separate pass over a buffer that does not fit L2).  The same
 * operations as sm_bias_act after the product, so the same bits.  bias
 * (N floats, aligned with y's columns) may be NULL.
 */
typedef struct sm_gemm_epi
{
	const float *bias;
	sm_act		act;
} sm_gemm_epi;

/* sm_gemm_packed with an epilogue (epi NULL: none) */
void		sm_gemm_packed_epi(sm_kernels kind, const float *P, size_t pstride, int N, int K,
							   const float *x, int ldx, int m0, int m1, float alpha, float beta,
							   float *y, int ldy, const sm_gemm_epi *epi);

/*
 * A second operand pair of a product: y = x W^T + x2 W2^T, W2 [N, K2]
 * packed (pstride: sm_pack_stride(K2)), x2 rows ldx apart.
 */
typedef struct sm_gemm_seg
{
	const float *P;
	size_t		pstride;
	int			K;
	const float *x;
	int			ldx;
} sm_gemm_seg;

/* s moved on by `panels` panels of its output columns and `rows` rows of its x */
static inline sm_gemm_seg
sm_gemm_seg_at(const sm_gemm_seg *s, int panels, int rows)
{
	sm_gemm_seg r = *s;

	r.P += (size_t) panels * s->pstride;
	r.x += (size_t) rows * s->ldx;
	return r;
}

/*
 * y[m0..m1) rows of y = x W^T + s2->x W2^T, the sum of two products over
 * the same output columns (a recurrent step: the input's part and the
 * state's).  Each output element is one chain of multiply-adds over W's K
 * and then over W2's, so the bits are those of sm_gemm_packed with beta 0
 * and then with beta 1; when K + K2 fits one pass (SM_GEMM_KC), the
 * accumulators are stored once, with no store and reload between the two.
 */
void		sm_gemm_packed2(sm_kernels kind, const float *P, size_t pstride, int N, int K,
							const float *x, int ldx, const sm_gemm_seg *s2, int m0, int m1,
							float *y, int ldy);

/* the naive reference: double accumulation, W unpacked (layout as sm_pack_into) */
void		sm_gemm_naive(const float *W, int ldw, bool in_major, int N, int K,
						  const float *x, int ldx, int M, float alpha, float beta,
						  float *y, int ldy);

#endif
