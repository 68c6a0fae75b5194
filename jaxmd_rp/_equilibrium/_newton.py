"""Semismooth Newton on the Fischer-Burmeister reformulation of the KKT system (default solver).

Newton's method on FB(z) = 0 with a Levenberg-Marquardt direction where the generalized Jacobian
is singular or the Newton direction is not a descent direction (De Luca, Facchinei & Kanzow 1996),
and a vectorised Armijo backtracking line search on the merit function |FB(z)|^2 / 2 (all trial
step sizes 1, 1/2, 1/4, ... evaluated at once, so the loop has fixed shapes and vmaps). Quadratic
local convergence: a KKT residual of 1e-12 in a few steps.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

from .._linalg import cholesky_solve_small, lu_solve_small
from .._solution import RESULTS


def newton(fb, residual, z0, tol, max_steps, linesearch_steps: int, armijo):
    """Globalised semismooth Newton on fb(z) = 0, stopping at residual(z) <= tol.

    Returns (z, result, residual, steps); the result is `successful`, `stalled` (no step decreased
    the merit function), `unbounded` (the iterates diverged), `nonfinite` or
    `nonlinear_max_steps_reached`.
    """
    dtype = z0.dtype
    eps = jnp.finfo(dtype).eps
    betas = 0.5 ** jnp.arange(linesearch_steps, dtype=dtype)
    big = jnp.asarray(1.0 / eps, dtype)  # |z| beyond big * (1 + |z0|): diverged
    rho = eps**0.75  # sufficient-descent constant of the Newton direction
    z_scale = 1.0 + jnp.max(jnp.abs(z0), initial=0.0)

    def merit(z):
        p = fb(z)
        return 0.5 * jnp.sum(p * p)

    def cond(carry):
        z, res, k, stalled = carry
        return ((res > tol) & (k < max_steps) & jnp.isfinite(res) & ~stalled
                & (jnp.max(jnp.abs(z), initial=0.0) < big * z_scale))

    def body(carry):
        z, _, k, _ = carry
        phi, jac = fb(z), jax.jacfwd(fb)(z)
        psi = 0.5 * jnp.sum(phi * phi)
        grad = jac.T @ phi
        d_newton, ok = lu_solve_small(jac, -phi)
        ok = ok & jnp.all(jnp.isfinite(d_newton))
        ok = ok & (grad @ d_newton <= -rho * jnp.sum(d_newton * d_newton) ** 1.05)
        tau = jnp.minimum(jnp.sqrt(2 * psi), 1.0) + eps
        lm = jac.T @ jac + tau * jnp.eye(z.shape[0], dtype=dtype)
        d = jnp.where(ok, d_newton, cholesky_solve_small(lm, -grad))
        slope = grad @ d
        trial = jax.vmap(lambda b: merit(z + b * d))(betas)
        trial = jnp.where(jnp.isfinite(trial), trial, jnp.inf)
        accept = trial <= psi + armijo * betas * slope
        best = jnp.argmin(trial)
        j = jnp.where(jnp.any(accept), jnp.argmax(accept), best)
        moved = jnp.any(accept) | (trial[best] < psi)
        z_new = jnp.where(moved, z + betas[j] * d, z)
        return z_new, residual(z_new), k + 1, ~moved

    res0 = residual(z0)
    z, res, k, stalled = jax.lax.while_loop(
        cond, body, (z0, res0, jnp.array(0), jnp.array(False))
    )
    diverged = jnp.max(jnp.abs(z), initial=0.0) >= big * z_scale
    result = RESULTS.where(res <= tol, RESULTS.successful, RESULTS.nonlinear_max_steps_reached)
    result = RESULTS.where(stalled & (res > tol), RESULTS.stalled, result)
    result = RESULTS.where(jnp.isfinite(res), result, RESULTS.nonfinite)
    result = RESULTS.where(diverged & (res > tol), RESULTS.unbounded, result)
    return z, result, res, k


class AbstractEquilibriumSolver(eqx.Module):
    """Base class of equilibrium solvers.

    A solver implements `solve(game, theta, probe, kkt, z0, tol, max_steps)` and returns
    `(z, result, residual, num_steps)` for the KKT variables z = (x, multipliers) of the mixed
    complementarity problem `kkt` (its methods `fb`, `natural_residual`, `phi`, `split`; see
    `jaxmd_rp._equilibrium._kkt.MCP`). `theta` and `probe` are the (validated) arguments of the
    solve; `game` is the user's game.
    """

    @abc.abstractmethod
    def solve(self, game, theta, probe, kkt, z0, tol, max_steps):
        """Return (z, result, residual, num_steps)."""


class SemismoothNewton(AbstractEquilibriumSolver):
    """Semismooth Newton on the Fischer-Burmeister KKT system (the default solver).

    Solves every concept (Nash, variational, normalized with Rosen weights, generalized with
    player-owned multipliers, social optimum) with box bounds, free variables and equalities.

    **Arguments:**

    - `linesearch_steps`: number of step sizes 1, 1/2, ..., tried at once (vectorised Armijo).
    - `armijo`: sufficient-decrease constant.
    """

    linesearch_steps: int = eqx.field(static=True, default=12)
    armijo: float = 1e-4

    def solve(self, game, theta, probe, kkt, z0, tol, max_steps):
        return newton(kkt.fb, kkt.natural_residual, z0, tol, max_steps, self.linesearch_steps,
                      self.armijo)
