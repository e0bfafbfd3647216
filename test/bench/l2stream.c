/*
 * l2stream.c -- how fast this core streams a buffer it reads over and over:
 * bytes per cycle from L1, L2 and beyond, by the pattern of a batch-1 product
 * (256-bit loads, each into one of 8 multiply-add chains), and the clock by a
 * chain of dependent adds.  A bound, not a comparison: at batch 1 a recurrent
 * step reads all of its W_hh, so a model whose weights exceed L1 cannot run
 * its steps faster than this streams them (test/bench/README.md, the W5
 * LSTM's 0.3 ms).  AVX2 + FMA only (x86-64).
 *
 *   cc -O2 -o /tmp/l2stream test/bench/l2stream.c && /tmp/l2stream
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx2,fma")))
static float
stream(const float *p, size_t n, int reps)
{
	__m256		a[8],
				x = _mm256_set1_ps(1.0001f),
				s;
	float		o[8];

	for (int v = 0; v < 8; v++)
		a[v] = _mm256_setzero_ps();
	for (int r = 0; r < reps; r++)
		for (size_t i = 0; i < n; i += 64)
#pragma GCC unroll 8
			for (int v = 0; v < 8; v++)
				a[v] = _mm256_fmadd_ps(x, _mm256_load_ps(p + i + 8 * v), a[v]);
	s = a[0];
	for (int v = 1; v < 8; v++)
		s = _mm256_add_ps(s, a[v]);
	_mm256_storeu_ps(o, s);
	return o[0];
}

/* cycles per second: one add per cycle in a chain of dependent adds (8 a round) */
static double
clock_hz(void)
{
	const long	n = 50000000;
	long		x = 0;
	double		t = now();

	for (long i = 0; i < n; i++)
		__asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
						 "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
	return 8.0 * n / (now() - t);
}

int
main(void)
{
	static const size_t kb[] = {16, 64, 128, 256, 1024, 8192};
	const double hz = clock_hz();
	volatile float sink = 0;

	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
	{
		fprintf(stderr, "l2stream: needs AVX2 and FMA\n");
		return 2;
	}
	printf("clock (dependent adds): %.2f GHz\n", hz * 1e-9);
	for (size_t s = 0; s < sizeof(kb) / sizeof(kb[0]); s++)
	{
		size_t		bytes = kb[s] * 1024,
					n = bytes / sizeof(float);
		float	   *p = aligned_alloc(64, bytes);
		int			reps = (int) (4e9 / (double) bytes);
		double		best = 1e9;

		if (p == NULL)
			return 2;
		for (size_t i = 0; i < n; i++)
			p[i] = 1.0f;
		for (int k = 0; k < 7; k++)
		{
			double		t = now();

			sink += stream(p, n, reps);
			t = now() - t;
			best = t < best ? t : best;
		}
		printf("%6zu kB: %6.1f GB/s, %5.1f bytes per cycle (fastest of 7)\n", kb[s],
			   (double) bytes * reps / best * 1e-9, (double) bytes * reps / best / hz);
		free(p);
	}
	return 0;
}
