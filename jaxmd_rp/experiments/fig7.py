"""Figure 7 of the paper: convergence of Algorithm 2 (the exchange method) on the A.2 game.

Paper setup (App. A.2): 3 agents, 2 goods, T = 5 probes alpha_t^i ~ U(0.1, 1.1)^2, the demands of
f^1 = b1 + b2, f^2 = b1 + b2^(1/4), f^3 = b1^(1/4) + b2, delta = 0.1, "run until max_k CV_k <= delta"
for eps in {0.001, 1, 10}, 200 Monte-Carlo runs per radius; the claim is "a delta-optimal solution
on average within 8 iterations". The figure's axes are not in the text; we plot the mean of
max_k CV_k against the iteration (docs/robust.md).

For every run the exact robust gap (`robust_pareto_gap`) is computed too, so the final value of
Algorithm 2 can be checked against it (|value - L_DR| <= delta must hold).

Randomness: run r uses fold_in(PRNGKey(seed), r) only, so run r is the same in a batch of 10 runs
and in one of 200 (the same prices for every eps).
"""

import dataclasses
import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from .. import games
from .._objective import sample_probes
from .._robust import exchange_method, robust_pareto_gap
from .._solution import RESULTS
from .._study._progress import Progress

CLAIM_ITERATIONS = 8.0
RUN_COLUMNS = ["epsilon", "run", "iterations", "value", "lower", "upper"]


@dataclasses.dataclass(frozen=True)
class Fig7Config:
    runs: int = 200
    seed: int = 0
    epsilons: tuple = (0.001, 1.0, 10.0)
    delta: float = 0.1
    relative_tol: float | None = None
    support: str = "triangle"
    num_probes: int = 5
    num_samples: int = 1
    noise: float = 0.0
    max_iterations: int = 32
    chunk: int = 50


@dataclasses.dataclass
class Fig7Result:
    config: Fig7Config
    iterations: np.ndarray  # (E, R)
    value: np.ndarray  # (E, R): final value of Algorithm 2 (worst case of its certificate)
    lower: np.ndarray  # (E, R)
    upper: np.ndarray  # (E, R)
    kappa: np.ndarray  # (E, R)
    max_cv: np.ndarray  # (E, R, H): max_k CV_k at the start of round n (NaN after the stop)
    hist_lower: np.ndarray  # (E, R, H)
    hist_upper: np.ndarray  # (E, R, H)
    exact: np.ndarray  # (E, R): robust_pareto_gap value
    exact_lower: np.ndarray
    exact_upper: np.ndarray
    converged: np.ndarray  # (E, R) bool
    seconds: float


def run_data(cfg: Fig7Config, run_ids):
    """(prices (R, M, T, 2), samples (R, N, M, T, 2)) of the given runs."""
    game = games.BudgetGame(noise=cfg.noise)

    def one(r):
        key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), r)
        probes = sample_probes(game, jax.random.fold_in(key, 0), cfg.num_probes)  # (T, 6)
        prices = jnp.swapaxes(jax.vmap(game.prices)(probes), 0, 1)  # (M, T, 2)
        x = jax.vmap(game.demand)(probes)  # (T, M, 2)
        keys = jax.random.split(jax.random.fold_in(key, 1), cfg.num_probes)
        xs = jax.vmap(lambda k, xt: game.sample_strategy(k, xt, cfg.num_samples))(keys, x)
        return prices, jnp.transpose(xs, (1, 2, 0, 3))  # (N, M, T, 2)

    return jax.vmap(one)(jnp.asarray(run_ids))


@functools.lru_cache(maxsize=8)
def _batched(cfg: Fig7Config):
    kw = dict(delta=cfg.delta, relative_tol=cfg.relative_tol, max_iterations=cfg.max_iterations,
              support=cfg.support, throw=False)

    def per_run(p, x, eps):
        ex = exchange_method(p, x, eps, **kw)
        rg = robust_pareto_gap(p, x, eps, support=cfg.support, throw=False)
        return ex, rg

    return jax.jit(jax.vmap(jax.vmap(per_run, in_axes=(None, None, 0)), in_axes=(0, 0, None)))


def run_fig7(cfg: Fig7Config, progress: bool = True) -> Fig7Result:
    """Algorithm 2 and the exact robust gap on `cfg.runs` runs for every radius."""
    eps = jnp.asarray(cfg.epsilons, jnp.result_type(float))
    milp = cfg.noise > 0 and cfg.num_samples > 1
    chunk = max(1, min(cfg.chunk, cfg.runs))
    n_chunks = math.ceil(cfg.runs / chunk)
    f = None if milp else _batched(cfg)
    parts = []
    t0 = time.perf_counter()
    bar = Progress(progress, cfg.runs, "Algorithm 2 runs", unit="run")
    for c in range(n_chunks):
        ids = np.arange(c * chunk, (c + 1) * chunk)
        real = ids < cfg.runs
        ids = np.minimum(ids, cfg.runs - 1)  # pad the last chunk (one compilation)
        P, X = run_data(cfg, ids)
        if milp:
            parts.append(_milp_chunk(cfg, P, X, eps, real))
        else:
            ex, rg = f(P, X, eps)
            parts.append(jax.tree_util.tree_map(lambda z: np.asarray(z)[real], (ex, rg)))
        bar.update(min((c + 1) * chunk, cfg.runs))
    bar.close()
    seconds = time.perf_counter() - t0
    ex = jax.tree_util.tree_map(lambda *z: np.concatenate(z), *[p[0] for p in parts])
    rg = jax.tree_util.tree_map(lambda *z: np.concatenate(z), *[p[1] for p in parts])
    T = lambda z: np.swapaxes(np.asarray(z), 0, 1)  # noqa: E731  (R, E, ...) -> (E, R, ...)
    return Fig7Result(
        config=cfg, iterations=T(ex.iterations), value=T(ex.value), lower=T(ex.lower),
        upper=T(ex.upper), kappa=T(ex.kappa), max_cv=T(ex.max_cv), hist_lower=T(ex.history_lower),
        hist_upper=T(ex.history_upper), exact=T(rg.value), exact_lower=T(rg.lower),
        exact_upper=T(rg.upper),
        converged=T(np.asarray(ex.result._value) == RESULTS.successful._value), seconds=seconds,
    )


def _milp_chunk(cfg, P, X, eps, real):
    """Distinct samples: the MILP master on the host, one run and radius at a time."""
    exs, rgs = [], []
    for r in np.nonzero(real)[0]:
        row_e, row_r = [], []
        for e in np.asarray(eps):
            row_e.append(exchange_method(P[r], X[r], float(e), delta=cfg.delta,
                                         relative_tol=cfg.relative_tol,
                                         max_iterations=cfg.max_iterations, support=cfg.support,
                                         master="milp", throw=False))
            row_r.append(robust_pareto_gap(P[r], X[r], float(e), support=cfg.support, throw=False))
        exs.append(jax.tree_util.tree_map(lambda *z: np.stack(z), *row_e))
        rgs.append(jax.tree_util.tree_map(lambda *z: np.stack(z), *row_r))
    stack = lambda zs: jax.tree_util.tree_map(lambda *z: np.stack(z), *zs)  # noqa: E731
    return stack(exs), stack(rgs)


def table(res: Fig7Result) -> list[dict]:
    """fig7.csv rows: per radius and iteration n, statistics of max_k CV_k over the runs still
    running at n (those whose Algorithm 2 ran at least n separation rounds)."""
    rows = []
    for e, eps in enumerate(res.config.epsilons):
        it = res.iterations[e]
        for n in range(1, int(it.max()) + 1):
            running = it >= n
            cv = res.max_cv[e, running, n - 1]
            carried = np.array([res.max_cv[e, r, min(n, it[r]) - 1] for r in range(len(it))])
            rows.append({
                "epsilon": eps,
                "iteration": n,
                "mean_max_cv": float(np.mean(cv)),
                "std_max_cv": float(np.std(cv)),
                "share_running": float(np.mean(running)),
                "mean_max_cv_all": float(np.mean(carried)),
                "mean_lower": float(np.mean(res.hist_lower[e, running, n - 1])),
                "mean_upper": float(np.mean(res.hist_upper[e, running, n - 1])),
            })
    return rows


RUN_TABLE_COLUMNS = RUN_COLUMNS + ["exact_value", "exact_lower", "exact_upper", "kappa",
                                   "final_max_cv", "converged"]


def run_table(res: Fig7Result) -> list[dict]:
    """One row per radius and run: the `fig7_runs.csv` columns."""
    rows = []
    for e, eps in enumerate(res.config.epsilons):
        for r in range(res.iterations.shape[1]):
            n = int(res.iterations[e, r])
            values = [eps, r, n, res.value[e, r], res.lower[e, r], res.upper[e, r],
                      res.exact[e, r], res.exact_lower[e, r], res.exact_upper[e, r],
                      res.kappa[e, r], res.max_cv[e, r, n - 1], bool(res.converged[e, r])]
            rows.append(dict(zip(RUN_TABLE_COLUMNS, values, strict=True)))
    return rows


def summary(res: Fig7Result) -> dict:
    """The `fig7_summary.json` content: configuration, claim check, timing, backend."""
    cfg = dataclasses.asdict(res.config)
    cfg["epsilons"] = list(cfg["epsilons"])
    return {"config": cfg, "claim": claim_check(res), "seconds": res.seconds,
            "jax_version": jax.__version__, "backend": jax.default_backend()}


def claim_check(res: Fig7Result) -> list[dict]:
    """Per radius: iterations (mean, max, histogram), the paper's claim (mean <= 8), and the
    agreement of Algorithm 2's final value with the exact robust gap (within delta)."""
    out = []
    for e, eps in enumerate(res.config.epsilons):
        it = res.iterations[e]
        err = np.abs(res.value[e] - res.exact[e])
        vals, counts = np.unique(it, return_counts=True)
        out.append({
            "epsilon": eps,
            "runs": int(it.size),
            "mean_iterations": float(it.mean()),
            "max_iterations": int(it.max()),
            "histogram": {int(v): int(c) for v, c in zip(vals, counts, strict=True)},
            "converged": int(res.converged[e].sum()),
            "mean_value": float(res.value[e].mean()),
            "mean_lower": float(res.lower[e].mean()),
            "mean_upper": float(res.upper[e].mean()),
            "mean_exact": float(res.exact[e].mean()),
            "max_exact_bracket": float(np.max(res.exact_upper[e] - res.exact_lower[e])),
            "max_abs_value_minus_exact": float(err.max()),
            "bracket_ok": bool(np.all(res.lower[e] <= res.exact_upper[e] + 1e-9)
                               and np.all(res.upper[e] >= res.exact_lower[e] - 1e-9)),
            "share_exact_ge_0.999": float(np.mean(res.exact[e] >= 0.999)),
            # a run that hit --max-iterations was not delta-optimal: it cannot count for the claim
            "claim_met": bool(res.converged[e].all() and it.mean() <= CLAIM_ITERATIONS),
        })
    return out


def summary_text(res: Fig7Result) -> str:
    cfg = res.config
    tol = f"delta = {cfg.delta:g}" + (f", relative_tol = {cfg.relative_tol:g}" if cfg.relative_tol else "")
    lines = [
        f"Figure 7 reproduction: Algorithm 2 on the A.2 game, {cfg.runs} runs per eps, {tol}, "
        f"support = {cfg.support}, T = {cfg.num_probes}, N = {cfg.num_samples}, noise = {cfg.noise:g}, "
        f"seed {cfg.seed}; {res.seconds:.1f} s (incl. compilation)",
        "     eps   iters mean / max   converged   value     lower     upper     L_DR (jax)  "
        "max|value-L_DR|",
    ]
    chk = claim_check(res)
    for c in chk:
        lines.append(
            f"{c['epsilon']:8g}   {c['mean_iterations']:5.2f} / {c['max_iterations']:<3d}      "
            f"{c['converged']:4d}/{c['runs']:<4d}  {c['mean_value']:.5f}  {c['mean_lower']:.5f}  "
            f"{c['mean_upper']:.5f}  {c['mean_exact']:.5f}     {c['max_abs_value_minus_exact']:.2e}"
        )
    for c in chk:
        lines.append(f"  eps = {c['epsilon']:g}: iteration histogram {c['histogram']}; "
                     f"share of runs with L_DR >= 0.999: {c['share_exact_ge_0.999']:.0%}; "
                     f"widest certified bracket of L_DR (jax): {c['max_exact_bracket']:.1e}")
    met = all(c["claim_met"] for c in chk)
    means = ", ".join(f"{c['mean_iterations']:.2f} (eps = {c['epsilon']:g})" for c in chk)
    unconverged = sum(c["runs"] - c["converged"] for c in chk)
    verdict = "MET" if met else "NOT MET"
    if unconverged:
        verdict += f" ({unconverged} runs stopped at --max-iterations without reaching delta)"
    lines.append(
        f"Paper claim 'delta-optimal within {CLAIM_ITERATIONS:g} iterations on average': "
        f"{verdict} -- mean iterations {means}. Within delta of the exact robust "
        f"gap on every run: {'yes' if all(c['max_abs_value_minus_exact'] <= cfg.delta + 1e-9 for c in chk) else 'NO'}."
    )
    return "\n".join(lines)
