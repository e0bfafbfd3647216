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

int			sm_cache_size_kb = CACHE_SIZE_KB_DEFAULT;

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
	MarkGUCPrefixReserved("seqmodel");
	sm_pg_install_hooks();
}
