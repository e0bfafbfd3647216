/*
 * text.c -- SQL over text: tokenizers (import_tokenizer*, tokenize,
 * token_type_ids, detokenize) and the text functions of token models
 * (classify, label, embed, logprob, perplexity, generate).  score_query.c
 * runs the same tasks over a whole query in batches.
 *
 * Truncation policy (seqmodel.truncation): a text longer than the model's
 * maximum length is an error by default; with "truncate" its first tokens
 * are kept (the tokenizer's closing special tokens such as [SEP] stay
 * last; a pair is cut longest first).  generate keeps the end of a long
 * prompt instead, which is what a continuation needs.  tokenize never
 * truncates: it shows the whole text's tokens.
 */
#include "sm_text.h"
#include "sm_seq2seq_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "nn/sm_generate.h"
#include "nn/sm_lm_decoder.h"

/* generate(model, prompt, options)'s max_new_tokens when not given */
#define SM_GENERATE_DEFAULT_NEW 50
#include "nn/sm_encdec.h"

/* ------------------------------------------------------------ the model */

void
sm_text_model_get(const char *name, const char *fn, sm_text_need need, sm_text_model *tm)
{
	const sm_tfm *m = sm_pg_token_model(name, fn);

	if (need == SM_NEED_CLASSIFIER && m->head.w == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seqmodel.%s needs a sequence classifier", fn),
				 errdetail("Model \"%s\" (arch \"%s\") has no classification head over the pooled sequence.",
						   name, sm_cache_get(name)->arch->name),
				 errhint("Use a bert model with its classifier (BertForSequenceClassification), or a transformer with output_size and pooling.")));
	if (need == SM_NEED_DECODER && (m->lm_head == NULL || !m->causal))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seqmodel.%s needs a decoder with a language-model head", fn),
				 errdetail("Model \"%s\" (arch \"%s\") does not predict the next token.", name,
						   sm_cache_get(name)->arch->name),
				 errhint("Use a gpt2 model.")));
	tm->name = name;
	tm->m = m;
	tm->tok = sm_cache_tokenizer(name, false);	/* one use: counted above */
}

void
sm_text_encode(const sm_text_model *tm, const char *text, size_t len,
			   const char *pair, size_t pair_len, bool with_bos,
			   const char *what, sm_tok_ids *e)
{
	int			bos = with_bos && tm->m->bos_id >= 0 ? 1 : 0;
	int			room = tm->m->max_len - bos;
	bool		truncate = sm_truncation == SM_TRUNCATION_TRUNCATE;
	sm_error	err;

	if (len == 0 || (pair != NULL && pair_len == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is empty", len == 0 ? what : "pair"),
				 errdetail("Model \"%s\" needs at least one token of text.", tm->name)));
	SM_PG_CHECK(sm_tokenizer_encode(tm->tok, text, len, pair, pair_len, true,
									truncate ? room : 0, truncate, e, &err), &err);
	if (e->n > room)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is %d tokens long but model \"%s\" takes at most %d",
						what, e->n + bos, tm->name, tm->m->max_len),
				 errdetail("seqmodel.truncation is \"error\"."),
				 errhint("Shorten the text, or SET seqmodel.truncation = truncate to keep its first tokens.")));
	if (e->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no tokens", what),
				 errdetail("The tokenizer of model \"%s\" made nothing of it.", tm->name)));
	if (bos)
	{
		/* make room at the front (encode allocated through the hooks) */
		int			n = e->n;
		int32	   *ids = palloc(sizeof(int32) * (n + 1));
		int32	   *types = palloc(sizeof(int32) * (n + 1));

		ids[0] = tm->m->bos_id;
		types[0] = 0;
		memcpy(ids + 1, e->ids, sizeof(int32) * n);
		memcpy(types + 1, e->type_ids, sizeof(int32) * n);
		sm_tok_ids_free(e);		/* (clears e) */
		e->ids = ids;
		e->type_ids = types;
		e->n = e->cap = n + 1;
	}
}

/* one text through the model: sm_tfm_forward on a batch of one */
static void
run_one(const sm_text_model *tm, const sm_tok_ids *e, sm_tfm_out what, float *out, double *score)
{
	sm_tfm_batch b = {.B = 1, .lengths = &e->n, .ids = e->ids, .type_ids = e->type_ids};
	sm_error	err;

	SM_PG_CHECK(sm_tfm_forward(tm->m, &b, what, out, score, &err), &err);
}

/* ------------------------------------------------------------ tokenizers */

/* the catalog's name of a tokenizer's kind (seqmodel.tokenizer.kind) */
static const char *
kind_name(const sm_tokenizer *tok)
{
	switch (sm_tokenizer_kind(tok))
	{
		case SM_TOK_BPE:
			return "bpe";
		case SM_TOK_WORDPIECE:
			return "wordpiece";
		case SM_TOK_UNIGRAM:
			return "unigram";
		case SM_TOK_SPM_BPE:
			return "sentencepiece_bpe";
	}
	return "bpe";				/* not reached */
}

/* a tokenizer.json loaded to check it, and its vocabulary checked against the model's side */
static sm_tokenizer *
checked_tokenizer(const char *name, const char *json, size_t len, int room, const char *side,
				  const char *vocab_key)
{
	sm_tokenizer *tok;
	sm_error	err;
	int			V;

	SM_PG_CHECK(sm_tokenizer_load(json, len, &tok, &err), &err);
	V = sm_tokenizer_vocab_size(tok);
	if (V > room)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the %stokenizer's ids go up to %d but model \"%s\" has a %svocabulary of %d",
						*side ? side : "", V - 1, name, *side ? side : "", room),
				 errdetail("Every token id must be below the model's %s.", vocab_key)));
	return tok;
}

/*
 * Store a model's tokenizer.json -- and, for an encoder-decoder, an optional
 * separate target tokenizer.json (NULL: the one tokenizer serves both sides)
 * -- after checking that they load and fit the model's vocabularies;
 * returns the (source) vocabulary size.
 */
static int
store_tokenizers(const char *name, const char *json, size_t len, const char *tjson, size_t tlen)
{
	static SPIPlanPtr upsert = NULL;
	Oid			types[7] = {TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', 'n', 'n', 'n'};
	const sm_model *model = sm_cache_get(name);
	const sm_tfm *m = sm_tfm_of(model);
	sm_encdec	ed;
	const sm_encdec *s2s = sm_encdec_of(model, &ed) ? &ed : NULL;
	sm_tokenizer *tok;
	int			V;
	int			rc;

	/* a tokenizer is part of its model: only those who may replace it may change it */
	sm_catalog_require_owner(name, "import its tokenizer");
	if (tjson != NULL && s2s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" has one vocabulary", name),
				 errdetail("A separate target tokenizer belongs to an encoder-decoder model (arch rnn_seq2seq, transformer_seq2seq, marian or bart); model \"%s\" has arch \"%s\".",
						   name, model->arch->name),
				 errhint("Import one tokenizer for both sides.")));
	if (s2s == NULL && (m == NULL || m->vocab == 0))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" does not read tokens", name),
				 errdetail("It has arch \"%s\"%s; a tokenizer belongs to a token model: arch gpt2, bert, transformer with vocab_size, or an encoder-decoder.",
						   model->arch->name, m ? " with numeric input" : "")));
	if (s2s == NULL)
		tok = checked_tokenizer(name, json, len, m->vocab, "", "vocab_size");
	else
	{
		tok = checked_tokenizer(name, json, len, s2s->source_vocab, "source ", s2s->source_vocab_key);
		/* the one tokenizer also makes the target ids */
		if (tjson == NULL)
			sm_tokenizer_free(checked_tokenizer(name, json, len, s2s->target_vocab, "target ", s2s->target_vocab_key));
	}
	V = sm_tokenizer_vocab_size(tok);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(kind_name(tok));
	values[2] = Int32GetDatum(V);
	values[3] = PointerGetDatum(cstring_to_text_with_len(json, (int) len));
	sm_tokenizer_free(tok);
	if (tjson != NULL)
	{
		tok = checked_tokenizer(name, tjson, tlen, s2s->target_vocab, "target ", s2s->target_vocab_key);
		values[4] = CStringGetTextDatum(kind_name(tok));
		values[5] = Int32GetDatum(sm_tokenizer_vocab_size(tok));
		values[6] = PointerGetDatum(cstring_to_text_with_len(tjson, (int) tlen));
		nulls[4] = nulls[5] = nulls[6] = ' ';
		sm_tokenizer_free(tok);
	}
	SPI_connect();
	sm_catalog_plan(&upsert,
					"INSERT INTO seqmodel.tokenizer (model, kind, vocab_size, definition, target_kind, target_vocab_size, target_definition)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7)"
					" ON CONFLICT (model) DO UPDATE SET kind = excluded.kind, vocab_size = excluded.vocab_size,"
					" definition = excluded.definition, target_kind = excluded.target_kind,"
					" target_vocab_size = excluded.target_vocab_size, target_definition = excluded.target_definition",
					7, types);
	rc = SPI_execute_plan(upsert, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not store the tokenizer of model \"%s\": %s", name, SPI_result_code_string(rc));
	SPI_finish();
	sm_cache_forget(name);
	return V;
}

static int
store_tokenizer(const char *name, const char *json, size_t len)
{
	return store_tokenizers(name, json, len, NULL, 0);
}

PG_FUNCTION_INFO_V1(sm_import_tokenizer);
/* seqmodel.import_tokenizer(model, tokenizer_json, target_tokenizer_json DEFAULT NULL) */
Datum
sm_import_tokenizer(PG_FUNCTION_ARGS)
{
	char	   *name;
	text	   *json;
	text	   *target = PG_NARGS() > 2 && !PG_ARGISNULL(2) ? PG_GETARG_TEXT_PP(2) : NULL;

	/* STRICT in the first two arguments; the target may be NULL */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	json = PG_GETARG_TEXT_PP(1);
	PG_RETURN_INT32(store_tokenizers(name, VARDATA_ANY(json), VARSIZE_ANY_EXHDR(json),
									 target ? VARDATA_ANY(target) : NULL,
									 target ? VARSIZE_ANY_EXHDR(target) : 0));
}

/* a SentencePiece .model as the tokenizer.json we store */
static void
spm_json(bytea *spm, const char *side, sm_buf *json)
{
	sm_error	err;
	sm_status	rc;

	sm_buf_init(json);
	rc = sm_tokenizer_json_from_sentencepiece(VARDATA_ANY(spm), VARSIZE_ANY_EXHDR(spm), json, &err);
	if (rc != SM_OK)
	{
		/* say which of the two files it was */
		if (*side)
			sm_hint(&err, "The %s model was rejected.", side);
		sm_pg_raise(&err);
	}
	if (json->failed)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}

PG_FUNCTION_INFO_V1(sm_import_tokenizer_sentencepiece);
/* seqmodel.import_tokenizer_sentencepiece(model, source_spm, target_spm DEFAULT NULL) */
Datum
sm_import_tokenizer_sentencepiece(PG_FUNCTION_ARGS)
{
	char	   *name;
	sm_buf		src,
				tgt;
	bool		has_target = !PG_ARGISNULL(2);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	spm_json(PG_GETARG_BYTEA_PP(1), has_target ? "source" : "", &src);
	if (has_target)
		spm_json(PG_GETARG_BYTEA_PP(2), "target", &tgt);
	PG_RETURN_INT32(store_tokenizers(name, src.data, src.len, has_target ? tgt.data : NULL,
									 has_target ? tgt.len : 0));
}

PG_FUNCTION_INFO_V1(sm_import_tokenizer_bpe);
/* seqmodel.import_tokenizer_bpe(model, vocab_json, merges) */
Datum
sm_import_tokenizer_bpe(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *vocab = PG_GETARG_TEXT_PP(1);
	text	   *merges = PG_GETARG_TEXT_PP(2);
	sm_buf		json;
	sm_error	err;

	sm_buf_init(&json);
	SM_PG_CHECK(sm_tokenizer_json_from_bpe(VARDATA_ANY(vocab), VARSIZE_ANY_EXHDR(vocab),
										   VARDATA_ANY(merges), VARSIZE_ANY_EXHDR(merges),
										   &json, &err), &err);
	if (json.failed)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	PG_RETURN_INT32(store_tokenizer(name, json.data, json.len));
}

PG_FUNCTION_INFO_V1(sm_import_tokenizer_wordpiece);
/* seqmodel.import_tokenizer_wordpiece(model, vocab, lowercase) */
Datum
sm_import_tokenizer_wordpiece(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *vocab = PG_GETARG_TEXT_PP(1);
	bool		lowercase = PG_GETARG_BOOL(2);
	sm_buf		json;
	sm_error	err;

	sm_buf_init(&json);
	SM_PG_CHECK(sm_tokenizer_json_from_wordpiece(VARDATA_ANY(vocab), VARSIZE_ANY_EXHDR(vocab),
												 lowercase, &json, &err), &err);
	if (json.failed)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	PG_RETURN_INT32(store_tokenizer(name, json.data, json.len));
}

static ArrayType *
int_array(const int32 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(v[i]);
	return construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT);
}

/* the tokens of a text (or a pair), untruncated; target: with the target side's tokenizer */
static sm_tok_ids *
tokenize_side(FunctionCallInfo fcinfo, bool pair, bool target)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const sm_tokenizer *tok = target ? sm_cache_target_tokenizer(name) : sm_cache_tokenizer(name, true);
	text	   *a = PG_GETARG_TEXT_PP(1);
	text	   *b = pair ? PG_GETARG_TEXT_PP(2) : NULL;
	sm_tok_ids *e = palloc(sizeof(sm_tok_ids));
	sm_error	err;

	sm_tok_ids_init(e);
	SM_PG_CHECK(sm_tokenizer_encode(tok, VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									b ? VARDATA_ANY(b) : NULL, b ? VARSIZE_ANY_EXHDR(b) : 0,
									true, 0, false, e, &err), &err);
	return e;
}

static sm_tok_ids *
tokenize_args(FunctionCallInfo fcinfo, bool pair)
{
	return tokenize_side(fcinfo, pair, false);
}

PG_FUNCTION_INFO_V1(sm_tokenize);
/* seqmodel.tokenize(model, input) */
Datum
sm_tokenize(PG_FUNCTION_ARGS)
{
	sm_tok_ids *e = tokenize_args(fcinfo, false);

	PG_RETURN_ARRAYTYPE_P(int_array(e->ids, e->n));
}

PG_FUNCTION_INFO_V1(sm_tokenize_pair);
/* seqmodel.tokenize(model, input, pair) */
Datum
sm_tokenize_pair(PG_FUNCTION_ARGS)
{
	sm_tok_ids *e = tokenize_args(fcinfo, true);

	PG_RETURN_ARRAYTYPE_P(int_array(e->ids, e->n));
}

PG_FUNCTION_INFO_V1(sm_token_type_ids);
/* seqmodel.token_type_ids(model, input, pair) */
Datum
sm_token_type_ids(PG_FUNCTION_ARGS)
{
	sm_tok_ids *e = tokenize_args(fcinfo, true);

	PG_RETURN_ARRAYTYPE_P(int_array(e->type_ids, e->n));
}

PG_FUNCTION_INFO_V1(sm_tokenize_target);
/* seqmodel.tokenize_target(model, input): the target side of an encoder-decoder */
Datum
sm_tokenize_target(PG_FUNCTION_ARGS)
{
	sm_tok_ids *e = tokenize_side(fcinfo, false, true);

	PG_RETURN_ARRAYTYPE_P(int_array(e->ids, e->n));
}

/* ids back to text with the source or the target side's tokenizer */
static Datum
detokenize_side(FunctionCallInfo fcinfo, bool target)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const sm_tokenizer *tok = target ? sm_cache_target_tokenizer(name) : sm_cache_tokenizer(name, true);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int			n = 0;
	int32	   *ids = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) == 0 ? NULL
		: sm_pg_int_array(arr, "ids", &n);
	sm_buf		out;
	sm_error	err;

	sm_buf_init(&out);
	SM_PG_CHECK(sm_tokenizer_decode(tok, ids, n, true, &out, &err), &err);
	if (out.failed)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.len ? out.data : "", (int) out.len));
}

PG_FUNCTION_INFO_V1(sm_detokenize);
/* seqmodel.detokenize(model, ids) */
Datum
sm_detokenize(PG_FUNCTION_ARGS)
{
	return detokenize_side(fcinfo, false);
}

PG_FUNCTION_INFO_V1(sm_detokenize_target);
/* seqmodel.detokenize_target(model, ids): the target side of an encoder-decoder */
Datum
sm_detokenize_target(PG_FUNCTION_ARGS)
{
	return detokenize_side(fcinfo, true);
}

/* ------------------------------------------------------------ text functions */

/* class probabilities of a text or pair */
static float *
class_probs(FunctionCallInfo fcinfo, const char *fn, bool pair, sm_text_model *tm)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *a = PG_GETARG_TEXT_PP(1);
	text	   *b = pair ? PG_GETARG_TEXT_PP(2) : NULL;
	sm_tok_ids	e;
	float	   *p;

	sm_text_model_get(name, fn, SM_NEED_CLASSIFIER, tm);
	sm_tok_ids_init(&e);
	sm_text_encode(tm, VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), b ? VARDATA_ANY(b) : NULL,
				   b ? VARSIZE_ANY_EXHDR(b) : 0, false, "input", &e);
	p = palloc(sizeof(float) * tm->m->head.out);
	run_one(tm, &e, SM_TFM_OUT_PROBS, p, NULL);
	sm_pg_check_output(name, p, tm->m->head.out);
	return p;
}

PG_FUNCTION_INFO_V1(sm_classify);
/* seqmodel.classify(model, input) */
Datum
sm_classify(PG_FUNCTION_ARGS)
{
	sm_text_model tm;
	float	   *p = class_probs(fcinfo, "classify", false, &tm);

	PG_RETURN_ARRAYTYPE_P(sm_pg_real_array(p, 1, 1, tm.m->head.out));
}

PG_FUNCTION_INFO_V1(sm_classify_pair);
/* seqmodel.classify(model, input, pair) */
Datum
sm_classify_pair(PG_FUNCTION_ARGS)
{
	sm_text_model tm;
	float	   *p = class_probs(fcinfo, "classify", true, &tm);

	PG_RETURN_ARRAYTYPE_P(sm_pg_real_array(p, 1, 1, tm.m->head.out));
}

/* the name of class k: id2label, or Hugging Face's default LABEL_k */
char *
sm_text_label_name(const sm_tfm *m, int k)
{
	if (m->labels != NULL && k < m->n_labels)
		return pstrdup(m->labels[k]);
	return psprintf("LABEL_%d", k);
}

PG_FUNCTION_INFO_V1(sm_label);
/* seqmodel.label(model, input) */
Datum
sm_label(PG_FUNCTION_ARGS)
{
	sm_text_model tm;
	float	   *p = class_probs(fcinfo, "label", false, &tm);
	int			best = 0;

	for (int k = 1; k < tm.m->head.out; k++)
		if (p[k] > p[best])
			best = k;
	PG_RETURN_TEXT_P(cstring_to_text(sm_text_label_name(tm.m, best)));
}

PG_FUNCTION_INFO_V1(sm_embed);
/* seqmodel.embed(model, input) */
Datum
sm_embed(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *a = PG_GETARG_TEXT_PP(1);
	sm_text_model tm;
	sm_tok_ids	e;
	float	   *v;

	sm_text_model_get(name, "embed", SM_NEED_TOKENS, &tm);
	sm_tok_ids_init(&e);
	sm_text_encode(&tm, VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), NULL, 0, false, "input", &e);
	v = palloc(sizeof(float) * tm.m->d);
	run_one(&tm, &e, SM_TFM_OUT_EMBEDDING, v, NULL);
	sm_pg_check_output(name, v, tm.m->d);
	PG_RETURN_ARRAYTYPE_P(sm_pg_real_array(v, 1, 1, tm.m->d));
}

/* log-likelihood of a text and the number of tokens scored */
static double
text_logprob(FunctionCallInfo fcinfo, const char *fn, int *scored)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *a = PG_GETARG_TEXT_PP(1);
	sm_text_model tm;
	sm_tok_ids	e;
	double		lp;

	sm_text_model_get(name, fn, SM_NEED_DECODER, &tm);
	sm_tok_ids_init(&e);
	sm_text_encode(&tm, VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), NULL, 0, true, "input", &e);
	run_one(&tm, &e, SM_TFM_OUT_LOGPROB, NULL, &lp);
	if (!isfinite(lp))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("model \"%s\" produced a non-finite log-probability", name)));
	*scored = e.n - 1;
	return lp;
}

PG_FUNCTION_INFO_V1(sm_logprob);
/* seqmodel.logprob(model, input) */
Datum
sm_logprob(PG_FUNCTION_ARGS)
{
	int			scored;

	PG_RETURN_FLOAT8(text_logprob(fcinfo, "logprob", &scored));
}

PG_FUNCTION_INFO_V1(sm_perplexity);
/* seqmodel.perplexity(model, input) */
Datum
sm_perplexity(PG_FUNCTION_ARGS)
{
	int			scored;
	double		lp = text_logprob(fcinfo, "perplexity", &scored);

	if (scored == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input has a single token, so no token is scored"),
				 errdetail("Model \"%s\" has no bos_token_id: the first token is given, not predicted.",
						   text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errhint("Score a longer text, or set bos_token_id in the model's config.")));
	PG_RETURN_FLOAT8(exp(-lp / scored));
}

/*
 * A prompt's ids, whole: one longer than the model's positions (new tokens
 * need one) is an error, or under seqmodel.truncation = truncate loses its
 * beginning, which is what a continuation needs; *start: the first kept.
 */
static void
prompt_ids(const char *name, const sm_text_model *tm, text *prompt, sm_tok_ids *e, int *start)
{
	sm_error	err;

	*start = 0;
	if (VARSIZE_ANY_EXHDR(prompt) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prompt is empty"),
				 errdetail("Model \"%s\" needs at least one token to continue.", name)));
	sm_tok_ids_init(e);
	SM_PG_CHECK(sm_tokenizer_encode(tm->tok, VARDATA_ANY(prompt), VARSIZE_ANY_EXHDR(prompt), NULL, 0,
									true, 0, false, e, &err), &err);
	if (e->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prompt has no tokens")));
	if (e->n >= tm->m->max_len)
	{
		if (sm_truncation != SM_TRUNCATION_TRUNCATE)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("prompt is %d tokens long but model \"%s\" takes at most %d, new tokens included",
							e->n, name, tm->m->max_len),
					 errdetail("seqmodel.truncation is \"error\"."),
					 errhint("Shorten the prompt, or SET seqmodel.truncation = truncate to keep its last %d tokens.",
							 tm->m->max_len - 1)));
		*start = e->n - (tm->m->max_len - 1);
	}
}

/* the decoder's end of text: the config's eos_token_id, else GPT-2's <|endoftext|> */
static int32_t
text_eos(const sm_text_model *tm)
{
	return tm->m->eos_id >= 0 ? tm->m->eos_id : sm_tokenizer_token_id(tm->tok, "<|endoftext|>");
}

/* generated ids as text, special tokens left out */
static text *
ids_text(const sm_text_model *tm, const int32 *ids, int n)
{
	sm_buf		txt;
	sm_error	err;

	sm_buf_init(&txt);
	SM_PG_CHECK(sm_tokenizer_decode(tm->tok, ids, n, true, &txt, &err), &err);
	if (txt.failed)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return cstring_to_text_with_len(txt.len ? txt.data : "", (int) txt.len);
}

PG_FUNCTION_INFO_V1(sm_generate_text);
/* seqmodel.generate(model, prompt, max_tokens, temperature, top_k, seed) */
Datum
sm_generate_text(PG_FUNCTION_ARGS)
{
	char	   *name;
	text	   *prompt;
	sm_text_model tm;
	sm_tok_ids	e;
	sm_gen_opts o;
	int32	   *out;
	int			n_out;
	bool		full;
	int			start = 0;
	sm_error	err;

	/* not STRICT (seed may be NULL): any other NULL gives NULL */
	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	prompt = PG_GETARG_TEXT_PP(1);
	o.max_new = PG_GETARG_INT32(2);
	o.temperature = PG_GETARG_FLOAT4(3);
	o.top_k = PG_GETARG_INT32(4);
	o.seed = PG_ARGISNULL(5) ? pg_prng_uint64(&pg_global_prng_state) : (uint64) PG_GETARG_INT64(5);
	SM_PG_CHECK(sm_gen_check_opts(&o, &err), &err);
	/* an encoder-decoder continues nothing: it decodes the prompt as its source */
	{
		sm_encdec	ed;

		if (sm_encdec_of(sm_cache_peek(name), &ed))
		{
			sm_beam_opts bo = {.num_beams = 1, .max_new = o.max_new, .length_penalty = 1.0,
			.temperature = o.temperature, .top_k = o.top_k, .seed = o.seed};

			if (o.max_new == 0)
				PG_RETURN_TEXT_P(cstring_to_text(""));
			PG_RETURN_TEXT_P(sm_pg_translate_text(name, "generate", prompt, NULL, &bo));
		}
	}
	sm_text_model_get(name, "generate", SM_NEED_DECODER, &tm);
	o.eos_id = text_eos(&tm);
	if (o.max_new > tm.m->max_len)
		o.max_new = tm.m->max_len;	/* the context could never hold more */

	prompt_ids(name, &tm, prompt, &e, &start);
	out = palloc(sizeof(int32) * Max(o.max_new, 1));
	SM_PG_CHECK(sm_generate(tm.m, e.ids + start, e.n - start, &o, out, &n_out, &full, &err), &err);
	if (full)
		ereport(NOTICE,
				(errmsg("generation stopped after %d tokens: model \"%s\" holds at most %d", n_out, name,
						tm.m->max_len)));
	PG_RETURN_TEXT_P(ids_text(&tm, out, n_out));
}

PG_FUNCTION_INFO_V1(sm_generate_options);
/*
 * seqmodel.generate(model, prompt, options): the decoding options of
 * translate (num_beams, max_new_tokens, length_penalty, early_stopping,
 * no_repeat_ngram_size, temperature, top_k, seed) for a decoder-only model
 * through the decoder interface (nn/sm_lm_decoder.h), or an
 * encoder-decoder's translation of the prompt.
 */
Datum
sm_generate_options(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *prompt = PG_GETARG_TEXT_PP(1);
	Jsonb	   *options = PG_GETARG_JSONB_P(2);
	sm_text_model tm;
	sm_tok_ids	e;
	sm_beam_opts o;
	sm_decoder	d;
	sm_encdec	ed;
	const int32_t *p;
	int32	   *out;
	int			n,
				n_out = 0,
				start,
				room,
				asked;
	sm_error	err;

	if (sm_encdec_of(sm_cache_peek(name), &ed))
		PG_RETURN_TEXT_P(sm_pg_translate_text(name, "generate", prompt, options, NULL));
	sm_text_model_get(name, "generate", SM_NEED_DECODER, &tm);
	sm_pg_beam_options(options, SM_GENERATE_DEFAULT_NEW, &o);
	prompt_ids(name, &tm, prompt, &e, &start);
	p = e.ids + start;
	n = e.n - start;
	/* the last new token is never fed back: max_len - n + 1 can come */
	room = tm.m->max_len - n + 1;
	asked = o.max_new;
	if (o.max_new > room)
		o.max_new = room;
	SM_PG_CHECK(sm_tfm_lm_decoder(tm.m, &d, &err), &err);
	d.eos_id = text_eos(&tm);
	out = palloc(sizeof(int32) * o.max_new);
	SM_PG_CHECK(sm_decode(&d, &p, &n, 1, &o, out, &n_out, NULL, &err), &err);
	if (asked > room && n_out == room)
		ereport(NOTICE,
				(errmsg("generation stopped after %d tokens: model \"%s\" holds at most %d", n_out, name,
						tm.m->max_len)));
	PG_RETURN_TEXT_P(ids_text(&tm, out, n_out));
}
