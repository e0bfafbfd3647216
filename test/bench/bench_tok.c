/*
 * bench_tok.c -- seqmodel's tokenizer throughput, one thread: loads a
 * tokenizer.json and a corpus (one text per line; the newline is not part
 * of the line, lines are not trimmed), encodes every line with the
 * post-processor's special tokens (as the reference's default
 * add_special_tokens) ROUNDS times after one warm-up round, and prints one
 * JSON line shaped like test/bench/tok_ref.js's:
 *   {"tokenizer", "bytes", "lines", "tokens", "median_s", "mb_per_s", "rounds"}
 *
 *   make src/engine/libsmengine.a
 *   cc -std=gnu11 -O2 -Isrc/engine -o /tmp/bench_tok test/bench/bench_tok.c src/engine/libsmengine.a -lopenblas -lm
 *   /tmp/bench_tok test/fixtures/tok/gpt2/tokenizer.json test/fixtures/tok/corpus.txt [ROUNDS]
 *
 * (test/bench/tok.sh builds it and runs it beside the reference.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/sm_tokenizer.h"

static char *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		fprintf(stderr, "bench_tok: cannot read %s\n", path);
		exit(1);
	}
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		fprintf(stderr, "bench_tok: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	buf[n] = '\0';
	*len = (size_t) n;
	return buf;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	size_t		jlen,
				clen,
				bytes = 0;
	char	   *json,
			   *corpus;
	sm_tokenizer *t;
	sm_error	err;
	int			rounds = argc > 3 ? atoi(argv[3]) : 5;
	size_t		nlines = 0,
				cap = 1024;
	const char **lines;
	size_t	   *lens;
	double	   *times;
	long		tokens = 0;
	sm_tok_ids	e;

	if (argc < 3 || rounds < 1)
	{
		fprintf(stderr, "usage: bench_tok TOKENIZER_JSON CORPUS [ROUNDS]\n");
		return 2;
	}
	json = slurp(argv[1], &jlen);
	corpus = slurp(argv[2], &clen);
	memset(&err, 0, sizeof(err));
	if (sm_tokenizer_load(json, jlen, &t, &err) != SM_OK)
	{
		fprintf(stderr, "bench_tok: %s: %s\n", argv[1], err.message);
		return 1;
	}
	lines = malloc(cap * sizeof(char *));
	lens = malloc(cap * sizeof(size_t));
	for (size_t i = 0; i < clen;)
	{
		const char *nl = memchr(corpus + i, '\n', clen - i);
		size_t		l = nl ? (size_t) (nl - (corpus + i)) : clen - i;

		if (nlines == cap)
		{
			cap *= 2;
			lines = realloc(lines, cap * sizeof(char *));
			lens = realloc(lens, cap * sizeof(size_t));
		}
		lines[nlines] = corpus + i;
		lens[nlines++] = l;
		bytes += l;
		i += l + 1;
	}
	times = malloc((size_t) rounds * sizeof(double));
	sm_tok_ids_init(&e);
	for (int r = -1; r < rounds; r++)
	{
		double		t0 = now();
		long		n = 0;

		for (size_t i = 0; i < nlines; i++)
		{
			if (sm_tokenizer_encode(t, lines[i], lens[i], NULL, 0, true, 0, false, &e, &err) != SM_OK)
			{
				fprintf(stderr, "bench_tok: line %zu: %s\n", i + 1, err.message);
				return 1;
			}
			n += e.n;
		}
		if (r >= 0)
			times[r] = now() - t0;
		tokens = n;
	}
	qsort(times, (size_t) rounds, sizeof(double), cmp_double);
	{
		double		med = rounds % 2 ? times[rounds / 2] : (times[rounds / 2 - 1] + times[rounds / 2]) / 2;

		printf("{\"tokenizer\": \"%s\", \"bytes\": %zu, \"lines\": %zu, \"tokens\": %ld, \"median_s\": %.4f, \"mb_per_s\": %.3f, \"rounds\": %d}\n",
			   argv[1], bytes, nlines, tokens, med, bytes / 1e6 / med, rounds);
	}
	sm_tok_ids_free(&e);
	sm_tokenizer_free(t);
	free(times);
	free(lines);
	free(lens);
	free(json);
	free(corpus);
	return 0;
}
