/*
 * sm_ops_device.c -- the device backend of the compute seam: a table like
 * the CPU's (sm_ops.h) whose products go to an attached device module
 * (sm_device.h, e.g. seqmodel_cuda.so) and whose other passes run on the
 * CPU backend.  This file never sees a device header: the module is a table
 * of plain functions.
 *
 * The AUTO rule.  A product staged through host memory pays, besides the
 * launch (~10-20 us), the copies of x and y over PCIe, 4 (K + N) bytes per
 * row, against the 2 N K flops per row it saves: a product goes to the
 * device in AUTO when it has at least SM_DEVICE_AUTO_MIN_MACS multiply-adds
 * and N K / (N + K) >= AUTO_MIN_INTENSITY (flops per byte copied, up to a
 * factor).  The numbers are estimates from PCIe 5 and launch costs, to be
 * replaced by the break-even measured on a GPU (test/bench, issue "CUDA
 * offload"); ALWAYS ignores them.
 */
#include "sm_ops.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define AUTO_MIN_INTENSITY 16.0

static const sm_device_api *device = NULL;
static sm_device_mode mode = SM_DEVICE_OFF;
static uint64_t owner_now = 0;
static uint64_t next_key = 0;
static uint64_t offloaded = 0;
static uint64_t fallbacks = 0;
static char last_error[256] = "";
/* products fail on worker threads too, side by side: one writer or reader at a time */
static pthread_mutex_t last_error_mu = PTHREAD_MUTEX_INITIALIZER;

uint64_t
sm_ops_next_key(void)
{
	return __atomic_add_fetch(&next_key, 1, __ATOMIC_RELAXED);
}

uint64_t
sm_ops_set_key_base(uint64_t next)
{
	return __atomic_exchange_n(&next_key, next, __ATOMIC_RELAXED);
}

uint64_t
sm_ops_current_owner(void)
{
	return owner_now;
}

void
sm_ops_set_owner(uint64_t owner)
{
	owner_now = owner;
}

void
sm_ops_forget(uint64_t owner)
{
	if (device && owner != 0)
		device->forget(owner);
}

static bool
worth_it(double M, double N, double K)
{
	if (mode == SM_DEVICE_ALWAYS)
		return true;
	return M * N * K >= (double) SM_DEVICE_AUTO_MIN_MACS && N * K / (N + K) >= AUTO_MIN_INTENSITY;
}

static void
failed(const char *msg)
{
	__atomic_add_fetch(&fallbacks, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&last_error_mu);
	snprintf(last_error, sizeof(last_error), "%s", msg);
	pthread_mutex_unlock(&last_error_mu);
}

static void
device_matmul(const sm_packed *W, const float *x, int ldx, int M, float beta, float *y, int ldy)
{
	char		msg[256];

	if (M > 0 && worth_it(M, W->N, W->K))
	{
		__atomic_add_fetch(&offloaded, 1, __ATOMIC_RELAXED);
		if (device->matmul(W->key, W->owner, W->w, W->N, W->K, W->in_major, x, ldx, M, beta,
						   y, ldy, msg, sizeof(msg)) == 0)
			return;
		failed(msg);
	}
	sm_cpu_backend.matmul(W, x, ldx, M, beta, y, ldy);
}

/* the two products as device_matmul runs them: the bits of the unfused step */
static void
device_matmul2(const sm_packed *W1, const float *x1, int ldx1, const sm_packed *W2,
			   const float *x2, int ldx2, int M, float *y, int ldy)
{
	device_matmul(W1, x1, ldx1, M, 0.0f, y, ldy);
	device_matmul(W2, x2, ldx2, M, 1.0f, y, ldy);
}

static void
device_matmul_act(const sm_packed *W, const float *x, int ldx, int M, float *y, int ldy,
				  const float *bias, sm_act act)
{
	if (M > 0 && worth_it(M, W->N, W->K))
	{
		/*
		 * the product as device_matmul runs it (on the CPU if the device
		 * fails), then the epilogue on the CPU (a device epilogue is the
		 * CUDA issue's): the bits of the fused CPU pass on the CPU's product
		 */
		device_matmul(W, x, ldx, M, 0.0f, y, ldy);
		if (bias != NULL || act != SM_ACT_IDENTITY)
			sm_bias_act_ld(y, (size_t) ldy, bias, (size_t) M, W->N, act);
		return;
	}
	sm_cpu_backend.matmul_act(W, x, ldx, M, y, ldy, bias, act);
}

static void
device_gemm(bool b_trans, int M, int N, int K, float alpha, const float *A, int lda,
			const float *B, int ldb, float beta, float *C, int ldc, float *scratch)
{
	char		msg[256];

	if (M > 0 && N > 0 && worth_it(M, N, K))
	{
		__atomic_add_fetch(&offloaded, 1, __ATOMIC_RELAXED);
		if (device->gemm(b_trans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, msg,
						 sizeof(msg)) == 0)
			return;
		failed(msg);
	}
	sm_cpu_backend.gemm(b_trans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, scratch);
}

static sm_backend device_backend;

/* head after head through this table, so the attention's products offload too */
static void
device_attention(const sm_attn *a)
{
	sm_attention_serial(&device_backend, a);
}

sm_status
sm_ops_attach_device(const sm_device_api *api, sm_error *err)
{
	char		msg[256] = "";

	if (device == api && api != NULL)
		return SM_OK;
	if (api == NULL || api->abi != SM_DEVICE_ABI)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "the device module does not match this build of seqmodel");
		sm_detail(err, "The module's interface version is %d; this build needs %d.",
				  api ? api->abi : -1, SM_DEVICE_ABI);
		return err->code;
	}
	if (api->open(msg, sizeof(msg)) != 0)
	{
		sm_fail(err, SM_ERR_UNSUPPORTED, "no %s device is available", api->name);
		sm_detail(err, "%s.", msg[0] ? msg : "The device module found no device");
		return err->code;
	}
	device_backend = sm_cpu_backend;
	device_backend.name = api->name;
	device_backend.matmul = device_matmul;
	device_backend.matmul2 = device_matmul2;
	device_backend.matmul_act = device_matmul_act;
	device_backend.gemm = device_gemm;
	device_backend.attention = device_attention;
	device = api;
	return SM_OK;
}

void
sm_ops_detach_device(void)
{
	if (device == NULL)
		return;
	device->release();
	device = NULL;
	sm_ops_use_device(SM_DEVICE_OFF);
}

const sm_device_api *
sm_ops_device(void)
{
	return device;
}

void
sm_ops_use_device(sm_device_mode m)
{
	mode = device ? m : SM_DEVICE_OFF;
	sm_ops = mode == SM_DEVICE_OFF ? &sm_cpu_backend : &device_backend;
}

sm_device_mode
sm_ops_device_mode(void)
{
	return mode;
}

uint64_t
sm_ops_device_failures(void)
{
	return __atomic_load_n(&fallbacks, __ATOMIC_RELAXED);
}

void
sm_ops_device_status_get(sm_ops_device_status *out)
{
	memset(out, 0, sizeof(*out));
	if (device)
		device->stats(&out->dev);
	out->offloaded = __atomic_load_n(&offloaded, __ATOMIC_RELAXED);
	out->fallbacks = __atomic_load_n(&fallbacks, __ATOMIC_RELAXED);
	pthread_mutex_lock(&last_error_mu);
	snprintf(out->last_error, sizeof(out->last_error), "%s", last_error);
	pthread_mutex_unlock(&last_error_mu);
}
