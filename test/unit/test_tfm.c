/*
 * test_tfm.c -- the transformer runner's own invariants (its numbers are
 * checked against PyTorch by the regression tests' fixtures): a packed
 * batch equals each sequence alone, tiles on threads equal one thread,
 * step-by-step decoding with the key/value cache equals the full forward
 * pass, log-probability scores equal log_softmax of the logits, errors,
 * and cancellation.
 */
#include <stdlib.h>

#include "sm_test.h"
#include "sm_tests.h"

#include "nn/sm_tfm.h"

static const char *const gpt2_config =
	"{\"vocab_size\": 37, \"n_positions\": 40, \"n_embd\": 16, \"n_layer\": 2, \"n_head\": 2,"
	" \"architectures\": [\"GPT2LMHeadModel\"], \"n_inner\": null}";

static double
max_rel(const float *a, const float *b, size_t n)
{
	double		num = 0,
				den = 0;

	for (size_t i = 0; i < n; i++)
	{
		num = fmax(num, fabs((double) a[i] - b[i]));
		den = fmax(den, fabs((double) b[i]));
	}
	return num / (den > 0 ? den : 1);
}

static void
fill_ids(int32_t *ids, int n, int V, unsigned seed)
{
	for (int i = 0; i < n; i++)
		ids[i] = (int32_t) ((sm_test_urand(&seed) + 1.0) * 0.5 * (V - 1) + 0.5);
}

/* a packed batch against each sequence alone, at 1 and 2 threads */
static void
test_batch_equals_single(const char *arch, const char *config, sm_tfm_out what)
{
	sm_model   *model = sm_test_make_model(arch, config, 11, 0.5, true);
	const sm_tfm *m = model ? sm_tfm_of(model) : NULL;
	int			lens[4] = {5, 1, 0, 12};
	int32_t		ids[64];
	sm_error	err;

	CHECK(m != NULL);
	if (m == NULL)
		return;
	lens[2] = m->max_len;
	{
		int			n = lens[0] + lens[1] + lens[2] + lens[3];
		int			W = sm_tfm_out_width(m, what);
		bool		per_seq = what == SM_TFM_OUT_SEQUENCE;
		size_t		rows = per_seq ? 4 : (size_t) n;
		float	   *all = calloc(rows * W, sizeof(float));
		float	   *all2 = calloc(rows * W, sizeof(float));
		float	   *one = calloc(rows * W, sizeof(float));
		sm_tfm_batch b = {.B = 4, .lengths = lens, .ids = ids};
		size_t		r = 0;

		fill_ids(ids, n, m->vocab, 5);
		CHECK(sm_tfm_forward(m, &b, what, all, NULL, &err) == SM_OK);
		sm_set_threads(2);
		CHECK(sm_tfm_forward(m, &b, what, all2, NULL, &err) == SM_OK);
		sm_set_threads(1);
		CHECK_MSG(max_rel(all2, all, rows * W) < 1e-6, "%s threads: %g", arch, max_rel(all2, all, rows * W));
		for (int s = 0; s < 4; s++)
		{
			sm_tfm_batch b1 = {.B = 1, .lengths = &lens[s], .ids = ids + r};

			CHECK(sm_tfm_forward(m, &b1, what, one + (per_seq ? (size_t) s : r) * W, NULL, &err) == SM_OK);
			r += (size_t) lens[s];
		}
		CHECK_MSG(max_rel(one, all, rows * W) < 1e-6, "%s batch vs single: %g", arch, max_rel(one, all, rows * W));
		free(all);
		free(all2);
		free(one);
	}
	sm_model_free(model);
}

/* decoding with the cache: the logits of each new token equal the full pass */
static void
test_decode(void)
{
	sm_model   *model = sm_test_make_model("gpt2", gpt2_config, 12, 0.5, false);
	const sm_tfm *m = sm_tfm_of(model);
	int32_t		ids[40];
	int			n = 19;
	float	   *full = malloc(sizeof(float) * 40 * 37);
	float		step[37];
	sm_tfm_batch b = {.B = 1, .lengths = &n, .ids = ids};
	sm_tfm_state *st;
	sm_error	err;
	double		worst = 0;

	fill_ids(ids, 40, 37, 9);
	CHECK(sm_tfm_forward(m, &b, SM_TFM_OUT_LOGITS, full, NULL, &err) == SM_OK);
	CHECK(sm_tfm_state_new(m, 0, &st, &err) == SM_OK);
	CHECK(sm_tfm_decode(m, st, ids, 7, step, &err) == SM_OK);	/* a prompt */
	worst = fmax(worst, max_rel(step, full + 6 * 37, 37));
	for (int t = 7; t < n; t++)
	{
		CHECK(sm_tfm_decode(m, st, ids + t, 1, step, &err) == SM_OK);
		worst = fmax(worst, max_rel(step, full + (size_t) t * 37, 37));
	}
	CHECK_MSG(worst < 1e-5, "decode vs forward: %g", worst);
	CHECK(sm_tfm_state_length(st) == n);
	{
		int32_t		bad = 37;

		CHECK(sm_tfm_decode(m, st, &bad, 1, step, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "token id 37 at position 1 is out of range");
		CHECK(sm_tfm_state_length(st) == n);	/* a refused token leaves the state as it was */
	}

	/* the state holds at most n_positions tokens */
	{
		int32_t		more[40] = {0};

		CHECK(sm_tfm_decode(m, st, more, 40 - n + 1, step, &err) == SM_ERR_LIMIT);
		CHECK(sm_tfm_decode(m, st, more, 40 - n, step, &err) == SM_OK);
	}
	sm_tfm_state_free(st);

	/* scores: sum of log_softmax(logits[t])[ids[t+1]] */
	{
		double		score,
					want = 0;

		for (int t = 0; t + 1 < n; t++)
		{
			const float *lg = full + (size_t) t * 37;
			double		mx = -INFINITY,
						s = 0;

			for (int v = 0; v < 37; v++)
				mx = fmax(mx, lg[v]);
			for (int v = 0; v < 37; v++)
				s += exp(lg[v] - mx);
			want += lg[ids[t + 1]] - mx - log(s);
		}
		CHECK(sm_tfm_forward(m, &b, SM_TFM_OUT_LOGPROB, NULL, &score, &err) == SM_OK);
		CHECK_MSG(fabs(score - want) < 1e-5 * fabs(want), "logprob %g vs %g", score, want);
	}

	/* errors */
	{
		int			len = 41;
		int			zero = 0;
		sm_tfm_batch bad = {.B = 1, .lengths = &len, .ids = ids};

		CHECK(sm_tfm_forward(m, &bad, SM_TFM_OUT_LOGITS, full, NULL, &err) == SM_ERR_LIMIT);
		CHECK_ERR(err, SM_ERR_LIMIT, "more than the model's maximum of 40");
		bad.lengths = &zero;
		CHECK(sm_tfm_forward(m, &bad, SM_TFM_OUT_LOGITS, full, NULL, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "is empty");
		len = 3;
		bad.lengths = &len;
		ids[1] = 37;
		CHECK(sm_tfm_forward(m, &bad, SM_TFM_OUT_LOGITS, full, NULL, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "token id 37 at position 2 is out of range");
		ids[1] = -1;
		CHECK(sm_tfm_forward(m, &bad, SM_TFM_OUT_LOGITS, full, NULL, &err) == SM_ERR_INVALID);
	}
	free(full);
	sm_model_free(model);
}

/*
 * logprob with a vocabulary large enough that the head runs in blocks of
 * fewer rows than the batch (65 536 logits a row: 32 rows a block): blocks
 * that cross sequences, a block boundary inside a sequence, one-token
 * sequences; each score against log_softmax of the logits in double and
 * against the sequence alone, at 1 and 2 threads.
 */
static void
test_logprob_blocks(void)
{
	enum
	{
		V = 65536, NSEQ = 5
	};
	sm_model   *model = sm_test_make_model("gpt2",
										   "{\"vocab_size\": 65536, \"n_positions\": 80, \"n_embd\": 8, \"n_layer\": 1,"
										   " \"n_head\": 2, \"architectures\": [\"GPT2LMHeadModel\"], \"n_inner\": null}",
										   13, 0.5, true);
	const sm_tfm *m = model ? sm_tfm_of(model) : NULL;
	int			lens[NSEQ] = {30, 1, 45, 2, 20};
	int32_t		ids[98];
	double		scores[NSEQ],
				scores2[NSEQ];
	sm_tfm_batch b = {.B = NSEQ, .lengths = lens, .ids = ids};
	sm_error	err;
	size_t		r = 0;

	CHECK(m != NULL);
	if (m == NULL)
		return;
	fill_ids(ids, 98, V, 7);
	CHECK(sm_tfm_forward(m, &b, SM_TFM_OUT_LOGPROB, NULL, scores, &err) == SM_OK);
	sm_set_threads(2);
	CHECK(sm_tfm_forward(m, &b, SM_TFM_OUT_LOGPROB, NULL, scores2, &err) == SM_OK);
	sm_set_threads(1);
	for (int s = 0; s < NSEQ; s++)
	{
		sm_tfm_batch b1 = {.B = 1, .lengths = &lens[s], .ids = ids + r};
		float	   *lg = malloc(sizeof(float) * (size_t) lens[s] * V);
		double		one,
					want = 0;

		CHECK(lg != NULL);
		if (lg == NULL)
			break;
		CHECK(sm_tfm_forward(m, &b1, SM_TFM_OUT_LOGITS, lg, NULL, &err) == SM_OK);
		CHECK(sm_tfm_forward(m, &b1, SM_TFM_OUT_LOGPROB, NULL, &one, &err) == SM_OK);
		for (int t = 0; t + 1 < lens[s]; t++)
		{
			const float *row = lg + (size_t) t * V;
			double		mx = -INFINITY,
						sum = 0;

			for (int v = 0; v < V; v++)
				mx = fmax(mx, row[v]);
			for (int v = 0; v < V; v++)
				sum += exp(row[v] - mx);
			want += row[ids[r + t + 1]] - mx - log(sum);
		}
		if (lens[s] == 1)
			CHECK(scores[s] == 0 && one == 0);
		else
			CHECK_MSG(fabs(scores[s] - want) < 1e-5 * fabs(want), "sequence %d: logprob %g vs %g", s, scores[s], want);
		CHECK_MSG(fabs(scores[s] - one) <= 1e-6 * fabs(one), "sequence %d: batch %.17g vs alone %.17g", s, scores[s], one);
		CHECK_MSG(fabs(scores2[s] - scores[s]) <= 1e-6 * fabs(scores[s]), "sequence %d: 2 threads %g vs %g",
				  s, scores2[s], scores[s]);
		free(lg);
		r += (size_t) lens[s];
	}
	sm_model_free(model);
}

/* stored names with the arch's prefix, optional and ignored tensors */
static void
test_names(void)
{
	const char *cfg = "{\"vocab_size\": 5, \"n_positions\": 4, \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 1}";
	sm_tensor_info t[20];
	int			n = 0;
	sm_error	err;
	const char *names[] = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias",
		"h.0.ln_1.weight", "h.0.ln_1.bias", "h.0.ln_2.weight", "h.0.ln_2.bias",
		"h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias", "h.0.attn.c_proj.weight",
	"h.0.attn.c_proj.bias", "h.0.mlp.c_fc.weight", "h.0.mlp.c_fc.bias", "h.0.mlp.c_proj.weight",
	"h.0.mlp.c_proj.bias"};
	int64_t		shapes[][2] = {{5, 4}, {4, 4}, {4}, {4}, {4}, {4}, {4}, {4}, {4, 12}, {12}, {4, 4}, {4}, {4, 16}, {16}, {16, 4}, {4}};
	char		buf[16][64];

	for (int i = 0; i < 16; i++, n++)
	{
		snprintf(buf[i], sizeof(buf[i]), "transformer.%s", names[i]);
		t[n] = (sm_tensor_info) {.name = buf[i], .dtype = SM_DTYPE_F32, .ndim = shapes[i][1] ? 2 : 1,
		.shape = {shapes[i][0], shapes[i][1]}};
	}
	CHECK(sm_model_check("gpt2", cfg, strlen(cfg), t, n, &err) == SM_OK);
	/* the mask buffer of old checkpoints: ignored, whatever its dtype and shape */
	t[n++] = (sm_tensor_info) {.name = "transformer.h.0.attn.bias", .dtype = SM_DTYPE_BOOL, .ndim = 4, .shape = {1, 1, 4, 4}};
	CHECK(sm_model_check("gpt2", cfg, strlen(cfg), t, n, &err) == SM_OK);
	/* an untied head is checked when present */
	t[n++] = (sm_tensor_info) {.name = "lm_head.weight", .dtype = SM_DTYPE_F32, .ndim = 2, .shape = {5, 3}};
	CHECK(sm_model_check("gpt2", cfg, strlen(cfg), t, n, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "tensor \"lm_head.weight\" has shape [5, 3], expected [5, 4]");
	t[n - 1].shape[1] = 4;
	CHECK(sm_model_check("gpt2", cfg, strlen(cfg), t, n, &err) == SM_OK);
	/* one tensor under both names */
	t[n++] = (sm_tensor_info) {.name = "wte.weight", .dtype = SM_DTYPE_F32, .ndim = 2, .shape = {5, 4}};
	CHECK(sm_model_check("gpt2", cfg, strlen(cfg), t, n, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "tensor \"wte.weight\" appears twice");
	/* id2label with a key twice: the strict JSON parser refuses it, so every label id is set once */
	{
		const char *bcfg = "{\"vocab_size\": 5, \"hidden_size\": 4, \"num_hidden_layers\": 1,"
			" \"num_attention_heads\": 1, \"intermediate_size\": 4, \"id2label\": {\"0\": \"a\", \"0\": \"b\"}}";

		CHECK(sm_model_check("bert", bcfg, strlen(bcfg), t, 0, &err) == SM_ERR_INVALID);
		CHECK_ERR(err, SM_ERR_INVALID, "duplicate object key \"0\"");
	}
	/* a missing required tensor */
	CHECK(sm_model_check("gpt2", cfg, strlen(cfg), t + 1, 15, &err) == SM_ERR_INVALID);
	CHECK_ERR(err, SM_ERR_INVALID, "tensor \"wte.weight\" is missing");
}

/* the bound: sequences of 2048 tokens run, in blocks, within memory */
static void
test_long(void)
{
	const char *cfg = "{\"vocab_size\": 50, \"n_positions\": 2048, \"n_embd\": 16, \"n_layer\": 1, \"n_head\": 2}";
	sm_model   *model = sm_test_make_model("gpt2", cfg, 14, 0.5, false);
	const sm_tfm *m = sm_tfm_of(model);
	int			n = 2048;
	int32_t    *ids = malloc(sizeof(int32_t) * n);
	float	   *full = malloc(sizeof(float) * (size_t) n * 50);
	float		last[50];
	sm_tfm_batch b = {.B = 1, .lengths = &n, .ids = ids};
	sm_tfm_state *st;
	sm_error	err;

	fill_ids(ids, n, 50, 21);
	CHECK(sm_tfm_forward(m, &b, SM_TFM_OUT_LOGITS, full, NULL, &err) == SM_OK);
	CHECK(sm_tfm_state_new(m, 0, &st, &err) == SM_OK);
	CHECK(sm_tfm_decode(m, st, ids, n - 1, last, &err) == SM_OK);
	CHECK(sm_tfm_decode(m, st, ids + n - 1, 1, last, &err) == SM_OK);
	CHECK_MSG(max_rel(last, full + (size_t) (n - 1) * 50, 50) < 1e-5, "2048 tokens: decode vs forward %g",
			  max_rel(last, full + (size_t) (n - 1) * 50, 50));
	sm_tfm_state_free(st);
	free(ids);
	free(full);
	sm_model_free(model);
}

static int	abort_countdown = -1;

static bool
abort_after(void)
{
	return abort_countdown >= 0 && abort_countdown-- == 0;
}

static void
test_cancel(void)
{
	sm_model   *model = sm_test_make_model("gpt2", gpt2_config, 13, 0.5, false);
	const sm_tfm *m = sm_tfm_of(model);
	sm_hooks	hooks = {.alloc = malloc, .free = free, .should_abort = abort_after};
	int32_t		ids[40];
	int			n = 40;
	float	   *out = malloc(sizeof(float) * 40 * 37);
	sm_tfm_batch b = {.B = 1, .lengths = &n, .ids = ids};
	sm_error	err;

	fill_ids(ids, 40, 37, 3);
	sm_set_hooks(&hooks);
	abort_countdown = 1;		/* stop at the second layer */
	CHECK(sm_tfm_forward(m, &b, SM_TFM_OUT_LOGITS, out, NULL, &err) == SM_ERR_ABORTED);
	abort_countdown = -1;
	CHECK(sm_tfm_forward(m, &b, SM_TFM_OUT_LOGITS, out, NULL, &err) == SM_OK);
	sm_set_hooks(NULL);
	free(out);
	sm_model_free(model);
}

/*
 * One sequence long enough that its attention's heads run side by side on
 * the product threads (ops/sm_ops_cpu.c): the same bits at 1, 2 and 3
 * threads, causal (gpt2) and not (transformer).  Run first in a process it
 * also caught the first pass's embedding norm running on another build of
 * the activations than every later pass (ops/sm_activ.c).
 */
static void
test_heads_threads(const char *arch, const char *config, int len, sm_tfm_out what)
{
	sm_model   *model = sm_test_make_model(arch, config, 17, 0.5, true);
	const sm_tfm *m = model ? sm_tfm_of(model) : NULL;
	int32_t	   *ids = malloc(sizeof(int32_t) * (size_t) len);
	sm_error	err;

	CHECK(m != NULL && ids != NULL);
	if (m == NULL || ids == NULL)
	{
		free(ids);
		sm_model_free(model);
		return;
	}
	fill_ids(ids, len, m->vocab, 9);
	{
		int			W = sm_tfm_out_width(m, what);
		size_t		rows = what == SM_TFM_OUT_SEQUENCE ? 1 : (size_t) len;
		float	   *one = calloc(rows * W, sizeof(float)),
				   *many = calloc(rows * W, sizeof(float));
		sm_tfm_batch b = {.B = 1, .lengths = &len, .ids = ids};

		CHECK(sm_tfm_forward(m, &b, what, one, NULL, &err) == SM_OK);
		for (int t = 2; t <= 3; t++)
		{
			sm_set_threads(t);
			memset(many, 0, sizeof(float) * rows * W);
			CHECK(sm_tfm_forward(m, &b, what, many, NULL, &err) == SM_OK);
			/* OpenBLAS's products change in the last bits with its thread count */
			if (sm_ops_kernels() == SM_KERNELS_BLAS)
				CHECK_MSG(max_rel(many, one, rows * W) < 1e-6, "%s, one sequence of %d, blas: %g",
						  arch, len, max_rel(many, one, rows * W));
			else
				CHECK_MSG(memcmp(one, many, sizeof(float) * rows * W) == 0,
						  "%s, one sequence of %d: %d threads differ from 1", arch, len, t);
		}
		sm_set_threads(1);
		free(one);
		free(many);
	}
	free(ids);
	sm_model_free(model);
}

void
test_tfm(void)
{
	test_heads_threads("gpt2",
					   "{\"vocab_size\": 37, \"n_positions\": 200, \"n_embd\": 64, \"n_layer\": 1,"
					   " \"n_head\": 4, \"architectures\": [\"GPT2LMHeadModel\"], \"n_inner\": null}",
					   180, SM_TFM_OUT_LOGITS);
	test_heads_threads("transformer",
					   "{\"vocab_size\": 30, \"d_model\": 64, \"nhead\": 4, \"num_layers\": 1,"
					   " \"dim_feedforward\": 32, \"positional\": \"learned\", \"max_len\": 300,"
					   " \"pooling\": \"mean\", \"output_size\": 3, \"activation\": \"gelu\"}",
					   290, SM_TFM_OUT_SEQUENCE);
	test_batch_equals_single("gpt2", gpt2_config, SM_TFM_OUT_LOGITS);
	test_batch_equals_single("bert",
							 "{\"vocab_size\": 50, \"hidden_size\": 12, \"num_hidden_layers\": 2,"
							 " \"num_attention_heads\": 3, \"intermediate_size\": 20,"
							 " \"max_position_embeddings\": 33, \"id2label\": {\"0\": \"a\", \"1\": \"b\", \"2\": \"c\"}}",
							 SM_TFM_OUT_SEQUENCE);
	test_batch_equals_single("transformer",
							 "{\"vocab_size\": 30, \"d_model\": 8, \"nhead\": 2, \"num_layers\": 2,"
							 " \"dim_feedforward\": 16, \"positional\": \"learned\", \"max_len\": 20,"
							 " \"pooling\": \"mean\", \"output_size\": 3, \"activation\": \"gelu\"}",
							 SM_TFM_OUT_SEQUENCE);
	test_batch_equals_single("transformer",
							 "{\"vocab_size\": 30, \"d_model\": 8, \"nhead\": 2, \"num_layers\": 1,"
							 " \"norm_first\": true, \"causal\": true, \"max_len\": 24}",
							 SM_TFM_OUT_HIDDEN);
	test_decode();
	test_logprob_blocks();
	test_names();
	test_long();
	test_cancel();
}
