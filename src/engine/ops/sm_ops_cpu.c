/*
 * sm_ops_cpu.c -- the CPU backend of the compute seam (sm_ops.h): products
 * on seqmodel's own kernels (sm_gemm.c) or on OpenBLAS, the fused passes of
 * sm_activ.c, and the choice of kernel set.  The only engine file that
 * calls OpenBLAS, with sm_blas.h the only one that includes it.
 */
#include "sm_ops.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sm_blas.h"
#include "sm_cpu.h"
#include "sm_pool.h"

/* the set in use: chosen on first use (auto) or by sm_ops_set_kernels */
static sm_kernels kernels = SM_KERNELS_GENERIC;
static bool kernels_chosen = false;

static sm_kernels
auto_kernels(void)
{
	const sm_cpu_features *f = sm_cpu();

	return f->avx512f ? SM_KERNELS_AVX512 : f->avx2_fma ? SM_KERNELS_AVX2 : SM_KERNELS_GENERIC;
}

/* the fused passes follow the kernel set: the FMA build with avx2, the AVX-512 one with avx512 */
static void
choose(sm_kernels k)
{
	kernels = k;
	kernels_chosen = true;
	sm_activ_use(k == SM_KERNELS_AVX512 ? SM_ACTIV_AVX512 :
				 k == SM_KERNELS_AVX2 ? SM_ACTIV_FMA : SM_ACTIV_BASE);
}

static inline sm_kernels
current(void)
{
	if (!kernels_chosen)
		choose(auto_kernels());
	return kernels;
}

const char *
sm_kernels_name(sm_kernels k)
{
	switch (k)
	{
		case SM_KERNELS_GENERIC:
			return "generic";
		case SM_KERNELS_AVX2:
			return "avx2";
		case SM_KERNELS_AVX512:
			return "avx512";
		case SM_KERNELS_BLAS:
			return "blas";
	}
	return "?";
}

bool
sm_kernels_supported(sm_kernels k)
{
	switch (k)
	{
		case SM_KERNELS_AVX512:
			return sm_cpu()->avx512f;
		case SM_KERNELS_AVX2:
			return sm_cpu()->avx2_fma;
		default:
			return true;
	}
}

sm_kernels
sm_ops_kernels(void)
{
	return current();
}

sm_status
sm_ops_set_kernels(const char *name, sm_error *err)
{
	static const sm_kernels all[] = {SM_KERNELS_AVX512, SM_KERNELS_AVX2, SM_KERNELS_GENERIC, SM_KERNELS_BLAS};

	if (strcmp(name, "auto") == 0)
	{
		choose(auto_kernels());
		return SM_OK;
	}
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(name, sm_kernels_name(all[i])) == 0)
		{
			if (!sm_kernels_supported(all[i]))
			{
				char		feats[256];

				sm_cpu_feature_list(feats, sizeof(feats));
				sm_fail(err, SM_ERR_UNSUPPORTED, "this CPU cannot run the %s kernels", name);
				sm_detail(err, "The %s kernels need %s; this CPU has: %s.", name,
						  all[i] == SM_KERNELS_AVX512 ? "AVX-512F" : "AVX2 and FMA", feats);
				sm_hint(err, "Use \"auto\", or one of the kernel sets this CPU supports.");
				return err->code;
			}
			choose(all[i]);
			return SM_OK;
		}
	sm_fail(err, SM_ERR_INVALID, "unknown CPU kernel set \"%s\"", name);
	sm_detail(err, "Known kernel sets are: auto, avx512, avx2, generic, blas.");
	return err->code;
}

/* ---------------------------------------------------------------- weights */

/* the kernels read panels with aligned loads: round up to 64 bytes (16 spare floats allocated) */
static inline float *
align64(void *p)
{
	return (float *) (((uintptr_t) p + 63) & ~(uintptr_t) 63);
}

sm_status
sm_packed_init(sm_packed *p, const float *w, int N, int K, bool in_major, sm_error *err)
{
	size_t		floats = sm_pack_floats(N, K);

	memset(p, 0, sizeof(*p));
	p->N = N;
	p->K = K;
	p->in_major = in_major;
	p->w = w;
	p->pstride = sm_pack_stride(K);
	p->key = sm_ops_next_key();
	p->owner = sm_ops_current_owner();
	p->raw = sm_alloc_array(floats + 16, sizeof(float));
	if (p->raw == NULL)
	{
		sm_fail(err, SM_ERR_NOMEM, "out of memory packing a weight");
		sm_detail(err, "A weight of %d x %d needs %zu kB packed.", N, K, (floats * sizeof(float)) >> 10);
		return err->code;
	}
	p->panels = align64(p->raw);
	sm_pack_into(p->panels, w, in_major ? N : K, N, K, in_major);
	return SM_OK;
}

void
sm_packed_free(sm_packed *p)
{
	sm_free(p->raw);
	p->raw = NULL;
	p->panels = NULL;
}

bool
sm_packed_columns(const sm_packed *W, int c0, int n, sm_packed *view)
{
	if (W->panels == NULL || c0 < 0 || n <= 0 || c0 + n > W->N || c0 % SM_PANEL != 0 ||
		(n % SM_PANEL != 0 && c0 + n != W->N))
		return false;
	*view = *W;
	view->N = n;
	view->w = NULL;
	view->raw = NULL;
	view->panels = W->panels + (size_t) (c0 / SM_PANEL) * W->pstride;
	view->key = 0;
	return true;
}

/* ---------------------------------------------------------------- products */

/*
 * Threads for one product: seqmodel.threads, except while tiles run on
 * threads of their own (sm_par_run sets 1 then), and only for products big
 * enough to pay for the hand-off.
 */
static int	product_threads = 1;

#define PARALLEL_MIN_MACS (1 << 21)	/* multiply-adds: about 25 us on one core */

typedef struct product_job
{
	sm_kernels	k;
	const float *P;
	size_t		ps;
	int			N,
				K,
				M,
				ldx,
				ldy,
				parts;
	bool		by_rows;
	const float *x;
	float		alpha,
				beta;
	float	   *y;
	const sm_gemm_epi *epi;
	const sm_gemm_seg *s2;		/* a second operand pair (sm_gemm_packed2), or NULL */
} product_job;

/* rows [m0, m1) of panels [p0, p1) of a job's product */
static void
product_block(const product_job *j, int p0, int p1, int m0, int m1)
{
	int			n0 = p0 * SM_PANEL,
				n1 = p1 * SM_PANEL < j->N ? p1 * SM_PANEL : j->N;
	sm_gemm_epi part_epi;

	if (n1 <= n0)
		return;
	if (j->s2)
	{
		sm_gemm_seg s2 = sm_gemm_seg_at(j->s2, p0, 0);

		sm_gemm_packed2(j->k, j->P + (size_t) p0 * j->ps, j->ps, n1 - n0, j->K, j->x, j->ldx,
						&s2, m0, m1, j->y + n0, j->ldy);
		return;
	}
	if (j->epi)
	{
		part_epi = *j->epi;
		if (part_epi.bias)
			part_epi.bias += n0;
	}
	sm_gemm_packed_epi(j->k, j->P + (size_t) p0 * j->ps, j->ps, n1 - n0, j->K, j->x, j->ldx,
					   m0, m1, j->alpha, j->beta, j->y + n0, j->ldy, j->epi ? &part_epi : NULL);
}

/* part i of a product: a range of rows, or of panels (every output the same either way) */
static void
product_part(void *arg, int i)
{
	const product_job *j = arg;
	int			panels = (j->N + SM_PANEL - 1) / SM_PANEL;

	if (j->by_rows)
		product_block(j, 0, panels, (int) ((long) j->M * i / j->parts),
					  (int) ((long) j->M * (i + 1) / j->parts));
	else
		product_block(j, panels * i / j->parts, panels * (i + 1) / j->parts, 0, j->M);
}

static void
product(sm_kernels k, const float *P, size_t ps, int N, int K, const float *x, int ldx, int M,
		float alpha, float beta, float *y, int ldy, const sm_gemm_epi *epi,
		const sm_gemm_seg *s2)
{
	int			threads = product_threads;
	int			panels = (N + SM_PANEL - 1) / SM_PANEL;
	product_job j;

	j.s2 = s2;
	j.epi = epi;
	j.k = k;
	j.P = P;
	j.ps = ps;
	j.N = N;
	j.K = K;
	j.M = M;
	j.x = x;
	j.ldx = ldx;
	j.alpha = alpha;
	j.beta = beta;
	j.y = y;
	j.ldy = ldy;
	if (threads <= 1 || (double) M * N * (K + (s2 ? s2->K : 0)) < PARALLEL_MIN_MACS)
	{
		product_block(&j, 0, panels, 0, M);
		return;
	}
	/* columns when there are enough panels (the input rows are shared), else rows */
	j.by_rows = panels < 2 * threads;
	j.parts = j.by_rows ? (M < threads ? M : threads) : threads;
	sm_pool_run(threads, j.parts, product_part, &j);
}

static void
cpu_matmul(const sm_packed *W, const float *x, int ldx, int M, float beta, float *y, int ldy)
{
	sm_kernels k = current();

	if (M <= 0)
		return;
	if (k != SM_KERNELS_BLAS && W->panels != NULL)
	{
		product(k, W->panels, W->pstride, W->N, W->K, x, ldx, M, 1.0f, beta, y, ldy, NULL, NULL);
		return;
	}
	/* sgemv for one row, where sgemm's set-up costs more */
	if (M == 1 && !W->in_major)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, W->N, W->K, 1.0f, W->w, W->K, x, 1, beta, y, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, W->in_major ? CblasNoTrans : CblasTrans,
					M, W->N, W->K, 1.0f, x, ldx, W->w, W->in_major ? W->N : W->K, beta, y, ldy);
}

static void
cpu_matmul2(const sm_packed *W1, const float *x1, int ldx1, const sm_packed *W2, const float *x2,
			int ldx2, int M, float *y, int ldy)
{
	sm_kernels k = current();

	if (M <= 0)
		return;
	if (k != SM_KERNELS_BLAS && W1->panels != NULL && W2->panels != NULL)
	{
		sm_gemm_seg s2 = {W2->panels, W2->pstride, W2->K, x2, ldx2};

		product(k, W1->panels, W1->pstride, W1->N, W1->K, x1, ldx1, M, 1.0f, 0.0f, y, ldy, NULL, &s2);
		return;
	}
	cpu_matmul(W1, x1, ldx1, M, 0.0f, y, ldy);
	cpu_matmul(W2, x2, ldx2, M, 1.0f, y, ldy);
}

size_t
sm_op_gemm_scratch(int N, int K)
{
	return sm_pack_floats(N, K) + 16;
}

static void
cpu_gemm(bool b_trans, int M, int N, int K, float alpha, const float *A, int lda,
		 const float *B, int ldb, float beta, float *C, int ldc, float *scratch)
{
	sm_kernels k = current();

	if (M <= 0 || N <= 0)
		return;
	if (k != SM_KERNELS_BLAS && scratch != NULL)
	{
		float	   *P = align64(scratch);

		sm_pack_into(P, B, ldb, N, K, !b_trans);
		product(k, P, sm_pack_stride(K), N, K, A, lda, M, alpha, beta, C, ldc, NULL, NULL);
		return;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, b_trans ? CblasTrans : CblasNoTrans, M, N, K,
				alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---------------------------------------------------------------- attention */

/* a product on the calling thread only (inside a pool item: no nested pool) */
static void
gemm_here(bool b_trans, int M, int N, int K, float alpha, const float *A, int lda,
		  const float *B, int ldb, float beta, float *C, int ldc, float *scratch)
{
	float	   *P = align64(scratch);

	if (M <= 0 || N <= 0)
		return;
	sm_pack_into(P, B, ldb, N, K, !b_trans);
	sm_gemm_packed(current(), P, sm_pack_stride(K), N, K, A, lda, 0, M, alpha, beta, C, ldc);
}

static const sm_backend cpu_here = {.name = "cpu (one thread)", .gemm = gemm_here, .softmax = sm_softmax};

/*
 * Head h with its keys and values packed in a->kv (sm_attn), once per
 * attention: the first query block packs all nk keys, later ones
 * (kv_ready) reuse them.  A block that sees fewer keys (causal) reads the
 * first kn of them: the score columns past kn and the value rows past kn
 * are never used, so the bits are those of packing kn keys per block.
 * here: on a pool thread (no nested pool), else the product may split.
 */
static void
attention_head_kv(const sm_attn *a, int h, float *scratch, bool here)
{
	const sm_kernels k = current();
	const size_t kfl = sm_op_gemm_scratch(a->nk, a->dh),
				vfl = sm_op_gemm_scratch(a->dh, a->nk);
	float	   *base = a->kv + (size_t) h * (kfl + vfl);
	float	   *pk = align64(base),
			   *pv = align64(base + kfl);
	const size_t ks = sm_pack_stride(a->dh),
				vs = sm_pack_stride(a->nk);
	const int	kn = sm_attention_keys(a);
	float	   *s = scratch;
	float	   *c = a->ctx + (size_t) h * a->dh;
	const float *q = a->q + (size_t) h * a->dh;

	if (!a->kv_ready)
	{
		sm_pack_into(pk, a->k + (size_t) h * a->dh, a->ldk, a->nk, a->dh, false);
		sm_pack_into(pv, a->v + (size_t) h * a->dh, a->ldk, a->dh, a->nk, true);
	}
	if (here)
		sm_gemm_packed(k, pk, ks, kn, a->dh, q, a->ldq, 0, a->nq, a->scale, 0.0f, s, kn);
	else
		product(k, pk, ks, kn, a->dh, q, a->ldq, a->nq, a->scale, 0.0f, s, kn, NULL, NULL);
	sm_attention_softmax_rows(&sm_cpu_backend, a, s, kn);
	if (here)
		sm_gemm_packed(k, pv, vs, a->dh, kn, s, kn, 0, a->nq, 1.0f, 0.0f, c, a->ldc);
	else
		product(k, pv, vs, a->dh, kn, s, kn, a->nq, 1.0f, 0.0f, c, a->ldc, NULL, NULL);
}

typedef struct attn_job
{
	const sm_attn *a;
	int			parts;
} attn_job;

/* part i: heads i, i + parts, ... in scratch set i (the parts' outputs are disjoint columns) */
static void
attn_part(void *arg, int i)
{
	const attn_job *j = arg;
	float	   *scratch = j->a->scratch + (size_t) i * j->a->set_floats;

	for (int h = i; h < j->a->heads; h += j->parts)
		if (j->a->kv)
			attention_head_kv(j->a, h, scratch, true);
		else
			sm_attention_head(&cpu_here, j->a, h, scratch);
}

/*
 * Heads side by side over the product threads when the block is one tile's
 * (its products would each be too small to split: a 128-token sequence's
 * per-head products are 1M multiply-adds) and there is a scratch set per
 * thread; else head after head, each product splitting as it may.  Every
 * head is computed by the same kernels in the same order either way.
 */
static void
cpu_attention(const sm_attn *a)
{
	int			parts = a->sets < product_threads ? a->sets : product_threads;
	double		macs = 2.0 * a->nq * a->nk * a->dh * a->heads;

	if (parts > a->heads)
		parts = a->heads;
	if (current() == SM_KERNELS_BLAS)
	{
		sm_attention_serial(&sm_cpu_backend, a);	/* OpenBLAS packs for itself */
		return;
	}
	if (parts <= 1 || macs < PARALLEL_MIN_MACS)
	{
		for (int h = 0; h < a->heads; h++)
			if (a->kv)
				attention_head_kv(a, h, a->scratch, false);
			else
				sm_attention_head(&sm_cpu_backend, a, h, a->scratch);
		return;
	}
	{
		attn_job	j = {.a = a, .parts = parts};

		sm_pool_run(product_threads, parts, attn_part, &j);
	}
}

/*
 * The row-wise passes (bias + activation, residual + layer norm) split over
 * the product threads by rows when there is enough work (exact GELU costs
 * about 1.6 ns per element): at batch 1 they were the serial part left
 * between split products, and rows are independent, so the bits are the same.
 */
#define PARALLEL_MIN_ELEMS (1 << 16)

typedef struct rows_job
{
	float	   *x;
	const float *b,
			   *g,
			   *beta;
	float		eps;
	size_t		rows;
	int			cols,
				parts;
	sm_act		act;
	bool		layernorm;
	float	   *out;
} rows_job;

static void
rows_part(void *arg, int i)
{
	const rows_job *j = arg;
	size_t		r0 = j->rows * (size_t) i / (size_t) j->parts,
				r1 = j->rows * (size_t) (i + 1) / (size_t) j->parts;
	size_t		off = r0 * (size_t) j->cols;

	if (r1 <= r0)
		return;
	if (j->layernorm)
		sm_add_layernorm(j->x + off, j->b, j->g, j->beta, j->eps, r1 - r0, j->cols, j->out + off);
	else
		sm_bias_act(j->x + off, j->b, r1 - r0, j->cols, j->act);
}

static int
rows_parts(size_t rows, int cols)
{
	if (product_threads <= 1 || rows < 2 || rows * (size_t) cols < PARALLEL_MIN_ELEMS)
		return 1;
	return rows < (size_t) product_threads ? (int) rows : product_threads;
}

static void
cpu_bias_act(float *x, const float *b, size_t rows, int cols, sm_act act)
{
	rows_job	j = {.x = x, .b = b, .rows = rows, .cols = cols, .act = act};

	j.parts = act == SM_ACT_IDENTITY && b == NULL ? 1 : rows_parts(rows, cols);
	if (j.parts <= 1)
		sm_bias_act(x, b, rows, cols, act);
	else
		sm_pool_run(product_threads, j.parts, rows_part, &j);
}

static void
cpu_matmul_act(const sm_packed *W, const float *x, int ldx, int M, float *y, int ldy,
			   const float *bias, sm_act act)
{
	sm_kernels k = current();

	if (M <= 0)
		return;
	if (k != SM_KERNELS_BLAS && W->panels != NULL)
	{
		sm_gemm_epi epi = {.bias = bias, .act = act};

		product(k, W->panels, W->pstride, W->N, W->K, x, ldx, M, 1.0f, 0.0f, y, ldy,
				bias == NULL && act == SM_ACT_IDENTITY ? NULL : &epi, NULL);
		return;
	}
	cpu_matmul(W, x, ldx, M, 0.0f, y, ldy);
	if (bias == NULL && act == SM_ACT_IDENTITY)
		return;
	if (ldy == W->N)
		cpu_bias_act(y, bias, (size_t) M, W->N, act);
	else
		sm_bias_act_ld(y, (size_t) ldy, bias, (size_t) M, W->N, act);
}

static void
cpu_add_layernorm(float *x, const float *b, const float *g, const float *beta, float eps,
				  size_t rows, int cols, float *out)
{
	rows_job	j = {.x = x, .b = b, .g = g, .beta = beta, .eps = eps, .rows = rows, .cols = cols,
	.layernorm = true, .out = out};

	j.parts = rows_parts(rows, cols);
	if (j.parts <= 1)
		sm_add_layernorm(x, b, g, beta, eps, rows, cols, out);
	else
		sm_pool_run(product_threads, j.parts, rows_part, &j);
}

static void
cpu_set_threads(int n)
{
	product_threads = n < 1 ? 1 : n;
	openblas_set_num_threads(n);
}

void
sm_ops_describe(sm_ops_info *info)
{
	memset(info, 0, sizeof(*info));
	info->backend = "cpu";
	info->kernels = sm_kernels_name(current());
	info->kernels_auto = sm_kernels_name(auto_kernels());
	sm_cpu_brand(info->cpu, sizeof(info->cpu));
	sm_cpu_feature_list(info->features, sizeof(info->features));
	info->blas_core = openblas_get_corename();
	info->blas_threads = openblas_get_num_threads();
}

const sm_backend sm_cpu_backend = {
	.name = "cpu",
	.matmul = cpu_matmul,
	.matmul2 = cpu_matmul2,
	.matmul_act = cpu_matmul_act,
	.gemm = cpu_gemm,
	.bias_act = cpu_bias_act,
	.lstm_cell = sm_lstm_cell,
	.gru_cell = sm_gru_cell,
	.elman_cell = sm_elman_cell,
	.add_layernorm = cpu_add_layernorm,
	.softmax = sm_softmax,
	.attention = cpu_attention,
	.logsumexp = sm_logsumexp,
	.set_threads = cpu_set_threads,
};

const sm_backend *sm_ops = &sm_cpu_backend;

void
sm_ops_set_threads(int n)
{
	sm_ops->set_threads(n);
}
