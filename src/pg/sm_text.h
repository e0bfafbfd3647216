/*
 * sm_text.h -- what the text glue files (text.c, score_query.c) share: a
 * token model with its tokenizer, and encoding text for it under the
 * seqmodel.truncation policy.
 */
#ifndef SM_TEXT_H
#define SM_TEXT_H

#include "sm_pg.h"
#include "nn/sm_tfm.h"
#include "text/sm_tokenizer.h"

typedef struct sm_text_model
{
	const char *name;
	const sm_tfm *m;
	const sm_tokenizer *tok;
} sm_text_model;

/* The token model called `name` (tokens.c); errors name fn and what the model is. */
const sm_tfm *sm_pg_token_model(const char *name, const char *fn);

/* What a text function needs of the model; errors name the function. */
typedef enum sm_text_need
{
	SM_NEED_TOKENS,				/* any token model */
	SM_NEED_CLASSIFIER,			/* a head over the pooled sequence (classify, label) */
	SM_NEED_DECODER				/* causal with a language-model head (logprob, generate) */
} sm_text_need;

/* The token model `name` and its tokenizer, checked for what fn needs. */
void		sm_text_model_get(const char *name, const char *fn, sm_text_need need,
							  sm_text_model *tm);

/*
 * Encode a text (and an optional pair) for the model: the tokenizer's
 * special tokens, the model's bos_token_id first when with_bos (decoders
 * scoring every token), at most the model's max_len tokens (error, or
 * truncation under seqmodel.truncation = truncate).  Errors on an empty
 * text.  `what` names the text in messages ("input", "row with key 7").
 */
void		sm_text_encode(const sm_text_model *tm, const char *text, size_t len,
						   const char *pair, size_t pair_len, bool with_bos,
						   const char *what, sm_tok_ids *e);

/* the name of class k: id2label, or Hugging Face's default LABEL_k */
char	   *sm_text_label_name(const sm_tfm *m, int k);

#endif							/* SM_TEXT_H */
