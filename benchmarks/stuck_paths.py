"""Figure 6's stuck paths: how many paths never reach L = 0, where their theta sits, why SPSA does
not leave, and what the documented options change.

    python benchmarks/stuck_paths.py                    # 20 000 paths (minutes on 2 CPU cores)
    python benchmarks/stuck_paths.py --paths 2000       # quicker

The paper's reading (`jaxmd-rp fig6` defaults: shared probe reading, scale 100, stopping at
L <= 1e-9, theta_1 ~ U[0, 0.5]^7, a = c = 0.5, eta = 1/4, q = 0.001). Path k's numbers depend on
k only, so the first 200 and 2000 paths of the 20 000-path run *are* the 200- and 2000-path
studies (`--separate` runs those two again and checks it). Prints four tables:

1. paths that never reach L <= 1e-9 within 50 iterations (and within the paper's 30), with 95 %
   Wilson intervals of the share;
2. where the stuck paths' theta sits (theta_1, theta_51, faces of Theta) next to the others;
3. why SPSA does not leave: the gap along d2 and along every coordinate at theta_51, the SPSA
   differences v+ - v- and the distance the harmonic steps a_n |g_n| can still travel;
4. the stuck paths and a sample of the other paths rerun from the same theta_1, probes and keys
   under documented options (larger a, larger c, larger q, `perturbation="raw"`, and restarts
   from a fresh theta_1 after k iterations: `restart_after` of `jaxmd-rp study`).
"""

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import jaxmd_rp as rp  # noqa: E402
from jaxmd_rp.experiments import _stats, fig6  # noqa: E402
from jaxmd_rp.experiments._restarts import Restarts  # noqa: E402

TOL = 1e-9
D2_PROFILE = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
STEP = 0.05  # coordinate moves for the local slope


def _share(k, n):
    p, lo, hi = _stats.wilson_interval(int(k), int(n))
    return f"{int(k):5d}/{n:<6d} {p:7.3%} [{lo:.3%}, {hi:.3%}]"


def _never(values, n=None):
    v = values if n is None else values[:n]
    return ~np.any(v <= TOL, axis=0)


def table_counts(res, prefixes, separate):
    print("\n1. Paths that never reach L <= 1e-9 (95 % Wilson interval of the share)")
    print(f"{'paths':>7} | {'never within n <= 50':>36} | {'never within n <= 30 (claim)':>36} |"
          " stuck paths")
    for P in prefixes:
        v = res.values[:, :P]
        stuck = np.flatnonzero(_never(v))
        print(f"{P:7d} | {_share(stuck.size, P):>36} | {_share(_never(v, 30).sum(), P):>36} | "
              f"{stuck.tolist()[:12]}{' ...' if stuck.size > 12 else ''}")
        if P in separate:
            alone = fig6.run_fig6(fig6.Fig6Config(paths=P), progress=False, welfare_paths=0)
            same = np.array_equal(alone.values, res.values[:, :P])
            print(f"        separate {P}-path run identical to the first {P} paths: {same}")


def table_where(res, stuck):
    th1, th_end = res.theta[0], res.theta[-1]
    others = np.setdiff1d(np.arange(th1.shape[0]), stuck)
    print("\n2. Where theta sits (d2 = theta[0]; the c_ij are theta[1:])")
    print(f"{'path':>6} {'L_1':>7} {'L_50':>7} {'d2_1':>7} {'d2_51':>7} {'min c_51':>9} "
          f"{'max c_51':>9} {'coords on a face':>17}")
    for k in stuck:
        face = int(np.sum((th_end[k] == 0.0) | (th_end[k] == 1.0)))
        print(f"{k:6d} {res.values[0, k]:7.4f} {res.values[-1, k]:7.4f} {th1[k, 0]:7.4f} "
              f"{th_end[k, 0]:7.4f} {th_end[k, 1:].min():9.4f} {th_end[k, 1:].max():9.4f} "
              f"{face:17d}")
    c2 = 0.5 / 2**0.25
    high = th1[:, 0] > c2
    print(f"others (median): L_1 {np.median(res.values[0, others]):.4f}, d2_1 "
          f"{np.median(th1[others, 0]):.4f}, d2_51 {np.median(th_end[others, 0]):.4f}")
    print(f"paths with d2_1 > c_2 = {c2:.3f} (out of reach of the n >= 2 perturbations): "
          f"{high.sum()} of {high.size}; stuck among them: {_share(np.isin(stuck, np.flatnonzero(high)).sum(), int(high.sum()))}; "
          f"stuck among the others: {_share(np.sum(~high[stuck]), int((~high).sum()))}")


def _gap(objective, thetas, probes):
    """L at many thetas (..., 7) of one path's probes."""
    flat = thetas.reshape(-1, 7)
    out = jax.jit(jax.vmap(lambda th: objective(th, probes)))(flat)
    return np.asarray(out).reshape(thetas.shape[:-1])


def table_why(res, stuck, objective, spsa, probes, keys):
    print("\n3. Why SPSA does not leave")
    th_end = res.theta[-1]
    print("gap along d2 at theta_51 (other coordinates fixed), d2 =",
          " ".join(f"{d:5.3f}" for d in D2_PROFILE))
    for k in stuck:
        grid = np.repeat(th_end[k][None], len(D2_PROFILE), 0)
        grid[:, 0] = D2_PROFILE
        L = _gap(objective, jnp.asarray(grid), probes[k])
        print(f"  path {k:6d}: " + " ".join(f"{x:5.3f}" for x in L))
    moves = []
    for k in stuck:
        th = np.clip(th_end[k][None, None] + np.stack([np.eye(7) * STEP, -np.eye(7) * STEP], 0),
                     0.0, 1.0)
        L = _gap(objective, jnp.asarray(th), probes[k])
        moves.append(np.abs(L - res.values[-1, k]).max(axis=0))
    moves = np.array(moves)
    print(f"largest |L(theta_51 +- {STEP} e_j) - L(theta_51)| per coordinate, median over the stuck "
          "paths: " + ", ".join(f"{name} {x:.4f}" for name, x in
                                zip(fig6.THETA_NAMES, np.median(moves, axis=0), strict=True)))
    states = jax.vmap(spsa.init)(res.theta[0][stuck])
    _, infos, thetas = rp.spsa_steps(spsa, objective, states, probes[stuck], keys[stuck], 50)
    replay_ok = np.array_equal(np.asarray(infos.value), res.values[:, stuck])
    diff = np.abs(np.asarray(infos.value_plus - infos.value_minus))
    g = np.asarray(infos.gradient)
    flat = float(np.mean(diff == 0.0))
    zero_spread = float(np.mean((g == 0.0) & (diff[..., None] != 0.0)))
    n = np.arange(1, 51)[:, None]
    reach = np.sum(0.5 / n * np.abs(g[:, :, 0]), axis=0)
    print(f"replay of the stuck paths reproduces the study: {replay_ok}")
    print(f"SPSA steps with v+ == v- (a flat difference): {flat:.1%}; zero projected spreads "
          f"(a coordinate whose perturbation collapsed on a face): {zero_spread:.1%}")
    print(f"|v+ - v-| median {np.median(diff):.4f} (L ~ {np.median(res.values[-1, stuck]):.3f}); "
          f"coordinates on a face of Theta along the runs: "
          f"{np.mean((np.asarray(thetas) == 0) | (np.asarray(thetas) == 1)):.1%}; "
          f"|g_d2| median {np.median(np.abs(g[:, :, 0])):.4f}")
    print(f"sum over n of a_n |g_n,d2| (how far d2 could move in 50 iterations), median "
          f"{np.median(reach):.3f} vs d2_1 median {np.median(res.theta[0][stuck, 0]):.3f}; "
          f"d2 moved {np.median(res.theta[0][stuck, 0] - res.theta[-1][stuck, 0]):.3f}")


def table_options(res, stuck, objective, spsa, probes, keys, sample, seed):
    rng = np.random.default_rng(seed)
    others = np.setdiff1d(np.arange(res.values.shape[1]), stuck)
    picked = np.sort(rng.choice(others, size=min(sample, others.size), replace=False))
    idx = np.concatenate([stuck, picked])
    options = [("default (the paper's reading)", spsa),
               ("a = 2", dataclasses.replace(spsa, a=np.float64(2.0))),
               ("c = 1", dataclasses.replace(spsa, c=np.float64(1.0))),
               ("q = 0.01", dataclasses.replace(spsa, q=np.float64(0.01))),
               ("perturbation = raw", dataclasses.replace(spsa, perturbation="raw")),
               ("restart after 10 iterations",
                Restarts(spsa, after=10, low=jnp.zeros(7), high=jnp.full(7, 0.5)))]
    print(f"\n4. Options, rerun from the same theta_1, probes and keys: the {stuck.size} stuck paths "
          f"and {picked.size} other paths")
    print(f"{'option':>32} | {'stuck paths still never at 0':>36} | "
          f"{'other paths never at 0':>36} | median first zero (others)")
    for name, method in options:
        t0 = time.perf_counter()
        states = jax.vmap(method.init)(res.theta[0][idx])
        _, infos, _ = rp.design_steps(method, objective, states, probes[idx], keys[idx], 50)
        v = np.asarray(infos.value)
        never = _never(v)
        hit = v[:, stuck.size:] <= TOL
        first = np.where(hit.any(0), np.argmax(hit, 0) + 1, np.nan)
        print(f"{name:>32} | {_share(never[:stuck.size].sum(), stuck.size):>36} | "
              f"{_share(never[stuck.size:].sum(), picked.size):>36} | "
              f"{np.nanmedian(first):5.1f}   ({time.perf_counter() - t0:.0f} s)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", type=int, default=20_000)
    p.add_argument("--prefixes", default="200,2000", help="also report the first N paths")
    p.add_argument("--separate", default="200,2000",
                   help="rerun these path counts on their own and compare ('' = skip)")
    p.add_argument("--sample", type=int, default=1000, help="other paths rerun in table 4")
    args = p.parse_args(argv)
    prefixes = [int(x) for x in args.prefixes.split(",") if x] + [args.paths]
    prefixes = sorted({x for x in prefixes if x <= args.paths})
    separate = {int(x) for x in args.separate.split(",") if x}
    cfg = fig6.Fig6Config(paths=args.paths)
    print(f"Figure 6 at the paper's reading: {args.paths} paths x {cfg.iters} iterations, "
          f"seed {cfg.seed}; {jax.device_count()} {jax.default_backend()} device(s)")
    t0 = time.perf_counter()
    res = fig6.run_fig6(cfg, progress=True, welfare_paths=0)
    print(f"study: {time.perf_counter() - t0:.0f} s (first chunk incl. compilation "
          f"{res.compile_seconds:.0f} s)")
    game, objective, spsa, _, probes, keys = fig6.build(cfg)
    table_counts(res, prefixes, separate)
    stuck = np.flatnonzero(_never(res.values))
    if stuck.size == 0:
        print("no stuck paths")
        return
    table_where(res, stuck)
    table_why(res, stuck, objective, spsa, probes, keys)
    table_options(res, stuck, objective, spsa, probes, keys, args.sample, cfg.seed)


if __name__ == "__main__":
    main()
