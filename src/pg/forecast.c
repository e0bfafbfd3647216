/*
 * forecast.c -- SQL for recurrent models: predict / predict_steps on one
 * sequence, forecast and forecast_table on one history, the forecast_agg
 * aggregate, and forecast_query over many series in batches.
 *
 * A history is a real[]: 1-D for T steps of one feature (input_size 1), or
 * 2-D [T][input_size].  Forecasts come back in the same shape.
 */
#include "sm_forecast.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "catalog/pg_collation.h"

#include "nn/sm_metrics.h"
#include "nn/sm_seqmodel.h"

/* series per engine call in forecast_query, and padded values per batch */
#define QUERY_BATCH_SERIES 1024
/*
 * ... and in the first batch, when batches overlap the reading (run_batch):
 * the engine starts after a few milliseconds of reading instead of a whole
 * batch's; the batches after it are whole.
 */
#define QUERY_FIRST_BATCH_SERIES 128
#define QUERY_BATCH_VALUES (16 * 1024 * 1024)
#define MAX_SAMPLES 100000
#define MAX_ORIGINS 10000

/*
 * The numeric sequence model called `name` (recurrent, or a transformer
 * with numeric input), or an error naming what it is instead.
 */
static const sm_seqmodel *
sequence_model(const char *name, const char *fn)
{
	const sm_model *model = sm_cache_get(name);
	sm_seqmodel *m = palloc(sizeof(sm_seqmodel));

	if (!sm_seqmodel_of(model, m))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seqmodel.%s does not support arch \"%s\"%s", fn, model->arch->name,
						sm_tfm_of(model) ? " with token input" : ""),
				 errdetail("Model \"%s\" has arch \"%s\"; %s needs a model of numeric sequences: arch rnn, lstm, gru, or transformer with input_size.",
						   name, model->arch->name, fn),
				 sm_tfm_of(model) ? errhint("For token ids use seqmodel.forward.") : 0));
	sm_set_threads(sm_threads);
	return m;
}

/* A history array as [T][I]; checks its width against the model. */
static float *
history_of(ArrayType *arr, const sm_seqmodel *m, const char *name, const char *argname,
		   int *T, bool *one_d)
{
	int			ndim,
				rows,
				cols;
	float	   *x = sm_pg_real_matrix(arr, argname, &ndim, &rows, &cols);

	*one_d = ndim == 1;
	if (ndim == 1)
	{
		if (m->I != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is one-dimensional, but model \"%s\" takes %d features per step",
							argname, name, m->I),
					 errhint("Pass a two-dimensional array, one row of %d values per step.", m->I)));
		*T = cols;
	}
	else
	{
		if (cols != m->I)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has %d features per step, but model \"%s\" takes %d",
							argname, cols, name, m->I),
					 errdetail("The second dimension of the array must have length input_size.")));
		*T = rows;
	}
	return x;
}

static void
check_horizon(int horizon)
{
	if (horizon < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must be at least 1, not %d", horizon)));
	if (horizon > sm_max_horizon)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon %d exceeds seqmodel.max_horizon (%d)", horizon, sm_max_horizon),
				 errhint("A superuser can raise seqmodel.max_horizon.")));
}

static void
check_min_history(const sm_seqmodel *m, int len, const char *name, const char *series)
{
	if (len < m->sh.min_history)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 series ? errmsg("series \"%s\" is too short to forecast", series)
				 : errmsg("history is too short to forecast"),
				 errdetail("It has %d steps; model \"%s\" needs at least %d (config min_history).",
						   len, name, m->sh.min_history)));
}

PG_FUNCTION_INFO_V1(sm_predict_steps);
/* seqmodel.predict_steps(model, input): the output at every step, [T][W] */
Datum
sm_predict_steps(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const sm_seqmodel *m = sequence_model(name, "predict_steps");
	int			T;
	bool		one_d;
	float	   *x = history_of(PG_GETARG_ARRAYTYPE_P(1), m, name, "input", &T, &one_d);
	int			W = m->W;
	float	   *y = palloc_extended(sizeof(float) * (size_t) T * W, MCXT_ALLOC_HUGE);
	sm_error	err;

	SM_PG_CHECK(sm_seqmodel_forward(m, x, 1, T, NULL, NULL, y, &err), &err);
	sm_pg_check_output(name, y, (size_t) T * W);
	PG_RETURN_ARRAYTYPE_P(sm_pg_real_array(y, 2, T, W));
}

/* seqmodel.predict for numeric sequence models: the output at the last step */
Datum
sm_predict_sequence(const char *name, ArrayType *input)
{
	const sm_seqmodel *m = sequence_model(name, "predict");
	int			T;
	bool		one_d;
	float	   *x = history_of(input, m, name, "input", &T, &one_d);
	int			W = m->W;
	float	   *y = palloc(sizeof(float) * W);
	sm_error	err;

	SM_PG_CHECK(sm_seqmodel_forward(m, x, 1, T, NULL, y, NULL, &err), &err);
	sm_pg_check_output(name, y, W);
	PG_RETURN_ARRAYTYPE_P(sm_pg_real_array(y, 1, 1, W));
}

/*
 * A model's future covariates: given (future_given) to a model that takes
 * none, or missing for one that needs them, is an error naming the function
 * to use.
 */
static void
check_future_model(const sm_seqmodel *m, const char *name, const char *fn, bool future_given)
{
	if (future_given && m->sh.n_future == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" takes no future covariates", name),
				 errdetail("Its config has no \"future_covariates\"."),
				 errhint("Call seqmodel.%s without future covariates.",
						 strcmp(fn, "forecast_query_future") == 0 ? "forecast_query"
						 : strcmp(fn, "forecast_table_future") == 0 ? "forecast_table" : fn)));
	if (!future_given && m->sh.n_future > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" needs future covariates", name),
				 errdetail("It reads %d covariate%s known ahead (config \"future_covariates\") at every step forecast.",
						   m->sh.n_future, m->sh.n_future == 1 ? "" : "s"),
				 errhint("Use seqmodel.forecast(model, history, horizon, future), seqmodel.forecast_table_future or seqmodel.forecast_query_future.")));
}

/*
 * The future argument: [steps][n_future] (1-D [steps] for one covariate),
 * at least `horizon` steps (later ones are ignored) -> [horizon][n_future].
 */
static float *
future_of(ArrayType *arr, const sm_seqmodel *m, const char *name, int horizon)
{
	const int	nf = m->sh.n_future;
	int			ndim,
				rows,
				cols;
	float	   *f = sm_pg_real_matrix(arr, "future", &ndim, &rows, &cols);

	if (ndim == 1)
	{
		rows = cols;
		cols = 1;
	}
	if (cols != nf || (ndim == 1 && nf != 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("future has %d values per step, but model \"%s\" takes %d future covariates",
						ndim == 1 ? 1 : cols, name, nf),
				 errdetail("Pass one row per step ahead with a value for each of config \"future_covariates\", in its order."),
				 nf > 1 && ndim == 1 ? errhint("Pass a two-dimensional array, one row of %d values per step.", nf) : 0));
	if (rows < horizon)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("future has no row for step %d", rows + 1),
				 errdetail("A forecast of %d steps needs the future covariates of every step 1 to %d; future has %d rows.",
						   horizon, horizon, rows)));
	return f;
}

/* forecast one history: point [h][F]; future [h][n_future] or NULL */
static ArrayType *
forecast_one(const char *name, const sm_seqmodel *m, float *x, int T, bool one_d, int horizon,
			 const float *future)
{
	sm_forecast_opts opts = {.horizon = horizon, .future = future};
	float	   *point;
	sm_error	err;

	check_horizon(horizon);
	check_min_history(m, T, name, NULL);
	check_future_model(m, name, "forecast", future != NULL);
	point = palloc(sizeof(float) * (size_t) horizon * m->F);
	SM_PG_CHECK(sm_seqmodel_forecast(m, x, 1, T, NULL, &opts, point, NULL, &err), &err);
	sm_pg_check_output(name, point, (size_t) horizon * m->F);
	return one_d && m->F == 1 ? sm_pg_real_array(point, 1, 1, horizon)
		: sm_pg_real_array(point, 2, horizon, m->F);
}

PG_FUNCTION_INFO_V1(sm_forecast);
/* seqmodel.forecast(model, history, horizon): point forecasts */
Datum
sm_forecast(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const sm_seqmodel *m = sequence_model(name, "forecast");
	int			T;
	bool		one_d;
	float	   *x = history_of(PG_GETARG_ARRAYTYPE_P(1), m, name, "history", &T, &one_d);

	PG_RETURN_ARRAYTYPE_P(forecast_one(name, m, x, T, one_d, PG_GETARG_INT32(2), NULL));
}

PG_FUNCTION_INFO_V1(sm_forecast_future);
/* seqmodel.forecast(model, history, horizon, future): with future covariates */
Datum
sm_forecast_future(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const sm_seqmodel *m = sequence_model(name, "forecast");
	int			T;
	bool		one_d;
	int			horizon = PG_GETARG_INT32(2);
	float	   *x = history_of(PG_GETARG_ARRAYTYPE_P(1), m, name, "history", &T, &one_d);
	float	   *future;

	check_horizon(horizon);
	check_future_model(m, name, "forecast", true);
	future = future_of(PG_GETARG_ARRAYTYPE_P(3), m, name, horizon);
	PG_RETURN_ARRAYTYPE_P(forecast_one(name, m, x, T, one_d, horizon, future));
}

/* ------------------------------------------------------------ quantile options */

/* quantile_opts: sm_forecast.h */

/*
 * Quantiles, samples and seed arguments -> engine options.  quantiles NULL:
 * a quantile head's own quantiles, else none (point only).
 */
static void
read_quantile_args(const sm_seqmodel *m, FunctionCallInfo fcinfo, int qarg, int horizon,
				   quantile_opts *qo)
{
	int			samples = PG_ARGISNULL(qarg + 1) ? 100 : PG_GETARG_INT32(qarg + 1);
	int64		seed = PG_ARGISNULL(qarg + 2) ? 0 : PG_GETARG_INT64(qarg + 2);

	memset(qo, 0, sizeof(*qo));
	if (!PG_ARGISNULL(qarg))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(qarg);
		int			ndim,
					rows,
					cols;
		float	   *q = sm_pg_real_matrix(arr, "quantiles", &ndim, &rows, &cols);

		if (ndim != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("quantiles must be a one-dimensional array")));
		for (int i = 0; i < cols; i++)
			if (!(q[i] > 0.0f && q[i] < 1.0f))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("quantile %g is not between 0 and 1", (double) q[i])));
		qo->q = q;
		qo->nq = cols;
	}
	else if (m->sh.kind == SM_HEAD_QUANTILE)
	{
		qo->q = palloc(sizeof(float) * m->sh.n_quantiles);
		memcpy(qo->q, m->sh.quantiles, sizeof(float) * m->sh.n_quantiles);
		qo->nq = m->sh.n_quantiles;
	}
	if (samples < 0 || samples > MAX_SAMPLES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("samples must be between 0 and %d, not %d", MAX_SAMPLES, samples)));
	qo->opts.horizon = horizon;
	qo->opts.samples = m->sh.kind == SM_HEAD_GAUSSIAN ? samples : 0;
	qo->opts.seed = (uint64) seed;
	qo->opts.quantiles = qo->q;
	qo->opts.n_quantiles = qo->nq;
}

/*
 * emit the rows of one series' forecast: point row (quantile NULL), then
 * each quantile; columns [series,] step, [time,] value, quantile, feature
 */
static void
emit_forecast_rows(ReturnSetInfo *rsinfo, const char *series, const quantile_opts *qo,
				   int F, const int *targets, const float *point, const float *quant,
				   const sm_series_time *st)
{
	int			h = qo->opts.horizon;
	int			c = 0,
				cstep,
				ctime = -1,
				cval,
				cq,
				cf;
	Datum		values[6];
	bool		nulls[6] = {0};

	if (series)
		values[c++] = CStringGetTextDatum(series);
	cstep = c++;
	if (st)
		ctime = c++;
	cval = c++;
	cq = c++;
	cf = c++;
	for (int k = 0; k < h; k++)
	{
		values[cstep] = Int32GetDatum(k + 1);
		if (st)
			values[ctime] = sm_time_ahead(st, k + 1);
		for (int f = 0; f < F; f++)
		{
			values[cval] = Float4GetDatum(point[(size_t) k * F + f]);
			nulls[cq] = true;
			values[cf] = Int32GetDatum((targets ? targets[f] : f) + 1);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			nulls[cq] = false;
			for (int i = 0; i < qo->nq; i++)
			{
				values[cval] = Float4GetDatum(quant[((size_t) k * F + f) * qo->nq + i]);
				values[cq] = Float4GetDatum(qo->q[i]);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
	}
}

/* ------------------------------------------------------------ times */

/* the kind of a time form's times: the declared type of its result's column tcol (0-based) */
static sm_time_kind
result_time_kind(FunctionCallInfo fcinfo, int tcol)
{
	TupleDesc	desc;
	sm_time_kind kind;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	kind = sm_time_kind_of(TupleDescAttr(desc, tcol)->atttypid);
	if (kind == SM_TIME_NONE)
		elog(ERROR, "column %d of the result is not a time type", tcol + 1);
	return kind;
}

/* the time reader of a time form: freq from argument farg (NULL: infer) */
static void
time_reader_of(FunctionCallInfo fcinfo, sm_time_kind kind, const char *fn, int farg,
			   sm_time_reader *tr)
{
	sm_freq		freq;

	memset(&freq, 0, sizeof(freq));
	if (!PG_ARGISNULL(farg))
	{
		if (kind == SM_TIME_BIGINT)
			freq.n = PG_GETARG_INT64(farg);
		else
			freq.iv = *PG_GETARG_INTERVAL_P(farg);
	}
	sm_time_init(tr, kind, fn, PG_ARGISNULL(farg) ? NULL : &freq);
}

/* a table form's times: one per step of the history, checked like a query's series */
static void
read_times_array(sm_time_reader *tr, ArrayType *arr, int T, sm_series_time *st)
{
	Oid			elt = ARR_ELEMTYPE(arr);
	int16		len;
	bool		byval;
	char		align;
	Datum	   *d;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("times must be a one-dimensional array")));
	get_typlenbyvalalign(elt, &len, &byval, &align);
	deconstruct_array(arr, elt, len, byval, align, &d, &nulls, &n);
	if (n != T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("times has %d elements, but history has %d steps", n, T),
				 errdetail("Pass one time per step of the history.")));
	sm_time_begin(tr);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("times has a NULL at position %d", i + 1)));
		sm_time_add(tr, sm_time_from_column(tr, elt, d[i]), NULL);
	}
	sm_time_end(tr, NULL, st);
}

/*
 * forecast_table and its time forms: harg is the horizon's argument, qarg
 * the quantiles'; tr NULL for the plain form, else the times are argument 2
 */
static Datum
forecast_table_run(FunctionCallInfo fcinfo, const char *fn, int harg, int qarg, sm_time_reader *tr,
				   int farg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	const sm_seqmodel *m;
	int			T,
				horizon;
	bool		one_d;
	float	   *x,
			   *point,
			   *quant,
			   *future = NULL;
	quantile_opts qo;
	sm_series_time st;
	sm_error	err;

	/* not STRICT (quantiles may be NULL): a NULL model, history or horizon gives no rows */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(harg) || (tr && PG_ARGISNULL(2)) ||
		(farg >= 0 && PG_ARGISNULL(farg)))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	m = sequence_model(name, fn);
	x = history_of(PG_GETARG_ARRAYTYPE_P(1), m, name, "history", &T, &one_d);
	horizon = PG_GETARG_INT32(harg);
	check_horizon(horizon);
	check_min_history(m, T, name, NULL);
	if (tr)
		read_times_array(tr, PG_GETARG_ARRAYTYPE_P(2), T, &st);
	check_future_model(m, name, fn, farg >= 0);
	if (farg >= 0)
		future = future_of(PG_GETARG_ARRAYTYPE_P(farg), m, name, horizon);
	read_quantile_args(m, fcinfo, qarg, horizon, &qo);
	qo.opts.future = future;
	point = palloc(sizeof(float) * (size_t) horizon * m->F);
	quant = palloc(sizeof(float) * (size_t) horizon * m->F * Max(qo.nq, 1));
	SM_PG_CHECK(sm_seqmodel_forecast(m, x, 1, T, NULL, &qo.opts, point, qo.nq ? quant : NULL, &err), &err);
	sm_pg_check_output(name, point, (size_t) horizon * m->F);
	InitMaterializedSRF(fcinfo, 0);
	emit_forecast_rows(rsinfo, NULL, &qo, m->F, m->sh.targets, point, quant, tr ? &st : NULL);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(sm_forecast_table);
/* seqmodel.forecast_table(model, history, horizon, quantiles, samples, seed) */
Datum
sm_forecast_table(PG_FUNCTION_ARGS)
{
	return forecast_table_run(fcinfo, "forecast_table", 2, 3, NULL, -1);
}

PG_FUNCTION_INFO_V1(sm_forecast_table_future);
/* seqmodel.forecast_table_future(model, history, horizon, future, quantiles, samples, seed) */
Datum
sm_forecast_table_future(PG_FUNCTION_ARGS)
{
	return forecast_table_run(fcinfo, "forecast_table_future", 2, 4, NULL, 3);
}

PG_FUNCTION_INFO_V1(sm_forecast_table_time);
/* seqmodel.forecast_table(model, history, times, horizon, freq, quantiles, samples, seed) */
Datum
sm_forecast_table_time(PG_FUNCTION_ARGS)
{
	sm_time_reader tr;

	time_reader_of(fcinfo, result_time_kind(fcinfo, 1), "forecast_table", 4, &tr);
	return forecast_table_run(fcinfo, "forecast_table", 3, 5, &tr, -1);
}

/* ------------------------------------------------------------ forecast_agg */

typedef struct agg_state
{
	char	   *model;
	int			horizon;
	int			width;			/* values per row: 1, or the array's length */
	bool		arrays;			/* rows were real[] */
	int64		n;				/* rows */
	int64		cap;
	float	   *values;
	int64		first_null;		/* 1-based row of the first NULL, or 0 */
} agg_state;

static agg_state *
agg_state_of(FunctionCallInfo fcinfo, bool arrays)
{
	MemoryContext aggctx;
	agg_state  *st;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "forecast_agg called in non-aggregate context");
	if (!PG_ARGISNULL(0))
		return (agg_state *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("horizon must not be null")));
	st = MemoryContextAllocZero(aggctx, sizeof(agg_state));
	st->model = MemoryContextStrdup(aggctx, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	st->horizon = PG_GETARG_INT32(3);
	st->arrays = arrays;
	st->cap = 256;
	st->values = MemoryContextAllocHuge(aggctx, sizeof(float) * st->cap);
	check_horizon(st->horizon);
	return st;
}

static void
agg_append(agg_state *st, const float *v, int width)
{
	if (st->n == 0)
		st->width = width;
	else if (width != st->width)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value at row %lld has %d features, the first row had %d",
						(long long) st->n + 1, width, st->width)));
	if ((st->n + 1) * st->width * (int64) sizeof(float) > sm_pg_buffer_limit())
		sm_pg_series_too_long(NULL, st->n + 1);
	if ((st->n + 1) * st->width > st->cap)
	{
		st->cap = sm_pg_buffer_grow(st->cap, (st->n + 1) * st->width, sm_pg_buffer_limit() / (int64) sizeof(float));
		st->values = repalloc_huge(st->values, sizeof(float) * st->cap);
	}
	memcpy(st->values + st->n * st->width, v, sizeof(float) * width);
	st->n++;
}

/*
 * A NULL (or incomplete) row: remember where the first one was and keep
 * counting rows, so the final function can name the position.
 */
static Datum
agg_note_null(agg_state *st)
{
	if (st->first_null == 0)
		st->first_null = st->n + 1;
	st->n++;
	return PointerGetDatum(st);
}

PG_FUNCTION_INFO_V1(sm_forecast_agg_step);
/* forecast_agg transition: one value real */
Datum
sm_forecast_agg_step(PG_FUNCTION_ARGS)
{
	agg_state  *st = agg_state_of(fcinfo, false);

	if (PG_ARGISNULL(2))
		return agg_note_null(st);
	if (st->first_null == 0)
	{
		float		v = PG_GETARG_FLOAT4(2);

		agg_append(st, &v, 1);
	}
	return PointerGetDatum(st);
}

PG_FUNCTION_INFO_V1(sm_forecast_agg_array_step);
/* forecast_agg transition: one row real[] of input_size features */
Datum
sm_forecast_agg_array_step(PG_FUNCTION_ARGS)
{
	agg_state  *st = agg_state_of(fcinfo, true);
	ArrayType  *arr;
	int			ndim,
				rows,
				cols;
	float	   *v;

	if (PG_ARGISNULL(2))
		return agg_note_null(st);
	if (st->first_null != 0)
		return PointerGetDatum(st);
	arr = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value at row %lld must be a one-dimensional array", (long long) st->n + 1)));
	if (ARR_HASNULL(arr) || ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) == 0)
		return agg_note_null(st);
	v = sm_pg_real_matrix(arr, "value", &ndim, &rows, &cols);
	agg_append(st, v, cols);
	return PointerGetDatum(st);
}

PG_FUNCTION_INFO_V1(sm_forecast_agg_final);
/* forecast_agg final: forecast the collected series */
Datum
sm_forecast_agg_final(PG_FUNCTION_ARGS)
{
	agg_state  *st;
	const sm_seqmodel *m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (agg_state *) PG_GETARG_POINTER(0);
	if (st->first_null != 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("value is NULL at position %lld of the series", (long long) st->first_null),
				 errhint("Fill missing values (or filter them out) before forecasting.")));
	m = sequence_model(st->model, "forecast_agg");
	if (st->width != m->I)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("values have %d features per row, but model \"%s\" takes %d",
						st->width, st->model, m->I),
				 m->I > 1 && !st->arrays ? errhint("Aggregate real[] rows of %d values.", m->I) : 0));
	if (st->n > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("series too long to forecast: %lld steps", (long long) st->n)));
	{
		size_t		bad = sm_find_nonfinite(st->values, (size_t) st->n * st->width);

		if (bad < (size_t) st->n * st->width)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("value at position %lld of the series is not finite", (long long) (bad / st->width) + 1)));
	}
	PG_RETURN_ARRAYTYPE_P(forecast_one(st->model, m, st->values, (int) st->n,
									   !st->arrays, st->horizon, NULL));
}

/* ------------------------------------------------------------ forecast_query */

/* backtest's rolling origins: the last origin's forecast ends at the series' last step */
typedef struct backtest_opts
{
	int			horizon,
				origins,
				stride,			/* steps between origins */
				season;			/* for MASE and the seasonal naive forecast */
} backtest_opts;

/*
 * future covariates of forecast_query_future, read from its future query
 * before the history: per series key (its text), [horizon][n_future] values
 * and which steps have arrived
 */
typedef struct fut_entry
{
	uint64		hash;			/* of the key's text (the hash key) */
	char	   *key;
	float	   *vals;			/* [horizon][n_future] */
	bool	   *have;			/* [horizon] */
} fut_entry;

typedef struct fut_table
{
	HTAB	   *map;			/* fut_entry by hash */
	int			horizon,
				nf;
} fut_table;

/* the series of the current batch: values back to back, lengths, keys */
typedef struct query_batch
{
	int			n;				/* series */
	int			maxlen;
	char	  **keys;
	int		   *lens;
	int64	   *offs;			/* start of each series in vals (in floats) */
	sm_series_time *times;		/* each series' times (time forms), or NULL */
	float	   *vals;
	int64		used,
				cap;			/* floats */
} query_batch;

/* the value column as real(s) */
static int
value_of(Datum d, Oid type, float *out, int I, const char *key, int64 pos)
{
	switch (type)
	{
		case FLOAT4OID:
			out[0] = DatumGetFloat4(d);
			return 1;
		case FLOAT8OID:
			out[0] = (float) DatumGetFloat8(d);
			return 1;
		case INT2OID:
			out[0] = DatumGetInt16(d);
			return 1;
		case INT4OID:
			out[0] = (float) DatumGetInt32(d);
			return 1;
		case INT8OID:
			out[0] = (float) DatumGetInt64(d);
			return 1;
		case NUMERICOID:
			out[0] = DatumGetFloat4(DirectFunctionCall1(numeric_float4, d));
			return 1;
		case FLOAT4ARRAYOID:
			{
				ArrayType  *arr = DatumGetArrayTypeP(d);
				int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

				if (ARR_NDIM(arr) != 1 || n != I || ARR_HASNULL(arr))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("value of series \"%s\" at step %lld is not an array of %d non-NULL values",
									key, (long long) pos, I)));
				memcpy(out, ARR_DATA_PTR(arr), sizeof(float) * I);
				return I;
			}
	}
	return 0;
}

/* series `key`'s future covariates [horizon][n_future], or an error naming the first missing step */
static const float *
future_of_series(const fut_table *ft, const char *key)
{
	uint64		h = hash_bytes_extended((const unsigned char *) key, (int) strlen(key), 0);
	fut_entry  *e = hash_search(ft->map, &h, HASH_FIND, NULL);

	for (int k = 0; k < ft->horizon; k++)
		if (e == NULL || strcmp(e->key, key) != 0 || !e->have[k])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("future_query has no row for series \"%s\" at step %d", key, k + 1),
					 errdetail("A forecast of %d steps needs the future covariates of every series at every step 1 to %d.",
							   ft->horizon, ft->horizon)));
	return e->vals;
}

/*
 * One batch's forecast, taken out of the reader's query_batch: its inputs
 * right-aligned, its keys and times for the rows, its outputs.  Everything
 * is allocated by the backend (in the call's context) before the engine
 * runs, so the engine call may run on the helper thread (helper.c) while
 * the reader fills the query_batch again.
 */
typedef struct fq_batch
{
	const char *name;
	const sm_seqmodel *m;
	const quantile_opts *qo;
	int			n,
				maxlen;
	float	   *x;				/* [n][maxlen][I], right-aligned */
	int		   *lens;
	char	  **keys;
	sm_series_time *times;		/* or NULL */
	uint64	   *seeds;
	float	   *future,			/* [n][h][n_future], or NULL */
			   *point,
			   *quant;
	sm_forecast_opts opts;
} fq_batch;

/* take the batch read so far out of qb (which is left empty, ready for the next) */
static fq_batch *
batch_take(const char *name, const sm_seqmodel *m, query_batch *qb, const quantile_opts *qo,
		   uint64 seed, const fut_table *ft)
{
	const int	I = m->I,
				F = m->F,
				h = qo->opts.horizon;
	fq_batch   *b = palloc0(sizeof(fq_batch));

	b->name = name;
	b->m = m;
	b->qo = qo;
	b->n = qb->n;
	b->maxlen = qb->maxlen;
	/* right-align every series in [n][maxlen][I] */
	b->x = MemoryContextAllocExtended(CurrentMemoryContext,
									  sizeof(float) * (size_t) qb->n * qb->maxlen * I,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	b->seeds = palloc(sizeof(uint64) * qb->n);
	for (int s = 0; s < qb->n; s++)
	{
		memcpy(b->x + ((size_t) s * qb->maxlen + (qb->maxlen - qb->lens[s])) * I,
			   qb->vals + qb->offs[s], sizeof(float) * (size_t) qb->lens[s] * I);
		/* a series' samples depend on the seed and its key, not its batch */
		b->seeds[s] = seed ^ hash_bytes_extended((const unsigned char *) qb->keys[s],
												 (int) strlen(qb->keys[s]), 0);
	}
	b->lens = palloc(sizeof(int) * qb->n);
	memcpy(b->lens, qb->lens, sizeof(int) * qb->n);
	/* the keys (and times) go with the batch; the reader gets new arrays */
	b->keys = qb->keys;
	qb->keys = palloc(sizeof(char *) * QUERY_BATCH_SERIES);
	if (qb->times)
	{
		b->times = qb->times;
		qb->times = palloc(sizeof(sm_series_time) * QUERY_BATCH_SERIES);
	}
	b->opts = qo->opts;
	b->opts.series_seeds = b->seeds;
	if (ft)
	{
		/* [n][h][n_future], in the batch's series order */
		b->future = MemoryContextAllocExtended(CurrentMemoryContext,
											   sizeof(float) * (size_t) b->n * h * ft->nf, MCXT_ALLOC_HUGE);
		for (int s = 0; s < b->n; s++)
			memcpy(b->future + (size_t) s * h * ft->nf, future_of_series(ft, b->keys[s]),
				   sizeof(float) * (size_t) h * ft->nf);
	}
	b->opts.future = b->future;
	b->point = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(float) * (size_t) b->n * h * F,
										  MCXT_ALLOC_HUGE);
	b->quant = qo->nq ? MemoryContextAllocExtended(CurrentMemoryContext,
												   sizeof(float) * (size_t) b->n * h * F * qo->nq,
												   MCXT_ALLOC_HUGE) : NULL;
	qb->n = 0;
	qb->maxlen = 0;
	qb->used = 0;
	return b;
}

/* the engine's part of a batch: on the backend, or detached on the helper thread */
static sm_status
batch_compute(void *arg, sm_error *err)
{
	fq_batch   *b = arg;

	return sm_seqmodel_forecast(b->m, b->x, b->n, b->maxlen, b->lens, &b->opts, b->point, b->quant, err);
}

/* after the engine: raise its error, or check and return the batch's rows; then free it */
static void
batch_finish(fq_batch *b, sm_status rc, sm_error *err, ReturnSetInfo *rsinfo)
{
	const int	F = b->m->F,
				h = b->qo->opts.horizon;

	SM_PG_CHECK(rc, err);
	sm_pg_check_output(b->name, b->point, (size_t) b->n * h * F);
	for (int s = 0; s < b->n; s++)
		emit_forecast_rows(rsinfo, b->keys[s], b->qo, F, b->m->sh.targets, b->point + (size_t) s * h * F,
						   b->quant ? b->quant + (size_t) s * h * F * b->qo->nq : NULL,
						   b->times ? &b->times[s] : NULL);
	for (int s = 0; s < b->n; s++)
		pfree(b->keys[s]);
	pfree(b->keys);
	if (b->times)
		pfree(b->times);
	if (b->future)
		pfree(b->future);
	if (b->quant)
		pfree(b->quant);
	pfree(b->x);
	pfree(b->point);
	pfree(b->lens);
	pfree(b->seeds);
	pfree(b);
}

/*
 * The series being read is complete: check it (and its times), keep only its last
 * `context` steps (if the model has a context limit), add it to the batch,
 * and remember its key so a later run of rows with the same key is caught.
 */
static void
finish_series(const char *name, const sm_seqmodel *m, query_batch *qb, char *key,
			  int64 start, int64 steps, HTAB *done, sm_time_reader *tr, const backtest_opts *bt)
{
	int64		len = steps;
	uint64		h = hash_bytes_extended((const unsigned char *) key, (int) strlen(key), 0);

	if (bt)
	{
		/* the first origin's history must be long enough; backtests keep every step */
		int64		first = Max(m->sh.min_history, 1);
		int64		need = first + bt->horizon + (int64) (bt->origins - 1) * bt->stride;

		if (steps < need)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("series \"%s\" is too short to backtest", key),
					 errdetail("It has %lld steps; %d origins %d steps apart with horizon %d need %lld (the first origin's history at least %lld, config min_history of model \"%s\").",
							   (long long) steps, bt->origins, bt->stride, bt->horizon,
							   (long long) need, (long long) first, name),
					 errhint("Ask for fewer origins, a shorter stride or horizon, or filter out short series.")));
	}
	else
		check_min_history(m, (int) Min(steps, INT_MAX), name, key);
	if (tr)
		sm_time_end(tr, key, &qb->times[qb->n]);
	if (!bt && m->sh.context > 0 && len > m->sh.context)
	{
		memmove(qb->vals + start, qb->vals + start + (len - m->sh.context) * m->I,
				sizeof(float) * (size_t) m->sh.context * m->I);
		len = m->sh.context;
		qb->used = start + len * m->I;
	}
	qb->lens[qb->n] = (int) len;
	qb->offs[qb->n] = start;
	qb->keys[qb->n] = key;
	qb->maxlen = Max(qb->maxlen, (int) len);
	qb->n++;
	hash_search(done, &h, HASH_ENTER, NULL);
}

/* a float8[] of n values */
static ArrayType *
float8_array(const double *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Float8GetDatum(v[i]);
	return construct_array(d, n, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * backtest a batch: for each origin, one forecast across the batch from
 * every series' history up to its cut, then the metrics of each series and
 * feature against the steps after the cut.  Columns: series, origin,
 * cutoff, feature, actual, forecast, mae, rmse, mape, smape, mase,
 * naive_mae, pinball, intervals, coverage.
 */
static void
run_backtest_batch(const char *name, const sm_seqmodel *m, query_batch *qb, quantile_opts *qo,
				   ReturnSetInfo *rsinfo, uint64 seed, const backtest_opts *bt)
{
	const int	I = m->I,
				F = m->F,
				nf = m->sh.n_future,
				h = bt->horizon,
				nq = qo->nq,
				n = qb->n;
	int		   *cut,
			   *hl;
	float	   *y,
			   *f,
			   *qv,
			   *lev;
	double	   *cov;
	uint64	   *seeds;
	sm_error	err;

	if (n == 0)
		return;
	cut = palloc(sizeof(int) * n);
	hl = palloc(sizeof(int) * n);
	seeds = palloc(sizeof(uint64) * n);
	y = palloc(sizeof(float) * h);
	f = palloc(sizeof(float) * h);
	qv = palloc(sizeof(float) * (size_t) h * Max(nq, 1));
	lev = palloc(sizeof(float) * Max(nq, 1));
	cov = palloc(sizeof(double) * Max(nq, 1));
	for (int o = 0; o < bt->origins; o++)
	{
		int			maxlen = 0;
		float	   *x,
				   *point,
				   *quant,
				   *future = NULL;

		for (int s = 0; s < n; s++)
		{
			cut[s] = qb->lens[s] - h - (bt->origins - 1 - o) * bt->stride;
			hl[s] = m->sh.context > 0 ? Min(cut[s], m->sh.context) : cut[s];
			maxlen = Max(maxlen, hl[s]);
		}
		x = MemoryContextAllocExtended(CurrentMemoryContext,
									   sizeof(float) * (size_t) n * maxlen * I,
									   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		for (int s = 0; s < n; s++)
		{
			memcpy(x + ((size_t) s * maxlen + (maxlen - hl[s])) * I,
				   qb->vals + qb->offs[s] + (int64) (cut[s] - hl[s]) * I,
				   sizeof(float) * (size_t) hl[s] * I);
			/* a series' samples depend on the seed, its key and the origin */
			seeds[s] = seed ^ hash_bytes_extended((const unsigned char *) qb->keys[s],
												  (int) strlen(qb->keys[s]), 0)
				^ ((uint64) (o + 1) * UINT64CONST(0x9E3779B97F4A7C15));
		}
		qo->opts.series_seeds = seeds;
		if (nf > 0)
		{
			/* the future covariates ahead of each origin: the series' own rows after its cut */
			future = palloc(sizeof(float) * (size_t) n * h * nf);
			for (int s = 0; s < n; s++)
				for (int k = 0; k < h; k++)
					for (int j = 0; j < nf; j++)
						future[((size_t) s * h + k) * nf + j] =
							qb->vals[qb->offs[s] + (int64) (cut[s] + k) * I + m->sh.future[j]];
		}
		qo->opts.future = future;
		point = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(float) * (size_t) n * h * F,
										   MCXT_ALLOC_HUGE);
		quant = nq ? MemoryContextAllocExtended(CurrentMemoryContext,
												sizeof(float) * (size_t) n * h * F * nq,
												MCXT_ALLOC_HUGE) : NULL;
		SM_PG_CHECK(sm_seqmodel_forecast(m, x, n, maxlen, hl, &qo->opts, point, quant, &err), &err);
		sm_pg_check_output(name, point, (size_t) n * h * F);
		qo->opts.future = NULL;
		for (int s = 0; s < n; s++)
		{
			const float *v = qb->vals + qb->offs[s];

			for (int c = 0; c < F; c++)
			{
				sm_metrics mt;
				int			ni;
				Datum		values[15];
				bool		nulls[15] = {0};
				int			col = m->sh.targets ? m->sh.targets[c] : c;	/* its input feature */

				for (int k = 0; k < h; k++)
				{
					y[k] = v[(int64) (cut[s] + k) * I + col];
					f[k] = point[((size_t) s * h + k) * F + c];
					for (int i = 0; i < nq; i++)
						qv[(size_t) k * nq + i] = quant[(((size_t) s * h + k) * F + c) * nq + i];
				}
				sm_forecast_metrics(y, f, h, v + col, cut[s], I, bt->season, qv, qo->q, nq,
									&mt, lev, cov, &ni);
				values[0] = CStringGetTextDatum(qb->keys[s]);
				values[1] = Int32GetDatum(o + 1);
				values[2] = Int32GetDatum(cut[s]);
				values[3] = Int32GetDatum(col + 1);
				values[4] = PointerGetDatum(sm_pg_real_array(y, 1, 1, h));
				values[5] = PointerGetDatum(sm_pg_real_array(f, 1, 1, h));
				values[6] = Float8GetDatum(mt.mae);
				values[7] = Float8GetDatum(mt.rmse);
				values[8] = Float8GetDatum(mt.mape);
				nulls[8] = !mt.has_mape;
				values[9] = Float8GetDatum(mt.smape);
				values[10] = Float8GetDatum(mt.mase);
				nulls[10] = !mt.has_mase;
				values[11] = Float8GetDatum(mt.naive_mae);
				nulls[11] = !mt.has_naive;
				values[12] = Float8GetDatum(mt.pinball);
				nulls[12] = !mt.has_pinball;
				if (nq > 0)
				{
					values[13] = PointerGetDatum(sm_pg_real_array(lev, 1, 1, ni));
					values[14] = PointerGetDatum(float8_array(cov, ni));
				}
				nulls[13] = nulls[14] = nq == 0 || ni == 0;
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
		pfree(x);
		pfree(point);
		if (quant)
			pfree(quant);
		if (future)
			pfree(future);
	}
	pfree(cut);
	pfree(hl);
	pfree(seeds);
	pfree(y);
	pfree(f);
	pfree(qv);
	pfree(lev);
	pfree(cov);
	for (int s = 0; s < n; s++)
		pfree(qb->keys[s]);
	qb->n = 0;
	qb->maxlen = 0;
	qb->used = 0;
}

/*
 * forecast_query reads its query's rows through a DestReceiver: each row
 * arrives as a slot, nothing is copied into an SPI tuple table, and a key
 * is compared with its type's equality function and turned into text only
 * when a new series starts.
 */
typedef struct fq_reader
{
	DestReceiver pub;
	/* the function, the model and the options */
	const char *fn;
	const char *name;
	const sm_seqmodel *m;
	quantile_opts *qo;
	ReturnSetInfo *rsinfo;
	uint64		seed;
	const backtest_opts *bt;	/* backtest, or NULL */
	const fut_table *ft;		/* forecast_query_future's covariates, or NULL */
	/* the columns: key, [time,] value */
	sm_time_reader *tr;			/* the time forms' times, or NULL */
	int			vcol;
	sm_pg_series_key key;
	Oid			ttype,
				vtype;
	/* the series being read and the batch */
	MemoryContext ctx;			/* lives for the whole call */
	MemoryContext rowctx;		/* reset every row */
	bool		have_cur;
	Datum		curkey;			/* copied into ctx */
	char	   *curtext;		/* its text (ctx) */
	int64		curstart,
				step;
	float	   *v;
	query_batch qb;
	fq_batch   *inflight;		/* the batch on the helper thread, or NULL */
	int			batches;		/* run so far */
	HTAB	   *done;
	uint64		rows;
} fq_reader;

/* the batch on the helper thread, if any: wait for it and return its rows */
static void
collect_batch(fq_reader *r)
{
	fq_batch   *b = r->inflight;
	sm_error	err;
	sm_status	rc;

	if (b == NULL)
		return;
	sm_error_clear(&err);
	rc = sm_pg_helper_wait(r, &err);
	r->inflight = NULL;
	batch_finish(b, rc, &err, r->rsinfo);
}

/*
 * Forecast (or backtest) the batch read so far.  With seqmodel.threads of
 * 2 or more, a batch that is not the last goes to the helper thread and
 * the reader goes on with the next batch's rows meanwhile (helper.c); the
 * rows still come back in batch order, each batch's after the one before.
 * The engine's threads are the setting's; the reader is the backend's own.
 */
static void
run_batch(fq_reader *r, bool last)
{
	/* a batch outlives the row being read (fq_receive runs in the row's context) */
	MemoryContext old = MemoryContextSwitchTo(r->ctx);
	fq_batch   *b;
	sm_error	err;

	collect_batch(r);
	r->batches++;
	if (r->bt)
		run_backtest_batch(r->name, r->m, &r->qb, r->qo, r->rsinfo, r->seed, r->bt);
	else if (r->qb.n > 0)
	{
		b = batch_take(r->name, r->m, &r->qb, r->qo, r->seed, r->ft);
		if (!last && sm_threads >= 2 && sm_pg_helper_start(r, batch_compute, b))
			r->inflight = b;
		else
		{
			sm_error_clear(&err);
			batch_finish(b, batch_compute(b, &err), &err, r->rsinfo);
		}
	}
	MemoryContextSwitchTo(old);
}

/* the rows the query should return, for messages */
static const char *
fq_shape(const fq_reader *r)
{
	return r->tr ? "(series key, time, value) rows ordered by series and time"
		: "(series key, value) rows ordered by series and time";
}

static void
fq_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	fq_reader  *r = (fq_reader *) self;
	const sm_seqmodel *m = r->m;
	Oid			vtype;

	if (desc->natts != r->vcol + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query of %s must return %d columns, not %d", r->fn, r->vcol + 1, desc->natts),
				 errdetail("It should return %s.", fq_shape(r))));
	if (r->tr)
	{
		r->ttype = TupleDescAttr(desc, 1)->atttypid;
		sm_time_check_column(r->tr, r->ttype, 2);
	}
	vtype = r->vtype = TupleDescAttr(desc, r->vcol)->atttypid;
	if (!sm_pg_value_type_ok(vtype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column %d of the query of %s must be a number or real[], not %s",
						r->vcol + 1, r->fn, format_type_be(vtype))));
	if ((vtype == FLOAT4ARRAYOID) != (m->I > 1))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 m->I > 1 ? errmsg("model \"%s\" takes %d features per step: column %d must be real[]", r->name, m->I, r->vcol + 1)
				 : errmsg("model \"%s\" takes one value per step: column %d must be a number, not real[]", r->name, r->vcol + 1)));
	sm_pg_series_key_init(&r->key, TupleDescAttr(desc, 0)->atttypid,
						  TupleDescAttr(desc, 0)->attcollation, r->ctx);
}

static bool
fq_receive(TupleTableSlot *slot, DestReceiver *self)
{
	fq_reader  *r = (fq_reader *) self;
	const sm_seqmodel *m = r->m;
	bool		knull,
				tnull = false,
				vnull;
	Datum		kd,
				td = (Datum) 0,
				vd;
	MemoryContext old = MemoryContextSwitchTo(r->rowctx);

	if (++r->rows % 4096 == 0)
		CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	kd = slot->tts_values[0];
	knull = slot->tts_isnull[0];
	if (r->tr)
	{
		td = slot->tts_values[1];
		tnull = slot->tts_isnull[1];
	}
	vd = slot->tts_values[r->vcol];
	vnull = slot->tts_isnull[r->vcol];
	if (knull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the query of %s returned a NULL series key", r->fn)));
	if (!r->have_cur || !sm_pg_series_key_same(&r->key, r->curkey, r->curtext, kd))
	{
		char	   *text;
		uint64		h;

		MemoryContextSwitchTo(r->ctx);
		text = OutputFunctionCall(&r->key.out, kd);
		MemoryContextSwitchTo(r->rowctx);
		h = hash_bytes_extended((const unsigned char *) text, (int) strlen(text), 0);
		/* the current series is complete */
		if (r->have_cur)
		{
			finish_series(r->name, m, &r->qb, r->curtext, r->curstart, r->step, r->done, r->tr, r->bt);
			if (!r->key.byval)
				pfree(DatumGetPointer(r->curkey));
			if (r->qb.n == QUERY_BATCH_SERIES ||
				(r->batches == 0 && sm_threads >= 2 && r->qb.n == QUERY_FIRST_BATCH_SERIES) ||
				(int64) r->qb.n * r->qb.maxlen * m->I > QUERY_BATCH_VALUES ||
				r->qb.used * (int64) sizeof(float) > sm_pg_buffer_limit())
				run_batch(r, false);
		}
		if (hash_search(r->done, &h, HASH_FIND, NULL) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the query of %s returned series \"%s\" in two separate runs of rows", r->fn, text),
					 errhint("Order the query's rows by series key, then by time.")));
		r->curtext = text;
		/* the key must outlive this row: copy it into the call's context */
		MemoryContextSwitchTo(r->ctx);
		r->curkey = datumCopy(kd, r->key.byval, r->key.len);
		MemoryContextSwitchTo(r->rowctx);
		r->have_cur = true;
		r->curstart = r->qb.used;
		r->step = 0;
		if (r->tr)
			sm_time_begin(r->tr);
	}
	r->step++;
	if (r->tr)
	{
		if (tnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("time of series \"%s\" is NULL at step %lld", r->curtext, (long long) r->step),
					 errhint("Filter out rows without a time before forecasting.")));
		sm_time_add(r->tr, sm_time_from_column(r->tr, r->ttype, td), r->curtext);
	}
	if (vnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("value of series \"%s\" is NULL at step %lld", r->curtext, (long long) r->step),
				 errhint("Fill missing values (or filter them out) before forecasting.")));
	value_of(vd, r->vtype, r->v, m->I, r->curtext, r->step);
	for (int i = 0; i < m->I; i++)
		if (!isfinite(r->v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("value of series \"%s\" at step %lld is not finite", r->curtext, (long long) r->step)));
	if (r->step > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("series \"%s\" is too long", r->curtext)));
	/*
	 * The values buffered count against seqmodel.work_mem: a batch is run
	 * once it holds half of it (above), and one series may take the other
	 * half, so the buffer never passes the limit.
	 */
	if ((r->qb.used - r->curstart + m->I) * (int64) sizeof(float) > sm_pg_buffer_limit())
		sm_pg_series_too_long(r->curtext, r->step);
	if (r->qb.used + m->I > r->qb.cap)
	{
		/* the batch and the series being read: at most twice the limit's half */
		r->qb.cap = sm_pg_buffer_grow(r->qb.cap, r->qb.used + m->I, sm_pg_buffer_limit() * 2 / (int64) sizeof(float));
		r->qb.vals = repalloc_huge(r->qb.vals, sizeof(float) * r->qb.cap);
	}
	memcpy(r->qb.vals + r->qb.used, r->v, sizeof(float) * m->I);
	r->qb.used += m->I;
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowctx);
	return true;
}

static void
fq_shutdown(DestReceiver *self)
{
}

static void
fq_destroy(DestReceiver *self)
{
}

/* ------------------------------------------------------------ future_query */

/*
 * forecast_query_future's future query: (series key, step, covariates) rows
 * in any order, the covariates one real[] of n_future values or n_future
 * number columns; steps after the horizon are skipped.
 */
typedef struct fut_reader
{
	DestReceiver pub;
	const char *fn;
	const char *name;
	fut_table  *ft;
	Oid			stype;
	bool		array;			/* one real[] column (else nf number columns) */
	Oid		   *vtypes;			/* [natts] */
	FmgrInfo	kout;
	MemoryContext ctx,
				rowctx;
	float	   *v;				/* [nf] */
	uint64		rows;
} fut_reader;

static bool
is_number_type(Oid t)
{
	return t == FLOAT4OID || t == FLOAT8OID || t == NUMERICOID || t == INT2OID || t == INT4OID ||
		t == INT8OID;
}

static void
fut_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	fut_reader *r = (fut_reader *) self;
	const int	nf = r->ft->nf;
	bool		isvarlena;
	Oid			kout;

	r->vtypes = MemoryContextAlloc(r->ctx, sizeof(Oid) * Max(desc->natts, 1));
	for (int c = 0; c < desc->natts; c++)
		r->vtypes[c] = TupleDescAttr(desc, c)->atttypid;
	if (desc->natts < 3)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the future_query of %s must return at least 3 columns, not %d", r->fn, desc->natts),
				 errdetail("It should return (series key, step, covariate values) rows: the values one real[] or %d number column%s.",
						   nf, nf == 1 ? "" : "s")));
	r->stype = r->vtypes[1];
	if (r->stype != INT2OID && r->stype != INT4OID && r->stype != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column 2 of the future_query of %s must be an integer step, not %s",
						r->fn, format_type_be(r->stype)),
				 errdetail("Steps ahead are numbered from 1 to the horizon.")));
	r->array = desc->natts == 3 && r->vtypes[2] == FLOAT4ARRAYOID;
	if (!r->array)
	{
		for (int c = 2; c < desc->natts; c++)
			if (!is_number_type(r->vtypes[c]))
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("column %d of the future_query of %s must be a number, not %s",
								c + 1, r->fn, format_type_be(r->vtypes[c])),
						 errdetail("It should return (series key, step, covariate values) rows: the values one real[] or %d number column%s.",
								   nf, nf == 1 ? "" : "s")));
		if (desc->natts - 2 != nf)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the future_query of %s returns %d covariate columns, but model \"%s\" takes %d future covariates",
							r->fn, desc->natts - 2, r->name, nf),
					 errdetail("Return one value for each of config \"future_covariates\", in its order, or one real[] of %d values.", nf)));
	}
	getTypeOutputInfo(r->vtypes[0], &kout, &isvarlena);
	fmgr_info_cxt(kout, &r->kout, r->ctx);
}

static bool
fut_receive(TupleTableSlot *slot, DestReceiver *self)
{
	fut_reader *r = (fut_reader *) self;
	fut_table  *ft = r->ft;
	const int	nf = ft->nf;
	MemoryContext old = MemoryContextSwitchTo(r->rowctx);
	char	   *key;
	int64		step;
	uint64		h;
	bool		found;
	fut_entry  *e;

	if (++r->rows % 4096 == 0)
		CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	if (slot->tts_isnull[0])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the future_query of %s returned a NULL series key", r->fn)));
	key = OutputFunctionCall(&r->kout, slot->tts_values[0]);
	if (slot->tts_isnull[1])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the future_query of %s returned a NULL step for series \"%s\"", r->fn, key)));
	step = r->stype == INT2OID ? DatumGetInt16(slot->tts_values[1])
		: r->stype == INT4OID ? DatumGetInt32(slot->tts_values[1]) : DatumGetInt64(slot->tts_values[1]);
	if (step < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the future_query of %s returned step %lld for series \"%s\"", r->fn, (long long) step, key),
				 errdetail("Steps ahead are numbered from 1 to the horizon.")));
	if (step > ft->horizon)
	{
		/* beyond the horizon: not needed */
		MemoryContextSwitchTo(old);
		MemoryContextReset(r->rowctx);
		return true;
	}
	for (int c = 2; c < slot->tts_nvalid; c++)
		if (slot->tts_isnull[c])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("future covariates of series \"%s\" are NULL at step %lld", key, (long long) step),
					 errhint("Every step ahead needs a value of every future covariate.")));
	if (r->array)
	{
		ArrayType  *arr = DatumGetArrayTypeP(slot->tts_values[2]);
		int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

		if (ARR_NDIM(arr) != 1 || n != nf || ARR_HASNULL(arr))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("future covariates of series \"%s\" at step %lld are not an array of %d non-NULL values",
							key, (long long) step, nf),
					 errdetail("Model \"%s\" takes %d future covariates (config \"future_covariates\").", r->name, nf)));
		memcpy(r->v, ARR_DATA_PTR(arr), sizeof(float) * nf);
	}
	else
		for (int j = 0; j < nf; j++)
			value_of(slot->tts_values[2 + j], r->vtypes[2 + j], r->v + j, 1, key, step);
	for (int j = 0; j < nf; j++)
		if (!isfinite(r->v[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("future covariates of series \"%s\" at step %lld are not finite", key, (long long) step)));
	h = hash_bytes_extended((const unsigned char *) key, (int) strlen(key), 0);
	e = hash_search(ft->map, &h, HASH_ENTER, &found);
	if (!found)
	{
		e->key = MemoryContextStrdup(r->ctx, key);
		e->vals = MemoryContextAllocHuge(r->ctx, sizeof(float) * (size_t) ft->horizon * nf);
		e->have = MemoryContextAllocZero(r->ctx, sizeof(bool) * ft->horizon);
	}
	else if (strcmp(e->key, key) != 0)
		elog(ERROR, "series keys \"%s\" and \"%s\" have the same hash", e->key, key);
	if (e->have[step - 1])
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the future_query of %s returned step %lld of series \"%s\" twice", r->fn, (long long) step, key)));
	e->have[step - 1] = true;
	memcpy(e->vals + (size_t) (step - 1) * nf, r->v, sizeof(float) * nf);
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowctx);
	return true;
}

/* run the future query into ft */
static void
read_future_query(const char *fn, const char *name, const char *query, fut_table *ft,
				  int horizon, int nf)
{
	fut_reader *r = palloc0(sizeof(fut_reader));
	HASHCTL		hctl;

	ft->horizon = horizon;
	ft->nf = nf;
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(uint64);
	hctl.entrysize = sizeof(fut_entry);
	hctl.hcxt = CurrentMemoryContext;
	ft->map = hash_create("seqmodel future covariates", 1024, &hctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	r->pub.receiveSlot = fut_receive;
	r->pub.rStartup = fut_startup;
	r->pub.rShutdown = fq_shutdown;
	r->pub.rDestroy = fq_destroy;
	r->pub.mydest = DestNone;
	r->fn = fn;
	r->name = name;
	r->ft = ft;
	r->ctx = CurrentMemoryContext;
	r->rowctx = AllocSetContextCreate(CurrentMemoryContext, "seqmodel future_query row", ALLOCSET_DEFAULT_SIZES);
	r->v = palloc(sizeof(float) * nf);
	sm_pg_run_query(fn, query, (DestReceiver *) r,
					"(series key, step, covariate values) rows");
}

/*
 * forecast_query and its time forms: qarg is the quantiles' argument; tr
 * NULL for the plain form, else the query's column 2 is the time; fqarg the
 * future query's argument (forecast_query_future), else -1
 */
static Datum
forecast_query_run(FunctionCallInfo fcinfo, const char *fn, int qarg, sm_time_reader *tr,
				   backtest_opts *bt, int fqarg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query;
	int			horizon;
	quantile_opts qo;
	fq_reader  *r;
	HASHCTL		hctl;
	MemoryContext callctx = CurrentMemoryContext;
	void	   *pin;
	fut_table	ft;

	/* not STRICT (quantiles may be NULL): a NULL model, query or horizon gives no rows */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || (fqarg >= 0 && PG_ARGISNULL(fqarg)))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	r = palloc0(sizeof(fq_reader));
	r->fn = fn;
	r->tr = tr;
	r->bt = bt;
	r->vcol = tr ? 2 : 1;
	r->name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	horizon = PG_GETARG_INT32(2);
	r->m = sequence_model(r->name, fn);
	check_horizon(horizon);
	/* a backtest takes the future covariates from the series' own rows */
	if (!bt)
		check_future_model(r->m, r->name, fn, fqarg >= 0);
	if (bt)
		bt->horizon = horizon;
	read_quantile_args(r->m, fcinfo, qarg, horizon, &qo);
	InitMaterializedSRF(fcinfo, 0);

	r->pub.receiveSlot = fq_receive;
	r->pub.rStartup = fq_startup;
	r->pub.rShutdown = fq_shutdown;
	r->pub.rDestroy = fq_destroy;
	r->pub.mydest = DestNone;
	r->qo = &qo;
	r->rsinfo = rsinfo;
	r->seed = qo.opts.seed;
	r->ctx = callctx;
	r->rowctx = AllocSetContextCreate(callctx, "seqmodel forecast_query row", ALLOCSET_DEFAULT_SIZES);
	r->qb.cap = 1024 * 1024;
	r->qb.vals = MemoryContextAllocHuge(callctx, sizeof(float) * r->qb.cap);
	r->qb.keys = palloc(sizeof(char *) * QUERY_BATCH_SERIES);
	r->qb.lens = palloc(sizeof(int) * QUERY_BATCH_SERIES);
	r->qb.offs = palloc(sizeof(int64) * QUERY_BATCH_SERIES);
	r->qb.times = tr ? palloc(sizeof(sm_series_time) * QUERY_BATCH_SERIES) : NULL;
	r->v = palloc(sizeof(float) * r->m->I);

	/* keys of finished series: a key seen again means the rows were not grouped */
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(uint64);	/* a 64-bit hash of the key */
	hctl.entrysize = sizeof(uint64);
	hctl.hcxt = callctx;
	r->done = hash_create("seqmodel forecast_query keys", 1024, &hctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* the query may use other models: keep ours from being evicted meanwhile */
	pin = sm_cache_pin(r->name);
	PG_TRY();
	{
		if (fqarg >= 0)
		{
			read_future_query(fn, r->name, text_to_cstring(PG_GETARG_TEXT_PP(fqarg)), &ft, horizon,
							  r->m->sh.n_future);
			r->ft = &ft;
		}
		sm_pg_run_query(fn, query, (DestReceiver *) r, fq_shape(r));
		if (r->have_cur)
			finish_series(r->name, r->m, &r->qb, r->curtext, r->curstart, r->step, r->done, tr, bt);
		run_batch(r, true);
	}
	PG_FINALLY();
	{
		/* on an error: no helper may outlive the batch it reads and writes */
		sm_pg_helper_stop(r);
		sm_cache_unpin(pin);
	}
	PG_END_TRY();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(sm_forecast_query);
/* seqmodel.forecast_query(model, query, horizon, quantiles, samples, seed) */
Datum
sm_forecast_query(PG_FUNCTION_ARGS)
{
	return forecast_query_run(fcinfo, "forecast_query", 3, NULL, NULL, -1);
}

PG_FUNCTION_INFO_V1(sm_forecast_query_future);
/*
 * seqmodel.forecast_query_future(model, query, horizon, future_query,
 * quantiles, samples, seed): forecast_query with future covariates
 */
Datum
sm_forecast_query_future(PG_FUNCTION_ARGS)
{
	return forecast_query_run(fcinfo, "forecast_query_future", 4, NULL, NULL, 3);
}

PG_FUNCTION_INFO_V1(sm_forecast_query_time);
/*
 * seqmodel.forecast_query_<type>(model, query, horizon, freq, quantiles,
 * samples, seed): the type from the result's time column
 */
Datum
sm_forecast_query_time(PG_FUNCTION_ARGS)
{
	sm_time_reader tr;
	const char *fn;

	sm_time_kind kind = result_time_kind(fcinfo, 2);

	switch (kind)
	{
		case SM_TIME_TIMESTAMPTZ:
			fn = "forecast_query_timestamptz";
			break;
		case SM_TIME_TIMESTAMP:
			fn = "forecast_query_timestamp";
			break;
		case SM_TIME_DATE:
			fn = "forecast_query_date";
			break;
		default:
			fn = "forecast_query_bigint";
			break;
	}
	time_reader_of(fcinfo, kind, fn, 3, &tr);
	return forecast_query_run(fcinfo, fn, 4, &tr, NULL, -1);
}

PG_FUNCTION_INFO_V1(sm_backtest);
/*
 * seqmodel.backtest(model, query, horizon, origins, stride, season,
 * quantiles, samples, seed): rolling-origin forecasts of every series
 * against its actuals, with their metrics
 */
Datum
sm_backtest(PG_FUNCTION_ARGS)
{
	backtest_opts bt;

	memset(&bt, 0, sizeof(bt));
	bt.origins = PG_ARGISNULL(3) ? 1 : PG_GETARG_INT32(3);
	bt.season = PG_ARGISNULL(5) ? 1 : PG_GETARG_INT32(5);
	if (bt.origins < 1 || bt.origins > MAX_ORIGINS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("origins must be between 1 and %d, not %d", MAX_ORIGINS, bt.origins)));
	if (bt.season < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("season must be at least 1, not %d", bt.season)));
	/* stride NULL: the horizon, so the origins' forecasts do not overlap */
	if (!PG_ARGISNULL(4))
	{
		bt.stride = PG_GETARG_INT32(4);
		if (bt.stride < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stride must be at least 1, not %d", bt.stride)));
	}
	else
		bt.stride = PG_ARGISNULL(2) ? 1 : Max(PG_GETARG_INT32(2), 1);
	return forecast_query_run(fcinfo, "backtest", 6, NULL, &bt, -1);
}

/* ------------------------------------------------------------ shared (sm_forecast.h) */

const sm_seqmodel *
sm_pg_sequence_model(const char *name, const char *fn)
{
	return sequence_model(name, fn);
}

void
sm_pg_check_horizon(int horizon)
{
	check_horizon(horizon);
}

void
sm_pg_read_quantile_args(const sm_seqmodel *m, FunctionCallInfo fcinfo, int qarg, int horizon,
						 quantile_opts *qo)
{
	read_quantile_args(m, fcinfo, qarg, horizon, qo);
}

void
sm_pg_emit_forecast_rows(ReturnSetInfo *rsinfo, const char *series, const quantile_opts *qo,
						 int F, const int *targets, const float *point, const float *quant,
						 const sm_series_time *st)
{
	emit_forecast_rows(rsinfo, series, qo, F, targets, point, quant, st);
}

void
sm_pg_series_key_init(sm_pg_series_key *k, Oid type, Oid coll, MemoryContext ctx)
{
	bool		isvarlena;
	TypeCacheEntry *tc;

	k->type = type;
	k->coll = OidIsValid(coll) ? coll : DEFAULT_COLLATION_OID;
	getTypeOutputInfo(type, &k->out.fn_oid, &isvarlena);
	fmgr_info_cxt(k->out.fn_oid, &k->out, ctx);
	get_typlenbyval(type, &k->len, &k->byval);
	tc = lookup_type_cache(type, TYPECACHE_EQ_OPR_FINFO);
	if (OidIsValid(tc->eq_opr_finfo.fn_oid))
		fmgr_info_copy(&k->eq, &tc->eq_opr_finfo, ctx);
	else
		k->eq.fn_oid = InvalidOid;
}

bool
sm_pg_series_key_same(sm_pg_series_key *k, Datum cur, const char *cur_text, Datum key)
{
	if (OidIsValid(k->eq.fn_oid))
		return DatumGetBool(FunctionCall2Coll(&k->eq, k->coll, cur, key));
	/* a type without equality: compare the text forms */
	return strcmp(cur_text, OutputFunctionCall(&k->out, key)) == 0;
}

bool
sm_pg_value_type_ok(Oid type)
{
	return type == FLOAT4OID || type == FLOAT8OID || type == NUMERICOID || type == INT2OID ||
		type == INT4OID || type == INT8OID || type == FLOAT4ARRAYOID;
}

void
sm_pg_value_of(Datum d, Oid type, float *out, int I, const char *key, int64 pos)
{
	value_of(d, type, out, I, key, pos);
}
