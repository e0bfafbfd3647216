/*
 * sm_encdec.c -- the encoder-decoder archs behind one description
 * (sm_encdec.h).
 */
#include "sm_encdec.h"

#include <stdint.h>
#include <stdio.h>

#include "sm_seq2seq.h"
#include "sm_tfm_s2s.h"

bool
sm_encdec_of(const sm_model *model, sm_encdec *e)
{
	const sm_s2s *r = sm_s2s_of(model);
	const sm_tfm_s2s *t = sm_tfm_s2s_of(model);

	if (r)
	{
		*e = (sm_encdec) {.source_vocab_key = "source_vocab_size", .target_vocab_key = "target_vocab_size",
			.source_vocab = r->Vs, .target_vocab = r->V, .max_source = INT32_MAX,
			.max_target = INT32_MAX, .max_new_default = r->max_length, .start_id = r->sos,
		.eos_id = r->eos, .pad_id = r->pad};
		sm_s2s_decoder(r, &e->decoder);
		return true;
	}
	if (t)
	{
		*e = (sm_encdec) {.source_vocab_key = "src_vocab_size", .target_vocab_key = "tgt_vocab_size",
			.source_vocab = t->enc->vocab, .target_vocab = t->V, .max_source = t->enc->max_len,
			.max_target = t->max_target, .max_new_default = t->max_new_default,
		.start_id = t->start_id, .eos_id = t->eos_id, .pad_id = t->pad_id};
		sm_tfm_s2s_decoder(t, &e->decoder);
		return true;
	}
	return false;
}

sm_status
sm_encdec_check_ids(const int32_t *const *ids, const int *len, int B, int V, int max_len,
					const char *what, const char *vocab_key, sm_error *err)
{
	for (int b = 0; b < B; b++)
	{
		char		which[32] = "";

		if (B > 1)
			snprintf(which, sizeof(which), " %d", b + 1);
		if (len[b] < 1)
			return sm_fail(err, SM_ERR_INVALID, "%s%s is empty", what, which);
		if (len[b] > max_len)
		{
			sm_fail(err, SM_ERR_LIMIT, "%s%s has %d tokens, more than the model's maximum of %d",
					what, which, len[b], max_len);
			sm_detail(err, "The model's positions cover %d tokens.", max_len);
			return err->code;
		}
		for (int t = 0; t < len[b]; t++)
			if (ids[b][t] < 0 || ids[b][t] >= V)
			{
				sm_fail(err, SM_ERR_INVALID, "%s%s has token id %d at position [%d], outside the vocabulary",
						what, which, (int) ids[b][t], t + 1);
				sm_detail(err, "Token ids must be between 0 and %d (%s is %d).", V - 1, vocab_key, V);
				return err->code;
			}
	}
	return SM_OK;
}

sm_status
sm_encdec_check_source(const sm_encdec *e, const int32_t *const *src, const int *len, int B,
					   sm_error *err)
{
	return sm_encdec_check_ids(src, len, B, e->source_vocab, e->max_source, "source",
							   e->source_vocab_key, err);
}

sm_status
sm_encdec_check_target(const sm_encdec *e, const int32_t *const *tgt, const int *len, int B,
					   sm_error *err)
{
	return sm_encdec_check_ids(tgt, len, B, e->target_vocab, e->max_target, "target",
							   e->target_vocab_key, err);
}
