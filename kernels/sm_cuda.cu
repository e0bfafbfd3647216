/*
 * sm_cuda.cu -- seqmodel's CUDA device module (seqmodel_cuda.so): the
 * sm_device.h table on the CUDA runtime and cuBLAS.
 *
 * Loaded by the extension with dlopen on first GPU use, in the backend that
 * needs it (never in the postmaster), so seqmodel.so itself links no CUDA
 * library and runs where there is none.  This file includes no PostgreSQL
 * header (PostgreSQL's float4 typedef clashes with CUDA's) and no engine
 * header but sm_device.h, which is plain C types.
 *
 * What it does now (first part of the issue "CUDA offload inside the
 * backend"): the products.  A weight is uploaded once per (key, owner) and
 * kept on the device, least recently used first out, within the budget
 * (seqmodel.gpu_cache_size); activations are staged through device buffers
 * that grow as needed; cublasGemmEx runs on float32 operands with the compute
 * type of seqmodel.gpu_precision: fp32 pedantic (no TF32, whatever
 * NVIDIA_TF32_OVERRIDE says: float32 products in cuBLAS's own summation
 * order), tf32 or bf16 (tensor cores on the inputs rounded to TF32 or
 * bfloat16, float32 sums).  One lock serialises the module: the engine's
 * tile threads share one handle and one stream.  release frees everything
 * and resets the device, which frees this process's context (about 0.5 GiB).
 *
 * Next (see CHANGELOG.md): the recurrent step, layer norm, GELU, softmax and
 * attention as kernels here, so a forward pass keeps its activations on the
 * device instead of copying each product's input and output.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C"
{
#include "ops/sm_device.h"
}

namespace
{

struct weight
{
	uint64_t	key;
	uint64_t	owner;
	float	   *d;
	size_t		bytes;
	uint64_t	used;			/* tick of the last use */
	weight	   *next;
};

struct buffer
{
	float	   *d;
	size_t		bytes;
};

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
bool		opened = false;
int			device = 0;
cublasHandle_t handle;
cudaStream_t stream;

weight	   *weights = NULL;
size_t		cached = 0;
size_t		limit = (size_t) 1 << 30;
cublasComputeType_t compute = CUBLAS_COMPUTE_32F_PEDANTIC;
uint64_t	tick = 0,
			uploads = 0,
			products = 0,
			evictions = 0;

buffer		bx,
			by,
			bw;

int
fail(char *msg, size_t len, const char *what, cudaError_t e)
{
	snprintf(msg, len, "%s failed: %s", what, cudaGetErrorString(e));
	return 1;
}

/* a failed cudaMalloc: what was asked and what the device has free */
int
fail_alloc(char *msg, size_t len, const char *what, size_t bytes, cudaError_t e)
{
	size_t		free_b = 0,
				total_b = 0;

	cudaGetLastError();			/* clear it, so the query below answers */
	if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
		snprintf(msg, len, "%s of %.1f MB failed: %s (%.1f MB free of %.1f MB)", what,
				 bytes / 1048576.0, cudaGetErrorString(e), free_b / 1048576.0, total_b / 1048576.0);
	else
		snprintf(msg, len, "%s of %.1f MB failed: %s", what, bytes / 1048576.0,
				 cudaGetErrorString(e));
	return 1;
}

int
fail_blas(char *msg, size_t len, const char *what, cublasStatus_t s)
{
	snprintf(msg, len, "%s failed: %s", what, cublasGetStatusString(s));
	return 1;
}

/* at least bytes in b (contents not kept) */
int
reserve(buffer *b, size_t bytes, char *msg, size_t len)
{
	cudaError_t e;

	if (b->bytes >= bytes)
		return 0;
	if (b->d)
		cudaFree(b->d);
	b->d = NULL;
	b->bytes = 0;
	e = cudaMalloc((void **) &b->d, bytes);
	if (e != cudaSuccess)
	{
		b->d = NULL;
		return fail_alloc(msg, len, "cudaMalloc of a staging buffer", bytes, e);
	}
	b->bytes = bytes;
	return 0;
}

void
drop(weight **link)
{
	weight	   *w = *link;

	*link = w->next;
	cached -= w->bytes;
	cudaFree(w->d);
	free(w);
}

/* evict least recently used weights until need more bytes fit */
void
make_room(size_t need)
{
	while (weights && cached + need > limit)
	{
		weight	  **oldest = &weights;

		for (weight **l = &weights; *l; l = &(*l)->next)
			if ((*l)->used < (*oldest)->used)
				oldest = l;
		drop(oldest);
		evictions++;
	}
}

/*
 * The device copy of a weight: the cached one, a new upload into the cache,
 * or (a weight larger than the whole budget) an upload into the scratch
 * buffer bw for this product only.
 */
int
weight_on_device(uint64_t key, uint64_t owner, const float *w, size_t bytes, const float **out,
				 char *msg, size_t len)
{
	cudaError_t e;
	weight	   *n;

	for (weight *c = weights; c; c = c->next)
		if (c->key == key)
		{
			c->used = ++tick;
			*out = c->d;
			return 0;
		}
	uploads++;
	if (bytes > limit)
	{
		if (reserve(&bw, bytes, msg, len))
			return 1;
		e = cudaMemcpyAsync(bw.d, w, bytes, cudaMemcpyHostToDevice, stream);
		if (e != cudaSuccess)
			return fail(msg, len, "uploading a weight", e);
		*out = bw.d;
		return 0;
	}
	make_room(bytes);
	n = (weight *) calloc(1, sizeof(weight));
	if (n == NULL)
	{
		snprintf(msg, len, "out of host memory");
		return 1;
	}
	e = cudaMalloc((void **) &n->d, bytes);
	if (e != cudaSuccess)
	{
		free(n);
		return fail_alloc(msg, len, "cudaMalloc for a weight", bytes, e);
	}
	e = cudaMemcpyAsync(n->d, w, bytes, cudaMemcpyHostToDevice, stream);
	if (e != cudaSuccess)
	{
		cudaFree(n->d);
		free(n);
		return fail(msg, len, "uploading a weight", e);
	}
	n->key = key;
	n->owner = owner;
	n->bytes = bytes;
	n->used = ++tick;
	n->next = weights;
	weights = n;
	cached += bytes;
	*out = n->d;
	return 0;
}

/*
 * y[M, N] = alpha x[M, K] W^T + beta y, host x and y, device W: [N, K]
 * row-major (w_nk) or [K, N].  Row-major Y is column-major Y^T (N x M), so
 * cuBLAS computes Y^T = op(W) X^T: op = T on a [N, K] W, N on a [K, N] one.
 */
int
product(const float *dW, bool w_nk, int N, int K, float alpha, const float *x, int ldx, int M,
		float beta, float *y, int ldy, char *msg, size_t len)
{
	cudaError_t e;
	cublasStatus_t s;

	if (reserve(&bx, sizeof(float) * (size_t) M * K, msg, len) ||
		reserve(&by, sizeof(float) * (size_t) M * N, msg, len))
		return 1;
	e = cudaMemcpy2DAsync(bx.d, sizeof(float) * K, x, sizeof(float) * ldx, sizeof(float) * K, M,
						  cudaMemcpyHostToDevice, stream);
	if (e != cudaSuccess)
		return fail(msg, len, "copying a product's input to the device", e);
	if (beta != 0.0f)
	{
		e = cudaMemcpy2DAsync(by.d, sizeof(float) * N, y, sizeof(float) * ldy, sizeof(float) * N,
							  M, cudaMemcpyHostToDevice, stream);
		if (e != cudaSuccess)
			return fail(msg, len, "copying a product's output to the device", e);
	}
	s = cublasGemmEx(handle, w_nk ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &alpha, dW,
					 CUDA_R_32F, w_nk ? K : N, bx.d, CUDA_R_32F, K, &beta, by.d, CUDA_R_32F, N,
					 compute, CUBLAS_GEMM_DEFAULT);
	if (s != CUBLAS_STATUS_SUCCESS)
		return fail_blas(msg, len, "cublasGemmEx", s);
	e = cudaMemcpy2DAsync(y, sizeof(float) * ldy, by.d, sizeof(float) * N, sizeof(float) * N, M,
						  cudaMemcpyDeviceToHost, stream);
	if (e != cudaSuccess)
		return fail(msg, len, "copying a product's output from the device", e);
	e = cudaStreamSynchronize(stream);
	if (e != cudaSuccess)
		return fail(msg, len, "a product on the device", e);
	products++;
	return 0;
}

int
cuda_open(char *msg, size_t len)
{
	int			count = 0;
	int			rc = 0;
	cudaError_t e;
	cublasStatus_t s;

	pthread_mutex_lock(&lock);
	if (opened)
		goto done;
	e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess)
	{
		rc = fail(msg, len, "cudaGetDeviceCount", e);
		goto done;
	}
	if (count == 0)
	{
		snprintf(msg, len, "the CUDA runtime found no device");
		rc = 1;
		goto done;
	}
	device = 0;
	e = cudaSetDevice(device);
	if (e != cudaSuccess)
	{
		rc = fail(msg, len, "cudaSetDevice(0)", e);
		goto done;
	}
	e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
	if (e != cudaSuccess)
	{
		rc = fail(msg, len, "cudaStreamCreate", e);
		goto done;
	}
	s = cublasCreate(&handle);
	if (s != CUBLAS_STATUS_SUCCESS)
	{
		cudaStreamDestroy(stream);
		rc = fail_blas(msg, len, "cublasCreate", s);
		goto done;
	}
	cublasSetStream(handle, stream);
	/* the compute type of each product says the precision; no math-mode shortcut besides it */
	cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH);
	opened = true;
done:
	pthread_mutex_unlock(&lock);
	return rc;
}

void
cuda_describe(char *buf, size_t len)
{
	cudaDeviceProp p;
	int			rt = 0,
				drv = 0;

	if (!opened || cudaGetDeviceProperties(&p, device) != cudaSuccess)
	{
		snprintf(buf, len, "not opened");
		return;
	}
	cudaRuntimeGetVersion(&rt);
	cudaDriverGetVersion(&drv);
	snprintf(buf, len, "%s, %.1f GiB, compute capability %d.%d, CUDA runtime %d.%d, driver %d.%d",
			 p.name, p.totalGlobalMem / 1073741824.0, p.major, p.minor, rt / 1000, (rt % 1000) / 10,
			 drv / 1000, (drv % 1000) / 10);
}

int
cuda_matmul(uint64_t key, uint64_t owner, const float *w, int N, int K, bool in_major,
			const float *x, int ldx, int M, float beta, float *y, int ldy, char *msg, size_t len)
{
	const float *dW;
	int			rc;

	pthread_mutex_lock(&lock);
	rc = weight_on_device(key, owner, w, sizeof(float) * (size_t) N * K, &dW, msg, len);
	if (rc == 0)
		rc = product(dW, !in_major, N, K, 1.0f, x, ldx, M, beta, y, ldy, msg, len);
	pthread_mutex_unlock(&lock);
	return rc;
}

int
cuda_gemm(bool b_trans, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
		  int ldb, float beta, float *C, int ldc, char *msg, size_t len)
{
	int			rc = 0;
	cudaError_t e;

	pthread_mutex_lock(&lock);
	/* B [N, K] (b_trans) or [K, N], rows ldb apart: packed into bw */
	if (reserve(&bw, sizeof(float) * (size_t) N * K, msg, len))
		rc = 1;
	else
	{
		int			rows = b_trans ? N : K,
					cols = b_trans ? K : N;

		e = cudaMemcpy2DAsync(bw.d, sizeof(float) * cols, B, sizeof(float) * ldb,
							  sizeof(float) * cols, rows, cudaMemcpyHostToDevice, stream);
		if (e != cudaSuccess)
			rc = fail(msg, len, "copying a product's operand to the device", e);
		else
			rc = product(bw.d, b_trans, N, K, alpha, A, lda, M, beta, C, ldc, msg, len);
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void
cuda_forget(uint64_t owner)
{
	pthread_mutex_lock(&lock);
	for (weight **l = &weights; *l;)
		if ((*l)->owner == owner)
			drop(l);
		else
			l = &(*l)->next;
	pthread_mutex_unlock(&lock);
}

void
cuda_set_cache_bytes(size_t bytes)
{
	pthread_mutex_lock(&lock);
	limit = bytes;
	make_room(0);
	pthread_mutex_unlock(&lock);
}

void
cuda_stats(sm_device_stats *out)
{
	pthread_mutex_lock(&lock);
	memset(out, 0, sizeof(*out));
	out->cached_bytes = cached;
	out->cache_limit = limit;
	out->uploads = uploads;
	out->products = products;
	out->evictions = evictions;
	out->buffer_bytes = bx.bytes + by.bytes + bw.bytes;
	if (opened)
		cudaMemGetInfo(&out->free_bytes, &out->total_bytes);
	pthread_mutex_unlock(&lock);
}

int
cuda_set_precision(int precision, char *msg, size_t len)
{
	int			rc = 0;

	pthread_mutex_lock(&lock);
	switch (precision)
	{
		case SM_DEVICE_FP32:
			compute = CUBLAS_COMPUTE_32F_PEDANTIC;
			break;
		case SM_DEVICE_TF32:
			compute = CUBLAS_COMPUTE_32F_FAST_TF32;
			break;
		case SM_DEVICE_BF16:
			compute = CUBLAS_COMPUTE_32F_FAST_16BF;
			break;
		default:
			snprintf(msg, len, "precision %d is not one of fp32, tf32, bf16", precision);
			rc = 1;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

size_t
cuda_owner_bytes(uint64_t owner)
{
	size_t		n = 0;

	pthread_mutex_lock(&lock);
	for (weight *w = weights; w; w = w->next)
		if (w->owner == owner)
			n += w->bytes;
	pthread_mutex_unlock(&lock);
	return n;
}

void
free_buffer(buffer *b)
{
	if (b->d)
		cudaFree(b->d);
	b->d = NULL;
	b->bytes = 0;
}

void
cuda_release(void)
{
	pthread_mutex_lock(&lock);
	while (weights)
		drop(&weights);
	free_buffer(&bx);
	free_buffer(&by);
	free_buffer(&bw);
	if (opened)
	{
		cublasDestroy(handle);
		cudaStreamDestroy(stream);
		/* the primary context and everything in it: this process's GPU memory */
		cudaDeviceReset();
		opened = false;
	}
	pthread_mutex_unlock(&lock);
}

const sm_device_api api = {
	SM_DEVICE_ABI,
	"cuda",
	cuda_open,
	cuda_describe,
	cuda_matmul,
	cuda_gemm,
	cuda_forget,
	cuda_set_cache_bytes,
	cuda_stats,
	cuda_set_precision,
	cuda_owner_bytes,
	cuda_release,
};

}								/* namespace */

extern "C" __attribute__((visibility("default"))) const sm_device_api *
seqmodel_device_api(void)
{
	return &api;
}
