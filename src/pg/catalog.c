/*
 * catalog.c -- reading seqmodel.model and seqmodel.tensor through SPI, and
 * turning tensor rows into an engine model.
 *
 * Every query schema-qualifies its tables and operators so a caller's
 * search_path cannot change what runs.  Callers connect SPI; plans are
 * prepared once per backend and kept.
 */
#include "sm_pg.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* engine allocations go here while a model loads (see engine_hooks.c) */
extern MemoryContext sm_pg_alloc_context;

SPIPlanPtr
sm_catalog_plan(SPIPlanPtr *slot, const char *query, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(query, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", query,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

void
sm_catalog_unknown_model(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", name),
			 errhint("Import it with seqmodel.import_safetensors(); seqmodel.models lists the models there are.")));
	pg_unreachable();
}

uint64
sm_catalog_exec_by_name(SPIPlanPtr *slot, const char *query, const char *name,
						bool read_only, int expect)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			rc;

	sm_catalog_plan(slot, query, 1, argtypes);
	values[0] = CStringGetTextDatum(name);
	rc = SPI_execute_plan(*slot, values, NULL, read_only, 0);
	if (rc != expect)
		elog(ERROR, "query \"%s\" failed: %s", query, SPI_result_code_string(rc));
	return SPI_processed;
}

bool
sm_catalog_model_row(const char *name, sm_model_row *row)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;
	TupleDesc	desc;
	HeapTuple	tup;

	if (sm_catalog_exec_by_name(&plan,
								"SELECT arch, config::text, metadata::text, version FROM seqmodel.model"
								" WHERE name OPERATOR(pg_catalog.=) $1",
								name, true, SPI_OK_SELECT) == 0)
		return false;
	desc = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	row->arch = SPI_getvalue(tup, desc, 1);
	row->config = SPI_getvalue(tup, desc, 2);
	row->metadata = SPI_getvalue(tup, desc, 3);
	row->version = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	return true;
}

char *
sm_catalog_tokenizer(const char *name)
{
	static SPIPlanPtr plan = NULL;

	if (sm_catalog_exec_by_name(&plan,
								"SELECT definition FROM seqmodel.tokenizer WHERE model OPERATOR(pg_catalog.=) $1",
								name, true, SPI_OK_SELECT) == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

int64
sm_catalog_version(const char *name)
{
	static SPIPlanPtr plan = NULL;
	bool		isnull;

	if (sm_catalog_exec_by_name(&plan,
								"SELECT version FROM seqmodel.model WHERE name OPERATOR(pg_catalog.=) $1",
								name, true, SPI_OK_SELECT) == 0)
		return -1;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

bool
sm_catalog_delete_model(const char *name)
{
	static SPIPlanPtr plan = NULL;

	return sm_catalog_exec_by_name(&plan,
								   "DELETE FROM seqmodel.model WHERE name OPERATOR(pg_catalog.=) $1",
								   name, false, SPI_OK_DELETE) > 0;
}

/* shape int[] of a tensor row -> info; errors name the tensor */
static void
shape_from_array(ArrayType *arr, const char *tensor, sm_tensor_info *info)
{
	int			n;
	Datum	   *elems;
	bool	   *nulls;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("shape of tensor \"%s\" is not a one-dimensional array", tensor)));
	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > SM_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("tensor \"%s\" has too many dimensions", tensor),
				 errdetail("It has %d dimensions; at most %d are supported.", n, SM_MAX_DIMS)));
	info->ndim = n;
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || DatumGetInt32(elems[i]) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("shape of tensor \"%s\" has a NULL or negative dimension at position %d",
							tensor, i + 1)));
		info->shape[i] = DatumGetInt32(elems[i]);
	}
}

static void
load_error_context(void *arg)
{
	errcontext("loading model \"%s\"", (const char *) arg);
}

sm_model *
sm_catalog_load(const char *name, const sm_model_row *row,
				void (*before_data) (const char *name, Size f32_bytes))
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	MemoryContext target = CurrentMemoryContext;
	MemoryContext rowctx;
	MemoryContext oldctx;
	ErrorContextCallback errcb;
	Portal		portal;
	sm_model   *model = NULL;
	sm_tensor  *cur = NULL;
	char		curname[SM_MAX_NAME];	/* the tensor being read ("" before the first) */
	sm_tensor_info curinfo;
	int			nextchunk = 0;
	sm_error	err;

	errcb.callback = load_error_context;
	errcb.arg = (void *) name;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	sm_catalog_plan(&plan,
			  "SELECT name, chunk, shape, dtype, data FROM seqmodel.tensor"
			  " WHERE model OPERATOR(pg_catalog.=) $1 ORDER BY name, chunk",
			  1, argtypes);

	sm_pg_alloc_context = target;
	PG_TRY();
	{
		SM_PG_CHECK(sm_model_begin(&model, row->arch, row->config, strlen(row->config), &err), &err);
		/* the spec knows the sizes: the caller may refuse or make room before any data is read */
		if (before_data)
			before_data(name, (Size) sm_model_f32_bytes(model));

		curname[0] = '\0';
		rowctx = AllocSetContextCreate(CurrentMemoryContext, "seqmodel tensor row",
									   ALLOCSET_DEFAULT_SIZES);
		values[0] = CStringGetTextDatum(name);
		portal = SPI_cursor_open(NULL, plan, values, NULL, true);
		for (;;)
		{
			HeapTuple	tup;
			TupleDesc	desc;
			bool		isnull;
			char	   *tname;
			int			chunk;
			sm_tensor_info info;
			bytea	   *data;

			CHECK_FOR_INTERRUPTS();
			SPI_cursor_fetch(portal, true, 1);
			if (SPI_processed == 0)
				break;
			tup = SPI_tuptable->vals[0];
			desc = SPI_tuptable->tupdesc;
			oldctx = MemoryContextSwitchTo(rowctx);

			tname = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
			chunk = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			memset(&info, 0, sizeof(info));
			info.name = tname;
			shape_from_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull)), tname, &info);
			info.dtype = sm_dtype_from_name(TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull)));
			if (info.dtype == SM_DTYPE_INVALID)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("tensor \"%s\" has an unknown dtype", tname),
						 errdetail("seqmodel.tensor.dtype must be F32, F16 or BF16.")));

			if (curname[0] == '\0' || strcmp(curname, tname) != 0)
			{
				/* a new tensor: its rows must start at chunk 0 */
				if (chunk != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("tensor \"%s\" lacks chunk 0", tname),
							 errdetail("Its first stored chunk is %d.", chunk)));
				MemoryContextSwitchTo(target);
				/* cur is NULL for a tensor the arch ignores (a stored buffer) */
				SM_PG_CHECK(sm_model_add_tensor(model, &info, &cur, &err), &err);
				MemoryContextSwitchTo(rowctx);
				strlcpy(curname, tname, sizeof(curname));
				curinfo = info;
				nextchunk = 1;
			}
			else
			{
				if (chunk != nextchunk)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("tensor \"%s\" lacks chunk %d", tname, nextchunk),
							 errdetail("The chunk after %d is %d.", nextchunk - 1, chunk)));
				if (info.dtype != curinfo.dtype || info.ndim != curinfo.ndim ||
					memcmp(info.shape, curinfo.shape, sizeof(int64_t) * info.ndim) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("chunks of tensor \"%s\" disagree on shape or dtype", tname),
							 errdetail("Chunk %d differs from chunk 0.", chunk)));
				nextchunk++;
			}
			data = DatumGetByteaPP(SPI_getbinval(tup, desc, 5, &isnull));
			if (cur != NULL)
				SM_PG_CHECK(sm_tensor_append(cur, info.dtype, VARDATA_ANY(data),
											 VARSIZE_ANY_EXHDR(data), &err), &err);

			MemoryContextSwitchTo(oldctx);
			MemoryContextReset(rowctx);
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		MemoryContextDelete(rowctx);
		SM_PG_CHECK(sm_model_finish(model, &err), &err);
	}
	PG_FINALLY();
	{
		sm_pg_alloc_context = NULL;
	}
	PG_END_TRY();

	error_context_stack = errcb.previous;
	return model;
}
