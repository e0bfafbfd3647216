/*
 * score_query.c -- seqmodel.score_query(model, task, query): one task
 * (classify, embed, logprob) over every (key, text) row a query returns.
 *
 * The query's rows stream in through a DestReceiver (no SPI tuple table);
 * each text is tokenized at once and kept only until its batch runs: a
 * batch is up to BATCH_ROWS texts or about BATCH_TOKENS tokens, packed back
 * to back into one sm_tfm_forward call, so every dense layer is one matrix
 * product over many rows.  Results go to the function's tuplestore, which
 * spills to disk past work_mem: memory stays at one batch whatever the
 * number of rows.  With seqmodel.progress on, a NOTICE reports the rows done
 * at most every seqmodel.progress_interval seconds, and once at the end.
 *
 * A row's key is any type, shown as text (NULL stays NULL); a NULL text
 * gives a NULL output, as the per-row functions (STRICT) do.
 */
#include "sm_text.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define BATCH_ROWS 64
#define BATCH_TOKENS 4096

typedef enum sq_task
{
	TASK_CLASSIFY,
	TASK_EMBED,
	TASK_LOGPROB
} sq_task;

typedef struct sq_reader
{
	DestReceiver pub;
	sm_text_model tm;
	sq_task		task;
	ReturnSetInfo *rsinfo;
	FmgrInfo	kout;
	bool		bpchar;			/* the text column is char(n) */
	MemoryContext batchctx;		/* the current batch: reset after it runs */
	MemoryContext rowctx;		/* one row's tokenizing: reset every row */
	/* the batch */
	int			n;				/* rows */
	char	  **keys;			/* [BATCH_ROWS] text or NULL */
	bool	   *nulltext;		/* [BATCH_ROWS] */
	int		   *lengths;		/* [BATCH_ROWS] tokens (rows with text) */
	int32	   *ids,
			   *types;			/* [cap] packed */
	int			used,
				cap;
	int			seqs;			/* rows with text */
	/* progress */
	uint64		rows;
	instr_time	start,
				last_report;
} sq_reader;

static int
task_width(const sq_reader *r)
{
	switch (r->task)
	{
		case TASK_CLASSIFY:
			return r->tm.m->head.out;
		case TASK_EMBED:
			return r->tm.m->d;
		case TASK_LOGPROB:
			return 1;
	}
	return 0;
}

/* run the batch and emit its rows, in the query's order */
static void
run_batch(sq_reader *r)
{
	const sm_tfm *m = r->tm.m;
	int			W = task_width(r);
	float	   *out = NULL;
	double	   *scores = NULL;
	int			s = 0;
	MemoryContext old = MemoryContextSwitchTo(r->batchctx);

	if (r->n == 0)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	if (r->seqs > 0)
	{
		sm_tfm_batch b = {.B = r->seqs, .lengths = r->lengths, .ids = r->ids, .type_ids = r->types};
		sm_error	err;
		sm_tfm_out	what = r->task == TASK_CLASSIFY ? SM_TFM_OUT_PROBS
			: r->task == TASK_EMBED ? SM_TFM_OUT_EMBEDDING : SM_TFM_OUT_LOGPROB;

		if (r->task == TASK_LOGPROB)
			scores = palloc(sizeof(double) * r->seqs);
		else
			out = palloc(sizeof(float) * (size_t) r->seqs * W);
		SM_PG_CHECK(sm_tfm_forward(m, &b, what, out, scores, &err), &err);
	}
	for (int i = 0; i < r->n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {r->keys[i] == NULL, r->nulltext[i]};

		values[0] = r->keys[i] ? CStringGetTextDatum(r->keys[i]) : (Datum) 0;
		values[1] = (Datum) 0;
		if (!r->nulltext[i])
		{
			float		v;
			const float *row = &v;

			if (r->task == TASK_LOGPROB)
			{
				if (!isfinite(scores[s]))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("model \"%s\" produced a non-finite log-probability for the row with key %s",
									r->tm.name, r->keys[i] ? r->keys[i] : "NULL")));
				v = (float) scores[s];
			}
			else
			{
				row = out + (size_t) s * W;
				sm_pg_check_output(r->tm.name, row, W);
			}
			values[1] = PointerGetDatum(sm_pg_real_array(row, 1, 1, W));
			s++;
		}
		tuplestore_putvalues(r->rsinfo->setResult, r->rsinfo->setDesc, values, nulls);
	}
	r->rows += r->n;
	r->n = r->seqs = r->used = 0;
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->batchctx);
	r->keys = NULL;

	if (sm_progress)
		sm_pg_progress("score_query", r->rows, r->start, &r->last_report, false);
}

/* a fresh batch's arrays, in the batch context */
static void
batch_alloc(sq_reader *r)
{
	MemoryContext old = MemoryContextSwitchTo(r->batchctx);

	r->keys = palloc(sizeof(char *) * BATCH_ROWS);
	r->nulltext = palloc(sizeof(bool) * BATCH_ROWS);
	r->lengths = palloc(sizeof(int) * BATCH_ROWS);
	r->cap = BATCH_TOKENS + r->tm.m->max_len;
	r->ids = palloc(sizeof(int32) * r->cap);
	r->types = palloc(sizeof(int32) * r->cap);
	MemoryContextSwitchTo(old);
}

static void
sq_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	sq_reader  *r = (sq_reader *) self;

	sm_pg_key_text_columns(desc, "score_query", "(key, text) rows", &r->kout, &r->bpchar);
}

static bool
sq_receive(TupleTableSlot *slot, DestReceiver *self)
{
	sq_reader  *r = (sq_reader *) self;
	MemoryContext old = MemoryContextSwitchTo(r->rowctx);
	char	   *key,
			   *s;
	int			len;
	sm_tok_ids	e;

	CHECK_FOR_INTERRUPTS();
	sm_tok_ids_init(&e);
	if (sm_pg_key_text_row(slot, &r->kout, r->bpchar, &key, &s, &len))
	{
		char	   *what = key ? psprintf("the text of the row with key %s", key)
			: pstrdup("the text of a row with a NULL key");

		sm_text_encode(&r->tm, s, len, NULL, 0, r->task == TASK_LOGPROB, what, &e);
	}
	MemoryContextSwitchTo(old);
	/* a batch holds at least one text of the model's maximum length */
	if (r->keys != NULL && r->used + e.n > r->cap)
		run_batch(r);
	if (r->keys == NULL)
		batch_alloc(r);
	r->keys[r->n] = key ? MemoryContextStrdup(r->batchctx, key) : NULL;
	r->nulltext[r->n] = slot->tts_isnull[1];
	if (!slot->tts_isnull[1])
	{
		memcpy(r->ids + r->used, e.ids, sizeof(int32) * e.n);
		memcpy(r->types + r->used, e.type_ids, sizeof(int32) * e.n);
		r->used += e.n;
		r->lengths[r->seqs++] = e.n;
	}
	r->n++;
	MemoryContextReset(r->rowctx);
	if (r->n == BATCH_ROWS || r->used >= BATCH_TOKENS)
		run_batch(r);
	return true;
}

static void
sq_shutdown(DestReceiver *self)
{
}

static void
sq_destroy(DestReceiver *self)
{
}

PG_FUNCTION_INFO_V1(sm_score_query);
/* seqmodel.score_query(model, task, query) */
Datum
sm_score_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *task = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(2));
	sq_reader  *r = palloc0(sizeof(sq_reader));
	void	   *pin;

	if (strcmp(task, "classify") == 0)
		r->task = TASK_CLASSIFY;
	else if (strcmp(task, "embed") == 0)
		r->task = TASK_EMBED;
	else if (strcmp(task, "logprob") == 0)
		r->task = TASK_LOGPROB;
	else if (strcmp(task, "translate") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score_query task \"translate\" would return text, not real[]"),
				 errhint("Use seqmodel.translate_query(model, query, options), which returns (key, translation) rows.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown score_query task \"%s\"", task),
				 errhint("The tasks are classify, embed and logprob.")));
	sm_text_model_get(name, "score_query", r->task == TASK_CLASSIFY ? SM_NEED_CLASSIFIER
					  : r->task == TASK_LOGPROB ? SM_NEED_DECODER : SM_NEED_TOKENS, &r->tm);
	InitMaterializedSRF(fcinfo, 0);

	r->pub.receiveSlot = sq_receive;
	r->pub.rStartup = sq_startup;
	r->pub.rShutdown = sq_shutdown;
	r->pub.rDestroy = sq_destroy;
	r->pub.mydest = DestNone;
	r->rsinfo = rsinfo;
	r->batchctx = AllocSetContextCreate(CurrentMemoryContext, "seqmodel score_query batch",
										ALLOCSET_DEFAULT_SIZES);
	r->rowctx = AllocSetContextCreate(CurrentMemoryContext, "seqmodel score_query row",
									  ALLOCSET_DEFAULT_SIZES);
	INSTR_TIME_SET_CURRENT(r->start);
	r->last_report = r->start;

	/* the query may use other models: keep ours (and its tokenizer) meanwhile */
	pin = sm_cache_pin(name);
	PG_TRY();
	{
		sm_pg_run_query("score_query", query, (DestReceiver *) r, "(key, text) rows");
		run_batch(r);
	}
	PG_FINALLY();
	{
		sm_cache_unpin(pin);
	}
	PG_END_TRY();
	if (sm_progress)
		sm_pg_progress("score_query", r->rows, r->start, &r->last_report, true);
	return (Datum) 0;
}
