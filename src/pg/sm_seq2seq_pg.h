/*
 * sm_seq2seq_pg.h -- what the encoder-decoder glue files (seq2seq.c: ids;
 * translate.c: text) share.
 */
#ifndef SM_SEQ2SEQ_PG_H
#define SM_SEQ2SEQ_PG_H

#include "sm_pg.h"

#include "utils/jsonb.h"

#include "nn/sm_encdec.h"

/* The encoder-decoder called name, or an error naming fn and what the model
 * is instead; sets the engine's threads. */
void		sm_pg_encdec(const char *name, const char *fn, sm_encdec *e);

/* Decoding options from jsonb (num_beams, max_new_tokens, length_penalty,
 * early_stopping, no_repeat_ngram_size, temperature, top_k, seed; the
 * defaults: greedy, max_new_default tokens); an unknown or bad option is
 * 22023. */
void		sm_pg_beam_options(Jsonb *options, int max_new_default, sm_beam_opts *o);

/* translate.c: the source text translated by model name, with the options
 * of a jsonb (translate), or given ones (generate on an encoder-decoder:
 * max_new capped to the decoder's positions); fn names the caller */
text	   *sm_pg_translate_text(const char *name, const char *fn, text *source, Jsonb *options,
								 const sm_beam_opts *given);

#endif							/* SM_SEQ2SEQ_PG_H */
