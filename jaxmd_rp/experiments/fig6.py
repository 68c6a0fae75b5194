"""Figure 6 of the paper: Algorithm 1 on the river-pollution game, many Monte-Carlo paths.

Paper setup (App. A.1): theta = [d2, c11, c12, c13, c21, c22, c23] in Theta = [0, 1]^7,
theta_1 ~ U[0, 0.5]^7, probes e_t ~ U[0, 1]^3 (t = 1..T, T = 10) drawn once per path before the
loop (Algorithm 1, lines 3-7), a = c = 0.5, eta = 1/4, q = 0.001, 200 paths, iterate "until
L(theta) = 0". The readings that the paper leaves open are options (docs/river.md):

- `probe_reading`: "shared" (default; g_t = max_l q_l(x; e_t)/100 - 1 for every player),
  "station" (each monitoring station its own row) or "own";
- `scale`: 100 (default; g in units of the cap) or 1 (raw pollution units);
- `stop`: freeze a path once L(theta_n) <= zero_tol (default, "until L(theta) = 0") or never;
- `fresh_probes`: draw new probes every iteration instead of once per path.

Figure 6 is one configuration of the generic design study (`experiments.study`; `as_study(cfg)`
is the `StudyConfig`, `docs/examples/fig6.toml` the same as a file for `jaxmd-rp study`): this
module adds its own tables (`fig6.csv`, `fig6_paths.csv` with `first_zero_n = -1` for "never",
its documented format) and the paper's claim check.

Randomness: path k's key is p_k = fold_in(PRNGKey(seed), k); theta_1 comes from fold_in(p_k, 0),
its probes from fold_in(p_k, 1) and the SPSA iterations from fold_in(p_k, 2), so path k is the
same in a run of 20 paths and in a run of 20 000.

Large runs: `run_fig6` goes through `jaxmd_rp.run_study`, so the paths are sharded over all devices
(`--devices N`), memory-bounded (`--max-paths-per-batch B`), checkpointed (`--checkpoint-every K`,
`--resume`) and recorded (`run.json`) in the run directory `--out` (alias `--run-dir`); none of
these settings changes the numbers.
"""

import dataclasses
import warnings

import jax
import numpy as np

from .._design._spsa import DEFAULT_GAINS, DEFAULT_STOP_TOL
from .._study._progress import Progress
from . import study
from ._study_config import StudyConfig

THETA_NAMES = ("d2", "c11", "c12", "c13", "c21", "c22", "c23")
GAME = "jaxmd_rp.games:RiverPollution"
CPU_PATHS_PER_BATCH = study.CPU_PATHS_PER_BATCH
WELFARE_PATHS = 1000  # true welfare is tracked on the first paths only (a harness diagnostic)
WELFARE_BATCH = study.WELFARE_BATCH
CLAIM_N = 30


@dataclasses.dataclass(frozen=True)
class Fig6Config:
    paths: int = 200
    iters: int = 50
    seed: int = 0
    num_probes: int = 10
    variant: str = "classic"
    probe_reading: str = "shared"
    scale: float = 100.0
    stop: bool = True
    fresh_probes: bool = False
    a: float = DEFAULT_GAINS["a"]
    c: float = DEFAULT_GAINS["c"]
    eta: float = DEFAULT_GAINS["eta"]
    q: float = DEFAULT_GAINS["q"]
    loglog_floor: float = DEFAULT_GAINS["loglog_floor"]
    theta_init_max: float = 0.5
    perturbation: str = "project"
    zero_tol: float = DEFAULT_STOP_TOL
    chunk: int = 5


@dataclasses.dataclass
class Fig6Result:
    config: Fig6Config
    values: np.ndarray  # (iters, paths): L(theta_n), n = 1..iters
    theta: np.ndarray  # (iters + 1, paths, 7): theta_1 .. theta_{iters+1}
    failed: np.ndarray  # (iters, paths): the step was skipped (an equilibrium solve failed)
    seconds: float
    compile_seconds: float
    devices: int = 1  # devices the paths were sharded over
    start_iteration: int = 0  # iterations restored from a checkpoint (0: fresh start)
    # true-welfare tracking (test-harness knowledge, never used by the designer): per iteration and
    # path, the mean over the path's probes of W(x_NE)/W(x_SO) and of |x_NE - x_SO| (NaN if a solve
    # failed); None when not computed
    welfare_ratio: np.ndarray | None = None
    distance_to_optimum: np.ndarray | None = None


def as_study(cfg: Fig6Config) -> StudyConfig:
    """Figure 6 as a study configuration (`jaxmd-rp study` runs the same numbers from it)."""
    return StudyConfig(
        game=GAME, game_args={"variant": cfg.variant, "probe_reading": cfg.probe_reading,
                              "scale": cfg.scale},
        method="spsa", objective="gap", paths=cfg.paths, iters=cfg.iters, seed=cfg.seed,
        probes=cfg.num_probes, fresh_probes=cfg.fresh_probes, theta0_low=(0.0,) * 7,
        theta0_high=(cfg.theta_init_max,) * 7, stop=cfg.stop, zero_tol=cfg.zero_tol, a=cfg.a,
        c=cfg.c, eta=cfg.eta, q=cfg.q, loglog_floor=cfg.loglog_floor,
        perturbation=cfg.perturbation, chunk=cfg.chunk, welfare_paths=WELFARE_PATHS,
        theta_names=THETA_NAMES)


def build(cfg: Fig6Config):
    """The game, objective, SPSA configuration and per-path (theta_1, probes, keys)."""
    c = study.build(as_study(cfg))
    return c.game, c.objective, c.method, c.theta0, c.probes, c.keys


# Fig6Config fields that do not change the numbers (left out of the checkpoint fingerprint, so a
# study may be resumed with other chunking or more iterations).
EXECUTION_FIELDS = ("chunk", "iters")


def study_config(cfg: Fig6Config) -> dict:
    """The part of `cfg` that determines the numbers: recorded in checkpoints and compared on
    resume (everything except `chunk` and `iters`)."""
    d = dataclasses.asdict(cfg)
    for k in EXECUTION_FIELDS:
        d.pop(k)
    return {"experiment": "fig6", **d}


def run_fig6(cfg: Fig6Config, progress: bool = True, *, devices=None, max_paths_per_batch=None,
             memory_budget: float | None = None, run_dir: str | None = None,
             checkpoint_every: int | None = None, resume: bool = False,
             overwrite: bool = False, track_welfare: bool = True,
             welfare_paths: int = WELFARE_PATHS) -> Fig6Result:
    """Run the experiment: `cfg.iters` SPSA iterations on `cfg.paths` paths, in chunks of
    `cfg.chunk` iterations per compiled call (one compilation; a progress bar between chunks).

    Figure 6 is one configuration of the generic study (`as_study`; `experiments.study`): the
    paths are sharded over `devices` (default: all devices, see `jaxmd_rp.run_study`); each
    device handles at most `max_paths_per_batch` paths at once (or as many as fit in
    `memory_budget` bytes per device); with `run_dir` the run directory
    gets `run.json` and, with `checkpoint_every=k`, a checkpoint every k iterations that
    `resume=True` continues from. The numbers do not depend on any of these settings.
    With `track_welfare` (default) the true welfare along the run is computed afterwards on the
    first `welfare_paths` paths (`welfare_track`; the designer never uses it).
    """
    (group,) = study.prepare(as_study(cfg), check=False)
    with Progress(progress, cfg.iters, "SPSA iterations") as bar:
        res = study.run_group(group, iters=cfg.iters, chunk=cfg.chunk,
                              progress=study.progress_reporter(bar, cfg.zero_tol),
                              devices=devices, max_paths_per_batch=max_paths_per_batch,
                              memory_budget=memory_budget, run_dir=run_dir,
                              checkpoint_every=checkpoint_every, resume=resume,
                              overwrite=overwrite, config=study_config(cfg),
                              run_config=dataclasses.asdict(cfg))
    out = Fig6Result(cfg, res.value, res.theta, res.failed, res.seconds, res.compile_seconds,
                     devices=res.num_devices, start_iteration=res.start_iteration)
    if track_welfare and welfare_paths > 0:
        k = min(welfare_paths, cfg.paths)
        batch = study.default_batch(max_paths_per_batch, memory_budget) or WELFARE_BATCH
        c = group.members[0]
        out.welfare_ratio, out.distance_to_optimum = study.welfare_track(
            c.game, res.theta[: cfg.iters, :k], c.probes[:k], batch)
    return out


def welfare_track(cfg: Fig6Config, theta: np.ndarray, batch: int = None):
    """True welfare along a design run (harness only): for every iteration n and path p, the mean
    over the path's probes of W(x_NE)/W(x_SO) and of |x_NE - x_SO| at theta_n.

    W is the true total profit of the river game at theta_n and x_SO the planner's optimum under the
    same caps (`jaxmd_rp.social_optimum`). The probes are each path's initial probes (also with
    `fresh_probes`). `theta` is (iters, paths, 7) for the first `paths` paths of the study
    (`study.welfare_track`).
    """
    c = study.build(as_study(cfg))
    return study.welfare_track(c.game, theta, c.probes, WELFARE_BATCH if batch is None else batch)


def table(res: Fig6Result) -> list[dict]:
    """One row per iteration n: the `fig6.csv` columns."""
    rows = []
    z = res.config.zero_tol
    for n in range(res.values.shape[0]):
        v = res.values[n]
        with warnings.catch_warnings():  # all-NaN rows (every solve failed) give NaN, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append(_row(res, n, v, z))
    return rows


def _row(res: Fig6Result, n: int, v: np.ndarray, z: float) -> dict:
    row = {
        "n": n + 1,
        "mean_gap": float(np.nanmean(v)),
        "std_gap": float(np.nanstd(v)),
        "max_gap": float(np.nanmax(v)),
        "frac_zero": float(np.mean(v <= z)),
        "frac_reached_zero": float(np.mean(np.any(res.values[: n + 1] <= z, axis=0))),
        "frac_failed": float(np.mean(res.failed[n])),
    }
    for j, name in enumerate(THETA_NAMES):
        row[f"mean_{name}"] = float(np.mean(res.theta[n, :, j]))
    if res.welfare_ratio is not None:
        row["mean_welfare_ratio"] = float(np.nanmean(res.welfare_ratio[n]))
        row["min_welfare_ratio"] = float(np.nanmin(res.welfare_ratio[n]))
        row["mean_distance_to_optimum"] = float(np.nanmean(res.distance_to_optimum[n]))
    return row


PATH_COLUMNS = ("path", "first_zero_n", "final_gap") + tuple(f"final_{n}" for n in THETA_NAMES)


def path_table(res: Fig6Result) -> list[dict]:
    """One row per path: the `fig6_paths.csv` columns (`first_zero_n` = -1: never reached 0)."""
    z = res.config.zero_tol
    hit = res.values <= z
    rows = []
    for p in range(res.values.shape[1]):
        first = int(np.argmax(hit[:, p]) + 1) if hit[:, p].any() else -1
        row = {"path": p, "first_zero_n": first, "final_gap": res.values[-1, p]}
        row.update({f"final_{n}": res.theta[-1, p, j] for j, n in enumerate(THETA_NAMES)})
        rows.append(row)
    return rows


def summary(res: Fig6Result) -> dict:
    """The `fig6_summary.json` content: configuration, claim check, timing, backend."""
    return {"config": dataclasses.asdict(res.config), "claim": claim_check(res),
            "seconds": res.seconds, "compile_seconds": res.compile_seconds,
            "jax_version": jax.__version__, "backend": jax.default_backend(),
            "devices": res.devices, "start_iteration": res.start_iteration}


def claim_check(res: Fig6Result, n_claim: int = CLAIM_N) -> dict:
    """The paper's claim: "achieves L(theta_n) = 0 for n <= 30 in every case"."""
    z = res.config.zero_tol
    v = res.values
    n_avail = min(n_claim, v.shape[0])
    hit = v[:n_avail] <= z
    reached = np.any(hit, axis=0)
    first = np.where(reached, np.argmax(hit, axis=0) + 1, -1)
    at_n = float(np.mean(v[n_avail - 1] <= z))
    return {
        "n_claim": n_claim,
        "n_checked": n_avail,
        "paths": int(v.shape[1]),
        "reached_zero_by_n": int(reached.sum()),
        "frac_reached_zero_by_n": float(reached.mean()),
        "frac_zero_at_n": at_n,
        "median_first_zero": float(np.median(first[reached])) if reached.any() else float("nan"),
        "max_first_zero": int(first[reached].max()) if reached.any() else -1,
        "met": bool(reached.all() and n_avail == n_claim),
    }


def summary_text(res: Fig6Result) -> str:
    cfg = res.config
    chk = claim_check(res)
    rows = table(res)
    lines = [
        f"Figure 6 reproduction: {cfg.paths} paths x {cfg.iters} iterations, seed {cfg.seed}, "
        f"T = {cfg.num_probes}, variant={cfg.variant}, probe_reading={cfg.probe_reading}, "
        f"scale={cfg.scale:g}, stop={'on' if cfg.stop else 'off'}, "
        f"probes={'fresh' if cfg.fresh_probes else 'fixed per path'}",
        f"time: {res.seconds:.2f} s (first chunk incl. compilation {res.compile_seconds:.2f} s)",
        "   n   mean L    std L     max L   share L=0",
    ]
    for n in (1, 5, 10, 20, 30, 40, 50, 100):
        if n <= len(rows):
            r = rows[n - 1]
            lines.append(
                f"{n:4d}  {r['mean_gap']:8.4f} {r['std_gap']:8.4f} {r['max_gap']:8.4f}   {r['frac_zero']:6.1%}"
            )
    last = rows[-1]
    lines.append(
        "mean theta at the end: "
        + ", ".join(f"{name}={last['mean_' + name]:.3f}" for name in THETA_NAMES)
    )
    if "mean_welfare_ratio" in last:
        first = rows[0]
        lines.append(
            f"true welfare (harness only; first {res.welfare_ratio.shape[1]} paths), mean over paths "
            "and probes of W(NE)/W(SO): "
            f"{first['mean_welfare_ratio']:.4f} at n = 1 -> {last['mean_welfare_ratio']:.4f} at "
            f"n = {last['n']} (worst path {last['min_welfare_ratio']:.4f}); mean |x_NE - x_SO|: "
            f"{first['mean_distance_to_optimum']:.3g} -> {last['mean_distance_to_optimum']:.3g}"
        )
    failed = float(np.mean(res.failed))
    if failed > 0 or not np.any(np.isfinite(res.values)):
        lines.append(
            f"WARNING: {failed:.1%} of the SPSA steps were skipped because an equilibrium solve "
            "failed; a gap of NaN means no equilibrium could be computed at theta_n "
            "(e.g. --variant printed: the printed profit is not concave, see docs/river.md)."
        )
    verdict = "MET" if chk["met"] else "NOT MET"
    if chk["n_checked"] < chk["n_claim"]:
        verdict = f"NOT CHECKED (only {chk['n_checked']} iterations run)"
    lines.append(
        f"Paper claim 'L(theta_n) = 0 for n <= {chk['n_claim']} on every path': {verdict} -- "
        f"{chk['reached_zero_by_n']}/{chk['paths']} paths reached L <= {cfg.zero_tol:g} by "
        f"n = {chk['n_checked']} (median first hit n = {chk['median_first_zero']:g}, latest "
        f"{chk['max_first_zero']}); share at zero at n = {chk['n_checked']}: "
        f"{chk['frac_zero_at_n']:.1%}."
    )
    return "\n".join(lines)
