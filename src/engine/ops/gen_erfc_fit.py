#!/usr/bin/python3
"""The coefficients of verfc_pos (ops/sm_activ_kernels.h): erfc(z) = exp(S(z) - z^2)
for z >= 0, S(z) = ln(erfc(z) e^(z^2)) a polynomial of degree 9 in z over [0, 4.5].

S is fitted by weighted least squares, reweighted (Lawson) towards the smallest
largest weighted error.  The weight at z is the accuracy exact GELU needs there,
which test/unit/test_activ.c checks: gelu(x) = x/2 erfc(-x/sqrt 2) within 2e-6 of
max(|gelu(x)|, 1e-3 |x|), so erfc needs 2e-6 relative up to z ~ 2.2 and much less
beyond (where the 1e-3 |x| floor takes over).  Then the float32 computation is
simulated over the test's grid (numpy, without FMA, so slightly pessimistic) and
its worst error printed with the C lines to paste.

    /usr/bin/python3 src/engine/ops/gen_erfc_fit.py [DEGREE] [ZMAX]

Needs only numpy (Debian's python3-numpy); the reference is Python's math.erfc.
"""
import math
import sys

import numpy as np

DEGREE = int(sys.argv[1]) if len(sys.argv) > 1 else 9
ZMAX = float(sys.argv[2]) if len(sys.argv) > 2 else 4.5


def fit():
    zs = np.linspace(0.0, ZMAX, 40001)
    erfc = np.array([math.erfc(z) for z in zs])
    s = np.log(erfc) + zs * zs
    tol = 2e-6 * np.maximum(1.0, 2e-3 / erfc)   # relative error of erfc GELU allows
    v = np.vander(zs / ZMAX, DEGREE + 1, increasing=True)
    w = 1.0 / tol
    for _ in range(30):
        a, *_ = np.linalg.lstsq(v * w[:, None], s * w, rcond=None)
        e = np.abs(v @ a - s) / tol
        w = w * (1.0 + e / e.max()) ** 2
    worst = (np.abs(v @ a - s) / tol).max()
    return a / ZMAX ** np.arange(DEGREE + 1), worst   # coefficients in z itself


def gelu32(x, c):
    """The kernel's steps in float32 (Horner here; the kernel uses Estrin's scheme)."""
    f = np.float32
    u = x * f(-0.70710678118654752)
    z = np.abs(u)
    zc = np.minimum(z, f(ZMAX))
    cf = c.astype(np.float32)
    p = np.full_like(zc, cf[-1])
    for k in range(len(cf) - 2, -1, -1):
        p = p * zc + cf[k]
    q = np.maximum(p - z * z, f(-87.3365447504020))
    e = np.exp(q.astype(np.float64)).astype(np.float32)
    e = np.where(u < 0, f(2.0) - e, e)
    return f(0.5) * x * e


def main():
    c, worst_fit = fit()
    n = 200001
    u = -1.0 + 2.0 * np.arange(n) / (n - 1)
    x = (12.0 * u ** 3).astype(np.float32)         # test_activ's grid
    ref = np.array([0.5 * v * math.erfc(-v / math.sqrt(2.0)) for v in x.astype(np.float64)])
    y = gelu32(x, c).astype(np.float64)
    worst = np.max(np.abs(y - ref) / np.maximum(np.abs(ref), 1e-3 * np.abs(x) + 1e-30))
    print(f"/* degree {DEGREE} over [0, {ZMAX}]: fit error / allowed {worst_fit:.3f}, "
          f"float32 GELU worst {worst:.2e} (test_activ allows 2e-6) */")
    for k in range(DEGREE, -1, -1):
        print(f"c{k} = {c[k]:.9e}f")


if __name__ == "__main__":
    main()
