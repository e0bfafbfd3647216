/*
 * import.c -- safetensors in and out of the catalog, and dropping models.
 *
 * Import validates everything before writing anything: the file's structure
 * (engine, sm_safetensors.c), then the arch, config and tensor list (engine,
 * the arch's spec).  Only then are rows written, tensor by tensor in chunks
 * of SM_CHUNK_BYTES, so neither the file nor a tensor is ever held twice.
 * A server-side file is read piece by piece and so may exceed 1 GB.
 */
#include "sm_pg.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "core/sm_safetensors.h"

/* where the file's bytes come from: memory (bytea) or a server file */
typedef struct st_source
{
	const char *buf;			/* whole file, or NULL */
	int			fd;				/* else this file */
	const char *path;
	uint64		size;
} st_source;

static void
source_read(st_source *src, uint64 offset, size_t len, char *dst)
{
	if (src->buf != NULL)
	{
		memcpy(dst, src->buf + offset, len);
		return;
	}
	while (len > 0)
	{
		ssize_t		n = pread(src->fd, dst, len, (off_t) offset);

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", src->path)));
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("could not read file \"%s\": file shrank while being read", src->path)));
		dst += n;
		offset += n;
		len -= n;
	}
}

/* the __metadata__ object as JSON text for the jsonb column */
static char *
metadata_text(const sm_json *meta)
{
	sm_buf		b;
	char	   *out;

	if (meta == NULL)
		return NULL;
	sm_buf_init(&b);
	sm_buf_append(&b, "{", 1);
	for (size_t i = 0; i < meta->count; i++)
	{
		if (i > 0)
			sm_buf_append(&b, ",", 1);
		sm_json_write_string(&b, meta->keys[i], strlen(meta->keys[i]));
		sm_buf_append(&b, ":", 1);
		sm_json_write_string(&b, meta->items[i]->string, meta->items[i]->string_len);
	}
	sm_buf_append(&b, "}", 1);
	if (b.failed)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	out = pstrdup(b.data);
	sm_buf_free(&b);
	return out;
}

static void
check_name(const char *name)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
}

static void
import_error_context(void *arg)
{
	errcontext("importing model \"%s\"", (const char *) arg);
}

/*
 * Importing needs INSERT on the catalog (role seqmodel_importer has it):
 * say so before reading the file, rather than failing at the first row.
 */
static void
check_may_import(const char *name)
{
	Oid			relid = get_relname_relid("model", get_namespace_oid("seqmodel", false));

	if (pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to import model \"%s\"", name),
				 errdetail("Importing needs INSERT on seqmodel.model, seqmodel.tensor and seqmodel.tokenizer."),
				 errhint("Grant role seqmodel_importer to role \"%s\".", GetUserNameFromId(GetUserId(), false))));
}

static int64
import_model(const char *name, const char *arch, Jsonb *config, bool replace,
			 st_source *src)
{
	static SPIPlanPtr insert_model = NULL;
	static SPIPlanPtr update_model = NULL;
	static SPIPlanPtr delete_tensors = NULL;
	static SPIPlanPtr insert_tensor = NULL;
	Oid			model_types[4] = {TEXTOID, TEXTOID, JSONBOID, JSONBOID};
	Oid			tensor_types[6] = {TEXTOID, TEXTOID, INT4OID, INT4ARRAYOID, TEXTOID, BYTEAOID};
	ErrorContextCallback errcb;
	uint8		prefix[SM_ST_PREFIX_LEN] = {0};
	uint64		header_len;
	char	   *header;
	char	   *config_text;
	char	   *meta;
	sm_st_file	st;
	sm_tensor_info *infos;
	sm_error	err;
	bytea	   *chunk;
	int64		parameters = 0;
	Oid			owner;
	bool		exists;
	int			rc;

	check_name(name);
	check_may_import(name);
	errcb.callback = import_error_context;
	errcb.arg = (void *) name;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	/* 1. the file's structure */
	if (src->size >= SM_ST_PREFIX_LEN)
		source_read(src, 0, SM_ST_PREFIX_LEN, (char *) prefix);
	SM_PG_CHECK(sm_st_read_prefix(prefix, src->size, &header_len, &err), &err);
	header = palloc(header_len);
	source_read(src, SM_ST_PREFIX_LEN, header_len, header);
	SM_PG_CHECK(sm_st_parse_header((uint8 *) header, header_len, src->size, &st, &err), &err);

	/* 2. arch, config and tensor list */
	config_text = JsonbToCString(NULL, &config->root, VARSIZE(config));
	infos = palloc(sizeof(sm_tensor_info) * Max(st.n_tensors, 1));
	for (int i = 0; i < st.n_tensors; i++)
		infos[i] = st.tensors[i].info;
	SM_PG_CHECK(sm_model_check(arch, config_text, strlen(config_text), infos, st.n_tensors, &err), &err);
	meta = metadata_text(st.metadata);

	/* 3. the rows */
	chunk = palloc(VARHDRSZ + SM_CHUNK_BYTES);
	/* whether it exists past row-level security: the name is the primary key */
	exists = sm_catalog_model_owner(name, &owner);
	if (exists && !replace)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" already exists", name),
				 errhint("Pass replace => true to replace it, or drop it with seqmodel.drop_model().")));
	if (exists)
		sm_catalog_require_owner(name, "replace it");
	SPI_connect();
	{
		Datum		v[4];
		char		n[4] = {' ', ' ', ' ', meta ? ' ' : 'n'};

		v[0] = CStringGetTextDatum(name);
		v[1] = CStringGetTextDatum(arch);
		v[2] = JsonbPGetDatum(config);
		v[3] = meta ? DirectFunctionCall1(jsonb_in, CStringGetDatum(meta)) : (Datum) 0;
		if (exists)
		{
			/*
			 * A replaced model keeps its row, and so its owner, its use
			 * grants and its tokenizer (new weights, same text); the
			 * triggers give it a new version.
			 */
			sm_catalog_plan(&update_model,
							"UPDATE seqmodel.model SET arch = $2, config = $3, metadata = $4, created = pg_catalog.now()"
							" WHERE name OPERATOR(pg_catalog.=) $1",
							4, model_types);
			rc = SPI_execute_plan(update_model, v, n, false, 0);
			if (rc != SPI_OK_UPDATE || SPI_processed != 1)
				elog(ERROR, "updating model failed: %s", SPI_result_code_string(rc));
			sm_catalog_plan(&delete_tensors,
							"DELETE FROM seqmodel.tensor WHERE model OPERATOR(pg_catalog.=) $1",
							1, model_types);
			rc = SPI_execute_plan(delete_tensors, v, NULL, false, 0);
			if (rc != SPI_OK_DELETE)
				elog(ERROR, "deleting tensors failed: %s", SPI_result_code_string(rc));
		}
		else
		{
			sm_catalog_plan(&insert_model,
							"INSERT INTO seqmodel.model (name, arch, config, metadata) VALUES ($1, $2, $3, $4)",
							4, model_types);
			rc = SPI_execute_plan(insert_model, v, n, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "inserting model failed: %s", SPI_result_code_string(rc));
		}
	}

	sm_catalog_plan(&insert_tensor,
					"INSERT INTO seqmodel.tensor (model, name, chunk, shape, dtype, data)"
					" VALUES ($1, $2, $3, $4, $5, $6)",
					6, tensor_types);
	for (int i = 0; i < st.n_tensors; i++)
	{
		const sm_st_tensor *t = &st.tensors[i];
		Datum		dims[SM_MAX_DIMS];
		Datum		v[6];
		size_t		numel;
		int			k = 0;

		for (int d = 0; d < t->info.ndim; d++)
			dims[d] = Int32GetDatum((int32) t->info.shape[d]);
		v[0] = CStringGetTextDatum(name);
		v[1] = CStringGetTextDatum(t->info.name);
		v[3] = PointerGetDatum(construct_array(dims, t->info.ndim, INT4OID, 4, true, TYPALIGN_INT));
		v[4] = CStringGetTextDatum(sm_dtype_name(t->info.dtype));
		v[5] = PointerGetDatum(chunk);
		/* an empty tensor still gets its (empty) chunk 0 */
		for (uint64 off = t->begin; off < t->end || k == 0; off += SM_CHUNK_BYTES, k++)
		{
			size_t		len = (size_t) Min((uint64) SM_CHUNK_BYTES, t->end - off);

			CHECK_FOR_INTERRUPTS();
			source_read(src, st.data_start + off, len, VARDATA(chunk));
			SET_VARSIZE(chunk, VARHDRSZ + len);
			v[2] = Int32GetDatum(k);
			rc = SPI_execute_plan(insert_tensor, v, NULL, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "inserting tensor failed: %s", SPI_result_code_string(rc));
			if (t->end - off <= SM_CHUNK_BYTES)
				break;
		}
		sm_shape_numel(t->info.ndim, t->info.shape, &numel);
		parameters += (int64) numel;
	}
	SPI_finish();
	sm_st_file_free(&st);
	sm_cache_forget(name);
	error_context_stack = errcb.previous;
	return parameters;
}

static void
import_args(FunctionCallInfo fcinfo, char **name, char **arch, Jsonb **config, bool *replace)
{
	*name = sm_pg_text_arg(fcinfo, 0, "name");
	*arch = sm_pg_text_arg(fcinfo, 1, "arch");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("config must not be null"),
				 errhint("Pass '{}' for an arch that needs no config.")));
	*config = PG_GETARG_JSONB_P(2);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("replace must not be null")));
	*replace = PG_GETARG_BOOL(4);
}

PG_FUNCTION_INFO_V1(sm_import_safetensors);
/* seqmodel.import_safetensors(name, arch, config, weights bytea, replace) */
Datum
sm_import_safetensors(PG_FUNCTION_ARGS)
{
	char	   *name,
			   *arch;
	Jsonb	   *config;
	bool		replace;
	bytea	   *weights;
	st_source	src = {0};

	import_args(fcinfo, &name, &arch, &config, &replace);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("weights must not be null")));
	weights = PG_GETARG_BYTEA_PP(3);
	src.buf = VARDATA_ANY(weights);
	src.size = VARSIZE_ANY_EXHDR(weights);
	src.fd = -1;
	PG_RETURN_INT64(import_model(name, arch, config, replace, &src));
}

PG_FUNCTION_INFO_V1(sm_import_safetensors_file);
/* seqmodel.import_safetensors_file(name, arch, config, path, replace) */
Datum
sm_import_safetensors_file(PG_FUNCTION_ARGS)
{
	char	   *name,
			   *arch,
			   *path;
	Jsonb	   *config;
	bool		replace;
	st_source	src = {0};
	struct stat st;
	int64		n;

	import_args(fcinfo, &name, &arch, &config, &replace);
	path = sm_pg_text_arg(fcinfo, 3, "path");
	/* as COPY FROM a file and pg_read_binary_file do */
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to import a model from a server file"),
				 errdetail("Only roles with privileges of the \"pg_read_server_files\" role may read files on the server."),
				 errhint("Send the file from the client instead: seqmodel.import_safetensors() with lo_get() of a large object, or a bytea parameter.")));
	canonicalize_path(path);
	src.fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (src.fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	if (fstat(src.fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", path)));
	src.path = path;
	src.size = (uint64) st.st_size;
	n = import_model(name, arch, config, replace, &src);
	CloseTransientFile(src.fd);
	PG_RETURN_INT64(n);
}

PG_FUNCTION_INFO_V1(sm_export_safetensors);
/* seqmodel.export_safetensors(name): the model as a safetensors file */
Datum
sm_export_safetensors(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr list_plan = NULL;
	static SPIPlanPtr data_plan = NULL;
	Oid			name_type[1] = {TEXTOID};
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		v[1];
	sm_model_row row;
	sm_tensor_info *infos;
	uint64	   *expect;
	sm_json    *meta = NULL;
	sm_buf		header;
	sm_error	err;
	uint64		total;
	bytea	   *result;
	char	   *pos;
	int			n;
	Portal		portal;
	MemoryContext upper = CurrentMemoryContext;
	MemoryContext upper_spi;

	SPI_connect();
	upper_spi = CurrentMemoryContext;
	if (!sm_catalog_model_row(name, &row))
		sm_catalog_unknown_model(name);
	v[0] = CStringGetTextDatum(name);

	/* the header first: it needs every tensor's name, dtype and shape */
	sm_catalog_plan(&list_plan,
					"SELECT name, dtype, shape FROM seqmodel.tensor"
					" WHERE model OPERATOR(pg_catalog.=) $1 AND chunk OPERATOR(pg_catalog.=) 0"
					" ORDER BY name",
					1, name_type);
	if (SPI_execute_plan(list_plan, v, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading seqmodel.tensor failed");
	n = (int) SPI_processed;
	infos = palloc0(sizeof(sm_tensor_info) * Max(n, 1));
	expect = palloc0(sizeof(uint64) * Max(n, 1));
	total = 0;
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		ArrayType  *shape;
		Datum	   *elems;
		int			ndim;
		size_t		numel;

		infos[i].name = SPI_getvalue(tup, desc, 1);
		infos[i].dtype = sm_dtype_from_name(SPI_getvalue(tup, desc, 2));
		shape = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull));
		deconstruct_array(shape, INT4OID, 4, true, TYPALIGN_INT, &elems, NULL, &ndim);
		if (infos[i].dtype == SM_DTYPE_INVALID || ndim > SM_MAX_DIMS)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("tensor \"%s\" of model \"%s\" has an invalid dtype or shape",
							infos[i].name, name)));
		infos[i].ndim = ndim;
		for (int d = 0; d < ndim; d++)
			infos[i].shape[d] = DatumGetInt32(elems[d]);
		if (!sm_shape_numel(ndim, infos[i].shape, &numel))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("tensor \"%s\" of model \"%s\" has an invalid shape", infos[i].name, name)));
		expect[i] = (uint64) numel * sm_dtype_size(infos[i].dtype);
		total += expect[i];
	}
	if (row.metadata != NULL)
		SM_PG_CHECK(sm_json_parse(row.metadata, strlen(row.metadata), &meta, &err), &err);
	sm_buf_init(&header);
	SM_PG_CHECK(sm_st_write_header(&header, infos, n, meta, &err), &err);
	total += header.len;
	if (total > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model \"%s\" is too large to export as one bytea value", name),
				 errdetail("The file would have %llu bytes; a bytea holds at most %zu.",
						   (unsigned long long) total, (size_t) (MaxAllocSize - VARHDRSZ))));

	result = MemoryContextAlloc(upper, VARHDRSZ + total);
	SET_VARSIZE(result, VARHDRSZ + total);
	memcpy(VARDATA(result), header.data, header.len);
	pos = VARDATA(result) + header.len;

	/* then the data, tensor by tensor in the same (name) order */
	sm_catalog_plan(&data_plan,
					"SELECT name, data FROM seqmodel.tensor"
					" WHERE model OPERATOR(pg_catalog.=) $1 ORDER BY name, chunk",
					1, name_type);
	portal = SPI_cursor_open(NULL, data_plan, v, NULL, true);
	{
		/* each row is detoasted here and freed before the next */
		MemoryContext rowctx = AllocSetContextCreate(CurrentMemoryContext, "seqmodel export row",
													 ALLOCSET_DEFAULT_SIZES);
		int			i = -1;
		uint64		got = 0;
		char	   *cur = NULL;

		for (;;)
		{
			char	   *tname;
			bytea	   *data;
			bool		isnull;
			size_t		len;

			CHECK_FOR_INTERRUPTS();
			SPI_cursor_fetch(portal, true, 1);
			tname = SPI_processed ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
			if (cur == NULL || tname == NULL || strcmp(cur, tname) != 0)
			{
				/* the previous tensor is complete: check its size */
				if (i >= 0 && got != expect[i])
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("stored data of tensor \"%s\" of model \"%s\" has the wrong size",
									infos[i].name, name),
							 errdetail("Its shape and dtype need %llu bytes; its rows hold %llu.",
									   (unsigned long long) expect[i], (unsigned long long) got)));
				if (tname == NULL)
					break;
				i++;
				got = 0;
				cur = tname;
				if (i >= n || strcmp(infos[i].name, tname) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("tensor \"%s\" of model \"%s\" lacks chunk 0", tname, name)));
			}
			MemoryContextSwitchTo(rowctx);
			data = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
			len = VARSIZE_ANY_EXHDR(data);
			if (got + len > expect[i])
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("stored data of tensor \"%s\" of model \"%s\" has the wrong size",
								infos[i].name, name),
						 errdetail("Its shape and dtype need %llu bytes; its rows hold more.",
								   (unsigned long long) expect[i])));
			memcpy(pos, VARDATA_ANY(data), len);
			pos += len;
			got += len;
			MemoryContextSwitchTo(upper_spi);
			MemoryContextReset(rowctx);
			SPI_freetuptable(SPI_tuptable);
		}
		MemoryContextDelete(rowctx);
	}
	SPI_cursor_close(portal);
	sm_buf_free(&header);
	SPI_finish();
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(sm_drop_model);
/* seqmodel.drop_model(name, if_exists): true if the model existed */
Datum
sm_drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = sm_pg_text_arg(fcinfo, 0, "name");
	bool		if_exists = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	bool		found;
	Oid			owner;

	if (!sm_catalog_model_owner(name, &owner))
	{
		sm_cache_forget(name);
		if (!if_exists)
			sm_catalog_unknown_model(name);
		PG_RETURN_BOOL(false);
	}
	sm_catalog_require_owner(name, "drop it");
	SPI_connect();
	found = sm_catalog_delete_model(name);
	SPI_finish();
	sm_cache_forget(name);
	sm_shared_forget(name);
	PG_RETURN_BOOL(found);
}
