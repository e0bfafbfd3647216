/*
 * sm_tfm.c -- running a transformer (the contract is in sm_tfm.h; the three
 * archs that build one are sm_arch_transformer.c, sm_arch_gpt2.c and
 * sm_arch_bert.c).
 *
 * How a batch runs.  Sequences are packed back to back with no padding, so
 * every dense layer is one product over all tokens of a tile and padding costs
 * nothing; attention runs per sequence, which is the padding mask.  A tile
 * is a run of whole sequences of at most about TILE_TOKENS tokens; tiles run
 * on seqmodel.threads threads (each product on its tile's thread), or, when
 * there is a single tile, the products split over the threads (ops/sm_pool.h).
 *
 * Cancel is polled every layer, and every attention block of a long
 * sequence.
 *
 * Attention, per sequence, in blocks of Q_BLOCK query rows, each block one
 * call of the seam's attention (ops/sm_attention.c: per head, the scores of
 * the block against the keys it may see are one product, the softmax one
 * pass per row, the mixing one product; heads side by side on the product
 * threads when a single tile runs).  So at most [Q_BLOCK x L] scores exist
 * per thread at a time (the bound is one [heads x L x L] block per
 * sequence).
 *
 * Per layer, the bias of each output projection is folded into the pass
 * that follows it (the residual's layer norm, or the activation), so a
 * layer reads its [n, d] activations a handful of times.
 */
#include "sm_tfm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sm_arena.h"
#include "ops/sm_parallel.h"

/*
 * Tokens per tile, at most (a longer sequence is its own tile).  Small enough
 * that a tile's buffers (x, qkv, the [n, ffn] feed-forward rows: about
 * 5 MB at d 256) stay in the L3 beside the weights: at 4096 a tile had about
 * 40 MB, and W3 (64 x 128 tokens, d 256) on two threads ran 12% slower than
 * at 512 (bench_tfm alternated, AMD EPYC Zen 3, 32 MB L3; 256 and 1024 were
 * no better than 512).  The weights stream per 64-row block either way.
 */
#define TILE_TOKENS 512
#define Q_BLOCK 128				/* query rows per attention block */
/*
 * Rows per language-model-head block (logprob): as many as fit LM_BLOCK_FLOATS
 * logits, within [LM_ROWS_MIN, LM_ROWS_MAX].  Many rows, so the head's [V, d]
 * panels stream past many rows; but a bounded block, so the call's workspace
 * stays under glibc's largest mmap threshold (32 MB) and is reused from the
 * heap batch after batch: at 256 rows GPT-2's 50 257 logits a row made a
 * 51 MB block, mapped afresh by every call, and score_query's logprob over
 * 2000 texts took 472 000 page faults and 8.2-9.5 s against 17 000 and 6.5 s
 * at 32 rows (bench_text, AMD EPYC Zen 3).  A vocabulary of 8000 (W4) still
 * gets 256 rows.  Each row's logits are the same whatever the block.
 */
#define LM_BLOCK_FLOATS (2 * 1024 * 1024)	/* 8 MB */
#define LM_ROWS_MIN 16
#define LM_ROWS_MAX 256

static int
lm_rows(const sm_tfm *m)
{
	int			rows = m->vocab > 0 ? LM_BLOCK_FLOATS / m->vocab : LM_ROWS_MAX;

	return rows < LM_ROWS_MIN ? LM_ROWS_MIN : rows > LM_ROWS_MAX ? LM_ROWS_MAX : rows;
}

const sm_tfm *
sm_tfm_of(const sm_model *model)
{
	if (model->arch->family == SM_FAMILY_TRANSFORMER)
		return model->impl;
	return NULL;
}

int
sm_tfm_out_width(const sm_tfm *m, sm_tfm_out what)
{
	switch (what)
	{
		case SM_TFM_OUT_HIDDEN:
			return m->d;
		case SM_TFM_OUT_LOGITS:
			return m->vocab;
		case SM_TFM_OUT_STEPS:
			return m->head.w ? m->head.out : m->d;
		case SM_TFM_OUT_SEQUENCE:
			return m->head.w ? m->head.out : m->pooler.w ? m->pooler.out : m->d;
		case SM_TFM_OUT_LOGPROB:
			return 1;
		case SM_TFM_OUT_EMBEDDING:
			return m->d;
		case SM_TFM_OUT_PROBS:
			return m->head.w ? m->head.out : 0;
	}
	return 0;
}

/* ---------------------------------------------------------------- for the archs */

sm_status
sm_tfm_spec_dense(sm_spec *spec, sm_error *err, int64_t out, int64_t in, bool in_major,
				  bool bias, bool optional, const char *name)
{
	int64_t		w[2] = {in_major ? in : out, in_major ? out : in};
	int64_t		b[1] = {out};
	sm_status	rc;

	rc = optional ? sm_spec_add_optional(spec, err, 2, w, "%sweight", name)
		: sm_spec_add(spec, err, 2, w, "%sweight", name);
	if (rc == SM_OK && bias)
		rc = optional ? sm_spec_add_optional(spec, err, 1, b, "%sbias", name)
			: sm_spec_add(spec, err, 1, b, "%sbias", name);
	return rc;
}

sm_status
sm_tfm_check_sizes(int64_t d, const char *d_key, int64_t heads, const char *heads_key,
				   double eps, const char *eps_key, sm_error *err)
{
	if (!(eps > 0))
		return sm_fail(err, SM_ERR_INVALID, "config key \"%s\" must be positive", eps_key);
	if (d % heads != 0)
	{
		sm_fail(err, SM_ERR_INVALID, "%s must be a multiple of %s", d_key, heads_key);
		sm_detail(err, "%s is %lld; %s is %lld.", d_key, (long long) d, heads_key, (long long) heads);
		return err->code;
	}
	return SM_OK;
}

sm_status
sm_tfm_hf_act(const char *key, const char *name, sm_act *act, sm_error *err)
{
	if (strcmp(name, "gelu") == 0)
		*act = SM_ACT_GELU;
	else if (strcmp(name, "gelu_new") == 0 || strcmp(name, "gelu_pytorch_tanh") == 0)
		*act = SM_ACT_GELU_TANH;
	else if (strcmp(name, "relu") == 0)
		*act = SM_ACT_RELU;
	else
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "config key \"%s\" has an unsupported value \"%s\"", key, name);
		sm_detail(err, "Supported: \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\", \"relu\".");
		return err->code;
	}
	return SM_OK;
}

sm_status
sm_tfm_spec_norm(sm_spec *spec, sm_error *err, int64_t d, const char *name)
{
	int64_t		shape[1] = {d};
	sm_status	rc = sm_spec_add(spec, err, 1, shape, "%sweight", name);

	return rc == SM_OK ? sm_spec_add(spec, err, 1, shape, "%sbias", name) : rc;
}


sm_dense
sm_tfm_dense(const sm_model *model, int out, int in, bool in_major, const char *name)
{
	sm_dense	L = {.in = in, .out = out, .in_major = in_major};

	L.w = sm_model_weight(model, "%sweight", name);
	L.b = sm_model_weight(model, "%sbias", name);
	return L;
}

sm_status
sm_tfm_new(sm_model *model, const sm_tfm_dims *dims, sm_tfm **out, sm_error *err)
{
	sm_status	rc = sm_tfm_alloc(dims, out, err);

	if (rc == SM_OK)
		model->impl = *out;
	return rc;
}

sm_status
sm_tfm_alloc(const sm_tfm_dims *dims, sm_tfm **out, sm_error *err)
{
	int			n_layers = (int) dims->layers;

	sm_tfm	   *m = sm_alloc0(sizeof(sm_tfm));

	*out = NULL;
	if (m == NULL || (m->layers = sm_alloc0(sizeof(sm_tfm_layer) * (size_t) n_layers)) == NULL)
	{
		sm_free(m);
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	}
	m->n_layers = n_layers;
	m->d = (int) dims->d;
	m->heads = (int) dims->heads;
	m->dh = (int) (dims->d / dims->heads);
	m->ffn = (int) dims->ffn;
	m->eps = (float) dims->eps;
	m->act = dims->act;
	m->emb_scale = 1.0f;
	*out = m;
	return SM_OK;
}

sm_status
sm_tfm_id2label(const sm_json *o, char ***labels, int *n, sm_error *err)
{
	char	  **l;

	if (o->type != SM_JSON_OBJECT || o->count == 0)
		return sm_fail(err, SM_ERR_INVALID, "config key \"id2label\" must be a non-empty object");
	for (size_t i = 0; i < o->count; i++)
	{
		char	   *end;
		long		k = strtol(o->keys[i], &end, 10);

		if (*o->keys[i] == '\0' || *end != '\0' || k < 0 || k >= (long) o->count ||
			o->items[i]->type != SM_JSON_STRING)
		{
			sm_fail(err, SM_ERR_INVALID, "config key \"id2label\" must map \"0\" .. \"%zu\" to strings",
					o->count - 1);
			sm_detail(err, "Member \"%s\" does not.", o->keys[i]);
			return err->code;
		}
	}
	*n = (int) o->count;
	if (labels == NULL)
		return SM_OK;
	/* keys are distinct (the parser refuses duplicates) and in range: each id once */
	if ((l = sm_alloc0(sizeof(char *) * o->count)) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	*labels = l;
	for (size_t i = 0; i < o->count; i++)
	{
		const sm_json *v = o->items[i];

		if ((l[strtol(o->keys[i], NULL, 10)] = sm_strndup(v->string, v->string_len)) == NULL)
			return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	}
	return SM_OK;
}

/* an optional token id in [0, V) */
static sm_status
config_token_id(const sm_config *cfg, const char *key, int V, int32_t *id, sm_error *err)
{
	const sm_json *v = sm_json_get(cfg->json, key);
	int64_t		x;
	sm_status	rc;

	*id = -1;
	if (v == NULL || v->type == SM_JSON_NULL)
		return SM_OK;
	if ((rc = sm_config_int(cfg, key, false, -1, 0, INT32_MAX, &x, err)) != SM_OK)
		return rc;
	if (x >= V)
		return sm_fail(err, SM_ERR_INVALID, "config key \"%s\" must be a token id below vocab_size %d, not %lld",
					   key, V, (long long) x);
	*id = (int32_t) x;
	return SM_OK;
}

sm_status
sm_tfm_text_config(const sm_config *cfg, sm_tfm *m, sm_tfm_pool default_pool, sm_error *err)
{
	const char *pool;
	sm_status	rc;

	if ((rc = sm_config_string(cfg, "embedding_pooling", NULL, &pool, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "embedding_normalize", false, &m->embed_normalize, err)) != SM_OK)
		return rc;
	if (pool == NULL)
		m->embed_pool = default_pool == SM_POOL_NONE ? SM_POOL_MEAN : default_pool;
	else if (strcmp(pool, "cls") == 0 || strcmp(pool, "first") == 0)
		m->embed_pool = SM_POOL_FIRST;
	else if (strcmp(pool, "mean") == 0)
		m->embed_pool = SM_POOL_MEAN;
	else if (strcmp(pool, "last") == 0)
		m->embed_pool = SM_POOL_LAST;
	else
		return sm_fail(err, SM_ERR_INVALID,
					   "config key \"embedding_pooling\" must be \"cls\", \"first\", \"mean\" or \"last\", not \"%s\"", pool);
	if (m->vocab > 0 &&
		((rc = config_token_id(cfg, "bos_token_id", m->vocab, &m->bos_id, err)) != SM_OK ||
		 (rc = config_token_id(cfg, "eos_token_id", m->vocab, &m->eos_id, err)) != SM_OK))
		return rc;
	if (m->vocab == 0)
		m->bos_id = m->eos_id = -1;
	return SM_OK;
}

sm_status
sm_tfm_pack(sm_tfm *m, sm_error *err)
{
	sm_dense   *all[3] = {&m->in_proj, &m->pooler, &m->head};
	sm_status	rc;

	for (int i = 0; i < 3; i++)
		if (all[i]->w && (rc = sm_packed_init(&all[i]->pk, all[i]->w, all[i]->out, all[i]->in,
											  all[i]->in_major, err)) != SM_OK)
			return rc;
	for (int li = 0; li < m->n_layers; li++)
	{
		sm_tfm_layer *L = &m->layers[li];
		sm_dense   *d[7] = {&L->qkv, &L->q, &L->k, &L->v, &L->o, &L->ff1, &L->ff2};

		for (int i = 0; i < 7; i++)
			if (d[i]->w && (rc = sm_packed_init(&d[i]->pk, d[i]->w, d[i]->out, d[i]->in,
												d[i]->in_major, err)) != SM_OK)
				return rc;
	}
	if (m->lm_head && m->lm_head == m->head.w && !m->head.in_major)
		m->lm = &m->head.pk;	/* the same [V, d] weight: already packed */
	else if (m->lm_head)
	{
		if ((rc = sm_packed_init(&m->lm_pk, m->lm_head, m->vocab, m->d, false, err)) != SM_OK)
			return rc;
		m->lm = &m->lm_pk;
	}
	return SM_OK;
}

sm_status
sm_tfm_finish(const sm_config *cfg, sm_tfm *m, sm_tfm_pool default_pool, sm_error *err)
{
	sm_status	rc = sm_tfm_text_config(cfg, m, default_pool, err);

	return rc != SM_OK ? rc : sm_tfm_pack(m, err);
}

sm_status
sm_tfm_sinusoidal(sm_tfm *m, sm_error *err)
{
	const int	d = m->d;

	m->pos_owned = sm_alloc_array((size_t) m->max_len * d, sizeof(float));
	if (m->pos_owned == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory for the positional encoding");
	/* as the PyTorch tutorial's PositionalEncoding computes it, in float:
	 * div = exp(2i * -(ln 10000 / d)), pe = sin / cos(p * div) */
	const float step = (float) (-log(10000.0) / d);

	for (int i = 0; 2 * i < d; i++)
	{
		float		div = expf((float) (2 * i) * step);

		for (int p = 0; p < m->max_len; p++)
		{
			float		a = (float) p * div;

			m->pos_owned[(size_t) p * d + 2 * i] = sinf(a);
			if (2 * i + 1 < d)
				m->pos_owned[(size_t) p * d + 2 * i + 1] = cosf(a);
		}
	}
	m->pos = m->pos_owned;
	return SM_OK;
}

void
sm_tfm_release(sm_model *model)
{
	sm_tfm_free(model->impl);
	model->impl = NULL;
}

void
sm_tfm_free(sm_tfm *m)
{
	if (m == NULL)
		return;
	if (m->labels)
		for (int i = 0; i < m->n_labels; i++)
			sm_free(m->labels[i]);
	sm_packed_free(&m->in_proj.pk);
	sm_packed_free(&m->pooler.pk);
	sm_packed_free(&m->head.pk);
	sm_packed_free(&m->lm_pk);
	if (m->layers)
		for (int li = 0; li < m->n_layers; li++)
		{
			sm_tfm_layer *L = &m->layers[li];
			sm_dense   *d[7] = {&L->qkv, &L->q, &L->k, &L->v, &L->o, &L->ff1, &L->ff2};

			for (int i = 0; i < 7; i++)
				sm_packed_free(&d[i]->pk);
		}
	sm_free(m->labels);
	sm_free(m->layers);
	sm_free(m->pos_owned);
	sm_seqhead_free(&m->sh);
	sm_free(m);
}

/* ---------------------------------------------------------------- workspaces */

typedef struct tfm_ws
{
	int			cap;			/* token rows */
	float	   *x,				/* [cap, d] residual stream */
			   *h,				/* [cap, d] normed input of a sublayer (pre-norm) */
			   *qkv,			/* [cap, 3d] */
			   *ctx,			/* [cap, d] attention output / pooled rows */
			   *f,				/* [cap, ffn] feed-forward; also input rows (numeric) */
			   *attn,			/* attention scratch: attn_sets sets of attn_floats */
			   *attn_kv,		/* every head's keys and values packed (sm_attn.kv), or
								 * NULL where no query run is longer than a block */
			   *lm;				/* [lm_rows, V] logits (logprob), or NULL */
	size_t		attn_floats;
	int			attn_sets;		/* heads that may run side by side (one tile: the threads) */
} tfm_ws;

/*
 * A worker's buffers, carved from the call's arena (sm_arena.h: called
 * once to measure, once to carve; the pointers are NULL while measuring).
 */
static void
ws_carve(const sm_tfm *m, int cap, int max_keys, bool lm, int attn_sets, tfm_ws *ws, sm_arena *a)
{
	size_t		n = (size_t) cap;
	size_t		fw = (size_t) (m->ffn > m->I ? m->ffn : m->I);

	memset(ws, 0, sizeof(*ws));
	ws->cap = cap;
	ws->x = sm_arena_take(a, n * m->d, sizeof(float));
	ws->h = sm_arena_take(a, n * m->d, sizeof(float));
	ws->qkv = sm_arena_take(a, n * 3 * m->d, sizeof(float));
	ws->ctx = sm_arena_take(a, n * m->d, sizeof(float));
	ws->f = sm_arena_take(a, n * fw, sizeof(float));
	ws->attn_sets = attn_sets;
	ws->attn_floats = sm_op_attention_scratch(Q_BLOCK, max_keys, m->dh);
	ws->attn = sm_arena_take(a, ws->attn_floats * (size_t) attn_sets, sizeof(float));
	if (cap > Q_BLOCK)
		ws->attn_kv = sm_arena_take(a, sm_op_attention_kv_scratch(m->heads, max_keys, m->dh),
									sizeof(float));
	if (lm)
		ws->lm = sm_arena_take(a, (size_t) lm_rows(m) * m->vocab, sizeof(float));
}

/* the arena of n_workers workspaces: measured, allocated, carved into ws[] */
static sm_status
ws_alloc(const sm_tfm *m, int n_workers, int cap, int max_keys, bool lm, tfm_ws *ws,
		 sm_arena *a, sm_error *err)
{
	sm_status	rc;
	/* one worker: its attention's heads may run on the product threads */
	int			attn_sets = n_workers == 1 ? sm_get_threads() : 1;

	memset(a, 0, sizeof(*a));
	for (int w = 0; w < n_workers; w++)
		ws_carve(m, cap, max_keys, lm, attn_sets, &ws[w], a);
	if ((rc = sm_arena_alloc(a, "a transformer forward pass", err)) != SM_OK)
	{
		sm_detail(err, "It needs %zu MB of workspace for %d tokens on %d threads.",
				  a->used >> 20, cap, n_workers);
		return rc;
	}
	for (int w = 0; w < n_workers; w++)
		ws_carve(m, cap, max_keys, lm, attn_sets, &ws[w], a);
	return SM_OK;
}

/* ---------------------------------------------------------------- layers */

/* Where attention finds keys and values: the qkv rows themselves, or a cache. */
typedef struct kv_src
{
	float	   *k,
			   *v;				/* per layer: [cap, d] each, or NULL (use qkv) */
	int			past;			/* cached tokens before the new rows */
} kv_src;

/* cancel polling: on a tile's worker (par), or on the calling thread */
static inline bool
should_stop(const sm_par *par)
{
	return par ? sm_par_should_stop(par) : sm_should_abort();
}

/*
 * Attention of nq query rows (Q: row stride ldq) over nk keys / values
 * (strides ldk), into ctx (stride ldc), a block of Q_BLOCK query rows at a
 * time through the seam (all heads of a block in one call, side by side on
 * the product threads when ws has the scratch for it; the keys and values
 * packed once for all blocks, in ws->attn_kv).  Causal: query i
 * sits at position q0 + i and sees keys 0 .. q0 + i.  Polls for cancel
 * every block (a long sequence's attention is most of a layer's work);
 * false when stopped.
 */
static bool
attend(const sm_tfm *m, const float *Q, int ldq, const float *K, const float *V, int ldk,
	   int nq, int nk, int q0, float *ctx, int ldc, const tfm_ws *ws, const sm_par *par)
{
	sm_attn		a = {.heads = m->heads, .dh = m->dh, .k = K, .v = V, .ldk = ldk, .nk = nk,
		.causal = m->causal, .scale = 1.0f / sqrtf((float) m->dh), .ldq = ldq, .ldc = ldc,
	.scratch = ws->attn, .set_floats = ws->attn_floats, .sets = ws->attn_sets,
	.kv = nq > Q_BLOCK ? ws->attn_kv : NULL};

	for (int b0 = 0; b0 < nq; b0 += Q_BLOCK)
	{
		if (nk > Q_BLOCK && should_stop(par))
			return false;
		a.q = Q + (size_t) b0 * ldq;
		a.ctx = ctx + (size_t) b0 * ldc;
		a.nq = nq - b0 < Q_BLOCK ? nq - b0 : Q_BLOCK;
		a.q0 = q0 + b0;
		a.kv_ready = b0 > 0;	/* the first block packed them */
		sm_op_attention(&a);
	}
	return true;
}

/*
 * One layer over the n rows of ws (sequences of the given lengths, packed;
 * with a cache: one sequence whose keys and values are appended to it).
 * Pre-norm layers expect ws->h = LN1(x) on entry and leave ws->h = the
 * next layer's LN1(x) (or the final norm) when `next_g` is given; post-norm
 * layers read and write ws->x.  The bias of the last projection is added in
 * the pass that follows it.
 */
static bool
run_layer(const sm_tfm *m, int li, tfm_ws *ws, int n, const int *lengths, int n_seq,
		  const kv_src *kv, const float *next_g, const float *next_b, const sm_par *par)
{
	const sm_tfm_layer *L = &m->layers[li];
	const int	d = m->d;
	const float *in = m->norm_first ? ws->h : ws->x;

	/* q, k, v */
	if (L->qkv.w)
	{
		sm_dense_act(&L->qkv, in, d, n, ws->qkv, 3 * d, SM_ACT_IDENTITY);
	}
	else
	{
		const sm_dense *p[3] = {&L->q, &L->k, &L->v};

		for (int j = 0; j < 3; j++)	/* rows of 3d: one d-wide part each */
			sm_dense_act(p[j], in, d, n, ws->qkv + j * d, 3 * d, SM_ACT_IDENTITY);
	}

	/* attention, per sequence */
	if (kv && kv->k)
	{
		float	   *kc = kv->k;	/* this layer's cache */
		float	   *vc = kv->v;

		for (int r = 0; r < n; r++)
		{
			memcpy(kc + (size_t) (kv->past + r) * d, ws->qkv + (size_t) r * 3 * d + d, sizeof(float) * d);
			memcpy(vc + (size_t) (kv->past + r) * d, ws->qkv + (size_t) r * 3 * d + 2 * d, sizeof(float) * d);
		}
		if (!attend(m, ws->qkv, 3 * d, kc, vc, d, n, kv->past + n, kv->past, ws->ctx, d, ws, par))
			return false;
	}
	else
	{
		size_t		r0 = 0;

		for (int sq = 0; sq < n_seq; sq++)
		{
			const float *base = ws->qkv + r0 * 3 * d;

			if (!attend(m, base, 3 * d, base + d, base + 2 * d, 3 * d, lengths[sq], lengths[sq], 0,
						ws->ctx + r0 * d, d, ws, par))
				return false;
			r0 += (size_t) lengths[sq];
		}
	}

	/* x += ctx Wo^T + bo, then LN1 (post) or h = LN2(x) (pre) */
	sm_dense_mul(&L->o, ws->ctx, d, n, 1.0f, ws->x, d);
	if (m->norm_first)
		sm_op_add_layernorm(ws->x, L->o.b, L->ln2_g, L->ln2_b, m->eps, (size_t) n, d, ws->h);
	else
		sm_op_add_layernorm(ws->x, L->o.b, L->ln1_g, L->ln1_b, m->eps, (size_t) n, d, ws->x);

	/* feed-forward */
	sm_dense_act(&L->ff1, m->norm_first ? ws->h : ws->x, d, n, ws->f, m->ffn, m->act);
	sm_dense_mul(&L->ff2, ws->f, m->ffn, n, 1.0f, ws->x, d);
	if (m->norm_first)
		sm_op_add_layernorm(ws->x, L->ff2.b, next_g, next_b, m->eps, (size_t) n, d, ws->h);
	else
		sm_op_add_layernorm(ws->x, L->ff2.b, L->ln2_g, L->ln2_b, m->eps, (size_t) n, d, ws->x);
	return true;
}

/*
 * Input rows -> ws->x: embeddings (tokens) or the input projection
 * (numeric), plus positions starting at pos0 in every sequence (one
 * sequence with a cache), then the embedding norm.
 */
static void
embed(const sm_tfm *m, tfm_ws *ws, int n, const int *lengths, int n_seq, int pos0,
	  const int32_t *ids, const int32_t *types, const float *x)
{
	const int	d = m->d;

	if (m->vocab > 0)
	{
		for (int r = 0; r < n; r++)
		{
			const float *e = m->wte + (size_t) ids[r] * d;
			float	   *o = ws->x + (size_t) r * d;

			for (int c = 0; c < d; c++)
				o[c] = e[c] * m->emb_scale;
			if (m->tte)
			{
				const float *t = m->tte + (size_t) (types ? types[r] : 0) * d;

				for (int c = 0; c < d; c++)
					o[c] += t[c];
			}
		}
	}
	else
	{
		float	   *in = ws->f;

		memcpy(in, x, sizeof(float) * (size_t) n * m->I);
		for (int r = 0; r < n; r++)
			sm_seqhead_scale_input(&m->sh, in + (size_t) r * m->I);
		sm_dense_act(&m->in_proj, in, m->I, n, ws->x, d, SM_ACT_IDENTITY);
	}
	if (m->pos)
	{
		size_t		r = 0;

		for (int sq = 0; sq < n_seq; sq++)
			for (int p = 0; p < lengths[sq]; p++, r++)
			{
				const float *pe = m->pos + (size_t) (pos0 + p) * d;
				float	   *o = ws->x + r * d;

				for (int c = 0; c < d; c++)
					o[c] += pe[c];
			}
	}
	if (m->emb_ln_g)
		sm_op_add_layernorm(ws->x, NULL, m->emb_ln_g, m->emb_ln_b, m->eps, (size_t) n, d, ws->x);
}

/* All layers, then the final norm: the final hidden states end in ws->x. */
static sm_status
run_stack(const sm_tfm *m, tfm_ws *ws, int n, const int *lengths, int n_seq,
		  float *kcache, float *vcache, int cache_cap, int past, const sm_par *par,
		  sm_error *err)
{
	const int	d = m->d;

	if (m->norm_first)
		sm_op_add_layernorm(ws->x, NULL, m->layers[0].ln1_g, m->layers[0].ln1_b, m->eps,
						 (size_t) n, d, ws->h);
	for (int li = 0; li < m->n_layers; li++)
	{
		kv_src		kv = {0};
		bool		last = li == m->n_layers - 1;

		if (should_stop(par))
			return sm_fail(err, SM_ERR_ABORTED, "canceled");
		if (kcache)
		{
			kv.k = kcache + (size_t) li * cache_cap * d;
			kv.v = vcache + (size_t) li * cache_cap * d;
			kv.past = past;
		}
		if (!run_layer(m, li, ws, n, lengths, n_seq, kcache ? &kv : NULL,
					   last ? NULL : m->layers[li + 1].ln1_g, last ? NULL : m->layers[li + 1].ln1_b, par))
			return sm_fail(err, SM_ERR_ABORTED, "canceled");
	}
	if (m->final_ln_g)
		sm_op_add_layernorm(ws->x, NULL, m->final_ln_g, m->final_ln_b, m->eps, (size_t) n, d, ws->x);
	return SM_OK;
}

/* ---------------------------------------------------------------- outputs */

/* head (if any) over n rows of width `in` -> out [n, O], unscaled */
static void
apply_head(const sm_tfm *m, const float *y, int n, float *out)
{
	if (m->head.w == NULL)
	{
		memcpy(out, y, sizeof(float) * (size_t) n * m->d);
		return;
	}
	sm_dense_act(&m->head, y, m->head.in, n, out, m->head.out, SM_ACT_IDENTITY);
	if (m->sh.O > 0)
		sm_seqhead_unscale(&m->sh, out, (size_t) n);
}

/* pool each sequence's rows of x [n, d] into pooled [n_seq, d] */
static void
pool_rows(const sm_tfm *m, sm_tfm_pool pool, const float *x, const int *lengths, int n_seq,
		  float *pooled)
{
	const int	d = m->d;

	for (int sq = 0; sq < n_seq; sq++)
	{
		float	   *p = pooled + (size_t) sq * d;
		int			len = lengths[sq];

		switch (pool)
		{
			case SM_POOL_FIRST:
				memcpy(p, x, sizeof(float) * d);
				break;
			case SM_POOL_NONE:
			case SM_POOL_LAST:
				memcpy(p, x + (size_t) (len - 1) * d, sizeof(float) * d);
				break;
			case SM_POOL_MEAN:
				for (int c = 0; c < d; c++)
				{
					double		acc = 0;

					for (int t = 0; t < len; t++)
						acc += x[(size_t) t * d + c];
					p[c] = (float) (acc / len);
				}
				break;
		}
		x += (size_t) len * d;
	}
}

/* pool, then pooler and head: one row per sequence */
static void
sequence_output(const sm_tfm *m, tfm_ws *ws, const int *lengths, int n_seq, float *out)
{
	const int	d = m->d;
	float	   *pooled = ws->ctx;

	pool_rows(m, m->pool, ws->x, lengths, n_seq, pooled);
	if (m->pooler.w)
	{
		float	   *t = ws->h;

		sm_dense_act(&m->pooler, pooled, d, n_seq, t, d, SM_ACT_TANH);
		pooled = t;
	}
	apply_head(m, pooled, n_seq, out);
}

/* embeddings: pooled final hidden states, L2-normalised when configured */
static void
embedding_output(const sm_tfm *m, tfm_ws *ws, const int *lengths, int n_seq, float *out)
{
	const int	d = m->d;

	pool_rows(m, m->embed_pool, ws->x, lengths, n_seq, out);
	if (!m->embed_normalize)
		return;
	for (int sq = 0; sq < n_seq; sq++)
	{
		float	   *p = out + (size_t) sq * d;
		double		ss = 0;

		for (int c = 0; c < d; c++)
			ss += (double) p[c] * p[c];
		/* as torch.nn.functional.normalize: divide by max(norm, 1e-12) */
		ss = sqrt(ss);
		if (ss < 1e-12)
			ss = 1e-12;
		for (int c = 0; c < d; c++)
			p[c] = (float) (p[c] / ss);
	}
}

/* logits [rows, V] += the language-model head's bias, if it has one */
static void
add_lm_bias(const sm_tfm *m, float *logits, int rows)
{
	if (m->lm_bias == NULL)
		return;
	for (int r = 0; r < rows; r++)
	{
		float	   *lg = logits + (size_t) r * m->vocab;

		for (int v = 0; v < m->vocab; v++)
			lg[v] += m->lm_bias[v];
	}
}

/* sum of next-token log-probabilities of each sequence */
static void
logprob_output(const sm_tfm *m, tfm_ws *ws, const int *lengths, int n_seq,
			   const int32_t *ids, double *scores)
{
	const int	d = m->d;
	const int	V = m->vocab;
	size_t		n = 0;
	size_t		seq_end;
	const size_t block = (size_t) lm_rows(m);
	int			sq = 0;

	for (int i = 0; i < n_seq; i++)
	{
		n += (size_t) lengths[i];
		scores[i] = 0;
	}
	/*
	 * The head runs over blocks of lm_rows consecutive rows of the tile,
	 * across sequences, so its [V, d] weight streams past a block of rows
	 * rather than past each sequence's (short texts: a row or two).  Row r
	 * predicts token r + 1 unless it is the last of its sequence, whose
	 * logits go unused.
	 */
	seq_end = (size_t) lengths[0];
	for (size_t r0 = 0; r0 < n; r0 += block)
	{
		int			rows = n - r0 < block ? (int) (n - r0) : (int) block;

		sm_op_matmul(m->lm, ws->x + r0 * d, d, rows, 0.0f, ws->lm, V);
		add_lm_bias(m, ws->lm, rows);
		for (int i = 0; i < rows; i++)
		{
			size_t		r = r0 + (size_t) i;
			const float *lg = ws->lm + (size_t) i * V;

			while (r >= seq_end)
				seq_end += (size_t) lengths[++sq];
			if (r + 1 < seq_end)
				scores[sq] += (double) lg[ids[r + 1]] - sm_op_logsumexp(lg, V);
		}
	}
}

/* ---------------------------------------------------------------- batches */

sm_status
sm_tfm_check_batch(const sm_tfm *m, const sm_tfm_batch *b, sm_error *err)
{
	size_t		r = 0;

	for (int sq = 0; sq < b->B; sq++)
	{
		int			len = b->lengths[sq];

		if (len < 1)
			return sm_fail(err, SM_ERR_INVALID, "sequence %d is empty", sq + 1);
		if (len > m->max_len)
		{
			const char *what = m->vocab > 0 ? "tokens" : "steps";

			sm_fail(err, SM_ERR_LIMIT, "sequence %d has %d %s, more than the model's maximum of %d",
					sq + 1, len, what, m->max_len);
			sm_detail(err, "The model's positions cover %d %s.", m->max_len, what);
			if (m->vocab == 0)
				sm_hint(err, "Pass the last %d steps, or give the model a \"context\" for forecasts.", m->max_len);
			return err->code;
		}
		for (int t = 0; t < len; t++, r++)
		{
			if (m->vocab > 0)
			{
				if (b->ids[r] < 0 || b->ids[r] >= m->vocab)
				{
					sm_fail(err, SM_ERR_INVALID, "token id %d at position %d is out of range",
							(int) b->ids[r], t + 1);
					sm_detail(err, "The vocabulary has %d tokens: ids 0 to %d.", m->vocab, m->vocab - 1);
					return err->code;
				}
				if (b->type_ids && (b->type_ids[r] < 0 || b->type_ids[r] >= (m->type_vocab ? m->type_vocab : 1)))
				{
					sm_fail(err, SM_ERR_INVALID, "token type id %d at position %d is out of range",
							(int) b->type_ids[r], t + 1);
					sm_detail(err, "The model has %d token types.", m->type_vocab ? m->type_vocab : 1);
					return err->code;
				}
			}
			else
				for (int i = 0; i < m->I; i++)
					if (!isfinite(b->x[r * m->I + i]))
					{
						sm_fail(err, SM_ERR_INVALID, "input value at step %d is not finite", t + 1);
						return err->code;
					}
		}
	}
	return SM_OK;
}

typedef struct fwd_ctx
{
	const sm_tfm *m;
	const sm_tfm_batch *b;
	sm_tfm_out	what;
	float	   *out;
	double	   *scores;
	int		   *tile_seq;		/* [n_tiles + 1] first sequence of each tile */
	size_t	   *seq_row;		/* [B + 1] first token row of each sequence */
	tfm_ws	   *ws;				/* per worker */
} fwd_ctx;

static sm_status
forward_tile(void *arg, const sm_par *par, int tile, sm_error *err)
{
	fwd_ctx    *c = arg;
	const sm_tfm *m = c->m;
	const sm_tfm_batch *b = c->b;
	tfm_ws	   *ws = &c->ws[par->worker];
	int			s0 = c->tile_seq[tile],
				s1 = c->tile_seq[tile + 1],
				ns = s1 - s0;
	size_t		r0 = c->seq_row[s0];
	int			n = (int) (c->seq_row[s1] - r0);
	const int  *lens = b->lengths + s0;
	sm_status	rc;

	embed(m, ws, n, lens, ns, 0, b->ids ? b->ids + r0 : NULL,
		  b->type_ids ? b->type_ids + r0 : NULL, b->x ? b->x + r0 * m->I : NULL);
	if ((rc = run_stack(m, ws, n, lens, ns, NULL, NULL, 0, 0, par, err)) != SM_OK)
		return rc;
	switch (c->what)
	{
		case SM_TFM_OUT_HIDDEN:
			memcpy(c->out + r0 * m->d, ws->x, sizeof(float) * (size_t) n * m->d);
			break;
		case SM_TFM_OUT_LOGITS:
			sm_op_matmul(m->lm, ws->x, m->d, n, 0.0f, c->out + r0 * m->vocab, m->vocab);
			add_lm_bias(m, c->out + r0 * m->vocab, n);
			break;
		case SM_TFM_OUT_STEPS:
			apply_head(m, ws->x, n, c->out + r0 * sm_tfm_out_width(m, SM_TFM_OUT_STEPS));
			break;
		case SM_TFM_OUT_SEQUENCE:
			sequence_output(m, ws, lens, ns, c->out + (size_t) s0 * sm_tfm_out_width(m, SM_TFM_OUT_SEQUENCE));
			break;
		case SM_TFM_OUT_LOGPROB:
			logprob_output(m, ws, lens, ns, b->ids + r0, c->scores + s0);
			break;
		case SM_TFM_OUT_EMBEDDING:
			embedding_output(m, ws, lens, ns, c->out + (size_t) s0 * m->d);
			break;
		case SM_TFM_OUT_PROBS:
			{
				int			O = m->head.out;
				float	   *p = c->out + (size_t) s0 * O;

				sequence_output(m, ws, lens, ns, p);
				for (int sq = 0; sq < ns; sq++)
					sm_op_softmax(p + (size_t) sq * O, O);
			}
			break;
	}
	return SM_OK;
}

sm_status
sm_tfm_forward(const sm_tfm *m, const sm_tfm_batch *b, sm_tfm_out what, float *out,
			   double *scores, sm_error *err)
{
	fwd_ctx		c = {0};
	sm_arena	arena = {0};
	int			threads = sm_get_threads();
	int			n_tiles = 0,
				n_workers = 0,
				maxlen = 0,
				cap = 0;
	size_t		n = 0;
	sm_status	rc;

	if ((what == SM_TFM_OUT_LOGITS || what == SM_TFM_OUT_LOGPROB) && m->lm_head == NULL)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "this model has no language-model head");
	if (what == SM_TFM_OUT_PROBS && m->head.w == NULL)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "this model has no classification head");
	if ((rc = sm_tfm_check_batch(m, b, err)) != SM_OK)
		return rc;
	if (b->B == 0)
		return SM_OK;
	for (int sq = 0; sq < b->B; sq++)
	{
		n += (size_t) b->lengths[sq];
		if (b->lengths[sq] > maxlen)
			maxlen = b->lengths[sq];
	}
	/* tiles: about n / threads tokens each (so every thread has one), at most TILE_TOKENS */
	{
		size_t		target = (n + (size_t) threads - 1) / (size_t) threads;

		if (target > TILE_TOKENS)
			target = TILE_TOKENS;
		if (target < (size_t) maxlen)
			target = (size_t) maxlen;
		c.tile_seq = sm_alloc_array((size_t) b->B + 1, sizeof(int));
		c.seq_row = sm_alloc_array((size_t) b->B + 1, sizeof(size_t));
		if (c.tile_seq == NULL || c.seq_row == NULL)
		{
			rc = sm_fail(err, SM_ERR_NOMEM, "out of memory");
			goto done;
		}
		c.seq_row[0] = 0;
		for (int sq = 0; sq < b->B; sq++)
			c.seq_row[sq + 1] = c.seq_row[sq] + (size_t) b->lengths[sq];
		for (int sq = 0; sq < b->B;)
		{
			size_t		tok = 0;
			int			first = sq;

			while (sq < b->B && (sq == first || tok + (size_t) b->lengths[sq] <= target))
				tok += (size_t) b->lengths[sq++];
			c.tile_seq[n_tiles++] = first;
			if ((int) tok > cap)
				cap = (int) tok;
		}
		c.tile_seq[n_tiles] = b->B;
	}
	n_workers = n_tiles < threads ? n_tiles : threads;
	c.ws = sm_alloc0(sizeof(tfm_ws) * (size_t) n_workers);
	if (c.ws == NULL)
	{
		rc = sm_fail(err, SM_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((rc = ws_alloc(m, n_workers, cap, maxlen, what == SM_TFM_OUT_LOGPROB, c.ws, &arena, err)) != SM_OK)
		goto done;
	c.m = m;
	c.b = b;
	c.what = what;
	c.out = out;
	c.scores = scores;
	rc = sm_par_run(n_tiles, n_workers, forward_tile, &c, err);
done:
	sm_arena_free(&arena);
	sm_free(c.ws);
	sm_free(c.tile_seq);
	sm_free(c.seq_row);
	return rc;
}

/* ---------------------------------------------------------------- decoding */

struct sm_tfm_state
{
	int			cap;			/* tokens it can hold */
	int			len;			/* tokens held */
	float	   *k,
			   *v;				/* [layers, cap, d] */
};

sm_status
sm_tfm_state_new(const sm_tfm *m, int capacity, sm_tfm_state **out, sm_error *err)
{
	sm_tfm_state *st;

	*out = NULL;
	if (!m->causal || m->vocab == 0)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "only a causal token model can decode step by step");
	if (capacity < 1 || capacity > m->max_len)
		capacity = m->max_len;
	st = sm_alloc0(sizeof(*st));
	if (st == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	st->cap = capacity;
	st->k = sm_alloc_array((size_t) m->n_layers * capacity, sizeof(float) * (size_t) m->d);
	st->v = sm_alloc_array((size_t) m->n_layers * capacity, sizeof(float) * (size_t) m->d);
	if (st->k == NULL || st->v == NULL)
	{
		sm_tfm_state_free(st);
		return sm_fail(err, SM_ERR_NOMEM, "out of memory for the decoding state");
	}
	*out = st;
	return SM_OK;
}

void
sm_tfm_state_free(sm_tfm_state *st)
{
	if (st == NULL)
		return;
	sm_free(st->k);
	sm_free(st->v);
	sm_free(st);
}

int
sm_tfm_state_length(const sm_tfm_state *st)
{
	return st->len;
}

sm_status
sm_tfm_state_copy(const sm_tfm *m, sm_tfm_state *dst, const sm_tfm_state *src, sm_error *err)
{
	if (src->len > dst->cap)
		return sm_fail(err, SM_ERR_INTERNAL, "decoding state of %d tokens copied into one of %d", src->len,
					   dst->cap);
	for (int li = 0; li < m->n_layers; li++)
	{
		memcpy(dst->k + (size_t) li * dst->cap * m->d, src->k + (size_t) li * src->cap * m->d,
			   sizeof(float) * (size_t) src->len * m->d);
		memcpy(dst->v + (size_t) li * dst->cap * m->d, src->v + (size_t) li * src->cap * m->d,
			   sizeof(float) * (size_t) src->len * m->d);
	}
	dst->len = src->len;
	return SM_OK;
}

sm_status
sm_tfm_decode(const sm_tfm *m, sm_tfm_state *st, const int32_t *ids, int n, float *logits,
			  sm_error *err)
{
	tfm_ws		ws;
	sm_arena	arena;
	sm_tfm_batch b = {.B = 1, .lengths = &n, .ids = ids};	/* the new tokens, for the checks */
	sm_status	rc;

	if (n < 1)
		return sm_fail(err, SM_ERR_INVALID, "nothing to decode: no tokens given");
	if (st->len + n > st->cap)
	{
		sm_fail(err, SM_ERR_LIMIT, "the sequence would have %d tokens, more than the model's maximum of %d",
				st->len + n, st->cap);
		return err->code;
	}
	if ((rc = sm_tfm_check_batch(m, &b, err)) != SM_OK ||
		(rc = ws_alloc(m, 1, n, st->len + n, false, &ws, &arena, err)) != SM_OK)
		return rc;
	embed(m, &ws, n, &n, 1, st->len, ids, NULL, NULL);
	rc = run_stack(m, &ws, n, &n, 1, st->k, st->v, st->cap, st->len, NULL, err);
	if (rc == SM_OK)
	{
		sm_op_matmul(m->lm, ws.x + (size_t) (n - 1) * m->d, m->d, 1, 0.0f, logits, m->vocab);
		add_lm_bias(m, logits, 1);
		st->len += n;
	}
	sm_arena_free(&arena);
	return rc;
}
