/*
 * test_attention.c -- the seam's multi-head attention (sm_op_attention)
 * over several query blocks, as nn/sm_tfm.c calls it, against attention in
 * double: heads of a size that is not a multiple of the 16-column panels,
 * keys and values rows apart in one fused buffer, causal or not, queries
 * that start past the first key (a cache).  With the keys and values
 * packed once for all blocks (sm_attn.kv) the bits must be those of
 * packing them per block, on one thread and on two (heads side by side).
 * Runs under each kernel set (test_main.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sm_test.h"
#include "sm_tests.h"
#include "core/sm_core.h"
#include "ops/sm_ops.h"

enum
{
	HEADS = 3, DH = 20, D = HEADS * DH, LD = 3 * D, BLOCK = 128
};

/* ctx[nq, D] in double: query i (position q0 + i) of qkv rows q0.. against keys 0 .. nk - 1 */
static void
attention_ref(const float *qkv, int nq, int nk, int q0, bool causal, float scale, double *ctx)
{
	double	   *p = malloc(sizeof(double) * (size_t) nk);

	for (int h = 0; h < HEADS; h++)
		for (int i = 0; i < nq; i++)
		{
			const float *q = qkv + (size_t) (q0 + i) * LD + h * DH;
			int			seen = causal ? q0 + i + 1 : nk;
			double		mx = -INFINITY,
						sum = 0;

			for (int j = 0; j < seen; j++)
			{
				const float *k = qkv + (size_t) j * LD + D + h * DH;
				double		s = 0;

				for (int e = 0; e < DH; e++)
					s += (double) q[e] * k[e];
				p[j] = s * scale;
				mx = fmax(mx, p[j]);
			}
			for (int j = 0; j < seen; j++)
				sum += p[j] = exp(p[j] - mx);
			for (int e = 0; e < DH; e++)
			{
				double		c = 0;

				for (int j = 0; j < seen; j++)
					c += p[j] * qkv[(size_t) j * LD + 2 * D + h * DH + e];
				ctx[(size_t) i * D + h * DH + e] = c / sum;
			}
		}
	free(p);
}

/* the blocks of nq queries as attend() in nn/sm_tfm.c runs them; kv NULL: packed per block */
static void
attention_blocks(const float *qkv, int nq, int nk, int q0, bool causal, float scale, float *ctx,
				 float *scratch, size_t set_floats, int sets, float *kv)
{
	sm_attn		a = {.heads = HEADS, .dh = DH, .k = qkv + D, .v = qkv + 2 * D, .ldk = LD, .nk = nk,
		.causal = causal, .scale = scale, .ldq = LD, .ldc = D, .scratch = scratch,
	.set_floats = set_floats, .sets = sets, .kv = kv};

	for (int b0 = 0; b0 < nq; b0 += BLOCK)
	{
		a.q = qkv + (size_t) (q0 + b0) * LD;
		a.ctx = ctx + (size_t) b0 * D;
		a.nq = nq - b0 < BLOCK ? nq - b0 : BLOCK;
		a.q0 = q0 + b0;
		a.kv_ready = b0 > 0;
		sm_op_attention(&a);
	}
}

static void
check_case(int nq, int nk, int q0, bool causal, unsigned seed)
{
	const float scale = 1.0f / sqrtf((float) DH);
	const size_t set_floats = sm_op_attention_scratch(BLOCK, nk, DH);
	float	   *qkv = malloc(sizeof(float) * (size_t) nk * LD);
	float	   *scratch = malloc(sizeof(float) * set_floats * 2);
	float	   *kv = malloc(sizeof(float) * sm_op_attention_kv_scratch(HEADS, nk, DH));
	float	   *per_block = malloc(sizeof(float) * (size_t) nq * D),
			   *packed_once = malloc(sizeof(float) * (size_t) nq * D),
			   *two = malloc(sizeof(float) * (size_t) nq * D),
			   *ref = malloc(sizeof(float) * (size_t) nq * D);
	double	   *refd = malloc(sizeof(double) * (size_t) nq * D);
	double		e;

	sm_test_fill(qkv, (size_t) nk * LD, &seed);
	for (size_t i = 0; i < (size_t) nk * LD; i++)
		qkv[i] *= 2.0f;			/* scores of a few units: softmax rows far from uniform */
	attention_ref(qkv, nq, nk, q0, causal, scale, refd);
	for (size_t i = 0; i < (size_t) nq * D; i++)
		ref[i] = (float) refd[i];

	attention_blocks(qkv, nq, nk, q0, causal, scale, per_block, scratch, set_floats, 1, NULL);
	attention_blocks(qkv, nq, nk, q0, causal, scale, packed_once, scratch, set_floats, 1, kv);
	sm_set_threads(2);
	attention_blocks(qkv, nq, nk, q0, causal, scale, two, scratch, set_floats, 2, kv);
	sm_set_threads(1);

	e = sm_test_normwise(packed_once, ref, nq, D, D);
	CHECK_MSG(e < 1e-5, "attention of %d queries (from %d) over %d keys%s: normwise error %g",
			  nq, q0, nk, causal ? ", causal" : "", e);
	if (sm_ops_kernels() == SM_KERNELS_BLAS)
	{
		/* OpenBLAS packs for itself (kv unused); its bits follow its thread count */
		CHECK(memcmp(per_block, packed_once, sizeof(float) * (size_t) nq * D) == 0);
		CHECK(sm_test_normwise(two, ref, nq, D, D) < 1e-5);
	}
	else
	{
		CHECK_MSG(memcmp(per_block, packed_once, sizeof(float) * (size_t) nq * D) == 0,
				  "attention of %d queries over %d keys%s: packed once differs from per block",
				  nq, nk, causal ? ", causal" : "");
		CHECK_MSG(memcmp(two, packed_once, sizeof(float) * (size_t) nq * D) == 0,
				  "attention of %d queries over %d keys%s: 2 threads differ from 1",
				  nq, nk, causal ? ", causal" : "");
	}
	free(qkv);
	free(scratch);
	free(kv);
	free(per_block);
	free(packed_once);
	free(two);
	free(ref);
	free(refd);
}

void
test_attention(void)
{
	/* 3 blocks (128, 128, 44), all keys; and causal, where each block sees more of them */
	check_case(300, 300, 0, false, 5);
	check_case(300, 300, 0, true, 6);
	/* 200 new queries after 100 cached positions (a prompt's second part), causal */
	check_case(200, 300, 100, true, 7);
	/* one block: kv packed and used within the one call */
	check_case(17, 33, 0, false, 8);
	check_case(129, 129, 0, true, 9);
}
