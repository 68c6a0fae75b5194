"""The separation problem (19) in closed form: rho, the edge values a_k[i, s, t](kappa) and the
separation oracle."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from .._solution import RESULTS, finish
from ._checks import (
    Support,
    as_real,
    bad_budget_data,
    check_support,
    float_dtype,
    linear_arrays,
    mask_invalid,
    raise_invalid,
    scalar_arg,
    stand_in_linear,
    validity,
    value_check,
)
from ._results import Separation


def _seg_min(a, p0, p1, g, kappa):
    """min over gamma in [p0, p1] (2-D) of <a, gamma> + kappa ||gamma - g||; (value, minimiser)."""
    d = p1 - p0
    ell = jnp.sqrt(d @ d)
    e = d / ell
    b = a @ e
    w = p0 - g
    wpar = w @ e
    wperp = jnp.abs(w[0] * e[1] - w[1] * e[0])
    disc = kappa * kappa - b * b
    inside = disc > 0
    root = jnp.sqrt(jnp.where(inside, disc, 1.0))
    sig_in = jnp.clip(-wpar - b * wperp / root, 0.0, ell)
    sig_out = jnp.where(b >= 0, 0.0, ell)
    sig = jnp.where(inside, sig_in, sig_out)
    pt = p0 + sig * e
    r = pt - g
    return a @ pt + kappa * jnp.sqrt(r @ r), pt


def _rho(a, beta, g, kappa, support):
    """rho(a; A, g, kappa) = min_{gamma in A} <a, gamma> + kappa ||gamma - g|| and its minimiser,
    A = {gamma >= 0 : <beta, gamma> <= 1} (support 'triangle') or its face <beta, gamma> = 1
    ('line'); g in A. k = 1 or 2."""
    dt = a.dtype
    k = a.shape[-1]
    stay_val = a @ g
    if k == 1:
        top = 1.0 / beta
        zero = jnp.zeros_like(g)
        cands = [(stay_val, g), (a @ top + kappa * jnp.abs(top - g)[0], top)]
        if support == "triangle":
            cands.append((kappa * jnp.abs(g)[0], zero))
    else:
        o = jnp.zeros(2, dt)
        v1 = jnp.stack([1.0 / beta[0], jnp.zeros((), dt)])
        v2 = jnp.stack([jnp.zeros((), dt), 1.0 / beta[1]])
        cands = [(stay_val, g), _seg_min(a, v1, v2, g, kappa)]
        if support == "triangle":
            cands += [_seg_min(a, o, v1, g, kappa), _seg_min(a, o, v2, g, kappa)]
    vals = jnp.stack([c[0] for c in cands])
    pts = jnp.stack([c[1] for c in cands])
    j = jnp.argmin(vals)
    return vals[j], pts[j]


def budget_rho(
    a: Float[Array, " k"],
    prices: Float[Array, " k"],
    point: Float[Array, " k"],
    kappa,
    support: Support = "triangle",
) -> tuple[Float[Array, ""], Float[Array, " k"]]:
    r"""rho(a; A, g, kappa) = min_{gamma in A} <a, gamma> + kappa ||gamma - g||_2 in closed form.

    A = {gamma in R^k_+ : <prices, gamma> <= 1} (`support="triangle"`) or the budget line
    <prices, gamma> = 1 (`support="line"`); k = 1 or 2. The minimum is the smaller of <a, g>
    (stay) and the exact minimum along each edge of A (a convex 1-D problem with a closed-form
    stationary point); an interior minimiser other than g exists only when ||a|| = kappa, and
    then its value is <a, g>.

    **Arguments:**

    - `a`: the linear cost, shape (k,), finite.
    - `prices`: the budget's prices, shape (k,), finite and > 0.
    - `point`: g, shape (k,), inside A.
    - `kappa`: the transport price, a finite scalar >= 0.
    - `support`: "triangle" or "line".

    **Returns:** (value, minimiser). One instance; `jax.vmap` for batches. Out-of-range values
    raise a ValueError (concrete inputs) or a run-time error inside `jit`/`vmap`.
    """
    check_support(support)
    a, prices, point = (as_real(x, n) for x, n in ((a, "a"), (prices, "prices"), (point, "point")))
    kappa = as_real(kappa, "kappa")
    dt = float_dtype(a, prices, point, kappa)
    if a.ndim != 1 or a.shape[0] not in (1, 2) or prices.shape != a.shape or point.shape != a.shape:
        raise ValueError(
            "`a`, `prices` and `point` must be vectors of the same length k in {1, 2}; got "
            f"{a.shape}, {prices.shape}, {point.shape}."
        )
    a, prices, point = a.astype(dt), prices.astype(dt), point.astype(dt)
    kappa = scalar_arg(kappa, "kappa", dt)
    bad_kappa, bad_a, bad_point = _rho_flags(a, prices, point, kappa, support)
    kappa = value_check(kappa, bad_kappa, "`kappa` must be finite and >= 0.")
    a = value_check(a, bad_a, "`a` must be finite.")
    point = value_check(
        point, bad_point,
        "`prices` must be finite and > 0 and `point` must lie in the budget set A (>= 0, "
        "<prices, point> <= 1, and = 1 for support='line').")
    return _rho_jit(a, prices, point, kappa, support)


@eqx.filter_jit
def _rho_flags(a, prices, point, kappa, support):
    bad_point = bad_budget_data(prices[None, None], point[None, None, None], support)
    return ~(kappa >= 0) | ~jnp.isfinite(kappa), ~jnp.all(jnp.isfinite(a)), bad_point


_rho_jit = eqx.filter_jit(_rho)


def _edges_linear(prices, samples, kappa, support):
    """a[k,i,s,t] = 1 - rho(alpha_t^i; A_s^i, x_{s,k}^i, kappa), minimisers and move distances."""

    def over_t(A, beta, g):
        return jax.vmap(lambda at: _rho(at, beta, g, kappa, support))(A)

    def over_s(A, G):  # A = prices[i] (T, k), G = samples[k, i] (T, k)
        return jax.vmap(lambda beta, g: over_t(A, beta, g))(A, G)

    def over_i(G):  # G = samples[k] (M, T, k)
        return jax.vmap(over_s)(prices, G)

    val, pts = jax.vmap(over_i)(samples)  # (N, M, T, T), (N, M, T, T, k)
    dist = jnp.sqrt(jnp.sum((pts - samples[:, :, :, None, :]) ** 2, axis=-1))
    return 1.0 - val, pts, dist


def _nominal_linear(prices, samples):
    """W[k, i, s, t] = -g_t^i(x_{s,k}^i) = 1 - <alpha_t^i, x_{s,k}^i>."""
    return 1.0 - jnp.sum(prices[None, :, None, :, :] * samples[:, :, :, None, :], axis=-1)


def _separate(prices, sample, U, kappa, v, support):
    a, pts, dist = _edges_linear(prices, sample[None], kappa, support)
    a, pts, dist = a[0], pts[0], dist[0]
    masked = jnp.where(U, a, -jnp.inf)
    flat = jnp.argmax(masked.reshape(-1))
    i, s, t = jnp.unravel_index(flat, a.shape)
    m = masked.reshape(-1)[flat]
    value = jnp.maximum(m, 0.0)
    moved = m > 0
    return Separation(value=value, cv=value - v, agent=i, block=s, probe=t,
                      point=jnp.where(moved, pts[i, s, t], sample[i, s]),
                      distance=jnp.where(moved, dist[i, s, t], 0.0),
                      result=RESULTS.successful)


def separation_oracle(
    prices: Float[Array, "M T k"],
    sample: Float[Array, "M T k"],
    upper: Bool[Array, "M T T"],
    kappa,
    v=0.0,
    *,
    support: Support = "triangle",
    throw: bool = True,
) -> Separation:
    r"""The separation problem (19) over Gamma for one sample, in closed form.

    sup_Phi [h_U(Phi) - kappa d(Phi, Phi_k)] = max(0, max_{(i,s,t) in U} [1 - rho(alpha_t^i;
    A_s^i, x_{s,k}^i, kappa)]); the maximiser moves one block only.

    **Arguments:**

    - `prices`: (M, T, k), finite and > 0.
    - `sample`: (M, T, k), the joint sample Phi_k, inside its budget sets.
    - `upper`: (M, T, T) bool, U[i, s, t] = "s at or above t" (all True = ties, u = 0; see
      `upper_mask`).
    - `kappa`: the Wasserstein multiplier, finite and >= 0.
    - `v`: v_k, finite.
    - `support`: "triangle" or "line".
    - `throw`: raise when the data are invalid; with `False` the result is
      `RESULTS.invalid_samples` and the outputs are NaN (-1 for the indices).

    **Returns:** a `Separation`.
    """
    prices, samples, kappa = linear_arrays(prices, as_real(sample, "sample")[None], kappa, support)
    dt = prices.dtype
    M, T, _ = prices.shape
    upper = jnp.asarray(upper)
    if upper.shape != (M, T, T) or upper.dtype != jnp.bool_:
        raise ValueError(f"`upper` must be a boolean array of shape (M, T, T) = {(M, T, T)}; got "
                         f"{upper.shape} {upper.dtype}.")
    v = scalar_arg(v, "v", dt)
    kappa = value_check(kappa, ~(kappa >= 0) | ~jnp.isfinite(kappa),
                        "`kappa` must be finite and >= 0.")
    v = value_check(v, ~jnp.isfinite(v), "`v` must be finite.")
    code = validity(jnp.asarray(False), bad_budget_data(prices, samples, support))
    raise_invalid(code, throw)
    return _separation_oracle(prices, samples, upper, kappa, v, code, support, throw)


@eqx.filter_jit
def _separation_oracle(prices, samples, upper, kappa, v, code, support, throw):
    prices, samples, kappa = stand_in_linear(prices, samples, kappa, code)
    sol = _separate(prices, samples[0], upper, kappa, v, support)
    sol = mask_invalid(sol, code, ints=("agent", "block", "probe"))
    return finish(sol, throw)
