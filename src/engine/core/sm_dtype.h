/*
 * sm_dtype.h -- element types of stored tensors and their conversion to
 * float32, the one type the engine computes in.
 *
 * Tensors keep the dtype they were imported with (so an export gives back
 * the same bytes); F16 and BF16 are widened to float32 exactly at load.
 */
#ifndef SM_DTYPE_H
#define SM_DTYPE_H

#include "sm_core.h"

typedef enum sm_dtype
{
	SM_DTYPE_INVALID = 0,
	SM_DTYPE_F32,
	SM_DTYPE_F16,
	SM_DTYPE_BF16,
	/* valid in safetensors files, not usable as model weights */
	SM_DTYPE_F64,
	SM_DTYPE_I64,
	SM_DTYPE_I32,
	SM_DTYPE_I16,
	SM_DTYPE_I8,
	SM_DTYPE_U64,
	SM_DTYPE_U32,
	SM_DTYPE_U16,
	SM_DTYPE_U8,
	SM_DTYPE_BOOL,
	SM_DTYPE_F8_E4M3,
	SM_DTYPE_F8_E5M2
} sm_dtype;

/* safetensors' name ("F32"), or SM_DTYPE_INVALID */
sm_dtype	sm_dtype_from_name(const char *name);
const char *sm_dtype_name(sm_dtype dtype);
size_t		sm_dtype_size(sm_dtype dtype);	/* bytes per element */
bool		sm_dtype_is_weight(sm_dtype dtype);	/* F32, F16 or BF16 */

/* Widen n little-endian elements of a weight dtype to float32. */
void		sm_dtype_to_f32(sm_dtype dtype, const void *src, size_t n, float *dst);

float		sm_f16_to_f32(uint16_t h);
float		sm_bf16_to_f32(uint16_t b);

#endif							/* SM_DTYPE_H */
