/*
 * engine_hooks.c -- the engine's view of PostgreSQL: allocation in the
 * current memory context, cancel checks, and turning engine errors into
 * ereport with the right SQLSTATE.
 */
#include "sm_pg.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* when set, engine allocations go here instead of CurrentMemoryContext */
MemoryContext sm_pg_alloc_context = NULL;

/*
 * palloc, but returning NULL on failure instead of longjmp'ing through
 * engine frames; "huge" so a large tensor (> 1 GB) can be held.
 */
static void *
pg_engine_alloc(size_t size)
{
	bool		handled;
	void	   *p = sm_shared_bump_alloc(size, &handled);

	/* building a model into the shared cache: its bump allocator answers */
	if (handled)
		return p;
	return MemoryContextAllocExtended(sm_pg_alloc_context ? sm_pg_alloc_context : CurrentMemoryContext,
									  size, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
pg_engine_free(void *ptr)
{
	/* a shared model's block is freed whole, when its last reader leaves */
	if (sm_shared_owns(ptr))
		return;
	pfree(ptr);
}

/* the engine unwinds and returns SM_ERR_ABORTED; the caller then raises (a cancel, or a GPU failure under "cuda") */
static bool
pg_engine_should_abort(void)
{
	return (InterruptPending && (QueryCancelPending || ProcDiePending)) || sm_pg_device_should_stop();
}

static void
pg_engine_report(const char *msg)
{
	elog(DEBUG1, "seqmodel engine: %s", msg);
}

void
sm_pg_install_hooks(void)
{
	static const sm_hooks hooks = {
		pg_engine_alloc, pg_engine_free, pg_engine_should_abort, pg_engine_report
	};

	sm_set_hooks(&hooks);
}

void
sm_pg_raise(const sm_error *err)
{
	int			sqlstate;

	switch (err->code)
	{
		case SM_ERR_INVALID:
			sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
		case SM_ERR_CORRUPT:
			sqlstate = ERRCODE_INVALID_BINARY_REPRESENTATION;
			break;
		case SM_ERR_NULL:
			sqlstate = ERRCODE_NULL_VALUE_NOT_ALLOWED;
			break;
		case SM_ERR_LIMIT:
			sqlstate = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
			break;
		case SM_ERR_RANGE:
			sqlstate = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
			break;
		case SM_ERR_UNSUPPORTED:
			sqlstate = ERRCODE_FEATURE_NOT_SUPPORTED;
			break;
		case SM_ERR_NOMEM:
			sqlstate = ERRCODE_OUT_OF_MEMORY;
			break;
		case SM_ERR_ABORTED:
			/* normally a cancel or terminate is pending: let it speak; else a failed GPU product */
			CHECK_FOR_INTERRUPTS();
			sm_pg_device_check();
			sqlstate = ERRCODE_QUERY_CANCELED;
			break;
		default:
			sqlstate = ERRCODE_INTERNAL_ERROR;
			break;
	}
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", err->message),
			 err->detail[0] ? errdetail_internal("%s", err->detail) : 0,
			 err->hint[0] ? errhint("%s", err->hint) : 0));
	pg_unreachable();
}

char *
sm_pg_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}
