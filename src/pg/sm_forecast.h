/*
 * sm_forecast.h -- what forecast.c shares with the other forecasting glue
 * (state.c): the numeric sequence model of a name, the horizon check, the
 * quantile options and the rows a forecast returns, and the value column
 * of a query.
 */
#ifndef SM_FORECAST_H
#define SM_FORECAST_H

#include "sm_pg.h"
#include "sm_time.h"

#include "funcapi.h"

#include "nn/sm_seqmodel.h"

/* quantiles, samples and seed of a forecast, as the engine takes them */
typedef struct quantile_opts
{
	sm_forecast_opts opts;
	float	   *q;				/* requested quantiles */
	int			nq;
} quantile_opts;

/* The numeric sequence model called `name`, or an error naming what it is instead. */
const sm_seqmodel *sm_pg_sequence_model(const char *name, const char *fn);
/* Errors unless 1 <= horizon <= seqmodel.max_horizon. */
void		sm_pg_check_horizon(int horizon);
/* Arguments qarg (quantiles), qarg + 1 (samples), qarg + 2 (seed) -> options. */
void		sm_pg_read_quantile_args(const sm_seqmodel *m, FunctionCallInfo fcinfo, int qarg,
									 int horizon, quantile_opts *qo);
/*
 * One series' forecast as rows [series,] step, [time,] value, quantile,
 * feature (the input feature of each of the F targets: targets[f] + 1, or
 * f + 1 when targets is NULL).
 */
void		sm_pg_emit_forecast_rows(ReturnSetInfo *rsinfo, const char *series,
									 const quantile_opts *qo, int F, const int *targets,
									 const float *point, const float *quant,
									 const sm_series_time *st);
/*
 * A query's series key column: how keys are copied, printed and compared
 * (with the type's equality, or by their text for a type without one), as
 * forecast_query's and state_update's readers split rows into series.
 */
typedef struct sm_pg_series_key
{
	Oid			type,
				coll;
	FmgrInfo	out;
	FmgrInfo	eq;				/* fn_oid invalid: compare the text forms */
	bool		byval;
	int16		len;
} sm_pg_series_key;

/* from the query's column (type and collation), functions looked up in ctx */
void		sm_pg_series_key_init(sm_pg_series_key *k, Oid type, Oid coll, MemoryContext ctx);
/* does key continue the series whose key is cur (text cur_text)? */
bool		sm_pg_series_key_same(sm_pg_series_key *k, Datum cur, const char *cur_text, Datum key);

/* Is `type` a value column forecast_query takes (a number or real[])? */
bool		sm_pg_value_type_ok(Oid type);
/* A value column's Datum as I reals (errors name the series and step). */
void		sm_pg_value_of(Datum d, Oid type, float *out, int I, const char *key, int64 pos);

#endif							/* SM_FORECAST_H */
