/*
 * device.c -- the GPU seen from SQL: seqmodel.device (cpu | cuda | auto),
 * seqmodel.gpu_cache_size, and loading the CUDA device module.
 *
 * The module (seqmodel_cuda.so, from kernels/) is loaded with dlopen on the
 * first model use that may need it, in the backend itself: never at library
 * load, which may happen in the postmaster, where a CUDA context would not
 * survive fork.  seqmodel.so links no CUDA library, so a server without
 * CUDA, without a GPU or without the module runs everything on the CPU;
 * "auto" then says why in seqmodel.compute_info(), and "cuda" is an error
 * that says why.  "auto" first looks for NVIDIA's device node, so a
 * CPU-only server with the toolkit installed does not map the CUDA
 * libraries into every backend.  Parallel workers run "auto" on the CPU (a
 * CUDA context per worker costs about 0.5 GiB of GPU memory).
 */
#include "sm_pg.h"

#include <dlfcn.h>
#include <unistd.h>

#include "access/parallel.h"
#include "miscadmin.h"

#include "ops/sm_device.h"
#include "ops/sm_ops.h"

int			sm_device = SM_PG_DEVICE_AUTO;
int			sm_gpu_cache_size_mb = 1024;

const struct config_enum_entry sm_device_options[] = {
	{"auto", SM_PG_DEVICE_AUTO, false},
	{"cpu", SM_PG_DEVICE_CPU, false},
	{"cuda", SM_PG_DEVICE_CUDA, false},
	{NULL, 0, false}
};

#define NVIDIA_DEVICE_NODE "/dev/nvidiactl"

static bool load_tried = false;	/* dlopen and open were tried (they are not retried) */
static bool available = false;
static char unavailable[512] = "";

/* try the module once: dlopen, the entry point, then opening the device */
static void
try_load(void)
{
	char		path[MAXPGPATH];
	void	   *h;
	sm_device_entry_fn entry;
	sm_error	err;

	load_tried = true;
	snprintf(path, sizeof(path), "%s/seqmodel_cuda%s", pkglib_path, DLSUFFIX);
	if (access(path, F_OK) != 0)
	{
		snprintf(unavailable, sizeof(unavailable),
				 "This build of seqmodel has no CUDA module (%s was not installed: it is built when nvcc is found)",
				 path);
		return;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
	{
		snprintf(unavailable, sizeof(unavailable), "The CUDA module could not be loaded: %s", dlerror());
		return;
	}
	entry = (sm_device_entry_fn) dlsym(h, SM_DEVICE_ENTRY);
	if (entry == NULL)
	{
		snprintf(unavailable, sizeof(unavailable), "The CUDA module %s has no entry point %s",
				 path, SM_DEVICE_ENTRY);
		return;
	}
	if (sm_ops_attach_device(entry(), &err) != SM_OK)
	{
		/* err.detail names the CUDA runtime's reason */
		snprintf(unavailable, sizeof(unavailable), "%s", err.detail[0] ? err.detail : err.message);
		if (unavailable[0] && unavailable[strlen(unavailable) - 1] == '.')
			unavailable[strlen(unavailable) - 1] = '\0';
		return;
	}
	available = true;
	sm_ops_device()->set_cache_bytes((size_t) sm_gpu_cache_size_mb << 20);
}

/*
 * Whether the GPU can be used now, loading the module on the first ask;
 * for "auto" without the device node, no load at all.
 */
static bool
device_ready(bool quiet_probe)
{
	if (!load_tried)
	{
		if (quiet_probe && access(NVIDIA_DEVICE_NODE, F_OK) != 0)
		{
			snprintf(unavailable, sizeof(unavailable), "This server has no NVIDIA GPU (no %s)",
					 NVIDIA_DEVICE_NODE);
			return false;
		}
		try_load();
	}
	return available;
}

void
sm_pg_device_select(void)
{
	switch (sm_device)
	{
		case SM_PG_DEVICE_CPU:
			sm_ops_use_device(SM_DEVICE_OFF);
			return;
		case SM_PG_DEVICE_AUTO:
			sm_ops_use_device(!IsParallelWorker() && device_ready(true) ? SM_DEVICE_AUTO
							  : SM_DEVICE_OFF);
			return;
		case SM_PG_DEVICE_CUDA:
			if (!device_ready(false))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("seqmodel.device is \"cuda\" but no CUDA device can be used"),
						 errdetail("%s.", unavailable),
						 errhint("Set seqmodel.device to \"auto\" or \"cpu\" to run on the CPU.")));
			sm_ops_use_device(SM_DEVICE_ALWAYS);
			return;
	}
}

void
sm_gpu_cache_size_assign(int newval, void *extra)
{
	if (available)
		sm_ops_device()->set_cache_bytes((size_t) newval << 20);
}

const char *
sm_pg_device_name(int v)
{
	for (const struct config_enum_entry *e = sm_device_options; e->name; e++)
		if (e->val == v)
			return e->name;
	return "auto";
}

/*
 * For compute_info: the GPU's description, or why there is none (probing
 * as the setting would: nothing for "cpu", the device node first for
 * "auto"); never an error.
 */
void
sm_pg_device_describe(char *buf, size_t len)
{
	if (sm_device == SM_PG_DEVICE_CPU)
		snprintf(buf, len, "not used (seqmodel.device is cpu)");
	else if (device_ready(sm_device != SM_PG_DEVICE_CUDA))
		sm_ops_device()->describe(buf, len);
	else
		snprintf(buf, len, "none: %s", unavailable);
}
