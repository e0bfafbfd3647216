/*
 * test_cov.c -- forecasts of models with covariates (config "targets",
 * "past_covariates", "future_covariates"; sm_seqhead.h) against PyTorch
 * (test/fixtures/cov, written by gen_cov_fixtures.py): each case alone, then
 * every case of a model in one batch (mixed lengths, the shortest horizon),
 * within 1e-5 normwise; then the config errors, missing or unexpected future
 * covariates, and the refusal to keep a state.  The fixtures are required.
 */
#include <math.h>
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "core/sm_json.h"
#include "core/sm_safetensors.h"
#include "nn/sm_seqmodel.h"

#define FIXTURES "test/fixtures/cov/"

static float *
floats(const sm_json *a)
{
	float	   *v = malloc(sizeof(float) * (a->count + 1));

	for (size_t i = 0; i < a->count; i++)
		v[i] = (float) a->items[i]->number;
	return v;
}

/* max |got - want| / max |want| */
static double
normwise(const float *got, const float *want, size_t n)
{
	double		d = 0,
				s = 1e-30;

	for (size_t i = 0; i < n; i++)
	{
		d = fmax(d, fabs((double) got[i] - want[i]));
		s = fmax(s, fabs((double) want[i]));
	}
	return d / s;
}

/* every case of one model: alone, then all of them batched */
static void
model_cases(const sm_seqmodel *m, const char *name, const sm_json *cases)
{
	const int	I = m->I,
				F = m->F,
				nf = m->sh.n_future;
	const int	Q = m->sh.kind == SM_HEAD_QUANTILE ? m->sh.n_quantiles : 0;
	int			B = 0,
				Tmax = 0,
				hmin = 1 << 30;
	double		worst = 0;
	sm_error	err;

	for (size_t i = 0; i < cases->count; i++)
	{
		const sm_json *c = cases->items[i];

		if (strcmp(sm_json_get(c, "model")->string, name) != 0)
			continue;
		{
			int			T = (int) sm_json_get(c, "T")->integer,
						h = (int) sm_json_get(c, "h")->integer;
			float	   *x = floats(sm_json_get(c, "history")),
					   *fut = floats(sm_json_get(c, "future")),
					   *want = floats(sm_json_get(c, "point")),
					   *wantq = floats(sm_json_get(c, "quant")),
					   *point = malloc(sizeof(float) * (size_t) h * F),
					   *quant = malloc(sizeof(float) * (size_t) h * F * (Q ? Q : 1));
			sm_forecast_opts opts = {.horizon = h, .future = nf ? fut : NULL,
			.quantiles = m->sh.quantiles, .n_quantiles = Q};
			sm_status	rc = sm_seqmodel_forecast(m, x, 1, T, NULL, &opts, point, Q ? quant : NULL, &err);
			double		e;

			CHECK_MSG(rc == SM_OK, "%s T %d h %d: %s", name, T, h, rc == SM_OK ? "" : err.message);
			if (rc == SM_OK)
			{
				e = normwise(point, want, (size_t) h * F);
				if (Q)
					e = fmax(e, normwise(quant, wantq, (size_t) h * F * Q));
				CHECK_MSG(e < 1e-5, "%s T %d h %d: max normwise deviation %.2e", name, T, h, e);
				worst = fmax(worst, e);
			}
			B++;
			Tmax = T > Tmax ? T : Tmax;
			hmin = h < hmin ? h : hmin;
			free(x);
			free(fut);
			free(want);
			free(wantq);
			free(point);
			free(quant);
		}
	}
	printf("  %-26s %d cases alone: max normwise deviation %.2e\n", name, B, worst);

	/* batched: right-aligned histories, the first hmin steps of each */
	{
		float	   *x = calloc((size_t) B * Tmax * I, sizeof(float)),
				   *fut = calloc((size_t) B * hmin * (nf ? nf : 1), sizeof(float)),
				   *want = malloc(sizeof(float) * (size_t) B * hmin * F),
				   *point = malloc(sizeof(float) * (size_t) B * hmin * F);
		int		   *len = malloc(sizeof(int) * B);
		int			b = 0;
		sm_forecast_opts opts = {.horizon = hmin, .future = nf ? fut : NULL};

		for (size_t i = 0; i < cases->count; i++)
		{
			const sm_json *c = cases->items[i];
			int			T,
						h;
			const sm_json *hist,
					   *fu,
					   *pt;

			if (strcmp(sm_json_get(c, "model")->string, name) != 0)
				continue;
			T = (int) sm_json_get(c, "T")->integer;
			h = (int) sm_json_get(c, "h")->integer;
			hist = sm_json_get(c, "history");
			fu = sm_json_get(c, "future");
			pt = sm_json_get(c, "point");
			len[b] = T;
			for (int j = 0; j < T * I; j++)
				x[((size_t) b * Tmax + Tmax - T) * I + j] = (float) hist->items[j]->number;
			for (int k = 0; k < hmin; k++)
			{
				for (int j = 0; j < nf; j++)
					fut[((size_t) b * hmin + k) * nf + j] = (float) fu->items[k * nf + j]->number;
				for (int f = 0; f < F; f++)
					want[((size_t) b * hmin + k) * F + f] = (float) pt->items[k * F + f]->number;
			}
			(void) h;
			b++;
		}
		CHECK(sm_seqmodel_forecast(m, x, B, Tmax, len, &opts, point, NULL, &err) == SM_OK);
		{
			double		e = normwise(point, want, (size_t) B * hmin * F);

			CHECK_MSG(e < 1e-5, "%s batched: max normwise deviation %.2e", name, e);
			printf("  %-26s %d cases batched, %d steps: max normwise deviation %.2e\n", name, B, hmin, e);
		}
		/* missing future covariates, or given to a model that takes none */
		opts.future = nf ? NULL : fut;
		CHECK_ERR((sm_seqmodel_forecast(m, x, B, Tmax, len, &opts, point, NULL, &err), err), SM_ERR_INVALID,
				  nf ? "needs future covariates" : "takes no future covariates");
		free(x);
		free(fut);
		free(want);
		free(point);
		free(len);
	}
}

/* configs whose covariate keys are wrong: each error names the key */
static void
config_errors(void)
{
	static const char *const bad[][3] = {
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 1, \"targets\": 0}", "\"targets\" must be an array of input feature indices"},
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 1, \"targets\": [0], \"future_covariates\": [1, 3]}", "\"future_covariates\" has an invalid feature index at position 2"},
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 1, \"targets\": [0.5]}", "\"targets\" has an invalid feature index at position 1"},
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 1, \"targets\": [0, 0], \"future_covariates\": [1, 2]}", "\"targets\" lists feature 0 twice"},
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 1, \"targets\": [0, 1], \"future_covariates\": [1, 2]}", "\"future_covariates\" and \"targets\" both list feature 1"},
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 1, \"targets\": [0], \"future_covariates\": [1]}", "leave feature 2 out"},
		{"lstm", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 1, \"targets\": []}", "\"targets\" must list at least one feature"},
		{"lstm", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 1, \"future_covariates\": [0, 1]}", "leave no feature as a target"},
		{"lstm", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 1, \"past_covariates\": [1]}", "\"past_covariates\" needs \"forecast\": \"direct\""},
		{"lstm", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 4, \"forecast\": \"direct\", \"future_covariates\": [1]}", "\"future_covariates\" needs \"forecast\": \"recursive\""},
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 3, \"future_covariates\": [1]}", "output_size equal to the number of targets"},
		{"gru", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 4, \"future_covariates\": [1], \"distribution\": \"gaussian\"}", "2 * the number of targets"},
		{"gru", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 2, \"future_covariates\": [1], \"quantiles\": [0.1, 0.9], \"output_mean\": 1, \"output_std\": 1}", NULL},
		{"gru", "{\"input_size\": 2, \"hidden_size\": 4, \"output_size\": 6, \"future_covariates\": [1], \"quantiles\": [0.1, 0.9]}", "output_size 2 (the number of targets * 2 quantiles)"},
		{"gru", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 1, \"future_covariates\": [1, 2], \"output_mean\": [1, 2]}", "\"output_mean\" has 2 values, expected 1"},
		{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"output_size\": 5, \"forecast\": \"direct\", \"past_covariates\": [1], \"targets\": [0, 2], \"quantiles\": [0.5]}", "multiple of 2"},
	};
	sm_error	err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		sm_status	rc;

		if (bad[i][2] == NULL)
		{
			sm_model   *model = sm_test_make_model(bad[i][0], bad[i][1], 7, 0.5, false);

			CHECK_MSG(model != NULL, "config %zu is valid", i);
			sm_model_free(model);
			continue;
		}
		rc = sm_model_check(bad[i][0], bad[i][1], strlen(bad[i][1]), NULL, 0, &err);
		CHECK_MSG(rc == SM_ERR_INVALID, "config %zu is refused", i);
		CHECK_MSG(rc != SM_OK && strstr(err.message, bad[i][2]) != NULL, "config %zu: %s", i, err.message);
	}
}

void
test_cov(void)
{
	size_t		n;
	char	   *text = sm_test_read_file(FIXTURES "cov_cases.json", &n);
	sm_json    *doc = NULL;
	sm_error	err;

	CHECK_MSG(text != NULL, "cannot read " FIXTURES "cov_cases.json: the fixtures are required");
	if (text == NULL)
		return;
	CHECK(sm_json_parse(text, n, &doc, &err) == SM_OK);
	free(text);
	if (doc == NULL)
		return;
	{
		const sm_json *models = sm_json_get(doc, "models"),
				   *cases = sm_json_get(doc, "cases");

		for (size_t i = 0; i < models->count; i++)
		{
			const sm_json *mj = models->items[i];
			const char *name = sm_json_get(mj, "name")->string;
			char		path[512];
			sm_model   *model;
			sm_seqmodel m;

			snprintf(path, sizeof(path), FIXTURES "%s", sm_json_get(mj, "file")->string);
			model = sm_test_load_model(sm_json_get(mj, "arch")->string, path,
									   sm_json_get(mj, "config")->string);

			CHECK_MSG(model != NULL && sm_seqmodel_of(model, &m), "model %s loads", name);
			if (model == NULL)
				continue;
			model_cases(&m, name, cases);
			if (m.rnn && m.sh.n_future > 0 && m.rnn->D == 1 && m.sh.context == 0)
				CHECK_ERR((sm_rnn_state_check(m.rnn, &err), err), SM_ERR_UNSUPPORTED,
						  "future covariates cannot keep a state");
			sm_model_free(model);
		}
	}
	sm_json_free(doc);
	config_errors();
}
