"""Self-check of the reference implementations against each other.

Run from the repository root:  python tests/reference/check_references.py
(or python -m tests.reference.check_references).  Prints figures and exits
non-zero if a check fails.  Takes ~20-40 s on 2 cores.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.reference.consumer import (  # noqa: E402
    ccei_bruteforce,
    garp_bruteforce,
    garp_e_holds,
    houtman_maks_bruteforce,
    varian_index_bruteforce,
)
from tests.reference.pareto_gap_lp import (  # noqa: E402
    min_slack_lp,
    pareto_gap_cycles,
    pareto_gap_cycles_agent,
    pareto_gap_lp,
    pareto_gap_threshold_graph,
)
from tests.reference.river import (  # noqa: E402
    E_DEFAULT,
    THETA_DEFAULT,
    constraint_matrix,
    is_generalized_nash,
    river_equilibrium_best_response,
    river_equilibrium_enumeration,
    river_equilibrium_slsqp,
    river_profit_classic,
    river_profit_printed,
)

FAIL = []


def check(cond, msg):
    if not cond:
        FAIL.append(msg)
        print("FAIL:", msg)


# ---------------------------------------------------------------- generators
def linear_budget_values(rng, M, T, K, offbudget=False):
    """values[i,t,s] = p_t.x_s / I_t - 1, I_t = p_t.x_t (on budget) or
    I_t = p_t.x_t * U(1, 1.3) (off budget -> values[i,t,t] < 0)."""
    v = np.empty((M, T, T))
    data = []
    for i in range(M):
        p = rng.uniform(0.2, 2.0, (T, K))
        x = rng.uniform(0.2, 2.0, (T, K))
        E = p @ x.T
        inc = np.diag(E) * (rng.uniform(1.0, 1.3, T) if offbudget else 1.0)
        v[i] = E / inc[:, None] - 1.0
        data.append((p, x))
    return v, data


def concave_utility_values(rng, M, T, K):
    """Each agent maximises a concave utility on p_t.x <= 1: Cobb-Douglas
    (x_k = a_k / p_k) or CES with rho in (-3, 0.9) (closed form).  L must be 0."""
    v = np.empty((M, T, T))
    data = []
    for i in range(M):
        a = rng.dirichlet(np.ones(K))
        p = rng.uniform(0.2, 2.0, (T, K))
        if rng.random() < 0.5:
            x = a / p
        else:
            r = rng.uniform(-3.0, 0.9)
            sig = 1.0 / (1.0 - r)
            w = a ** sig * p ** (-sig)          # x_k proportional to (a_k/p_k)^sigma
            x = w / np.sum(p * w, axis=1, keepdims=True)
        E = p @ x.T
        v[i] = E - 1.0  # income 1
        data.append((p, x))
    return v, data


def integer_values(rng, M, T):
    """Small integers: many ties, constant-weight cycles (attained infima)."""
    return rng.integers(-2, 3, (M, T, T)).astype(float)


# ---------------------------------------------------------------- gap checks
def check_gap():
    rng = np.random.default_rng(20240601)
    kinds = ["normal", "normal_scaled", "linear_budget", "concave_utility", "off_budget", "integer"]
    n_per = 60
    stats = {}
    t_max = 0.0
    t_sum = 0.0
    n_tot = 0
    for kind in kinds:
        worst_abs = 0.0
        worst_rel = 0.0
        max_gap = 0.0
        for _ in range(n_per):
            M = int(rng.integers(1, 4))
            T = int(rng.integers(1, 7))
            K = int(rng.integers(2, 5))
            if kind == "normal":
                v = rng.normal(size=(M, T, T))
            elif kind == "normal_scaled":
                v = rng.normal(size=(M, T, T)) * 10.0 ** rng.uniform(-3, 3)
            elif kind == "linear_budget":
                v, _ = linear_budget_values(rng, M, T, K)
            elif kind == "concave_utility":
                v, _ = concave_utility_values(rng, M, T, K)
            elif kind == "off_budget":
                v, _ = linear_budget_values(rng, M, T, K, offbudget=True)
            else:
                v = integer_values(rng, M, T)
            t0 = time.perf_counter()
            a = pareto_gap_lp(v)
            dt = time.perf_counter() - t0
            t_max = max(t_max, dt)
            t_sum += dt
            n_tot += 1
            b = pareto_gap_cycles(v)
            scale = max(1.0, float(np.max(np.abs(v))))
            worst_abs = max(worst_abs, abs(a - b))
            worst_rel = max(worst_rel, abs(a - b) / scale)
            max_gap = max(max_gap, b)
            check(abs(a - b) <= 1e-9 * scale, f"gap {kind}: lp {a!r} vs cycles {b!r}")
            if kind == "concave_utility":
                check(b <= 1e-12, f"concave-utility data has gap {b}")
        stats[kind] = (worst_abs, worst_rel, max_gap)
    print(f"Pareto gap: LP bisection vs cycle brute force on {n_tot} instances "
          f"(M in 1..3, T in 1..6); LP time mean {t_sum / n_tot * 1e3:.1f} ms, max {t_max * 1e3:.1f} ms")
    for kind, (wa, wr, mg) in stats.items():
        print(f"  {kind:16s} max |lp - cycles| = {wa:.2e} (scaled {wr:.2e}); largest gap seen {mg:.4g}")

    # cycles vs the threshold-graph formula (same quantity, no enumeration)
    w = 0.0
    for _ in range(200):
        M, T = int(rng.integers(1, 4)), int(rng.integers(1, 7))
        v = integer_values(rng, M, T) if rng.random() < 0.3 else rng.normal(size=(M, T, T))
        w = max(w, abs(pareto_gap_cycles(v) - pareto_gap_threshold_graph(v)))
    print(f"  cycles vs threshold-graph formula, 200 instances: max diff {w:.1e}")
    check(w == 0.0, "cycles vs threshold graph")
    # larger T: LP vs threshold-graph formula
    w = 0.0
    t_big = 0.0
    for _ in range(30):
        M, T = int(rng.integers(1, 4)), int(rng.integers(7, 11))
        u = rng.random()
        if u < 0.33:
            v = rng.normal(size=(M, T, T))
        elif u < 0.66:
            v, _ = linear_budget_values(rng, M, T, 3)
        else:
            v, _ = linear_budget_values(rng, M, T, 3, offbudget=True)
        t0 = time.perf_counter()
        a = pareto_gap_lp(v)
        t_big = max(t_big, time.perf_counter() - t0)
        w = max(w, abs(a - pareto_gap_threshold_graph(v)) / max(1.0, np.max(np.abs(v))))
    print(f"  T in 7..10, 30 instances: max scaled |LP - threshold formula| = {w:.1e}; max LP time {t_big * 1e3:.0f} ms")
    check(w <= 1e-9, "LP vs threshold graph at T 7..10")

    # Non-attainment: at r = L the system is infeasible unless the critical
    # cycle has constant weights.  Example: 2-cycle with weights 0 and 0.1.
    v = np.array([[0.0, 0.0], [-0.1, 0.0]])
    L = pareto_gap_cycles(v)
    s_at = min_slack_lp(v, 0.0)
    s_above = min_slack_lp(v, 1e-6)
    print(f"  non-attainment example v={v.tolist()}: L = {L}, slack at r=0: {s_at:.3g}, at r=1e-6: {s_above:.3g}")
    check(L == 0.0 and s_at > 1e-3 and s_above == 0.0, "non-attainment example")

    # slack lower bound sigma*(r) >= L - r below L, and jump at L
    rng2 = np.random.default_rng(7)
    worst = np.inf
    for _ in range(30):
        v = rng2.normal(size=(5, 5))
        L = pareto_gap_cycles_agent(v)
        for d in (1e-3, 1e-1):
            if L - d >= 0:
                worst = min(worst, min_slack_lp(v, L - d) - d)
    print(f"  min over tests of sigma*(L-d) - d (must be >= 0): {worst:.3g}")
    check(worst >= -1e-9, "slack lower bound")


# ---------------------------------------------------------------- consumer checks
def _ccei_by_bisection(p, x, iters=60):
    lo, hi = 0.0, 1.0
    if garp_e_holds(p, x, 1.0):
        return 1.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if garp_e_holds(p, x, mid):
            lo = mid
        else:
            hi = mid
    return lo


def check_consumer():
    rng = np.random.default_rng(99)
    worst_ccei_gap = 0.0
    worst_ccei_bis = 0.0
    n = 0
    n_viol = 0
    n_boundary = 0
    t_v = 0.0
    t_h = 0.0
    for _ in range(150):
        T = int(rng.integers(2, 6))
        K = int(rng.integers(2, 4))
        if rng.random() < 0.3:
            # integer prices/bundles: ties
            p = rng.integers(1, 4, (T, K)).astype(float)
            x = rng.integers(1, 4, (T, K)).astype(float)
        else:
            p = rng.uniform(0.2, 2.0, (T, K))
            x = rng.uniform(0.2, 2.0, (T, K))
        E = p @ x.T
        v = E / np.diag(E)[:, None] - 1.0
        L = pareto_gap_cycles(v)
        ccei = ccei_bruteforce(p, x)
        garp = garp_bruteforce(p, x)
        t0 = time.perf_counter(); vi, c = varian_index_bruteforce(p, x, return_e=True); t_v = max(t_v, time.perf_counter() - t0)
        t0 = time.perf_counter(); hm = houtman_maks_bruteforce(p, x); t_h = max(t_h, time.perf_counter() - t0)
        n += 1
        n_viol += (not garp)
        n_boundary += (not garp) and L == 0.0
        worst_ccei_gap = max(worst_ccei_gap, abs(ccei - (1.0 - L)))
        worst_ccei_bis = max(worst_ccei_bis, abs(ccei - _ccei_by_bisection(p, x)))
        check(abs(ccei - (1.0 - L)) <= 1e-12, f"CCEI {ccei} != 1 - gap {1 - L}")
        if garp:
            check(L == 0.0 and ccei == 1.0 and vi == 1.0 and hm == T, "GARP data not perfect")
        else:
            check(hm < T, "HM = T but GARP violated")
        if L > 0:
            check(not garp, "gap > 0 but GARP holds")
        check(vi >= ccei - 1e-12 and vi <= 1.0, f"Varian {vi} < CCEI {ccei}")
        check(garp_e_holds(p, x, c * (1 - 1e-9)), "Varian maximiser (just below) violates GARP_e")
        # random feasible e never beats the Varian index
        for _ in range(20):
            e = rng.uniform(ccei, 1.0, T) if ccei < 1 else np.ones(T)
            if garp_e_holds(p, x, e):
                check(e.mean() <= vi + 1e-12, "random feasible e beats Varian index")
    print(f"Consumer: {n} datasets ({n_viol} violate GARP): max |CCEI - (1 - Pareto gap)| = {worst_ccei_gap:.2e}; "
          f"max |CCEI brute - CCEI bisection(60 it)| = {worst_ccei_bis:.2e}; "
          f"max time Varian(T<=5) {t_v * 1e3:.1f} ms, HM {t_h * 1e3:.1f} ms")
    print(f"  datasets violating GARP yet with Pareto gap L = 0 (infimum not attained, CCEI = 1): {n_boundary}")
    # concave-utility (rational) data
    ok = True
    for _ in range(50):
        _, data = concave_utility_values(rng, 1, int(rng.integers(2, 6)), 3)
        p, x = data[0]
        ok &= garp_bruteforce(p, x) and ccei_bruteforce(p, x) == 1.0 and houtman_maks_bruteforce(p, x) == len(p)
    check(ok, "utility-maximiser data fails GARP")
    print(f"  utility-maximiser data: GARP/CCEI=1/HM=T on 50 datasets: {ok}")
    p = rng.uniform(0.2, 2, (10, 3)); x = rng.uniform(0.2, 2, (10, 3))
    t0 = time.perf_counter(); hm = houtman_maks_bruteforce(p, x)
    print(f"  HM at T=10 random data: {hm} ({(time.perf_counter() - t0) * 1e3:.0f} ms)")


# ---------------------------------------------------------------- river checks
def check_river():
    x, mu = river_equilibrium_enumeration(THETA_DEFAULT, E_DEFAULT)
    xs, mus = river_equilibrium_slsqp(THETA_DEFAULT, E_DEFAULT, return_multipliers=True)
    xb, mub = river_equilibrium_best_response(THETA_DEFAULT, E_DEFAULT)
    A = constraint_matrix(E_DEFAULT)
    np.set_printoptions(precision=10)
    print("River (classic form) at defaults theta =", THETA_DEFAULT.tolist(), "e =", E_DEFAULT.tolist())
    print("  enumeration   x =", x, " mu =", mu)
    print("  SLSQP(potent) x =", xs, " mu =", mus)
    print("  best-response x =", xb, " mu =", mub)
    print("  A x =", A @ x, " profits =", river_profit_classic(THETA_DEFAULT, x))
    check(np.allclose(x, [21.14, 16.03, 2.726], atol=0.01), "default equilibrium differs from published")
    check(np.max(np.abs(x - xs)) < 1e-6 and np.max(np.abs(x - xb)) < 1e-8, "river methods disagree at defaults")
    check(is_generalized_nash(THETA_DEFAULT, E_DEFAULT, x, 1e-8), "default eq. is not a GNE")
    check(not is_generalized_nash(THETA_DEFAULT, E_DEFAULT, x * np.array([1, 0.99, 1]), 1e-8),
          "perturbed point accepted as GNE")

    rng = np.random.default_rng(5)
    worst = np.zeros(4)
    n = 0
    t_e = t_s = t_b = 0.0
    for _ in range(60):
        th = np.r_[rng.uniform(0.001, 0.05), rng.uniform(0, 0.5, 3), rng.uniform(0.002, 0.1, 3)]
        e = rng.uniform(0.05, 1.0, 3)
        t0 = time.perf_counter(); x, mu = river_equilibrium_enumeration(th, e); t_e = max(t_e, time.perf_counter() - t0)
        t0 = time.perf_counter(); xs, mus = river_equilibrium_slsqp(th, e, return_multipliers=True); t_s = max(t_s, time.perf_counter() - t0)
        t0 = time.perf_counter(); xb, mub = river_equilibrium_best_response(th, e); t_b = max(t_b, time.perf_counter() - t0)
        sc = max(1.0, np.max(np.abs(x)))
        worst = np.maximum(worst, [np.max(np.abs(x - xs)) / sc, np.max(np.abs(x - xb)) / sc,
                                   np.max(np.abs(mu - mus)), np.max(np.abs(mu - mub))])
        check(is_generalized_nash(th, e, x, 1e-8), f"enumeration eq. not a GNE at {th}, {e}")
        n += 1
    print(f"  {n} random (theta, e): max rel |x_enum - x_slsqp| = {worst[0]:.1e}, |x_enum - x_br| = {worst[1]:.1e}; "
          f"max |mu_enum - mu_slsqp| = {worst[2]:.1e}, |mu_enum - mu_br| = {worst[3]:.1e}; "
          f"max times enum {t_e * 1e3:.0f} ms, slsqp {t_s * 1e3:.0f} ms, br {t_b * 1e3:.0f} ms")
    check(worst[0] < 1e-6 and worst[1] < 1e-9, "river random instances disagree")

    # concavity of the printed profit in own action (second differences)
    x0 = np.array([5.0, 3.0, 2.0])
    h = 1e-3
    d2 = []
    for i in range(3):
        ep = np.zeros(3); ep[i] = h
        f = lambda y: river_profit_printed(THETA_DEFAULT, y)[i]
        d2.append((f(x0 + ep) - 2 * f(x0) + f(x0 - ep)) / h ** 2)
    dtheta = THETA_DEFAULT
    analytic = dtheta[0] / (4 * x0.sum() ** 1.5) + dtheta[1:4] / (4 * x0 ** 1.5)
    print("  printed profit d^2 f_i/dx_i^2 at x=(5,3,2): numeric", np.array(d2), "analytic", analytic,
          "(> 0: convex in own action)")
    check(np.allclose(d2, analytic, rtol=1e-4) and np.all(np.array(d2) > 0), "printed-profit curvature")


def main():
    t0 = time.perf_counter()
    check_gap()
    check_consumer()
    check_river()
    print(f"total {time.perf_counter() - t0:.1f} s; {'ALL OK' if not FAIL else f'{len(FAIL)} FAILURES'}")
    return 1 if FAIL else 0


if __name__ == "__main__":
    sys.exit(main())
