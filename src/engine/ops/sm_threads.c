/*
 * sm_threads.c -- how many threads one engine call may use.
 *
 * The engine's tiles use up to this many threads (sm_parallel.h); the
 * backend sizes its own pool (OpenBLAS's, for the blas kernels) to match,
 * so a backend uses what seqmodel.threads allows, not every core.
 */
#include "core/sm_core.h"

#include "sm_ops.h"

static int	n_threads = 0;		/* 0: not set yet (OpenBLAS uses every core) */

void
sm_set_threads(int n)
{
	if (n < 1)
		n = 1;
	if (n != n_threads)
	{
		n_threads = n;
		sm_ops_set_threads(n);
	}
}

int
sm_get_threads(void)
{
	return n_threads > 0 ? n_threads : 1;
}
