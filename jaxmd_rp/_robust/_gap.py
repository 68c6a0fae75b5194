"""The robust gap: for linear budgets (`robust_pareto_gap`) and through the game API
(`robust_pareto_gap_game`)."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._game import AbstractGame
from .._solution import RESULTS
from ._checks import Support, _check_linear, _float_dtype
from ._host import _robust_exact
from ._orders import _cycle_bottlenecks, _masked_value, _orders_from, _relaxed_F, upper_mask
from ._results import RobustGap
from ._search import _bnb, _golden, _kappa_hi, _point_summary, _SearchConfig
from ._separation import _edges_linear


def _robust_core(edge_fn, eps, hi, cfg: _SearchConfig, tol, throw):
    """The kappa search on a generic edge function kappa -> a (N, M, T, T)."""
    dt = hi.dtype
    point = lambda k: _point_summary(*edge_fn(k))  # noqa: E731
    lb, ub_relax, khat, _ = _bnb(point, eps, hi, cfg.grid, cfg.rounds, cfg.keep, cfg.split)

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
        vals, ks = jax.vmap(solve, in_axes=(0, None))(upper_mask(orders), kbest)
        j = jnp.argmin(vals)
        better = vals[j] < best
        return (jnp.where(better, vals[j], best), jnp.where(better, ks[j], kbest),
                jnp.where(better, orders[j], obest))

    init = (jnp.asarray(jnp.inf, dt), khat, jnp.broadcast_to(jnp.arange(T), (M, T)))
    upper, kappa, orders = jax.lax.fori_loop(0, 1 if N == 1 else 2, one_pass, init)
    slack = 16 * jnp.finfo(dt).eps * (1.0 + jnp.abs(ub_relax) + eps * hi)
    lower = jnp.minimum(jnp.maximum(lb - slack, 0.0), upper)
    tol_ = jnp.asarray(1e3 * jnp.finfo(dt).eps ** 0.75 if tol is None else tol, dt)
    ok = (ub_relax - lb) <= tol_ * (1.0 + ub_relax)
    # distinct samples: `upper` is attained by shared orders and `lower` is a relaxation, so the
    # certified bracket can stay wide; say so (the bounds are valid, the value may exceed L_DR)
    wide = (N > 1) & ((upper - lower) > tol_ * (1.0 + upper))
    result = RESULTS.where(wide, RESULTS.robust_gap_bracket, RESULTS.successful)
    result = RESULTS.where(ok, result, RESULTS.robust_gap_inexact)
    sol = RobustGap(value=upper, lower=lower, upper=upper, kappa=kappa, orders=orders, result=result)
    if throw:  # a wide bracket for distinct samples is reported, not raised
        sol = result.error_if(sol, result == RESULTS.robust_gap_inexact)
    return sol


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
    - `throw`: raise if `result` is not successful (pass False under vmap and read `.result`).

    **Returns:** a `RobustGap` (value, lower, upper, kappa, orders, result).

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
    if exact:
        prices, samples, eps = _check_linear(prices, samples, epsilon, support)
        return _robust_exact(prices, samples, eps, support, tol, throw)
    # arrays, not Python floats, so that new values do not recompile (filter_jit)
    tol = None if tol is None else jnp.asarray(tol)
    return _robust_linear(jnp.asarray(prices), jnp.asarray(samples), jnp.asarray(epsilon), support,
                          cfg, tol, throw)


@eqx.filter_jit
def _robust_linear(prices, samples, epsilon, support, cfg, tol, throw):
    prices, samples, eps = _check_linear(prices, samples, epsilon, support)
    edge_fn = lambda k: _edges_linear(prices, samples, k, support)[::2]  # noqa: E731
    kmax = jnp.max(jnp.sqrt(jnp.sum(prices**2, axis=-1)))
    hi = _kappa_hi(eps, kmax, jnp.ones((), prices.dtype))
    return _robust_core(edge_fn, eps, hi, cfg, tol, throw)


def robust_pareto_gap_game(
    game: AbstractGame,
    probes,
    strategies,
    epsilon,
    *,
    support: Support = "triangle",
    tol: float | None = None,
    grid: int = 32,
    rounds: int = 16,
    keep: int = 4,
    split: int = 4,
    golden: int = 32,
    throw: bool = True,
) -> RobustGap:
    r"""The robust gap through the game API (`game.revealed_constraints` as the probes g_t^i).

    **Arguments:**

    - `game`: an `AbstractGame`. Two kinds are supported:
      - games with a `prices(probe)` method (linear budgets, e.g. `games.BudgetGame`): forwarded
        to `robust_pareto_gap`;
      - scalar-action games (`action_dim = None`) whose row i of `revealed_constraints` depends on
        player i's own action only, is concave and increasing in it (Assumption 1), with support
        A_t^i = {x_i >= lower_i : g_t^i(x_i) <= 0}. Then the adversary's best move of a bundle is to
        stay or to go to `lower` (a concave function of one variable on each side of the sample),
        so a[k,i,s,t](kappa) = max(-g_t^i(x_{s,k}^i), -g_t^i(lower_i) - kappa (x_{s,k}^i - lower_i)).
        The river game with `probe_reading="own"` is of this kind.
    - `probes`: (T, probe_dim).
    - `strategies`: (T, *action_shape) (pure) or (T, N, *action_shape) samples, as for
      `probe_values`.
    - `epsilon`, `support`, ...: as for `robust_pareto_gap` (`support` only for linear budgets).
    """
    probes = jnp.asarray(probes)
    strategies = jnp.asarray(strategies)
    shape = game.action_shape
    if probes.ndim != 2 or probes.shape[-1] != game.probe_dim:
        raise ValueError(f"`probes` must have shape (T, {game.probe_dim}); got {probes.shape}.")
    T = probes.shape[0]
    if strategies.shape == (T, *shape):
        strategies = strategies[:, None]
    elif strategies.ndim != len(shape) + 2 or strategies.shape[0] != T or strategies.shape[2:] != shape:
        raise ValueError(
            f"`strategies` must have shape (T, *action_shape) = {(T, *shape)} or (T, N, *action_shape); "
            f"got {strategies.shape}."
        )
    kw = dict(tol=tol, grid=grid, rounds=rounds, keep=keep, split=split, golden=golden, throw=throw)
    if hasattr(game, "prices"):
        prices = jnp.swapaxes(jax.vmap(game.prices)(probes), 0, 1)  # (M, T, k)
        samples = jnp.moveaxis(strategies, 0, 2)  # (N, M, T, k)
        return robust_pareto_gap(prices, samples, epsilon, support=support, **kw)
    if game.action_dim is not None:
        raise ValueError(
            "`robust_pareto_gap_game` supports linear-budget games (with a `prices` method) and "
            f"scalar-action games (action_dim=None); got action_dim={game.action_dim}."
        )
    cfg = _SearchConfig(grid=grid, rounds=rounds, keep=keep, split=split, golden=golden)
    tol = None if tol is None else jnp.asarray(tol)
    return _robust_scalar_game(game, probes, strategies, jnp.asarray(epsilon), cfg, tol, throw)


@eqx.filter_jit
def _robust_scalar_game(game, probes, strategies, epsilon, cfg, tol, throw):
    shape = game.action_shape
    T = probes.shape[0]
    dt = _float_dtype(probes, strategies)
    x = strategies.astype(dt)  # (T, N, M)
    N = x.shape[1]
    if N == 0:
        raise ValueError("`strategies` is empty (N = 0): pass at least one sample.")
    lower = jnp.broadcast_to(jnp.asarray(game.lower, dt), shape)
    rc = lambda p, z: game.revealed_constraints(p, z)  # noqa: E731
    # g_stay[t, s, k, r] = g_t^r(x_{s,k})
    g_stay = jax.vmap(lambda p: jax.vmap(jax.vmap(lambda z: rc(p, z)))(x))(probes.astype(dt))
    if g_stay.shape[-1] != game.num_agents:
        raise ValueError(
            "the robust gap needs one probe row per player (row i = g^i of player i's own action); "
            f"`game.revealed_constraints` returns {g_stay.shape[-1]} rows for {game.num_agents} players."
        )
    g_stay = jnp.transpose(g_stay, (2, 3, 1, 0))  # (N, M, T_s, T_t)
    g_low = jnp.transpose(jax.vmap(lambda p: rc(p, lower))(probes.astype(dt)), (1, 0))  # (M, T_t)
    dist = jnp.transpose(x - lower, (1, 2, 0))  # (N, M, T_s)
    own = g_stay[..., jnp.arange(T), jnp.arange(T)]  # g_t^i(x_{t,k}^i)
    bad = jnp.any(dist < 0) | jnp.any(own > jnp.sqrt(jnp.finfo(dt).eps)) | ~jnp.all(jnp.isfinite(g_stay))
    g_stay = eqx.error_if(
        g_stay, bad,
        "`strategies` must lie in the probe sets: x >= game.lower and g_t^i(x_t) <= 0 (finite).")
    eps = jnp.asarray(epsilon)
    if eps.ndim != 0:
        raise ValueError(f"`epsilon` must be a scalar (vmap over radii); got shape {eps.shape}.")
    eps = eps.astype(dt)
    eps = eqx.error_if(eps, ~(eps >= 0) | ~jnp.isfinite(eps),
                       "`epsilon` (the Wasserstein radius) must be finite and >= 0.")

    def edge_fn(kappa):
        stay = -g_stay
        move = -g_low[None, :, None, :] - kappa * dist[..., None]
        return jnp.maximum(stay, move), jnp.where(move > stay, dist[..., None], 0.0)

    d = dist[..., None]
    slope = jnp.where(d > 0, (g_stay - g_low[None, :, None, :]) / jnp.where(d > 0, d, 1.0), 0.0)
    kmax = jnp.maximum(jnp.max(slope), 0.0)
    F0 = _relaxed_F(edge_fn(jnp.zeros((), dt))[0])
    hi = _kappa_hi(eps, kmax, F0)
    return _robust_core(edge_fn, eps, hi, cfg, tol, throw)
