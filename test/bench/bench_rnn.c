/*
 * bench_rnn.c -- times seqmodel's engine (sm_rnn_forward) on the recurrent
 * peer workloads (W1_lstm, W2_gru, W5_lstm_b1 of /work/shared/peers), the
 * same way the peers (peers_torch.py, peers_ort.js) time PyTorch and ONNX
 * Runtime: same weights, same inputs, same warm-up and timed run counts
 * (workloads.json), median of the timed runs.
 *
 *   cc -O2 -Isrc/engine -o /tmp/bench_rnn test/bench/bench_rnn.c \
 *      src/engine/libsmengine.a -lopenblas -lm
 *   OPENBLAS_NUM_THREADS=1 PEER_MODEL_DIR=/tmp/peer-models /tmp/bench_rnn 1 [WORKLOAD ...]
 *
 * Default workloads: W1_lstm W2_gru W5_lstm_b1.  For each one:
 *   - loads $PEER_MODEL_DIR/<model>.safetensors the way the extension does:
 *     sm_st_parse, sm_model_begin (arch "lstm"/"gru", config derived from the
 *     tensor shapes: input_size, hidden_size, num_layers, output_size,
 *     rnn_prefix "<arch>.", head_prefix "head."), sm_model_add_tensor and
 *     sm_tensor_append per tensor, sm_model_finish;
 *   - reads <model>.io.safetensors: "input" [B, T, 1] and PyTorch's "output"
 *     [B, 1] (rows 0..batch-1, so W5 takes row 0, as the peers do);
 *   - sm_set_threads(THREADS), then sm_rnn_forward(rnn, x, B, T, NULL, last,
 *     NULL); checks the normwise relative error max|y - ref| / max|ref|
 *     (< 1e-4) on the first and on the last run;
 *   - prints one JSON object per workload on stdout (fields as the peers'
 *     plus "impl" and "rel_err").
 * Exits 1 if a check failed (the timing line is still printed, marked
 * "check": "FAIL"), 2 on a usage, file or engine error.
 *
 * OPENBLAS_NUM_THREADS should be set to THREADS in the environment too: the
 * pthread OpenBLAS sizes its pool when it loads (sm_set_threads then sets
 * how many of them one call uses).
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
#include "sm_rnn.h"
#include "sm_safetensors.h"
#include "sm_tensor.h"

#define REL_TOL 1e-4

static const char *model_dir;

static void
die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_rnn: ");
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
load_model(const char *model_name, const char **arch_out)
{
	char		fname[512];
	uint64_t	size;
	uint8_t    *data;
	sm_st_file	st;
	sm_error	err;
	sm_model   *m = NULL;
	const char *arch;
	char		prefix[16];
	char		name[64];
	char		config[512];
	const sm_st_tensor *t;
	int			I, H, L, O;

	if (strncmp(model_name, "lstm", 4) == 0)
		arch = "lstm";
	else if (strncmp(model_name, "gru", 3) == 0)
		arch = "gru";
	else
		die("model %s is not a recurrent model", model_name);
	snprintf(prefix, sizeof(prefix), "%s.", arch);

	snprintf(fname, sizeof(fname), "%s.safetensors", model_name);
	data = read_file(fname, &size);
	sm_error_clear(&err);
	check(sm_st_parse(data, size, &st, &err), &err, fname);

	/*
	 * Config from the shapes (models.py: RNNForecast, self.<cell> =
	 * nn.LSTM/GRU(input_size=1, hidden_size=64, num_layers=2,
	 * batch_first=True), self.head = nn.Linear(64, 1)).
	 */
	snprintf(name, sizeof(name), "%sweight_ih_l0", prefix);
	if (!(t = st_find(&st, name)) || t->info.ndim != 2)
		die("%s: no 2-d tensor %s", fname, name);
	I = (int) t->info.shape[1];
	snprintf(name, sizeof(name), "%sweight_hh_l0", prefix);
	if (!(t = st_find(&st, name)) || t->info.ndim != 2)
		die("%s: no 2-d tensor %s", fname, name);
	H = (int) t->info.shape[1];
	for (L = 0;; L++)
	{
		snprintf(name, sizeof(name), "%sweight_ih_l%d", prefix, L);
		if (!st_find(&st, name))
			break;
	}
	if (!(t = st_find(&st, "head.weight")) || t->info.ndim != 2)
		die("%s: no 2-d tensor head.weight", fname);
	O = (int) t->info.shape[0];
	snprintf(config, sizeof(config),
			 "{\"input_size\": %d, \"hidden_size\": %d, \"num_layers\": %d, "
			 "\"output_size\": %d, \"rnn_prefix\": \"%s\", \"head_prefix\": \"head.\"}",
			 I, H, L, O, prefix);
	fprintf(stderr, "# %s: arch %s, config %s\n", model_name, arch, config);

	check(sm_model_begin(&m, arch, config, strlen(config), &err), &err, "sm_model_begin");
	for (int i = 0; i < st.n_tensors; i++)
	{
		const sm_st_tensor *s = &st.tensors[i];
		sm_tensor  *dst;

		check(sm_model_add_tensor(m, &s->info, &dst, &err), &err, s->info.name);
		check(sm_tensor_append(dst, s->info.dtype, data + st.data_start + s->begin,
							   (size_t) (s->end - s->begin), &err), &err, s->info.name);
	}
	check(sm_model_finish(m, &err), &err, "sm_model_finish");
	sm_st_file_free(&st);
	free(data);
	*arch_out = arch;
	return m;
}

/* Copy rows [0, rows) of a float32 tensor of the .io file. */
static float *
io_rows(const uint8_t *data, const sm_st_file *st, const char *name, int rows,
		size_t *row_len, const int64_t **shape, int *ndim)
{
	const sm_st_tensor *t = st_find(st, name);
	size_t		per_row = 1;
	float	   *out;

	if (!t || t->info.dtype != SM_DTYPE_F32 || t->info.ndim < 1)
		die("io file: no float32 tensor \"%s\"", name);
	if (t->info.shape[0] < rows)
		die("io file: \"%s\" has %lld rows, need %d", name, (long long) t->info.shape[0], rows);
	for (int d = 1; d < t->info.ndim; d++)
		per_row *= (size_t) t->info.shape[d];
	out = malloc(sizeof(float) * per_row * rows);
	if (!out)
		die("out of memory");
	memcpy(out, data + st->data_start + t->begin, sizeof(float) * per_row * rows);
	*row_len = per_row;
	if (shape)
		*shape = t->info.shape;
	if (ndim)
		*ndim = t->info.ndim;
	return out;
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

/* Returns true when the accuracy check passed. */
static bool
bench(const sm_json *specs, const char *workload, int threads)
{
	const sm_json *spec = sm_json_get(specs, workload);
	const sm_json *mv;
	const char *model_name;
	const char *arch;
	int			batch, len, warmup, runs;
	double		flops;
	sm_model   *m;
	const sm_rnn *rnn;
	char		fname[512];
	uint64_t	size;
	uint8_t    *iodata;
	sm_st_file	io;
	sm_error	err;
	float	   *x, *ref, *y;
	size_t		x_row, ref_row;
	const int64_t *xshape;
	int			xndim, W, T, I;
	double	   *times;
	double		abs_err, abs_ref, rel, a2, r2, rel2;
	bool		ok;

	if (!spec || spec->type != SM_JSON_OBJECT)
		die("workloads.json has no workload %s", workload);
	mv = sm_json_get(spec, "model");
	if (!mv || mv->type != SM_JSON_STRING)
		die("workloads.json: %s has no model", workload);
	model_name = mv->string;
	batch = (int) json_num(spec, "batch", workload);
	len = (int) json_num(spec, "len", workload);
	flops = json_num(spec, "flops", workload);
	warmup = (int) json_num(spec, "warmup", workload);
	runs = (int) json_num(spec, "runs", workload);

	m = load_model(model_name, &arch);
	rnn = sm_rnn_of(m);
	if (!rnn)
		die("sm_rnn_of returned NULL for %s", model_name);
	W = sm_rnn_output_width(rnn);

	snprintf(fname, sizeof(fname), "%s.io.safetensors", model_name);
	iodata = read_file(fname, &size);
	sm_error_clear(&err);
	check(sm_st_parse(iodata, size, &io, &err), &err, fname);
	x = io_rows(iodata, &io, "input", batch, &x_row, &xshape, &xndim);
	if (xndim != 3)
		die("%s: input is not [B, T, I]", fname);
	T = (int) xshape[1];
	I = (int) xshape[2];
	if (T != len || I != rnn->I)
		die("%s: input [%d, %d, %d] does not match workload len %d / input_size %d",
			fname, batch, T, I, len, rnn->I);
	ref = io_rows(iodata, &io, "output", batch, &ref_row, NULL, NULL);
	if ((int) ref_row != W)
		die("%s: output width %zu, model output width %d", fname, ref_row, W);
	sm_st_file_free(&io);
	free(iodata);

	y = calloc((size_t) batch * W, sizeof(float));
	times = calloc(runs > 0 ? runs : 1, sizeof(double));
	if (!y || !times)
		die("out of memory");

	sm_set_threads(threads);

	/* the first run: accuracy */
	check(sm_rnn_forward(rnn, x, batch, T, NULL, y, NULL, &err), &err, "sm_rnn_forward");
	rel = rel_error(y, ref, (size_t) batch * W, &abs_err, &abs_ref);
	fprintf(stderr, "# %s: max|d| %.3g, max|ref| %.3g, normwise relative error %.3g (limit %g)\n",
			workload, abs_err, abs_ref, rel, REL_TOL);

	for (int i = 1; i < warmup; i++)	/* the accuracy run was the first warm-up */
		check(sm_rnn_forward(rnn, x, batch, T, NULL, y, NULL, &err), &err, "sm_rnn_forward");
	for (int i = 0; i < runs; i++)
	{
		double		t0 = now_ms();

		check(sm_rnn_forward(rnn, x, batch, T, NULL, y, NULL, &err), &err, "sm_rnn_forward");
		times[i] = now_ms() - t0;
	}
	/* the last run's output too (as the peers check theirs) */
	rel2 = rel_error(y, ref, (size_t) batch * W, &a2, &r2);
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
		printf("{\"workload\": \"%s\", \"impl\": \"seqmodel-engine\", \"peer\": \"seqmodel-engine\", "
			   "\"arch\": \"%s\", \"threads\": %d, \"batch\": %d, \"len\": %d, \"flops\": %.0f, "
			   "\"warmup\": %d, \"runs\": %d, \"times_ms\": [",
			   workload, arch, threads, batch, len, flops, warmup, runs);
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
		fprintf(stderr, "bench_rnn: %s: relative error %.3g is not below %g\n", workload, rel, REL_TOL);

	free(times);
	free(y);
	free(ref);
	free(x);
	sm_model_free(m);
	return ok;
}

int
main(int argc, char **argv)
{
	static const char *defaults[] = {"W1_lstm", "W2_gru", "W5_lstm_b1"};
	int			threads;
	uint64_t	size;
	uint8_t    *text;
	sm_json    *specs;
	sm_error	err;
	bool		all_ok = true;
	const char *env;

	if (argc < 2 || (threads = atoi(argv[1])) < 1)
	{
		fprintf(stderr, "usage: %s THREADS [WORKLOAD ...]   (models from $PEER_MODEL_DIR)\n", argv[0]);
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
