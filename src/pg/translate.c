/*
 * translate.c -- text in, text out for encoder-decoder models (archs
 * rnn_seq2seq, transformer_seq2seq, marian, bart): the source tokenized by
 * the model's source tokenizer (its post-processor adds the source's end,
 * as Marian's and T5's do), decoded by nn/sm_beam.c, the target ids turned
 * back into text by the target tokenizer (the one tokenizer when the model
 * has no separate target side), special tokens left out.
 *
 *   seqmodel.translate(model, source, options)      -> text
 *   seqmodel.logprob(model, source, target)         -> float8
 *   seqmodel.translate_query(model, query, options) -> (key, translation)
 *
 * translate_query streams a (key, text) query as score_query does: rows are
 * tokenized as they come and decoded BATCH_ROWS (or about BATCH_TOKENS
 * source tokens) at a time in one sm_decode call, so every step of the
 * decoder is one product over all the batch's sources and beams; results go
 * to a tuplestore, progress to NOTICEs under seqmodel.progress.
 */
#include "sm_seq2seq_pg.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "text/sm_tokenizer.h"

#define BATCH_ROWS 64
#define BATCH_TOKENS 4096

/* an encoder-decoder with its two tokenizers */
typedef struct tr_model
{
	const char *name;
	sm_encdec	e;
	const sm_tokenizer *src,
			   *tgt;
} tr_model;

static void
tr_model_get(const char *name, const char *fn, tr_model *tm)
{
	tm->name = name;
	sm_pg_encdec(name, fn, &tm->e);
	tm->src = sm_cache_tokenizer(name, false);	/* one use: counted by sm_pg_encdec */
	tm->tgt = sm_cache_target_tokenizer(name);
}

/*
 * A source or target text as ids: the tokenizer's special tokens (the end
 * of the text), at most the model's positions (an error, or truncation
 * under seqmodel.truncation = truncate).  `what` names the text.
 */
static void
tr_encode(const tr_model *tm, const sm_tokenizer *tok, int room, const char *text, size_t len,
		  const char *what, sm_tok_ids *ids)
{
	bool		truncate = sm_truncation == SM_TRUNCATION_TRUNCATE && room != INT32_MAX;
	sm_error	err;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is empty", what),
				 errdetail("Model \"%s\" needs at least one token of text.", tm->name)));
	SM_PG_CHECK(sm_tokenizer_encode(tok, text, len, NULL, 0, true, truncate ? room : 0, truncate,
									ids, &err), &err);
	if (ids->n > room)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is %d tokens long but model \"%s\" takes at most %d", what, ids->n, tm->name, room),
				 errdetail("seqmodel.truncation is \"error\"."),
				 errhint("Shorten the text, or SET seqmodel.truncation = truncate to keep its first tokens.")));
	if (ids->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no tokens", what),
				 errdetail("The tokenizer of model \"%s\" made nothing of it.", tm->name)));
}

/* target ids as text, special tokens left out */
static text *
tr_detokenize(const tr_model *tm, const int32 *ids, int n)
{
	sm_buf		out;
	sm_error	err;
	text	   *t;

	sm_buf_init(&out);
	SM_PG_CHECK(sm_tokenizer_decode(tm->tgt, ids, n, true, &out, &err), &err);
	if (out.failed)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	t = cstring_to_text_with_len(out.data ? out.data : "", (int) out.len);
	sm_buf_free(&out);
	return t;
}

text *
sm_pg_translate_text(const char *name, const char *fn, text *source, Jsonb *options,
					 const sm_beam_opts *given)
{
	tr_model	tm;
	sm_beam_opts o;
	sm_tok_ids	ids;
	const int32_t *srcs[1];
	int32	   *out;
	int			n_out = 0;
	sm_error	err;
	text	   *t;

	tr_model_get(name, fn, &tm);
	if (options)
		sm_pg_beam_options(options, tm.e.max_new_default, &o);
	else
	{
		o = *given;
		if (o.max_new > tm.e.max_target)
			o.max_new = tm.e.max_target;	/* the decoder could never hold more */
		SM_PG_CHECK(sm_beam_check_opts(&o, &err), &err);
	}
	sm_tok_ids_init(&ids);
	tr_encode(&tm, tm.src, tm.e.max_source, VARDATA_ANY(source), VARSIZE_ANY_EXHDR(source), "source", &ids);
	srcs[0] = ids.ids;
	SM_PG_CHECK(sm_encdec_check_source(&tm.e, srcs, &ids.n, 1, &err), &err);
	out = palloc(sizeof(int32) * o.max_new);
	SM_PG_CHECK(sm_decode(&tm.e.decoder, srcs, &ids.n, 1, &o, out, &n_out, NULL, &err), &err);
	sm_tok_ids_free(&ids);
	t = tr_detokenize(&tm, out, n_out);
	pfree(out);
	return t;
}

PG_FUNCTION_INFO_V1(sm_translate);
/* seqmodel.translate(model, source, options) */
Datum
sm_translate(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(sm_pg_translate_text(name, "translate", PG_GETARG_TEXT_PP(1), PG_GETARG_JSONB_P(2), NULL));
}

PG_FUNCTION_INFO_V1(sm_logprob_target);
/* seqmodel.logprob(model, source, target): log P(target | source), the target's end included */
Datum
sm_logprob_target(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *source = PG_GETARG_TEXT_PP(1),
			   *target = PG_GETARG_TEXT_PP(2);
	tr_model	tm;
	sm_tok_ids	s,
				t;
	const int32_t *srcs[1],
			   *tgts[1];
	double		lp;
	sm_error	err;

	tr_model_get(name, "logprob", &tm);
	sm_tok_ids_init(&s);
	sm_tok_ids_init(&t);
	tr_encode(&tm, tm.src, tm.e.max_source, VARDATA_ANY(source), VARSIZE_ANY_EXHDR(source), "source", &s);
	tr_encode(&tm, tm.tgt, tm.e.max_target, VARDATA_ANY(target), VARSIZE_ANY_EXHDR(target), "target", &t);
	srcs[0] = s.ids;
	tgts[0] = t.ids;
	SM_PG_CHECK(sm_encdec_check_source(&tm.e, srcs, &s.n, 1, &err), &err);
	SM_PG_CHECK(sm_encdec_check_target(&tm.e, tgts, &t.n, 1, &err), &err);
	SM_PG_CHECK(sm_decode_logprob(&tm.e.decoder, srcs, &s.n, tgts, &t.n, 1, &lp, NULL, &err), &err);
	sm_tok_ids_free(&s);
	sm_tok_ids_free(&t);
	PG_RETURN_FLOAT8(lp);
}

/* ------------------------------------------------------------ translate_query */

typedef struct tq_reader
{
	DestReceiver pub;
	tr_model	tm;
	sm_beam_opts o;
	ReturnSetInfo *rsinfo;
	FmgrInfo	kout;
	bool		bpchar;
	MemoryContext batchctx,
				rowctx;
	/* the batch */
	int			n,				/* rows */
				seqs,			/* rows with text */
				tokens;
	char	  **keys;			/* [BATCH_ROWS] */
	bool	   *nulltext;
	int32	  **src;			/* [BATCH_ROWS] the sources (rows with text) */
	int		   *len;
	uint64		rows;
	instr_time	start,
				last_report;
} tq_reader;

static void
tq_batch_alloc(tq_reader *r)
{
	MemoryContext old = MemoryContextSwitchTo(r->batchctx);

	r->keys = palloc(sizeof(char *) * BATCH_ROWS);
	r->nulltext = palloc(sizeof(bool) * BATCH_ROWS);
	r->src = palloc(sizeof(int32 *) * BATCH_ROWS);
	r->len = palloc(sizeof(int) * BATCH_ROWS);
	MemoryContextSwitchTo(old);
}

/* decode the batch's sources together and emit its rows in the query's order */
static void
tq_run_batch(tq_reader *r)
{
	MemoryContext old;
	int32	   *out = NULL;
	int		   *out_len = NULL;
	int			s = 0;

	if (r->keys == NULL || r->n == 0)
		return;
	old = MemoryContextSwitchTo(r->batchctx);
	if (r->seqs > 0)
	{
		sm_error	err;

		out = palloc(sizeof(int32) * (size_t) r->seqs * r->o.max_new);
		out_len = palloc(sizeof(int) * r->seqs);
		SM_PG_CHECK(sm_decode(&r->tm.e.decoder, (const int32_t *const *) r->src, r->len, r->seqs, &r->o,
							  out, out_len, NULL, &err), &err);
	}
	for (int i = 0; i < r->n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {r->keys[i] == NULL, r->nulltext[i]};

		values[0] = r->keys[i] ? CStringGetTextDatum(r->keys[i]) : (Datum) 0;
		values[1] = (Datum) 0;
		if (!r->nulltext[i])
		{
			values[1] = PointerGetDatum(tr_detokenize(&r->tm, out + (size_t) s * r->o.max_new, out_len[s]));
			s++;
		}
		tuplestore_putvalues(r->rsinfo->setResult, r->rsinfo->setDesc, values, nulls);
	}
	r->rows += r->n;
	r->n = r->seqs = r->tokens = 0;
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->batchctx);
	r->keys = NULL;
	if (sm_progress)
		sm_pg_progress("translate_query", r->rows, r->start, &r->last_report, false);
}

static void
tq_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	tq_reader  *r = (tq_reader *) self;

	sm_pg_key_text_columns(desc, "translate_query", "(key, source text) rows", &r->kout, &r->bpchar);
}

static bool
tq_receive(TupleTableSlot *slot, DestReceiver *self)
{
	tq_reader  *r = (tq_reader *) self;
	MemoryContext old = MemoryContextSwitchTo(r->rowctx);
	char	   *key,
			   *s;
	int			len;
	sm_tok_ids	ids;

	CHECK_FOR_INTERRUPTS();
	sm_tok_ids_init(&ids);
	if (sm_pg_key_text_row(slot, &r->kout, r->bpchar, &key, &s, &len))
	{
		char	   *what = key ? psprintf("the source of the row with key %s", key)
			: pstrdup("the source of a row with a NULL key");

		tr_encode(&r->tm, r->tm.src, r->tm.e.max_source, s, len, what, &ids);
		{
			const int32_t *one[1] = {ids.ids};
			sm_error	err;

			SM_PG_CHECK(sm_encdec_check_source(&r->tm.e, one, &ids.n, 1, &err), &err);
		}
	}
	MemoryContextSwitchTo(old);
	if (r->keys == NULL)
		tq_batch_alloc(r);
	r->keys[r->n] = key ? MemoryContextStrdup(r->batchctx, key) : NULL;
	r->nulltext[r->n] = slot->tts_isnull[1];
	if (!slot->tts_isnull[1])
	{
		int32	   *copy = MemoryContextAlloc(r->batchctx, sizeof(int32) * ids.n);

		memcpy(copy, ids.ids, sizeof(int32) * ids.n);
		r->src[r->seqs] = copy;
		r->len[r->seqs++] = ids.n;
		r->tokens += ids.n;
	}
	r->n++;
	MemoryContextReset(r->rowctx);
	if (r->n == BATCH_ROWS || r->tokens >= BATCH_TOKENS)
		tq_run_batch(r);
	return true;
}

static void
tq_shutdown(DestReceiver *self)
{
}

static void
tq_destroy(DestReceiver *self)
{
}

PG_FUNCTION_INFO_V1(sm_translate_query);
/* seqmodel.translate_query(model, query, options) */
Datum
sm_translate_query(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tq_reader  *r = palloc0(sizeof(tq_reader));
	void	   *pin;

	tr_model_get(name, "translate_query", &r->tm);
	sm_pg_beam_options(PG_GETARG_JSONB_P(2), r->tm.e.max_new_default, &r->o);
	InitMaterializedSRF(fcinfo, 0);
	r->pub.receiveSlot = tq_receive;
	r->pub.rStartup = tq_startup;
	r->pub.rShutdown = tq_shutdown;
	r->pub.rDestroy = tq_destroy;
	r->pub.mydest = DestNone;
	r->rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	r->batchctx = AllocSetContextCreate(CurrentMemoryContext, "seqmodel translate_query batch",
										ALLOCSET_DEFAULT_SIZES);
	r->rowctx = AllocSetContextCreate(CurrentMemoryContext, "seqmodel translate_query row",
									  ALLOCSET_DEFAULT_SIZES);
	INSTR_TIME_SET_CURRENT(r->start);
	r->last_report = r->start;
	/* the query may use other models: keep ours (and its tokenizers) meanwhile */
	pin = sm_cache_pin(name);
	PG_TRY();
	{
		sm_pg_run_query("translate_query", query, (DestReceiver *) r, "(key, source text) rows");
		tq_run_batch(r);
	}
	PG_FINALLY();
	{
		sm_cache_unpin(pin);
	}
	PG_END_TRY();
	if (sm_progress)
		sm_pg_progress("translate_query", r->rows, r->start, &r->last_report, true);
	return (Datum) 0;
}
