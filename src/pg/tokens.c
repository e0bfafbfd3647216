/*
 * tokens.c -- SQL over token models (archs gpt2, bert, and transformer with
 * vocab_size): seqmodel.forward(model, ids) and
 * seqmodel.logprob_ids(model, ids).
 */
#include "sm_pg.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/memutils.h"

#include "nn/sm_rnn.h"
#include "nn/sm_tfm.h"
#include "sm_text.h"

/* The token transformer called `name`, or an error naming what it is
 * instead (fn: the SQL function asking); sets the engine's threads. */
const sm_tfm *
sm_pg_token_model(const char *name, const char *fn)
{
	const sm_model *model = sm_cache_get(name);
	const sm_tfm *m = sm_tfm_of(model);

	if (m == NULL || m->vocab == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seqmodel.%s does not support arch \"%s\"%s", fn, model->arch->name,
						m ? " with numeric input" : ""),
				 errdetail("Model \"%s\" has arch \"%s\"; %s needs a token model: arch gpt2, bert, or transformer with vocab_size.",
						   name, model->arch->name, fn),
				 m || sm_rnn_of(model) ? errhint("For numeric sequences use seqmodel.predict.") : 0));
	sm_set_threads(sm_threads);
	return m;
}

PG_FUNCTION_INFO_V1(sm_forward);
/*
 * seqmodel.forward(model, ids): what the model's config says it outputs --
 * per-token rows [L][width] (hidden states, logits, or a head at every
 * token), or one row [W] for a sequence output (pooled, classifier).
 */
Datum
sm_forward(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const sm_tfm *m = sm_pg_token_model(name, "forward");
	int			n;
	int32	   *ids = sm_pg_int_array(PG_GETARG_ARRAYTYPE_P(1), "ids", &n);
	sm_tfm_out	what = m->default_out;
	int			W = sm_tfm_out_width(m, what);
	bool		per_seq = what == SM_TFM_OUT_SEQUENCE;
	size_t		rows = per_seq ? 1 : (size_t) n;
	float	   *y;
	sm_tfm_batch b = {.B = 1, .lengths = &n, .ids = ids};
	sm_error	err;

	/* an array value is at most 1 GB */
	if ((uint64) rows * W > (MaxAllocSize - 1024) / sizeof(float))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the output of %d tokens by %d values is too large for an array", n, W),
				 errdetail("An array value holds at most 1 GB.")));
	y = palloc_extended(sizeof(float) * rows * W, MCXT_ALLOC_HUGE);
	SM_PG_CHECK(sm_tfm_forward(m, &b, what, y, NULL, &err), &err);
	sm_pg_check_output(name, y, rows * W);
	PG_RETURN_ARRAYTYPE_P(sm_pg_real_array(y, per_seq ? 1 : 2, (int) rows, W));
}

PG_FUNCTION_INFO_V1(sm_logprob_ids);
/* seqmodel.logprob_ids(model, ids): sum of log P(ids[t+1] | ids[..t]) */
Datum
sm_logprob_ids(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const sm_tfm *m = sm_pg_token_model(name, "logprob_ids");
	int			n;
	int32	   *ids = sm_pg_int_array(PG_GETARG_ARRAYTYPE_P(1), "ids", &n);
	sm_tfm_batch b = {.B = 1, .lengths = &n, .ids = ids};
	double		score;
	sm_error	err;

	if (m->lm_head == NULL || !m->causal)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seqmodel.logprob_ids needs a decoder with a language-model head"),
				 errdetail("Model \"%s\" (arch \"%s\") does not predict the next token.", name,
						   sm_cache_get(name)->arch->name),
				 errhint("Use a gpt2 model.")));
	SM_PG_CHECK(sm_tfm_forward(m, &b, SM_TFM_OUT_LOGPROB, NULL, &score, &err), &err);
	if (!isfinite(score))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("model \"%s\" produced a non-finite log-probability", name)));
	PG_RETURN_FLOAT8(score);
}
