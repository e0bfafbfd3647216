/*
 * sm_parallel.c -- the tile runner (see sm_parallel.h).
 */
#include "sm_parallel.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "sm_ops.h"

typedef struct par_run
{
	int			n_tiles;
	sm_tile_fn	fn;
	void	   *ctx;
	int			next;			/* next tile to take (atomic) */
	volatile int stop;
	sm_status	rc;				/* first failure */
	sm_error	err;
	pthread_mutex_t lock;
	int			finished;		/* workers done (atomic) */
} par_run;

typedef struct par_worker
{
	par_run    *run;
	sm_par		par;
	pthread_t	thread;
} par_worker;

bool
sm_par_should_stop(const sm_par *par)
{
	if (par->worker == 0 && sm_should_abort())
	{
		*par->stop = 1;
		return true;
	}
	return *par->stop != 0;
}

static void *
worker_main(void *arg)
{
	par_worker *w = arg;
	par_run    *run = w->run;

	for (;;)
	{
		int			tile = __atomic_fetch_add(&run->next, 1, __ATOMIC_RELAXED);
		sm_error	err;
		sm_status	rc;

		if (tile >= run->n_tiles || run->stop)
			break;
		rc = run->fn(run->ctx, &w->par, tile, &err);
		if (rc != SM_OK)
		{
			pthread_mutex_lock(&run->lock);
			/* keep the first real failure; an abort seen elsewhere is secondary */
			if (run->rc == SM_OK || (run->rc == SM_ERR_ABORTED && rc != SM_ERR_ABORTED))
			{
				run->rc = rc;
				run->err = err;
			}
			pthread_mutex_unlock(&run->lock);
			run->stop = 1;
			break;
		}
	}
	__atomic_fetch_add(&run->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

sm_status
sm_par_run(int n_tiles, int n_workers, sm_tile_fn fn, void *ctx, sm_error *err)
{
	par_run		run;
	par_worker	workers[64];
	int			started = 1;

	if (n_workers > n_tiles)
		n_workers = n_tiles;
	if (n_workers > 64)
		n_workers = 64;
	if (n_workers < 1)
		n_workers = 1;
	memset(&run, 0, sizeof(run));
	run.n_tiles = n_tiles;
	run.fn = fn;
	run.ctx = ctx;
	run.rc = SM_OK;
	pthread_mutex_init(&run.lock, NULL);

	for (int i = 0; i < n_workers; i++)
	{
		workers[i].run = &run;
		workers[i].par.worker = i;
		workers[i].par.stop = &run.stop;
	}
	if (n_workers > 1)
	{
		sigset_t	all,
					old;

		sm_ops_set_threads(1);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (int i = 1; i < n_workers; i++)
		{
			if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
				break;			/* run with the threads we have */
			started++;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	worker_main(&workers[0]);
	/* keep answering cancels while the other workers finish */
	while (__atomic_load_n(&run.finished, __ATOMIC_ACQUIRE) < started)
	{
		struct timespec ms = {0, 1000000};

		if (!run.stop && sm_should_abort())
			run.stop = 1;
		nanosleep(&ms, NULL);
	}
	for (int i = 1; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	if (n_workers > 1)
		sm_ops_set_threads(sm_get_threads());
	pthread_mutex_destroy(&run.lock);
	/* stopped between tiles: some tiles never ran */
	if (run.stop && run.rc == SM_OK)
		return sm_fail(err, SM_ERR_ABORTED, "canceled");
	if (run.rc != SM_OK)
		*err = run.err;
	return run.rc;
}
