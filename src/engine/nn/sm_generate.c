/*
 * sm_generate.c -- greedy and sampled decoding over sm_tfm_decode.
 *
 * Sampling follows the usual recipe (Hugging Face's TopKLogitsWarper then
 * TemperatureLogitsWarper, multinomial draw): keep the top_k largest logits
 * (ties at the k-th value kept too, as HF's `< kth value` filter does),
 * divide by the temperature, softmax in double, draw one uniform number.
 */
#include "sm_generate.h"
#include "sm_lm_decoder.h"

#include <math.h>
#include <string.h>

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
sm_gen_seed(uint64_t seed, uint64_t s[4])
{
	/* splitmix64, so that nearby seeds give unrelated streams */
	for (int i = 0; i < 4; i++)
	{
		uint64_t	z = (seed += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		s[i] = z ^ (z >> 31);
	}
}

/* xoshiro256**: a uniform double in [0, 1) */
static double
next_uniform(uint64_t s[4])
{
	uint64_t	r = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return (double) (r >> 11) * 0x1.0p-53;
}

sm_status
sm_gen_check_opts(const sm_gen_opts *o, sm_error *err)
{
	if (!isfinite(o->temperature) || o->temperature < 0)
	{
		sm_fail(err, SM_ERR_INVALID, "temperature must be a finite number >= 0, not %g", o->temperature);
		sm_detail(err, "0 chooses the most likely token at every step; above 0 samples.");
		return err->code;
	}
	if (o->top_k < 0)
	{
		sm_fail(err, SM_ERR_INVALID, "top_k must be >= 0, not %d", o->top_k);
		sm_detail(err, "0 samples from the whole vocabulary; k > 0 from the k most likely tokens.");
		return err->code;
	}
	if (o->max_new < 0)
		return sm_fail(err, SM_ERR_INVALID, "max_tokens must be >= 0, not %d", o->max_new);
	return SM_OK;
}

static int32_t
argmax(const float *x, int n)
{
	int32_t		best = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* the k-th largest value of x [n] (1 <= k <= n), by partial selection on a copy */
static float
kth_largest(const float *x, int n, int k, float *tmp)
{
	int			lo = 0,
				hi = n - 1,
				want = k - 1;

	memcpy(tmp, x, sizeof(float) * n);
	/* quickselect for descending order */
	while (lo < hi)
	{
		float		pivot = tmp[lo + (hi - lo) / 2];
		int			i = lo,
					j = hi;

		while (i <= j)
		{
			while (tmp[i] > pivot)
				i++;
			while (tmp[j] < pivot)
				j--;
			if (i <= j)
			{
				float		t = tmp[i];

				tmp[i] = tmp[j];
				tmp[j] = t;
				i++;
				j--;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			break;
	}
	return tmp[want];
}

int32_t
sm_gen_choose(float *logits, int V, const sm_gen_opts *o, uint64_t s[4], float *scratch)
{
	double		mx = -INFINITY,
				sum = 0,
				u,
				acc = 0;
	float		floor_v = -INFINITY;
	int32_t		last = 0;

	if (o->temperature == 0)
		return argmax(logits, V);
	if (o->top_k > 0 && o->top_k < V)
		floor_v = kth_largest(logits, V, o->top_k, scratch);
	for (int i = 0; i < V; i++)
		if (logits[i] >= floor_v && logits[i] > mx)
			mx = logits[i];
	for (int i = 0; i < V; i++)
		if (logits[i] >= floor_v)
			sum += exp(((double) logits[i] - mx) / o->temperature);
	u = next_uniform(s) * sum;
	for (int i = 0; i < V; i++)
	{
		if (logits[i] < floor_v)
			continue;
		acc += exp(((double) logits[i] - mx) / o->temperature);
		last = i;
		if (u < acc)
			return i;
	}
	return last;				/* rounding: the last candidate */
}

sm_status
sm_generate(const sm_tfm *m, const int32_t *prompt, int n, const sm_gen_opts *o,
			int32_t *out, int *n_out, bool *context_full, sm_error *err)
{
	sm_decoder	d;
	sm_beam_opts bo = {.num_beams = 1, .length_penalty = 1.0, .temperature = o->temperature,
	.top_k = o->top_k, .seed = o->seed};
	int			room;
	sm_status	rc;

	*n_out = 0;
	*context_full = false;
	if ((rc = sm_gen_check_opts(o, err)) != SM_OK)
		return rc;
	if (!m->causal || m->lm_head == NULL)
		return sm_fail(err, SM_ERR_UNSUPPORTED, "generation needs a causal model with a language-model head");
	if (n < 1)
		return sm_fail(err, SM_ERR_INVALID, "the prompt is empty");
	if (n > m->max_len)
	{
		sm_fail(err, SM_ERR_LIMIT, "the prompt is %d tokens long but the model takes at most %d", n, m->max_len);
		return err->code;
	}
	if (o->max_new == 0)
		return SM_OK;
	/*
	 * The decoder interface's greedy / sampled decoding (sm_beam.c over
	 * sm_lm_decoder.c), whose prompt and new tokens must fit the positions:
	 * the last generated token is never fed back, so max_len - n + 1 can
	 * come; fewer asked for than that and all came is "context full".
	 */
	room = m->max_len - n + 1;
	bo.max_new = o->max_new < room ? o->max_new : room;
	if (bo.max_new > SM_MAX_NEW_TOKENS)
		bo.max_new = SM_MAX_NEW_TOKENS;
	if ((rc = sm_tfm_lm_decoder(m, &d, err)) != SM_OK)
		return rc;
	d.eos_id = o->eos_id;
	if ((rc = sm_decode(&d, &prompt, &n, 1, &bo, out, n_out, NULL, err)) != SM_OK)
		return rc;
	*context_full = bo.max_new == room && room < o->max_new && *n_out == room;
	return SM_OK;
}
