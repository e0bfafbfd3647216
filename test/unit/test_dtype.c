/*
 * test_dtype.c -- dtype names/sizes and exact F16/BF16 widening.
 */
#include "sm_test.h"
#include "sm_tests.h"

#include "core/sm_dtype.h"

void
test_dtype(void)
{
	CHECK(sm_dtype_from_name("F32") == SM_DTYPE_F32);
	CHECK(sm_dtype_from_name("BF16") == SM_DTYPE_BF16);
	CHECK(sm_dtype_from_name("f32") == SM_DTYPE_INVALID);
	CHECK(sm_dtype_from_name("") == SM_DTYPE_INVALID);
	CHECK(sm_dtype_size(SM_DTYPE_F16) == 2 && sm_dtype_size(SM_DTYPE_I64) == 8);
	CHECK(sm_dtype_is_weight(SM_DTYPE_F16) && !sm_dtype_is_weight(SM_DTYPE_I64));
	CHECK(strcmp(sm_dtype_name(SM_DTYPE_F8_E4M3), "F8_E4M3") == 0);

	/* F16: normal, negative, max, smallest subnormal, inf, NaN, zeros */
	CHECK(sm_f16_to_f32(0x3c00) == 1.0f);
	CHECK(sm_f16_to_f32(0xc000) == -2.0f);
	CHECK(sm_f16_to_f32(0x7bff) == 65504.0f);
	CHECK(sm_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
	CHECK(sm_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
	CHECK(isinf(sm_f16_to_f32(0x7c00)) && sm_f16_to_f32(0x7c00) > 0);
	CHECK(isnan(sm_f16_to_f32(0x7e00)));
	CHECK(sm_f16_to_f32(0x8000) == 0.0f && signbit(sm_f16_to_f32(0x8000)));
	CHECK(sm_f16_to_f32(0x3555) == 0x1.554p-2f);

	/* every finite F16 round-trips through float (exactness of widening) */
	{
		int			bad = 0;

		for (unsigned h = 0; h < 0x10000; h++)
		{
			float		f = sm_f16_to_f32((uint16_t) h);
			_Float16	back = (_Float16) f;
			uint16_t	bits;

			if (isnan(f))
				continue;
			memcpy(&bits, &back, 2);
			if (bits != h)
				bad++;
		}
		CHECK_MSG(bad == 0, "%d F16 values did not round-trip", bad);
	}

	/* BF16 is the high half of a float */
	CHECK(sm_bf16_to_f32(0x3f80) == 1.0f);
	CHECK(sm_bf16_to_f32(0xc049) == -0x1.92p+1f);

	{
		uint8_t		src[4] = {0x00, 0x3c, 0x00, 0xc0};	/* F16 1, -2 LE */
		float		dst[2];

		sm_dtype_to_f32(SM_DTYPE_F16, src, 2, dst);
		CHECK(dst[0] == 1.0f && dst[1] == -2.0f);
	}
}
