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

The paper's Sec. 4.4.1 "CCEI" -- the largest *mean* of a per-observation vector e -- is Varian's
(1990) efficiency index, not Afriat's CCEI; see `jaxmd_rp.varian_index` where available and
docs/pareto_gap.md. Note that GARP can fail while CCEI = 1 (a cycle of ties with one strict
relation has bottleneck 0): use `garp` for the exact yes/no test.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._pareto_gap import _garp_violated, pareto_gap


def _check(prices, bundles):
    prices, bundles = jnp.asarray(prices), jnp.asarray(bundles)
    if not jnp.issubdtype(prices.dtype, jnp.floating):
        prices = prices.astype(jnp.result_type(float))
    if not jnp.issubdtype(bundles.dtype, jnp.floating):
        bundles = bundles.astype(jnp.result_type(float))
    if prices.ndim < 2 or prices.shape != bundles.shape:
        raise ValueError(
            "`prices` and `bundles` must have the same shape (..., T, K); got "
            f"{prices.shape} and {bundles.shape}."
        )
    prices = eqx.error_if(prices, ~jnp.all(jnp.isfinite(prices)) | jnp.any(prices < 0),
                          "`prices` must be finite and non-negative.")
    bundles = eqx.error_if(bundles, ~jnp.all(jnp.isfinite(bundles)) | jnp.any(bundles < 0),
                           "`bundles` must be finite and non-negative.")
    return prices, bundles


def budget_values(prices: Float[Array, "... T K"], bundles: Float[Array, "... T K"]) -> Array:
    """values[..., 0, t, s] = <p_t, x_s>/<p_t, x_t> - 1: the consumer data as a probe-values array."""
    prices, bundles = _check(prices, bundles)
    cost = jnp.einsum("...tk,...sk->...ts", prices, bundles)
    own = jnp.diagonal(cost, axis1=-2, axis2=-1)[..., :, None]
    own = eqx.error_if(own, jnp.any(own <= 0), "every expenditure <p_t, x_t> must be positive.")
    return (cost / own - 1.0)[..., None, :, :]


def garp(prices: Float[Array, "... T K"], bundles: Float[Array, "... T K"]) -> Array:
    """True where the data satisfy GARP; shape `prices.shape[:-2]`."""
    v = budget_values(prices, bundles)
    return ~_garp_violated(-v)


def ccei(prices: Float[Array, "... T K"], bundles: Float[Array, "... T K"]) -> Array:
    """Afriat's critical cost efficiency index in [0, 1], exact; shape `prices.shape[:-2]`.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> p = jnp.array([[1.0, 2.0], [2.0, 1.0]]); x = jnp.array([[1.0, 1.0], [2.0, 0.0]])
    >>> float(rp.ccei(p, x))  # x_2 costs 2/3 of budget 1, x_1 costs 3/4 of budget 2
    0.75

    ```
    """
    return 1.0 - pareto_gap(budget_values(prices, bundles))
