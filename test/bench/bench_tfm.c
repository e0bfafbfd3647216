/*
 * bench_tfm.c -- times seqmodel's engine (sm_tfm_forward) on the transformer
 * peer workloads (W3_encoder, W4_gpt_score, W5_encoder_b1 of
 * /work/shared/peers), the same way the peers (peers_torch.py, peers_ort.js)
 * time PyTorch and ONNX Runtime: same weights, same inputs, same warm-up and
 * timed run counts (workloads.json), median of the timed runs.
 *
 *   cc -O2 -Isrc/engine -o /tmp/bench_tfm test/bench/bench_tfm.c \
 *      src/engine/libsmengine.a -lopenblas -lm
 *   OPENBLAS_NUM_THREADS=1 PEER_MODEL_DIR=/tmp/peer-models /tmp/bench_tfm 1 [WORKLOAD ...]
 *
 * Default workloads: W3_encoder W4_gpt_score W5_encoder_b1.  For each one:
 *   - loads $PEER_MODEL_DIR/<model>.safetensors the way the extension does:
 *     sm_st_parse, sm_model_begin (arch and config below), sm_model_add_tensor
 *     and sm_tensor_append per tensor (skipping the data of tensors the arch
 *     ignores), sm_model_finish;
 *       text_encoder (W3, W5): arch "transformer", {"vocab_size": 8000,
 *         "d_model": 256, "nhead": 4, "dim_feedforward": 1024, "num_layers": 4,
 *         "activation": "gelu", "positional": "learned", "max_len": 512,
 *         "embedding_prefix": "embed.", "position_prefix": "pos.",
 *         "pooling": "mean", "output_size": 2, "head_prefix": "classifier."}
 *       gpt_scorer (W4): arch "gpt2", {"vocab_size": 8000, "n_positions": 1024,
 *         "n_embd": 384, "n_layer": 6, "n_head": 6, "n_inner": 1536,
 *         "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
 *         "conv1d": false}   (torch Linear weights [out, in])
 *   - reads <model>.io.safetensors: "input" int64 [B, L] (rows 0..batch-1, so
 *     W5 takes row 0, as the peers do) and PyTorch's "output" ([B, 2] logits,
 *     or [B] scores);
 *   - sm_set_threads(THREADS), then sm_tfm_forward of the whole batch (all
 *     sequences of length L, packed): SM_TFM_OUT_SEQUENCE into out [B, 2] for
 *     the encoder, SM_TFM_OUT_LOGPROB into scores [B] (double) for the
 *     scorer; checks the normwise relative error max|y - ref| / max|ref|
 *     (< 1e-4) on the first and on the last run;
 *   - prints one JSON object per workload on stdout (fields as the peers'
 *     plus "impl", "rel_err" and "check").
 * A workload name with the suffix ":rows" (W3_encoder:rows) runs the same
 * batch as one sm_tfm_forward call per sequence (B = 1 each), as per-row SQL
 * calls do; its time is that of the whole loop.
 *
 * Exits 1 if a check failed (the timing line is still printed, marked
 * "check": "FAIL"), 2 on a usage, file or engine error.
 *
 * OPENBLAS_NUM_THREADS should be set to THREADS in the environment too: the
 * pthread OpenBLAS sizes its pool when it loads (sm_set_threads then sets
 * how many of them one call uses).  For profiling, BENCH_WARMUP and
 * BENCH_RUNS override workloads.json's run counts.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sm_core.h"
#include "sm_json.h"
#include "sm_model.h"
#include "sm_safetensors.h"
#include "sm_tensor.h"
#include "sm_tfm.h"

#define REL_TOL 1e-4

static const char *model_dir;

static const struct
{
	const char *model;
	const char *arch;
	const char *config;
	sm_tfm_out	what;
}			models[] = {
	{"text_encoder", "transformer",
		"{\"vocab_size\": 8000, \"d_model\": 256, \"nhead\": 4, \"dim_feedforward\": 1024, "
		"\"num_layers\": 4, \"activation\": \"gelu\", \"positional\": \"learned\", \"max_len\": 512, "
		"\"embedding_prefix\": \"embed.\", \"position_prefix\": \"pos.\", \"pooling\": \"mean\", "
		"\"output_size\": 2, \"head_prefix\": \"classifier.\"}",
	SM_TFM_OUT_SEQUENCE},
	{"gpt_scorer", "gpt2",
		"{\"vocab_size\": 8000, \"n_positions\": 1024, \"n_embd\": 384, \"n_layer\": 6, "
		"\"n_head\": 6, \"n_inner\": 1536, \"activation_function\": \"gelu_new\", "
		"\"layer_norm_epsilon\": 1e-5, \"conv1d\": false}",
	SM_TFM_OUT_LOGPROB},
};

static void
die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_tfm: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void
check(sm_status st, const sm_error *err, const char *what)
{
	if (st != SM_OK)
		die("%s: %s%s%s", what, err->message, err->detail[0] ? ": " : "", err->detail);
}

static uint8_t *
read_file(const char *name, uint64_t *size)
{
	char		path[4096];
	FILE	   *f;
	long		n;
	uint8_t    *buf;

	snprintf(path, sizeof(path), "%s/%s", model_dir, name);
	f = fopen(path, "rb");
	if (!f)
		die("cannot open %s: %s (generate the peer models first: see README.md)", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		die("cannot size %s", path);
	buf = malloc(n > 0 ? (size_t) n : 1);
	if (!buf)
		die("out of memory reading %s", path);
	if (n > 0 && fread(buf, 1, (size_t) n, f) != (size_t) n)
		die("short read on %s", path);
	fclose(f);
	*size = (uint64_t) n;
	return buf;
}

static const sm_st_tensor *
st_find(const sm_st_file *st, const char *name)
{
	for (int i = 0; i < st->n_tensors; i++)
		if (strcmp(st->tensors[i].info.name, name) == 0)
			return &st->tensors[i];
	return NULL;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
json_num(const sm_json *obj, const char *key, const char *wl)
{
	const sm_json *v = sm_json_get(obj, key);

	if (!v || v->type != SM_JSON_NUMBER)
		die("workloads.json: %s has no number \"%s\"", wl, key);
	return v->number;
}

/* Load <model>.safetensors as the extension would: parse, begin, add + append, finish. */
static sm_model *
load_model(int k)
{
	char		fname[512];
	uint64_t	size;
	uint8_t    *data;
	sm_st_file	st;
	sm_error	err;
	sm_model   *m = NULL;
	int			ignored = 0;

	snprintf(fname, sizeof(fname), "%s.safetensors", models[k].model);
	data = read_file(fname, &size);
	sm_error_clear(&err);
	check(sm_st_parse(data, size, &st, &err), &err, fname);
	fprintf(stderr, "# %s: arch %s, config %s\n", models[k].model, models[k].arch, models[k].config);

	check(sm_model_begin(&m, models[k].arch, models[k].config, strlen(models[k].config), &err),
		  &err, "sm_model_begin");
	for (int i = 0; i < st.n_tensors; i++)
	{
		const sm_st_tensor *s = &st.tensors[i];
		sm_tensor  *dst = NULL;

		check(sm_model_add_tensor(m, &s->info, &dst, &err), &err, s->info.name);
		if (!dst)				/* a tensor the arch ignores: skip its data */
		{
			ignored++;
			continue;
		}
		check(sm_tensor_append(dst, s->info.dtype, data + st.data_start + s->begin,
							   (size_t) (s->end - s->begin), &err), &err, s->info.name);
	}
	check(sm_model_finish(m, &err), &err, "sm_model_finish");
	fprintf(stderr, "# %s: %d tensors (%d ignored), %llu parameters\n", models[k].model,
			st.n_tensors, ignored, (unsigned long long) sm_model_parameters(m));
	sm_st_file_free(&st);
	free(data);
	return m;
}

static const sm_st_tensor *
io_tensor(const sm_st_file *st, const char *name, sm_dtype dtype, int rows, size_t *row_len)
{
	const sm_st_tensor *t = st_find(st, name);
	size_t		per_row = 1;

	if (!t || t->info.dtype != dtype || t->info.ndim < 1)
		die("io file: no %s tensor \"%s\"", dtype == SM_DTYPE_F32 ? "float32" : "int64", name);
	if (t->info.shape[0] < rows)
		die("io file: \"%s\" has %lld rows, need %d", name, (long long) t->info.shape[0], rows);
	for (int d = 1; d < t->info.ndim; d++)
		per_row *= (size_t) t->info.shape[d];
	*row_len = per_row;
	return t;
}

static double
rel_error(const float *y, const float *ref, size_t n, double *abs_err, double *abs_ref)
{
	double		e = 0,
				r = 0;

	for (size_t i = 0; i < n; i++)
	{
		double		d = fabs((double) y[i] - (double) ref[i]);

		if (!(d <= e))			/* NaN propagates as infinite error */
			e = isnan(d) ? INFINITY : d;
		if (fabs((double) ref[i]) > r)
			r = fabs((double) ref[i]);
	}
	*abs_err = e;
	*abs_ref = r;
	return r > 0 ? e / r : e;
}

typedef struct run_ctx
{
	const sm_tfm *m;
	sm_tfm_out	what;
	int			B,
				L,
				W;
	bool		rows;			/* one call per sequence */
	const int32_t *ids;			/* [B * L] */
	int		   *lengths;		/* [B], all L */
	float	   *out;			/* [B * W] (SEQUENCE) */
	double	   *scores;			/* [B] (LOGPROB) */
	float	   *y;				/* [B * W]: the output as float, for the check */
} run_ctx;

static void
run_once(run_ctx *c)
{
	sm_error	err;

	sm_error_clear(&err);
	if (!c->rows)
	{
		sm_tfm_batch b = {.B = c->B, .lengths = c->lengths, .ids = c->ids};

		check(sm_tfm_forward(c->m, &b, c->what, c->out, c->scores, &err), &err, "sm_tfm_forward");
	}
	else
		for (int i = 0; i < c->B; i++)
		{
			sm_tfm_batch b = {.B = 1, .lengths = c->lengths, .ids = c->ids + (size_t) i * c->L};

			check(sm_tfm_forward(c->m, &b, c->what, c->out ? c->out + (size_t) i * c->W : NULL,
								 c->scores ? c->scores + i : NULL, &err), &err, "sm_tfm_forward");
		}
}

static double
run_check(run_ctx *c, const float *ref, double *abs_err, double *abs_ref)
{
	size_t		n = (size_t) c->B * c->W;

	for (size_t i = 0; i < n; i++)
		c->y[i] = c->out ? c->out[i] : (float) c->scores[i];
	return rel_error(c->y, ref, n, abs_err, abs_ref);
}

static int
env_int(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v && atoi(v) > 0 ? atoi(v) : def;
}

/* Returns true when the accuracy check passed. */
static bool
bench(const sm_json *specs, const char *workload_arg, int threads)
{
	char		workload[128];
	const char *suffix;
	bool		rows = false;
	const sm_json *spec;
	const sm_json *mv;
	const char *model_name;
	int			batch, len, warmup, runs, k = -1;
	double		flops;
	sm_model   *m;
	run_ctx		c;
	char		fname[512];
	uint64_t	size;
	uint8_t    *iodata;
	sm_st_file	io;
	sm_error	err;
	const sm_st_tensor *ti, *to;
	size_t		in_row, out_row;
	float	   *ref;
	double	   *times;
	double		abs_err, abs_ref, rel, a2, r2, rel2;
	bool		ok;

	snprintf(workload, sizeof(workload), "%s", workload_arg);
	if ((suffix = strchr(workload, ':')) != NULL)
	{
		if (strcmp(suffix, ":rows") != 0)
			die("unknown workload suffix %s (only :rows)", suffix);
		rows = true;
		workload[suffix - workload] = '\0';
	}
	spec = sm_json_get(specs, workload);
	if (!spec || spec->type != SM_JSON_OBJECT)
		die("workloads.json has no workload %s", workload);
	mv = sm_json_get(spec, "model");
	if (!mv || mv->type != SM_JSON_STRING)
		die("workloads.json: %s has no model", workload);
	model_name = mv->string;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strcmp(models[i].model, model_name) == 0)
			k = (int) i;
	if (k < 0)
		die("model %s (workload %s) is not a transformer workload", model_name, workload);
	batch = (int) json_num(spec, "batch", workload);
	len = (int) json_num(spec, "len", workload);
	flops = json_num(spec, "flops", workload);
	warmup = env_int("BENCH_WARMUP", (int) json_num(spec, "warmup", workload));
	runs = env_int("BENCH_RUNS", (int) json_num(spec, "runs", workload));

	m = load_model(k);
	memset(&c, 0, sizeof(c));
	c.m = sm_tfm_of(m);
	if (!c.m)
		die("sm_tfm_of returned NULL for %s", model_name);
	c.what = models[k].what;
	c.W = c.what == SM_TFM_OUT_LOGPROB ? 1 : sm_tfm_out_width(c.m, c.what);
	c.B = batch;
	c.L = len;
	c.rows = rows;

	snprintf(fname, sizeof(fname), "%s.io.safetensors", model_name);
	iodata = read_file(fname, &size);
	sm_error_clear(&err);
	check(sm_st_parse(iodata, size, &io, &err), &err, fname);
	ti = io_tensor(&io, "input", SM_DTYPE_I64, batch, &in_row);
	if (ti->info.ndim != 2 || (int) in_row != len)
		die("%s: input is not [B, %d] int64", fname, len);
	to = io_tensor(&io, "output", SM_DTYPE_F32, batch, &out_row);
	if ((int) out_row != c.W)
		die("%s: output width %zu, model output width %d", fname, out_row, c.W);
	{
		const int64_t *src = (const int64_t *) (iodata + io.data_start + ti->begin);
		int32_t    *ids = malloc(sizeof(int32_t) * (size_t) batch * len);

		if (!ids)
			die("out of memory");
		for (size_t i = 0; i < (size_t) batch * len; i++)
		{
			int64_t		v;

			memcpy(&v, src + i, sizeof(v));
			if (v < 0 || v > INT32_MAX)
				die("%s: token id %lld out of range", fname, (long long) v);
			ids[i] = (int32_t) v;
		}
		c.ids = ids;
	}
	ref = malloc(sizeof(float) * (size_t) batch * c.W);
	if (!ref)
		die("out of memory");
	memcpy(ref, iodata + io.data_start + to->begin, sizeof(float) * (size_t) batch * c.W);
	sm_st_file_free(&io);
	free(iodata);

	c.lengths = malloc(sizeof(int) * batch);
	c.y = calloc((size_t) batch * c.W, sizeof(float));
	if (c.what == SM_TFM_OUT_LOGPROB)
		c.scores = calloc(batch, sizeof(double));
	else
		c.out = calloc((size_t) batch * c.W, sizeof(float));
	times = calloc(runs > 0 ? runs : 1, sizeof(double));
	if (!c.lengths || !c.y || !(c.scores || c.out) || !times)
		die("out of memory");
	for (int i = 0; i < batch; i++)
		c.lengths[i] = len;

	sm_set_threads(threads);

	/* the first run: accuracy */
	run_once(&c);
	rel = run_check(&c, ref, &abs_err, &abs_ref);
	fprintf(stderr, "# %s%s: max|d| %.3g, max|ref| %.3g, normwise relative error %.3g (limit %g)\n",
			workload, rows ? " (per row)" : "", abs_err, abs_ref, rel, REL_TOL);

	for (int i = 1; i < warmup; i++)	/* the accuracy run was the first warm-up */
		run_once(&c);
	for (int i = 0; i < runs; i++)
	{
		double		t0 = now_ms();

		run_once(&c);
		times[i] = now_ms() - t0;
	}
	/* the last run's output too (as the peers check theirs) */
	rel2 = run_check(&c, ref, &a2, &r2);
	if (rel2 > rel || isnan(rel2))
	{
		rel = rel2;
		abs_err = a2;
	}
	ok = rel < REL_TOL;

	{
		double	   *sorted = malloc(sizeof(double) * runs);
		double		med, mn, mx;

		memcpy(sorted, times, sizeof(double) * runs);
		qsort(sorted, runs, sizeof(double), cmp_double);
		med = runs % 2 ? sorted[runs / 2] : (sorted[runs / 2 - 1] + sorted[runs / 2]) / 2;
		mn = sorted[0];
		mx = sorted[runs - 1];
		printf("{\"workload\": \"%s%s\", \"impl\": \"seqmodel-engine\", \"peer\": \"seqmodel-engine\", "
			   "\"arch\": \"%s\", \"threads\": %d, \"batch\": %d, \"len\": %d, \"flops\": %.0f, "
			   "\"warmup\": %d, \"runs\": %d, \"times_ms\": [",
			   workload, rows ? ":rows" : "", models[k].arch, threads, batch, len, flops, warmup, runs);
		for (int i = 0; i < runs; i++)
			printf("%s%.4f", i ? ", " : "", times[i]);
		printf("], \"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, "
			   "\"seq_per_s\": %.2f, \"gflops\": %.3f, \"max_abs_err\": %.6g, "
			   "\"max_abs_ref\": %.6g, \"rel_err\": %.6g, \"check\": \"%s\"}\n",
			   med, mn, mx, batch / (med / 1e3), flops / (med / 1e3) * 1e-9,
			   abs_err, abs_ref, rel, ok ? "ok" : "FAIL");
		fflush(stdout);
		free(sorted);
	}
	if (!ok)
		fprintf(stderr, "bench_tfm: %s: relative error %.3g is not below %g\n", workload, rel, REL_TOL);

	free(times);
	free(c.out);
	free(c.scores);
	free(c.y);
	free(c.lengths);
	free((void *) c.ids);
	free(ref);
	sm_model_free(m);
	return ok;
}

int
main(int argc, char **argv)
{
	static const char *defaults[] = {"W3_encoder", "W4_gpt_score", "W5_encoder_b1"};
	int			threads;
	uint64_t	size;
	uint8_t    *text;
	sm_json    *specs;
	sm_error	err;
	bool		all_ok = true;
	const char *env;

	if (argc < 2 || (threads = atoi(argv[1])) < 1)
	{
		fprintf(stderr, "usage: %s THREADS [WORKLOAD[:rows] ...]   (models from $PEER_MODEL_DIR)\n", argv[0]);
		return 2;
	}
	model_dir = getenv("PEER_MODEL_DIR");
	if (!model_dir || !*model_dir)
		model_dir = "/tmp/peer-models";
	env = getenv("OPENBLAS_NUM_THREADS");
	if (!env || atoi(env) != threads)
		fprintf(stderr, "# warning: OPENBLAS_NUM_THREADS is %s, not %d: OpenBLAS's pool was sized "
				"without it (sm_set_threads still limits each call)\n", env ? env : "unset", threads);

	text = read_file("workloads.json", &size);
	sm_error_clear(&err);
	check(sm_json_parse((const char *) text, size, &specs, &err), &err, "workloads.json");
	free(text);
	fprintf(stderr, "# seqmodel engine, sm_set_threads(%d), OPENBLAS_NUM_THREADS %s\n",
			threads, env ? env : "unset");

	if (argc > 2)
		for (int i = 2; i < argc; i++)
			all_ok &= bench(specs, argv[i], threads);
	else
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			all_ok &= bench(specs, defaults[i], threads);
	sm_json_free(specs);
	return all_ok ? 0 : 1;
}
