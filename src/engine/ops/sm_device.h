/*
 * sm_device.h -- what a device module (seqmodel_cuda.so, built from
 * kernels/) gives the engine: a table of plain C functions, so neither side
 * includes the other's headers (CUDA's never meet postgres.h or the engine's
 * callers) and the extension runs where the module or its libraries are
 * absent.  The glue loads the module with dlopen on first use (never in the
 * postmaster: a CUDA context does not survive fork), calls its entry point
 * SM_DEVICE_ENTRY, and hands the table to sm_ops_attach_device (sm_ops.h).
 *
 * Every function returns 0 on success, or nonzero with a message in
 * msg[len] (what failed, in a sentence fragment: "cudaMalloc of 64 MB
 * failed: out of memory").  A product that fails on the device is
 * computed on the CPU instead and the failure counted (sm_ops_device_stats),
 * so a query never returns a wrong or missing answer because of the device.
 *
 * Weights.  A weight is identified by key (unique for the process's life,
 * sm_packed.key) and owner (the cache entry it belongs to, sm_packed.owner);
 * the module uploads it on first use and keeps it, least recently used
 * first out, within the budget set by set_cache_bytes; forget(owner) frees
 * an owner's weights when the model leaves the cache.
 *
 * Life cycle.  open creates the device context (about 0.5 GiB of GPU
 * memory on a current NVIDIA GPU, whatever the models); release frees every
 * weight, buffer and the context itself, after which open may be called
 * again.  The glue counts the backends that hold a context
 * (seqmodel.gpu_max_backends) from the first open to release or exit.
 *
 * Precision.  set_precision chooses how products run: SM_DEVICE_FP32
 * (float32 multiplies and sums, no tensor-core shortcuts), SM_DEVICE_TF32
 * (float32 in and out, tensor cores on 10-bit mantissas) or SM_DEVICE_BF16
 * (inputs rounded to bfloat16, float32 sums).
 */
#ifndef SM_DEVICE_H
#define SM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_DEVICE_ABI 2
#define SM_DEVICE_ENTRY "seqmodel_device_api"

typedef enum sm_device_precision
{
	SM_DEVICE_FP32 = 0,
	SM_DEVICE_TF32 = 1,
	SM_DEVICE_BF16 = 2
} sm_device_precision;

typedef struct sm_device_stats
{
	size_t		cached_bytes;	/* weights resident on the device */
	size_t		cache_limit;	/* the budget */
	size_t		buffer_bytes;	/* staging buffers for activations */
	size_t		free_bytes;		/* the device's free memory (all processes), 0 if unknown */
	size_t		total_bytes;	/* the device's memory, 0 if unknown */
	uint64_t	uploads;		/* weights uploaded (misses) */
	uint64_t	products;		/* products run on the device */
	uint64_t	evictions;		/* weights evicted for the budget */
} sm_device_stats;

typedef struct sm_device_api
{
	int			abi;			/* SM_DEVICE_ABI */
	const char *name;			/* "cuda" */

	/* find and open the device (first use only); the reason when there is none */
	int			(*open) (char *msg, size_t len);
	/* one line: device name, memory, runtime and driver versions */
	void		(*describe) (char *buf, size_t len);

	/*
	 * y[M, N] = x[M, K] W^T + beta y (beta 0 or 1), W as stored: [N, K]
	 * row-major, or [K, N] when in_major.  x, y are host memory.
	 */
	int			(*matmul) (uint64_t key, uint64_t owner, const float *w, int N, int K,
						   bool in_major, const float *x, int ldx, int M, float beta,
						   float *y, int ldy, char *msg, size_t len);
	/* C[M, N] = alpha A B^T + beta C (B [N, K], b_trans) or alpha A B (B [K, N]) */
	int			(*gemm) (bool b_trans, int M, int N, int K, float alpha, const float *A,
						 int lda, const float *B, int ldb, float beta, float *C, int ldc,
						 char *msg, size_t len);

	void		(*forget) (uint64_t owner);
	void		(*set_cache_bytes) (size_t bytes);
	void		(*stats) (sm_device_stats *out);

	/* an sm_device_precision for the products from now on */
	int			(*set_precision) (int precision, char *msg, size_t len);
	/* bytes of owner's weights on the device */
	size_t		(*owner_bytes) (uint64_t owner);
	/* free every weight and buffer and the context; open may follow */
	void		(*release) (void);
} sm_device_api;

/* the module's one exported symbol, named SM_DEVICE_ENTRY */
typedef const sm_device_api *(*sm_device_entry_fn) (void);

#endif
