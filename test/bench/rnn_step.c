/*
 * rnn_step.c -- one fused LSTM step of a tile, alone in a loop, one thread:
 * the product g = x W_ih^T + h W_hh^T over the tile's rows (sm_gemm_packed2,
 * as nn/sm_rnn.c's fused step) and then the cell on every row, in ns per
 * row, for hidden sizes 32-256 and tiles of 32-256 rows.  What `tile_rows`
 * in nn/sm_rnn.c is chosen by: a step whose rows and weights stay in L2 runs
 * faster per row.  Not a comparison with a peer; compare row counts within
 * one run (the development VMs drift from minute to minute).
 *
 *   make src/engine/libsmengine.a
 *   cc -O2 -Isrc/engine -o /tmp/rnn_step test/bench/rnn_step.c src/engine/libsmengine.a -lopenblas -lm -lpthread
 *   /tmp/rnn_step
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/sm_activ.h"
#include "ops/sm_gemm.h"
#include "ops/sm_ops.h"

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *
urand(size_t n, float scale)
{
	float	   *x = malloc(sizeof(float) * n);

	for (size_t i = 0; i < n; i++)
		x[i] = ((float) rand() / (float) RAND_MAX - 0.5f) * scale;
	return x;
}

static float *
packed(int N, int K)
{
	float	   *W = urand((size_t) N * K, 0.2f);
	float	   *P = aligned_alloc(64, (sizeof(float) * sm_pack_floats(N, K) + 63) / 64 * 64);

	sm_pack_into(P, W, K, N, K, false);
	free(W);
	return P;
}

int
main(void)
{
	static const int hidden[] = {32, 64, 128, 256};
	static const int tiles[] = {32, 64, 128, 256};
	sm_kernels	k = sm_ops_kernels();

	if (k == SM_KERNELS_BLAS)
		k = SM_KERNELS_GENERIC;
	printf("kernels %s; ns per row of one step (product + cells), fastest of 5\n", sm_kernels_name(k));
	printf("%6s", "hidden");
	for (size_t t = 0; t < sizeof(tiles) / sizeof(tiles[0]); t++)
		printf(" %8d rows", tiles[t]);
	printf("\n");
	for (size_t a = 0; a < sizeof(hidden) / sizeof(hidden[0]); a++)
	{
		const int	H = hidden[a],
					G = 4 * H;
		float	   *Pi = packed(G, H),
				   *Ph = packed(G, H),
				   *b = urand((size_t) G, 0.1f);

		printf("%6d", H);
		for (size_t t = 0; t < sizeof(tiles) / sizeof(tiles[0]); t++)
		{
			const int	R = tiles[t];
			float	   *x = urand((size_t) R * H, 1.0f),
					   *h = urand((size_t) R * H, 1.0f),
					   *c = urand((size_t) R * H, 1.0f),
					   *g = urand((size_t) R * G, 1.0f);
			sm_gemm_seg s2 = {Ph, sm_pack_stride(H), H, h, H};
			/* about 0.2 s of work per timing */
			int			reps = (int) (3e8 / ((double) R * H * G * 4)) + 1;
			double		best = 1e9;

			for (int round = 0; round < 5; round++)
			{
				double		t0 = now();

				for (int r = 0; r < reps; r++)
				{
					sm_gemm_packed2(k, Pi, sm_pack_stride(H), G, H, x, H, &s2, 0, R, g, G);
					for (int i = 0; i < R; i++)
						sm_lstm_cell(g + (size_t) i * G, b, c + (size_t) i * H, h + (size_t) i * H, H);
				}
				t0 = (now() - t0) / reps / R * 1e9;
				best = t0 < best ? t0 : best;
			}
			printf(" %13.1f", best);
			free(x);
			free(h);
			free(c);
			free(g);
		}
		printf("\n");
		free(Pi);
		free(Ph);
		free(b);
	}
	return 0;
}
