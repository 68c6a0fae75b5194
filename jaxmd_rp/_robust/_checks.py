"""Input checks of the robust gap's entry points (shapes, dtypes, ranges)."""

from typing import Literal

import equinox as eqx
import jax.numpy as jnp

Support = Literal["triangle", "line"]


def _float_dtype(*xs):
    dt = jnp.result_type(*xs)
    if not jnp.issubdtype(dt, jnp.floating):
        dt = jnp.result_type(float)
    return dt


def _check_support(support):
    if support not in ("triangle", "line"):
        raise ValueError(f"`support` must be 'triangle' or 'line'; got {support!r}.")


def _check_linear(prices, samples, epsilon, support):
    """Convert and validate (prices (M,T,k), samples (N,M,T,k), epsilon scalar)."""
    _check_support(support)
    prices = jnp.asarray(prices)
    samples = jnp.asarray(samples)
    dt = _float_dtype(prices, samples)
    prices, samples = prices.astype(dt), samples.astype(dt)
    if prices.ndim != 3:
        raise ValueError(
            f"`prices` must have shape (M, T, k) with prices[i, t] = alpha_t^i; got {prices.shape}."
        )
    M, T, k = prices.shape
    if M == 0 or T == 0:
        raise ValueError(f"`prices` needs at least one agent and one probe; got {prices.shape}.")
    if k not in (1, 2):
        raise ValueError(
            f"`prices` must have k = 1 or 2 goods (closed-form separation); got k = {k}."
        )
    if samples.ndim != 4:
        raise ValueError(
            f"`samples` must have shape (N, M, T, k) = (N, {M}, {T}, {k}) (sample k of agent i's "
            f"bundle at probe t); got {samples.shape}."
        )
    if samples.shape[0] == 0:
        raise ValueError("`samples` is empty (N = 0): pass at least one sample of each strategy.")
    if samples.shape[1:] != (M, T, k):
        raise ValueError(
            f"`samples` must have shape (N, M, T, k) = (N, {M}, {T}, {k}) to match `prices` "
            f"{prices.shape}; got {samples.shape}."
        )
    eps = jnp.asarray(epsilon)
    if eps.ndim != 0:
        raise ValueError(
            f"`epsilon` must be a scalar (vmap over several radii); got shape {eps.shape}."
        )
    eps = eps.astype(dt)
    eps = eqx.error_if(eps, ~(eps >= 0) | ~jnp.isfinite(eps),
                       "`epsilon` (the Wasserstein radius) must be finite and >= 0.")
    prices = eqx.error_if(prices, ~jnp.all(jnp.isfinite(prices) & (prices > 0)),
                          "`prices` must be finite and > 0 (a budget <alpha, x> <= 1 with alpha > 0).")
    tol = jnp.sqrt(jnp.finfo(dt).eps)
    spend = jnp.sum(prices[None] * samples, axis=-1)  # <alpha_t^i, x_{t,k}^i>
    bad = ~jnp.all(jnp.isfinite(samples)) | jnp.any(samples < 0) | jnp.any(spend > 1 + tol)
    samples = eqx.error_if(
        samples, bad,
        "`samples` must lie in the budget sets: samples >= 0 and <prices[i, t], samples[k, i, t]> "
        "<= 1 (a mixed strategy is a distribution on A_t^i, paper eq. 6).")
    if support == "line":
        samples = eqx.error_if(
            samples, jnp.any(jnp.abs(spend - 1) > tol),
            "`support='line'` needs every sample on its budget line: <prices[i, t], samples[k, i, t]> = 1.")
    return prices, samples, eps
