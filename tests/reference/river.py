"""River-pollution game (Krawczyk & Uryasev 2000; paper App. A.1) references.

Three players, scalar actions x_i >= 0.
  d1 = 3;  theta = [d2, c11, c12, c13, c21, c22, c23];  probe e = (e1, e2, e3)
  delta[:, 0] = (6.5, 5.0, 5.5),  delta[:, 1] = (4.583, 6.25, 3.75)
  classic profit  f_i(x) = (d1 - d2 * sum_j x_j - c1_i - c2_i * x_i) * x_i
  printed (eq.20) f_i(x) = d1 x_i - d2 sqrt(sum_j x_j) - c1_i sqrt(x_i) - c2_i x_i
  shared constraints  A x <= 100,  A[l, i] = delta[i, l] * e_i  (l = 1, 2),  x >= 0.

Classic pseudo-gradient  F_i(x) = -df_i/dx_i = -(d1 - c1_i) + d2 S + (d2 + 2 c2_i) x_i
(S = sum_j x_j) is affine, F(x) = Q x + q with Q = d2 * 11' + diag(d2 + 2 c2),
symmetric and positive definite when d2 >= 0, c2 > 0 (or d2 > 0, c2 >= 0).
The normalized (variational) equilibrium solves the LCP
  0 <= x  ⟂ Q x + q + A' mu >= 0,    0 <= mu ⟂ 100 - A x >= 0.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import brentq, minimize, minimize_scalar, root

__all__ = [
    "D1", "DELTA", "THETA_DEFAULT", "E_DEFAULT", "BOUND",
    "unpack_theta", "constraint_matrix",
    "river_profit_classic", "river_profit_printed",
    "river_pseudo_gradient",
    "river_equilibrium_enumeration", "river_equilibrium_slsqp",
    "river_equilibrium_best_response", "is_generalized_nash",
]

D1 = 3.0
DELTA = np.array([[6.5, 4.583], [5.0, 6.25], [5.5, 3.75]])  # DELTA[i, l]
THETA_DEFAULT = np.array([0.01, 0.10, 0.12, 0.15, 0.01, 0.05, 0.01])
E_DEFAULT = np.array([0.5, 0.25, 0.75])
BOUND = 100.0


def unpack_theta(theta):
    """theta = [d2, c11, c12, c13, c21, c22, c23] -> (d2, c1 (3,), c2 (3,))."""
    theta = np.asarray(theta, dtype=float)
    if theta.shape != (7,):
        raise ValueError(f"theta must have shape (7,), got {theta.shape}")
    return float(theta[0]), theta[1:4].copy(), theta[4:7].copy()


def constraint_matrix(e) -> np.ndarray:
    """A[l, i] = delta[i, l] * e_i, shape (2, 3); shared constraints A x <= 100."""
    e = np.asarray(e, dtype=float)
    return (DELTA * e[:, None]).T


def river_profit_classic(theta, x) -> np.ndarray:
    """Classic profits f_i(x) = (d1 - d2 * sum_j x_j - c1_i - c2_i x_i) x_i,
    shape (3,) (x may carry leading batch axes: (..., 3) -> (..., 3))."""
    d2, c1, c2 = unpack_theta(theta)
    x = np.asarray(x, dtype=float)
    S = x.sum(axis=-1, keepdims=True)
    return (D1 - d2 * S - c1 - c2 * x) * x


def river_profit_printed(theta, x) -> np.ndarray:
    """Paper eq. (20) as printed: f_i(x) = d1 x_i - d2 sqrt(sum_j x_j)
    - c1_i sqrt(x_i) - c2_i x_i, shape (..., 3).  NB: for d2, c1_i > 0 this is
    strictly CONVEX in x_i on x_i > 0 (d^2 f_i / dx_i^2 =
    d2 / (4 S^{3/2}) + c1_i / (4 x_i^{3/2}) > 0)."""
    d2, c1, c2 = unpack_theta(theta)
    x = np.asarray(x, dtype=float)
    S = x.sum(axis=-1, keepdims=True)
    return D1 * x - d2 * np.sqrt(S) - c1 * np.sqrt(x) - c2 * x


def river_pseudo_gradient(theta, x) -> np.ndarray:
    """F_i(x) = -d f_i / d x_i (classic form) = -(d1 - c1_i) + d2 S + (d2 + 2 c2_i) x_i."""
    d2, c1, c2 = unpack_theta(theta)
    x = np.asarray(x, dtype=float)
    return -(D1 - c1) + d2 * x.sum() + (d2 + 2 * c2) * x


def _lcp_data(theta, e):
    d2, c1, c2 = unpack_theta(theta)
    Q = d2 * np.ones((3, 3)) + np.diag(d2 + 2 * c2)
    q = -(D1 - c1)
    A = constraint_matrix(e)
    return Q, q, A


def river_equilibrium_enumeration(theta=THETA_DEFAULT, e=E_DEFAULT, tol=1e-9):
    """Normalized (variational) equilibrium by exact active-set enumeration.

    Solves, over all 2^5 guesses (which x_i are 0 -> otherwise nu_i = 0; which
    shared constraints are active -> otherwise mu_l = 0), the linear system
        x_i = 0 (i in Z),  F_i(x) + sum_l mu_l A[l, i] = 0 (i not in Z),
        A_l x = 100 (l active),  mu_l = 0 (l inactive)
    with numpy (np.linalg.solve, or least squares + residual check when the
    system is singular/ill-conditioned: a singular but consistent system is
    accepted only if its null space leaves x unchanged), and
    keeps the candidates satisfying x >= 0, mu >= 0,
    nu = F(x) + A' mu >= 0, A x <= 100 (all to tol, scale-aware).
    Returns (x (3,), mu (2,)).  Raises RuntimeError if no candidate or two
    candidates with different x (mu differences are allowed only if x agrees;
    then the mu of smallest norm is returned, with a non-uniqueness flag not
    raised because mu need not be unique when both constraints are active and
    degenerate)."""
    Q, q, A = _lcp_data(theta, e)
    n, m = 3, 2
    sols = []
    for zero in itertools.product([False, True], repeat=n):
        for active in itertools.product([False, True], repeat=m):
            zero_a = np.array(zero)
            act = np.array(active)
            # unknowns z = (x (3), mu (2)); 5 equations
            M = np.zeros((5, 5))
            b = np.zeros(5)
            for i in range(n):
                if zero_a[i]:
                    M[i, i] = 1.0
                else:
                    M[i, :n] = Q[i]
                    M[i, n:] = A[:, i]
                    b[i] = -q[i]
            for l in range(m):
                if act[l]:
                    M[n + l, :n] = A[l]
                    b[n + l] = BOUND
                else:
                    M[n + l, n + l] = 1.0
            try:
                if np.linalg.cond(M) > 1e12:
                    raise np.linalg.LinAlgError
                z = np.linalg.solve(M, b)
            except np.linalg.LinAlgError:
                z, *_ = np.linalg.lstsq(M, b, rcond=None)
            scale = 1.0 + np.max(np.abs(b)) + np.max(np.abs(M)) * np.max(np.abs(z))
            if np.max(np.abs(M @ z - b)) > 1e-10 * scale:
                continue  # inconsistent system
            # if singular, x must not vary along the null space
            sv = np.linalg.svd(M, compute_uv=True)
            U, svals, Vt = sv
            null = Vt[svals < 1e-12 * max(1.0, svals[0])]
            if null.size and np.max(np.abs(null[:, :n])) > 1e-9:
                # x not unique on this face: cannot happen for PD Q; skip
                continue
            x, mu = z[:n], z[n:]
            nu = Q @ x + q + A.T @ mu
            slack = BOUND - A @ x
            xs = max(1.0, np.max(np.abs(x)))
            ok = (np.all(x >= -tol * xs) and np.all(mu >= -tol * max(1.0, np.max(np.abs(mu))))
                  and np.all(nu >= -tol * max(1.0, np.max(np.abs(q))))
                  and np.all(slack >= -tol * BOUND))
            if ok:
                sols.append((np.maximum(x, 0.0), np.maximum(mu, 0.0)))
    if not sols:
        raise RuntimeError("river_equilibrium_enumeration: no complementary solution found")
    x0 = sols[0][0]
    for x, _ in sols[1:]:
        if np.max(np.abs(x - x0)) > 1e-7 * max(1.0, np.max(np.abs(x0))):
            raise RuntimeError(f"river_equilibrium_enumeration: two different solutions {x0} and {x}")
    x, mu = min(sols, key=lambda s: np.linalg.norm(s[1]))
    return x, mu


def river_equilibrium_slsqp(theta=THETA_DEFAULT, e=E_DEFAULT, x0=None,
                            return_multipliers=False):
    """Normalized equilibrium via SLSQP on the game's potential.

    Because the classic pseudo-gradient F(x) = Q x + q has a SYMMETRIC Jacobian
    Q (it is the gradient of Phi(x) = q.x + 0.5 d2 S^2 + sum_i (0.5 d2 + c2_i)
    x_i^2), the variational equilibrium is exactly the minimiser of the convex
    Phi over {x >= 0, A x <= 100}, whose KKT multipliers of A x <= 100 are the
    common shadow prices mu.  This is a different algorithm from the active-set
    enumeration (SQP iterations, no enumeration).  Returns x, or (x, mu) with
    mu from SLSQP's multipliers when return_multipliers=True.
    """
    Q, q, A = _lcp_data(theta, e)
    d2, c1, c2 = unpack_theta(theta)

    def phi(x):
        S = x.sum()
        return q @ x + 0.5 * d2 * S * S + np.sum((0.5 * d2 + c2) * x * x)

    def grad(x):
        return Q @ x + q

    if x0 is None:
        x0 = np.zeros(3)
    cons = [{"type": "ineq", "fun": lambda x: BOUND - A @ x, "jac": lambda x: -A}]
    res = minimize(phi, np.asarray(x0, dtype=float), jac=grad, method="SLSQP",
                   bounds=[(0.0, None)] * 3, constraints=cons,
                   options={"ftol": 1e-15, "maxiter": 500})
    if not res.success and res.status == 8:
        # "Positive directional derivative for linesearch": SLSQP is stuck at
        # (numerically) the optimum because ftol is tiny; restart once from it.
        res = minimize(phi, res.x, jac=grad, method="SLSQP",
                       bounds=[(0.0, None)] * 3, constraints=cons,
                       options={"ftol": 1e-15, "maxiter": 500})
    if not res.success and res.status != 8:
        raise RuntimeError(f"SLSQP failed: {res.message}")
    x = np.maximum(res.x, 0.0)
    if not return_multipliers:
        return x
    mu = getattr(res, "multipliers", None)
    mu = np.asarray(mu["ineq"] if isinstance(mu, dict) else mu, dtype=float).ravel()[:2] \
        if mu is not None else None
    if mu is None or mu.shape != (2,):
        # recover mu from stationarity on the free coordinates by NNLS-like lstsq
        free = x > 1e-9
        mu, *_ = np.linalg.lstsq(A[:, free].T, -(Q @ x + q)[free], rcond=None)
    return x, np.maximum(mu, 0.0)


def _penalized_nash(theta, A, mu, x0=None, tol=1e-12, maxit=1000):
    """Nash equilibrium of the penalised game in which player i maximises
    h_i(x) = f_i(x) - (A' mu)_i x_i over x_i >= 0 with the others fixed
    (f_i = river_profit_classic).  Gauss-Seidel best-response iteration; each
    best response is the root of dh_i/dx_i (central difference of
    river_profit_classic, exact up to rounding since f_i is quadratic in x_i)
    found by scipy brentq, or 0 if dh_i/dx_i(0) <= 0 (h_i is concave in x_i).
    Converges since |dBR_i/dx_j| = d2 / (2 (d2 + c2_i)) sums to < 1 over
    j != i when c2_i > 0."""
    d2, c1, c2 = unpack_theta(theta)
    if np.any(d2 + c2 <= 0):
        raise ValueError("a player's profit is not strictly concave (d2 + c2_i = 0)")
    pen = A.T @ np.asarray(mu, dtype=float)
    x = np.zeros(3) if x0 is None else np.array(x0, dtype=float)

    def dh(s, i):
        h = 1e-3 * max(1.0, abs(s))
        yp = x.copy(); yp[i] = s + h
        ym = x.copy(); ym[i] = s - h
        return ((river_profit_classic(theta, yp)[i] - river_profit_classic(theta, ym)[i])
                / (2 * h) - pen[i])

    last = np.inf
    for _ in range(maxit):
        x_old = x.copy()
        for i in range(3):
            if dh(0.0, i) <= 0:
                x[i] = 0.0
                continue
            ub = 1.0
            while dh(ub, i) > 0:
                ub *= 2.0
            x[i] = brentq(dh, 0.0, ub, args=(i,), xtol=1e-15, rtol=4 * np.finfo(float).eps)
        change = np.max(np.abs(x - x_old))
        if change <= tol * max(1.0, np.max(np.abs(x))):
            break
        if change < 1e-10 * max(1.0, np.max(np.abs(x))) and change >= last:
            break  # stagnated at rounding level
        last = change
    return x


def river_equilibrium_best_response(theta=THETA_DEFAULT, e=E_DEFAULT):
    """Normalized equilibrium by a third, game-theoretic route: for a common
    price vector mu >= 0 compute the Nash equilibrium x(mu) of the penalised
    game (best-response iteration, ``_penalized_nash``), then find mu with
    0 <= mu ⟂ 100 - A x(mu) >= 0 by trying the active sets {}, {1}, {2},
    {1, 2} of the shared constraints with brentq (1-D) / scipy root (2-D).
    Returns (x, mu).  Slower than the other two; meant as a cross-check."""
    Q, q, A = _lcp_data(theta, e)
    tolg = 1e-7

    def xm(mu):
        return _penalized_nash(theta, A, mu)

    def g(mu):
        return BOUND - A @ xm(mu)

    # mu upper bound: a price that drives every player to 0
    mu_max = float(np.max(-q) / np.min(A[A > 0])) + 1.0
    candidates = []
    x = xm([0.0, 0.0])
    if np.all(BOUND - A @ x >= -tolg):
        candidates.append((x, np.zeros(2)))
    for l in range(2):
        def gl(s, l=l):
            mu = np.zeros(2); mu[l] = s
            return g(mu)[l]
        if gl(0.0) < 0 and gl(mu_max) > 0:
            s = brentq(gl, 0.0, mu_max, xtol=1e-14, rtol=1e-14)
            mu = np.zeros(2); mu[l] = s
            x = xm(mu)
            if np.all(BOUND - A @ x >= -tolg):
                candidates.append((x, mu))
    if not candidates:
        # both shared constraints active: 2-D root of the piecewise-affine
        # g(mu) = 100 - A x(mu) (finite-difference step well above the
        # ~1e-12 noise of the inner fixed point)
        for start in (np.full(2, 0.1), np.full(2, 0.01), np.full(2, 1.0)):
            sol = root(g, start, method="hybr", options={"xtol": 1e-13, "eps": 1e-10})
            mu = sol.x
            if np.all(mu >= -1e-9) and np.max(np.abs(g(mu))) <= 1e-8 * BOUND:
                candidates.append((xm(mu), np.maximum(mu, 0.0)))
                break
    if not candidates:
        raise RuntimeError("river_equilibrium_best_response: no solution found")
    return candidates[0]


def is_generalized_nash(theta, e, x, tol=1e-6) -> bool:
    """True iff x is feasible (x >= 0, A x <= 100 up to 1e-9 relative) and no
    player i can raise its CLASSIC profit f_i by more than tol through a
    unilateral deviation y_i in [0, ub_i], ub_i = min_l (100 - sum_{j != i}
    A[l, j] x_j) / A[l, i] (shared constraints with the others fixed).  Each
    player's best deviation is found by scipy minimize_scalar (bounded Brent)
    plus evaluation at both interval end points."""
    A = constraint_matrix(e)
    x = np.asarray(x, dtype=float)
    if np.any(x < -1e-9 * max(1.0, np.max(np.abs(x)))) or np.any(A @ x > BOUND * (1 + 1e-9)):
        return False
    for i in range(3):
        others = A @ x - A[:, i] * x[i]
        with np.errstate(divide="ignore"):
            caps = np.where(A[:, i] > 0, (BOUND - others) / A[:, i], np.inf)
        ub = float(np.min(caps))
        if not np.isfinite(ub):
            ub = 1e6
        ub = max(ub, 0.0)

        def negf(s, i=i):
            y = x.copy(); y[i] = s
            return -river_profit_classic(theta, y)[i]

        base = -negf(x[i])
        r = minimize_scalar(negf, bounds=(0.0, ub), method="bounded",
                            options={"xatol": 1e-12})
        best = max(-r.fun, -negf(0.0), -negf(ub))
        if best > base + tol:
            return False
    return True
