/*
 * state.c -- recurrent states kept per series in an ordinary table (issue
 * 14, part 1): seqmodel.state_update and state_rebuild advance them with
 * new (series, time, value) rows, seqmodel.forecast_from_state forecasts
 * from them, and the trigger seqmodel.state_trigger keeps them current as
 * readings are inserted.  seqmodel.state_create (SQL) makes the table.
 *
 * The table.  One row per model and series (primary key (model, series)):
 * the model's catalog version the state was computed at, the time of the
 * last row it consumed, how many steps it has consumed, and the state
 * itself as real[]: h of every layer, then for lstm c of every layer
 * (sm_rnn.h, sm_rnn_state_width).  Nothing else is needed to forecast: the
 * top layer's h is the model's output at the last step.  A state is exact
 * only for unidirectional recurrent models without a context limit; the
 * others are refused (bidirectional: a new step changes every backward
 * state; context: a forecast would read only the last N steps; a
 * transformer has no recurrent state at all).
 *
 * An update.  The query's rows arrive ordered by series and time (the
 * forecast_query reader's rules: a series in one run of rows, its times
 * strictly increasing).  Series are gathered in batches; for each batch
 * the stored states are read FOR UPDATE (so a concurrent update of the
 * same series waits for ours and then sees the state we left, and updates
 * of different series never wait for each other), rows at or before each
 * series' last_time are skipped (or, strict, refused), the rest run through
 * sm_rnn_advance from the stored states in one batched pass, and each new
 * state is written back with INSERT ... ON CONFLICT DO UPDATE.  A series
 * that had no row when we looked but has one when we write was created by
 * a concurrent transaction: that is a serialization failure (40001), not
 * a silent overwrite.  The states are ordinary rows, so a rolled-back
 * transaction leaves the old states, and dump/restore keeps them.
 *
 * Versions.  seqmodel.model.version changes with every change of a model
 * (from a sequence, never reused).  A state computed at another version
 * is stale: using it is an error (55000) saying to rebuild it, and
 * state_rebuild recomputes each series the query returns from a zero
 * state over all its rows.
 */
#include "sm_forecast.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/typcache.h"
#include "catalog/pg_collation.h"

/* series per batch, and values per batch */
#define STATE_BATCH_SERIES 1024
#define STATE_BATCH_VALUES (16 * 1024 * 1024)
/* a buffered row: its values and its time */
#define ROW_BYTES(I) ((int64) (I) * (int64) sizeof(float) + (int64) sizeof(int64))

/* ------------------------------------------------------------ the model */

/* A model that can keep a state, or an error saying why not. */
static const sm_seqmodel *
state_model(const char *name, const char *fn)
{
	const sm_seqmodel *m = sm_pg_sequence_model(name, fn);

	if (m->rnn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" cannot keep a state: arch \"transformer\" has no recurrent state", name),
				 errdetail("A transformer attends to its whole window at every step; only archs rnn, lstm and gru carry a state from step to step."),
				 errhint("Forecast a transformer with seqmodel.forecast_query over the history.")));
	if (m->rnn->D != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" cannot keep a state: it is bidirectional", name),
				 errdetail("Its backward direction reads each series from the end, so every new step changes every backward state."),
				 errhint("Forecast it with seqmodel.forecast_query over the history.")));
	if (m->sh.context > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" cannot keep a state: it has a context limit", name),
				 errdetail("Its forecasts read only the last %d steps of a history (config context); a state carries the whole history, so forecasts from it would differ.",
						   m->sh.context),
				 errhint("Forecast it with seqmodel.forecast_query over the history.")));
	return m;
}

/* ------------------------------------------------------------ the table */

typedef struct state_table
{
	Oid			relid;
	char	   *qname;			/* schema-qualified, quoted */
	char	   *relname;		/* for messages */
	sm_time_kind kind;			/* of last_time */
	Oid			ttype;			/* last_time's type */
} state_table;

/* the column `name` of desc: its type, or an error naming the column */
static Oid
column_type(TupleDesc desc, const char *rel, const char *name, Oid want, const char *want_name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped || strcmp(NameStr(a->attname), name) != 0)
			continue;
		if (OidIsValid(want) && a->atttypid != want)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of state table \"%s\" must be %s, not %s",
							name, rel, want_name, format_type_be(a->atttypid)),
					 errhint("Create state tables with seqmodel.state_create().")));
		return a->atttypid;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("state table \"%s\" has no column \"%s\"", rel, name),
			 errdetail("A state table has columns series text, model text, model_version bigint, last_time (timestamptz, timestamp, date or bigint), steps bigint and state real[]."),
			 errhint("Create state tables with seqmodel.state_create().")));
	return InvalidOid;			/* keep the compiler quiet */
}

/* Check a state table's columns and describe it. */
static void
state_table_open(Oid relid, state_table *st)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);

	st->relid = relid;
	st->relname = pstrdup(RelationGetRelationName(rel));
	st->qname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										   st->relname);
	column_type(desc, st->relname, "series", TEXTOID, "text");
	column_type(desc, st->relname, "model", TEXTOID, "text");
	column_type(desc, st->relname, "model_version", INT8OID, "bigint");
	column_type(desc, st->relname, "steps", INT8OID, "bigint");
	column_type(desc, st->relname, "state", FLOAT4ARRAYOID, "real[]");
	st->ttype = column_type(desc, st->relname, "last_time", InvalidOid, NULL);
	st->kind = sm_time_kind_of(st->ttype);
	if (st->kind == SM_TIME_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"last_time\" of state table \"%s\" must be timestamptz, timestamp, date or bigint, not %s",
						st->relname, format_type_be(st->ttype)),
				 errhint("Create state tables with seqmodel.state_create().")));
	table_close(rel, AccessShareLock);
}

/* times as int64 (timestamps: microseconds; dates: days; integers) and back */
static int64
time_int64(Oid type, Datum d)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case DATEOID:
			return DatumGetDateADT(d);
	}
	return DatumGetInt64(d);
}

static Datum
time_datum(sm_time_kind kind, int64 v)
{
	return kind == SM_TIME_DATE ? DateADTGetDatum((DateADT) v) : Int64GetDatum(v);
}

static char *
time_text(const state_table *st, int64 v)
{
	Oid			out;
	bool		varlena;

	getTypeOutputInfo(st->ttype, &out, &varlena);
	return OidOutputFunctionCall(out, time_datum(st->kind, v));
}

/* a stale state: computed at another version of the model */
static void
check_version(const char *name, const state_table *st, const char *key, int64 have, int64 now)
{
	if (have != now)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("state of series \"%s\" in \"%s\" was computed by another version of model \"%s\"",
						key, st->relname, name),
				 errdetail("The state is of version %lld; the model is now version %lld.",
						   (long long) have, (long long) now),
				 errhint("Rebuild the states from the history with seqmodel.state_rebuild().")));
}

/* a stored state as S floats into dst */
static void
read_state(Datum d, int S, const char *key, const state_table *st, float *dst)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

	if (ARR_NDIM(arr) > 1 || n != S || ARR_HASNULL(arr))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("state of series \"%s\" in \"%s\" is not a state of this model", key, st->relname),
				 errdetail("It has %d values%s; the model's state has %d.", n,
						   ARR_HASNULL(arr) ? " with NULLs" : "", S),
				 errhint("Rebuild the states from the history with seqmodel.state_rebuild().")));
	memcpy(dst, ARR_DATA_PTR(arr), sizeof(float) * S);
}

/* ------------------------------------------------------------ reading rows */

typedef enum state_mode
{
	STATE_UPDATE,				/* skip rows at or before last_time */
	STATE_STRICT,				/* ... or refuse them (the trigger) */
	STATE_REBUILD				/* from a zero state over every row */
} state_mode;

/* one series of a batch: its rows, then what the table said */
typedef struct st_series
{
	char	   *key;
	int64		off;			/* first value in the batch's vals */
	int64		n;				/* rows */
	int64		toff;			/* first time in the batch's times */
	bool		has_old;		/* the table had a row */
	int64		old_last,
				old_steps;
	int64		skip;			/* rows at or before old_last */
} st_series;

typedef struct st_reader
{
	DestReceiver pub;
	const char *fn;
	const char *name;
	const sm_seqmodel *m;
	int			S;
	int64		version;
	state_table *st;
	state_mode	mode;
	/* columns */
	sm_pg_series_key key;
	Oid			ttype,
				vtype;
	/* the series being read */
	MemoryContext ctx;			/* the call */
	MemoryContext rowctx;		/* reset every row */
	MemoryContext batchctx;		/* reset every batch */
	bool		have_cur;
	Datum		curkey;
	char	   *curtext;
	int64		prev_time;
	float	   *v;
	HTAB	   *done;
	uint64		rows;
	/* the batch */
	st_series  *ser;
	int			n;
	float	   *vals;
	int64	   *times;
	int64		used,
				cap;			/* rows */
	/* totals */
	int64		n_series,
				n_rows,
				n_skipped;
} st_reader;

static const char *
st_shape(void)
{
	return "(series key, time, value) rows ordered by series and time";
}

static void
st_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	st_reader  *r = (st_reader *) self;

	if (desc->natts != 3)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query of %s must return 3 columns, not %d", r->fn, desc->natts),
				 errdetail("It should return %s.", st_shape())));
	r->ttype = TupleDescAttr(desc, 1)->atttypid;
	r->vtype = TupleDescAttr(desc, 2)->atttypid;
	if (!(r->st->kind == SM_TIME_BIGINT
		  ? (r->ttype == INT2OID || r->ttype == INT4OID || r->ttype == INT8OID)
		  : r->ttype == r->st->ttype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column 2 of the query of %s must be %s, not %s", r->fn,
						r->st->kind == SM_TIME_BIGINT ? "an integer" : format_type_be(r->st->ttype),
						format_type_be(r->ttype)),
				 errdetail("Column \"last_time\" of state table \"%s\" is %s.", r->st->relname,
						   format_type_be(r->st->ttype)),
				 errhint("Cast the time column to the state table's type.")));
	if (!sm_pg_value_type_ok(r->vtype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column 3 of the query of %s must be a number or real[], not %s",
						r->fn, format_type_be(r->vtype))));
	if ((r->vtype == FLOAT4ARRAYOID) != (r->m->I > 1))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 r->m->I > 1 ? errmsg("model \"%s\" takes %d features per step: column 3 must be real[]", r->name, r->m->I)
				 : errmsg("model \"%s\" takes one value per step: column 3 must be a number, not real[]", r->name)));
	sm_pg_series_key_init(&r->key, TupleDescAttr(desc, 0)->atttypid,
						  TupleDescAttr(desc, 0)->attcollation, r->ctx);
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp((*(st_series *const *) a)->key, (*(st_series *const *) b)->key);
}

/*
 * Read the stored states of the batch's series FOR UPDATE into states [n][S]
 * (zeros where none, or when rebuilding), and what each series skips.
 */
static void
fetch_states(st_reader *r, float *states)
{
	const state_table *st = r->st;
	st_series **sorted = palloc(sizeof(st_series *) * r->n);
	Datum	   *keys = palloc(sizeof(Datum) * r->n);
	Oid			argtypes[2] = {TEXTOID, TEXTARRAYOID};
	Datum		args[2];
	SPIPlanPtr	plan;
	int			rc;

	for (int i = 0; i < r->n; i++)
	{
		sorted[i] = &r->ser[i];
		keys[i] = CStringGetTextDatum(r->ser[i].key);
	}
	qsort(sorted, r->n, sizeof(st_series *), cmp_key);
	args[0] = CStringGetTextDatum(r->name);
	args[1] = PointerGetDatum(construct_array(keys, r->n, TEXTOID, -1, false, TYPALIGN_INT));
	/* in series order, so sessions updating the same series lock them in one order */
	plan = SPI_prepare(psprintf("SELECT series, model_version, last_time, steps, state FROM %s "
								"WHERE model = $1 AND series = ANY ($2) ORDER BY series COLLATE \"C\" FOR UPDATE",
								st->qname), 2, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare the state query: %s", SPI_result_code_string(SPI_result));
	rc = SPI_execute_plan(plan, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "the state query failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull[5];
		Datum		d[5];
		char	   *key;
		st_series  *probe,
				   *s,
				  **hit;
		st_series	k;

		for (int c = 0; c < 5; c++)
			d[c] = SPI_getbinval(tup, desc, c + 1, &isnull[c]);
		key = TextDatumGetCString(d[0]);
		k.key = key;
		probe = &k;
		hit = bsearch(&probe, sorted, r->n, sizeof(st_series *), cmp_key);
		if (hit == NULL)
			continue;
		s = *hit;
		s->has_old = true;
		if (r->mode == STATE_REBUILD)
		{
			/* the row's steps only matter to the write's check */
			s->old_steps = isnull[3] ? 0 : DatumGetInt64(d[3]);
			continue;
		}
		if (isnull[1] || isnull[2] || isnull[3] || isnull[4])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("state of series \"%s\" in \"%s\" has NULL columns", key, st->relname),
					 errhint("Rebuild the states from the history with seqmodel.state_rebuild().")));
		check_version(r->name, st, key, DatumGetInt64(d[1]), r->version);
		s->old_last = time_int64(st->ttype, d[2]);
		s->old_steps = DatumGetInt64(d[3]);
		read_state(d[4], r->S, key, st, states + (size_t) (s - r->ser) * r->S);
	}
	/* rows the states have already consumed */
	for (int i = 0; i < r->n; i++)
	{
		st_series  *s = &r->ser[i];
		const int64 *t = r->times + s->toff;

		s->skip = 0;
		if (!s->has_old || r->mode == STATE_REBUILD)
			continue;
		while (s->skip < s->n && t[s->skip] <= s->old_last)
			s->skip++;
		if (s->skip > 0 && r->mode == STATE_STRICT)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("reading of series \"%s\" at %s is not newer than its state in \"%s\"",
							s->key, time_text(st, t[0]), st->relname),
					 errdetail("The state has consumed the series up to %s.", time_text(st, s->old_last)),
					 errhint("A state consumes each series in time order; to take in late readings rebuild it with seqmodel.state_rebuild().")));
	}
}

/* write the new states of the series that advanced */
static void
write_states(st_reader *r, const float *states, const int *idx, int k)
{
	const state_table *st = r->st;
	Oid			argtypes[7] = {TEXTOID, TEXTOID, INT8OID, st->ttype, INT8OID, FLOAT4ARRAYOID, BOOLOID};
	SPIPlanPtr	plan;

	/*
	 * A series we found no row for must still have none: else a concurrent
	 * transaction created it and the DO UPDATE's condition fails.
	 */
	plan = SPI_prepare(psprintf("INSERT INTO %s AS s (series, model, model_version, last_time, steps, state) "
								"VALUES ($1, $2, $3, $4, $5, $6) "
								"ON CONFLICT (model, series) DO UPDATE SET model_version = excluded.model_version, "
								"last_time = excluded.last_time, steps = excluded.steps, state = excluded.state "
								"WHERE $7", st->qname), 7, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare the state update: %s", SPI_result_code_string(SPI_result));
	for (int j = 0; j < k; j++)
	{
		st_series  *s = &r->ser[idx[j]];
		int64		fresh = s->n - s->skip;
		int64		steps = (r->mode == STATE_REBUILD || !s->has_old ? 0 : s->old_steps) + fresh;
		Datum		args[7];
		int			rc;

		args[0] = CStringGetTextDatum(s->key);
		args[1] = CStringGetTextDatum(r->name);
		args[2] = Int64GetDatum(r->version);
		args[3] = time_datum(st->kind, r->times[s->toff + s->n - 1]);
		args[4] = Int64GetDatum(steps);
		args[5] = PointerGetDatum(sm_pg_real_array(states + (size_t) j * r->S, 1, 1, r->S));
		args[6] = BoolGetDatum(s->has_old);
		rc = SPI_execute_plan(plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "the state update failed: %s", SPI_result_code_string(rc));
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not update the state of series \"%s\" in \"%s\": a concurrent transaction created it",
							s->key, st->relname),
					 errhint("Retry the transaction.")));
	}
}

/* advance the batch's series and store their states */
static void
run_state_batch(st_reader *r)
{
	const int	I = r->m->I,
				S = r->S;
	MemoryContext old;
	float	   *states,
			   *adv,
			   *x;
	int		   *idx,
			   *lens;
	int			k = 0,
				maxlen = 0;
	sm_error	err;

	if (r->n == 0)
		return;
	old = MemoryContextSwitchTo(r->batchctx);
	states = palloc0(sizeof(float) * (size_t) r->n * S);
	idx = palloc(sizeof(int) * r->n);
	lens = palloc(sizeof(int) * r->n);
	SPI_connect();
	fetch_states(r, states);
	/* the series with new rows, right-aligned */
	for (int i = 0; i < r->n; i++)
	{
		st_series  *s = &r->ser[i];

		r->n_skipped += s->skip;
		if (s->n - s->skip == 0)
			continue;
		idx[k] = i;
		lens[k] = (int) (s->n - s->skip);
		maxlen = Max(maxlen, lens[k]);
		k++;
	}
	if (k > 0)
	{
		x = MemoryContextAllocExtended(r->batchctx, sizeof(float) * (size_t) k * maxlen * I,
									   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		adv = MemoryContextAlloc(r->batchctx, sizeof(float) * (size_t) k * S);
		for (int j = 0; j < k; j++)
		{
			st_series  *s = &r->ser[idx[j]];

			memcpy(x + ((size_t) j * maxlen + (maxlen - lens[j])) * I,
				   r->vals + (s->off + s->skip) * I, sizeof(float) * (size_t) lens[j] * I);
			memcpy(adv + (size_t) j * S, states + (size_t) idx[j] * S, sizeof(float) * S);
			r->n_rows += lens[j];
		}
		SM_PG_CHECK(sm_rnn_advance(r->m->rnn, x, k, maxlen, lens, adv, &err), &err);
		sm_pg_check_output(r->name, adv, (size_t) k * S);
		write_states(r, adv, idx, k);
		r->n_series += k;
	}
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->batchctx);
	for (int i = 0; i < r->n; i++)
		pfree(r->ser[i].key);
	r->n = 0;
	r->used = 0;
}

/* the series being read is complete: into the batch */
static void
st_finish_series(st_reader *r)
{
	uint64		h = hash_bytes_extended((const unsigned char *) r->curtext, (int) strlen(r->curtext), 0);

	hash_search(r->done, &h, HASH_ENTER, NULL);
	r->n++;
}

static bool
st_receive(TupleTableSlot *slot, DestReceiver *self)
{
	st_reader  *r = (st_reader *) self;
	const int	I = r->m->I;
	Datum		kd,
				td,
				vd;
	int64		t;
	st_series  *s;
	MemoryContext old = MemoryContextSwitchTo(r->rowctx);

	if (++r->rows % 4096 == 0)
		CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	kd = slot->tts_values[0];
	td = slot->tts_values[1];
	vd = slot->tts_values[2];
	if (slot->tts_isnull[0])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the query of %s returned a NULL series key", r->fn)));
	if (!r->have_cur || !sm_pg_series_key_same(&r->key, r->curkey, r->curtext, kd))
	{
		char	   *text;
		uint64		h;

		if (r->have_cur)
		{
			st_finish_series(r);
			if (!r->key.byval)
				pfree(DatumGetPointer(r->curkey));
			if (r->n == STATE_BATCH_SERIES || r->used * I > STATE_BATCH_VALUES ||
				r->used * ROW_BYTES(I) > sm_pg_buffer_limit())
				run_state_batch(r);
		}
		MemoryContextSwitchTo(r->ctx);
		text = OutputFunctionCall(&r->key.out, kd);
		r->curkey = datumCopy(kd, r->key.byval, r->key.len);
		MemoryContextSwitchTo(r->rowctx);
		h = hash_bytes_extended((const unsigned char *) text, (int) strlen(text), 0);
		if (hash_search(r->done, &h, HASH_FIND, NULL) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the query of %s returned series \"%s\" in two separate runs of rows", r->fn, text),
					 errhint("Order the query's rows by series key, then by time.")));
		r->curtext = text;
		r->have_cur = true;
		s = &r->ser[r->n];
		memset(s, 0, sizeof(*s));
		s->key = text;
		s->off = s->toff = r->used;
	}
	s = &r->ser[r->n];
	if (slot->tts_isnull[1])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("time of series \"%s\" is NULL at row %lld", r->curtext, (long long) s->n + 1),
				 errhint("Filter out rows without a time.")));
	t = time_int64(r->ttype, td);
	if (s->n > 0 && t <= r->prev_time)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("times of series \"%s\" are not increasing", r->curtext),
				 errdetail("%s follows %s.", time_text(r->st, t), time_text(r->st, r->prev_time)),
				 errhint("Order the query's rows by series key, then by time, with one row per time.")));
	r->prev_time = t;
	if (slot->tts_isnull[2])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("value of series \"%s\" is NULL at row %lld", r->curtext, (long long) s->n + 1),
				 errhint("Fill missing values (or filter them out) before updating the state.")));
	sm_pg_value_of(vd, r->vtype, r->v, I, r->curtext, s->n + 1);
	for (int i = 0; i < I; i++)
		if (!isfinite(r->v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("value of series \"%s\" at row %lld is not finite", r->curtext, (long long) s->n + 1)));
	if (s->n >= INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("series \"%s\" has too many new rows", r->curtext)));
	/* the rows buffered count against seqmodel.work_mem (sm_pg.h) */
	if ((s->n + 1) * ROW_BYTES(I) > sm_pg_buffer_limit())
		sm_pg_series_too_long(r->curtext, s->n + 1);
	if (r->used + 1 > r->cap)
	{
		r->cap = sm_pg_buffer_grow(r->cap, r->used + 1, sm_pg_buffer_limit() * 2 / ROW_BYTES(I));
		r->vals = repalloc_huge(r->vals, sizeof(float) * r->cap * I);
		r->times = repalloc_huge(r->times, sizeof(int64) * r->cap);
	}
	memcpy(r->vals + r->used * I, r->v, sizeof(float) * I);
	r->times[r->used] = t;
	r->used++;
	s->n++;
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowctx);
	return true;
}

static void
st_shutdown(DestReceiver *self)
{
}

static void
st_destroy(DestReceiver *self)
{
}

/* run the query into the reader; trig: the trigger whose transition table it reads, or NULL */
static void
st_run_query(st_reader *r, const char *query, TriggerData *trig)
{
	SPIPlanPtr	plan;
	SPIExecuteOptions options;
	int			rc;

	SPI_connect();
	if (trig && (rc = SPI_register_trigger_data(trig)) != SPI_OK_TD_REGISTER)
		elog(ERROR, "could not register the transition table: %s", SPI_result_code_string(rc));
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("could not prepare the query of %s: %s", r->fn, SPI_result_code_string(SPI_result))));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of %s must return rows", r->fn),
				 errdetail("It should return %s.", st_shape())));
	memset(&options, 0, sizeof(options));
	options.read_only = true;
	options.dest = (DestReceiver *) r;
	rc = SPI_execute_plan_extended(plan, &options);
	if (rc < 0)
		elog(ERROR, "the query of %s failed: %s", r->fn, SPI_result_code_string(rc));
	SPI_finish();
}

/* state_update, state_rebuild and the trigger: advance the states of the query's series */
static void
state_run(const char *fn, const char *name, Oid relid, const char *query, state_mode mode,
		  TriggerData *trig, int64 *totals)
{
	st_reader  *r = palloc0(sizeof(st_reader));
	state_table *st = palloc0(sizeof(state_table));
	MemoryContext callctx = CurrentMemoryContext;
	HASHCTL		hctl;
	void	   *pin;

	r->fn = fn;
	r->name = name;
	r->m = state_model(name, fn);
	r->S = sm_rnn_state_width(r->m->rnn);
	r->version = sm_cache_version(name);
	state_table_open(relid, st);
	r->st = st;
	r->mode = mode;
	r->pub.receiveSlot = st_receive;
	r->pub.rStartup = st_startup;
	r->pub.rShutdown = st_shutdown;
	r->pub.rDestroy = st_destroy;
	r->pub.mydest = DestNone;
	r->ctx = callctx;
	r->rowctx = AllocSetContextCreate(callctx, "seqmodel state row", ALLOCSET_DEFAULT_SIZES);
	r->batchctx = AllocSetContextCreate(callctx, "seqmodel state batch", ALLOCSET_DEFAULT_SIZES);
	r->cap = 64 * 1024;
	r->vals = MemoryContextAllocHuge(callctx, sizeof(float) * r->cap * r->m->I);
	r->times = MemoryContextAllocHuge(callctx, sizeof(int64) * r->cap);
	r->ser = palloc(sizeof(st_series) * (STATE_BATCH_SERIES + 1));
	r->v = palloc(sizeof(float) * r->m->I);
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(uint64);
	hctl.entrysize = sizeof(uint64);
	hctl.hcxt = callctx;
	r->done = hash_create("seqmodel state keys", 1024, &hctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* the query may use other models: keep ours from being evicted meanwhile */
	pin = sm_cache_pin(name);
	PG_TRY();
	{
		st_run_query(r, query, trig);
		if (r->have_cur)
			st_finish_series(r);
		run_state_batch(r);
	}
	PG_FINALLY();
	{
		sm_cache_unpin(pin);
	}
	PG_END_TRY();
	totals[0] = r->n_series;
	totals[1] = r->n_rows;
	totals[2] = r->n_skipped;
}

/* the (updated_series, new_rows, skipped_rows) row of state_update / state_rebuild */
static Datum
totals_row(FunctionCallInfo fcinfo, const int64 *totals)
{
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {0};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (int i = 0; i < 3; i++)
		values[i] = Int64GetDatum(totals[i]);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

PG_FUNCTION_INFO_V1(sm_state_update);
/* seqmodel.state_update(model, state_table, query, strict): advance states by new rows */
Datum
sm_state_update(PG_FUNCTION_ARGS)
{
	int64		totals[3];

	state_run("state_update", text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_OID(1),
			  text_to_cstring(PG_GETARG_TEXT_PP(2)),
			  PG_GETARG_BOOL(3) ? STATE_STRICT : STATE_UPDATE, NULL, totals);
	return totals_row(fcinfo, totals);
}

PG_FUNCTION_INFO_V1(sm_state_rebuild);
/* seqmodel.state_rebuild(model, state_table, query): states from the whole histories */
Datum
sm_state_rebuild(PG_FUNCTION_ARGS)
{
	int64		totals[3];

	state_run("state_rebuild", text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_OID(1),
			  text_to_cstring(PG_GETARG_TEXT_PP(2)), STATE_REBUILD, NULL, totals);
	return totals_row(fcinfo, totals);
}

PG_FUNCTION_INFO_V1(sm_state_trigger);
/*
 * seqmodel.state_trigger(): AFTER INSERT ... REFERENCING NEW TABLE AS ...
 * FOR EACH STATEMENT, arguments model, state table [, series column, time
 * column, value column]: the inserted rows advance the states (strictly)
 */
Datum
sm_state_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	const char *cols[3] = {"series", "time", "value"};
	Oid			relid;
	int64		totals[3];

	/* PostgreSQL refuses to call a trigger function any other way */
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "seqmodel.state_trigger was not called by the trigger manager");
	tg = trig->tg_trigger;
	if (!TRIGGER_FIRED_AFTER(trig->tg_event) || !TRIGGER_FIRED_BY_INSERT(trig->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trig->tg_event) || tg->tgnewtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("seqmodel.state_trigger must be fired AFTER INSERT FOR EACH STATEMENT with a transition table"),
				 errhint("Create the trigger with AFTER INSERT ON ... REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT.")));
	if (tg->tgnargs < 2 || tg->tgnargs > 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seqmodel.state_trigger takes 2 to 5 arguments, not %d", tg->tgnargs),
				 errhint("Pass the model, the state table, and optionally the series, time and value columns of the readings.")));
	for (int i = 2; i < tg->tgnargs; i++)
		cols[i - 2] = tg->tgargs[i];
	relid = DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(tg->tgargs[1])));
	state_run("state_trigger", tg->tgargs[0], relid,
			  psprintf("SELECT %s, %s, %s FROM %s ORDER BY 1, 2", quote_identifier(cols[0]),
					   quote_identifier(cols[1]), quote_identifier(cols[2]),
					   quote_identifier(tg->tgnewtable)),
			  STATE_STRICT, trig, totals);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(sm_forecast_from_state);
/*
 * seqmodel.forecast_from_state(model, state_table, horizon, series,
 * quantiles, samples, seed): forecasts from the stored states
 */
Datum
sm_forecast_from_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	const sm_seqmodel *m;
	state_table st;
	quantile_opts qo;
	int			horizon,
				S,
				I;
	int64		version;
	uint64		seed;
	SPIPlanPtr	plan;
	Portal		portal;
	Oid			argtypes[2] = {TEXTOID, TEXTARRAYOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	float	   *states,
			   *point,
			   *quant;
	int		   *steps;
	uint64	   *seeds;

	/* not STRICT (series, quantiles may be NULL): a NULL model, table or horizon gives no rows */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	m = state_model(name, "forecast_from_state");
	version = sm_cache_version(name);
	state_table_open(PG_GETARG_OID(1), &st);
	horizon = PG_GETARG_INT32(2);
	sm_pg_check_horizon(horizon);
	sm_pg_read_quantile_args(m, fcinfo, 4, horizon, &qo);
	seed = qo.opts.seed;
	S = sm_rnn_state_width(m->rnn);
	I = m->F;					/* values per step of a forecast: the targets */
	InitMaterializedSRF(fcinfo, 0);

	states = palloc(sizeof(float) * (size_t) STATE_BATCH_SERIES * S);
	steps = palloc(sizeof(int) * STATE_BATCH_SERIES);
	seeds = palloc(sizeof(uint64) * STATE_BATCH_SERIES);
	point = palloc(sizeof(float) * (size_t) STATE_BATCH_SERIES * horizon * I);
	quant = qo.nq ? palloc(sizeof(float) * (size_t) STATE_BATCH_SERIES * horizon * I * qo.nq) : NULL;
	args[0] = CStringGetTextDatum(name);
	if (PG_ARGISNULL(3))
		nulls[1] = 'n';
	else
		args[1] = PointerGetDatum(PG_GETARG_ARRAYTYPE_P(3));

	SPI_connect();
	plan = SPI_prepare(psprintf("SELECT series, model_version, steps, state FROM %s "
								"WHERE model = $1 AND ($2 IS NULL OR series = ANY ($2)) ORDER BY series",
								st.qname), 2, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare the state query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, nulls, true);
	for (;;)
	{
		int			n;
		char	  **keys;
		sm_error	err;

		SPI_cursor_fetch(portal, true, STATE_BATCH_SERIES);
		n = (int) SPI_processed;
		if (n == 0)
			break;
		keys = palloc(sizeof(char *) * n);
		for (int i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull[4];
			Datum		d[4];
			int64		k;

			for (int c = 0; c < 4; c++)
				d[c] = SPI_getbinval(tup, desc, c + 1, &isnull[c]);
			keys[i] = isnull[0] ? "" : TextDatumGetCString(d[0]);
			if (isnull[1] || isnull[2] || isnull[3])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("state of series \"%s\" in \"%s\" has NULL columns", keys[i], st.relname),
						 errhint("Rebuild the states from the history with seqmodel.state_rebuild().")));
			check_version(name, &st, keys[i], DatumGetInt64(d[1]), version);
			k = DatumGetInt64(d[2]);
			steps[i] = (int) Min(Max(k, 0), INT_MAX);
			if (steps[i] < m->sh.min_history)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("series \"%s\" is too short to forecast", keys[i]),
						 errdetail("Its state has consumed %lld steps; model \"%s\" needs at least %d (config min_history).",
								   (long long) k, name, m->sh.min_history)));
			read_state(d[3], S, keys[i], &st, states + (size_t) i * S);
			/* as forecast_query: a series' samples depend on the seed and its key */
			seeds[i] = seed ^ hash_bytes_extended((const unsigned char *) keys[i], (int) strlen(keys[i]), 0);
		}
		qo.opts.series_seeds = seeds;
		SM_PG_CHECK(sm_rnn_forecast_state(m->rnn, states, n, steps, &qo.opts, point, quant, &err), &err);
		sm_pg_check_output(name, point, (size_t) n * horizon * I);
		for (int i = 0; i < n; i++)
			sm_pg_emit_forecast_rows(rsinfo, keys[i], &qo, I, m->sh.targets, point + (size_t) i * horizon * I,
									 quant ? quant + (size_t) i * horizon * I * qo.nq : NULL, NULL);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return (Datum) 0;
}
