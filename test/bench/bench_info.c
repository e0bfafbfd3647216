/*
 * bench_info.c -- one line for the benchmark reports: the CPU, its
 * features, the kernel set auto picks, and OpenBLAS's own core choice.
 *   cc -std=gnu11 -O2 -Isrc/engine test/bench/bench_info.c src/engine/libsmengine.a -lopenblas -lm
 */
#include <stdio.h>

#include "ops/sm_ops.h"

int
main(void)
{
	sm_ops_info info;

	sm_ops_describe(&info);
	printf("cpu: %s | features: %s | seqmodel kernels: %s | OpenBLAS core: %s\n",
		   info.cpu, info.features, info.kernels, info.blas_core);
	return 0;
}
