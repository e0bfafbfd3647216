/*
 * sm_activ.h -- elementwise activations over float arrays, written so the
 * compiler vectorises them (no libm calls, no branches in the loops), and
 * compiled for AVX2 and baseline x86-64 with the choice made at run time.
 * Without FMA contraction (no -mfma, no -ffast-math) both builds give the
 * same bits, so results do not depend on the machine.
 *
 * Accuracy (checked by the unit tests against libm over wide ranges):
 * expf within 2 ulp; sigmoid and tanh within 4e-7 relative (absolute
 * near 0 for tanh, where it is exact to float precision).
 */
#ifndef SM_ACTIV_H
#define SM_ACTIV_H

#include <stddef.h>

void		sm_vexp(float *x, size_t n);		/* x = exp(x) */
void		sm_vsigmoid(float *x, size_t n);	/* x = 1 / (1 + exp(-x)) */
void		sm_vtanh(float *x, size_t n);		/* x = tanh(x) */
void		sm_vrelu(float *x, size_t n);		/* x = max(x, 0) */
float		sm_softplus(float x);				/* log(1 + exp(x)), stable */

#endif
