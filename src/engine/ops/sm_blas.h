/*
 * sm_blas.h -- the one place the engine includes CBLAS (OpenBLAS).
 */
#ifndef SM_BLAS_H
#define SM_BLAS_H

#include <cblas.h>

/* OpenBLAS's config header pulls in <complex.h>, whose macro I would
 * clash with the dimension letter I used throughout the engine */
#ifdef I
#undef I
#endif

#endif
