/*
 * fake_device.h -- a device module (ops/sm_device.h) that computes on the
 * host, for testing everything around a GPU on machines without one: the
 * engine's device backend (test/unit/test_device.c, and every model suite
 * with each product sent through it) and, built as seqmodel_fake_device.so
 * (fake_module.c), the extension's GPU settings, admission, release,
 * device_info and failure handling from SQL (test/t/gpu_fake.sh).
 *
 * It behaves as the CUDA module does where the glue can tell: weights are
 * "uploaded" once per key into a registry with a budget (least recently
 * used out) and a device memory size, so owner_bytes, the cache counters
 * and an out-of-memory failure are real; precision rounds the operands as
 * the GPU would (tf32: 10-bit mantissas, bf16: 7-bit), with float32 sums.
 */
#ifndef FAKE_DEVICE_H
#define FAKE_DEVICE_H

#include "ops/sm_device.h"

typedef struct sm_fake_device_ctl
{
	bool		fail_open;		/* open fails ("switched off") */
	bool		fail_products;	/* every product fails */
	size_t		memory_bytes;	/* device memory: 0 = 1 GiB; an upload past it is out of memory */
	/* counters, for the tests */
	int			opens,
				releases,
				matmuls,
				gemms;
	uint64_t	last_key,
				last_owner,
				forgotten;
	int			precision;		/* sm_device_precision last set */
} sm_fake_device_ctl;

const sm_device_api *sm_fake_device_api(void);
sm_fake_device_ctl *sm_fake_device_ctl_get(void);

#endif
