/*
 * seq2seq.c -- SQL over encoder-decoder models (archs rnn_seq2seq and
 * transformer_seq2seq, through nn/sm_encdec.h):
 * seqmodel.translate_ids(model, source, options) decodes a source greedily
 * or by beam search (nn/sm_beam.h), and seqmodel.seq2seq_logprob_ids(model,
 * source, target) scores a target under teacher forcing.
 */
#include "sm_seq2seq_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "core/sm_json.h"
#include "nn/sm_beam.h"

#define OPTION_NAMES "num_beams, max_new_tokens, length_penalty, early_stopping, no_repeat_ngram_size, temperature, top_k and seed"

/* The encoder-decoder called `name`, or an error naming what it is instead. */
void
sm_pg_encdec(const char *name, const char *fn, sm_encdec *e)
{
	const sm_model *model = sm_cache_get(name);

	if (!sm_encdec_of(model, e))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seqmodel.%s needs an encoder-decoder model", fn),
				 errdetail("Model \"%s\" has arch \"%s\", which has no decoder reading an encoded source.",
						   name, model->arch->name),
				 errhint("Use a model of arch rnn_seq2seq, transformer_seq2seq, marian or bart.")));
	sm_set_threads(sm_threads);
}

static inline void
option_error(const char *key, const char *what, const char *range)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" must be %s", key, what),
			 errdetail("%s", range)));
}

/* an integer option in [min, max] */
static int
int_option(const sm_json *v, const char *key, int min, int max)
{
	char		range[128];

	snprintf(range, sizeof(range), "It must be an integer between %d and %d.", min, max);
	if (v->type != SM_JSON_NUMBER || !v->is_integer)
		option_error(key, "an integer", range);
	if (v->integer < min || v->integer > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be between %d and %d, not %lld", key, min, max,
						(long long) v->integer)));
	return (int) v->integer;
}

/* options jsonb -> beam options, defaults from the model */
void
sm_pg_beam_options(Jsonb *options, int max_new_default, sm_beam_opts *o)
{
	char	   *text = JsonbToCString(NULL, &options->root, VARSIZE(options));
	sm_json    *j;
	sm_error	err;

	o->num_beams = 1;
	o->max_new = max_new_default;
	o->length_penalty = 1.0;
	o->early_stopping = false;
	o->no_repeat_ngram = 0;
	o->temperature = 0;
	o->top_k = 0;
	o->seed = 0;
	SM_PG_CHECK(sm_json_parse(text, strlen(text), &j, &err), &err);
	if (j->type != SM_JSON_OBJECT)
	{
		const char *type = sm_json_type_name(j->type);

		sm_json_free(j);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object, not %s", type),
				 errdetail("Options are " OPTION_NAMES ".")));
	}
	PG_TRY();
	{
		for (size_t i = 0; i < j->count; i++)
		{
			const char *key = j->keys[i];
			const sm_json *v = j->items[i];

			if (strcmp(key, "num_beams") == 0)
				o->num_beams = int_option(v, key, 1, SM_MAX_BEAMS);
			else if (strcmp(key, "max_new_tokens") == 0)
				o->max_new = int_option(v, key, 1, SM_MAX_NEW_TOKENS);
			else if (strcmp(key, "no_repeat_ngram_size") == 0)
				o->no_repeat_ngram = int_option(v, key, 0, SM_MAX_NGRAM);
			else if (strcmp(key, "length_penalty") == 0)
			{
				if (v->type != SM_JSON_NUMBER)
					option_error(key, "a number",
								 "A hypothesis scores its summed log-probabilities divided by its length to this power (1.0 by default).");
				o->length_penalty = v->number;
			}
			else if (strcmp(key, "temperature") == 0)
			{
				if (v->type != SM_JSON_NUMBER)
					option_error(key, "a number",
								 "0 (the default) decodes greedily; more samples the next token from softmax(log-probabilities / temperature).");
				o->temperature = v->number;
			}
			else if (strcmp(key, "top_k") == 0)
				o->top_k = int_option(v, key, 0, INT32_MAX);
			else if (strcmp(key, "seed") == 0)
			{
				if (v->type != SM_JSON_NUMBER || !v->is_integer)
					option_error(key, "an integer", "The same seed, model and source give the same sample.");
				o->seed = (uint64_t) v->integer;
			}
			else if (strcmp(key, "early_stopping") == 0)
			{
				if (v->type != SM_JSON_BOOL)
					option_error(key, "a boolean",
								 "true stops a source's beam search once num_beams hypotheses are finished.");
				o->early_stopping = v->boolean;
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\"", key),
						 errdetail("Options are " OPTION_NAMES ".")));
		}
	}
	PG_FINALLY();
	{
		sm_json_free(j);
	}
	PG_END_TRY();
	SM_PG_CHECK(sm_beam_check_opts(o, &err), &err);
}

PG_FUNCTION_INFO_V1(sm_translate_ids);
/* seqmodel.translate_ids(model, source, options) */
Datum
sm_translate_ids(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	sm_encdec	e;
	int			n;
	int32	   *src = sm_pg_int_array(PG_GETARG_ARRAYTYPE_P(1), "source", &n);
	const int32_t *srcs[1] = {src};
	sm_beam_opts o;
	int32	   *out;
	int			n_out = 0;
	Datum	   *items;
	sm_error	err;

	sm_pg_encdec(name, "translate_ids", &e);
	sm_pg_beam_options(PG_GETARG_JSONB_P(2), e.max_new_default, &o);
	SM_PG_CHECK(sm_encdec_check_source(&e, srcs, &n, 1, &err), &err);
	out = palloc(sizeof(int32) * o.max_new);
	SM_PG_CHECK(sm_decode(&e.decoder, srcs, &n, 1, &o, out, &n_out, NULL, &err), &err);
	items = palloc(sizeof(Datum) * Max(n_out, 1));
	for (int i = 0; i < n_out; i++)
		items[i] = Int32GetDatum(out[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(items, n_out, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(sm_seq2seq_logprob_ids);
/* seqmodel.seq2seq_logprob_ids(model, source, target): sum of log P(target[t] | source, target[<t]) */
Datum
sm_seq2seq_logprob_ids(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	sm_encdec	e;
	int			n,
				nt;
	int32	   *src = sm_pg_int_array(PG_GETARG_ARRAYTYPE_P(1), "source", &n);
	int32	   *tgt = sm_pg_int_array(PG_GETARG_ARRAYTYPE_P(2), "target", &nt);
	const int32_t *srcs[1] = {src},
			   *tgts[1] = {tgt};
	double		lp;
	sm_error	err;

	sm_pg_encdec(name, "seq2seq_logprob_ids", &e);
	SM_PG_CHECK(sm_encdec_check_source(&e, srcs, &n, 1, &err), &err);
	SM_PG_CHECK(sm_encdec_check_target(&e, tgts, &nt, 1, &err), &err);
	SM_PG_CHECK(sm_decode_logprob(&e.decoder, srcs, &n, tgts, &nt, 1, &lp, NULL, &err), &err);
	PG_RETURN_FLOAT8(lp);
}
