/*
 * sm_linear.c -- arch "linear" (see sm_linear.h).
 *
 * Dims: N rows, I in_features, O out_features.
 */
#include "sm_linear.h"

#include <stdio.h>
#include <string.h>

#include "ops/sm_ops.h"

/* rows per product: large enough to keep the product efficient, small enough
 * that a cancel is noticed quickly on huge inputs */
#define LINEAR_BLOCK_ROWS 4096

static const char *const linear_keys[] = {
	"in_features", "out_features", "bias", "prefix", NULL
};

static sm_status
linear_spec(const sm_config *cfg, sm_spec *spec, sm_error *err)
{
	int64_t		in,
				out;
	bool		bias;
	const char *prefix;
	sm_status	rc;

	if ((rc = sm_config_check_keys(cfg, linear_keys, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "in_features", true, 0, 1, SM_LINEAR_MAX_FEATURES, &in, err)) != SM_OK ||
		(rc = sm_config_int(cfg, "out_features", true, 0, 1, SM_LINEAR_MAX_FEATURES, &out, err)) != SM_OK ||
		(rc = sm_config_bool(cfg, "bias", true, &bias, err)) != SM_OK ||
		(rc = sm_config_string(cfg, "prefix", "", &prefix, err)) != SM_OK)
		return rc;
	{
		int64_t		wshape[2] = {out, in};

		if ((rc = sm_spec_add(spec, err, 2, wshape, "%sweight", prefix)) != SM_OK)
			return rc;
	}
	if (bias)
	{
		int64_t		bshape[1] = {out};

		if ((rc = sm_spec_add(spec, err, 1, bshape, "%sbias", prefix)) != SM_OK)
			return rc;
	}
	return SM_OK;
}

static sm_status
linear_build(sm_model *model, sm_error *err)
{
	sm_linear  *lin = sm_alloc0(sizeof(sm_linear));
	const char *prefix;
	bool		bias;
	char		name[SM_MAX_NAME];

	if (lin == NULL)
		return sm_fail(err, SM_ERR_NOMEM, "out of memory");
	/* the spec already checked these */
	sm_config_int(&model->cfg, "in_features", true, 0, 1, SM_LINEAR_MAX_FEATURES, &lin->in_features, err);
	sm_config_int(&model->cfg, "out_features", true, 0, 1, SM_LINEAR_MAX_FEATURES, &lin->out_features, err);
	sm_config_bool(&model->cfg, "bias", true, &bias, err);
	sm_config_string(&model->cfg, "prefix", "", &prefix, err);
	snprintf(name, sizeof(name), "%sweight", prefix);
	lin->weight = sm_weights_find(&model->weights, name)->data;
	if (bias)
	{
		snprintf(name, sizeof(name), "%sbias", prefix);
		lin->bias = sm_weights_find(&model->weights, name)->data;
	}
	model->impl = lin;
	return sm_packed_init(&lin->packed, lin->weight, (int) lin->out_features, (int) lin->in_features,
						  false, err);
}

static void
linear_release(sm_model *model)
{
	sm_linear  *lin = model->impl;

	if (lin)
		sm_packed_free(&lin->packed);
	sm_free(model->impl);
	model->impl = NULL;
}

const sm_arch sm_arch_linear = {
	.name = "linear", .family = SM_FAMILY_LINEAR,
	.spec = linear_spec,
	.build = linear_build,
	.release = linear_release,
};

const sm_linear *
sm_linear_of(const sm_model *model)
{
	return model->arch->family == SM_FAMILY_LINEAR ? model->impl : NULL;
}

sm_status
sm_linear_forward(const sm_linear *lin, const float *x, size_t n, float *y,
				  sm_error *err)
{
	/* x: [N, I] -> y: [N, O] */
	const int	I = (int) lin->in_features;
	const int	O = (int) lin->out_features;

	for (size_t r0 = 0; r0 < n; r0 += LINEAR_BLOCK_ROWS)
	{
		size_t		rows = n - r0 < LINEAR_BLOCK_ROWS ? n - r0 : LINEAR_BLOCK_ROWS;
		float	   *yb = y + r0 * (size_t) O;

		if (sm_should_abort())
			return sm_fail(err, SM_ERR_ABORTED, "canceled");
		/* y = bias broadcast, then y += x W^T in one product */
		if (lin->bias)
			for (size_t r = 0; r < rows; r++)
				memcpy(yb + r * (size_t) O, lin->bias, sizeof(float) * (size_t) O);
		sm_op_matmul(&lin->packed, x + r0 * (size_t) I, I, (int) rows, lin->bias ? 1.0f : 0.0f, yb, O);
	}
	return SM_OK;
}

void
sm_linear_forward_naive(const sm_linear *lin, const float *x, size_t n, float *y)
{
	const size_t I = (size_t) lin->in_features;
	const size_t O = (size_t) lin->out_features;

	for (size_t r = 0; r < n; r++)
		for (size_t o = 0; o < O; o++)
		{
			double		acc = lin->bias ? lin->bias[o] : 0.0;

			for (size_t i = 0; i < I; i++)
				acc += (double) x[r * I + i] * lin->weight[o * I + i];
			y[r * O + o] = (float) acc;
		}
}
