/*
 * sm_activ_kernels.h -- the activation passes, written once and compiled
 * twice by sm_activ.c: AV(name) names the build (name_base for baseline
 * x86-64 / any GCC target, name_fma for AVX2 + FMA).  See sm_activ.c.
 */
#define verfc_pos AV(verfc_pos)
#define vexp AV(vexp)
#define vexp_core AV(vexp_core)
#define vexp_neg AV(vexp_neg)
#define vgelu AV(vgelu)
#define vgelu_tanh AV(vgelu_tanh)
#define vload AV(vload)
#define vmask AV(vmask)
#define vrelu AV(vrelu)
#define vsel AV(vsel)
#define vsigmoid AV(vsigmoid)
#define vsigmoid_den AV(vsigmoid_den)
#define vsilu AV(vsilu)
#define vstore AV(vstore)
#define vtanh AV(vtanh)
#define vtanh_frac AV(vtanh_frac)
V8_INLINE v8f
vsel(v8i mask, v8f a, v8f b)
{
	return (v8f) ((mask & (v8i) a) | (~mask & (v8i) b));
}

/*
 * e^x for x already within [EXP_LO, EXP_HI].  t = x log2e + 1.5 * 2^23 is
 * an integer in [2^23, 2^24), where floats are 1 apart, so t's bits are
 * those of 1.5 * 2^23 plus n = round(x log2e): shifted left by 23 they are
 * n's exponent field (the constant's bits shift out), with no conversion.
 */
V8_INLINE v8f
vexp_core(v8f x)
{
	v8f			t,
				n,
				r,
				r2,
				p;
	v8u			e;				/* unsigned: the shift drops the constant's bits */

	t = x * V8(LOG2E) + V8(ROUND_MAGIC);
	n = t - V8(ROUND_MAGIC);
	r = x - n * V8(LN2_HI);
	r = r - n * V8(LN2_LO);
	r2 = r * r;
	p = V8(EXP_P0);
	p = p * r + V8(EXP_P1);
	p = p * r + V8(EXP_P2);
	p = p * r + V8(EXP_P3);
	p = p * r + V8(EXP_P4);
	p = p * r + V8(EXP_P5);
	p = p * r2 + r + V8(1.0f);
	e = (v8u) t + (v8u) I8(127);
	return p * (v8f) (e << 23);
}

V8_INLINE v8f
vexp(v8f x)
{
	x = vsel(x > V8(EXP_HI), V8(EXP_HI), x);
	x = vsel(x < V8(EXP_LO), V8(EXP_LO), x);
	return vexp_core(x);
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

/*
 * The cells below keep sigmoid and tanh as fractions and divide once at the
 * end: sigmoid(x) = 1 / (1 + e^-x), tanh(x) = num / den (vtanh's rational
 * before its division), and a sum of such terms over one common
 * denominator.  The LSTM cell then divides twice per vector instead of five
 * times, the GRU cell twice instead of three (about 15-25% less time per
 * unit; normwise error unchanged, unit-tested against double).  x is clamped
 * to [-30, 30] for the sigmoid (beyond it the value is within 1e-13 of 0 or
 * 1) and to [-9, 9] for tanh, so no product of denominators nears overflow
 * (at most about 1e13 * 1e13 * 1e4).  VMIN(c, x) / VMAX(c, x) return x when
 * x is NaN, so a NaN input still gives NaN.
 */
/*
 * e^-x with x clamped to [-30, 30]: sigmoid(x) = 1 / (1 + vexp_neg(x)).
 * vexp_core(-x) with the negation carried by the steps instead of done
 * first: q = -r throughout (every step's rounding is symmetric, so the bits
 * are vexp_core's), one operation less per vector in every LSTM and GRU
 * gate.
 */
V8_INLINE v8f
vexp_neg(v8f x)
{
	v8f			xc = VMIN(V8(30.0f), VMAX(V8(-30.0f), x)),
				t,
				n,
				q,
				q2,
				p;
	v8u			e;

	t = xc * V8(-LOG2E) + V8(ROUND_MAGIC);
	n = t - V8(ROUND_MAGIC);
	q = xc + n * V8(LN2_HI);
	q = q + n * V8(LN2_LO);
	q2 = q * q;
	p = V8(EXP_P0);
	p = V8(EXP_P1) - p * q;
	p = V8(EXP_P2) - p * q;
	p = V8(EXP_P3) - p * q;
	p = V8(EXP_P4) - p * q;
	p = V8(EXP_P5) - p * q;
	p = (p * q2 - q) + V8(1.0f);
	e = (v8u) t + (v8u) I8(127);
	return p * (v8f) (e << 23);
}

V8_INLINE v8f
vsigmoid_den(v8f x)
{
	return V8(1.0f) + vexp_neg(x);
}

V8_INLINE v8f
vtanh_frac(v8f v, v8f *den)
{
	v8f			x = VMIN(V8(9.0f), VMAX(V8(-9.0f), v));
	v8f			z = x * x,
				p,
				q;

	p = V8(1.264885556e-13f);
	p = p * z + V8(5.179706351e-10f);
	p = p * z + V8(3.228683625e-07f);
	p = p * z + V8(6.625258799e-05f);
	p = p * z + V8(5.217391304e-03f);
	p = p * z + V8(1.466666667e-01f);
	p = p * z + V8(1.0f);
	q = V8(1.151045856e-11f);
	q = q * z + V8(1.519380530e-08f);
	q = q * z + V8(5.230467473e-06f);
	q = q * z + V8(6.625258799e-04f);
	q = q * z + V8(3.188405797e-02f);
	q = q * z + V8(4.800000000e-01f);
	q = q * z + V8(1.0f);
	*den = q;
	return x * p;
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

static void
AV(sm_vexp)(float *x, size_t n)
{
	APPLY8(vexp, x, n);
}

static void
AV(sm_vsigmoid)(float *x, size_t n)
{
	APPLY8(vsigmoid, x, n);
}

static void
AV(sm_vtanh)(float *x, size_t n)
{
	APPLY8(vtanh, x, n);
}

/*
 * load n <= 8 floats (the rest zero) / store n floats.  A partial vector
 * never calls memcpy: a call inside a loop clobbers every vector register,
 * so the loop's constants were spilled to the stack and reloaded on every
 * iteration (bias + exact GELU ran at 2.4 ns per element, now 1.5).  The
 * FMA build uses AVX's masked moves (masked-off lanes do not fault); the
 * baseline one moves the n floats one by one.
 */
#ifdef AV_MASKED
V8_INLINE v8i
vmask(int n)
{
	return (v8i) {0, 1, 2, 3, 4, 5, 6, 7} < I8(n);
}
#endif

V8_INLINE v8f
vload(const float *p, int n)
{
	v8f			v;

	if (__builtin_expect(n == 8, 1))
	{
		memcpy(&v, p, sizeof(v));	/* a constant size: one unaligned vector load */
		return v;
	}
#ifdef AV_MASKED
	return __builtin_ia32_maskloadps256((const v8f *) p, vmask(n));
#else
	v = V8(0.0f);
	for (int k = 0; k < 8; k++)
		if (k < n)
			v[k] = p[k];
	return v;
#endif
}

V8_INLINE void
vstore(float *p, v8f v, int n)
{
	if (__builtin_expect(n == 8, 1))
	{
		memcpy(p, &v, sizeof(v));
		return;
	}
#ifdef AV_MASKED
	__builtin_ia32_maskstoreps256((v8f *) p, vmask(n), v);
#else
	for (int k = 0; k < 8; k++)
		if (k < n)
			p[k] = v[k];
#endif
}

static void
AV(sm_lstm_cell)(const float *g, const float *b, float *c, float *h, int H)
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
		{
			/* c = c / df + tn / (di td), h = cn / (do cd): two divisions */
			v8f			di = vsigmoid_den(gi),
						df = vsigmoid_den(gf),
						dout = vsigmoid_den(go),
						td,
						tn = vtanh_frac(gg, &td),
						dd = di * td,
						cd,
						cn;

			cv = (vload(c + j, n) * dd + tn * df) / (df * dd);
			cn = vtanh_frac(cv, &cd);
			vstore(c + j, cv, n);
			vstore(h + j, cn / (dout * cd), n);
		}
	}
}

static void
AV(sm_gru_cell)(const float *gx, const float *bx, const float *gh, const float *bh, float *h, int H)
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
		/* h' = (1 - z) n + z h = (tn ez + h td) / (td (1 + ez)), ez = e^-(xz+hz) */
		r = V8(1.0f) / vsigmoid_den(xr + hr);
		z = vexp_neg(xz + hz);
		{
			v8f			td,
						tn = vtanh_frac(xn + r * hn, &td);

			nn = (tn * z + vload(h + j, n) * td) / (td * (V8(1.0f) + z));
		}
		vstore(h + j, nn, n);
	}
}

static void
AV(sm_elman_cell)(const float *g, const float *b, float *h, int H, bool relu)
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


/*
 * erfc(z) for z >= 0: Numerical Recipes' erfcc (Chebyshev fit, fractional
 * error below 1.2e-7), t = 1 / (1 + z/2), erfc = t exp(-z^2 + P(t)).  Its
 * relative accuracy holds in the tail too, so gelu(x) = x/2 erfc(-x/sqrt 2)
 * stays accurate for negative x, where 1 + erf(x) would cancel.
 */
V8_INLINE v8f
verfc_pos(v8f z)
{
	v8f			t = V8(1.0f) / (V8(1.0f) + V8(0.5f) * z);
	v8f			p = V8(0.17087277f);

	p = p * t + V8(-0.82215223f);
	p = p * t + V8(1.48851587f);
	p = p * t + V8(-1.13520398f);
	p = p * t + V8(0.27886807f);
	p = p * t + V8(-0.18628806f);
	p = p * t + V8(0.09678418f);
	p = p * t + V8(0.37409196f);
	p = p * t + V8(1.00002368f);
	p = p * t + V8(-1.26551223f);
	return t * vexp(p - z * z);
}

/* exact GELU: x/2 erfc(-x / sqrt 2) */
V8_INLINE v8f
vgelu(v8f x)
{
	v8f			u = x * V8(-0.70710678118654752f);
	v8f			z = (v8f) ((v8i) u & I8(0x7fffffff));
	v8f			e = verfc_pos(z);

	e = vsel(u < V8(0.0f), V8(2.0f) - e, e);
	return V8(0.5f) * x * e;
}

/* tanh GELU: x/2 (1 + tanh(k (x + 0.044715 x^3))) = x sigmoid(2 k (...)) */
V8_INLINE v8f
vgelu_tanh(v8f x)
{
	v8f			u = V8(1.5957691216057308f) * (x + V8(0.044715f) * x * x * x);

	return x * vsigmoid(u);
}

/* SiLU (swish): x sigmoid(x) */
V8_INLINE v8f
vsilu(v8f x)
{
	return x * vsigmoid(x);
}

V8_INLINE v8f
vrelu(v8f x)
{
	return vsel(x > V8(0.0f), x, V8(0.0f));
}

/*
 * Rows ld floats apart; two vectors per step where there are two (their
 * chains interleave: about 3% faster for GELU).  Every element gets the
 * same operations wherever it sits.
 */
#define BIAS_ACT(f) \
	for (size_t r = 0; r < rows; r++) \
	{ \
		float	   *row = x + r * ld; \
		int			j = 0; \
		for (; j + 16 <= cols; j += 16) \
		{ \
			v8f			v0 = vload(row + j, 8), \
						v1 = vload(row + j + 8, 8); \
			if (b) \
			{ \
				v0 = v0 + vload(b + j, 8); \
				v1 = v1 + vload(b + j + 8, 8); \
			} \
			v0 = f(v0); \
			v1 = f(v1); \
			vstore(row + j, v0, 8); \
			vstore(row + j + 8, v1, 8); \
		} \
		for (; j < cols; j += 8) \
		{ \
			int			n = cols - j < 8 ? cols - j : 8; \
			v8f			v = vload(row + j, n); \
			if (b) \
				v = v + vload(b + j, n); \
			vstore(row + j, f(v), n); \
		} \
	}

static void
AV(sm_bias_act)(float *x, size_t ld, const float *b, size_t rows, int cols, sm_act act)
{
	switch (act)
	{
		case SM_ACT_RELU:
			BIAS_ACT(vrelu);
			break;
		case SM_ACT_GELU:
			BIAS_ACT(vgelu);
			break;
		case SM_ACT_GELU_TANH:
			BIAS_ACT(vgelu_tanh);
			break;
		case SM_ACT_TANH:
			BIAS_ACT(vtanh);
			break;
		case SM_ACT_IDENTITY:
			BIAS_ACT((v8f));
			break;
		case SM_ACT_SILU:
			BIAS_ACT(vsilu);
			break;
	}
}

/* x = softmax(x) over n values; exp(x - max), so no overflow */
static void
AV(sm_softmax)(float *x, int n)
{
	v8f			mv = V8(-INFINITY);
	float		m = -INFINITY,
				sum = 0.0f;
	v8f			sv = V8(0.0f);
	int			j;

	for (j = 0; j + 8 <= n; j += 8)
	{
		v8f			v = vload(x + j, 8);

		mv = vsel(v > mv, v, mv);
	}
	for (int k = 0; k < 8; k++)
		m = mv[k] > m ? mv[k] : m;
	for (; j < n; j++)
		m = x[j] > m ? x[j] : m;
	for (j = 0; j < n; j += 8)
	{
		int			c = n - j < 8 ? n - j : 8;
		v8f			v = vexp(vload(x + j, c) - V8(m));

		if (c < 8)
			for (int k = c; k < 8; k++)
				v[k] = 0.0f;
		vstore(x + j, v, c);
		sv = sv + v;
	}
	for (int k = 0; k < 8; k++)
		sum += sv[k];
	{
		v8f			inv = V8(1.0f / sum);

		for (j = 0; j < n; j += 8)
		{
			int			c = n - j < 8 ? n - j : 8;

			vstore(x + j, vload(x + j, c) * inv, c);
		}
	}
}

/* log(sum(exp(x))) over n values (x unchanged) */
static double
AV(sm_logsumexp)(const float *x, int n)
{
	float		m = -INFINITY;
	v8f			sv = V8(0.0f);
	double		sum = 0;

	for (int j = 0; j < n; j++)
		m = x[j] > m ? x[j] : m;
	for (int j = 0; j < n; j += 8)
	{
		int			c = n - j < 8 ? n - j : 8;
		v8f			v = vexp(vload(x + j, c) - V8(m));

		if (c < 8)
			for (int k = c; k < 8; k++)
				v[k] = 0.0f;
		sv = sv + v;
	}
	for (int k = 0; k < 8; k++)
		sum += sv[k];
	return (double) m + log(sum);
}

/*
 * Rows of x [rows, cols]: x += b (when b), then out = LN(x) with weight g
 * and bias beta (when g; out may be x).  Two passes for mean and variance,
 * as torch computes them (biased variance, eps inside the square root).
 */
static void
AV(sm_add_layernorm)(float *x, const float *b, const float *g, const float *beta, float eps,
				 size_t rows, int cols, float *out)
{
	for (size_t r = 0; r < rows; r++)
	{
		float	   *row = x + r * (size_t) cols;
		float	   *o = out + r * (size_t) cols;
		v8f			sv = V8(0.0f),
					qv = V8(0.0f);
		float		mean = 0.0f,
					var = 0.0f,
					rstd;

		for (int j = 0; j < cols; j += 8)
		{
			int			n = cols - j < 8 ? cols - j : 8;
			v8f			v = vload(row + j, n);

			if (b)
			{
				v = v + vload(b + j, n);
				vstore(row + j, v, n);
			}
			sv = sv + v;
		}
		if (g == NULL)
			continue;
		for (int k = 0; k < 8; k++)
			mean += sv[k];
		mean /= (float) cols;
		for (int j = 0; j < cols; j += 8)
		{
			int			n = cols - j < 8 ? cols - j : 8;
			v8f			v = vload(row + j, n) - V8(mean);

			if (n < 8)
				for (int k = n; k < 8; k++)
					v[k] = 0.0f;
			qv = qv + v * v;
		}
		for (int k = 0; k < 8; k++)
			var += qv[k];
		var /= (float) cols;
		rstd = 1.0f / sqrtf(var + eps);
		for (int j = 0; j < cols; j += 8)
		{
			int			n = cols - j < 8 ? cols - j : 8;
			v8f			v = (vload(row + j, n) - V8(mean)) * V8(rstd);

			vstore(o + j, v * vload(g + j, n) + vload(beta + j, n), n);
		}
	}
}

#undef verfc_pos
#undef vexp
#undef vexp_core
#undef vexp_neg
#undef vgelu
#undef vgelu_tanh
#undef vload
#undef vmask
#undef vrelu
#undef vsel
#undef vsigmoid
#undef vsigmoid_den
#undef vstore
#undef vtanh
#undef vtanh_frac
