"""Figure 6 speed: jaxmd_rp's batched Algorithm 1 vs a sequential SciPy implementation.

    python benchmarks/fig6.py [--paths 200] [--iters 50] [--scipy-iters 2]

jaxmd_rp: the `jaxmd-rp fig6` study (all paths x both perturbations x the current point x T = 10
probes in one compiled step per chunk of iterations): time per SPSA iteration after compilation,
and the whole Figure 6 run with and without compilation.

Sequential SciPy reference: Algorithm 1 for ONE path at a time, as the paper ran it (Matlab: NIRA-3
equilibria + an LP per gap): each iteration solves 3 x T river equilibria with SciPy SLSQP on the
game's convex potential (tests/reference/river.py) and 3 Pareto gaps with the HiGHS LP bisection
(tests/reference/pareto_gap_lp.py). A few iterations of one path are timed and extrapolated to
paths x iters. The reference runs with the same gains, probes and theta_1 as path 0.
"""

import argparse
import os
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from jaxmd_rp.experiments import fig6  # noqa: E402
from tests.reference.pareto_gap_lp import pareto_gap_lp  # noqa: E402
from tests.reference.river import DELTA, river_equilibrium_slsqp  # noqa: E402


def scipy_gap(theta, probes):
    xs = np.stack([river_equilibrium_slsqp(theta, e) for e in probes])
    q = np.einsum("il,ti,si->tsl", DELTA, probes, xs)  # q[t, s, l] = station l at probe t, eq. s
    g = (q.max(axis=-1) - 100.0) / 100.0  # shared reading, scale 100
    return pareto_gap_lp(np.broadcast_to(g, (3,) + g.shape))


def scipy_iteration(theta, probes, n, rng, a=0.5, c=0.5, eta=0.25, q=1e-3):
    a_n, c_n = a / n, c / n**eta
    q_n = np.sqrt(q / (n * max(np.log(np.log(n)) if n > 1 else -np.inf, 1.0)))
    delta = rng.choice([-1.0, 1.0], size=7)
    plus, minus = np.clip(theta + c_n * delta, 0, 1), np.clip(theta - c_n * delta, 0, 1)
    value = scipy_gap(theta, probes)
    g = (scipy_gap(plus, probes) - scipy_gap(minus, probes)) / (plus - minus)
    return np.clip(theta - a_n * g + q_n * rng.normal(size=7), 0, 1), value


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=200)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--scipy-iters", type=int, default=5)
    args = ap.parse_args()

    cfg = fig6.Fig6Config(paths=args.paths, iters=args.iters)
    t0 = time.perf_counter()
    res = fig6.run_fig6(cfg, progress=False, track_welfare=False)
    total = time.perf_counter() - t0
    run_s = res.seconds - res.compile_seconds  # chunks after the first (compiled) one
    per_iter = run_s / max(1, args.iters - cfg.chunk)
    # a second, fully warm run
    t0 = time.perf_counter()
    fig6.run_fig6(cfg, progress=False, track_welfare=False)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    fig6.welfare_track(cfg, res.theta[: cfg.iters])
    welfare_s = time.perf_counter() - t0

    _, _, _, theta0, probes, _ = fig6.build(fig6.Fig6Config(paths=1, iters=1))
    theta, pr = np.asarray(theta0[0]), np.asarray(probes[0])
    rng = np.random.default_rng(0)
    scipy_gap(theta, pr)  # warm-up (imports, first HiGHS call)
    t0 = time.perf_counter()
    for n in range(1, args.scipy_iters + 1):
        theta, _ = scipy_iteration(theta, pr, n, rng)
    sp_iter_one_path = (time.perf_counter() - t0) / args.scipy_iters
    sp_full = sp_iter_one_path * args.paths * args.iters

    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), jax {jax.__version__}, "
          f"{os.cpu_count()} CPU cores")
    print(f"Figure 6: {args.paths} paths x {args.iters} iterations, T = {cfg.num_probes}")
    print(f"{'':<40} {'seconds':>10}")
    print(f"{'jaxmd_rp: one SPSA iteration (all paths)':<40} {per_iter:>10.4f}")
    print(f"{'jaxmd_rp: full run, first call':<40} {total:>10.2f}   (compile {res.compile_seconds:.2f} s)")
    print(f"{'jaxmd_rp: full run, warm':<40} {warm:>10.2f}")
    print(f"{'welfare tracking (harness), all n, paths':<40} {welfare_s:>10.2f}")
    print(f"{'SciPy sequential: one iteration, 1 path':<40} {sp_iter_one_path:>10.3f}")
    print(f"{'SciPy sequential: full run (extrap.)':<40} {sp_full:>10.0f}")
    print(f"ratio (SciPy / jaxmd_rp warm full run): {sp_full / warm:,.0f}x; "
          f"per iteration {sp_iter_one_path * args.paths / per_iter:,.0f}x")


if __name__ == "__main__":
    main()
