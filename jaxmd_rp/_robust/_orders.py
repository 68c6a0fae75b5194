"""Orders, the closure and certificates: per-agent orders stand for (u, lambda) (the closure
theorem), and `certificate_from_orders` builds an explicit (u, lambda) from them."""

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._pareto_gap import bottleneck, bottleneck_closure
from ._checks import as_real, float_dtype, scalar_arg, value_check


def _cycle_bottlenecks(a):
    """(B, C): the largest cycle bottleneck B of each (T, T) graph of `a` and its (max, min)
    closure C (the robust gap needs C too: orders and critical cycles are read off it)."""
    return bottleneck(a, with_closure=True)


def _relaxed_F(a):
    """mean_k max(0, max_i B(a_k^i)): orders chosen per sample (exact for identical samples)."""
    B, _ = _cycle_bottlenecks(a)  # (N, M)
    return jnp.mean(jnp.maximum(jnp.max(B, axis=-1), 0.0))


def _orders_from(a, thr):
    """Per-agent orders (top first), shape (..., M, T): a topological sort of {a > thr} with every
    such edge (s, t) put "s strictly below t". `thr` broadcasts against (..., M); needs thr >= B."""
    C = bottleneck_closure(a)
    reach = C > jnp.asarray(thr)[..., None, None]
    desc = jnp.sum(reach, axis=-1)  # number of nodes that must sit above s
    return jnp.argsort(desc, axis=-1, stable=True)


def _upper_mask(orders):
    pos = jnp.argsort(orders, axis=-1)  # pos[i, s] = position of s from the top
    return pos[..., :, None] <= pos[..., None, :]


def _check_orders(orders):
    """Integer orders of shape (..., M, T) whose rows are permutations of 0..T-1."""
    orders = jnp.asarray(orders)
    if not jnp.issubdtype(orders.dtype, jnp.integer):
        raise TypeError(f"`orders` must be an integer array; got dtype {orders.dtype}.")
    if orders.ndim < 2 or orders.shape[-1] == 0:
        raise ValueError(f"`orders` must have shape (..., M, T) with T >= 1; got {orders.shape}.")
    T = orders.shape[-1]
    bad = jnp.any(jnp.sort(orders, axis=-1) != jnp.arange(T, dtype=orders.dtype))
    return value_check(orders, bad, "every row of `orders` must be a permutation of 0..T-1 "
                                    "(agent i's experiments listed from top to bottom).")


def upper_mask(orders: Int[Array, "... M T"]) -> Bool[Array, "... M T T"]:
    """U[i, s, t] = True iff experiment s is at or above t in agent i's order.

    **Arguments:** `orders`, integer, shape (..., M, T): each row lists agent i's experiments
    from top to bottom (a permutation of 0..T-1).

    **Returns:** a boolean array of shape (..., M, T, T).
    """
    return _upper_mask(_check_orders(orders))


def _masked_value(a, mask):
    """mean_k max(0, max_{i, (s,t) in U} a_k[i, s, t])."""
    neg = jnp.asarray(-jnp.inf, a.dtype)
    m = jnp.max(jnp.where(mask, a, neg), axis=(-3, -2, -1))
    return jnp.mean(jnp.maximum(m, 0.0))


def certificate_from_orders(
    orders: Int[Array, "M T"], eta, G=1.0
) -> tuple[Float[Array, "M T"], Float[Array, "M T"]]:
    r"""(u, lambda) with h_sigma <= h(psi, .) <= h_sigma + eta on every data set with g >= -G.

    Positions p = 0 (bottom) .. T-1 (top); gaps D_q = theta^{-q} with theta = 1 + G/eta; u(p) =
    D_1 + ... + D_p; lambda(p) = (u(top) - u(p))/eta below the top and D_{T-1}/G at the top; then
    c_st = (u_s - u_t)/lambda_t lies in [0, eta] when s is at or above t and is <= -G when s is
    below t. The numbers span theta^{T-1}: this is why certificates are carried as orders.

    **Arguments:**

    - `orders`: integer, shape (M, T); row i lists agent i's experiments from top to bottom (a
      permutation of 0..T-1), e.g. `RobustGap.orders`.
    - `eta`: the slack, a finite scalar > 0.
    - `G`: a bound on -g (finite, > 0; 1 for the budgets g = <alpha, x> - 1 on x >= 0).

    **Returns:** (u, lam), shape (M, T) each, rescaled so that min lambda = 1 per agent. The
    property above is verified on the returned numbers (to a relative sqrt(eps) of the dtype): a
    ValueError (concrete inputs) or a run-time error (traced) when an argument is out of range or
    theta^{T-1} exceeds the dtype's precision (eta too small for T; in float64 e.g. eta = 0.01
    works up to T = 6 with G = 1).
    """
    orders = _check_orders(orders)
    if orders.ndim != 2:
        raise ValueError(f"`orders` must have shape (M, T); got {orders.shape}.")
    M, T = orders.shape
    eta, G = as_real(eta, "eta"), as_real(G, "G")
    dt = float_dtype(eta, G)
    eta, G = scalar_arg(eta, "eta", dt), scalar_arg(G, "G", dt)
    eta = value_check(eta, ~(eta > 0) | ~jnp.isfinite(eta), "`eta` must be finite and > 0.")
    G = value_check(G, ~(G > 0) | ~jnp.isfinite(G), "`G` must be finite and > 0.")
    theta = 1.0 + G / eta
    q = jnp.arange(1, T, dtype=dt)
    D = theta ** (-q)  # D[q-1] = gap between positions q-1 and q
    u_pos = jnp.concatenate([jnp.zeros(1, dt), jnp.cumsum(D)])  # u(p), p = 0..T-1
    S = u_pos[-1] - u_pos
    lam_pos = S / eta
    if T > 1:
        lam_pos = lam_pos.at[-1].set(D[-1] / G)
    else:
        lam_pos = jnp.ones(1, dt)
    pos_top = jnp.argsort(orders, axis=-1)  # position from the top
    p = T - 1 - pos_top  # position from the bottom
    u, lam = u_pos[p], lam_pos[p]
    scale = jnp.min(lam, axis=-1, keepdims=True)
    u, lam = u / scale, lam / scale
    lam = value_check(lam, ~_certifies(u, lam, _upper_mask(orders), eta, G),
                      f"`eta` is too small for T = {T} in {dt}: the certificate spans "
                      "(1 + G/eta)^(T-1), beyond the dtype's precision (its defining property "
                      "fails by more than sqrt(eps)); use a larger `eta` (or keep the "
                      "certificate as orders).")
    return u, lam


def _certifies(u, lam, U, eta, G):
    """The defining property of the certificate, to a relative sqrt(eps): c_st = (u_s - u_t) /
    lambda_t lies in [0, eta] on U and is <= -G off U (finite numbers, lambda > 0)."""
    rtol = jnp.sqrt(jnp.finfo(u.dtype).eps)
    c = (u[..., :, None] - u[..., None, :]) / lam[..., None, :]
    on = (c >= -eta * rtol) & (c <= eta * (1.0 + rtol))
    off = c <= -G * (1.0 - rtol)
    ok = jnp.all(jnp.where(U, on, off)) & jnp.all(lam > 0)
    return ok & jnp.all(jnp.isfinite(u)) & jnp.all(jnp.isfinite(lam))
