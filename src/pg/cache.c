/*
 * cache.c -- each backend keeps the models it ran, loaded, in memory.
 *
 * Freshness: a cached model carries the catalog version it was loaded at
 * (seqmodel.model.version, bumped by triggers on any change of the model's
 * row or tensor rows, from a sequence, so never reused).  The first use of a
 * model in a statement re-reads that version with the statement's snapshot;
 * later uses in the same statement and command reuse the answer.  So a
 * replace, drop or edit committed by any session is seen at the next
 * statement, and a rolled-back import (whose version no snapshot sees any
 * more) makes the old model load again.
 *
 * Privileges: that read runs as the current role, through the catalog's
 * row-level security, and its answer is kept for one statement and one
 * role only (a SET ROLE, or a SECURITY DEFINER function, inside a
 * statement checks again).  So a model cached by one role is used by
 * another role of the same session only if that role may see it;
 * cache_info() lists only the models the current role may see.
 *
 * Shared copies: with the shared cache (shared_cache.c) an entry may stand
 * for the cluster's copy of the model instead of a copy of its own; it is
 * pinned once per transaction, at the statement's version check, and its
 * bytes (weights) are not counted here, only its tokenizer's.
 *
 * Memory: each model lives in its own memory context under one cache
 * context.  seqmodel.cache_size bounds the total; least recently used models
 * are evicted first, and a model larger than the whole budget is an error
 * rather than a silent reload on every call.
 */
#include "sm_pg.h"

#include "utils/json.h"

#include "ops/sm_ops.h"

#include "text/sm_tokenizer.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

typedef struct cache_entry
{
	dlist_node	lru;			/* head = most recently used */
	char	   *name;
	char	   *arch;
	int64		version;
	MemoryContext ctx;			/* holds the engine model */
	sm_model   *model;
	struct sm_tokenizer *tok;	/* loaded at its first use, in ctx, or NULL */
	const struct sm_tokenizer *target_tok;	/* the target side: its own (in ctx) or tok; NULL until used */
	Size		bytes;			/* memory held by ctx */
	int64		hits;
	TimestampTz loaded_at;
	TimestampTz last_used;
	double		load_ms;
	int			pins;			/* callers using the model across other cache calls */
	bool		peeked;			/* sm_cache_peek checked it for this statement: the use that
								 * follows is its first, not a hit */
	bool		doomed;			/* unlinked while pinned: free at the last unpin */
	/* the statement, command and role for which the version was last checked */
	Oid			checked_user;
	LocalTransactionId checked_lxid;
	TimestampTz checked_stmt;
	CommandId	checked_cid;
	uint64		owner;			/* the owner of its packed weights (sm_ops_set_owner) */
	int			shared_slot;	/* the model is the shared cache's copy in this slot, or -1 */
	uint64		shared_gen;		/* ... at this generation of the slot */
} cache_entry;

/* owners for the compute seam: unique for the backend's life, so a GPU copy is never mistaken */
static uint64 next_owner = 0;

static MemoryContext cache_context = NULL;
static dlist_head cache_lru = DLIST_STATIC_INIT(cache_lru);
static Size cache_bytes = 0;

static void
entry_destroy(cache_entry *e)
{
	sm_ops_forget(e->owner);	/* its weights' copies on a GPU, if any */
	MemoryContextDelete(e->ctx);
	pfree(e->name);
	pfree(e->arch);
	pfree(e);
}

/*
 * Remove an entry from the cache.  A pinned entry (forecast_query runs its
 * query, which may use other models, while holding one) is only unlinked:
 * lookups no longer find it, and the last unpin frees it.
 */
static void
entry_free(cache_entry *e)
{
	dlist_delete(&e->lru);
	cache_bytes -= e->bytes;
	if (e->pins > 0)
	{
		e->doomed = true;
		return;
	}
	entry_destroy(e);
}

static cache_entry *
entry_find(const char *name)
{
	dlist_iter	it;

	dlist_foreach(it, &cache_lru)
	{
		cache_entry *e = dlist_container(cache_entry, lru, it.cur);

		if (strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

static bool
checked_in_this_statement(const cache_entry *e)
{
	return e->checked_user == GetUserId() &&
		e->checked_lxid == MyProc->lxid &&
		e->checked_stmt == GetCurrentStatementStartTimestamp() &&
		e->checked_cid == GetCurrentCommandId(false);
}

static void
mark_checked(cache_entry *e)
{
	e->checked_user = GetUserId();
	e->checked_lxid = MyProc->lxid;
	e->checked_stmt = GetCurrentStatementStartTimestamp();
	e->checked_cid = GetCurrentCommandId(false);
}

static Size
cache_limit(void)
{
	return (Size) sm_cache_size_kb * 1024;
}

/* Evict least recently used models until `need` more bytes fit (pinned ones stay). */
static void
make_room(Size need)
{
	dlist_node *node = dlist_is_empty(&cache_lru) ? NULL : dlist_tail_node(&cache_lru);

	while (node != NULL && cache_bytes + need > cache_limit())
	{
		dlist_node *prev = dlist_has_prev(&cache_lru, node) ? dlist_prev_node(&cache_lru, node) : NULL;
		cache_entry *e = dlist_container(cache_entry, lru, node);

		if (e->pins == 0)
			entry_free(e);
		node = prev;
	}
}

void *
sm_cache_pin(const char *name)
{
	cache_entry *e = entry_find(name);

	if (e == NULL)
		elog(ERROR, "model \"%s\" is not in the cache", name);
	e->pins++;
	return e;
}

void
sm_cache_unpin(void *pin)
{
	cache_entry *e = pin;

	if (--e->pins == 0 && e->doomed)
		entry_destroy(e);
}

void
sm_cache_forget(const char *name)
{
	cache_entry *e;

	sm_pg_helper_quiesce_quietly();
	e = entry_find(name);

	if (e != NULL)
		entry_free(e);
}

/*
 * Before a model's tensor data is read (its spec gives the float32 size):
 * refuse a model larger than the whole budget, else evict to make room.
 */
static void
room_for_model(const char *name, Size need)
{
	if (need > cache_limit())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model \"%s\" does not fit in the model cache", name),
				 errdetail("Its weights need %lld kB as float32; seqmodel.cache_size is %d kB.",
						   (long long) (need / 1024), sm_cache_size_kb),
				 errhint("Raise seqmodel.cache_size.")));
	make_room(need);
}

/* the second build of a model, into the shared cache's block (its allocations go there) */
static const sm_model *
shared_loader(const char *name, const sm_model_row *row)
{
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "seqmodel shared load",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tmp);
	const sm_model *m = sm_catalog_load(name, row, NULL);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);	/* what the glue read on the way */
	return m;
}

/* an entry for the shared cache's copy of a model (its context only for a tokenizer) */
static cache_entry *
shared_entry(const char *name, const sm_model_row *row, const sm_model *m, int slot, uint64 gen,
			 MemoryContext ctx, double load_ms)
{
	cache_entry *e = MemoryContextAllocZero(cache_context, sizeof(cache_entry));

	if (ctx == NULL)
		ctx = AllocSetContextCreate(cache_context, "seqmodel model", ALLOCSET_SMALL_SIZES);
	MemoryContextSetIdentifier(ctx, MemoryContextStrdup(ctx, name));
	e->name = MemoryContextStrdup(cache_context, name);
	e->arch = MemoryContextStrdup(cache_context, row->arch);
	e->version = row->version;
	e->ctx = ctx;
	e->model = (sm_model *) m;
	e->shared_slot = slot;
	e->shared_gen = gen;
	e->owner = sm_shared_owner(slot, gen);
	e->bytes = MemoryContextMemAllocated(ctx, true);
	e->loaded_at = GetCurrentTimestamp();
	e->load_ms = load_ms;
	make_room(e->bytes);
	dlist_push_head(&cache_lru, &e->lru);
	cache_bytes += e->bytes;
	return e;
}

static cache_entry *
load_entry(const char *name, const sm_model_row *row)
{
	MemoryContext ctx;
	MemoryContext old;
	cache_entry *e;
	instr_time	start,
				elapsed;
	Size		engine_bytes;

	INSTR_TIME_SET_CURRENT(start);
	if (sm_shared_cache_enabled())
	{
		int			slot;
		uint64		gen;
		const sm_model *m = sm_shared_find(name, row->version, &slot, &gen);

		if (m != NULL)
		{
			INSTR_TIME_SET_CURRENT(elapsed);
			INSTR_TIME_SUBTRACT(elapsed, start);
			return shared_entry(name, row, m, slot, gen, NULL, INSTR_TIME_GET_MILLISEC(elapsed));
		}
		/* not there: build it here first, counting what the engine allocates */
		sm_shared_count_begin();
	}
	/*
	 * Load under the current (statement) context, so an error on the way
	 * frees the half-built model; adopt it into the cache once complete.
	 */
	ctx = AllocSetContextCreate(CurrentMemoryContext, "seqmodel model",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	sm_ops_set_owner(++next_owner);
	{
		sm_model   *model = sm_catalog_load(name, row, room_for_model);

		engine_bytes = sm_shared_count_end();
		sm_ops_set_owner(0);
		MemoryContextSwitchTo(old);
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);

		MemoryContextSetParent(ctx, cache_context);
		MemoryContextSetIdentifier(ctx, MemoryContextStrdup(ctx, name));
		e = MemoryContextAllocZero(cache_context, sizeof(cache_entry));
		e->name = MemoryContextStrdup(cache_context, name);
		e->arch = MemoryContextStrdup(cache_context, row->arch);
		e->version = row->version;
		e->ctx = ctx;
		e->owner = next_owner;
		e->model = model;
		e->shared_slot = -1;
		e->bytes = MemoryContextMemAllocated(ctx, true);
		e->loaded_at = GetCurrentTimestamp();
		e->load_ms = INSTR_TIME_GET_MILLISEC(elapsed);
	}
	if (sm_shared_cache_enabled())
	{
		int			slot;
		uint64		gen;
		const sm_model *m = sm_shared_publish(name, row, engine_bytes, shared_loader, &slot, &gen);

		/* the shared copy replaces the local one (none: no room, keep it) */
		if (m != NULL)
		{
			MemoryContext empty = AllocSetContextCreate(cache_context, "seqmodel model",
														ALLOCSET_SMALL_SIZES);

			INSTR_TIME_SET_CURRENT(elapsed);
			INSTR_TIME_SUBTRACT(elapsed, start);
			sm_ops_forget(e->owner);
			MemoryContextDelete(e->ctx);
			pfree(e->name);
			pfree(e->arch);
			pfree(e);
			return shared_entry(name, row, m, slot, gen, empty, INSTR_TIME_GET_MILLISEC(elapsed));
		}
	}
	/*
	 * The estimate above counted the weights as float32; the built model
	 * also holds them packed for the compute kernels (about as much again):
	 * make room for what it really holds.
	 */
	make_room(e->bytes);
	dlist_push_head(&cache_lru, &e->lru);
	cache_bytes += e->bytes;
	return e;
}

/*
 * The entry of a model, current as of this statement; a use of an entry
 * already loaded counts as a hit when count_hit.
 */
static cache_entry *
entry_get(const char *name, bool count_hit)
{
	cache_entry *e;

	/* a batch forecast in flight (forecast_query) uses the engine: let it finish */
	sm_pg_helper_quiesce();

	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "seqmodel cache",
											  ALLOCSET_SMALL_SIZES);

	e = entry_find(name);
	if (e != NULL && checked_in_this_statement(e))
	{
		if (e->peeked && count_hit)
			e->peeked = false;
		else
			e->hits += count_hit;
	}
	else
	{
		sm_model_row row;
		bool		found;

		SPI_connect();
		found = sm_catalog_model_row(name, &row);
		if (!found)
		{
			SPI_finish();
			if (e != NULL)
				entry_free(e);
			sm_catalog_unknown_model(name);
		}
		if (e != NULL && e->version != row.version)
		{
			entry_free(e);
			e = NULL;
		}
		/* a shared copy is pinned for the transaction, if it is still there */
		if (e != NULL && e->shared_slot >= 0)
		{
			const sm_model *m;

			/* (seqmodel.shared_cache turned off: a copy of its own instead) */
			if (sm_shared_cache_enabled() && sm_shared_pin(e->shared_slot, e->shared_gen, &m))
				e->model = (sm_model *) m;
			else
			{
				entry_free(e);
				e = NULL;
			}
		}
		if (e == NULL)
			e = load_entry(name, &row);
		else
			e->hits += count_hit;
		SPI_finish();
		e->peeked = false;
		mark_checked(e);
	}
	dlist_move_head(&cache_lru, &e->lru);
	e->last_used = GetCurrentStatementStartTimestamp();
	return e;
}

char *
sm_cache_device_models(const sm_device_api *dev)
{
	StringInfoData out;
	dlist_iter	it;
	bool		first = true;

	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	if (dev)
		dlist_foreach(it, &cache_lru)
		{
			cache_entry *e = dlist_container(cache_entry, lru, it.cur);
			size_t		bytes = e->owner ? dev->owner_bytes(e->owner) : 0;

			if (bytes == 0)
				continue;
			appendStringInfo(&out, "%s{\"model\": ", first ? "" : ", ");
			escape_json(&out, e->name);
			appendStringInfo(&out, ", \"bytes\": %zu}", bytes);
			first = false;
		}
	appendStringInfoChar(&out, ']');
	return out.data;
}

const sm_model *
sm_cache_get(const char *name)
{
	const sm_model *m = entry_get(name, true)->model;

	/* every engine call gets its model here: the place to choose CPU or GPU */
	sm_pg_device_select();
	return m;
}

const sm_model *
sm_cache_peek(const char *name)
{
	cache_entry *e = entry_find(name);
	bool		first = e == NULL || !checked_in_this_statement(e);

	e = entry_get(name, false);
	/* the statement's first look: the use after it is not a hit either */
	e->peeked = first;
	return e->model;
}

int64
sm_cache_version(const char *name)
{
	cache_entry *e = entry_find(name);

	if (e == NULL)
		elog(ERROR, "model \"%s\" is not in the cache", name);
	return e->version;
}

/*
 * Load a tokenizer.json into the entry's context, so it goes with the model
 * (a new version of either reloads both), its bytes counted as the model's.
 * A failed parse leaves at most garbage in that context until the entry goes.
 */
static sm_tokenizer *
entry_load_tokenizer(cache_entry *e, const char *json)
{
	Size		before = MemoryContextMemAllocated(e->ctx, true);
	MemoryContext old = MemoryContextSwitchTo(e->ctx);
	sm_tokenizer *tok = NULL;
	sm_error	err;
	sm_status	rc;

	rc = sm_tokenizer_load(json, strlen(json), &tok, &err);
	MemoryContextSwitchTo(old);
	if (rc != SM_OK)
	{
		SPI_finish();
		sm_pg_raise(&err);
	}
	{
		Size		grown = MemoryContextMemAllocated(e->ctx, true) - before;

		e->bytes += grown;
		cache_bytes += grown;
	}
	return tok;
}

const sm_tokenizer *
sm_cache_tokenizer(const char *name, bool count_hit)
{
	cache_entry *e;
	char	   *json;

	e = entry_get(name, count_hit);
	if (e->tok != NULL)
		return e->tok;
	SPI_connect();
	json = sm_catalog_tokenizer(name);
	if (json == NULL)
	{
		SPI_finish();
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no tokenizer", name),
				 errhint("Import its tokenizer.json with seqmodel.import_tokenizer().")));
	}
	e->tok = entry_load_tokenizer(e, json);
	SPI_finish();
	return e->tok;
}

const sm_tokenizer *
sm_cache_target_tokenizer(const char *name)
{
	const sm_tokenizer *source = sm_cache_tokenizer(name, false);	/* errors when there is none */
	cache_entry *e = entry_get(name, false);
	char	   *json;

	if (e->target_tok != NULL)
		return e->target_tok;
	SPI_connect();
	json = sm_catalog_target_tokenizer(name);
	e->target_tok = json == NULL ? source : entry_load_tokenizer(e, json);
	SPI_finish();
	return e->target_tok;
}

PG_FUNCTION_INFO_V1(sm_cache_info);
/* seqmodel.cache_info(): the models this backend holds, most recent first */
Datum
sm_cache_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	dlist_iter	it;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	dlist_foreach(it, &cache_lru)
	{
		cache_entry *e = dlist_container(cache_entry, lru, it.cur);
		Datum		values[9];
		bool		nulls[9] = {0};

		/* only the models this role may see (row-level security) */
		if (sm_catalog_version(e->name) < 0)
			continue;

		values[0] = CStringGetTextDatum(e->name);
		values[1] = CStringGetTextDatum(e->arch);
		values[2] = Int64GetDatum(e->version);
		values[3] = Int64GetDatum((int64) e->bytes);
		values[4] = Int64GetDatum(e->hits);
		values[5] = TimestampTzGetDatum(e->loaded_at);
		values[6] = TimestampTzGetDatum(e->last_used);
		values[7] = Float8GetDatum(e->load_ms);
		values[8] = BoolGetDatum(e->shared_slot >= 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(sm_cache_reset);
/* seqmodel.cache_reset(): free every cached model */
Datum
sm_cache_reset(PG_FUNCTION_ARGS)
{
	int64		n = 0;

	sm_pg_helper_quiesce();
	while (!dlist_is_empty(&cache_lru))
	{
		entry_free(dlist_container(cache_entry, lru, dlist_head_node(&cache_lru)));
		n++;
	}
	PG_RETURN_INT64(n);
}
