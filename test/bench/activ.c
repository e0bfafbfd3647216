/*
 * activ.c -- the fused passes' own speed, L1-hot, one thread: the LSTM and
 * GRU cells (ns per hidden unit, H = 64), bias + activation over rows of
 * 1024 (ns per element, 8 and 128 rows: in L1 and in L2) and softmax over
 * attention rows of 128 and 512 keys.  Not a comparison
 * with a peer: what a change to ops/sm_activ_kernels.h costs or saves.
 * Best of 20 rounds (the developer machines are noisy: compare two builds
 * alternately, several times).
 *
 *   make src/engine/libsmengine.a
 *   cc -O2 -Isrc/engine -o /tmp/activ test/bench/activ.c src/engine/libsmengine.a -lopenblas -lm -lpthread
 *   /tmp/activ
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops/sm_activ.h"
#include "ops/sm_ops.h"

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int
main(void)
{
	enum
	{
		H = 64, CALLS = 100000, ROUNDS = 20
	};
	static const struct
	{
		sm_act		act;
		const char *name;
	}			acts[] = {{SM_ACT_GELU, "gelu"}, {SM_ACT_GELU_TANH, "gelu_tanh"}, {SM_ACT_RELU, "relu"},
	{SM_ACT_IDENTITY, "bias only"}};
	float		g[4 * H],
				b[4 * H],
				c[H],
				h[H],
				gx[3 * H],
				gh[3 * H];
	static float bias[1024];
	double		lstm = 1e9,
				gru = 1e9;

	printf("kernels %s\n", sm_kernels_name(sm_ops_kernels()));
	for (int i = 0; i < 4 * H; i++)
	{
		g[i] = (float) (i % 13 - 6) * 0.3f;
		b[i] = 0.01f * (float) i;
	}
	for (int i = 0; i < 1024; i++)
		bias[i] = 0.001f * (float) (i % 97);
	for (int i = 0; i < H; i++)
		c[i] = h[i] = 0.1f * (float) (i % 5);
	for (int i = 0; i < 3 * H; i++)
	{
		gx[i] = (float) (i % 11 - 5) * 0.2f;
		gh[i] = (float) (i % 7 - 3) * 0.3f;
	}
	for (int r = 0; r < ROUNDS; r++)
	{
		double		t = now();

		for (int i = 0; i < CALLS; i++)
		{
			sm_lstm_cell(g, b, c, h, H);
			c[i & (H - 1)] *= 0.5f;	/* keep the state from settling */
		}
		t = now() - t;
		lstm = t < lstm ? t : lstm;
		t = now();
		for (int i = 0; i < CALLS; i++)
		{
			sm_gru_cell(gx, b, gh, b, h, H);
			h[i & (H - 1)] *= 0.5f;
		}
		t = now() - t;
		gru = t < gru ? t : gru;
	}
	printf("lstm cell %.2f ns per unit, gru cell %.2f ns per unit (H %d)\n",
		   lstm / CALLS / H * 1e9, gru / CALLS / H * 1e9, H);
	for (size_t a = 0; a < sizeof(acts) / sizeof(acts[0]); a++)
		for (int rows = 8; rows <= 128; rows *= 16)
		{
			size_t		n = (size_t) rows * 1024;
			float	   *x = malloc(n * sizeof(float)),
					   *x0 = malloc(n * sizeof(float));
			double		best = 1e9;

			for (size_t i = 0; i < n; i++)
				x0[i] = (float) ((int) (i * 7919 % 20001) - 10000) / 2500.0f;
			for (int r = 0; r < 50; r++)
			{
				double		t;

				for (size_t i = 0; i < n; i++)
					x[i] = x0[i];
				t = now();
				sm_bias_act(x, bias, (size_t) rows, 1024, acts[a].act);
				t = now() - t;
				best = t < best ? t : best;
			}
			printf("bias + %-9s %3d x 1024: %.3f ns per element\n", acts[a].name, rows, best / n * 1e9);
			free(x);
			free(x0);
		}
	/* softmax over attention rows: 128 rows of 128 and of 512 keys (64 and 256 kB: L2) */
	for (int keys = 128; keys <= 512; keys *= 4)
	{
		size_t		n = (size_t) 128 * keys;
		float	   *x = malloc(n * sizeof(float)),
				   *x0 = malloc(n * sizeof(float));
		double		best = 1e9;

		for (size_t i = 0; i < n; i++)
			x0[i] = (float) ((int) (i * 7919 % 20001) - 10000) / 2500.0f;
		for (int r = 0; r < 50; r++)
		{
			double		t;

			for (size_t i = 0; i < n; i++)
				x[i] = x0[i];
			t = now();
			for (int row = 0; row < 128; row++)
				sm_softmax(x + (size_t) row * keys, keys);
			t = now() - t;
			best = t < best ? t : best;
		}
		printf("softmax   128 x %4d: %.3f ns per element\n", keys, best / n * 1e9);
		free(x);
		free(x0);
	}
	return 0;
}
