/*
 * sm_seqhead.h -- what a sequence model's output means for forecasting,
 * shared by the recurrent archs (sm_rnn.c) and the transformer (sm_tfm.c):
 * input and output scaling, the kind of head (point, quantile, Gaussian),
 * recursive or direct forecasts, the context limit, and the bookkeeping of a
 * forecast (which output to feed back, sampling, quantiles).
 *
 * Config keys read here (unknown keys are the arch's business):
 *   input_mean, input_std    number or array of I numbers: the model sees
 *                            (x - mean) / std (covariates included)
 *   output_mean, output_std  number or array of F numbers (F, the target
 *                            width): a predicted y' becomes y' * std + mean
 *                            (a Gaussian scale: s' * std)
 *   targets, past_covariates, future_covariates
 *                  arrays of input feature indices (0-based): which input
 *                  features the model predicts, which it sees in the
 *                  history only, and which are known ahead.  Absent: every
 *                  feature is a target (F = I).  targets defaults to the
 *                  features no covariate key lists; the three lists are
 *                  disjoint and cover 0 .. I-1.  Past covariates need a
 *                  direct forecast, future covariates a recursive one.
 *   forecast       "recursive" (default) | "direct"
 *   context        integer >= 1: forecasts use only the last N history steps
 *   min_history    integer >= 1, default 1: shorter histories are an error
 *   quantiles      array of increasing numbers in (0, 1): a quantile head
 *   sort_quantiles boolean, default false: each feature's quantile outputs
 *                  are put in increasing order (rearrangement, so intervals
 *                  never cross; it never raises the pinball loss); as torch's
 *                  out.view(..., Q).sort(-1).values after the output scaling
 *   distribution   "gaussian": a Gaussian head (DeepAR style)
 * Head output layouts (O = head output width):
 *   point, recursive:  O = F; each prediction is fed back
 *   point, direct:     O = M * F, laid out [step][feature]; M is the most
 *                      steps the model can forecast
 *   quantile (Q):      every value above becomes Q values ([..][quantile]);
 *                      recursive forecasts feed back the quantile nearest 0.5
 *   gaussian:          O = 2 F: means then raw scales; scale = softplus(raw);
 *                      recursive only; sampled forecasts draw `samples`
 *                      paths, each feeding back its own draws
 * Output j belongs to target j, input feature targets[j].
 *
 * Future covariates (recursive forecasts).  The model predicting step t
 * reads the targets of step t - 1 and the future covariates of step t: in
 * a history of rows (targets_t, covariates_t) the model's input row t is
 * (targets_t, covariates_{t+1}), the last row taking the first step ahead's
 * covariates; each forecast step then feeds back (predicted targets of step
 * k, given covariates of step k + 1).  Trained in torch as
 * cat(y[:, :-1], x[:, 1:]) -> y[:, 1:].  A forecast of h steps takes
 * future [B, h, n_future] (columns in future_covariates order).
 */
#ifndef SM_SEQHEAD_H
#define SM_SEQHEAD_H

#include "core/sm_config.h"
#include "core/sm_core.h"

#define SM_MAX_QUANTILES 99

/* keys of sm_seqhead_read, for an arch's list of allowed keys */
#define SM_SEQHEAD_KEYS \
	"input_mean", "input_std", "output_mean", "output_std", \
	"forecast", "context", "min_history", "quantiles", "sort_quantiles", "distribution", \
	"targets", "past_covariates", "future_covariates"

typedef enum sm_head_kind
{
	SM_HEAD_NONE,				/* no head: output = the model's features */
	SM_HEAD_POINT,
	SM_HEAD_QUANTILE,
	SM_HEAD_GAUSSIAN
} sm_head_kind;

typedef struct sm_seqhead
{
	int			I;				/* input width */
	int			F;				/* target width (I without covariate keys) */
	int			O;				/* head output width (0: no head) */
	sm_head_kind kind;
	float	   *in_mean,
			   *in_std,			/* NULL when absent: [I] each */
			   *out_mean,
			   *out_std;		/* NULL when absent: [F] each */
	int		   *targets;		/* [F] input feature of each target; NULL: all I in order */
	int		   *future;			/* [n_future] input features known ahead, or NULL */
	int			n_future,
				n_past;
	bool		direct;
	int			context;		/* 0: whole history */
	int			min_history;
	int			n_quantiles;
	float		quantiles[SM_MAX_QUANTILES];
	int			median;			/* index of the quantile nearest 0.5 */
	bool		sort_quantiles; /* rearrange each feature's quantiles in order */
	int			max_direct;		/* M: direct models' steps */
} sm_seqhead;

/* Read and check the keys above for a model of input width I and head width O (0: none). */
sm_status	sm_seqhead_read(const sm_config *cfg, int64_t I, int64_t O, sm_seqhead *sh,
							sm_error *err);
void		sm_seqhead_free(sm_seqhead *sh);

/*
 * Row t (0-based) of a history x [len][I] as a forecast feeds it to the
 * model (see "Future covariates" above): future covariates from row t + 1,
 * for the last row from fut0 [n_future].  row [I], unscaled.
 */
void		sm_seqhead_history_row(const sm_seqhead *sh, const float *x, int len, int t,
								   const float *fut0, float *row);

/* The input row after a forecast step: targets next [F], future covariates
 * fut [n_future] (NULL: zeros, a row no step reads).  row [I], unscaled. */
void		sm_seqhead_feed_row(const sm_seqhead *sh, const float *next, const float *fut,
								float *row);

/* (v - mean) / std for one row of I inputs, in place */
void		sm_seqhead_scale_input(const sm_seqhead *sh, float *row);

/* Head outputs of n rows of width O: Gaussian scales through softplus, then
 * unscaled; with sort_quantiles each feature's Q quantiles then in order. */
void		sm_seqhead_unscale(const sm_seqhead *sh, float *out, size_t n);

/*
 * A batch of B sequences right-aligned in T steps (x [B, T, I]; lengths[b]
 * steps each, NULL: all T): T >= 1 and every length in 1..T.
 */
sm_status	sm_seq_check_lengths(int B, int T, const int *lengths, sm_error *err);

/* Options of a forecast. */
typedef struct sm_forecast_opts
{
	int			horizon;		/* steps to forecast, >= 1 */
	int			samples;		/* gaussian sampling: paths per series (0: point) */
	uint64_t	seed;			/* sampling seed */
	const uint64_t *series_seeds;	/* per series seeds [B], or NULL: seed + b */
	const float *quantiles;		/* requested quantiles (sampled or a subset of the head's) */
	int			n_quantiles;	/* 0: point forecast only */
	const float *future;		/* [B, horizon, n_future] future covariates, or NULL */
} sm_forecast_opts;

/* What a forecast needs beyond the model: checked once up front. */
typedef struct sm_fc_plan
{
	int			F;				/* target width */
	int			S;				/* paths per series (1 unless sampling) */
	bool		sampling;
	int			qmap[SM_MAX_QUANTILES];	/* requested -> head quantile */
} sm_fc_plan;

/*
 * Check a forecast of B series (lengths, or all T) by a model whose output
 * rows are W wide, and plan it.  Errors: horizon < 1, a model that cannot
 * feed back, a horizon beyond a direct model's M, a history shorter than
 * min_history, quantiles the head does not have, future covariates missing
 * for a model that needs them or given to one that takes none.
 */
sm_status	sm_fc_plan_make(const sm_seqhead *sh, int W, int B, const int *lengths, int T,
							const sm_forecast_opts *opts, sm_fc_plan *p, sm_error *err);

/* Seed the S sampling streams of each of `rows` series (series[r] = its index). */
void		sm_fc_seed_paths(const sm_fc_plan *p, const sm_forecast_opts *opts,
							 const int *series, int rows, uint64_t *rng);

/*
 * Record step k of the forecast from head outputs out [rows*S][W] of series
 * series[0..rows), and write the values to feed back into next [rows*S][F]
 * (unscaled).  vals: scratch [S].  point [B, horizon, F] and quant [B,
 * horizon, F, n_quantiles] may be NULL.
 */
void		sm_fc_record_step(const sm_seqhead *sh, int W, const sm_fc_plan *p,
							  const sm_forecast_opts *opts, const int *series, int rows,
							  int k, const float *out, uint64_t *rng, float *next,
							  float *vals, float *point, float *quant);

/* direct: the head output of each series holds every step at once */
void		sm_fc_record_direct(const sm_seqhead *sh, int W, const sm_fc_plan *p,
								const sm_forecast_opts *opts, const int *series, int rows,
								const float *out, float *point, float *quant);

#endif							/* SM_SEQHEAD_H */
