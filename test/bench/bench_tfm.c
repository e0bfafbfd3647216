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
 * The code it shares with bench_rnn.c is in bench_common.h, beside this file
 * (found there by the #include, so the one-file build above still works).
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
#define BENCH_NAME "bench_tfm"
#include "bench_common.h"		/* beside this file */
#include "nn/sm_tfm.h"

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

/* Load <model>.safetensors as the extension would: parse, begin, add + append, finish. */
static sm_model *
load_model(int k)
{
	char		fname[512];
	uint8_t    *data;
	sm_st_file	st;
	sm_model   *m;
	int			ignored;

	snprintf(fname, sizeof(fname), "%s.safetensors", models[k].model);
	data = read_safetensors(fname, &st);
	fprintf(stderr, "# %s: arch %s, config %s\n", models[k].model, models[k].arch, models[k].config);
	m = load_tensors(models[k].arch, models[k].config, data, &st, &ignored);
	fprintf(stderr, "# %s: %d tensors (%d ignored), %llu parameters\n", models[k].model,
			st.n_tensors, ignored, (unsigned long long) sm_model_parameters(m));
	sm_st_file_free(&st);
	free(data);
	return m;
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
	const float *ref;			/* [B * W]: PyTorch's output */
} run_ctx;

static void
run_once(void *ctx)
{
	run_ctx    *c = ctx;
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
run_check(void *ctx, double *abs_err, double *abs_ref)
{
	run_ctx    *c = ctx;
	size_t		n = (size_t) c->B * c->W;

	for (size_t i = 0; i < n; i++)
		c->y[i] = c->out ? c->out[i] : (float) c->scores[i];
	return rel_error(c->y, c->ref, n, abs_err, abs_ref);
}

/* Returns true when the accuracy check passed. */
static bool
bench(const sm_json *specs, const char *workload_arg, int threads)
{
	char		workload[128];
	const char *suffix;
	bool		rows = false;
	bench_spec	s;
	int			k = -1;
	sm_model   *m;
	run_ctx		c;
	bench_ops	ops = {run_once, run_check, &c};
	char		fname[512];
	uint8_t    *iodata;
	sm_st_file	io;
	const sm_st_tensor *ti;
	size_t		in_row, out_row;
	bool		ok;

	snprintf(workload, sizeof(workload), "%s", workload_arg);
	if ((suffix = strchr(workload, ':')) != NULL)
	{
		if (strcmp(suffix, ":rows") != 0)
			die("unknown workload suffix %s (only :rows)", suffix);
		rows = true;
		workload[suffix - workload] = '\0';
	}
	s = spec_of(specs, workload, true);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strcmp(models[i].model, s.model) == 0)
			k = (int) i;
	if (k < 0)
		die("model %s (workload %s) is not a transformer workload", s.model, workload);

	m = load_model(k);
	memset(&c, 0, sizeof(c));
	c.m = sm_tfm_of(m);
	if (!c.m)
		die("sm_tfm_of returned NULL for %s", s.model);
	c.what = models[k].what;
	c.W = c.what == SM_TFM_OUT_LOGPROB ? 1 : sm_tfm_out_width(c.m, c.what);
	c.B = s.batch;
	c.L = s.len;
	c.rows = rows;

	snprintf(fname, sizeof(fname), "%s.io.safetensors", s.model);
	iodata = read_safetensors(fname, &io);
	ti = io_tensor(&io, "input", SM_DTYPE_I64, s.batch, &in_row);
	if (ti->info.ndim != 2 || (int) in_row != s.len)
		die("%s: input is not [B, %d] int64", fname, s.len);
	c.ref = io_rows(iodata, &io, "output", s.batch, &out_row, NULL, NULL);
	if ((int) out_row != c.W)
		die("%s: output width %zu, model output width %d", fname, out_row, c.W);
	{
		const int64_t *src = (const int64_t *) (iodata + io.data_start + ti->begin);
		int32_t    *ids = malloc(sizeof(int32_t) * (size_t) s.batch * s.len);

		if (!ids)
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
	}
	sm_st_file_free(&io);
	free(iodata);

	c.lengths = malloc(sizeof(int) * s.batch);
	c.y = calloc((size_t) s.batch * c.W, sizeof(float));
	if (c.what == SM_TFM_OUT_LOGPROB)
		c.scores = calloc(s.batch, sizeof(double));
	else
		c.out = calloc((size_t) s.batch * c.W, sizeof(float));
	if (!c.lengths || !c.y || !(c.scores || c.out))
		die("out of memory");
	for (int i = 0; i < s.batch; i++)
		c.lengths[i] = s.len;

	ok = time_workload(&s, rows ? ":rows" : "", rows ? " (per row)" : "", models[k].arch, threads, &ops);

	free(c.out);
	free(c.scores);
	free(c.y);
	free(c.lengths);
	free((void *) c.ids);
	free((void *) c.ref);
	sm_model_free(m);
	return ok;
}

int
main(int argc, char **argv)
{
	static const char *const defaults[] = {"W3_encoder", "W4_gpt_score", "W5_encoder_b1"};

	return bench_main(argc, argv, "[WORKLOAD[:rows] ...]", defaults,
					  (int) (sizeof(defaults) / sizeof(defaults[0])), bench);
}
