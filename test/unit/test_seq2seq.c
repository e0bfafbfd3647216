/*
 * test_seq2seq.c -- arch rnn_seq2seq and the decoders of sm_beam.c against
 * PyTorch (test/fixtures/seq2seq, written by gen_seq2seq_fixtures.py):
 * encoder outputs and final states of a batch of sources of different
 * lengths, every teacher-forced step's log-probabilities (1e-5 normwise),
 * greedy and beam outputs (token ids equal), each source alone and all of a
 * case's sources batched; then bad options, ids and configs, and
 * cancellation.  The fixtures are required: a missing file fails.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "core/sm_json.h"
#include "core/sm_safetensors.h"
#include "nn/sm_seq2seq.h"
#include "test_seq2seq.h"

#define FIXTURES "test/fixtures/seq2seq/"

/* an array of integers */
int32_t *
s2s_ints(const sm_json *a, int *n)
{
	int32_t    *v = malloc(sizeof(int32_t) * (a->count + 1));

	for (size_t i = 0; i < a->count; i++)
		v[i] = (int32_t) a->items[i]->integer;
	*n = (int) a->count;
	return v;
}

/* a [rows][cols] array of numbers into v at row stride ld */
void
s2s_floats2(const sm_json *a, float *v, int ld)
{
	for (size_t r = 0; r < a->count; r++)
		for (size_t c = 0; c < a->items[r]->count; c++)
			v[r * ld + c] = (float) a->items[r]->items[c]->number;
}

static const sm_json *
at(const sm_json *o, const char *k)
{
	return sm_json_get(o, k);
}

static void
encode_cases(const sm_s2s *m, const sm_json *cs, const char *name)
{
	int			B = (int) cs->count,
				S = 0,
				H = m->H,
				L = m->L;
	int32_t   **src = malloc(sizeof(int32_t *) * B);
	int		   *len = malloc(sizeof(int) * B);
	float	   *out,
			   *h,
			   *c,
			   *ref;
	double		worst = 0;
	sm_error	err;

	for (int b = 0; b < B; b++)
	{
		src[b] = s2s_ints(at(cs->items[b], "source"), &len[b]);
		S = len[b] > S ? len[b] : S;
	}
	out = calloc((size_t) B * S * H, sizeof(float));
	h = calloc((size_t) L * B * H, sizeof(float));
	c = calloc((size_t) L * B * H, sizeof(float));
	ref = calloc((size_t) (S > L ? S : L) * H, sizeof(float));
	CHECK_MSG(sm_s2s_encode(m, (const int32_t *const *) src, len, B, out, h, c, &err) == SM_OK, "%s", err.message);
	for (int b = 0; b < B; b++)
	{
		const sm_json *cell = at(cs->items[b], "cell");
		double		e;

		s2s_floats2(at(cs->items[b], "outputs"), ref, H);
		e = sm_test_normwise(out + (size_t) b * S * H, ref, len[b], H, H);
		worst = e > worst ? e : worst;
		CHECK_MSG(e < 1e-5, "%s encoder outputs of source %d: %.2e", name, b, e);
		s2s_floats2(at(cs->items[b], "hidden"), ref, H);
		for (int k = 0; k < L; k++)
		{
			e = sm_test_normwise(h + ((size_t) k * B + b) * H, ref + (size_t) k * H, 1, H, H);
			CHECK_MSG(e < 1e-5, "%s final h of source %d layer %d: %.2e", name, b, k, e);
		}
		if (cell->type == SM_JSON_ARRAY)
		{
			s2s_floats2(cell, ref, H);
			for (int k = 0; k < L; k++)
			{
				e = sm_test_normwise(c + ((size_t) k * B + b) * H, ref + (size_t) k * H, 1, H, H);
				CHECK_MSG(e < 1e-5, "%s final c of source %d layer %d: %.2e", name, b, k, e);
			}
		}
	}
	printf("  %-24s encoder max normwise deviation %.2e\n", name, worst);
	for (int b = 0; b < B; b++)
		free(src[b]);
	free(src);
	free(len);
	free(out);
	free(h);
	free(c);
	free(ref);
}

void
s2s_teacher_cases(const sm_decoder *dec, const sm_json *cs, const char *name)
{
	int			B = (int) cs->count,
				T = 0,
				V = dec->vocab;
	int32_t   **src = malloc(sizeof(int32_t *) * B),
			  **tgt = malloc(sizeof(int32_t *) * B);
	int		   *sl = malloc(sizeof(int) * B),
			   *tl = malloc(sizeof(int) * B);
	double	   *sum = malloc(sizeof(double) * B),
				worst = 0;
	float	   *steps,
			   *ref;
	sm_decoder	d = *dec;
	sm_error	err;

	for (int b = 0; b < B; b++)
	{
		src[b] = s2s_ints(at(cs->items[b], "source"), &sl[b]);
		tgt[b] = s2s_ints(at(cs->items[b], "target"), &tl[b]);
		T = tl[b] > T ? tl[b] : T;
	}
	steps = calloc((size_t) B * T * V, sizeof(float));
	ref = calloc((size_t) T * V, sizeof(float));
	CHECK_MSG(sm_decode_logprob(&d, (const int32_t *const *) src, sl, (const int32_t *const *) tgt, tl, B,
								sum, steps, &err) == SM_OK, "%s", err.message);
	for (int b = 0; b < B; b++)
	{
		double		e,
					want = at(cs->items[b], "sum")->number;

		s2s_floats2(at(cs->items[b], "logprobs"), ref, V);
		e = sm_test_normwise(steps + (size_t) b * T * V, ref, tl[b], V, V);
		worst = e > worst ? e : worst;
		CHECK_MSG(e < 1e-5, "%s teacher-forced log-probabilities of pair %d: %.2e", name, b, e);
		CHECK_MSG(fabs(sum[b] - want) <= 1e-5 * fabs(want), "%s log-likelihood of pair %d: %.9g, torch %.9g",
				  name, b, sum[b], want);
	}
	printf("  %-24s teacher-forced log-probabilities max normwise deviation %.2e\n", name, worst);
	for (int b = 0; b < B; b++)
	{
		free(src[b]);
		free(tgt[b]);
	}
	free(src);
	free(tgt);
	free(sl);
	free(tl);
	free(sum);
	free(steps);
	free(ref);
}

static sm_beam_opts
opts_of(int max_new_default, const sm_json *o)
{
	sm_beam_opts r = {.num_beams = 1, .max_new = max_new_default, .length_penalty = 1.0,
	.early_stopping = false, .no_repeat_ngram = 0};
	const sm_json *v;

	if ((v = at(o, "num_beams")))
		r.num_beams = (int) v->integer;
	if ((v = at(o, "max_new_tokens")))
		r.max_new = (int) v->integer;
	if ((v = at(o, "length_penalty")))
		r.length_penalty = v->number;
	if ((v = at(o, "early_stopping")))
		r.early_stopping = v->boolean;
	if ((v = at(o, "no_repeat_ngram_size")))
		r.no_repeat_ngram = (int) v->integer;
	return r;
}

/* each case alone, then every case of the same options in one batch */
void
s2s_decode_cases(const sm_decoder *dec, int max_new_default, const sm_json *cs, const char *name,
				 const char *what)
{
	int			B = (int) cs->count,
				ok = 0,
				ok_batched = 0;
	sm_decoder	d = *dec;
	sm_error	err;

	for (int b = 0; b < B; b++)
	{
		const sm_json *c = cs->items[b];
		sm_beam_opts o = opts_of(max_new_default, at(c, "options"));
		int			sl,
					wl,
					n_out = -1;
		int32_t    *src = s2s_ints(at(c, "source"), &sl),
				   *want = s2s_ints(at(c, "tokens"), &wl),
				   *out = calloc((size_t) o.max_new * B, sizeof(int32_t));
		const int32_t *srcs[1] = {src};
		bool		same;

		CHECK_MSG(sm_decode(&d, srcs, &sl, 1, &o, out, &n_out, NULL, &err) == SM_OK, "%s", err.message);
		same = n_out == wl && memcmp(out, want, sizeof(int32_t) * wl) == 0;
		ok += same;
		CHECK_MSG(same, "%s %s case %d: %d tokens, torch %d", name, what, b, n_out, wl);
		/* batched with every later case of the same options */
		{
			int32_t   **bs = malloc(sizeof(int32_t *) * B);
			int		   *bl = malloc(sizeof(int) * B),
					   *ol = malloc(sizeof(int) * B),
					   *idx = malloc(sizeof(int) * B);
			int			n = 0;

			for (int k = b; k < B; k++)
			{
				sm_beam_opts ok2 = opts_of(max_new_default, at(cs->items[k], "options"));

				if (memcmp(&ok2, &o, sizeof(o)) != 0)
					continue;
				bs[n] = s2s_ints(at(cs->items[k], "source"), &bl[n]);
				idx[n++] = k;
			}
			if (n > 1)
			{
				bool		all = true;

				CHECK_MSG(sm_decode(&d, (const int32_t *const *) bs, bl, n, &o, out, ol, NULL, &err) == SM_OK,
						  "%s", err.message);
				for (int i = 0; i < n; i++)
				{
					int			l;
					int32_t    *w = s2s_ints(at(cs->items[idx[i]], "tokens"), &l);

					all = all && ol[i] == l && memcmp(out + (size_t) i * o.max_new, w, sizeof(int32_t) * l) == 0;
					free(w);
				}
				ok_batched += all;
				CHECK_MSG(all, "%s %s cases from %d, batched: not torch's tokens", name, what, b);
			}
			for (int i = 0; i < n; i++)
				free(bs[i]);
			free(bs);
			free(bl);
			free(ol);
			free(idx);
		}
		free(src);
		free(want);
		free(out);
	}
	printf("  %-24s %s: %d of %d outputs equal torch's\n", name, what, ok, B);
}

static int	abort_after = -1;

static bool
abort_countdown(void)
{
	return abort_after >= 0 && abort_after-- == 0;
}

static void *
plain_alloc(size_t n)
{
	return malloc(n);
}

void
s2s_abort_after(int calls)
{
	static sm_hooks hooks = {plain_alloc, free, abort_countdown, NULL};

	abort_after = calls;
	sm_set_hooks(calls >= 0 ? &hooks : NULL);
}

static void
test_errors(const sm_s2s *m)
{
	sm_decoder	d;
	sm_error	err;
	int32_t		src[3] = {1, 2, 3},
				out[64];
	const int32_t *srcs[1] = {src};
	int			len = 3,
				n;
	sm_beam_opts o = {.num_beams = 3, .max_new = 5, .length_penalty = 1.0};

	sm_s2s_decoder(m, &d);
	o.num_beams = 0;
	CHECK(sm_decode(&d, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_INVALID &&
		  strstr(err.message, "num_beams must be between 1 and 64") != NULL);
	o.num_beams = 65;
	CHECK_ERR(err, SM_ERR_INVALID, "num_beams");
	CHECK(sm_decode(&d, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_INVALID);
	o.num_beams = 2;
	o.max_new = 0;
	CHECK(sm_decode(&d, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "max_new_tokens must be between 1 and 1024");
	o.max_new = 5;
	o.length_penalty = NAN;
	CHECK(sm_decode(&d, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "length_penalty must be a finite number");
	o.length_penalty = 1.0;
	o.no_repeat_ngram = -1;
	CHECK(sm_decode(&d, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "no_repeat_ngram_size must be between 0 and");
	o.no_repeat_ngram = 0;
	src[1] = m->Vs;
	CHECK(sm_s2s_check_source(m, srcs, &len, 1, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "source has token id");
	src[1] = 2;
	len = 0;
	CHECK(sm_s2s_check_source(m, srcs, &len, 1, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "source is empty");
	len = 3;
	{
		int32_t		t[2] = {1, (int32_t) m->V};
		const int32_t *ts[1] = {t};
		int			tl = 2;

		CHECK(sm_s2s_check_target(m, ts, &tl, 1, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "target has token id");
	}
	/* cancellation: in the encoder, and while decoding */
	{
		sm_hooks	hooks = {plain_alloc, free, abort_countdown, NULL};

		sm_set_hooks(&hooks);
		abort_after = 1;
		CHECK(sm_decode(&d, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_ABORTED);
		abort_after = 6;
		CHECK(sm_decode(&d, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_ABORTED);
		abort_after = -1;
		sm_set_hooks(NULL);
	}
}

static void
test_config_errors(void)
{
	static const char *const bad[][2] = {
		{"{\"source_vocab_size\": 5, \"target_vocab_size\": 5, \"hidden_size\": 4, \"colour\": 1}", "colour"},
		{"{\"source_vocab_size\": 5, \"target_vocab_size\": 5, \"hidden_size\": 4, \"cell\": \"rnn\"}",
		 "config key \"cell\" must be \"gru\" or \"lstm\""},
		{"{\"source_vocab_size\": 5, \"target_vocab_size\": 5, \"hidden_size\": 4, \"attention\": \"luong\"}",
		 "config key \"attention\" must be"},
		{"{\"source_vocab_size\": 5, \"target_vocab_size\": 5, \"hidden_size\": 4, \"eos_token_id\": 5}",
		 "eos_token_id"},
		{"{\"target_vocab_size\": 5, \"hidden_size\": 4}", "source_vocab_size"},
	};
	sm_error	err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		CHECK(sm_model_check("rnn_seq2seq", bad[i][0], strlen(bad[i][0]), NULL, 0, &err) == SM_ERR_INVALID);
		CHECK_MSG(strstr(err.message, bad[i][1]) != NULL, "config %zu: %s", i, err.message);
	}
}

void
test_seq2seq(void)
{
	size_t		n;
	char	   *text = sm_test_read_file(FIXTURES "seq2seq_cases.json", &n);
	sm_json    *doc = NULL;
	sm_error	err;

	CHECK_MSG(text != NULL, "cannot read " FIXTURES "seq2seq_cases.json: the fixtures are required");
	if (text == NULL)
		return;
	CHECK(sm_json_parse(text, n, &doc, &err) == SM_OK);
	free(text);
	if (doc == NULL)
		return;
	{
		const sm_json *models = at(doc, "models"),
				   *cases = at(doc, "cases");
		bool		errors_done = false;

		for (size_t i = 0; i < models->count; i++)
		{
			const char *name = at(models->items[i], "name")->string;
			char		path[512];
			sm_model   *model;
			const sm_s2s *m;

			snprintf(path, sizeof(path), FIXTURES "%s", at(models->items[i], "file")->string);
			model = sm_test_load_model("rnn_seq2seq", path, at(models->items[i], "config")->string);
			m = model ? sm_s2s_of(model) : NULL;
			const sm_json *c = at(cases, name);

			CHECK_MSG(m != NULL, "model %s loads", name);
			if (m == NULL)
				continue;
			sm_decoder	d;

			sm_s2s_decoder(m, &d);
			encode_cases(m, at(c, "encode"), name);
			s2s_teacher_cases(&d, at(c, "teacher"), name);
			s2s_decode_cases(&d, m->max_length, at(c, "greedy"), name, "greedy");
			s2s_decode_cases(&d, m->max_length, at(c, "beam"), name, "beam");
			if (!errors_done)
			{
				test_errors(m);
				errors_done = true;
			}
			sm_model_free(model);
		}
	}
	sm_json_free(doc);
	test_config_errors();
}
