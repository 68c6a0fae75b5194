"""Equilibria per second: jaxmd_rp (batched, after compilation) vs a SciPy loop (and nashopt).

    python benchmarks/equilibrium.py [--batches 1 100 4000 16384] [--repeat 5]

Prints the latency of one call -- `solve_equilibrium` on one river instance inside the user's own
`jax.jit` and eagerly, as a ratio to a trivial jitted call (the dispatch floor) -- and a table: for
each batch size, river-game equilibria per second and working memory per path (XLA's memory
analysis of the compiled batch: temporary bytes per equilibrium x 30, the 3 x T equilibria of one
Figure 6 path at T = 10) for
- jaxmd_rp `solve_equilibrium` with the exact `ActiveSetEnumeration` (the river default) and with
  `SemismoothNewton`, vmapped over random (theta, e) in Theta x [0, 1]^3, timed after compilation
  (best of `--repeat`); for large batches also in cache-sized chunks (`jax.lax.map(...,
  batch_size=500)` around the vmap), which is how a CPU should run them. Batches of 4096 or more
  take the enumeration's guess-and-gather route (less memory, faster where guesses certify);
  `low_memory=True` takes it at every size;
- a SciPy loop: SLSQP on the game's convex potential, one equilibrium at a time (the route of
  tests/reference/river.py), timed on min(batch, 50) problems and reported per equilibrium;
- `nashopt` (a JAX GNE library on PyPI) if it is importable: its fastest linear-quadratic solver
  and its general GNEP solver, one equilibrium at a time.
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
from tests.reference.river import river_equilibrium_enumeration, river_equilibrium_slsqp  # noqa: E402


def best_of(f, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(f())
        ts.append(time.perf_counter() - t)
    return min(ts)


def per_call_us(f, rounds=20, calls=200):
    """Best mean time of one call (microseconds) over `rounds` runs of `calls` calls."""
    jax.block_until_ready(f())
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            out = f()
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t) / calls)
    return 1e6 * best


def single_call():
    """Latency of one river equilibrium: (trivial jit, inside the user's jit, eager with
    `throw=True` -- which waits for the result to know whether to raise --, eager with
    `throw=False`) in us."""
    game = rp.games.RiverPollution()
    th, e = jnp.asarray(rp.games.DEFAULT_THETA), jnp.asarray(rp.games.DEFAULT_PROBE)
    trivial = jax.jit(lambda a, b: a[:3] + b)
    inside = jax.jit(lambda a, b: rp.solve_equilibrium(game, a, b, throw=False).x)
    return (per_call_us(lambda: trivial(th, e)), per_call_us(lambda: inside(th, e)),
            per_call_us(lambda: rp.solve_equilibrium(game, th, e).x, rounds=5),
            per_call_us(lambda: rp.solve_equilibrium(game, th, e, throw=False).x, rounds=5))


def mib_per_path(f, *args):
    """XLA's temporary memory of the compiled batch per equilibrium, x 30 (one path at T = 10)."""
    stats = f.lower(*args).compile().memory_analysis()
    if stats is None:
        return float("nan")
    return 30 * stats.temp_size_in_bytes / args[0].shape[0] / 2**20


def jax_rate(solver, th, e, repeat, chunk=None):
    game = rp.games.RiverPollution()

    def solve(a, b):
        return rp.solve_equilibrium(game, a, b, solver, throw=False)

    if chunk is None:
        f = jax.jit(jax.vmap(solve))
    else:  # cache-sized chunks on CPU: lax.map over chunks, vmap inside
        f = jax.jit(lambda a, b: jax.lax.map(lambda ab: solve(*ab), (a, b), batch_size=chunk))
    t0 = time.perf_counter()
    sol = jax.block_until_ready(f(th, e))
    compile_s = time.perf_counter() - t0
    ok = float(jnp.mean(sol.result == rp.RESULTS.successful))
    dt = best_of(lambda: f(th, e), repeat)
    return th.shape[0] / dt, dt, compile_s, ok, float(jnp.max(sol.residual)), mib_per_path(f, th, e)


def scipy_rate(th, e, n):
    n = min(n, th.shape[0])
    t = time.perf_counter()
    for k in range(n):
        river_equilibrium_slsqp(np.asarray(th[k]), np.asarray(e[k]))
    return n / (time.perf_counter() - t)


def nashopt_rates(th, e, n):
    """nashopt, one river equilibrium at a time; None if it is not installed."""
    try:
        import nashopt  # noqa: F401
    except Exception as exc:  # pragma: no cover - optional
        return None, f"nashopt not importable ({type(exc).__name__})"
    try:
        sys.path.insert(0, os.path.dirname(__file__))
        from _nashopt_river import solve_general, solve_lq
    except Exception as exc:  # pragma: no cover
        return None, f"nashopt adapter failed: {exc}"
    out = {}
    for name, fn in (("LQ", solve_lq), ("GNEP", solve_general)):
        m = min(n, 5 if name == "GNEP" else 50)
        fn(np.asarray(th[0]), np.asarray(e[0]))  # warm-up
        t = time.perf_counter()
        for k in range(m):
            fn(np.asarray(th[k]), np.asarray(e[k]))
        out[name] = m / (time.perf_counter() - t)
    return out, "ok"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 100, 4000, 16384])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    key = jax.random.PRNGKey(0)
    nmax = max(args.batches)
    th = jax.random.uniform(jax.random.fold_in(key, 0), (nmax, 7))
    e = jax.random.uniform(jax.random.fold_in(key, 1), (nmax, 3), minval=0.02)
    # correctness spot check against the independent enumeration
    sol = rp.solve_equilibrium(rp.games.RiverPollution(), th[0], e[0])
    ref, _ = river_equilibrium_enumeration(np.asarray(th[0]), np.asarray(e[0]))
    assert np.allclose(sol.x, ref, rtol=1e-9, atol=1e-9)

    th_np, e_np = np.asarray(th), np.asarray(e)  # index numpy, not jax arrays, in the loops
    sp = scipy_rate(th_np, e_np, 50)
    nash, nash_msg = nashopt_rates(th_np, e_np, 50)
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind}), jax {jax.__version__}, "
          f"{os.cpu_count()} CPU cores")
    floor, inside, eager, eager_nothrow = single_call()
    print(f"one call: trivial jit {floor:.1f} us; solve_equilibrium inside jit {inside:.1f} us "
          f"({inside / floor:.1f}x), eager {eager:.1f} us ({eager / floor:.1f}x), eager with "
          f"throw=False {eager_nothrow:.1f} us ({eager_nothrow / floor:.1f}x)")
    print(f"SciPy SLSQP loop: {sp:,.0f} eq/s ({1e3 / sp:.2f} ms each)")
    if nash:
        for k, v in nash.items():
            print(f"nashopt {k}: {v:,.0f} eq/s ({1e3 / v:.3f} ms each)")
    else:
        print(nash_msg)
    hdr = f"{'batch':>6} {'solver':<26} {'eq/s':>12} {'us/eq':>8} {'batch ms':>9} {'compile s':>9} {'ok':>5} {'max res':>9} {'MiB/path':>8} {'x SciPy':>8}"
    if nash:
        hdr += f" {'x nashLQ':>8}"
    print(hdr)
    for B in args.batches:
        runs = [("ActiveSetEnumeration", rp.ActiveSetEnumeration(), None),
                ("ActiveSet, low_memory", rp.ActiveSetEnumeration(low_memory=True), None),
                ("SemismoothNewton", rp.SemismoothNewton(), None)]
        if B >= 1000:
            runs.insert(1, ("ActiveSet, chunks of 500", rp.ActiveSetEnumeration(), 500))
        for name, solver, chunk in runs:
            rate, dt, comp, ok, res, mib = jax_rate(solver, th[:B], e[:B], args.repeat, chunk)
            line = (f"{B:>6} {name:<26} {rate:>12,.0f} {1e6 / rate:>8.2f} {dt * 1e3:>9.2f} "
                    f"{comp:>9.2f} {ok:>5.2f} {res:>9.1e} {mib:>8.3f} {rate / sp:>8.0f}")
            if nash:
                line += f" {rate / nash['LQ']:>8.1f}"
            print(line)


if __name__ == "__main__":
    main()
