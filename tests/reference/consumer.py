"""Classic single-consumer revealed-preference references (numpy only).

Inputs: prices ``p`` and bundles ``x`` of shape (T, K), all entries > 0.
Notation: E[t, s] = p_t . x_s (expenditure at prices t of bundle s);
rho[t, s] = E[t, s] / E[t, t].
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = [
    "expenditure_matrix",
    "transitive_closure",
    "garp_bruteforce",
    "garp_exact",
    "exact_relations",
    "garp_e_holds",
    "ccei_bruteforce",
    "varian_index_bruteforce",
    "houtman_maks_bruteforce",
]


def _check(p, x):
    p = np.asarray(p, dtype=float)
    x = np.asarray(x, dtype=float)
    if p.ndim != 2 or p.shape != x.shape:
        raise ValueError(f"p and x must both have shape (T, K); got {p.shape}, {x.shape}")
    if not (np.all(p > 0) and np.all(x > 0)):
        raise ValueError("prices and bundles must be strictly positive")
    return p, x


def expenditure_matrix(p, x) -> np.ndarray:
    """E[t, s] = p_t . x_s, shape (T, T)."""
    p, x = _check(p, x)
    return p @ x.T


def transitive_closure(R: np.ndarray) -> np.ndarray:
    """Transitive closure of boolean relation(s) R[..., T, T] by Warshall's
    algorithm (batched over leading axes).  Does not add the diagonal."""
    H = np.array(R, dtype=bool, copy=True)
    T = H.shape[-1]
    for k in range(T):
        H |= H[..., :, k:k + 1] & H[..., k:k + 1, :]
    return H


def _garp_from_matrices(R0: np.ndarray, P: np.ndarray) -> np.ndarray:
    """GARP holds iff there is no (t, s) with t H s and s P t, H = closure(R0).
    R0, P: boolean (..., T, T).  Returns boolean (...)."""
    H = transitive_closure(R0)
    viol = H & np.swapaxes(P, -1, -2)
    return ~viol.any(axis=(-1, -2))


def garp_bruteforce(p, x) -> bool:
    """GARP: x_t R0 x_s iff p_t.x_t >= p_t.x_s; R = transitive closure;
    holds iff there is no pair with x_t R x_s and p_s.x_s > p_s.x_t."""
    E = expenditure_matrix(p, x)
    own = np.diag(E)
    R0 = own[:, None] >= E           # R0[t, s]: E[t,t] >= E[t,s]
    P = own[:, None] > E             # P[s, t]: E[s,s] > E[s,t]
    return bool(_garp_from_matrices(R0, P))


def exact_relations(p, x):
    """(R0, P0) from expenditures in exact rational arithmetic (`fractions.Fraction` of the float
    values, any magnitude, any float dtype): no rounding, no overflow. Entries may be zero."""
    from fractions import Fraction

    p = np.asarray(p, dtype=float)
    x = np.asarray(x, dtype=float)
    T, K = p.shape
    E = [[sum(Fraction(float(p[t, k])) * Fraction(float(x[s, k])) for k in range(K))
          for s in range(T)] for t in range(T)]
    R0 = np.array([[E[t][t] >= E[t][s] for s in range(T)] for t in range(T)])
    P = np.array([[E[t][t] > E[t][s] for s in range(T)] for t in range(T)])
    return R0, P


def garp_exact(p, x) -> bool:
    """GARP on exact rational expenditures (see `exact_relations`)."""
    return bool(_garp_from_matrices(*exact_relations(p, x)))


def garp_e_holds(p, x, e) -> bool:
    """GARP_e for a scalar or per-observation efficiency e (shape () or (T,)):
    x_t R0_e x_s iff e_t p_t.x_t >= p_t.x_s; violated iff x_t R_e x_s (closure)
    and e_s p_s.x_s > p_s.x_t."""
    E = expenditure_matrix(p, x)
    T = E.shape[0]
    e = np.broadcast_to(np.asarray(e, dtype=float), (T,))
    own = e * np.diag(E)
    R0 = own[:, None] >= E
    P = own[:, None] > E
    return bool(_garp_from_matrices(R0, P))


def ccei_bruteforce(p, x) -> float:
    """Afriat's critical cost efficiency index: sup { e in [0, 1] : GARP_e }.

    GARP_e is monotone (holds on [0, e*) or [0, e*]) and, as a function of e,
    piecewise constant between consecutive candidates
    c in {p_t.x_s / p_t.x_t} ∪ {1} (restricted to (0, 1]).  We check GARP_e at
    every candidate AND at the midpoint of every open interval between
    consecutive candidates (the exact replacement of an "epsilon-below"
    probe); the sup is the largest candidate c such that GARP holds at c or
    on the open interval just below c.  GARP_0 always holds (prices/bundles
    positive), so the result is >= the smallest candidate."""
    E = expenditure_matrix(p, x)
    rho = E / np.diag(E)[:, None]
    cands = np.unique(np.concatenate([rho[(rho > 0) & (rho <= 1)], [1.0]]))
    best = 0.0
    prev = 0.0
    for c in cands:
        mid = 0.5 * (prev + c)
        if garp_e_holds(p, x, c):
            best = c
        elif garp_e_holds(p, x, mid):
            best = c  # sup over the open interval (prev, c), not attained
            break
        else:
            break  # monotone: nothing above can hold either
        prev = c
    return float(best)


def _acyclic_batch(adj: np.ndarray) -> np.ndarray:
    """adj: boolean (B, T, T).  True where the digraph has no directed cycle
    (self-loops count as cycles)."""
    H = transitive_closure(adj)
    return ~np.any(np.diagonal(H, axis1=-2, axis2=-1), axis=-1)


def varian_index_bruteforce(p, x, return_e: bool = False):
    """Varian's efficiency index: sup over e in [0, 1]^T with GARP_e (per-
    observation e_t, R0_e: e_t p_t.x_t >= p_t.x_s; violated iff t R_e s and
    e_s p_s.x_s > p_s.x_t) of mean(e).  Exact search for T <= 6.

    GARP_e depends on e_t only through which rho[t, s] = p_t.x_s/p_t.x_t are
    <= e_t and which are < e_t, and it is monotone (downward closed) in e.
    On the open interval just below a candidate c_t from
    C_t = {rho[t, s] : s != t, 0 < rho[t, s] <= 1} ∪ {1}, weak and strict
    relations coincide ({s : rho[t, s] < c_t}), so GARP_e there holds iff the
    digraph with edges t -> s for rho[t, s] < c_t is acyclic; the value mean(c)
    is then the sup over that cell (the cell-closure point has the same
    mean).  Hence the index = max over c in prod_t C_t of mean(c) subject to
    that acyclicity.  The sup may not be attained (e.g. the optimum needs
    e_t -> rho[t, s] from below).  With return_e=True returns (index, c)
    where c is a maximising candidate vector (GARP_e holds for e just below
    c, e.g. e = c * (1 - 1e-9))."""
    E = expenditure_matrix(p, x)
    T = E.shape[0]
    if T > 6:
        raise ValueError("varian_index_bruteforce: T <= 6 only")
    rho = E / np.diag(E)[:, None]
    cand = []
    for t in range(T):
        r = np.delete(rho[t], t)
        cand.append(np.unique(np.concatenate([r[(r > 0) & (r <= 1)], [1.0]])))
    grid = np.array(list(itertools.product(*cand)))  # (B, T)
    adj = rho[None, :, :] < grid[:, :, None]
    idx = np.arange(T)
    adj[:, idx, idx] = False  # rho[t, t] = 1 < c_t never; be explicit
    ok = _acyclic_batch(adj)
    means = np.where(ok, grid.mean(axis=1), -np.inf)
    k = int(np.argmax(means))
    if return_e:
        return float(means[k]), grid[k].copy()
    return float(means[k])


def houtman_maks_bruteforce(p, x) -> int:
    """Houtman-Maks index: the largest number of observations whose sub-
    dataset satisfies GARP (enumerating all 2^T subsets, T <= 12)."""
    E = expenditure_matrix(p, x)
    T = E.shape[0]
    if T > 12:
        raise ValueError("houtman_maks_bruteforce: T <= 12 only")
    own = np.diag(E)
    R0 = own[:, None] >= E
    P = own[:, None] > E
    masks = ((np.arange(2 ** T)[:, None] >> np.arange(T)[None, :]) & 1).astype(bool)
    keep = masks[:, :, None] & masks[:, None, :]
    ok = _garp_from_matrices(R0[None] & keep, P[None] & keep)
    return int(np.max(masks[ok].sum(axis=1)))
