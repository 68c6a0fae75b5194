"""Pareto gap throughput: jaxmd_rp vs a SciPy LP, prefgraph and revpref (L = 1 - CCEI).

    python benchmarks/pareto_gap.py [--datasets 1200] [--Ts 10 50 200] [--lp-seconds 20]

Data: `--datasets` data sets of M = 3 agents, each agent a classic consumer with random positive
prices and bundles (K = 3 goods), as probe values values[i, t, s] = p_t.x_s / p_t.x_t - 1
(`jaxmd_rp.budget_values`). For such linear budgets L = 1 - min_i CCEI_i, so the CCEI engines of
prefgraph (Rust, parallel over data sets) and revpref (pure Python) compute the same number.

Columns: microseconds per data set (3 agents), agreement with jaxmd_rp (max abs difference), and
the ratio (other / jaxmd_rp). jaxmd_rp is timed after compilation (best of 3), side by side with
prefgraph in the same process; `--cpu-time` reports process CPU time instead of wall time (steadier
on a shared machine; prefgraph's Rayon threads and XLA's are both counted). The first table is
the single-call latency of each entry point (`pareto_gap` and the GARP tests on a (3, 10, 10)
array; `budget_values`, `garp`, `ccei`, `houtman_maks_index` on T = 10 budgets of K = 3 goods), as
a ratio to a trivial jitted call (`x + 1`) (calls in a loop, blocking on the last: the throughput of one
call after another, as in a training loop). The SciPy LP
(tests/reference/pareto_gap_lp.py: bisection on r with a HiGHS feasibility LP per agent) and
revpref are timed on as many data sets as fit in `--lp-seconds` and extrapolated per data set.
prefgraph and revpref are optional (benchmark extras): rows are skipped if they do not import.
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxmd_rp as rp  # noqa: E402
from tests.reference.pareto_gap_lp import pareto_gap_lp  # noqa: E402


def make_data(B, T, M=3, K=3, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.2, 2.0, (B, M, T, K))
    x = rng.uniform(0.2, 2.0, (B, M, T, K))
    return p, x


CLOCK = time.perf_counter


def time_jax(values, repeat=3):
    f = jax.jit(rp.pareto_gap)
    t0 = time.perf_counter()
    out = jax.block_until_ready(f(values))
    compile_s = time.perf_counter() - t0
    ts = []
    for _ in range(repeat):
        t = CLOCK()
        jax.block_until_ready(f(values))
        ts.append(CLOCK() - t)
    return np.asarray(out), min(ts), compile_s


def latency(n=2000, repeat=7):
    """Microseconds per call of each revealed-preference entry point on one small data set -- a
    (3, 10, 10) values array, or T = 10 budgets of K = 3 goods -- and of a trivial jitted call."""
    rng = np.random.default_rng(0)
    v = jnp.asarray(rng.normal(size=(3, 10, 10)))
    p, x = jnp.asarray(rng.uniform(0.1, 1.0, (10, 3))), jnp.asarray(rng.uniform(0.1, 1.0, (10, 3)))
    trivial = jax.jit(lambda x: x + 1.0)
    out = {}
    for name, f in (("trivial jit", lambda: trivial(v)), ("pareto_gap", lambda: rp.pareto_gap(v)),
                    ("pareto_gap(throw=False)", lambda: rp.pareto_gap(v, throw=False)),
                    ("mm_garp", lambda: rp.mm_garp(v)), ("garp_f", lambda: rp.garp_f(v, 0.5)),
                    ("budget_values", lambda: rp.budget_values(p, x)),
                    ("garp", lambda: rp.garp(p, x)), ("ccei", lambda: rp.ccei(p, x)),
                    ("houtman_maks_index", lambda: rp.houtman_maks_index(p, x))):
        jax.block_until_ready(f())
        best = np.inf
        for _ in range(repeat):
            t = CLOCK()
            for _ in range(n):
                r = f()
            jax.block_until_ready(r)
            best = min(best, (CLOCK() - t) / n * 1e6)
        out[name] = best
    return out


def time_budgeted(fn, items, seconds):
    """Run fn on items until the time budget is spent; return (results, seconds per item)."""
    out = []
    t0 = time.perf_counter()
    for it in items:
        out.append(fn(it))
        if time.perf_counter() - t0 > seconds:
            break
    return out, (time.perf_counter() - t0) / len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=1200)
    ap.add_argument("--Ts", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--lp-seconds", type=float, default=20.0)
    ap.add_argument("--cpu-time", action="store_true", help="time with process CPU time")
    ap.add_argument("--latency-only", action="store_true",
                    help="print the single-call latencies only")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    try:
        sys.path.insert(0, os.path.dirname(__file__))
        from _peers_rp import prefgraph_ccei, revpref_ccei  # noqa: F401

        peers = True
    except Exception as exc:  # optional benchmark extras
        print(f"(prefgraph/revpref not importable: {type(exc).__name__}: {exc})")
        peers = False

    print(f"backend {jax.default_backend()}, jax {jax.__version__}, {os.cpu_count()} cores, "
          f"{args.datasets} data sets x M = 3 agents")
    lat = latency()
    print("single call (values (3, 10, 10); budgets T = 10, K = 3), us and ratio to a trivial "
          "jitted call:")
    for k, t in lat.items():
        print(f"  {k:<24} {t:8.1f} us {t / lat['trivial jit']:6.1f}x")
    if args.latency_only:
        return
    hdr = f"{'T':>4} {'method':<22} {'us/dataset':>12} {'max |dL|':>10} {'x jaxmd_rp':>11}"
    print(hdr)
    for T in args.Ts:
        B = args.datasets
        p, x = make_data(B, T)
        values = rp.budget_values(jnp.asarray(p), jnp.asarray(x))[:, :, 0]  # (B, M, T, T)
        L, dt, comp = time_jax(values)
        us = dt / B * 1e6
        print(f"{T:>4} {'jaxmd_rp':<22} {us:>12.2f} {0.0:>10.1e} {1.0:>11.1f}   (compile {comp:.1f} s)")
        # SciPy LP
        res, per = time_budgeted(lambda k: pareto_gap_lp(np.asarray(values[k])), range(B), args.lp_seconds)
        err = float(np.max(np.abs(np.asarray(res) - L[: len(res)])))
        print(f"{T:>4} {'SciPy HiGHS LP':<22} {per * 1e6:>12.1f} {err:>10.1e} {per * 1e6 / us:>11.0f}"
              f"   ({len(res)} data sets timed)")
        if peers:
            pp = p.reshape(B * 3, T, 3)
            xx = x.reshape(B * 3, T, 3)
            prefgraph_ccei(pp[:3], xx[:3])  # warm-up
            per = np.inf
            for _ in range(3):
                t = CLOCK()
                c = prefgraph_ccei(pp, xx)
                per = min(per, (CLOCK() - t) / B)
            Lp = 1.0 - c.reshape(B, 3).min(axis=1)
            err = float(np.max(np.abs(Lp - L)))
            print(f"{T:>4} {'prefgraph (Rust)':<22} {per * 1e6:>12.2f} {err:>10.1e} {per * 1e6 / us:>11.1f}")
            n_rev = max(1, min(B, int(200 * (10 / T) ** 3)))
            res, per = time_budgeted(
                lambda k: 1.0 - revpref_ccei(p[k], x[k]).min(), range(n_rev), args.lp_seconds
            )
            err = float(np.max(np.abs(np.asarray(res) - L[: len(res)])))
            print(f"{T:>4} {'revpref':<22} {per * 1e6:>12.1f} {err:>10.1e} {per * 1e6 / us:>11.0f}"
                  f"   ({len(res)} data sets timed)")


if __name__ == "__main__":
    main()
