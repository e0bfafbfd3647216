/*
 * sm_lm_decoder.c -- decoder-only models over the decoder interface (the
 * contract is in sm_lm_decoder.h).
 *
 * Rows keep their decoding states in slots, as the transformer
 * encoder-decoder keeps its caches: a reorder gives a parent's slot to its
 * first child and copies it for the others, so a beam that goes on costs
 * nothing.  Each step runs one sm_tfm_decode per row.
 */
#include "sm_lm_decoder.h"

#include <math.h>
#include <string.h>

typedef struct lm_state
{
	const sm_tfm *m;
	int			cap,			/* rows (and states) at most: B x beams */
				rows;
	sm_tfm_state **st;			/* [cap] by slot */
	int		   *slot,
			   *slot2;			/* [cap] each row's state */
	unsigned char *taken;		/* [cap] reorder: slots kept */
	float	   *scratch;		/* [V] the prompt's logits (unused) */
} lm_state;

static void
lm_end(void *state)
{
	lm_state   *s = state;

	if (s == NULL)
		return;
	for (int i = 0; s->st && i < s->cap; i++)
		sm_tfm_state_free(s->st[i]);
	sm_free(s->st);
	sm_free(s->slot);
	sm_free(s->slot2);
	sm_free(s->taken);
	sm_free(s->scratch);
	sm_free(s);
}

static sm_status
lm_start(const void *model, const int32_t *const *src, const int *len, int B, int beams,
		 int steps, void **state, sm_error *err)
{
	const sm_tfm *m = model;
	lm_state   *s;
	int			need = 1;
	sm_status	rc;

	*state = NULL;
	for (int b = 0; b < B; b++)
	{
		int			n = len[b] - 1 + steps;

		if (len[b] < 1)
			return sm_fail(err, SM_ERR_INVALID, "prompt is empty");
		if (n > m->max_len)
		{
			sm_fail(err, SM_ERR_LIMIT, "a prompt of %d tokens and %d new ones need %d positions, more than the model's %d",
					len[b], steps, n, m->max_len);
			sm_hint(err, "Ask for at most %d new tokens (max_new_tokens), or shorten the prompt.",
					m->max_len - len[b] + 1 > 0 ? m->max_len - len[b] + 1 : 0);
			return err->code;
		}
		need = n > need ? n : need;
	}
	if ((uint64_t) B * beams > INT32_MAX / 4)
		return sm_fail(err, SM_ERR_LIMIT, "too many decoder rows: %d prompts x %d beams", B, beams);
	if ((s = sm_alloc0(sizeof(lm_state))) == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	s->m = m;
	s->cap = B * beams;
	if ((s->st = sm_alloc0(sizeof(sm_tfm_state *) * (size_t) s->cap)) == NULL ||
		(s->slot = sm_alloc_array((size_t) s->cap, sizeof(int))) == NULL ||
		(s->slot2 = sm_alloc_array((size_t) s->cap, sizeof(int))) == NULL ||
		(s->taken = sm_alloc_array((size_t) s->cap, 1)) == NULL ||
		(s->scratch = sm_alloc_array((size_t) m->vocab, sizeof(float))) == NULL)
	{
		lm_end(s);
		return sm_fail(err, SM_ERR_NOMEM, "out of memory for the decoding states");
	}
	for (int i = 0; i < s->cap; i++)
	{
		if ((rc = sm_tfm_state_new(m, need, &s->st[i], err)) != SM_OK)
		{
			lm_end(s);
			return rc;
		}
		s->slot[i] = i;
	}
	/* each prompt but its last token once, then into its other beams */
	for (int b = 0; b < B; b++)
	{
		sm_tfm_state *first = s->st[b * beams];

		if (len[b] > 1 && (rc = sm_tfm_decode(m, first, src[b], len[b] - 1, s->scratch, err)) != SM_OK)
		{
			lm_end(s);
			return rc;
		}
		for (int k = 1; k < beams; k++)
			if ((rc = sm_tfm_state_copy(m, s->st[b * beams + k], first, err)) != SM_OK)
			{
				lm_end(s);
				return rc;
			}
	}
	s->rows = s->cap;
	*state = s;
	return SM_OK;
}

static sm_status
lm_step(void *state, const int32_t *tokens, float *lp, sm_error *err)
{
	lm_state   *s = state;
	const int	V = s->m->vocab;
	sm_status	rc;

	for (int r = 0; r < s->rows; r++)
	{
		float	   *row = lp + (size_t) r * V;
		float		lse;

		if ((rc = sm_tfm_decode(s->m, s->st[s->slot[r]], &tokens[r], 1, row, err)) != SM_OK)
			return rc;
		lse = (float) sm_op_logsumexp(row, V);
		for (int j = 0; j < V; j++)
			row[j] -= lse;
	}
	return SM_OK;
}

/* slot `to` gets slot `from`'s decoding state (the same capacity everywhere: cannot fail) */
static void
lm_copy_slot(void *ctx, int to, int from)
{
	lm_state   *s = ctx;
	sm_error	err;

	(void) sm_tfm_state_copy(s->m, s->st[to], s->st[from], &err);
}

static void
lm_reorder(void *state, const int *from, int rows)
{
	lm_state   *s = state;
	int		   *t;

	sm_beam_assign_slots(s->slot, from, rows, s->cap, s->taken, s->slot2, lm_copy_slot, s);
	t = s->slot, s->slot = s->slot2, s->slot2 = t;
	s->rows = rows;
}

sm_status
sm_tfm_lm_decoder(const sm_tfm *m, sm_decoder *d, sm_error *err)
{
	if (!m->causal || m->vocab == 0 || m->lm_head == NULL)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "only a causal token model with a language-model head decodes prompts");
	memset(d, 0, sizeof(*d));
	d->vocab = m->vocab;
	d->start_id = -1;
	d->prompt = true;
	d->eos_id = m->eos_id;
	d->forced_bos = d->forced_eos = -1;
	d->model = m;
	d->start = lm_start;
	d->step = lm_step;
	d->reorder = lm_reorder;
	d->end = lm_end;
	return SM_OK;
}
