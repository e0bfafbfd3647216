/*
 * test_rnn.c -- the batched recurrent engine against a plain reference:
 * PyTorch's equations one sequence at a time, in double precision.  Covers
 * the three cells, layers, directions, proj_size, bias=False, heads,
 * scaling, mixed-length batches (tiles and padding), recursive, direct,
 * bidirectional, quantile and sampled forecasts, and cancellation.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "nn/sm_rnn.h"

double
sm_test_urand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return ((*s >> 8) & 0xffff) / 65535.0 * 2.0 - 1.0;
}

void
sm_test_fill(float *x, size_t n, unsigned *s)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float) sm_test_urand(s);
}

/* a model from a config, every tensor filled with scaled random values */
sm_model *
sm_test_make_model(const char *arch, const char *config, unsigned seed, double scale,
				   bool with_optional)
{
	sm_model   *model;
	sm_error	err;

	if (sm_model_begin(&model, arch, config, strlen(config), &err) != SM_OK)
	{
		fprintf(stderr, "make_model %s: %s\n", config, err.message);
		return NULL;
	}
	for (int i = 0; i < model->spec.count; i++)
	{
		sm_spec_entry *e = &model->spec.items[i];
		sm_tensor_info info = {.name = e->name, .dtype = SM_DTYPE_F32, .ndim = e->ndim};
		sm_tensor  *t;
		float	   *data;
		size_t		n;

		if (e->ignored || (e->optional && !with_optional))
			continue;
		memcpy(info.shape, e->shape, sizeof(int64_t) * e->ndim);
		sm_shape_numel(e->ndim, e->shape, &n);
		data = malloc(sizeof(float) * n);
		for (size_t k = 0; k < n; k++)
			data[k] = (float) (scale * sm_test_urand(&seed));
		if (sm_model_add_tensor(model, &info, &t, &err) != SM_OK ||
			sm_tensor_append(t, SM_DTYPE_F32, data, n * sizeof(float), &err) != SM_OK)
			fprintf(stderr, "make_model tensor %s: %s\n", e->name, err.message);
		free(data);
	}
	if (sm_model_finish(model, &err) != SM_OK)
	{
		fprintf(stderr, "make_model finish: %s\n", err.message);
		sm_model_free(model);
		return NULL;
	}
	return model;
}

static double
sig(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* y[out] = W[out, in] x[in] (+ b) */
static void
matvec(const float *W, const float *b, const double *x, int out, int in, double *y)
{
	for (int o = 0; o < out; o++)
	{
		double		acc = b ? b[o] : 0.0;

		for (int i = 0; i < in; i++)
			acc += (double) W[(size_t) o * in + i] * x[i];
		y[o] = acc;
	}
}

/*
 * PyTorch's equations for one sequence x[len][I]; outputs every step's
 * model output (head, unscaled) into y[len][W].
 */
static void
naive_forward(const sm_rnn *m, const float *x, int len, double *y)
{
	const int	H = m->H,
				R = m->R,
				D = m->D,
				GH = m->G * H,
				DR = D * R;
	double	   *in = calloc((size_t) len * (DR > m->I ? DR : m->I), sizeof(double));
	double	   *outl = calloc((size_t) len * DR, sizeof(double));
	double	   *gi = malloc(sizeof(double) * GH),
			   *gh = malloc(sizeof(double) * GH),
			   *h = malloc(sizeof(double) * H),
			   *c = malloc(sizeof(double) * H),
			   *hc = malloc(sizeof(double) * H);
	int			in_w = m->I;

	for (int t = 0; t < len; t++)
		for (int i = 0; i < m->I; i++)
		{
			double		v = x[t * m->I + i];

			if (m->sh.in_mean)
				v -= m->sh.in_mean[i];
			if (m->sh.in_std)
				v /= m->sh.in_std[i];
			in[t * m->I + i] = v;
		}
	for (int k = 0; k < m->L; k++)
	{
		for (int d = 0; d < D; d++)
		{
			const sm_rnn_dir *w = &m->dirs[k * D + d];

			memset(h, 0, sizeof(double) * H);
			memset(c, 0, sizeof(double) * H);
			for (int s = 0; s < len; s++)
			{
				int			t = d ? len - 1 - s : s;

				matvec(w->w_ih, w->b_ih, in + (size_t) t * in_w, GH, in_w, gi);
				matvec(w->w_hh, w->b_hh, h, GH, R, gh);
				if (m->cell == SM_CELL_GRU)
				{
					for (int j = 0; j < H; j++)
					{
						double		r = sig(gi[j] + gh[j]);
						double		z = sig(gi[H + j] + gh[H + j]);
						double		n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);

						h[j] = (1 - z) * n + z * h[j];
					}
				}
				else if (m->cell == SM_CELL_LSTM)
				{
					for (int j = 0; j < H; j++)
					{
						double		ig = sig(gi[j] + gh[j]);
						double		fg = sig(gi[H + j] + gh[H + j]);
						double		gg = tanh(gi[2 * H + j] + gh[2 * H + j]);
						double		og = sig(gi[3 * H + j] + gh[3 * H + j]);

						c[j] = fg * c[j] + ig * gg;
						hc[j] = og * tanh(c[j]);
					}
					if (w->w_hr)
						matvec(w->w_hr, NULL, hc, R, H, h);
					else
						memcpy(h, hc, sizeof(double) * H);
				}
				else
					for (int j = 0; j < H; j++)
					{
						double		v = gi[j] + gh[j];

						h[j] = m->cell == SM_CELL_RNN_TANH ? tanh(v) : (v > 0 ? v : 0);
					}
				memcpy(outl + (size_t) t * DR + d * R, h, sizeof(double) * R);
			}
		}
		memcpy(in, outl, sizeof(double) * len * DR);
		in_w = DR;
	}
	for (int t = 0; t < len; t++)
	{
		double	   *yt = y + (size_t) t * sm_rnn_output_width(m);

		if (m->O == 0)
		{
			memcpy(yt, outl + (size_t) t * DR, sizeof(double) * DR);
			continue;
		}
		matvec(m->head_w, m->head_b, outl + (size_t) t * DR, m->O, DR, yt);
		for (int j = 0; j < m->O; j++)
		{
			int			f = m->sh.kind == SM_HEAD_QUANTILE ? (j / m->sh.n_quantiles) % m->I : j % m->I;
			bool		is_scale = m->sh.kind == SM_HEAD_GAUSSIAN && j >= m->I;

			if (is_scale)
				yt[j] = yt[j] > 20 ? yt[j] : log1p(exp(yt[j]));
			if (m->sh.out_std)
				yt[j] *= m->sh.out_std[f];
			if (m->sh.out_mean && !is_scale)
				yt[j] += m->sh.out_mean[f];
		}
	}
	free(in);
	free(outl);
	free(gi);
	free(gh);
	free(h);
	free(c);
	free(hc);
}

/* normwise relative error of float results against double references */
static double
rel_err(const float *got, const double *ref, size_t n)
{
	double		d = 0,
				mx = 1e-30;

	for (size_t i = 0; i < n; i++)
	{
		d = fmax(d, fabs(got[i] - ref[i]));
		mx = fmax(mx, fabs(ref[i]));
	}
	return d / mx;
}

static const char *const forward_configs[][2] = {
	{"rnn", "{\"input_size\": 3, \"hidden_size\": 5}"},
	{"rnn", "{\"input_size\": 2, \"hidden_size\": 7, \"num_layers\": 3, \"bidirectional\": true, \"nonlinearity\": \"relu\", \"output_size\": 2}"},
	{"lstm", "{\"input_size\": 1, \"hidden_size\": 13, \"num_layers\": 2, \"output_size\": 1}"},
	{"lstm", "{\"input_size\": 2, \"hidden_size\": 9, \"num_layers\": 2, \"bidirectional\": true, \"proj_size\": 4}"},
	{"lstm", "{\"input_size\": 2, \"hidden_size\": 6, \"bias\": false, \"output_size\": 3, \"head_bias\": false}"},
	{"gru", "{\"input_size\": 1, \"hidden_size\": 11, \"num_layers\": 3, \"bidirectional\": true, \"output_size\": 1}"},
	{"gru", "{\"input_size\": 2, \"hidden_size\": 5, \"bias\": false, \"rnn_prefix\": \"\", \"output_size\": 2, \"head_prefix\": \"fc.\","
	 " \"input_mean\": [1, -2], \"input_std\": 3, \"output_mean\": [0.5, 4], \"output_std\": [2, 0.25]}"},
};

static void
test_forward(void)
{
	/* 300 sequences (two tiles) of mixed lengths in a batch of T = 23 */
	const int	B = 300,
				T = 23;
	int		   *len = malloc(sizeof(int) * B);
	unsigned	seed = 7;

	for (int b = 0; b < B; b++)
		len[b] = b % 17 == 0 ? T : 1 + (int) ((sm_test_urand(&seed) + 1) / 2 * (T - 1));
	for (size_t c = 0; c < sizeof(forward_configs) / sizeof(forward_configs[0]); c++)
	{
		sm_model   *model = sm_test_make_model(forward_configs[c][0], forward_configs[c][1], 100 + c, 0.5, true);
		const sm_rnn *m = model ? sm_rnn_of(model) : NULL;
		int			W;
		float	   *x,
				   *last,
				   *steps;
		double	   *ref,
				   *ref_last,
				   *ref_steps;
		sm_error	err;

		CHECK_MSG(m != NULL, "config %zu", c);
		if (m == NULL)
			continue;
		W = sm_rnn_output_width(m);
		x = malloc(sizeof(float) * B * T * m->I);
		last = malloc(sizeof(float) * B * W);
		steps = malloc(sizeof(float) * B * T * W);
		ref = malloc(sizeof(double) * T * W);
		ref_last = malloc(sizeof(double) * B * W);
		ref_steps = calloc((size_t) B * T * W, sizeof(double));
		for (int i = 0; i < B * T * m->I; i++)
			x[i] = (float) (2 * sm_test_urand(&seed));
		CHECK(sm_rnn_forward(m, x, B, T, len, last, steps, &err) == SM_OK);
		for (int b = 0; b < B; b++)
		{
			naive_forward(m, x + ((size_t) b * T + (T - len[b])) * m->I, len[b], ref);
			memcpy(ref_last + (size_t) b * W, ref + (size_t) (len[b] - 1) * W, sizeof(double) * W);
			memcpy(ref_steps + ((size_t) b * T + (T - len[b])) * W, ref, sizeof(double) * len[b] * W);
		}
		{
			double		e1 = rel_err(last, ref_last, (size_t) B * W);
			double		e2 = rel_err(steps, ref_steps, (size_t) B * T * W);

			printf("rnn %s %s: last %.2g steps %.2g\n", forward_configs[c][0], forward_configs[c][1], e1, e2);
			CHECK(e1 < 1e-5);
			CHECK(e2 < 1e-5);
		}
		/* T = 1 */
		CHECK(sm_rnn_forward(m, x, 1, 1, NULL, last, NULL, &err) == SM_OK);
		naive_forward(m, x, 1, ref);
		CHECK(rel_err(last, ref, W) < 1e-5);
		free(x);
		free(last);
		free(steps);
		free(ref);
		free(ref_last);
		free(ref_steps);
		sm_model_free(model);
	}
	free(len);
}

/* reference recursive forecast: re-run the growing window each step */
static void
naive_forecast(const sm_rnn *m, const float *hist, int len, int h, double *out)
{
	const int	F = m->I,
				W = sm_rnn_output_width(m);
	int			start = m->sh.context > 0 && len > m->sh.context ? len - m->sh.context : 0;
	int			n = len - start;
	float	   *win = malloc(sizeof(float) * (n + h) * F);
	double	   *y = malloc(sizeof(double) * (n + h) * W);

	memcpy(win, hist + (size_t) start * F, sizeof(float) * n * F);
	for (int k = 0; k < h; k++)
	{
		naive_forward(m, win, n + k, y);
		for (int f = 0; f < F; f++)
		{
			const double *o = y + (size_t) (n + k - 1) * W;
			double		v = m->sh.kind == SM_HEAD_QUANTILE ? o[f * m->sh.n_quantiles + m->sh.median] : o[f];

			out[k * F + f] = v;
			win[(n + k) * F + f] = (float) v;
		}
	}
	free(win);
	free(y);
}

static const char *const forecast_configs[][2] = {
	{"lstm", "{\"input_size\": 1, \"hidden_size\": 13, \"num_layers\": 2, \"output_size\": 1}"},
	{"gru", "{\"input_size\": 2, \"hidden_size\": 7, \"output_size\": 2, \"context\": 5, \"input_mean\": 1, \"output_mean\": 1}"},
	{"rnn", "{\"input_size\": 1, \"hidden_size\": 6, \"num_layers\": 2, \"bidirectional\": true, \"output_size\": 1}"},
	{"lstm", "{\"input_size\": 1, \"hidden_size\": 5, \"output_size\": 3, \"quantiles\": [0.1, 0.5, 0.9]}"},
	{"gru", "{\"input_size\": 1, \"hidden_size\": 5, \"output_size\": 2, \"distribution\": \"gaussian\"}"},
};

static void
test_forecast(void)
{
	const int	B = 9,
				T = 12,
				h = 6;
	int			len[9] = {12, 1, 5, 12, 7, 2, 11, 3, 12};
	unsigned	seed = 11;

	for (size_t c = 0; c < sizeof(forecast_configs) / sizeof(forecast_configs[0]); c++)
	{
		sm_model   *model = sm_test_make_model(forecast_configs[c][0], forecast_configs[c][1], 200 + c, 0.6, true);
		const sm_rnn *m = model ? sm_rnn_of(model) : NULL;
		float	   *x,
				   *point;
		double	   *ref;
		sm_forecast_opts opts = {.horizon = h};
		sm_error	err;

		CHECK_MSG(m != NULL, "config %zu", c);
		if (m == NULL)
			continue;
		x = malloc(sizeof(float) * B * T * m->I);
		point = malloc(sizeof(float) * B * h * m->I);
		ref = malloc(sizeof(double) * B * h * m->I);
		for (int i = 0; i < B * T * m->I; i++)
			x[i] = (float) sm_test_urand(&seed);
		CHECK(sm_rnn_forecast(m, x, B, T, len, &opts, point, NULL, &err) == SM_OK);
		for (int b = 0; b < B; b++)
			naive_forecast(m, x + ((size_t) b * T + (T - len[b])) * m->I, len[b], h, ref + (size_t) b * h * m->I);
		{
			double		e = rel_err(point, ref, (size_t) B * h * m->I);

			printf("forecast %s %s: %.2g\n", forecast_configs[c][0], forecast_configs[c][1], e);
			CHECK(e < 1e-5);
		}
		free(x);
		free(point);
		free(ref);
		sm_model_free(model);
	}
}

static void
test_quantiles_and_sampling(void)
{
	sm_error	err;
	float		hist[8] = {0.1f, -0.2f, 0.3f, 0.5f, 0.2f, -0.1f, 0.0f, 0.4f};

	/* a quantile head reports its quantiles; unknown ones are refused */
	{
		sm_model   *model = sm_test_make_model("lstm", forecast_configs[3][1], 203, 0.6, true);
		const sm_rnn *m = sm_rnn_of(model);
		float		q[2] = {0.9f, 0.1f};
		float		quant[4 * 2],
					point[4];
		sm_forecast_opts opts = {.horizon = 4, .quantiles = q, .n_quantiles = 2};
		double		ref[4 * 3 * 8];

		CHECK(sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, point, quant, &err) == SM_OK);
		/* step 1's quantiles are the head's outputs after the history */
		naive_forward(m, hist, 8, ref);
		CHECK(fabs(quant[0] - ref[7 * 3 + 2]) < 1e-5 && fabs(quant[1] - ref[7 * 3 + 0]) < 1e-5);
		CHECK(fabs(point[0] - ref[7 * 3 + 1]) < 1e-5);
		q[0] = 0.25f;
		CHECK_ERR((sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, point, quant, &err), err), SM_ERR_INVALID,
				  "quantile 0.25 is not one this model outputs");
		sm_model_free(model);
	}
	/* gaussian: reproducible by seed; step-1 quantiles match the normal */
	{
		sm_model   *model = sm_test_make_model("gru", forecast_configs[4][1], 204, 0.6, true);
		const sm_rnn *m = sm_rnn_of(model);
		float		q[3] = {0.1f, 0.5f, 0.9f};
		const int	S = 20000;
		float		a[3 * 3],
					b[3 * 3],
					pa[3];
		sm_forecast_opts opts = {.horizon = 3, .samples = S, .seed = 42, .quantiles = q, .n_quantiles = 3};
		double		y[8 * 2];
		double		mu,
					sd;

		CHECK(sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, pa, a, &err) == SM_OK);
		CHECK(sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, pa, b, &err) == SM_OK);
		CHECK(memcmp(a, b, sizeof(a)) == 0);
		opts.seed = 43;
		CHECK(sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, pa, b, &err) == SM_OK);
		CHECK(memcmp(a, b, sizeof(a)) != 0);
		naive_forward(m, hist, 8, y);
		mu = y[7 * 2];
		sd = y[7 * 2 + 1];
		printf("gaussian step 1: mu %.4f sd %.4f q10 %.4f (%.4f) q50 %.4f q90 %.4f (%.4f)\n",
			   mu, sd, b[0], mu - 1.2815516 * sd, b[1], b[2], mu + 1.2815516 * sd);
		CHECK(fabs(b[0] - (mu - 1.2815516 * sd)) < 0.05 * sd);
		CHECK(fabs(b[1] - mu) < 0.05 * sd);
		CHECK(fabs(b[2] - (mu + 1.2815516 * sd)) < 0.05 * sd);
		opts.samples = 1;
		CHECK_ERR((sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, pa, b, &err), err), SM_ERR_INVALID, "at least 2 samples");
		sm_model_free(model);
	}
	/* direct: horizon bounded by the head; point-only models refuse quantiles */
	{
		sm_model   *model = sm_test_make_model("lstm", "{\"input_size\": 1, \"hidden_size\": 4, \"output_size\": 5, \"forecast\": \"direct\"}", 205, 0.6, true);
		const sm_rnn *m = sm_rnn_of(model);
		float		point[6];
		float		q = 0.5f;
		double		y[8 * 5];
		sm_forecast_opts opts = {.horizon = 5};

		CHECK(sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, point, NULL, &err) == SM_OK);
		naive_forward(m, hist, 8, y);
		CHECK(rel_err(point, y + 7 * 5, 5) < 1e-5);
		opts.horizon = 6;
		CHECK_ERR((sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, point, NULL, &err), err), SM_ERR_INVALID,
				  "longer than this direct forecaster's 5 steps");
		opts.horizon = 2;
		opts.quantiles = &q;
		opts.n_quantiles = 1;
		CHECK_ERR((sm_rnn_forecast(m, hist, 1, 8, NULL, &opts, point, NULL, &err), err), SM_ERR_INVALID,
				  "point forecasts only");
		sm_model_free(model);
	}
	/* sort_quantiles: every step's quantiles are the unsorted head's, in
	 * increasing order, and the point forecast is the middle one */
	{
#define DIRECT_Q "\"input_size\": 1, \"hidden_size\": 5, \"output_size\": 12, \"forecast\": \"direct\", \"quantiles\": [0.1, 0.5, 0.9]"
		sm_model   *raw = sm_test_make_model("lstm", "{" DIRECT_Q "}", 207, 1.5, true);
		sm_model   *srt = sm_test_make_model("lstm", "{" DIRECT_Q ", \"sort_quantiles\": true}", 207, 1.5, true);
#undef DIRECT_Q
		float		q[3] = {0.1f, 0.5f, 0.9f};
		float		qr[4 * 3],
					qs[4 * 3],
					pr[4],
					ps[4];
		sm_forecast_opts opts = {.horizon = 4, .quantiles = q, .n_quantiles = 3};
		int			crossed = 0,
					wrong = 0;

		CHECK(raw != NULL && srt != NULL);
		for (int start = 0; raw && srt && start < 6; start++)
		{
			CHECK(sm_rnn_forecast(sm_rnn_of(raw), hist + start, 1, 8 - start, NULL, &opts, pr, qr, &err) == SM_OK);
			CHECK(sm_rnn_forecast(sm_rnn_of(srt), hist + start, 1, 8 - start, NULL, &opts, ps, qs, &err) == SM_OK);
			for (int k = 0; k < 4; k++)
			{
				const float *r = qr + k * 3,
						   *o = qs + k * 3;
				float		v[3] = {r[0], r[1], r[2]},
							t;

				crossed += !(r[0] <= r[1] && r[1] <= r[2]);
				for (int i = 0; i < 2; i++)
					for (int j = 0; j < 2 - i; j++)
						if (v[j] > v[j + 1])
							t = v[j], v[j] = v[j + 1], v[j + 1] = t;
				wrong += !(o[0] == v[0] && o[1] == v[1] && o[2] == v[2] && ps[k] == o[1] && pr[k] == r[1]);
			}
		}
		CHECK_MSG(crossed > 0, "the unsorted head never crossed: the test proves nothing");
		CHECK_MSG(wrong == 0, "%d steps not the sorted quantiles", wrong);
		sm_model_free(raw);
		sm_model_free(srt);
	}
}

static int	abort_after = -1;

static bool
abort_countdown(void)
{
	return abort_after >= 0 && abort_after-- == 0;
}

static void *
plain_alloc(size_t n)
{
	return malloc(n);
}

static void
test_config_errors(void)
{
	sm_error	err;
	sm_tensor_info none[1] = {{0}};

#define BAD(arch, cfg, substr) \
	CHECK_ERR((sm_model_check(arch, cfg, strlen(cfg), none, 0, &err), err), SM_ERR_INVALID, substr)

	BAD("lstm", "{\"hidden_size\": 4}", "\"input_size\" is missing");
	BAD("lstm", "{\"input_size\": 1, \"hidden_size\": 4, \"proj_size\": 4}", "smaller than hidden_size");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"proj_size\": 2}", "applies to arch \"lstm\" only");
	BAD("lstm", "{\"input_size\": 1, \"hidden_size\": 4, \"nonlinearity\": \"relu\"}", "applies to arch \"rnn\" only");
	BAD("rnn", "{\"input_size\": 1, \"hidden_size\": 4, \"nonlinearity\": \"gelu\"}", "must be \"tanh\" or \"relu\"");
	BAD("gru", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 2, \"input_std\": [1, 0]}", "invalid value at position 2");
	BAD("gru", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 2, \"input_mean\": [1, 2, 3]}", "has 3 values, expected 2");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"output_size\": 3, \"quantiles\": [0.5, 0.1]}", "increasing numbers");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"output_size\": 2, \"quantiles\": [0.1, 0.9]}", "");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"output_size\": 1, \"sort_quantiles\": true}", "needs a quantile head");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"output_size\": 3, \"quantiles\": [0.1, 0.5, 0.9], \"sort_quantiles\": 1}", "sort_quantiles");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"output_size\": 3, \"distribution\": \"gaussian\"}", "2 * input_size");
	BAD("gru", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 5, \"forecast\": \"direct\"}", "multiple of 2");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"forecast\": \"direct\"}", "needs a head");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"forecast\": \"sideways\"}", "\"recursive\" or \"direct\"");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"output_mean\": 3}", "needs a head");
	BAD("gru", "{\"input_size\": 1, \"hidden_size\": 4, \"hidden\": 3}", "unknown config key \"hidden\"");
#undef BAD

	/* cancellation is polled while stepping */
	{
		sm_model   *model = sm_test_make_model("lstm", "{\"input_size\": 1, \"hidden_size\": 8}", 300, 0.5, true);
		float		x[50] = {0},
					y[8];
		sm_hooks	hooks = {plain_alloc, free, abort_countdown, NULL};

		sm_set_hooks(&hooks);
		abort_after = 10;
		CHECK(sm_rnn_forward(sm_rnn_of(model), x, 1, 50, NULL, y, NULL, &err) == SM_ERR_ABORTED);
		abort_after = -1;
		sm_set_hooks(NULL);
		sm_model_free(model);
	}
}

/* tiles on two threads: bit-identical to one thread, and cancellable */
static void
test_threads(void)
{
	const int	B = 700,
				T = 40,
				h = 5;
	sm_model   *model = sm_test_make_model("gru", "{\"input_size\": 1, \"hidden_size\": 9, \"num_layers\": 2, \"output_size\": 1}", 400, 0.5, true);
	const sm_rnn *m = sm_rnn_of(model);
	float	   *x = malloc(sizeof(float) * B * T);
	int		   *len = malloc(sizeof(int) * B);
	float	   *a = malloc(sizeof(float) * B * h),
			   *b = malloc(sizeof(float) * B * h),
			   *la = malloc(sizeof(float) * B),
			   *lb = malloc(sizeof(float) * B);
	sm_forecast_opts opts = {.horizon = h};
	sm_error	err;
	unsigned	seed = 5;

	for (int i = 0; i < B * T; i++)
		x[i] = (float) sm_test_urand(&seed);
	for (int i = 0; i < B; i++)
		len[i] = 1 + i % T;
	sm_set_threads(1);
	CHECK(sm_rnn_forward(m, x, B, T, len, la, NULL, &err) == SM_OK);
	CHECK(sm_rnn_forecast(m, x, B, T, len, &opts, a, NULL, &err) == SM_OK);
	sm_set_threads(2);
	CHECK(sm_rnn_forward(m, x, B, T, len, lb, NULL, &err) == SM_OK);
	CHECK(sm_rnn_forecast(m, x, B, T, len, &opts, b, NULL, &err) == SM_OK);
	CHECK(memcmp(la, lb, sizeof(float) * B) == 0);
	CHECK(memcmp(a, b, sizeof(float) * B * h) == 0);
	{
		sm_hooks	hooks = {plain_alloc, free, abort_countdown, NULL};

		sm_set_hooks(&hooks);
		abort_after = 30;
		CHECK(sm_rnn_forecast(m, x, B, T, len, &opts, b, NULL, &err) == SM_ERR_ABORTED);
		abort_after = -1;
		sm_set_hooks(NULL);
	}
	sm_set_threads(1);
	free(x);
	free(len);
	free(a);
	free(b);
	free(la);
	free(lb);
	sm_model_free(model);
}

/*
 * Detached calls (sm_detach_begin): a forecast on a thread of the host's
 * own allocates with malloc, not through the hooks, polls the host's stop
 * flag instead of should_abort, and gives the bits of a call made the
 * usual way; the calling thread's hooks are untouched meanwhile.
 */
static int	hook_allocs = 0;

static void *
counting_alloc(size_t n)
{
	__atomic_fetch_add(&hook_allocs, 1, __ATOMIC_RELAXED);
	return malloc(n);
}

static bool
always_abort(void)
{
	return true;
}

typedef struct detached_call
{
	const sm_rnn *m;
	const float *x;
	const int  *len;
	int			B,
				T;
	const sm_forecast_opts *opts;
	float	   *y;
	volatile int stop;
	sm_status	rc;
} detached_call;

static void *
detached_main(void *arg)
{
	detached_call *c = arg;
	sm_error	err;

	sm_detach_begin(&c->stop);
	c->rc = sm_rnn_forecast(c->m, c->x, c->B, c->T, c->len, c->opts, c->y, NULL, &err);
	sm_detach_end();
	return NULL;
}

static void
test_detached(void)
{
	const int	B = 300,
				T = 30,
				h = 4;
	sm_model   *model = sm_test_make_model("lstm", "{\"input_size\": 1, \"hidden_size\": 12, \"num_layers\": 2, \"output_size\": 1}", 401, 0.5, true);
	float	   *x = malloc(sizeof(float) * B * T),
			   *a = malloc(sizeof(float) * B * h),
			   *b = malloc(sizeof(float) * B * h);
	int		   *len = malloc(sizeof(int) * B);
	sm_forecast_opts opts = {.horizon = h};
	detached_call c = {sm_rnn_of(model), x, len, B, T, &opts, b, 0, SM_OK};
	sm_hooks	hooks = {counting_alloc, free, always_abort, NULL};
	sm_error	err;
	unsigned	seed = 9;
	pthread_t	t;

	for (int i = 0; i < B * T; i++)
		x[i] = (float) sm_test_urand(&seed);
	for (int i = 0; i < B; i++)
		len[i] = 1 + i % T;
	CHECK(sm_rnn_forecast(c.m, x, B, T, len, &opts, a, NULL, &err) == SM_OK);
	for (int threads = 1; threads <= 2; threads++)
	{
		sm_set_threads(threads);
		/* the hooks would abort every call and count every allocation */
		sm_set_hooks(&hooks);
		hook_allocs = 0;
		memset(b, 0, sizeof(float) * B * h);
		c.stop = 0;
		CHECK(pthread_create(&t, NULL, detached_main, &c) == 0);
		pthread_join(t, NULL);
		CHECK(c.rc == SM_OK);
		CHECK(hook_allocs == 0);
		CHECK(memcmp(a, b, sizeof(float) * B * h) == 0);
		/* the host's stop flag cancels it */
		c.stop = 1;
		CHECK(pthread_create(&t, NULL, detached_main, &c) == 0);
		pthread_join(t, NULL);
		CHECK(c.rc == SM_ERR_ABORTED);
		CHECK(hook_allocs == 0);
		/* and this thread still goes through the hooks */
		CHECK(sm_rnn_forecast(c.m, x, B, T, len, &opts, b, NULL, &err) == SM_ERR_ABORTED);
		CHECK(hook_allocs > 0);
		sm_set_hooks(NULL);
	}
	sm_set_threads(1);
	free(x);
	free(a);
	free(b);
	free(len);
	sm_model_free(model);
}

/*
 * One series on two threads: its layers' directions run side by side
 * (run_layers_pipelined in sm_rnn.c), or with W_hh of 512 kB or more each
 * step's units in two halves (run_direction_halves), bit-identical to one thread,
 * for every cell, stacked and bidirectional layers, a projection, a series
 * shorter than the input, and they stop when canceled.
 */
static void
test_pipelined_layers(void)
{
	static const char *const configs[][2] = {
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 64, \"num_layers\": 2, \"output_size\": 2}"},
		{"lstm", "{\"input_size\": 1, \"hidden_size\": 20, \"num_layers\": 3, \"proj_size\": 7}"},
		{"gru", "{\"input_size\": 2, \"hidden_size\": 48, \"num_layers\": 2, \"bidirectional\": true}"},
		{"rnn", "{\"input_size\": 1, \"hidden_size\": 33, \"num_layers\": 3, \"nonlinearity\": \"relu\"}"},
		{"rnn", "{\"input_size\": 1, \"hidden_size\": 16, \"bidirectional\": true, \"bias\": false}"},
		/* W_hh of 512 kB or more: each step's units in two halves (run_direction_halves) */
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 256, \"num_layers\": 2, \"output_size\": 2}"},
		{"gru", "{\"input_size\": 2, \"hidden_size\": 224, \"bidirectional\": true}"},
		{"rnn", "{\"input_size\": 1, \"hidden_size\": 384, \"bias\": false}"},
	};
	const int	T = 150;

	for (size_t k = 0; k < sizeof(configs) / sizeof(configs[0]); k++)
	{
		sm_model   *model = sm_test_make_model(configs[k][0], configs[k][1], 900 + (unsigned) k, 0.3, true);
		const sm_rnn *m = sm_rnn_of(model);
		int			I = m->I,
					W = sm_rnn_output_width(m);
		float	   *x = malloc(sizeof(float) * T * I),
				   *sa = malloc(sizeof(float) * T * W),
				   *sb = malloc(sizeof(float) * T * W);
		float		la[512],
					lb[512];
		int			len = T - 37;
		sm_error	err;
		unsigned	seed = 11 + (unsigned) k;
		bool		same;

		for (int i = 0; i < T * I; i++)
			x[i] = (float) sm_test_urand(&seed);
		for (int rep = 0; rep < 2; rep++)
		{
			const int  *lp = rep == 0 ? NULL : &len;

			sm_set_threads(1);
			CHECK(sm_rnn_forward(m, x, 1, T, lp, la, sa, &err) == SM_OK);
			sm_set_threads(2);
			CHECK(sm_rnn_forward(m, x, 1, T, lp, lb, sb, &err) == SM_OK);
			same = memcmp(la, lb, sizeof(float) * W) == 0 && memcmp(sa, sb, sizeof(float) * T * W) == 0;
			CHECK_MSG(same, "%s %s%s: one series on 2 threads differs from 1 thread", configs[k][0], configs[k][1],
					  rep ? " (shorter series)" : "");
		}
		{
			/*
			 * A long series, canceled early: whichever thread runs what, the
			 * caller asks.  Long enough (at hidden 16, about 10 ms) that the
			 * other thread cannot finish it alone while a loaded machine
			 * keeps the caller off its core for its first polls.
			 */
			sm_hooks	hooks = {plain_alloc, free, abort_countdown, NULL};
			const int	TL = 100000;
			float	   *xl = calloc((size_t) TL * I, sizeof(float));
			sm_status	arc;

			sm_set_threads(2);
			sm_set_hooks(&hooks);
			abort_after = 5;
			arc = sm_rnn_forward(m, xl, 1, TL, NULL, lb, NULL, &err);
			CHECK_MSG(arc == SM_ERR_ABORTED, "%s %s: status %d when canceled", configs[k][0], configs[k][1], (int) arc);
			free(xl);
			abort_after = -1;
			sm_set_hooks(NULL);
		}
		sm_set_threads(1);
		free(x);
		free(sa);
		free(sb);
		sm_model_free(model);
	}
}

/*
 * A forecast of one series: its history's layers on two threads (pipelined,
 * or at hidden 256 by halves of the units), the same bits.
 */
static void
test_pipelined_forecast(void)
{
	static const char *const configs[] = {
		"{\"input_size\": 1, \"hidden_size\": 32, \"num_layers\": 2, \"output_size\": 1}",
		"{\"input_size\": 1, \"hidden_size\": 256, \"num_layers\": 2, \"output_size\": 1}",
	};

	for (size_t k = 0; k < sizeof(configs) / sizeof(configs[0]); k++)
	{
		sm_model   *model = sm_test_make_model("lstm", configs[k], 77, 0.4, true);
		const sm_rnn *m = sm_rnn_of(model);
		const int	T = 200;
		float		x[200],
					a[6],
					b[6];
		sm_forecast_opts opts = {.horizon = 6};
		sm_error	err;
		unsigned	seed = 3;

		for (int i = 0; i < T; i++)
			x[i] = (float) sm_test_urand(&seed);
		sm_set_threads(1);
		CHECK(sm_rnn_forecast(m, x, 1, T, NULL, &opts, a, NULL, &err) == SM_OK);
		sm_set_threads(2);
		CHECK(sm_rnn_forecast(m, x, 1, T, NULL, &opts, b, NULL, &err) == SM_OK);
		CHECK_MSG(memcmp(a, b, sizeof(a)) == 0, "forecast %s: 2 threads differ from 1", configs[k]);
		sm_set_threads(1);
		sm_model_free(model);
	}
}

/*
 * A batch's steps take the input's and the state's parts of the gates in
 * one product (step_fused in sm_rnn.c: tiles of 4 rows or more), a series
 * alone takes the chunk's input projection first: the same bits, for every
 * cell that fuses (lstm, with and without a projection, rnn), stacked and
 * bidirectional, with series of different lengths, on 1 and 2 threads;
 * the GRU (never fused) as a control.  Our kernels only: OpenBLAS's sgemm
 * and a device's products may give a row other bits in another batch.
 */
static void
test_fused_steps(void)
{
	static const char *const configs[][2] = {
		{"lstm", "{\"input_size\": 1, \"hidden_size\": 64, \"num_layers\": 2, \"output_size\": 1}"},
		{"lstm", "{\"input_size\": 5, \"hidden_size\": 20, \"num_layers\": 2, \"proj_size\": 7, \"bidirectional\": true}"},
		{"rnn", "{\"input_size\": 3, \"hidden_size\": 33, \"num_layers\": 3, \"nonlinearity\": \"relu\"}"},
		{"rnn", "{\"input_size\": 2, \"hidden_size\": 17, \"bidirectional\": true, \"bias\": false}"},
		{"gru", "{\"input_size\": 2, \"hidden_size\": 24, \"num_layers\": 2}"},
	};
	const int	B = 37,
				T = 45;

	if (sm_ops != &sm_cpu_backend || sm_ops_kernels() == SM_KERNELS_BLAS)
		return;
	for (size_t k = 0; k < sizeof(configs) / sizeof(configs[0]); k++)
	{
		sm_model   *model = sm_test_make_model(configs[k][0], configs[k][1], 1300 + (unsigned) k, 0.3, true);
		const sm_rnn *m = sm_rnn_of(model);
		int			I = m->I,
					W = sm_rnn_output_width(m);
		float	   *x = malloc(sizeof(float) * B * T * I),
				   *batch = malloc(sizeof(float) * B * W),
				   *alone = malloc(sizeof(float) * B * W);
		int			len[37];
		sm_error	err;
		unsigned	seed = 41 + (unsigned) k;
		int			differ = 0;

		for (int i = 0; i < B * T * I; i++)
			x[i] = (float) sm_test_urand(&seed);
		for (int b = 0; b < B; b++)
			len[b] = T - (b * 7) % 30;
		sm_set_threads(1);
		for (int b = 0; b < B; b++)
			CHECK(sm_rnn_forward(m, x + (size_t) b * T * I, 1, T, &len[b], alone + (size_t) b * W, NULL, &err) == SM_OK);
		for (int t = 1; t <= 2; t++)
		{
			sm_set_threads(t);
			CHECK(sm_rnn_forward(m, x, B, T, len, batch, NULL, &err) == SM_OK);
			for (int b = 0; b < B; b++)
				differ += memcmp(batch + (size_t) b * W, alone + (size_t) b * W, sizeof(float) * W) != 0;
		}
		CHECK_MSG(differ == 0, "%s %s: %d series differ in a batch from alone", configs[k][0], configs[k][1], differ);
		sm_set_threads(1);
		free(x);
		free(batch);
		free(alone);
		sm_model_free(model);
	}
}

void
test_rnn(void)
{
	test_forward();
	test_forecast();
	test_quantiles_and_sampling();
	test_config_errors();
	test_threads();
	test_detached();
	test_pipelined_layers();
	test_pipelined_forecast();
	test_fused_steps();
}
