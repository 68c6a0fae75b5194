r"""95 % confidence intervals for study summaries (host-side, numpy and the standard library).

The paths of a study are independent replicates of one random experiment (path k's randomness is
`fold_in(key, k)` and nothing else), so every per-path quantity is an i.i.d. sample:

- a **share** of paths (at zero, reached zero, failed): the Wilson score interval. Unlike the Wald
  interval p +- z sqrt(p (1 - p) / n) it does not collapse to a zero-width interval at p = 0 or
  p = 1 (where design studies often are: "200/200 paths at zero" still leaves an upper bound on
  the share that is not), and its coverage stays close to nominal for small n (Brown, Cai &
  DasGupta 2001, Statist. Sci. 16, 101-133).
- a **mean** (gap, true-welfare ratio): the Student t interval mean +- t_{0.975, n-1} s / sqrt(n).
  The quantities are bounded, so the central limit theorem applies; with heavily zero-inflated
  values and few paths it is approximate (a share answers "how many paths reached 0" exactly).
- a **median** (first iteration at zero): the distribution-free order-statistic interval
  [x_(l), x_(n-l+1)] with l the largest index such that P(Bin(n, 1/2) <= l - 1) <= 0.025; its
  coverage is at least 95 % for any continuous distribution and conservative for integers.

No interval uses random resampling, so a summary is a deterministic function of the results.
"""

import math
from statistics import NormalDist

import numpy as np

LEVEL = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (a, b > 0, 0 <= x <= 1)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (bisection on `t_cdf`, to float64 resolution)."""
    lo, hi = 0.0, 1.0
    target = max(p, 1.0 - p)
    while t_cdf(hi, df) < target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 4 * np.finfo(float).eps * hi:
            break
    q = 0.5 * (lo + hi)
    return q if p >= 0.5 else -q


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(Bin(n, p) <= k)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return betainc(n - k, k + 1, 1.0 - p)


def mean_interval(x, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, low, high, n) over the finite entries of `x` (Student t); NaN bounds if n < 2."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(np.mean(x))
    if n < 2:
        return mean, math.nan, math.nan, n
    half = t_quantile(0.5 + level / 2, n - 1) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def wilson_interval(k: int, n: int, level: float = LEVEL) -> tuple[float, float, float]:
    """(k / n, low, high): the Wilson score interval of a binomial share; NaN if n = 0."""
    if n == 0:
        return math.nan, math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends (no rounding residue)
    high = 1.0 if k == n else min(1.0, centre + half)
    return p, low, high


def median_interval(x, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(median, low, high, n) over the finite entries of `x`: the order-statistic interval
    (distribution-free); NaN bounds when n is too small for the level (n < 6 at 95 %)."""
    x = np.sort(np.asarray(x, float)[np.isfinite(np.asarray(x, float))])
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    med = float(np.median(x))
    alpha = 1.0 - level
    # the largest l with P(B <= l - 1) <= alpha / 2; then [x_(l), x_(n - l + 1)] (1-based)
    lo, hi = 0, (n + 1) // 2  # binom_cdf(l - 1) grows with l: bisect for the largest l
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if binom_cdf(mid - 1, n, 0.5) <= alpha / 2:
            lo = mid
        else:
            hi = mid - 1
    l = lo
    if l == 0:
        return med, math.nan, math.nan, n
    return med, float(x[l - 1]), float(x[n - l]), n
