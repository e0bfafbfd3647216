/*
 * sm_beam.h -- decoding over a small decoder interface: greedy search, beam
 * search and teacher-forced scoring of encoder-decoder models, for many
 * sources at once.  Any model that can start rows from a source, step them
 * by one token and reorder them implements sm_decoder (the RNN
 * encoder-decoder of sm_seq2seq.h today; transformer encoder-decoders
 * later), and gets the three.
 *
 * Definitions are Hugging Face generate()'s (transformers >= 4.36), with
 * the decoder's start token (sos / decoder_start_token_id) as the prompt:
 *   greedy (num_beams 1): the most likely token (lowest id on a tie) after
 *     the no-repeat-n-gram ban; stop after eos or max_new tokens.
 *   beam search: beam scores start [0, -1e9, ...]; each step adds each
 *     beam's log-probabilities (banned tokens -inf, never renormalised) to
 *     its score and takes the 2 num_beams best candidates over beams x
 *     vocabulary, best first (lower beam, then lower id, on a tie).  An
 *     eos candidate of rank < num_beams becomes a finished hypothesis of
 *     score sum_logprobs / generated_len ^ length_penalty (generated_len
 *     counts the eos, not the start token); one of rank >= num_beams is
 *     dropped; the others fill the num_beams running beams in order.
 *     Each source keeps its num_beams best finished hypotheses (a min-heap
 *     on the score; a new one must beat the worst once it is full).  A
 *     source is done when the heap is full and early_stopping, or (without
 *     early_stopping) when the worst finished score is >= the best
 *     candidate's sum / (tokens generated so far) ^ length_penalty; done
 *     sources leave the batch.  After max_new steps the running beams of a
 *     source not done are offered to its heap (length: their tokens).  The
 *     answer is the best hypothesis, without start token and eos.
 *   no_repeat_ngram_size n: a token is banned when it would complete an
 *     n-gram already in the hypothesis (start token included).
 *   then the model's processors: banned ids -inf; forced_bos at the first
 *     step and forced_eos at the last one max_new allows make every other
 *     id -inf and the forced one 0 (HF's ForcedBOS/EOSTokenLogitsProcessor).
 * Sums are kept in double precision.  Polls sm_should_abort() every step.
 *
 * Dims: B sources, K beams, N rows (sources x beams), V vocabulary,
 * T target tokens.
 */
#ifndef SM_BEAM_H
#define SM_BEAM_H

#include "core/sm_core.h"

#define SM_MAX_BEAMS 64
#define SM_MAX_NEW_TOKENS 1024
#define SM_MAX_NGRAM 1024

/*
 * The decoder interface.  start() makes B * beams rows, row b * beams + k
 * being beam k of source b, each at its source's initial decoder state (the
 * encoder runs once per source); step() feeds one token per row and gives
 * each row's next-token log-probabilities; reorder() makes row i a copy of
 * row from[i] (i < rows, the new row count, at most the current one).
 * steps: how many times step() will be called at most (a decoder that keeps
 * every step's keys sizes its cache by it).
 */
typedef struct sm_decoder
{
	int			vocab;			/* V */
	int32_t		start_id;		/* the first decoder input (unless prompt) */
	bool		prompt;			/* a decoder-only model: the source is the prompt, which
								 * hypotheses start with (its last token is the first
								 * step's input; no_repeat_ngram_size sees all of it) */
	int32_t		eos_id;			/* -1: none */
	/* generate()'s logits processors from the model's config (greedy and beam; not scoring) */
	const int32_t *banned;		/* ids never generated (bad_words_ids of one token), or NULL */
	int			n_banned;
	int32_t		forced_bos,		/* forced_bos_token_id: the first token generated, or -1 */
				forced_eos;		/* forced_eos_token_id: the last one max_new allows, or -1 */
	const void *model;
	sm_status	(*start) (const void *model, const int32_t *const *src, const int *src_len, int B,
						  int beams, int steps, void **state, sm_error *err);
	/* tokens [N] -> logprobs [N, V] */
	sm_status	(*step) (void *state, const int32_t *tokens, float *logprobs, sm_error *err);
	void		(*reorder) (void *state, const int *from, int rows);
	void		(*end) (void *state);
} sm_decoder;

typedef struct sm_beam_opts
{
	int			num_beams;		/* 1: greedy */
	int			max_new;		/* tokens to generate at most, >= 1 */
	double		length_penalty; /* finite; 1.0 in HF */
	bool		early_stopping;
	int			no_repeat_ngram;	/* 0: off */
	/* sampling (num_beams 1 only): temperature 0 is greedy; else draw the
	 * token from softmax(logprobs / temperature), over the top_k most likely
	 * when top_k > 0 (sm_generate.h's sm_gen_choose), each source from its
	 * own stream seeded by seed, so a source draws the same alone or batched */
	double		temperature;
	int			top_k;
	uint64_t	seed;
} sm_beam_opts;

/*
 * For decoders that keep each row's state in a slot (its keys and values):
 * after a reorder row i continues row from[i] (i < rows).  slot [old rows]
 * are the rows' slots now; slot2 [rows] receives the new rows' slots.  A
 * parent's slot goes to its first child, so a row that goes on costs
 * nothing; each other child takes a slot no new row keeps and copy(ctx, to,
 * from) fills it from its parent's.  taken [cap] is scratch (cap: slots).
 */
void		sm_beam_assign_slots(const int *slot, const int *from, int rows, int cap,
								 unsigned char *taken, int *slot2,
								 void (*copy) (void *ctx, int to, int from), void *ctx);

/* Options in range (SM_ERR_INVALID naming the option and its range). */
sm_status	sm_beam_check_opts(const sm_beam_opts *o, sm_error *err);

/*
 * Decode B sources together: out [B, o->max_new] receives each source's
 * tokens (out_len[b] of them, no start token, no eos), score [B] (may be
 * NULL) the best hypothesis's score (greedy: its sum of log-probabilities).
 */
sm_status	sm_decode(const sm_decoder *d, const int32_t *const *src, const int *src_len, int B,
					  const sm_beam_opts *o, int32_t *out, int *out_len, double *score,
					  sm_error *err);

/*
 * Teacher forcing: sum[b] = sum_t log P(tgt[b][t] | source b, start,
 * tgt[b][<t]), in double; steps [B, Tmax, V] (may be NULL; Tmax the
 * longest target) receives every step's log-probabilities (rows past a
 * target's length untouched).  Targets must not be empty.
 */
sm_status	sm_decode_logprob(const sm_decoder *d, const int32_t *const *src, const int *src_len,
							  const int32_t *const *tgt, const int *tgt_len, int B, double *sum,
							  float *steps, sm_error *err);

#endif							/* SM_BEAM_H */
