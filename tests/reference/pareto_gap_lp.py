"""Independent numpy/SciPy references for the Pareto gap of eq. (10).

Data convention: ``values`` has shape (M, T, T) with
``values[i, t, s] = g_t^i(x_s)`` = agent i's probe-t constraint evaluated at
its observed strategy of experiment s.

The Pareto gap is

    L = inf { r >= 0 : exists u[i, t] in R, lam[i, t] > 0 with
              u[i, s] - u[i, t] - lam[i, t] * values[i, t, s] <= lam[i, t] * r
              for all i, s, t }.

Three references are given:

* ``pareto_gap_lp``     -- bisection on r, each feasibility decision made by a
                           HiGHS linear program (the Farkas/dual LP of the
                           system; primal slack LP as fallback); no cycle
                           enumeration is used.
* ``pareto_gap_cycles`` -- brute force over all directed simple cycles
                           (self-loops and 2-cycles included) with edge weight
                           w(t -> s) = -values[i, t, s]:
                           L = max(0, max_{i, cycle} min_{edge in cycle} w).
* ``pareto_gap_threshold_graph`` -- the same max-min cycle value without
                           enumeration (largest weight threshold c whose graph
                           {w >= c} still has a cycle); exact for any T.

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
    "system_feasible",
    "farkas_lp",
    "min_slack_lp",
    "pareto_gap_cycles",
    "pareto_gap_cycles_agent",
    "simple_cycles_complete_digraph",
    "pareto_gap_threshold_graph",
]

# small_matrix_value: HiGHS silently zeroes matrix entries with |a| <= 1e-9 by
# default.  The decisive coefficients a = v + r of the critical cycle are
# exactly the tiny ones when r is within 1e-9 of L, so the default caps the
# accuracy of the bisection at ~1e-9 (observed with the primal slack LP).  Lowering it to its minimum (1e-12)
# lets the bisection resolve L to ~1e-11..1e-10.  It is not a named linprog
# option, so SciPy passes it to HiGHS verbatim (with an OptimizeWarning that
# is silenced below).
_HIGHS_OPTIONS = dict(
    primal_feasibility_tolerance=1e-10,
    dual_feasibility_tolerance=1e-10,
    presolve=True,
    small_matrix_value=1e-12,
)
_HIGHS_ATTEMPTS = (
    (_HIGHS_OPTIONS, 1e13),
    (dict(_HIGHS_OPTIONS, presolve=False), 1e13),
    (_HIGHS_OPTIONS, 1e10),
    (dict(_HIGHS_OPTIONS, presolve=False), 1e10),
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
    sigma*(r) = 0 iff the eq. (10) system is feasible at r (up to the lam cap
    below).  For r < L one has sigma*(r) >= L - r > 0, and unless the critical
    cycle has constant weights sigma*(r) stays bounded away from 0 up to and
    including r = L, then jumps to 0 just above L (where the certificate needs
    lam ~ 1/(r - L)); this is the non-attainment of the infimum.  Used as the
    fallback decision of ``system_feasible`` and for diagnostics; HiGHS is
    unreliable on it within ~1e-9 * scale above L (see ``farkas_lp``).
    Raises RuntimeError if every HiGHS attempt fails.
    """
    v = np.asarray(v, dtype=float)
    T = v.shape[0]
    # work with data normalised to max|v| ~ 1 (sigma is rescaled on return)
    scale = max(1e-300, float(np.max(np.abs(v))), abs(float(r)))
    tt, ss = _slack_lp_structure(T)
    a = (v[tt, ss] + r) / scale
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
    # lam is capped at lam_max (relative to the normalised data).  A cap is
    # needed because HiGHS sometimes reports this bounded-below LP as
    # "unbounded" (or gives a solve error) when r is within ~1e-9 of L, where
    # the needed lam ~ (gap sum) / (r - L) is huge; a cap lam_max moves the
    # feasibility threshold above L by at most ~ T * max|v| / lam_max.
    # Attempts: (presolve, cap 1e13), (no presolve, cap 1e13), (presolve,
    # cap 1e10), (no presolve, cap 1e10).  Any returned sigma = 0 is a genuine
    # feasibility certificate; only in the rare last-resort attempts can the
    # cap itself produce a false "infeasible" (then only within ~T*1e-10
    # relative of L).
    res = None
    for opts, lam_max in _HIGHS_ATTEMPTS:
        bounds = [(None, None)] * nu + [(1.0, lam_max)] * T + [(0.0, None)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            res = linprog(c, A_ub=A, b_ub=b, bounds=bounds, method="highs",
                          options=opts)
        if res.status == 0:
            return max(0.0, float(res.fun)) * scale
    raise RuntimeError(f"HiGHS failed on slack LP (status {res.status}): {res.message}")


def farkas_lp(v: np.ndarray, r: float):
    """Farkas (dual) LP of the eq. (10) system for ONE agent at fixed r.

    Primal system: u_s - u_t - lam_t a[t, s] <= 0 (all t, s), lam_t >= 1
    (equivalent to lam > 0 by homogeneity), a = (v + r) / scale with
    scale = max(max|v|, |r|).  By Farkas' lemma it is infeasible iff there is
    y >= 0 on the T^2 ordered pairs (self-pairs included) that is a
    circulation (sum_s y[t, s] = sum_s y[s, t] for every t) with
    z_t = sum_s y[t, s] a[t, s] <= 0 for every t and sum_t z_t < 0.
    This function solves

        min sum_{t,s} a[t, s] y[t, s]  s.t. circulation, sum y = 1, z_t <= 0, y >= 0

    and returns the scipy OptimizeResult (status 2 = infeasible LP, i.e. the
    primal system IS feasible).  Why this and not the primal slack LP: all
    numbers stay O(1) (y lies in a simplex), whereas a primal certificate
    just above L needs lam ~ 1/(r - L); HiGHS then returns spurious
    "unbounded"/"solve error" statuses (observed).  A false dual certificate
    can only be accepted within the row tolerance (1e-10 on z_t, normalised
    data), so the decision is exact except for |r - L| <~ 1e-10 * scale.
    """
    v = np.asarray(v, dtype=float)
    T = v.shape[0]
    scale = max(1e-300, float(np.max(np.abs(v))), abs(float(r)))
    tt, ss = _slack_lp_structure(T)
    a = (v[tt, ss] + r) / scale
    n = T * T
    k = np.arange(n)
    A_eq = np.zeros((T + 1, n))
    np.add.at(A_eq, (tt, k), 1.0)    # outflow of t
    np.add.at(A_eq, (ss, k), -1.0)   # minus inflow of s (self-pairs cancel)
    A_eq[T, :] = 1.0
    b_eq = np.zeros(T + 1)
    b_eq[T] = 1.0
    A_ub = np.zeros((T, n))
    A_ub[tt, k] = a
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        res = linprog(a, A_ub=A_ub, b_ub=np.zeros(T), A_eq=A_eq, b_eq=b_eq,
                      bounds=(0.0, None), method="highs", options=_HIGHS_OPTIONS)
    return res


def system_feasible(v, r) -> bool:
    """Decide whether the eq. (10) system of ONE agent (v of shape (T, T)) is
    feasible at r, i.e. whether u, lam > 0 exist with
    u_s - u_t - lam_t v[t, s] <= lam_t r for all t, s.

    Primary: Farkas LP (``farkas_lp``): infeasible iff its optimum is
    < -1e-13 (normalised units); LP-infeasible (status 2) or optimum ~0 means
    feasible.  Fallback if HiGHS reports anything else: the primal slack LP
    (``min_slack_lp``), feasible iff sigma* <= 1e-11 * max(1, max|v|)."""
    res = farkas_lp(v, r)
    if res.status == 2:
        return True
    if res.status == 0:
        return not (res.fun < -1e-13)
    scale = max(1.0, float(np.max(np.abs(v))))
    return min_slack_lp(v, r) <= 1e-11 * scale


def pareto_gap_lp_agent(v, tol: float = 1e-10) -> float:
    """Pareto gap of a single agent, v of shape (T, T), by LP bisection.

    Bracket: lo = max(0, max_t -v[t, t]) (the self-pair rows
    0 <= lam_t (v[t, t] + r) force r >= -v[t, t]);
    hi = max(lo, max_{t, s} -v[t, s]) (then every v[t, s] + r >= 0, so u = 0,
    lam = 1 is feasible).  If lo is feasible (``system_feasible``) the answer
    is lo.  Otherwise bisect on the feasibility decision until
    hi - lo <= tol * max(1, max|v|); returns hi.  Accuracy: ~1e-10 * max(1,
    max|v|) (limited by the LP tolerances, see ``farkas_lp``).  Uses no graph
    theory (no cycle enumeration).
    """
    v = np.asarray(v, dtype=float)
    scale = max(1.0, float(np.max(np.abs(v))))
    lo = max(0.0, float(np.max(-np.diag(v))))
    hi = max(lo, float(np.max(-v)))
    if hi - lo <= tol * scale:
        return hi
    if system_feasible(v, lo):
        return lo
    while hi - lo > tol * scale:
        mid = 0.5 * (lo + hi)
        if system_feasible(v, mid):
            hi = mid
        else:
            lo = mid
    return hi


def pareto_gap_lp(values, tol: float = 1e-10) -> float:
    """Pareto gap L of eq. (10) for values of shape (M, T, T) (a (T, T) array
    is treated as M = 1).  Separable over agents: L = max_i L_i, each L_i from
    ``pareto_gap_lp_agent`` (LP bisection, accuracy ~1e-10 * max(1, max|values|)).
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


def pareto_gap_threshold_graph(values) -> float:
    """Same quantity as ``pareto_gap_cycles`` (max(0, max over agents and
    directed cycles of the min edge weight, w = -values)) computed without
    enumerating cycles: for each agent, the largest candidate c among the
    edge weights such that the digraph {t -> s : w[t, s] >= c} (self-loops
    included) has a directed cycle (Warshall closure has a True diagonal);
    found by binary search over the sorted weights (the property is monotone
    in c).  Exact, any T (O(T^3 log T) per agent)."""
    v = _as_values(values)
    best = 0.0
    for i in range(v.shape[0]):
        w = -v[i]
        cand = np.unique(w)  # ascending
        def has_cycle(c):
            H = w >= c
            for k in range(H.shape[0]):
                H = H | (H[:, k:k + 1] & H[k:k + 1, :])
            return bool(np.any(np.diag(H)))
        lo, hi = 0, len(cand) - 1  # has_cycle(cand[0]) is True (all edges)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if has_cycle(cand[mid]):
                lo = mid
            else:
                hi = mid - 1
        best = max(best, float(cand[lo]))
    return best
