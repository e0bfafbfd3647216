/*
 * sm_activ.c -- vectorisable exp, sigmoid and tanh.
 *
 * exp: x = n ln2 + r with n = round(x / ln2) (by the 1.5 * 2^23 trick, which
 * needs no rounding instruction on baseline x86-64), ln2 split in two
 * parts so r is exact, e^r by a degree-6 polynomial on |r| <= ln2/2 (the
 * classic Cephes coefficients), 2^n by building the exponent bits.
 * tanh: a rational function from its continued fraction (see vtanh), one
 * division and no exp, so no cancellation near 0 and no branch.
 *
 * Three builds of the same source (sm_activ_kernels.h): baseline (no FMA),
 * run with the generic and blas kernel sets; AVX2 + FMA (a * b + c one
 * rounding: about a third fewer operations, the LSTM cell 25-35% faster),
 * run with the avx2 set; and for the avx512 set, an AVX-512 build of the
 * elementwise passes (16 lanes, the FMA build's bits) beside the FMA
 * build's reductions.  The baseline and FMA results differ in the last
 * bits; all meet the accuracy bounds of sm_activ.h (unit-tested each).
 */
#include "sm_activ.h"
#include "sm_ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SM_ACTIV_FMA 1
#include <immintrin.h>			/* the AVX-512 build's masked moves and min / max */
#endif

/*
 * Eight floats at a time (sixteen in the AVX-512 build) with GCC's vector
 * extensions: comparisons give lane masks and selects are bitwise blends,
 * so there is no branch and no libm call; on baseline x86-64 each operation
 * is split in two SSE ones.  A tail shorter than a vector goes through the
 * same code in a padded buffer or masked moves, so every element gets
 * exactly the same operations wherever it sits.  sm_activ_kernels.h is
 * written over the build's vf / vi / vu (floats, ints, unsigned of one
 * vector), VL lanes and VF(c) / VI(c) (a vector of copies of c).
 */
/* the helpers below are always inlined, so passing vectors by value never
 * crosses an ABI boundary: GCC's note about that ABI does not apply */
#pragma GCC diagnostic ignored "-Wpsabi"
#define V8_INLINE static inline __attribute__((always_inline))

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef float v4f __attribute__((vector_size(16)));	/* sm_logsumexp's halves */
typedef double v4d __attribute__((vector_size(32)));	/* and their sums */

#define COPIES8(c) (c), (c), (c), (c), (c), (c), (c), (c)

#define EXP_HI 88.3762626647949f
#define EXP_LO -87.3365447504020f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define ROUND_MAGIC 12582912.0f	/* 1.5 * 2^23 */
/* e^r = 1 + r + r^2 P(r) on |r| <= ln2/2: P's coefficients, highest degree first
 * (Cephes), shared by vexp_core and vexp_neg */
#define EXP_P0 1.9875691500E-4f
#define EXP_P1 1.3981999507E-3f
#define EXP_P2 8.3334519073E-3f
#define EXP_P3 4.1665795894E-2f
#define EXP_P4 1.6666665459E-1f
#define EXP_P5 5.0000001201E-1f

/* the 8-lane builds' vector types */
#define vf v8f
#define vi v8i
#define vu v8u
#define VL 8
#define VF(c) ((v8f) {COPIES8(c)})
#define VI(c) ((v8i) {COPIES8(c)})

/*
 * VMIN(c, x) = c < x ? c : x and VMAX(c, x) = c > x ? c : x: x when x is NaN
 * (the comparison is false), so clamping never hides a NaN.
 */
/* baseline build: SSE2 on x86-64, whatever GCC targets elsewhere; no FMA */
#define AV(name) name##_base
#define AV_FMA(a, b, c) ((a) * (b) + (c))
#define VMIN(c, x) vsel((c) < (x), (c), (x))
#define VMAX(c, x) vsel((c) > (x), (c), (x))
#include "sm_activ_kernels.h"

#ifdef SM_ACTIV_FMA
/* AVX2 + FMA build: contraction on (Makefile), so a * b + c is one rounding */
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define AV(name) name##_fma
#define AV_FMA(a, b, c) __builtin_ia32_vfmaddps256((a), (b), (c))
#define AV_LANES_BELOW(n) ((v8i) {0, 1, 2, 3, 4, 5, 6, 7} < VI(n))
#define AV_LOAD_PART(p, n) __builtin_ia32_maskloadps256((const v8f *) (p), AV_LANES_BELOW(n))
#define AV_STORE_PART(p, v, n) __builtin_ia32_maskstoreps256((v8f *) (p), AV_LANES_BELOW(n), (v))
#define VMIN(c, x) __builtin_ia32_minps256((c), (x))
#define VMAX(c, x) __builtin_ia32_maxps256((c), (x))
#include "sm_activ_kernels.h"
#undef AV_LANES_BELOW
#pragma GCC pop_options
#endif

#undef vf
#undef vi
#undef vu
#undef VL
#undef VF
#undef VI

#ifdef SM_ACTIV_FMA
/*
 * AVX-512 build of the elementwise passes (bias + activation, the cells,
 * exp / sigmoid / tanh over arrays): sixteen lanes, the same operations per
 * element as the FMA build, so the same bits (unit-tested), in about half
 * the instructions.  The reductions are not built here (see
 * AV_ELEMENTWISE_ONLY in sm_activ_kernels.h).
 */
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#define vf v16f
#define vi v16i
#define vu v16u
#define VL 16
#define VF(c) ((v16f) {COPIES8(c), COPIES8(c)})
#define VI(c) ((v16i) {COPIES8(c), COPIES8(c)})
#define AV(name) name##_avx512
#define AV_FMA(a, b, c) ((v16f) _mm512_fmadd_ps((__m512) (a), (__m512) (b), (__m512) (c)))
#define AV_ELEMENTWISE_ONLY 1
#define AV_LOAD_PART(p, n) ((v16f) _mm512_maskz_loadu_ps((__mmask16) ((1u << (n)) - 1), (p)))
#define AV_STORE_PART(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16) ((1u << (n)) - 1), (__m512) (v))
#define VMIN(c, x) ((v16f) _mm512_min_ps((__m512) (c), (__m512) (x)))
#define VMAX(c, x) ((v16f) _mm512_max_ps((__m512) (c), (__m512) (x)))
#include "sm_activ_kernels.h"
#undef vf
#undef vi
#undef vu
#undef VL
#undef VF
#undef VI
#pragma GCC pop_options
#endif

/*
 * Which build the public functions run: sm_ops_cpu.c sets it with the
 * kernel set (sm_activ_use).  Until a kernel set is chosen, the first pass
 * chooses it (the auto choice), so a pass that runs before the first
 * product (a forward pass's embedding norm) gets the same build as every
 * later one; before, the first forward pass of a process ran that norm on
 * the baseline build and differed in the last bits from every later pass.
 */
static sm_activ_build build = SM_ACTIV_BASE;
static bool build_chosen = false;

static inline sm_activ_build
current_build(void)
{
	if (!__atomic_load_n(&build_chosen, __ATOMIC_ACQUIRE))
		(void) sm_ops_kernels();	/* chooses the kernel set, which calls sm_activ_use */
	return build;
}

#ifdef SM_ACTIV_FMA
/* the reductions: the FMA build for both FMA sets */
#define PICK(name) (current_build() != SM_ACTIV_BASE ? name##_fma : name##_base)
/* the elementwise passes: the widest build the set allows */
#define PICK_WIDE(name) (current_build() == SM_ACTIV_AVX512 ? name##_avx512 : PICK(name))
#else
#define PICK(name) name##_base
#define PICK_WIDE(name) name##_base
#endif

void
sm_activ_use(sm_activ_build b)
{
#ifdef SM_ACTIV_FMA
	build = b;
#else
	(void) b;
#endif
	__atomic_store_n(&build_chosen, true, __ATOMIC_RELEASE);
}

float
sm_softplus(float x)
{
	/* torch.nn.functional.softplus: x above 20 is returned as is */
	if (x > 20.0f)
		return x;
	return log1pf(expf(x));
}

void
sm_vexp(float *x, size_t n)
{
	PICK_WIDE(sm_vexp) (x, n);
}

void
sm_vsigmoid(float *x, size_t n)
{
	PICK_WIDE(sm_vsigmoid) (x, n);
}

void
sm_vtanh(float *x, size_t n)
{
	PICK_WIDE(sm_vtanh) (x, n);
}

void
sm_lstm_cell(const float *g, const float *b, float *c, float *h, int H)
{
	PICK_WIDE(sm_lstm_cell) (g, b, c, h, H);
}

void
sm_gru_cell(const float *gx, const float *bx, const float *gh, const float *bh, float *h,
			int H)
{
	PICK_WIDE(sm_gru_cell) (gx, bx, gh, bh, h, H);
}

void
sm_elman_cell(const float *g, const float *b, float *h, int H, bool relu)
{
	PICK_WIDE(sm_elman_cell) (g, b, h, H, relu);
}

void
sm_bias_act(float *x, const float *b, size_t rows, int cols, sm_act act)
{
	PICK_WIDE(sm_bias_act) (x, (size_t) cols, b, rows, cols, act);
}

void
sm_bias_act_ld(float *x, size_t ld, const float *b, size_t rows, int cols, sm_act act)
{
	PICK_WIDE(sm_bias_act) (x, ld, b, rows, cols, act);
}

void
sm_softmax(float *x, int n)
{
	PICK(sm_softmax) (x, n);
}

double
sm_logsumexp(const float *x, int n)
{
	return PICK(sm_logsumexp) (x, n);
}

void
sm_add_layernorm(float *x, const float *b, const float *g, const float *beta, float eps,
				 size_t rows, int cols, float *out)
{
	PICK(sm_add_layernorm) (x, b, g, beta, eps, rows, cols, out);
}
