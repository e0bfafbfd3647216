/*
 * sm_threads.c -- how many threads one engine call may use.
 *
 * OpenBLAS keeps its own pool; we set its size here so a backend (and each
 * parallel worker) uses what seqmodel.threads allows, not every core.
 */
#include "core/sm_core.h"

#include "sm_blas.h"

static int	n_threads = 0;		/* 0: not set yet (OpenBLAS uses every core) */

void
sm_set_threads(int n)
{
	if (n < 1)
		n = 1;
	if (n != n_threads)
	{
		n_threads = n;
		openblas_set_num_threads(n);
	}
}

int
sm_get_threads(void)
{
	return n_threads > 0 ? n_threads : 1;
}
