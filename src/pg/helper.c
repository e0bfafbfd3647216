/*
 * helper.c -- one engine call on a helper thread while the backend goes on.
 *
 * forecast_query reads its query's rows on the backend's thread (the
 * executor is not thread-safe) and, with seqmodel.threads of 2 or more,
 * hands each full batch to a helper thread, so that the next batch's rows
 * are read while this one is forecast (the rows of W1's 4096 series take
 * about 100 ms to read, a fifth of the forecast on two threads).
 *
 * The helper runs the engine detached (sm_detach_begin): malloc instead of
 * palloc, a stop flag instead of CHECK_FOR_INTERRUPTS, no reports; it never
 * touches PostgreSQL.  Everything it reads or writes is allocated by the
 * backend before it starts and freed after it is joined.  One call at a
 * time per backend: the slot has an owner, and the engine's shared state
 * (threads, kernel set, product pool) must not see two calls at once, so
 * every other engine entry of the glue (the model cache, the settings'
 * assign hooks) first waits for the call in flight (sm_pg_helper_quiesce),
 * leaving its result to its owner.
 *
 * Errors: the owner's PG_FINALLY calls sm_pg_helper_stop, which raises the
 * stop flag and joins, so no helper outlives the memory it uses.  The
 * helper's thread blocks every signal: PostgreSQL's handlers keep running
 * on the backend's thread.
 */
#include "sm_pg.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "miscadmin.h"

typedef struct helper_slot
{
	const void *owner;			/* NULL: free */
	sm_pg_helper_fn fn;
	void	   *arg;
	pthread_t	thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool		finished;		/* under lock */
	bool		joined;
	volatile int stop;
	sm_status	rc;
	sm_error	err;
} helper_slot;

static helper_slot slot = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static void *
helper_main(void *unused)
{
	sm_error	err;
	sm_status	rc;

	sm_error_clear(&err);
	sm_detach_begin(&slot.stop);
	rc = slot.fn(slot.arg, &err);
	sm_detach_end();
	pthread_mutex_lock(&slot.lock);
	slot.rc = rc;
	slot.err = err;
	slot.finished = true;
	pthread_cond_signal(&slot.cond);
	pthread_mutex_unlock(&slot.lock);
	return NULL;
}

bool
sm_pg_helper_start(const void *owner, sm_pg_helper_fn fn, void *arg)
{
	sigset_t	all,
				old;
	int			rc;

	if (slot.owner != NULL)		/* a call in flight or not yet collected (a nested query) */
		return false;
	slot.fn = fn;
	slot.arg = arg;
	slot.finished = false;
	slot.joined = false;
	slot.stop = 0;
	slot.rc = SM_OK;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&slot.thread, NULL, helper_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return false;			/* no thread: the caller runs it itself */
	slot.owner = owner;
	return true;
}

/* wait until the call in flight has returned; interruptible: CHECK_FOR_INTERRUPTS between waits */
static void
helper_join(bool interruptible)
{
	if (slot.owner == NULL || slot.joined)
		return;
	pthread_mutex_lock(&slot.lock);
	while (!slot.finished)
	{
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 1000000;	/* 1 ms: answer a cancel promptly */
		if (until.tv_nsec >= 1000000000L)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&slot.cond, &slot.lock, &until);
		if (!slot.finished && interruptible && INTERRUPTS_PENDING_CONDITION())
		{
			pthread_mutex_unlock(&slot.lock);
			/* an ERROR here unwinds to the owner's PG_FINALLY, which stops the helper */
			CHECK_FOR_INTERRUPTS();
			pthread_mutex_lock(&slot.lock);
		}
	}
	pthread_mutex_unlock(&slot.lock);
	pthread_join(slot.thread, NULL);
	slot.joined = true;
}

sm_status
sm_pg_helper_wait(const void *owner, sm_error *err)
{
	sm_status	rc;

	Assert(slot.owner == owner);
	helper_join(true);
	rc = slot.rc;
	if (rc != SM_OK)
		*err = slot.err;
	slot.owner = NULL;
	return rc;
}

bool
sm_pg_helper_busy(const void *owner)
{
	return slot.owner != NULL && slot.owner == owner;
}

void
sm_pg_helper_quiesce(void)
{
	helper_join(true);
}

void
sm_pg_helper_quiesce_quietly(void)
{
	helper_join(false);
}

void
sm_pg_helper_stop(const void *owner)
{
	if (slot.owner != owner)
		return;
	slot.stop = 1;
	helper_join(false);
	slot.owner = NULL;
}
