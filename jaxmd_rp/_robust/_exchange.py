"""Algorithm 2 (the exchange method) with the closure master, in JAX."""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._solution import RESULTS
from ._checks import Support, _check_linear
from ._host import _exchange_milp
from ._orders import _masked_value, _orders_from, upper_mask
from ._results import ExchangeSolution
from ._search import _bnb, _golden, _kappa_hi, _point_summary, _SearchConfig
from ._separation import _edges_linear, _nominal_linear, _separate


def _tol_n(delta, relative_tol, ub):
    """The stopping tolerance of round n: delta, and relative_tol * UB_n when that is finite."""
    if relative_tol is None:
        return delta
    rel = jnp.where(jnp.isfinite(relative_tol), relative_tol * ub, jnp.inf)
    return jnp.minimum(delta, jnp.where(jnp.isnan(rel), delta, rel))


def _master_closure(cut_b, cut_d, active, eps, hi, cfg: _SearchConfig):
    """Exact master (18) for one sample: min over orders and kappa of eps kappa + v, v >= every
    cut. Returns (lower bound, kappa, v, orders)."""
    neg = jnp.asarray(-jnp.inf, cut_b.dtype)

    def w_of(k):
        pieces = jnp.where(active[:, None, None, None], cut_b - k * cut_d[:, None, None, None], neg)
        j = jnp.argmax(pieces, axis=0)
        return jnp.max(pieces, axis=0), cut_d[j]

    def point(k):
        w, d = w_of(k)
        return _point_summary(w[None], d[None])

    lb, _, khat, vhat = _bnb(point, eps, hi, cfg.grid, cfg.rounds, cfg.keep, cfg.split)
    orders = _orders_from(w_of(khat)[0], vhat)
    return lb, khat, vhat, orders


def exchange_method(
    prices: Float[Array, "M T k"],
    samples: Float[Array, "N M T k"],
    epsilon,
    *,
    delta: float = 0.1,
    relative_tol: float | None = None,
    max_iterations: int = 32,
    support: Support = "triangle",
    master: Literal["closure", "milp"] = "closure",
    grid: int = 32,
    rounds: int = 16,
    keep: int = 4,
    split: int = 4,
    golden: int = 32,
    throw: bool = True,
) -> ExchangeSolution:
    r"""Algorithm 2 of the paper: the exchange (cutting-plane) method for (17).

    ```
    psi <- ties (u = 0: every edge counts), kappa <- 0, v <- 0, cuts <- {}
    for n = 1, 2, ..., max_iterations:
        for every sample k: (CV_k, Phi_k) <- separation (19) over Gamma at (psi, kappa, v_k)
        record max_k CV_k, LB_n = master value, UB_n = eps kappa + mean_k (v_k + CV_k^+)
        if max_k CV_k <= delta: stop                       # UB_n - LB_n <= delta
        add Phi_k to the cuts of sample k where CV_k > 0
        (psi, kappa, v) <- master (18) over the cuts       # an order per agent, kappa, v
    ```

    **Arguments:**

    - `prices`, `samples`, `epsilon`, `support`: as for `robust_pareto_gap`.
    - `delta`: the stopping tolerance on max_k CV_k (paper: 0.1); `-inf` never stops (exactly
      `max_iterations` rounds, e.g. for fixed-budget comparisons).
    - `relative_tol`: if set, also require max_k CV_k <= relative_tol * UB_n (a tolerance that
      scales with the value; the paper's absolute delta = 0.1 says nothing when L_DR ~ 1e-3).
    - `max_iterations`: cap on separation rounds (static; also the length of the histories).
    - `master`: "closure" (default; exact for one sample or identical samples, JAX, jit/vmap-able)
      or "milp" (exact for any samples via `scipy.optimize.milp`; a host loop, not jittable).
    - `grid`, `rounds`, `keep`, `split`, `golden`: kappa-search sizes of the closure master.
    - `throw`: raise when `max_iterations` is reached (pass False under vmap).
    """
    if master not in ("closure", "milp"):
        raise ValueError(f"`master` must be 'closure' or 'milp'; got {master!r}.")
    if max_iterations < 1:
        raise ValueError(f"`max_iterations` must be >= 1; got {max_iterations}.")
    cfg = _SearchConfig(grid=grid, rounds=rounds, keep=keep, split=split, golden=golden)
    if master == "milp":
        prices, samples, eps = _check_linear(prices, samples, epsilon, support)
        return _exchange_milp(prices, samples, eps, delta, relative_tol, max_iterations, support,
                              cfg, throw)
    rel = jnp.asarray(jnp.inf if relative_tol is None else relative_tol)  # inf = off (no recompile)
    return _exchange_closure(jnp.asarray(prices), jnp.asarray(samples), jnp.asarray(epsilon),
                             jnp.asarray(delta), rel, max_iterations, support, cfg, throw)


@eqx.filter_jit
def _exchange_closure(prices, samples, epsilon, delta, relative_tol, H, support, cfg, throw):
    prices, samples, eps = _check_linear(prices, samples, epsilon, support)
    samples = eqx.error_if(
        samples, jnp.any(samples != samples[:1]),
        "exchange_method(master='closure') needs one sample or identical samples (pure "
        "strategies); for distinct samples pass master='milp' (needs SciPy).")
    x = samples[0]
    dt = prices.dtype
    M, T, _ = prices.shape
    W = _nominal_linear(prices, x[None])[0]  # (M, T, T)
    kmax = jnp.max(jnp.sqrt(jnp.sum(prices**2, axis=-1)))
    hi = _kappa_hi(eps, kmax, jnp.ones((), dt))
    delta = jnp.asarray(delta, dt)
    nan = jnp.full(H, jnp.nan, dt)
    init = dict(
        n=jnp.array(0), done=jnp.array(False), U=jnp.ones((M, T, T), bool),
        orders=jnp.broadcast_to(jnp.arange(T), (M, T)), kappa=jnp.zeros((), dt),
        v=jnp.zeros((), dt), lb=jnp.zeros((), dt), ub=jnp.asarray(jnp.inf, dt),
        cut_b=jnp.zeros((H, M, T, T), dt), cut_d=jnp.zeros(H, dt), active=jnp.zeros(H, bool),
        ncut=jnp.array(0), cv=nan, hlb=nan, hub=nan,
    )

    def cond(c):
        return (~c["done"]) & (c["n"] < H)

    def body(c):
        sep = _separate(prices, x, c["U"], c["kappa"], c["v"], support)
        ub = eps * c["kappa"] + c["v"] + jnp.maximum(sep.cv, 0.0)
        n = c["n"]
        out = dict(c)
        out["cv"] = c["cv"].at[n].set(sep.cv)
        out["hlb"] = c["hlb"].at[n].set(c["lb"])
        out["hub"] = c["hub"].at[n].set(ub)
        out["ub"] = ub
        stop = sep.cv <= _tol_n(delta, relative_tol, ub)
        add = (~stop) & (sep.cv > 0)
        row = 1.0 - prices[sep.agent] @ sep.point  # (T,): 1 - <alpha_t^{i*}, gamma*>
        b = W.at[sep.agent, sep.block, :].set(row)
        j = jnp.minimum(c["ncut"], H - 1)
        out["cut_b"] = jnp.where(add, c["cut_b"].at[j].set(b), c["cut_b"])
        out["cut_d"] = jnp.where(add, c["cut_d"].at[j].set(sep.distance), c["cut_d"])
        out["active"] = jnp.where(add, c["active"].at[j].set(True), c["active"])
        out["ncut"] = c["ncut"] + add.astype(c["ncut"].dtype)
        lb, kappa, v, orders = _master_closure(out["cut_b"], out["cut_d"], out["active"], eps, hi, cfg)
        last = n + 1 >= H
        keep_old = stop | last
        out["lb"] = jnp.where(keep_old, c["lb"], jnp.maximum(lb, 0.0))
        out["kappa"] = jnp.where(keep_old, c["kappa"], kappa)
        out["v"] = jnp.where(keep_old, c["v"], v)
        out["orders"] = jnp.where(keep_old, c["orders"], orders)
        out["U"] = jnp.where(keep_old, c["U"], upper_mask(orders))
        out["done"] = stop
        out["n"] = n + 1
        return out

    c = jax.lax.while_loop(cond, body, init)
    # line 13, as a DRO value: min over kappa of the worst-case expectation of the certificate
    U = c["U"]
    G = jax.vmap(lambda k: eps * k + _masked_value(_edges_linear(prices, x[None], k, support)[0], U))
    val, kap = _golden(G, hi, cfg.golden, c["kappa"])
    value = jnp.minimum(val, c["ub"])
    result = RESULTS.where(c["done"], RESULTS.successful, RESULTS.exchange_max_iterations)
    sol = ExchangeSolution(value=value, lower=jnp.minimum(c["lb"], value), upper=c["ub"],
                           kappa=c["kappa"], orders=c["orders"], iterations=c["n"], max_cv=c["cv"],
                           history_lower=c["hlb"], history_upper=c["hub"], result=result)
    if throw:
        sol = result.error_if(sol, result != RESULTS.successful)
    return sol
