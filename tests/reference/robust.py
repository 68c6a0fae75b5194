"""Independent numpy/SciPy references for the Wasserstein-robust Pareto gap (docs/robust.md).

Nothing here imports jaxmd_rp. Conventions: ``prices`` (M, T, 2) with prices[i, t] = alpha_t^i,
``samples`` (N, M, T, 2); the probe is g_t^i(x) = <alpha_t^i, x> - 1 and agent i's support at
experiment s is the budget triangle {x >= 0 : <alpha_s^i, x> <= 1} (or its budget line).

* ``rho_bruteforce``  -- min over the support of <a, x> + kappa ||x - g|| by a dense grid of the
                         triangle plus an SLSQP polish from the best grid points (slow, one case).
* ``rho_golden``      -- the same minimum, vectorised: the "stay" point and a golden-section
                         search along each edge of the support (each edge is a convex 1-D
                         problem).  Used by the references below.  No closed form is used.
* ``robust_gap_exchange`` -- L_DR by the exchange method (Algorithm 2) with an exact MILP master
                         over per-agent orders (``scipy.optimize.milp``, big-M = 1, 3-cycle
                         elimination rows) and the golden-section separation; run to a tight
                         tolerance it returns a bracket [lb, ub] of the exact value.
* ``robust_value_psi`` -- the worst-case expected loss of an explicit psi = (u, lambda):
                         min_kappa eps kappa + mean_k max(0, max_{i,s,t} [c_st + 1 - rho]),
                         c_st = (u_s - u_t) / lambda_t (convex in kappa; bounded Brent).
* ``robust_gap_enumerate`` -- min over all per-agent orders of the convex 1-D problem in kappa
                         (tiny instances only).
* ``loss_h``           -- h(psi, Phi) of eq. (15) from its definition.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp, minimize, minimize_scalar
from scipy.sparse import coo_matrix

_INVPHI = (np.sqrt(5.0) - 1.0) / 2.0


def _edges(beta, support):
    """Edges (p0, p1) of the support of budget beta (2,)."""
    o = np.zeros(2)
    v1 = np.array([1.0 / beta[0], 0.0])
    v2 = np.array([0.0, 1.0 / beta[1]])
    if support == "line":
        return [(v1, v2)]
    return [(o, v1), (o, v2), (v1, v2)]


def rho_bruteforce(a, beta, g, kappa, support="triangle", n=301):
    """Dense grid of the support + SLSQP polish. Returns (value, point)."""
    a, beta, g = (np.asarray(z, float) for z in (a, beta, g))
    f = lambda x: float(a @ x + kappa * np.linalg.norm(x - g))  # noqa: E731
    pts = [g[None]]
    for p0, p1 in _edges(beta, support):
        s = np.linspace(0.0, 1.0, 4 * n)[:, None]
        pts.append(p0 + s * (p1 - p0))
    if support == "triangle":
        u, w = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
        m = (u + w) <= 1.0
        u, w = u[m], w[m]
        pts.append(np.stack([u / beta[0], w / beta[1]], axis=-1))
    P = np.concatenate(pts)
    vals = P @ a + kappa * np.linalg.norm(P - g, axis=-1)
    best = int(np.argmin(vals))
    bestv, bestx = float(vals[best]), P[best]
    cons = [{"type": "ineq", "fun": lambda x: 1.0 - beta @ x}]
    if support == "line":
        cons = [{"type": "eq", "fun": lambda x: 1.0 - beta @ x}]
    for j in np.argsort(vals)[:2]:
        x0 = P[j] + 1e-9
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = minimize(f, x0, method="SLSQP", bounds=[(0, None), (0, None)], constraints=cons,
                           options={"ftol": 1e-14, "maxiter": 500})
        x = np.maximum(res.x, 0.0)
        feas = beta @ x <= 1.0 + 1e-12 and (support != "line" or abs(beta @ x - 1.0) <= 1e-12)
        if feas and f(x) < bestv:
            bestv, bestx = f(x), x
    return bestv, bestx


def rho_golden(a, beta, g, kappa, support="triangle", iters=120):
    """Vectorised rho over leading axes: a, beta, g (..., 2); kappa broadcastable to (...).
    Returns (value (...), point (..., 2))."""
    a, beta, g = np.broadcast_arrays(*(np.asarray(z, float) for z in (a, beta, g)))
    kappa = np.broadcast_to(np.asarray(kappa, float), a.shape[:-1])
    z = np.zeros(a.shape[:-1])
    o = np.zeros(a.shape)
    v1 = np.stack([1.0 / beta[..., 0], z], axis=-1)
    v2 = np.stack([z, 1.0 / beta[..., 1]], axis=-1)
    segs = [(v1, v2)] if support == "line" else [(o, v1), (o, v2), (v1, v2)]

    def f(x):
        return np.sum(a * x, -1) + kappa * np.linalg.norm(x - g, axis=-1)

    best_v, best_x = f(g), g.copy()
    for p0, p1 in segs:
        lo, up = np.zeros(z.shape), np.ones(z.shape)
        pt = lambda s: p0 + s[..., None] * (p1 - p0)  # noqa: E731
        for _ in range(iters):
            m1 = up - _INVPHI * (up - lo)
            m2 = lo + _INVPHI * (up - lo)
            left = f(pt(m1)) <= f(pt(m2))
            up = np.where(left, m2, up)
            lo = np.where(left, lo, m1)
        cands = [np.zeros(z.shape), np.ones(z.shape), 0.5 * (lo + up)]
        for c in cands:
            x = pt(c)
            v = f(x)
            better = v < best_v
            best_v = np.where(better, v, best_v)
            best_x = np.where(better[..., None], x, best_x)
    return best_v, best_x


def edge_values(prices, samples, kappa, support="triangle"):
    """a[k,i,s,t] = 1 - rho(alpha_t^i; A_s^i, x_{s,k}^i, kappa), the minimisers and distances."""
    P = np.asarray(prices, float)
    X = np.asarray(samples, float)
    N, M, T, _ = X.shape
    a = np.broadcast_to(P[None, :, None, :, :], (N, M, T, T, 2))  # alpha_t
    beta = np.broadcast_to(P[None, :, :, None, :], (N, M, T, T, 2))  # alpha_s
    g = np.broadcast_to(X[:, :, :, None, :], (N, M, T, T, 2))
    v, x = rho_golden(a, beta, g, kappa, support)
    return 1.0 - v, x, np.linalg.norm(x - g, axis=-1)


def _upper_from_orders(orders, T):
    pos = np.argsort(orders, axis=-1)
    return pos[:, :, None] <= pos[:, None, :]


def _milp_master(cuts, eps, N, M, T, cap):
    """Exact master over orders: y[i, s, t] binary (s != t) = s above t, y_st + y_ts = 1, no
    3-cycles; cut rows v_k + d kappa >= c - (1 - y_st) (s != t), v_k + d kappa >= c (s = t)."""
    ordered = [(s, t) for s in range(T) for t in range(T) if s != t]
    col = {}
    for i in range(M):
        for (s, t) in ordered:
            col[(i, s, t)] = 1 + N + len(col)
    nv = 1 + N + len(col)
    R, C, V, lo, hi = [], [], [], [], []
    r = 0
    for k in range(N):
        for c_arr, d in cuts[k]:
            for i in range(M):
                for s in range(T):
                    for t in range(T):
                        c = float(c_arr[i, s, t])
                        R += [r, r]
                        C += [1 + k, 0]
                        V += [1.0, d]
                        if s == t:
                            lo.append(c)
                        else:
                            R.append(r)
                            C.append(col[(i, s, t)])
                            V.append(-1.0)
                            lo.append(c - 1.0)
                        hi.append(np.inf)
                        r += 1
    for i in range(M):
        for s in range(T):
            for t in range(s + 1, T):
                R += [r, r]
                C += [col[(i, s, t)], col[(i, t, s)]]
                V += [1.0, 1.0]
                lo.append(1.0)
                hi.append(1.0)
                r += 1
        for s, t, q in itertools.permutations(range(T), 3):
            R += [r, r, r]
            C += [col[(i, s, t)], col[(i, t, q)], col[(i, q, s)]]
            V += [1.0, 1.0, 1.0]
            lo.append(-np.inf)
            hi.append(2.0)
            r += 1
    A = coo_matrix((V, (R, C)), shape=(r, nv)).tocsr()
    cvec = np.zeros(nv)
    cvec[0] = eps
    cvec[1:1 + N] = 1.0 / N
    integ = np.zeros(nv)
    integ[1 + N:] = 1
    ub = np.concatenate([[cap], np.full(N, np.inf), np.ones(len(col))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # HiGHS options passed verbatim
        res = milp(cvec, integrality=integ, bounds=Bounds(np.zeros(nv), ub),
                   constraints=[LinearConstraint(A, np.asarray(lo), np.asarray(hi))],
                   options={"mip_rel_gap": 0.0, "primal_feasibility_tolerance": 1e-10,
                            "mip_feasibility_tolerance": 1e-10})
    if res.x is None:
        raise RuntimeError(res.message)
    z = res.x
    orders = np.zeros((M, T), int)
    for i in range(M):
        wins = [sum(z[col[(i, s, t)]] > 0.5 for t in range(T) if t != s) for s in range(T)]
        orders[i] = np.argsort(-np.asarray(wins), kind="stable")
    bound = res.mip_dual_bound if np.isfinite(getattr(res, "mip_dual_bound", np.nan)) else res.fun
    return min(bound, res.fun), z[0], np.maximum(z[1:1 + N], 0.0), orders


def robust_gap_exchange(prices, samples, eps, support="triangle", tol=1e-8, max_iter=300):
    """Exchange method with the exact MILP master. Returns (lb, ub, iterations)."""
    P = np.asarray(prices, float)
    X = np.asarray(samples, float)
    N, M, T, _ = X.shape
    cap = float(np.max(np.linalg.norm(P, axis=-1))) + 1.0
    U = np.ones((M, T, T), bool)
    kappa, v, lb, ub = 0.0, np.zeros(N), 0.0, np.inf
    cuts = [[] for _ in range(N)]
    W = 1.0 - np.einsum("itc,kisc->kist", P, X)  # nominal -g_t^i(x_{s,k}^i)
    for n in range(1, max_iter + 1):
        a, pts, dist = edge_values(P, X, kappa, support)
        masked = np.where(U[None], a, -np.inf).reshape(N, -1)
        j = masked.argmax(-1)
        sep = np.maximum(masked[np.arange(N), j], 0.0)
        cv = sep - v
        ub = min(ub, eps * kappa + float(np.mean(v + np.maximum(cv, 0.0))))
        if cv.max() <= tol or ub - lb <= tol:
            return lb, ub, n
        added = False
        for k in range(N):
            if cv[k] <= 0:
                continue
            i, s, t = np.unravel_index(j[k], (M, T, T))
            c = W[k].copy()
            c[i, s, :] = 1.0 - P[i] @ pts[k, i, s, t]
            d = float(dist[k, i, s, t])
            if not any(dd == d and np.array_equal(cc, c) for cc, dd in cuts[k]):
                cuts[k].append((c, d))
                added = True
        if not added:
            return lb, ub, n
        lb, kappa, v, orders = _milp_master(cuts, eps, N, M, T, cap)
        U = _upper_from_orders(orders, T)
    return lb, ub, max_iter


def _dro_value(cfun, prices, samples, eps, support, cap):
    """min_kappa eps kappa + mean_k max(0, max_{i,s,t} [cfun + a_k(kappa)]) (convex)."""

    def G(kappa):
        a, _, _ = edge_values(prices, samples, kappa, support)
        m = np.max((a + cfun[None]).reshape(a.shape[0], -1), axis=-1)
        return eps * kappa + float(np.mean(np.maximum(m, 0.0)))

    grid = np.linspace(0.0, cap, 41)
    vals = [G(k) for k in grid]
    j = int(np.argmin(vals))
    lo, up = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    res = minimize_scalar(G, bounds=(lo, up), method="bounded", options={"xatol": 1e-12})
    return min(float(res.fun), float(vals[j]))


def robust_value_psi(u, lam, prices, samples, eps, support="triangle"):
    """Worst-case expected loss sup_Q E_Q h(psi, Phi) of an explicit psi = (u, lam), (M, T) each."""
    u, lam = np.asarray(u, float), np.asarray(lam, float)
    c = (u[:, :, None] - u[:, None, :]) / lam[:, None, :]  # c[i, s, t] = (u_s - u_t) / lam_t
    cap = float(np.max(np.linalg.norm(np.asarray(prices), axis=-1))) + 1.0
    return _dro_value(c, prices, samples, eps, support, cap)


def robust_gap_enumerate(prices, samples, eps, support="triangle"):
    """min over all per-agent orders (T!^M of them) of the worst-case expected loss."""
    M, T = np.asarray(prices).shape[:2]
    cap = float(np.max(np.linalg.norm(np.asarray(prices), axis=-1))) + 1.0
    best = np.inf
    perms = list(itertools.permutations(range(T)))
    for combo in itertools.product(perms, repeat=M):
        U = _upper_from_orders(np.asarray(combo), T)
        cfun = np.where(U, 0.0, -np.inf)
        best = min(best, _dro_value(cfun, prices, samples, eps, support, cap))
    return best


def loss_h(u, lam, prices, Phi):
    """h(psi, Phi) = min r >= 0 with u_s - u_t - lam_t g_t(gamma_s) <= lam_t r (eq. 15)."""
    u, lam, P, Phi = (np.asarray(z, float) for z in (u, lam, prices, Phi))
    g = np.einsum("itc,isc->ist", P, Phi) - 1.0  # g[i, s, t] = g_t^i(gamma_s^i)
    r = (u[:, :, None] - u[:, None, :]) / lam[:, None, :] - g
    return max(0.0, float(r.max()))


def h_orders(orders, prices, Phi):
    """h_sigma(Phi) = max(0, max_i max_{s at or above t} -g_t^i(gamma_s^i))."""
    P, Phi = np.asarray(prices, float), np.asarray(Phi, float)
    T = P.shape[1]
    U = _upper_from_orders(np.asarray(orders), T)
    W = 1.0 - np.einsum("itc,isc->ist", P, Phi)
    return max(0.0, float(np.max(np.where(U, W, -np.inf))))
