/*
 * handoff.c -- the cost of handing work between two threads on this machine:
 * two threads bounce one cache line (an atomic counter) 200,000 times and
 * the mean round trip is printed.  Why the batch-1 recurrence is not split
 * step by step over threads (nn/sm_rnn.c, run_layers_pipelined): a step of
 * W5's LSTM is about 1.6 us of work, and each hand-off costs a round trip.
 *
 *   gcc -O2 -o /tmp/handoff test/bench/handoff.c -lpthread && /tmp/handoff
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define ROUNDS 200000

static int	flag __attribute__((aligned(64)));

static inline void
relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void *
other(void *arg)
{
	for (int i = 0; i < ROUNDS; i++)
	{
		while (__atomic_load_n(&flag, __ATOMIC_ACQUIRE) != 2 * i + 1)
			relax();
		__atomic_store_n(&flag, 2 * i + 2, __ATOMIC_RELEASE);
	}
	return arg;
}

int
main(void)
{
	pthread_t	t;
	struct timespec a,
				b;

	pthread_create(&t, NULL, other, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < ROUNDS; i++)
	{
		__atomic_store_n(&flag, 2 * i + 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(&flag, __ATOMIC_ACQUIRE) != 2 * i + 2)
			relax();
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(t, NULL);
	printf("round trip between two threads: %.0f ns\n",
		   ((double) (b.tv_sec - a.tv_sec) * 1e9 + (double) (b.tv_nsec - a.tv_nsec)) / ROUNDS);
	return 0;
}
