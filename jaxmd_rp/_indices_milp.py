r"""Houtman-Maks and Varian indices by mixed-integer programmes on the host, every answer verified.

A MILP solver works in floating point: its "optimal" point can violate a constraint by its
feasibility tolerance, and its branch and bound can stop at a suboptimal point (HiGHS on a
big-M Houtman-Maks programme of a 25 x 2 data set returns 16 with presolve off, 17 with it on; 17
is attainable, tests/data/hm_highs_presolve.csv). So nothing a solver returns is passed on
unchecked:

- **Houtman-Maks** is solved as a hitting-set programme with lazily generated cycle cuts: keep
  a_t in {0, 1}, maximise sum a subject to sum_{t in C} a_t <= |C| - 1 for every GARP-violating
  cycle C found so far (0/1 coefficients: no big-M, nothing for rounding to break). Each optimum
  is checked exactly (GARP on the kept set, on the exact relations); a violation yields new cuts
  (a shortest violating cycle per offending pair) and a new round. The programme over a subset
  of the cycles is a relaxation, so a kept set that passes GARP is optimal. The count returned is
  the size of that verified set.
- **Varian** uses the linear-ordering programme of docs/indices.md. The efficiencies are then
  recomputed exactly from the ranking the solver chose (c_t = min(1, min over s above t of
  rho[t, s])), never taken from the solver; the ranking must be a strict order, the recomputed
  mean must reach the solver's objective up to its feasibility tolerance, and no swap of two
  adjacent observations may improve it. Otherwise the solve is repeated with HiGHS's presolve
  toggled, and if that also fails the data set is reported as `RESULTS.milp_failed`.
"""

import numpy as np

from ._scipy import solve_milp, sparse_rows

_MAX_ROUNDS = 200  # cut rounds of the Houtman-Maks programme
_CUTS_PER_ROUND = 64
_FEAS_TOL = 1e-6  # HiGHS's default MIP feasibility tolerance


def _closure(R):
    H = R.copy()
    for k in range(R.shape[0]):
        H |= H[:, k : k + 1] & H[k : k + 1, :]
    return H


def _path(A, start, goal):
    """Nodes of a shortest path start -> goal in the boolean graph A (BFS), or None."""
    T = A.shape[0]
    prev = np.full(T, -1)
    prev[start] = start
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in np.flatnonzero(A[v] & (prev < 0)):
                prev[w] = v
                if w == goal:
                    out = [goal]
                    while out[-1] != start:
                        out.append(prev[out[-1]])
                    return out[::-1]
                nxt.append(w)
        frontier = nxt
    return None


def garp_violations(R0, P0, keep, limit=_CUTS_PER_ROUND):
    """GARP-violating cycles within the kept observations: a list of node sets (at most `limit`).

    A violation is t R* s (R0 restricted to kept nodes) with s P0 t; its cycle is a shortest R0
    path t -> s closed by the edge s -> t.
    """
    A = R0 & keep[:, None] & keep[None, :]
    H = _closure(A)
    cycles = set()
    for t, s in zip(*np.nonzero(H & P0.T & keep[:, None] & keep[None, :]), strict=True):
        path = [t] if t == s else _path(A, t, s)
        cycles.add(frozenset(int(v) for v in path))
        if len(cycles) >= limit:
            break
    return [sorted(c) for c in cycles]


def houtman_maks_one(R0, P0):
    """(count, kept mask) verified, or (None, None) if the programme failed."""
    T = R0.shape[0]
    keep = np.ones(T, bool)
    cuts = garp_violations(R0, P0, keep)
    for _ in range(_MAX_ROUNDS):
        if not cuts:
            return int(keep.sum()), keep
        rows = np.zeros((len(cuts), T))
        for r, c in enumerate(cuts):
            rows[r, c] = 1.0
        sol = solve_milp(-np.ones(T), rows, np.full(len(cuts), -np.inf),
                         rows.sum(axis=1) - 1.0, integrality=np.ones(T), lb=np.zeros(T),
                         ub=np.ones(T), presolve=True)
        if not sol.success:
            return None, None
        keep = sol.x > 0.5
        if abs(keep.sum() + sol.objective) > 0.5:  # the point and the objective disagree
            return None, None
        new = garp_violations(R0, P0, keep)
        if not new:
            return int(keep.sum()), keep
        cuts = _merge(cuts, new)
    return None, None


def _merge(cuts, new):
    seen = {tuple(c) for c in cuts}
    return cuts + [c for c in new if tuple(c) not in seen]


def _varian_value(rho, order):
    """Exact efficiencies and their mean for a ranking `order` (top first)."""
    T = rho.shape[0]
    c = np.ones(T)
    for pos, t in enumerate(order):
        above = order[:pos]
        if len(above):
            c[t] = min(1.0, float(np.min(rho[t, above])))
    return float(np.mean(c)), c


def _varian_programme(rho, presolve):
    T = rho.shape[0]
    pairs = [(t, s) for t in range(T) for s in range(t + 1, T)]
    pid = {p: k for k, p in enumerate(pairs)}
    nv = T + len(pairs)  # e_0..e_{T-1}, then o_ts (t < s): 1 iff t ranked above s

    def above(a, b):  # "a above b" as (column, sign, constant): o or 1 - o
        return (T + pid[(a, b)], 1.0, 0.0) if a < b else (T + pid[(b, a)], -1.0, 1.0)

    entries, hi = [], []  # sparse rows: (row, column, value); every row is "<= hi"

    def add_row(coefs, bound):
        r = len(hi)
        entries.extend((r, j, v) for j, v in coefs)
        hi.append(bound)

    for t in range(T):
        for s in range(T):
            if s != t and rho[t, s] < 1.0:  # e_t <= rho_ts + (1 - rho_ts) (1 - [s above t])
                j, sg, cst = above(s, t)
                add_row([(t, 1.0), (j, (1.0 - rho[t, s]) * sg)], 1.0 - (1.0 - rho[t, s]) * cst)
    for a in range(T):
        for b in range(a + 1, T):
            for d in range(a + 1, T):
                if d != b:  # each directed 3-cycle a > b > d > a once: at most 2 of its arcs
                    terms = [above(u, v) for u, v in ((a, b), (b, d), (d, a))]
                    add_row([(j, sg) for j, sg, _ in terms], 2.0 - sum(c for _, _, c in terms))
    A = sparse_rows(entries, (len(hi), nv))
    sol = solve_milp(np.concatenate([-np.ones(T), np.zeros(len(pairs))]), A,
                     np.full(len(hi), -np.inf), np.asarray(hi),
                     integrality=np.concatenate([np.zeros(T), np.ones(len(pairs))]),
                     lb=np.zeros(nv), ub=np.ones(nv), presolve=presolve)
    if not sol.success:
        return None
    wins = np.zeros(T, int)  # number of observations each one is ranked above
    for (t, s), k in pid.items():
        if sol.x[T + k] > 0.5:
            wins[t] += 1
        else:
            wins[s] += 1
    if sorted(wins) != list(range(T)):  # not a strict order
        return None
    order = np.argsort(-wins)
    value, c = _varian_value(rho, order)
    if value < -sol.objective / T - _FEAS_TOL:  # the solver's efficiencies need another ranking
        return None
    for k in range(T - 1):  # no adjacent swap may improve a verified optimum
        swapped = order.copy()
        swapped[[k, k + 1]] = swapped[[k + 1, k]]
        if _varian_value(rho, swapped)[0] > value + 1e-12:
            return None
    return value, c


def varian_one(rho):
    """(index, efficiencies) verified, or (None, None) if both solver settings failed."""
    T = rho.shape[0]
    if T == 1 or np.all((rho >= 1.0) | np.eye(T, dtype=bool)):
        return 1.0, np.ones(T)
    for presolve in (False, True):
        out = _varian_programme(rho, presolve)
        if out is not None:
            return out
    return None, None
