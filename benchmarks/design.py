"""Mechanism design by SPSA (Algorithm 1) vs gradients through the equilibria, and true welfare.

    python benchmarks/design.py [--paths 200] [--iters 50]

Two games, 200 paths each, T = 10 probes per path drawn once, the same theta_1 and probes for
every method:

- the river game (Figure 6 setup: theta_1 ~ U[0, 0.5]^7 in [0, 1]^7, shared probe reading);
- the Cournot duopoly with a pollution tax (`CournotPollution`: theta = tax in [-10, 10],
  theta_1 ~ U[-1, 1], probes = production caps in [0.5, 5]^2).

Methods (one argument apart: `design_minimise(objective, method, ...)`): SPSA with the paper's gains
(a = c = 0.5, eta = 1/4, q = 0.001), projected gradient with Adam (lr 0.05) and with SGD (lr 0.5)
on the exact gap, and Adam on the annealed smoothed gap (tau_0 = 0.05). Every path stops at
L <= 1e-9.

Columns: share of paths that reached L <= 1e-9, median / max iteration of the first hit,
equilibrium solves per path until the hit (SPSA: 3 T per iteration -- theta_n and theta_n +-
c_n Delta_n; gradient: T per iteration plus T implicit-derivative linear solves), wall time of
the whole run (incl. compilation), and the true-welfare figures at the end: the mean over paths
and probes of W(x_NE) / W(x_SO) (1 = the equilibrium is socially optimal at that theta) and, for
Cournot, the mean final tax and the welfare at the Cournot output without caps relative to the
optimal tax's.
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxmd_rp as rp  # noqa: E402
from jaxmd_rp.experiments import fig6  # noqa: E402


def setups(P, T):
    key = jax.random.PRNGKey(0)
    keys = rp.path_keys(key, P)
    river, obj, _, theta0, probes, _ = fig6.build(fig6.Fig6Config(paths=P, iters=1, num_probes=T))
    yield "river", river, obj, theta0, probes
    cour = rp.games.CournotPollution()
    th0 = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 0), (1,), minval=-1, maxval=1))(keys)
    pr = jax.vmap(lambda k: rp.sample_probes(cour, jax.random.fold_in(k, 1), T))(keys)
    yield "cournot", cour, rp.ParetoGapObjective(cour), th0, pr


def methods(game):
    lo, hi = game.theta_bounds
    width = float(np.max(np.asarray(hi) - np.asarray(lo)))
    out = [("SPSA (paper gains)", rp.SPSA(lo, hi), None, 3)]
    if width > 1.5:  # the paper's gains are for a unit box: also scale a and c to the box
        out.append((f"SPSA (a = c = {width / 2:g})", rp.SPSA(lo, hi, a=width / 2, c=width / 2), None, 3))
    return out + [
        ("gradient, Adam 0.05", rp.GradientDesign(lo, hi, optimizer=optax.adam(0.05)), None, 1),
        ("gradient, SGD 0.5", rp.GradientDesign(lo, hi, optimizer=optax.sgd(0.5)), None, 1),
        ("smoothed gap, Adam 0.05", rp.GradientDesign(lo, hi, optimizer=optax.adam(0.05)), 0.05, 1),
    ]


def welfare_ratio(game, thetas, probes):
    rep = jax.jit(jax.vmap(jax.vmap(lambda th, p: rp.welfare_report(game, th, p), in_axes=(None, 0))))(
        thetas, probes)
    ok = np.asarray(rep.ok)
    return float(np.mean(np.asarray(rep.ratio)[ok])), float(ok.mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=200)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--probes", type=int, default=10)
    args = ap.parse_args()
    print(f"backend {jax.default_backend()}, jax {jax.__version__}, {args.paths} paths, "
          f"{args.iters} iterations, T = {args.probes}")
    hdr = (f"{'game':<8} {'method':<24} {'reached':>8} {'median n':>9} {'max n':>6} "
           f"{'eq/path':>8} {'wall s':>7} {'W_NE/W_SO end':>14}")
    print(hdr)
    for name, game, obj, theta0, probes in setups(args.paths, args.probes):
        w0, _ = welfare_ratio(game, theta0, probes)
        print(f"{name:<8} {'(theta_1)':<24} {'':>8} {'':>9} {'':>6} {'':>8} {'':>7} {w0:>14.4f}")
        for label, method, tau, evals in methods(game):
            fn = obj if tau is None else rp.SmoothedGapObjective(obj, tau)
            t = time.perf_counter()
            tr = rp.design_minimise(fn, method, theta0, probes, key=jax.random.PRNGKey(1),
                                    num_steps=args.iters)
            v = np.asarray(jax.block_until_ready(tr.value))
            wall = time.perf_counter() - t
            hit = v <= 1e-9
            reached = hit.any(axis=0)
            first = np.where(reached, hit.argmax(axis=0) + 1, args.iters)
            eq_per_path = float(np.mean(first)) * evals * args.probes
            med = float(np.median(first[reached])) if reached.any() else float("nan")
            mx = int(first[reached].max()) if reached.any() else -1
            w, _ = welfare_ratio(game, tr.theta[-1], probes)
            print(f"{name:<8} {label:<24} {reached.mean():>8.1%} {med:>9.0f} {mx:>6d} "
                  f"{eq_per_path:>8.0f} {wall:>7.1f} {w:>14.4f}")
            if name == "cournot":
                tax = np.asarray(tr.theta[-1, :, 0])
                print(f"{'':<8}   final tax mean {tax.mean():.3f} (min {tax.min():.3f}, max "
                      f"{tax.max():.3f}); optimal tax theta* = {float(game.optimal_tax()[0]):.3f}")
    cour = rp.games.CournotPollution()
    t_star = float(cour.optimal_tax()[0])

    def W(t):  # true welfare at the uncapped Cournot output under tax t
        return float(cour.welfare(None, cour.cournot_output(jnp.array([t]))))

    print(f"Cournot without caps: true welfare at theta* = {t_star:.3f}: {W(t_star):.4f}; at tax 0: "
          f"{W(0.0):.4f}; at tax -1: {W(-1.0):.4f}; first best: "
          f"{float(cour.welfare(None, cour.social_optimum())):.4f}")

if __name__ == "__main__":
    main()
