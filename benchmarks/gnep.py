"""The GNEP test library (tests/gnep/problems.py): accuracy table and time per instance.

    python benchmarks/gnep.py [--batch 1000] [--repeat 3] [--problems harker fk_a3 ...]
                              [--no-accuracy]

Prints two tables.

1. Accuracy, for every (problem, solver) pair: result, KKT residual, max error against the
   published solution, against an independent numpy/SciPy solution (where the published one is
   loose or not unique), and the largest gain of a unilateral feasible deviation found by SciPy's
   SLSQP (tests/gnep/reference.py).
2. Speed, for every problem with its default solver and with `SemismoothNewton`: compile time, the
   time of one solve (after compilation, best of `--repeat`), and the time per instance of a
   `jax.vmap` over `--batch` perturbed instances (theta and the probe scaled by 1 + 0.02 N(0, 1),
   clipped to their boxes), with the share of successful elements.

A peer column (nashopt's general GNEP solver) is not included: nashopt is not installed in the
project's environment (it turns on jax_enable_x64 globally on import; run it in a separate
environment).
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
from tests.gnep.problems import ENUM, NEWTON, NIRA, PROBLEMS  # noqa: E402
from tests.gnep.reference import best_response_gain, independent_solution  # noqa: E402

SOLVERS = {ENUM: rp.ActiveSetEnumeration(), NEWTON: rp.SemismoothNewton(),
           NIRA: rp.NikaidoIsoda()}


def _args(p, k=None):
    theta = None if p.theta is None else jnp.asarray(p.theta)
    probe = None if p.probe is None else jnp.asarray(p.probe if k is None else p.probe[k])
    return theta, probe


def accuracy(problems):
    print(f"{'problem':20s} {'solver':12s} {'result':12s} {'residual':>9s} {'err pub':>9s} "
          f"{'err indep':>9s} {'BR gain':>9s}")
    for p in problems:
        ref = independent_solution(p)
        for s in p.solvers:
            steps = p.nira_steps if s == NIRA else 100
            for k in range(max(p.instances, 1)):
                theta, probe = _args(p, k if p.instances else None)
                sol = rp.solve_equilibrium(p.game, theta, probe, SOLVERS[s], max_steps=steps,
                                           throw=False)
                x = np.asarray(sol.x).reshape(-1)
                pub = np.asarray(p.published).reshape(max(p.instances, 1), -1)[k]
                err_pub = np.max(np.abs(x - pub))
                err_ref = (np.nan if ref is None else
                           np.max(np.abs(x - np.asarray(ref).reshape(max(p.instances, 1), -1)[k])))
                gain = best_response_gain(p, x, probe=None if probe is None else np.asarray(probe))
                name = p.name + (f"[P={float(probe[0]):g}]" if p.instances else "")
                print(f"{name:20s} {s:12s} {str(sol.result):12s} {float(sol.residual):9.1e} "
                      f"{err_pub:9.1e} {err_ref:9.1e} {gain:9.1e}")


def _perturbed(p, batch, key):
    k1, k2 = jax.random.split(key)
    theta, probe = _args(p, 0 if p.instances else None)

    def scale(v, k, bounds):
        if v is None:
            return None
        lo, hi = bounds
        noise = 1.0 + 0.02 * jax.random.normal(k, (batch,) + v.shape, v.dtype)
        return jnp.clip(v * noise, lo, hi)

    return (scale(theta, k1, p.game.theta_bounds), scale(probe, k2, p.game.probe_bounds))


def _best(f, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(f())
        ts.append(time.perf_counter() - t)
    return min(ts)


def speed(problems, batch, repeat):
    print(f"{'problem':20s} {'n':>3s} {'solver':12s} {'compile s':>9s} {'one ms':>8s} "
          f"{'batch us/inst':>13s} {'ok':>5s}")
    key = jax.random.PRNGKey(0)
    for p in problems:
        names = [ENUM if ENUM in p.solvers else NEWTON]
        names += [NEWTON] if names[0] != NEWTON else []
        thetas, probes = _perturbed(p, batch, key)
        for s in names:
            solver = SOLVERS[s]

            def one(th, pr, solver=solver):
                return rp.solve_equilibrium(p.game, th, pr, solver, throw=False)

            f1 = jax.jit(one)
            theta, probe = _args(p, 0 if p.instances else None)
            t0 = time.perf_counter()
            jax.block_until_ready(f1(theta, probe))
            comp = time.perf_counter() - t0
            t_one = _best(lambda f1=f1, a=theta, b=probe: f1(a, b), repeat)
            fb = jax.jit(jax.vmap(one, in_axes=(None if thetas is None else 0,
                                                None if probes is None else 0)))
            sols = jax.block_until_ready(fb(thetas, probes))
            t_b = _best(lambda fb=fb: fb(thetas, probes), repeat)
            print(f"{p.name:20s} {p.game.action_size:3d} {s:12s} {comp:9.1f} {1e3 * t_one:8.2f} "
                  f"{1e6 * t_b / batch:13.1f} {float(jnp.mean(sols.success)):5.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--problems", nargs="*", default=None)
    ap.add_argument("--no-accuracy", action="store_true")
    args = ap.parse_args()
    problems = [p for p in PROBLEMS if args.problems is None or p.name in args.problems]
    print(f"backend: {jax.default_backend()}, jax {jax.__version__}, {os.cpu_count()} CPU cores")
    if not args.no_accuracy:
        accuracy(problems)
    speed(problems, args.batch, args.repeat)


if __name__ == "__main__":
    main()
