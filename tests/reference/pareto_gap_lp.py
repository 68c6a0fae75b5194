"""Independent numpy/SciPy references for the Pareto gap of eq. (10).

Data convention: ``values`` has shape (M, T, T) with
``values[i, t, s] = g_t^i(x_s)`` = agent i's probe-t constraint evaluated at
its observed strategy of experiment s.

The Pareto gap is

    L = inf { r >= 0 : exists u[i, t] in R, lam[i, t] > 0 with
              u[i, s] - u[i, t] - lam[i, t] * values[i, t, s] <= lam[i, t] * r
              for all i, s, t }.

Two references are given:

* ``pareto_gap_lp``     -- bisection on r, each feasibility decision made by a
                           HiGHS linear program (no graph theory used).
* ``pareto_gap_cycles`` -- brute force over all directed simple cycles
                           (self-loops and 2-cycles included) with edge weight
                           w(t -> s) = -values[i, t, s]:
                           L = max(0, max_{i, cycle} min_{edge in cycle} w).

Why the cycle formula is the exact infimum (generalised Afriat theorem,
Fostel-Scarf-Todd): for fixed r put a[t, s] = values[t, s] + r.  The system
u_s - u_t <= lam_t a[t, s], lam > 0 is solvable iff there is no cycle whose
a's are all <= 0 with at least one < 0.  With a = r - w this excludes, for each
cycle C, the r with r <= min_C w when the weights on C are not all equal and
r < w when they are all equal (self-loops are constant cycles).  Hence the
feasible r-set is (L, inf) or [L, inf) with L = max over cycles of min_C w,
and the infimum is in general NOT attained.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, linprog
from scipy.sparse import csr_matrix

__all__ = [
    "pareto_gap_lp",
    "pareto_gap_lp_agent",
    "min_slack_lp",
    "pareto_gap_cycles",
    "pareto_gap_cycles_agent",
    "simple_cycles_complete_digraph",
]

# small_matrix_value: HiGHS silently zeroes matrix entries with |a| <= 1e-9 by
# default.  The decisive coefficients a = v + r of the critical cycle are
# exactly the tiny ones when r is within 1e-9 of L, so the default caps the
# accuracy of the bisection at ~1e-9.  Lowering it to its minimum (1e-12)
# lets the bisection resolve L to ~1e-11..1e-10.  It is not a named linprog
# option, so SciPy passes it to HiGHS verbatim (with an OptimizeWarning that
# is silenced below).
_HIGHS_OPTIONS = dict(
    primal_feasibility_tolerance=1e-10,
    dual_feasibility_tolerance=1e-10,
    presolve=True,
    small_matrix_value=1e-12,
)


def _as_values(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or v.shape[1] != v.shape[2]:
        raise ValueError(f"values must have shape (M, T, T), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    return v


# --------------------------------------------------------------------------
# LP reference
# --------------------------------------------------------------------------
def _slack_lp_structure(T: int):
    """Constant part of the slack LP for T experiments.

    Variables z = [u_1..u_{T-1}, lam_0..lam_{T-1}, sigma]  (u_0 := 0, which is
    w.l.o.g. because the constraints only involve differences of u).
    Row (t, s):  u_s - u_t - lam_t * a[t, s] - sigma <= 0.
    """
    tt, ss = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    tt = tt.ravel()
    ss = ss.ravel()
    return tt, ss


def min_slack_lp(v: np.ndarray, r: float) -> float:
    """Optimal value of the slack LP for ONE agent (v of shape (T, T)):

        sigma*(r) = min sigma  s.t.  u_s - u_t - lam_t * (v[t, s] + r) <= sigma
                                     for all t, s;  lam_t >= 1;  sigma >= 0.

    By homogeneity (lam > 0 may be rescaled to lam >= 1 together with u),
    sigma*(r) = 0 iff the eq. (10) system is feasible at r.  For r < L one has
    sigma*(r) >= L - r > 0, and generically sigma*(r) stays bounded away from 0
    up to r = L (it jumps to 0 just above L), which is what makes the
    decision reliable.
    """
    v = np.asarray(v, dtype=float)
    T = v.shape[0]
    tt, ss = _slack_lp_structure(T)
    a = v[tt, ss] + r
    n_rows = T * T
    nu = T - 1  # u_1..u_{T-1}
    n_var = nu + T + 1
    rows, cols, data = [], [], []
    k = np.arange(n_rows)
    # + u_s  (if s > 0)
    m = ss > 0
    rows.append(k[m]); cols.append(ss[m] - 1); data.append(np.ones(m.sum()))
    # - u_t  (if t > 0)
    m = tt > 0
    rows.append(k[m]); cols.append(tt[m] - 1); data.append(-np.ones(m.sum()))
    # - lam_t * a
    rows.append(k); cols.append(nu + tt); data.append(-a)
    # - sigma
    rows.append(k); cols.append(np.full(n_rows, n_var - 1)); data.append(-np.ones(n_rows))
    rows = np.concatenate(rows); cols = np.concatenate(cols); data = np.concatenate(data)
    # u_s - u_t appears with both signs when s == t: they cancel -> drop zeros
    A = csr_matrix((data, (rows, cols)), shape=(n_rows, n_var))
    A.sum_duplicates()
    A.eliminate_zeros()
    b = np.zeros(n_rows)
    c = np.zeros(n_var)
    c[-1] = 1.0
    bounds = [(None, None)] * nu + [(1.0, None)] * T + [(0.0, None)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        res = linprog(c, A_ub=A, b_ub=b, bounds=bounds, method="highs",
                      options=_HIGHS_OPTIONS)
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on slack LP (status {res.status}): {res.message}")
    return float(res.fun)


def pareto_gap_lp_agent(v, tol: float = 1e-10) -> float:
    """Pareto gap of a single agent, v of shape (T, T), by LP bisection.

    Bracket: lo = max(0, max_t -v[t, t]) (the self-loop rows
    0 <= lam_t (v[t, t] + r) force r >= -v[t, t]);
    hi = max(lo, max_{t, s} -v[t, s]) (then every v[t, s] + r >= 0, so u = 0,
    lam = 1 is feasible).  If hi == lo the answer is lo exactly.  Otherwise
    bisect with the decision "feasible iff sigma*(r) <= 1e-11 * scale", where
    scale = max(1, max|v|), until hi - lo <= tol * scale; returns hi (the
    smallest r verified feasible).
    """
    v = np.asarray(v, dtype=float)
    scale = max(1.0, float(np.max(np.abs(v))))
    lo = max(0.0, float(np.max(-np.diag(v))))
    hi = max(lo, float(np.max(-v)))
    if hi - lo <= tol * scale:
        return hi
    # Is lo itself feasible?  (Then L = lo; happens e.g. when the gap is 0.)
    feas_tol = 1e-11 * scale
    if min_slack_lp(v, lo) <= feas_tol:
        return lo
    while hi - lo > tol * scale:
        mid = 0.5 * (lo + hi)
        if min_slack_lp(v, mid) <= feas_tol:
            hi = mid
        else:
            lo = mid
    return hi


def pareto_gap_lp(values, tol: float = 1e-10) -> float:
    """Pareto gap L of eq. (10) for values of shape (M, T, T) (a (T, T) array
    is treated as M = 1).  Separable over agents: L = max_i L_i, each L_i from
    ``pareto_gap_lp_agent`` (LP bisection, accuracy ~tol * max(1, max|values|)).
    """
    v = _as_values(values)
    return max(pareto_gap_lp_agent(v[i], tol=tol) for i in range(v.shape[0]))


# --------------------------------------------------------------------------
# Cycle brute force
# --------------------------------------------------------------------------
_CYCLE_CACHE: dict[int, list[np.ndarray]] = {}


def simple_cycles_complete_digraph(T: int) -> list[np.ndarray]:
    """All directed simple cycles of the complete digraph on T nodes with
    self-loops, each as an index array (c_0, ..., c_{k-1}) meaning
    c_0 -> c_1 -> ... -> c_{k-1} -> c_0.  Each cycle appears once (its
    smallest node first).  Count: sum_k C(T, k) (k-1)!."""
    if T in _CYCLE_CACHE:
        return _CYCLE_CACHE[T]
    cycles = []
    for k in range(1, T + 1):
        for subset in itertools.combinations(range(T), k):
            first, rest = subset[0], subset[1:]
            for perm in itertools.permutations(rest):
                cycles.append(np.array((first,) + perm, dtype=int))
    _CYCLE_CACHE[T] = cycles
    return cycles


def pareto_gap_cycles_agent(v) -> float:
    """max over directed simple cycles C (incl. self-loops) of
    min_{(t -> s) in C} (-v[t, s]), for one agent (v of shape (T, T)).
    Not clipped at 0."""
    v = np.asarray(v, dtype=float)
    T = v.shape[0]
    if T > 8:
        raise ValueError("pareto_gap_cycles is a brute force for T <= 8")
    w = -v
    best = -np.inf
    for cyc in simple_cycles_complete_digraph(T):
        nxt = np.roll(cyc, -1)
        best = max(best, float(np.min(w[cyc, nxt])))
    return best


def pareto_gap_cycles(values) -> float:
    """Exact Pareto gap by brute force for tiny T (T <= 6 intended, <= 8
    allowed): max(0, max over agents i and directed simple cycles C of the
    complete digraph on T nodes, self-loops t->t and 2-cycles included, of
    min_{(t -> s) in C} -values[i, t, s])."""
    v = _as_values(values)
    return max(0.0, max(pareto_gap_cycles_agent(v[i]) for i in range(v.shape[0])))
