"""The robust gap through the game API (`robust_pareto_gap_game`): linear-budget games are
forwarded to `robust_pareto_gap`; scalar-action games with own-action probe rows get their own
closed-form separation ("stay, or move to `lower`")."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._game import AbstractBudgetGame, AbstractGame
from .._solution import RESULTS
from ._checks import (
    Support,
    as_real,
    bad_radius,
    check_tol,
    float_dtype,
    raise_invalid,
    scalar_arg,
    validity,
    value_check,
)
from ._gap import finish_gap, robust_core, robust_pareto_gap
from ._orders import _relaxed_F
from ._results import RobustGap
from ._search import _kappa_hi, _SearchConfig

_COUPLED = (
    "`robust_pareto_gap_game` needs probe rows that each depend on one player's own action "
    "(row i = g_t^i(x_i), paper Assumption 1), non-decreasing in it; but the Jacobian of "
    "`game.revealed_constraints` at the observed strategies (or at `game.lower`) has a non-zero "
    "entry d g^i / d x_j with j != i, or a negative d g^i / d x_i. Shared constraints (e.g. "
    "RiverPollution(probe_reading='shared') or 'station') are not per-player probes: the robust "
    "gap is not defined for them."
)


def _strategy_arrays(game, probes, strategies):
    """Structure of (probes (T, probe_dim), strategies (T, [N,] *action_shape))."""
    if not isinstance(game, AbstractGame):
        raise TypeError(f"`game` must be an AbstractGame; got {type(game).__name__}.")
    probes, strategies = as_real(probes, "probes"), as_real(strategies, "strategies")
    shape = game.action_shape
    if probes.ndim != 2 or probes.shape[-1] != game.probe_dim:
        raise ValueError(f"`probes` must have shape (T, {game.probe_dim}); got {probes.shape}.")
    T = probes.shape[0]
    if strategies.shape == (T, *shape):
        strategies = strategies[:, None]
    elif (strategies.ndim != len(shape) + 2 or strategies.shape[0] != T
          or strategies.shape[2:] != shape):
        raise ValueError(
            f"`strategies` must have shape (T, *action_shape) = {(T, *shape)} or "
            f"(T, N, *action_shape); got {strategies.shape}."
        )
    if strategies.shape[1] == 0:
        raise ValueError("`strategies` is empty (N = 0): pass at least one sample.")
    return probes, strategies


@eqx.filter_jit
def _scalar_tables(game, probes, x):
    """g_stay (N, M, T_s, T_t) = g_t^i(x_{s,k}), g_low (M, T_t) = g_t^i(lower), dist (N, M, T_s) =
    x_{s,k}^i - lower_i, whether the data are invalid, and whether the rows are coupled: the
    Jacobian of `revealed_constraints` at every observed strategy and at `lower` (every probe)
    has an off-diagonal non-zero or a negative diagonal entry. A check at the points where the
    method evaluates the rows: exact zeros of forward-mode derivatives are structural."""
    dt = x.dtype
    M, T = game.num_agents, probes.shape[0]
    lower = jnp.broadcast_to(jnp.asarray(game.lower, dt), game.action_shape)
    rc = lambda p, z: game.revealed_constraints(p, z)  # noqa: E731
    g_stay = jax.vmap(lambda p: jax.vmap(jax.vmap(lambda z: rc(p, z)))(x))(probes)  # (T_t, T_s, N, R)
    if g_stay.ndim != 4 or g_stay.shape[-1] != M:
        raise ValueError(
            "the robust gap needs one probe row per player (row i = g^i of player i's own action); "
            f"`game.revealed_constraints` returns shape {g_stay.shape[3:]} for {M} players."
        )
    g_stay = jnp.transpose(g_stay, (2, 3, 1, 0))  # (N, M, T_s, T_t)
    g_low = jnp.transpose(jax.vmap(lambda p: rc(p, lower))(probes), (1, 0))  # (M, T_t)
    dist = jnp.transpose(x - lower, (1, 2, 0))  # (N, M, T_s)
    own = g_stay[..., jnp.arange(T), jnp.arange(T)]  # g_t^i(x_{t,k}^i)
    bad = jnp.any(dist < 0) | jnp.any(own > jnp.sqrt(jnp.finfo(dt).eps))
    bad = bad | ~jnp.all(jnp.isfinite(g_stay)) | ~jnp.all(jnp.isfinite(x))

    def coupled(p, z):
        J = jax.jacfwd(lambda y: rc(p, y))(z)  # (M, M)
        off = ~jnp.eye(M, dtype=bool) & (J != 0)
        neg = jnp.eye(M, dtype=bool) & (J < 0)
        return jnp.any((off | neg) & jnp.isfinite(J))

    points = jnp.concatenate([x.reshape(-1, M), lower[None]])  # every sample, and lower
    cross = jax.vmap(lambda p: jax.vmap(lambda z: coupled(p, z))(points))(probes)
    return g_stay, g_low, dist, bad, jnp.any(cross)


def robust_pareto_gap_game(
    game: AbstractGame,
    probes: Float[Array, "T q"],
    strategies: Float[Array, "T ..."],
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
      - `AbstractBudgetGame`s (linear budgets, e.g. `games.BudgetGame`): forwarded to
        `robust_pareto_gap` with the game's prices;
      - scalar-action games (`action_dim = None`) whose row i of `revealed_constraints` depends on
        player i's own action only, is concave and non-decreasing in it (Assumption 1), with
        support A_t^i = {x_i >= lower_i : g_t^i(x_i) <= 0}. Then the adversary's best move of a
        bundle is to stay or to go to `lower` (a convex function of one variable on [lower, x]),
        so a[k,i,s,t](kappa) = max(-g_t^i(x_{s,k}^i), -g_t^i(lower_i) - kappa (x_{s,k}^i - lower_i)).
        Rows that depend on other players' actions (shared constraints such as the river game's
        `probe_reading="shared"`) are refused: the Jacobian of `revealed_constraints` is computed
        at every observed strategy and at `lower`, and a non-zero cross derivative (or a negative
        own derivative) raises a ValueError (a run-time error when traced). The check covers the
        points where the method evaluates the rows; concavity is assumed, not checked.
    - `probes`: (T, probe_dim).
    - `strategies`: (T, *action_shape) (pure) or (T, N, *action_shape) samples, as for
      `probe_values`; inside the probe sets (invalid data: `RESULTS.invalid_samples`).
    - `epsilon`, `support`, `tol`, `grid`, `rounds`, `keep`, `split`, `golden`, `throw`: as for
      `robust_pareto_gap` (`support` only for linear budgets).

    **Returns:** a `RobustGap`.
    """
    probes, strategies = _strategy_arrays(game, probes, strategies)
    kw = dict(tol=tol, grid=grid, rounds=rounds, keep=keep, split=split, golden=golden, throw=throw)
    if isinstance(game, AbstractBudgetGame):
        prices = jnp.swapaxes(jax.vmap(game.prices)(probes), 0, 1)  # (M, T, k)
        samples = jnp.moveaxis(strategies, 0, 2)  # (N, M, T, k)
        return robust_pareto_gap(prices, samples, epsilon, support=support, **kw)
    if game.action_dim is not None:
        raise ValueError(
            "`robust_pareto_gap_game` supports linear-budget games (`AbstractBudgetGame`) and "
            f"scalar-action games (action_dim=None); got action_dim={game.action_dim}."
        )
    cfg = _SearchConfig(grid=grid, rounds=rounds, keep=keep, split=split, golden=golden)
    tol = check_tol(tol)
    dt = float_dtype(probes, strategies)
    eps = scalar_arg(epsilon, "epsilon", dt)
    g_stay, g_low, dist, bad, coupled = _scalar_tables(game, probes.astype(dt),
                                                       strategies.astype(dt))
    g_stay = value_check(g_stay, coupled, _COUPLED)
    code = validity(bad_radius(eps), bad)
    raise_invalid(code, throw)
    return _robust_scalar(g_stay, g_low, dist, eps, code, cfg, tol, throw)


@eqx.filter_jit
def _robust_scalar(g_stay, g_low, dist, eps, code, cfg, tol, throw):
    bad = code != RESULTS.successful
    g_stay = jnp.where(bad, -jnp.ones_like(g_stay), g_stay)  # a valid stand-in, masked below
    g_low = jnp.where(bad, -jnp.ones_like(g_low), g_low)
    dist = jnp.where(bad, jnp.zeros_like(dist), dist)
    eps = jnp.where(bad, jnp.zeros_like(eps), eps)

    def edge_fn(kappa):
        stay = -g_stay
        move = -g_low[None, :, None, :] - kappa * dist[..., None]
        return jnp.maximum(stay, move), jnp.where(move > stay, dist[..., None], 0.0)

    d = dist[..., None]
    slope = jnp.where(d > 0, (g_stay - g_low[None, :, None, :]) / jnp.where(d > 0, d, 1.0), 0.0)
    kmax = jnp.maximum(jnp.max(slope), 0.0)
    F0 = _relaxed_F(edge_fn(jnp.zeros((), eps.dtype))[0])
    hi = _kappa_hi(eps, kmax, F0)
    return finish_gap(robust_core(edge_fn, eps, hi, cfg, tol), code, throw)
