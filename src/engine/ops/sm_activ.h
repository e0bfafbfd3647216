/*
 * sm_activ.h -- elementwise activations over float arrays, written so the
 * compiler vectorises them (no libm calls, no branches in the loops), and
 * compiled three times: baseline x86-64 (no FMA), AVX2 + FMA, and AVX-512
 * (the elementwise passes only, same bits as AVX2 + FMA); the compute seam
 * picks the build with its kernel set (sm_activ_use), so on one machine and
 * kernel set the results are always the same bits.
 *
 * Accuracy (checked by the unit tests against libm over wide ranges):
 * expf within 2 ulp; sigmoid and tanh within 4e-7 relative (absolute
 * near 0 for tanh, where it is exact to float precision).
 */
#ifndef SM_ACTIV_H
#define SM_ACTIV_H

#include <stdbool.h>
#include <stddef.h>

/* the builds (sm_activ.c); a build runs only where the CPU has its features: sm_ops_cpu.c decides */
typedef enum sm_activ_build
{
	SM_ACTIV_BASE = 0,			/* baseline x86-64 or any GCC target; no FMA */
	SM_ACTIV_FMA,				/* AVX2 + FMA */
	SM_ACTIV_AVX512				/* AVX-512F elementwise passes, AVX2 + FMA reductions */
} sm_activ_build;

void		sm_activ_use(sm_activ_build b);

void		sm_vexp(float *x, size_t n);		/* x = exp(x) */
void		sm_vsigmoid(float *x, size_t n);	/* x = 1 / (1 + exp(-x)) */
void		sm_vtanh(float *x, size_t n);		/* x = tanh(x) */
float		sm_softplus(float x);				/* log(1 + exp(x)), stable */

/*
 * Fused recurrent cells over one row of H units (PyTorch's gate order):
 *   lstm: g = [i f g o] pre-activations [4H] (bias b [4H] added here, may
 *         be NULL); c = sig(f) c + sig(i) tanh(g); h = sig(o) tanh(c)
 *   gru:  gx = [r z n] input part, gh = recurrent part, each with its bias
 *         added here (bx = b_ih, bh = b_hh [3H], may be NULL);
 *         r, z = sig(gx + gh); n = tanh(gx_n + r gh_n); h = (1 - z) n + z h
 *   elman (rnn): h = act(g + b)
 * Same operations, in the same order, as the separate passes they replace.
 */
void		sm_lstm_cell(const float *g, const float *b, float *c, float *h, int H);
void		sm_gru_cell(const float *gx, const float *bx, const float *gh, const float *bh,
						float *h, int H);
void		sm_elman_cell(const float *g, const float *b, float *h, int H, bool relu);

/* activations of the transformer's feed-forward and pooler */
typedef enum sm_act
{
	SM_ACT_RELU,
	SM_ACT_GELU,				/* x/2 (1 + erf(x / sqrt 2)), within 2e-6 relative (unit-tested) */
	SM_ACT_GELU_TANH,			/* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
	SM_ACT_TANH,
	SM_ACT_IDENTITY,
	SM_ACT_SILU					/* x sigmoid(x) (swish: Marian's activation) */
} sm_act;

/* x [rows, cols] = act(x + b) (b [cols] or NULL) */
void		sm_bias_act(float *x, const float *b, size_t rows, int cols, sm_act act);
/* the same over rows ld floats apart (ld >= cols): a product's epilogue on a block of its output */
void		sm_bias_act_ld(float *x, size_t ld, const float *b, size_t rows, int cols, sm_act act);
/* x[0..n) = softmax(x) */
void		sm_softmax(float *x, int n);
/* log sum exp(x[0..n)) */
double		sm_logsumexp(const float *x, int n);
/* per row: x += b (b may be NULL); when g, out = (x - mean) / sqrt(var + eps) * g + beta */
void		sm_add_layernorm(float *x, const float *b, const float *g, const float *beta,
							 float eps, size_t rows, int cols, float *out);

#endif
