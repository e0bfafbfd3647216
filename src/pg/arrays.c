/*
 * arrays.c -- real[] in and out of the engine's row-major float matrices,
 * with the input checks every model function shares.
 */
#include "sm_pg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "core/sm_tensor.h"

/* "[3]" or "[2][5]": a 1-based position relative to the array's start */
static void
format_position(char *buf, size_t size, int ndim, size_t index, int cols)
{
	if (ndim == 1)
		snprintf(buf, size, "[%zu]", index + 1);
	else
		snprintf(buf, size, "[%zu][%zu]", index / cols + 1, index % cols + 1);
}

float *
sm_pg_real_matrix(ArrayType *arr, const char *argname, int *ndim, int *rows, int *cols)
{
	int			nd = ARR_NDIM(arr);
	int		   *dims = ARR_DIMS(arr);
	size_t		n;
	size_t		bad;
	float	   *data;
	char		pos[64];

	if (ARR_ELEMTYPE(arr) != FLOAT4OID)
		elog(ERROR, "%s must be real[]", argname);
	if (nd == 0 || ArrayGetNItems(nd, dims) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is empty", argname),
				 errdetail("A model needs at least one input value.")));
	if (nd > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one- or two-dimensional array", argname),
				 errdetail("It has %d dimensions.", nd)));
	*ndim = nd;
	*rows = nd == 1 ? 1 : dims[0];
	*cols = nd == 1 ? dims[0] : dims[1];
	n = (size_t) *rows * (size_t) *cols;

	if (ARR_HASNULL(arr))
	{
		bits8	   *bitmap = ARR_NULLBITMAP(arr);

		for (size_t i = 0; i < n; i++)
			if (!(bitmap[i / 8] & (1 << (i % 8))))
			{
				format_position(pos, sizeof(pos), nd, i, *cols);
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s has a NULL at position %s", argname, pos),
						 errhint("Fill or drop missing values before calling the model.")));
			}
	}
	data = (float *) ARR_DATA_PTR(arr);
	bad = sm_find_nonfinite(data, n);
	if (bad < n)
	{
		format_position(pos, sizeof(pos), nd, bad, *cols);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has a non-finite value at position %s", argname, pos),
				 errdetail("The value is %s; models take finite numbers only.",
						   isnan(data[bad]) ? "NaN" : data[bad] > 0 ? "Infinity" : "-Infinity")));
	}
	return data;
}

ArrayType *
sm_pg_real_array(const float *data, int ndim, int rows, int cols)
{
	int			dims[2];
	int			lbs[2] = {1, 1};
	size_t		n = (size_t) rows * (size_t) cols;
	ArrayType  *arr;
	size_t		nbytes = n * sizeof(float);

	if (ndim == 1)
		dims[0] = cols;
	else
	{
		dims[0] = rows;
		dims[1] = cols;
	}
	arr = (ArrayType *) palloc0(ARR_OVERHEAD_NONULLS(ndim) + nbytes);
	SET_VARSIZE(arr, ARR_OVERHEAD_NONULLS(ndim) + nbytes);
	arr->ndim = ndim;
	arr->dataoffset = 0;
	arr->elemtype = FLOAT4OID;
	memcpy(ARR_DIMS(arr), dims, sizeof(int) * ndim);
	memcpy(ARR_LBOUND(arr), lbs, sizeof(int) * ndim);
	memcpy(ARR_DATA_PTR(arr), data, nbytes);
	return arr;
}

void
sm_pg_check_output(const char *model, const float *y, size_t n)
{
	size_t		bad = sm_find_nonfinite(y, n);

	if (bad < n)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("model \"%s\" produced a non-finite value", model),
				 errdetail("Output element %zu is %s.", bad + 1, isnan(y[bad]) ? "NaN" : "infinite"),
				 errhint("Check the model's weights for NaN or huge values, and the input's scale.")));
}

int32 *
sm_pg_int_array(ArrayType *arr, const char *argname, int *n)
{
	int			nd = ARR_NDIM(arr);

	if (ARR_ELEMTYPE(arr) != INT4OID)
		elog(ERROR, "%s must be integer[]", argname);
	if (nd == 0 || ArrayGetNItems(nd, ARR_DIMS(arr)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is empty", argname),
				 errdetail("A model needs at least one token.")));
	if (nd != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", argname),
				 errdetail("It has %d dimensions.", nd)));
	*n = ARR_DIMS(arr)[0];
	if (ARR_HASNULL(arr))
	{
		bits8	   *bitmap = ARR_NULLBITMAP(arr);

		for (int i = 0; i < *n; i++)
			if (!(bitmap[i / 8] & (1 << (i % 8))))
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s has a NULL at position [%d]", argname, i + 1)));
	}
	return (int32 *) ARR_DATA_PTR(arr);
}
