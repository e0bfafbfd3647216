/*
 * sm_tfm_s2s.c -- running a transformer encoder-decoder (the contract is in
 * sm_tfm_s2s.h; the arch that builds one is sm_arch_tfm_s2s.c).
 *
 * How a decode runs.  start() packs the B sources back to back and runs the
 * encoder over them in one sm_tfm_forward (tiles on threads, no padding),
 * then projects the memory once per decoder layer into the cross-attention
 * keys and values [S, 2d] (one product per layer over every source token).
 * Each step then costs, per layer, one product over the N rows for each
 * projection (self q k v, self out, cross q, cross out, the two
 * feed-forward ones), attention per row over its own cached keys (self) and
 * per run of rows sharing a source over that source's memory (cross: the
 * beams of a source in one product), and one product for the output layer.
 * The arena of a decode holds everything, the caches sized by the step
 * count start() is given.
 */
#include "sm_tfm_s2s.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/sm_arena.h"

const sm_tfm_s2s *
sm_tfm_s2s_of(const sm_model *model)
{
	return model->arch->family == SM_FAMILY_TFM_SEQ2SEQ ? model->impl : NULL;
}

/* ---------------------------------------------------------------- life cycle */

/* a decoder layer's dense layers */
#define N_DENSE 11
#define DENSES(L) {&(L)->sa_qkv, &(L)->sa_q, &(L)->sa_k, &(L)->sa_v, &(L)->sa_o, &(L)->ca_q, \
	&(L)->ca_k, &(L)->ca_v, &(L)->ca_o, &(L)->ff1, &(L)->ff2}

sm_status
sm_tfm_s2s_pack(sm_tfm_s2s *m, sm_error *err)
{
	sm_status	rc;

	if ((rc = sm_tfm_pack(m->enc, err)) != SM_OK)
		return rc;
	for (int li = 0; li < m->n_layers; li++)
	{
		sm_tfm_dec_layer *L = &m->layers[li];
		sm_dense   *all[N_DENSE] = DENSES(L);

		for (int i = 0; i < N_DENSE; i++)
			if (all[i]->w && (rc = sm_packed_init(&all[i]->pk, all[i]->w, all[i]->out, all[i]->in,
												  all[i]->in_major, err)) != SM_OK)
				return rc;
	}
	return sm_packed_init(&m->lm.pk, m->lm.w, m->lm.out, m->lm.in, false, err);
}

void
sm_tfm_s2s_free(sm_tfm_s2s *m)
{
	if (m == NULL)
		return;
	if (m->enc)
	{
		/* the positional table may be shared: freed once, below */
		if (m->enc->pos_owned == m->pos_owned)
			m->enc->pos_owned = NULL;
		sm_tfm_free(m->enc);
	}
	if (m->layers)
		for (int li = 0; li < m->n_layers; li++)
		{
			sm_tfm_dec_layer *L = &m->layers[li];
			sm_dense   *all[N_DENSE] = DENSES(L);

			for (int i = 0; i < N_DENSE; i++)
				sm_packed_free(&all[i]->pk);
		}
	sm_packed_free(&m->lm.pk);
	sm_free(m->layers);
	sm_free(m->pos_owned);
	sm_free(m->banned);
	sm_free(m);
}

sm_status
sm_tfm_s2s_token(const sm_config *cfg, const char *key, int64_t V, int64_t def, int64_t *out,
				 sm_error *err)
{
	const sm_json *v = sm_json_get(cfg->json, key);

	if (v != NULL && v->type == SM_JSON_NULL)
	{
		*out = -1;
		return SM_OK;
	}
	return sm_config_int(cfg, key, false, def, 0, V - 1, out, err);
}

void
sm_tfm_s2s_release(sm_model *model)
{
	sm_tfm_s2s_free(model->impl);
	model->impl = NULL;
}

/* ---------------------------------------------------------------- the decoding state */

typedef struct ts_state
{
	const sm_tfm_s2s *m;
	sm_arena	arena;
	int			B,
				cap,			/* rows (and key slots) at most: B x beams */
				beams,
				rows,			/* rows now */
				T,				/* steps the caches hold */
				t,				/* steps taken */
				S,				/* source tokens in all */
				Smax;			/* the longest source */
	int		   *off,
			   *len;			/* [B] each source's first memory row, length */
	int32_t    *ids;			/* [S] the sources packed */
	float	   *memory;			/* [S, d] the encoder's output */
	float	   *mem_kv;			/* [L, S, 2d] cross-attention keys, then values */
	float	   *kc,
			   *vc;				/* [cap slots, L, T, d] self-attention keys / values */
	int		   *slot,
			   *slot2,			/* [cap] each row's key slot (ping-pong for reorder) */
			   *src,
			   *src2;			/* [cap] each row's source */
	unsigned char *taken;		/* [cap] reorder: slots kept */
	/* step buffers */
	float	   *x,				/* [cap, d] residual stream */
			   *h,				/* [cap, d] normed input of a sublayer (pre-norm) */
			   *qkv,			/* [cap, 3d] */
			   *q,				/* [cap, d] cross-attention queries */
			   *ctx,			/* [cap, d] attention output */
			   *f,				/* [cap, ffn] */
			   *attn;			/* attention scratch (scores [beams, max(Smax, T)], packing) */
	size_t		attn_floats;
} ts_state;

static void
carve(ts_state *st, const sm_tfm_s2s *m)
{
	sm_arena   *a = &st->arena;
	const size_t d = (size_t) m->d,
				L = (size_t) m->n_layers,
				cap = (size_t) st->cap;
	int			keys = st->Smax > st->T ? st->Smax : st->T;

	st->off = sm_arena_take(a, (size_t) st->B, sizeof(int));
	st->len = sm_arena_take(a, (size_t) st->B, sizeof(int));
	st->ids = sm_arena_take(a, (size_t) st->S, sizeof(int32_t));
	st->memory = sm_arena_take(a, (size_t) st->S * d, sizeof(float));
	st->mem_kv = sm_arena_take(a, L * (size_t) st->S * 2 * d, sizeof(float));
	st->kc = sm_arena_take(a, cap * L * (size_t) st->T * d, sizeof(float));
	st->vc = sm_arena_take(a, cap * L * (size_t) st->T * d, sizeof(float));
	st->slot = sm_arena_take(a, cap, sizeof(int));
	st->slot2 = sm_arena_take(a, cap, sizeof(int));
	st->src = sm_arena_take(a, cap, sizeof(int));
	st->src2 = sm_arena_take(a, cap, sizeof(int));
	st->taken = sm_arena_take(a, cap, 1);
	st->x = sm_arena_take(a, cap * d, sizeof(float));
	st->h = sm_arena_take(a, cap * d, sizeof(float));
	st->qkv = sm_arena_take(a, cap * 3 * d, sizeof(float));
	st->q = sm_arena_take(a, cap * d, sizeof(float));
	st->ctx = sm_arena_take(a, cap * d, sizeof(float));
	st->f = sm_arena_take(a, cap * (size_t) m->ffn, sizeof(float));
	st->attn_floats = sm_op_attention_scratch(st->beams, keys, m->dh);
	st->attn = sm_arena_take(a, st->attn_floats, sizeof(float));
}

static void
ts_end(void *state)
{
	ts_state   *st = state;

	if (st == NULL)
		return;
	sm_arena_free(&st->arena);
	sm_free(st);
}

/* the encoder over the packed sources, then the cross keys / values of every layer */
static sm_status
run_encoder(const sm_tfm_s2s *m, ts_state *st, sm_error *err)
{
	sm_tfm_batch b = {.B = st->B, .lengths = st->len, .ids = st->ids};
	const int	d = m->d;
	sm_status	rc;

	if ((rc = sm_tfm_forward(m->enc, &b, SM_TFM_OUT_HIDDEN, st->memory, NULL, err)) != SM_OK)
		return rc;
	for (int li = 0; li < m->n_layers; li++)
	{
		const sm_dense *kv[2] = {&m->layers[li].ca_k, &m->layers[li].ca_v};
		float	   *out = st->mem_kv + (size_t) li * st->S * 2 * d;

		if (sm_should_abort())
			return sm_fail(err, SM_ERR_ABORTED, "canceled");
		/* rows of [keys | values] */
		for (int j = 0; j < 2; j++)
			sm_dense_act(kv[j], st->memory, d, st->S, out + j * d, 2 * d, SM_ACT_IDENTITY);
	}
	return SM_OK;
}

static sm_status
ts_start(const void *model, const int32_t *const *src, const int *len, int B, int beams,
		 int steps, void **state, sm_error *err)
{
	const sm_tfm_s2s *m = model;
	ts_state   *st;
	size_t		S = 0;
	int			Smax = 0;
	sm_status	rc;

	*state = NULL;
	for (int b = 0; b < B; b++)
	{
		S += (size_t) len[b];
		Smax = len[b] > Smax ? len[b] : Smax;
	}
	if (B < 1 || beams < 1 || Smax < 1 || steps < 1)
		return sm_fail(err, SM_ERR_INTERNAL, "decoder started without rows");
	if ((uint64_t) B * beams > INT32_MAX / 4 || S > INT32_MAX / 4)
		return sm_fail(err, SM_ERR_LIMIT, "too many decoder rows: %d sources x %d beams", B, beams);
	if (steps > m->max_target)
	{
		sm_fail(err, SM_ERR_LIMIT, "the target would have %d tokens, more than the model's maximum of %d",
				steps, m->max_target);
		sm_detail(err, "The decoder's positions cover %d tokens.", m->max_target);
		sm_hint(err, "Ask for at most %d new tokens (max_new_tokens).", m->max_target);
		return err->code;
	}
	if ((st = sm_alloc0(sizeof(ts_state))) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	st->m = m;
	st->B = B;
	st->beams = beams;
	st->cap = B * beams;
	st->T = steps;
	st->S = (int) S;
	st->Smax = Smax;
	carve(st, m);
	if ((rc = sm_arena_alloc(&st->arena, "an encoder-decoder", err)) != SM_OK)
	{
		sm_free(st);
		return rc;
	}
	carve(st, m);
	for (int b = 0, o = 0; b < B; o += len[b], b++)
	{
		st->off[b] = o;
		st->len[b] = len[b];
		memcpy(st->ids + o, src[b], sizeof(int32_t) * (size_t) len[b]);
	}
	if ((rc = run_encoder(m, st, err)) != SM_OK)
	{
		ts_end(st);
		return rc;
	}
	for (int i = 0; i < st->cap; i++)
	{
		st->src[i] = i / beams;
		st->slot[i] = i;
	}
	st->rows = st->cap;
	*state = st;
	return SM_OK;
}

/*
 * Row i continues row from[i].  The first new row of a parent takes its
 * slot; other children get a free slot (one no new row keeps) and a copy of
 * the parent's keys and values so far.
 */
/* slot `to` gets slot `from`'s keys and values so far */
static void
ts_copy_slot(void *ctx, int to, int from)
{
	ts_state   *st = ctx;
	const sm_tfm_s2s *m = st->m;
	const size_t per_layer = (size_t) st->T * m->d;
	const size_t per_slot = (size_t) m->n_layers * per_layer;
	const size_t used = (size_t) st->t * m->d;

	for (int li = 0; li < m->n_layers && used > 0; li++)
	{
		size_t		t = (size_t) to * per_slot + li * per_layer,
					f = (size_t) from * per_slot + li * per_layer;

		memcpy(st->kc + t, st->kc + f, sizeof(float) * used);
		memcpy(st->vc + t, st->vc + f, sizeof(float) * used);
	}
}

/* Row i continues row from[i]: slots as sm_beam_assign_slots gives them. */
static void
ts_reorder(void *state, const int *from, int rows)
{
	ts_state   *st = state;
	int		   *t;

	sm_beam_assign_slots(st->slot, from, rows, st->cap, st->taken, st->slot2, ts_copy_slot, st);
	for (int i = 0; i < rows; i++)
		st->src2[i] = st->src[from[i]];
	t = st->slot, st->slot = st->slot2, st->slot2 = t;
	t = st->src, st->src = st->src2, st->src2 = t;
	st->rows = rows;
}

/* self-attention of every row over its own keys 0 .. t (causal by construction) */
static void
self_attend(const sm_tfm_s2s *m, ts_state *st, int li)
{
	const int	d = m->d;
	const size_t per_slot = (size_t) m->n_layers * st->T * d;
	sm_attn		a = {.heads = m->heads, .dh = m->dh, .ldq = 3 * d, .ldk = d, .nq = 1,
		.nk = st->t + 1, .scale = 1.0f / sqrtf((float) m->dh), .ldc = d,
	.scratch = st->attn, .set_floats = st->attn_floats, .sets = 1};

	for (int r = 0; r < st->rows; r++)
	{
		a.k = st->kc + (size_t) st->slot[r] * per_slot + (size_t) li * st->T * d;
		a.v = st->vc + (size_t) st->slot[r] * per_slot + (size_t) li * st->T * d;
		a.q = st->qkv + (size_t) r * 3 * d;
		a.ctx = st->ctx + (size_t) r * d;
		sm_op_attention(&a);
	}
}

/* cross-attention of the rows, per run of rows sharing a source, over its memory */
static void
cross_attend(const sm_tfm_s2s *m, ts_state *st, int li)
{
	const int	d = m->d,
				N = st->rows;
	const float *kv = st->mem_kv + (size_t) li * st->S * 2 * d;
	sm_attn		a = {.heads = m->heads, .dh = m->dh, .ldq = d, .ldk = 2 * d,
		.scale = 1.0f / sqrtf((float) m->dh), .ldc = d,
	.scratch = st->attn, .set_floats = st->attn_floats, .sets = 1};

	for (int r0 = 0, r1; r0 < N; r0 = r1)
	{
		int			b = st->src[r0];

		for (r1 = r0 + 1; r1 < N && st->src[r1] == b; r1++)
			;
		a.q = st->q + (size_t) r0 * d;
		a.k = kv + (size_t) st->off[b] * 2 * d;
		a.v = a.k + d;
		a.nq = r1 - r0;
		a.nk = st->len[b];
		a.ctx = st->ctx + (size_t) r0 * d;
		sm_op_attention(&a);
	}
}

static sm_status
ts_step(void *state, const int32_t *tokens, float *lp, sm_error *err)
{
	/* tokens: [N] -> lp: [N, V] */
	ts_state   *st = state;
	const sm_tfm_s2s *m = st->m;
	const int	N = st->rows,
				d = m->d,
				V = m->V,
				t = st->t;
	const size_t per_slot = (size_t) m->n_layers * st->T * d;
	const float *pe;

	if (t >= st->T)
		return sm_fail(err, SM_ERR_INTERNAL, "decoder stepped past its %d steps", st->T);
	pe = m->pos ? m->pos + (size_t) (m->pos_offset + t) * d : NULL;
	for (int r = 0; r < N; r++)
	{
		const float *e;
		float	   *x = st->x + (size_t) r * d;

		if (tokens[r] < 0 || tokens[r] >= V)
			return sm_fail(err, SM_ERR_INTERNAL, "decoder token %d outside the vocabulary", (int) tokens[r]);
		e = m->emb + (size_t) tokens[r] * d;
		for (int c = 0; c < d; c++)
			x[c] = e[c] * m->emb_scale;
		if (pe)
			for (int c = 0; c < d; c++)
				x[c] += pe[c];
	}
	if (m->emb_ln_g)
		sm_op_add_layernorm(st->x, NULL, m->emb_ln_g, m->emb_ln_b, m->eps, (size_t) N, d, st->x);

	for (int li = 0; li < m->n_layers; li++)
	{
		const sm_tfm_dec_layer *L = &m->layers[li];
		const float *in;

		if (sm_should_abort())
			return sm_fail(err, SM_ERR_ABORTED, "canceled");

		/* self-attention */
		if (m->norm_first)
			sm_op_add_layernorm(st->x, NULL, L->ln1_g, L->ln1_b, m->eps, (size_t) N, d, st->h);
		in = m->norm_first ? st->h : st->x;
		if (L->sa_qkv.w)
		{
			sm_dense_act(&L->sa_qkv, in, d, N, st->qkv, 3 * d, SM_ACT_IDENTITY);
		}
		else
		{
			const sm_dense *p[3] = {&L->sa_q, &L->sa_k, &L->sa_v};

			for (int j = 0; j < 3; j++)
				sm_dense_act(p[j], in, d, N, st->qkv + j * d, 3 * d, SM_ACT_IDENTITY);
		}
		for (int r = 0; r < N; r++)
		{
			size_t		at = (size_t) st->slot[r] * per_slot + ((size_t) li * st->T + t) * d;

			memcpy(st->kc + at, st->qkv + (size_t) r * 3 * d + d, sizeof(float) * d);
			memcpy(st->vc + at, st->qkv + (size_t) r * 3 * d + 2 * d, sizeof(float) * d);
		}
		self_attend(m, st, li);
		sm_dense_mul(&L->sa_o, st->ctx, d, N, 1.0f, st->x, d);
		if (m->norm_first)
			sm_op_add_layernorm(st->x, L->sa_o.b, L->ln2_g, L->ln2_b, m->eps, (size_t) N, d, st->h);
		else
			sm_op_add_layernorm(st->x, L->sa_o.b, L->ln1_g, L->ln1_b, m->eps, (size_t) N, d, st->x);

		/* cross-attention over the source's memory */
		in = m->norm_first ? st->h : st->x;
		sm_dense_act(&L->ca_q, in, d, N, st->q, d, SM_ACT_IDENTITY);
		cross_attend(m, st, li);
		sm_dense_mul(&L->ca_o, st->ctx, d, N, 1.0f, st->x, d);
		if (m->norm_first)
			sm_op_add_layernorm(st->x, L->ca_o.b, L->ln3_g, L->ln3_b, m->eps, (size_t) N, d, st->h);
		else
			sm_op_add_layernorm(st->x, L->ca_o.b, L->ln2_g, L->ln2_b, m->eps, (size_t) N, d, st->x);

		/* feed-forward */
		in = m->norm_first ? st->h : st->x;
		sm_dense_act(&L->ff1, in, d, N, st->f, m->ffn, m->act);
		sm_dense_mul(&L->ff2, st->f, m->ffn, N, 1.0f, st->x, d);
		if (m->norm_first)
			sm_op_add_layernorm(st->x, L->ff2.b, NULL, NULL, m->eps, (size_t) N, d, st->x);	/* the bias only */
		else
			sm_op_add_layernorm(st->x, L->ff2.b, L->ln3_g, L->ln3_b, m->eps, (size_t) N, d, st->x);
	}
	if (m->final_ln_g)
		sm_op_add_layernorm(st->x, NULL, m->final_ln_g, m->final_ln_b, m->eps, (size_t) N, d, st->x);

	/* log_softmax(x lm^T + bias) */
	for (int r = 0; r < N && m->lm_bias; r++)
		memcpy(lp + (size_t) r * V, m->lm_bias, sizeof(float) * V);
	sm_dense_mul(&m->lm, st->x, d, N, m->lm_bias ? 1.0f : 0.0f, lp, V);
	for (int r = 0; r < N; r++)
	{
		float	   *row = lp + (size_t) r * V;
		float		lse = (float) sm_op_logsumexp(row, V);

		for (int j = 0; j < V; j++)
			row[j] -= lse;
	}
	st->t++;
	return SM_OK;
}

void
sm_tfm_s2s_decoder(const sm_tfm_s2s *m, sm_decoder *d)
{
	d->vocab = m->V;
	d->start_id = m->start_id;
	d->eos_id = m->eos_id;
	d->banned = m->banned;
	d->n_banned = m->n_banned;
	d->forced_bos = m->forced_bos;
	d->forced_eos = m->forced_eos;
	d->prompt = false;
	d->model = m;
	d->start = ts_start;
	d->step = ts_step;
	d->reorder = ts_reorder;
	d->end = ts_end;
}

sm_status
sm_tfm_s2s_encode(const sm_tfm_s2s *m, const int32_t *const *src, const int *len, int B,
				  float *memory, sm_error *err)
{
	ts_state   *st;
	sm_status	rc;

	if (B == 0)
		return SM_OK;
	if ((rc = ts_start(m, src, len, B, 1, 1, (void **) &st, err)) != SM_OK)
		return rc;
	memcpy(memory, st->memory, sizeof(float) * (size_t) st->S * m->d);
	ts_end(st);
	return SM_OK;
}
