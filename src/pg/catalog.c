/*
 * catalog.c -- reading seqmodel.model and seqmodel.tensor through SPI, and
 * turning tensor rows into an engine model.
 *
 * Every query schema-qualifies its tables and operators so a caller's
 * search_path cannot change what runs.  Callers connect SPI; plans are
 * prepared once per backend and kept.
 */
#include "sm_pg.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

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

/* seqmodel.model's oid and owner; *has_owner: whether it has column "owner" (0.5.0 on) */
static Oid
model_table(Oid *relowner, bool *has_owner)
{
	Oid			relid = get_relname_relid("model", get_namespace_oid("seqmodel", false));
	HeapTuple	tp;

	if (!OidIsValid(relid))
		elog(ERROR, "table seqmodel.model does not exist");
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	*relowner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);
	*has_owner = get_attnum(relid, "owner") != InvalidAttrNumber;
	return relid;
}

/*
 * Whether a model of that name exists, whatever row-level security lets
 * the current role see, and its owner (InvalidOid on a catalog older than
 * 0.5.0, which has no owners).  This one fixed query, which reads the name
 * and owner only, runs as the owner of seqmodel.model (who is not subject
 * to its RLS) in a restricted security context, as PostgreSQL runs its
 * foreign key checks: so a refusal can say that the model exists and who
 * owns it.  Nothing else of a model is read past RLS.  Connects SPI itself.
 */
bool
sm_catalog_model_owner(const char *name, Oid *owner)
{
	static SPIPlanPtr plan = NULL;
	static SPIPlanPtr plan_old = NULL;
	Oid			relowner;
	bool		has_owner;
	Oid			save_userid;
	int			save_sec;
	bool		found = false;

	model_table(&relowner, &has_owner);
	*owner = InvalidOid;
	SPI_connect();
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(relowner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		if (has_owner)
		{
			if (sm_catalog_exec_by_name(&plan,
										"SELECT owner::pg_catalog.oid FROM seqmodel.model"
										" WHERE name OPERATOR(pg_catalog.=) $1",
										name, true, SPI_OK_SELECT) > 0)
			{
				bool		isnull;

				found = true;
				*owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull));
			}
		}
		else
			found = sm_catalog_exec_by_name(&plan_old,
											"SELECT 1 FROM seqmodel.model WHERE name OPERATOR(pg_catalog.=) $1",
											name, true, SPI_OK_SELECT) > 0;
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();
	return found;
}

/* a role's name for messages, also for a dropped role */
static const char *
role_name(Oid role)
{
	char	   *n = GetUserNameFromId(role, true);

	return n ? n : psprintf("%u", role);
}

bool
sm_catalog_may_manage(Oid owner)
{
	/* superusers have the privileges of every role */
	return !OidIsValid(owner) || has_privs_of_role(GetUserId(), owner);
}

Oid
sm_catalog_require_owner(const char *name, const char *action)
{
	Oid			owner;

	if (!sm_catalog_model_owner(name, &owner))
		sm_catalog_unknown_model(name);
	if (!sm_catalog_may_manage(owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of model \"%s\"", name),
				 errdetail("Model \"%s\" is owned by role \"%s\"; only that role, roles with its privileges and superusers may %s.",
						   name, role_name(owner), action)));
	return owner;
}

void
sm_catalog_unknown_model(const char *name)
{
	Oid			owner;

	/* it exists, but row-level security hides it from this role */
	if (sm_catalog_model_owner(name, &owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for model \"%s\"", name),
				 errdetail("Model \"%s\" is owned by role \"%s\", which has not granted its use to role \"%s\".",
						   name, role_name(owner), role_name(GetUserId())),
				 errhint("Its owner can grant it with seqmodel.grant_use().")));
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

char *
sm_catalog_target_tokenizer(const char *name)
{
	static SPIPlanPtr plan = NULL;

	if (sm_catalog_exec_by_name(&plan,
								"SELECT target_definition FROM seqmodel.tokenizer WHERE model OPERATOR(pg_catalog.=) $1",
								name, true, SPI_OK_SELECT) == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);	/* NULL when NULL */
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
