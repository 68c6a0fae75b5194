"""Adapters for peer revealed-preference libraries (prefgraph, revpref).

Classic consumer data: prices p and bundles x of shape (B, T, K) (B data sets
of T observations of K goods; (T, K) is accepted as B = 1), all entries > 0.

- ``prefgraph_ccei(p, x)``: prefgraph 0.6.2's batch ``Engine`` (Rust back-end
  ``prefgraph._rust_core.analyze_batch``, Rayon-parallel over data sets),
  metrics ("garp", "ccei"); GARP is computed jointly (always, it gates CCEI)
  and returned with ``return_garp=True``.  ``raw=True`` calls the Rust
  ``analyze_batch`` directly, skipping the Engine's per-data-set Python input
  validation and result dataclasses (same numbers).  The Rust CCEI is a
  binary search over the T^2 critical ratios p_t.x_s / p_t.x_t (exact, no
  bisection tolerance); GARP comparisons use the Engine tolerance 1e-10.
- ``revpref_ccei(p, x)``: revpref 1.0.5 ``RevealedPreference(p, x).ccei()``,
  one data set at a time.  Default method "warshall" (exact: a max-min
  bottleneck Floyd-Warshall in pure-Python loops, O(T^3)); method="bisection"
  is a bisection on e in [0, 1] stopped when the bracket is < tol
  (RevealedPreference.ccei's default tol = 1e-7; it returns the lower end).
- ``prefgraph_recover(p, x)``: prefgraph's Afriat utility recovery
  ``recover_utility(BehaviorLog(...))`` on ONE data set (T, K): an LP
  (scipy linprog / HiGHS) for U_k <= U_l + lam_l p_l.(x_k - x_l),
  U >= 0, lam >= 1e-6, min sum(lam).  Returns (success, U, lam) (U, lam are
  None on failure).  It does not check GARP first.
- ``prefgraph_utility_success(p, x)``: the same question through the Rust
  batch Engine (metrics ("garp", "utility")): per-data-set utility_success.

Import side effects: ``import prefgraph`` emits 17 DeprecationWarnings (moved
submodules; hidden by Python's default warning filters); ``import revpref``
monkey-patches ``networkx.simple_cycles`` globally and imports matplotlib,
networkx and pulp.
"""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from prefgraph import BehaviorLog, Engine, recover_utility
    from prefgraph._rust_backend import HAS_RUST
    from prefgraph._rust_core import analyze_batch as _rust_analyze_batch
    from revpref import RevealedPreference

__all__ = [
    "prefgraph_ccei",
    "revpref_ccei",
    "prefgraph_recover",
    "prefgraph_utility_success",
    "PREFGRAPH_BACKEND",
]

PREFGRAPH_BACKEND = "rust" if HAS_RUST else "python"
_TOL = 1e-10  # prefgraph Engine default tolerance
_ENGINE_CCEI = Engine(metrics=["garp", "ccei"], tolerance=_TOL)
_ENGINE_UTIL = Engine(metrics=["garp", "utility"], tolerance=_TOL)


def _as_batch(p, x):
    p = np.asarray(p, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if p.shape != x.shape:
        raise ValueError(f"p and x must have the same shape, got {p.shape} and {x.shape}")
    if p.ndim == 2:
        p, x = p[None], x[None]
    if p.ndim != 3:
        raise ValueError(f"p and x must have shape (B, T, K) or (T, K), got {p.shape}")
    return p, x


def _users(p, x):
    return [(np.ascontiguousarray(p[b]), np.ascontiguousarray(x[b])) for b in range(p.shape[0])]


def prefgraph_ccei(p, x, return_garp: bool = False, raw: bool = False):
    """Afriat CCEI of each data set with prefgraph's batch Engine (Rust).

    Returns ccei (B,), or (ccei (B,), garp (B,) bool) with return_garp=True."""
    p, x = _as_batch(p, x)
    if raw:
        res = _rust_analyze_batch([np.ascontiguousarray(a) for a in p],
                                  [np.ascontiguousarray(a) for a in x],
                                  True, False, False, False, False, False, False, False, _TOL)
        ccei = np.array([r["ccei"] for r in res], dtype=np.float64)
        garp = np.array([r["is_garp"] for r in res], dtype=bool)
    else:
        res = _ENGINE_CCEI.analyze_arrays(_users(p, x))
        ccei = np.array([r.ccei for r in res], dtype=np.float64)
        garp = np.array([r.is_garp for r in res], dtype=bool)
    return (ccei, garp) if return_garp else ccei


def revpref_ccei(p, x, method: str = "warshall", tol: float = 1e-7) -> np.ndarray:
    """Afriat CCEI of each data set with revpref (one RevealedPreference per
    data set).  method: "warshall" (default, exact) or "bisection" (tol)."""
    p, x = _as_batch(p, x)
    out = np.empty(p.shape[0])
    for b in range(p.shape[0]):
        rp = RevealedPreference(p[b], x[b])
        out[b] = rp.ccei() if method == "warshall" else rp.ccei(method=method, tol=tol)
    return out


def prefgraph_recover(p, x):
    """Afriat utility numbers U and multipliers lam for ONE data set (T, K)
    via prefgraph.recover_utility.  Returns (success: bool, U (T,) | None,
    lam (T,) | None)."""
    p = np.asarray(p, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if p.ndim != 2 or p.shape != x.shape:
        raise ValueError(f"p and x must both have shape (T, K), got {p.shape}, {x.shape}")
    res = recover_utility(BehaviorLog(cost_vectors=p, action_vectors=x))
    u = None if res.utility_values is None else np.asarray(res.utility_values, dtype=np.float64)
    lam = None if res.lagrange_multipliers is None else np.asarray(res.lagrange_multipliers,
                                                                      dtype=np.float64)
    return bool(res.success), u, lam


def prefgraph_utility_success(p, x) -> np.ndarray:
    """utility_success (B,) bool from prefgraph's batch Engine (Rust LP)."""
    p, x = _as_batch(p, x)
    res = _ENGINE_UTIL.analyze_arrays(_users(p, x))
    return np.array([bool(r.utility_success) for r in res], dtype=bool)
