/*
 * sm_activ.c -- vectorisable exp, sigmoid and tanh.
 *
 * exp: x = n ln2 + r with n = round(x / ln2) (by the 1.5 * 2^23 trick, which
 * vectorises where rintf would not on baseline x86-64), ln2 split in two
 * parts so r is exact, e^r by a degree-6 polynomial on |r| <= ln2/2 (the
 * classic Cephes coefficients), 2^n by building the exponent bits.
 * tanh: an odd Taylor polynomial for |x| < 0.55 (no cancellation near 0),
 * 1 - 2 / (e^(2|x|) + 1) beyond, sign restored; both computed and blended,
 * so the loop has no branch.
 */
#include "sm_activ.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SM_VECTOR_CLONES __attribute__((target_clones("avx2", "default"), optimize("O3")))
#else
#define SM_VECTOR_CLONES
#endif

#define EXP_HI 88.3762626647949f
#define EXP_LO -87.3365447504020f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define ROUND_MAGIC 12582912.0f	/* 1.5 * 2^23 */

static inline float
exp_core(float x)
{
	float		n,
				r,
				r2,
				p;
	int32_t		bits;
	float		scale;

	x = x > EXP_HI ? EXP_HI : x;
	x = x < EXP_LO ? EXP_LO : x;
	n = (x * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
	r = x - n * LN2_HI;
	r = r - n * LN2_LO;
	r2 = r * r;
	p = 1.9875691500E-4f;
	p = p * r + 1.3981999507E-3f;
	p = p * r + 8.3334519073E-3f;
	p = p * r + 4.1665795894E-2f;
	p = p * r + 1.6666665459E-1f;
	p = p * r + 5.0000001201E-1f;
	p = p * r2 + r + 1.0f;
	bits = ((int32_t) n + 127) << 23;
	memcpy(&scale, &bits, sizeof(scale));
	return p * scale;
}

SM_VECTOR_CLONES void
sm_vexp(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = exp_core(x[i]);
}

SM_VECTOR_CLONES void
sm_vsigmoid(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = 1.0f / (1.0f + exp_core(-x[i]));
}

SM_VECTOR_CLONES void
sm_vtanh(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		float		v = x[i];
		float		a = fabsf(v);
		float		a2 = a * a;
		/* Taylor series of tanh to x^15: error < 3e-8 for |x| < 0.55 */
		float		p = -929569.0f / 638512875.0f;

		p = p * a2 + 21844.0f / 6081075.0f;
		p = p * a2 - 1382.0f / 155925.0f;
		p = p * a2 + 62.0f / 2835.0f;
		p = p * a2 - 17.0f / 315.0f;
		p = p * a2 + 2.0f / 15.0f;
		p = p * a2 - 1.0f / 3.0f;
		p = a + a * a2 * p;
		{
			float		e = exp_core(2.0f * a);
			float		big = 1.0f - 2.0f / (e + 1.0f);
			float		t = a < 0.55f ? p : big;

			x[i] = copysignf(t, v);
		}
	}
}

SM_VECTOR_CLONES void
sm_vrelu(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

float
sm_softplus(float x)
{
	/* torch.nn.functional.softplus: x above 20 is returned as is */
	if (x > 20.0f)
		return x;
	return log1pf(expf(x));
}
