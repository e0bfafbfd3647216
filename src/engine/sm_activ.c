/*
 * sm_activ.c -- vectorisable exp, sigmoid and tanh.
 *
 * exp: x = n ln2 + r with n = round(x / ln2) (by the 1.5 * 2^23 trick, which
 * needs no rounding instruction on baseline x86-64), ln2 split in two
 * parts so r is exact, e^r by a degree-6 polynomial on |r| <= ln2/2 (the
 * classic Cephes coefficients), 2^n by building the exponent bits.
 * tanh: a rational function from its continued fraction (see vtanh), one
 * division and no exp, so no cancellation near 0 and no branch.
 */
#include "sm_activ.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SM_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SM_VECTOR_CLONES
#endif

/*
 * Eight floats at a time with GCC's vector extensions: comparisons give
 * lane masks and selects are bitwise blends, so there is no branch and no
 * libm call; on baseline x86-64 each operation is split in two SSE ones.
 * A tail shorter than 8 goes through the same code in a padded buffer, so
 * every element gets exactly the same operations wherever it sits.
 */
/* the helpers below are always inlined, so passing 32-byte vectors by value
 * never crosses an ABI boundary: GCC's note about that ABI does not apply */
#pragma GCC diagnostic ignored "-Wpsabi"
#define V8_INLINE static inline __attribute__((always_inline))

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define V8(c) ((v8f) {(c), (c), (c), (c), (c), (c), (c), (c)})
#define I8(c) ((v8i) {(c), (c), (c), (c), (c), (c), (c), (c)})

#define EXP_HI 88.3762626647949f
#define EXP_LO -87.3365447504020f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define ROUND_MAGIC 12582912.0f	/* 1.5 * 2^23 */

V8_INLINE v8f
vsel(v8i mask, v8f a, v8f b)
{
	return (v8f) ((mask & (v8i) a) | (~mask & (v8i) b));
}

V8_INLINE v8f
vexp(v8f x)
{
	v8f			n,
				r,
				r2,
				p;
	v8i			e;

	x = vsel(x > V8(EXP_HI), V8(EXP_HI), x);
	x = vsel(x < V8(EXP_LO), V8(EXP_LO), x);
	n = (x * V8(LOG2E) + V8(ROUND_MAGIC)) - V8(ROUND_MAGIC);
	r = x - n * V8(LN2_HI);
	r = r - n * V8(LN2_LO);
	r2 = r * r;
	p = V8(1.9875691500E-4f);
	p = p * r + V8(1.3981999507E-3f);
	p = p * r + V8(8.3334519073E-3f);
	p = p * r + V8(4.1665795894E-2f);
	p = p * r + V8(1.6666665459E-1f);
	p = p * r + V8(5.0000001201E-1f);
	p = p * r2 + r + V8(1.0f);
	e = (__builtin_convertvector(n, v8i) + I8(127)) << 23;
	return p * (v8f) e;
}

V8_INLINE v8f
vsigmoid(v8f x)
{
	return V8(1.0f) / (V8(1.0f) + vexp(-x));
}

/*
 * tanh(x) = x P(x^2) / Q(x^2): the 12th convergent of Lambert's continued
 * fraction tanh x = x / (1 + x^2 / (3 + x^2 / (5 + ...))), expanded (the
 * integer coefficients over 7905853580625 are in the comments).  All
 * coefficients are positive, so Horner's rule has no cancellation; one
 * division, no exp.  |x| is clamped to 9, where tanh is 1 in float, and the
 * result to 1.  Relative error below 4e-7 in float (unit-tested).
 */
V8_INLINE v8f
vtanh(v8f v)
{
	v8i			sign = (v8i) v & I8((int32_t) 0x80000000);
	v8f			a = (v8f) ((v8i) v & I8(0x7fffffff));
	v8f			z,
				p,
				q,
				t;

	a = vsel(a > V8(9.0f), V8(9.0f), a);
	z = a * a;
	p = V8(1.264885556e-13f);	/* 1 */
	p = p * z + V8(5.179706351e-10f);	/* 4095 */
	p = p * z + V8(3.228683625e-07f);	/* 2552550 */
	p = p * z + V8(6.625258799e-05f);	/* 523783260 */
	p = p * z + V8(5.217391304e-03f);	/* 41247931725 */
	p = p * z + V8(1.466666667e-01f);	/* 1159525191825 */
	p = p * z + V8(1.0f);
	q = V8(1.151045856e-11f);	/* 91 */
	q = q * z + V8(1.519380530e-08f);	/* 120120 */
	q = q * z + V8(5.230467473e-06f);	/* 41351310 */
	q = q * z + V8(6.625258799e-04f);	/* 5237832600 */
	q = q * z + V8(3.188405797e-02f);	/* 252070693875 */
	q = q * z + V8(4.800000000e-01f);	/* 3794809718700 */
	q = q * z + V8(1.0f);
	t = a * p / q;
	t = vsel(t > V8(1.0f), V8(1.0f), t);
	return (v8f) ((v8i) t | sign);
}

/* apply f to x[0..n) eight at a time; the tail through a padded copy */
#define APPLY8(f, x, n) \
	do { \
		size_t		i_ = 0; \
		for (; i_ + 8 <= (n); i_ += 8) \
		{ \
			v8f			v_; \
			memcpy(&v_, (x) + i_, sizeof(v_)); \
			v_ = f(v_); \
			memcpy((x) + i_, &v_, sizeof(v_)); \
		} \
		if (i_ < (n)) \
		{ \
			v8f			v_ = V8(0.0f); \
			memcpy(&v_, (x) + i_, sizeof(float) * ((n) - i_)); \
			v_ = f(v_); \
			memcpy((x) + i_, &v_, sizeof(float) * ((n) - i_)); \
		} \
	} while (0)

SM_VECTOR_CLONES void
sm_vexp(float *x, size_t n)
{
	APPLY8(vexp, x, n);
}

SM_VECTOR_CLONES void
sm_vsigmoid(float *x, size_t n)
{
	APPLY8(vsigmoid, x, n);
}

SM_VECTOR_CLONES void
sm_vtanh(float *x, size_t n)
{
	APPLY8(vtanh, x, n);
}

/* load n <= 8 floats (the rest zero) / store n floats */
V8_INLINE v8f
vload(const float *p, int n)
{
	v8f			v = V8(0.0f);

	if (n == 8)
		memcpy(&v, p, sizeof(v));	/* a constant size: one unaligned vector load */
	else
		memcpy(&v, p, sizeof(float) * (size_t) n);
	return v;
}

V8_INLINE void
vstore(float *p, v8f v, int n)
{
	if (n == 8)
		memcpy(p, &v, sizeof(v));
	else
		memcpy(p, &v, sizeof(float) * (size_t) n);
}

SM_VECTOR_CLONES void
sm_lstm_cell(const float *g, const float *b, float *c, float *h, int H)
{
	for (int j = 0; j < H; j += 8)
	{
		int			n = H - j < 8 ? H - j : 8;
		v8f			gi = vload(g + j, n),
					gf = vload(g + H + j, n),
					gg = vload(g + 2 * H + j, n),
					go = vload(g + 3 * H + j, n);
		v8f			cv;

		if (b)
		{
			gi = gi + vload(b + j, n);
			gf = gf + vload(b + H + j, n);
			gg = gg + vload(b + 2 * H + j, n);
			go = go + vload(b + 3 * H + j, n);
		}
		cv = vsigmoid(gf) * vload(c + j, n) + vsigmoid(gi) * vtanh(gg);
		vstore(c + j, cv, n);
		vstore(h + j, vsigmoid(go) * vtanh(cv), n);
	}
}

SM_VECTOR_CLONES void
sm_gru_cell(const float *gx, const float *bx, const float *gh, const float *bh, float *h, int H)
{
	for (int j = 0; j < H; j += 8)
	{
		int			n = H - j < 8 ? H - j : 8;
		v8f			xr = vload(gx + j, n),
					xz = vload(gx + H + j, n),
					xn = vload(gx + 2 * H + j, n);
		v8f			hr = vload(gh + j, n),
					hz = vload(gh + H + j, n),
					hn = vload(gh + 2 * H + j, n);
		v8f			r,
					z,
					nn;

		if (bx)
		{
			xr = xr + vload(bx + j, n);
			xz = xz + vload(bx + H + j, n);
			xn = xn + vload(bx + 2 * H + j, n);
		}
		if (bh)
		{
			hr = hr + vload(bh + j, n);
			hz = hz + vload(bh + H + j, n);
			hn = hn + vload(bh + 2 * H + j, n);
		}
		r = vsigmoid(xr + hr);
		z = vsigmoid(xz + hz);
		nn = vtanh(xn + r * hn);

		vstore(h + j, (V8(1.0f) - z) * nn + z * vload(h + j, n), n);
	}
}

SM_VECTOR_CLONES void
sm_elman_cell(const float *g, const float *b, float *h, int H, bool relu)
{
	for (int j = 0; j < H; j += 8)
	{
		int			n = H - j < 8 ? H - j : 8;
		v8f			v = vload(g + j, n);

		if (b)
			v = v + vload(b + j, n);
		v = relu ? vsel(v > V8(0.0f), v, V8(0.0f)) : vtanh(v);
		vstore(h + j, v, n);
	}
}

float
sm_softplus(float x)
{
	/* torch.nn.functional.softplus: x above 20 is returned as is */
	if (x > 20.0f)
		return x;
	return log1pf(expf(x));
}
