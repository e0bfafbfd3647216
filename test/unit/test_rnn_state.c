/*
 * test_rnn_state.c -- states kept per series (sm_rnn_advance,
 * sm_rnn_forecast_state): advancing a state by a history cut into
 * increments equals advancing it by the whole history at once, and a
 * forecast from the state equals sm_rnn_forecast over the whole history
 * (itself tested against the naive reference in test_rnn.c); for every
 * cell, layers, proj_size, scaling, point, direct, quantile and Gaussian
 * heads, batches of two tiles with mixed lengths; and the refusals.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "nn/sm_rnn.h"

static const char *const state_configs[][2] = {
	{"lstm", "{\"input_size\": 1, \"hidden_size\": 13, \"num_layers\": 2, \"output_size\": 1}"},
	{"gru", "{\"input_size\": 2, \"hidden_size\": 7, \"num_layers\": 2, \"output_size\": 2,"
	 " \"input_mean\": [1, -2], \"input_std\": 3, \"output_mean\": [0.5, 4], \"output_std\": [2, 0.25]}"},
	{"rnn", "{\"input_size\": 1, \"hidden_size\": 6, \"num_layers\": 3, \"nonlinearity\": \"relu\", \"output_size\": 1}"},
	{"lstm", "{\"input_size\": 1, \"hidden_size\": 9, \"num_layers\": 2, \"proj_size\": 1}"},
	{"lstm", "{\"input_size\": 1, \"hidden_size\": 5, \"output_size\": 3, \"quantiles\": [0.1, 0.5, 0.9]}"},
	{"lstm", "{\"input_size\": 1, \"hidden_size\": 5, \"num_layers\": 2, \"output_size\": 4, \"forecast\": \"direct\"}"},
	{"gru", "{\"input_size\": 1, \"hidden_size\": 5, \"output_size\": 2, \"distribution\": \"gaussian\"}"},
};

/* max |a - b| / max(|b|, 1e-30) */
static double
normwise(const float *a, const float *b, size_t n)
{
	double		d = 0,
				mx = 1e-30;

	for (size_t i = 0; i < n; i++)
	{
		d = fmax(d, fabs((double) a[i] - b[i]));
		mx = fmax(mx, fabs((double) b[i]));
	}
	return d / mx;
}

/*
 * Pieces [from, to) of each series, right-aligned into x [B][T][I] with
 * lengths len[b] = to[b] - from[b] (all >= 1), T their maximum.
 */
static int
gather(const float *hist, int B, int Tmax, int I, const int *from, const int *to,
	   float *x, int *len)
{
	int			T = 1;

	for (int b = 0; b < B; b++)
	{
		len[b] = to[b] - from[b];
		T = len[b] > T ? len[b] : T;
	}
	memset(x, 0, sizeof(float) * (size_t) B * T * I);
	for (int b = 0; b < B; b++)
		memcpy(x + ((size_t) b * T + (T - len[b])) * I, hist + ((size_t) b * Tmax + from[b]) * I,
			   sizeof(float) * (size_t) len[b] * I);
	return T;
}

static void
test_increments(void)
{
	/* 300 series (two tiles) of 3 .. 40 steps, cut into three increments each */
	const int	B = 300,
				Tmax = 40,
				h = 4,
				nq = 3;
	const float qs[3] = {0.1f, 0.5f, 0.9f};
	int		   *n = malloc(sizeof(int) * B),
			   *c1 = malloc(sizeof(int) * B),
			   *c2 = malloc(sizeof(int) * B),
			   *zero = calloc(B, sizeof(int)),
			   *len = malloc(sizeof(int) * B);
	unsigned	seed = 23;

	for (int b = 0; b < B; b++)
	{
		n[b] = 3 + (int) ((sm_test_urand(&seed) + 1) / 2 * (Tmax - 3));
		if (n[b] > Tmax)
			n[b] = Tmax;
		c1[b] = 1 + (int) ((sm_test_urand(&seed) + 1) / 2 * (n[b] - 2));
		if (c1[b] > n[b] - 2)
			c1[b] = n[b] - 2;
		c2[b] = c1[b] + 1 + (b % 3 == 0 ? n[b] - c1[b] - 2 : 0);
	}
	for (size_t c = 0; c < sizeof(state_configs) / sizeof(state_configs[0]); c++)
	{
		sm_model   *model = sm_test_make_model(state_configs[c][0], state_configs[c][1], 300 + c, 0.6, true);
		const sm_rnn *m = model ? sm_rnn_of(model) : NULL;
		int			S,
					I,
					T;
		bool		quantiles;
		float	   *hist,
				   *x,
				   *sa,
				   *sb,
				   *pa,
				   *pb,
				   *qa,
				   *qb;
		sm_forecast_opts opts = {.horizon = h};
		sm_error	err;

		CHECK_MSG(m != NULL, "config %zu", c);
		if (m == NULL)
			continue;
		S = sm_rnn_state_width(m);
		I = m->I;
		CHECK(S == m->L * m->R + (m->cell == SM_CELL_LSTM ? m->L * m->H : 0));
		quantiles = m->sh.kind == SM_HEAD_QUANTILE || m->sh.kind == SM_HEAD_GAUSSIAN;
		if (quantiles)
		{
			opts.quantiles = qs;
			opts.n_quantiles = nq;
			opts.samples = m->sh.kind == SM_HEAD_GAUSSIAN ? 64 : 0;
			opts.seed = 5;
		}
		hist = malloc(sizeof(float) * B * Tmax * I);
		x = malloc(sizeof(float) * B * Tmax * I);
		sa = calloc((size_t) B * S, sizeof(float));
		sb = calloc((size_t) B * S, sizeof(float));
		pa = malloc(sizeof(float) * B * h * I);
		pb = malloc(sizeof(float) * B * h * I);
		qa = malloc(sizeof(float) * B * h * I * nq);
		qb = malloc(sizeof(float) * B * h * I * nq);
		for (int i = 0; i < B * Tmax * I; i++)
			hist[i] = (float) (1.5 * sm_test_urand(&seed));

		/* three increments: [0, c1), [c1, c2), [c2, n) */
		T = gather(hist, B, Tmax, I, zero, c1, x, len);
		CHECK(sm_rnn_advance(m, x, B, T, len, sa, &err) == SM_OK);
		T = gather(hist, B, Tmax, I, c1, c2, x, len);
		CHECK(sm_rnn_advance(m, x, B, T, len, sa, &err) == SM_OK);
		T = gather(hist, B, Tmax, I, c2, n, x, len);
		CHECK(sm_rnn_advance(m, x, B, T, len, sa, &err) == SM_OK);
		/* the whole history at once */
		T = gather(hist, B, Tmax, I, zero, n, x, len);
		CHECK(sm_rnn_advance(m, x, B, T, len, sb, &err) == SM_OK);
		{
			double		e = normwise(sa, sb, (size_t) B * S);

			printf("state %s %s: increments vs whole %.2g (%s)\n", state_configs[c][0],
				   state_configs[c][1], e,
				   memcmp(sa, sb, sizeof(float) * B * S) == 0 ? "bitwise equal" : "not bitwise");
			CHECK(e < 1e-6);
		}

		/* a forecast from the state equals one over the whole history */
		CHECK(sm_rnn_forecast_state(m, sa, B, n, &opts, pa, quantiles ? qa : NULL, &err) == SM_OK);
		CHECK(sm_rnn_forecast(m, x, B, T, len, &opts, pb, quantiles ? qb : NULL, &err) == SM_OK);
		{
			double		e = normwise(pa, pb, (size_t) B * h * I);
			double		eq = quantiles ? normwise(qa, qb, (size_t) B * h * I * nq) : 0;

			printf("state %s: forecast from state vs history %.2g, quantiles %.2g\n",
				   state_configs[c][0], e, eq);
			CHECK(e < 1e-5);
			CHECK(eq < 1e-5);
		}
		/* one series alone, from its state, as in the batch (its own sampling seed) */
		{
			uint64_t	seeds[300];

			for (int b = 0; b < B; b++)
				seeds[b] = 1000 + (uint64_t) b;
			opts.series_seeds = seeds;
			CHECK(sm_rnn_forecast_state(m, sa, B, n, &opts, pa, quantiles ? qa : NULL, &err) == SM_OK);
			opts.series_seeds = seeds + 7;
			CHECK(sm_rnn_forecast_state(m, sa + (size_t) 7 * S, 1, n + 7, &opts, pb, quantiles ? qb : NULL, &err) == SM_OK);
			CHECK(normwise(pb, pa + (size_t) 7 * h * I, (size_t) h * I) < 1e-6);
			opts.series_seeds = NULL;
		}

		/* a state of no steps is too short to forecast (min_history 1) */
		CHECK_ERR((sm_rnn_forecast_state(m, sb, 1, zero, &opts, pa, NULL, &err), err), SM_ERR_INVALID,
				  "too short");
		free(hist);
		free(x);
		free(sa);
		free(sb);
		free(pa);
		free(pb);
		free(qa);
		free(qb);
		sm_model_free(model);
	}
	free(n);
	free(c1);
	free(c2);
	free(zero);
	free(len);
}

static void
test_refusals(void)
{
	sm_model   *bi = sm_test_make_model("lstm", "{\"input_size\": 1, \"hidden_size\": 4, \"bidirectional\": true, \"output_size\": 1}", 9, 0.5, true);
	sm_model   *ctx = sm_test_make_model("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"output_size\": 1, \"context\": 8}", 9, 0.5, true);
	float		x[3] = {0.1f, 0.2f, 0.3f},
				state[64] = {0},
				point[4];
	int			steps[1] = {3};
	sm_forecast_opts opts = {.horizon = 2};
	sm_error	err;

	CHECK(bi != NULL && ctx != NULL);
	if (bi == NULL || ctx == NULL)
		return;
	CHECK_ERR((sm_rnn_state_check(sm_rnn_of(bi), &err), err), SM_ERR_UNSUPPORTED, "bidirectional");
	CHECK_ERR((sm_rnn_advance(sm_rnn_of(bi), x, 1, 3, NULL, state, &err), err), SM_ERR_UNSUPPORTED,
			  "bidirectional");
	CHECK_ERR((sm_rnn_forecast_state(sm_rnn_of(bi), state, 1, steps, &opts, point, NULL, &err), err),
			  SM_ERR_UNSUPPORTED, "bidirectional");
	CHECK_ERR((sm_rnn_advance(sm_rnn_of(ctx), x, 1, 3, NULL, state, &err), err), SM_ERR_UNSUPPORTED,
			  "context limit");
	CHECK_ERR((sm_rnn_forecast_state(sm_rnn_of(ctx), state, 1, steps, &opts, point, NULL, &err), err),
			  SM_ERR_UNSUPPORTED, "context limit");
	sm_model_free(bi);
	sm_model_free(ctx);
}

void
test_rnn_state(void)
{
	test_increments();
	test_refusals();
}
