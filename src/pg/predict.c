/*
 * predict.c -- seqmodel.predict(model, input real[]).
 */
#include "sm_pg.h"

#include "utils/builtins.h"

#include "nn/sm_linear.h"

PG_FUNCTION_INFO_V1(sm_predict);
/* seqmodel.predict(model, input): one vector (1-D) or one per row (2-D) */
Datum
sm_predict(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *input = PG_GETARG_ARRAYTYPE_P(1);
	const sm_model *model = sm_cache_get(name);
	const sm_linear *lin = sm_linear_of(model);
	int			ndim,
				rows,
				cols;
	float	   *x;
	float	   *y;
	sm_error	err;

	if (lin == NULL)
		return sm_predict_sequence(name, input);
	sm_set_threads(sm_threads);
	x = sm_pg_real_matrix(input, "input", &ndim, &rows, &cols);
	if (cols != lin->in_features)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input has %d features, but model \"%s\" expects %lld",
						cols, name, (long long) lin->in_features),
				 ndim == 1 ? errdetail("A one-dimensional input is one vector of in_features values.")
				 : errdetail("A two-dimensional input has one vector of in_features values per row.")));
	y = palloc_extended(sizeof(float) * (size_t) rows * lin->out_features, MCXT_ALLOC_HUGE);
	SM_PG_CHECK(sm_linear_forward(lin, x, (size_t) rows, y, &err), &err);
	sm_pg_check_output(name, y, (size_t) rows * lin->out_features);
	PG_RETURN_ARRAYTYPE_P(sm_pg_real_array(y, ndim, rows, (int) lin->out_features));
}
