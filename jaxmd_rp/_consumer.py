"""Classic single-consumer revealed preference: GARP and Afriat's critical cost efficiency index.

Data: prices p_t and chosen bundles x_t, t = 1..T, arrays of shape (..., T, K) (any leading batch
axes). With the normalised budget g_t(x) = <p_t, x>/<p_t, x_t> - 1 these are a special case of the
probe-values array: values[t, s] = <p_t, x_s>/<p_t, x_t> - 1 (one agent), and

- GARP (Varian 1982): x_t R0 x_s iff p_t.x_t >= p_t.x_s, x_t P0 x_s iff p_t.x_t > p_t.x_s;
  GARP holds iff x_t R* x_s (transitive closure) never comes with x_s P0 x_t;
- CCEI (Afriat 1972): the supremum of e in [0, 1] such that GARP_e holds, where
  x_t R0_e x_s iff e p_t.x_t >= p_t.x_s. It equals 1 - L, L the Pareto gap of the normalised data:
  GARP_e fails iff some cycle has every ratio p_t.x_s/p_t.x_t <= e with one strict, i.e. iff
  1 - e < max over cycles of the smallest 1 - ratio. Computed exactly (no bisection tolerance).

**Scale-safe arithmetic.** Expenditures are products, so ordinary data overflow float16 (prices
10-100 times quantities 100-1000) and data scaled by 1e155 overflow float64. Here every price
vector p_t and all bundles of a data set are first scaled by powers of two (exact: the relations
computed are those of the original numbers), so that their largest entries lie in [1/2, 1); the
expenditures are then formed in float64 (float32 when float64 is disabled), whatever the input
dtype. Overflow is impossible; underflow (a data set whose expenditures span more than the
dtype's exponent range, about 1e±290 in float64) is refused with an error that names it. The
comparisons p_t.x_t >= p_t.x_s are made on the expenditures themselves (never on rounded ratios,
which can turn a strict relation into a tie).

The paper's Sec. 4.4.1 "CCEI" -- the largest *mean* of a per-observation vector e -- is Varian's
(1990) efficiency index, not Afriat's CCEI; see `jaxmd_rp.varian_index` and docs/indices.md.
GARP can fail while CCEI = 1 (a cycle of ties with one strict relation has bottleneck 0): use
`garp` for the exact yes/no test.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ._checks import real_param, settle, work_dtype
from ._pareto_gap import _garp_violated, pareto_gap

DATA_ERRORS = (
    "`prices` must be finite and non-negative.",
    "`bundles` must be finite and non-negative.",
    "every expenditure <p_t, x_t> must be positive.",
    "expenditures underflow: within one data set some <p_t, x_t> is below 1e-290 (float64; 1e-30 "
    "in float32) of the largest price times the largest quantity. Drop those observations or "
    "rescale the goods.",
)
"""Messages for the per-data-set codes 1..4 of `expenditures`."""


def _as_real(x, name):
    x = x if isinstance(x, jax.Array) else jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"`{name}` must be real; got dtype {x.dtype}.")
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)
            or x.dtype == bool):
        raise TypeError(f"`{name}` must be a numeric array; got dtype {x.dtype}.")
    return x


def _check(prices, bundles):
    """Trace-time checks; returns (prices, bundles) in their common float dtype."""
    prices, bundles = _as_real(prices, "prices"), _as_real(bundles, "bundles")
    if prices.ndim < 2 or prices.shape != bundles.shape:
        raise ValueError(
            "`prices` and `bundles` must have the same shape (..., T, K); got "
            f"{prices.shape} and {bundles.shape}."
        )
    if prices.shape[-2] == 0 or prices.shape[-1] == 0:
        raise ValueError(
            "`prices` and `bundles` need at least one observation and one good (T, K >= 1); got "
            f"shape {prices.shape}."
        )
    floats = [a.dtype for a in (prices, bundles) if jnp.issubdtype(a.dtype, jnp.floating)]
    dt = jnp.result_type(float) if not floats else max(floats, key=lambda d: d.itemsize)
    return tuple(a if a.dtype == dt else a.astype(dt) for a in (prices, bundles))  # no copy


def _pow2_scale(a, axes):
    """a * 2^-e (exact) with e the exponent of max(a) over `axes`, so the maximum lies in [1/2, 1)."""
    m = jnp.max(a, axis=axes, keepdims=True)
    _, e = jnp.frexp(jnp.where(m > 0, m, 1.0))
    return jnp.ldexp(a, -e)


def expenditures(prices, bundles):
    """(E, own, code) from checked data: E[..., t, s] = <p_t, x_s> after exact power-of-two
    scaling (in `work_dtype()`), own = diag(E), and a per-data-set code (0 = valid, else the
    1-based index into `DATA_ERRORS`)."""
    dt = work_dtype()
    p, x = prices.astype(dt), bundles.astype(dt)
    bad_p = ~jnp.all(jnp.isfinite(p) & (p >= 0), axis=(-2, -1))
    bad_x = ~jnp.all(jnp.isfinite(x) & (x >= 0), axis=(-2, -1))
    p = jnp.where(jnp.isfinite(p), p, 0.0)
    x = jnp.where(jnp.isfinite(x), x, 0.0)
    p = _pow2_scale(p, -1)  # per price vector: ratios E[t, s] / E[t, t] are unchanged
    x = _pow2_scale(x, (-2, -1))  # one factor for all bundles of a data set
    E = jnp.einsum("...tk,...sk->...ts", p, x)
    own = jnp.diagonal(E, axis1=-2, axis2=-1)
    finfo = jnp.finfo(dt)
    tiny = finfo.tiny / finfo.eps * p.shape[-1]  # below this, subnormal rounding is not negligible
    zero = jnp.any(own <= 0, axis=-1)
    under = jnp.any(own < tiny, axis=-1)
    code = jnp.where(bad_p, 1, jnp.where(bad_x, 2, jnp.where(zero, 3, jnp.where(under, 4, 0))))
    return E, own, code.astype(jnp.int32)


@jax.jit
def _budget_jit(prices, bundles):
    E, own, code = expenditures(prices, bundles)
    v = (E - own[..., :, None]) / own[..., :, None]  # exact sign of p_t.x_s - p_t.x_t
    out = v.astype(prices.dtype)
    over = jnp.any(jnp.isinf(out) & (code == 0)[..., None, None], axis=(-2, -1))
    code = jnp.where(over, 5, code)
    return jnp.where((code > 0)[..., None, None], jnp.nan, out)[..., None, :, :], code


def budget_values(prices: Float[Array, "... T K"], bundles: Float[Array, "... T K"], *,
                  throw: bool = True) -> Float[Array, "... 1 T T"]:
    """values[..., 0, t, s] = <p_t, x_s>/<p_t, x_t> - 1: the consumer data as a probe-values array.

    Computed scale-safely (module docstring) and returned in the input's float dtype. With
    `throw=False` an invalid data set (NaN/inf or negative entries, a zero expenditure, underflow,
    or ratios beyond the dtype's range) gets NaN values instead of raising.
    """
    prices, bundles = _check(prices, bundles)
    out, code = _budget_jit(prices, bundles)
    errors = DATA_ERRORS + (
        f"a ratio <p_t, x_s>/<p_t, x_t> exceeds the range of {prices.dtype}; pass the data in a "
        "wider dtype.",)
    return settle(out, code, errors, throw)


@jax.jit
def _garp_jit(prices, bundles, tol):
    E, own, code = expenditures(prices, bundles)
    W = (own[..., :, None] - E) / own[..., :, None]  # 1 - rho, exact sign
    return ~_garp_violated(W[..., None, :, :], tol), code


def garp(prices: Float[Array, "... T K"], bundles: Float[Array, "... T K"], *,
         tol=0.0) -> Bool[Array, "..."]:
    """True where the data satisfy GARP; shape `prices.shape[:-2]`.

    `tol` (>= 0, default 0: exact) is a relative tie tolerance: x_t R0 x_s iff
    p_t.x_s <= (1 + tol) p_t.x_t and x_t P0 x_s iff p_t.x_s < (1 - tol) p_t.x_t.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> p = jnp.array([[1.0, 2.0], [2.0, 1.0]]); x = jnp.array([[1.0, 1.0], [2.0, 0.0]])
    >>> bool(rp.garp(p, x)), bool(rp.garp(1e155 * p, 1e155 * x))  # p.x would overflow float64
    (False, False)

    ```
    """
    prices, bundles = _check(prices, bundles)
    tol = real_param(tol, "tol", work_dtype(), low=0.0)
    ok, code = _garp_jit(prices, bundles, tol)
    return settle(ok, code, DATA_ERRORS, True)


@jax.jit
def _ccei_jit(prices, bundles):
    E, own, code = expenditures(prices, bundles)
    # W = 1 - rho, clipped below at -1: edges with rho > 2 only ever lower a negative bottleneck
    W = jnp.maximum((own[..., :, None] - E) / own[..., :, None], -1.0)
    W = jnp.where((code > 0)[..., None, None], jnp.nan, W)
    return (1.0 - pareto_gap(-W[..., None, :, :], throw=False)).astype(prices.dtype), code


def ccei(prices: Float[Array, "... T K"], bundles: Float[Array, "... T K"], *,
         throw: bool = True) -> Float[Array, "..."]:
    """Afriat's critical cost efficiency index in [0, 1], exact; shape `prices.shape[:-2]`.

    **Arguments:**

    - `prices`, `bundles`: non-negative arrays of shape (..., T, K) with <p_t, x_t> > 0.
    - `throw`: if True (default) invalid data raise a `ValueError` naming the problem; if False an
      invalid data set gets NaN (the failure flag; its reason is one of the input checks above)
      and every other data set is computed as usual.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> p = jnp.array([[1.0, 2.0], [2.0, 1.0]]); x = jnp.array([[1.0, 1.0], [2.0, 0.0]])
    >>> float(rp.ccei(p, x))  # x_2 costs 2/3 of budget 1, x_1 costs 3/4 of budget 2
    0.75

    ```
    """
    prices, bundles = _check(prices, bundles)
    out, code = _ccei_jit(prices, bundles)
    return settle(out, code, DATA_ERRORS, throw)

