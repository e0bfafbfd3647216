/*
 * sm_tfm.h -- transformer models: archs "transformer" (torch.nn.
 * TransformerEncoder), "gpt2" (Hugging Face GPT2Model / GPT2LMHeadModel) and
 * "bert" (Hugging Face BertModel / BertForSequenceClassification).  The three
 * archs (sm_arch_transformer.c, sm_arch_gpt2.c, sm_arch_bert.c) read their
 * own config and tensor names and build the one runnable form below; this
 * file's sm_tfm.c runs it.
 *
 * The math, per layer (x: [n, d] hidden states of the n tokens of a batch):
 *   attention  A(h) = concat_heads(softmax(Q K^T / sqrt(dh) + mask) V) Wo^T + bo
 *              with [Q K V] = h Wqkv^T + bqkv, dh = d / heads; mask: padding
 *              (a token attends only to its own sequence) and, when causal,
 *              key position <= query position
 *   feed-forward F(h) = act(h W1^T + b1) W2^T + b2
 *   post-norm (BERT, torch default):  x = LN1(x + A(x)); x = LN2(x + F(x))
 *   pre-norm (GPT-2, norm_first):     x = x + A(LN1(x)); x = x + F(LN2(x))
 *   act: relu, gelu (exact, erf) or gelu_tanh (GPT-2's "gelu_new")
 * Input:  tokens:  x = wte[id] * emb_scale + pos[p] + tte[type]
 *         numeric: x = ((v - mean) / std) Win^T + bin + pos[p]
 *         then an optional embedding layer norm (BERT).  p counts from 0 in
 *         each sequence.  pos: learned rows or the sinusoidal table of
 *         "Attention Is All You Need" (sin on even, cos on odd features).
 * Output: after the last layer an optional final layer norm (GPT-2's ln_f,
 *         TransformerEncoder's norm), then by `output` (sm_tfm_out below).
 *
 * Dims: B sequences, n tokens in a batch (the sum of the lengths), d model
 * width, V vocabulary, O head output, W sequence-output width.
 */
#ifndef SM_TFM_H
#define SM_TFM_H

#include "core/sm_model.h"
#include "ops/sm_ops.h"
#include "sm_seqhead.h"

extern const sm_arch sm_arch_transformer;
extern const sm_arch sm_arch_gpt2;
extern const sm_arch sm_arch_bert;

typedef enum sm_tfm_pool
{
	SM_POOL_NONE,				/* no pooling: per-token outputs */
	SM_POOL_FIRST,				/* the first token ([CLS]) */
	SM_POOL_MEAN,				/* mean over the sequence's tokens */
	SM_POOL_LAST				/* the last token */
} sm_tfm_pool;

/* A torch Linear (w [out, in]) or an HF Conv1D (w [in, out], in_major). */
typedef struct sm_dense
{
	const float *w;
	const float *b;				/* [out] or NULL */
	int			in,
				out;
	bool		in_major;
	sm_packed	pk;				/* w packed for the compute seam (sm_tfm_finish) */
} sm_dense;

/* out[n, L->out] = beta out + in[n, L->in] W^T (no bias: a later pass adds it) */
static inline void
sm_dense_mul(const sm_dense *L, const float *in, int ldin, int n, float beta, float *out, int ldout)
{
	sm_op_matmul(&L->pk, in, ldin, n, beta, out, ldout);
}

/* out[n, L->out] = act(in W^T + b): the bias and activation fused into the product */
static inline void
sm_dense_act(const sm_dense *L, const float *in, int ldin, int n, float *out, int ldout, sm_act act)
{
	sm_op_matmul_act(&L->pk, in, ldin, n, out, ldout, L->b, act);
}

typedef struct sm_tfm_layer
{
	sm_dense	qkv;			/* fused [3d] output: q, then k, then v */
	sm_dense	q,
				k,
				v;				/* separate (BERT); used when qkv.w is NULL */
	sm_dense	o,
				ff1,
				ff2;
	const float *ln1_g,
			   *ln1_b,
			   *ln2_g,
			   *ln2_b;
} sm_tfm_layer;

/* What a forward pass returns. */
typedef enum sm_tfm_out
{
	SM_TFM_OUT_HIDDEN,			/* [n, d] final hidden states (after the final norm) */
	SM_TFM_OUT_LOGITS,			/* [n, V] language-model logits (lm_head) */
	SM_TFM_OUT_STEPS,			/* [n, O] the head at every token (unscaled outputs) */
	SM_TFM_OUT_SEQUENCE,		/* [B, W] pool -> pooler -> head: one row per sequence */
	SM_TFM_OUT_LOGPROB,			/* [B] (double) sum of next-token log-probabilities */
	SM_TFM_OUT_EMBEDDING,		/* [B, d] final hidden states pooled by embed_pool (and
								 * L2-normalised when embed_normalize) */
	SM_TFM_OUT_PROBS			/* [B, O] softmax of the sequence output's head (classify) */
} sm_tfm_out;

typedef struct sm_tfm
{
	int			d,
				heads,
				dh,
				n_layers,
				ffn;
	float		eps;
	sm_act		act;			/* relu, gelu or gelu_tanh */
	bool		norm_first;
	bool		causal;
	sm_tfm_layer *layers;		/* [n_layers] */

	/* input: tokens (wte) or numeric (in_proj) */
	int			vocab;			/* V (0: numeric input) */
	const float *wte;			/* [V, d] */
	float		emb_scale;		/* 1, or sqrt(d) when scale_embedding */
	int			type_vocab;		/* BERT token types (0: none) */
	const float *tte;			/* [type_vocab, d] */
	int			I;				/* numeric input width (0: tokens) */
	sm_dense	in_proj;		/* [d, I] */
	int			max_len;		/* longest sequence the positions allow */
	const float *pos;			/* [max_len, d] learned, or the sinusoidal table (owned) */
	float	   *pos_owned;
	const float *emb_ln_g,
			   *emb_ln_b;		/* BERT's embeddings.LayerNorm, or NULL */
	const float *final_ln_g,
			   *final_ln_b;		/* ln_f / encoder norm, or NULL */

	/* outputs */
	sm_tfm_out	default_out;	/* what forward() of SQL returns */
	const float *lm_head;		/* [V, d] (tied: wte), or NULL */
	sm_packed	lm_pk;			/* lm_head packed, unless it is the head's weight */
	const sm_packed *lm;		/* lm_head as the products read it: &lm_pk, or &head.pk
								 * (a transformer's head used as lm_head, packed once) */
	const float *lm_bias;		/* [V] or NULL (a transformer's head used as lm_head) */
	sm_tfm_pool pool;			/* for SM_TFM_OUT_SEQUENCE */
	sm_dense	pooler;			/* BERT pooler: tanh(dense(first token)); w NULL when absent */
	sm_dense	head;			/* [O, d] classifier / forecasting head; w NULL when absent */
	sm_seqhead	sh;				/* scaling, forecasting and head kind (sm_seqhead.h) */
	char	  **labels;			/* id2label [n_labels], or NULL */
	int			n_labels;

	/* text (sm_tfm_text_config): embeddings and generation */
	sm_tfm_pool embed_pool;		/* FIRST, MEAN or LAST */
	bool		embed_normalize;
	int32_t		bos_id,
				eos_id;			/* -1: none */
} sm_tfm;

/*
 * The config keys every token model may carry for the text functions (the
 * transformer arch lists them among its keys; gpt2 and bert read them from
 * Hugging Face's config.json, which has bos_token_id / eos_token_id):
 *   "embedding_pooling": "cls" | "first" | "mean" | "last" (default: bert
 *      cls, gpt2 mean, transformer its "pooling" unless none, else mean)
 *   "embedding_normalize": L2-normalise embeddings (default false)
 *   "bos_token_id", "eos_token_id": start / end of text (default none)
 *   "id2label": the head's labels (read by the arch: bert, transformer)
 * Reads m->vocab; sets embed_pool, embed_normalize, bos_id, eos_id and
 * allocates nothing, so a spec function can check a config with a scratch
 * sm_tfm {.vocab = V}.
 */
#define SM_TFM_TEXT_KEYS "embedding_pooling", "embedding_normalize", "bos_token_id", \
	"eos_token_id", "id2label", "label2id"
/* the archs' last step: the text config, then every weight packed for the seam */
sm_status	sm_tfm_finish(const sm_config *cfg, sm_tfm *m, sm_tfm_pool default_pool,
						  sm_error *err);
sm_status	sm_tfm_text_config(const sm_config *cfg, sm_tfm *m, sm_tfm_pool default_pool,
							   sm_error *err);
/*
 * Check an id2label object (keys "0" .. n-1, string values) and, with
 * labels not NULL, copy its values in id order into *labels [n].
 */
sm_status	sm_tfm_id2label(const sm_json *o, char ***labels, int *n, sm_error *err);

/* The transformer of a model built by one of the three archs, or NULL. */
const sm_tfm *sm_tfm_of(const sm_model *model);

/* Width of a row of the given output (d, V, O or W; 1 for LOGPROB). */
int			sm_tfm_out_width(const sm_tfm *m, sm_tfm_out what);

/*
 * A batch: B sequences packed back to back (no padding), lengths[b] >= 1
 * tokens each, n = sum of lengths.  Token models read ids [n] (each in
 * [0, V)) and optionally type_ids [n] (NULL: all 0); numeric models read x
 * [n, I] (raw values: scaled here).
 */
typedef struct sm_tfm_batch
{
	int			B;
	const int  *lengths;
	const int32_t *ids;
	const int32_t *type_ids;
	const float *x;
} sm_tfm_batch;

/*
 * Check a batch against the model: lengths in [1, max_len], ids and type
 * ids in range, numeric input finite.  sm_tfm_forward calls it first.
 */
sm_status	sm_tfm_check_batch(const sm_tfm *m, const sm_tfm_batch *b, sm_error *err);

/*
 * Forward pass of a batch.  out: float [rows, width] for every output but
 * LOGPROB, which writes scores [B] (doubles; a sequence of one token scores
 * 0).  Sequences are cut into tiles run on seqmodel.threads threads;
 * attention holds one [rows x keys] block per head at a time.  Polls
 * sm_should_abort() every layer of every tile.
 */
sm_status	sm_tfm_forward(const sm_tfm *m, const sm_tfm_batch *b, sm_tfm_out what,
						   float *out, double *scores, sm_error *err);

/*
 * Decoding state (causal token models): the keys and values of every layer
 * for the tokens seen so far, so one more token costs one token's work.
 */
typedef struct sm_tfm_state sm_tfm_state;

/* A state for up to `capacity` tokens (<= max_len). */
sm_status	sm_tfm_state_new(const sm_tfm *m, int capacity, sm_tfm_state **out,
							 sm_error *err);
void		sm_tfm_state_free(sm_tfm_state *st);
/* Tokens held so far. */
int			sm_tfm_state_length(const sm_tfm_state *st);
/* dst holds what src holds (its capacity must suffice) */
sm_status	sm_tfm_state_copy(const sm_tfm *m, sm_tfm_state *dst, const sm_tfm_state *src,
							  sm_error *err);

/*
 * Append n >= 1 tokens (a prompt, then one at a time) and write the logits
 * of the last one into logits [V].  Errors when the state would exceed its
 * capacity or the model is not causal.
 */
sm_status	sm_tfm_decode(const sm_tfm *m, sm_tfm_state *st, const int32_t *ids, int n,
						  float *logits, sm_error *err);

/* ---- for the arch files: specs and weights by name */

/* "{name}weight" [out, in] (or [in, out] when in_major) and, with bias, "{name}bias" [out] */
sm_status	sm_tfm_spec_dense(sm_spec *spec, sm_error *err, int64_t out, int64_t in,
							  bool in_major, bool bias, bool optional, const char *name);
/* a layer norm eps > 0 and a width that the heads divide; the config's key names for messages */
sm_status	sm_tfm_check_sizes(int64_t d, const char *d_key, int64_t heads, const char *heads_key,
							   double eps, const char *eps_key, sm_error *err);
/* Hugging Face's activation names (hidden_act, activation_function): gelu
 * (exact), gelu_new and gelu_pytorch_tanh (tanh form), relu */
sm_status	sm_tfm_hf_act(const char *key, const char *name, sm_act *act, sm_error *err);
/* a LayerNorm: "{name}weight", "{name}bias" [d] */
sm_status	sm_tfm_spec_norm(sm_spec *spec, sm_error *err, int64_t d, const char *name);
/* "{name}weight" / "{name}bias" as a dense layer (w NULL when absent) */
sm_dense	sm_tfm_dense(const sm_model *model, int out, int in, bool in_major, const char *name);
/* the sizes every arch reads from its config (d a multiple of heads, checked) */
typedef struct sm_tfm_dims
{
	int64_t		d,
				heads,
				layers,
				ffn;
	double		eps;
	sm_act		act;
} sm_tfm_dims;

/* a zeroed sm_tfm with these sizes, set as model->impl */
sm_status	sm_tfm_new(sm_model *model, const sm_tfm_dims *dims, sm_tfm **out, sm_error *err);
/* the same, not attached to a model (an encoder-decoder's encoder) */
sm_status	sm_tfm_alloc(const sm_tfm_dims *dims, sm_tfm **out, sm_error *err);
/* every dense weight of m, and the language-model head, packed for the seam */
sm_status	sm_tfm_pack(sm_tfm *m, sm_error *err);
/* free a transformer and what it owns (sm_tfm_release: a model's) */
void		sm_tfm_free(sm_tfm *m);
/* the sinusoidal table for m->max_len positions of width m->d */
sm_status	sm_tfm_sinusoidal(sm_tfm *m, sm_error *err);
void		sm_tfm_release(sm_model *model);

#endif							/* SM_TFM_H */
