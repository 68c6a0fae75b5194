r"""Design studies of any game: a configuration in, tables out (`jaxmd-rp study`).

A study runs a design method (`SPSA` or `GradientDesign`) on an objective (the Pareto gap, its
smoothed surrogate or the Wasserstein-robust gap) of a user's game on many Monte-Carlo paths,
through `jaxmd_rp.run_study` (sharded over devices and hosts, memory-bounded, checkpointed,
resumable, locked). `StudyConfig` (`_study_config.py`) says everything about it; a `sweep` in it
turns it into a grid of combinations, run in one compiled program where their shapes allow
(`_sweep.py`) and one after another otherwise.

**Randomness** (the same as Figure 6, which is one configuration of this module): path k of a
combination with seed s uses the key p_k = fold_in(PRNGKey(s), k); theta_1 = uniform(fold_in(p_k,
0)) in [theta0_low, theta0_high], its probes = `sample_probes(game, fold_in(p_k, 1), T)` and the
design iterations use fold_in(p_k, 2) (iteration n: fold_in(fold_in(p_k, 2), n)). A path's numbers
depend on its index, the seed and the settings only: not on the number of paths, the devices,
the batches, the other combinations of a sweep or a resume.

**Run directory** (`run(cfg, run_dir=...)`): `study.toml` (the resolved configuration, which
`jaxmd-rp study --config` accepts), `probes.npz` (each combination's probes, key = combination),
`run.json` (versions, devices, sessions) and `runs/<g>/` (the checkpoints of group g). The
directory is locked while the study runs.
"""

import dataclasses
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._study import CheckpointError, StudyResult, latest_checkpoint_step, run_study
from .._study._progress import Progress
from .._study._rundir import RunDirLock
from .._welfare import welfare_report
from ._study_build import Combination as Combination
from ._study_build import build as build
from ._study_build import make_method as make_method
from ._study_build import make_objective as make_objective
from ._study_config import StudyConfig, StudyError, grid
from ._study_files import CONFIG_FILE as CONFIG_FILE
from ._study_files import PROBES_FILE as PROBES_FILE
from ._study_files import check_run_dir, record
from ._study_files import checkpoint_config as checkpoint_config
from ._study_files import read_config as read_config
from ._study_files import resolve_paths as resolve_paths
from ._sweep import combine, signature

CPU_PATHS_PER_BATCH = 50  # default memory/cache batch on CPU backends (accelerators: all paths)
WELFARE_BATCH = 1000  # paths per batch of the welfare computation (memory bound)
RUNS_SUBDIR = "runs"


@dataclasses.dataclass
class Group:
    """Combinations that run as one study (one compiled program)."""

    members: list
    method: object
    objective: object
    theta0: np.ndarray
    args: object
    keys: np.ndarray


def _single(c: Combination) -> Group:
    return Group([c], c.method, c.objective, c.theta0, c.probes, c.keys)


def _path0(group: Group):
    return jax.tree.map(lambda x: x[0], (group.theta0, group.args, group.keys))


def trace_check(group: Group):
    """Trace one design step of the group's path 0 (no compilation): errors in the game, the
    objective or the method surface here, before anything runs."""
    theta0, args, key = _path0(group)
    state = group.method.init(theta0)
    # array leaves traced, the others static: as in the compiled study (`eqx.partition`)
    eqx.filter_eval_shape(lambda m, o, k, s, a: m.step(k, s, o, a), group.method,
                          group.objective, key, state, args)


def _merge(members: list) -> Group | None:
    """One group for combinations of one structure, or None if they cannot share a program."""
    both = combine([c.method for c in members], [c.objective for c in members])
    if both is None:
        return None
    method, objective = both
    P = members[0].theta0.shape[0]
    index = np.repeat(np.arange(len(members), dtype=np.int32), P)
    group = Group(members, method, objective, np.concatenate([c.theta0 for c in members]),
                  (index, np.concatenate([c.probes for c in members])),
                  np.concatenate([c.keys for c in members]))
    try:  # each path must start exactly as in a separate run, and one step must trace
        for c in members:
            mine = jax.vmap(c.method.init)(c.theta0)
            theirs = jax.vmap(method.init)(c.theta0)
            same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), mine, theirs)
            if not all(jax.tree.leaves(same)):
                return None
        trace_check(group)
    except Exception:  # a leaf used as a Python value or a shape: run the members one by one
        return None
    return group


def prepare(cfg: StudyConfig, *, check: bool = True) -> list[Group]:
    """Build every combination of `cfg`'s sweep and group those that share a compiled program.
    With `check`, one design step of every group is traced first (`StudyError` on failure)."""
    combos = [build(cfg.combination(v) if v else cfg, i, v) for i, v in enumerate(grid(cfg.sweep))]
    by_shape: dict = {}
    for c in combos:
        key = (signature((c.method, c.objective)), c.theta0.shape, c.probes.shape, c.keys.shape)
        by_shape.setdefault(key, []).append(c)
    groups = []
    for members in by_shape.values():
        merged = _merge(members) if len(members) > 1 else None
        groups += [merged] if merged is not None else [_single(c) for c in members]
    if check:
        for g in groups:
            if len(g.members) == 1:
                try:
                    trace_check(g)
                except (ValueError, TypeError, IndexError, AttributeError,
                        NotImplementedError) as e:
                    raise StudyError(f"one design step cannot be traced: {type(e).__name__}: "
                                     f"{e}") from None
    return groups


def run_group(group: Group, *, iters: int, chunk: int, progress=None, devices=None,
              max_paths_per_batch=None, memory_budget=None, run_dir=None, checkpoint_every=None,
              resume=False, overwrite=False, config=None, run_config=None) -> StudyResult:
    """Run one group through `run_study` (default batch on CPU: `CPU_PATHS_PER_BATCH`)."""
    return run_study(group.objective, group.method, group.theta0, group.args, keys=group.keys,
                     num_steps=iters, chunk=chunk, devices=devices,
                     max_paths_per_batch=default_batch(max_paths_per_batch, memory_budget),
                     memory_budget=memory_budget, run_dir=run_dir,
                     checkpoint_every=checkpoint_every, resume=resume, overwrite=overwrite,
                     config=config, run_config=run_config, progress=progress)


def default_batch(max_paths_per_batch, memory_budget):
    """Cache-sized batches on a CPU (about 1.5x faster than all paths at once, same numbers)."""
    if max_paths_per_batch is None and memory_budget is None and jax.default_backend() == "cpu":
        return CPU_PATHS_PER_BATCH
    return max_paths_per_batch


def welfare_track(game, theta: np.ndarray, probes, batch: int = WELFARE_BATCH):
    """True welfare along a design run (a harness diagnostic; the designer never uses it): for
    every iteration n and path, the mean over the path's probes of W(x_NE)/W(x_SO) and of
    |x_NE - x_SO| at theta_n (`welfare_report`; NaN where a solve failed). `theta` is (iters,
    paths, p), `probes` (paths, T, probe_dim). One compiled call per game structure and shape
    (reused by later runs), mapped over iterations and over batches of `batch` paths (memory
    bound)."""
    theta = jnp.asarray(theta)
    probes = probes[: theta.shape[1]]
    ratio, dist = _welfare_track(game, theta, probes, min(batch, theta.shape[1]))
    return np.asarray(ratio), np.asarray(dist)


@eqx.filter_jit
def _welfare_track(game, theta, probes, batch: int):
    def one_path(tp):  # theta (p,), probes (T, q): means over the probes
        th, pr = tp
        rep = jax.vmap(lambda p: welfare_report(game, th, p))(pr)
        ratio = jnp.where(rep.ok, rep.ratio, jnp.nan)
        dist = jnp.where(rep.ok, rep.distance, jnp.nan)
        return jnp.mean(ratio), jnp.mean(dist)

    def one_iteration(th):  # th: (paths, p)
        return jax.lax.map(one_path, (th, probes), batch_size=batch)

    return jax.lax.map(one_iteration, theta)


def progress_reporter(bar: Progress, zero_tol: float, offset: int = 0):
    """A `run_study` progress callback that moves `bar` and shows the mean gap and share at 0."""

    def report(done, total, v):
        bar.update(offset + done, mean_gap=f"{np.nanmean(v):.3g}",
                   at_zero=f"{np.mean(v <= zero_tol):.0%}")

    return report


@dataclasses.dataclass
class StudyOutcome:
    """The result of `run`: per combination (sweep point) its `StudyResult`, probes and true
    welfare (None when not tracked); `groups` lists the combinations that ran together."""

    config: StudyConfig
    combinations: list  # [Combination]
    results: list  # [StudyResult] per combination
    welfare_ratio: list  # [(iters, paths_w) array or None]
    distance_to_optimum: list
    groups: list  # [[combination indices]] (one compiled program each)
    seconds: float
    notes: list = dataclasses.field(default_factory=list)  # e.g. why welfare was not tracked

    @property
    def theta_names(self) -> tuple:
        p = self.combinations[0].theta0.shape[1]
        names = self.config.theta_names
        return tuple(names) if names is not None else tuple(f"theta_{j}" for j in range(p))


def _split(res: StudyResult, group: Group) -> list:
    P = group.members[0].theta0.shape[0]
    return [res.paths(slice(i * P, (i + 1) * P)) for i in range(len(group.members))]


def run(cfg: StudyConfig, *, run_dir: str | None = None, resume: bool = False,
        overwrite: bool = False, progress=True, check: bool = True) -> StudyOutcome:
    """Run a study (every combination of its sweep) and return a `StudyOutcome`.

    `run_dir`: the run directory (see the module docstring; locked while running); `resume`:
    continue from the checkpoints there (`cfg.checkpoint_every` must have been set); `overwrite`:
    replace a previous study without checkpoints; `progress`: True (a bar), a callable or None.
    """
    t0 = time.perf_counter()
    if run_dir is None:
        return _execute(cfg, prepare(cfg, check=check), None, False, overwrite, progress, t0)
    with RunDirLock(run_dir):
        check_run_dir(cfg, run_dir, resume, overwrite)  # before anything is built or compiled
        groups = prepare(cfg, check=check)
        subdirs = [os.path.join(run_dir, RUNS_SUBDIR, str(g)) for g in range(len(groups))]
        done = [latest_checkpoint_step(d) or 0 for d in subdirs]
        if resume and not any(done):
            raise CheckpointError(f"nothing to resume: {run_dir!r} holds no complete checkpoint "
                                  "(was checkpoint_every set?).")
        record(cfg, groups, run_dir, min(done) if resume else 0)
        return _execute(cfg, groups, subdirs, resume, overwrite, progress, t0)


def _execute(cfg, groups, subdirs, resume, overwrite, progress, t0) -> StudyOutcome:
    C = sum(len(g.members) for g in groups)
    results, ratio, dist = [None] * C, [None] * C, [None] * C
    budget = None if cfg.memory_budget is None else cfg.memory_budget * 2**30
    ckpt = checkpoint_config(cfg)
    with Progress(progress, cfg.iters * len(groups), "design iterations") as bar:
        for g, group in enumerate(groups):
            sub = subdirs[g] if subdirs else None
            again = resume and latest_checkpoint_step(sub) is not None
            res = run_group(group, iters=cfg.iters, chunk=cfg.chunk,
                            progress=progress_reporter(bar, cfg.zero_tol, g * cfg.iters),
                            devices=cfg.devices, max_paths_per_batch=cfg.max_paths_per_batch,
                            memory_budget=budget, run_dir=sub,
                            checkpoint_every=cfg.checkpoint_every if sub else None, resume=again,
                            overwrite=overwrite or (resume and not again),
                            config={**ckpt, "group": [c.index for c in group.members]},
                            run_config=cfg.to_dict())
            for c, part in zip(group.members, _split(res, group), strict=True):
                results[c.index] = part
    combos = [c for g in groups for c in g.members]
    combos.sort(key=lambda c: c.index)
    batch = default_batch(cfg.max_paths_per_batch, cfg.memory_budget) or WELFARE_BATCH
    notes = []
    for c in combos:
        k = min(cfg.welfare_paths, cfg.paths)
        if k > 0:
            try:  # a diagnostic: a game whose social optimum cannot be traced costs no results
                ratio[c.index], dist[c.index] = welfare_track(
                    c.game, results[c.index].theta[: cfg.iters, :k], c.probes[:k], batch)
            except (ValueError, TypeError, NotImplementedError) as e:
                notes.append(f"true welfare not tracked for combination {c.index}: "
                             f"{type(e).__name__}: {str(e).splitlines()[0]}")
    return StudyOutcome(cfg, combos, results, ratio, dist,
                        [[c.index for c in g.members] for g in groups], time.perf_counter() - t0,
                        notes)
