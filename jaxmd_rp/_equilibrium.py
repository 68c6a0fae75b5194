"""Normalized (variational) equilibria of concave games with coupled constraints.

For a game with utilities f^i, action bounds x >= lower and constraints h(x; probe) <= 0, the
*normalized equilibrium* of Rosen (1965) with equal weights -- the one Krawczyk & Uryasev (2000)
and the NIRA-3 package compute -- is a joint action x with a single multiplier vector mu shared by
all players, solving the mixed complementarity (KKT) system

    y = x - lower >= 0  _|_  G(x, mu) = -[d f^i / d x_i]_i + J_h(x)^T mu >= 0,
    mu >= 0             _|_  -h(x) >= 0.

Every shared constraint then has the same shadow price for every player; constraints that involve
one player only are that player's own constraints. For concave games (each f^i concave in x_i and
the pseudo-gradient monotone, e.g. the river game) the solution is unique.

Solvers:

- `SemismoothNewton` (default): Newton's method on the Fischer-Burmeister reformulation
  phi(a, b) = a + b - sqrt(a^2 + b^2) of the KKT system, with a Levenberg-Marquardt fallback where
  the generalized Jacobian is singular and a vectorised Armijo backtracking line search.
  Quadratically convergent near a solution, so it reaches KKT residuals of 1e-12 in a few steps
  (a first-order method such as extragradient needs hundreds to thousands of steps and stalls in
  float32). All loops have fixed shapes; under `vmap` the batch iterates until its slowest member
  has converged.
- `NikaidoIsoda`: the relaxation algorithm with the Nikaido-Isoda function used by NIRA-3 (and
  therefore by the paper): x <- (1 - a) x + a Z(x), where Z(x) maximises
  sum_i f^i(y_i, x_-i) over the joint feasible set. Offered to reproduce the paper's pipeline; it
  is slower (one inner solve per relaxation step, linear convergence).

Gradients of the equilibrium with respect to `theta` and `probe` come from the implicit function
theorem applied to the Fischer-Burmeister system at the solution (`jax.lax.custom_root`), never from
unrolling the iterations. Where strict complementarity holds this is the classical derivative; at
degenerate points (a constraint active with a zero multiplier) it is one element of the generalized
(Clarke) Jacobian.
"""

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._game import AbstractGame
from ._linalg import cholesky_solve_small, lu_solve_small
from ._solution import RESULTS


def default_tol(dtype) -> float:
    """Default KKT tolerance: 1e-10 in float64, 1e-4 in float32, on the absolute natural residual
    max(|min(x - lower, G)|_inf, |min(mu, -h)|_inf)."""
    return 1e-10 if jnp.finfo(dtype).bits >= 64 else 1e-4


class EquilibriumSolution(eqx.Module):
    """Result of `solve_equilibrium`.

    **Fields:**

    - `x`: the equilibrium joint action, shape `game.action_shape` ((M,) or (M, k)).
    - `multipliers`: the shared multipliers mu of the constraints, shape (C,).
    - `result`: a `RESULTS` code; `RESULTS.successful` iff `residual <= tol`.
    - `residual`: the KKT (natural) residual
      max(|min(x - lower, G)|_inf, |min(mu, -h)|_inf) at the returned point.
    - `num_steps`: iterations used.
    """

    x: Array
    multipliers: Array
    result: RESULTS
    residual: Array
    num_steps: Array

    @property
    def success(self) -> Array:
        return self.result == RESULTS.successful


def _fb(a, b):
    """Fischer-Burmeister function with a well-defined derivative at (0, 0)."""
    r2 = a * a + b * b
    pos = r2 > 0
    r = jnp.where(pos, jnp.sqrt(jnp.where(pos, r2, 1.0)), 0.0)
    return a + b - r


class _KKT(eqx.Module):
    """The KKT map of one normalized-equilibrium problem, in flat variables z = (y, mu)."""

    pgrad: Any  # y_flat -> (n,)   pseudo-gradient -d f^i / d x_i (flattened)
    cons: Any  # y_flat -> (C,)   h(x)
    n: int = eqx.field(static=True)

    def split(self, z):
        return z[: self.n], z[self.n :]

    def reduced_gradient(self, y, mu):
        h, vjp = jax.vjp(self.cons, y)
        (jtmu,) = vjp(mu)
        return self.pgrad(y) + jtmu, h

    def fb(self, z):
        y, mu = self.split(z)
        G, h = self.reduced_gradient(y, mu)
        return jnp.concatenate([_fb(y, G), _fb(mu, -h)])

    def natural_residual(self, z):
        y, mu = self.split(z)
        G, h = self.reduced_gradient(y, mu)
        r = jnp.concatenate([jnp.minimum(y, G), jnp.minimum(mu, -h)])
        return jnp.max(jnp.abs(r), initial=0.0)


def _newton_kkt(kkt: _KKT, z0, tol, max_steps, linesearch_steps, armijo):
    """Globalised semismooth Newton on the FB system. Returns (z, result, residual, steps)."""
    dtype = z0.dtype
    betas = 0.5 ** jnp.arange(linesearch_steps, dtype=dtype)
    big = jnp.asarray(1e12 if jnp.finfo(dtype).bits >= 64 else 1e8, dtype)
    y_scale = 1.0 + jnp.max(jnp.abs(z0))

    def merit(z):
        p = kkt.fb(z)
        return 0.5 * jnp.sum(p * p)

    def cond(carry):
        z, res, k, stalled = carry
        return ((res > tol) & (k < max_steps) & jnp.isfinite(res) & ~stalled
                & (jnp.max(jnp.abs(z)) < big * y_scale))

    def body(carry):
        z, res, k, _ = carry
        phi, jac = kkt.fb(z), jax.jacfwd(kkt.fb)(z)
        psi = 0.5 * jnp.sum(phi * phi)
        grad = jac.T @ phi
        d_newton, ok = lu_solve_small(jac, -phi)
        ok = ok & jnp.all(jnp.isfinite(d_newton))
        ok = ok & (grad @ d_newton <= -1e-12 * jnp.sum(d_newton * d_newton) ** 1.05)
        tau = jnp.minimum(jnp.sqrt(2 * psi), 1.0) + jnp.finfo(dtype).eps
        lm = jac.T @ jac + tau * jnp.eye(z.shape[0], dtype=dtype)
        d_lm = cholesky_solve_small(lm, -grad)
        d = jnp.where(ok, d_newton, d_lm)
        slope = grad @ d
        trial = jax.vmap(lambda b: merit(z + b * d))(betas)
        trial = jnp.where(jnp.isfinite(trial), trial, jnp.inf)
        accept = trial <= psi + armijo * betas * slope
        first = jnp.argmax(accept)
        best = jnp.argmin(trial)
        j = jnp.where(jnp.any(accept), first, best)
        moved = jnp.any(accept) | (trial[best] < psi)
        z_new = jnp.where(moved, z + betas[j] * d, z)
        return z_new, kkt.natural_residual(z_new), k + 1, ~moved

    res0 = kkt.natural_residual(z0)
    z, res, k, stalled = jax.lax.while_loop(
        cond, body, (z0, res0, jnp.array(0), jnp.array(False))
    )
    diverged = jnp.max(jnp.abs(z)) >= big * y_scale
    result = RESULTS.where(res <= tol, RESULTS.successful, RESULTS.nonlinear_max_steps_reached)
    result = RESULTS.where(stalled & (res > tol), RESULTS.stalled, result)
    result = RESULTS.where(jnp.isfinite(res), result, RESULTS.nonfinite)
    result = RESULTS.where(diverged & (res > tol), RESULTS.unbounded, result)
    return z, result, res, k


class AbstractEquilibriumSolver(eqx.Module):
    """Base class of equilibrium solvers: `solve(problem, z0, tol, max_steps)`."""

    @abc.abstractmethod
    def solve(self, game, theta, probe, kkt: _KKT, z0, tol, max_steps):
        """Return (z, result, residual, num_steps) for the flat KKT variables z = (y, mu)."""


class SemismoothNewton(AbstractEquilibriumSolver):
    """Semismooth Newton on the Fischer-Burmeister KKT system (default solver).

    **Arguments:**

    - `linesearch_steps`: number of step sizes 1, 1/2, ..., tried at once (vectorised Armijo).
    - `armijo`: sufficient-decrease constant.
    """

    linesearch_steps: int = eqx.field(static=True, default=12)
    armijo: float = 1e-4

    def solve(self, game, theta, probe, kkt, z0, tol, max_steps):
        return _newton_kkt(kkt, z0, tol, max_steps, self.linesearch_steps, self.armijo)


class NikaidoIsoda(AbstractEquilibriumSolver):
    """Relaxation algorithm with the Nikaido-Isoda optimum-response function (NIRA-3).

    x_{k+1} = (1 - step_size) x_k + step_size Z(x_k), Z(x) = argmax_{y feasible}
    sum_i f^i(y_i, x_-i), until the KKT residual at (x, multipliers of the last Z) is <= tol. Each Z
    is a concave program solved by the same semismooth Newton method. `max_steps` counts
    relaxation steps.
    """

    step_size: float = 0.5
    inner_max_steps: int = eqx.field(static=True, default=50)
    # the optimum-response programs need short steps far from the solution: with 12 trial steps
    # the first one stalled at the published river constants (x0 = 1), with 20 or more it converges
    linesearch_steps: int = eqx.field(static=True, default=30)

    def solve(self, game, theta, probe, kkt, z0, tol, max_steps):
        n = kkt.n
        lower = jnp.ravel(game.lower).astype(z0.dtype)
        shape = game.action_shape

        def inner(y_outer, z_start):
            x_outer = jnp.reshape(y_outer + lower, shape)

            def pgrad(y):  # -d/dy_i f^i(y_i, x_-i), block by block
                x_new = jnp.reshape(y + lower, shape)
                M = shape[0]

                def own(i):
                    g = jax.grad(
                        lambda xi: game.utilities(theta, x_outer.at[i].set(xi))[i]
                    )(x_new[i])
                    return g

                return -jnp.ravel(jax.vmap(own)(jnp.arange(M)))

            inner_kkt = _KKT(pgrad, kkt.cons, n)
            return _newton_kkt(inner_kkt, z_start, 0.1 * tol, self.inner_max_steps,
                               self.linesearch_steps, 1e-4)

        def cond(carry):
            z, res, k, ok = carry
            return (res > tol) & (k < max_steps) & ok

        def body(carry):
            z, res, k, ok = carry
            zr, res_in, _, _ = inner(z[:n], z)
            y_new = (1 - self.step_size) * z[:n] + self.step_size * zr[:n]
            z_new = jnp.concatenate([y_new, zr[n:]])
            res = kkt.natural_residual(z_new)
            ok = (res_in == RESULTS.successful) & jnp.isfinite(res)
            return z_new, res, k + 1, ok

        z, res, k, ok = jax.lax.while_loop(
            cond, body, (z0, jnp.asarray(jnp.inf, z0.dtype), jnp.array(0), jnp.array(True))
        )
        # multipliers: those of the optimum-response problem at the fixed point
        zr, _, _, _ = inner(z[:n], z)
        z = jnp.concatenate([z[:n], zr[n:]])
        res = kkt.natural_residual(z)
        result = RESULTS.where(res <= tol, RESULTS.successful, RESULTS.nonlinear_max_steps_reached)
        result = RESULTS.where(ok, result, RESULTS.nonlinear_divergence)
        result = RESULTS.where(jnp.isfinite(res), result, RESULTS.nonfinite)
        return z, result, res, k


class ActiveSetEnumeration(AbstractEquilibriumSolver):
    """Exact solve of an *affine* KKT system by enumerating its 2^m active sets (m = n + C).

    For games whose pseudo-gradient is affine in x and whose constraints are linear (the classic
    river game), the KKT system is a linear complementarity problem: z = (x - lower, mu) >= 0
    _|_ F(z) = F(0) + J z >= 0. For every pattern S (z_j = 0 for j in S, F_j = 0 otherwise) the
    linear system is solved (all 2^m unrolled solves at once, no iteration); the feasible pattern
    with the smallest natural residual is returned. This is exact up to rounding, has a fixed cost
    (the river game: 32 solves of 5 x 5), and handles the degenerate mechanisms (linear profits,
    d2 = c2i = 0) on which Newton-type methods can stall. The true KKT residual is checked at the
    result: if it exceeds `tol` (the game is not affine, or no pattern was feasible) the result is
    `RESULTS.enumeration_failed`, or, with `polish=SemismoothNewton()`, Newton continues from the
    best pattern. Only m <= `max_size` is allowed (2^m systems).
    """

    max_size: int = eqx.field(static=True, default=10)
    polish: SemismoothNewton | None = None

    def solve(self, game, theta, probe, kkt, z0, tol, max_steps):
        m = z0.shape[0]
        if m > self.max_size:
            raise ValueError(
                f"ActiveSetEnumeration enumerates 2^m active sets; m = {m} exceeds max_size = "
                f"{self.max_size}. Use SemismoothNewton() for this game."
            )
        dtype = z0.dtype

        def F(z):
            y, mu = kkt.split(z)
            G, h = kkt.reduced_gradient(y, mu)
            return jnp.concatenate([G, -h])

        zero = jnp.zeros(m, dtype)
        F0 = F(zero)
        J = jax.jacfwd(F)(zero)
        patterns = jnp.asarray(
            ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)
        )  # (2^m, m): True = z_j fixed at 0
        eye = jnp.eye(m, dtype=dtype)
        A = jnp.where(patterns[:, :, None], eye[None], J[None])
        b = jnp.where(patterns, 0.0, -F0[None])
        zs, ok = lu_solve_small(A, b)
        zs = jnp.where(patterns, 0.0, zs)  # exact zeros on the active set
        Fs = zs @ J.T + F0
        scale = 1.0 + jnp.max(jnp.abs(zs), axis=1)
        viol = jnp.maximum(jnp.max(jnp.maximum(-zs, 0.0), axis=1), jnp.max(jnp.maximum(-Fs, 0.0), axis=1))
        viol = jnp.where(ok & jnp.all(jnp.isfinite(zs), axis=1), viol / scale, jnp.inf)
        best = jnp.argmin(viol)
        z = jnp.where(jnp.isfinite(viol[best]), jnp.maximum(zs[best], 0.0), z0)
        res = kkt.natural_residual(z)

        if self.polish is None:
            result = RESULTS.where(res <= tol, RESULTS.successful, RESULTS.enumeration_failed)
            return z, result, res, jnp.array(0)

        def polish(z):
            return self.polish.solve(game, theta, probe, kkt, z, tol, max_steps)

        def done(z):
            return z, RESULTS.successful, res, jnp.array(0)

        return jax.lax.cond(res <= tol, done, polish, z)


def _own_gradient(game, theta, shape):
    """y_flat -> -[d f^i / d x_i] flattened (the pseudo-gradient)."""

    def pgrad(x_flat):
        x = jnp.reshape(x_flat, shape)
        jac = jax.jacfwd(lambda xx: game.utilities(theta, xx))(x)  # (M, *shape)
        M = shape[0]
        own = jac[jnp.arange(M), jnp.arange(M)]  # (M,) or (M, k)
        return -jnp.ravel(own)

    return pgrad


def _concavity_ok(game, theta, probe, x, y, tol):
    """Second-order check: each player's own Hessian is NSD on its free directions."""
    shape = game.action_shape
    M = shape[0]
    k = 1 if len(shape) == 1 else shape[1]
    act_tol = 1e3 * tol * (1.0 + jnp.max(jnp.abs(x)))
    h = game.constraints(probe, x)
    Jh = jax.jacfwd(lambda xx: game.constraints(probe, xx))(x).reshape(h.shape[0], M, k)
    active_c = h >= -act_tol
    y = y.reshape(M, k)

    def one(i):
        H = jax.hessian(lambda xi: game.utilities(theta, x.reshape(M, k).at[i].set(xi).reshape(shape))[i])(
            x.reshape(M, k)[i]
        )
        rows = jnp.where(active_c[:, None], Jh[:, i, :], 0.0)
        rows = jnp.concatenate([rows, jnp.where((y[i] <= act_tol)[:, None], jnp.eye(k), 0.0)])
        gram = rows.T @ rows
        w, V = jnp.linalg.eigh(gram)
        thr = 1e-10 * (1.0 + jnp.max(jnp.abs(w)))
        Vs = jnp.where((w > thr)[None, :], V, 0.0)
        P = jnp.eye(k) - Vs @ Vs.T
        Hp = P @ H @ P
        Hp = 0.5 * (Hp + Hp.T)
        lam_max = jnp.max(jnp.linalg.eigvalsh(Hp))
        return lam_max <= 1e3 * tol * (1.0 + jnp.max(jnp.abs(H)))

    return jnp.all(jax.vmap(one)(jnp.arange(M)))


def _as_float(name, a, size):
    a = jnp.asarray(a)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.result_type(float))
    if a.shape != (size,):
        raise ValueError(f"`{name}` must be a 1-D array of shape ({size},); got shape {a.shape}.")
    return a


@eqx.filter_jit
def solve_equilibrium(
    game: AbstractGame,
    theta,
    probe,
    solver: AbstractEquilibriumSolver | None = None,
    *,
    x0=None,
    max_steps: int = 100,
    tol: float | None = None,
    check_concavity: bool = True,
    throw: bool = True,
) -> EquilibriumSolution:
    """Normalized (variational) equilibrium of `game` at mechanism `theta` and probe `probe`.

    Pure and `jit`/`vmap`/`grad`-able over `theta` and `probe`: batch with
    `jax.vmap(lambda th, p: solve_equilibrium(game, th, p, throw=False))` and read `.result`.

    **Arguments:**

    - `game`: an `AbstractGame`.
    - `theta`: mechanism, shape (game.theta_dim,), inside `game.theta_bounds`.
    - `probe`: probe, shape (game.probe_dim,), inside `game.probe_bounds`.
    - `solver`: `SemismoothNewton()`, `ActiveSetEnumeration()` or `NikaidoIsoda()`. Default:
      `ActiveSetEnumeration()` for games that declare `kkt_affine = True` (exact), else
      `SemismoothNewton()`.
    - `x0`: optional starting joint action (default: `lower + 1`).
    - `max_steps`: iteration cap.
    - `tol`: KKT residual tolerance; default 1e-10 in float64, 1e-4 in float32.
    - `check_concavity`: verify the second-order condition at the solution and report
      `RESULTS.not_concave` where a player's utility is convex along a free direction.
    - `throw`: raise on any non-successful result (use `False` under `vmap` and read `.result`).

    **Returns:** an `EquilibriumSolution` (`x`, `multipliers`, `result`, `residual`, `num_steps`).
    """
    if not isinstance(game, AbstractGame):
        raise TypeError(f"`game` must be an AbstractGame; got {type(game).__name__}.")
    if solver is None:
        solver = ActiveSetEnumeration() if getattr(game, "kkt_affine", False) else SemismoothNewton()
    theta = _as_float("theta", theta, game.theta_dim)
    probe = _as_float("probe", probe, game.probe_dim)
    dtype = jnp.result_type(theta, probe)
    theta, probe = theta.astype(dtype), probe.astype(dtype)
    tol = default_tol(dtype) if tol is None else tol
    shape = game.action_shape
    n = int(np.prod(shape))
    lower = jnp.ravel(jnp.asarray(game.lower, dtype))

    th_lo, th_hi = game.theta_bounds
    pr_lo, pr_hi = game.probe_bounds
    theta_ok = jnp.all(jnp.isfinite(theta) & (theta >= th_lo) & (theta <= th_hi))
    probe_ok = jnp.all(jnp.isfinite(probe) & (probe >= pr_lo) & (probe <= pr_hi))
    # keep the solve well-defined on bad input; the result code reports the problem
    theta_c = jnp.where(theta_ok, theta, jnp.clip(jnp.nan_to_num(theta), th_lo, th_hi))
    probe_c = jnp.where(probe_ok, probe, jnp.clip(jnp.nan_to_num(probe), pr_lo, pr_hi))

    if x0 is None:
        y0 = jnp.ones(n, dtype)
    else:
        x0 = jnp.asarray(x0, dtype)
        if x0.shape != shape:
            raise ValueError(f"`x0` must have shape {shape}; got {x0.shape}.")
        y0 = jnp.maximum(jnp.ravel(x0) - lower, 0.0)

    def cons_of(th, pr):
        return lambda y: game.constraints(pr, jnp.reshape(y + lower, shape)).astype(dtype)

    def kkt_of(th, pr):
        pg = _own_gradient(game, th, shape)
        return _KKT(lambda y: pg(y + lower).astype(dtype), cons_of(th, pr), n)

    kkt = kkt_of(theta_c, probe_c)
    C = jax.eval_shape(kkt.cons, y0).shape[0]
    z0 = jnp.concatenate([y0, jnp.zeros(C, dtype)])
    z, result, res, steps = solver.solve(
        game, jax.lax.stop_gradient(theta_c), jax.lax.stop_gradient(probe_c),
        kkt_of(jax.lax.stop_gradient(theta_c), jax.lax.stop_gradient(probe_c)),
        z0, tol, max_steps,
    )
    z = jax.lax.stop_gradient(z)

    # implicit differentiation: z solves FB(z; theta, probe) = 0
    def tangent_solve(g, v):
        jac = jax.jacfwd(g)(v)
        return lu_solve_small(jac, v)[0]

    z = jax.lax.custom_root(
        lambda zz: kkt_of(theta_c, probe_c).fb(zz), z, lambda f, z_init: z_init, tangent_solve
    )
    y, mu = z[:n], z[n:]
    x = jnp.reshape(y + lower, shape)

    h = game.constraints(probe_c, x)
    infeasible = jnp.max(h, initial=-jnp.inf) > jnp.sqrt(tol) * (1.0 + jnp.max(jnp.abs(x)))
    result = RESULTS.where(
        ((result == RESULTS.nonlinear_max_steps_reached) | (result == RESULTS.stalled)) & infeasible,
        RESULTS.primal_infeasible, result,
    )
    if check_concavity:
        conc = _concavity_ok(game, theta_c, probe_c, jax.lax.stop_gradient(x),
                             jax.lax.stop_gradient(y), tol)
        result = RESULTS.where((result == RESULTS.successful) & ~conc, RESULTS.not_concave, result)
    result = RESULTS.where(probe_ok, result, RESULTS.invalid_probe)
    result = RESULTS.where(theta_ok, result, RESULTS.invalid_theta)
    sol = EquilibriumSolution(x=x, multipliers=mu, result=result, residual=res, num_steps=steps)
    if throw:
        sol = result.error_if(sol, result != RESULTS.successful)
    return sol
