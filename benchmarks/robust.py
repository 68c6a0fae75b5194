"""Benchmark: the robust Pareto gap in JAX (batched) vs the exchange method in numpy/SciPy.

    python benchmarks/robust.py [--runs 200] [--scipy-runs 40] [--samples 5]

Instances: the A.2 game (M = 3, T = 5, k = 2), prices alpha ~ U(0.1, 1.1)^2, radii
eps in {0.001, 1, 10} (Figure 7). Rows:

- `jax robust_pareto_gap`: the direct kappa search (exact for pure strategies), `jax.vmap` over
  runs x radii, one compiled call, timed after compilation;
- `jax exchange_method (closure)`: Algorithm 2 with the closure master, same batching;
- `scipy exchange (MILP)`: Algorithm 2 on the host with a vectorised numpy closed-form separation
  and the exact HiGHS MILP master (`jaxmd_rp.milp_master`), one instance at a time, to delta = 1e-6
  (comparable accuracy) and to the paper's delta = 0.1.

The ratio column is (time per gap of the row) / (time per gap of `jax robust_pareto_gap` on the
same instances). With `--samples N` a second block uses N distinct (noisy) samples, where JAX
returns certified bounds and the MILP exchange the exact value.
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmd_rp as rp  # noqa: E402
from jaxmd_rp.experiments import fig7  # noqa: E402

# ---------------------------------------------------------------------------------------------
# a numpy/SciPy exchange method (closed-form separation, HiGHS MILP master)


def _seg_min_np(a, p0, p1, g, kappa):
    d = p1 - p0
    ell = np.linalg.norm(d, axis=-1)
    e = d / ell[..., None]
    b = np.sum(a * e, -1)
    w = p0 - g
    wpar = np.sum(w * e, -1)
    wperp = np.abs(w[..., 0] * e[..., 1] - w[..., 1] * e[..., 0])
    disc = kappa**2 - b**2
    inside = disc > 0
    root = np.sqrt(np.where(inside, disc, 1.0))
    sig = np.where(inside, np.clip(-wpar - b * wperp / root, 0.0, ell), np.where(b >= 0, 0.0, ell))
    pt = p0 + sig[..., None] * e
    return np.sum(a * pt, -1) + kappa * np.linalg.norm(pt - g, axis=-1), pt


def _edges_np(P, X, kappa):
    """a[k,i,s,t] = 1 - rho(alpha_t^i; A_s^i, x_{s,k}^i, kappa) and the minimisers (numpy)."""
    N, M, T, _ = X.shape
    a = np.broadcast_to(P[None, :, None, :, :], (N, M, T, T, 2))
    beta = np.broadcast_to(P[None, :, :, None, :], (N, M, T, T, 2))
    g = np.broadcast_to(X[:, :, :, None, :], (N, M, T, T, 2))
    z = np.zeros(a.shape[:-1])
    o = np.zeros(a.shape)
    v1 = np.stack([1.0 / beta[..., 0], z], -1)
    v2 = np.stack([z, 1.0 / beta[..., 1]], -1)
    best_v, best_x = np.sum(a * g, -1), g
    for p0, p1 in ((v1, v2), (o, v1), (o, v2)):
        v, x = _seg_min_np(a, p0, p1, g, kappa)
        better = v < best_v
        best_v = np.where(better, v, best_v)
        best_x = np.where(better[..., None], x, best_x)
    return 1.0 - best_v, best_x, np.linalg.norm(best_x - g, axis=-1)


def scipy_exchange(P, X, eps, delta, max_iterations=200):
    """Algorithm 2 with the exact MILP master; returns (value upper bound, lower bound, rounds)."""
    N, M, T, _ = X.shape
    W = 1.0 - np.einsum("itc,kisc->kist", P, X)
    kmax = float(np.max(np.linalg.norm(P, axis=-1)))
    hi = min(kmax, 1.0 / eps) if eps > 0 else kmax
    U = np.ones((M, T, T), bool)
    kappa, v, lb, ub = 0.0, np.zeros(N), 0.0, np.inf
    cuts = [[] for _ in range(N)]
    for n in range(1, max_iterations + 1):
        a, pts, dist = _edges_np(P, X, kappa)
        masked = np.where(U[None], a, -np.inf).reshape(N, -1)
        j = masked.argmax(-1)
        cv = np.maximum(masked[np.arange(N), j], 0.0) - v
        ub = eps * kappa + float(np.mean(v + np.maximum(cv, 0.0)))
        if cv.max() <= delta:
            return ub, lb, n
        for k in range(N):
            if cv[k] > 0:
                i, s, t = np.unravel_index(j[k], (M, T, T))
                b = W[k].copy()
                b[i, s, :] = 1.0 - P[i] @ pts[k, i, s, t]
                cuts[k].append((b, float(dist[k, i, s, t])))
        lb, kappa, v, orders = rp.milp_master(cuts, eps, hi, N, M, T)
        pos = np.argsort(orders, axis=-1)
        U = pos[:, :, None] <= pos[:, None, :]
    return ub, lb, max_iterations


# ---------------------------------------------------------------------------------------------


def _time(f, *args, repeat=3):
    out = f(*args)
    jax.block_until_ready(out)
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = f(*args)
        jax.block_until_ready(out)
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="runs for the JAX rows (x 3 radii)")
    ap.add_argument("--scipy-runs", type=int, default=40, help="runs for the SciPy rows (x 3 radii)")
    ap.add_argument("--samples", type=int, default=5, help="N for the distinct-sample block (0: skip)")
    args = ap.parse_args(argv)

    eps = jnp.asarray([0.001, 1.0, 10.0])
    E = len(eps)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, "
          f"device {jax.devices()[0].device_kind}")

    def block(title, cfg, exchange_jax):
        P, X = fig7.run_data(cfg, np.arange(args.runs))
        gap = jax.jit(jax.vmap(jax.vmap(lambda p, x, e: rp.robust_pareto_gap(p, x, e, throw=False),
                                        in_axes=(None, None, 0)), in_axes=(0, 0, None)))
        t_gap, sol = _time(gap, P, X, eps)
        n_gap = args.runs * E
        rows = [("jax robust_pareto_gap (batched)", t_gap / n_gap, n_gap,
                 f"max upper-lower {float(jnp.max(sol.upper - sol.lower)):.1e}")]
        if exchange_jax:
            ex = jax.jit(jax.vmap(jax.vmap(
                lambda p, x, e: rp.exchange_method(p, x, e, throw=False),
                in_axes=(None, None, 0)), in_axes=(0, 0, None)))
            t_ex, exs = _time(ex, P, X, eps)
            rows.append(("jax exchange_method, delta=0.1 (batched)", t_ex / n_gap, n_gap,
                         f"mean rounds {float(jnp.mean(exs.iterations)):.2f}"))
        Pn, Xn = np.asarray(P), np.asarray(X)
        exact = np.asarray(sol.value)
        for delta in (1e-6, 0.1):
            m = min(args.scipy_runs, args.runs)
            scipy_exchange(Pn[0], Xn[0], float(eps[0]), delta)  # warm-up (imports)
            t = time.perf_counter()
            errs, its = [], []
            for r in range(m):
                for e in range(E):
                    ub, lb, n = scipy_exchange(Pn[r], Xn[r], float(eps[e]), delta)
                    errs.append(abs(ub - exact[r, e]))
                    its.append(n)
            dt = (time.perf_counter() - t) / (m * E)
            rows.append((f"scipy exchange (MILP), delta={delta:g}", dt, m * E,
                         f"mean rounds {np.mean(its):.2f}, max|UB - jax| {max(errs):.1e}"))
        print(f"\n{title}")
        print(f"{'method':44s} {'ms / gap':>10s} {'ratio':>8s} {'gaps':>6s}  notes")
        base = rows[0][1]
        for name, t, n, note in rows:
            print(f"{name:44s} {1e3 * t:10.3f} {t / base:8.1f} {n:6d}  {note}")

    block(f"A.2 game, pure strategies (N = 1), T = 5, eps in {{0.001, 1, 10}}, {args.runs} runs",
          fig7.Fig7Config(runs=args.runs), True)
    if args.samples > 1:
        block(f"A.2 game, N = {args.samples} distinct samples (noise 0.05): JAX bounds vs exact MILP",
              fig7.Fig7Config(runs=args.runs, num_samples=args.samples, noise=0.05), False)


if __name__ == "__main__":
    main()
