/*
 * sm_parallel.h -- run independent pieces of work ("tiles") on up to
 * sm_get_threads() threads.
 *
 * The calling thread takes part as worker 0 and is the only one that may
 * call the hooks: it polls sm_should_abort() (through sm_par_should_stop)
 * and raises a stop flag every worker sees.  Workers never allocate through
 * the hooks and never report: everything they need is allocated before
 * sm_par_run, per worker.  Workers block all signals, so the host's signal
 * handlers keep running on the calling thread.  While workers run, OpenBLAS
 * is held to one thread per call (the tiles are the parallelism).
 */
#ifndef SM_PARALLEL_H
#define SM_PARALLEL_H

#include "core/sm_core.h"

typedef struct sm_par
{
	int			worker;			/* 0 = the calling thread */
	volatile int *stop;			/* shared: set to stop every worker */
} sm_par;

/* fn(ctx, par, tile, err) for tile = 0 .. n_tiles-1, on up to n_workers threads */
typedef sm_status (*sm_tile_fn) (void *ctx, const sm_par *par, int tile, sm_error *err);

sm_status	sm_par_run(int n_tiles, int n_workers, sm_tile_fn fn, void *ctx, sm_error *err);

/* Polled by tile functions: true when the work must stop (and why in err). */
bool		sm_par_should_stop(const sm_par *par);

#endif
