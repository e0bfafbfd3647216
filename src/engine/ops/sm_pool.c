/*
 * sm_pool.c -- the product thread pool (see sm_pool.h).
 *
 * One job at a time: the caller publishes it (function, context, item
 * count, how many workers take part) and bumps the generation; every
 * started worker acknowledges every generation, taking items only if it is
 * among the job's workers, and the caller waits for all acknowledgements
 * before it returns.  So a job's state is never read after its caller has
 * moved on, and no per-job allocation is needed.
 */
#include "sm_pool.h"

#include <pthread.h>
#include <signal.h>

#define POOL_MAX 63				/* workers besides the caller */
#define SPIN_ROUNDS 40000		/* polls (with a pause) before a worker sleeps: ~1 ms */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int	started = 0;		/* workers running */
static unsigned gen = 0;		/* job generation (atomic) */
static void (*job_fn) (void *, int);
static void *job_ctx;
static int	job_n;
static int	job_workers;		/* workers 0 .. job_workers-1 take items */
static int	job_next;			/* next item (atomic) */
static int	job_pending;		/* workers yet to acknowledge (atomic) */
static unsigned start_gen[POOL_MAX];	/* the generation each worker started at */

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void
take_items(void)
{
	int			i;

	while ((i = __atomic_fetch_add(&job_next, 1, __ATOMIC_RELAXED)) < job_n)
		job_fn(job_ctx, i);
}

static void *
worker_main(void *arg)
{
	int			me = (int) (long) arg;
	unsigned	seen = start_gen[me];	/* jobs from the next one on are ours */

	for (;;)
	{
		unsigned	g;
		int			spins = 0;

		while ((g = __atomic_load_n(&gen, __ATOMIC_ACQUIRE)) == seen)
		{
			if (++spins < SPIN_ROUNDS)
			{
				cpu_relax();
				continue;
			}
			pthread_mutex_lock(&mu);
			while ((g = __atomic_load_n(&gen, __ATOMIC_ACQUIRE)) == seen)
				pthread_cond_wait(&cv, &mu);
			pthread_mutex_unlock(&mu);
			break;
		}
		seen = g;
		if (me < job_workers)
			take_items();
		__atomic_fetch_sub(&job_pending, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* start workers up to `want` (as many as can be had) */
static void
grow(int want)
{
	sigset_t	all,
				old;

	if (want > POOL_MAX)
		want = POOL_MAX;
	if (started >= want)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (started < want)
	{
		pthread_t	t;

		/* no job is in flight here: the new worker waits for the next one */
		start_gen[started] = __atomic_load_n(&gen, __ATOMIC_RELAXED);
		if (pthread_create(&t, NULL, worker_main, (void *) (long) started) != 0)
			break;
		pthread_detach(t);
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
sm_pool_run(int threads, int n, void (*fn) (void *ctx, int i), void *ctx)
{
	if (threads > n)
		threads = n;
	if (threads <= 1)
	{
		for (int i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	grow(threads - 1);
	job_fn = fn;
	job_ctx = ctx;
	job_n = n;
	job_workers = threads - 1 < started ? threads - 1 : started;
	__atomic_store_n(&job_next, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&job_pending, started, __ATOMIC_RELAXED);
	pthread_mutex_lock(&mu);
	__atomic_add_fetch(&gen, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	take_items();
	while (__atomic_load_n(&job_pending, __ATOMIC_ACQUIRE) > 0)
		cpu_relax();
}
