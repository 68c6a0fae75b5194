"""The figures of the paper's experiments (Figures 6 and 7) and the standard study figure."""

import math
import os

import numpy as np

from ..experiments import fig6, fig7
from ._files import write_csv, write_json


def _finite_floor(values) -> float:
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    return min(0.0, float(finite.min())) if finite.size else 0.0


def plot_study(rows: list[dict], path: str, *, title: str, num_paths: int,
               claim_n: int | None = None, value_label: str = r"Pareto gap $L(\theta_n)$"):
    """The standard study figure from per-iteration rows (`n`, `mean_gap`, `std_gap`,
    `frac_zero`, and optionally `mean_welfare_ratio`, `min_welfare_ratio`): the gap (mean ± 1 sd),
    the share of paths at zero, and the true welfare when the rows have it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([r["n"] for r in rows])
    mean = np.array([r["mean_gap"] for r in rows], float)
    std = np.array([r["std_gap"] for r in rows], float)
    frac = np.array([r["frac_zero"] for r in rows], float)
    welfare = bool(rows) and "mean_welfare_ratio" in rows[0]
    fig, ax = plt.subplots(1, 3 if welfare else 2, figsize=(16 if welfare else 11, 4))
    ax[0].errorbar(n, mean, yerr=np.where(np.isfinite(std), std, 0.0), fmt="o-", ms=3, capsize=2)
    ax[0].set_xlabel("iteration n")
    ax[0].set_ylabel(value_label)
    ax[0].set_title(f"mean $\\pm$ 1 sd over {num_paths} paths")
    bottom = _finite_floor(mean - std)
    if math.isfinite(bottom):
        ax[0].set_ylim(bottom=bottom)
    ax[1].plot(n, frac, "o-", ms=3)
    ax[1].set_ylim(-0.02, 1.02)
    ax[1].set_xlabel("iteration n")
    ax[1].set_ylabel(r"share of paths with value $= 0$")
    if claim_n is not None:
        ax[1].axvline(claim_n, color="grey", ls=":", lw=1)
    if welfare:
        ax[2].plot(n, [r["mean_welfare_ratio"] for r in rows], "o-", ms=3, label="mean")
        ax[2].plot(n, [r["min_welfare_ratio"] for r in rows], ":", label="worst path")
        ax[2].axhline(1.0, color="grey", lw=1)
        ax[2].set_xlabel("iteration n")
        ax[2].set_ylabel(r"true welfare $W(x_{NE}) / W(x_{SO})$")
        ax[2].set_title("harness only: is the equilibrium socially optimal?")
        ax[2].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_fig6(res: "fig6.Fig6Result", path: str) -> str:
    """Figure 6: the gap, the share of paths at zero and the true welfare over the iterations."""
    cfg = res.config
    title = (f"River game, Algorithm 1 ({cfg.variant}, probe={cfg.probe_reading}, "
             f"scale={cfg.scale:g}, stop={'on' if cfg.stop else 'off'})")
    return plot_study(fig6.table(res), path, title=title, num_paths=res.values.shape[1],
                      claim_n=fig6.CLAIM_N)


def _write_outputs(out_dir: str, tables: dict, summary: tuple, figure: tuple) -> dict:
    """Write the tables ({key: (file, rows, columns)}) and the summary (file, dict), then the
    figure (file, plot function): data before plots. Returns {key: path}."""
    os.makedirs(out_dir, exist_ok=True)
    files = {key: write_csv(os.path.join(out_dir, name), rows, columns)
             for key, (name, rows, columns) in tables.items()}
    files["summary"] = write_json(os.path.join(out_dir, summary[0]), summary[1])
    files["png"] = figure[1](os.path.join(out_dir, figure[0]))
    return files


def write_fig6_outputs(res: "fig6.Fig6Result", out_dir: str) -> dict:
    """Write fig6.csv, fig6_paths.csv, fig6_summary.json, then fig6.png; return the paths."""
    return _write_outputs(
        out_dir, {"csv": ("fig6.csv", fig6.table(res), None),
                  "paths_csv": ("fig6_paths.csv", fig6.path_table(res), fig6.PATH_COLUMNS)},
        ("fig6_summary.json", fig6.summary(res)), ("fig6.png", lambda p: plot_fig6(res, p)))


def plot_fig7(res: "fig7.Fig7Result", path: str) -> str:
    """Figure 7: max_k CV_k and the bounds over the iterations, iterations to delta."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = fig7.table(res)
    cfg = res.config
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for e, eps in enumerate(cfg.epsilons):
        rs = [r for r in rows if r["epsilon"] == eps]
        n = np.array([r["iteration"] for r in rs])
        m = np.array([r["mean_max_cv"] for r in rs])
        sd = np.array([r["std_max_cv"] for r in rs])
        ax[0].errorbar(n, m, yerr=sd, fmt="o-", ms=3, capsize=2, label=f"$\\epsilon$ = {eps:g}")
        lo = np.array([r["mean_lower"] for r in rs])
        up = np.array([r["mean_upper"] for r in rs])
        line, = ax[1].plot(n, up, "o-", ms=3, label=f"UB, $\\epsilon$ = {eps:g}")
        ax[1].plot(n, lo, "s--", ms=3, color=line.get_color(), label=f"LB, $\\epsilon$ = {eps:g}")
        ax[1].axhline(float(np.mean(res.exact[e])), color=line.get_color(), lw=0.8, ls=":")
        it = np.sort(res.iterations[e])
        ax[2].step(it, np.arange(1, it.size + 1) / it.size, where="post",
                   label=f"$\\epsilon$ = {eps:g}")
    ax[0].axhline(cfg.delta, color="grey", ls=":", lw=1, label=f"$\\delta$ = {cfg.delta:g}")
    ax[0].set_xlabel("iteration n")
    ax[0].set_ylabel(r"mean of $\max_k CV_k$ (runs still running)")
    ax[0].legend(fontsize=8)
    ax[1].set_xlabel("iteration n")
    ax[1].set_ylabel("mean bounds (dotted: mean exact $L_{DR}$)")
    ax[1].legend(fontsize=7)
    ax[2].axvline(fig7.CLAIM_ITERATIONS, color="grey", ls=":", lw=1)
    ax[2].set_xlabel("iterations to $\\max_k CV_k \\leq \\delta$")
    ax[2].set_ylabel("share of runs")
    ax[2].legend(fontsize=8)
    fig.suptitle(f"Algorithm 2 on the A.2 game: {cfg.runs} runs, support = {cfg.support}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_fig7_outputs(res: "fig7.Fig7Result", out_dir: str) -> dict:
    """Write fig7.csv, fig7_runs.csv, fig7_summary.json, then fig7.png; return the paths."""
    return _write_outputs(
        out_dir, {"csv": ("fig7.csv", fig7.table(res), None),
                  "runs_csv": ("fig7_runs.csv", fig7.run_table(res), fig7.RUN_TABLE_COLUMNS)},
        ("fig7_summary.json", fig7.summary(res)), ("fig7.png", lambda p: plot_fig7(res, p)))
