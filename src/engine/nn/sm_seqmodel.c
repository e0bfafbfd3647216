/*
 * sm_seqmodel.c -- numeric sequence models behind one face (sm_seqmodel.h):
 * recurrent models pass straight through; transformers are adapted here.
 *
 * A transformer forecast re-runs its window at every step (attention looks
 * at every position, so there is no state to carry as in an RNN): each
 * series keeps a window of its last N values (N = config context, else the
 * model's max_len), the batch of windows runs as one packed forward pass,
 * and each step's prediction (or each sampled path's draw) is appended.
 * Series are taken FC_CHUNK at a time to bound the windows' memory.
 */
#include "sm_seqmodel.h"

#include <string.h>

#define FC_CHUNK 256			/* series per forecast pass */

bool
sm_seqmodel_of(const sm_model *model, sm_seqmodel *out)
{
	const sm_rnn *r = sm_rnn_of(model);
	const sm_tfm *t = sm_tfm_of(model);

	memset(out, 0, sizeof(*out));
	if (r)
	{
		out->rnn = r;
		out->I = r->I;
		out->F = r->sh.F;
		out->W = sm_rnn_output_width(r);
		out->sh = r->sh;
		return true;
	}
	if (t && t->I > 0)
	{
		out->tfm = t;
		out->I = t->I;
		out->F = t->sh.F;
		out->W = sm_tfm_out_width(t, SM_TFM_OUT_SEQUENCE);
		out->sh = t->sh;
		return true;
	}
	return false;
}

/* right-aligned [B, T, I] -> packed [sum len, I] */
static float *
pack(const float *x, int B, int T, int I, const int *lengths, int *lens)
{
	size_t		n = 0;
	float	   *p;

	for (int b = 0; b < B; b++)
		n += (size_t) (lens[b] = lengths ? lengths[b] : T);
	p = sm_alloc_array(n ? n : 1, sizeof(float) * (size_t) I);
	if (p == NULL)
		return NULL;
	n = 0;
	for (int b = 0; b < B; b++)
	{
		memcpy(p + n * I, x + ((size_t) b * T + (T - lens[b])) * I, sizeof(float) * (size_t) lens[b] * I);
		n += (size_t) lens[b];
	}
	return p;
}

sm_status
sm_seqmodel_forward(const sm_seqmodel *m, const float *x, int B, int T, const int *lengths,
					float *last, float *steps, sm_error *err)
{
	int		   *lens;
	float	   *packed,
			   *tmp = NULL;
	sm_tfm_batch b = {.B = B};
	sm_status	rc;

	if (m->rnn)
		return sm_rnn_forward(m->rnn, x, B, T, lengths, last, steps, err);
	if ((rc = sm_seq_check_lengths(B, T, lengths, err)) != SM_OK)
		return rc;
	lens = sm_alloc_array((size_t) (B ? B : 1), sizeof(int));
	packed = lens ? pack(x, B, T, m->I, lengths, lens) : NULL;
	if (packed == NULL)
	{
		sm_free(lens);
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	}
	b.lengths = lens;
	b.x = packed;
	rc = SM_OK;
	if (last)
		rc = sm_tfm_forward(m->tfm, &b, SM_TFM_OUT_SEQUENCE, last, NULL, err);
	if (rc == SM_OK && steps)
	{
		int			Ws = sm_tfm_out_width(m->tfm, SM_TFM_OUT_STEPS);
		size_t		n = 0;

		for (int i = 0; i < B; i++)
			n += (size_t) lens[i];
		tmp = sm_alloc_array(n ? n : 1, sizeof(float) * (size_t) Ws);
		if (tmp == NULL)
			rc = sm_fail(err, SM_ERR_NOMEM, "out of memory");
		else
			rc = sm_tfm_forward(m->tfm, &b, SM_TFM_OUT_STEPS, tmp, NULL, err);
		if (rc == SM_OK)
		{
			n = 0;
			memset(steps, 0, sizeof(float) * (size_t) B * T * Ws);
			for (int i = 0; i < B; i++)
			{
				memcpy(steps + ((size_t) i * T + (T - lens[i])) * Ws, tmp + n * Ws,
					   sizeof(float) * (size_t) lens[i] * Ws);
				n += (size_t) lens[i];
			}
		}
	}
	sm_free(tmp);
	sm_free(packed);
	sm_free(lens);
	return rc;
}

/* ---------------------------------------------------------------- transformer forecasts */

static sm_status
tfm_forecast_chunk(const sm_seqmodel *m, const sm_fc_plan *p, const sm_forecast_opts *opts,
				   const float *x, int T, const int *lengths, int b0, int nb, int N,
				   float *point, float *quant, sm_error *err)
{
	const int	I = m->I,
				F = p->F,
				nf = m->sh.n_future,
				W = m->W,
				S = p->S,
				rows = nb * S,
				h = opts->horizon;
	float	   *win = sm_alloc_array((size_t) rows * (N + 1), sizeof(float) * (size_t) I);
	float	   *packed = sm_alloc_array((size_t) rows * N, sizeof(float) * (size_t) I);
	float	   *out = sm_alloc_array((size_t) rows, sizeof(float) * (size_t) W);
	float	   *next = sm_alloc_array((size_t) rows, sizeof(float) * (size_t) F);
	float	   *vals = sm_alloc_array((size_t) S, sizeof(float));
	uint64_t   *rng = sm_alloc_array((size_t) rows, sizeof(uint64_t));
	int		   *wlen = sm_alloc_array((size_t) rows, sizeof(int));
	int		   *series = sm_alloc_array((size_t) nb, sizeof(int));
	sm_status	rc = SM_OK;

	if (!win || !packed || !out || !next || !vals || !rng || !wlen || !series)
	{
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory for a forecast");
		goto done;
	}
	/* each path's window: the last N values of its series */
	for (int r = 0; r < nb; r++)
	{
		int			b = b0 + r;
		int			len = lengths ? lengths[b] : T;
		int			keep = len < N ? len : N;

		series[r] = b;
		for (int s = 0; s < S; s++)
		{
			int			row = r * S + s;

			const float *src = x + ((size_t) b * T + (T - keep)) * I;
			float	   *w = win + (size_t) row * (N + 1) * I;

			if (nf == 0)
				memcpy(w, src, sizeof(float) * (size_t) keep * I);
			else				/* future covariates one step ahead (sm_seqhead.h) */
				for (int t = 0; t < keep; t++)
					sm_seqhead_history_row(&m->sh, src, keep, t, opts->future + (size_t) b * h * nf,
										   w + (size_t) t * I);
			wlen[row] = keep;
		}
	}
	sm_fc_seed_paths(p, opts, series, nb, rng);
	for (int k = 0; k < h; k++)
	{
		sm_tfm_batch bt = {.B = rows, .lengths = wlen, .x = packed};
		size_t		n = 0;

		for (int row = 0; row < rows; row++)
		{
			memcpy(packed + n * I, win + (size_t) row * (N + 1) * I, sizeof(float) * (size_t) wlen[row] * I);
			n += (size_t) wlen[row];
		}
		if ((rc = sm_tfm_forward(m->tfm, &bt, SM_TFM_OUT_SEQUENCE, out, NULL, err)) != SM_OK)
			goto done;
		if (m->sh.direct)
		{
			sm_fc_record_direct(&m->sh, W, p, opts, series, nb, out, point, quant);
			break;
		}
		sm_fc_record_step(&m->sh, W, p, opts, series, nb, k, out, rng, next, vals, point, quant);
		/* append the fed-back values; a full window drops its oldest */
		for (int row = 0; row < rows; row++)
		{
			float	   *w = win + (size_t) row * (N + 1) * I;

			if (F == I && m->sh.targets == NULL)
				memcpy(w + (size_t) wlen[row] * I, next + (size_t) row * I, sizeof(float) * I);
			else				/* targets fed back, the covariates of the next step given */
				sm_seqhead_feed_row(&m->sh, next + (size_t) row * F,
									nf > 0 && k + 1 < h ? opts->future + ((size_t) series[row / S] * h + k + 1) * nf : NULL,
									w + (size_t) wlen[row] * I);
			if (wlen[row] == N)
				memmove(w, w + I, sizeof(float) * (size_t) N * I);
			else
				wlen[row]++;
		}
	}
done:
	sm_free(win);
	sm_free(packed);
	sm_free(out);
	sm_free(next);
	sm_free(vals);
	sm_free(rng);
	sm_free(wlen);
	sm_free(series);
	return rc;
}

sm_status
sm_seqmodel_forecast(const sm_seqmodel *m, const float *x, int B, int T, const int *lengths,
					 const sm_forecast_opts *opts, float *point, float *quant, sm_error *err)
{
	sm_fc_plan	p;
	int			N;
	sm_status	rc;

	if (m->rnn)
		return sm_rnn_forecast(m->rnn, x, B, T, lengths, opts, point, quant, err);
	if ((rc = sm_seq_check_lengths(B, T, lengths, err)) != SM_OK ||
		(rc = sm_fc_plan_make(&m->sh, m->W, B, lengths, T, opts, &p, err)) != SM_OK)
		return rc;
	N = m->tfm->max_len;
	if (m->sh.context > 0 && m->sh.context < N)
		N = m->sh.context;
	for (int b0 = 0; b0 < B; b0 += FC_CHUNK)
	{
		int			nb = B - b0 < FC_CHUNK ? B - b0 : FC_CHUNK;

		if ((rc = tfm_forecast_chunk(m, &p, opts, x, T, lengths, b0, nb, N, point, quant, err)) != SM_OK)
			return rc;
	}
	return SM_OK;
}
