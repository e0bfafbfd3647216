/*
 * sm_beam.c -- greedy search, beam search and teacher-forced scoring over
 * the decoder interface (see sm_beam.h for the definitions).
 *
 * Batching.  All sources decode together: the decoder holds one row per
 * (source, beam), sources in order, beams of a source contiguous.  After
 * each step the rows that go on are gathered with one reorder(): a beam's
 * new rows come from the beams its candidates extend, and sources that are
 * done (greedy: ended) leave the batch, so the decoder never steps a
 * finished row.  Finished hypotheses of each source live in a min-heap on
 * the score, so the worst one (the one a newcomer must beat) is at the
 * root.
 */
#include "sm_beam.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/sm_arena.h"
#include "sm_generate.h"

#define INIT_SCORE (-1e9)		/* the initial score of beams 1.. (HF's -1e9) */

sm_status
sm_beam_check_opts(const sm_beam_opts *o, sm_error *err)
{
	if (o->num_beams < 1 || o->num_beams > SM_MAX_BEAMS)
	{
		sm_fail(err, SM_ERR_INVALID, "num_beams must be between 1 and %d, not %d", SM_MAX_BEAMS, o->num_beams);
		sm_detail(err, "1 decodes greedily; more keeps that many hypotheses per source.");
		return err->code;
	}
	if (o->max_new < 1 || o->max_new > SM_MAX_NEW_TOKENS)
		return sm_fail(err, SM_ERR_INVALID, "max_new_tokens must be between 1 and %d, not %d",
					   SM_MAX_NEW_TOKENS, o->max_new);
	if (!isfinite(o->length_penalty))
	{
		sm_fail(err, SM_ERR_INVALID, "length_penalty must be a finite number, not %g", o->length_penalty);
		sm_detail(err, "A hypothesis scores its summed log-probabilities divided by its length to this power.");
		return err->code;
	}
	if (!isfinite(o->temperature) || o->temperature < 0)
	{
		sm_fail(err, SM_ERR_INVALID, "temperature must be a finite number >= 0, not %g", o->temperature);
		sm_detail(err, "0 decodes greedily; more samples from the distribution sharpened or flattened by it.");
		return err->code;
	}
	if (o->top_k < 0)
		return sm_fail(err, SM_ERR_INVALID, "top_k must be >= 0, not %d", o->top_k);
	if (o->temperature > 0 && o->num_beams > 1)
	{
		sm_fail(err, SM_ERR_INVALID, "sampling (temperature %g) needs num_beams 1, not %d", o->temperature, o->num_beams);
		sm_detail(err, "Beam search keeps the most likely hypotheses; it does not sample.");
		return err->code;
	}
	if (o->no_repeat_ngram < 0 || o->no_repeat_ngram > SM_MAX_NGRAM)
	{
		sm_fail(err, SM_ERR_INVALID, "no_repeat_ngram_size must be between 0 and %d, not %d",
				SM_MAX_NGRAM, o->no_repeat_ngram);
		sm_detail(err, "0 allows every repetition; n > 0 bans a token that would repeat an n-gram.");
		return err->code;
	}
	return SM_OK;
}

void
sm_beam_assign_slots(const int *slot, const int *from, int rows, int cap, unsigned char *taken,
					 int *slot2, void (*copy) (void *ctx, int to, int from), void *ctx)
{
	int			next_free = 0;

	memset(taken, 0, (size_t) cap);
	for (int i = 0; i < rows; i++)
	{
		int			ps = slot[from[i]];

		slot2[i] = taken[ps] ? -1 : ps;
		taken[ps] = 1;
	}
	for (int i = 0; i < rows; i++)
	{
		if (slot2[i] >= 0)
			continue;
		while (taken[next_free])
			next_free++;
		taken[next_free] = 1;
		slot2[i] = next_free;
		copy(ctx, next_free, slot[from[i]]);
	}
}

/* no_repeat_ngram_size: ban (-inf) every token that would complete an n-gram of hyp[0..c) */
static void
ban_ngrams(const int32_t *hyp, int c, int n, float *lp)
{
	if (n <= 0 || c + 1 < n)
		return;
	for (int i = 0; i + n <= c; i++)
		if (memcmp(hyp + i, hyp + c - n + 1, sizeof(int32_t) * (size_t) (n - 1)) == 0)
			lp[hyp[i + n - 1]] = -INFINITY;
}

/*
 * The logits processors of generate(), on one row's log-probabilities at
 * step t (t tokens generated so far; hyp [hyp_len] the row's tokens, its
 * prompt or start token first), in Hugging Face's order:
 * no_repeat_ngram_size, bad words (-inf), then forced_bos_token_id at the
 * first step and forced_eos_token_id at the last one max_new allows (every
 * other token -inf, the forced one 0).
 */
static void
process(const sm_decoder *d, const sm_beam_opts *o, int t, const int32_t *hyp, int hyp_len,
		float *lp)
{
	int32_t		forced = -1;

	ban_ngrams(hyp, hyp_len, o->no_repeat_ngram, lp);
	for (int i = 0; i < d->n_banned; i++)
		lp[d->banned[i]] = -INFINITY;
	if (t == 0 && d->forced_bos >= 0)
		forced = d->forced_bos;
	else if (t == o->max_new - 1 && d->forced_eos >= 0)
		forced = d->forced_eos;
	if (forced >= 0)
	{
		for (int v = 0; v < d->vocab; v++)
			lp[v] = -INFINITY;
		lp[forced] = 0.0f;
	}
}

static sm_status
check_finite(const float *lp, int V, sm_error *err)
{
	for (int i = 0; i < V; i++)
		if (isnan(lp[i]) || lp[i] == INFINITY)
			return sm_fail(err, SM_ERR_RANGE, "the model produced a non-finite log-probability for token %d", i);
	return SM_OK;
}

/* ---------------------------------------------------------------- greedy */

/*
 * What a hypothesis starts with: the decoder's start token, or (a decoder
 * over prompts) the whole prompt, whose last token is the first step's
 * input; prefix_len[b] tokens.  The n-gram ban sees the prefix too, as
 * Hugging Face's sees input_ids.
 */
static int
prefix_len(const sm_decoder *d, const int *src_len, int b)
{
	return d->prompt ? src_len[b] : 1;
}

static void
put_prefix(const sm_decoder *d, const int32_t *const *src, const int *src_len, int b, int32_t *hyp)
{
	if (d->prompt)
		memcpy(hyp, src[b], sizeof(int32_t) * (size_t) src_len[b]);
	else
		hyp[0] = d->start_id;
}

/* the hypothesis width: the longest prefix and max_new tokens */
static int
hyp_width(const sm_decoder *d, const int *src_len, int B, int max_new)
{
	int			p = 1;

	for (int b = 0; d->prompt && b < B; b++)
		p = src_len[b] > p ? src_len[b] : p;
	return p + max_new;
}

static sm_status
greedy(const sm_decoder *d, void *st, const int32_t *const *src, const int *src_len, int B,
	   const sm_beam_opts *o, int32_t *out, int *out_len, double *score, sm_error *err)
{
	const int	V = d->vocab,
				W = hyp_width(d, src_len, B, o->max_new);
	sm_arena	a = {0};
	float	   *lp = NULL;
	int32_t    *hyp = NULL,
			   *tok = NULL;
	int		   *act = NULL,
			   *from = NULL;
	double	   *sum = NULL;
	uint64_t   *rng = NULL;
	float	   *scratch = NULL;
	sm_gen_opts g = {.temperature = o->temperature, .top_k = o->top_k};
	int			rows = B;
	sm_status	rc;

	for (int pass = 0; pass < 2; pass++)
	{
		if (pass == 1 && (rc = sm_arena_alloc(&a, "greedy decoding", err)) != SM_OK)
			return rc;
		lp = sm_arena_take(&a, (size_t) B * V, sizeof(float));
		rng = sm_arena_take(&a, (size_t) B * 4, sizeof(uint64_t));
		scratch = sm_arena_take(&a, (size_t) V, sizeof(float));
		hyp = sm_arena_take(&a, (size_t) B * W, sizeof(int32_t));
		tok = sm_arena_take(&a, (size_t) B, sizeof(int32_t));
		act = sm_arena_take(&a, (size_t) B, sizeof(int));
		from = sm_arena_take(&a, (size_t) B, sizeof(int));
		sum = sm_arena_take(&a, (size_t) B, sizeof(double));
	}
	for (int b = 0; b < B; b++)
	{
		put_prefix(d, src, src_len, b, hyp + (size_t) b * W);
		out_len[b] = 0;
		act[b] = b;
		sum[b] = 0;
		/* every source its own stream from the seed: the same draws alone or in any batch */
		sm_gen_seed(o->seed, rng + (size_t) b * 4);
	}
	for (int t = 0; t < o->max_new && rows > 0; t++)
	{
		int			n = 0;

		for (int i = 0; i < rows; i++)
			tok[i] = hyp[(size_t) act[i] * W + prefix_len(d, src_len, act[i]) - 1 + t];
		if ((rc = d->step(st, tok, lp, err)) != SM_OK)
			goto done;
		for (int i = 0; i < rows; i++)
		{
			int			b = act[i],
						p = prefix_len(d, src_len, b);
			float	   *row = lp + (size_t) i * V;
			int32_t		best = 0;

			if ((rc = check_finite(row, V, err)) != SM_OK)
				goto done;
			process(d, o, t, hyp + (size_t) b * W, p + t, row);
			if (o->temperature > 0)
				best = sm_gen_choose(row, V, &g, rng + (size_t) b * 4, scratch);
			else
				for (int v = 1; v < V; v++)
					if (row[v] > row[best])
						best = v;
			sum[b] += row[best];
			if (best == d->eos_id)
				continue;
			hyp[(size_t) b * W + p + t] = best;
			out[(size_t) b * o->max_new + t] = best;
			out_len[b] = t + 1;
			from[n] = i;
			act[n++] = b;
		}
		if (n < rows && n > 0)
			d->reorder(st, from, n);
		rows = n;
	}
	if (score)
		memcpy(score, sum, sizeof(double) * B);
	rc = SM_OK;
done:
	sm_arena_free(&a);
	return rc;
}

/* ---------------------------------------------------------------- beam search */

/* a source's finished hypotheses: a min-heap of at most K on the score */
typedef struct hyp_heap
{
	int			n;
	int		   *slot;			/* [K] heap order -> storage slot */
	double	   *score;			/* [K] by slot */
	int		   *len;			/* [K] by slot */
	int32_t    *tokens;			/* [K, max_new] by slot */
} hyp_heap;

static void
heap_sift_down(hyp_heap *h, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					m = i;

		if (l < h->n && h->score[h->slot[l]] < h->score[h->slot[m]])
			m = l;
		if (r < h->n && h->score[h->slot[r]] < h->score[h->slot[m]])
			m = r;
		if (m == i)
			return;
		{
			int			t = h->slot[i];

			h->slot[i] = h->slot[m];
			h->slot[m] = t;
		}
		i = m;
	}
}

/* HF's BeamHypotheses.add: kept if not full yet or better than the worst */
static void
heap_add(hyp_heap *h, int K, int W, const int32_t *tokens, int n_tok, double sum_lp, int gen_len,
		 double length_penalty)
{
	double		score = sum_lp / pow((double) gen_len, length_penalty);
	int			s;

	if (h->n < K)
	{
		int			i = h->n++;

		s = i;					/* slots fill in order */
		h->slot[i] = s;
		while (i > 0 && h->score[h->slot[(i - 1) / 2]] > score)
		{
			h->slot[i] = h->slot[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		h->slot[i] = s;
	}
	else
	{
		if (!(score > h->score[h->slot[0]]))
			return;
		s = h->slot[0];			/* the worst makes room */
	}
	h->score[s] = score;
	h->len[s] = n_tok;
	memcpy(h->tokens + (size_t) s * W, tokens, sizeof(int32_t) * (size_t) n_tok);
	if (h->n == K && s == h->slot[0])
		heap_sift_down(h, 0);
}

typedef struct cand
{
	double		val;
	int			beam;
	int32_t		tok;
} cand;

/* the 2K best of bscore[j] + lp[j, v], best first, lower (j, v) first on a tie */
static int
top_candidates(const float *lp, const double *bscore, int K, int V, cand *c)
{
	int			n = 0,
				cap = 2 * K;

	for (int j = 0; j < K; j++)
		for (int v = 0; v < V; v++)
		{
			double		val = bscore[j] + (double) lp[(size_t) j * V + v];
			int			i;

			if (n == cap && !(val > c[n - 1].val))
				continue;
			i = n < cap ? n++ : n - 1;
			while (i > 0 && c[i - 1].val < val)
			{
				c[i] = c[i - 1];
				i--;
			}
			c[i].val = val;
			c[i].beam = j;
			c[i].tok = v;
		}
	return n;
}

static sm_status
beam(const sm_decoder *d, void *st, const int32_t *const *src, const int *src_len, int B,
	 const sm_beam_opts *o, int32_t *out, int *out_len, double *score, sm_error *err)
{
	const int	V = d->vocab,
				K = o->num_beams,
				W = hyp_width(d, src_len, B, o->max_new),
				cap = B * K;
	sm_arena	a = {0};
	float	   *lp = NULL;
	int32_t    *hyp = NULL,
			   *hyp2 = NULL,
			   *tok = NULL;
	double	   *bs = NULL,
			   *bs2 = NULL;
	int		   *act = NULL,
			   *from = NULL;
	bool	   *done = NULL;
	cand	   *c = NULL;
	hyp_heap   *heaps = NULL;
	int			na = B,			/* sources still decoding */
				t = 0;
	sm_status	rc;

	for (int pass = 0; pass < 2; pass++)
	{
		if (pass == 1 && (rc = sm_arena_alloc(&a, "beam search", err)) != SM_OK)
			return rc;
		lp = sm_arena_take(&a, (size_t) cap * V, sizeof(float));
		hyp = sm_arena_take(&a, (size_t) cap * W, sizeof(int32_t));
		hyp2 = sm_arena_take(&a, (size_t) cap * W, sizeof(int32_t));
		tok = sm_arena_take(&a, (size_t) cap, sizeof(int32_t));
		bs = sm_arena_take(&a, (size_t) cap, sizeof(double));
		bs2 = sm_arena_take(&a, (size_t) cap, sizeof(double));
		act = sm_arena_take(&a, (size_t) B, sizeof(int));
		from = sm_arena_take(&a, (size_t) cap, sizeof(int));
		done = sm_arena_take(&a, (size_t) B, sizeof(bool));
		c = sm_arena_take(&a, (size_t) 2 * K, sizeof(cand));
		heaps = sm_arena_take(&a, (size_t) B, sizeof(hyp_heap));
		for (int b = 0; b < B; b++)
		{
			hyp_heap	h = {0};

			h.slot = sm_arena_take(&a, (size_t) K, sizeof(int));
			h.score = sm_arena_take(&a, (size_t) K, sizeof(double));
			h.len = sm_arena_take(&a, (size_t) K, sizeof(int));
			h.tokens = sm_arena_take(&a, (size_t) K * W, sizeof(int32_t));
			if (pass == 1)
				heaps[b] = h;
		}
	}
	for (int b = 0; b < B; b++)
	{
		act[b] = b;
		done[b] = false;
		for (int j = 0; j < K; j++)
		{
			put_prefix(d, src, src_len, b, hyp + ((size_t) b * K + j) * W);
			bs[b * K + j] = j == 0 ? 0.0 : INIT_SCORE;
		}
	}
	for (t = 0; t < o->max_new && na > 0; t++)
	{
		int			rows = na * K,
					nn = 0;			/* sources going on */

		for (int i = 0; i < rows; i++)
			tok[i] = hyp[(size_t) i * W + prefix_len(d, src_len, act[i / K]) - 1 + t];
		if ((rc = d->step(st, tok, lp, err)) != SM_OK)
			goto done;
		for (int ai = 0; ai < na; ai++)
		{
			int			b = act[ai],
						p = prefix_len(d, src_len, b);
			hyp_heap   *h = &heaps[b];
			float	   *blp = lp + (size_t) ai * K * V;
			int			n_c,
						nxt = 0;

			for (int j = 0; j < K; j++)
			{
				if ((rc = check_finite(blp + (size_t) j * V, V, err)) != SM_OK)
					goto done;
				process(d, o, t, hyp + (size_t) (ai * K + j) * W, p + t, blp + (size_t) j * V);
			}
			n_c = top_candidates(blp, bs + (size_t) ai * K, K, V, c);
			for (int rank = 0; rank < n_c && nxt < K; rank++)
			{
				int			row = ai * K + c[rank].beam;

				if (c[rank].tok == d->eos_id)
				{
					if (rank < K)
						heap_add(h, K, W, hyp + (size_t) row * W + p, t, c[rank].val, t + 1,
								 o->length_penalty);
					continue;
				}
				/* the new row nn * K + nxt extends row */
				from[nn * K + nxt] = row;
				tok[nn * K + nxt] = c[rank].tok;
				bs2[nn * K + nxt] = c[rank].val;
				nxt++;
			}
			if (h->n == K)
				done[b] = o->early_stopping ||
					h->score[h->slot[0]] >= c[0].val / pow((double) (t + 1), o->length_penalty);
			if (done[b])
				continue;
			if (nxt < K)
			{
				rc = sm_fail(err, SM_ERR_INTERNAL, "beam search found %d of %d candidates", nxt, K);
				goto done;
			}
			act[nn++] = b;
		}
		/* the rows that go on, with their hypotheses and scores */
		for (int i = 0; i < nn * K; i++)
		{
			int			p = prefix_len(d, src_len, act[i / K]);

			memcpy(hyp2 + (size_t) i * W, hyp + (size_t) from[i] * W, sizeof(int32_t) * (size_t) (p + t));
			hyp2[(size_t) i * W + p + t] = tok[i];
			bs[i] = bs2[i];
		}
		{
			int32_t    *x = hyp;

			hyp = hyp2;
			hyp2 = x;
		}
		na = nn;
		if (na > 0 && t + 1 < o->max_new)
			d->reorder(st, from, na * K);
	}
	/* sources not done: their running beams are offered as they are */
	for (int ai = 0; ai < na; ai++)
		for (int j = 0; j < K; j++)
		{
			int			row = ai * K + j;

			heap_add(&heaps[act[ai]], K, W, hyp + (size_t) row * W + prefix_len(d, src_len, act[ai]), t,
					 bs[row], t, o->length_penalty);
		}
	for (int b = 0; b < B; b++)
	{
		hyp_heap   *h = &heaps[b];
		int			best = h->slot[0];

		for (int i = 1; i < h->n; i++)
			if (h->score[h->slot[i]] > h->score[best])
				best = h->slot[i];
		out_len[b] = h->len[best];
		memcpy(out + (size_t) b * o->max_new, h->tokens + (size_t) best * W, sizeof(int32_t) * h->len[best]);
		if (score)
			score[b] = h->score[best];
	}
	rc = SM_OK;
done:
	sm_arena_free(&a);
	return rc;
}

sm_status
sm_decode(const sm_decoder *d, const int32_t *const *src, const int *src_len, int B,
		  const sm_beam_opts *o, int32_t *out, int *out_len, double *score, sm_error *err)
{
	void	   *st;
	sm_status	rc;

	if ((rc = sm_beam_check_opts(o, err)) != SM_OK)
		return rc;
	if (B == 0)
		return SM_OK;
	if ((rc = d->start(d->model, src, src_len, B, o->num_beams, o->max_new, &st, err)) != SM_OK)
		return rc;
	rc = o->num_beams == 1 ? greedy(d, st, src, src_len, B, o, out, out_len, score, err)
		: beam(d, st, src, src_len, B, o, out, out_len, score, err);
	d->end(st);
	return rc;
}

sm_status
sm_decode_logprob(const sm_decoder *d, const int32_t *const *src, const int *src_len,
				  const int32_t *const *tgt, const int *tgt_len, int B, double *sum,
				  float *steps, sm_error *err)
{
	const int	V = d->vocab;
	int			T = 0;
	void	   *st;
	float	   *lp;
	int32_t    *tok;
	sm_status	rc;

	if (B == 0)
		return SM_OK;
	for (int b = 0; b < B; b++)
	{
		if (tgt_len[b] < 1)
			return sm_fail(err, SM_ERR_INVALID, "target is empty");
		T = tgt_len[b] > T ? tgt_len[b] : T;
		sum[b] = 0;
	}
	lp = sm_alloc_array((size_t) B * V, sizeof(float));
	tok = sm_alloc_array((size_t) B, sizeof(int32_t));
	if (lp == NULL || tok == NULL)
	{
		sm_free(lp);
		sm_free(tok);
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	}
	if ((rc = d->start(d->model, src, src_len, B, 1, T, &st, err)) != SM_OK)
		goto out;
	for (int t = 0; t < T; t++)
	{
		for (int b = 0; b < B; b++)
			tok[b] = t == 0 || t >= tgt_len[b] ? d->start_id : tgt[b][t - 1];
		if ((rc = d->step(st, tok, lp, err)) != SM_OK)
			break;
		for (int b = 0; b < B; b++)
		{
			const float *row = lp + (size_t) b * V;

			if (t >= tgt_len[b])
				continue;
			if (!isfinite(row[tgt[b][t]]))
			{
				rc = sm_fail(err, SM_ERR_RANGE, "the model produced a non-finite log-probability");
				break;
			}
			sum[b] += row[tgt[b][t]];
			if (steps)
				memcpy(steps + ((size_t) b * T + t) * V, row, sizeof(float) * V);
		}
		if (rc != SM_OK)
			break;
	}
	d->end(st);
out:
	sm_free(lp);
	sm_free(tok);
	return rc;
}
