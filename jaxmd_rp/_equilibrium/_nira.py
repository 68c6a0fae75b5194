"""The relaxation algorithm with the Nikaido-Isoda function (NIRA; Uryasev & Rubinstein 1994,
Krawczyk & Uryasev 2000), with a safeguarded step.

x_{k+1} = x_k + a_k (Z(x_k) - x_k), where the optimum response

    Z(x) = argmax_{y feasible} sum_i r_i f^i(y_i, x_-i)

maximises the Nikaido-Isoda function over the joint feasible set (shared constraints, bounds;
r = Rosen's weights, default 1); at a fixed point Z(x) = x the multipliers of that program are
the normalized equilibrium's. Each Z is a concave program solved by the same semismooth Newton
method, warm-started at the previous one. A fixed step (NIRA-3's a = 0.5) can cycle: on the
internet-switching game of Facchinei & Kanzow's test set the relaxation map has slope 1 - 5a at
the solution and a = 0.5 alternates forever between two points. The safeguard is the
Nikaido-Isoda gap V(x) = sum_i r_i [f^i(Z_i(x), x_-i) - f^i(x)] >= 0 (zero exactly at a
normalized equilibrium; Krawczyk & Uryasev choose their steps by minimising it): a step is
accepted only if it decreases V by the factor (1 - 1e-4 a) (or V is at its rounding level,
64 eps (1 + sum_i |f^i|)); otherwise a is halved and the step
retried from the same x (one optimum response per step either way). The iteration starts from x0
if it is feasible, else from Z(x0); the step never grows back; it stops with
`RESULTS.relaxation_stalled` when a falls below `min_step`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._solution import RESULTS
from ._newton import AbstractEquilibriumSolver, newton


class NikaidoIsoda(AbstractEquilibriumSolver):
    """Relaxation algorithm with the Nikaido-Isoda optimum-response function (NIRA-3), safeguarded.

    Computes normalized equilibria (shared constraints, optional Rosen weights) and social optima;
    a game with player-owned constraints is refused (use `SemismoothNewton`). `max_steps` counts
    relaxation steps (accepted or halved).

    **Arguments:**

    - `step_size`: the initial relaxation step a in (0, 1] (NIRA-3: 0.5).
    - `min_step`: the smallest step tried before reporting `RESULTS.relaxation_stalled`.
    - `inner_max_steps`, `linesearch_steps`: of the Newton solves of the optimum responses.
    """

    step_size: float = 0.5
    min_step: float = 1e-4
    inner_max_steps: int = eqx.field(static=True, default=50)
    # the optimum-response programs need short steps far from the solution: with 12 trial steps
    # the first one stalled at the published river constants (x0 = 1), with 20 or more it converges
    linesearch_steps: int = eqx.field(static=True, default=30)

    def solve(self, game, theta, probe, kkt, z0, tol, max_steps):
        if any(o >= 0 for o in kkt.owner_ineq + kkt.owner_eq):
            raise ValueError(
                "NikaidoIsoda computes normalized equilibria of games whose constraints are all "
                "shared; this game declares player-owned constraints (`constraint_owners` / "
                "`equality_owners`). Use SemismoothNewton() for the generalized equilibrium.")
        n = kkt.n
        dtype = z0.dtype
        eps = jnp.finfo(dtype).eps

        def respond(x, z_start):  # the optimum-response program at x (Newton, warm start)
            g = kkt.response(x)
            z, res, _, _ = newton(lambda z: kkt.fb(z, g), lambda z: kkt.natural_residual(z, g),
                                  z_start, 0.1 * tol, self.inner_max_steps,
                                  self.linesearch_steps, 1e-4)
            return z, (res == RESULTS.successful) & jnp.all(jnp.isfinite(z))

        def state(x, zr):  # (NI gap, KKT residual of the equilibrium system) at x
            z = jnp.concatenate([x, zr[n:]])
            return kkt.ni_gap(x, zr[:n]), kkt.natural_residual(z)

        zr, ok = respond(z0[:n], z0)
        x = jnp.where(kkt.feasibility(z0[:n]) <= 0.0, z0[:n], zr[:n])
        zr, ok2 = respond(x, zr)
        v, res = state(x, zr)
        init = (x, zr, v, res, jnp.asarray(self.step_size, dtype), jnp.array(0), ok & ok2)

        def cond(carry):
            x, zr, v, res, a, k, ok = carry
            return (res > tol) & (k < max_steps) & ok & (a >= self.min_step)

        def body(carry):
            x, zr, v, res, a, k, ok = carry
            x_t = x + a * (zr[:n] - x)
            zr_t, ok_t = respond(x_t, zr)
            v_t, res_t = state(x_t, zr_t)
            floor = 64 * eps * (1.0 + jnp.sum(jnp.abs(kkt.objective(x_t))))  # V's rounding
            accept = ok_t & ((v_t <= (1.0 - 1e-4 * a) * v) | (v_t <= floor))
            x, zr = jnp.where(accept, x_t, x), jnp.where(accept, zr_t, zr)
            v, res = jnp.where(accept, v_t, v), jnp.where(accept, res_t, res)
            return x, zr, v, res, jnp.where(accept, a, 0.5 * a), k + 1, ok & jnp.isfinite(v_t)

        x, zr, v, res, a, k, ok = jax.lax.while_loop(cond, body, init)
        z = jnp.concatenate([x, zr[n:]])
        result = RESULTS.where(res <= tol, RESULTS.successful, RESULTS.nonlinear_max_steps_reached)
        result = RESULTS.where((a < self.min_step) & (res > tol), RESULTS.relaxation_stalled, result)
        result = RESULTS.where(ok | (res <= tol), result, RESULTS.nonlinear_divergence)
        result = RESULTS.where(jnp.isfinite(res), result, RESULTS.nonfinite)
        return z, result, res, k

