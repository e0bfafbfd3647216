/*
 * test_metrics.c -- nn/sm_metrics.c on cases worked by hand (the SQL test
 * checks the same definitions over many series; these pin each formula and
 * edge: zeros in MAPE and sMAPE, MASE's seasonal scale and a constant
 * history, a horizon longer than the season, intervals from unordered
 * levels, a level without its partner).
 */
#include <math.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "nn/sm_metrics.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9 * (1 + fabs(b)))

void
test_metrics(void)
{
	/* history 1 2 3 4 (season 1: naive steps of 1), actuals 5 0 7, forecast 4 1 7 */
	const float hist[4] = {1, 2, 3, 4};
	const float y[3] = {5, 0, 7};
	const float f[3] = {4, 1, 7};
	sm_metrics m;
	float		level[4];
	double		cov[4];
	int			ni;

	sm_forecast_metrics(y, f, 3, hist, 4, 1, 1, NULL, NULL, 0, &m, level, cov, &ni);
	CHECK(NEAR(m.mae, 2.0 / 3));
	CHECK(NEAR(m.rmse, sqrt(2.0 / 3)));
	/* MAPE over the steps with y != 0: (1/5 + 0/7) / 2 */
	CHECK(m.has_mape && NEAR(m.mape, 100 * 0.1));
	/* sMAPE: 2|e| / (|y| + |f|): 2/9, 2/1, 0 */
	CHECK(NEAR(m.smape, 100 * (2.0 / 9 + 2.0) / 3));
	/* in-sample naive MAE 1, so MASE = MAE */
	CHECK(m.has_mase && NEAR(m.mase, 2.0 / 3));
	/* seasonal naive forecast of these steps: 4 4 4 */
	CHECK(m.has_naive && NEAR(m.naive_mae, (1 + 4 + 3) / 3.0));
	CHECK(!m.has_pinball && ni == 0);

	/* season 2 and a horizon of 3: naive forecast hist[2], hist[3], hist[2] */
	sm_forecast_metrics(y, f, 3, hist, 4, 1, 2, NULL, NULL, 0, &m, level, cov, &ni);
	CHECK(NEAR(m.naive_mae, (2 + 4 + 4) / 3.0));
	CHECK(m.has_mase && NEAR(m.mase, (2.0 / 3) / 2.0));	/* in-sample |x_t - x_{t-2}| = 2 */

	/* a constant history has no MASE scale; a history shorter than the season no naive */
	{
		const float flat[3] = {2, 2, 2};

		sm_forecast_metrics(y, f, 3, flat, 3, 1, 1, NULL, NULL, 0, &m, level, cov, &ni);
		CHECK(!m.has_mase && m.has_naive);
		sm_forecast_metrics(y, f, 3, flat, 3, 1, 4, NULL, NULL, 0, &m, level, cov, &ni);
		CHECK(!m.has_mase && !m.has_naive);
	}
	/* all actuals 0: no MAPE; actual and forecast both 0 counts 0 in sMAPE */
	{
		const float z[2] = {0, 0},
					fz[2] = {0, 1};

		sm_forecast_metrics(z, fz, 2, hist, 4, 1, 1, NULL, NULL, 0, &m, level, cov, &ni);
		CHECK(!m.has_mape && NEAR(m.smape, 100 * (0 + 2.0) / 2));
	}
	/* the history read with a stride (a column of a multi-feature series) */
	{
		const float h2[8] = {1, 9, 2, 9, 3, 9, 4, 9};

		sm_forecast_metrics(y, f, 3, h2, 4, 2, 1, NULL, NULL, 0, &m, level, cov, &ni);
		CHECK(m.has_mase && NEAR(m.mase, 2.0 / 3) && NEAR(m.naive_mae, 8 / 3.0));
	}
	/* quantiles at levels 0.9, 0.1, 0.5, 0.25 (no 0.75: no interval for 0.25) */
	{
		const float lev[4] = {0.9f, 0.1f, 0.5f, 0.25f};
		/* per step: q at 0.9, 0.1, 0.5, 0.25 */
		const float q[12] = {6, 3, 4.5f, 4,
			1, -1, 0.5f, 0,
			8, 7.5f, 7.8f, 7.6f};
		double		pin = 0;

		sm_forecast_metrics(y, f, 3, hist, 4, 1, 1, q, lev, 4, &m, level, cov, &ni);
		for (int k = 0; k < 3; k++)
			for (int i = 0; i < 4; i++)
			{
				double		d = y[k] - q[k * 4 + i];

				pin += d >= 0 ? lev[i] * d : (lev[i] - 1) * d;
			}
		CHECK(m.has_pinball && NEAR(m.pinball, pin / 12));
		/* one interval, 80 %: [q0.1, q0.9] holds 5 (in [3, 6]) and 0 (in [-1, 1]), not 7 */
		CHECK(ni == 1 && fabsf(level[0] - 0.8f) < 1e-6f && NEAR(cov[0], 2.0 / 3));
	}
}
