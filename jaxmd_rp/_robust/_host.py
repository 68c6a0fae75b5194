"""Every host (SciPy) code path of the robust gap: the MILP master (18) (`milp_master`),
Algorithm 2 with that master (`exchange_milp`) and the exact robust gap (`robust_exact`). SciPy is
reached through the library's one SciPy module (`_scipy`, imported lazily there); these paths run
outside `jit`/`vmap` and raise through `raise_on_host` with a `RESULTS` code."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._scipy import host_array, solve_milp, sparse_rows
from .._solution import RESULTS, raise_on_host
from ._orders import _masked_value, _upper_mask
from ._results import ExchangeSolution, RobustGap
from ._search import _golden, _SearchConfig
from ._separation import _edges_linear, _nominal_linear, _separate

_FEATURE = "The MILP path (master='milp' / exact=True)"
_INTEGRAL = 1e-6  # a binary of the MILP solution further than this from {0, 1} is not accepted
_FEASIBLE = 1e-7  # cut rows re-checked at the solution, absolute (HiGHS runs at 1e-10)
_HIGHS = {"primal_feasibility_tolerance": 1e-10, "mip_feasibility_tolerance": 1e-10}


def _not_traced(**arrays):
    """A ValueError naming the path when an input is traced (SciPy runs on the host)."""
    for name, x in arrays.items():
        if x is not None:
            host_array(x, name, _FEATURE)


class _Layout:
    """Variables of the master: kappa, v_1..v_N, then binaries x^i_{st} (s < t) = "s above t"."""

    def __init__(self, N, M, T):
        self.N, self.M, self.T = N, M, T
        self.pairs = [(s, t) for s in range(T) for t in range(s + 1, T)]
        self._pid = {p: j for j, p in enumerate(self.pairs)}
        self.nvar = 1 + N + M * len(self.pairs)

    def x(self, i, s, t):
        return 1 + self.N + i * len(self.pairs) + self._pid[(s, t)]


def _cut_pieces(cuts_k, M, T):
    """{(i, s, t, c): smallest d} over the cuts (b, d) of one sample with c = b[i, s, t] > 0."""
    pieces = {}
    for b, d in cuts_k:
        b = np.asarray(b)
        for i, s, t in zip(*np.nonzero(b > 0.0), strict=True):
            key = (int(i), int(s), int(t), float(b[i, s, t]))
            pieces[key] = min(pieces.get(key, np.inf), float(d))
    return pieces


def _master_rows(cuts, lay: _Layout):
    """Sparse rows (rows, cols, vals, lo, up) of the master: cut rows v_k + d kappa - c y_st >= 0
    (y_st = [s at or above t]) and the transitivity rows 0 <= x_st + x_tr - x_sr <= 1."""
    rows, cols, vals, lo, up = [], [], [], [], []
    r = 0
    for k in range(lay.N):
        for (i, s, t, c), d in _cut_pieces(cuts[k], lay.M, lay.T).items():
            rows += [r, r]
            cols += [1 + k, 0]
            vals += [1.0, d]
            if s == t:
                lo.append(c)
            elif s < t:
                rows.append(r)
                cols.append(lay.x(i, s, t))
                vals.append(-c)
                lo.append(0.0)
            else:  # y_st = 1 - x_ts
                rows.append(r)
                cols.append(lay.x(i, t, s))
                vals.append(c)
                lo.append(c)
            up.append(np.inf)
            r += 1
    for i in range(lay.M):
        for s, t in lay.pairs:
            for q in range(t + 1, lay.T):
                rows += [r, r, r]
                cols += [lay.x(i, s, t), lay.x(i, t, q), lay.x(i, s, q)]
                vals += [1.0, 1.0, -1.0]
                lo.append(0.0)
                up.append(1.0)
                r += 1
    return rows, cols, vals, lo, up, r


def _orders_of(z, lay: _Layout):
    """Per-agent orders (top first) from the binaries, and whether the binaries are integral and
    transitive, i.e. exactly the pattern of those orders."""
    orders = np.zeros((lay.M, lay.T), int)
    ok = True
    for i in range(lay.M):
        xs = np.array([z[lay.x(i, s, t)] for s, t in lay.pairs])
        ok &= bool(np.all(np.minimum(np.abs(xs), np.abs(1.0 - xs)) <= _INTEGRAL))
        wins = np.zeros(lay.T)
        for (s, t), above in zip(lay.pairs, xs > 0.5, strict=True):
            wins[s if above else t] += 1
        orders[i] = np.argsort(-wins, kind="stable")
        pos = np.argsort(orders[i])
        ok &= all((pos[s] < pos[t]) == (x > 0.5) for (s, t), x in zip(lay.pairs, xs, strict=True))
    return orders, ok


def _verified(cuts, lay: _Layout, kappa, v, orders):
    """The cut rows hold at (kappa, v, orders): v_k + d kappa >= b[i, s, t] on U(orders)."""
    U = np.asarray(_upper_mask(jnp.asarray(orders)))
    for k in range(lay.N):
        for b, d in cuts[k]:
            need = np.max(np.where(U, np.asarray(b), 0.0))
            if v[k] + d * kappa < need - _FEASIBLE:
                return False
    return True


def milp_master(cuts, eps, hi, N, M, T, *, mip_rel_gap=1e-10, throw=True):
    """Solve the master (18) exactly as a MILP over orders (SciPy/HiGHS).

    **Arguments:**

    - `cuts`: `cuts[k]` is a list of (b, d) for sample k: b (M, T, T) = -g_t^i(gamma_{s,kj}^i) of
      the cut data set, d its transport distance.
    - `eps`: the radius; `hi`: the upper bound on kappa; `N`, `M`, `T`: the sizes.
    - `mip_rel_gap`: HiGHS's relative MIP gap.
    - `throw`: raise `RESULTS.milp_failed` when HiGHS returns no solution or its solution fails
      the check below; with `False` the numbers are then NaN (orders -1).

    Variables: kappa in [0, hi], v_k >= 0, binaries x^i_{st} (s < t) = "s above t", with the
    transitivity rows 0 <= x_st + x_tr - x_sr <= 1 and the cut rows
    v_k + d kappa >= b[i, s, t] * [s at or above t] (big-M = b, valid since v, kappa d >= 0).
    HiGHS runs without presolve and with feasibility tolerances of 1e-10; its solution is
    accepted only if the binaries are integral and transitive and the cut rows hold at the
    orders they encode.

    **Returns:** (dual bound, kappa, v (N,), orders (M, T) top first).
    """
    lay = _Layout(N, M, T)
    rows, cols, vals, lo, up, r = _master_rows(cuts, lay)
    if r == 0:  # no cut with a positive entry and T <= 2: the empty master, kappa = v = 0
        return 0.0, 0.0, np.zeros(N), np.tile(np.arange(T), (M, 1))
    c = np.zeros(lay.nvar)
    c[0] = float(eps)
    c[1:1 + N] = 1.0 / N
    integrality = np.zeros(lay.nvar)
    integrality[1 + N:] = 1
    ub = np.concatenate([[float(hi)], np.full(N, np.inf), np.ones(lay.nvar - 1 - N)])
    A = sparse_rows(zip(rows, cols, vals, strict=True), (r, lay.nvar))
    sol = solve_milp(c, A, np.asarray(lo), np.asarray(up), integrality=integrality,
                     lb=np.zeros(lay.nvar), ub=ub, presolve=False, mip_rel_gap=mip_rel_gap,
                     highs_options=_HIGHS)
    if sol.x is not None:
        kappa, v = float(sol.x[0]), np.maximum(sol.x[1:1 + N], 0.0)
        orders, ok = _orders_of(sol.x, lay)
        if ok and _verified(cuts, lay, kappa, v, orders):
            bound = sol.bound if np.isfinite(sol.bound) else sol.objective
            return float(min(bound, sol.objective)), kappa, v, orders
    raise_on_host(RESULTS.milp_failed, throw, f"(master (18): {sol.message})")
    return np.nan, np.nan, np.full(N, np.nan), np.full((M, T), -1)


_separate_batch = jax.jit(
    jax.vmap(_separate, in_axes=(None, 0, None, None, 0, None)), static_argnums=(5,)
)


@eqx.filter_jit
def _certificate_value(prices, samples, eps, U, hi, kappa0, support, golden):
    """sup_Q E_Q h_U = min_kappa eps kappa + mean_k sup_Phi [h_U - kappa d] (convex in kappa)."""
    G = jax.vmap(lambda k: eps * k + _masked_value(_edges_linear(prices, samples, k, support)[0], U))
    return _golden(G, hi, golden, kappa0)


def _new_cuts(cuts, sep, cv, W, P):
    """Add the separation's maximisers as cuts where CV_k > 0; whether any cut was new."""
    ag, bl = np.asarray(sep.agent), np.asarray(sep.block)
    pts, dist = np.asarray(sep.point), np.asarray(sep.distance)
    fresh = False
    for k in range(len(cuts)):
        if cv[k] > 0:
            b = W[k].copy()
            b[ag[k], bl[k], :] = 1.0 - P[ag[k]] @ pts[k]
            d = float(dist[k])
            if not any(dd == d and np.array_equal(bb, b) for bb, dd in cuts[k]):
                cuts[k].append((b, d))
                fresh = True
    return fresh


def _invalid_exchange(M, T, H, dt, code):
    nan = jnp.asarray(jnp.nan, dt)
    hist = jnp.full(H, jnp.nan, dt)
    return ExchangeSolution(value=nan, lower=nan, upper=nan, kappa=nan,
                            orders=jnp.full((M, T), -1), iterations=jnp.asarray(0),
                            max_cv=hist, history_lower=hist, history_upper=hist, result=code)


def exchange_milp(prices, samples, eps, code, delta, relative_tol, H, support, cfg, throw):
    """Algorithm 2 on the host with the MILP master (any samples; see `exchange_method`)."""
    _not_traced(prices=prices, samples=samples, epsilon=eps, delta=delta,
                relative_tol=relative_tol)
    N, M, T, _ = samples.shape
    dt = prices.dtype
    if code != RESULTS.successful:  # invalid data (throw=True has raised already)
        return _invalid_exchange(M, T, H, dt, code)
    P, e, delta = np.asarray(prices), float(eps), float(delta)
    rel = None if relative_tol is None else float(relative_tol)
    W = np.asarray(_nominal_linear(prices, samples))  # (N, M, T, T)
    kmax = float(np.max(np.linalg.norm(P, axis=-1)))
    hi = min(kmax, 1.0 / e) if e > 0 else kmax
    U, orders = np.ones((M, T, T), bool), np.tile(np.arange(T), (M, 1))
    kappa, v, lb, ub = 0.0, np.zeros(N), 0.0, np.inf
    cuts = [[] for _ in range(N)]
    hist_cv, hist_lb, hist_ub = [], [], []
    result = RESULTS.exchange_max_iterations
    for n in range(H):
        sep = _separate_batch(prices, samples, jnp.asarray(U), jnp.asarray(kappa, dt),
                              jnp.asarray(v, dt), support)
        cv = np.asarray(sep.cv)
        ub = e * kappa + float(np.mean(v + np.maximum(cv, 0.0)))
        hist_cv.append(float(cv.max()))
        hist_lb.append(lb)
        hist_ub.append(ub)
        if cv.max() <= (delta if rel is None else min(delta, rel * ub)):
            result = RESULTS.successful
            break
        # stop at the cap, or when no cut is new (stalled at the MILP's feasibility tolerance)
        if n + 1 >= H or not _new_cuts(cuts, sep, cv, W, P):
            break
        lb_new, kappa_new, v_new, orders_new = milp_master(cuts, e, hi, N, M, T, throw=False)
        if not np.isfinite(lb_new):
            result = RESULTS.milp_failed
            break
        lb, kappa, v, orders = max(lb_new, 0.0), kappa_new, v_new, orders_new
        U = np.asarray(_upper_mask(jnp.asarray(orders)))
    # the DRO value of the certificate (min over kappa; convex for fixed orders)
    val, _ = _certificate_value(prices, samples, eps, jnp.asarray(U), jnp.asarray(hi, dt),
                                jnp.asarray(kappa, dt), support, cfg.golden)
    value = min(float(val), ub)
    pad = lambda h: jnp.asarray(np.concatenate([h, np.full(H - len(h), np.nan)]), dt)  # noqa: E731
    sol = ExchangeSolution(
        value=jnp.asarray(value, dt), lower=jnp.asarray(min(lb, value), dt),
        upper=jnp.asarray(ub, dt), kappa=jnp.asarray(kappa, dt), orders=jnp.asarray(orders),
        iterations=jnp.asarray(len(hist_cv)), max_cv=pad(hist_cv), history_lower=pad(hist_lb),
        history_upper=pad(hist_ub), result=result)
    raise_on_host(result, throw)
    return sol


def robust_exact(prices, samples, eps, code, support, tol, throw):
    """The exact robust gap: the exchange method with the exact MILP master, run to `tol`
    (default 1e-8 absolute; HiGHS runs with feasibility tolerances of 1e-10, so much tighter
    requests can stall: `RESULTS.robust_gap_inexact`)."""
    _not_traced(prices=prices, samples=samples, epsilon=eps, tol=tol)
    tol_ = 1e-8 if tol is None else float(tol)
    ex = exchange_milp(prices, samples, eps, code, tol_, None, 400, support, _SearchConfig(),
                       False)
    result = RESULTS.where(ex.result == RESULTS.exchange_max_iterations,
                           RESULTS.robust_gap_inexact, ex.result)
    sol = RobustGap(value=ex.value, lower=ex.lower, upper=ex.value, kappa=ex.kappa,
                    orders=ex.orders, result=result)
    raise_on_host(result, throw, "(exact=True: the exchange method did not reach `tol`; pass a "
                                 "larger `tol`)" if result == RESULTS.robust_gap_inexact else "")
    return sol
