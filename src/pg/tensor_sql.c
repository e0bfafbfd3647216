/*
 * tensor_sql.c -- small SQL helpers about stored tensors.
 */
#include "sm_pg.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/array.h"

#include "core/sm_tensor.h"

PG_FUNCTION_INFO_V1(sm_numel);
/* seqmodel.numel(shape int[]): elements of a tensor of that shape */
Datum
sm_numel(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64		numel = 1;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shape must be a one-dimensional array")));
	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		int32		d;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("shape has a NULL dimension at position %d", i + 1)));
		d = DatumGetInt32(elems[i]);
		if (d < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("shape has a negative dimension at position %d", i + 1),
					 errdetail("Dimension %d is %d.", i + 1, d)));
		if (pg_mul_s64_overflow(numel, d, &numel))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("shape has more elements than bigint can count")));
	}
	PG_RETURN_INT64(numel);
}
