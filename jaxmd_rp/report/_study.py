"""The outputs of a design study (`jaxmd-rp study`): tidy tables, a summary with 95 % confidence
intervals, and the standard figures (gap, share at zero, true welfare; theta trajectories)."""

import os

import numpy as np

from ..experiments import study_tables
from ..experiments.study import StudyOutcome
from ._files import columns_to_rows, write_csv, write_json, write_parquet

# every file a study may write into its run directory (checked before a run starts)
STUDY_OUTPUTS = ("study_iterations.csv", "study_paths.csv", "study_trace.csv",
                 "study_iterations.parquet", "study_paths.parquet", "study_trace.parquet",
                 "study_summary.json", "study.png", "study_theta.png")
MAX_TRAJECTORIES = 20  # individual paths drawn in the theta figure (combination 0)
MAX_COORDINATES = 16  # theta coordinates drawn
OBJECTIVE_LABELS = {"gap": "Pareto gap", "smoothed": "Pareto gap (exact)", "robust": "robust gap"}


def write_study_outputs(outcome: StudyOutcome, out_dir: str, *, parquet: bool | None = None,
                        trace: bool | None = None, extra_summary: dict | None = None) -> dict:
    """Write the tables (CSV, and Parquet with `parquet`), the summary JSON, then the figures;
    return {name: path}. `parquet`/`trace` default to the configuration's settings."""
    cfg = outcome.config
    parquet = cfg.parquet if parquet is None else parquet
    trace = cfg.trace if trace is None else trace
    os.makedirs(out_dir, exist_ok=True)
    it, paths = study_tables.iteration_rows(outcome), study_tables.path_rows(outcome)
    tables = {"iterations": it, "paths": paths}
    if trace:
        tables["trace"] = study_tables.trace_columns(outcome)
    files = {}
    for name, table in tables.items():
        rows = table if isinstance(table, list) else columns_to_rows(table)
        files[f"{name}_csv"] = write_csv(os.path.join(out_dir, f"study_{name}.csv"), rows,
                                         missing="")
        if parquet:
            files[f"{name}_parquet"] = write_parquet(
                os.path.join(out_dir, f"study_{name}.parquet"), table)
    files["summary"] = write_json(os.path.join(out_dir, "study_summary.json"),
                                  study_tables.summary(outcome, extra_summary), nan_as_null=True)
    files["png"] = plot_study_gap(outcome, os.path.join(out_dir, "study.png"), rows=it)
    if outcome.results[0].theta is not None:
        files["theta_png"] = plot_study_theta(outcome, os.path.join(out_dir, "study_theta.png"))
    return files


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _game_name(spec: str) -> str:
    where, _, name = spec.rpartition(":")
    return f"{os.path.basename(where)}:{name}"


def _label(outcome: StudyOutcome, c) -> str:
    return ", ".join(f"{k}={v}" for k, v in c.values.items()) or None


def _band(ax, n, rows, key, label):
    mean = np.array([r[key] for r in rows], float)
    lo = np.array([r[f"{key}_low"] for r in rows], float)
    hi = np.array([r[f"{key}_high"] for r in rows], float)
    line, = ax.plot(n, mean, "o-", ms=2.5, label=label)
    ax.fill_between(n, np.where(np.isfinite(lo), lo, mean), np.where(np.isfinite(hi), hi, mean),
                    color=line.get_color(), alpha=0.2, lw=0)


def plot_study_gap(outcome: StudyOutcome, path: str, rows=None) -> str:
    """The standard study figure: the mean gap and the share of paths at zero per iteration
    (bands: 95 % CIs, Student t and Wilson), and the true welfare ratio when tracked; one line
    per combination of a sweep."""
    plt = _pyplot()
    rows = study_tables.iteration_rows(outcome) if rows is None else rows
    welfare = any(r is not None for r in outcome.welfare_ratio)
    fig, ax = plt.subplots(1, 3 if welfare else 2, figsize=(16 if welfare else 11, 4))
    for c in outcome.combinations:
        mine = [r for r in rows if r.get("combination", 0) == c.index]
        n = np.array([r["n"] for r in mine])
        _band(ax[0], n, mine, "mean_gap", _label(outcome, c))
        _band(ax[1], n, mine, "share_zero", _label(outcome, c))
        if welfare and "mean_welfare_ratio" in mine[0]:
            _band(ax[2], n, mine, "mean_welfare_ratio", _label(outcome, c))
    cfg = outcome.config
    ax[0].set_ylabel(f"mean {OBJECTIVE_LABELS[cfg.objective]} $L(\\theta_n)$ (95 % CI)")
    ax[1].set_ylabel(r"share of paths at zero (95 % CI, Wilson)")
    ax[1].set_ylim(-0.02, 1.02)
    if welfare:
        ax[2].axhline(1.0, color="grey", lw=1)
        ax[2].set_ylabel(r"true welfare $W(x_{NE}) / W(x_{SO})$ (harness only)")
    for a in ax:
        a.set_xlabel("iteration n")
        if outcome.config.sweep and len(outcome.combinations) <= 12:
            a.legend(fontsize=7)
    fig.suptitle(f"{_game_name(cfg.game)}: {cfg.method}, {cfg.paths} paths per combination")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_study_theta(outcome: StudyOutcome, path: str) -> str:
    """Theta trajectories: per coordinate, the mean over the paths of every combination and up to
    `MAX_TRAJECTORIES` individual paths of the first combination (thin lines)."""
    plt = _pyplot()
    names = outcome.theta_names[:MAX_COORDINATES]
    cols = min(4, len(names))
    nrows = -(-len(names) // cols)
    fig, ax = plt.subplots(nrows, cols, figsize=(max(6.0, 3.6 * cols), 2.8 * nrows + 0.6),
                           squeeze=False)
    for j, name in enumerate(names):
        a = ax[j // cols][j % cols]
        first = outcome.results[outcome.combinations[0].index].theta
        n = np.arange(1, first.shape[0] + 1)
        a.plot(n, first[:, :MAX_TRAJECTORIES, j], color="grey", lw=0.5, alpha=0.5)
        for c in outcome.combinations:
            th = outcome.results[c.index].theta
            a.plot(n, th[:, :, j].mean(axis=1), lw=1.8, label=_label(outcome, c))
        a.set_title(name, fontsize=9)
        a.set_xlabel("iteration n")
        if j == 0 and outcome.config.sweep and len(outcome.combinations) <= 12:
            a.legend(fontsize=7)
    for j in range(len(names), nrows * cols):
        ax[j // cols][j % cols].axis("off")
    more = len(outcome.theta_names) - len(names)
    fig.suptitle("theta_n: mean over the paths (colour), first paths (grey)"
                 + (f"; {more} more coordinates not drawn" if more > 0 else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
