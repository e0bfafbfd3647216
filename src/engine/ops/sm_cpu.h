/*
 * sm_cpu.h -- what the CPU can run, from CPUID feature bits (never from
 * the model number: a CPU newer than every table still reports its
 * features).  The operating system's support for the wider registers
 * (XSAVE state) is part of each answer, as __builtin_cpu_supports checks it.
 */
#ifndef SM_CPU_H
#define SM_CPU_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sm_cpu_features
{
	bool		avx2_fma;		/* AVX2 and FMA: the avx2 kernels */
	bool		avx512f;		/* AVX-512 Foundation: the avx512 kernels */
} sm_cpu_features;

const sm_cpu_features *sm_cpu(void);
/* the CPU's brand string (cpuid leaves 0x80000002-4), or "unknown" */
void		sm_cpu_brand(char *out, size_t len);
/* space-separated features of interest present, e.g. "sse4.2 avx avx2 fma" */
void		sm_cpu_feature_list(char *out, size_t len);

/* a spin-wait's pause (x86 PAUSE: yields the core's pipeline to its sibling, saves power) */
static inline void
sm_cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

#endif
