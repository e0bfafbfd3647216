/*
 * sm_linear.h -- arch "linear": one torch.nn.Linear applied to each input
 * vector, y = x W^T + b.
 *
 * Config (mirrors nn.Linear's arguments):
 *   in_features   integer >= 1, required
 *   out_features  integer >= 1, required
 *   bias          boolean, default true
 *   prefix        string prepended to the tensor names, default "" (a module
 *                 attribute self.fc = nn.Linear(..) saves "fc.weight": use
 *                 "fc.")
 * Tensors: <prefix>weight [out_features, in_features], <prefix>bias
 * [out_features] when bias is true.
 */
#ifndef SM_LINEAR_H
#define SM_LINEAR_H

#include "core/sm_model.h"
#include "ops/sm_ops.h"

extern const sm_arch sm_arch_linear;

#define SM_LINEAR_MAX_FEATURES (1 << 24)

typedef struct sm_linear
{
	int64_t		in_features;	/* I */
	int64_t		out_features;	/* O */
	const float *weight;		/* [O, I] */
	const float *bias;			/* [O] or NULL */
	sm_packed	packed;			/* weight packed for the compute seam */
} sm_linear;

/* The linear layer of a model built by sm_arch_linear. */
const sm_linear *sm_linear_of(const sm_model *model);

/*
 * x: [N, I] -> y: [N, O].  BLAS, in blocks of rows with an abort check
 * between blocks.  Returns SM_ERR_ABORTED if asked to stop.
 */
sm_status	sm_linear_forward(const sm_linear *lin, const float *x, size_t n,
							  float *y, sm_error *err);

/* The same, one multiply-add at a time: the reference for unit tests. */
void		sm_linear_forward_naive(const sm_linear *lin, const float *x, size_t n,
									float *y);

#endif							/* SM_LINEAR_H */
