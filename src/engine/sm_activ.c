/*
 * sm_activ.c -- vectorisable exp, sigmoid and tanh.
 *
 * exp: x = n ln2 + r with n = round(x / ln2) (by the 1.5 * 2^23 trick, which
 * needs no rounding instruction on baseline x86-64), ln2 split in two
 * parts so r is exact, e^r by a degree-6 polynomial on |r| <= ln2/2 (the
 * classic Cephes coefficients), 2^n by building the exponent bits.
 * tanh: an odd Taylor polynomial for |x| < 0.55 (no cancellation near 0),
 * 1 - 2 / (e^(2|x|) + 1) beyond, sign restored; both computed and blended,
 * so there is no branch.
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

V8_INLINE v8f
vtanh(v8f v)
{
	v8i			sign = (v8i) v & I8((int32_t) 0x80000000);
	v8f			a = (v8f) ((v8i) v & I8(0x7fffffff));
	v8f			a2 = a * a;
	/* Taylor series of tanh to x^15: error < 3e-8 for |x| < 0.55 */
	v8f			p = V8(-929569.0f / 638512875.0f);
	v8f			big;

	p = p * a2 + V8(21844.0f / 6081075.0f);
	p = p * a2 - V8(1382.0f / 155925.0f);
	p = p * a2 + V8(62.0f / 2835.0f);
	p = p * a2 - V8(17.0f / 315.0f);
	p = p * a2 + V8(2.0f / 15.0f);
	p = p * a2 - V8(1.0f / 3.0f);
	p = a + a * a2 * p;
	big = V8(1.0f) - V8(2.0f) / (vexp(V8(2.0f) * a) + V8(1.0f));
	return (v8f) ((v8i) vsel(a < V8(0.55f), p, big) | sign);
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
