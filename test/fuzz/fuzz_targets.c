/*
 * fuzz_targets.c -- the engine's parsers and tokenizers under untrusted
 * input, one function per target, each taking one input and returning
 * whether the engine accepted it.  The engine must answer every input with
 * SM_OK or an error record, never a crash, an out-of-bounds access, an
 * overflow the sanitizers see, a leak, or a message that is empty.
 * Driven by fuzz_main.c (deterministic mutations, gcc + ASan/UBSan); see
 * test/fuzz/README.md.
 *
 *   safetensors   a file: prefix and header parsed; when it parses, every
 *                 arch's import check on its tensor list, and for the
 *                 linear arch a full load (data converted, model built)
 *   config        one byte choosing an arch, then a JSON config checked
 *                 against it (the arch's config reader and tensor spec)
 *   json          the JSON parser, then a walk of what it built
 *   tokenizer     a tokenizer.json loaded, then a few texts encoded and
 *                 decoded with it
 *   text          text (one byte of flags, then UTF-8 or not) encoded with
 *                 the real GPT-2 (byte-level BPE) and BERT (WordPiece)
 *                 tokenizers and two SentencePiece fixtures read as Hugging
 *                 Face Unigram files, single and as a pair, truncated or
 *                 not, and the ids decoded back
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sm_core.h"
#include "core/sm_json.h"
#include "core/sm_model.h"
#include "core/sm_safetensors.h"
#include "text/sm_tokenizer.h"

static void
check_error(sm_status rc, const sm_error *err, const char *target)
{
	if (rc != SM_OK && err->message[0] == '\0')
	{
		fprintf(stderr, "fuzz %s: an error (code %d) without a message\n", target, (int) rc);
		abort();
	}
}

/* ---------------------------------------------------------------- safetensors */

static const char *const arch_configs[][2] = {
	{"linear", "{\"in_features\": 5, \"out_features\": 3}"},
	{"lstm", "{\"input_size\": 1, \"hidden_size\": 4, \"num_layers\": 2}"},
	{"gru", "{\"input_size\": 2, \"hidden_size\": 3, \"bidirectional\": true}"},
	{"rnn", "{\"input_size\": 1, \"hidden_size\": 4}"},
	{"gpt2", "{\"vocab_size\": 16, \"n_positions\": 8, \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2}"},
	{"bert", "{\"vocab_size\": 16, \"hidden_size\": 4, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 8, \"max_position_embeddings\": 8}"},
	{"rnn_seq2seq", "{\"source_vocab_size\": 12, \"target_vocab_size\": 10, \"hidden_size\": 4, \"attention\": \"dot\"}"},
	{"lstm", "{\"input_size\": 3, \"hidden_size\": 4, \"targets\": [0], \"future_covariates\": [1, 2]}"},
};

#define N_ARCH_CONFIGS (sizeof(arch_configs) / sizeof(arch_configs[0]))

/* the linear model from a parsed file, its data converted from the file's bytes */
static void
load_linear(const uint8_t *data, size_t size, const sm_st_file *f)
{
	sm_model   *m = NULL;
	sm_error	err;
	sm_status	rc = sm_model_begin(&m, arch_configs[0][0], arch_configs[0][1],
									strlen(arch_configs[0][1]), &err);

	for (int i = 0; rc == SM_OK && i < f->n_tensors; i++)
	{
		sm_tensor  *t = NULL;
		const sm_st_tensor *st = &f->tensors[i];

		rc = sm_model_add_tensor(m, &st->info, &t, &err);
		if (rc == SM_OK && t != NULL && f->data_start + st->end <= size)
			rc = sm_tensor_append(t, st->info.dtype, data + f->data_start + st->begin,
								  (size_t) (st->end - st->begin), &err);
	}
	if (rc == SM_OK)
		rc = sm_model_finish(m, &err);
	check_error(rc, &err, "safetensors/load");
	sm_model_free(m);
}

int
fuzz_safetensors(const uint8_t *data, size_t size)
{
	sm_st_file	f;
	sm_error	err;
	sm_status	rc;
	sm_tensor_info *infos;

	memset(&f, 0, sizeof(f));
	rc = sm_st_parse(data, size, &f, &err);
	check_error(rc, &err, "safetensors");
	if (rc != SM_OK)
		return 0;
	infos = malloc(sizeof(sm_tensor_info) * (size_t) (f.n_tensors + 1));
	for (int i = 0; i < f.n_tensors; i++)
		infos[i] = f.tensors[i].info;
	for (size_t a = 0; a < N_ARCH_CONFIGS; a++)
	{
		rc = sm_model_check(arch_configs[a][0], arch_configs[a][1], strlen(arch_configs[a][1]),
							infos, f.n_tensors, &err);
		check_error(rc, &err, "safetensors/check");
	}
	free(infos);
	load_linear(data, size, &f);
	sm_st_file_free(&f);
	return 1;
}

/* ---------------------------------------------------------------- config */

static const char *const archs[] = {"linear", "rnn", "lstm", "gru", "transformer", "gpt2", "bert",
"rnn_seq2seq"};

int
fuzz_config(const uint8_t *data, size_t size)
{
	sm_error	err;
	sm_status	rc;
	sm_model   *m = NULL;

	if (size < 1)
		return 0;
	rc = sm_model_check(archs[data[0] % (sizeof(archs) / sizeof(archs[0]))],
						(const char *) data + 1, size - 1, NULL, 0, &err);
	check_error(rc, &err, "config");
	/* begin parses the config and builds the spec (what a load does first) */
	rc = sm_model_begin(&m, archs[data[0] % (sizeof(archs) / sizeof(archs[0]))],
						(const char *) data + 1, size - 1, &err);
	check_error(rc, &err, "config/begin");
	sm_model_free(m);
	return rc == SM_OK;
}

/* ---------------------------------------------------------------- json */

static size_t
walk(const sm_json *j, int depth)
{
	size_t		n = 1;

	if (j == NULL || depth > 10000)
		return 0;
	if (j->type == SM_JSON_ARRAY || j->type == SM_JSON_OBJECT)
		for (size_t i = 0; i < j->count; i++)
			n += walk(j->items[i], depth + 1);
	return n;
}

int
fuzz_json(const uint8_t *data, size_t size)
{
	sm_json    *j = NULL;
	sm_error	err;
	sm_status	rc = sm_json_parse((const char *) data, size, &j, &err);

	check_error(rc, &err, "json");
	if (rc == SM_OK)
	{
		volatile size_t n = walk(j, 0);

		(void) n;
		sm_json_free(j);
	}
	return rc == SM_OK;
}

/* ---------------------------------------------------------------- tokenizers */

static const char *const sample_texts[] = {
	"Hello world", "  leading spaces and trailing  ", "naïve café, Zürich — ünïcödé",
	"日本語のテキスト", "emoji 🙂👍🏽 and \xF0\x9F\x98", "[CLS] added [SEP] tokens", "",
};

static void
exercise(const sm_tokenizer *t, const char *text, size_t len, const char *pair, size_t pair_len,
		 bool special, int max_tokens, bool truncate)
{
	sm_tok_ids	ids;
	sm_error	err;
	sm_status	rc;

	sm_tok_ids_init(&ids);
	rc = sm_tokenizer_encode(t, text, len, pair, pair_len, special, max_tokens, truncate, &ids, &err);
	check_error(rc, &err, "encode");
	if (rc == SM_OK)
	{
		sm_buf		out;

		sm_buf_init(&out);
		rc = sm_tokenizer_decode(t, ids.ids, ids.n, !special, &out, &err);
		check_error(rc, &err, "decode");
		sm_buf_free(&out);
	}
	sm_tok_ids_free(&ids);
}

int
fuzz_tokenizer(const uint8_t *data, size_t size)
{
	sm_tokenizer *t = NULL;
	sm_error	err;
	sm_status	rc = sm_tokenizer_load((const char *) data, size, &t, &err);

	check_error(rc, &err, "tokenizer");
	if (rc != SM_OK)
		return 0;
	for (size_t i = 0; i < sizeof(sample_texts) / sizeof(sample_texts[0]); i++)
		exercise(t, sample_texts[i], strlen(sample_texts[i]), i % 2 ? sample_texts[0] : NULL,
				 i % 2 ? strlen(sample_texts[0]) : 0, true, i % 3 == 0 ? 4 : 0, i % 3 == 0);
	{
		/* every id of the vocabulary and some outside it back to text */
		int			n = sm_tokenizer_vocab_size(t);
		int32_t		ids[4] = {0, n > 0 ? n - 1 : 0, n, -1};
		sm_buf		out;

		for (int k = 0; k < 4; k++)
		{
			sm_buf_init(&out);
			rc = sm_tokenizer_decode(t, ids + k, 1, false, &out, &err);
			check_error(rc, &err, "tokenizer/decode");
			sm_buf_free(&out);
		}
	}
	sm_tokenizer_free(t);
	return 1;
}

static sm_tokenizer *gpt2 = NULL,
		   *bert = NULL,
		   *hf_bf = NULL,
		   *hf_cf = NULL;

/* a SentencePiece fixture as Hugging Face's loader reads it (sm_tok_unigram.c, sm_tok_hf.c) */
static sm_tokenizer *
load_hf_fixture(const char *root, const char *rel)
{
	char		path[4096];
	sm_buf		json;
	sm_tokenizer *t = NULL;
	sm_error	err;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	sm_buf_init(&json);
	if (!sm_test_hf_json_from_spm(path, &json) || sm_tokenizer_load(json.data, json.len, &t, &err) != SM_OK)
	{
		fprintf(stderr, "fuzz: cannot load the tokenizer %s as Hugging Face's\n", path);
		exit(2);
	}
	sm_buf_free(&json);
	return t;
}

static sm_tokenizer *
load_fixture(const char *root, const char *rel)
{
	char		path[4096];
	size_t		len;
	char	   *json;
	sm_tokenizer *t = NULL;
	sm_error	err;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	json = sm_test_read_file(path, &len);
	if (json == NULL || sm_tokenizer_load(json, len, &t, &err) != SM_OK)
	{
		fprintf(stderr, "fuzz: cannot load the tokenizer %s\n", path);
		exit(2);
	}
	free(json);
	return t;
}

void
fuzz_text_init(const char *fixtures)
{
	gpt2 = load_fixture(fixtures, "tok/gpt2/tokenizer.json");
	bert = load_fixture(fixtures, "tok/bert/tokenizer.json");
	hf_bf = load_hf_fixture(fixtures, "tok/spm/unigram_bf.model");
	hf_cf = load_hf_fixture(fixtures, "tok/spm/unigram_cf.model");
}

void
fuzz_text_done(void)
{
	sm_tokenizer_free(gpt2);
	sm_tokenizer_free(bert);
	sm_tokenizer_free(hf_bf);
	sm_tokenizer_free(hf_cf);
}

int
fuzz_text(const uint8_t *data, size_t size)
{
	uint8_t		flags;
	const char *text;
	size_t		len,
				cut;

	if (size < 1)
		return 0;
	flags = data[0];
	text = (const char *) data + 1;
	len = size - 1;
	cut = len ? (size_t) (flags >> 4) * len / 15 : 0;
	for (int k = 0; k < 4; k++)
	{
		const sm_tokenizer *t = k == 0 ? gpt2 : k == 1 ? bert : k == 2 ? hf_bf : hf_cf;

		exercise(t, text, len, NULL, 0, flags & 1, flags & 2 ? 8 : 0, flags & 4);
		/* a pair: the input cut in two */
		exercise(t, text, cut, text + cut, len - cut, true, flags & 8 ? 5 : 0, true);
	}
	return 1;
}

/* ---------------------------------------------------------------- SentencePiece */

/* both encodings of one text must give the same ids (the .model and its tokenizer.json) */
static void
same_ids(const sm_tokenizer *a, const sm_tokenizer *b, const char *text, size_t len)
{
	sm_tok_ids	x,
				y;
	sm_error	err;
	sm_status	ra,
				rb;

	sm_tok_ids_init(&x);
	sm_tok_ids_init(&y);
	ra = sm_tokenizer_encode(a, text, len, NULL, 0, true, 0, false, &x, &err);
	check_error(ra, &err, "spm/encode");
	rb = sm_tokenizer_encode(b, text, len, NULL, 0, true, 0, false, &y, &err);
	check_error(rb, &err, "spm/encode json");
	if (ra != rb || x.n != y.n || (x.n > 0 && memcmp(x.ids, y.ids, (size_t) x.n * sizeof(int32_t)) != 0))
	{
		fprintf(stderr, "fuzz spm: the .model and its tokenizer.json encode \"%.*s\" differently\n",
				(int) (len < 80 ? len : 80), text);
		abort();
	}
	sm_tok_ids_free(&x);
	sm_tok_ids_free(&y);
}

/*
 * A SentencePiece .model: parsed and built; when it loads, the sample texts
 * encoded and decoded, every piece decoded, and its tokenizer.json written,
 * loaded back and checked to encode the samples alike.
 */
int
fuzz_spm(const uint8_t *data, size_t size)
{
	sm_tokenizer *t = NULL,
			   *j = NULL;
	sm_error	err;
	sm_buf		json;
	sm_status	rc = sm_tokenizer_load_sentencepiece(data, size, &t, &err);

	check_error(rc, &err, "spm");
	if (rc != SM_OK)
		return 0;
	for (size_t i = 0; i < sizeof(sample_texts) / sizeof(sample_texts[0]); i++)
		exercise(t, sample_texts[i], strlen(sample_texts[i]), NULL, 0, i % 2 == 0, i % 3 == 0 ? 4 : 0, i % 3 == 0);
	{
		int			n = sm_tokenizer_vocab_size(t);
		sm_buf		out;

		for (int32_t id = 0; id < n && id < 4096; id++)
		{
			sm_buf_init(&out);
			rc = sm_tokenizer_decode(t, &id, 1, false, &out, &err);
			check_error(rc, &err, "spm/decode");
			sm_buf_free(&out);
		}
	}
	sm_buf_init(&json);
	rc = sm_tokenizer_json_from_sentencepiece(data, size, &json, &err);
	check_error(rc, &err, "spm/json");
	if (rc == SM_OK)
	{
		rc = sm_tokenizer_load(json.data, json.len, &j, &err);
		check_error(rc, &err, "spm/json load");
		if (rc != SM_OK)
		{
			fprintf(stderr, "fuzz spm: a model loads but its tokenizer.json does not: %s\n", err.message);
			abort();
		}
		for (size_t i = 0; i < sizeof(sample_texts) / sizeof(sample_texts[0]); i++)
			same_ids(t, j, sample_texts[i], strlen(sample_texts[i]));
		sm_tokenizer_free(j);
	}
	sm_buf_free(&json);
	sm_tokenizer_free(t);
	return 1;
}

static const char *const spm_models[] = {"unigram_4k", "bpe_bf", "unigram_ud", "unigram_cf"};
static sm_tokenizer *spm_tok[4];

void
fuzz_spm_text_init(const char *fixtures)
{
	for (int k = 0; k < 4; k++)
	{
		char		path[4096];
		size_t		len;
		char	   *d;
		sm_error	err;

		snprintf(path, sizeof(path), "%s/tok/spm/%s.model", fixtures, spm_models[k]);
		d = sm_test_read_file(path, &len);
		if (d == NULL || sm_tokenizer_load_sentencepiece(d, len, &spm_tok[k], &err) != SM_OK)
		{
			fprintf(stderr, "fuzz: cannot load the SentencePiece model %s\n", path);
			exit(2);
		}
		free(d);
	}
}

void
fuzz_spm_text_done(void)
{
	for (int k = 0; k < 4; k++)
		sm_tokenizer_free(spm_tok[k]);
}

/* one flags byte + text: the real unigram and BPE models (normalizer, Viterbi, merges, byte fallback) */
int
fuzz_spm_text(const uint8_t *data, size_t size)
{
	uint8_t		flags;
	const char *text;
	size_t		len;

	if (size < 1)
		return 0;
	flags = data[0];
	text = (const char *) data + 1;
	len = size - 1;
	for (int k = 0; k < 4; k++)
		exercise(spm_tok[k], text, len, NULL, 0, flags & 1, flags & 2 ? 8 : 0, flags & 4);
	return 1;
}
