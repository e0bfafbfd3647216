/*
 * compute.c -- the compute seam seen from SQL: the GUC seqmodel.cpu_kernels
 * (which CPU kernel set runs the products) and seqmodel.compute_info()
 * (what the CPU has, what runs, what OpenBLAS chose, and the GPU or why
 * there is none: device.c), so a user can see why a query is slow.
 */
#include "sm_pg.h"

#include "access/parallel.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "ops/sm_cpu.h"
#include "ops/sm_ops.h"

int			sm_cpu_kernels = SM_PG_KERNELS_AUTO;

const struct config_enum_entry sm_cpu_kernels_options[] = {
	{"auto", SM_PG_KERNELS_AUTO, false},
	{"avx512", SM_PG_KERNELS_AVX512, false},
	{"avx2", SM_PG_KERNELS_AVX2, false},
	{"generic", SM_PG_KERNELS_GENERIC, false},
	{"blas", SM_PG_KERNELS_BLAS, false},
	{NULL, 0, false}
};

/* a set this CPU cannot run is refused when set, saying what the CPU has */
bool
sm_cpu_kernels_check(int *newval, void **extra, GucSource source)
{
	bool		avx512 = *newval == SM_PG_KERNELS_AVX512;
	char		feats[256];

	if (!avx512 && *newval != SM_PG_KERNELS_AVX2)
		return true;			/* auto, generic and blas run everywhere */
	if (sm_kernels_supported(avx512 ? SM_KERNELS_AVX512 : SM_KERNELS_AVX2))
		return true;
	sm_cpu_feature_list(feats, sizeof(feats));
	GUC_check_errcode(ERRCODE_FEATURE_NOT_SUPPORTED);
	GUC_check_errmsg("this CPU cannot run the %s kernels", sm_pg_enum_name(sm_cpu_kernels_options, *newval));
	GUC_check_errdetail("The %s kernels need %s; this CPU has: %s.", sm_pg_enum_name(sm_cpu_kernels_options, *newval),
						avx512 ? "AVX-512F" : "AVX2 and FMA", feats);
	GUC_check_errhint("Use \"auto\", or one of the kernel sets this CPU supports.");
	return false;
}

void
sm_cpu_kernels_assign(int newval, void *extra)
{
	sm_error	err;

	/* checked above; "generic", "blas" and "auto" run everywhere */
	sm_pg_helper_quiesce_quietly();
	(void) sm_ops_set_kernels(sm_pg_enum_name(sm_cpu_kernels_options, newval), &err);
}

/* seqmodel.compute_info(): one row */
PG_FUNCTION_INFO_V1(sm_compute_info);
Datum
sm_compute_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	sm_ops_info info;
	sm_ops_device_status dev;
	char		gpu[512];
	Datum		values[13];
	bool		nulls[13] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	sm_ops_describe(&info);
	sm_pg_device_describe(gpu, sizeof(gpu));
	sm_ops_device_status_get(&dev);
	/* the backend a model call would use now, by seqmodel.device */
	values[0] = CStringGetTextDatum(sm_device == SM_PG_DEVICE_CPU || sm_ops_device() == NULL ||
									(sm_device == SM_PG_DEVICE_AUTO && IsParallelWorker())
									? "cpu" : sm_ops_device()->name);
	values[1] = CStringGetTextDatum(sm_pg_enum_name(sm_cpu_kernels_options, sm_cpu_kernels));
	values[2] = CStringGetTextDatum(info.kernels);
	values[3] = CStringGetTextDatum(info.cpu);
	values[4] = CStringGetTextDatum(info.features);
	values[5] = CStringGetTextDatum(info.blas_core ? info.blas_core : "unknown");
	values[6] = Int32GetDatum(info.blas_threads);
	values[7] = Int32GetDatum(sm_threads);
	values[8] = CStringGetTextDatum(sm_pg_enum_name(sm_device_options, sm_device));
	values[9] = CStringGetTextDatum(gpu);
	values[10] = Int64GetDatum((int64) dev.offloaded);
	values[11] = Int64GetDatum((int64) dev.fallbacks);
	values[12] = Int64GetDatum((int64) dev.dev.cached_bytes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
