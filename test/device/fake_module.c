/*
 * fake_module.c -- the fake device (fake_device.h) as a module the
 * extension loads like seqmodel_cuda.so: `make fake-device` builds
 * test/device/seqmodel_fake_device.so, and a superuser points
 * seqmodel.device_module at it (test/t/gpu_fake.sh), so every GPU setting
 * and path of the glue runs on machines without a GPU.
 *
 * Its knobs come from a control file beside the module,
 * seqmodel_fake_device.ctl, read again whenever it changes: one word per
 * line, "fail_open", "fail_products", "memory_kb N" (the device's memory).
 * A test writes it to make the next open or upload fail.  sm_gemm_naive
 * comes from seqmodel.so, which PostgreSQL loads with RTLD_GLOBAL.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fake_device.h"

static sm_device_api api;
static char ctl_path[4096];
static struct timespec ctl_mtime;

/* read the control file if it changed (absent: every knob off) */
static void
read_ctl(void)
{
	sm_fake_device_ctl *c = sm_fake_device_ctl_get();
	struct stat st;
	FILE	   *f;
	char		word[64];

	if (stat(ctl_path, &st) != 0)
	{
		c->fail_open = c->fail_products = false;
		c->memory_bytes = 0;
		memset(&ctl_mtime, 0, sizeof(ctl_mtime));
		return;
	}
	if (st.st_mtim.tv_sec == ctl_mtime.tv_sec && st.st_mtim.tv_nsec == ctl_mtime.tv_nsec)
		return;
	ctl_mtime = st.st_mtim;
	c->fail_open = c->fail_products = false;
	c->memory_bytes = 0;
	if ((f = fopen(ctl_path, "r")) == NULL)
		return;
	while (fscanf(f, "%63s", word) == 1)
	{
		long long	kb;

		if (strcmp(word, "fail_open") == 0)
			c->fail_open = true;
		else if (strcmp(word, "fail_products") == 0)
			c->fail_products = true;
		else if (strcmp(word, "memory_kb") == 0 && fscanf(f, "%lld", &kb) == 1 && kb > 0)
			c->memory_bytes = (size_t) kb << 10;
	}
	fclose(f);
}

static int
open_ctl(char *msg, size_t len)
{
	read_ctl();
	return sm_fake_device_api()->open(msg, len);
}

static int
matmul_ctl(uint64_t key, uint64_t owner, const float *w, int N, int K, bool in_major,
		   const float *x, int ldx, int M, float beta, float *y, int ldy, char *msg, size_t len)
{
	read_ctl();
	return sm_fake_device_api()->matmul(key, owner, w, N, K, in_major, x, ldx, M, beta, y, ldy,
										msg, len);
}

__attribute__((visibility("default"))) const sm_device_api *
seqmodel_device_api(void)
{
	Dl_info		info;

	if (ctl_path[0] == '\0')
	{
		char	   *slash;

		/* the control file is beside this module */
		if (dladdr((void *) seqmodel_device_api, &info) == 0 || info.dli_fname == NULL)
			snprintf(ctl_path, sizeof(ctl_path), "seqmodel_fake_device.ctl");
		else
		{
			snprintf(ctl_path, sizeof(ctl_path), "%s", info.dli_fname);
			slash = strrchr(ctl_path, '/');
			snprintf(slash ? slash + 1 : ctl_path,
					 sizeof(ctl_path) - (slash ? (size_t) (slash + 1 - ctl_path) : 0),
					 "seqmodel_fake_device.ctl");
		}
		api = *sm_fake_device_api();
		api.open = open_ctl;
		api.matmul = matmul_ctl;
	}
	return &api;
}
