/*
 * fake_device.c -- the fake device module of fake_device.h: products by the
 * engine's naive reference (sm_gemm_naive) on the host, a weight registry
 * with a budget and a device memory size, precision by rounding operands.
 */
#include "fake_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/sm_gemm.h"

#define DEFAULT_MEMORY ((size_t) 1 << 30)

typedef struct fake_weight
{
	uint64_t	key;
	uint64_t	owner;
	size_t		bytes;
	uint64_t	used;
} fake_weight;

static sm_fake_device_ctl ctl;
static bool opened = false;
static fake_weight *weights = NULL;
static int	n_weights = 0,
			cap_weights = 0;
static size_t cached = 0,
			limit = (size_t) 1 << 30;
static uint64_t tick = 0,
			uploads = 0,
			evictions = 0;

sm_fake_device_ctl *
sm_fake_device_ctl_get(void)
{
	return &ctl;
}

static size_t
memory_size(void)
{
	return ctl.memory_bytes ? ctl.memory_bytes : DEFAULT_MEMORY;
}

static int
fake_open(char *msg, size_t len)
{
	if (ctl.fail_open)
	{
		snprintf(msg, len, "the fake device is switched off");
		return 1;
	}
	if (!opened)
		ctl.opens++;
	opened = true;
	return 0;
}

static void
fake_describe(char *buf, size_t len)
{
	snprintf(buf, len, "fake device (host memory), %.1f GiB", memory_size() / 1073741824.0);
}

static void
drop_at(int i)
{
	cached -= weights[i].bytes;
	weights[i] = weights[--n_weights];
}

static void
make_room(size_t need)
{
	while (n_weights > 0 && cached + need > limit)
	{
		int			oldest = 0;

		for (int i = 1; i < n_weights; i++)
			if (weights[i].used < weights[oldest].used)
				oldest = i;
		drop_at(oldest);
		evictions++;
	}
}

/* the weight's "upload": a hit, a new entry, or (over the budget) this product only */
static int
upload(uint64_t key, uint64_t owner, size_t bytes, char *msg, size_t len)
{
	for (int i = 0; i < n_weights; i++)
		if (weights[i].key == key)
		{
			weights[i].used = ++tick;
			return 0;
		}
	uploads++;
	if (bytes > limit)
		return 0;
	make_room(bytes);
	if (cached + bytes > memory_size())
	{
		snprintf(msg, len,
				 "allocating a weight of %.1f MB on the fake device failed: out of memory (%.1f MB free of %.1f MB)",
				 bytes / 1048576.0, (memory_size() - cached) / 1048576.0, memory_size() / 1048576.0);
		return 1;
	}
	if (n_weights == cap_weights)
	{
		int			cap = cap_weights ? 2 * cap_weights : 64;
		fake_weight *w = realloc(weights, sizeof(fake_weight) * cap);

		if (w == NULL)
		{
			snprintf(msg, len, "out of host memory");
			return 1;
		}
		weights = w;
		cap_weights = cap;
	}
	weights[n_weights++] = (fake_weight) {key, owner, bytes, ++tick};
	cached += bytes;
	return 0;
}

/* v rounded to the mantissa bits the precision keeps (nearest, ties to even) */
static float
round_to(float v, int precision)
{
	uint32_t	u,
				drop;

	if (precision == SM_DEVICE_FP32)
		return v;
	drop = precision == SM_DEVICE_BF16 ? 16 : 13;
	memcpy(&u, &v, sizeof(u));
	u += ((1u << (drop - 1)) - 1) + ((u >> drop) & 1);
	u &= ~((1u << drop) - 1);
	memcpy(&v, &u, sizeof(u));
	return v;
}

/* rows x cols of src (rows ld apart) rounded for the precision, or src itself at fp32 */
static const float *
operand(const float *src, int rows, int cols, int ld, float **owned)
{
	size_t		n = rows > 0 ? (size_t) (rows - 1) * ld + cols : 0;
	float	   *c;

	*owned = NULL;
	if (ctl.precision == SM_DEVICE_FP32 || n == 0)
		return src;
	c = malloc(sizeof(float) * n);
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		c[i] = round_to(src[i], ctl.precision);
	*owned = c;
	return c;
}

/* y[M, N] = alpha x[M, K] op(W) + beta y on the host, W rows ldw apart */
static int
product(const float *W, int ldw, bool in_major, int N, int K, float alpha, const float *x,
		int ldx, int M, float beta, float *y, int ldy, char *msg, size_t len)
{
	float	   *wc,
			   *xc;
	const float *w = operand(W, in_major ? K : N, in_major ? N : K, ldw, &wc);
	const float *a = operand(x, M, K, ldx, &xc);

	if (w == NULL || a == NULL)
	{
		free(wc);
		free(xc);
		snprintf(msg, len, "out of host memory");
		return 1;
	}
	sm_gemm_naive(w, ldw, in_major, N, K, a, ldx, M, alpha, beta, y, ldy);
	free(wc);
	free(xc);
	return 0;
}

static int
fake_matmul(uint64_t key, uint64_t owner, const float *w, int N, int K, bool in_major,
			const float *x, int ldx, int M, float beta, float *y, int ldy, char *msg, size_t len)
{
	ctl.matmuls++;
	ctl.last_key = key;
	ctl.last_owner = owner;
	if (ctl.fail_products)
	{
		snprintf(msg, len, "fake failure of a %d x %d x %d product", M, N, K);
		return 1;
	}
	if (upload(key, owner, sizeof(float) * (size_t) N * K, msg, len))
		return 1;
	return product(w, in_major ? N : K, in_major, N, K, 1.0f, x, ldx, M, beta, y, ldy, msg, len);
}

static int
fake_gemm(bool b_trans, int M, int N, int K, float alpha, const float *A, int lda,
		  const float *B, int ldb, float beta, float *C, int ldc, char *msg, size_t len)
{
	ctl.gemms++;
	if (ctl.fail_products)
	{
		snprintf(msg, len, "fake failure");
		return 1;
	}
	return product(B, ldb, !b_trans, N, K, alpha, A, lda, M, beta, C, ldc, msg, len);
}

static void
fake_forget(uint64_t owner)
{
	ctl.forgotten = owner;
	for (int i = 0; i < n_weights;)
		if (weights[i].owner == owner)
			drop_at(i);
		else
			i++;
}

static void
fake_set_cache_bytes(size_t bytes)
{
	limit = bytes;
	make_room(0);
}

static void
fake_stats(sm_device_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->cached_bytes = cached;
	out->cache_limit = limit;
	out->uploads = uploads;
	out->products = (uint64_t) (ctl.matmuls + ctl.gemms);
	out->evictions = evictions;
	out->total_bytes = opened ? memory_size() : 0;
	out->free_bytes = opened ? memory_size() - cached : 0;
}

static int
fake_set_precision(int precision, char *msg, size_t len)
{
	if (precision < SM_DEVICE_FP32 || precision > SM_DEVICE_BF16)
	{
		snprintf(msg, len, "precision %d is not one of fp32, tf32, bf16", precision);
		return 1;
	}
	ctl.precision = precision;
	return 0;
}

static size_t
fake_owner_bytes(uint64_t owner)
{
	size_t		n = 0;

	for (int i = 0; i < n_weights; i++)
		if (weights[i].owner == owner)
			n += weights[i].bytes;
	return n;
}

static void
fake_release(void)
{
	n_weights = 0;
	cached = 0;
	if (opened)
		ctl.releases++;
	opened = false;
}

static const sm_device_api fake_api = {
	.abi = SM_DEVICE_ABI,
	.name = "fake",
	.open = fake_open,
	.describe = fake_describe,
	.matmul = fake_matmul,
	.gemm = fake_gemm,
	.forget = fake_forget,
	.set_cache_bytes = fake_set_cache_bytes,
	.stats = fake_stats,
	.set_precision = fake_set_precision,
	.owner_bytes = fake_owner_bytes,
	.release = fake_release,
};

const sm_device_api *
sm_fake_device_api(void)
{
	return &fake_api;
}
