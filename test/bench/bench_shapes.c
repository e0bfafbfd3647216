/*
 * bench_shapes.c -- times seqmodel's engine on the own-shape workloads of
 * test/bench/shapes_models.py (LSTM/GRU forecasters, transformer encoder
 * classifiers, GPT-2-style scorers of sizes we choose), the same way the
 * peers (peers_torch.py, peers_ort.js) time PyTorch and ONNX Runtime: same
 * weights, same inputs, same warm-up and timed run counts (workloads.json),
 * median of the timed runs.  bench_rnn.c and bench_tfm.c cannot run them:
 * they derive or hard-code the standard models' configs; here every
 * workload of workloads.json names its engine arch and config.
 *
 *   cc -std=gnu11 -O2 -Isrc/engine -o /tmp/bench_shapes test/bench/bench_shapes.c \
 *      src/engine/libsmengine.a -lopenblas -lm
 *   OPENBLAS_NUM_THREADS=1 PEER_MODEL_DIR=/tmp/seqmodel-shapes-models /tmp/bench_shapes 1 WORKLOAD ...
 *
 * Shares bench_common.h (beside this file) with bench_rnn.c and bench_tfm.c.
 * For each workload of $PEER_MODEL_DIR/workloads.json:
 *   - "arch" ("lstm", "gru", "transformer", "gpt2"), "config" (a JSON
 *     string: the engine config) and "out" ("last": the recurrent model's
 *     output at the last step; "sequence": the encoder's pooled head
 *     output; "logprob": the sum of next-token log-probabilities);
 *   - loads <model>.safetensors the way the extension does (bench_common.h's
 *     load_tensors: sm_st_parse, sm_model_begin, add + append per tensor,
 *     sm_model_finish);
 *   - reads <model>.io.safetensors: "input" (float32 [B, T, I] series or
 *     int64 [B, L] token ids; rows 0..batch-1) and PyTorch's "output";
 *   - sm_set_threads(THREADS), then sm_rnn_forward (last step) or
 *     sm_tfm_forward (the whole batch packed, all lengths L), checking the
 *     normwise relative error max|y - ref| / max|ref| (< 1e-4) on the first
 *     and the last run; one JSON line per workload on stdout.
 * Exits 1 if a check failed (the line is still printed, "check": "FAIL"), 2
 * on a usage, file or engine error.  BENCH_WARMUP / BENCH_RUNS override the
 * run counts (for profiling).
 */
#define BENCH_NAME "bench_shapes"
#include "bench_common.h"		/* beside this file */
#include "nn/sm_rnn.h"
#include "nn/sm_tfm.h"

static const char *
json_str(const sm_json *obj, const char *key, const char *wl)
{
	const sm_json *v = sm_json_get(obj, key);

	if (!v || v->type != SM_JSON_STRING)
		die("workloads.json: %s has no string \"%s\"", wl, key);
	return v->string;
}

typedef struct run_ctx
{
	bool		rnn;
	/* recurrent */
	const sm_rnn *r;
	const float *x;				/* [B, T, I] */
	/* transformer */
	const sm_tfm *t;
	sm_tfm_out	what;
	const int32_t *ids;			/* [B * L] */
	int		   *lengths;		/* [B], all L */
	double	   *scores;			/* [B] (LOGPROB) */
	/* both */
	int			B,
				L,
				W;
	float	   *out;			/* [B * W] */
	float	   *y;				/* [B * W]: the output as float, for the check */
	const float *ref;			/* [B * W]: PyTorch's output */
} run_ctx;

static void
run_once(void *ctx)
{
	run_ctx    *c = ctx;
	sm_error	err;

	sm_error_clear(&err);
	if (c->rnn)
		check(sm_rnn_forward(c->r, c->x, c->B, c->L, NULL, c->out, NULL, &err), &err, "sm_rnn_forward");
	else
	{
		sm_tfm_batch b = {.B = c->B, .lengths = c->lengths, .ids = c->ids};

		check(sm_tfm_forward(c->t, &b, c->what, c->scores ? NULL : c->out, c->scores, &err),
			  &err, "sm_tfm_forward");
	}
}

static double
run_check(void *ctx, double *abs_err, double *abs_ref)
{
	run_ctx    *c = ctx;
	size_t		n = (size_t) c->B * c->W;

	for (size_t i = 0; i < n; i++)
		c->y[i] = c->scores ? (float) c->scores[i] : c->out[i];
	return rel_error(c->y, c->ref, n, abs_err, abs_ref);
}

/* Returns true when the accuracy check passed. */
static bool
bench(const sm_json *specs, const char *workload, int threads)
{
	bench_spec	s = spec_of(specs, workload, true);
	const sm_json *spec = sm_json_get(specs, workload);
	const char *arch = json_str(spec, "arch", workload);
	const char *config = json_str(spec, "config", workload);
	const char *out = json_str(spec, "out", workload);
	char		fname[512];
	uint8_t    *data,
			   *iodata;
	sm_st_file	st,
				io;
	sm_model   *m;
	int			ignored;
	run_ctx		c;
	bench_ops	ops = {run_once, run_check, &c};
	size_t		in_row, out_row;
	bool		ok;

	/* the model, as the extension loads it */
	snprintf(fname, sizeof(fname), "%s.safetensors", s.model);
	data = read_safetensors(fname, &st);
	fprintf(stderr, "# %s: arch %s, config %s\n", s.model, arch, config);
	m = load_tensors(arch, config, data, &st, &ignored);
	fprintf(stderr, "# %s: %d tensors (%d ignored), %llu parameters\n", s.model, st.n_tensors,
			ignored, (unsigned long long) sm_model_parameters(m));
	sm_st_file_free(&st);
	free(data);

	memset(&c, 0, sizeof(c));
	c.B = s.batch;
	c.L = s.len;
	snprintf(fname, sizeof(fname), "%s.io.safetensors", s.model);
	iodata = read_safetensors(fname, &io);

	if (strcmp(out, "last") == 0)
	{
		const int64_t *xshape;
		int			xndim;

		c.rnn = true;
		if (!(c.r = sm_rnn_of(m)))
			die("%s: arch %s is not a recurrent model", s.model, arch);
		c.W = sm_rnn_output_width(c.r);
		c.x = io_rows(iodata, &io, "input", s.batch, &in_row, &xshape, &xndim);
		if (xndim != 3 || (int) xshape[1] != s.len || (int) xshape[2] != c.r->I)
			die("%s: input is not [B, %d, %d]", fname, s.len, c.r->I);
	}
	else
	{
		const sm_st_tensor *ti;
		const int64_t *src;
		int32_t    *ids;

		if (!(c.t = sm_tfm_of(m)))
			die("%s: arch %s is not a transformer", s.model, arch);
		if (strcmp(out, "sequence") == 0)
			c.what = SM_TFM_OUT_SEQUENCE;
		else if (strcmp(out, "logprob") == 0)
			c.what = SM_TFM_OUT_LOGPROB;
		else
			die("workloads.json: %s: unknown \"out\" %s", workload, out);
		c.W = c.what == SM_TFM_OUT_LOGPROB ? 1 : sm_tfm_out_width(c.t, c.what);
		ti = io_tensor(&io, "input", SM_DTYPE_I64, s.batch, &in_row);
		if (ti->info.ndim != 2 || (int) in_row != s.len)
			die("%s: input is not [B, %d] int64", fname, s.len);
		src = (const int64_t *) (iodata + io.data_start + ti->begin);
		ids = malloc(sizeof(int32_t) * (size_t) s.batch * s.len);
		c.lengths = malloc(sizeof(int) * s.batch);
		if (!ids || !c.lengths)
			die("out of memory");
		for (size_t i = 0; i < (size_t) s.batch * s.len; i++)
		{
			int64_t		v;

			memcpy(&v, src + i, sizeof(v));
			if (v < 0 || v > INT32_MAX)
				die("%s: token id %lld out of range", fname, (long long) v);
			ids[i] = (int32_t) v;
		}
		c.ids = ids;
		for (int i = 0; i < s.batch; i++)
			c.lengths[i] = s.len;
		if (c.what == SM_TFM_OUT_LOGPROB && !(c.scores = calloc(s.batch, sizeof(double))))
			die("out of memory");
	}
	c.ref = io_rows(iodata, &io, "output", s.batch, &out_row, NULL, NULL);
	if ((int) out_row != c.W)
		die("%s: output width %zu, model output width %d", fname, out_row, c.W);
	sm_st_file_free(&io);
	free(iodata);
	c.out = calloc((size_t) s.batch * c.W, sizeof(float));
	c.y = calloc((size_t) s.batch * c.W, sizeof(float));
	if (!c.out || !c.y)
		die("out of memory");

	ok = time_workload(&s, "", "", arch, threads, &ops);

	free(c.out);
	free(c.y);
	free(c.scores);
	free(c.lengths);
	free((void *) c.ids);
	free((void *) c.x);
	free((void *) c.ref);
	sm_model_free(m);
	return ok;
}

int
main(int argc, char **argv)
{
	if (argc < 3)
	{
		fprintf(stderr, "usage: %s THREADS WORKLOAD ...   (models from $PEER_MODEL_DIR; the workloads:"
				" python3 test/bench/shapes_models.py list)\n", argv[0]);
		return 2;
	}
	return bench_main(argc, argv, "WORKLOAD ...", NULL, 0, bench);
}
