/*
 * test_tfm_seq2seq.c -- arch transformer_seq2seq against PyTorch
 * (test/fixtures/seq2seq/tfm_seq2seq_cases.json, written by
 * gen_tfm_seq2seq_fixtures.py): the encoder's memory of sources of
 * different lengths encoded together, every teacher-forced step's
 * log-probabilities (1e-5 normwise), greedy and beam outputs (ids equal),
 * alone and batched; then limits, bad configs and cancellation.  The
 * fixtures are required: a missing file fails.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"
#include "test_seq2seq.h"

#include "nn/sm_encdec.h"
#include "nn/sm_tfm_s2s.h"

#define FIXTURES "test/fixtures/seq2seq/"

static const sm_json *
at(const sm_json *o, const char *k)
{
	return sm_json_get(o, k);
}

/* all sources in one call: each one's memory rows equal torch's of it alone */
static void
memory_cases(const sm_tfm_s2s *m, const sm_json *cs, const char *name)
{
	int			B = (int) cs->count,
				S = 0,
				d = m->d;
	int32_t   **src = malloc(sizeof(int32_t *) * B);
	int		   *len = malloc(sizeof(int) * B);
	float	   *mem,
			   *ref;
	double		worst = 0;
	sm_error	err;

	for (int b = 0; b < B; b++)
	{
		src[b] = s2s_ints(at(cs->items[b], "source"), &len[b]);
		S += len[b];
	}
	mem = calloc((size_t) S * d, sizeof(float));
	ref = calloc((size_t) S * d, sizeof(float));
	CHECK_MSG(sm_tfm_s2s_encode(m, (const int32_t *const *) src, len, B, mem, &err) == SM_OK, "%s", err.message);
	for (int b = 0, r = 0; b < B; r += len[b], b++)
	{
		double		e;

		s2s_floats2(at(cs->items[b], "memory"), ref, d);
		e = sm_test_normwise(mem + (size_t) r * d, ref, len[b], d, d);
		worst = e > worst ? e : worst;
		CHECK_MSG(e < 1e-5, "%s memory of source %d: %.2e", name, b, e);
	}
	printf("  %-24s encoder memory max normwise deviation %.2e\n", name, worst);
	for (int b = 0; b < B; b++)
		free(src[b]);
	free(src);
	free(len);
	free(mem);
	free(ref);
}

static void
test_limits(const sm_model *model)
{
	sm_encdec	e;
	sm_error	err;
	int32_t		src[64],
				out[64];
	const int32_t *srcs[1] = {src};
	int			len = 3,
				n;
	sm_beam_opts o = {.num_beams = 2, .max_new = 5, .length_penalty = 1.0};

	CHECK(sm_encdec_of(model, &e));
	for (int i = 0; i < 64; i++)
		src[i] = i % e.source_vocab;
	/* the positions bound sources and targets */
	len = e.max_source + 1;
	CHECK(sm_encdec_check_source(&e, srcs, &len, 1, &err) == SM_ERR_LIMIT);
	CHECK_ERR(err, SM_ERR_LIMIT, "more than the model's maximum");
	len = 3;
	o.max_new = e.max_target + 1;
	CHECK(sm_decode(&e.decoder, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_LIMIT);
	CHECK_ERR(err, SM_ERR_LIMIT, "the target would have");
	o.max_new = 5;
	src[1] = e.source_vocab;
	CHECK(sm_encdec_check_source(&e, srcs, &len, 1, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "source has token id");
	src[1] = 1;
	/* sampling: options checked; a source draws the same alone and batched; a cold temperature is greedy */
	{
		sm_beam_opts so = {.num_beams = 1, .max_new = 6, .length_penalty = 1.0, .temperature = 1.5, .seed = 7};
		int32_t		a[6] = {3, 1, 4, 1, 5, 9},
					b2[3] = {2, 6, 5},
					o1[6],
					ob[3 * 6],
					og[6];
		const int32_t *one[1] = {a},
				   *three[3] = {b2, a, a};
		int			la = 6,
					l3[3] = {3, 6, 6},
					n1,
					nb[3],
					ng;
		bool		differs = false;

		so.num_beams = 2;
		CHECK(sm_decode(&e.decoder, one, &la, 1, &so, o1, &n1, NULL, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "sampling (temperature 1.5) needs num_beams 1");
		so.num_beams = 1;
		so.temperature = -1;
		CHECK(sm_decode(&e.decoder, one, &la, 1, &so, o1, &n1, NULL, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "temperature must be a finite number >= 0");
		so.temperature = 1.5;
		CHECK(sm_decode(&e.decoder, one, &la, 1, &so, o1, &n1, NULL, &err) == SM_OK);
		CHECK(sm_decode(&e.decoder, three, l3, 3, &so, ob, nb, NULL, &err) == SM_OK);
		CHECK(nb[1] == n1 && memcmp(ob + 6, o1, sizeof(int32_t) * n1) == 0);
		CHECK(nb[2] == n1 && memcmp(ob + 12, o1, sizeof(int32_t) * n1) == 0);
		/* other seeds draw other tokens (some of 20 differ), a cold temperature is greedy */
		for (uint64_t seed = 1; seed <= 20 && !differs; seed++)
		{
			so.seed = seed;
			CHECK(sm_decode(&e.decoder, one, &la, 1, &so, ob, nb, NULL, &err) == SM_OK);
			differs = nb[0] != n1 || memcmp(ob, o1, sizeof(int32_t) * n1) != 0;
		}
		CHECK(differs);
		so.temperature = 1e-4;
		CHECK(sm_decode(&e.decoder, one, &la, 1, &so, o1, &n1, NULL, &err) == SM_OK);
		so.temperature = 0;
		CHECK(sm_decode(&e.decoder, one, &la, 1, &so, og, &ng, NULL, &err) == SM_OK);
		CHECK(n1 == ng && memcmp(o1, og, sizeof(int32_t) * ng) == 0);
	}
	/* cancellation: in the encoder, and while decoding */
	s2s_abort_after(0);
	CHECK(sm_decode(&e.decoder, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_ABORTED);
	s2s_abort_after(8);
	CHECK(sm_decode(&e.decoder, srcs, &len, 1, &o, out, &n, NULL, &err) == SM_ERR_ABORTED);
	s2s_abort_after(-1);
}

static void
test_config_errors(void)
{
	static const char *const bad[][2] = {
		{"{\"src_vocab_size\": 5, \"tgt_vocab_size\": 5, \"d_model\": 8, \"nhead\": 2, \"bos_token_id\": 1, \"colour\": 1}", "colour"},
		{"{\"src_vocab_size\": 5, \"tgt_vocab_size\": 5, \"d_model\": 8, \"nhead\": 3, \"bos_token_id\": 1}",
		 "d_model must be a multiple of nhead"},
		{"{\"src_vocab_size\": 5, \"tgt_vocab_size\": 5, \"d_model\": 8, \"nhead\": 2}",
		 "\"decoder_start_token_id\" or \"bos_token_id\""},
		{"{\"src_vocab_size\": 5, \"tgt_vocab_size\": 5, \"d_model\": 8, \"nhead\": 2, \"bos_token_id\": 5}",
		 "bos_token_id"},
		{"{\"src_vocab_size\": 5, \"tgt_vocab_size\": 5, \"d_model\": 8, \"nhead\": 2, \"bos_token_id\": 1, \"activation\": \"tanh\"}",
		 "config key \"activation\" must be \"relu\" or \"gelu\""},
		{"{\"src_vocab_size\": 5, \"tgt_vocab_size\": 6, \"d_model\": 8, \"nhead\": 2, \"bos_token_id\": 1, \"target_embedding_prefix\": \"src_tok_emb.embedding.\"}",
		 "a shared embedding needs src_vocab_size equal to tgt_vocab_size"},
		{"{\"src_vocab_size\": 5, \"tgt_vocab_size\": 5, \"d_model\": 8, \"nhead\": 2, \"bos_token_id\": 1, \"max_len\": 8, \"max_new_tokens\": 9}",
		 "max_new_tokens"},
		{"{\"tgt_vocab_size\": 5, \"d_model\": 8, \"nhead\": 2, \"bos_token_id\": 1}", "src_vocab_size"},
	};
	static const char *const hf_bad[][4] = {
		{"marian", "{\"model_type\": \"bart\", \"vocab_size\": 9, \"d_model\": 8}", "config has model_type \"bart\", not \"marian\"", "i"},
		{"bart", "{\"vocab_size\": 9, \"d_model\": 8, \"encoder_attention_heads\": 3}", "d_model must be a multiple of encoder_attention_heads", "i"},
		{"bart", "{\"vocab_size\": 9, \"d_model\": 8, \"normalize_before\": true}", "config key \"normalize_before\": true is not supported", "u"},
		{"marian", "{\"vocab_size\": 9, \"d_model\": 8, \"decoder_attention_heads\": 2, \"encoder_attention_heads\": 2, \"activation_function\": \"tanh\"}", "activation_function", "u"},
		{"marian", "{\"vocab_size\": 9, \"d_model\": 8, \"encoder_attention_heads\": 2, \"decoder_attention_heads\": 2, \"pad_token_id\": 8, \"bad_words_ids\": [[8, 7]]}", "only single tokens are supported", "u"},
		{"marian", "{\"vocab_size\": 9, \"d_model\": 8, \"encoder_attention_heads\": 2, \"decoder_attention_heads\": 2}", "config needs \"decoder_start_token_id\"", "i"},
		{"marian", "{\"vocab_size\": 9, \"decoder_vocab_size\": 7, \"d_model\": 8, \"encoder_attention_heads\": 2, \"decoder_attention_heads\": 2, \"pad_token_id\": 6}", "differs from vocab_size 9 with shared embeddings", "i"},
	};
	sm_error	err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		CHECK(sm_model_check("transformer_seq2seq", bad[i][0], strlen(bad[i][0]), NULL, 0, &err) == SM_ERR_INVALID);
		CHECK_MSG(strstr(err.message, bad[i][1]) != NULL, "config %zu: %s", i, err.message);
	}
	for (size_t i = 0; i < sizeof(hf_bad) / sizeof(hf_bad[0]); i++)
	{
		sm_status	want = hf_bad[i][3][0] == 'u' ? SM_ERR_UNSUPPORTED : SM_ERR_INVALID;

		CHECK_MSG(sm_model_check(hf_bad[i][0], hf_bad[i][1], strlen(hf_bad[i][1]), NULL, 0, &err) == want,
				  "hf config %zu: %s", i, err.message);
		CHECK_MSG(strstr(err.message, hf_bad[i][2]) != NULL, "hf config %zu: %s", i, err.message);
	}
}

/* every model of a cases file (tfm_seq2seq_cases.json: torch.nn.Transformer; hf_seq2seq_cases.json: Marian, BART) */
static void
run_cases(const char *file, bool limits)
{
	size_t		n;
	char	   *text = sm_test_read_file(file, &n);
	sm_json    *doc = NULL;
	sm_error	err;

	CHECK_MSG(text != NULL, "cannot read %s: the fixtures are required", file);
	if (text == NULL)
		return;
	CHECK(sm_json_parse(text, n, &doc, &err) == SM_OK);
	free(text);
	if (doc == NULL)
		return;
	{
		const sm_json *models = at(doc, "models"),
				   *cases = at(doc, "cases");

		for (size_t i = 0; i < models->count; i++)
		{
			const char *name = at(models->items[i], "name")->string;
			char		path[512];
			sm_model   *model;
			const sm_tfm_s2s *m;
			const sm_json *c = at(cases, name);
			sm_decoder	d;

			const sm_json *arch = at(models->items[i], "arch");

			snprintf(path, sizeof(path), FIXTURES "%s", at(models->items[i], "file")->string);
			model = sm_test_load_model(arch ? arch->string : "transformer_seq2seq", path,
									   at(models->items[i], "config")->string);
			m = model ? sm_tfm_s2s_of(model) : NULL;
			CHECK_MSG(m != NULL, "model %s loads", name);
			if (m == NULL)
				continue;
			sm_tfm_s2s_decoder(m, &d);
			memory_cases(m, at(c, "encode"), name);
			s2s_teacher_cases(&d, at(c, "teacher"), name);
			s2s_decode_cases(&d, m->max_new_default, at(c, "greedy"), name, "greedy");
			s2s_decode_cases(&d, m->max_new_default, at(c, "beam"), name, "beam");
			if (i == 0 && limits)
				test_limits(model);
			sm_model_free(model);
		}
	}
	sm_json_free(doc);
}

void
test_tfm_seq2seq(void)
{
	run_cases(FIXTURES "tfm_seq2seq_cases.json", true);
	run_cases(FIXTURES "hf_seq2seq_cases.json", false);
	test_config_errors();
}
