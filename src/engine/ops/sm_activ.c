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
 * Two builds of the same source (sm_activ_kernels.h): baseline (no FMA),
 * run with the generic and blas kernel sets, and AVX2 + FMA (a * b + c one
 * rounding: about a third fewer operations, the LSTM cell 25-35% faster),
 * run with the avx2 and avx512 sets.  Their results differ in the last
 * bits; both meet the accuracy bounds of sm_activ.h (unit-tested each).
 */
#include "sm_activ.h"
#include "sm_ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SM_ACTIV_FMA 1
#endif

/*
 * Eight floats at a time with GCC's vector extensions: comparisons give
 * lane masks and selects are bitwise blends, so there is no branch and no
 * libm call; on baseline x86-64 each operation is split in two SSE ones.
 * A tail shorter than 8 goes through the same code in a padded buffer, so
 * every element gets exactly the same operations wherever it sits.
 */
/* the helpers below are always inlined, so passing 32-byte vectors by value
 * never crosses an ABI boundary: GCC's note about that ABI does not apply */
#pragma GCC diagnostic ignored "-Wpsabi"
#define V8_INLINE static inline __attribute__((always_inline))

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));

#define V8(c) ((v8f) {(c), (c), (c), (c), (c), (c), (c), (c)})
#define I8(c) ((v8i) {(c), (c), (c), (c), (c), (c), (c), (c)})

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


/*
 * VMIN(c, x) = c < x ? c : x and VMAX(c, x) = c > x ? c : x: x when x is NaN
 * (the comparison is false), so clamping never hides a NaN.
 */
/* baseline build: SSE2 on x86-64, whatever GCC targets elsewhere; no FMA */
#define AV(name) name##_base
#define VMIN(c, x) vsel((c) < (x), (c), (x))
#define VMAX(c, x) vsel((c) > (x), (c), (x))
#include "sm_activ_kernels.h"
#undef VMIN
#undef VMAX
#undef AV

#ifdef SM_ACTIV_FMA
/* AVX2 + FMA build: contraction on (Makefile), so a * b + c is one rounding */
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define AV(name) name##_fma
#define AV_MASKED 1
#define VMIN(c, x) __builtin_ia32_minps256((c), (x))
#define VMAX(c, x) __builtin_ia32_maxps256((c), (x))
#include "sm_activ_kernels.h"
#undef VMIN
#undef VMAX
#undef AV_MASKED
#undef AV
#pragma GCC pop_options
#endif

/*
 * Which build the public functions run: sm_ops_cpu.c sets it with the
 * kernel set.  Until a kernel set is chosen, the first pass chooses it (the
 * auto choice), so a pass that runs before the first product (a forward
 * pass's embedding norm) gets the same build as every later one; before,
 * the first forward pass of a process ran that norm on the baseline build
 * and differed in the last bits from every later pass.
 */
static bool use_fma = false;
static bool fma_chosen = false;

static inline bool
fma_build(void)
{
	if (!__atomic_load_n(&fma_chosen, __ATOMIC_ACQUIRE))
		(void) sm_ops_kernels();	/* chooses the kernel set, which calls sm_activ_use_fma */
	return use_fma;
}

#ifdef SM_ACTIV_FMA
#define PICK(name) (fma_build() ? name##_fma : name##_base)
#else
#define PICK(name) name##_base
#endif

void
sm_activ_use_fma(bool on)
{
#ifdef SM_ACTIV_FMA
	use_fma = on;
#else
	(void) on;
#endif
	__atomic_store_n(&fma_chosen, true, __ATOMIC_RELEASE);
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
	PICK(sm_vexp) (x, n);
}

void
sm_vsigmoid(float *x, size_t n)
{
	PICK(sm_vsigmoid) (x, n);
}

void
sm_vtanh(float *x, size_t n)
{
	PICK(sm_vtanh) (x, n);
}

void
sm_lstm_cell(const float *g, const float *b, float *c, float *h, int H)
{
	PICK(sm_lstm_cell) (g, b, c, h, H);
}

void
sm_gru_cell(const float *gx, const float *bx, const float *gh, const float *bh, float *h,
			int H)
{
	PICK(sm_gru_cell) (gx, bx, gh, bh, h, H);
}

void
sm_elman_cell(const float *g, const float *b, float *h, int H, bool relu)
{
	PICK(sm_elman_cell) (g, b, h, H, relu);
}

void
sm_bias_act(float *x, const float *b, size_t rows, int cols, sm_act act)
{
	PICK(sm_bias_act) (x, (size_t) cols, b, rows, cols, act);
}

void
sm_bias_act_ld(float *x, size_t ld, const float *b, size_t rows, int cols, sm_act act)
{
	PICK(sm_bias_act) (x, ld, b, rows, cols, act);
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
