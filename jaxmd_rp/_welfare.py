"""True-welfare tracking: the social optimum of a game and how far an equilibrium is from it.

The designer of the paper never sees utilities; a *test harness* or a simulation study does, and
wants to know whether driving the Pareto gap to 0 brought the true welfare to its optimum. For a
game with known utilities,

    social optimum:  x_SO(theta, probe) = argmax_x game.welfare(theta, x)
                     s.t. game.constraints(probe, x) <= 0, x >= game.lower,

(`game.welfare` is sum_i f^i unless the game defines true social welfare differently, e.g. with
consumer surplus or damage), solved from its KKT system with the same solvers as equilibria.
`welfare_report` compares the equilibrium with it: the welfare ratio W(x_NE) / W(x_SO) (the inverse
of the price of anarchy when welfare is positive) and the distance |x_NE - x_SO|.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._equilibrium import (
    _KKT,
    ActiveSetEnumeration,
    EquilibriumSolution,
    SemismoothNewton,
    default_tol,
)
from ._game import AbstractGame
from ._solution import RESULTS


@eqx.filter_jit
def social_optimum(game: AbstractGame, theta, probe, solver=None, *, max_steps: int = 100,
                   tol: float | None = None, throw: bool = True) -> EquilibriumSolution:
    """argmax of `game.welfare(theta, x)` over the feasible set of `probe` (KKT, one planner).

    Same solvers and result object as `solve_equilibrium`; `multipliers` are the shadow prices of
    the constraints for the planner. Default solver: the exact `ActiveSetEnumeration` when the game
    declares `kkt_affine` (a concave quadratic welfare with linear constraints), else
    `SemismoothNewton`.
    """
    theta, probe = jnp.asarray(theta), jnp.asarray(probe)
    dtype = jnp.result_type(theta, probe, float)
    theta, probe = theta.astype(dtype), probe.astype(dtype)
    tol = default_tol(dtype) if tol is None else tol
    if solver is None:
        solver = ActiveSetEnumeration() if game.kkt_affine else SemismoothNewton()
    shape = game.action_shape
    n = int(np.prod(shape))
    lower = jnp.ravel(jnp.asarray(game.lower, dtype))

    def pgrad(y):
        x = jnp.reshape(y + lower, shape)
        return -jnp.ravel(jax.grad(lambda xx: game.welfare(theta, xx))(x)).astype(dtype)

    def cons(y):
        return game.constraints(probe, jnp.reshape(y + lower, shape)).astype(dtype)

    kkt = _KKT(pgrad, cons, n)
    C = jax.eval_shape(cons, jnp.zeros(n, dtype)).shape[0]
    z0 = jnp.concatenate([jnp.ones(n, dtype), jnp.zeros(C, dtype)])
    z, result, res, steps = solver.solve(game, theta, probe, kkt, z0, tol, max_steps)
    x = jnp.reshape(z[:n] + lower, shape)
    sol = EquilibriumSolution(x=x, multipliers=z[n:], result=result, residual=res, num_steps=steps)
    if throw:
        sol = result.error_if(sol, result != RESULTS.successful)
    return sol


class WelfareReport(eqx.Module):
    """Equilibrium vs social optimum at one (theta, probe).

    `welfare_eq`, `welfare_opt`: true welfare at the equilibrium and at the optimum;
    `ratio` = welfare_eq / welfare_opt (1 = efficient); `distance` = |x_NE - x_SO|_2;
    `ok` = both solves succeeded.
    """

    welfare_eq: Array
    welfare_opt: Array
    ratio: Array
    distance: Array
    ok: Array


def welfare_report(game: AbstractGame, theta, probe, x_eq=None, solver=None) -> WelfareReport:
    """Compare the normalized equilibrium at (theta, probe) with the social optimum (no throw)."""
    from ._equilibrium import solve_equilibrium

    ok = jnp.array(True)
    if x_eq is None:
        eq = solve_equilibrium(game, theta, probe, solver, throw=False)
        x_eq, ok = eq.x, eq.result == RESULTS.successful
    so = social_optimum(game, theta, probe, solver, throw=False)
    w_eq = game.welfare(theta, x_eq)
    w_so = game.welfare(theta, so.x)
    ratio = w_eq / jnp.where(w_so == 0, 1.0, w_so)
    dist = jnp.sqrt(jnp.sum((x_eq - so.x) ** 2))
    return WelfareReport(welfare_eq=w_eq, welfare_opt=w_so, ratio=ratio, distance=dist,
                         ok=ok & (so.result == RESULTS.successful))
