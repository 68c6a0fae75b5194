"""Algorithm 2 (the exchange method): the public entry and its JAX loop with the closure master
(exact for one sample or identical samples); the MILP master runs on the host (`_host`)."""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._solution import RESULTS, finish
from ._checks import (
    Support,
    check_count,
    linear_arrays,
    linear_validity,
    mask_invalid,
    raise_invalid,
    scalar_arg,
    stand_in_linear,
    value_check,
)
from ._host import exchange_milp
from ._orders import _masked_value, _orders_from, _upper_mask
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


def _tolerances(delta, relative_tol, dt):
    """`delta` (not NaN; -inf never stops) and `relative_tol` (None, or >= 0) as scalars."""
    delta = scalar_arg(delta, "delta", dt)
    delta = value_check(delta, jnp.isnan(delta), "`delta` must not be NaN (-inf never stops).")
    if relative_tol is not None:
        relative_tol = scalar_arg(relative_tol, "relative_tol", dt)
        relative_tol = value_check(relative_tol, ~(relative_tol >= 0),
                                   "`relative_tol` must be >= 0 (not NaN) or None.")
    return delta, relative_tol


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
    - `throw`: raise when the result is not successful (`max_iterations` reached, invalid data,
      a failed MILP). Under `vmap` pass `False`: an element with invalid data then gets NaN
      outputs, orders -1, 0 iterations and its own code; the other elements are untouched.

    **Returns:** an `ExchangeSolution`.

    Shapes, dtypes and settings are checked up front (ValueError/TypeError naming the
    argument); invalid data behave as in `robust_pareto_gap`.

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> jax.config.update("jax_enable_x64", True)
    >>> game = rp.games.BudgetGame()
    >>> probes = rp.sample_probes(game, jax.random.PRNGKey(0), 5)         # (T, 6)
    >>> prices = jnp.swapaxes(jax.vmap(game.prices)(probes), 0, 1)         # (M, T, 2)
    >>> x = jnp.swapaxes(jax.vmap(game.demand)(probes), 0, 1)[None]        # (N=1, M, T, 2)
    >>> ex = rp.exchange_method(prices, x, 1.0, delta=0.1)
    >>> gap = rp.robust_pareto_gap(prices, x, 1.0)                         # the exact value
    >>> bool(ex.success), bool(ex.lower <= gap.value <= ex.upper <= ex.lower + 0.1)
    (True, True)

    ```
    """
    if master not in ("closure", "milp"):
        raise ValueError(f"`master` must be 'closure' or 'milp'; got {master!r}.")
    H = check_count(max_iterations, "max_iterations", 1)
    cfg = _SearchConfig(grid=grid, rounds=rounds, keep=keep, split=split, golden=golden)
    prices, samples, eps = linear_arrays(prices, samples, epsilon, support)
    delta, relative_tol = _tolerances(delta, relative_tol, prices.dtype)
    code = linear_validity(prices, samples, eps, support)
    raise_invalid(code, throw)
    if master == "milp":
        return exchange_milp(prices, samples, eps, code, delta, relative_tol, H, support, cfg,
                             throw)
    rel = jnp.asarray(jnp.inf, prices.dtype) if relative_tol is None else relative_tol  # inf: off
    return _exchange_closure(prices, _identical(samples, code), eps, code, delta, rel, H,
                             support, cfg, throw)


def _identical(samples, code):
    """The closure master is exact for one sample or identical samples only."""
    distinct = (code == RESULTS.successful) & jnp.any(samples != samples[:1])
    return value_check(
        samples, distinct,
        "exchange_method(master='closure') needs one sample or identical samples (pure "
        "strategies); for distinct samples pass master='milp' (needs SciPy).")


def _closure_loop(prices, x, eps, hi, delta, relative_tol, H, support, cfg):
    """The rounds of Algorithm 2 for one sample x (M, T, k), as a `while_loop` of fixed shape."""
    dt = prices.dtype
    M, T, _ = prices.shape
    W = _nominal_linear(prices, x[None])[0]  # (M, T, T)
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
        keep_old = stop | (n + 1 >= H)
        out["lb"] = jnp.where(keep_old, c["lb"], jnp.maximum(lb, 0.0))
        out["kappa"] = jnp.where(keep_old, c["kappa"], kappa)
        out["v"] = jnp.where(keep_old, c["v"], v)
        out["orders"] = jnp.where(keep_old, c["orders"], orders)
        out["U"] = jnp.where(keep_old, c["U"], _upper_mask(orders))
        out["done"] = stop
        out["n"] = n + 1
        return out

    return jax.lax.while_loop(cond, body, init)


@eqx.filter_jit
def _exchange_closure(prices, samples, eps, code, delta, relative_tol, H, support, cfg, throw):
    prices, samples, eps = stand_in_linear(prices, samples, eps, code)
    x = samples[0]
    kmax = jnp.max(jnp.sqrt(jnp.sum(prices**2, axis=-1)))
    hi = _kappa_hi(eps, kmax, jnp.ones((), prices.dtype))
    c = _closure_loop(prices, x, eps, hi, delta, relative_tol, H, support, cfg)
    # line 13, as a DRO value: min over kappa of the worst-case expectation of the certificate
    U = c["U"]
    G = jax.vmap(lambda k: eps * k + _masked_value(_edges_linear(prices, x[None], k, support)[0], U))
    val, _ = _golden(G, hi, cfg.golden, c["kappa"])
    value = jnp.minimum(val, c["ub"])
    result = RESULTS.where(c["done"], RESULTS.successful, RESULTS.exchange_max_iterations)
    sol = ExchangeSolution(value=value, lower=jnp.minimum(c["lb"], value), upper=c["ub"],
                           kappa=c["kappa"], orders=c["orders"], iterations=c["n"], max_cv=c["cv"],
                           history_lower=c["hlb"], history_upper=c["hub"], result=result)
    return finish(mask_invalid(sol, code, ints=("orders",)), throw)
