/*
 * sm_pool.c -- the product thread pool (see sm_pool.h).
 *
 * One job at a time, described by one 64-bit word: its generation, its
 * item count and the next item to take.  The caller publishes the job's
 * function and context, then the word (release); every thread, the caller
 * included, claims items by compare-and-swap on the word, and reads the
 * function and context only after a successful claim.  A claim names the
 * generation, so a worker that wakes late can never take an item of a job
 * that is over or of a later one, and the caller waits only for the items
 * someone claimed, never for a worker that is not running: on a machine
 * whose other cores are busy, a descheduled worker costs nothing (before,
 * the caller waited for every worker to acknowledge every job, and one
 * descheduled worker stalled a 0.4 ms forward pass to 9 ms).
 */
#include "sm_pool.h"
#include "sm_cpu.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define POOL_MAX 63				/* workers besides the caller */
#define SPIN_ROUNDS 20000		/* polls (with a pause) before a worker sleeps: about 0.5 ms */

/* the job word: generation (24 bits) | item count (20 bits) | next item (20 bits) */
#define W_GEN(w) ((uint32_t) ((w) >> 40))
#define W_N(w) ((int) (((w) >> 20) & 0xFFFFF))
#define W_NEXT(w) ((int) ((w) & 0xFFFFF))
#define W_MAKE(g, n) (((uint64_t) ((g) & 0xFFFFFF) << 40) | ((uint64_t) (n) << 20))
#define MAX_ITEMS 0xFFFFF

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int	started = 0;		/* workers running */
static uint64_t job_word = 0;	/* atomic */
static void (*job_fn) (void *, int);
static void *job_ctx;
static int	job_done;			/* items finished (atomic) */
static int	job_workers;		/* workers 0 .. job_workers-1 take part (atomic; a stale
								 * value only changes who helps, never what is done) */
static uint32_t start_gen[POOL_MAX];	/* the generation current when each worker started */

/* claim and run items of generation g until none is left */
static void
take_items(uint32_t g)
{
	uint64_t	w = __atomic_load_n(&job_word, __ATOMIC_ACQUIRE);

	for (;;)
	{
		int			i;

		if (W_GEN(w) != (g & 0xFFFFFF) || W_NEXT(w) >= W_N(w))
			return;
		i = W_NEXT(w);
		if (__atomic_compare_exchange_n(&job_word, &w, w + 1, false,
										__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		{
			job_fn(job_ctx, i);
			__atomic_fetch_add(&job_done, 1, __ATOMIC_RELEASE);
			w = __atomic_load_n(&job_word, __ATOMIC_ACQUIRE);
		}
		/* else w holds the word as it is now: try again */
	}
}

static void *
worker_main(void *arg)
{
	int			me = (int) (intptr_t) arg;
	uint32_t	seen = start_gen[me];

	for (;;)
	{
		uint32_t	g;
		int			spins = 0;

		while ((g = W_GEN(__atomic_load_n(&job_word, __ATOMIC_ACQUIRE))) == seen)
		{
			if (++spins < SPIN_ROUNDS)
			{
				sm_cpu_pause();
				continue;
			}
			pthread_mutex_lock(&mu);
			while ((g = W_GEN(__atomic_load_n(&job_word, __ATOMIC_ACQUIRE))) == seen)
				pthread_cond_wait(&cv, &mu);
			pthread_mutex_unlock(&mu);
			break;
		}
		seen = g;
		if (me < __atomic_load_n(&job_workers, __ATOMIC_RELAXED))
			take_items(g);
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

		start_gen[started] = W_GEN(__atomic_load_n(&job_word, __ATOMIC_RELAXED));
		if (pthread_create(&t, NULL, worker_main, (void *) (intptr_t) started) != 0)
			break;
		pthread_detach(t);
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
sm_pool_run(int threads, int n, void (*fn) (void *ctx, int i), void *ctx)
{
	uint32_t	g;

	if (threads > n)
		threads = n;
	if (threads <= 1 || n > MAX_ITEMS)
	{
		for (int i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	grow(threads - 1);
	job_fn = fn;
	job_ctx = ctx;
	__atomic_store_n(&job_workers, threads - 1, __ATOMIC_RELAXED);
	__atomic_store_n(&job_done, 0, __ATOMIC_RELAXED);
	g = (W_GEN(__atomic_load_n(&job_word, __ATOMIC_RELAXED)) + 1) & 0xFFFFFF;
	pthread_mutex_lock(&mu);
	__atomic_store_n(&job_word, W_MAKE(g, n), __ATOMIC_RELEASE);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	take_items(g);
	/* only items someone claimed are outstanding */
	while (__atomic_load_n(&job_done, __ATOMIC_ACQUIRE) < n)
		sm_cpu_pause();
}
