"""Algorithm 1 against agents that learn: how the design fares when equilibria are only reached
approximately (learning horizon H) and observed through N noisy samples, against exact equilibria.

For each game, P paths of Algorithm 1 (SPSA, the Pareto gap) run through ask-tell
(`jaxmd_rp.run_asktell`) with the outside system simulated by an `Observer`:

- `exact`: the equilibria themselves (`solve_equilibrium`, or the inspection game's closed form);
- `learn`: the agents' play after H rounds of learning (river and Cournot: optimistic projected
  gradient play with a regulator's price on the shared constraints, `GradientPlay`; inspection
  game: optimistic Hedge, time average of the last H/2 rounds), observed as the play itself (N = -)
  or as N samples of it (river and Cournot: with Gaussian observation noise of standard deviation
  sigma; inspection: N pure action profiles drawn from the mixed strategy).

Columns: `L^=0` the share of paths the designer saw reach L_hat = 0 (they stop there); `L=0` the
share whose final mechanism has true gap 0 (exact equilibria at theta_final, harness only);
`iters` the median first iteration with L_hat = 0 among the paths that reached it; `med L^` the
median last L_hat; `L^<=h` the share whose last L_hat is within its Theorem-2 half-width (h = 0
for exact observations: L_hat = 0 up to 1e-9); `W/W*`
the mean true welfare ratio W(x_NE) / W(x_SO) and `W*-W` the mean welfare loss at theta_final
over paths and probes (`welfare_report`; the inspection game: its closed-form optimum, whose
welfare can be 0, so no ratio); `h` the median half-width; `s` wall seconds (compilation
included).

    python benchmarks/learning_agents.py                 # P = 40 paths, 30 iterations
    python benchmarks/learning_agents.py --paths 10 --iters 10 --games cournot
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxmd_rp as rp

jax.config.update("jax_enable_x64", True)
ZERO = 1e-9


class ClosedFormInspection(rp.games.InspectionGame, rp.AbstractClosedFormGame):
    """The inspection game with its closed-form equilibrium as the exact observer."""

    def equilibrium(self, theta, probe=None):
        return self.to_strategy(rp.games.InspectionGame.equilibrium(self, theta, probe))


def _reported_welfare(game, theta, probe, x):
    """(W(x_NE), W(x_SO)) from `welfare_report` (NaN where the optimum failed)."""
    rep = rp.welfare_report(game, theta, probe, x)
    nan = lambda v: jnp.where(rep.ok, v, jnp.nan)  # noqa: E731
    return nan(rep.welfare_eq), nan(rep.welfare_opt)


def _inspection_welfare(game, theta, probe, x):
    """(W(x_NE), W(x_SO)) with the game's closed-form optimum (a vertex of the capped box)."""
    return game.welfare(theta, x), game.welfare(theta, game.social_optimum(theta, probe))


SETUPS = {
    "river": dict(game=rp.games.RiverPollution(), init_max=0.5, spsa={}, noise=1.0,
                  horizons=(100, 1000, 5000), welfare=_reported_welfare,
                  dynamics=lambda H: rp.GradientPlay(horizon=H, step_size=0.1, price_step=0.01)),
    "cournot": dict(game=rp.games.CournotPollution(), init_max=1.0, spsa=dict(a=20.0, c=1.0),
                    noise=0.1, horizons=(5, 15, 60), welfare=_reported_welfare,
                    dynamics=lambda H: rp.GradientPlay(horizon=H, step_size=0.2, price_step=0.2)),
    "inspection": dict(game=ClosedFormInspection(), init_max=1.0, spsa=dict(a=20.0, c=1.0),
                       noise=0.0, horizons=(100, 1000, 4000), welfare=_inspection_welfare,
                       dynamics=lambda H: rp.Hedge(horizon=H, window=H // 2, step_size=0.1,
                                                   price_step=0.1)),
}


def _inputs(game, P, T, init_max, seed):
    lo, hi = game.theta_bounds
    base = rp.path_keys(jax.random.PRNGKey(seed), P)
    theta0 = jax.vmap(lambda k: lo + (hi - lo) * jax.random.uniform(
        jax.random.fold_in(k, 0), lo.shape, maxval=init_max))(base)
    probes = jax.vmap(lambda k: rp.sample_probes(game, jax.random.fold_in(k, 1), T))(base)
    keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(base)
    return theta0, probes, keys


def _truth(setup, theta, probes):
    """True gap and mean welfare ratio at every path's final mechanism (exact equilibria)."""
    game = setup["game"]
    gap = rp.ParetoGapObjective(game)
    exact = rp.Observer(game)

    def one(th, pr):
        x, ok = exact.equilibria(th, pr)
        w, w_opt = jax.vmap(lambda p, xt: setup["welfare"](game, th, p, xt))(pr, x)
        w, w_opt = jnp.where(ok, w, jnp.nan), jnp.where(ok, w_opt, jnp.nan)
        ratio = jnp.where(w_opt > 0, w / jnp.where(w_opt > 0, w_opt, 1.0), jnp.nan)
        return gap(th, pr), jnp.mean(ratio), jnp.mean(w_opt - w)

    return jax.jit(jax.vmap(one))(theta, probes)


def run(name, P, n, T, seed, samples):
    setup = SETUPS[name]
    game = setup["game"]
    lo, hi = game.theta_bounds
    designer = rp.AskTell(rp.SPSA(lo, hi, **setup["spsa"]), game)
    theta0, probes, keys = _inputs(game, P, T, setup["init_max"], seed)
    configs = [("exact", None, None)]
    configs += [("learn", H, N) for H in setup["horizons"] for N in (None, samples)]
    rows = []
    for kind, H, N in configs:
        noise = setup["noise"] if N is not None else 0.0
        observer = rp.Observer(game, num_samples=N, noise=noise,
                               dynamics=None if H is None else setup["dynamics"](H))
        t0 = time.perf_counter()
        _, tr = rp.run_asktell(designer, designer.init(theta0, probes, keys), observer, n)
        seconds = time.perf_counter() - t0
        true_gap, ratio, loss = (np.asarray(a) for a in _truth(setup, tr.theta[-1], probes))
        hit = tr.value <= ZERO
        first = np.where(hit.any(axis=0), hit.argmax(axis=0) + 1, -1)
        last, half = tr.value[-1], tr.halfwidth[-1, :, 0]
        rows.append(dict(game=name, observer=kind, H=H, N=N, sigma=noise,
                         at_zero=hit[-1].mean(), true_zero=np.mean(true_gap <= ZERO),
                         iters=np.median(first[first > 0]) if (first > 0).any() else np.nan,
                         within=np.mean(last <= half + ZERO), median=np.nanmedian(last),
                         ratio=np.nanmean(ratio) if np.isfinite(ratio).any() else np.nan,
                         loss=np.nanmean(loss),
                         half=np.nanmedian(half), seconds=seconds))
    return rows


def _fmt(v, spec):
    if v is None:
        return "-"
    if isinstance(v, float) and np.isnan(v):
        return "-"
    return format(v, spec)


def print_table(rows):
    head = (f"{'game':<11}{'observer':<9}{'H':>6}{'N':>5}{'sigma':>7}{'L^=0':>7}{'L=0':>7}"
            f"{'iters':>7}{'med L^':>9}{'L^<=h':>7}{'W/W*':>8}{'W*-W':>9}{'h':>8}{'s':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['game']:<11}{r['observer']:<9}{_fmt(r['H'], 'd'):>6}{_fmt(r['N'], 'd'):>5}"
              f"{r['sigma']:>7.2g}{r['at_zero']:>7.0%}{r['true_zero']:>7.0%}"
              f"{_fmt(r['iters'], '.0f'):>7}{_fmt(r['median'], '.2g'):>9}{r['within']:>7.0%}"
              f"{_fmt(r['ratio'], '.4f'):>8}{_fmt(r['loss'], '.3g'):>9}{_fmt(r['half'], '.3g'):>8}"
              f"{r['seconds']:>7.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", type=int, default=40)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--probes", type=int, default=10)
    p.add_argument("--samples", type=int, default=20, help="N samples per observation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--games", default="river,cournot,inspection")
    args = p.parse_args()
    rows = []
    for name in args.games.split(","):
        rows += run(name, args.paths, args.iters, args.probes, args.seed, args.samples)
    print(f"Algorithm 1 through ask-tell: {args.paths} paths, {args.iters} iterations, "
          f"T = {args.probes}, backend {jax.default_backend()}")
    print_table(rows)


if __name__ == "__main__":
    main()
