/*
 * sm_tensor.h -- named float32 tensors (a model's weights) and the
 * description of a stored tensor (name, dtype, shape) before it is loaded.
 *
 * Dimension letters used across the engine: N rows (batch), I input width,
 * O output width.
 */
#ifndef SM_TENSOR_H
#define SM_TENSOR_H

#include "sm_core.h"
#include "sm_dtype.h"

#define SM_MAX_DIMS 8
#define SM_MAX_NAME 1024		/* bytes in a tensor name */

/* What a stored tensor says it is. */
typedef struct sm_tensor_info
{
	char	   *name;
	sm_dtype	dtype;
	int			ndim;
	int64_t		shape[SM_MAX_DIMS];
} sm_tensor_info;

/* A loaded tensor: always float32, row-major. */
typedef struct sm_tensor
{
	char	   *name;
	int			ndim;
	int64_t		shape[SM_MAX_DIMS];
	size_t		numel;
	float	   *data;
	size_t		filled;			/* elements written so far while loading */
} sm_tensor;

typedef struct sm_weights
{
	int			count;
	int			cap;
	sm_tensor **items;
	size_t		bytes;			/* float32 bytes held */
} sm_weights;

/* product of the dimensions; false on overflow past SIZE_MAX / 8 */
bool		sm_shape_numel(int ndim, const int64_t *shape, size_t *numel);
/* "[3, 5]" into buf (always NUL-terminated) */
void		sm_shape_format(char *buf, size_t size, int ndim, const int64_t *shape);

void		sm_weights_init(sm_weights *w);
/* Allocate a zero-filled tensor and add it; the name must be new. */
sm_status	sm_weights_add(sm_weights *w, const char *name, int ndim,
						   const int64_t *shape, sm_tensor **out, sm_error *err);
sm_tensor  *sm_weights_find(const sm_weights *w, const char *name);
void		sm_weights_free(sm_weights *w);

/* Index of the first NaN or infinity in x[0..n), or n when all are finite. */
size_t		sm_find_nonfinite(const float *x, size_t n);

/*
 * Append nbytes of stored data (little-endian, of the given dtype) to a
 * tensor being loaded.  Errors when the bytes are not whole elements or
 * would run past the tensor's size.
 */
sm_status	sm_tensor_append(sm_tensor *t, sm_dtype dtype, const void *bytes,
							 size_t nbytes, sm_error *err);

#endif							/* SM_TENSOR_H */
