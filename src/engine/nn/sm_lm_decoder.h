/*
 * sm_lm_decoder.h -- a causal token model (gpt2; transformer with an
 * lm_head) as a decoder of sm_beam.h over prompts, so decoder-only models
 * get the same greedy, sampled and beam-search decoding as the
 * encoder-decoders: the source of a row is its prompt, whose tokens but the
 * last go through the model's decoding state once per source (sm_tfm.h);
 * each step then feeds one token per (source x beam) row, and a beam that
 * forks copies its parent's state.
 */
#ifndef SM_LM_DECODER_H
#define SM_LM_DECODER_H

#include "sm_beam.h"
#include "sm_tfm.h"

/*
 * The decoder interface over m (causal, with a language-model head;
 * otherwise SM_ERR_UNSUPPORTED).  eos_id is the model's eos_token_id (the
 * caller may set another).  A prompt and max_new tokens must fit in the
 * model's positions: start() fails with SM_ERR_LIMIT otherwise.
 */
sm_status	sm_tfm_lm_decoder(const sm_tfm *m, sm_decoder *d, sm_error *err);

#endif							/* SM_LM_DECODER_H */
