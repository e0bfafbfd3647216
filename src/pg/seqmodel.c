/*
 * seqmodel.c -- module entry: GUCs and engine hooks.
 *
 * Nothing here needs shared_preload_libraries: the library loads on first
 * use in each backend.  No CUDA or other heavy state is touched at load time
 * (the postmaster may load us, and such state does not survive fork).
 */
#include "sm_pg.h"

#include <limits.h>

#include "utils/guc.h"

PG_MODULE_MAGIC;

#define CACHE_SIZE_KB_MIN 1024						/* 1 MB */
#define CACHE_SIZE_KB_DEFAULT (1024 * 1024)			/* 1 GB */
#define CACHE_SIZE_KB_MAX INT_MAX					/* 2 TB */

#define THREADS_DEFAULT 1
#define THREADS_MAX 64
#define MAX_HORIZON_DEFAULT 10000
#define MAX_HORIZON_MAX 10000000

int			sm_cache_size_kb = CACHE_SIZE_KB_DEFAULT;
int			sm_threads = THREADS_DEFAULT;
int			sm_max_horizon = MAX_HORIZON_DEFAULT;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("seqmodel.cache_size",
							"Memory each backend may use to keep loaded models.",
							"Least recently used models are evicted to stay within it; "
							"a model larger than this cannot be run.",
							&sm_cache_size_kb,
							CACHE_SIZE_KB_DEFAULT, CACHE_SIZE_KB_MIN, CACHE_SIZE_KB_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("seqmodel.threads",
							"Threads one model call may use (OpenBLAS and the engine).",
							"Parallel query workers each use this many; 1 suits many concurrent sessions.",
							&sm_threads,
							THREADS_DEFAULT, 1, THREADS_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("seqmodel.max_horizon",
							"Longest forecast horizon, in steps.",
							NULL,
							&sm_max_horizon,
							MAX_HORIZON_DEFAULT, 1, MAX_HORIZON_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("seqmodel");
	sm_pg_install_hooks();
}
