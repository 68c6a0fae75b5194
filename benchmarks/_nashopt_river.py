"""nashopt adapters for the river-pollution game (Krawczyk & Uryasev 2000).

Two functions, each doing the full per-equilibrium work a nashopt user does for
a new (theta, e): build the nashopt problem object, solve, return x (3,).

- ``solve_lq(theta, e)``: ``nashopt.GNEP_LQ(..., variational=True,
  solver="dr_daqp")``.  Of nashopt 1.3.9's LQ back-ends, "dr_daqp"
  (Douglas-Rachford with DAQP's active-set finish, one ``daqp.solve(...,
  is_avi=True)`` call) was the fastest exact one on this game; "lemke" is
  exact and ~1.4x slower; "op_extrap" exact, ~2.5x slower; "highs" (MILP)
  ~10x slower; "qp_gnep"/"lemke_dual" ~5x/100x slower; "log_ipm" is
  accurate to ~1e-7; "extragradient" (~3e-5) and "prox_admm" (~3e-2)
  stop at loose default tolerances.  See benchmarks/peers_check.py.
- ``solve_general(theta, e)``: ``nashopt.GNEP(..., variational=True).solve()``,
  the general nonlinear GNEP solver (KKT system with Fischer-Burmeister
  complementarity, JAX-jitted residual/Jacobian, SciPy least_squares "trf",
  auto-selected because the variational KKT system is over-determined).
  NB: ``GNEP.solve`` calls ``jax.jit`` on fresh closures at every call, so
  every call re-traces and re-compiles (~0.7-1.3 s on CPU, ~95% of its
  time), even when the same problem object is solved twice.

Game: players i = 1..3 choose x_i >= 0 and MAXIMISE
    f_i(x) = (d1 - d2 * sum_j x_j - c1_i - c2_i * x_i) * x_i,  d1 = 3,
theta = [d2, c11, c12, c13, c21, c22, c23]; shared constraints
    sum_i delta[i, l] * e_i * x_i <= 100  (l = 1, 2),
delta[:, 0] = (6.5, 5.0, 5.5), delta[:, 1] = (4.583, 6.25, 3.75).
nashopt minimises costs, so each player's cost is -f_i.  The variational
(normalized) equilibrium (equal multipliers on the shared constraints) is
returned.

Side effect: importing nashopt (done at import of this module) executes
``jax.config.update("jax_enable_x64", True)`` globally, and jaxopt (a nashopt
dependency) emits a DeprecationWarning ("JAXopt is no longer maintained").
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from nashopt import GNEP, GNEP_LQ  # NB: turns on jax_enable_x64 globally

__all__ = ["solve_lq", "solve_general", "LQ_SOLVER", "D1", "DELTA", "BOUND"]

D1 = 3.0
DELTA = np.array([[6.5, 4.583], [5.0, 6.25], [5.5, 3.75]])  # DELTA[i, l]
BOUND = 100.0
LQ_SOLVER = "dr_daqp"


def _unpack(theta, e):
    theta = np.asarray(theta, dtype=np.float64).reshape(7)
    e = np.asarray(e, dtype=np.float64).reshape(3)
    d2, c1, c2 = float(theta[0]), theta[1:4], theta[4:7]
    A = (DELTA * e[:, None]).T  # (2, 3): A[l, i] = delta[i, l] * e_i
    return d2, c1, c2, A


def solve_lq(theta, e, solver: str = LQ_SOLVER) -> np.ndarray:
    """Variational GNE of the river game with nashopt's LQ solver.

    Player i's cost -f_i(x) = 0.5 x' Q_i x + c_i' x with
      Q_i[i, i] = 2 (d2 + c2_i),  Q_i[i, j] = Q_i[j, i] = d2 (j != i),  0 elsewhere,
      c_i = -(d1 - c1_i) * unit_i
    (exact: -f_i = -(d1 - c1_i) x_i + (d2 + c2_i) x_i^2 + d2 x_i sum_{j != i} x_j),
    box x >= 0, shared A x <= 100.  Returns x, shape (3,).  Raises
    RuntimeError if the back-end reports failure."""
    d2, c1, c2, A = _unpack(theta, e)
    Q, c = [], []
    for i in range(3):
        Qi = np.zeros((3, 3))
        Qi[i, :] = d2
        Qi[:, i] = d2
        Qi[i, i] = 2.0 * (d2 + c2[i])
        ci = np.zeros(3)
        ci[i] = -(D1 - c1[i])
        Q.append(Qi)
        c.append(ci)
    game = GNEP_LQ([1, 1, 1], Q, c, lb=np.zeros(3), ub=None, A=A,
                   b=np.full(2, BOUND), variational=True, solver=solver)
    sol = game.solve()
    if sol is None:
        raise RuntimeError(f"nashopt GNEP_LQ({solver}) found no solution")
    if isinstance(sol, list):
        sol = sol[0]
    if solver == "dr_daqp" and int(sol.status_str) < 1:
        raise RuntimeError(f"nashopt GNEP_LQ(dr_daqp): DAQP exit flag {sol.status_str}")
    return np.asarray(sol.x, dtype=np.float64).reshape(3)


def solve_general(theta, e, x0=None, return_solution: bool = False):
    """Variational GNE of the river game with nashopt's general GNEP solver
    (``GNEP(..., variational=True).solve()`` with its defaults: x0 = 0,
    multipliers 0.1, tol 1e-12, max_nfev 200, auto-selected method "trf").

    Returns x (3,), or (x, sol) with nashopt's solution object (fields
    norm_residual, stats.kkt_evals, stats.jax_jit_time, ...) when
    return_solution=True."""
    d2, c1, c2, A = _unpack(theta, e)
    Aj = jnp.asarray(A)

    def make_cost(i):
        def cost(x):  # -f_i(x)
            return -(D1 - d2 * jnp.sum(x) - c1[i] - c2[i] * x[i]) * x[i]
        return cost

    def g(x):  # shared constraints g(x) <= 0
        return Aj @ x - BOUND

    game = GNEP([1, 1, 1], [make_cost(i) for i in range(3)], g=g, ng=2,
                lb=np.zeros(3), ub=np.full(3, np.inf), variational=True)
    sol = game.solve(x0=x0, verbose=0)
    x = np.asarray(sol.x, dtype=np.float64).reshape(3)
    return (x, sol) if return_solution else x
