/*
 * test_activ.c -- the vectorised activations against libm.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "ops/sm_activ.h"

#define N 200001

void
test_activ(void)
{
	float	   *x = malloc(sizeof(float) * N);
	float	   *y = malloc(sizeof(float) * N);
	double		worst_exp = 0,
				worst_sig = 0,
				worst_tanh = 0;

	/* exp over its whole finite range */
	for (int i = 0; i < N; i++)
		x[i] = y[i] = -87.0f + 175.0f * i / (N - 1);
	sm_vexp(y, N);
	for (int i = 0; i < N; i++)
	{
		double		ref = exp((double) x[i]);

		worst_exp = fmax(worst_exp, fabs(y[i] - ref) / ref);
	}
	/* sigmoid and tanh over [-30, 30], dense near 0 */
	for (int i = 0; i < N; i++)
	{
		double		u = -1.0 + 2.0 * i / (N - 1);

		x[i] = (float) (30.0 * u * u * u);
	}
	memcpy(y, x, sizeof(float) * N);
	sm_vsigmoid(y, N);
	for (int i = 0; i < N; i++)
	{
		double		ref = 1.0 / (1.0 + exp(-(double) x[i]));

		worst_sig = fmax(worst_sig, fabs(y[i] - ref) / ref);
	}
	memcpy(y, x, sizeof(float) * N);
	sm_vtanh(y, N);
	for (int i = 0; i < N; i++)
	{
		double		ref = tanh((double) x[i]);
		double		err = ref == 0 ? fabs(y[i]) : fabs(y[i] - ref) / fabs(ref);

		worst_tanh = fmax(worst_tanh, err);
	}
	printf("activations: max rel err exp %.2g, sigmoid %.2g, tanh %.2g\n", worst_exp, worst_sig, worst_tanh);
	CHECK(worst_exp < 2.5e-7);
	CHECK(worst_sig < 4e-7);
	CHECK(worst_tanh < 4e-7);

	/* GELU (exact and tanh form) over [-12, 12]: relative error where the
	 * value matters, absolute (scaled by |x|) in the far negative tail */
	{
		double		worst_gelu = 0,
					worst_gelu_tanh = 0;

		for (int i = 0; i < N; i++)
		{
			double		u = -1.0 + 2.0 * i / (N - 1);

			x[i] = (float) (12.0 * u * u * u);
		}
		memcpy(y, x, sizeof(float) * N);
		sm_bias_act(y, NULL, 1, N, SM_ACT_GELU);
		for (int i = 0; i < N; i++)
		{
			double		v = x[i],
						ref = 0.5 * v * erfc(-v / sqrt(2.0));

			worst_gelu = fmax(worst_gelu, fabs(y[i] - ref) / fmax(fabs(ref), 1e-3 * fabs(v) + 1e-30));
		}
		memcpy(y, x, sizeof(float) * N);
		sm_bias_act(y, NULL, 1, N, SM_ACT_GELU_TANH);
		for (int i = 0; i < N; i++)
		{
			double		v = x[i],
						ref = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));

			worst_gelu_tanh = fmax(worst_gelu_tanh, fabs(y[i] - ref) / fmax(fabs(ref), 1e-3 * fabs(v) + 1e-30));
		}
		printf("gelu: max rel err %.2g, tanh form %.2g\n", worst_gelu, worst_gelu_tanh);
		CHECK(worst_gelu < 2e-6);
		CHECK(worst_gelu_tanh < 2e-6);
	}
	/* softmax sums to 1 and matches the double computation */
	{
		float		v[37];
		double		sum = 0,
					worst = 0,
					mx = -1e300;

		for (int i = 0; i < 37; i++)
			v[i] = x[i * 1000] * 3.0f;
		for (int i = 0; i < 37; i++)
			mx = fmax(mx, v[i]);
		for (int i = 0; i < 37; i++)
			sum += exp(v[i] - mx);
		{
			float		w[37];

			memcpy(w, v, sizeof(w));
			sm_softmax(w, 37);
			for (int i = 0; i < 37; i++)
				worst = fmax(worst, fabs(w[i] - exp(v[i] - mx) / sum));
			CHECK(fabs(sm_logsumexp(v, 37) - (mx + log(sum))) < 1e-5);
		}
		CHECK(worst < 1e-6);
	}

	/* saturation and special values stay finite and exact at the ends */
	{
		float		v[6] = {-1000.0f, 1000.0f, 0.0f, -0.0f, 88.0f, -88.0f};

		sm_vtanh(v, 6);
		CHECK(v[0] == -1.0f && v[1] == 1.0f && v[2] == 0.0f && signbit(v[3]));
		CHECK(v[4] == 1.0f && v[5] == -1.0f);
	}
	{
		float		v[3] = {-1000.0f, 1000.0f, 0.0f};

		sm_vsigmoid(v, 3);
		CHECK(v[0] >= 0.0f && v[0] < 1e-37f && v[1] == 1.0f && v[2] == 0.5f);
	}
	CHECK(fabsf(sm_softplus(0.0f) - 0.6931472f) < 1e-7f);
	CHECK(sm_softplus(30.0f) == 30.0f);
	CHECK(sm_softplus(-30.0f) > 0.0f);
	free(x);
	free(y);
}
