r"""Tidy tables and a summary with 95 % confidence intervals for any design study.

Tables are lists of rows (dicts) or dicts of numpy columns, written by `jaxmd_rp.report`. A
missing value is `None` or NaN -- never a sentinel: a path that never reached zero has no
`first_zero_n`, a gap that could not be evaluated is NaN. With a sweep every row starts with
`combination` and the swept settings. The columns are documented in `docs/studies.md`
(`ITERATION_COLUMNS`, `PATH_COLUMNS` and `TRACE_COLUMNS` below list them). Confidence intervals:
`_stats` (Wilson score for shares, Student t for means, order statistics for medians).
"""

import math
import warnings

import numpy as np

from . import _stats
from ._restarts import RestartState
from .study import StudyOutcome

ITERATION_COLUMNS = {
    "n": "iteration (the gap is L(theta_n))",
    "paths": "paths in the combination",
    "evaluated": "paths whose gap at theta_n is finite",
    "mean_gap": "mean gap over the evaluated paths",
    "mean_gap_low": "95 % CI of the mean gap, lower end (Student t)",
    "mean_gap_high": "95 % CI of the mean gap, upper end (Student t)",
    "sd_gap": "standard deviation of the gap over the evaluated paths",
    "median_gap": "median gap",
    "max_gap": "largest gap",
    "share_zero": "share of the paths with gap <= zero_tol at n (a failed evaluation is not zero)",
    "share_zero_low": "95 % CI of share_zero, lower end (Wilson score)",
    "share_zero_high": "95 % CI of share_zero, upper end (Wilson score)",
    "share_reached_zero": "share of the paths with gap <= zero_tol at some iteration <= n",
    "share_reached_zero_low": "95 % CI, lower end (Wilson score)",
    "share_reached_zero_high": "95 % CI, upper end (Wilson score)",
    "share_failed": "share of the paths whose step from theta_n was skipped (evaluation failed)",
    "mean_<name>": "mean over the paths of each coordinate of theta_n",
    "mean_welfare_ratio": "mean over the tracked paths of W(x_NE)/W(x_SO) at theta_n (true "
                          "welfare, a harness diagnostic; only with welfare tracking)",
    "mean_welfare_ratio_low": "95 % CI, lower end (Student t)",
    "mean_welfare_ratio_high": "95 % CI, upper end (Student t)",
    "min_welfare_ratio": "worst tracked path",
    "mean_distance_to_optimum": "mean |x_NE - x_SO| over the tracked paths",
}
PATH_COLUMNS = {
    "path": "path index k (its randomness is fold_in(PRNGKey(seed), k))",
    "first_zero_n": "first iteration with gap <= zero_tol; empty if it never got there",
    "final_gap": "gap at the last iteration (empty if it could not be evaluated)",
    "min_gap": "smallest gap along the path",
    "failed_steps": "iterations whose step was skipped (failed evaluation)",
    "stopped": "the path was frozen at zero (stop = true)",
    "restarts": "how often the path restarted from a fresh theta_1 (only with restart_after)",
    "initial_<name>": "theta_1",
    "final_<name>": "theta after the last iteration",
    "final_welfare_ratio": "W(x_NE)/W(x_SO) at the last iteration's theta (tracked paths only)",
}
TRACE_COLUMNS = {
    "path": "path index", "n": "iteration", "value": "gap at theta_n (NaN: not evaluated)",
    "failed": "the step from theta_n was skipped", "<name>": "theta_n's coordinates",
}


def _label_columns(outcome: StudyOutcome, c) -> dict:
    if not outcome.config.sweep:
        return {}
    out = {"combination": c.index}
    for key in outcome.config.sweep:
        v = c.values[key]
        out[key] = v if not isinstance(v, (list, tuple)) else str(list(v))
    return out


def _finite_stat(fn, v):
    v = v[np.isfinite(v)]
    return float(fn(v)) if v.size else math.nan


def iteration_rows(outcome: StudyOutcome) -> list[dict]:
    """One row per combination and iteration n (`ITERATION_COLUMNS`)."""
    rows, names, tol = [], outcome.theta_names, outcome.config.zero_tol
    for c in outcome.combinations:
        res = outcome.results[c.index]
        ratio, dist = outcome.welfare_ratio[c.index], outcome.distance_to_optimum[c.index]
        hit = np.cumsum(res.value <= tol, axis=0) > 0
        P = res.value.shape[1]
        for n in range(res.value.shape[0]):
            v = res.value[n]
            mean, lo, hi, k = _stats.mean_interval(v)
            row = {**_label_columns(outcome, c), "n": n + 1, "paths": P, "evaluated": k,
                   "mean_gap": mean, "mean_gap_low": lo, "mean_gap_high": hi,
                   "sd_gap": _finite_stat(lambda x: np.std(x, ddof=1) if x.size > 1 else np.nan, v),
                   "median_gap": _finite_stat(np.median, v), "max_gap": _finite_stat(np.max, v)}
            for name, count in (("share_zero", int(np.sum(v <= tol))),
                                ("share_reached_zero", int(np.sum(hit[n])))):
                row[name], row[f"{name}_low"], row[f"{name}_high"] = _stats.wilson_interval(count, P)
            row["share_failed"] = float(np.mean(res.failed[n]))
            if res.theta is not None:
                row.update({f"mean_{name}": float(np.mean(res.theta[n, :, j]))
                            for j, name in enumerate(names)})
            if ratio is not None:
                m, lo, hi, _ = _stats.mean_interval(ratio[n])
                row.update({"mean_welfare_ratio": m, "mean_welfare_ratio_low": lo,
                            "mean_welfare_ratio_high": hi,
                            "min_welfare_ratio": _finite_stat(np.min, ratio[n]),
                            "mean_distance_to_optimum": _finite_stat(np.mean, dist[n])})
            rows.append(row)
    return rows


def first_zero(values: np.ndarray, tol: float) -> np.ndarray:
    """Per path, the first iteration n (1-based) with value <= tol, NaN if none."""
    hit = values <= tol
    return np.where(hit.any(axis=0), np.argmax(hit, axis=0) + 1.0, np.nan)


def path_rows(outcome: StudyOutcome) -> list[dict]:
    """One row per combination and path (`PATH_COLUMNS`)."""
    rows, names, tol = [], outcome.theta_names, outcome.config.zero_tol
    for c in outcome.combinations:
        res = outcome.results[c.index]
        ratio = outcome.welfare_ratio[c.index]
        first = first_zero(res.value, tol)
        stopped = np.asarray(res.state.stopped)
        restarts = np.asarray(res.state.restarts) if isinstance(res.state, RestartState) else None
        final = res.state.theta if res.theta is None else res.theta[-1]
        with warnings.catch_warnings():  # an all-NaN path has no smallest gap: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanmin(np.where(np.isfinite(res.value), res.value, np.nan), axis=0)
        for k in range(res.value.shape[1]):
            row = {**_label_columns(outcome, c), "path": k,
                   "first_zero_n": None if math.isnan(first[k]) else int(first[k]),
                   "final_gap": float(res.value[-1, k]), "min_gap": float(low[k]),
                   "failed_steps": int(np.sum(res.failed[:, k])), "stopped": bool(stopped[k])}
            if restarts is not None:
                row["restarts"] = int(restarts[k])
            row.update({f"initial_{n}": float(c.theta0[k, j]) for j, n in enumerate(names)})
            row.update({f"final_{n}": float(final[k, j]) for j, n in enumerate(names)})
            if ratio is not None:
                row["final_welfare_ratio"] = float(ratio[-1, k]) if k < ratio.shape[1] else None
            rows.append(row)
    return rows


def trace_columns(outcome: StudyOutcome) -> dict:
    """The long table over every combination: `StudyResult.tidy` (`TRACE_COLUMNS`), preceded by
    the combination's columns when there is a sweep."""
    parts = []
    for c in outcome.combinations:
        cols = outcome.results[c.index].tidy(outcome.theta_names)
        rows = cols["path"].shape[0]
        labels = {k: np.full(rows, v, dtype=object if isinstance(v, str) else None)
                  for k, v in _label_columns(outcome, c).items()}
        parts.append({**labels, **cols})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


CI_METHODS = {
    "shares": "Wilson score interval",
    "means": "Student t interval (mean +- t_{0.975, n-1} s / sqrt(n))",
    "medians": "order-statistic interval (distribution-free)",
}


def _interval(estimate, low, high, method) -> dict:
    return {"estimate": estimate, "low": low, "high": high, "method": method}


def combination_summary(outcome: StudyOutcome, c) -> dict:
    """The final-iteration summary of one combination, with 95 % confidence intervals."""
    res, tol = outcome.results[c.index], outcome.config.zero_tol
    N, P = res.value.shape
    final = res.value[-1]
    mean, lo, hi, k = _stats.mean_interval(final)
    first = first_zero(res.value, tol)
    reached = int(np.sum(np.isfinite(first)))
    med = _stats.median_interval(first)
    out = {"values": dict(c.values), "paths": P, "iterations": N, "evaluated_at_end": k,
           "mean_gap": _interval(mean, lo, hi, CI_METHODS["means"]),
           "share_zero": _interval(*_stats.wilson_interval(int(np.sum(final <= tol)), P),
                                   CI_METHODS["shares"]),
           "share_reached_zero": _interval(*_stats.wilson_interval(reached, P),
                                           CI_METHODS["shares"]),
           "reached_zero": reached,
           "median_first_zero_n": _interval(*med[:3], CI_METHODS["medians"]),
           "share_failed_steps": float(np.mean(res.failed)) if res.failed.size else 0.0}
    ratio = outcome.welfare_ratio[c.index]
    if ratio is not None:
        m, lo, hi, _ = _stats.mean_interval(ratio[-1])
        out["welfare_ratio"] = _interval(m, lo, hi, CI_METHODS["means"])
        out["welfare_paths"] = int(ratio.shape[1])
    return out


def summary(outcome: StudyOutcome, extra: dict | None = None) -> dict:
    """The `study_summary.json` content: configuration, per-combination summaries (95 % CIs),
    the compiled groups and the timing."""
    return {"config": outcome.config.to_dict(), "confidence_level": _stats.LEVEL,
            "ci_methods": CI_METHODS,
            "combinations": [combination_summary(outcome, c) for c in outcome.combinations],
            "groups": outcome.groups, "seconds": outcome.seconds, "notes": outcome.notes,
            **(extra or {})}


def _fmt(d: dict, pct: bool = False, digits: int = 4) -> str:
    f = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:.{digits}g}")
    if not math.isfinite(d["estimate"]):
        return "n/a"
    if not (math.isfinite(d["low"]) and math.isfinite(d["high"])):
        return f"{f(d['estimate'])} [CI n/a]"
    return f"{f(d['estimate'])} [{f(d['low'])}, {f(d['high'])}]"


def summary_text(outcome: StudyOutcome) -> str:
    """A readable summary: one block per combination, 95 % CIs in brackets."""
    cfg = outcome.config
    C = len(outcome.combinations)
    head = (f"Study of {cfg.game}: {cfg.method} on the {cfg.objective} objective, {cfg.paths} "
            f"paths x {cfg.iters} iterations, seed {cfg.seed}")
    if cfg.sweep:
        head += (f"; sweep over {', '.join(cfg.sweep)}: {C} combinations in "
                 f"{len(outcome.groups)} compiled program(s)")
    lines = [head, f"time: {outcome.seconds:.2f} s; 95 % CIs in brackets (shares: Wilson score; "
                   "means: Student t; medians: order statistics)"]
    for c in outcome.combinations:
        s = combination_summary(outcome, c)
        label = ", ".join(f"{k} = {v!r}" for k, v in c.values.items())
        n = s["iterations"]
        if label:
            lines.append(f"[{c.index}] {label}")
        lines.append(f"  at n = {n}: mean gap {_fmt(s['mean_gap'])}; share at zero "
                     f"{_fmt(s['share_zero'], pct=True)}")
        lines.append(f"  reached zero by n = {n}: {s['reached_zero']}/{s['paths']} paths "
                     f"{_fmt(s['share_reached_zero'], pct=True)}; median first zero n = "
                     f"{_fmt(s['median_first_zero_n'])}")
        if "welfare_ratio" in s:
            lines.append(f"  true welfare W(NE)/W(SO) at n = {n} (harness only, first "
                         f"{s['welfare_paths']} paths): mean {_fmt(s['welfare_ratio'])}")
        if s["share_failed_steps"] > 0:
            lines.append(f"  WARNING: {s['share_failed_steps']:.1%} of the steps were skipped "
                         "(the objective could not be evaluated: NaN gap)")
    lines += [f"note: {note}" for note in outcome.notes]
    return "\n".join(lines)
