/*
 * fuzz_main.c -- a deterministic mutation fuzzer for the targets of
 * fuzz_targets.c: seeds from the repository's own fixtures (and a few made
 * here), each input a seed with one to four stacked mutations (bit flips,
 * random bytes, insertions, deletions, duplications, JSON and safetensors
 * tokens, interesting integers, splices of two seeds, truncation), chosen by
 * a PRNG from a fixed seed: the same command runs the same inputs, so any
 * report is reproducible.  Built with -fsanitize=address,undefined; a
 * sanitizer report aborts with a non-zero status.
 *
 *   run-fuzz TARGET ITERATIONS [PRNG_SEED]    (FUZZ_FIXTURES: test/fixtures)
 *   run-fuzz TARGET -replay FILE              one input from a file
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/sm_core.h"
#include "text/sm_tokenizer.h"

#define FUZZ_MAX_INPUT (256 * 1024)

typedef struct input
{
	uint8_t    *data;
	size_t		len;
} input;

static input *seeds = NULL;
static int	n_seeds = 0,
			cap_seeds = 0;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t
below(size_t n)
{
	return n ? (size_t) (next() % n) : 0;
}

static void
add_seed(const void *data, size_t len)
{
	if (len > FUZZ_MAX_INPUT)
		len = FUZZ_MAX_INPUT;
	if (n_seeds == cap_seeds)
	{
		cap_seeds = cap_seeds ? 2 * cap_seeds : 64;
		seeds = realloc(seeds, sizeof(input) * (size_t) cap_seeds);
	}
	seeds[n_seeds].data = malloc(len ? len : 1);
	memcpy(seeds[n_seeds].data, data, len);
	seeds[n_seeds].len = len;
	n_seeds++;
}

/* every file in dir whose name ends with suffix and is at most max bytes */
static void
seed_dir(const char *dir, const char *suffix, size_t max, uint8_t prefix_byte, bool prefix)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
	{
		size_t		nl = strlen(e->d_name),
					sl = strlen(suffix),
					len;
		char		path[4096];
		uint8_t    *buf;

		if (nl < sl || strcmp(e->d_name + nl - sl, suffix) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		buf = (uint8_t *) sm_test_read_file(path, &len);
		if (buf && len <= max)
		{
			if (prefix)
			{
				uint8_t    *p = malloc(len + 1);

				p[0] = prefix_byte;
				memcpy(p + 1, buf, len);
				add_seed(p, len + 1);
				free(p);
			}
			else
				add_seed(buf, len);
		}
		free(buf);
	}
	closedir(d);
}

static const char *const configs[] = {
	"{\"in_features\": 5, \"out_features\": 3, \"bias\": false}",
	"{\"input_size\": 1, \"hidden_size\": 64, \"num_layers\": 2, \"output_size\": 1, \"rnn_prefix\": \"lstm.\", \"head_prefix\": \"head.\"}",
	"{\"input_size\": 1, \"hidden_size\": 5, \"output_size\": 3, \"quantiles\": [0.1, 0.5, 0.9], \"proj_size\": 2, \"context\": 24, \"scale\": {\"mean\": [1.5], \"std\": [2]}}",
	"{\"d_model\": 8, \"nhead\": 2, \"num_layers\": 1, \"dim_feedforward\": 16, \"vocab_size\": 10, \"max_len\": 16, \"norm_first\": true, \"activation\": \"gelu\", \"positions\": \"sinusoidal\", \"pooling\": \"mean\", \"num_classes\": 3}",
	"{\"vocab_size\": 16, \"n_positions\": 8, \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2, \"bos_token_id\": 1, \"eos_token_id\": 2}",
	"{\"vocab_size\": 16, \"hidden_size\": 4, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 8, \"max_position_embeddings\": 8, \"id2label\": {\"0\": \"a\", \"1\": \"b\"}}",
	"{\"input_size\": 4, \"hidden_size\": 8, \"targets\": [0, 2], \"future_covariates\": [1, 3], \"input_mean\": [0, 1, 2, 3], \"input_std\": [1, 1, 2, 2]}",
	"{\"input_size\": 3, \"hidden_size\": 8, \"forecast\": \"direct\", \"horizon\": 4, \"targets\": [0], \"past_covariates\": [1, 2]}",
	"{\"source_vocab_size\": 20, \"target_vocab_size\": 18, \"hidden_size\": 8, \"cell\": \"lstm\", \"num_layers\": 2, \"bidirectional\": true, \"attention\": \"general\", \"sos_token_id\": 0, \"eos_token_id\": 1, \"max_length\": 12}",
	"{\"source_vocab_size\": 20, \"target_vocab_size\": 18, \"hidden_size\": 8, \"attention\": \"additive\", \"embedding_size\": 6}",
};

/* small tokenizer.json files made with the engine's own converters */
static void
seed_tokenizers(void)
{
	static const char vocab[] = "{\"a\": 0, \"b\": 1, \"ab\": 2, \"\\u0120\": 3, \"\\u0120a\": 4, \"<|endoftext|>\": 5, \"c\": 6, \"abc\": 7}";
	static const char merges[] = "#version: 0.2\na b\n\xC4\xA0 a\nab c\n";
	static const char wp[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n##ing\n,\n.\ncaf\n##e\n";
	sm_buf		out;
	sm_error	err;

	/* Hugging Face Unigram files: every normalizer, pre-tokenizer and decoder step of
	 * sm_tok_hf.c, a one-unit charsmap ("x" -> "") and byte pieces */
	static const char *const hf[] = {
		"{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true,\"normalized\":false},"
		"{\"id\":9,\"content\":\"hi\",\"normalized\":true,\"lstrip\":true}],"
		"\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"BAAAAAAAAAB4AA==\"},"
		"{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}|^\\\\s+|[0-9]+$\"},\"content\":\" \"},{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":false},"
		"{\"type\":\"Lowercase\"},{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\"''\"},\"content\":\"\\\"\"}]},"
		"\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
		"{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\",\"split\":false}]},"
		"\"post_processor\":null,\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},\"content\":\" \"},"
		"{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":1}]},"
		"\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":[[\"<unk>\",0],[\"\\u2581a\",-1.5],[\"a\",-2],"
		"[\"b\",-2.25],[\"ab\",-3],[\"<0x41>\",-5],[\"<0xC3>\",-5],[\"<0xA9>\",-5],[\"\\u2581\",-4]]}}",
		"{\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"add_prefix_space\":true},"
		"\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"never\"},"
		"\"model\":{\"type\":\"Unigram\",\"unk_id\":null,\"vocab\":[[\"\\u2581\",-1],[\"a\",-1],[\"b\",-2],[\"a\",-0.5]]}}"
	};

	for (size_t k = 0; k < sizeof(hf) / sizeof(hf[0]); k++)
	{
		sm_tokenizer *t = NULL;

		if (sm_tokenizer_load(hf[k], strlen(hf[k]), &t, &err) != SM_OK)
			fprintf(stderr, "fuzz: Hugging Face Unigram seed %zu does not load: %s\n", k, err.message);
		sm_tokenizer_free(t);
		add_seed(hf[k], strlen(hf[k]));
	}
	sm_buf_init(&out);
	if (sm_tokenizer_json_from_bpe(vocab, strlen(vocab), merges, strlen(merges), &out, &err) == SM_OK)
		add_seed(out.data, out.len);
	sm_buf_free(&out);
	for (int lower = 0; lower < 2; lower++)
	{
		sm_buf_init(&out);
		if (sm_tokenizer_json_from_wordpiece(wp, strlen(wp), lower, &out, &err) == SM_OK)
			add_seed(out.data, out.len);
		sm_buf_free(&out);
	}
}

/*
 * tokenizer.json files written from SentencePiece models: a small unigram
 * .model made here (control, user-defined and unused pieces, a one-unit
 * charsmap) and the BPE fixture with byte fallback (tok/spm/bpe_bf.model)
 */
static void
seed_spm_tokenizers(const char *fixtures)
{
	static const char small[] =
		"\x0a\x0e\x0a\x05\x3c\x75\x6e\x6b\x3e\x15\x00\x00\x00\x00\x18\x02"
		"\x0a\x0c\x0a\x03\x3c\x73\x3e\x15\x00\x00\x00\x00\x18\x03\x0a\x0d"
		"\x0a\x04\x3c\x2f\x73\x3e\x15\x00\x00\x00\x00\x18\x03\x0a\x0e\x0a"
		"\x05\x3c\x73\x65\x70\x3e\x15\x00\x00\x00\x00\x18\x04\x0a\x0b\x0a"
		"\x04\xe2\x96\x81\x61\x15\x00\x00\x80\xbf\x0a\x08\x0a\x01\x61\x15"
		"\x00\x00\x00\xc0\x0a\x08\x0a\x01\x62\x15\x00\x00\x40\xc0\x0a\x0a"
		"\x0a\x03\xe2\x96\x81\x15\x00\x00\x80\xc0\x0a\x09\x0a\x02\x61\x62"
		"\x15\x00\x00\xc0\xbf\x0a\x0b\x0a\x02\x78\x78\x15\x00\x00\xa0\xc0"
		"\x18\x05\x12\x02\x18\x01\x1a\x14\x0a\x04\x74\x69\x6e\x79\x12\x0a"
		"\x04\x00\x00\x00\x00\x00\x00\x00\x78\x00\x20\x01";
	char		path[4096];
	size_t		len;
	char	   *model;
	sm_buf		out;
	sm_error	err;

	sm_buf_init(&out);
	if (sm_tokenizer_json_from_sentencepiece(small, sizeof(small) - 1, &out, &err) == SM_OK)
		add_seed(out.data, out.len);
	else
		fprintf(stderr, "fuzz: the small SentencePiece seed does not load: %s\n", err.message);
	sm_buf_free(&out);
	snprintf(path, sizeof(path), "%s/tok/spm/bpe_bf.model", fixtures);
	if ((model = sm_test_read_file(path, &len)) != NULL)
	{
		sm_buf_init(&out);
		if (sm_tokenizer_json_from_sentencepiece(model, len, &out, &err) == SM_OK)
			add_seed(out.data, out.len);
		sm_buf_free(&out);
		free(model);
	}
}

static void
seed_corpus(const char *fixtures, int lines)
{
	char		path[4096];
	size_t		len;
	uint8_t    *buf;
	size_t		start = 0;
	int			n = 0;

	snprintf(path, sizeof(path), "%s/tok/corpus.txt", fixtures);
	buf = (uint8_t *) sm_test_read_file(path, &len);
	if (buf == NULL)
		return;
	for (size_t i = 0; i < len && n < lines; i++)
		if (buf[i] == '\n')
		{
			uint8_t		line[4096];
			size_t		l = i - start < sizeof(line) - 1 ? i - start : sizeof(line) - 1;

			line[0] = (uint8_t) (n * 37);	/* the flags byte */
			memcpy(line + 1, buf + start, l);
			add_seed(line, l + 1);
			start = i + 1;
			n++;
		}
	free(buf);
}

static const char *const tokens[] = {
	"{", "}", "[", "]", "\"", ",", ":", "null", "true", "false", "-", "0", "-0", "1e309", "-1",
	"18446744073709551616", "9223372036854775807", "4294967296", "2147483648", "1.5", "1e-400",
	"\\u0000", "\\ud800", "\\udc00\\ud800", "\\", "\"shape\"", "\"dtype\"", "\"F32\"", "\"F16\"",
	"\"BF16\"", "\"F64\"", "\"I64\"", "\"BOOL\"", "\"data_offsets\"", "\"__metadata__\"",
	"\"weight\"", "\"bias\"", "\"model\"", "\"vocab\"", "\"merges\"", "\"added_tokens\"",
	"\"normalizer\"", "\"pre_tokenizer\"", "\"post_processor\"", "\"decoder\"", "\"type\"",
	"\"BPE\"", "\"WordPiece\"", "\"ByteLevel\"", "\"Sequence\"", "\"special\": true",
	"\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF", "\xE2\x80\xAE", "\xF0\x9F\x8F\xBD",
	"[CLS]", "<|endoftext|>", " ", "\t", "\n", "\xC2\xA0", "\xE3\x80\x80",
};

static size_t
mutate(uint8_t *buf, size_t len, size_t cap)
{
	int			rounds = 1 + (int) below(4);

	for (int r = 0; r < rounds; r++)
	{
		size_t		pos = below(len + 1);

		switch (below(11))
		{
			case 0:				/* flip a bit */
				if (len)
					buf[below(len)] ^= (uint8_t) (1u << below(8));
				break;
			case 1:				/* a random byte */
				if (len)
					buf[below(len)] = (uint8_t) next();
				break;
			case 2:				/* insert random bytes */
				{
					size_t		n = 1 + below(8);

					if (len + n > cap)
						break;
					memmove(buf + pos + n, buf + pos, len - pos);
					for (size_t i = 0; i < n; i++)
						buf[pos + i] = (uint8_t) next();
					len += n;
				}
				break;
			case 3:				/* delete a range */
				if (len)
				{
					size_t		n = 1 + below(len - pos < 64 ? len - pos + 1 : 64);

					if (pos + n > len)
						n = len - pos;
					memmove(buf + pos, buf + pos + n, len - pos - n);
					len -= n;
				}
				break;
			case 4:				/* duplicate a range */
				if (len)
				{
					size_t		from = below(len),
								n = 1 + below(len - from < 32 ? len - from : 32);

					if (len + n > cap)
						break;
					memmove(buf + pos + n, buf + pos, len - pos);
					memmove(buf + pos, buf + (from < pos ? from : from + n), n);
					len += n;
				}
				break;
			case 5:				/* case 6: a token, inserted or overwriting */
			case 6:
				{
					const char *t = tokens[below(sizeof(tokens) / sizeof(tokens[0]))];
					size_t		n = strlen(t);

					if (len + n > cap)
						break;
					if (below(2) && pos + n <= len)
						memcpy(buf + pos, t, n);
					else
					{
						memmove(buf + pos + n, buf + pos, len - pos);
						memcpy(buf + pos, t, n);
						len += n;
					}
				}
				break;
			case 7:				/* an interesting 64-bit little-endian integer */
				if (len >= 8)
				{
					static const uint64_t v[] = {0, 1, 7, 8, 0x7fffffff, 0x80000000, 0xffffffff,
					0x100000000ull, 0x7fffffffffffffffull, 0xffffffffffffffffull, 100 * 1024 * 1024 + 1};
					uint64_t	x = v[below(sizeof(v) / sizeof(v[0]))];
					size_t		at = below(2) ? 0 : below(len - 7);

					if (below(3) == 0)
						x = len - 8 + below(3) - 1;	/* near the real header length */
					for (int i = 0; i < 8; i++)
						buf[at + i] = (uint8_t) (x >> (8 * i));
				}
				break;
			case 8:				/* splice: the tail of another seed */
				{
					const input *o = &seeds[below((size_t) n_seeds)];
					size_t		from = below(o->len + 1),
								n = o->len - from;

					if (pos + n > cap)
						n = cap - pos;
					memcpy(buf + pos, o->data + from, n);
					len = pos + n;
				}
				break;
			case 9:				/* truncate */
				len = pos;
				break;
			case 10:			/* a digit changed into another number */
				for (size_t i = pos; i < len; i++)
					if (buf[i] >= '0' && buf[i] <= '9')
					{
						buf[i] = (uint8_t) ('0' + below(10));
						break;
					}
				break;
		}
	}
	return len;
}

int
main(int argc, char **argv)
{
	const char *target,
			   *fixtures = getenv("FUZZ_FIXTURES") ? getenv("FUZZ_FIXTURES") : "test/fixtures";
	int			(*fn) (const uint8_t *, size_t) = NULL;
	long		iterations;
	long		accepted = 0;
	size_t		max_len = 0;
	uint8_t    *buf;
	char		dir[4096];
	clock_t		t0 = clock();

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s safetensors|config|json|tokenizer|text|spm|spm_text ITERATIONS [SEED] | -replay FILE\n", argv[0]);
		return 2;
	}
	target = argv[1];
	if (strcmp(target, "safetensors") == 0)
	{
		fn = fuzz_safetensors;
		seed_dir(fixtures, ".safetensors", FUZZ_MAX_INPUT, 0, false);
		snprintf(dir, sizeof(dir), "%s/rnn", fixtures);
		seed_dir(dir, ".safetensors", 16384, 0, false);
		snprintf(dir, sizeof(dir), "%s/tfm", fixtures);
		seed_dir(dir, ".safetensors", 16384, 0, false);
		snprintf(dir, sizeof(dir), "%s/seq2seq", fixtures);
		seed_dir(dir, ".safetensors", 16384, 0, false);
		snprintf(dir, sizeof(dir), "%s/cov", fixtures);
		seed_dir(dir, ".safetensors", 16384, 0, false);
	}
	else if (strcmp(target, "config") == 0)
	{
		fn = fuzz_config;
		for (int a = 0; a < 8; a++)
			for (size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++)
			{
				uint8_t		b[1024];
				size_t		l = strlen(configs[c]);

				b[0] = (uint8_t) a;
				memcpy(b + 1, configs[c], l);
				add_seed(b, l + 1);
			}
		seed_dir("test/data", ".json", 65536, 2, true);
	}
	else if (strcmp(target, "json") == 0)
	{
		fn = fuzz_json;
		for (size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++)
			add_seed(configs[c], strlen(configs[c]));
		seed_dir("test/data", ".json", 65536, 0, false);
		seed_tokenizers();
	}
	else if (strcmp(target, "tokenizer") == 0)
	{
		fn = fuzz_tokenizer;
		seed_tokenizers();
		seed_spm_tokenizers(fixtures);
	}
	else if (strcmp(target, "text") == 0)
	{
		fn = fuzz_text;
		fuzz_text_init(fixtures);
		seed_corpus(fixtures, 2000);
	}
	else if (strcmp(target, "spm") == 0)
	{
		char		dir[4096];

		fn = fuzz_spm;
		snprintf(dir, sizeof(dir), "%s/tok/spm", fixtures);
		seed_dir(dir, ".model", FUZZ_MAX_INPUT, 0, false);
	}
	else if (strcmp(target, "spm_text") == 0)
	{
		fn = fuzz_spm_text;
		fuzz_spm_text_init(fixtures);
		seed_corpus(fixtures, 2000);
	}
	if (fn == NULL)
	{
		fprintf(stderr, "unknown target \"%s\"\n", target);
		return 2;
	}
	if (strcmp(argv[2], "-replay") == 0 && argc > 3)
	{
		size_t		len;
		uint8_t    *in = (uint8_t *) sm_test_read_file(argv[3], &len);

		if (in == NULL)
			return 2;
		printf("replay %s: %s\n", argv[3], fn(in, len) ? "accepted" : "rejected");
		free(in);
		return 0;
	}
	if (n_seeds == 0)
	{
		fprintf(stderr, "fuzz %s: no seeds (run from the repository root, or set FUZZ_FIXTURES)\n", target);
		return 2;
	}
	iterations = atol(argv[2]);
	if (argc > 3)
		rng ^= strtoull(argv[3], NULL, 10) * 0x2545F4914F6CDD1Dull;
	buf = malloc(FUZZ_MAX_INPUT + 64);
	/* every seed as it is first, then mutations */
	for (long i = 0; i < iterations; i++)
	{
		const input *s = &seeds[i < n_seeds ? i : (long) below((size_t) n_seeds)];
		size_t		len = s->len;
		uint8_t    *exact;

		memcpy(buf, s->data, len);
		if (i >= n_seeds)
			len = mutate(buf, len, FUZZ_MAX_INPUT);
		/* an exact-size copy, so reading one byte past the input is caught */
		exact = malloc(len ? len : 1);
		memcpy(exact, buf, len);
		accepted += fn(exact, len);
		free(exact);
		if (len > max_len)
			max_len = len;
	}
	printf("fuzz %s: %ld inputs (%ld accepted, %ld rejected), %d seeds, largest %zu bytes, %.1f s: no failure\n",
		   target, iterations, accepted, iterations - accepted, n_seeds, max_len,
		   (double) (clock() - t0) / CLOCKS_PER_SEC);
	if (strcmp(target, "text") == 0)
		fuzz_text_done();
	if (strcmp(target, "spm_text") == 0)
		fuzz_spm_text_done();
	for (int i = 0; i < n_seeds; i++)
		free(seeds[i].data);
	free(seeds);
	free(buf);
	return 0;
}
