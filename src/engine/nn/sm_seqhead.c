/*
 * sm_seqhead.c -- forecasting semantics shared by the sequence archs (see
 * sm_seqhead.h).
 */
#include "sm_seqhead.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/sm_activ.h"

/* A number or an array of `n` numbers (std: all > 0) into out[n]. */
static sm_status
config_vector(const sm_config *cfg, const char *key, int64_t n, bool positive,
			  float *out, bool *present, sm_error *err)
{
	const sm_json *v = sm_json_get(cfg->json, key);

	*present = v != NULL;
	if (v == NULL)
		return SM_OK;
	if (v->type == SM_JSON_NUMBER)
	{
		for (int64_t i = 0; i < n; i++)
			out[i] = (float) v->number;
	}
	else if (v->type == SM_JSON_ARRAY)
	{
		if ((int64_t) v->count != n)
		{
			sm_fail(err, SM_ERR_INVALID, "config key \"%s\" has %zu values, expected %lld",
					key, v->count, (long long) n);
			sm_detail(err, "Give one number for every feature, or a single number for all.");
			return err->code;
		}
		for (int64_t i = 0; i < n; i++)
		{
			if (v->items[i]->type != SM_JSON_NUMBER)
				return sm_fail(err, SM_ERR_INVALID, "config key \"%s\" must hold numbers, not %s",
							   key, sm_json_type_name(v->items[i]->type));
			out[i] = (float) v->items[i]->number;
		}
	}
	else
		return sm_fail(err, SM_ERR_INVALID, "config key \"%s\" must be a number or an array of numbers, not %s",
					   key, sm_json_type_name(v->type));
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(out[i]) || (positive && !(out[i] > 0.0f)))
		{
			sm_fail(err, SM_ERR_INVALID, "config key \"%s\" has an invalid value at position %lld",
					key, (long long) i + 1);
			sm_detail(err, positive ? "Standard deviations must be finite and greater than zero; it is %g."
					  : "Values must be finite; it is %g.", (double) out[i]);
			return err->code;
		}
	return SM_OK;
}

/*
 * An array of input feature indices (0 .. I-1, each once) into out[*n];
 * owner[i] records which key (1 + k) holds feature i, for disjointness.
 */
static sm_status
config_indices(const sm_config *cfg, const char *key, int k, const char *const *keys,
			   int64_t I, int *out, int *n, int *owner, bool *present, sm_error *err)
{
	const sm_json *v = sm_json_get(cfg->json, key);

	*n = 0;
	*present = v != NULL;
	if (v == NULL)
		return SM_OK;
	if (v->type != SM_JSON_ARRAY)
	{
		sm_fail(err, SM_ERR_INVALID, "config key \"%s\" must be an array of input feature indices, not %s",
				key, sm_json_type_name(v->type));
		sm_detail(err, "Input features are numbered from 0 to input_size - 1.");
		return err->code;
	}
	for (size_t i = 0; i < v->count; i++)
	{
		const sm_json *e = v->items[i];
		double		x = e->type == SM_JSON_NUMBER ? e->number : -1;

		if (e->type != SM_JSON_NUMBER || x != floor(x) || x < 0 || x >= (double) I)
		{
			sm_fail(err, SM_ERR_INVALID, "config key \"%s\" has an invalid feature index at position %zu",
					key, i + 1);
			if (e->type == SM_JSON_NUMBER)
				sm_detail(err, "Input features are numbered from 0 to %lld (input_size %lld); it is %g.",
						  (long long) I - 1, (long long) I, x);
			else
				sm_detail(err, "Input features are numbered from 0 to %lld (input_size %lld); it is %s.",
						  (long long) I - 1, (long long) I, sm_json_type_name(e->type));
			return err->code;
		}
		if (owner[(int) x] != 0)
		{
			if (owner[(int) x] == k + 1)
				sm_fail(err, SM_ERR_INVALID, "config key \"%s\" lists feature %d twice", key, (int) x);
			else
				sm_fail(err, SM_ERR_INVALID, "config keys \"%s\" and \"%s\" both list feature %d",
						keys[owner[(int) x] - 1], key, (int) x);
			sm_detail(err, "Each input feature is a target, a past covariate or a future covariate.");
			return err->code;
		}
		owner[(int) x] = k + 1;
		out[(*n)++] = (int) x;
	}
	return SM_OK;
}

/*
 * targets, past_covariates, future_covariates (sm_seqhead.h); needs
 * sh->I and sh->direct.  Leaves sh->F, and sh->targets / sh->future when
 * the model has covariates (or permutes its targets).
 */
static sm_status
read_covariates(const sm_config *cfg, sm_seqhead *sh, sm_error *err)
{
	static const char *const keys[3] = {"past_covariates", "future_covariates", "targets"};
	const int	I = sh->I;
	int		   *owner = sm_alloc0(sizeof(int) * (size_t) I);
	int		   *idx[3];
	int			n[3] = {0, 0, 0};
	bool		present[3] = {false, false, false};
	bool		identity;
	sm_status	rc = SM_OK;

	idx[0] = sm_alloc_array((size_t) I, sizeof(int));
	idx[1] = sm_alloc_array((size_t) I, sizeof(int));
	idx[2] = sm_alloc_array((size_t) I, sizeof(int));
	if (owner == NULL || idx[0] == NULL || idx[1] == NULL || idx[2] == NULL)
	{
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int k = 0; k < 3; k++)
		if ((rc = config_indices(cfg, keys[k], k, keys, I, idx[k], &n[k], owner, &present[k], err)) != SM_OK)
			goto done;
	sh->F = I;
	if (!present[0] && !present[1] && !present[2])
		goto done;
	if (present[2] && n[2] == 0)
	{
		rc = sm_fail(err, SM_ERR_INVALID, "config key \"targets\" must list at least one feature");
		goto done;
	}
	if (!present[2])
	{
		/* targets: every feature no covariate key lists, in order */
		for (int i = 0; i < I; i++)
			if (owner[i] == 0)
				idx[2][n[2]++] = i;
		if (n[2] == 0)
		{
			sm_fail(err, SM_ERR_INVALID, "config keys \"past_covariates\" and \"future_covariates\" leave no feature as a target");
			sm_hint(err, "List the features the model predicts in config key \"targets\".");
			rc = err->code;
			goto done;
		}
	}
	else
		for (int i = 0; i < I; i++)
			if (owner[i] == 0)
			{
				sm_fail(err, SM_ERR_INVALID, "config key \"targets\" and the covariate keys leave feature %d out", i);
				sm_detail(err, "Every input feature (0 to %d) must be listed in \"targets\", \"past_covariates\" or \"future_covariates\".",
						  I - 1);
				rc = err->code;
				goto done;
			}
	if (n[0] > 0 && !sh->direct)
	{
		sm_fail(err, SM_ERR_INVALID, "config key \"past_covariates\" needs \"forecast\": \"direct\"");
		sm_detail(err, "A recursive forecast feeds each step back as the next input, and past-only covariates have no values ahead to feed.");
		sm_hint(err, "List features whose values ahead are known in \"future_covariates\", features the model predicts in \"targets\", or forecast directly.");
		rc = err->code;
		goto done;
	}
	if (n[1] > 0 && sh->direct)
	{
		sm_fail(err, SM_ERR_INVALID, "config key \"future_covariates\" needs \"forecast\": \"recursive\"");
		sm_detail(err, "A direct forecaster reads only the history, so values ahead would not reach it.");
		sm_hint(err, "List the features in \"past_covariates\".");
		rc = err->code;
		goto done;
	}
	sh->F = n[2];
	sh->n_past = n[0];
	sh->n_future = n[1];
	identity = n[2] == I;
	for (int j = 0; j < n[2] && identity; j++)
		identity = idx[2][j] == j;
	if (!identity)
	{
		sh->targets = idx[2];
		idx[2] = NULL;
	}
	if (n[1] > 0)
	{
		sh->future = idx[1];
		idx[1] = NULL;
	}
done:
	sm_free(owner);
	for (int k = 0; k < 3; k++)
		sm_free(idx[k]);
	return rc;
}

sm_status
sm_seqhead_read(const sm_config *cfg, int64_t I, int64_t O, sm_seqhead *sh, sm_error *err)
{
	const char *s;
	int64_t		v;
	bool		present;
	sm_status	rc;

	memset(sh, 0, sizeof(*sh));
	sh->I = (int) I;
	sh->O = (int) O;
	if ((rc = sm_config_string(cfg, "forecast", "recursive", &s, err)) != SM_OK)
		return rc;
	if (strcmp(s, "direct") == 0)
		sh->direct = true;
	else if (strcmp(s, "recursive") != 0)
		return sm_fail(err, SM_ERR_INVALID, "config key \"forecast\" must be \"recursive\" or \"direct\", not \"%s\"", s);
	if ((rc = sm_config_int(cfg, "context", false, 0, 1, INT32_MAX, &v, err)) != SM_OK)
		return rc;
	sh->context = (int) v;
	if ((rc = sm_config_int(cfg, "min_history", false, 1, 1, INT32_MAX, &v, err)) != SM_OK)
		return rc;
	sh->min_history = (int) v;
	if ((rc = read_covariates(cfg, sh, err)) != SM_OK)
		return rc;

	sh->kind = O > 0 ? SM_HEAD_POINT : SM_HEAD_NONE;
	{
		const sm_json *q = sm_json_get(cfg->json, "quantiles");

		if (q != NULL)
		{
			if (q->type != SM_JSON_ARRAY || q->count == 0 || q->count > SM_MAX_QUANTILES)
				return sm_fail(err, SM_ERR_INVALID, "config key \"quantiles\" must be an array of 1 to %d numbers",
							   SM_MAX_QUANTILES);
			sh->n_quantiles = (int) q->count;
			for (size_t i = 0; i < q->count; i++)
			{
				double		x = q->items[i]->type == SM_JSON_NUMBER ? q->items[i]->number : -1;

				if (!(x > 0 && x < 1) || (i > 0 && !(x > sh->quantiles[i - 1])))
				{
					sm_fail(err, SM_ERR_INVALID, "config key \"quantiles\" must hold increasing numbers between 0 and 1");
					sm_detail(err, "Position %zu is not.", i + 1);
					return err->code;
				}
				sh->quantiles[i] = (float) x;
				if (fabs(x - 0.5) < fabs(sh->quantiles[sh->median] - 0.5))
					sh->median = (int) i;
			}
			sh->kind = SM_HEAD_QUANTILE;
		}
	}
	if ((rc = sm_config_bool(cfg, "sort_quantiles", false, &sh->sort_quantiles, err)) != SM_OK)
		return rc;
	if (sh->sort_quantiles && sh->kind != SM_HEAD_QUANTILE)
		return sm_fail(err, SM_ERR_INVALID, "config key \"sort_quantiles\" needs a quantile head (config key \"quantiles\")");
	if ((rc = sm_config_string(cfg, "distribution", NULL, &s, err)) != SM_OK)
		return rc;
	if (s != NULL)
	{
		if (strcmp(s, "gaussian") != 0)
			return sm_fail(err, SM_ERR_INVALID, "config key \"distribution\" must be \"gaussian\", not \"%s\"", s);
		if (sh->kind == SM_HEAD_QUANTILE)
			return sm_fail(err, SM_ERR_INVALID, "config keys \"quantiles\" and \"distribution\" exclude each other");
		if (sh->direct)
			return sm_fail(err, SM_ERR_UNSUPPORTED, "a gaussian head forecasts recursively only");
		sh->kind = SM_HEAD_GAUSSIAN;
	}
	if (sh->kind != SM_HEAD_POINT && sh->kind != SM_HEAD_NONE && O == 0)
		return sm_fail(err, SM_ERR_INVALID, "a %s head needs config key \"output_size\"",
					   sh->kind == SM_HEAD_QUANTILE ? "quantile" : "gaussian");
	if (O == 0 && sh->direct)
		return sm_fail(err, SM_ERR_INVALID, "a direct forecaster needs a head (config key \"output_size\")");

	/* head width versus forecast mode and the F targets */
	if (O > 0)
	{
		const int64_t F = sh->F;
		const bool	cov = F != I || sh->targets != NULL;
		int64_t		per_step = F * (sh->kind == SM_HEAD_QUANTILE ? sh->n_quantiles : 1);

		if (sh->kind == SM_HEAD_GAUSSIAN && O != 2 * F)
		{
			if (cov)
			{
				sm_fail(err, SM_ERR_INVALID, "a gaussian head must have output_size 2 * the number of targets");
				sm_detail(err, "output_size is %lld; the model has %lld target%s.",
						  (long long) O, (long long) F, F == 1 ? "" : "s");
			}
			else
			{
				sm_fail(err, SM_ERR_INVALID, "a gaussian head must have output_size 2 * input_size");
				sm_detail(err, "output_size is %lld; input_size is %lld.", (long long) O, (long long) I);
			}
			return err->code;
		}
		if (sh->kind == SM_HEAD_QUANTILE && !sh->direct && O != per_step)
		{
			if (cov)
				sm_fail(err, SM_ERR_INVALID, "a recursive quantile head must have output_size %lld (the number of targets * %d quantiles)",
						(long long) per_step, sh->n_quantiles);
			else
				sm_fail(err, SM_ERR_INVALID, "a recursive quantile head must have output_size input_size * %d",
						sh->n_quantiles);
			sm_detail(err, "output_size is %lld.", (long long) O);
			return err->code;
		}
		if (cov && sh->kind == SM_HEAD_POINT && !sh->direct && O != F)
		{
			sm_fail(err, SM_ERR_INVALID, "a recursive forecaster with covariates must have output_size equal to the number of targets");
			sm_detail(err, "output_size is %lld; the model has %lld target%s.",
					  (long long) O, (long long) F, F == 1 ? "" : "s");
			sm_hint(err, "For a head that outputs the whole horizon at once, set config \"forecast\": \"direct\".");
			return err->code;
		}
		if (sh->direct)
		{
			if (O % per_step != 0)
			{
				sm_fail(err, SM_ERR_INVALID, "a direct forecaster's output_size must be a multiple of %lld",
						(long long) per_step);
				sm_detail(err, "Its output is laid out [step][feature]%s; output_size is %lld.",
						  sh->kind == SM_HEAD_QUANTILE ? "[quantile]" : "", (long long) O);
				return err->code;
			}
			sh->max_direct = (int) (O / per_step);
		}
	}

	/* scaling */
	{
		float	  **dst[4] = {&sh->in_mean, &sh->in_std, &sh->out_mean, &sh->out_std};
		const char *keys[4] = {"input_mean", "input_std", "output_mean", "output_std"};

		for (int k = 0; k < 4; k++)
		{
			int64_t		n = k < 2 ? I : sh->F;
			float	   *vec = sm_alloc_array((size_t) n, sizeof(float));

			if (vec == NULL)
				return sm_fail(err, SM_ERR_NOMEM, "out of memory");
			rc = config_vector(cfg, keys[k], n, k % 2 == 1, vec, &present, err);
			if (rc != SM_OK || !present)
				sm_free(vec);
			else
				*dst[k] = vec;
			if (rc != SM_OK)
				return rc;
		}
		if (sh->out_mean != NULL || sh->out_std != NULL)
			if (O == 0)
				return sm_fail(err, SM_ERR_INVALID, "output scaling needs a head (config key \"output_size\")");
	}
	return SM_OK;
}

void
sm_seqhead_free(sm_seqhead *sh)
{
	sm_free(sh->in_mean);
	sm_free(sh->in_std);
	sm_free(sh->out_mean);
	sm_free(sh->out_std);
	sm_free(sh->targets);
	sm_free(sh->future);
	sh->in_mean = sh->in_std = sh->out_mean = sh->out_std = NULL;
	sh->targets = sh->future = NULL;
}

void
sm_seqhead_history_row(const sm_seqhead *sh, const float *x, int len, int t,
					   const float *fut0, float *row)
{
	const int	I = sh->I;

	memcpy(row, x + (size_t) t * I, sizeof(float) * I);
	for (int j = 0; j < sh->n_future; j++)
		row[sh->future[j]] = t + 1 < len ? x[(size_t) (t + 1) * I + sh->future[j]] : fut0[j];
}

void
sm_seqhead_feed_row(const sm_seqhead *sh, const float *next, const float *fut, float *row)
{
	if (sh->targets == NULL && sh->n_future == 0)
	{
		memcpy(row, next, sizeof(float) * sh->F);
		return;
	}
	for (int j = 0; j < sh->F; j++)
		row[sh->targets ? sh->targets[j] : j] = next[j];
	for (int j = 0; j < sh->n_future; j++)
		row[sh->future[j]] = fut ? fut[j] : 0.0f;
}

void
sm_seqhead_scale_input(const sm_seqhead *sh, float *row)
{
	for (int i = 0; i < sh->I; i++)
	{
		if (sh->in_mean)
			row[i] -= sh->in_mean[i];
		if (sh->in_std)
			row[i] /= sh->in_std[i];
	}
}

/* insertion sort of a few values (a head's quantiles: at most 99) */
static void
sort_floats(float *v, int n)
{
	for (int i = 1; i < n; i++)
	{
		float		x = v[i];
		int			k = i;

		for (; k > 0 && v[k - 1] > x; k--)
			v[k] = v[k - 1];
		v[k] = x;
	}
}

void
sm_seqhead_unscale(const sm_seqhead *sh, float *out, size_t n)
{
	const int	W = sh->O;

	for (size_t r = 0; r < n; r++)
	{
		float	   *o = out + r * W;

		for (int j = 0; j < W; j++)
		{
			int			f;		/* target feature of output j */
			bool		is_scale = false;

			switch (sh->kind)
			{
				case SM_HEAD_GAUSSIAN:
					is_scale = j >= sh->F;
					f = j % sh->F;
					if (is_scale)
						o[j] = sm_softplus(o[j]);
					break;
				case SM_HEAD_QUANTILE:
					f = (j / sh->n_quantiles) % sh->F;
					break;
				default:
					f = j % sh->F;
					break;
			}
			if (sh->out_std)
				o[j] *= sh->out_std[f];
			if (sh->out_mean && !is_scale)
				o[j] += sh->out_mean[f];
		}
		if (sh->sort_quantiles)
			for (int j = 0; j < W; j += sh->n_quantiles)
				sort_floats(o + j, sh->n_quantiles);
	}
}

sm_status
sm_seq_check_lengths(int B, int T, const int *lengths, sm_error *err)
{
	if (B < 0 || T < 1)
		return sm_fail(err, SM_ERR_INVALID, "a sequence needs at least one step");
	if (lengths)
		for (int b = 0; b < B; b++)
			if (lengths[b] < 1 || lengths[b] > T)
				return sm_fail(err, SM_ERR_INVALID, "sequence %d has length %d, outside 1 to %d",
							   b + 1, lengths[b], T);
	return SM_OK;
}

/* ---------------------------------------------------------------- forecasting */

/* splitmix64: a per-path stream from (series seed, path) */
static inline uint64_t
mix64(uint64_t *s)
{
	uint64_t	z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* a standard normal draw (Box-Muller on two 53-bit uniforms) */
static inline double
normal_draw(uint64_t *s)
{
	double		u1 = ((mix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
	double		u2 = (mix64(s) >> 11) * (1.0 / 9007199254740992.0);

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int
cmp_float(const void *a, const void *b)
{
	float		x = *(const float *) a,
				y = *(const float *) b;

	return x < y ? -1 : x > y;
}

/* quantile q of sorted v[0..n) with linear interpolation (torch.quantile) */
static float
sorted_quantile(const float *v, int n, float q)
{
	double		h = (double) (n - 1) * q;
	int			lo = (int) floor(h);
	int			hi = lo + 1 < n ? lo + 1 : lo;

	return (float) (v[lo] + (h - lo) * (v[hi] - v[lo]));
}

void
sm_fc_seed_paths(const sm_fc_plan *p, const sm_forecast_opts *opts, const int *series,
				 int rows, uint64_t *rng)
{
	for (int r = 0; r < rows; r++)
		for (int s = 0; s < p->S; s++)
		{
			size_t		row = (size_t) r * p->S + s;
			uint64_t	seed = opts->series_seeds ? opts->series_seeds[series[r]]
				: opts->seed + (uint64_t) series[r];

			rng[row] = seed * 0x9E3779B97F4A7C15ULL + (uint64_t) s * 0xD1B54A32D192ED03ULL;
			(void) mix64(&rng[row]);
		}
}

sm_status
sm_fc_plan_make(const sm_seqhead *sh, int W, int B, const int *lengths, int T,
				const sm_forecast_opts *opts, sm_fc_plan *p, sm_error *err)
{

	memset(p, 0, sizeof(*p));
	p->F = sh->F;
	p->S = 1;
	if (opts->horizon < 1)
		return sm_fail(err, SM_ERR_INVALID, "horizon must be at least 1, not %d", opts->horizon);
	if (sh->kind == SM_HEAD_NONE && W != sh->F)
	{
		if (sh->F != sh->I)
			sm_fail(err, SM_ERR_INVALID, "this model cannot forecast: its output has %d values per step, its targets %d", W, sh->F);
		else
			sm_fail(err, SM_ERR_INVALID, "this model cannot forecast: its output has %d values per step, its input %d", W, sh->I);
		sm_detail(err, "A recursive forecast feeds each output back as the next input.");
		sm_hint(err, sh->F != sh->I ? "Give the model a head with output_size equal to the number of targets."
				: "Give the model a head with output_size equal to input_size.");
		return err->code;
	}
	if (sh->kind == SM_HEAD_POINT && !sh->direct && sh->O != sh->F)
	{
		sm_fail(err, SM_ERR_INVALID, "this model cannot forecast recursively: its head outputs %d values, its input has %d",
				sh->O, sh->I);
		sm_hint(err, "For a head that outputs the whole horizon at once, set config \"forecast\": \"direct\".");
		return err->code;
	}
	if (sh->n_future > 0 && opts->future == NULL)
	{
		sm_fail(err, SM_ERR_INVALID, "this model needs future covariates");
		sm_detail(err, "It reads %d covariate%s known ahead (config \"future_covariates\") at each of the %d steps forecast.",
				  sh->n_future, sh->n_future == 1 ? "" : "s", opts->horizon);
		sm_hint(err, "Give their values for every step ahead: seqmodel.forecast(model, history, horizon, future) or seqmodel.forecast_query_future.");
		return err->code;
	}
	if (sh->n_future == 0 && opts->future != NULL)
	{
		sm_fail(err, SM_ERR_INVALID, "this model takes no future covariates");
		sm_detail(err, "Its config has no \"future_covariates\".");
		return err->code;
	}
	if (sh->direct && opts->horizon > sh->max_direct)
	{
		sm_fail(err, SM_ERR_INVALID, "horizon %d is longer than this direct forecaster's %d steps",
				opts->horizon, sh->max_direct);
		sm_detail(err, "Its head outputs %d steps at once.", sh->max_direct);
		return err->code;
	}
	for (int b = 0; b < B; b++)
	{
		int			len = lengths ? lengths[b] : T;

		if (len < sh->min_history)
		{
			sm_fail(err, SM_ERR_INVALID, "series %d is too short to forecast", b + 1);
			sm_detail(err, "It has %d steps; the model needs at least %d (config min_history).",
					  len, sh->min_history);
			return err->code;
		}
	}
	if (opts->n_quantiles > 0)
	{
		if (sh->kind == SM_HEAD_QUANTILE)
		{
			for (int i = 0; i < opts->n_quantiles; i++)
			{
				int			k = -1;

				for (int j = 0; j < sh->n_quantiles; j++)
					if (fabsf(opts->quantiles[i] - sh->quantiles[j]) < 1e-6f)
						k = j;
				if (k < 0)
				{
					char		list[SM_DETAIL_LEN - 64] = "";
					size_t		len = 0;

					for (int j = 0; j < sh->n_quantiles && len < sizeof(list); j++)
						len += (size_t) snprintf(list + len, sizeof(list) - len, "%s%g", j ? ", " : "",
												 (double) sh->quantiles[j]);
					sm_fail(err, SM_ERR_INVALID, "quantile %g is not one this model outputs",
							(double) opts->quantiles[i]);
					sm_detail(err, "Its quantile head outputs: %s.", list);
					return err->code;
				}
				p->qmap[i] = k;
			}
		}
		else if (sh->kind == SM_HEAD_GAUSSIAN)
		{
			for (int i = 0; i < opts->n_quantiles; i++)
				if (!(opts->quantiles[i] > 0.0f && opts->quantiles[i] < 1.0f))
					return sm_fail(err, SM_ERR_INVALID, "quantile %g is not between 0 and 1",
								   (double) opts->quantiles[i]);
			if (opts->samples < 2)
				return sm_fail(err, SM_ERR_INVALID, "sampled quantiles need at least 2 samples, not %d",
							   opts->samples);
		}
		else
		{
			sm_fail(err, SM_ERR_INVALID, "this model gives point forecasts only");
			sm_hint(err, "Quantiles need a model with a quantile head (config \"quantiles\") or a gaussian head (\"distribution\").");
			return err->code;
		}
	}
	if (sh->kind == SM_HEAD_GAUSSIAN && opts->samples > 0)
	{
		p->sampling = true;
		p->S = opts->samples;
	}
	return SM_OK;
}

void
sm_fc_record_step(const sm_seqhead *sh, int W, const sm_fc_plan *p,
				  const sm_forecast_opts *opts, const int *series, int rows,
				  int k, const float *out, uint64_t *rng, float *next,
				  float *vals, float *point, float *quant)
{
	const int	F = p->F;
	const int	h = opts->horizon;
	const int	nq = opts->n_quantiles;

	for (int r = 0; r < rows; r++)
	{
		size_t		b = (size_t) series[r];

		for (int f = 0; f < F; f++)
		{
			float	   *pt = point ? point + (b * h + k) * F + f : NULL;
			float	   *qt = quant ? quant + ((b * h + k) * F + f) * nq : NULL;

			if (p->sampling)
			{
				double		sum = 0;

				for (int s = 0; s < p->S; s++)
				{
					size_t		row = (size_t) r * p->S + s;
					const float *o = out + row * W;
					float		v = o[f] + o[F + f] * (float) normal_draw(&rng[row]);

					next[row * F + f] = v;
					vals[s] = v;
					sum += v;
				}
				if (pt)
					*pt = (float) (sum / p->S);
				if (qt)
				{
					qsort(vals, (size_t) p->S, sizeof(float), cmp_float);
					for (int i = 0; i < nq; i++)
						qt[i] = sorted_quantile(vals, p->S, opts->quantiles[i]);
				}
				continue;
			}
			{
				const float *o = out + (size_t) r * W;
				float		v;

				if (sh->kind == SM_HEAD_QUANTILE)
				{
					v = o[f * sh->n_quantiles + sh->median];
					if (qt)
						for (int i = 0; i < nq; i++)
							qt[i] = o[f * sh->n_quantiles + p->qmap[i]];
				}
				else
					v = o[f];	/* point, gaussian mean, or headless output */
				next[(size_t) r * F + f] = v;
				if (pt)
					*pt = v;
			}
		}
	}
}

/* direct: the head's output holds every step at once */
void
sm_fc_record_direct(const sm_seqhead *sh, int W, const sm_fc_plan *p,
					const sm_forecast_opts *opts, const int *series, int rows,
					const float *out, float *point, float *quant)
{
	const int	F = p->F;
	const int	Q = sh->kind == SM_HEAD_QUANTILE ? sh->n_quantiles : 1;
	const int	h = opts->horizon;

	for (int r = 0; r < rows; r++)
	{
		size_t		b = (size_t) series[r];

		for (int k = 0; k < h; k++)
			for (int f = 0; f < F; f++)
			{
				const float *o = out + (size_t) r * W + ((size_t) k * F + f) * Q;

				if (point)
					point[(b * h + k) * F + f] = Q > 1 ? o[sh->median] : o[0];
				if (quant)
					for (int i = 0; i < opts->n_quantiles; i++)
						quant[((b * h + k) * F + f) * opts->n_quantiles + i] = o[p->qmap[i]];
			}
	}
}


