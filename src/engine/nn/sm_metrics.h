/*
 * sm_metrics.h -- the accuracy of one forecast against what happened: the
 * point metrics (MAE, RMSE, MAPE, sMAPE), MASE and the seasonal naive
 * forecast's MAE against the history, and for quantile forecasts the
 * pinball loss and the coverage of each central interval.
 */
#ifndef SM_METRICS_H
#define SM_METRICS_H

#include <stdbool.h>

typedef struct sm_metrics
{
	double		mae,
				rmse,
				mape,			/* percent, over the steps whose actual is not 0 */
				smape,			/* percent; a step with actual and forecast 0 counts 0 */
				mase,			/* mae / in-sample MAE of the seasonal naive forecast */
				naive_mae,		/* MAE of the seasonal naive forecast of these steps */
				pinball;		/* mean over steps and quantiles */
	bool		has_mape,		/* some actual is not 0 */
				has_mase,		/* history longer than season, not constant by season */
				has_naive,		/* history at least season long */
				has_pinball;	/* quantiles given */
} sm_metrics;

/*
 * Metrics of one feature's forecast of h steps.
 *   y[h]        the actuals           f[h]       the point forecast
 *   hist        the T steps before y, hist[t * hstride]
 *   season      m >= 1 for MASE and the seasonal naive forecast (y_t = y_{t-m})
 *   q[h][nq]    quantile forecasts at levels lev[nq] (nq 0: none)
 *   level[], coverage[]: one per central interval, a level l < 0.5 of lev
 *               with 1 - l also in lev, in lev's order: its nominal
 *               coverage 1 - 2 l and the share of steps inside
 *               [q at l, q at 1 - l]; *n_intervals of them (at most nq / 2)
 */
void		sm_forecast_metrics(const float *y, const float *f, int h,
								const float *hist, int T, int hstride, int season,
								const float *q, const float *lev, int nq,
								sm_metrics *out, float *level, double *coverage,
								int *n_intervals);

#endif							/* SM_METRICS_H */
