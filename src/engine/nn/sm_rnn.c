/*
 * sm_rnn.c -- archs "rnn", "lstm", "gru" (see sm_rnn.h for the contract).
 *
 * How a batch runs.  Sequences are right-aligned (each ends at the last
 * step), sorted by length, longest first, and cut into tiles of at most
 * TILE_ROWS sequences.  Within a tile the sequences active at step t are
 * then a prefix of the rows, so every recurrent matrix product covers
 * exactly the active rows: padding costs nothing and needs no masks, and a
 * row's state stays zero until its sequence starts.  All sequences end
 * together, so the last-step outputs are one row block.
 *
 * Per layer and direction, for LSTM and Elman tiles of a few rows or more
 * (step_fused): each step is one product over the active rows that sums the
 * input's part and the state's (x_t W_ih^T + h W_hh^T, sm_op_matmul2), then
 * a vectorised elementwise pass for the gates (biases added there).
 * Otherwise (the GRU, one or two rows, a device): one product projects the
 * inputs of a chunk of TIME_CHUNK steps at once, then each step's product
 * over the active rows (h W_hh^T) is accumulated onto the projection; the
 * bits are the same as fused.  Layouts are time-major inside a tile:
 * [T][rows][width].
 *
 * Forecasting.  Unidirectional models carry their state: the history runs
 * once, then each new step costs one step.  Bidirectional models cannot
 * (a new value changes every backward state), so each step re-runs the
 * window.  Sampled (Gaussian) forecasts expand each series' state into
 * `samples` rows after the history, so the history runs once per series.
 */
#include "sm_rnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_seqhead.h"
#include "core/sm_arena.h"
#include "ops/sm_parallel.h"
#include "ops/sm_cpu.h"
#include "ops/sm_pool.h"

#include <pthread.h>

/*
 * Sequences per tile.  Tried and dropped (2026-12-02, 2-core Zen 3): tiles
 * sized so that one step's rows stay in half of L2 (128 rows at W1's shape,
 * 64 from hidden 128): W1 with test/bench/ab.sh B/A 0.96-1.02, and one
 * step's product and cells per row (test/bench/rnn_step.c) the same at 32
 * to 256 rows within the VM's +-20% from run to run.
 */
#define TILE_ROWS 256
#define MIN_TILE_ROWS 64
#define TILES_PER_WORKER 4
#define TIME_CHUNK 32			/* at most this many steps per input-projection product */
#define CHUNK_ROWS 1024			/* ... and at most this many rows (steps x sequences), so a
								 * chunk's projection (1 MB at 4H = 256) stays in L2 until
								 * its steps read it: 8192 (8 MB) cost W1 about 20% */

/* steps per input-projection chunk for tiles of `rows` rows */
static inline int
chunk_steps(int rows)
{
	int			tc = CHUNK_ROWS / (rows > 0 ? rows : 1);

	return tc < 1 ? 1 : tc > TIME_CHUNK ? TIME_CHUNK : tc;
}

/* ---------------------------------------------------------------- config */

static const char *const rnn_keys[] = {
	"input_size", "hidden_size", "num_layers", "bias", "bidirectional",
	"nonlinearity", "proj_size", "batch_first", "dropout",
	"rnn_prefix", "output_size", "head_prefix", "head_bias",
	SM_SEQHEAD_KEYS, NULL
};

typedef struct rnn_config
{
	sm_rnn_cell cell;
	int64_t		I,
				H,
				L,
				P,
				O;
	bool		bias,
				bidir,
				head_bias;
	const char *rnn_prefix;
	const char *head_prefix;
	char		default_prefix[16];
} rnn_config;

static sm_rnn_cell
cell_of_arch(const char *arch)
{
	if (strcmp(arch, "lstm") == 0)
		return SM_CELL_LSTM;
	if (strcmp(arch, "gru") == 0)
		return SM_CELL_GRU;
	return SM_CELL_RNN_TANH;
}

static int
gates_of(sm_rnn_cell cell)
{
	return cell == SM_CELL_LSTM ? 4 : cell == SM_CELL_GRU ? 3 : 1;
}

/* Read and check the config into c and m (m's scaling vectors are allocated). */
static sm_status
read_config(const sm_config *cfg, rnn_config *c, sm_rnn *m, sm_error *err)
{
	const char *s;
	bool		present;
	sm_status	rc;

	memset(c, 0, sizeof(*c));
	c->cell = cell_of_arch(cfg->arch);
	snprintf(c->default_prefix, sizeof(c->default_prefix), "%s.", cfg->arch);

	if ((rc = sm_config_check_keys(cfg, rnn_keys, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "input_size", true, 0, 1, 1 << 20, &c->I, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "hidden_size", true, 0, 1, 1 << 16, &c->H, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "num_layers", false, 1, 1, 1024, &c->L, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "bias", true, &c->bias, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "bidirectional", false, &c->bidir, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "batch_first", true, &present, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "rnn_prefix", c->default_prefix, &c->rnn_prefix, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "output_size", false, 0, 1, 1 << 24, &c->O, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "head_prefix", "head.", &c->head_prefix, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "head_bias", true, &c->head_bias, err)) != SM_OK)
		return rc;
	{
		const sm_json *d = sm_json_get(cfg->json, "dropout");

		if (d != NULL && d->type != SM_JSON_NUMBER)
			return sm_fail(err, SM_ERR_INVALID, "config key \"dropout\" must be a number, not %s",
						   sm_json_type_name(d->type));
	}

	/* nonlinearity: rnn only */
	if ((rc = sm_config_string(cfg, "nonlinearity", NULL, &s, err)) != SM_OK)
		return rc;
	if (s != NULL)
	{
		if (c->cell != SM_CELL_RNN_TANH)
			return sm_fail(err, SM_ERR_INVALID, "config key \"nonlinearity\" applies to arch \"rnn\" only");
		if (strcmp(s, "relu") == 0)
			c->cell = SM_CELL_RNN_RELU;
		else if (strcmp(s, "tanh") != 0)
		{
			sm_fail(err, SM_ERR_INVALID, "config key \"nonlinearity\" must be \"tanh\" or \"relu\", not \"%s\"", s);
			return err->code;
		}
	}
	/* proj_size: lstm only */
	if ((rc = sm_config_int(cfg, "proj_size", false, 0, 0, 1 << 16, &c->P, err)) != SM_OK)
		return rc;
	if (c->P > 0 && c->cell != SM_CELL_LSTM)
		return sm_fail(err, SM_ERR_INVALID, "config key \"proj_size\" applies to arch \"lstm\" only");
	if (c->P >= c->H)
	{
		sm_fail(err, SM_ERR_INVALID, "config key \"proj_size\" must be smaller than hidden_size");
		sm_detail(err, "proj_size is %lld; hidden_size is %lld.", (long long) c->P, (long long) c->H);
		return err->code;
	}

	m->cell = c->cell;
	m->G = gates_of(c->cell);
	m->I = (int) c->I;
	m->H = (int) c->H;
	m->R = (int) (c->P > 0 ? c->P : c->H);
	m->L = (int) c->L;
	m->D = c->bidir ? 2 : 1;
	m->O = (int) c->O;

	return sm_seqhead_read(cfg, c->I, c->O, &m->sh, err);
	return SM_OK;
}

static sm_status
rnn_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	rnn_config c;
	sm_rnn		m = {0};
	sm_status	rc = read_config(cfg, &c, &m, err);
	const char *P = c.rnn_prefix;

	sm_seqhead_free(&m.sh);
	if (rc != SM_OK)
		return rc;
	for (int k = 0; k < m.L; k++)
		for (int d = 0; d < m.D; d++)
		{
			const char *sfx = d ? "_reverse" : "";
			int64_t		in = k == 0 ? m.I : (int64_t) m.D * m.R;
			int64_t		wih[2] = {(int64_t) m.G * m.H, in};
			int64_t		whh[2] = {(int64_t) m.G * m.H, m.R};
			int64_t		b[1] = {(int64_t) m.G * m.H};
			int64_t		whr[2] = {m.R, m.H};

			if ((rc = sm_spec_add(spec, err, 2, wih, "%sweight_ih_l%d%s", P, k, sfx)) != SM_OK ||
				(rc = sm_spec_add(spec, err, 2, whh, "%sweight_hh_l%d%s", P, k, sfx)) != SM_OK)
				return rc;
			if (c.bias &&
				((rc = sm_spec_add(spec, err, 1, b, "%sbias_ih_l%d%s", P, k, sfx)) != SM_OK ||
				 (rc = sm_spec_add(spec, err, 1, b, "%sbias_hh_l%d%s", P, k, sfx)) != SM_OK))
				return rc;
			if (c.P > 0 &&
				(rc = sm_spec_add(spec, err, 2, whr, "%sweight_hr_l%d%s", P, k, sfx)) != SM_OK)
				return rc;
		}
	if (c.O > 0)
	{
		int64_t		hw[2] = {c.O, (int64_t) m.D * m.R};
		int64_t		hb[1] = {c.O};

		if ((rc = sm_spec_add(spec, err, 2, hw, "%sweight", c.head_prefix)) != SM_OK)
			return rc;
		if (c.head_bias && (rc = sm_spec_add(spec, err, 1, hb, "%sbias", c.head_prefix)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

static const float *
weight(const sm_model *model, const char *fmt, const char *prefix, int k, const char *sfx)
{
	char		name[SM_MAX_NAME];
	sm_tensor  *t;

	snprintf(name, sizeof(name), fmt, prefix, k, sfx);
	t = sm_weights_find(&model->weights, name);
	return t ? t->data : NULL;
}

static void
rnn_release(sm_model *model)
{
	sm_rnn	   *m = model->impl;

	if (m == NULL)
		return;
	if (m->dirs)
		for (int i = 0; i < m->L * m->D; i++)
		{
			sm_free(m->dirs[i].b_sum);
			sm_packed_free(&m->dirs[i].p_ih);
			sm_packed_free(&m->dirs[i].p_hh);
			sm_packed_free(&m->dirs[i].p_hr);
		}
	sm_packed_free(&m->p_head);
	sm_free(m->dirs);
	sm_seqhead_free(&m->sh);
	sm_free(m);
	model->impl = NULL;
}

static sm_status
rnn_build(sm_model *model, sm_error *err)
{
	sm_rnn	   *m = sm_alloc0(sizeof(sm_rnn));
	rnn_config	c;
	sm_status	rc;

	if (m == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	model->impl = m;
	if ((rc = read_config(&model->cfg, &c, m, err)) != SM_OK)
		return rc;
	m->dirs = sm_alloc0(sizeof(sm_rnn_dir) * (size_t) (m->L * m->D));
	if (m->dirs == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	for (int k = 0; k < m->L; k++)
		for (int d = 0; d < m->D; d++)
		{
			sm_rnn_dir *dir = &m->dirs[k * m->D + d];
			const char *sfx = d ? "_reverse" : "";
			int			GH = m->G * m->H;

			dir->w_ih = weight(model, "%sweight_ih_l%d%s", c.rnn_prefix, k, sfx);
			dir->w_hh = weight(model, "%sweight_hh_l%d%s", c.rnn_prefix, k, sfx);
			dir->b_ih = c.bias ? weight(model, "%sbias_ih_l%d%s", c.rnn_prefix, k, sfx) : NULL;
			dir->b_hh = c.bias ? weight(model, "%sbias_hh_l%d%s", c.rnn_prefix, k, sfx) : NULL;
			dir->w_hr = c.P > 0 ? weight(model, "%sweight_hr_l%d%s", c.rnn_prefix, k, sfx) : NULL;
			/*
			 * rnn and lstm cells add one bias vector, b_ih + b_hh; gru
			 * cells add b_ih and b_hh apart (b_hn sits inside
			 * r * (W_hn h + b_hn)), so b_sum is unused there.
			 */
			dir->b_sum = sm_alloc0(sizeof(float) * (size_t) GH);
			if (dir->b_sum == NULL)
				return sm_fail(err, SM_ERR_NOMEM, "out of memory");
			if (c.bias)
				for (int j = 0; j < GH; j++)
					dir->b_sum[j] = dir->b_ih[j] + (m->cell == SM_CELL_GRU ? 0.0f : dir->b_hh[j]);
			{
				int			in = k == 0 ? m->I : m->D * m->R;
				sm_status	rc2;

				if ((rc2 = sm_packed_init(&dir->p_ih, dir->w_ih, GH, in, false, err)) != SM_OK ||
					(rc2 = sm_packed_init(&dir->p_hh, dir->w_hh, GH, m->R, false, err)) != SM_OK ||
					(dir->w_hr && (rc2 = sm_packed_init(&dir->p_hr, dir->w_hr, m->R, m->H, false, err)) != SM_OK))
					return rc2;
			}
		}
	if (c.O > 0)
	{
		char		name[SM_MAX_NAME];

		snprintf(name, sizeof(name), "%sweight", c.head_prefix);
		m->head_w = sm_weights_find(&model->weights, name)->data;
		if (c.head_bias)
		{
			snprintf(name, sizeof(name), "%sbias", c.head_prefix);
			m->head_b = sm_weights_find(&model->weights, name)->data;
		}
		if ((rc = sm_packed_init(&m->p_head, m->head_w, m->O, m->D * m->R, false, err)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

#define RNN_ARCH(n) {.name = n, .family = SM_FAMILY_RECURRENT, .spec = rnn_spec, .build = rnn_build, \
	.release = rnn_release}
const sm_arch sm_arch_rnn = RNN_ARCH("rnn");
const sm_arch sm_arch_lstm = RNN_ARCH("lstm");
const sm_arch sm_arch_gru = RNN_ARCH("gru");

const sm_rnn *
sm_rnn_of(const sm_model *model)
{
	if (model->arch->family == SM_FAMILY_RECURRENT)
		return model->impl;
	return NULL;
}

int
sm_rnn_output_width(const sm_rnn *m)
{
	return m->O > 0 ? m->O : m->D * m->R;
}

/* ---------------------------------------------------------------- tiles */

/*
 * The workspace of one tile: rows sequences (after sampling expansion) of
 * at most T steps.  States persist across run_tile calls so a forecast can
 * continue where the history ended.
 */
typedef struct tile_ws
{
	int			rows;			/* capacity */
	int			T;				/* capacity in steps */
	float	   *x;				/* [T][rows][I] scaled input */
	float	   *ya,
			   *yb;				/* [T][rows][D*R] layer outputs (ping-pong) */
	float	   *xw;				/* [chunk][rows][G*H] input projection */
	float	   *gh;				/* [rows][G*H] recurrent part (gru) */
	float	   *hc;				/* [rows][H] lstm pre-projection h */
	float	   *h;				/* [L*D][rows][R] states */
	float	   *c;				/* [L*D][rows][H] lstm cell states */
	int		   *active;			/* [T] active rows at each step */
	const sm_par *par;			/* the worker running this workspace */
	int			split;			/* threads for a one-row tile's layers (run_layers_pipelined) */
	bool		fused;			/* steps fused (step_fused): xw holds one step's gates */
	/* a second xw, gh, hc for the second thread (one-row tiles of several layers or
	 * directions; NULL otherwise) */
	float	   *xw2,
			   *gh2,
			   *hc2;
	/* a one-row tile's direction by halves of its units (run_direction_halves;
	 * carved only where halves_fit) */
	float	   *hv_xw[2],		/* [chunk][G * H] a half's gates, [G][its units] per step */
			   *hv_gh[2],		/* [G * H] its recurrent part (gru) */
			   *hv_b[2],		/* [G * H] its biases (b_sum or b_ih) */
			   *hv_bh[2],		/* [G * H] its b_hh (gru) */
			   *hv_h;			/* [R] the state's second buffer */
} tile_ws;

/* the scratch of one direction's run: xw, gh, hc of tile_ws, or their second set */
typedef struct dir_scratch
{
	float	   *xw,
			   *gh,
			   *hc;
} dir_scratch;

/*
 * How a direction meets the others when a one-row tile runs its layers on
 * two threads (run_layers_pipelined): it publishes the steps it has done,
 * and before each chunk's input projection waits for the directions whose
 * outputs it reads (up to the chunk's last step, or to the end when the
 * layer below runs both ways).
 */
#define PIPE_CHUNK 8			/* steps per chunk of a trailing direction (at most chunk_steps(1)) */

typedef struct dir_sync
{
	int		   *progress;		/* [L * D] atomic: steps done, in processing order */
	int			self;
	int			wait_for[2];	/* directions read, -1: none */
	bool		whole;			/* wait for them to finish */
	int		   *stop;			/* atomic: a direction failed or the call was canceled */
	bool		polls;			/* this thread may ask sm_par_should_stop (the caller) */
} dir_sync;

/*
 * Whether a direction's steps take their input's part of the gates in the
 * same product as the state's (sm_op_matmul2: g = x_t W_ih^T + h W_hh^T,
 * stored once), instead of a chunk's input projection first and the state's
 * product added to it.  The bits are the same either way (one chain over
 * the input's k, then on over the state's).  What goes: the chunk's
 * projection buffer (1 MB at W1's shape: beyond a Zen 3 L2) written and
 * read back, the layer-1 projection of one input (K = 1: all stores), and
 * a product's short K.  Measured with test/bench/ab.sh against the unfused
 * build (2-core Zen 3): W1 (LSTM 2 x 64, 256-row tiles) 1-3% faster, LSTMs
 * of hidden 32 and 128 over 512 steps 4-6%; equal or faster from 4 rows
 * up, also at hidden 256 x 3 layers.
 * The chunked projection reads W_ih once per chunk, the fused step once per
 * step, which costs a batch of one or two (W5: 0.495 -> 0.531 ms): so tiles
 * of FUSED_MIN_ROWS rows or more only; and not for the GRU, whose n gate
 * keeps the two parts apart, nor on a device (which wants the chunk's
 * larger product) or the blas kernels (likewise), nor in the pipelined
 * batch-1 run (one row).  Decided when a tile's workspace is carved
 * (tile_ws.fused): a fused tile's gate buffer holds one step, not a chunk.
 */
#define FUSED_MIN_ROWS 4

static bool
step_fused(const sm_rnn *m, int rows)
{
	return rows >= FUSED_MIN_ROWS && m->cell != SM_CELL_GRU &&
		sm_ops == &sm_cpu_backend && sm_ops_kernels() != SM_KERNELS_BLAS;
}

/*
 * Whether a model's one-row tiles may run a direction by halves of its
 * units (run_direction_halves, below, which says why and measures the
 * threshold): what the model decides; halves() adds what the call does.
 */
#define HALVES_MIN_BYTES (512 * 1024)

static bool
halves_fit(const sm_rnn *m)
{
	size_t		w_hh = sizeof(float) * (size_t) m->G * m->H * m->R;

	if (!(m->R == m->H && m->H % (2 * SM_PANEL) == 0 && w_hh >= HALVES_MIN_BYTES))
		return false;
	for (int i = 0; i < m->L * m->D; i++)
		if (m->dirs[i].p_ih.panels == NULL || m->dirs[i].p_hh.panels == NULL)
			return false;
	return true;
}

/*
 * A tile's buffers, carved from the call's arena (sm_arena.h: called once
 * to measure, once to carve; the pointers are NULL while measuring).
 */
static void
tile_carve(const sm_rnn *m, int rows, int T, tile_ws *ws, sm_arena *a)
{
	size_t		r = (size_t) rows;
	size_t		t = (size_t) T;
	size_t		DR = (size_t) m->D * m->R;
	size_t		GH = (size_t) m->G * m->H;
	size_t		LD = (size_t) m->L * m->D;

	memset(ws, 0, sizeof(*ws));
	ws->rows = rows;
	ws->T = T;
	ws->x = sm_arena_take(a, t * r, sizeof(float) * (size_t) m->I);
	ws->ya = sm_arena_take(a, t * r, sizeof(float) * DR);
	ws->yb = m->L > 1 ? sm_arena_take(a, t * r, sizeof(float) * DR) : NULL;
	ws->fused = step_fused(m, rows);
	ws->xw = sm_arena_take(a, (size_t) (ws->fused ? 1 : chunk_steps(rows)) * r, sizeof(float) * GH);
	ws->gh = sm_arena_take(a, r, sizeof(float) * GH);
	ws->hc = sm_arena_take(a, r, sizeof(float) * (size_t) m->H);
	if (rows == 1 && m->L * m->D > 1)
	{
		ws->xw2 = sm_arena_take(a, (size_t) chunk_steps(rows), sizeof(float) * GH);
		ws->gh2 = sm_arena_take(a, 1, sizeof(float) * GH);
		ws->hc2 = sm_arena_take(a, 1, sizeof(float) * (size_t) m->H);
	}
	if (rows == 1 && halves_fit(m))
	{
		for (int i = 0; i < 2; i++)
		{
			ws->hv_xw[i] = sm_arena_take(a, (size_t) chunk_steps(1), sizeof(float) * GH);
			ws->hv_gh[i] = sm_arena_take(a, 1, sizeof(float) * GH);
			ws->hv_b[i] = sm_arena_take(a, 1, sizeof(float) * GH);
			ws->hv_bh[i] = sm_arena_take(a, 1, sizeof(float) * GH);
		}
		ws->hv_h = sm_arena_take(a, 1, sizeof(float) * (size_t) m->R);
	}
	ws->h = sm_arena_take(a, LD * r, sizeof(float) * (size_t) m->R);
	ws->c = sm_arena_take(a, LD * r, sizeof(float) * (size_t) m->H);
	ws->active = sm_arena_take(a, t, sizeof(int));
}

static void
tile_reset_state(const sm_rnn *m, tile_ws *ws)
{
	size_t		LD = (size_t) m->L * m->D;

	memset(ws->h, 0, sizeof(float) * LD * ws->rows * m->R);
	memset(ws->c, 0, sizeof(float) * LD * ws->rows * m->H);
}

/*
 * One direction of one layer over T steps.
 *   in:  [T][rows][in_w]   out: [T][rows][D*R], columns [d*R, d*R+R)
 *   h:   [rows][R] state (c: [rows][H] for lstm), updated in place
 * active[t] = rows active at step t (a prefix, see the header comment).
 */
/* y[n, N] (+)= x[n, K] W[N, K]^T through the compute seam */
static inline void
matmul_t(int n, const sm_packed *W, const float *x, float beta, float *y)
{
	sm_op_matmul(W, x, W->K, n, beta, y, W->N);
}

/* canceled, or another direction failed (sync: the pipelined run) */
static bool
dir_should_stop(const tile_ws *ws, const dir_sync *sync)
{
	if (sync == NULL)
		return sm_par_should_stop(ws->par);
	if (sync->polls && sm_par_should_stop(ws->par))
		__atomic_store_n(sync->stop, 1, __ATOMIC_RELAXED);
	return __atomic_load_n(sync->stop, __ATOMIC_RELAXED) != 0;
}

/* wait until the directions sync reads have done `steps` steps; false: stopped */
static bool
dir_wait(const tile_ws *ws, const dir_sync *sync, int steps)
{
	for (int i = 0; i < 2; i++)
	{
		int			spins = 0;

		if (sync->wait_for[i] < 0)
			continue;
		while (__atomic_load_n(&sync->progress[sync->wait_for[i]], __ATOMIC_ACQUIRE) < steps)
		{
			if ((++spins & 63) == 0 && dir_should_stop(ws, sync))
				return false;
			sm_cpu_pause();
		}
	}
	return true;
}

static sm_status
run_direction(const sm_rnn *m, const sm_rnn_dir *w, tile_ws *ws, const dir_scratch *scr,
			  const dir_sync *sync, int rows, int T, const float *in, int in_w, float *out,
			  int d, float *h, float *c, sm_error *err)
{
	const int	H = m->H,
				R = m->R,
				G = m->G,
				GH = G * H,
				DR = m->D * m->R;
	const bool	reverse = d == 1;
	/* a direction that trails the one below it in steps takes short chunks: the lag */
	const int	chunk = sync != NULL && sync->wait_for[0] >= 0 && !sync->whole ? PIPE_CHUNK : chunk_steps(rows);
	const float *bias = m->cell == SM_CELL_GRU ? w->b_ih : (w->b_ih ? w->b_sum : NULL);
	/* a pipelined run (sync) has one-row tiles, which step_fused never fuses */
	const bool	fused = ws->fused;

	/*
	 * Chained: each step's h is written straight into its output row and
	 * the next step reads it there (ld D * R), instead of h being updated
	 * in place and copied out (3% of W1, an LSTM of hidden 64 at 4096
	 * rows); h gets the last step's at the end.  Only where every row is
	 * active at every step (then no row's state stays behind while others
	 * go on) and the cell writes h without reading it: not the GRU, not an
	 * LSTM with a projection.  Same products, same bits.
	 */
	const bool	chained = T > 0 && ws->active[reverse ? 0 : T - 1] == rows &&
		ws->active[reverse ? T - 1 : 0] == rows && m->cell != SM_CELL_GRU && !w->w_hr;
	const float *hsrc = h;		/* the state this step reads */
	int			hld = R;

	for (int t0 = 0; t0 < T; t0 += chunk)
	{
		int			tc = T - t0 < chunk ? T - t0 : chunk;
		/* the chunk in processing order: reverse walks from the end */
		int			first = reverse ? T - t0 - tc : t0;
		float	   *xw = scr->xw;

		if (sync != NULL && !dir_wait(ws, sync, sync->whole ? T : t0 + tc))
			return sm_fail(err, SM_ERR_ABORTED, "canceled");
		/* xw[tt][r] = in[first + tt][r] W_ih^T for the whole chunk (biases: in the cell) */
		if (!fused)
			matmul_t(tc * rows, &w->p_ih, in + (size_t) first * rows * in_w, 0.0f, xw);

		for (int k = 0; k < tc; k++)
		{
			int			t = reverse ? T - 1 - t0 - k : t0 + k;
			int			n = ws->active[t];
			float	   *g = fused ? xw : xw + (size_t) (t - first) * rows * GH;
			float	   *y = out + (size_t) t * rows * DR + (size_t) d * R;

			if (dir_should_stop(ws, sync))
				return sm_fail(err, SM_ERR_ABORTED, "canceled");
			if (sync != NULL)	/* the steps before this one are done */
				__atomic_store_n(&sync->progress[sync->self], t0 + k, __ATOMIC_RELEASE);
			if (n == 0)
				continue;

			if (m->cell == SM_CELL_GRU)
			{
				/* gh = h W_hh^T, kept apart for r * (W_hn h + b_hn) */
				matmul_t(n, &w->p_hh, h, 0.0f, scr->gh);
				for (int r = 0; r < n; r++)
					sm_op_gru_cell(g + (size_t) r * GH, bias, scr->gh + (size_t) r * GH, w->b_hh,
								h + (size_t) r * R, H);
			}
			else
			{
				/* the cells' h: into the output rows (chained), or the state (or hc) */
				float	   *hout = chained ? y : w->w_hr ? scr->hc : h;
				const size_t hs = chained ? (size_t) DR : (size_t) H;

				/* g (+)= h W_hh^T over the active rows (fused: g = x_t W_ih^T + h W_hh^T) */
				if (fused)
					sm_op_matmul2(&w->p_ih, in + (size_t) t * rows * in_w, in_w, &w->p_hh, hsrc, hld,
								  n, g, GH);
				else
					sm_op_matmul(&w->p_hh, hsrc, hld, n, 1.0f, g, GH);
				if (m->cell == SM_CELL_LSTM)
				{
					for (int r = 0; r < n; r++)
						sm_op_lstm_cell(g + (size_t) r * GH, bias, c + (size_t) r * H,
									 hout + (size_t) r * hs, H);
					if (w->w_hr)	/* h = (o * tanh(c)) W_hr^T */
						matmul_t(n, &w->p_hr, scr->hc, 0.0f, h);
				}
				else
					for (int r = 0; r < n; r++)
						sm_op_elman_cell(g + (size_t) r * GH, bias, hout + (size_t) r * hs, H,
									m->cell == SM_CELL_RNN_RELU);
			}
			if (chained)
			{
				hsrc = y;
				hld = DR;
				continue;
			}
			for (int r = 0; r < n; r++)
				memcpy(y + (size_t) r * DR, h + (size_t) r * R, sizeof(float) * R);
			/* inactive rows' outputs are zero (padding) */
			for (int r = n; r < rows; r++)
				memset(y + (size_t) r * DR, 0, sizeof(float) * R);
		}
		if (sync != NULL)
			__atomic_store_n(&sync->progress[sync->self], t0 + tc, __ATOMIC_RELEASE);
	}
	if (chained)				/* the state: the last step's outputs */
		for (int r = 0; r < rows; r++)
			memcpy(h + (size_t) r * R, hsrc + (size_t) r * DR, sizeof(float) * R);
	if (sync != NULL)
		__atomic_store_n(&sync->progress[sync->self], T, __ATOMIC_RELEASE);
	return SM_OK;
}

/*
 * The layers of a one-row tile on two threads.  At batch 1 every step is a
 * vector-by-matrix product and a cell, too little to split over threads
 * (the hand-off costs more: measured), but the directions can run side by
 * side: one layer's direction runs a chunk behind the one below it (it
 * waits for the chunk's steps before projecting them), and the two
 * directions of a bidirectional layer run together once the layer below is
 * done.  Each direction is computed exactly as alone (same products, same
 * order), so the bits do not change.  Directions are claimed in order from
 * one counter and wait only on earlier ones, which someone has claimed: a
 * thread that never comes costs nothing, the other one runs them all.
 */
#define PIPE_MAX_DIRS 16

typedef struct pipe_ctx
{
	const sm_rnn *m;
	tile_ws    *ws;
	int			T;
	float	   *bufs[2];		/* layer k writes bufs[k & 1] */
	int			claimed;		/* atomic: next direction to take */
	int			progress[PIPE_MAX_DIRS];
	int			stop;
	pthread_t	caller;
	sm_status	rc[2];			/* per pool item */
	sm_error	err[2];
} pipe_ctx;

static bool
pipelined(const sm_rnn *m, const tile_ws *ws, int rows, int T)
{
	return ws->split > 1 && rows == 1 && ws->xw2 != NULL && m->L * m->D > 1 &&
		m->L * m->D <= PIPE_MAX_DIRS && T >= 2 * chunk_steps(1) &&
		sm_ops == &sm_cpu_backend && sm_ops_kernels() != SM_KERNELS_BLAS;
}

static void
pipe_run(void *arg, int item)
{
	pipe_ctx   *p = arg;
	const sm_rnn *m = p->m;
	tile_ws    *ws = p->ws;
	dir_scratch scr = item == 0 ? (dir_scratch) {ws->xw, ws->gh, ws->hc} : (dir_scratch) {ws->xw2, ws->gh2, ws->hc2};
	const int	D = m->D;
	const size_t DR = (size_t) m->D * m->R;

	for (;;)
	{
		int			j = __atomic_fetch_add(&p->claimed, 1, __ATOMIC_ACQ_REL);
		int			k = j / D,
					d = j % D;
		dir_sync	sync;
		size_t		s = (size_t) j;

		if (j >= m->L * D || p->rc[item] != SM_OK)
			break;
		sync.progress = p->progress;
		sync.self = j;
		sync.wait_for[0] = k == 0 ? -1 : (k - 1) * D;
		sync.wait_for[1] = k == 0 || D == 1 ? -1 : (k - 1) * D + 1;
		sync.whole = D == 2;
		sync.stop = &p->stop;
		sync.polls = pthread_equal(pthread_self(), p->caller);
		p->rc[item] = run_direction(m, &m->dirs[j], ws, &scr, &sync, 1, p->T,
									k == 0 ? ws->x : p->bufs[(k - 1) & 1], k == 0 ? m->I : (int) DR,
									p->bufs[k & 1], d, ws->h + s * m->R, ws->c + s * m->H, &p->err[item]);
		if (p->rc[item] != SM_OK)
		{
			/* the directions waiting on this one stop too */
			__atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&p->progress[j], p->T, __ATOMIC_RELEASE);
		}
	}
	/*
	 * The caller, with nothing left to claim, waits for the other thread's
	 * directions here rather than in the pool, so that it keeps asking
	 * whether the call is canceled (the other thread never asks).
	 */
	if (pthread_equal(pthread_self(), p->caller))
	{
		dir_sync	sync = {.progress = p->progress, .stop = &p->stop, .polls = true};

		for (int j = 0; j < m->L * D; j++)
		{
			int			spins = 0;

			while (__atomic_load_n(&p->progress[j], __ATOMIC_ACQUIRE) < p->T)
			{
				if ((++spins & 63) == 0 && dir_should_stop(ws, &sync))
					return;
				sm_cpu_pause();
			}
		}
	}
}

static sm_status
run_layers_pipelined(const sm_rnn *m, tile_ws *ws, int T, float **top, sm_error *err)
{
	pipe_ctx	p;

	memset(&p, 0, sizeof(p));
	p.m = m;
	p.ws = ws;
	p.T = T;
	p.bufs[0] = ws->ya;
	p.bufs[1] = ws->yb;
	p.caller = pthread_self();
	sm_pool_run(2, 2, pipe_run, &p);
	for (int i = 0; i < 2; i++)
		if (p.rc[i] != SM_OK)
		{
			*err = p.err[i];
			return p.rc[i];
		}
	*top = p.bufs[(m->L - 1) & 1];
	return SM_OK;
}

/*
 * A one-row tile's direction with its units in two halves, each step's two
 * halves on two threads.  At batch 1 every step reads all of W_hh, and past
 * L2 (hidden 256: 1 MB for an LSTM) one core streams it from L3 at every
 * step; by halves each core reads half of it, which stays in its own L2.
 * Half j takes the units [u[j], u[j + 1]) of every gate, i.e. the gate
 * columns q H + u[j] .. of each gate q (panel-aligned views of the packed
 * weights, sm_packed_columns), in its own buffers laid out [G][its units],
 * and runs the cell on its units.  The state has two buffers: step s reads
 * hb[s & 1] whole and writes its half of hb[(s + 1) & 1].
 *
 * Each thread keeps its half for the whole direction (so its part of W_hh
 * stays in its L2) and before step s waits until the other half has done
 * step s - 1.  A half is owned by whoever starts it first; a thread that
 * has waited STEAL_SPINS polls for a half nobody owns (the other thread
 * never came: the pool ran both items on the caller, one after the other)
 * takes it over and runs both halves alone.  Each element is
 * computed by the same operations whoever runs it: the bits are those of
 * the one-thread run.  Measured (bench_shapes 2, 2-core Zen 4, 1 MB L2
 * per core, alternated with the build before): LSTM hidden 256 x 3 layers
 * over 24 steps 1.07-1.31 -> 0.52-0.56 ms (it ran on one thread: too short
 * to pipeline), over 512 steps 14.6-15.0 -> 11.3 ms (pipelined before;
 * 12.0-12.9 when either thread took either half from step to step); at
 * hidden 128 (LSTM W_hh 256 kB, GRU 192 kB) no gain, the halves' products
 * of 4 panels and the hand-off eat what the smaller stream saves: hence
 * HALVES_MIN_BYTES.
 */

typedef struct halves_ctx
{
	const sm_rnn *m;
	const sm_rnn_dir *w;
	tile_ws    *ws;
	int			T;
	const float *in;			/* [T][in_w] the layer's input */
	int			in_w;
	float	   *out;			/* [T][D * R] the layer's output */
	int			d;
	float	   *hb[2];			/* the state's two buffers */
	float	   *c;				/* lstm cell state */
	bool		has_b,
				has_bh;
	int			u[3];			/* half j: units [u[j], u[j + 1]) */
	int			owner[2];		/* atomic: half j taken (1) */
	int			prog[2];		/* atomic: steps half j has done */
	int			stop;			/* atomic: canceled */
	pthread_t	caller;
} halves_ctx;

/* the tile's buffers exist only where halves_fit(m) held when it was carved */
static bool
halves(const tile_ws *ws, int rows)
{
	return ws->split > 1 && rows == 1 && ws->hv_h != NULL &&
		sm_ops == &sm_cpu_backend && sm_ops_kernels() != SM_KERNELS_BLAS;
}

/* canceled: the caller's thread asks the call, every thread reads the flag */
static bool
halves_stop(halves_ctx *h, bool polls)
{
	if (polls && sm_par_should_stop(h->ws->par))
		__atomic_store_n(&h->stop, 1, __ATOMIC_RELAXED);
	return __atomic_load_n(&h->stop, __ATOMIC_RELAXED) != 0;
}

/* y[rows][its gates] (+)= x W^T over the gate columns of half j */
static void
halves_product(const halves_ctx *h, const sm_packed *W, int j, const float *x, int ldx, int rows,
			   float beta, float *y)
{
	const int	H = h->m->H,
				G = h->m->G,
				u0 = h->u[j],
				n = h->u[j + 1] - u0;

	for (int q = 0; q < G; q++)
	{
		sm_packed	v;

		if (!sm_packed_columns(W, q * H + u0, n, &v))
			continue;			/* not reached: halves_fit() admits packed, panel-aligned halves only */
		sm_op_matmul(&v, x, ldx, rows, beta, y + (size_t) q * n, G * n);
	}
}

static void
halves_task(halves_ctx *h, int j, int s)
{
	const sm_rnn *m = h->m;
	tile_ws    *ws = h->ws;
	const int	T = h->T,
				u0 = h->u[j],
				n = h->u[j + 1] - u0,
				chunk = chunk_steps(1);
	const bool	reverse = h->d == 1;
	const int	t = reverse ? T - 1 - s : s;
	/* the chunk this step is in, in processing order as run_direction's */
	const int	t0 = s - s % chunk,
				tc = T - t0 < chunk ? T - t0 : chunk,
				first = reverse ? T - t0 - tc : t0;
	float	   *g = ws->hv_xw[j] + (size_t) (t - first) * m->G * n;
	const float *hcur = h->hb[s & 1];
	float	   *hnext = h->hb[(s + 1) & 1] + u0;
	float	   *y = h->out + (size_t) t * m->D * m->R + (size_t) h->d * m->R + u0;
	const float *b = h->has_b ? ws->hv_b[j] : NULL;

	/* the chunk's input projection for this half (biases: in the cell) */
	if (s == t0)
		halves_product(h, &h->w->p_ih, j, h->in + (size_t) first * h->in_w, h->in_w, tc, 0.0f,
					   ws->hv_xw[j]);
	if (ws->active[t] == 0)
	{
		/* before the sequence starts: the state stays, the output is zero */
		memcpy(hnext, hcur + u0, sizeof(float) * n);
		memset(y, 0, sizeof(float) * n);
		return;
	}
	if (m->cell == SM_CELL_GRU)
	{
		halves_product(h, &h->w->p_hh, j, hcur, m->R, 1, 0.0f, ws->hv_gh[j]);
		memcpy(hnext, hcur + u0, sizeof(float) * n);
		sm_op_gru_cell(g, b, ws->hv_gh[j], h->has_bh ? ws->hv_bh[j] : NULL, hnext, n);
	}
	else
	{
		halves_product(h, &h->w->p_hh, j, hcur, m->R, 1, 1.0f, g);
		if (m->cell == SM_CELL_LSTM)
			sm_op_lstm_cell(g, b, h->c + u0, hnext, n);
		else
			sm_op_elman_cell(g, b, hnext, n, m->cell == SM_CELL_RNN_RELU);
	}
	memcpy(y, hnext, sizeof(float) * n);
}

/* polls of a wait before a thread takes over a half that nobody owns (~1 ms) */
#define STEAL_SPINS (1 << 16)

static bool
halves_take(halves_ctx *h, int j)
{
	int			unowned = 0;

	return __atomic_compare_exchange_n(&h->owner[j], &unowned, 1, false, __ATOMIC_ACQ_REL,
									   __ATOMIC_ACQUIRE);
}

static void
halves_do(halves_ctx *h, int j, int s)
{
	halves_task(h, j, s);
	__atomic_store_n(&h->prog[j], s + 1, __ATOMIC_RELEASE);
}

static void
halves_run(void *arg, int item)
{
	halves_ctx *h = arg;
	const bool	polls = pthread_equal(pthread_self(), h->caller);
	const int	j = item,
				o = 1 - item;

	if (!halves_take(h, j))
	{
		/*
		 * The other thread took this half over.  If that is the worker,
		 * the caller still waits here, asking whether the call is
		 * canceled (the worker never asks, it only reads the flag).
		 */
		int			spins = 0;

		while (polls && (__atomic_load_n(&h->prog[0], __ATOMIC_ACQUIRE) < h->T ||
						 __atomic_load_n(&h->prog[1], __ATOMIC_ACQUIRE) < h->T))
		{
			if ((++spins & 63) == 0 && halves_stop(h, polls))
				return;
			sm_cpu_pause();
		}
		return;
	}
	for (int s = 0; s < h->T; s++)
	{
		int			spins = 0;

		if (halves_stop(h, polls))
			return;
		/* the other half's step s - 1: it wrote its part of the state this step reads */
		while (__atomic_load_n(&h->prog[o], __ATOMIC_ACQUIRE) < s)
		{
			if ((++spins & 63) == 0 && halves_stop(h, polls))
				return;
			if (spins >= STEAL_SPINS && halves_take(h, o))
			{
				/* alone: both halves, each step's in order, from where they are */
				for (int t = __atomic_load_n(&h->prog[o], __ATOMIC_ACQUIRE); t < h->T; t++)
				{
					if (halves_stop(h, polls))
						return;
					if (t >= s)
						halves_do(h, j, t);
					halves_do(h, o, t);
				}
				return;
			}
			sm_cpu_pause();
		}
		halves_do(h, j, s);
	}
}

static sm_status
run_direction_halves(const sm_rnn *m, const sm_rnn_dir *w, tile_ws *ws, int T, const float *in,
					 int in_w, float *out, int d, float *hstate, float *c, sm_error *err)
{
	halves_ctx	h;
	const int	H = m->H;
	const float *b = m->cell == SM_CELL_GRU ? w->b_ih : (w->b_ih ? w->b_sum : NULL);
	const float *bh = m->cell == SM_CELL_GRU ? w->b_hh : NULL;

	memset(&h, 0, sizeof(h));
	h.m = m;
	h.w = w;
	h.ws = ws;
	h.T = T;
	h.in = in;
	h.in_w = in_w;
	h.out = out;
	h.d = d;
	h.hb[0] = hstate;
	h.hb[1] = ws->hv_h;
	h.c = c;
	h.has_b = b != NULL;
	h.has_bh = bh != NULL;
	h.u[0] = 0;
	h.u[1] = H / 2;
	h.u[2] = H;
	h.caller = pthread_self();
	/* each half's biases, laid out as its gates */
	for (int j = 0; j < 2; j++)
	{
		int			n = h.u[j + 1] - h.u[j];

		for (int q = 0; q < m->G; q++)
		{
			if (b)
				memcpy(ws->hv_b[j] + (size_t) q * n, b + (size_t) q * H + h.u[j], sizeof(float) * n);
			if (bh)
				memcpy(ws->hv_bh[j] + (size_t) q * n, bh + (size_t) q * H + h.u[j], sizeof(float) * n);
		}
	}
	sm_pool_run(2, 2, halves_run, &h);
	if (__atomic_load_n(&h.stop, __ATOMIC_RELAXED))
		return sm_fail(err, SM_ERR_ABORTED, "canceled");
	/* after an odd number of steps the state is in the second buffer */
	if (T & 1)
		memcpy(hstate, ws->hv_h, sizeof(float) * (size_t) m->R);
	return SM_OK;
}

/*
 * All layers over the tile's input ws->x [T][rows][I] (already scaled).
 * Leaves the top layer's output in *top ([T][rows][D*R]).  States start from
 * what ws holds (zero after tile_reset_state).
 */
static sm_status
run_layers(const sm_rnn *m, tile_ws *ws, int rows, int T, float **top, sm_error *err)
{
	const float *in = ws->x;
	int			in_w = m->I;
	float	   *out = ws->ya;
	const size_t DR = (size_t) m->D * m->R;
	const dir_scratch scr = {ws->xw, ws->gh, ws->hc};
	const bool	by_halves = halves(ws, rows);

	if (pipelined(m, ws, rows, T) && !by_halves)
		return run_layers_pipelined(m, ws, T, top, err);

	for (int k = 0; k < m->L; k++)
	{
		for (int d = 0; d < m->D; d++)
		{
			size_t		s = (size_t) (k * m->D + d) * ws->rows;
			const sm_rnn_dir *w = &m->dirs[k * m->D + d];
			sm_status	rc = by_halves ?
				run_direction_halves(m, w, ws, T, in, in_w, out, d, ws->h + s * m->R, ws->c + s * m->H, err) :
				run_direction(m, w, ws, &scr, NULL, rows, T, in, in_w, out, d, ws->h + s * m->R,
							  ws->c + s * m->H, err);

			if (rc != SM_OK)
				return rc;
		}
		in = out;
		in_w = (int) DR;
		out = out == ws->ya ? ws->yb : ws->ya;
	}
	*top = (float *) in;
	return SM_OK;
}

/* Apply the head (if any) to n rows of top-layer outputs, then unscale. */
static void
apply_head(const sm_rnn *m, const float *y, size_t n, float *out)
{
	const int	DR = m->D * m->R;
	const int	W = sm_rnn_output_width(m);

	if (m->O == 0)
	{
		memcpy(out, y, sizeof(float) * n * DR);
		return;
	}
	for (size_t r = 0; r < n; r++)
	{
		if (m->head_b)
			memcpy(out + r * W, m->head_b, sizeof(float) * W);
		else
			memset(out + r * W, 0, sizeof(float) * W);
	}
	sm_op_matmul(&m->p_head, y, DR, (int) n, 1.0f, out, W);
	sm_seqhead_unscale(&m->sh, out, n);
}

/* x (user layout row, right-aligned in T) -> ws->x time-major, scaled */
static void
load_row(const sm_rnn *m, tile_ws *ws, int row, int rows, const float *src, int len,
		 int T_tile)
{
	const int	I = m->I;

	for (int t = 0; t < T_tile; t++)
	{
		float	   *dst = ws->x + ((size_t) t * rows + row) * I;
		int			st = t - (T_tile - len);	/* step of the sequence */

		if (st < 0)
		{
			memset(dst, 0, sizeof(float) * I);
			continue;
		}
		for (int i = 0; i < I; i++)
		{
			float		v = src[(size_t) st * I + i];

			if (m->sh.in_mean)
				v -= m->sh.in_mean[i];
			if (m->sh.in_std)
				v /= m->sh.in_std[i];
			dst[i] = v;
		}
	}
}

/*
 * A forecast's history row with future covariates: as load_row, then each
 * future covariate taken one step ahead (from the next row, the last row's
 * from fut0 [n_future], the first step forecast), as sm_seqhead.h says.
 */
static void
load_row_ahead(const sm_rnn *m, tile_ws *ws, int row, int rows, const float *src, int len,
			   int T_tile, const float *fut0)
{
	const sm_seqhead *sh = &m->sh;

	load_row(m, ws, row, rows, src, len, T_tile);
	for (int st = 0; st < len; st++)
	{
		float	   *dst = ws->x + ((size_t) (st + T_tile - len) * rows + row) * m->I;

		for (int j = 0; j < sh->n_future; j++)
		{
			int			i = sh->future[j];
			float		v = st + 1 < len ? src[(size_t) (st + 1) * m->I + i] : fut0[j];

			if (sh->in_mean)
				v -= sh->in_mean[i];
			if (sh->in_std)
				v /= sh->in_std[i];
			dst[i] = v;
		}
	}
}

typedef struct order_item
{
	int			index;
	int			len;
} order_item;

static int
cmp_len_desc(const void *a, const void *b)
{
	const order_item *x = a,
			   *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->index - y->index;
}

/* Sort sequence indices by length, longest first (stable on index). */
static order_item *
order_by_length(int B, int T, const int *lengths)
{
	order_item *o = sm_alloc_array((size_t) (B ? B : 1), sizeof(order_item));

	if (o == NULL)
		return NULL;
	for (int b = 0; b < B; b++)
	{
		o[b].index = b;
		o[b].len = lengths ? lengths[b] : T;
	}
	qsort(o, (size_t) B, sizeof(order_item), cmp_len_desc);
	return o;
}

/* active[t] for a tile of sorted lengths, right-aligned in T_tile steps */
static void
set_active(tile_ws *ws, const order_item *o, int rows, int T_tile)
{
	int			n = 0;

	for (int t = 0; t < T_tile; t++)
	{
		while (n < rows && o[n].len >= T_tile - t)
			n++;
		ws->active[t] = n;
	}
}

/*
 * Start a tile: its rows' sequences (from x [B][T][I], right-aligned, rows
 * in `it` order) into ws, the active prefixes, zero states.  future: a
 * forecast's future covariates [B][h][n_future] (sm_seqhead.h), or NULL.
 */
static void
load_tile(const sm_rnn *m, tile_ws *ws, const float *x, int T, const order_item *it,
		  int rows, int T_tile, const float *future, int h)
{
	for (int r = 0; r < rows; r++)
	{
		const float *src = x + ((size_t) it[r].index * T + (T - it[r].len)) * m->I;

		if (future)
			load_row_ahead(m, ws, r, ws->rows, src, it[r].len, T_tile,
						   future + (size_t) it[r].index * h * m->sh.n_future);
		else
			load_row(m, ws, r, ws->rows, src, it[r].len, T_tile);
	}
	set_active(ws, it, rows, T_tile);
	tile_reset_state(m, ws);
}

/* ---------------------------------------------------------------- states */

int
sm_rnn_state_width(const sm_rnn *m)
{
	return m->L * m->R + (m->cell == SM_CELL_LSTM ? m->L * m->H : 0);
}

sm_status
sm_rnn_state_check(const sm_rnn *m, sm_error *err)
{
	if (m->D != 1)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "a bidirectional model cannot keep a state");
		sm_detail(err, "Its backward direction reads the series from the end, so every new step changes every backward state.");
		return err->code;
	}
	if (m->sh.n_future > 0)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "a model with future covariates cannot keep a state");
		sm_detail(err, "Its input at each step holds the covariates of the next step, which a state cannot have read yet.");
		return err->code;
	}
	if (m->sh.context > 0)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "a model with a context limit cannot keep a state");
		sm_detail(err, "Its forecasts read only the last %d steps of a history; a state carries the whole history.",
				  m->sh.context);
		return err->code;
	}
	return SM_OK;
}

/* the states of tile rows `it` (series it[r].index of state [B][S]) into ws */
static void
state_load(const sm_rnn *m, tile_ws *ws, const float *state, const order_item *it, int rows)
{
	const int	S = sm_rnn_state_width(m);

	for (int r = 0; r < rows; r++)
	{
		const float *src = state + (size_t) it[r].index * S;

		for (int k = 0; k < m->L; k++)
		{
			memcpy(ws->h + ((size_t) k * ws->rows + r) * m->R, src + (size_t) k * m->R,
				   sizeof(float) * m->R);
			if (m->cell == SM_CELL_LSTM)
				memcpy(ws->c + ((size_t) k * ws->rows + r) * m->H,
					   src + (size_t) m->L * m->R + (size_t) k * m->H, sizeof(float) * m->H);
		}
	}
}

/* ... and back */
static void
state_store(const sm_rnn *m, const tile_ws *ws, float *state, const order_item *it, int rows)
{
	const int	S = sm_rnn_state_width(m);

	for (int r = 0; r < rows; r++)
	{
		float	   *dst = state + (size_t) it[r].index * S;

		for (int k = 0; k < m->L; k++)
		{
			memcpy(dst + (size_t) k * m->R, ws->h + ((size_t) k * ws->rows + r) * m->R,
				   sizeof(float) * m->R);
			if (m->cell == SM_CELL_LSTM)
				memcpy(dst + (size_t) m->L * m->R + (size_t) k * m->H,
					   ws->c + ((size_t) k * ws->rows + r) * m->H, sizeof(float) * m->H);
		}
	}
}

/* per-worker buffers; workers never allocate (sm_parallel.h) */
typedef struct fwd_worker
{
	tile_ws		ws;
	float	   *tmp;			/* head outputs of one tile */
} fwd_worker;

typedef struct fwd_ctx
{
	const sm_rnn *m;
	const float *x;
	int			T;
	const order_item *o;
	int			B;
	int			tile;			/* rows per tile (tile_rows_for) */
	float	   *last,
			   *steps;
	float	   *state;			/* [B][S] states in and out (advance), or NULL */
	fwd_worker *workers;
} fwd_ctx;

static sm_status
forward_tile(void *arg, const sm_par *par, int tile, sm_error *err)
{
	fwd_ctx    *c = arg;
	const sm_rnn *m = c->m;
	fwd_worker *wk = &c->workers[par->worker];
	tile_ws    *ws = &wk->ws;
	const int	W = sm_rnn_output_width(m);
	const size_t DR = (size_t) m->D * m->R;
	const int	T = c->T;
	int			b0 = tile * c->tile;
	int			rows = c->B - b0 < c->tile ? c->B - b0 : c->tile;
	const order_item *it = c->o + b0;
	int			Tt = it[0].len;
	float	   *top;
	sm_status	rc;

	ws->par = par;
	load_tile(m, ws, c->x, T, it, rows, Tt, NULL, 0);
	/*
	 * Given states replace the zeros: a row keeps its state until its
	 * sequence starts (right-aligned), since only active rows are stepped.
	 */
	if (c->state)
		state_load(m, ws, c->state, it, rows);
	/* run with the workspace's row stride, only `rows` rows used */
	if ((rc = run_layers(m, ws, ws->rows, Tt, &top, err)) != SM_OK)
		return rc;
	if (c->state)
		state_store(m, ws, c->state, it, rows);
	if (c->last)
	{
		apply_head(m, top + (size_t) (Tt - 1) * ws->rows * DR, (size_t) rows, wk->tmp);
		for (int r = 0; r < rows; r++)
			memcpy(c->last + (size_t) it[r].index * W, wk->tmp + (size_t) r * W, sizeof(float) * W);
	}
	if (c->steps)
	{
		apply_head(m, top, (size_t) Tt * ws->rows, wk->tmp);
		for (int r = 0; r < rows; r++)
		{
			float	   *dst = c->steps + (size_t) it[r].index * T * W;

			memset(dst, 0, sizeof(float) * (size_t) (T - it[r].len) * W);
			for (int t = Tt - it[r].len; t < Tt; t++)
				memcpy(dst + (size_t) (t + T - Tt) * W, wk->tmp + ((size_t) t * ws->rows + r) * W,
					   sizeof(float) * W);
		}
	}
	return SM_OK;
}

/* workers for n tiles: threads only when there are several tiles */
static int
workers_for(int n_tiles)
{
	int			n = sm_get_threads();

	return n_tiles < n ? n_tiles : n;
}

/*
 * A batch of a few rows is too small to split a product over threads: the
 * threads only add hand-off latency (measured: batch 1 slower on 2 threads
 * than on 1).  Hold it to one thread for such calls; returns the setting to
 * restore with product_threads_restore.
 */
#define SMALL_BATCH_ROWS 32

static int
product_threads_for(int rows)
{
	int			n = sm_get_threads();

	if (n > 1 && rows <= SMALL_BATCH_ROWS)
	{
		sm_ops_set_threads(1);
		return n;
	}
	return 0;
}

static void
product_threads_restore(int saved)
{
	if (saved > 0)
		sm_ops_set_threads(saved);
}

/*
 * Rows per tile for a batch of B rows: TILE_ROWS, halved (down to
 * MIN_TILE_ROWS) while the batch would make fewer than TILES_PER_WORKER
 * tiles per thread.  Tiles are claimed in order and a call ends with its
 * slowest worker's last tile: with one or two tiles per thread, a tile
 * that runs slower (its core taken for a while, a cold cache) leaves the
 * other threads idle for up to a whole tile.  Measured (2-core Zen 3, W1's
 * LSTM, 2 threads): four calls of 1024 series (forecast_query's batches)
 * took 548-827 ms against 503-663 ms for one of 4096, 486-562 ms with
 * 128-row tiles; eight calls of 512 took 658-743 ms.  Large batches keep
 * TILE_ROWS (fewer, longer products per step).  Only which rows share a
 * tile changes, and on our kernels a row's bits do not depend on its tile.
 * OpenBLAS's do (its blocking follows the product's row count), so on the
 * blas kernel set tiles stay TILE_ROWS: results there do not change with
 * the thread count either.
 */
static int
tile_rows_for(int B)
{
	int			n = sm_get_threads();
	int			tile = TILE_ROWS;

	while (n > 1 && sm_ops_kernels() != SM_KERNELS_BLAS && tile > MIN_TILE_ROWS && (B + tile - 1) / tile < TILES_PER_WORKER * n)
		tile /= 2;
	return B < tile ? (B > 0 ? B : 1) : tile;
}

static sm_status
forward_run(const sm_rnn *m, const float *x, int B, int T, const int *lengths,
			float *last, float *steps, float *state, sm_error *err)
{
	const int	W = sm_rnn_output_width(m);
	fwd_ctx		c = {0};
	sm_arena	arena = {0};
	int			n_tiles,
				n_workers;
	sm_status	rc;

	if ((rc = sm_seq_check_lengths(B, T, lengths, err)) != SM_OK)
		return rc;
	if (B == 0)
		return SM_OK;
	c.o = order_by_length(B, T, lengths);
	c.tile = tile_rows_for(B);
	n_tiles = (B + c.tile - 1) / c.tile;
	n_workers = workers_for(n_tiles);
	c.workers = sm_alloc0(sizeof(fwd_worker) * (size_t) n_workers);
	if (c.o == NULL || c.workers == NULL)
	{
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory");
		goto done;
	}
	/* every worker's buffers in one block: measured, allocated, carved */
	for (int pass = 0; pass < 2; pass++)
	{
		if (pass == 1 && (rc = sm_arena_alloc(&arena, "a recurrent forward pass", err)) != SM_OK)
			goto done;
		for (int w = 0; w < n_workers; w++)
		{
			fwd_worker *wk = &c.workers[w];

			tile_carve(m, c.tile, c.o[0].len, &wk->ws, &arena);
			wk->tmp = sm_arena_take(&arena, (size_t) wk->ws.rows * (steps ? (size_t) wk->ws.T : 1),
									sizeof(float) * (size_t) W);
		}
	}
	/* one series: its layers may run on two threads (run_layers_pipelined) */
	if (B == 1)
		c.workers[0].ws.split = sm_get_threads();
	c.m = m;
	c.x = x;
	c.T = T;
	c.B = B;
	c.last = last;
	c.steps = steps;
	c.state = state;
	{
		int			saved = product_threads_for(B);

		rc = sm_par_run(n_tiles, n_workers, forward_tile, &c, err);
		product_threads_restore(saved);
	}
done:
	sm_arena_free(&arena);
	sm_free(c.workers);
	sm_free((void *) c.o);
	return rc;
}

sm_status
sm_rnn_forward(const sm_rnn *m, const float *x, int B, int T, const int *lengths,
			   float *last, float *steps, sm_error *err)
{
	return forward_run(m, x, B, T, lengths, last, steps, NULL, err);
}

sm_status
sm_rnn_advance(const sm_rnn *m, const float *x, int B, int T, const int *lengths,
			   float *state, sm_error *err)
{
	sm_status	rc = sm_rnn_state_check(m, err);

	if (rc != SM_OK)
		return rc;
	return forward_run(m, x, B, T, lengths, NULL, NULL, state, err);
}

/* ---------------------------------------------------------------- forecasting */

/* copy the states of `rows` history rows into a stepping workspace, each S times */
static void
expand_states(const sm_rnn *m, const tile_ws *src, int rows, tile_ws *dst, int S)
{
	for (int ld = 0; ld < m->L * m->D; ld++)
		for (int r = 0; r < rows; r++)
			for (int s = 0; s < S; s++)
			{
				size_t		to = (size_t) ld * dst->rows + (size_t) r * S + s;
				size_t		from = (size_t) ld * src->rows + r;

				memcpy(dst->h + to * m->R, src->h + from * m->R, sizeof(float) * m->R);
				memcpy(dst->c + to * m->H, src->c + from * m->H, sizeof(float) * m->H);
			}
}

/* per-worker buffers of a forecast; workers never allocate (sm_parallel.h) */
typedef struct fc_worker
{
	tile_ws		hist,			/* the history (and bidirectional windows) */
				step;			/* one step of every path (unidirectional) */
	float	   *out,			/* [rows*S][W] head outputs */
			   *next,			/* [rows*S][F] values fed back */
			   *vals,			/* [S] scratch for quantiles */
			   *feed,			/* [rows*S][I] rows fed back (covariates), or NULL */
			   *win;			/* [rows*S][Tcap][I] bidirectional windows */
	uint64_t   *rng;			/* [rows*S] sampling streams */
	order_item *wit;			/* [rows*S] window lengths */
	int		   *series;		/* [rows] series index of each row */
} fc_worker;

typedef struct fc_ctx
{
	const sm_rnn *m;
	const float *x;
	int			B,
				T,
				tile;			/* series per tile */
	const order_item *o;
	const sm_forecast_opts *opts;
	const sm_fc_plan *p;
	const float *state;			/* [B][S] start from these states (no history), or NULL */
	float	   *point,
			   *quant;
	fc_worker  *workers;
} fc_ctx;

static sm_status
forecast_tile(void *arg, const sm_par *par, int tile_index, sm_error *err)
{
	fc_ctx	   *c = arg;
	const sm_rnn *m = c->m;
	const sm_forecast_opts *opts = c->opts;
	fc_worker  *wk = &c->workers[par->worker];
	const sm_fc_plan p = *c->p;
	const int	W = sm_rnn_output_width(m);
	const size_t DR = (size_t) m->D * m->R;
	const int	h = opts->horizon;
	const int	T = c->T;
	const int	tile = c->tile;
	const float *x = c->x;
	float	   *point = c->point,
			   *quant = c->quant;
	tile_ws		hist = wk->hist,
				step = wk->step;
	float	   *out = wk->out,
			   *next = wk->next,
			   *vals = wk->vals,
			   *feed = wk->feed,
			   *win = wk->win;
	const int	I = m->I,
				nf = m->sh.n_future;
	const float *future = opts->future;
	uint64_t   *rng = wk->rng;
	int		   *series = wk->series;
	order_item *wit = wk->wit;
	int			b0 = tile_index * tile;
	const order_item *o = c->o;
	sm_status	rc;

	hist.par = par;
	step.par = par;
	{
		int			rows = c->B - b0 < tile ? c->B - b0 : tile;
		const order_item *it = o + b0;
		int			Tt = it[0].len;
		float	   *top;

		for (int r = 0; r < rows; r++)
			series[r] = it[r].index;
		sm_fc_seed_paths(&p, opts, series, rows, rng);

		if (m->D == 1 || m->sh.direct)
		{
			const float *top_last;	/* [rows][D*R] the top layer's output at the last step */

			if (c->state)
			{
				/* the states are where the histories left them: the top h is that output */
				state_load(m, &hist, c->state, it, rows);
				top_last = hist.h + (size_t) (m->L - 1) * hist.rows * m->R;
			}
			else
			{
				/* run the history once */
				load_tile(m, &hist, x, T, it, rows, Tt, future, h);
				if ((rc = run_layers(m, &hist, hist.rows, Tt, &top, err)) != SM_OK)
					return rc;
				top_last = top + (size_t) (Tt - 1) * hist.rows * DR;
			}
			if (m->sh.direct)
			{
				apply_head(m, top_last, (size_t) rows, out);
				sm_fc_record_direct(&m->sh, W, &p, opts, series, rows, out, point, quant);
				return SM_OK;
			}
			/* then step: states (and the first output) expanded to S paths */
			apply_head(m, top_last, (size_t) rows, out);
			/* row r -> rows r*S .. r*S+S-1, from the end so no source is overwritten */
			for (int r = rows - 1; r >= 0; r--)
				for (int s = p.S - 1; s >= 0; s--)
					memmove(out + ((size_t) r * p.S + s) * W, out + (size_t) r * W, sizeof(float) * W);
			expand_states(m, &hist, rows, &step, p.S);
			for (int k = 0; k < h; k++)
			{
				int			n = rows * p.S;

				sm_fc_record_step(&m->sh, W, &p, opts, series, rows, k, out, rng, next, vals, point, quant);
				if (k == h - 1)
					break;
				if (feed)
					for (int r = 0; r < n; r++)
					{
						/* targets fed back, covariates of the next step given */
						const float *fut = future ? future + ((size_t) series[r / p.S] * h + k + 1) * nf : NULL;

						sm_seqhead_feed_row(&m->sh, next + (size_t) r * p.F, fut, feed + (size_t) r * I);
						load_row(m, &step, r, step.rows, feed + (size_t) r * I, 1, 1);
					}
				else
					for (int r = 0; r < n; r++)
						load_row(m, &step, r, step.rows, next + (size_t) r * p.F, 1, 1);
				step.active[0] = n;
				if ((rc = run_layers(m, &step, step.rows, 1, &top, err)) != SM_OK)
					return rc;
				apply_head(m, top, (size_t) n, out);
			}
			return SM_OK;
		}

		/* bidirectional: re-run the growing window at every step */
		{
			int			n = rows * p.S;

			for (int r = 0; r < rows; r++)
				for (int s = 0; s < p.S; s++)
				{
					size_t		row = (size_t) r * p.S + s;
					const float *src = x + ((size_t) it[r].index * T + (T - it[r].len)) * I;
					float	   *w = win + row * hist.T * I;

					if (nf == 0)
						memcpy(w, src, sizeof(float) * (size_t) it[r].len * I);
					else
						for (int t = 0; t < it[r].len; t++)
							sm_seqhead_history_row(&m->sh, src, it[r].len, t,
												   future + (size_t) it[r].index * h * nf, w + (size_t) t * I);
				}
			for (int k = 0; k < h; k++)
			{
				int			Tk = Tt + k;
				for (int row = 0; row < n; row++)
				{
					int			len = it[row / p.S].len + k;

					wit[row].index = row;
					wit[row].len = len;
					load_row(m, &hist, row, hist.rows, win + (size_t) row * hist.T * I, len, Tk);
				}
				set_active(&hist, wit, n, Tk);
				tile_reset_state(m, &hist);
				if ((rc = run_layers(m, &hist, hist.rows, Tk, &top, err)) != SM_OK)
					return rc;
				apply_head(m, top + (size_t) (Tk - 1) * hist.rows * DR, (size_t) n, out);
				sm_fc_record_step(&m->sh, W, &p, opts, series, rows, k, out, rng, next, vals, point, quant);
				for (int row = 0; row < n; row++)
				{
					float	   *w = win + ((size_t) row * hist.T + it[row / p.S].len + k) * I;

					if (feed)
						sm_seqhead_feed_row(&m->sh, next + (size_t) row * p.F,
											future && k + 1 < h ? future + ((size_t) series[row / p.S] * h + k + 1) * nf : NULL,
											w);
					else
						memcpy(w, next + (size_t) row * p.F, sizeof(float) * p.F);
				}
			}
		}
	}
	return SM_OK;
}

/* a forecast from histories x, or (state not NULL) from states after lengths[b] steps */
static sm_status
forecast_run(const sm_rnn *m, const float *x, int B, int T, const int *lengths,
			 const float *state, const sm_forecast_opts *opts, float *point, float *quant,
			 sm_error *err)
{
	const int	W = sm_rnn_output_width(m);
	const int	h = opts->horizon;
	sm_fc_plan		p;
	fc_ctx		c = {0};
	sm_arena	arena = {0};
	order_item *o = NULL;
	int		   *eff = NULL;
	int			tile,
				n_tiles,
				n_workers = 0;
	/* rows fed back are assembled from targets and covariates */
	const bool	covariates = m->sh.targets != NULL || m->sh.F != m->I;
	sm_status	rc;

	if ((!state && (rc = sm_seq_check_lengths(B, T, lengths, err)) != SM_OK) ||
		(rc = sm_fc_plan_make(&m->sh, W, B, lengths, T, opts, &p, err)) != SM_OK)
		return rc;
	if (B == 0)
		return SM_OK;
	/* the context limit: only the last `context` steps of each history */
	eff = sm_alloc_array((size_t) B, sizeof(int));
	if (eff == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	for (int b = 0; b < B; b++)
	{
		eff[b] = lengths ? lengths[b] : T;
		if (m->sh.context > 0 && eff[b] > m->sh.context)
			eff[b] = m->sh.context;
		if (state)
			eff[b] = 1;			/* no history to run: one workspace step, series in order */
	}
	o = order_by_length(B, T, eff);
	/* sampling multiplies rows: keep a tile's rows * S bounded */
	tile = tile_rows_for(B);
	if (p.S > 1 && tile > (TILE_ROWS * 8 / p.S > 0 ? TILE_ROWS * 8 / p.S : 1))
		tile = TILE_ROWS * 8 / p.S > 0 ? TILE_ROWS * 8 / p.S : 1;
	n_tiles = (B + tile - 1) / tile;
	n_workers = workers_for(n_tiles);
	c.workers = sm_alloc0(sizeof(fc_worker) * (size_t) n_workers);
	if (o == NULL || c.workers == NULL)
	{
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory");
		goto done;
	}
	/* every worker's buffers in one block: measured, allocated, carved */
	for (int pass = 0; pass < 2; pass++)
	{
		if (pass == 1 && (rc = sm_arena_alloc(&arena, "a forecast", err)) != SM_OK)
			goto done;
		for (int w = 0; w < n_workers; w++)
		{
			fc_worker  *wk = &c.workers[w];
			bool		bidir = m->D == 2 && !m->sh.direct;
			int			Tcap = o[0].len + (bidir ? h : 0);
			size_t		rows = (size_t) tile * p.S;

			tile_carve(m, bidir ? (int) rows : tile, Tcap, &wk->hist, &arena);
			if (m->D == 1 && !m->sh.direct)
				tile_carve(m, (int) rows, 1, &wk->step, &arena);
			wk->out = sm_arena_take(&arena, rows, sizeof(float) * (size_t) W);
			wk->next = sm_arena_take(&arena, rows, sizeof(float) * (size_t) p.F);
			wk->vals = sm_arena_take(&arena, (size_t) p.S, sizeof(float));
			wk->rng = sm_arena_take(&arena, rows, sizeof(uint64_t));
			wk->wit = sm_arena_take(&arena, rows, sizeof(order_item));
			wk->series = sm_arena_take(&arena, (size_t) tile, sizeof(int));
			wk->win = bidir ? sm_arena_take(&arena, rows * Tcap, sizeof(float) * (size_t) m->I) : NULL;
			wk->feed = covariates ? sm_arena_take(&arena, rows, sizeof(float) * (size_t) m->I) : NULL;
		}
	}
	/* one series, one sample: its history's layers may run on two threads */
	if (B == 1 && p.S == 1)
		c.workers[0].hist.split = sm_get_threads();
	c.m = m;
	c.x = x;
	c.B = B;
	c.T = T;
	c.tile = tile;
	c.o = o;
	c.opts = opts;
	c.p = &p;
	c.state = state;
	c.point = point;
	c.quant = quant;
	{
		int			saved = product_threads_for(B * p.S);

		rc = sm_par_run(n_tiles, n_workers, forecast_tile, &c, err);
		product_threads_restore(saved);
	}
done:
	sm_arena_free(&arena);
	sm_free(c.workers);
	sm_free(o);
	sm_free(eff);
	return rc;
}

sm_status
sm_rnn_forecast(const sm_rnn *m, const float *x, int B, int T, const int *lengths,
				const sm_forecast_opts *opts, float *point, float *quant, sm_error *err)
{
	return forecast_run(m, x, B, T, lengths, NULL, opts, point, quant, err);
}

sm_status
sm_rnn_forecast_state(const sm_rnn *m, const float *state, int B, const int *steps,
					  const sm_forecast_opts *opts, float *point, float *quant, sm_error *err)
{
	sm_status	rc = sm_rnn_state_check(m, err);

	if (rc != SM_OK)
		return rc;
	for (int b = 0; b < B; b++)
		if (steps[b] < 0)
			return sm_fail(err, SM_ERR_INVALID, "series %d has a negative step count", b + 1);
	return forecast_run(m, NULL, B, 1, steps, state, opts, point, quant, err);
}
