/*
 * sm_seq2seq.h -- arch "rnn_seq2seq": the RNN encoder-decoder of PyTorch's
 * tutorial "Translation with a Sequence to Sequence Network and Attention"
 * (EncoderRNN, DecoderRNN, AttnDecoderRNN with BahdanauAttention), with
 * GRU or LSTM cells, layers, a bidirectional encoder and Luong attention.
 *
 * Encoder: x_t = embedding(src_t) [E]; the recurrent layers (PyTorch's
 * equations, sm_rnn.h) from zero states; outputs h_t [S, D*H].  With a
 * bidirectional encoder the two directions are summed: keys k_t =
 * h_t(fwd) + h_t(bwd) [S, H] (as PyTorch's chatbot tutorial sums its
 * bidirectional outputs), and each layer's final h (and c) = forward final
 * + backward final.  The decoder starts from those final states, layer by
 * layer (so encoder and decoder share cell, H and L).
 *
 * Decoder step, input token y (sos first), state s (top layer h before the
 * step: s_prev), log-probabilities over the target vocabulary:
 *   none:      x = relu(emb(y)) (decoder_relu); s = RNN(x); out(s)
 *              (the tutorial's DecoderRNN)
 *   additive:  e_j = Va . tanh(Wa s_prev + Ua k_j) (+ biases);
 *              a = softmax(e); c = sum_j a_j k_j; x = [emb(y); c];
 *              s = RNN(x); out(s)   (AttnDecoderRNN)
 *   dot:       s = RNN(emb(y)); e_j = s . k_j
 *   general:   s = RNN(emb(y)); e_j = s . (Wa k_j + b)
 *              then a = softmax(e); c = sum_j a_j k_j;
 *              out(tanh(Wc [s; c] + bc))  (Luong et al. 2015's attentional
 *              hidden state, the chatbot tutorial's concat layer)
 *   log-probabilities = log_softmax(out(.)).
 * Ua k_j (additive) and Wa k_j (general) are computed once per source.
 *
 * Config (unknown keys are errors):
 *   source_vocab_size, target_vocab_size   integers >= 1, required (Vs, V)
 *   hidden_size      integer >= 1, required (H)
 *   embedding_size   integer >= 1, default hidden_size (E)
 *   cell             "gru" (default) | "lstm"
 *   num_layers       integer >= 1, default 1 (L)
 *   bidirectional    boolean, default false (the encoder; D = 1 or 2)
 *   attention        "additive" (default) | "none" | "dot" | "general"
 *   decoder_relu     boolean, default true for "none", else false
 *   sos_token_id     default 0, eos_token_id default 1 (the tutorial's
 *                    SOS_token / EOS_token), pad_token_id default none:
 *                    target ids; pad is recorded, never computed with
 *   max_length       integer >= 1, default 10 (the tutorial's MAX_LENGTH):
 *                    the default of max_new_tokens
 *   encoder_prefix   default "encoder.", decoder_prefix default "decoder.",
 *   rnn_prefix       default "<cell>." (inside both)
 *   dropout, dropout_p, batch_first: accepted, no effect on inference
 *
 * Tensors (EP, DP the prefixes, R the rnn_prefix, S "" or "_reverse",
 * G 3 (gru) or 4 (lstm)):
 *   EP embedding.weight [Vs, E]
 *   EP R weight_ih_l{k}{S} [G*H, k ? D*H : E], EP R weight_hh_l{k}{S} [G*H, H],
 *   EP R bias_ih_l{k}{S}, EP R bias_hh_l{k}{S} [G*H]
 *   DP embedding.weight [V, E]
 *   DP R weight_ih_l{k} [G*H, k ? H : (additive ? E + H : E)], weight_hh,
 *   biases as the encoder's
 *   additive: DP attention.Wa.weight [H, H], .bias [H], attention.Ua.weight
 *             [H, H], .bias [H], attention.Va.weight [1, H], .bias [1]
 *   general:  DP attention.Wa.weight [H, H], .bias [H]
 *   dot, general: DP concat.weight [H, 2H], concat.bias [H]
 *   DP out.weight [V, H], out.bias [V]
 *
 * Dims: B sources, S source steps, N decoder rows (sources x beams), E
 * embedding, H hidden, L layers, D directions, G gates, V target vocabulary.
 */
#ifndef SM_SEQ2SEQ_H
#define SM_SEQ2SEQ_H

#include "core/sm_model.h"
#include "ops/sm_ops.h"
#include "sm_beam.h"

extern const sm_arch sm_arch_rnn_seq2seq;

typedef enum sm_s2s_attn
{
	SM_S2S_ATTN_NONE,
	SM_S2S_ATTN_ADDITIVE,
	SM_S2S_ATTN_DOT,
	SM_S2S_ATTN_GENERAL
} sm_s2s_attn;

/* one direction of one recurrent layer */
typedef struct sm_s2s_rnn
{
	const float *b_ih,
			   *b_hh;			/* [G*H] */
	float	   *b_sum;			/* lstm: b_ih + b_hh */
	sm_packed	p_ih,			/* [G*H, in] */
				p_hh;			/* [G*H, H] */
} sm_s2s_rnn;

typedef struct sm_s2s
{
	bool		lstm;
	int			G,
				E,
				H,
				L,
				D,
				Vs,
				V;
	sm_s2s_attn attn;
	bool		dec_relu;
	int32_t		sos,
				eos,
				pad;			/* -1: none */
	int			max_length;
	const float *enc_emb;		/* [Vs, E] */
	const float *dec_emb;		/* [V, E] */
	sm_s2s_rnn *enc;			/* [L * D], layer-major */
	sm_s2s_rnn *dec;			/* [L] */
	sm_packed	p_wa,			/* additive: Wa (query); general: Wa (keys) */
				p_ua,			/* additive: Ua */
				p_va,			/* additive: Va [1, H] */
				p_wc,			/* dot, general: concat [H, 2H] */
				p_out;			/* [V, H] */
	const float *wa_b,
			   *ua_b,
			   *va_b,
			   *wc_b,
			   *out_b;
} sm_s2s;

/* The encoder-decoder of a model of arch rnn_seq2seq, or NULL. */
const sm_s2s *sm_s2s_of(const sm_model *model);

/* The decoder interface over m (sm_beam.h). */
void		sm_s2s_decoder(const sm_s2s *m, sm_decoder *d);

/*
 * Check B sources: non-empty, every id in [0, Vs) (SM_ERR_INVALID naming
 * the source and position, 1-based, when B > 1).
 */
sm_status	sm_s2s_check_source(const sm_s2s *m, const int32_t *const *src, const int *len, int B,
								sm_error *err);
/* the same for targets against V */
sm_status	sm_s2s_check_target(const sm_s2s *m, const int32_t *const *tgt, const int *len, int B,
								sm_error *err);

/*
 * The encoder alone over B sources (any lengths, one batch):
 *   outputs [B, S, H] (S the longest; zeros past each length), the keys
 *   h, c [L, B, H] the decoder's initial states (c: lstm only, may be NULL)
 */
sm_status	sm_s2s_encode(const sm_s2s *m, const int32_t *const *src, const int *len, int B,
						  float *outputs, float *h, float *c, sm_error *err);

#endif							/* SM_SEQ2SEQ_H */
