"""True-welfare tracking: the social optimum of a game and how far an equilibrium is from it.

The designer of the paper never sees utilities; a *test harness* or a simulation study does, and
wants to know whether driving the Pareto gap to 0 brought the true welfare to its optimum. For a
game with known utilities,

    social optimum:  x_SO(theta, probe) = argmax_x game.welfare(theta, x)
                     s.t. game.constraints(probe, x) <= 0, game.equality_constraints(probe, x) = 0,
                          game.lower <= x <= game.upper,

(`game.welfare` is sum_i f^i unless the game defines true social welfare differently, e.g. with
consumer surplus or damage). It is the same KKT system as the equilibria, assembled by the same
code for one planner who owns every constraint, solved by the same solvers, with the same input
validation, second-order check (a convex welfare's stationary point is `not_concave`, not a
maximum), implicit derivatives and failed-element policy. `welfare_report` compares the
equilibrium with it: the welfare ratio W(x_NE) / W(x_SO) (the inverse of the price of anarchy,
defined for a positive optimal welfare) and the distance |x_NE - x_SO|.
"""

import jax.numpy as jnp
from jaxtyping import Array

from ._equilibrium import AbstractEquilibriumSolver, EquilibriumSolution, solve_equilibrium
from ._equilibrium._solve import _prepare, dispatch
from ._game import AbstractGame
from ._solution import RESULTS, AbstractSolution, finish


def social_optimum(game: AbstractGame, theta=None, probe=None,
                   solver: AbstractEquilibriumSolver | None = None, *, x0=None,
                   max_steps: int = 100, tol: float | None = None, check_concavity: bool = True,
                   throw: bool = True) -> EquilibriumSolution:
    """argmax of `game.welfare(theta, x)` over the feasible set of `probe` (one planner).

    Same arguments, solvers, validation and result object as `solve_equilibrium`
    (`concept == "social_optimum"`); `multipliers` are the planner's shadow prices of the
    constraints. Default solver: the exact `ActiveSetEnumeration` when the game declares
    `kkt_affine` (a quadratic welfare with linear constraints), else `SemismoothNewton`.
    A stationary point of a welfare that is not concave there is `RESULTS.not_concave`.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> game = rp.games.RiverPollution()
    >>> so = rp.social_optimum(game, jnp.asarray(rp.games.DEFAULT_THETA), jnp.full(3, 0.1))
    >>> str(so.result), so.concept
    ('successful', 'social_optimum')

    ```
    """
    return dispatch(game, theta, probe, solver, planner=True, x0=x0, max_steps=max_steps,
                    tol=tol, check_concavity=check_concavity, throw=throw)


class WelfareReport(AbstractSolution):
    """Equilibrium vs social optimum at one (theta, probe).

    **Fields:** `welfare_eq`, `welfare_opt` (true welfare at the equilibrium and at the optimum);
    `ratio` = welfare_eq / welfare_opt (1 = efficient; NaN unless welfare_opt is positive and
    finite); `distance` = |x_NE - x_SO|_2; `result` (`successful`, the failed solve's code, or
    `welfare_ratio_undefined`). `ok` is an alias of `success`. Failed elements have NaN numbers.
    """

    welfare_eq: Array
    welfare_opt: Array
    ratio: Array
    distance: Array
    result: RESULTS

    @property
    def ok(self) -> Array:
        """Alias of `success`."""
        return self.success

    @property
    def stats(self) -> dict:
        return {}


def welfare_report(game: AbstractGame, theta=None, probe=None, x_eq=None, solver=None, *,
                   throw: bool = False) -> WelfareReport:
    """Compare the equilibrium at (theta, probe) with the social optimum.

    **Arguments:** `game`, `theta`, `probe` as for `solve_equilibrium`; `x_eq` an equilibrium
    already computed (shape `game.action_shape`; solved here if None); `solver` for both solves;
    `throw` (default False: batched harnesses read `.result`).

    **Returns:** a `WelfareReport`; its result is the equilibrium's code if that solve failed,
    else the optimum's, else `welfare_ratio_undefined` when W(x_SO) is not positive and finite.
    """
    if x_eq is None:
        eq = solve_equilibrium(game, theta, probe, solver, throw=False)
        x_eq, eq_result = eq.x, eq.result
    else:
        x_eq = jnp.asarray(x_eq)
        if x_eq.shape != game.action_shape:
            raise ValueError(f"`x_eq` must have shape {game.action_shape} (the game's "
                             f"action_shape); got {x_eq.shape}.")
        eq_result = RESULTS.where(jnp.all(jnp.isfinite(x_eq)), RESULTS.successful,
                                  RESULTS.nonfinite)
    so = social_optimum(game, theta, probe, solver, throw=False)
    dtype = so.x.dtype
    theta_w = jnp.zeros(0, dtype) if theta is None else jnp.asarray(theta).astype(dtype)
    game_w = _prepare(game, dtype, stop=False)
    w_eq = game_w.welfare(theta_w, x_eq.astype(dtype))
    w_so = game_w.welfare(theta_w, so.x)
    defined = jnp.isfinite(w_so) & (w_so > 0)
    result = RESULTS.where(defined, RESULTS.successful, RESULTS.welfare_ratio_undefined)
    result = RESULTS.where(so.success, result, so.result)
    result = RESULTS.where(eq_result == RESULTS.successful, result, eq_result)
    nan = jnp.where(result == RESULTS.successful, 1.0, jnp.nan).astype(w_so.dtype)
    ratio = w_eq / jnp.where(defined, w_so, 1.0)
    dist = jnp.sqrt(jnp.sum((x_eq.astype(dtype) - so.x) ** 2))
    report = WelfareReport(welfare_eq=w_eq * nan, welfare_opt=w_so * nan, ratio=ratio * nan,
                           distance=dist * nan, result=result)
    return finish(report, throw)
