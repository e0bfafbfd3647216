/*
 * seqmodel.c -- module entry: GUCs and engine hooks.
 *
 * Nothing here needs shared_preload_libraries: the library loads on first
 * use in each backend.  No CUDA or other heavy state is touched at load time
 * (the postmaster may load us, and such state does not survive fork).
 */
#include "sm_pg.h"

#include <limits.h>

#include "postmaster/postmaster.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

#define CACHE_SIZE_KB_MIN 1024						/* 1 MB */
#define CACHE_SIZE_KB_DEFAULT (1024 * 1024)			/* 1 GB */
#define CACHE_SIZE_KB_MAX INT_MAX					/* 2 TB */

#define THREADS_DEFAULT 1
#define THREADS_MAX 64
#define MAX_HORIZON_DEFAULT 10000
#define MAX_HORIZON_MAX 10000000

int			sm_cache_size_kb = CACHE_SIZE_KB_DEFAULT;
int			sm_threads = THREADS_DEFAULT;
int			sm_max_horizon = MAX_HORIZON_DEFAULT;
bool		sm_progress = false;
int			sm_progress_interval = 5;
int			sm_truncation = SM_TRUNCATION_ERROR;

static const struct config_enum_entry truncation_options[] = {
	{"error", SM_TRUNCATION_ERROR, false},
	{"truncate", SM_TRUNCATION_TRUNCATE, false},
	{NULL, 0, false}
};

#define WORK_MEM_KB_DEFAULT (1024 * 1024)		/* 1 GB */

int			sm_work_mem_kb = WORK_MEM_KB_DEFAULT;

static void
work_mem_assign(int newval, void *extra)
{
	sm_pg_helper_quiesce_quietly();
	sm_set_work_limit((size_t) newval * 1024,
					  "Raise seqmodel.work_mem, or send fewer rows or steps per call.");
}

int64
sm_pg_buffer_limit(void)
{
	return (int64) sm_work_mem_kb * 1024 / 2;
}

int64
sm_pg_buffer_grow(int64 cap, int64 need, int64 most)
{
	return Max(Min(cap * 2, most), need);
}

void
sm_pg_series_too_long(const char *key, int64 steps)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 key ? errmsg("series \"%s\" is too long for seqmodel.work_mem", key)
			 : errmsg("the history of forecast_agg is too long for seqmodel.work_mem"),
			 errdetail("Its first %lld steps need more than %d kB in memory; one series may take half of seqmodel.work_mem (%d kB).",
					   (long long) steps, sm_work_mem_kb / 2, sm_work_mem_kb),
			 errhint("Raise seqmodel.work_mem, or pass fewer steps of history.")));
}

void		_PG_init(void);

const char *
sm_pg_enum_name(const struct config_enum_entry *options, int v)
{
	for (const struct config_enum_entry *e = options; e->name; e++)
		if (e->val == v)
			return e->name;
	return options[0].name;
}

void
_PG_init(void)
{
	DefineCustomIntVariable("seqmodel.cache_size",
							"Memory each backend may use to keep loaded models.",
							"Least recently used models are evicted to stay within it; "
							"a model larger than this cannot be run.",
							&sm_cache_size_kb,
							CACHE_SIZE_KB_DEFAULT, CACHE_SIZE_KB_MIN, CACHE_SIZE_KB_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("seqmodel.threads",
							"Threads one model call may use (the engine's tiles, and OpenBLAS's pool for the blas kernels).",
							"Parallel query workers each use this many; 1 suits many concurrent sessions.",
							&sm_threads,
							THREADS_DEFAULT, 1, THREADS_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("seqmodel.max_horizon",
							"Longest forecast horizon, in steps.",
							NULL,
							&sm_max_horizon,
							MAX_HORIZON_DEFAULT, 1, MAX_HORIZON_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("seqmodel.progress",
							 "Report the progress of seqmodel.score_query with NOTICEs.",
							 "At most one NOTICE every few seconds: rows done and rows per second.",
							 &sm_progress,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("seqmodel.progress_interval",
							"Seconds between two progress NOTICEs of seqmodel.score_query.",
							"0 reports after every batch of rows.",
							&sm_progress_interval,
							5, 0, 3600,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("seqmodel.truncation",
							 "What the text functions do with a text longer than the model's maximum length.",
							 "error: raise an error (the default); truncate: keep the tokens that fit "
							 "(the start of the text; the end tokens such as [SEP] are kept).",
							 &sm_truncation,
							 SM_TRUNCATION_ERROR, truncation_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("seqmodel.cpu_kernels",
							 "Which CPU kernels run the matrix products.",
							 "auto: the widest this CPU runs (avx512, else avx2, else generic), "
							 "chosen from its CPUID feature bits; blas: OpenBLAS's sgemm. "
							 "seqmodel.compute_info() shows what runs.",
							 &sm_cpu_kernels,
							 SM_PG_KERNELS_AUTO, sm_cpu_kernels_options,
							 PGC_USERSET, 0,
							 sm_cpu_kernels_check, sm_cpu_kernels_assign, NULL);
	DefineCustomIntVariable("seqmodel.work_mem",
							"Workspace one model call may use (activations, states, gates of a forward pass, forecast or decoding).",
							"A call that would need more fails (54000) saying how much it needed, before "
							"allocating it; the cached weights count against seqmodel.cache_size instead.",
							&sm_work_mem_kb,
							WORK_MEM_KB_DEFAULT, 1024, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, work_mem_assign, NULL);
	DefineCustomEnumVariable("seqmodel.device",
							 "Where the matrix products run: cpu, cuda (a GPU, through the CUDA module) or auto.",
							 "auto: on the GPU when the CUDA module loads and finds one, and only the "
							 "products large enough to pay for the copies; cuda: every product on the GPU "
							 "(an error when there is none); cpu: never the GPU. "
							 "seqmodel.compute_info() shows the GPU or why there is none.",
							 &sm_device,
							 SM_PG_DEVICE_AUTO, sm_device_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("seqmodel.gpu_cache_size",
							"GPU memory each backend may use to keep model weights.",
							"Least recently used weights are evicted to stay within it; a weight "
							"larger than this is uploaded for each product.",
							&sm_gpu_cache_size_mb,
							1024, 16, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_MB,
							NULL, sm_gpu_cache_size_assign, NULL);
	DefineCustomEnumVariable("seqmodel.gpu_precision",
							 "How the GPU multiplies: fp32, tf32 or bf16.",
							 "fp32: float32 products (the CPU's answers within 1e-5 normwise on the "
							 "recurrent fixtures); tf32 and bf16: tensor cores on inputs rounded to 10 "
							 "or 7 mantissa bits, float32 sums (about 1e-3 and 1e-2 normwise).",
							 &sm_gpu_precision,
							 SM_DEVICE_FP32, sm_gpu_precision_options,
							 PGC_USERSET, 0,
							 NULL, sm_gpu_precision_assign, NULL);
	DefineCustomIntVariable("seqmodel.gpu_max_backends",
							"Backends that may hold a CUDA context at once (0: no limit).",
							"Each costs about 0.5 GiB of GPU memory. Beyond it, seqmodel.device = auto "
							"runs on the CPU and cuda waits up to seqmodel.gpu_wait_timeout; "
							"seqmodel.gpu_release() or the backend's exit frees a slot.",
							&sm_gpu_max_backends,
							8, 0, MAX_BACKENDS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("seqmodel.gpu_wait_timeout",
							"How long seqmodel.device = cuda waits for a GPU slot (0: no limit).",
							NULL,
							&sm_gpu_wait_timeout_ms,
							10000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("seqmodel.device_module",
							   "The device module to load instead of $libdir/seqmodel_cuda (empty: that one).",
							   "A path to a shared library with seqmodel's device interface, "
							   "such as the test suite's fake device; superuser only.",
							   &sm_device_module,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	sm_shared_cache_init();
	MarkGUCPrefixReserved("seqmodel");
	sm_pg_install_hooks();
}
