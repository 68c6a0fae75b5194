"""Verify and time the peer-library adapters (nashopt, prefgraph, revpref).

    cd /work/main && . /work/benchvenv/bin/activate && python benchmarks/peers_check.py [--quick]

Needs the benchmark virtualenv (nashopt 1.3.9, prefgraph 0.6.2, revpref 1.0.5).
Prints, in order:
1. river game (benchmarks/_nashopt_river.py) vs tests.reference.river.river_equilibrium_enumeration:
   max |x - x_ref| / max(1, |x_ref|_inf) of nashopt's LQ solver and of its general GNEP solver on
   the default point, on random theta in [0,1]^7, e in [0.02,1]^3 (where the shared constraints are
   almost never active), on a "constrained" set (d2, c2 in [0, 0.02]: shared constraints active)
   and on edge cases (e_i = 0, d2 = 0); per-call timings (median, after warm-up).
2. CCEI (benchmarks/_peers_rp.py): prefgraph (Rust batch Engine) and revpref vs
   tests.reference.consumer.ccei_bruteforce at T = 5, each other at T = 10 and 50; timings.
3. prefgraph utility recovery on GARP-violating data sets at T = 10: share claiming success.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests.reference.consumer import ccei_bruteforce, garp_bruteforce  # noqa: E402
from tests.reference.river import river_equilibrium_enumeration  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from benchmarks._nashopt_river import LQ_SOLVER, solve_general, solve_lq  # noqa: E402
    from benchmarks._peers_rp import (  # noqa: E402
        PREFGRAPH_BACKEND,
        prefgraph_ccei,
        prefgraph_recover,
        prefgraph_utility_success,
        revpref_ccei,
    )


def med_time(f, n, warm=1):
    for _ in range(warm):
        f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def relerr(x, ref):
    return float(np.max(np.abs(np.asarray(x) - ref)) / max(1.0, np.max(np.abs(ref))))


# --------------------------------------------------------------------------- river / nashopt
def river_cases(rng, n):
    default = [(np.array([0.01, 0.10, 0.12, 0.15, 0.01, 0.05, 0.01]), np.array([0.5, 0.25, 0.75]))]
    rand = [(rng.uniform(0, 1, 7), rng.uniform(0.02, 1, 3)) for _ in range(n)]
    cons = []
    for _ in range(n):
        t = rng.uniform(0, 1, 7)
        t[0] *= 0.02
        t[4:] *= 0.02
        cons.append((t, rng.uniform(0.02, 1, 3)))
    edge = [
        (np.array([0.01, 0.10, 0.12, 0.15, 0.01, 0.05, 0.01]), np.array([0.0, 0.25, 0.75])),
        (np.array([0.01, 0.10, 0.12, 0.15, 0.01, 0.05, 0.01]), np.array([0.0, 0.0, 0.0])),
        (np.array([0.0, 0.10, 0.12, 0.15, 0.01, 0.05, 0.01]), np.array([0.5, 0.25, 0.75])),
        (np.array([0.0, 0.5, 0.2, 0.9, 0.3, 0.6, 0.1]), np.array([1.0, 1.0, 1.0])),
        (np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), np.array([0.02, 0.02, 0.02])),
    ]
    return {"default": default, "random [0,1]^7": rand, "constrained": cons, "edge": edge}


def check_river(n, n_time_lq, n_time_gen):
    print("== river game: nashopt adapters vs river_equilibrium_enumeration ==")
    print(f"   LQ solver: GNEP_LQ(variational=True, solver={LQ_SOLVER!r}); "
          "general: GNEP(variational=True).solve() defaults")
    rng = np.random.default_rng(0)
    sets = river_cases(rng, n)
    x0 = solve_lq(*sets["default"][0])
    xg0 = solve_general(*sets["default"][0])
    print(f"   default point: LQ x = {np.array2string(x0, precision=6)}, "
          f"general x = {np.array2string(xg0, precision=6)}")
    for name, cases in sets.items():
        n_act = 0
        worst = {"LQ": 0.0, "general": 0.0}
        bad = {"LQ": 0, "general": 0}
        fails = {"LQ": 0, "general": 0}
        resmax = 0.0
        for th, e in cases:
            ref, mu = river_equilibrium_enumeration(th, e)
            n_act += bool(np.any(mu > 1e-9))
            for key, fn in (("LQ", solve_lq), ("general", solve_general)):
                try:
                    if key == "general":
                        x, sol = solve_general(th, e, return_solution=True)
                        resmax = max(resmax, float(sol.norm_residual))
                    else:
                        x = fn(th, e)
                except Exception as exc:  # noqa: BLE001
                    fails[key] += 1
                    print(f"   [{name}] {key} failed: {type(exc).__name__}: {str(exc)[:120]}")
                    continue
                err = relerr(x, ref)
                worst[key] = max(worst[key], err)
                bad[key] += err > 1e-6
        print(f"   {name:<15} n={len(cases):>3} (shared constraint active in {n_act:>3}): "
              f"LQ max rel err {worst['LQ']:.1e} (>1e-6: {bad['LQ']}, failed: {fails['LQ']}); "
              f"general max rel err {worst['general']:.1e} (>1e-6: {bad['general']}, "
              f"failed: {fails['general']}; max KKT residual {resmax:.1e})")

    pts = sets["random [0,1]^7"] + sets["constrained"]
    k = [0]

    def nxt():
        k[0] = (k[0] + 1) % len(pts)
        return pts[k[0]]

    t_lq = med_time(lambda: solve_lq(*nxt()), n_time_lq, warm=3)
    t_gen = med_time(lambda: solve_general(*nxt()), n_time_gen, warm=1)
    jit, tot = [], []
    for _ in range(min(3, n_time_gen)):
        _, sol = solve_general(*nxt(), return_solution=True)
        jit.append(sol.stats.jax_jit_time)
        tot.append(sol.stats.elapsed_time)
    print(f"   timing (median, new (theta, e) each call, problem object built per call): "
          f"LQ {1e3 * t_lq:.3f} ms/eq ({n_time_lq} calls); general {1e3 * t_gen:.1f} ms/eq "
          f"({n_time_gen} calls), of which JAX re-compilation inside GNEP.solve "
          f"~{1e3 * np.median(jit):.0f} ms of {1e3 * np.median(tot):.0f} ms")


# --------------------------------------------------------------------------- CCEI
def random_data(rng, B, T, K):
    return rng.uniform(0.5, 2.0, (B, T, K)), rng.uniform(0.1, 1.0, (B, T, K))


def near_rational(rng, T, K, sig=1.0, noise=0.5):
    """Cobb-Douglas demands at log-normal prices, multiplicative log-normal noise."""
    p = np.exp(sig * rng.standard_normal((T, K)))
    a = rng.dirichlet(np.ones(K))
    return p, a[None] / p * np.exp(noise * rng.standard_normal((T, K)))


def check_ccei(n_bf, B_pg, B_rv10, B_rv50):
    print(f"== CCEI: prefgraph (Engine backend {PREFGRAPH_BACKEND!r}) and revpref ==")
    rng = np.random.default_rng(1)
    K = 3
    # T = 5 vs brute force: random data + near-rational data (mixes CCEI = 1 and < 1)
    p1, x1 = random_data(rng, n_bf, 5, K)
    nr = [near_rational(rng, 5, K, noise=0.6) for _ in range(n_bf)]
    p2, x2 = np.stack([a for a, _ in nr]), np.stack([b for _, b in nr])
    # integer-valued data (ties p_t.x_s = p_t.x_t are common)
    p3 = rng.integers(1, 4, (n_bf, 5, K)).astype(float)
    x3 = rng.integers(1, 4, (n_bf, 5, K)).astype(float)
    for name, p, x in (("random", p1, x1), ("near-rational", p2, x2), ("integer (ties)", p3, x3)):
        ref = np.array([ccei_bruteforce(p[b], x[b]) for b in range(len(p))])
        gref = np.array([garp_bruteforce(p[b], x[b]) for b in range(len(p))])
        pg, pg_garp = prefgraph_ccei(p, x, return_garp=True)
        pg_raw = prefgraph_ccei(p, x, raw=True)
        rv = revpref_ccei(p, x)
        rvb = revpref_ccei(p, x, method="bisection", tol=1e-7)
        print(f"   T=5 {name:<15} n={len(p)} (CCEI<1: {int(np.sum(ref < 1))}): max |err| vs brute force: "
              f"prefgraph {np.max(np.abs(pg - ref)):.1e} (raw {np.max(np.abs(pg_raw - ref)):.1e}, "
              f"GARP mismatches {int(np.sum(pg_garp != gref))}), "
              f"revpref warshall {np.max(np.abs(rv - ref)):.1e}, "
              f"revpref bisection(tol 1e-7) {np.max(np.abs(rvb - ref)):.1e}")

    for T, B_rv in ((10, B_rv10), (50, B_rv50)):
        p, x = random_data(rng, B_pg, T, 5)
        ts_e, ts_r = [], []
        for _ in range(3):
            t = time.perf_counter()
            pg, garp = prefgraph_ccei(p, x, return_garp=True)
            ts_e.append(time.perf_counter() - t)
            t = time.perf_counter()
            pg_raw = prefgraph_ccei(p, x, raw=True)
            ts_r.append(time.perf_counter() - t)
        t = time.perf_counter()
        rv = revpref_ccei(p[:B_rv], x[:B_rv])
        t_rv = (time.perf_counter() - t) / B_rv
        print(f"   T={T:<3} K=5: prefgraph vs revpref max |diff| {np.max(np.abs(pg[:B_rv] - rv)):.1e} "
              f"on {B_rv} data sets (CCEI<1 in {int(np.sum(rv < 1))}); Engine vs raw max |diff| "
              f"{np.max(np.abs(pg - pg_raw)):.1e}; GARP holds in {int(garp.sum())}/{B_pg}")
        print(f"          per data set: prefgraph Engine {1e6 * np.median(ts_e) / B_pg:.1f} us, "
              f"raw Rust analyze_batch {1e6 * np.median(ts_r) / B_pg:.1f} us (B={B_pg}, median of 3, "
              f"{os.cpu_count()} CPU cores); revpref {1e3 * t_rv:.3f} ms (B={B_rv})")


def check_recovery(n_viol):
    print("== prefgraph utility recovery (Afriat LP) on GARP-violating data, T = 10, K = 3 ==")
    rng = np.random.default_rng(2)
    for name in ("random", "near-rational"):
        rows = []
        draws = 0
        t_py = t_rs = 0.0
        while len(rows) < n_viol and draws < 200 * n_viol:
            draws += 1
            if name == "random":
                p, x = random_data(rng, 1, 10, 3)
                p, x = p[0], x[0]
            else:
                p, x = near_rational(rng, 10, 3)
            c = ccei_bruteforce(p, x)
            if c >= 1:
                continue
            t = time.perf_counter()
            ok, u, lam = prefgraph_recover(p, x)
            t_py += time.perf_counter() - t
            t = time.perf_counter()
            ok_rs = bool(prefgraph_utility_success(p, x)[0])
            t_rs += time.perf_counter() - t
            ok100 = prefgraph_recover(p, 100.0 * x)[0] if ok else False
            rows.append((1.0 - c, ok, ok_rs, ok100))
        r = np.array(rows, dtype=float)
        n = len(r)
        print(f"   {name:<13}: {n} violating data sets ({draws} drawn), median 1-CCEI "
              f"{np.median(r[:, 0]):.3g}; success claimed by recover_utility: {int(r[:, 1].sum())} "
              f"({100 * r[:, 1].mean():.1f}%), by Rust Engine 'utility': {int(r[:, 2].sum())} "
              f"({100 * r[:, 2].mean():.1f}%); of the recover_utility successes, still 'success' "
              f"after scaling x by 100: {int(r[:, 3].sum())}")
        for lo, hi in ((0, 1e-3), (1e-3, 1e-2), (1e-2, 5e-2), (5e-2, 0.2), (0.2, 1.0)):
            m = (r[:, 0] >= lo) & (r[:, 0] < hi)
            if m.any():
                print(f"      1-CCEI in [{lo:g}, {hi:g}): n={int(m.sum()):>4}, "
                      f"recover_utility success {100 * r[m, 1].mean():.1f}%")
        print(f"      time per data set: recover_utility {1e3 * t_py / n:.2f} ms, "
              f"Rust Engine utility (B=1) {1e3 * t_rs / n:.2f} ms")
    # one witness: Afriat residuals of a claimed success
    p, x = None, None
    for _ in range(20000):
        p, x = near_rational(rng, 10, 3)
        if ccei_bruteforce(p, x) < 1 and prefgraph_recover(p, x)[0]:
            break
    ok, u, lam = prefgraph_recover(p, x)
    if ok:
        E = p @ x.T  # E[l, k] = p_l . x_k
        R = u[None, :] + lam[None, :] * (E.T - np.diag(E)[None, :]) - u[:, None]
        print(f"   witness: GARP-violating data (CCEI {ccei_bruteforce(p, x):.4f}) with success=True: "
              f"lam in [{lam.min():.1e}, {lam.max():.1e}], most violated Afriat inequality "
              f"{R.min():.1e} (< 0; within the LP's 1e-7 feasibility tolerance)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cases / calls")
    ap.add_argument("--skip-river", action="store_true")
    ap.add_argument("--skip-rp", action="store_true")
    a = ap.parse_args()
    import jax
    print(f"jax {jax.__version__} ({jax.default_backend()}), x64={jax.config.jax_enable_x64}, "
          f"{os.cpu_count()} CPU cores")
    if not a.skip_river:
        if a.quick:
            check_river(n=8, n_time_lq=20, n_time_gen=2)
        else:
            check_river(n=30, n_time_lq=200, n_time_gen=5)
    if not a.skip_rp:
        if a.quick:
            check_ccei(n_bf=20, B_pg=200, B_rv10=50, B_rv50=3)
            check_recovery(n_viol=60)
        else:
            check_ccei(n_bf=50, B_pg=1200, B_rv10=200, B_rv50=10)
            check_recovery(n_viol=500)


if __name__ == "__main__":
    main()
