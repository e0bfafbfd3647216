/*
 * sm_tfm_s2s.h -- transformer encoder-decoders: arch "transformer_seq2seq"
 * (torch.nn.Transformer inside the PyTorch tutorial's Seq2SeqTransformer,
 * sm_arch_tfm_s2s.c) and Hugging Face's "marian" and "bart"
 * (sm_arch_hf_s2s.c) build the one runnable form below; sm_tfm_s2s.c runs
 * it.
 *
 * Encoder: an sm_tfm (sm_tfm.h: source embedding * emb_scale + positions,
 * the encoder layers, the encoder's final norm), run once per source over
 * every source of a call packed without padding.  Its output, the memory,
 * is projected once per layer into the cross-attention keys and values,
 * kept for the whole decode.
 *
 * Decoder, per layer (x [N, d]: one row per (source x beam), all at the
 * same target position t):
 *   self-attention  SA(h): q k v = h Wqkv^T + b; row r's k, v appended to
 *                   its cache; softmax(q K_r^T / sqrt(dh)) V_r over the
 *                   row's t + 1 positions (the causal mask, by construction)
 *   cross-attention CA(h): q = h Wq^T + bq over the memory keys / values of
 *                   the row's source
 *   feed-forward    F(h) = act(h W1^T + b1) W2^T + b2
 *   post-norm (torch default): x = LN1(x + SA(x)); x = LN2(x + CA(x));
 *                              x = LN3(x + F(x))
 *   pre-norm (norm_first):     x = x + SA(LN1(x)); x = x + CA(LN2(x));
 *                              x = x + F(LN3(x))
 * Input: x = emb[y] * emb_scale + pos[pos_offset + t] (then emb_ln, BART);
 * output: the final norm (nn.Transformer's decoder norm) if any, then
 * log_softmax(x lm^T + lm_bias).
 *
 * Rows keep their keys and values in slots: reorder() lets a new row take
 * its parent's slot when it is the parent's first child and copies only
 * for the other children (so a beam that goes on costs nothing).
 *
 * Dims: B sources, S source tokens, N decoder rows, T target steps, d
 * width, L decoder layers, V target vocabulary.
 */
#ifndef SM_TFM_S2S_H
#define SM_TFM_S2S_H

#include "sm_beam.h"
#include "sm_tfm.h"

extern const sm_arch sm_arch_transformer_seq2seq;
extern const sm_arch sm_arch_marian;
extern const sm_arch sm_arch_bart;

typedef struct sm_tfm_dec_layer
{
	sm_dense	sa_qkv,			/* [3d, d] fused (torch's in_proj), or w NULL: */
				sa_q,
				sa_k,
				sa_v,			/* [d, d] each (Hugging Face's q_proj, k_proj, v_proj) */
				sa_o,			/* [d, d] */
				ca_q,			/* [d, d] (torch: the first d rows of the cross in_proj) */
				ca_k,
				ca_v,			/* [d, d] (torch: the next d rows, and the last) */
				ca_o,
				ff1,
				ff2;
	const float *ln1_g,
			   *ln1_b,
			   *ln2_g,
			   *ln2_b,
			   *ln3_g,
			   *ln3_b;
} sm_tfm_dec_layer;

typedef struct sm_tfm_s2s
{
	sm_tfm	   *enc;			/* the encoder (owned; not a model's impl) */

	int			d,
				heads,
				dh,
				n_layers,
				ffn,
				V;
	float		eps;
	sm_act		act;
	bool		norm_first;
	sm_tfm_dec_layer *layers;	/* [n_layers] */
	const float *emb;			/* [V, d] target embedding */
	float		emb_scale;
	const float *pos;			/* [pos_offset + max_target, d] */
	float	   *pos_owned;		/* the sinusoidal table, when computed (shared with enc) */
	int			pos_offset;		/* BART's 2 */
	int			max_target;		/* target positions */
	const float *emb_ln_g,
			   *emb_ln_b;		/* BART's layernorm_embedding, or NULL */
	const float *final_ln_g,
			   *final_ln_b;		/* nn.Transformer's decoder norm, or NULL */
	sm_dense	lm;				/* [V, d] the generator / lm_head */
	const float *lm_bias;		/* [V] or NULL (Marian's final_logits_bias goes here) */

	int32_t		start_id,		/* the decoder's first input */
				eos_id,			/* -1: none */
				pad_id;			/* -1: none */
	int32_t    *banned;			/* ids never generated (HF's bad_words_ids), owned, or NULL */
	int			n_banned;
	int32_t		forced_bos,
				forced_eos;		/* HF's forced_bos_token_id / forced_eos_token_id, or -1 */
	int			max_new_default;	/* default max_new_tokens */
} sm_tfm_s2s;

/* The encoder-decoder of a model of a transformer seq2seq arch, or NULL. */
const sm_tfm_s2s *sm_tfm_s2s_of(const sm_model *model);

/* The decoder interface over m (sm_beam.h). */
void		sm_tfm_s2s_decoder(const sm_tfm_s2s *m, sm_decoder *d);

/*
 * The encoder alone: memory [S, d] for B sources packed back to back (S
 * the sum of the lengths).  Sources are checked (ids, lengths) first.
 */
sm_status	sm_tfm_s2s_encode(const sm_tfm_s2s *m, const int32_t *const *src, const int *len,
							  int B, float *memory, sm_error *err);

/* ---- for the arch files */

/* an optional token id of the config below V (def when absent; -1 when null) */
sm_status	sm_tfm_s2s_token(const sm_config *cfg, const char *key, int64_t V, int64_t def,
							 int64_t *out, sm_error *err);
/* the weights packed (encoder and decoder) once every pointer is set */
sm_status	sm_tfm_s2s_pack(sm_tfm_s2s *m, sm_error *err);
/* free m and what it owns */
void		sm_tfm_s2s_free(sm_tfm_s2s *m);
void		sm_tfm_s2s_release(sm_model *model);

#endif							/* SM_TFM_S2S_H */
