/*
 * sm_ops.h -- the compute seam: every heavy operation of the engine's
 * layers, behind one table of functions per backend (ggml's backend table
 * and llm.c's layer functions are the models).  Layers (nn/) call the
 * sm_op_* functions below and never a BLAS or a device directly; no file
 * outside ops/ includes cblas.
 *
 * Backends.  The CPU backend (sm_ops_cpu.c) is the first: seqmodel's own
 * kernels (sm_gemm.h), chosen from CPUID feature bits (sm_cpu.h), and
 * OpenBLAS where it is chosen; CUDA is to be the second (kernels/).
 *
 * Weights.  A layer's weight is packed once, when the model is built
 * (sm_packed_init, allocated through the hooks, so the glue counts the
 * bytes against seqmodel.cache_size), into the layout the kernels read.
 * The unpacked weights stay (the BLAS kernels and the embedding lookups
 * read them).
 *
 * Threads.  The engine's parallelism is first its tiles (sm_parallel.h);
 * while tiles run on threads, each product runs on its tile's thread.  A
 * product outside them (one tile: a short text, one series) splits over
 * seqmodel.threads through a persistent pool (sm_pool.h) when it is big
 * enough, by output columns or rows, so the bits do not change with the
 * thread count.  OpenBLAS's own pool, for the blas kernels, is sized
 * through sm_ops_set_threads too.
 */
#ifndef SM_OPS_H
#define SM_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sm_core.h"
#include "sm_activ.h"
#include "sm_device.h"
#include "sm_gemm.h"

/* A weight W as a layer uses it: y = x W^T, W [N, K], or [K, N] when in_major. */
typedef struct sm_packed
{
	int			N,				/* output columns */
				K;				/* inputs */
	bool		in_major;		/* w is [K, N] (GPT-2's Conv1D) */
	const float *w;				/* the weights as stored (not owned) */
	float	   *panels;			/* packed (sm_gemm.h), 64-byte aligned, or NULL */
	void	   *raw;			/* the allocation behind panels */
	size_t		pstride;		/* floats between panels */
	uint64_t	key;			/* unique per packing: a device's copy is found by it */
	uint64_t	owner;			/* sm_ops_set_owner's value when packed (0: none) */
} sm_packed;

/* Pack w (kept by reference) for the kernels; failure is out of memory. */
sm_status	sm_packed_init(sm_packed *p, const float *w, int N, int K, bool in_major,
						   sm_error *err);
void		sm_packed_free(sm_packed *p);

/*
 * A view of W's output columns [c0, c0 + n) for a product on the CPU
 * backend's own kernels (not the blas set, not a device: the view has the
 * panels but no stored weights and no device key).  c0 must be a multiple
 * of SM_PANEL, and n too unless the view ends at N; false otherwise, or
 * when W has no panels.  Lets threads share one product by columns.
 */
bool		sm_packed_columns(const sm_packed *W, int c0, int n, sm_packed *view);

/*
 * Multi-head attention over one block of query rows: for each head h (its
 * columns h dh .. h dh + dh - 1 of q, k, v and ctx),
 *   ctx_h = softmax(scale q_h k_h^T) v_h
 * over nk keys; causal: query row i sits at position q0 + i and sees keys
 * 0 .. q0 + i only.  q rows ldq apart, k and v rows ldk apart, ctx ldc.
 */
typedef struct sm_attn
{
	int			heads,
				dh;
	const float *q;
	int			ldq;
	const float *k,
			   *v;
	int			ldk;
	int			nq,				/* query rows in the block */
				nk,				/* keys */
				q0;				/* position of the first query row (causal) */
	bool		causal;
	float		scale;
	float	   *ctx;
	int			ldc;
	/* scratch: `sets` blocks of set_floats (each >= sm_op_attention_scratch), end to end */
	float	   *scratch;
	size_t		set_floats;
	int			sets;

	/*
	 * kv: NULL, or sm_op_attention_kv_scratch(heads, nk, dh) floats where the
	 * CPU kernels keep every head's keys and values packed across the query
	 * blocks of one attention (a sequence of 512 tokens in blocks of 128
	 * packed them 4 times); kv_ready: this call's k, v and nk are those of
	 * the previous call with this kv, which packed them (a later block of
	 * the same queries).  Other backends ignore both.
	 */
	float	   *kv;
	bool		kv_ready;
} sm_attn;

struct sm_backend;

/* floats of scratch one worker of sm_op_attention needs for nq x nk blocks of head size dh */
size_t		sm_op_attention_scratch(int nq, int nk, int dh);

/* the keys a's block sees: all nk, or (causal) up to its last query's position */
static inline int
sm_attention_keys(const sm_attn *a)
{
	return a->causal && a->q0 + a->nq < a->nk ? a->q0 + a->nq : a->nk;
}

/* floats of sm_attn.kv for heads heads of size dh over nk keys */
size_t		sm_op_attention_kv_scratch(int heads, int nk, int dh);

/* head h of a through be's gemm and softmax, in scratch (one set) */
void		sm_attention_head(const struct sm_backend *be, const sm_attn *a, int h, float *scratch);
/* the softmax of head h's scores s (a->nq rows of kn) through be, a causal row's unseen keys zeroed */
void		sm_attention_softmax_rows(const struct sm_backend *be, const sm_attn *a, float *s, int kn);
/* every head, one after another, in the first scratch set */
void		sm_attention_serial(const struct sm_backend *be, const sm_attn *a);

/* The operations of a backend. */
typedef struct sm_backend
{
	const char *name;
	/* y[M, N] = x[M, K] W^T + beta y (beta 0 or 1) */
	void		(*matmul) (const sm_packed *W, const float *x, int ldx, int M, float beta,
						   float *y, int ldy);
	/*
	 * y[M, N] = x1 W1^T + x2 W2^T (W1, W2 with the same N): a recurrent
	 * step's input and state parts in one pass; the bits of matmul(W1, x1,
	 * beta 0) then matmul(W2, x2, beta 1)
	 */
	void		(*matmul2) (const sm_packed *W1, const float *x1, int ldx1, const sm_packed *W2,
							const float *x2, int ldx2, int M, float *y, int ldy);
	/*
	 * y[M, N] = act(x W^T + bias) (bias [N] or NULL): the product with its
	 * epilogue fused (the same bits as matmul then bias_act)
	 */
	void		(*matmul_act) (const sm_packed *W, const float *x, int ldx, int M, float *y,
							   int ldy, const float *bias, sm_act act);
	/*
	 * Activations by activations: C[M, N] = alpha A[M, K] B^T + beta C with
	 * B [N, K] (b_trans) or A B with B [K, N]; beta 0 or 1, alpha != 1 only
	 * with beta 0.  scratch: sm_op_gemm_scratch(N, K) floats, or NULL for
	 * the BLAS kernels.
	 */
	void		(*gemm) (bool b_trans, int M, int N, int K, float alpha, const float *A, int lda,
						 const float *B, int ldb, float beta, float *C, int ldc, float *scratch);
	/* the fused passes (sm_activ.h has their contracts) */
	void		(*bias_act) (float *x, const float *b, size_t rows, int cols, sm_act act);
	void		(*lstm_cell) (const float *g, const float *b, float *c, float *h, int H);
	void		(*gru_cell) (const float *gx, const float *bx, const float *gh, const float *bh,
							 float *h, int H);
	void		(*elman_cell) (const float *g, const float *b, float *h, int H, bool relu);
	void		(*add_layernorm) (float *x, const float *b, const float *g, const float *beta,
								  float eps, size_t rows, int cols, float *out);
	void		(*softmax) (float *x, int n);
	/*
	 * attention of one query block (sm_attn), all heads; with more than one
	 * scratch set, heads may run side by side (the same bits as one)
	 */
	void		(*attention) (const sm_attn *a);
	double		(*logsumexp) (const float *x, int n);
	void		(*set_threads) (int n);
} sm_backend;

/* the backend in use (the CPU one until a device backend is selected) */
extern const sm_backend *sm_ops;
/* the CPU backend (the device backend runs what it does not offload on it) */
extern const sm_backend sm_cpu_backend;

/* floats of scratch sm_op_gemm needs for a B of N x K (as the product uses it) */
size_t		sm_op_gemm_scratch(int N, int K);

static inline void
sm_op_matmul(const sm_packed *W, const float *x, int ldx, int M, float beta, float *y, int ldy)
{
	sm_ops->matmul(W, x, ldx, M, beta, y, ldy);
}

static inline void
sm_op_matmul2(const sm_packed *W1, const float *x1, int ldx1, const sm_packed *W2,
			  const float *x2, int ldx2, int M, float *y, int ldy)
{
	sm_ops->matmul2(W1, x1, ldx1, W2, x2, ldx2, M, y, ldy);
}

static inline void
sm_op_matmul_act(const sm_packed *W, const float *x, int ldx, int M, float *y, int ldy,
				 const float *bias, sm_act act)
{
	sm_ops->matmul_act(W, x, ldx, M, y, ldy, bias, act);
}

static inline void
sm_op_gemm(bool b_trans, int M, int N, int K, float alpha, const float *A, int lda,
		   const float *B, int ldb, float beta, float *C, int ldc, float *scratch)
{
	sm_ops->gemm(b_trans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, scratch);
}

static inline void
sm_op_bias_act(float *x, const float *b, size_t rows, int cols, sm_act act)
{
	sm_ops->bias_act(x, b, rows, cols, act);
}

static inline void
sm_op_lstm_cell(const float *g, const float *b, float *c, float *h, int H)
{
	sm_ops->lstm_cell(g, b, c, h, H);
}

static inline void
sm_op_gru_cell(const float *gx, const float *bx, const float *gh, const float *bh, float *h, int H)
{
	sm_ops->gru_cell(gx, bx, gh, bh, h, H);
}

static inline void
sm_op_elman_cell(const float *g, const float *b, float *h, int H, bool relu)
{
	sm_ops->elman_cell(g, b, h, H, relu);
}

static inline void
sm_op_add_layernorm(float *x, const float *b, const float *g, const float *beta, float eps,
					size_t rows, int cols, float *out)
{
	sm_ops->add_layernorm(x, b, g, beta, eps, rows, cols, out);
}

static inline void
sm_op_softmax(float *x, int n)
{
	sm_ops->softmax(x, n);
}

static inline void
sm_op_attention(const sm_attn *a)
{
	sm_ops->attention(a);
}

static inline double
sm_op_logsumexp(const float *x, int n)
{
	return sm_ops->logsumexp(x, n);
}

/* ---------------------------------------------------------------- CPU kernels */

/*
 * The CPU kernel set: "auto" (the widest this CPU runs: avx512, else avx2,
 * else generic), "avx512", "avx2", "generic" or "blas".  A set this CPU
 * cannot run is SM_ERR_UNSUPPORTED, with the CPU's features in the detail.
 */
sm_status	sm_ops_set_kernels(const char *name, sm_error *err);
sm_kernels	sm_ops_kernels(void);
const char *sm_kernels_name(sm_kernels k);
/* whether this CPU runs that kernel set */
bool		sm_kernels_supported(sm_kernels k);

/* what a user needs to see why a query is slow */
typedef struct sm_ops_info
{
	const char *backend;		/* "cpu" */
	const char *kernels;		/* the set in use */
	const char *kernels_auto;	/* what "auto" picks here */
	char		cpu[64];		/* the CPU's brand string */
	char		features[256];	/* the features the kernels care about, space-separated */
	const char *blas_core;		/* OpenBLAS's core name (its own choice of kernels) */
	int			blas_threads;	/* OpenBLAS's pool size */
} sm_ops_info;

void		sm_ops_describe(sm_ops_info *info);

/* thread count for the engine (sm_set_threads calls this) */
void		sm_ops_set_threads(int n);

/* ---------------------------------------------------------------- a device (sm_ops_device.c) */

/*
 * A device module (sm_device.h) attached to the seam: products go to it by
 * the mode, everything else stays on the CPU backend.
 *   SM_DEVICE_OFF     the CPU backend only
 *   SM_DEVICE_AUTO    products of at least SM_DEVICE_AUTO_MIN_MACS
 *                     multiply-adds whose weight is not too narrow to pay
 *                     for the copies (see sm_ops_device.c)
 *   SM_DEVICE_ALWAYS  every product
 * A product the device fails is computed on the CPU (same answer) and
 * counted in sm_ops_device_status.
 */
typedef enum sm_device_mode
{
	SM_DEVICE_OFF,
	SM_DEVICE_AUTO,
	SM_DEVICE_ALWAYS
} sm_device_mode;

#define SM_DEVICE_AUTO_MIN_MACS (1 << 22)

/* open api's device and attach it; SM_ERR_UNSUPPORTED with the reason when it has none */
sm_status	sm_ops_attach_device(const sm_device_api *api, sm_error *err);
/* release the attached device (its weights, buffers and context) and detach it */
void		sm_ops_detach_device(void);
/* the attached device's table, or NULL */
const sm_device_api *sm_ops_device(void);
/* choose the mode (no device attached: always off) */
void		sm_ops_use_device(sm_device_mode mode);
sm_device_mode sm_ops_device_mode(void);
/* weights packed from now on belong to owner (the glue's cache entry) */
void		sm_ops_set_owner(uint64_t owner);
/* drop owner's device copies (its model left the cache) */
void		sm_ops_forget(uint64_t owner);

typedef struct sm_ops_device_status
{
	sm_device_stats dev;		/* the module's own counters */
	uint64_t	offloaded;		/* products sent to the device */
	uint64_t	fallbacks;		/* of those, computed on the CPU after a device error */
	char		last_error[256];	/* the last device error, or "" */
} sm_ops_device_status;

void		sm_ops_device_status_get(sm_ops_device_status *out);
/* products the device failed so far (read often, cheaply: the glue reports new ones) */
uint64_t	sm_ops_device_failures(void);

/* keys of weights packed from now on count up from next (returns the old
 * counter): the glue gives a model built into shared memory keys of its own */
uint64_t	sm_ops_set_key_base(uint64_t next);
/* for sm_packed_init (ops/ only): a fresh key, and the owner now set */
uint64_t	sm_ops_next_key(void);
uint64_t	sm_ops_current_owner(void);

#endif
