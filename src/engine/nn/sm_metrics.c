/*
 * sm_metrics.c -- forecast accuracy (see sm_metrics.h), in double precision.
 *
 * Dims: h steps forecast, T steps of history, m the season, nq quantiles.
 * Definitions (Hyndman and Athanasopoulos, "Forecasting: principles and
 * practice", 5.8 and 5.9):
 *   MAE   = mean |y - f|            RMSE  = sqrt(mean (y - f)^2)
 *   MAPE  = 100 mean |y - f| / |y|  over the steps with y != 0
 *   sMAPE = 100 mean 2 |y - f| / (|y| + |f|)   (0 where both are 0)
 *   MASE  = MAE / (mean over t = m..T-1 of |hist_t - hist_{t-m}|)
 *   seasonal naive: f_k = hist[T - m + (k mod m)]
 *   pinball = mean over steps and levels l of max(l (y - q), (l - 1)(y - q))
 */
#include "nn/sm_metrics.h"

#include <math.h>

void
sm_forecast_metrics(const float *y, const float *f, int h,
					const float *hist, int T, int hstride, int season,
					const float *q, const float *lev, int nq,
					sm_metrics *out, float *level, double *coverage, int *n_intervals)
{
	double		ae = 0,
				se = 0,
				ape = 0,
				sape = 0;
	int			napes = 0;
	int			m = season;

	for (int k = 0; k < h; k++)
	{
		double		e = (double) y[k] - (double) f[k];
		double		den = fabs((double) y[k]) + fabs((double) f[k]);

		ae += fabs(e);
		se += e * e;
		if (y[k] != 0.0f)
		{
			ape += fabs(e) / fabs((double) y[k]);
			napes++;
		}
		if (den > 0)
			sape += 2 * fabs(e) / den;
	}
	out->mae = ae / h;
	out->rmse = sqrt(se / h);
	out->has_mape = napes > 0;
	out->mape = napes > 0 ? 100 * ape / napes : 0;
	out->smape = 100 * sape / h;

	/* MASE's scale: the in-sample seasonal naive forecast's MAE */
	out->has_mase = false;
	out->mase = 0;
	if (T > m)
	{
		double		s = 0;

		for (int t = m; t < T; t++)
			s += fabs((double) hist[(long) t * hstride] - (double) hist[(long) (t - m) * hstride]);
		s /= T - m;
		if (s > 0)
		{
			out->has_mase = true;
			out->mase = out->mae / s;
		}
	}
	out->has_naive = T >= m;
	out->naive_mae = 0;
	if (out->has_naive)
	{
		double		s = 0;

		for (int k = 0; k < h; k++)
			s += fabs((double) y[k] - (double) hist[(long) (T - m + k % m) * hstride]);
		out->naive_mae = s / h;
	}

	/* quantiles: the pinball loss and the central intervals' coverage */
	out->has_pinball = nq > 0;
	out->pinball = 0;
	*n_intervals = 0;
	if (nq == 0)
		return;
	{
		double		s = 0;

		for (int k = 0; k < h; k++)
			for (int i = 0; i < nq; i++)
			{
				double		d = (double) y[k] - (double) q[(long) k * nq + i];
				double		l = lev[i];

				s += d >= 0 ? l * d : (l - 1) * d;
			}
		out->pinball = s / ((double) h * nq);
	}
	for (int i = 0; i < nq; i++)
	{
		int			j;

		if (!(lev[i] < 0.5f))
			continue;
		for (j = 0; j < nq; j++)
			if (fabsf(lev[j] - (1.0f - lev[i])) < 1e-6f)
				break;
		if (j == nq)
			continue;
		{
			int			inside = 0;

			for (int k = 0; k < h; k++)
				if (q[(long) k * nq + i] <= y[k] && y[k] <= q[(long) k * nq + j])
					inside++;
			level[*n_intervals] = 1.0f - 2.0f * lev[i];
			coverage[*n_intervals] = (double) inside / h;
			(*n_intervals)++;
		}
	}
}
