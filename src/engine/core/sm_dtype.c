/*
 * sm_dtype.c -- dtype names, sizes and exact widening to float32.
 *
 * Stored data is little-endian (safetensors).  The engine assumes a
 * little-endian host (checked at build time below) so F32 loads are a copy.
 */
#include "sm_dtype.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "seqmodel assumes a little-endian host"
#endif

static const struct
{
	sm_dtype	dtype;
	const char *name;
	size_t		size;
}			dtypes[] = {
	{SM_DTYPE_F32, "F32", 4},
	{SM_DTYPE_F16, "F16", 2},
	{SM_DTYPE_BF16, "BF16", 2},
	{SM_DTYPE_F64, "F64", 8},
	{SM_DTYPE_I64, "I64", 8},
	{SM_DTYPE_I32, "I32", 4},
	{SM_DTYPE_I16, "I16", 2},
	{SM_DTYPE_I8, "I8", 1},
	{SM_DTYPE_U64, "U64", 8},
	{SM_DTYPE_U32, "U32", 4},
	{SM_DTYPE_U16, "U16", 2},
	{SM_DTYPE_U8, "U8", 1},
	{SM_DTYPE_BOOL, "BOOL", 1},
	{SM_DTYPE_F8_E4M3, "F8_E4M3", 1},
	{SM_DTYPE_F8_E5M2, "F8_E5M2", 1},
};

#define N_DTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

sm_dtype
sm_dtype_from_name(const char *name)
{
	for (size_t i = 0; i < N_DTYPES; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return dtypes[i].dtype;
	return SM_DTYPE_INVALID;
}

const char *
sm_dtype_name(sm_dtype dtype)
{
	for (size_t i = 0; i < N_DTYPES; i++)
		if (dtypes[i].dtype == dtype)
			return dtypes[i].name;
	return "invalid";
}

size_t
sm_dtype_size(sm_dtype dtype)
{
	for (size_t i = 0; i < N_DTYPES; i++)
		if (dtypes[i].dtype == dtype)
			return dtypes[i].size;
	return 0;
}

bool
sm_dtype_is_weight(sm_dtype dtype)
{
	return dtype == SM_DTYPE_F32 || dtype == SM_DTYPE_F16 || dtype == SM_DTYPE_BF16;
}

static inline float
bits_to_f32(uint32_t bits)
{
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN). */
float
sm_f16_to_f32(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1f;
	uint32_t	mant = h & 0x3ff;

	if (exp == 0x1f)			/* inf or NaN: keep the payload */
		return bits_to_f32(sign | 0x7f800000 | (mant << 13));
	if (exp == 0)
	{
		if (mant == 0)
			return bits_to_f32(sign);
		/* subnormal: normalise, each shift lowers the exponent by one */
		exp = 127 - 15 + 1;
		while ((mant & 0x400) == 0)
		{
			mant <<= 1;
			exp--;
		}
		mant &= 0x3ff;
		return bits_to_f32(sign | (exp << 23) | (mant << 13));
	}
	return bits_to_f32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

/* bfloat16 is the top half of a binary32. */
float
sm_bf16_to_f32(uint16_t b)
{
	return bits_to_f32((uint32_t) b << 16);
}

void
sm_dtype_to_f32(sm_dtype dtype, const void *src, size_t n, float *dst)
{
	const uint8_t *p = src;

	switch (dtype)
	{
		case SM_DTYPE_F32:
			memcpy(dst, src, n * sizeof(float));
			break;
		case SM_DTYPE_F16:
			for (size_t i = 0; i < n; i++)
				dst[i] = sm_f16_to_f32((uint16_t) (p[2 * i] | (p[2 * i + 1] << 8)));
			break;
		case SM_DTYPE_BF16:
			for (size_t i = 0; i < n; i++)
				dst[i] = sm_bf16_to_f32((uint16_t) (p[2 * i] | (p[2 * i + 1] << 8)));
			break;
		default:
			/* callers check sm_dtype_is_weight first */
			memset(dst, 0, n * sizeof(float));
			break;
	}
}
