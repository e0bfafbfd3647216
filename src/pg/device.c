/*
 * device.c -- the GPU seen from SQL: seqmodel.device (cpu | cuda | auto),
 * seqmodel.gpu_cache_size, gpu_precision, gpu_max_backends,
 * gpu_wait_timeout and device_module; loading the CUDA device module;
 * admission; seqmodel.gpu_release() and seqmodel.device_info(); and what
 * a failed product on the GPU does (an ERROR under "cuda", a NOTICE and the
 * CPU under "auto").
 *
 * Loading.  The module (seqmodel_cuda.so, from kernels/) is loaded with
 * dlopen on the first model use that may need it, in the backend itself:
 * never at library load, which may happen in the postmaster, where a CUDA
 * context would not survive fork.  seqmodel.so links no CUDA library, so a
 * server without CUDA, without a GPU or without the module runs everything
 * on the CPU; "auto" then says why in seqmodel.compute_info(), and "cuda" is
 * an error that says why.  "auto" first looks for NVIDIA's device node, so a
 * CPU-only server with the toolkit installed does not map the CUDA
 * libraries into every backend.  Parallel workers run "auto" on the CPU.
 *
 * Admission.  A CUDA context costs about 0.5 GiB of GPU memory per backend,
 * so at most seqmodel.gpu_max_backends backends hold one at a time.  The
 * count is kept in the lock manager, which every backend shares without
 * shared_preload_libraries: a backend holds one of that many session locks
 * (advisory lock tags of database 0 and a fourth field no SQL advisory
 * function uses; pg_locks shows them) from opening the GPU until
 * gpu_release() or its exit, when PostgreSQL drops the lock with the
 * process.  With every slot taken, "auto" runs on the CPU and "cuda" waits
 * (interruptibly, wait event Extension) up to seqmodel.gpu_wait_timeout.  A
 * slot lost to pg_advisory_unlock_all() (DISCARD ALL) is noticed before the
 * next GPU use: the backend takes a slot again or lets the GPU go.
 */
#include "sm_pg.h"

#include <dlfcn.h>
#include <unistd.h>

#include "access/parallel.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "ops/sm_device.h"
#include "ops/sm_ops.h"

int			sm_device = SM_PG_DEVICE_AUTO;
int			sm_gpu_cache_size_mb = 1024;
int			sm_gpu_precision = SM_DEVICE_FP32;
int			sm_gpu_max_backends = 8;
int			sm_gpu_wait_timeout_ms = 10000;
char	   *sm_device_module = NULL;
uint64		sm_pg_device_failures_seen = 0;

const struct config_enum_entry sm_device_options[] = {
	{"auto", SM_PG_DEVICE_AUTO, false},
	{"cpu", SM_PG_DEVICE_CPU, false},
	{"cuda", SM_PG_DEVICE_CUDA, false},
	{NULL, 0, false}
};

const struct config_enum_entry sm_gpu_precision_options[] = {
	{"fp32", SM_DEVICE_FP32, false},
	{"tf32", SM_DEVICE_TF32, false},
	{"bf16", SM_DEVICE_BF16, false},
	{NULL, 0, false}
};

#define NVIDIA_DEVICE_NODE "/dev/nvidiactl"
/* the slots' lock tags: (database 0, "smgp", slot, 3); SQL advisory locks use 1 and 2 */
#define SLOT_TAG_KEY 0x736d6770
#define SLOT_TAG_KIND 3
#define SLOT_POLL_MS 10

static const sm_device_api *api = NULL;	/* the module's table, once loaded */
static bool load_tried = false;	/* dlopen was tried (not retried) */
static bool open_failed = false;	/* the module found no usable device (not retried) */
static char loaded_setting[MAXPGPATH] = "";	/* seqmodel.device_module when it was tried */
static int	held_slot = -1;		/* the slot this backend holds, or -1 */
static char unavailable[512] = "";
static LocalTransactionId noticed_lxid = InvalidLocalTransactionId;

static void
slot_tag(LOCKTAG *tag, int slot)
{
	SET_LOCKTAG_ADVISORY(*tag, InvalidOid, SLOT_TAG_KEY, (uint32) slot, SLOT_TAG_KIND);
}

/* still holding our slot (an unlock-all may have dropped it)? */
static bool
slot_held(void)
{
	LOCKTAG		tag;

	if (held_slot < 0)
		return false;
	slot_tag(&tag, held_slot);
	if (LockHeldByMe(&tag, ExclusiveLock))
		return true;
	held_slot = -1;
	return false;
}

static bool
slot_try(void)
{
	for (int i = 0; i < sm_gpu_max_backends; i++)
	{
		LOCKTAG		tag;

		slot_tag(&tag, i);
		if (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
		{
			held_slot = i;
			return true;
		}
	}
	return false;
}

static void
slot_release(void)
{
	LOCKTAG		tag;

	if (!slot_held())
		return;
	slot_tag(&tag, held_slot);
	LockRelease(&tag, ExclusiveLock, true);
	held_slot = -1;
}

static void
slot_wait(void)
{
	TimestampTz start = GetCurrentTimestamp();

	while (!slot_try())
	{
		if (sm_gpu_wait_timeout_ms > 0 &&
			TimestampDifferenceExceeds(start, GetCurrentTimestamp(), sm_gpu_wait_timeout_ms))
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not get the GPU within seqmodel.gpu_wait_timeout (%d ms)",
							sm_gpu_wait_timeout_ms),
					 errdetail("seqmodel.gpu_max_backends is %d, and that many other backends hold a CUDA context.",
							   sm_gpu_max_backends),
					 errhint("Retry later, raise seqmodel.gpu_max_backends, have idle sessions call seqmodel.gpu_release(), or set seqmodel.device to \"auto\" to run on the CPU when the GPU is taken.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, SLOT_POLL_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* seqmodel.device_module, "" when unset (the installed CUDA module) */
static const char *
module_setting(void)
{
	return sm_device_module ? sm_device_module : "";
}

/* dlopen the module and find its table, once (a failure is kept as the reason) */
static void
try_load(void)
{
	char		path[MAXPGPATH];
	void	   *h;
	sm_device_entry_fn entry;

	load_tried = true;
	strlcpy(loaded_setting, module_setting(), sizeof(loaded_setting));
	if (loaded_setting[0])
		strlcpy(path, loaded_setting, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s/seqmodel_cuda%s", pkglib_path, DLSUFFIX);
	if (access(path, F_OK) != 0)
	{
		if (loaded_setting[0])
			snprintf(unavailable, sizeof(unavailable),
					 "The device module %s (seqmodel.device_module) does not exist", path);
		else
			snprintf(unavailable, sizeof(unavailable),
					 "This build of seqmodel has no CUDA module (%s was not installed: it is built when nvcc is found)",
					 path);
		return;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
	{
		snprintf(unavailable, sizeof(unavailable), "The device module could not be loaded: %s", dlerror());
		return;
	}
	entry = (sm_device_entry_fn) dlsym(h, SM_DEVICE_ENTRY);
	if (entry == NULL)
	{
		snprintf(unavailable, sizeof(unavailable), "The device module %s has no entry point %s",
				 path, SM_DEVICE_ENTRY);
		return;
	}
	api = entry();
}

/* open the device (a slot is held) and set it up as the settings say */
static bool
try_open(void)
{
	sm_error	err;
	char		msg[256];

	if (sm_ops_attach_device(api, &err) != SM_OK)
	{
		/* err.detail names the runtime's reason (or the interface mismatch) */
		open_failed = true;
		snprintf(unavailable, sizeof(unavailable), "%s", err.detail[0] ? err.detail : err.message);
		if (unavailable[0] && unavailable[strlen(unavailable) - 1] == '.')
			unavailable[strlen(unavailable) - 1] = '\0';
		return false;
	}
	api->set_cache_bytes((size_t) sm_gpu_cache_size_mb << 20);
	if (api->set_precision(sm_gpu_precision, msg, sizeof(msg)) != 0)
		elog(WARNING, "seqmodel: the device refused seqmodel.gpu_precision: %s", msg);
	return true;
}

/* give the GPU back: the context, its memory and the slot */
static void
let_go(void)
{
	sm_ops_detach_device();
	slot_release();
}

/*
 * Whether the GPU can be used now: the module loaded (first ask), a slot
 * held (waited for when `wait`), the device open.  For "auto" without the
 * device node (and no module of the user's), no load at all.
 */
static bool
device_usable(bool wait)
{
	/* seqmodel.device_module names another module: let this one's device go */
	if (load_tried && strcmp(module_setting(), loaded_setting) != 0)
	{
		let_go();
		api = NULL;
		load_tried = open_failed = false;
	}
	if (!load_tried)
	{
		if (!wait && !module_setting()[0] &&
			access(NVIDIA_DEVICE_NODE, F_OK) != 0)
		{
			snprintf(unavailable, sizeof(unavailable), "This server has no NVIDIA GPU (no %s)",
					 NVIDIA_DEVICE_NODE);
			return false;
		}
		try_load();
	}
	if (api == NULL || open_failed)
		return false;
	if (sm_gpu_max_backends > 0 && !slot_held())
	{
		if (!slot_try())
		{
			if (!wait)
			{
				/* a context without a slot is not kept */
				sm_ops_detach_device();
				snprintf(unavailable, sizeof(unavailable),
						 "All %d GPU slots (seqmodel.gpu_max_backends) are held by other backends",
						 sm_gpu_max_backends);
				return false;
			}
			slot_wait();
		}
	}
	if (sm_ops_device() == NULL && !try_open())
	{
		slot_release();
		return false;
	}
	return true;
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
			sm_ops_use_device(!IsParallelWorker() && device_usable(false) ? SM_DEVICE_AUTO
							  : SM_DEVICE_OFF);
			return;
		case SM_PG_DEVICE_CUDA:
			if (!device_usable(true))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("seqmodel.device is \"cuda\" but no CUDA device can be used"),
						 errdetail("%s.", unavailable),
						 errhint("Set seqmodel.device to \"auto\" or \"cpu\" to run on the CPU.")));
			/* a failure an earlier "auto" call left unreported is not this call's to raise */
			sm_pg_device_failures_seen = sm_ops_device_failures();
			sm_ops_use_device(SM_DEVICE_ALWAYS);
			return;
	}
}

/*
 * Products the device failed since the last look (SM_PG_CHECK, after every
 * engine call, and before an engine error is raised): under "cuda" an
 * ERROR with the device's message (53200 for out of memory, else 58000);
 * under "auto" the CPU computed them, and a NOTICE says so once per
 * transaction.
 */
void
sm_pg_device_report(void)
{
	sm_ops_device_status st;
	bool		oom;

	sm_pg_device_failures_seen = sm_ops_device_failures();
	sm_ops_device_status_get(&st);
	oom = strstr(st.last_error, "out of memory") != NULL;
	if (sm_ops_device_mode() == SM_DEVICE_ALWAYS)
		ereport(ERROR,
				(errcode(oom ? ERRCODE_OUT_OF_MEMORY : ERRCODE_SYSTEM_ERROR),
				 errmsg("a product on the GPU failed: %s", st.last_error),
				 errdetail("seqmodel.device is \"cuda\", so the statement stops."),
				 oom ? errhint("Lower seqmodel.gpu_cache_size or the batch, free GPU memory, or set seqmodel.device to \"auto\" to go on on the CPU.")
				 : errhint("Set seqmodel.device to \"auto\" to go on on the CPU.")));
	if (noticed_lxid == MyProc->lxid)
		return;
	noticed_lxid = MyProc->lxid;
	ereport(NOTICE,
			(errmsg("a product on the GPU failed, so seqmodel computed it on the CPU: %s", st.last_error),
			 errdetail("%llu products of this backend have fallen back to the CPU.",
					   (unsigned long long) st.fallbacks)));
}

/* for the engine's abort hook: under "cuda", stop at the first failed product */
bool
sm_pg_device_should_stop(void)
{
	return sm_ops_device_failures() != sm_pg_device_failures_seen &&
		sm_ops_device_mode() == SM_DEVICE_ALWAYS;
}

void
sm_gpu_cache_size_assign(int newval, void *extra)
{
	if (sm_ops_device())
		sm_ops_device()->set_cache_bytes((size_t) newval << 20);
}

void
sm_gpu_precision_assign(int newval, void *extra)
{
	char		msg[256];

	/* enum-checked: the module accepts each value */
	if (sm_ops_device())
		(void) sm_ops_device()->set_precision(newval, msg, sizeof(msg));
}

/*
 * For compute_info and device_info: the GPU's description, or why there is
 * none (probing as a model use would, without waiting for a slot: nothing
 * for "cpu", the device node first for "auto"); never an error.
 */
void
sm_pg_device_describe(char *buf, size_t len)
{
	if (sm_device == SM_PG_DEVICE_CPU)
		snprintf(buf, len, "not used (seqmodel.device is cpu)");
	else if (device_usable(false))
		sm_ops_device()->describe(buf, len);
	else
		snprintf(buf, len, "none: %s", unavailable);
}

/* seqmodel.gpu_release(): whether this backend held the GPU, now given back */
PG_FUNCTION_INFO_V1(sm_gpu_release);
Datum
sm_gpu_release(PG_FUNCTION_ARGS)
{
	bool		held = sm_ops_device() != NULL || slot_held();

	let_go();
	PG_RETURN_BOOL(held);
}

/* seqmodel.device_info(): one row, this backend and the GPU */
PG_FUNCTION_INFO_V1(sm_device_info);
Datum
sm_device_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	sm_ops_device_status st;
	char		gpu[512];
	Datum		values[15];
	bool		nulls[15] = {0};
	const sm_device_api *dev;
	char	   *models;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* describing may open the device (as compute_info does), never waiting */
	sm_pg_device_describe(gpu, sizeof(gpu));
	dev = sm_ops_device();
	sm_ops_device_status_get(&st);
	models = sm_cache_device_models(dev);
	values[0] = CStringGetTextDatum(sm_pg_enum_name(sm_device_options, sm_device));
	values[1] = CStringGetTextDatum(gpu);
	values[2] = CStringGetTextDatum(sm_pg_enum_name(sm_gpu_precision_options, sm_gpu_precision));
	values[3] = BoolGetDatum(dev != NULL);
	values[4] = Int32GetDatum(held_slot);
	nulls[4] = !slot_held();
	values[5] = Int32GetDatum(sm_gpu_max_backends);
	values[6] = Int64GetDatum((int64) st.dev.cached_bytes);
	values[7] = Int64GetDatum((int64) st.dev.buffer_bytes);
	values[8] = Int64GetDatum((int64) st.dev.cache_limit);
	values[9] = Int64GetDatum((int64) st.dev.free_bytes);
	nulls[9] = dev == NULL || st.dev.total_bytes == 0;
	values[10] = Int64GetDatum((int64) st.dev.total_bytes);
	nulls[10] = nulls[9];
	values[11] = Int64GetDatum((int64) st.offloaded);
	values[12] = Int64GetDatum((int64) st.fallbacks);
	values[13] = CStringGetTextDatum(st.last_error);
	nulls[13] = st.last_error[0] == '\0';
	values[14] = DirectFunctionCall1(jsonb_in, CStringGetDatum(models));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
