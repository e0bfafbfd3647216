/*
 * bench_translate.c -- times seqmodel's engine translating: sm_decode (greedy
 * or beam 4, sm_beam.h) over a transformer_seq2seq model's decoder
 * interface (sm_encdec_of), the engine side of test/bench/translate.sh.
 *
 *   make src/engine/libsmengine.a
 *   cc -std=gnu11 -O2 -Isrc/engine -o /tmp/bench_translate test/bench/bench_translate.c \
 *      src/engine/libsmengine.a -lopenblas -lm
 *   OPENBLAS_NUM_THREADS=1 /tmp/bench_translate MODEL.safetensors CONFIG.json SOURCES.json \
 *      THREADS greedy|beam4 BATCH N MAX_NEW
 *
 * MODEL.safetensors: the weights (state_dict names of the tutorial's
 * Seq2SeqTransformer); CONFIG.json: the arch's config, as text (what
 * sm_model_begin takes; translate.sh extracts it); SOURCES.json: an array of
 * source sentences, each an array of ids (translate_torch.py writes them).
 * The model is loaded the way the extension does (sm_st_parse,
 * sm_model_begin with arch "transformer_seq2seq", sm_model_add_tensor +
 * sm_tensor_append per tensor, sm_model_finish: bench_common.h's
 * load_tensors).  Then sm_set_threads(THREADS), one untimed warm-up decode
 * (the first two sources together, or the first alone at BATCH 1), and the
 * first N sources decoded BATCH at a time (BATCH 1: one sm_decode call per
 * source; BATCH N: one call for all), each call timed.  Options as Hugging
 * Face generate()'s defaults: num_beams 1 or 4, max_new_tokens MAX_NEW,
 * length_penalty 1.0, early_stopping false, no_repeat_ngram_size 0.
 *
 * Prints one JSON line on stdout, the shape of translate_torch.py's: impl
 * "seqmodel", model (the file's name up to its first dot), mode, batch,
 * threads, n, max_new, seconds (the sum of the timed calls), sent_per_s,
 * tokens (generated, eos excluded) and outputs (every source's ids), which
 * translate.sh's report compares with PyTorch's.  No timing is checked.
 * Exits 2 on a usage, file or engine error.
 */
#define BENCH_NAME "bench_translate"
#include "bench_common.h"		/* beside this file */
#include "nn/sm_beam.h"
#include "nn/sm_encdec.h"

static int32_t **
read_sources(const char *path, int *count, int **lens)
{
	uint64_t	size;
	uint8_t    *text = read_path(path, &size, "");
	sm_json    *doc;
	sm_error	err;
	int32_t   **src;

	sm_error_clear(&err);
	check(sm_json_parse((const char *) text, size, &doc, &err), &err, path);
	free(text);
	if (doc->type != SM_JSON_ARRAY || doc->count == 0)
		die("%s: not a non-empty array of sources", path);
	*count = (int) doc->count;
	src = malloc(sizeof(int32_t *) * doc->count);
	*lens = malloc(sizeof(int) * doc->count);
	if (!src || !*lens)
		die("out of memory");
	for (size_t i = 0; i < doc->count; i++)
	{
		const sm_json *s = doc->items[i];

		if (s->type != SM_JSON_ARRAY || s->count == 0)
			die("%s: source %zu is not a non-empty array of ids", path, i);
		src[i] = malloc(sizeof(int32_t) * s->count);
		if (!src[i])
			die("out of memory");
		(*lens)[i] = (int) s->count;
		for (size_t t = 0; t < s->count; t++)
		{
			if (!s->items[t]->is_integer || s->items[t]->integer < 0 || s->items[t]->integer > INT32_MAX)
				die("%s: source %zu, position %zu: not an id", path, i, t + 1);
			src[i][t] = (int32_t) s->items[t]->integer;
		}
	}
	sm_json_free(doc);
	return src;
}

static void
decode(const sm_encdec *e, int32_t *const *src, const int *len, int B, const sm_beam_opts *o,
	   int32_t *out, int *out_len)
{
	sm_error	err;

	sm_error_clear(&err);
	check(sm_encdec_check_source(e, (const int32_t *const *) src, len, B, &err), &err, "sources");
	check(sm_decode(&e->decoder, (const int32_t *const *) src, len, B, o, out, out_len, NULL, &err),
		  &err, "sm_decode");
}

int
main(int argc, char **argv)
{
	const char *st_path, *mode;
	int			threads, batch, n, max_new, n_src, ignored;
	char	   *config;
	uint64_t	size;
	uint8_t    *data;
	sm_st_file	st;
	sm_model   *m;
	sm_encdec	e;
	int32_t   **src;
	int		   *len, *out_len;
	int32_t    *out;
	sm_beam_opts o = {.num_beams = 1, .length_penalty = 1.0, .early_stopping = false, .no_repeat_ngram = 0};
	double		seconds = 0;
	long		tokens = 0;
	const char *env, *base, *dot;

	if (argc != 9 || (threads = atoi(argv[4])) < 1 || (batch = atoi(argv[6])) < 1 ||
		(n = atoi(argv[7])) < 1 || (max_new = atoi(argv[8])) < 1 ||
		(strcmp(argv[5], "greedy") != 0 && strcmp(argv[5], "beam4") != 0))
	{
		fprintf(stderr, "usage: %s MODEL.safetensors CONFIG.json SOURCES.json THREADS greedy|beam4 BATCH N MAX_NEW\n",
				argv[0]);
		return 2;
	}
	st_path = argv[1];
	mode = argv[5];
	o.num_beams = strcmp(mode, "beam4") == 0 ? 4 : 1;
	o.max_new = max_new;
	env = getenv("OPENBLAS_NUM_THREADS");
	if (!env || atoi(env) != threads)
		fprintf(stderr, "# warning: OPENBLAS_NUM_THREADS is %s, not %d\n", env ? env : "unset", threads);

	config = (char *) read_path(argv[2], &size, "");
	config = realloc(config, size + 1);
	config[size] = '\0';
	data = read_safetensors_path(st_path, &st, "");
	m = load_tensors("transformer_seq2seq", config, data, &st, &ignored);
	fprintf(stderr, "# %s: %d tensors (%d ignored), %llu parameters\n", st_path, st.n_tensors, ignored,
			(unsigned long long) sm_model_parameters(m));
	sm_st_file_free(&st);
	free(data);
	if (!sm_encdec_of(m, &e))
		die("%s: not an encoder-decoder", st_path);

	src = read_sources(argv[3], &n_src, &len);
	if (n > n_src)
		n = n_src;
	if (batch > n)
		batch = n;
	out = malloc(sizeof(int32_t) * (size_t) n * max_new);
	out_len = malloc(sizeof(int) * n);
	if (!out || !out_len)
		die("out of memory");

	sm_set_threads(threads);
	/* warm-up: the first two sources together (the first alone at batch 1) */
	decode(&e, src, len, batch > 1 && n > 1 ? 2 : 1, &o, out, out_len);
	for (int i = 0; i < n; i += batch)
	{
		int			b = n - i < batch ? n - i : batch;
		double		t0 = now_ms();

		decode(&e, src + i, len + i, b, &o, out + (size_t) i * max_new, out_len + i);
		seconds += (now_ms() - t0) / 1e3;
	}

	base = strrchr(st_path, '/');
	base = base ? base + 1 : st_path;
	dot = strchr(base, '.');
	printf("{\"impl\": \"seqmodel\", \"model\": \"%.*s\", \"mode\": \"%s\", \"batch\": %d, \"threads\": %d, "
		   "\"n\": %d, \"max_new\": %d, \"seconds\": %.6f, \"sent_per_s\": %.6f, ",
		   dot ? (int) (dot - base) : (int) strlen(base), base, mode, batch, threads, n, max_new,
		   seconds, n / seconds);
	for (int i = 0; i < n; i++)
		tokens += out_len[i];
	printf("\"tokens\": %ld, \"outputs\": [", tokens);
	for (int i = 0; i < n; i++)
	{
		printf("%s[", i ? ", " : "");
		for (int t = 0; t < out_len[i]; t++)
			printf("%s%d", t ? ", " : "", out[(size_t) i * max_new + t]);
		printf("]");
	}
	printf("]}\n");

	for (int i = 0; i < n_src; i++)
		free(src[i]);
	free(src);
	free(len);
	free(out);
	free(out_len);
	free(config);
	sm_model_free(m);
	return 0;
}
