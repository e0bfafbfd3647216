/*
 * sm_activ_kernels.h -- the activation passes, written once and compiled
 * three times by sm_activ.c: AV(name) names the build (name_base for
 * baseline x86-64 / any GCC target, name_fma for AVX2 + FMA, name_avx512).
 * The build's parameters (AV, VMIN, VMAX, and where defined AV_LOAD_PART,
 * AV_STORE_PART, AV_ELEMENTWISE_ONLY) are undefined at the end, ready for
 * the next build; its vector types (vf, vi, vu, VL, VF, VI) are not, since
 * the two 8-lane builds share them.  See sm_activ.c.
 */
#define verfc_pos AV(verfc_pos)
#define vexp AV(vexp)
#define vexp_core AV(vexp_core)
#define vexp_neg AV(vexp_neg)
#define vexp_neg_n AV(vexp_neg_n)
#define vgelu AV(vgelu)
#define vgelu_tanh AV(vgelu_tanh)
#define vload AV(vload)
#define vrelu AV(vrelu)
#define vsel AV(vsel)
#define vsigmoid AV(vsigmoid)
#define vsigmoid_den AV(vsigmoid_den)
#define vsigmoid_den_n AV(vsigmoid_den_n)
#define vsilu AV(vsilu)
#define vstore AV(vstore)
#define vtanh AV(vtanh)
#define vtanh_frac AV(vtanh_frac)
#define vtanh_frac_n AV(vtanh_frac_n)
V8_INLINE vf
vsel(vi mask, vf a, vf b)
{
	return (vf) ((mask & (vi) a) | (~mask & (vi) b));
}

/*
 * e^x for x already within [EXP_LO, EXP_HI].  t = x log2e + 1.5 * 2^23 is
 * an integer in [2^23, 2^24), where floats are 1 apart, so t's bits are
 * those of 1.5 * 2^23 plus n = round(x log2e): shifted left by 23 they are
 * n's exponent field (the constant's bits shift out), with no conversion.
 */
V8_INLINE vf
vexp_core(vf x)
{
	vf			t,
				n,
				r,
				r2,
				p;
	vu			e;				/* unsigned: the shift drops the constant's bits */

	t = x * VF(LOG2E) + VF(ROUND_MAGIC);
	n = t - VF(ROUND_MAGIC);
	r = x - n * VF(LN2_HI);
	r = r - n * VF(LN2_LO);
	r2 = r * r;
	p = VF(EXP_P0);
	p = p * r + VF(EXP_P1);
	p = p * r + VF(EXP_P2);
	p = p * r + VF(EXP_P3);
	p = p * r + VF(EXP_P4);
	p = p * r + VF(EXP_P5);
	p = p * r2 + r + VF(1.0f);
	e = (vu) t + (vu) VI(127);
	return p * (vf) (e << 23);
}

V8_INLINE vf
vexp(vf x)
{
	x = vsel(x > VF(EXP_HI), VF(EXP_HI), x);
	x = vsel(x < VF(EXP_LO), VF(EXP_LO), x);
	return vexp_core(x);
}

V8_INLINE vf
vsigmoid(vf x)
{
	return VF(1.0f) / (VF(1.0f) + vexp(-x));
}

/* vectors per group in the cells (sm_lstm_cell), and the most any _n helper takes */
#define CELL_GROUP 2
#define VN_FOR(N) _Pragma("GCC unroll 8") for (int u = 0; u < (N); u++)

/*
 * tanh(x) = x P(x^2) / Q(x^2): the 12th convergent of Lambert's continued
 * fraction tanh x = x / (1 + x^2 / (3 + x^2 / (5 + ...))), expanded; the
 * integer coefficients over 7905853580625, highest degree first, are
 * P: 1, 4095, 2552550, 523783260, 41247931725, 1159525191825, and
 * Q: 91, 120120, 41351310, 5237832600, 252070693875, 3794809718700 (both
 * then 1).  All coefficients are positive, so Horner's rule has no
 * cancellation; one division, no exp.  |x| is clamped to 9, where tanh is
 * 1 in float, and the result to 1.  Relative error below 4e-7 in float
 * (unit-tested).
 */
static const float AV(tanh_p)[7] = {
	1.264885556e-13f, 5.179706351e-10f, 3.228683625e-07f, 6.625258799e-05f,
	5.217391304e-03f, 1.466666667e-01f, 1.0f
};
static const float AV(tanh_q)[7] = {
	1.151045856e-11f, 1.519380530e-08f, 5.230467473e-06f, 6.625258799e-04f,
	3.188405797e-02f, 4.800000000e-01f, 1.0f
};

/*
 * tanh(v) = num / den over N vectors, num returned: the rational before its
 * division, v clamped to [-9, 9].  Each step over all N vectors before the
 * next (see vexp_neg_n): the same operations per vector as one at a time.
 */
V8_INLINE void
vtanh_frac_n(const vf *v, vf *num, vf *den, int N)
{
	vf			x[CELL_GROUP],
				z[CELL_GROUP],
				p[CELL_GROUP],
				q[CELL_GROUP];

	VN_FOR(N)
	{
		x[u] = VMIN(VF(9.0f), VMAX(VF(-9.0f), v[u]));
		z[u] = x[u] * x[u];
		p[u] = VF(AV(tanh_p)[0]);
		q[u] = VF(AV(tanh_q)[0]);
	}
	_Pragma("GCC unroll 8")
	for (int k = 1; k < 7; k++)
		VN_FOR(N)
		{
			p[u] = p[u] * z[u] + VF(AV(tanh_p)[k]);
			q[u] = q[u] * z[u] + VF(AV(tanh_q)[k]);
		}
	VN_FOR(N)
	{
		den[u] = q[u];
		num[u] = x[u] * p[u];
	}
}

/* tanh: the fraction of |v| (odd, so the sign goes back on at the end) */
V8_INLINE vf
vtanh(vf v)
{
	vi			sign = (vi) v & VI((int32_t) 0x80000000);
	vf			a = (vf) ((vi) v & VI(0x7fffffff)),
				num,
				den,
				t;

	vtanh_frac_n(&a, &num, &den, 1);
	t = num / den;
	t = vsel(t > VF(1.0f), VF(1.0f), t);
	return (vf) ((vi) t | sign);
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
 *
 * vexp_neg_n, like vtanh_frac_n above, works on N vectors at once, each
 * step over all N before the next (the cells pass N = CELL_GROUP): the same
 * operations per vector as one at a time, so the same bits, but the
 * program order interleaves N independent chains.  One vector's chain
 * (clamp, nine dependent multiply-adds, the exponent) is long, and the
 * cells' are longer still; issued one after another, the chains leave the
 * core waiting on latency (see sm_lstm_cell).
 */
V8_INLINE void
vexp_neg_n(const vf *x, vf *e, int N)
{
	vf			xc[CELL_GROUP],
				t[CELL_GROUP],
				n[CELL_GROUP],
				q[CELL_GROUP],
				q2[CELL_GROUP],
				p[CELL_GROUP];

	VN_FOR(N) xc[u] = VMIN(VF(30.0f), VMAX(VF(-30.0f), x[u]));
	VN_FOR(N) t[u] = xc[u] * VF(-LOG2E) + VF(ROUND_MAGIC);
	VN_FOR(N) n[u] = t[u] - VF(ROUND_MAGIC);
	VN_FOR(N) q[u] = xc[u] + n[u] * VF(LN2_HI);
	VN_FOR(N) q[u] = q[u] + n[u] * VF(LN2_LO);
	VN_FOR(N) q2[u] = q[u] * q[u];
	VN_FOR(N) p[u] = VF(EXP_P1) - VF(EXP_P0) * q[u];
	VN_FOR(N) p[u] = VF(EXP_P2) - p[u] * q[u];
	VN_FOR(N) p[u] = VF(EXP_P3) - p[u] * q[u];
	VN_FOR(N) p[u] = VF(EXP_P4) - p[u] * q[u];
	VN_FOR(N) p[u] = VF(EXP_P5) - p[u] * q[u];
	VN_FOR(N) p[u] = (p[u] * q2[u] - q[u]) + VF(1.0f);
	VN_FOR(N) e[u] = p[u] * (vf) (((vu) t[u] + (vu) VI(127)) << 23);
}

V8_INLINE vf
vexp_neg(vf x)
{
	vf			e;

	vexp_neg_n(&x, &e, 1);
	return e;
}

V8_INLINE vf
vsigmoid_den(vf x)
{
	return VF(1.0f) + vexp_neg(x);
}

V8_INLINE void
vsigmoid_den_n(const vf *x, vf *d, int N)
{
	vexp_neg_n(x, d, N);
	VN_FOR(N) d[u] = VF(1.0f) + d[u];
}

V8_INLINE vf
vtanh_frac(vf v, vf *den)
{
	vf			num;

	vtanh_frac_n(&v, &num, den, 1);
	return num;
}

/* apply f to x[0..n) eight at a time; the tail through a padded copy */
#define APPLY(f, x, n) \
	do { \
		size_t		i_ = 0; \
		for (; i_ + VL <= (n); i_ += VL) \
		{ \
			vf			v_; \
			memcpy(&v_, (x) + i_, sizeof(v_)); \
			v_ = f(v_); \
			memcpy((x) + i_, &v_, sizeof(v_)); \
		} \
		if (i_ < (n)) \
		{ \
			vf			v_ = VF(0.0f); \
			memcpy(&v_, (x) + i_, sizeof(float) * ((n) - i_)); \
			v_ = f(v_); \
			memcpy((x) + i_, &v_, sizeof(float) * ((n) - i_)); \
		} \
	} while (0)

static void
AV(sm_vexp)(float *x, size_t n)
{
	APPLY(vexp, x, n);
}

static void
AV(sm_vsigmoid)(float *x, size_t n)
{
	APPLY(vsigmoid, x, n);
}

static void
AV(sm_vtanh)(float *x, size_t n)
{
	APPLY(vtanh, x, n);
}

/*
 * load n <= VL floats (the rest zero) / store n floats.  A partial vector
 * never calls memcpy: a call inside a loop clobbers every vector register,
 * so the loop's constants were spilled to the stack and reloaded on every
 * iteration (bias + exact GELU ran at 2.4 ns per element, now 1.5).  The
 * FMA and AVX-512 builds use masked moves (AV_LOAD_PART / AV_STORE_PART,
 * sm_activ.c: masked-off lanes do not fault); the baseline one moves the n
 * floats one by one.
 */

V8_INLINE vf
vload(const float *p, int n)
{
	vf			v;

	if (__builtin_expect(n == VL, 1))
	{
		memcpy(&v, p, sizeof(v));	/* a constant size: one unaligned vector load */
		return v;
	}
#ifdef AV_LOAD_PART
	return AV_LOAD_PART(p, n);
#else
	v = VF(0.0f);
	for (int k = 0; k < VL; k++)
		if (k < n)
			v[k] = p[k];
	return v;
#endif
}

V8_INLINE void
vstore(float *p, vf v, int n)
{
	if (__builtin_expect(n == VL, 1))
	{
		memcpy(p, &v, sizeof(v));
		return;
	}
#ifdef AV_STORE_PART
	AV_STORE_PART(p, v, n);
#else
	for (int k = 0; k < VL; k++)
		if (k < n)
			p[k] = v[k];
#endif
}

/*
 * The cells, N vectors of units at a time (CELL_GROUP full vectors, then
 * one at a time for what is left, the last maybe partial: n lanes).  One
 * vector of an LSTM cell is a chain of about 110 dependent cycles (three
 * exponentials and a tanh side by side, the division, tanh(c), the
 * division); one vector at a time, the core overlapped too little of the
 * next vector's chain with it: about 9 cycles per unit on Zen 3, a quarter
 * of W1's time.  Two at a time, interleaved step by step: 2.9-3.3 -> 2.2-2.9
 * ns per unit (hidden 64, a throwaway loop over 256 rows).  Four spilled
 * vector registers on AVX2 and were slower.  Same operations per element
 * as one at a time, so the same bits.  Where a sum of two products could
 * be contracted either way, AV_FMA (sm_activ.c: an explicit multiply-add
 * in the FMA builds) fixes which product is fused: GCC's choice followed
 * the statement order, which the grouping changes (the GRU's h' came out
 * up to 2248 ulps apart near cancellation); the one fused is the one the
 * cells fused one vector at a time, so the bits are unchanged.
 */
V8_INLINE void
AV(lstm_cell_n)(const float *g, const float *b, float *c, float *h, int H, int j, int n, int N)
{
	vf			e[3 * CELL_GROUP],	/* i, f, o per vector: their sigmoids' denominators */
				d[3 * CELL_GROUP],
				gg[CELL_GROUP],
				tn[CELL_GROUP],
				td[CELL_GROUP],
				cv[CELL_GROUP],
				cn[CELL_GROUP],
				cd[CELL_GROUP];

	VN_FOR(N)
	{
		int			k = j + u * VL;

		e[u] = vload(g + k, n);
		e[N + u] = vload(g + H + k, n);
		gg[u] = vload(g + 2 * H + k, n);
		e[2 * N + u] = vload(g + 3 * H + k, n);
		if (b)
		{
			e[u] = e[u] + vload(b + k, n);
			e[N + u] = e[N + u] + vload(b + H + k, n);
			gg[u] = gg[u] + vload(b + 2 * H + k, n);
			e[2 * N + u] = e[2 * N + u] + vload(b + 3 * H + k, n);
		}
	}
	/* c = c / df + tn / (di td), h = cn / (do cd): two divisions */
	vsigmoid_den_n(e, d, N);			/* di */
	vsigmoid_den_n(e + N, d + N, N);	/* df */
	vtanh_frac_n(gg, tn, td, N);
	vsigmoid_den_n(e + 2 * N, d + 2 * N, N);	/* do */
	VN_FOR(N)
	{
		vf			dd = d[u] * td[u];

		cv[u] = AV_FMA(vload(c + j + u * VL, n), dd, tn[u] * d[N + u]) / (d[N + u] * dd);
	}
	vtanh_frac_n(cv, cn, cd, N);
	VN_FOR(N)
	{
		vstore(c + j + u * VL, cv[u], n);
		vstore(h + j + u * VL, cn[u] / (d[2 * N + u] * cd[u]), n);
	}
}

static void
AV(sm_lstm_cell)(const float *g, const float *b, float *c, float *h, int H)
{
	int			j = 0;

	for (; j + CELL_GROUP * VL <= H; j += CELL_GROUP * VL)
		AV(lstm_cell_n)(g, b, c, h, H, j, VL, CELL_GROUP);
	for (; j < H; j += VL)
		AV(lstm_cell_n)(g, b, c, h, H, j, H - j < VL ? H - j : VL, 1);
}

/* h' = (1 - z) n + z h = (tn ez + h td) / (td (1 + ez)), ez = e^-(xz+hz) */
V8_INLINE void
AV(gru_cell_n)(const float *gx, const float *bx, const float *gh, const float *bh, float *h,
			   int H, int j, int n, int N)
{
	vf			s[2 * CELL_GROUP],	/* r, z per vector: x + h parts */
				d[2 * CELL_GROUP],
				xn[CELL_GROUP],
				hn[CELL_GROUP],
				tn[CELL_GROUP],
				td[CELL_GROUP];

	VN_FOR(N)
	{
		int			k = j + u * VL;
		vf			xr = vload(gx + k, n),
					xz = vload(gx + H + k, n),
					hr = vload(gh + k, n),
					hz = vload(gh + H + k, n);

		xn[u] = vload(gx + 2 * H + k, n);
		hn[u] = vload(gh + 2 * H + k, n);
		if (bx)
		{
			xr = xr + vload(bx + k, n);
			xz = xz + vload(bx + H + k, n);
			xn[u] = xn[u] + vload(bx + 2 * H + k, n);
		}
		if (bh)
		{
			hr = hr + vload(bh + k, n);
			hz = hz + vload(bh + H + k, n);
			hn[u] = hn[u] + vload(bh + 2 * H + k, n);
		}
		s[u] = xr + hr;
		s[N + u] = xz + hz;
	}
	vsigmoid_den_n(s, d, N);	/* r = 1 / d */
	vexp_neg_n(s + N, d + N, N);	/* ez */
	VN_FOR(N)
	{
		vf			r = VF(1.0f) / d[u];

		xn[u] = xn[u] + r * hn[u];
	}
	vtanh_frac_n(xn, tn, td, N);
	VN_FOR(N)
	{
		vf			z = d[N + u],
					nn = AV_FMA(vload(h + j + u * VL, n), td[u], tn[u] * z) / (td[u] * (VF(1.0f) + z));

		vstore(h + j + u * VL, nn, n);
	}
}

static void
AV(sm_gru_cell)(const float *gx, const float *bx, const float *gh, const float *bh, float *h, int H)
{
	int			j = 0;

	for (; j + CELL_GROUP * VL <= H; j += CELL_GROUP * VL)
		AV(gru_cell_n)(gx, bx, gh, bh, h, H, j, VL, CELL_GROUP);
	for (; j < H; j += VL)
		AV(gru_cell_n)(gx, bx, gh, bh, h, H, j, H - j < VL ? H - j : VL, 1);
}

static void
AV(sm_elman_cell)(const float *g, const float *b, float *h, int H, bool relu)
{
	for (int j = 0; j < H; j += VL)
	{
		int			n = H - j < VL ? H - j : VL;
		vf			v = vload(g + j, n);

		if (b)
			v = v + vload(b + j, n);
		v = relu ? vsel(v > VF(0.0f), v, VF(0.0f)) : vtanh(v);
		vstore(h + j, v, n);
	}
}


/*
 * erfc(z) for z >= 0 as exp(S(z) - z^2), S = ln(erfc(z) e^(z^2)): S is
 * smooth (0 at 0, about -ln(z sqrt(pi)) far out), so a polynomial in z fits
 * it, and erfc's relative accuracy holds in the tail too, so gelu(x) = x/2
 * erfc(-x/sqrt 2) stays accurate for negative x, where 1 + erf(x) would
 * cancel.  No division (Numerical Recipes' erfcc, used before, needed
 * t = 1 / (1 + z/2)).  S's coefficients: a weighted least-squares fit of
 * degree 9 over [0, 4.5] (weights: the accuracy GELU needs at each z, which
 * test_activ checks: 2e-6 relative to max(|gelu|, 1e-3 |x|), tight up to z
 * 2.2 and loose beyond), written by ops/gen_erfc_fit.py; evaluated by
 * Estrin's scheme (pairs over z^2 and z^4: a short chain, so the several
 * vectors of a block overlap).  Beyond 4.5 S is held at S(4.5): erfc is
 * below 2e-10 there, far under what the test allows.  z^2 is split into
 * its rounded value and the FMA's remainder, so -z^2 adds no rounding of its
 * own (its error is z^2 times the float's 6e-8: 3e-7 at z 2.2; the generic
 * build has no FMA, so there the remainder is 0 and the error stays).
 */
V8_INLINE vf
verfc_pos(vf z)
{
	vf			zc = vsel(z > VF(4.5f), VF(4.5f), z);
	vf			z2 = zc * zc,
				z4 = z2 * z2;
	vf			q0 = AV_FMA(VF(-1.128383892e+00f), zc, VF(6.536103866e-08f)),
				q1 = AV_FMA(VF(-1.030351740e-01f), zc, VF(3.634368728e-01f)),
				q2 = AV_FMA(VF(-5.864785276e-04f), zc, VF(1.973991290e-02f)),
				q3 = AV_FMA(VF(3.958122619e-04f), zc, VF(-1.113197481e-03f)),
				q4 = AV_FMA(VF(4.177131685e-06f), zc, VF(-6.355067016e-05f));
	vf			p = AV_FMA(AV_FMA(AV_FMA(q4, z2, q3), z2, q2), z4, AV_FMA(q1, z2, q0));
	vf			zz = z * z,
				zr = AV_FMA(z, z, -zz);	/* z * z - zz, exactly */
	vf			q = (p - zz) - zr;

	q = vsel(q < VF(EXP_LO), VF(EXP_LO), q);
	return vexp_core(q);
}

/* exact GELU: x/2 erfc(-x / sqrt 2) */
V8_INLINE vf
vgelu(vf x)
{
	vf			u = x * VF(-0.70710678118654752f);
	vf			z = (vf) ((vi) u & VI(0x7fffffff));
	vf			e = verfc_pos(z);

	e = vsel(u < VF(0.0f), VF(2.0f) - e, e);
	return VF(0.5f) * x * e;
}

/* tanh GELU: x/2 (1 + tanh(k (x + 0.044715 x^3))) = x sigmoid(2 k (...)) */
V8_INLINE vf
vgelu_tanh(vf x)
{
	vf			u = VF(1.5957691216057308f) * (x + VF(0.044715f) * x * x * x);

	return x * vsigmoid(u);
}

/* SiLU (swish): x sigmoid(x) */
V8_INLINE vf
vsilu(vf x)
{
	return x * vsigmoid(x);
}

V8_INLINE vf
vrelu(vf x)
{
	return vsel(x > VF(0.0f), x, VF(0.0f));
}

/*
 * Rows ld floats apart; two vectors per step where there are two (their
 * chains interleave: about 3% faster for GELU), and rows in pairs, so four
 * (an epilogue's block is 32 columns wide in the AVX-512 build: two
 * vectors per row).  Every element gets the same operations wherever it
 * sits.
 */
#define BIAS_ACT_ROW(f, row, j0) \
	do { \
		int			j = (j0); \
		for (; j + 2 * VL <= cols; j += 2 * VL) \
		{ \
			vf			v0 = vload((row) + j, VL), \
						v1 = vload((row) + j + VL, VL); \
			if (b) \
			{ \
				v0 = v0 + vload(b + j, VL); \
				v1 = v1 + vload(b + j + VL, VL); \
			} \
			v0 = f(v0); \
			v1 = f(v1); \
			vstore((row) + j, v0, VL); \
			vstore((row) + j + VL, v1, VL); \
		} \
		for (; j < cols; j += VL) \
		{ \
			int			n = cols - j < VL ? cols - j : VL; \
			vf			v = vload((row) + j, n); \
			if (b) \
				v = v + vload(b + j, n); \
			vstore((row) + j, f(v), n); \
		} \
	} while (0)

#define BIAS_ACT(f) \
	do { \
		size_t		r = 0; \
		for (; r + 1 < rows; r += 2) \
		{ \
			float	   *row0 = x + r * ld, \
					   *row1 = row0 + ld; \
			int			j0 = 0; \
			for (; j0 + 2 * VL <= cols; j0 += 2 * VL) \
			{ \
				vf			v0 = vload(row0 + j0, VL), \
							v1 = vload(row0 + j0 + VL, VL), \
							v2 = vload(row1 + j0, VL), \
							v3 = vload(row1 + j0 + VL, VL); \
				if (b) \
				{ \
					vf			b0 = vload(b + j0, VL), \
								b1 = vload(b + j0 + VL, VL); \
					v0 = v0 + b0; \
					v1 = v1 + b1; \
					v2 = v2 + b0; \
					v3 = v3 + b1; \
				} \
				v0 = f(v0); \
				v1 = f(v1); \
				v2 = f(v2); \
				v3 = f(v3); \
				vstore(row0 + j0, v0, VL); \
				vstore(row0 + j0 + VL, v1, VL); \
				vstore(row1 + j0, v2, VL); \
				vstore(row1 + j0 + VL, v3, VL); \
			} \
			BIAS_ACT_ROW(f, row0, j0); \
			BIAS_ACT_ROW(f, row1, j0); \
		} \
		if (r < rows) \
			BIAS_ACT_ROW(f, x + r * ld, 0); \
	} while (0)

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
			BIAS_ACT((vf));
			break;
		case SM_ACT_SILU:
			BIAS_ACT(vsilu);
			break;
	}
}

/*
 * The reductions (their sums run across a vector's lanes, so a wider build
 * would add in another order): not in the AVX-512 build, which defines
 * AV_ELEMENTWISE_ONLY; the avx512 kernel set runs the FMA build's, so its
 * results stay those of the avx2 set bit for bit.
 */
#ifndef AV_ELEMENTWISE_ONLY
/*
 * x = softmax(x) over n values; exp(x - max), so no overflow.  Four
 * maximum chains and two of exponentials with their sums, so the vectors'
 * latencies overlap (one chain each ran at about 1.3 ns per element on
 * an attention row, test/bench/activ.c).  x - max <= 0, so only the low
 * clamp of vexp is needed (NaN stays NaN either way).  The maximum is exact
 * in any order; the sum's order is fixed by n alone.
 */
static void
AV(sm_softmax)(float *x, int n)
{
	vf			m0 = VF(-INFINITY),
				m1 = m0,
				m2 = m0,
				m3 = m0;
	float		m = -INFINITY,
				sum = 0.0f;
	vf			s0 = VF(0.0f),
				s1 = VF(0.0f),
				mv;
	int			j = 0;

	for (; j + 4 * VL <= n; j += 4 * VL)
	{
		vf			v0 = vload(x + j, VL),
					v1 = vload(x + j + VL, VL),
					v2 = vload(x + j + 2 * VL, VL),
					v3 = vload(x + j + 3 * VL, VL);

		m0 = vsel(v0 > m0, v0, m0);
		m1 = vsel(v1 > m1, v1, m1);
		m2 = vsel(v2 > m2, v2, m2);
		m3 = vsel(v3 > m3, v3, m3);
	}
	for (; j + VL <= n; j += VL)
	{
		vf			v = vload(x + j, VL);

		m0 = vsel(v > m0, v, m0);
	}
	m0 = vsel(m1 > m0, m1, m0);
	m2 = vsel(m3 > m2, m3, m2);
	m0 = vsel(m2 > m0, m2, m0);
	for (int k = 0; k < VL; k++)
		m = m0[k] > m ? m0[k] : m;
	for (; j < n; j++)
		m = x[j] > m ? x[j] : m;
	mv = VF(m);

#define SOFTMAX_EXP(v) vexp_core(vsel((v) - mv < VF(EXP_LO), VF(EXP_LO), (v) - mv))
	for (j = 0; j + 2 * VL <= n; j += 2 * VL)
	{
		vf			e0 = SOFTMAX_EXP(vload(x + j, VL)),
					e1 = SOFTMAX_EXP(vload(x + j + VL, VL));

		vstore(x + j, e0, VL);
		vstore(x + j + VL, e1, VL);
		s0 = s0 + e0;
		s1 = s1 + e1;
	}
	for (; j < n; j += VL)
	{
		int			c = n - j < VL ? n - j : VL;
		vf			e = SOFTMAX_EXP(vload(x + j, c));

		if (c < VL)
			for (int k = c; k < VL; k++)
				e[k] = 0.0f;
		vstore(x + j, e, c);
		s0 = s0 + e;
	}
#undef SOFTMAX_EXP
	s0 = s0 + s1;
	for (int k = 0; k < VL; k++)
		sum += s0[k];
	{
		vf			inv = VF(1.0f / sum);

		for (j = 0; j < n; j += VL)
		{
			int			c = n - j < VL ? n - j : VL;

			vstore(x + j, vload(x + j, c) * inv, c);
		}
	}
}

/* log(sum(exp(x))) over n values (x unchanged) */
static double
AV(sm_logsumexp)(const float *x, int n)
{
	float		m = -INFINITY;
	v4d			s0 = {0},
				s1 = {0};
	double		sum = 0;
	int			j = 0;

	/*
	 * The maximum by vectors, two apart (the scalar loop was one compare a
	 * few cycles, half the time of a 50 257-logit row); the maximum is exact
	 * in any order, so the result is the scalar loop's.  NaN is never taken,
	 * as there.
	 */
	{
		vf			m0 = VF(-INFINITY),
					m1 = VF(-INFINITY);

		for (; j + 2 * VL <= n; j += 2 * VL)
		{
			vf			v0 = vload(x + j, VL),
						v1 = vload(x + j + VL, VL);

			m0 = vsel(v0 > m0, v0, m0);
			m1 = vsel(v1 > m1, v1, m1);
		}
		m0 = vsel(m1 > m0, m1, m0);
		for (int k = 0; k < VL; k++)
			m = m0[k] > m ? m0[k] : m;
	}
	for (; j < n; j++)
		m = x[j] > m ? x[j] : m;
	/*
	 * The sum of exp(x - m) in double lanes: in float, the lane that holds
	 * the maximum's 1 dropped every term below half its ulp, and over a
	 * vocabulary of 50 257 those made a relative error of 7e-6 in the
	 * result (unit-tested now).
	 */
	for (j = 0; j < n; j += VL)
	{
		int			c = n - j < VL ? n - j : VL;
		vf			v = vexp(vload(x + j, c) - VF(m));

		if (c < VL)
			for (int k = c; k < VL; k++)
				v[k] = 0.0f;
		/* two halves of four lanes: 256-bit double vectors, in registers */
		s0 = s0 + __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), v4d);
		s1 = s1 + __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), v4d);
	}
	for (int k = 0; k < 4; k++)
		sum += s0[k] + s1[k];
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
		vf			sv = VF(0.0f),
					qv = VF(0.0f);
		float		mean = 0.0f,
					var = 0.0f,
					rstd;

		for (int j = 0; j < cols; j += VL)
		{
			int			n = cols - j < VL ? cols - j : VL;
			vf			v = vload(row + j, n);

			if (b)
			{
				v = v + vload(b + j, n);
				vstore(row + j, v, n);
			}
			sv = sv + v;
		}
		if (g == NULL)
			continue;
		for (int k = 0; k < VL; k++)
			mean += sv[k];
		mean /= (float) cols;
		for (int j = 0; j < cols; j += VL)
		{
			int			n = cols - j < VL ? cols - j : VL;
			vf			v = vload(row + j, n) - VF(mean);

			if (n < VL)
				for (int k = n; k < VL; k++)
					v[k] = 0.0f;
			qv = qv + v * v;
		}
		for (int k = 0; k < VL; k++)
			var += qv[k];
		var /= (float) cols;
		rstd = 1.0f / sqrtf(var + eps);
		for (int j = 0; j < cols; j += VL)
		{
			int			n = cols - j < VL ? cols - j : VL;
			vf			v = (vload(row + j, n) - VF(mean)) * VF(rstd);

			vstore(o + j, v * vload(g + j, n) + vload(beta + j, n), n);
		}
	}
}
#endif							/* AV_ELEMENTWISE_ONLY */

#undef verfc_pos
#undef vexp
#undef vexp_core
#undef vexp_neg
#undef vexp_neg_n
#undef vgelu
#undef vgelu_tanh
#undef vload
#undef vrelu
#undef vsel
#undef vsigmoid
#undef vsigmoid_den
#undef vsigmoid_den_n
#undef vsilu
#undef vstore
#undef vtanh
#undef vtanh_frac
#undef vtanh_frac_n
#undef VN_FOR
#undef CELL_GROUP
#undef APPLY
#undef BIAS_ACT
#undef BIAS_ACT_ROW
#undef AV
#undef AV_FMA
#undef VMIN
#undef VMAX
#undef AV_LOAD_PART
#undef AV_STORE_PART
#undef AV_ELEMENTWISE_ONLY
