"""Independent checks for the GNEP test library: SciPy best responses and SciPy/numpy KKT solves.

- `best_response_gain(problem, x)`: for every player, SciPy's SLSQP (finite-difference gradients,
  several starts) maximises the player's utility over its own feasible set with the others fixed
  -- its bounds, the shared constraints and the constraints it owns; the largest improvement over
  f^i(x) is returned (0 at a generalized Nash equilibrium, up to the solver's accuracy).
- `independent_solution(problem)`: the solution by another route where the published one is loose
  or not unique: numpy linear solves of the stationarity conditions on the active set the problem
  states (A.3, A.15), SciPy `root` on the KKT equations with hand-written derivatives (A.16).
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize, root

from .problems import A3_A, A3_B, A15_C, A15_D, A16_BETA, A16_C, A16_K, A3_b


def _np(f):
    return lambda *a: np.asarray(f(*a), dtype=float)


def best_response_gain(problem, x, probe=None, starts: int = 3, seed: int = 0) -> float:
    """max_i [max_{y_i feasible} f^i(y_i, x_-i) - f^i(x)] by SLSQP (see the module docstring);
    `probe` overrides the problem's (one instance of a multi-instance problem)."""
    game = problem.game
    x = np.asarray(x, dtype=float).reshape(-1)
    theta = jnp.zeros(0) if problem.theta is None else jnp.asarray(problem.theta, float)
    probe = problem.probe if probe is None else probe
    probe = jnp.zeros(0) if probe is None else jnp.asarray(probe, float)
    shape = game.action_shape
    lo = np.broadcast_to(np.asarray(game.lower, float), shape).reshape(-1)
    hi = np.broadcast_to(np.asarray(game.upper, float), shape).reshape(-1)
    util = jax.jit(lambda z: game.utilities(theta, z.reshape(shape)))
    ineq = jax.jit(lambda z: game.constraints(probe, z.reshape(shape)))
    eq = jax.jit(lambda z: game.equality_constraints(probe, z.reshape(shape)))
    C, E = np.asarray(ineq(x)).size, np.asarray(eq(x)).size
    own_i = game.constraint_owners or (None,) * C
    own_e = game.equality_owners or (None,) * E
    rng = np.random.default_rng(seed)
    worst = 0.0
    for i, sl in enumerate(game.player_slices):
        faces_i = np.array([o is None or o == i for o in own_i], bool)
        faces_e = np.array([o is None or o == i for o in own_e], bool)

        def full(yi, sl=sl):
            z = x.copy()
            z[sl] = yi
            return z

        cons = []
        if faces_i.any():
            cons.append({"type": "ineq", "fun": lambda yi, m=faces_i: -_np(ineq)(full(yi))[m]})
        if faces_e.any():
            cons.append({"type": "eq", "fun": lambda yi, m=faces_e: _np(eq)(full(yi))[m]})
        bounds = [(None if not np.isfinite(a) else a, None if not np.isfinite(b) else b)
                  for a, b in zip(lo[sl], hi[sl], strict=True)]
        base = float(util(full(x[sl]))[i])
        best = base
        span = np.where(np.isfinite(hi[sl] - lo[sl]), hi[sl] - lo[sl], 1.0 + np.abs(x[sl]))
        for s in range(starts):
            y0 = x[sl] if s == 0 else np.clip(x[sl] + 0.1 * span * rng.standard_normal(len(x[sl])),
                                              np.where(np.isfinite(lo[sl]), lo[sl], -np.inf),
                                              np.where(np.isfinite(hi[sl]), hi[sl], np.inf))
            r = minimize(lambda yi, i=i: -float(util(full(yi))[i]), y0, method="SLSQP",
                         bounds=bounds, constraints=cons, options={"ftol": 1e-14, "maxiter": 500})
            z = full(r.x)
            feasible = (np.all(_np(ineq)(z)[faces_i] <= 1e-9)
                        and np.all(np.abs(_np(eq)(z)[faces_e]) <= 1e-9)
                        and np.all(r.x >= lo[sl] - 1e-9) and np.all(r.x <= hi[sl] + 1e-9))
            if feasible:
                best = max(best, -r.fun)
        worst = max(worst, best - base)
    return worst


def _a3_interior(b1):
    """A.3 with every constraint and bound slack: the stationarity conditions
    A_nu x_nu + B_nu x_-nu + b_nu = 0 are one 7 x 7 linear system (numpy)."""
    sl = [slice(0, 3), slice(3, 5), slice(5, 7)]
    M = np.zeros((7, 7))
    rhs = np.zeros(7)
    b = (np.asarray(b1, float), A3_b[1], A3_b[2])
    for i in range(3):
        cols = np.concatenate([np.arange(7)[sl[j]] for j in range(3) if j != i])
        M[sl[i], sl[i]] = A3_A[i]
        M[sl[i], cols] = A3_B[i]
        rhs[sl[i]] = -b[i]
    return np.linalg.solve(M, rhs)


def _a15_interior(a):
    """A.15 with every capacity slack: d/dx_ij [(a - 2Q) v_i - c x^2/2 - d x] = 0, i.e.
    a - 2Q - 2 v_i - c_ij x_ij - d_ij = 0 for every generator j of company i (numpy)."""
    owner = np.array([0, 1, 1, 2, 2, 2])
    c = np.concatenate(A15_C)
    d = np.concatenate(A15_D)
    M = 2.0 + 2.0 * (owner[:, None] == owner[None, :]) + np.diag(c)
    return np.linalg.solve(M, a - d)


def _a16_capacitated(P):
    """A.16 with the capacity active and every firm producing: SciPy `root` on
    p(Q) + x_i p'(Q) - C_i'(x_i) - mu = 0 (i = 1..5), Q = P, with hand-written derivatives."""
    a = 5000.0 ** (1 / 1.1)

    def F(v):
        x, mu = v[:5], v[5]
        Q = np.sum(x)
        p = a * Q ** (-1 / 1.1)
        dp = -(1 / 1.1) * a * Q ** (-1 / 1.1 - 1)
        dC = A16_C + A16_K ** (-1 / A16_BETA) * np.maximum(x, 0.0) ** (1 / A16_BETA)
        return np.concatenate([p + x * dp - dC - mu, [Q - P]])

    sol = root(F, np.concatenate([np.full(5, P / 5), [1.0]]), method="hybr",
               options={"xtol": 1e-14})
    assert sol.success and np.all(sol.x[:5] > 0) and sol.x[5] >= 0, sol
    return sol.x[:5]


def independent_solution(problem):
    """An independent solution for the problems whose published one is loose, else None."""
    name = problem.name
    if name == "fk_a3":
        return _a3_interior(problem.theta)
    if name == "fk_a15":
        return _a15_interior(float(problem.theta[0]))
    if name.startswith("fk_a16"):
        return np.stack([_a16_capacitated(float(P[0])) for P in problem.probe])
    if name == "river":  # numpy active-set enumeration (tests/reference/river.py)
        from tests.reference.river import river_equilibrium_enumeration

        return river_equilibrium_enumeration(problem.theta, problem.probe)[0]
    return problem.exact
