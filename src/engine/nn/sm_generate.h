/*
 * sm_generate.h -- text generation with a causal token model: the prompt
 * through the decoding state once, then one token at a time (each new token
 * costs one token's work plus attention over the keys held: sm_tfm_decode),
 * chosen greedily or by sampling -- the decoder interface's greedy decoding
 * (sm_beam.h over sm_lm_decoder.h), which also has beam search.
 *
 * Sampling is reproducible: the same seed, model and prompt give the same
 * tokens on every machine (xoshiro256** seeded through splitmix64, draws
 * compared in double precision).
 */
#ifndef SM_GENERATE_H
#define SM_GENERATE_H

#include "sm_tfm.h"

typedef struct sm_gen_opts
{
	int			max_new;		/* tokens to generate at most (>= 0) */
	double		temperature;	/* 0: greedy (argmax, lowest id on ties); > 0: sample */
	int			top_k;			/* 0: the whole vocabulary; else the k most likely */
	uint64_t	seed;
	int32_t		eos_id;			/* stop after generating this id (not returned); -1: none */
} sm_gen_opts;

/* Check temperature (finite, >= 0), top_k (>= 0) and max_new (>= 0). */
sm_status	sm_gen_check_opts(const sm_gen_opts *o, sm_error *err);

/*
 * Generate after prompt [n >= 1] into out [o->max_new]; *n_out tokens
 * written.  Stops at eos, at max_new, or when the model's context
 * (max_len) is full -- *context_full says so.  The prompt itself must fit
 * in max_len (SM_ERR_LIMIT otherwise).  Polls sm_should_abort() every token.
 */
sm_status	sm_generate(const sm_tfm *m, const int32_t *prompt, int n, const sm_gen_opts *o,
						int32_t *out, int *n_out, bool *context_full, sm_error *err);

/* The sampling step alone (for tests): choose an id from logits [V]; the
 * rng state s[4] advances; scratch [V] is work space for top-k selection. */
int32_t		sm_gen_choose(float *logits, int V, const sm_gen_opts *o, uint64_t s[4],
						  float *scratch);
void		sm_gen_seed(uint64_t seed, uint64_t s[4]);

#endif							/* SM_GENERATE_H */
