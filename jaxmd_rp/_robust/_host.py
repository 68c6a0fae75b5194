"""Every SciPy (host) code path of the robust gap: the MILP master (18), the exchange method with
that master, and the exact robust gap. SciPy is imported lazily (an optional extra)."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._solution import RESULTS
from ._orders import _masked_value, upper_mask
from ._results import ExchangeSolution, RobustGap
from ._search import _golden, _SearchConfig
from ._separation import _edges_linear, _nominal_linear, _separate


def _require_scipy():
    try:
        import scipy.optimize as so  # noqa: F401
        import scipy.sparse as ss  # noqa: F401
    except ImportError as e:  # pragma: no cover - exercised only without scipy
        raise ImportError(
            "The exact MILP master needs SciPy (>= 1.9, with HiGHS): `pip install scipy` or "
            "`pip install jaxmd_rp[milp]`. Without it use master='closure' (one sample or "
            "identical samples) or the JAX bounds of `robust_pareto_gap`."
        ) from e
    return so, ss


def _not_traced(*xs):
    for x in xs:
        try:
            np.asarray(x)
        except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
            raise ValueError(
                "The MILP path (master='milp' / exact=True) runs SciPy on the host: call it "
                "outside jit/vmap (loop over instances in Python)."
            ) from None


def milp_master(cuts, eps, hi, N, M, T, *, mip_rel_gap=1e-10):
    """Solve the master (18) exactly as a MILP over orders (SciPy/HiGHS).

    `cuts[k]` is a list of (b, d) for sample k: b (M, T, T) = -g_t^i(gamma_{s,kj}^i) of the cut
    data set, d its transport distance. Variables: kappa in [0, hi], v_k >= 0, binaries
    x^i_{st} (s < t) = "s above t", with the transitivity rows 0 <= x_st + x_tr - x_sr <= 1 and the
    cut rows v_k + d kappa >= b[i, s, t] * [s at or above t] (big-M = b, valid since v, kappa d >= 0).
    Returns (dual bound, kappa, v (N,), orders (M, T) top first).
    """
    so, ss = _require_scipy()
    pairs = [(s, t) for s in range(T) for t in range(s + 1, T)]
    pid = {p: j for j, p in enumerate(pairs)}
    P = len(pairs)
    nx = M * P
    nvar = 1 + N + nx
    rows, cols, vals, lo, up = [], [], [], [], []
    r = 0

    def xcol(i, s, t):
        return 1 + N + i * P + pid[(s, t)]

    for k in range(N):
        pieces = {}
        for b, d in cuts[k]:
            b = np.asarray(b)
            for i in range(M):
                for s in range(T):
                    for t in range(T):
                        c = float(b[i, s, t])
                        if c <= 0.0:
                            continue
                        key = (i, s, t, c)
                        pieces[key] = min(pieces.get(key, np.inf), float(d))
        for (i, s, t, c), d in pieces.items():
            # v_k + d kappa - c y_st >= 0
            rows += [r, r]
            cols += [1 + k, 0]
            vals += [1.0, d]
            if s == t:
                lo.append(c)
            elif s < t:
                rows.append(r)
                cols.append(xcol(i, s, t))
                vals.append(-c)
                lo.append(0.0)
            else:  # y_st = 1 - x_ts
                rows.append(r)
                cols.append(xcol(i, t, s))
                vals.append(c)
                lo.append(c)
            up.append(np.inf)
            r += 1
    for i in range(M):
        for s in range(T):
            for t in range(s + 1, T):
                for q in range(t + 1, T):
                    rows += [r, r, r]
                    cols += [xcol(i, s, t), xcol(i, t, q), xcol(i, s, q)]
                    vals += [1.0, 1.0, -1.0]
                    lo.append(0.0)
                    up.append(1.0)
                    r += 1
    c = np.zeros(nvar)
    c[0] = float(eps)
    c[1:1 + N] = 1.0 / N
    integrality = np.zeros(nvar)
    integrality[1 + N:] = 1
    lb = np.zeros(nvar)
    ub = np.concatenate([[float(hi)], np.full(N, np.inf), np.ones(nx)])
    cons = []
    if r:
        A = ss.csr_matrix((vals, (rows, cols)), shape=(r, nvar))
        cons = [so.LinearConstraint(A, np.asarray(lo), np.asarray(up))]
    with warnings.catch_warnings():  # HiGHS tolerances are passed to HiGHS verbatim (a warning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = so.milp(c, integrality=integrality, bounds=so.Bounds(lb, ub), constraints=cons,
                      options={"mip_rel_gap": mip_rel_gap, "presolve": True,
                               "primal_feasibility_tolerance": 1e-10,
                               "mip_feasibility_tolerance": 1e-10})
    if res.x is None:  # pragma: no cover - the master is always feasible
        raise RuntimeError(f"MILP master failed: {res.message}")
    z = res.x
    bound = getattr(res, "mip_dual_bound", None)
    if bound is None or not np.isfinite(bound):
        bound = res.fun
    orders = np.zeros((M, T), int)
    for i in range(M):
        wins = np.zeros(T)
        for (s, t) in pairs:
            above = z[xcol(i, s, t)] > 0.5
            wins[s if above else t] += 1
        orders[i] = np.argsort(-wins, kind="stable")
    return float(min(bound, res.fun)), float(z[0]), np.maximum(z[1:1 + N], 0.0), orders


_separate_batch = jax.jit(
    jax.vmap(_separate, in_axes=(None, 0, None, None, 0, None)), static_argnums=(5,)
)


@eqx.filter_jit
def _certificate_value(prices, samples, eps, U, hi, kappa0, support, golden):
    """sup_Q E_Q h_U = min_kappa eps kappa + mean_k sup_Phi [h_U - kappa d] (convex in kappa)."""
    G = jax.vmap(lambda k: eps * k + _masked_value(_edges_linear(prices, samples, k, support)[0], U))
    return _golden(G, hi, golden, kappa0)


def _exchange_milp(prices, samples, eps, delta, relative_tol, H, support, cfg, throw):
    _not_traced(prices, samples, eps)
    _require_scipy()
    P = np.asarray(prices)
    X = np.asarray(samples)
    e = float(eps)
    N, M, T, _ = X.shape
    W = np.asarray(_nominal_linear(prices, samples))  # (N, M, T, T)
    kmax = float(np.max(np.linalg.norm(P, axis=-1)))
    hi = min(kmax, 1.0 / e) if e > 0 else kmax
    U = np.ones((M, T, T), bool)
    orders = np.tile(np.arange(T), (M, 1))
    kappa, v, lb = 0.0, np.zeros(N), 0.0
    cuts = [[] for _ in range(N)]
    hist_cv, hist_lb, hist_ub = [], [], []
    done = False
    ub = np.inf
    for n in range(H):
        sep = _separate_batch(prices, samples, jnp.asarray(U), jnp.asarray(kappa, prices.dtype),
                              jnp.asarray(v, prices.dtype), support)
        cv = np.asarray(sep.cv)
        ub = e * kappa + float(np.mean(v + np.maximum(cv, 0.0)))
        hist_cv.append(float(cv.max()))
        hist_lb.append(lb)
        hist_ub.append(ub)
        tol = delta if relative_tol is None else min(delta, relative_tol * ub)
        if cv.max() <= tol:
            done = True
            break
        if n + 1 >= H:
            break
        ag, bl = np.asarray(sep.agent), np.asarray(sep.block)
        pts, dist = np.asarray(sep.point), np.asarray(sep.distance)
        fresh = False
        for k in range(N):
            if cv[k] > 0:
                b = W[k].copy()
                b[ag[k], bl[k], :] = 1.0 - P[ag[k]] @ pts[k]
                d = float(dist[k])
                dup = any(dd == d and np.array_equal(bb, b) for bb, dd in cuts[k])
                if not dup:
                    cuts[k].append((b, d))
                    fresh = True
        if not fresh:  # stalled at the MILP solver's feasibility tolerance (~1e-7)
            break
        lb_new, kappa, v, orders = milp_master(cuts, e, hi, N, M, T)
        lb = max(lb_new, 0.0)
        U = np.asarray(upper_mask(jnp.asarray(orders)))
    # the DRO value of the certificate (min over kappa; convex for fixed orders)
    Uj = jnp.asarray(U)
    val, _ = _certificate_value(prices, samples, eps, Uj, jnp.asarray(hi, prices.dtype),
                                jnp.asarray(kappa, prices.dtype), support, cfg.golden)
    value = min(float(val), ub)
    pad = lambda h: jnp.asarray(np.concatenate([h, np.full(H - len(h), np.nan)]), prices.dtype)  # noqa: E731
    result = RESULTS.successful if done else RESULTS.exchange_max_iterations
    sol = ExchangeSolution(
        value=jnp.asarray(value, prices.dtype), lower=jnp.asarray(min(lb, value), prices.dtype),
        upper=jnp.asarray(ub, prices.dtype), kappa=jnp.asarray(kappa, prices.dtype),
        orders=jnp.asarray(orders), iterations=jnp.asarray(len(hist_cv)), max_cv=pad(hist_cv),
        history_lower=pad(hist_lb), history_upper=pad(hist_ub), result=result)
    if throw and not done:
        raise RuntimeError(RESULTS[RESULTS.exchange_max_iterations])
    return sol


def _robust_exact(prices, samples, eps, support, tol, throw):
    """The exchange method with the exact MILP master, run to `tol` (default 1e-8 absolute; HiGHS
    is run with feasibility tolerances of 1e-10, so much tighter requests can stall)."""
    _not_traced(prices, samples, eps)
    tol_ = 1e-8 if tol is None else float(tol)
    H = 400
    ex = _exchange_milp(prices, samples, eps, tol_, None, H, support, _SearchConfig(), False)
    result = RESULTS.successful if ex.result == RESULTS.successful else RESULTS.robust_gap_inexact
    sol = RobustGap(value=ex.value, lower=ex.lower, upper=ex.value, kappa=ex.kappa,
                    orders=ex.orders, result=result)
    if throw and result != RESULTS.successful:
        raise RuntimeError(RESULTS[RESULTS.robust_gap_inexact] + " (exact=True: the exchange "
                           "method did not reach `tol`; pass a larger `tol`)")
    return sol
