/*
 * bench_text.c -- the engine reference of test/bench/text_sql.sh: the work of
 * seqmodel.score_query(model, task, query) (src/pg/score_query.c) over the
 * (id, body) rows of a CSV file, minus PostgreSQL, so that the SQL path's
 * time can be set against the engine's own ("score_query ms / engine ms").
 *
 *   make -s src/engine/libsmengine.a
 *   cc -std=gnu11 -O2 -Isrc/engine -o /tmp/bench_text test/bench/bench_text.c \
 *      src/engine/libsmengine.a -lopenblas -lm
 *   OPENBLAS_NUM_THREADS=1 /tmp/bench_text THREADS TASK ARCH CONFIG_JSON SAFETENSORS \
 *      TOKENIZER_JSON CSV [ROUNDS]
 *
 * e.g. (the files text_sql.sh writes into /tmp/seqmodel-bench-text):
 *   /tmp/bench_text 1 classify bert langid_config.json langid.safetensors \
 *      langid_tokenizer.json bench_text.csv 3
 *   /tmp/bench_text 1 logprob gpt2 gpt2_config.json gpt2.safetensors \
 *      gpt2_tokenizer.json bench_text.csv 3
 *
 * TASK is classify, embed or logprob; ARCH and CONFIG_JSON are what
 * seqmodel.import_safetensors(name, ARCH, CONFIG, weights) is given.  The
 * shared helpers (die, check, read_file, load_tensors, now_ms, ...) are in
 * bench_common.h, beside this file (the one-file build above still works).
 *
 * What it does, as the extension does it:
 *   - the model: sm_st_parse, sm_model_begin (ARCH, CONFIG_JSON),
 *     sm_model_add_tensor + sm_tensor_append per tensor (skipping the data
 *     of tensors the arch ignores), sm_model_finish (load_tensors), then
 *     sm_tfm_of; the tokenizer: sm_tokenizer_load of TOKENIZER_JSON, as the
 *     backend's cache loads the stored tokenizer.json (src/pg/cache.c);
 *   - the rows: CSV as PostgreSQL's \copy (FORMAT csv) reads it (RFC 4180:
 *     fields in double quotes may hold commas, newlines and "" for a quote;
 *     records end in LF or CRLF), column 1 the key, column 2 the text, in the
 *     file's order (the order of score_query's 'SELECT id, body FROM t' over
 *     a freshly loaded table);
 *   - per row, as sm_text_encode (src/pg/text.c) with seqmodel.truncation =
 *     truncate: sm_tokenizer_encode(add_special_tokens true, max_tokens room
 *     = max_len - bos, truncate), bos = 1 for logprob when the model has a
 *     bos_id (BOS prepended, type id 0), token type ids kept; an empty text
 *     or one of no tokens is an error, as there;
 *   - batches as sq_receive: a batch runs before a text that would overflow
 *     its cap (BATCH_TOKENS + max_len tokens), and after a row when it holds
 *     BATCH_ROWS texts or at least BATCH_TOKENS tokens; the last one at the
 *     end; one sm_tfm_forward per batch, SM_TFM_OUT_PROBS (classify),
 *     SM_TFM_OUT_EMBEDDING (embed) or SM_TFM_OUT_LOGPROB (logprob, double
 *     scores), straight into the whole pass's output array;
 *   - sm_set_threads(THREADS); OPENBLAS_NUM_THREADS should be THREADS in the
 *     environment too (the pthread OpenBLAS sizes its pool when it loads).
 * Not done (PostgreSQL's part): reading the query's rows, the key's text
 * output, the result arrays and the tuplestore.
 *
 * Timing: one warm-up pass (over the first $BENCH_WARMUP_ROWS rows only when
 * that is set: text_sql.sh runs one timed pass per process), then ROUNDS
 * (default 3) timed passes over all rows, each timed whole, tokenization
 * included (score_query tokenizes too); within a pass the tokenization and
 * the forward calls are also summed apart (two clock reads a row and a
 * batch).  Prints one JSON line on stdout:
 *   {"impl": "engine", "task", "arch", "threads", "rows", "tokens",
 *    "batches", "median_ms", "tok_ms", "fwd_ms", "runs": [ms, ...]}
 * (tok_ms and fwd_ms: medians of the per-pass sums).
 *
 * Self-check: with $BENCH_TEXT_OUT set, the last timed pass's outputs are
 * written there, one line per row, "KEY<TAB>v1,v2,..." (%.9g; classify: the
 * probabilities, embed: the embedding, logprob: the score), for text_sql.sh
 * to compare with score_query's in SQL.
 *
 * Exits 1 if an output is not finite (score_query would raise an error;
 * the timing line is still printed), 2 on a usage, file, CSV, tokenizer or
 * engine error.
 */
#define BENCH_NAME "bench_text"
#include "bench_common.h"		/* beside this file */
#include "nn/sm_tfm.h"
#include "text/sm_tokenizer.h"

/* as src/pg/score_query.c */
#define BATCH_ROWS 64
#define BATCH_TOKENS 4096

typedef enum task
{
	TASK_CLASSIFY,
	TASK_EMBED,
	TASK_LOGPROB
} task;

/* one row of the CSV: pointers into the file's buffer (unquoted in place) */
typedef struct row
{
	const char *key;			/* NUL-terminated */
	const char *text;
	size_t		len;
} row;

/*
 * Parse CSV (RFC 4180, as PostgreSQL's COPY ... (FORMAT csv) with its
 * defaults: delimiter ',', quote and escape '"') in place: the fields are
 * unquoted into buf itself, each NUL-terminated.  Every record must have two
 * fields, the second not NULL (an unquoted empty field: COPY's NULL).
 * Returns the rows (malloc'd), *n their number.
 */
static row *
parse_csv(char *buf, size_t size, const char *path, int *n)
{
	int			cap = 1024,
				count = 0;
	row		   *rows = malloc(sizeof(row) * cap);
	size_t		i = 0;
	long		line = 1;

	if (!rows)
		die("out of memory");
	while (i < size)
	{
		char	   *field[2];
		size_t		flen[2];
		bool		quoted[2];
		int			nf = 0;
		long		rec_line = line;

		/* a record: fields up to an unquoted LF (or CRLF) or the end */
		for (;;)
		{
			char	   *dst = buf + i;	/* unquoting only shortens: write behind the reader */
			char	   *start = dst;
			bool		q = false;

			if (i < size && buf[i] == '"')
			{
				q = true;
				i++;
				for (;;)
				{
					if (i >= size)
						die("%s: line %ld: unterminated quoted field", path, rec_line);
					if (buf[i] == '"')
					{
						if (i + 1 < size && buf[i + 1] == '"')
						{
							*dst++ = '"';
							i += 2;
							continue;
						}
						i++;	/* the closing quote */
						break;
					}
					if (buf[i] == '\n')
						line++;
					*dst++ = buf[i++];
				}
				if (i < size && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r')
					die("%s: line %ld: text after a closing quote", path, line);
			}
			else
			{
				while (i < size && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r')
				{
					if (buf[i] == '"')
						die("%s: line %ld: a quote inside an unquoted field", path, line);
					*dst++ = buf[i++];
				}
			}
			if (nf == 2)
				die("%s: line %ld: more than two fields (want id,body)", path, rec_line);
			field[nf] = start;
			flen[nf] = (size_t) (dst - start);
			quoted[nf] = q;
			nf++;
			if (i < size && buf[i] == ',')
			{
				*dst = '\0';	/* dst < buf + i: the delimiter's place or before */
				i++;
				continue;
			}
			/* end of the record: CR LF, LF, or the end of the file */
			if (i < size && buf[i] == '\r')
			{
				if (i + 1 < size && buf[i + 1] == '\n')
					i++;
				else
					die("%s: line %ld: a bare CR outside quotes", path, line);
			}
			if (i < size)
			{
				i++;			/* the LF */
				line++;
			}
			*dst = '\0';		/* dst <= the LF's place (or buf[size]: the spare byte) */
			break;
		}
		if (nf != 2)
			die("%s: line %ld: %d field(s), want id,body", path, rec_line, nf);
		if (flen[1] == 0 && !quoted[1])
			die("%s: line %ld: the text is NULL (score_query would give a NULL output)", path, rec_line);
		if (flen[0] == 0 && !quoted[0])
			die("%s: line %ld: the key is NULL", path, rec_line);
		if (count == cap)
		{
			cap *= 2;
			rows = realloc(rows, sizeof(row) * cap);
			if (!rows)
				die("out of memory");
		}
		rows[count].key = field[0];
		rows[count].text = field[1];
		rows[count].len = flen[1];
		count++;
	}
	*n = count;
	return rows;
}

/* the state of one pass */
typedef struct pass
{
	const sm_tfm *m;
	const sm_tokenizer *tok;
	task		t;
	sm_tfm_out	what;
	int			W;				/* output width per row */
	float	   *out;			/* [rows, W] (classify, embed) */
	double	   *scores;			/* [rows] (logprob) */
	/* the batch, as sq_reader's */
	int			n,
				first;			/* rows in it; the index of its first row */
	int		   *lengths;		/* [BATCH_ROWS] */
	int32_t    *ids,
			   *types;			/* [cap] packed */
	int			used,
				cap;
	sm_tok_ids	e;
	/* sums of the pass */
	double		tok_ms,
				fwd_ms;
	long		tokens;
	int			batches;
} pass;

static void
run_batch(pass *p)
{
	sm_tfm_batch b = {.B = p->n, .lengths = p->lengths, .ids = p->ids, .type_ids = p->types};
	sm_error	err;
	double		t0;

	if (p->n == 0)
		return;
	sm_error_clear(&err);
	t0 = now_ms();
	check(sm_tfm_forward(p->m, &b, p->what,
						 p->out ? p->out + (size_t) p->first * p->W : NULL,
						 p->scores ? p->scores + p->first : NULL, &err), &err, "sm_tfm_forward");
	p->fwd_ms += now_ms() - t0;
	p->batches++;
	p->first += p->n;
	p->n = p->used = 0;
}

/* one pass over rows [0, nrows): tokenize, batch, forward; returns its ms */
static double
run_pass(pass *p, const row *rows, int nrows)
{
	int			bos = p->t == TASK_LOGPROB && p->m->bos_id >= 0 ? 1 : 0;
	int			room = p->m->max_len - bos;
	double		t0 = now_ms();

	p->n = p->first = p->used = 0;
	p->tok_ms = p->fwd_ms = 0;
	p->tokens = 0;
	p->batches = 0;
	for (int i = 0; i < nrows; i++)
	{
		sm_error	err;
		double		ta = now_ms();
		int			len;

		/* sm_text_encode */
		if (rows[i].len == 0)
			die("the text of the row with key %s is empty", rows[i].key);
		sm_error_clear(&err);
		check(sm_tokenizer_encode(p->tok, rows[i].text, rows[i].len, NULL, 0, true, room, true,
								  &p->e, &err), &err, rows[i].key);
		if (p->e.n > room)
			die("the text of the row with key %s is %d tokens long, over %d", rows[i].key,
				p->e.n + bos, p->m->max_len);
		if (p->e.n == 0)
			die("the text of the row with key %s has no tokens", rows[i].key);
		len = p->e.n + bos;
		p->tok_ms += now_ms() - ta;

		/* sq_receive */
		if (p->n > 0 && p->used + len > p->cap)
			run_batch(p);
		if (bos)
		{
			p->ids[p->used] = p->m->bos_id;
			p->types[p->used] = 0;
		}
		memcpy(p->ids + p->used + bos, p->e.ids, sizeof(int32_t) * p->e.n);
		memcpy(p->types + p->used + bos, p->e.type_ids, sizeof(int32_t) * p->e.n);
		p->used += len;
		p->lengths[p->n++] = len;
		p->tokens += len;
		if (p->n == BATCH_ROWS || p->used >= BATCH_TOKENS)
			run_batch(p);
	}
	run_batch(p);
	return now_ms() - t0;
}

static double
median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	int			threads,
				rounds = argc > 8 ? atoi(argv[8]) : 3;
	const char *task_name,
			   *arch,
			   *env,
			   *out_path;
	task		t;
	uint64_t	size;
	char	   *config,
			   *tok_json,
			   *csv;
	uint8_t    *data;
	sm_st_file	st;
	sm_model   *model;
	sm_tokenizer *tok;
	sm_error	err;
	row		   *rows;
	int			nrows,
				ntensors,
				ignored,
				warm_rows,
				bad = 0;
	pass		p;
	double	   *runs,
			   *toks,
			   *fwds;

	if (argc < 8 || argc > 9 || (threads = atoi(argv[1])) < 1 || rounds < 1)
	{
		fprintf(stderr, "usage: %s THREADS classify|embed|logprob ARCH CONFIG_JSON SAFETENSORS "
				"TOKENIZER_JSON CSV [ROUNDS]\n"
				"  (env: BENCH_TEXT_OUT=FILE writes the outputs, BENCH_WARMUP_ROWS=N warms up on N rows)\n",
				argv[0]);
		return 2;
	}
	task_name = argv[2];
	arch = argv[3];
	if (strcmp(task_name, "classify") == 0)
		t = TASK_CLASSIFY;
	else if (strcmp(task_name, "embed") == 0)
		t = TASK_EMBED;
	else if (strcmp(task_name, "logprob") == 0)
		t = TASK_LOGPROB;
	else
		die("unknown task \"%s\" (classify, embed or logprob)", task_name);

	env = getenv("OPENBLAS_NUM_THREADS");
	if (!env || atoi(env) != threads)
		fprintf(stderr, "# warning: OPENBLAS_NUM_THREADS is %s, not %d: OpenBLAS's pool was sized "
				"without it (sm_set_threads still limits each call)\n", env ? env : "unset", threads);

	/* the model, as import_safetensors + the backend's cache build it */
	config = (char *) read_path(argv[4], &size, "");
	config = realloc(config, size + 1);
	if (!config)
		die("out of memory");
	config[size] = '\0';
	data = read_safetensors_path(argv[5], &st, "");
	model = load_tensors(arch, config, data, &st, &ignored);
	ntensors = st.n_tensors;
	sm_st_file_free(&st);
	free(data);
	memset(&p, 0, sizeof(p));
	p.m = sm_tfm_of(model);
	if (!p.m || p.m->vocab == 0)
		die("arch %s is not a token model", arch);
	if (t == TASK_CLASSIFY && p.m->head.w == NULL)
		die("classify needs a sequence classifier (the model has no head)");
	if (t == TASK_LOGPROB && (p.m->lm_head == NULL || !p.m->causal))
		die("logprob needs a decoder with a language-model head");

	/* the tokenizer, as sm_cache_tokenizer loads the stored tokenizer.json */
	tok_json = (char *) read_path(argv[6], &size, "");
	sm_error_clear(&err);
	check(sm_tokenizer_load(tok_json, size, &tok, &err), &err, argv[6]);
	free(tok_json);
	if (sm_tokenizer_vocab_size(tok) > p.m->vocab)
		die("the tokenizer's ids go up to %d but the model has a vocabulary of %d",
			sm_tokenizer_vocab_size(tok) - 1, p.m->vocab);

	/* the rows (one spare byte: the last field's terminator) */
	csv = (char *) read_path(argv[7], &size, "");
	csv = realloc(csv, size + 1);
	if (!csv)
		die("out of memory");
	csv[size] = '\0';
	rows = parse_csv(csv, size, argv[7], &nrows);
	if (nrows == 0)
		die("%s has no rows", argv[7]);

	p.tok = tok;
	p.t = t;
	p.what = t == TASK_CLASSIFY ? SM_TFM_OUT_PROBS : t == TASK_EMBED ? SM_TFM_OUT_EMBEDDING
		: SM_TFM_OUT_LOGPROB;
	/* score_query's task_width */
	p.W = t == TASK_CLASSIFY ? p.m->head.out : t == TASK_EMBED ? p.m->d : 1;
	p.cap = BATCH_TOKENS + p.m->max_len;
	p.lengths = malloc(sizeof(int) * BATCH_ROWS);
	p.ids = malloc(sizeof(int32_t) * p.cap);
	p.types = malloc(sizeof(int32_t) * p.cap);
	if (t == TASK_LOGPROB)
		p.scores = calloc(nrows, sizeof(double));
	else
		p.out = calloc((size_t) nrows * p.W, sizeof(float));
	runs = malloc(sizeof(double) * rounds);
	toks = malloc(sizeof(double) * rounds);
	fwds = malloc(sizeof(double) * rounds);
	if (!p.lengths || !p.ids || !p.types || !(p.scores || p.out) || !runs || !toks || !fwds)
		die("out of memory");
	sm_tok_ids_init(&p.e);
	fprintf(stderr, "# %s %s: %d rows, %d tensors (%d ignored), max_len %d, bos %d, width %d, "
			"sm_set_threads(%d), OPENBLAS_NUM_THREADS %s\n", task_name, arch, nrows, ntensors,
			ignored, p.m->max_len, p.m->bos_id, p.W, threads, env ? env : "unset");

	sm_set_threads(threads);
	warm_rows = env_int("BENCH_WARMUP_ROWS", nrows);
	run_pass(&p, rows, warm_rows < nrows ? warm_rows : nrows);
	for (int r = 0; r < rounds; r++)
	{
		runs[r] = run_pass(&p, rows, nrows);
		toks[r] = p.tok_ms;
		fwds[r] = p.fwd_ms;
	}

	/* the last pass's outputs: finite, and written out for the check */
	out_path = getenv("BENCH_TEXT_OUT");
	{
		FILE	   *f = NULL;

		if (out_path && *out_path && !(f = fopen(out_path, "w")))
			die("cannot write %s: %s", out_path, strerror(errno));
		for (int i = 0; i < nrows; i++)
		{
			for (int k = 0; k < p.W; k++)
			{
				double		v = p.scores ? p.scores[i] : (double) p.out[(size_t) i * p.W + k];

				if (!isfinite(v))
				{
					if (bad++ == 0)
						fprintf(stderr, BENCH_NAME ": the row with key %s has a non-finite output\n", rows[i].key);
				}
				if (f && k == 0)
					fprintf(f, "%s\t%.9g", rows[i].key, v);
				else if (f)
					fprintf(f, ",%.9g", v);
			}
			if (f)
				fputc('\n', f);
		}
		if (f && fclose(f) != 0)
			die("writing %s failed", out_path);
	}

	printf("{\"impl\": \"engine\", \"task\": \"%s\", \"arch\": \"%s\", \"threads\": %d, \"rows\": %d, "
		   "\"tokens\": %ld, \"batches\": %d, \"runs\": [", task_name, arch, threads, nrows,
		   p.tokens, p.batches);
	for (int r = 0; r < rounds; r++)
		printf("%s%.3f", r ? ", " : "", runs[r]);
	printf("], \"median_ms\": %.3f, \"tok_ms\": %.3f, \"fwd_ms\": %.3f, \"check\": \"%s\"}\n",
		   median(runs, rounds), median(toks, rounds), median(fwds, rounds), bad ? "FAIL" : "ok");
	fflush(stdout);

	sm_tok_ids_free(&p.e);
	sm_tokenizer_free(tok);
	sm_model_free(model);
	free(p.lengths);
	free(p.ids);
	free(p.types);
	free(p.out);
	free(p.scores);
	free(runs);
	free(toks);
	free(fwds);
	free(rows);
	free(csv);
	free(config);
	return bad ? 1 : 0;
}
