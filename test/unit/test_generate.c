/*
 * test_generate.c -- sm_generate.c: greedy decoding equals the argmax of the
 * full forward pass step by step; sampling is reproducible, honours top_k
 * and draws by the softmax; eos, max_new and the context stop it; bad
 * options are errors.  Also the text config keys of sm_tfm.c.
 */
#include "sm_test.h"
#include "sm_tests.h"
#include "nn/sm_generate.h"
#include "nn/sm_lm_decoder.h"

#include <stdlib.h>

static const char *const cfg =
	"{\"vocab_size\": 37, \"n_positions\": 24, \"n_embd\": 16, \"n_layer\": 2, \"n_head\": 2,"
	" \"eos_token_id\": 36, \"bos_token_id\": 36, \"embedding_pooling\": \"last\"}";

/* the greedy continuation computed with full forward passes */
static int
greedy_by_forward(const sm_tfm *m, int32_t *ids, int n, int steps)
{
	float	   *lg = malloc(sizeof(float) * (size_t) m->max_len * m->vocab);
	sm_error	err;

	for (int s = 0; s < steps && n < m->max_len; s++)
	{
		sm_tfm_batch b = {.B = 1, .lengths = &n, .ids = ids};
		const float *last;
		int			best = 0;

		if (sm_tfm_forward(m, &b, SM_TFM_OUT_LOGITS, lg, NULL, &err) != SM_OK)
			break;
		last = lg + (size_t) (n - 1) * m->vocab;
		for (int i = 1; i < m->vocab; i++)
			if (last[i] > last[best])
				best = i;
		ids[n++] = best;
	}
	free(lg);
	return n;
}

void
test_generate(void)
{
	sm_model   *model = sm_test_make_model("gpt2", cfg, 21, 0.8, false);
	const sm_tfm *m = sm_tfm_of(model);
	int32_t		prompt[3] = {5, 17, 2};
	int32_t		ref[24],
				out[24],
				out2[24];
	int			n_out,
				n_out2;
	bool		full;
	sm_gen_opts o = {.max_new = 10, .temperature = 0, .top_k = 0, .seed = 1, .eos_id = -1};
	sm_error	err;

	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK(m->bos_id == 36 && m->eos_id == 36 && m->embed_pool == SM_POOL_LAST && !m->embed_normalize);

	/* greedy = argmax of the full forward, token by token */
	memcpy(ref, prompt, sizeof(prompt));
	CHECK(greedy_by_forward(m, ref, 3, 10) == 13);
	CHECK(sm_generate(m, prompt, 3, &o, out, &n_out, &full, &err) == SM_OK);
	CHECK(n_out == 10 && !full);
	CHECK(memcmp(out, ref + 3, sizeof(int32_t) * 10) == 0);

	/* top_k 1 at any temperature is greedy */
	o.temperature = 1.7;
	o.top_k = 1;
	CHECK(sm_generate(m, prompt, 3, &o, out2, &n_out2, &full, &err) == SM_OK);
	CHECK(n_out2 == 10 && memcmp(out, out2, sizeof(int32_t) * 10) == 0);

	/* sampling: the same seed gives the same tokens, another seed (here) others */
	o.top_k = 0;
	o.seed = 99;
	CHECK(sm_generate(m, prompt, 3, &o, out, &n_out, &full, &err) == SM_OK);
	CHECK(sm_generate(m, prompt, 3, &o, out2, &n_out2, &full, &err) == SM_OK);
	CHECK(n_out == n_out2 && memcmp(out, out2, sizeof(int32_t) * n_out) == 0);
	{
		int			differ = 0;

		for (uint64_t s = 1; s <= 8; s++)
		{
			o.seed = 1000 + s;
			CHECK(sm_generate(m, prompt, 3, &o, out2, &n_out2, &full, &err) == SM_OK);
			differ += n_out2 != n_out || memcmp(out, out2, sizeof(int32_t) * n_out) != 0;
		}
		CHECK(differ > 0);
	}

	/* eos stops (and is not returned); the context stops */
	o.temperature = 0;
	o.eos_id = ref[5];
	CHECK(sm_generate(m, prompt, 3, &o, out, &n_out, &full, &err) == SM_OK);
	{
		int			first = 3;

		while (ref[first] != ref[5])
			first++;
		CHECK(n_out == first - 3 && !full);
	}
	o.eos_id = -1;
	o.max_new = 100;
	CHECK(sm_generate(m, prompt, 3, &o, out, &n_out, &full, &err) == SM_OK);
	CHECK(n_out == 22 && full);	/* 24 positions: 3 prompt + 21 fed back + 1 last */
	o.max_new = 0;
	CHECK(sm_generate(m, prompt, 3, &o, out, &n_out, &full, &err) == SM_OK && n_out == 0);

	/* the same model through the decoder interface (sm_lm_decoder.h): greedy and sampled as
	 * sm_generate, batched prompts alone and together, beams scored by the full forward */
	{
		sm_decoder	d;
		sm_beam_opts bo = {.num_beams = 1, .max_new = 10, .length_penalty = 1.0};
		int32_t		p2[5] = {7, 7, 30, 1, 12},
					bout[3 * 10],
					gout[10];
		const int32_t *ps[3] = {prompt, p2, prompt};
		int			pl[3] = {3, 5, 3},
					bl[3],
					gl;
		double		sc[3];

		CHECK(sm_tfm_lm_decoder(m, &d, &err) == SM_OK);
		d.eos_id = -1;
		CHECK(sm_decode(&d, ps, pl, 1, &bo, bout, bl, NULL, &err) == SM_OK);
		CHECK(bl[0] == 10 && memcmp(bout, ref + 3, sizeof(int32_t) * 10) == 0);
		CHECK(sm_decode(&d, ps, pl, 3, &bo, bout, bl, NULL, &err) == SM_OK);
		CHECK(bl[0] == 10 && bl[2] == 10 && memcmp(bout, ref + 3, sizeof(int32_t) * 10) == 0 &&
			  memcmp(bout + 20, ref + 3, sizeof(int32_t) * 10) == 0);
		{
			sm_gen_opts go = {.max_new = 10, .temperature = 0, .eos_id = -1};

			CHECK(sm_generate(m, p2, 5, &go, gout, &gl, &full, &err) == SM_OK);
			CHECK(bl[1] == gl && memcmp(bout + 10, gout, sizeof(int32_t) * gl) == 0);
			/* sampling: the same draws as sm_generate's for the same seed */
			go.temperature = bo.temperature = 1.3;
			go.seed = bo.seed = 77;
			CHECK(sm_generate(m, p2, 5, &go, gout, &gl, &full, &err) == SM_OK);
			CHECK(sm_decode(&d, ps, pl, 3, &bo, bout, bl, NULL, &err) == SM_OK);
			CHECK(bl[1] == gl && memcmp(bout + 10, gout, sizeof(int32_t) * gl) == 0);
			bo.temperature = 0;
		}
		/* beams: every answer's score is its summed log-probabilities (full forwards) over its length */
		bo.num_beams = 3;
		bo.max_new = 6;
		CHECK(sm_decode(&d, ps, pl, 3, &bo, bout, bl, sc, &err) == SM_OK);
		for (int b = 0; b < 3; b++)
		{
			int32_t		seq[24];
			int			n = pl[b] + bl[b];
			float	   *lg = malloc(sizeof(float) * (size_t) n * m->vocab);
			sm_tfm_batch fb = {.B = 1, .lengths = &n, .ids = seq};
			double		sum = 0;

			memcpy(seq, ps[b], sizeof(int32_t) * pl[b]);
			memcpy(seq + pl[b], bout + b * 6, sizeof(int32_t) * bl[b]);
			CHECK(sm_tfm_forward(m, &fb, SM_TFM_OUT_LOGITS, lg, NULL, &err) == SM_OK);
			for (int t = pl[b]; t < n; t++)
			{
				const float *row = lg + (size_t) (t - 1) * m->vocab;

				sum += row[seq[t]] - sm_logsumexp(row, m->vocab);
			}
			CHECK_MSG(bl[b] == 6 && fabs(sum / 6 - sc[b]) < 1e-5 * fabs(sc[b]),
					  "beam %d: %d tokens, score %.9g, forward %.9g", b, bl[b], sc[b], sum / 6);
			/* no better greedy path: the beam's score is at least greedy's */
			free(lg);
		}
		/* no_repeat_ngram_size sees the prompt: no bigram of prompt + output twice */
		bo.num_beams = 1;
		bo.max_new = 12;
		bo.no_repeat_ngram = 2;
		CHECK(sm_decode(&d, ps + 1, pl + 1, 1, &bo, bout, bl, NULL, &err) == SM_OK);
		{
			int32_t		all[24];
			int			n = 5 + bl[0],
						rep = 0;

			memcpy(all, p2, sizeof(p2));
			memcpy(all + 5, bout, sizeof(int32_t) * bl[0]);
			for (int i = 0; i + 1 < n; i++)
				for (int j = i + 1; j + 1 < n; j++)
					rep += all[i] == all[j] && all[i + 1] == all[j + 1] && j >= 4;
			CHECK_MSG(rep == 0, "%d repeated bigrams", rep);
		}
		bo.no_repeat_ngram = 0;
		/* a prompt and max_new past the positions */
		bo.max_new = 23;
		CHECK(sm_decode(&d, ps, pl, 1, &bo, bout, bl, NULL, &err) == SM_ERR_LIMIT);
		CHECK_ERR(err, SM_ERR_LIMIT, "need 25 positions, more than the model's 24");
	}

	/* errors */
	o.max_new = 3;
	o.temperature = -0.5;
	CHECK(sm_generate(m, prompt, 3, &o, out, &n_out, &full, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "temperature must be a finite number >= 0, not -0.5");
	o.temperature = NAN;
	CHECK(sm_gen_check_opts(&o, &err) == SM_ERR_INVALID);
	o.temperature = 1;
	o.top_k = -2;
	CHECK(sm_gen_check_opts(&o, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "top_k must be >= 0, not -2");
	o.top_k = 0;
	o.max_new = -1;
	CHECK(sm_gen_check_opts(&o, &err) == SM_ERR_INVALID);
	o.max_new = 3;
	CHECK(sm_generate(m, prompt, 0, &o, out, &n_out, &full, &err) == SM_ERR_INVALID);
	{
		int32_t		longp[25] = {0};

		CHECK(sm_generate(m, longp, 25, &o, out, &n_out, &full, &err) == SM_ERR_LIMIT);
	}
	sm_model_free(model);

	/* the draw follows the softmax (at temperature 1: p1 = 2/3), and top_k filters */
	{
		uint64_t	s[4];
		float		lg[4],
					scratch[4];
		sm_gen_opts so = {.temperature = 1.0, .top_k = 0};
		int			ones = 0,
					bad = 0,
					N = 30000;

		sm_gen_seed(5, s);
		for (int i = 0; i < N; i++)
		{
			lg[0] = 0;
			lg[1] = logf(2.0f);
			ones += sm_gen_choose(lg, 2, &so, s, scratch) == 1;
		}
		CHECK_MSG(fabs((double) ones / N - 2.0 / 3.0) < 0.015, "p1 = %g", (double) ones / N);
		so.top_k = 2;
		for (int i = 0; i < N; i++)
		{
			lg[0] = 5;
			lg[1] = 4.9f;
			lg[2] = 4.8f;
			lg[3] = 1;
			int			id = sm_gen_choose(lg, 4, &so, s, scratch);

			bad += id >= 2;
		}
		CHECK(bad == 0);
		/* ties at the k-th value stay in (as Hugging Face's filter) */
		so.top_k = 1;
		so.temperature = 1;
		{
			int			seen1 = 0;

			for (int i = 0; i < 2000; i++)
			{
				lg[0] = 3;
				lg[1] = 3;
				lg[2] = 0;
				seen1 += sm_gen_choose(lg, 3, &so, s, scratch) == 1;
			}
			CHECK(seen1 > 800 && seen1 < 1200);
		}
	}

	/* a transformer whose head is a language-model head (with a bias) */
	{
		sm_model   *tm = sm_test_make_model("transformer",
											"{\"d_model\": 8, \"nhead\": 2, \"num_layers\": 1, \"vocab_size\": 20,"
											" \"causal\": true, \"pooling\": \"none\", \"output_size\": 20,"
											" \"lm_head\": true, \"positional\": \"learned\", \"max_len\": 16}",
											3, 0.8, false);
		const sm_tfm *t = tm ? sm_tfm_of(tm) : NULL;
		int32_t		ids[16] = {3, 9, 1, 14};
		int			n = 4;
		float		steps[16 * 20],
					logits[16 * 20];
		double		lp,
					want = 0;
		sm_tfm_batch b = {.B = 1, .lengths = &n, .ids = ids};

		CHECK(t != NULL && t->lm_head != NULL && t->lm_bias != NULL);
		if (t)
		{
			CHECK(sm_tfm_forward(t, &b, SM_TFM_OUT_STEPS, steps, NULL, &err) == SM_OK);
			CHECK(sm_tfm_forward(t, &b, SM_TFM_OUT_LOGITS, logits, NULL, &err) == SM_OK);
			{
				double		md = 0;

				for (int i = 0; i < n * 20; i++)
					md = fmax(md, fabs(steps[i] - logits[i]));
				CHECK_MSG(md < 1e-5, "logits vs head %g", md);
			}
			CHECK(sm_tfm_forward(t, &b, SM_TFM_OUT_LOGPROB, NULL, &lp, &err) == SM_OK);
			for (int i = 0; i < n - 1; i++)
			{
				double		mx = -INFINITY,
							z = 0;

				for (int v = 0; v < 20; v++)
					mx = fmax(mx, steps[i * 20 + v]);
				for (int v = 0; v < 20; v++)
					z += exp(steps[i * 20 + v] - mx);
				want += steps[i * 20 + ids[i + 1]] - mx - log(z);
			}
			CHECK_MSG(fabs(lp - want) < 1e-4 * fabs(want), "logprob %g vs %g", lp, want);
			memcpy(ref, ids, sizeof(int32_t) * 4);
			CHECK(greedy_by_forward(t, ref, 4, 6) == 10);
			o = (sm_gen_opts) {.max_new = 6, .temperature = 0, .eos_id = -1};
			CHECK(sm_generate(t, ids, 4, &o, out, &n_out, &full, &err) == SM_OK);
			CHECK(n_out == 6 && memcmp(out, ref + 4, sizeof(int32_t) * 6) == 0);
		}
		if (tm)
			sm_model_free(tm);
		tm = sm_test_make_model("transformer",
								"{\"d_model\": 8, \"nhead\": 2, \"num_layers\": 1, \"vocab_size\": 20,"
								" \"pooling\": \"none\", \"output_size\": 20, \"lm_head\": true}", 3, 0.8, false);
		CHECK(tm == NULL);		/* not causal */
	}

	/* text config errors */
	{
		sm_model   *bad = sm_test_make_model("gpt2",
											 "{\"vocab_size\": 10, \"n_positions\": 4, \"n_embd\": 4, \"n_layer\": 1,"
											 " \"n_head\": 1, \"eos_token_id\": 10}", 1, 0.5, false);

		CHECK(bad == NULL);
		bad = sm_test_make_model("bert",
								 "{\"vocab_size\": 10, \"hidden_size\": 4, \"num_hidden_layers\": 1,"
								 " \"num_attention_heads\": 1, \"intermediate_size\": 4,"
								 " \"embedding_pooling\": \"max\"}", 1, 0.5, false);
		CHECK(bad == NULL);
		bad = sm_test_make_model("transformer",
								 "{\"d_model\": 4, \"nhead\": 1, \"num_layers\": 1, \"vocab_size\": 10,"
								 " \"output_size\": 2, \"pooling\": \"mean\", \"id2label\": {\"0\": \"a\"}}",
								 1, 0.5, false);
		CHECK(bad == NULL);
		bad = sm_test_make_model("transformer",
								 "{\"d_model\": 4, \"nhead\": 1, \"num_layers\": 1, \"vocab_size\": 10,"
								 " \"output_size\": 2, \"pooling\": \"mean\", \"id2label\": {\"0\": \"a\", \"1\": \"b\"},"
								 " \"embedding_normalize\": true}",
								 1, 0.5, false);
		CHECK(bad != NULL && sm_tfm_of(bad)->n_labels == 2 && strcmp(sm_tfm_of(bad)->labels[1], "b") == 0 &&
			  sm_tfm_of(bad)->embed_pool == SM_POOL_MEAN && sm_tfm_of(bad)->embed_normalize);
		if (bad)
			sm_model_free(bad);
	}
}
