/*
 * shared_cache.c -- one copy of a model's weights per cluster.
 *
 * With seqmodel in shared_preload_libraries and seqmodel.shared_cache_size
 * > 0, the postmaster reserves that much of the main shared memory segment
 * for models.  A backend that needs a model not there yet builds it once
 * locally (as without the shared cache), and, counting what the engine
 * allocated, builds it a second time into a block of the shared area sized
 * exactly for it; from then on every backend and parallel worker of the
 * cluster runs that copy in place.  The main segment is mapped at the same
 * address in every process forked from the postmaster, and the library,
 * preloaded, too, so the engine's pointers (and the arch tables' function
 * pointers) inside the block are valid everywhere.
 *
 * What a shared copy is keyed by: the model name and its catalog version
 * (from a sequence, never reused).  The packed layout of the weights is the
 * same for every CPU kernel set (sm_gemm.h), so one copy serves backends of
 * any seqmodel.cpu_kernels.  A new version is built beside the old one; the
 * old one is no longer found and is freed when its last reader leaves.
 *
 * Readers: a backend pins a shared copy for the rest of its transaction the
 * first time a statement uses it (the cache re-checks each model once per
 * statement), and unpins at commit or abort (or exit).  Between
 * transactions nothing is pinned, so the least recently used copies
 * without readers are evicted when a new one needs room; a backend's local
 * entry keeps the slot and its generation, and finds out at its next use
 * that the copy went (then loads again).  When no room can be made, the
 * backend keeps its local copy: that is counted as a fallback.
 *
 * Blocks are page aligned and made read-only in each process that maps them
 * (best effort: mprotect may refuse on huge pages), so a write by the
 * engine into a shared model is a crash in tests, not silent corruption of
 * every backend's answers.
 *
 * Locking: one LWLock guards the header (slots, free extents, counters); a
 * condition variable wakes backends waiting for a copy another backend is
 * building.  Building (the second pass) runs without the lock.
 */
#include "sm_pg.h"

#include <sys/mman.h>
#include <unistd.h>

#include "ops/sm_ops.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define SHARED_SLOTS 64
#define SHARED_ALIGN 16			/* every engine allocation in a block */

int			sm_shared_cache_size_mb = 0;
bool		sm_use_shared_cache = true;

typedef enum slot_state
{
	SLOT_EMPTY,
	SLOT_LOADING,				/* a backend is building it */
	SLOT_READY,
	SLOT_DOOMED					/* replaced or evicted while read: freed at the last unpin */
} slot_state;

typedef struct shared_slot
{
	slot_state	state;
	uint64		gen;			/* changes whenever the slot is reused */
	char		name[NAMEDATALEN * 2];
	int64		version;
	Size		off,
				len;			/* the block in the area */
	const sm_model *model;		/* inside the block */
	int			readers;		/* transactions pinning it */
	int			builder;		/* pid building it, while LOADING */
	int64		hits;
	TimestampTz loaded_at;
	TimestampTz last_used;
	double		load_ms;
} shared_slot;

typedef struct extent
{
	Size		off,
				len;
} extent;

typedef struct shared_header
{
	LWLock	   *lock;
	ConditionVariable built;	/* a LOADING slot became READY or EMPTY */
	Size		size;			/* of the area */
	char	   *area;			/* page aligned, same address in every process */
	uint64		next_gen;
	uint64		builds,
				evictions,
				fallbacks;
	int			n_free;
	extent		free[SHARED_SLOTS + 1]; /* sorted by offset, never adjacent */
	shared_slot slots[SHARED_SLOTS];
} shared_header;

static shared_header *hdr = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* this process: the slots it pins in this transaction, the one it builds */
static bool pinned[SHARED_SLOTS];
static int	building = -1;
static bool callbacks_registered = false;

/* the bump allocator of a build into a block (engine_hooks.c asks it) */
static char *bump_cur = NULL,
		   *bump_end = NULL;
static bool bump_counting = false;
static Size bump_counted = 0;

static Size
page_size(void)
{
	static Size ps = 0;

	if (ps == 0)
	{
		long		v = sysconf(_SC_PAGESIZE);

		ps = v > 0 ? (Size) v : 4096;
	}
	return ps;
}

static Size
round_up(Size n, Size to)
{
	return (n + to - 1) / to * to;
}

static Size
header_size(void)
{
	return MAXALIGN(sizeof(shared_header));
}

static Size
area_request(void)
{
	return (Size) sm_shared_cache_size_mb * 1024 * 1024;
}

/* ---- postmaster: reserve and set up the area ---- */

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(header_size(), add_size(area_request(), page_size())));
	RequestNamedLWLockTranche("seqmodel shared cache", 1);
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	hdr = ShmemInitStruct("seqmodel shared cache",
						  add_size(header_size(), add_size(area_request(), page_size())), &found);
	if (!found)
	{
		char	   *start = (char *) hdr + header_size();

		memset(hdr, 0, sizeof(shared_header));
		hdr->lock = &(GetNamedLWLockTranche("seqmodel shared cache"))->lock;
		ConditionVariableInit(&hdr->built);
		hdr->area = (char *) round_up((Size) start, page_size());
		hdr->size = area_request() / page_size() * page_size();
		hdr->n_free = 1;
		hdr->free[0].off = 0;
		hdr->free[0].len = hdr->size;
		hdr->next_gen = 1;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
sm_shared_cache_init(void)
{
	/*
	 * A server-start setting can only be defined while preloading; loaded
	 * later the library shows it, fixed at 0 (the shared cache is off).
	 */
	DefineCustomIntVariable("seqmodel.shared_cache_size",
							"Shared memory for one copy per cluster of the models' weights.",
							"Needs seqmodel in shared_preload_libraries; 0 keeps a copy per backend only "
							"(seqmodel.cache_size).",
							&sm_shared_cache_size_mb,
							0, 0, INT_MAX / 2,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_INTERNAL,
							GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("seqmodel.shared_cache",
							 "Whether this session runs the shared cache's copies of models.",
							 "Off: the session loads copies of its own, within seqmodel.cache_size, "
							 "as without the shared cache.",
							 &sm_use_shared_cache,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress || sm_shared_cache_size_mb <= 0)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

bool
sm_shared_cache_enabled(void)
{
	return hdr != NULL && sm_use_shared_cache;
}

/* ---- the area's free extents (under the lock) ---- */

static bool
area_alloc(Size len, Size *off)
{
	for (int i = 0; i < hdr->n_free; i++)
		if (hdr->free[i].len >= len)
		{
			*off = hdr->free[i].off;
			hdr->free[i].off += len;
			hdr->free[i].len -= len;
			if (hdr->free[i].len == 0)
			{
				memmove(&hdr->free[i], &hdr->free[i + 1], sizeof(extent) * (hdr->n_free - i - 1));
				hdr->n_free--;
			}
			return true;
		}
	return false;
}

static void
area_free(Size off, Size len)
{
	int			i = 0;

	while (i < hdr->n_free && hdr->free[i].off < off)
		i++;
	/* join the extent before, the one after, or both */
	if (i > 0 && hdr->free[i - 1].off + hdr->free[i - 1].len == off)
	{
		hdr->free[i - 1].len += len;
		if (i < hdr->n_free && off + len == hdr->free[i].off)
		{
			hdr->free[i - 1].len += hdr->free[i].len;
			memmove(&hdr->free[i], &hdr->free[i + 1], sizeof(extent) * (hdr->n_free - i - 1));
			hdr->n_free--;
		}
		return;
	}
	if (i < hdr->n_free && off + len == hdr->free[i].off)
	{
		hdr->free[i].off = off;
		hdr->free[i].len += len;
		return;
	}
	/* at most one extent per slot plus one: there is room */
	Assert(hdr->n_free < SHARED_SLOTS + 1);
	memmove(&hdr->free[i + 1], &hdr->free[i], sizeof(extent) * (hdr->n_free - i));
	hdr->free[i].off = off;
	hdr->free[i].len = len;
	hdr->n_free++;
}

/* free a slot's block and empty it (under the lock; no readers) */
static void
slot_clear(shared_slot *s)
{
	if (s->len > 0)
		area_free(s->off, s->len);
	s->state = SLOT_EMPTY;
	s->len = 0;
	s->model = NULL;
	s->gen = hdr->next_gen++;
}

/* ---- this process's pins ---- */

static void
release_all(void)
{
	bool		any = building >= 0;

	for (int i = 0; i < SHARED_SLOTS && !any; i++)
		any = pinned[i];
	if (!any || hdr == NULL)
		return;
	LWLockAcquire(hdr->lock, LW_EXCLUSIVE);
	for (int i = 0; i < SHARED_SLOTS; i++)
	{
		shared_slot *s = &hdr->slots[i];

		if (!pinned[i])
			continue;
		pinned[i] = false;
		if (--s->readers == 0 && s->state == SLOT_DOOMED)
			slot_clear(s);
	}
	if (building >= 0)
	{
		/* a build cut short by an error or exit */
		shared_slot *s = &hdr->slots[building];

		if (s->state == SLOT_LOADING && s->builder == MyProcPid)
			slot_clear(s);
		building = -1;
	}
	LWLockRelease(hdr->lock);
	ConditionVariableBroadcast(&hdr->built);
}

static void
xact_end(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		release_all();
}

static void
process_exit(int code, Datum arg)
{
	release_all();
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(xact_end, NULL);
	before_shmem_exit(process_exit, (Datum) 0);
	callbacks_registered = true;
}

/* pin slot i for this transaction (under the lock) */
static void
pin_locked(int i)
{
	shared_slot *s = &hdr->slots[i];

	if (!pinned[i])
	{
		pinned[i] = true;
		s->readers++;
	}
	s->hits++;
	s->last_used = GetCurrentTimestamp();
}

static void
protect(const shared_slot *s, int prot)
{
	/* best effort: huge pages, for one, refuse page-sized protection */
	if (mprotect(hdr->area + s->off, s->len, prot) != 0)
		elog(DEBUG1, "seqmodel: mprotect of a shared model block: %m");
}

bool
sm_shared_pin(int slot, uint64 gen, const sm_model **model)
{
	shared_slot *s;
	bool		ok;

	if (hdr == NULL || slot < 0 || slot >= SHARED_SLOTS)
		return false;
	register_callbacks();
	LWLockAcquire(hdr->lock, LW_EXCLUSIVE);
	s = &hdr->slots[slot];
	ok = s->gen == gen && (s->state == SLOT_READY || (s->state == SLOT_DOOMED && pinned[slot]));
	if (ok)
	{
		pin_locked(slot);
		*model = s->model;
	}
	LWLockRelease(hdr->lock);
	return ok;
}

/* ---- the bump allocator behind engine_hooks.c ---- */

void *
sm_shared_bump_alloc(size_t size, bool *handled)
{
	Size		n = round_up(size == 0 ? 1 : size, SHARED_ALIGN);

	*handled = false;
	if (bump_counting)
	{
		bump_counted += n;
		return NULL;			/* counted; the caller allocates as usual */
	}
	if (bump_cur == NULL)
		return NULL;
	*handled = true;
	if ((Size) (bump_end - bump_cur) < n)
		return NULL;			/* cannot happen: the block was measured */
	{
		void	   *p = bump_cur;

		bump_cur += n;
		return p;
	}
}

bool
sm_shared_owns(const void *ptr)
{
	return hdr != NULL && (const char *) ptr >= hdr->area && (const char *) ptr < hdr->area + hdr->size;
}

void
sm_shared_count_begin(void)
{
	bump_counting = hdr != NULL;
	bump_counted = 0;
}

Size
sm_shared_count_end(void)
{
	bump_counting = false;
	return bump_counted;
}

/* ---- finding or publishing a model ---- */

static int
find_ready(const char *name, int64 version)
{
	for (int i = 0; i < SHARED_SLOTS; i++)
	{
		shared_slot *s = &hdr->slots[i];

		if ((s->state == SLOT_READY || s->state == SLOT_LOADING) &&
			s->version == version && strcmp(s->name, name) == 0)
			return i;
	}
	return -1;
}

/* older versions of the model are no longer found; freed now or at their last unpin */
static void
retire_other_versions(const char *name, int64 version)
{
	for (int i = 0; i < SHARED_SLOTS; i++)
	{
		shared_slot *s = &hdr->slots[i];

		if (s->state == SLOT_READY && s->version != version && strcmp(s->name, name) == 0)
		{
			if (s->readers == 0)
				slot_clear(s);
			else
				s->state = SLOT_DOOMED;
		}
	}
}

/* an empty slot and a block of len bytes, evicting unread copies oldest first */
static int
claim(Size len, Size *off)
{
	for (;;)
	{
		int			empty = -1,
					victim = -1;

		for (int i = 0; i < SHARED_SLOTS; i++)
		{
			shared_slot *s = &hdr->slots[i];

			if (s->state == SLOT_EMPTY && empty < 0)
				empty = i;
			if (s->state == SLOT_READY && s->readers == 0 &&
				(victim < 0 || s->last_used < hdr->slots[victim].last_used))
				victim = i;
		}
		if (empty >= 0 && area_alloc(len, off))
			return empty;
		if (victim < 0)
			return -1;
		slot_clear(&hdr->slots[victim]);
		hdr->evictions++;
	}
}

/*
 * The shared copy of a model at this version and kernel set, pinned for
 * the transaction, or NULL (none; a caller then builds it).  Waits while
 * another backend builds it.
 */
const sm_model *
sm_shared_find(const char *name, int64 version, int *slot, uint64 *gen)
{
	const sm_model *m = NULL;

	if (hdr == NULL)
		return NULL;
	register_callbacks();
	for (;;)
	{
		int			i;
		bool		wait = false;

		LWLockAcquire(hdr->lock, LW_EXCLUSIVE);
		i = find_ready(name, version);
		if (i >= 0 && hdr->slots[i].state == SLOT_READY)
		{
			pin_locked(i);
			m = hdr->slots[i].model;
			*slot = i;
			*gen = hdr->slots[i].gen;
		}
		else
			wait = i >= 0 && hdr->slots[i].builder != MyProcPid;
		LWLockRelease(hdr->lock);
		if (!wait)
			break;
		ConditionVariableSleep(&hdr->built, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	if (m != NULL)
		protect(&hdr->slots[*slot], PROT_READ);
	return m;
}

/*
 * Build the model into the shared area: `bytes` is what its local build
 * allocated through the engine (sm_shared_count_end).  Returns the shared
 * copy, pinned, or NULL when no room could be made (the caller keeps its
 * local copy).  Errors of the build propagate, the block freed.
 */
const sm_model *
sm_shared_publish(const char *name, const sm_model_row *row, Size bytes,
				  sm_shared_loader load, int *slot, uint64 *gen)
{
	Size		len = round_up(bytes + SHARED_ALIGN, page_size());
	Size		off = 0;
	int			i;
	shared_slot *s;
	instr_time	start,
				elapsed;
	const sm_model *m;
	uint64		key_base;

	if (hdr == NULL || strlen(name) >= sizeof(hdr->slots[0].name))
		return NULL;
	register_callbacks();
	LWLockAcquire(hdr->lock, LW_EXCLUSIVE);
	i = find_ready(name, row->version);
	if (i >= 0)
	{
		/* built meanwhile (or being built): use that */
		LWLockRelease(hdr->lock);
		return sm_shared_find(name, row->version, slot, gen);
	}
	retire_other_versions(name, row->version);
	i = claim(len, &off);
	if (i < 0)
	{
		hdr->fallbacks++;
		LWLockRelease(hdr->lock);
		return NULL;
	}
	s = &hdr->slots[i];
	s->gen = hdr->next_gen++;
	s->state = SLOT_LOADING;
	strlcpy(s->name, name, sizeof(s->name));
	s->version = row->version;
	s->off = off;
	s->len = len;
	s->readers = 0;
	s->builder = MyProcPid;
	s->hits = 0;
	building = i;
	/* weight keys of this copy: unique in the cluster (a GPU's copies are found by them) */
	key_base = ((uint64) 1 << 63) | (s->gen << 32);
	LWLockRelease(hdr->lock);

	INSTR_TIME_SET_CURRENT(start);
	protect(s, PROT_READ | PROT_WRITE);
	bump_cur = hdr->area + off;
	bump_end = hdr->area + off + len;
	PG_TRY();
	{
		uint64		old_keys = sm_ops_set_key_base(key_base);

		sm_ops_set_owner(key_base);
		m = load(name, row);
		sm_ops_set_owner(0);
		sm_ops_set_key_base(old_keys);
	}
	PG_CATCH();
	{
		sm_ops_set_owner(0);
		bump_cur = bump_end = NULL;
		/*
		 * Free the block, but keep this transaction's other pins: the error
		 * may be caught (a PL/pgSQL exception block) and the statement go on
		 * with models it already pinned.
		 */
		LWLockAcquire(hdr->lock, LW_EXCLUSIVE);
		if (s->state == SLOT_LOADING && s->builder == MyProcPid)
			slot_clear(s);
		building = -1;
		LWLockRelease(hdr->lock);
		ConditionVariableBroadcast(&hdr->built);
		PG_RE_THROW();
	}
	PG_END_TRY();
	bump_cur = bump_end = NULL;
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	protect(s, PROT_READ);

	LWLockAcquire(hdr->lock, LW_EXCLUSIVE);
	s->model = m;
	s->state = SLOT_READY;
	s->builder = 0;
	s->loaded_at = GetCurrentTimestamp();
	s->load_ms = INSTR_TIME_GET_MILLISEC(elapsed);
	building = -1;
	hdr->builds++;
	pin_locked(i);
	*slot = i;
	*gen = s->gen;
	LWLockRelease(hdr->lock);
	ConditionVariableBroadcast(&hdr->built);
	return m;
}

/* a dropped model: its copies are no longer found; freed now or at their last unpin */
void
sm_shared_forget(const char *name)
{
	if (hdr == NULL)
		return;
	LWLockAcquire(hdr->lock, LW_EXCLUSIVE);
	retire_other_versions(name, -1);
	LWLockRelease(hdr->lock);
}

uint64
sm_shared_owner(int slot, uint64 gen)
{
	return ((uint64) 1 << 63) | (gen << 32);
}

PG_FUNCTION_INFO_V1(sm_shared_cache_info);
/*
 * seqmodel.shared_cache_info(): the cluster's shared copies (empty without
 * the shared cache), with the readers pinning each now.
 */
Datum
sm_shared_cache_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const states[] = {"empty", "loading", "ready", "retired"};

	InitMaterializedSRF(fcinfo, 0);
	if (hdr == NULL)
		return (Datum) 0;
	LWLockAcquire(hdr->lock, LW_SHARED);
	for (int i = 0; i < SHARED_SLOTS; i++)
	{
		shared_slot *s = &hdr->slots[i];
		Datum		values[9];
		bool		nulls[9] = {0};

		if (s->state == SLOT_EMPTY)
			continue;
		values[0] = CStringGetTextDatum(s->name);
		values[1] = Int64GetDatum(s->version);
		values[2] = CStringGetTextDatum(states[s->state]);
		values[3] = Int64GetDatum((int64) s->len);
		values[4] = Int32GetDatum(s->readers);
		values[5] = Int64GetDatum(s->hits);
		values[6] = TimestampTzGetDatum(s->loaded_at);
		nulls[6] = s->state == SLOT_LOADING;
		values[7] = TimestampTzGetDatum(s->last_used);
		nulls[7] = s->last_used == 0;
		values[8] = Float8GetDatum(s->load_ms);
		nulls[8] = s->state == SLOT_LOADING;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(hdr->lock);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(sm_shared_cache_stats);
/* seqmodel.shared_cache_stats(): the area's size, use and counters */
Datum
sm_shared_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};
	Size		free_bytes = 0;
	int			models = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (hdr == NULL)
	{
		values[0] = BoolGetDatum(false);
		for (int i = 1; i < 7; i++)
			values[i] = Int64GetDatum(0);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	}
	LWLockAcquire(hdr->lock, LW_SHARED);
	for (int i = 0; i < hdr->n_free; i++)
		free_bytes += hdr->free[i].len;
	for (int i = 0; i < SHARED_SLOTS; i++)
		models += hdr->slots[i].state != SLOT_EMPTY;
	values[0] = BoolGetDatum(true);
	values[1] = Int64GetDatum((int64) hdr->size);
	values[2] = Int64GetDatum((int64) (hdr->size - free_bytes));
	values[3] = Int64GetDatum(models);
	values[4] = Int64GetDatum((int64) hdr->builds);
	values[5] = Int64GetDatum((int64) hdr->evictions);
	values[6] = Int64GetDatum((int64) hdr->fallbacks);
	LWLockRelease(hdr->lock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
