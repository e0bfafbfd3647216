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
 * The code it shares with bench_tfm.c is in bench_common.h, beside this file
 * (found there by the #include, so the one-file build above still works).
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
#define BENCH_NAME "bench_rnn"
#include "bench_common.h"		/* beside this file */
#include "nn/sm_rnn.h"

/* Load <model>.safetensors as the extension would: parse, begin, add + append, finish. */
static sm_model *
load_model(const char *model_name, const char **arch_out)
{
	char		fname[512];
	uint8_t    *data;
	sm_st_file	st;
	sm_model   *m;
	const char *arch;
	char		prefix[16];
	char		name[64];
	char		config[512];
	const sm_st_tensor *t;
	int			I, H, L, O, ignored;

	if (strncmp(model_name, "lstm", 4) == 0)
		arch = "lstm";
	else if (strncmp(model_name, "gru", 3) == 0)
		arch = "gru";
	else
		die("model %s is not a recurrent model", model_name);
	snprintf(prefix, sizeof(prefix), "%s.", arch);

	snprintf(fname, sizeof(fname), "%s.safetensors", model_name);
	data = read_safetensors(fname, &st);

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

	m = load_tensors(arch, config, data, &st, &ignored);
	sm_st_file_free(&st);
	free(data);
	*arch_out = arch;
	return m;
}

typedef struct run_ctx
{
	const sm_rnn *rnn;
	const float *x;				/* [B, T, I] */
	int			B,
				T,
				W;
	float	   *y;				/* [B * W] */
	const float *ref;			/* [B * W]: PyTorch's output */
} run_ctx;

static void
run_once(void *ctx)
{
	run_ctx    *c = ctx;
	sm_error	err;

	sm_error_clear(&err);
	check(sm_rnn_forward(c->rnn, c->x, c->B, c->T, NULL, c->y, NULL, &err), &err, "sm_rnn_forward");
}

static double
run_check(void *ctx, double *abs_err, double *abs_ref)
{
	run_ctx    *c = ctx;

	return rel_error(c->y, c->ref, (size_t) c->B * c->W, abs_err, abs_ref);
}

/* Returns true when the accuracy check passed. */
static bool
bench(const sm_json *specs, const char *workload, int threads)
{
	bench_spec	s = spec_of(specs, workload, false);
	const char *arch;
	sm_model   *m;
	run_ctx		c;
	bench_ops	ops = {run_once, run_check, &c};
	char		fname[512];
	uint8_t    *iodata;
	sm_st_file	io;
	float	   *x, *ref;
	size_t		x_row, ref_row;
	const int64_t *xshape;
	int			xndim, I;
	bool		ok;

	m = load_model(s.model, &arch);
	memset(&c, 0, sizeof(c));
	c.rnn = sm_rnn_of(m);
	if (!c.rnn)
		die("sm_rnn_of returned NULL for %s", s.model);
	c.W = sm_rnn_output_width(c.rnn);
	c.B = s.batch;

	snprintf(fname, sizeof(fname), "%s.io.safetensors", s.model);
	iodata = read_safetensors(fname, &io);
	x = io_rows(iodata, &io, "input", s.batch, &x_row, &xshape, &xndim);
	if (xndim != 3)
		die("%s: input is not [B, T, I]", fname);
	c.T = (int) xshape[1];
	I = (int) xshape[2];
	if (c.T != s.len || I != c.rnn->I)
		die("%s: input [%d, %d, %d] does not match workload len %d / input_size %d",
			fname, s.batch, c.T, I, s.len, c.rnn->I);
	ref = io_rows(iodata, &io, "output", s.batch, &ref_row, NULL, NULL);
	if ((int) ref_row != c.W)
		die("%s: output width %zu, model output width %d", fname, ref_row, c.W);
	sm_st_file_free(&io);
	free(iodata);
	c.x = x;
	c.ref = ref;

	c.y = calloc((size_t) s.batch * c.W, sizeof(float));
	if (!c.y)
		die("out of memory");

	ok = time_workload(&s, "", "", arch, threads, &ops);

	free(c.y);
	free(ref);
	free(x);
	sm_model_free(m);
	return ok;
}

int
main(int argc, char **argv)
{
	static const char *const defaults[] = {"W1_lstm", "W2_gru", "W5_lstm_b1"};

	return bench_main(argc, argv, "[WORKLOAD ...]", defaults,
					  (int) (sizeof(defaults) / sizeof(defaults[0])), bench);
}
