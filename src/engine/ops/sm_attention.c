/*
 * sm_attention.c -- multi-head attention over one block of query rows
 * (sm_attn, sm_ops.h), written once over a backend's gemm and softmax: the
 * CPU backend runs heads side by side on its own kernels through it, a
 * device backend runs it over its own table (so its products offload).
 *
 * Per head: the scores of the block's queries against the keys they may
 * see are one product (scaled), the softmax one pass per row (a causal
 * row's unseen keys are zeroed), the mixing one product.
 */
#include "sm_ops.h"

#include <string.h>

/* floats of a scratch set before the products' packing: the scores, in whole cache lines */
static inline size_t
scores_floats(int nq, int nk)
{
	return ((size_t) nq * (size_t) nk + 15) / 16 * 16;
}

size_t
sm_op_attention_scratch(int nq, int nk, int dh)
{
	size_t		qk = sm_op_gemm_scratch(nk, dh),
				sv = sm_op_gemm_scratch(dh, nk);

	return scores_floats(nq, nk) + (qk > sv ? qk : sv);
}

size_t
sm_op_attention_kv_scratch(int heads, int nk, int dh)
{
	return (size_t) heads * (sm_op_gemm_scratch(nk, dh) + sm_op_gemm_scratch(dh, nk));
}

void
sm_attention_softmax_rows(const sm_backend *be, const sm_attn *a, float *s, int kn)
{
	for (int i = 0; i < a->nq; i++)
	{
		float	   *row = s + (size_t) i * kn;
		int			valid = a->causal && a->q0 + i + 1 < kn ? a->q0 + i + 1 : kn;

		be->softmax(row, valid);
		if (valid < kn)
			memset(row + valid, 0, sizeof(float) * (size_t) (kn - valid));
	}
}

void
sm_attention_head(const sm_backend *be, const sm_attn *a, int h, float *scratch)
{
	const float *q = a->q + (size_t) h * a->dh;
	const float *k = a->k + (size_t) h * a->dh;
	const float *v = a->v + (size_t) h * a->dh;
	float	   *c = a->ctx + (size_t) h * a->dh;
	float	   *s = scratch;
	float	   *pk = scratch + scores_floats(a->nq, a->nk);
	int			kn = sm_attention_keys(a);

	be->gemm(true, a->nq, kn, a->dh, a->scale, q, a->ldq, k, a->ldk, 0.0f, s, kn, pk);
	sm_attention_softmax_rows(be, a, s, kn);
	be->gemm(false, a->nq, a->dh, kn, 1.0f, s, kn, v, a->ldk, 0.0f, c, a->ldc, pk);
}

void
sm_attention_serial(const sm_backend *be, const sm_attn *a)
{
	for (int h = 0; h < a->heads; h++)
		sm_attention_head(be, a, h, a->scratch);
}
