/*
 * sm_rnn.h -- archs "rnn", "lstm" and "gru": torch.nn.RNN / LSTM / GRU with
 * an optional torch.nn.Linear head, for sequences and forecasting.
 *
 * Equations, gate order and biases are exactly PyTorch's:
 *   RNN : h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu
 *   LSTM: [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh
 *         c' = sig(f) * c + sig(i) * tanh(g);  h' = sig(o) * tanh(c')
 *         with proj_size > 0: h' = (sig(o) * tanh(c')) W_hr^T
 *   GRU : [r z n]: r = sig(x W_ir^T + b_ir + h W_hr^T + b_hr), z likewise,
 *         n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),
 *         h' = (1 - z) * n + z * h
 * Layer k > 0 reads the previous layer's output (both directions
 * concatenated, forward first).  Initial states are zero.
 *
 * Config (keys mirror the torch constructors; unknown keys are errors):
 *   input_size     integer >= 1, required            (I)
 *   hidden_size    integer >= 1, required            (H)
 *   num_layers     integer >= 1, default 1           (L)
 *   bias           boolean, default true
 *   bidirectional  boolean, default false            (D = 1 or 2)
 *   nonlinearity   "tanh" | "relu", default "tanh"   (rnn only)
 *   proj_size      integer >= 0, < hidden_size, default 0 (lstm only)
 *   batch_first, dropout: accepted and ignored (no effect on inference)
 *   rnn_prefix     string, default "<arch>." (self.lstm = nn.LSTM(...) saves
 *                  "lstm.weight_ih_l0"); "" for a bare module's state_dict
 *   output_size    integer >= 1: a head nn.Linear(D * R, output_size);
 *                  absent: no head, the output is the top layer's output
 *   head_prefix    string, default "head."
 *   head_bias      boolean, default true
 *   input_mean, input_std    number or array of I numbers: the model sees
 *                  (x - mean) / std
 *   output_mean, output_std  number or array of F numbers (F = the target
 *                  width, see below): a predicted value y' becomes
 *                  y' * std + mean (a Gaussian scale: s' * std)
 *   forecast       "recursive" (default) | "direct"
 *   context        integer >= 1: forecasts use only the last N history steps
 *   min_history    integer >= 1, default 1: shorter histories are an error
 *   quantiles      array of increasing numbers in (0, 1): a quantile head
 *   distribution   "gaussian": a Gaussian head (DeepAR style)
 * R = proj_size if > 0 else H.
 *
 * Tensors (P = rnn_prefix, k = layer, S = "" or "_reverse"):
 *   P weight_ih_l{k}{S} [G*H, in_k]   in_0 = I, in_k = D*R
 *   P weight_hh_l{k}{S} [G*H, R]      G = 1 (rnn), 4 (lstm), 3 (gru)
 *   P bias_ih_l{k}{S}, P bias_hh_l{k}{S} [G*H]   when bias
 *   P weight_hr_l{k}{S} [R, H]        lstm with proj_size
 *   head_prefix weight [output_size, D*R], head_prefix bias [output_size]
 *
 *   targets, past_covariates, future_covariates: which input features the
 *                  model predicts, sees in the history only, and is given ahead
 *                  (sm_seqhead.h; absent: every feature a target, F = I)
 *
 * Forecasting: the target width F is I (the model predicts its own input),
 * or the number of targets; future covariates enter as sm_seqhead.h says.
 *   point head, recursive:  output_size = F; each prediction is fed back
 *   point head, direct:     output_size = M * F, laid out [step][feature];
 *                           M is the most steps the model can forecast
 *   quantile head (Q quantiles): every value above becomes Q values
 *                           ([.. feature][quantile]); recursive forecasts
 *                           feed back the quantile nearest 0.5
 *   gaussian head:          output_size = 2 F: means then raw scales
 *                           (torch.chunk(out, 2, -1)); scale =
 *                           softplus(raw); recursive only.  Point
 *                           forecasts feed back the mean; sampled
 *                           forecasts draw `samples` paths, each feeding
 *                           back its own draws.
 *
 * Dims used below: B batch (series), T steps, I input, H hidden, R output
 * per direction, D directions, O head output, F target width.
 */
#ifndef SM_RNN_H
#define SM_RNN_H

#include "core/sm_model.h"
#include "ops/sm_ops.h"
#include "sm_seqhead.h"

extern const sm_arch sm_arch_rnn;
extern const sm_arch sm_arch_lstm;
extern const sm_arch sm_arch_gru;

typedef enum sm_rnn_cell
{
	SM_CELL_RNN_TANH,
	SM_CELL_RNN_RELU,
	SM_CELL_LSTM,
	SM_CELL_GRU
} sm_rnn_cell;

typedef struct sm_rnn_dir
{
	const float *w_ih;			/* [G*H, in] */
	const float *w_hh;			/* [G*H, R] */
	const float *b_ih;			/* [G*H] or NULL */
	const float *b_hh;			/* [G*H] or NULL */
	const float *w_hr;			/* [R, H] or NULL */
	float	   *b_sum;			/* b_ih + b_hh (rnn, lstm; gru: r,z only) */
	sm_packed	p_ih,
				p_hh,
				p_hr;			/* the weights packed for the compute seam */
} sm_rnn_dir;

typedef struct sm_rnn
{
	sm_rnn_cell cell;
	int			G,
				I,
				H,
				R,
				L,
				D;
	sm_rnn_dir *dirs;			/* [L * D], layer-major */
	/* head */
	int			O;				/* head output width (0: none) */
	const float *head_w;		/* [O, D*R] */
	const float *head_b;		/* [O] or NULL */
	sm_packed	p_head;			/* head_w packed */
	sm_seqhead	sh;				/* scaling, head kind, forecasting (I, O as above) */
} sm_rnn;

/* The recurrent model of a model built by one of the three archs, or NULL. */
const sm_rnn *sm_rnn_of(const sm_model *model);

/* Width of what predict returns per step: O, or D*R without a head
 * (before output scaling; the same width after). */
int			sm_rnn_output_width(const sm_rnn *m);

/*
 * Run B sequences.  x: [B, T, I] row-major, sequence b occupying its last
 * lengths[b] steps (right-aligned; lengths NULL means all T).  Inputs are
 * scaled, outputs unscaled here (config).
 *   last:  [B, W] the output at each sequence's last step, or NULL
 *   steps: [B, T, W] the output at every step (zeros where padding), or NULL
 * W = sm_rnn_output_width().  Polls sm_should_abort() every step and layer.
 */
sm_status	sm_rnn_forward(const sm_rnn *m, const float *x, int B, int T,
						   const int *lengths, float *last, float *steps,
						   sm_error *err);

/*
 * Forecast B series (x, lengths as in sm_rnn_forward; F targets; opts->future
 * [B, horizon, n_future] for a model with future covariates).
 *   point: [B, horizon, F] point forecasts (median quantile / mean), or NULL
 *   quant: [B, horizon, F, n_quantiles] the requested quantiles, or NULL
 * Errors: a history shorter than min_history, a horizon beyond a direct
 * model's M, output width not matching the forecast mode, quantiles a
 * quantile head does not have.
 */
sm_status	sm_rnn_forecast(const sm_rnn *m, const float *x, int B, int T,
							const int *lengths, const sm_forecast_opts *opts,
							float *point, float *quant, sm_error *err);

/*
 * State kept per series (unidirectional models only).  A series' state is
 * S = sm_rnn_state_width() floats: h of every layer ([L][R]), then for
 * lstm c of every layer ([L][H]); zeros before the first step.  The top
 * layer's h is also the output at the last step, so a forecast needs
 * nothing else.
 */
int			sm_rnn_state_width(const sm_rnn *m);

/* SM_OK if the model can keep a state: unidirectional, without a context
 * limit (a forecast from a state always sees the whole history) and
 * without future covariates (its input row t holds step t + 1's); else
 * SM_ERR_UNSUPPORTED saying why. */
sm_status	sm_rnn_state_check(const sm_rnn *m, sm_error *err);

/*
 * Advance B series over new steps: x [B, T, I] right-aligned as in
 * sm_rnn_forward (lengths NULL: all T), state [B, S] in and out (the
 * states after the steps replace those before).  Advancing by x1 then x2
 * equals advancing by their concatenation.
 */
sm_status	sm_rnn_advance(const sm_rnn *m, const float *x, int B, int T,
						   const int *lengths, float *state, sm_error *err);

/*
 * Forecast B series from their states (state [B, S] after steps[b] steps
 * each, for config min_history): as sm_rnn_forecast over the histories
 * that produced the states.
 */
sm_status	sm_rnn_forecast_state(const sm_rnn *m, const float *state, int B,
								  const int *steps, const sm_forecast_opts *opts,
								  float *point, float *quant, sm_error *err);

#endif							/* SM_RNN_H */
