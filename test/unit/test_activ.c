/*
 * test_activ.c -- the vectorised activations against libm.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "ops/sm_activ.h"
#include "ops/sm_gemm.h"
#include "ops/sm_ops.h"

#define N 200001

static double
dsig(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/*
 * The LSTM and GRU cells (which divide once over a common denominator, see
 * sm_activ_kernels.h) against the same formulas in double: gates from small
 * to saturated (|g| up to 60), cell states up to 50, widths with tails
 * (H = 1, 7, 13, 64), normwise error over all of them; and a NaN gate gives
 * NaN where it enters, not a clamped number.
 */
static void
test_cells(void)
{
	const int	widths[] = {1, 7, 13, 64};
	double		ec = 0,
				nc = 0,
				eh = 0,
				nh = 0,
				eg = 0,
				ng = 0;
	unsigned	seed = 12345;

	for (int trial = 0; trial < 400; trial++)
	{
		int			H = widths[trial % 4];
		double		gscale = trial % 3 == 0 ? 60.0 : trial % 3 == 1 ? 8.0 : 1.0;
		double		cscale = trial % 2 ? 50.0 : 1.0;
		float		g[4 * 64],
					b[4 * 64],
					gh[3 * 64],
					c[64],
					c0[64],
					h[64],
					h0[64];

		for (int i = 0; i < 4 * H; i++)
		{
			seed = seed * 1103515245u + 12345u;
			g[i] = (float) (((seed >> 8) / 16777216.0 - 0.5) * 2 * gscale);
			seed = seed * 1103515245u + 12345u;
			b[i] = (float) (((seed >> 8) / 16777216.0 - 0.5) * 0.5);
		}
		for (int i = 0; i < 3 * H; i++)
		{
			seed = seed * 1103515245u + 12345u;
			gh[i] = (float) (((seed >> 8) / 16777216.0 - 0.5) * 2 * gscale);
		}
		for (int i = 0; i < H; i++)
		{
			seed = seed * 1103515245u + 12345u;
			c0[i] = c[i] = (float) (((seed >> 8) / 16777216.0 - 0.5) * 2 * cscale);
			h0[i] = h[i] = (float) tanh(c0[i]);
		}
		sm_lstm_cell(g, b, c, h, H);
		for (int i = 0; i < H; i++)
		{
			double		cr = dsig((double) g[H + i] + b[H + i]) * c0[i] +
				dsig((double) g[i] + b[i]) * tanh((double) g[2 * H + i] + b[2 * H + i]);
			double		hr = dsig((double) g[3 * H + i] + b[3 * H + i]) * tanh(cr);

			ec += (c[i] - cr) * (c[i] - cr);
			nc += cr * cr;
			eh += (h[i] - hr) * (h[i] - hr);
			nh += hr * hr;
		}
		memcpy(h, h0, sizeof(float) * H);
		sm_gru_cell(g, b, gh, b + H, h, H);
		for (int i = 0; i < H; i++)
		{
			double		r = dsig((double) g[i] + b[i] + gh[i] + b[H + i]);
			double		z = dsig((double) g[H + i] + b[H + i] + gh[H + i] + b[2 * H + i]);
			double		n = tanh((double) g[2 * H + i] + b[2 * H + i] +
								 r * ((double) gh[2 * H + i] + b[3 * H + i]));
			double		hr = (1 - z) * n + z * h0[i];

			eg += (h[i] - hr) * (h[i] - hr);
			ng += hr * hr;
		}
	}
	printf("cells: normwise error lstm c %.2g h %.2g, gru h %.2g\n",
		   sqrt(ec / nc), sqrt(eh / nh), sqrt(eg / ng));
	CHECK(sqrt(ec / nc) < 1e-6);
	CHECK(sqrt(eh / nh) < 1e-6);
	CHECK(sqrt(eg / ng) < 1e-6);

	/* a NaN gate: NaN out of the unit it feeds, the other units untouched */
	{
		float		g[4 * 9] = {0},
					c[9] = {0},
					h[9] = {0},
					gh[3 * 9] = {0};

		g[2 * 9 + 4] = NAN;		/* the cell input of unit 4 */
		sm_lstm_cell(g, NULL, c, h, 9);
		CHECK(isnan(c[4]) && isnan(h[4]));
		CHECK(c[3] == 0.0f && h[3] == 0.0f && c[8] == 0.0f && h[8] == 0.0f);
		memset(h, 0, sizeof(h));
		g[2 * 9 + 4] = 0.0f;
		gh[9 + 2] = NAN;		/* the update gate of unit 2 */
		sm_gru_cell(g, NULL, gh, NULL, h, 9);
		CHECK(isnan(h[2]) && h[1] == 0.0f && h[8] == 0.0f);
	}
}

/*
 * The AVX-512 build of the elementwise passes gives the FMA build's bits
 * (sm_activ.c): every activation of sm_bias_act with and without a bias,
 * over rows of every width 1 .. 40 and 257 (so every tail length of both
 * builds), an ld wider than the row, the cells and the array functions,
 * inputs from tiny to saturated with NaN, infinities and -0 among them.
 * Runs once, under the avx512 kernel set, on a CPU that has AVX-512F.
 */
static void
test_wide_same_bits(void)
{
	static const sm_act acts[] = {SM_ACT_IDENTITY, SM_ACT_RELU, SM_ACT_GELU, SM_ACT_GELU_TANH,
	SM_ACT_TANH, SM_ACT_SILU};
	enum
	{
		ROWS = 3, LD = 300, NX = ROWS * LD,
		NIN = 1300,				/* inputs: the cells read up to in[500 + 3 * 257] */
		NB = 4 * LD				/* biases: the LSTM cell reads 4 * 257 */
	};
	static float in[NIN], bias[NB], a[NX], b[NX], ca[4 * LD], cb[4 * LD], ha[LD], hb[LD];
	unsigned	seed = 777;
	int			mismatches = 0;

	for (int i = 0; i < NIN; i++)
	{
		double		u;

		seed = seed * 1103515245u + 12345u;
		u = (seed >> 8) / 16777216.0 - 0.5;
		in[i] = (float) (u * u * u * 320.0);	/* |x| up to 40, dense near 0 */
	}
	in[5] = NAN;
	in[17] = INFINITY;
	in[30] = -INFINITY;
	in[41] = -0.0f;
	in[64] = 1e-30f;
	for (int i = 0; i < NB; i++)
		bias[i] = in[NIN - 1 - i] * 0.05f;
	bias[3] = 0.0f;

	for (int w = 1; w <= 257; w = w < 40 ? w + 1 : 257)
	{
		for (size_t ai = 0; ai < sizeof(acts) / sizeof(acts[0]); ai++)
			for (int wb = 0; wb < 2; wb++)
			{
				memcpy(a, in, sizeof(a));
				memcpy(b, in, sizeof(b));
				sm_activ_use(SM_ACTIV_FMA);
				sm_bias_act_ld(a, LD, wb ? bias : NULL, ROWS, w, acts[ai]);
				sm_activ_use(SM_ACTIV_AVX512);
				sm_bias_act_ld(b, LD, wb ? bias : NULL, ROWS, w, acts[ai]);
				mismatches += memcmp(a, b, sizeof(a)) != 0;
			}
		/* cells: w units; gates from in (|g| up to 40), states from in as well */
		memcpy(ca, in + 7, sizeof(float) * (size_t) w);
		memcpy(cb, in + 7, sizeof(float) * (size_t) w);
		memcpy(ha, in + 400, sizeof(float) * (size_t) w);
		memcpy(hb, in + 400, sizeof(float) * (size_t) w);
		sm_activ_use(SM_ACTIV_FMA);
		sm_lstm_cell(in, bias, ca, ha, w);
		sm_activ_use(SM_ACTIV_AVX512);
		sm_lstm_cell(in, bias, cb, hb, w);
		mismatches += memcmp(ca, cb, sizeof(float) * (size_t) w) != 0;
		mismatches += memcmp(ha, hb, sizeof(float) * (size_t) w) != 0;
		sm_activ_use(SM_ACTIV_FMA);
		sm_gru_cell(in + 11, bias, in + 500, bias + 1, ha, w);
		sm_elman_cell(in + 13, bias, ca, w, false);
		sm_activ_use(SM_ACTIV_AVX512);
		sm_gru_cell(in + 11, bias, in + 500, bias + 1, hb, w);
		sm_elman_cell(in + 13, bias, cb, w, false);
		mismatches += memcmp(ha, hb, sizeof(float) * (size_t) w) != 0;
		mismatches += memcmp(ca, cb, sizeof(float) * (size_t) w) != 0;
		sm_activ_use(SM_ACTIV_FMA);
		sm_elman_cell(in + 13, bias, ca, w, true);
		sm_activ_use(SM_ACTIV_AVX512);
		sm_elman_cell(in + 13, bias, cb, w, true);
		mismatches += memcmp(ca, cb, sizeof(float) * (size_t) w) != 0;
		{
			void		(*const fns[]) (float *, size_t) = {sm_vexp, sm_vsigmoid, sm_vtanh};

			for (int f = 0; f < 3; f++)
			{
				memcpy(a, in, sizeof(float) * (size_t) w);
				memcpy(b, in, sizeof(float) * (size_t) w);
				sm_activ_use(SM_ACTIV_FMA);
				fns[f] (a, (size_t) w);
				sm_activ_use(SM_ACTIV_AVX512);
				fns[f] (b, (size_t) w);
				mismatches += memcmp(a, b, sizeof(float) * (size_t) w) != 0;
			}
		}
		if (w == 257)
			break;
	}
	sm_activ_use(SM_ACTIV_AVX512);	/* the avx512 set's build, as before */
	printf("activations: AVX-512 build against the FMA build: %d mismatching passes\n", mismatches);
	CHECK(mismatches == 0);
}

void
test_activ(void)
{
	float	   *x = malloc(sizeof(float) * N);
	float	   *y = malloc(sizeof(float) * N);
	double		worst_exp = 0,
				worst_sig = 0,
				worst_tanh = 0;

	/* exp over its whole finite range */
	for (int i = 0; i < N; i++)
		x[i] = y[i] = -87.0f + 175.0f * i / (N - 1);
	sm_vexp(y, N);
	for (int i = 0; i < N; i++)
	{
		double		ref = exp((double) x[i]);

		worst_exp = fmax(worst_exp, fabs(y[i] - ref) / ref);
	}
	/* sigmoid and tanh over [-30, 30], dense near 0 */
	for (int i = 0; i < N; i++)
	{
		double		u = -1.0 + 2.0 * i / (N - 1);

		x[i] = (float) (30.0 * u * u * u);
	}
	memcpy(y, x, sizeof(float) * N);
	sm_vsigmoid(y, N);
	for (int i = 0; i < N; i++)
	{
		double		ref = 1.0 / (1.0 + exp(-(double) x[i]));

		worst_sig = fmax(worst_sig, fabs(y[i] - ref) / ref);
	}
	memcpy(y, x, sizeof(float) * N);
	sm_vtanh(y, N);
	for (int i = 0; i < N; i++)
	{
		double		ref = tanh((double) x[i]);
		double		err = ref == 0 ? fabs(y[i]) : fabs(y[i] - ref) / fabs(ref);

		worst_tanh = fmax(worst_tanh, err);
	}
	printf("activations: max rel err exp %.2g, sigmoid %.2g, tanh %.2g\n", worst_exp, worst_sig, worst_tanh);
	CHECK(worst_exp < 2.5e-7);
	CHECK(worst_sig < 4e-7);
	CHECK(worst_tanh < 4e-7);

	/* GELU (exact and tanh form) and SiLU over [-12, 12]: relative error where the
	 * value matters, absolute (scaled by |x|) in the far negative tail */
	{
		double		worst_gelu = 0,
					worst_gelu_tanh = 0,
					worst_silu = 0;

		for (int i = 0; i < N; i++)
		{
			double		u = -1.0 + 2.0 * i / (N - 1);

			x[i] = (float) (12.0 * u * u * u);
		}
		memcpy(y, x, sizeof(float) * N);
		sm_bias_act(y, NULL, 1, N, SM_ACT_GELU);
		for (int i = 0; i < N; i++)
		{
			double		v = x[i],
						ref = 0.5 * v * erfc(-v / sqrt(2.0));

			worst_gelu = fmax(worst_gelu, fabs(y[i] - ref) / fmax(fabs(ref), 1e-3 * fabs(v) + 1e-30));
		}
		memcpy(y, x, sizeof(float) * N);
		sm_bias_act(y, NULL, 1, N, SM_ACT_SILU);
		for (int i = 0; i < N; i++)
		{
			double		v = x[i],
						ref = v / (1.0 + exp(-v));

			worst_silu = fmax(worst_silu, fabs(y[i] - ref) / fmax(fabs(ref), 1e-3 * fabs(v) + 1e-30));
		}
		memcpy(y, x, sizeof(float) * N);
		sm_bias_act(y, NULL, 1, N, SM_ACT_GELU_TANH);
		for (int i = 0; i < N; i++)
		{
			double		v = x[i],
						ref = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));

			worst_gelu_tanh = fmax(worst_gelu_tanh, fabs(y[i] - ref) / fmax(fabs(ref), 1e-3 * fabs(v) + 1e-30));
		}
		printf("gelu: max rel err %.2g, tanh form %.2g; silu %.2g\n", worst_gelu, worst_gelu_tanh, worst_silu);
		CHECK(worst_gelu < 2e-6);
		CHECK(worst_gelu_tanh < 2e-6);
		CHECK(worst_silu < 2e-6);
	}
	/* softmax sums to 1 and matches the double computation */
	{
		float		v[37];
		double		sum = 0,
					worst = 0,
					mx = -1e300;

		for (int i = 0; i < 37; i++)
			v[i] = x[i * 1000] * 3.0f;
		for (int i = 0; i < 37; i++)
			mx = fmax(mx, v[i]);
		for (int i = 0; i < 37; i++)
			sum += exp(v[i] - mx);
		{
			float		w[37];

			memcpy(w, v, sizeof(w));
			sm_softmax(w, 37);
			for (int i = 0; i < 37; i++)
				worst = fmax(worst, fabs(w[i] - exp(v[i] - mx) / sum));
			CHECK(fabs(sm_logsumexp(v, 37) - (mx + log(sum))) < 1e-5);
		}
		CHECK(worst < 1e-6);
	}

	/*
	 * log-sum-exp over lengths around the vector widths and a vocabulary's,
	 * every value negative (a tail lane padded with 0 would be taken as the
	 * maximum), the maximum first, last or inside, some -inf, against
	 * double
	 */
	{
		static const int lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 257, 1000, 50257};
		float	   *v = malloc(sizeof(float) * 50257);
		double		worst = 0;

		CHECK(v != NULL);
		for (size_t li = 0; v && li < sizeof(lens) / sizeof(lens[0]); li++)
			for (int where = 0; where < 3; where++)
			{
				int			n = lens[li],
							at = where == 0 ? 0 : where == 1 ? n - 1 : n / 2;
				double		mx = -INFINITY,
							sum = 0;

				for (int i = 0; i < n; i++)
					v[i] = i % 11 == 5 ? -INFINITY : -20.0f - (float) ((i * 37) % 101) / 7.0f;
				v[at] = -3.25f;
				for (int i = 0; i < n; i++)
					mx = fmax(mx, v[i]);
				for (int i = 0; i < n; i++)
					sum += exp(v[i] - mx);
				worst = fmax(worst, fabs(sm_logsumexp(v, n) - (mx + log(sum))) / fabs(mx + log(sum)));
			}
		printf("logsumexp: max rel err %.2g\n", worst);
		CHECK(worst < 1e-6);
		free(v);
	}

	/* saturation and special values stay finite and exact at the ends */
	{
		float		v[6] = {-1000.0f, 1000.0f, 0.0f, -0.0f, 88.0f, -88.0f};

		sm_vtanh(v, 6);
		CHECK(v[0] == -1.0f && v[1] == 1.0f && v[2] == 0.0f && signbit(v[3]));
		CHECK(v[4] == 1.0f && v[5] == -1.0f);
	}
	{
		float		v[3] = {-1000.0f, 1000.0f, 0.0f};

		sm_vsigmoid(v, 3);
		CHECK(v[0] >= 0.0f && v[0] < 1e-37f && v[1] == 1.0f && v[2] == 0.5f);
	}
	test_cells();
	if (sm_ops_kernels() == SM_KERNELS_AVX512)
		test_wide_same_bits();
	CHECK(fabsf(sm_softplus(0.0f) - 0.6931472f) < 1e-7f);
	CHECK(sm_softplus(30.0f) == 30.0f);
	CHECK(sm_softplus(-30.0f) > 0.0f);
	free(x);
	free(y);
}
