"""The robust gap for linear budgets (`robust_pareto_gap`) and the kappa search shared with the
game API (`robust_core`)."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._solution import RESULTS, finish
from ._checks import (
    Support,
    check_tol,
    linear_arrays,
    linear_validity,
    mask_invalid,
    raise_invalid,
    stand_in_linear,
)
from ._host import robust_exact
from ._orders import _cycle_bottlenecks, _masked_value, _orders_from, _upper_mask
from ._results import RobustGap
from ._search import _bnb, _golden, _kappa_hi, _point_summary, _SearchConfig
from ._separation import _edges_linear


def _best_certificate(edge_fn, eps, hi, khat, cfg: _SearchConfig):
    """(upper, kappa, orders): the best explicit certificate near the search's kappa. Candidate
    orders are read off the closure at kappa (per sample, and pooled for distinct samples); each
    candidate's convex 1-D problem in kappa is minimised by golden section."""
    a0 = edge_fn(khat)[0]
    N, M, T = a0.shape[:3]

    def candidates(kappa):
        a = edge_fn(kappa)[0]  # (N, M, T, T)
        B, _ = _cycle_bottlenecks(a)
        per = _orders_from(a, B)  # (N, M, T)
        if N == 1:  # one sample: its bottleneck order is optimal at kappa
            return per
        pooled = []
        for agg in (jnp.mean(a, axis=0), jnp.max(a, axis=0)):
            Bp, _ = _cycle_bottlenecks(agg)
            pooled.append(_orders_from(agg, Bp)[None])
        return jnp.concatenate([per] + pooled, axis=0)  # (N + 2, M, T)

    def solve(mask, kappa0):
        G = jax.vmap(lambda k: eps * k + _masked_value(edge_fn(k)[0], mask))
        return _golden(G, hi, cfg.golden, kappa0)

    def one_pass(_, c):  # candidate orders at kappa, then each one's convex kappa problem
        best, kbest, obest = c
        orders = candidates(kbest)
        vals, ks = jax.vmap(solve, in_axes=(0, None))(_upper_mask(orders), kbest)
        j = jnp.argmin(vals)
        better = vals[j] < best
        return (jnp.where(better, vals[j], best), jnp.where(better, ks[j], kbest),
                jnp.where(better, orders[j], obest))

    init = (jnp.asarray(jnp.inf, hi.dtype), khat, jnp.broadcast_to(jnp.arange(T), (M, T)))
    return jax.lax.fori_loop(0, 1 if N == 1 else 2, one_pass, init)


def robust_core(edge_fn, eps, hi, cfg: _SearchConfig, tol):
    """The kappa search on a generic edge function kappa -> (a, slopes), each (N, M, T, T): the
    certified branch and bound, then the best explicit certificate. Returns a `RobustGap`."""
    dt = hi.dtype
    point = lambda k: _point_summary(*edge_fn(k))  # noqa: E731
    lb, ub_relax, khat, _ = _bnb(point, eps, hi, cfg.grid, cfg.rounds, cfg.keep, cfg.split)
    N = edge_fn(khat)[0].shape[0]
    upper, kappa, orders = _best_certificate(edge_fn, eps, hi, khat, cfg)
    slack = 16 * jnp.finfo(dt).eps * (1.0 + jnp.abs(ub_relax) + eps * hi)
    lower = jnp.minimum(jnp.maximum(lb - slack, 0.0), upper)
    tol_ = jnp.asarray(1e3 * jnp.finfo(dt).eps ** 0.75 if tol is None else tol, dt)
    ok = (ub_relax - lb) <= tol_ * (1.0 + ub_relax)
    # distinct samples: `upper` is attained by shared orders and `lower` is a relaxation, so the
    # certified bracket can stay wide; say so (the bounds are valid, the value may exceed L_DR)
    wide = (N > 1) & ((upper - lower) > tol_ * (1.0 + upper))
    result = RESULTS.where(wide, RESULTS.robust_gap_bracket, RESULTS.successful)
    result = RESULTS.where(ok, result, RESULTS.robust_gap_inexact)
    return RobustGap(value=upper, lower=lower, upper=upper, kappa=kappa, orders=orders,
                     result=result)


def finish_gap(sol: RobustGap, code, throw: bool) -> RobustGap:
    """Mask an invalid instance (NaN, orders -1, its input code) and apply the throw rule; a wide
    bracket for distinct samples (`robust_gap_bracket`) is reported, not raised."""
    sol = mask_invalid(sol, code, ints=("orders",))
    fail = (sol.result != RESULTS.successful) & (sol.result != RESULTS.robust_gap_bracket)
    return finish(sol, throw, fail=fail)


def robust_pareto_gap(
    prices: Float[Array, "M T k"],
    samples: Float[Array, "N M T k"],
    epsilon,
    *,
    support: Support = "triangle",
    exact: bool = False,
    tol: float | None = None,
    grid: int = 32,
    rounds: int = 16,
    keep: int = 4,
    split: int = 4,
    golden: int = 32,
    throw: bool = True,
) -> RobustGap:
    r"""The Wasserstein-robust Pareto gap L_DR^eps of paper eq. (15) for linear budgets.

    L_DR = inf_psi sup_{Q : W_1(Q, P_N) <= eps, supp Q in Gamma} E_Q h(psi, Phi), with probes
    g_t^i(x) = <prices[i, t], x> - 1, P_N the N joint samples and Gamma the product of the budget
    sets (see the module docstring and docs/robust.md for every reading chosen).

    **Arguments:**

    - `prices`: (M, T, k), k in {1, 2}, positive: prices[i, t] = alpha_t^i.
    - `samples`: (N, M, T, k): samples[k, i, t] = agent i's k-th observed bundle at probe t, inside
      its budget set. N = 1 for pure strategies.
    - `epsilon`: the radius eps >= 0 (a scalar; vmap over radii).
    - `support`: "triangle" (the budget set, default) or "line" (the budget line; samples on it).
    - `exact`: run the exchange method with an exact MILP master (needs SciPy; not jittable) and
      return its bracket instead (useful for distinct samples).
    - `tol`: relative width of the kappa search below which `result` is successful.
    - `grid`, `rounds`, `keep`, `split`, `golden`: sizes of the kappa search (static).
    - `throw`: raise if `result` is a failure (a wide bracket for distinct samples,
      `robust_gap_bracket`, is reported, not raised). Under `vmap` pass `False` and read
      `.result`: an element with invalid data then gets NaN outputs, orders -1 and its own code
      (`invalid_epsilon`, `invalid_samples`) while the other elements are untouched.

    **Returns:** a `RobustGap` (value, lower, upper, kappa, orders, result).

    Shapes and dtypes are checked when the call is traced (ValueError/TypeError naming the
    argument). Invalid values (NaN, a negative radius, prices <= 0, samples outside their budget
    sets) are the codes above; with `throw=True` they raise a ValueError when the inputs are
    concrete, and an `EquinoxRuntimeError` with the same message inside `jit`/`vmap`.

    One instance per call: `jax.vmap` over runs, radii and SPSA perturbations. For one sample or
    identical samples the problem is min_kappa eps kappa + max_i B(a^i(kappa)) with B a bottleneck
    closure, and `value` is exact up to the certified [lower, upper]; for eps = 0 it is the Pareto
    gap of eq. (10).

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> jax.config.update("jax_enable_x64", True)
    >>> game = rp.games.BudgetGame()
    >>> probes = rp.sample_probes(game, jax.random.PRNGKey(0), 5)         # (T, 6)
    >>> prices = jnp.swapaxes(jax.vmap(game.prices)(probes), 0, 1)         # (M, T, 2)
    >>> x = jnp.swapaxes(jax.vmap(game.demand)(probes), 0, 1)              # (M, T, 2)
    >>> sol = rp.robust_pareto_gap(prices, x[None], 0.0)
    >>> float(sol.value) < 1e-12                                           # rational data: L = 0
    True
    >>> sol = rp.robust_pareto_gap(prices, x[None], 0.01)
    >>> bool(sol.lower <= sol.upper) and 0.0 < float(sol.value) < 0.05
    True

    ```
    """
    cfg = _SearchConfig(grid=grid, rounds=rounds, keep=keep, split=split, golden=golden)
    prices, samples, eps = linear_arrays(prices, samples, epsilon, support)
    tol = check_tol(tol)
    code = linear_validity(prices, samples, eps, support)
    raise_invalid(code, throw)
    if exact:
        return robust_exact(prices, samples, eps, code, support, tol, throw)
    return _robust_linear(prices, samples, eps, code, support, cfg, tol, throw)


@eqx.filter_jit
def _robust_linear(prices, samples, eps, code, support, cfg, tol, throw):
    prices, samples, eps = stand_in_linear(prices, samples, eps, code)
    edge_fn = lambda k: _edges_linear(prices, samples, k, support)[::2]  # noqa: E731
    kmax = jnp.max(jnp.sqrt(jnp.sum(prices**2, axis=-1)))
    hi = _kappa_hi(eps, kmax, jnp.ones((), prices.dtype))
    return finish_gap(robust_core(edge_fn, eps, hi, cfg, tol), code, throw)
