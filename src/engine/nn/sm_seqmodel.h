/*
 * sm_seqmodel.h -- one face for every model that reads numeric sequences
 * and forecasts: the recurrent archs (sm_rnn.h) and the transformer with
 * numeric input (sm_tfm.h).  The forecasting SQL talks to this, so it works
 * for both families alike.
 *
 * Layout of a batch (as sm_rnn_forward): x [B, T, I] row-major, sequence b
 * right-aligned, occupying its last lengths[b] steps (lengths NULL: all T).
 */
#ifndef SM_SEQMODEL_H
#define SM_SEQMODEL_H

#include "sm_rnn.h"
#include "sm_tfm.h"

typedef struct sm_seqmodel
{
	int			I;				/* input width */
	int			F;				/* target width: a forecast's values per step */
	int			W;				/* output width of a step */
	sm_seqhead	sh;				/* a copy of the model's (shares its vectors) */
	const sm_rnn *rnn;			/* one of the two */
	const sm_tfm *tfm;
} sm_seqmodel;

/* Fill *out and return true when the model reads numeric sequences. */
bool		sm_seqmodel_of(const sm_model *model, sm_seqmodel *out);

/*
 * The output at each sequence's last step (last [B, W]; for a transformer
 * its sequence output: pooled, then the head) and/or at every step (steps
 * [B, T, W], zeros where padding).  Either may be NULL.
 */
sm_status	sm_seqmodel_forward(const sm_seqmodel *m, const float *x, int B, int T,
								const int *lengths, float *last, float *steps,
								sm_error *err);

/* Forecast B series: as sm_rnn_forecast (sm_rnn.h). */
sm_status	sm_seqmodel_forecast(const sm_seqmodel *m, const float *x, int B, int T,
								 const int *lengths, const sm_forecast_opts *opts,
								 float *point, float *quant, sm_error *err);

#endif							/* SM_SEQMODEL_H */
