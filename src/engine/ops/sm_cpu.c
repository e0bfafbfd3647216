/*
 * sm_cpu.c -- CPU feature detection (see sm_cpu.h).
 */
#include "sm_cpu.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#define SM_CPU_X86 1
#endif

static sm_cpu_features features;
static bool detected = false;

const sm_cpu_features *
sm_cpu(void)
{
	if (!detected)
	{
#ifdef SM_CPU_X86
		__builtin_cpu_init();
		features.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		features.avx512f = __builtin_cpu_supports("avx512f") && features.avx2_fma;
#endif
		detected = true;
	}
	return &features;
}

void
sm_cpu_brand(char *out, size_t len)
{
	snprintf(out, len, "unknown");
#ifdef SM_CPU_X86
	{
		unsigned int regs[12];
		char		brand[49];
		unsigned int max = __get_cpuid_max(0x80000000u, NULL);

		if (max < 0x80000004u)
			return;
		for (unsigned int i = 0; i < 3; i++)
			__get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
		memcpy(brand, regs, 48);
		brand[48] = '\0';
		/* trim the padding some CPUs put around it */
		{
			char	   *s = brand;
			size_t		n;

			while (*s == ' ')
				s++;
			n = strlen(s);
			while (n > 0 && s[n - 1] == ' ')
				s[--n] = '\0';
			snprintf(out, len, "%s", s);
		}
	}
#endif
}

void
sm_cpu_feature_list(char *out, size_t len)
{
	size_t		n = 0;

	out[0] = '\0';
#ifdef SM_CPU_X86
	__builtin_cpu_init();
#define FEATURE(name) \
	if (__builtin_cpu_supports(name) && n < len) \
		n += (size_t) snprintf(out + n, len - n, "%s%s", n ? " " : "", name)
	FEATURE("sse4.2");
	FEATURE("avx");
	FEATURE("avx2");
	FEATURE("fma");
	FEATURE("f16c");
	FEATURE("avx512f");
	FEATURE("avx512bw");
	FEATURE("avx512vl");
	FEATURE("avx512vnni");
	FEATURE("avx512bf16");
	FEATURE("avx512fp16");
	FEATURE("amx-tile");
#undef FEATURE
#endif
	if (n == 0)
		snprintf(out, len, "none");
}
