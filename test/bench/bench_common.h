/*
 * bench_common.h -- what bench_rnn.c and bench_tfm.c share: reading the peer
 * models' files, the workload specs of workloads.json, the accuracy check and
 * the timing loop with its JSON line, and main().
 *
 * A header of static functions, not a library, so that each driver still
 * builds from its one .c file (cc -O2 -Isrc/engine test/bench/bench_X.c
 * src/engine/libsmengine.a -lopenblas -lm): the driver includes it as
 * "bench_common.h", found beside the .c file.  The driver defines BENCH_NAME
 * (its name, for messages) before including it.  The functions are static
 * inline so that one a driver does not use draws no -Wunused-function.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench_common.h"
#endif

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/sm_core.h"
#include "core/sm_json.h"
#include "core/sm_model.h"
#include "core/sm_safetensors.h"
#include "core/sm_tensor.h"

#define REL_TOL 1e-4

static const char *model_dir;	/* $PEER_MODEL_DIR, set by bench_main */

__attribute__((format(printf, 1, 2), noreturn))
static inline void
die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, BENCH_NAME ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static inline void
check(sm_status st, const sm_error *err, const char *what)
{
	if (st != SM_OK)
		die("%s: %s%s%s", what, err->message, err->detail[0] ? ": " : "", err->detail);
}

/* A file by its path, whole, into a malloc'd buffer; hint follows a failed open. */
static inline uint8_t *
read_path(const char *path, uint64_t *size, const char *hint)
{
	FILE	   *f;
	long		n;
	uint8_t    *buf;

	f = fopen(path, "rb");
	if (!f)
		die("cannot open %s: %s%s", path, strerror(errno), hint);
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

/* $PEER_MODEL_DIR/<name>, whole, into a malloc'd buffer. */
static inline uint8_t *
read_file(const char *name, uint64_t *size)
{
	char		path[4096];

	snprintf(path, sizeof(path), "%s/%s", model_dir, name);
	return read_path(path, size, " (generate the peer models first: see README.md)");
}

/*
 * A .safetensors file by its path, read and parsed; the returned buffer
 * holds the tensors' data (st->data_start on), so it lives as long as *st
 * is used.
 */
static inline uint8_t *
read_safetensors_path(const char *path, sm_st_file *st, const char *hint)
{
	uint64_t	size;
	uint8_t    *data = read_path(path, &size, hint);
	sm_error	err;

	sm_error_clear(&err);
	check(sm_st_parse(data, size, st, &err), &err, path);
	return data;
}

/* $PEER_MODEL_DIR/<name>, read and parsed as a .safetensors file (as above) */
static inline uint8_t *
read_safetensors(const char *name, sm_st_file *st)
{
	char		path[4096];

	snprintf(path, sizeof(path), "%s/%s", model_dir, name);
	return read_safetensors_path(path, st, " (generate the peer models first: see README.md)");
}

static inline const sm_st_tensor *
st_find(const sm_st_file *st, const char *name)
{
	for (int i = 0; i < st->n_tensors; i++)
		if (strcmp(st->tensors[i].info.name, name) == 0)
			return &st->tensors[i];
	return NULL;
}

/*
 * Build a model from a parsed .safetensors file as the extension would:
 * begin, add + append per tensor (skipping the data of tensors the arch
 * ignores), finish.  *ignored counts the skipped ones.
 */
static inline sm_model *
load_tensors(const char *arch, const char *config, const uint8_t *data, const sm_st_file *st,
			 int *ignored)
{
	sm_error	err;
	sm_model   *m = NULL;

	sm_error_clear(&err);
	*ignored = 0;
	check(sm_model_begin(&m, arch, config, strlen(config), &err), &err, "sm_model_begin");
	for (int i = 0; i < st->n_tensors; i++)
	{
		const sm_st_tensor *s = &st->tensors[i];
		sm_tensor  *dst = NULL;

		check(sm_model_add_tensor(m, &s->info, &dst, &err), &err, s->info.name);
		if (!dst)				/* a tensor the arch ignores: skip its data */
		{
			(*ignored)++;
			continue;
		}
		check(sm_tensor_append(dst, s->info.dtype, data + st->data_start + s->begin,
							   (size_t) (s->end - s->begin), &err), &err, s->info.name);
	}
	check(sm_model_finish(m, &err), &err, "sm_model_finish");
	return m;
}

/*
 * The tensor <name> of an .io file, of type dtype, with at least rows rows;
 * *row_len: its elements per row.
 */
static inline const sm_st_tensor *
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

/* Copy rows [0, rows) of a float32 tensor of the .io file. */
static inline float *
io_rows(const uint8_t *data, const sm_st_file *st, const char *name, int rows,
		size_t *row_len, const int64_t **shape, int *ndim)
{
	const sm_st_tensor *t = io_tensor(st, name, SM_DTYPE_F32, rows, row_len);
	float	   *out = malloc(sizeof(float) * *row_len * rows);

	if (!out)
		die("out of memory");
	memcpy(out, data + st->data_start + t->begin, sizeof(float) * *row_len * rows);
	if (shape)
		*shape = t->info.shape;
	if (ndim)
		*ndim = t->info.ndim;
	return out;
}

static inline double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static inline int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static inline double
json_num(const sm_json *obj, const char *key, const char *wl)
{
	const sm_json *v = sm_json_get(obj, key);

	if (!v || v->type != SM_JSON_NUMBER)
		die("workloads.json: %s has no number \"%s\"", wl, key);
	return v->number;
}

static inline int
env_int(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v && atoi(v) > 0 ? atoi(v) : def;
}

/* One workload of workloads.json. */
typedef struct bench_spec
{
	const char *workload;
	const char *model;
	int			batch,
				len,
				warmup,
				runs;
	double		flops;
} bench_spec;

/*
 * Read the spec of workload; env_runs: BENCH_WARMUP and BENCH_RUNS override
 * its run counts (for profiling).
 */
static inline bench_spec
spec_of(const sm_json *specs, const char *workload, bool env_runs)
{
	const sm_json *spec = sm_json_get(specs, workload);
	const sm_json *mv;
	bench_spec	s;

	if (!spec || spec->type != SM_JSON_OBJECT)
		die("workloads.json has no workload %s", workload);
	mv = sm_json_get(spec, "model");
	if (!mv || mv->type != SM_JSON_STRING)
		die("workloads.json: %s has no model", workload);
	s.workload = workload;
	s.model = mv->string;
	s.batch = (int) json_num(spec, "batch", workload);
	s.len = (int) json_num(spec, "len", workload);
	s.flops = json_num(spec, "flops", workload);
	s.warmup = (int) json_num(spec, "warmup", workload);
	s.runs = (int) json_num(spec, "runs", workload);
	if (env_runs)
	{
		s.warmup = env_int("BENCH_WARMUP", s.warmup);
		s.runs = env_int("BENCH_RUNS", s.runs);
	}
	return s;
}

static inline double
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

/*
 * The driver's side of time_workload: run() does one forward of the whole
 * workload; check() compares the last run's output with PyTorch's (its
 * normwise relative error, max|d| and max|ref| out).
 */
typedef struct bench_ops
{
	void		(*run) (void *ctx);
	double		(*check) (void *ctx, double *abs_err, double *abs_ref);
	void	   *ctx;
} bench_ops;

/*
 * Time one workload as the peers do and print its JSON line on stdout:
 * sm_set_threads(threads), a first run whose output is checked, the rest of
 * the warm-up, the timed runs, and a check of the last run's output too.
 * suffix is appended to the workload's name in the JSON line (":rows"), note
 * to it in the accuracy message (" (per row)").  Returns true when the
 * accuracy check passed.
 */
static inline bool
time_workload(const bench_spec *s, const char *suffix, const char *note, const char *arch,
			  int threads, const bench_ops *ops)
{
	int			runs = s->runs;
	double	   *times = calloc(runs > 0 ? runs : 1, sizeof(double));
	double		abs_err, abs_ref, rel, a2, r2, rel2;
	bool		ok;

	if (!times)
		die("out of memory");

	sm_set_threads(threads);

	/* the first run: accuracy */
	ops->run(ops->ctx);
	rel = ops->check(ops->ctx, &abs_err, &abs_ref);
	fprintf(stderr, "# %s%s: max|d| %.3g, max|ref| %.3g, normwise relative error %.3g (limit %g)\n",
			s->workload, note, abs_err, abs_ref, rel, REL_TOL);

	for (int i = 1; i < s->warmup; i++)	/* the accuracy run was the first warm-up */
		ops->run(ops->ctx);
	for (int i = 0; i < runs; i++)
	{
		double		t0 = now_ms();

		ops->run(ops->ctx);
		times[i] = now_ms() - t0;
	}
	/* the last run's output too (as the peers check theirs) */
	rel2 = ops->check(ops->ctx, &a2, &r2);
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
			   s->workload, suffix, arch, threads, s->batch, s->len, s->flops, s->warmup, runs);
		for (int i = 0; i < runs; i++)
			printf("%s%.4f", i ? ", " : "", times[i]);
		printf("], \"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, "
			   "\"seq_per_s\": %.2f, \"gflops\": %.3f, \"max_abs_err\": %.6g, "
			   "\"max_abs_ref\": %.6g, \"rel_err\": %.6g, \"check\": \"%s\"}\n",
			   med, mn, mx, s->batch / (med / 1e3), s->flops / (med / 1e3) * 1e-9,
			   abs_err, abs_ref, rel, ok ? "ok" : "FAIL");
		fflush(stdout);
		free(sorted);
	}
	if (!ok)
		fprintf(stderr, BENCH_NAME ": %s: relative error %.3g is not below %g\n", s->workload, rel, REL_TOL);
	free(times);
	return ok;
}

/*
 * main() of both drivers: THREADS [WORKLOAD ...] (defaults without any),
 * bench() per workload; exits 1 if an accuracy check failed.  usage_args is
 * what the usage line shows after THREADS.
 */
static inline int
bench_main(int argc, char **argv, const char *usage_args, const char *const *defaults, int n_defaults,
		   bool (*bench) (const sm_json *specs, const char *workload, int threads))
{
	int			threads;
	uint64_t	size;
	uint8_t    *text;
	sm_json    *specs;
	sm_error	err;
	bool		all_ok = true;
	const char *env;

	if (argc < 2 || (threads = atoi(argv[1])) < 1)
	{
		fprintf(stderr, "usage: %s THREADS %s   (models from $PEER_MODEL_DIR)\n", argv[0], usage_args);
		return 2;
	}
	model_dir = getenv("PEER_MODEL_DIR");
	if (!model_dir || !*model_dir)
		model_dir = "/tmp/peer-models";
	/*
	 * The pthread OpenBLAS sizes its pool when it loads, from
	 * OPENBLAS_NUM_THREADS: sm_set_threads only limits how many of them one
	 * call uses.
	 */
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
		for (int i = 0; i < n_defaults; i++)
			all_ok &= bench(specs, defaults[i], threads);
	sm_json_free(specs);
	return all_ok ? 0 : 1;
}

#endif							/* BENCH_COMMON_H */
