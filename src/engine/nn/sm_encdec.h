/*
 * sm_encdec.h -- an encoder-decoder model as the SQL functions see it,
 * whatever its arch (rnn_seq2seq, transformer_seq2seq): its vocabularies,
 * limits, special ids and decoder interface (sm_beam.h), so translate,
 * logprob and the batch functions are written once.
 */
#ifndef SM_ENCDEC_H
#define SM_ENCDEC_H

#include "core/sm_model.h"
#include "sm_beam.h"

typedef struct sm_encdec
{
	const char *source_vocab_key,	/* the config keys, for messages */
			   *target_vocab_key;
	int			source_vocab,
				target_vocab;
	int			max_source;		/* longest source (the encoder's positions), or INT32_MAX */
	int			max_target;		/* most decoder steps, or INT32_MAX */
	int			max_new_default;	/* max_new_tokens when not given */
	int32_t		start_id,
				eos_id,
				pad_id;			/* -1: none */
	sm_decoder	decoder;
} sm_encdec;

/* Fill e when model is an encoder-decoder; false (e untouched) otherwise. */
bool		sm_encdec_of(const sm_model *model, sm_encdec *e);

/*
 * Check B sources: non-empty, no longer than max_source (SM_ERR_LIMIT), every
 * id in the source vocabulary (SM_ERR_INVALID naming the source, when B >
 * 1, and the position, 1-based); targets the same against the target
 * vocabulary and max_target.
 */
sm_status	sm_encdec_check_source(const sm_encdec *e, const int32_t *const *src, const int *len,
								   int B, sm_error *err);
sm_status	sm_encdec_check_target(const sm_encdec *e, const int32_t *const *tgt, const int *len,
								   int B, sm_error *err);

/* the same checks for any vocabulary (the archs' own checks use it) */
sm_status	sm_encdec_check_ids(const int32_t *const *ids, const int *len, int B, int V,
								int max_len, const char *what, const char *vocab_key,
								sm_error *err);

#endif							/* SM_ENCDEC_H */
