"""`run_study`: any design method on P paths, sharded over devices, memory-bounded, checkpointed.

Each chunk of iterations is one `jax.shard_map`-ped program, compiled once per study (a shorter
last chunk is masked with `lax.cond`, not recompiled), running the design driver
(`scan_paths`) on each device's paths. See the package docstring for the guarantees.
"""

import dataclasses
import importlib
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import PartitionSpec

from .._design._base import AbstractDesignMethod
from .._design._driver import check_args, check_paths, record_study, scan_paths
from .._version import __version__
from ._checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_SUBDIR,
    CheckpointError,
    check_compatible,
    fingerprint,
    load_checkpoint,
    manager,
    save,
    state_arrays,
    state_from_arrays,
    steps,
)
from ._devices import STUDY_AXIS, key_data, pad_paths, put, study_mesh, to_host
from ._rundir import RUN_INFO, RunDirLock, read_run_info, write_run_info


@eqx.filter_jit
def _sharded_chunk(model, states, args, keys, active, *, mesh, num_steps, batch_size, key_impl,
                   record_theta):
    dyn, static = eqx.partition(model, eqx.is_array)
    spec = PartitionSpec(STUDY_AXIS)

    def local(dyn, states, args, keys, active):
        method, fn = eqx.combine(dyn, static)
        return scan_paths(method, fn, keys, states, args, num_steps=num_steps,
                          record=record_study(record_theta), active=active,
                          batch_size=batch_size, key_impl=key_impl)

    f = jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), spec, spec, spec, PartitionSpec()),
                      out_specs=spec, check_vma=False)
    return f(dyn, states, args, keys, active)


def _place(method, fn, state_host, args, keys_host, mesh, num_padded):
    """Global arrays: (method, fn) replicated; state, args, keys padded and sharded over paths."""
    spec, rep = PartitionSpec(STUDY_AXIS), PartitionSpec()
    model = jax.tree.map(lambda x: put(x, mesh, rep) if eqx.is_array(x) else x, (method, fn))
    shard = lambda x: put(pad_paths(x, num_padded), mesh, spec)  # noqa: E731
    return (model, jax.tree.map(shard, state_host), jax.tree.map(shard, args), shard(keys_host))


def _initial_state(method, theta0):
    return jax.tree.map(np.asarray, jax.vmap(method.init)(theta0))


def study_memory(fn: Callable, method: AbstractDesignMethod, theta0, args: Any = None, *, keys,
                 chunk: int = 1, devices: int | Sequence | None = None,
                 max_paths_per_batch: int | None = None, record_theta: bool = True) -> dict:
    """XLA's memory analysis of one compiled chunk of `run_study` (bytes per device).

    Compiles (does not run) the program `run_study` would run with these settings and returns
    `temp_bytes` (working memory), `argument_bytes`, `output_bytes`, `total_bytes` (their sum, per
    device) and `paths_per_device`. Use it to choose `max_paths_per_batch`: the working memory
    grows with the paths evaluated at once, i.e. min(P / devices, max_paths_per_batch).
    """
    theta0 = check_paths(theta0, method)
    P = theta0.shape[0]
    key_impl, keys_host = key_data(keys)
    mesh = study_mesh(devices)
    Ppad = -(-P // mesh.devices.size) * mesh.devices.size
    placed = _place(method, fn, _initial_state(method, theta0), args, keys_host, mesh, Ppad)
    active = put(np.asarray(chunk, np.int32), mesh, PartitionSpec())
    compiled = _sharded_chunk.lower(
        *placed, active, mesh=mesh, num_steps=chunk, batch_size=max_paths_per_batch,
        key_impl=key_impl, record_theta=record_theta).compile()
    ma = compiled.compiled.memory_analysis()  # eqx.filter_jit wraps the jax Compiled
    out = {"temp_bytes": int(ma.temp_size_in_bytes), "argument_bytes": int(ma.argument_size_in_bytes),
           "output_bytes": int(ma.output_size_in_bytes), "paths_per_device": Ppad // mesh.devices.size}
    out["total_bytes"] = out["temp_bytes"] + out["argument_bytes"] + out["output_bytes"]
    return out


@dataclasses.dataclass
class StudyResult:
    """Output of `run_study` (numpy arrays, the same on every process).

    `value`, `failed`: (num_steps, P), the objective at theta_n and the skipped-step flags,
    n = 1..num_steps; `theta`: (num_steps + 1, P, p), theta_1 .. theta_{num_steps+1} (None with
    `record_theta=False`); `state`: the final design state of every path (the method's state
    pytree, e.g. `SPSAState`); `seconds`: wall time of this session; `compile_seconds`: its first
    chunk (compilation included); `num_devices`: the mesh size; `start_iteration`: iterations
    restored from a checkpoint (0 for a fresh start); `max_paths_per_batch`: the batch bound used
    (given, or chosen from `memory_budget`).
    """

    value: np.ndarray
    failed: np.ndarray
    theta: np.ndarray | None
    state: Any
    seconds: float
    compile_seconds: float
    num_devices: int
    start_iteration: int = 0
    max_paths_per_batch: int | None = None

    def paths(self, index) -> "StudyResult":
        """The same result restricted to some paths (`index`: a slice or an integer array)."""
        return dataclasses.replace(
            self, value=self.value[:, index], failed=self.failed[:, index],
            theta=None if self.theta is None else self.theta[:, index],
            state=jax.tree.map(lambda x: np.asarray(x)[index], self.state))

    def tidy(self, theta_names: Sequence[str] | None = None) -> dict:
        """The long ("tidy") table as numpy columns: one row per path and iteration n = 1 ..
        num_steps, ordered by path, then n.

        Columns: `path` (0-based), `n`, `value` (the objective at theta_n; NaN where it could
        not be evaluated), `failed` (the step from theta_n was skipped), and theta_n's
        coordinates named `theta_names` (default `theta_0`, `theta_1`, ...; absent with
        `record_theta=False`). theta_{num_steps + 1}, the final point, is `state.theta`.
        """
        N, P = self.value.shape
        cols = {"path": np.repeat(np.arange(P), N), "n": np.tile(np.arange(1, N + 1), P),
                "value": self.value.T.reshape(-1).astype(np.float64, copy=False),
                "failed": self.failed.T.reshape(-1).astype(bool, copy=False)}
        if self.theta is not None:
            p = self.theta.shape[-1]
            names = tuple(theta_names) if theta_names is not None else tuple(
                f"theta_{j}" for j in range(p))
            if len(names) != p:
                raise ValueError(f"`theta_names` must name the p = {p} coordinates; got "
                                 f"{len(names)}.")
            th = np.swapaxes(self.theta[:N], 0, 1).reshape(N * P, p)
            cols.update({name: th[:, j] for j, name in enumerate(names)})
        return cols

    def to_dataframe(self, theta_names: Sequence[str] | None = None):
        """`tidy()` as a pandas DataFrame (pandas is optional: `pip install 'jaxmd_rp[parquet]'`).

        ```python
        >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
        >>> spsa = rp.SPSA(lower=-jnp.ones(2), upper=jnp.ones(2), q=0.0, stop_tol=None)
        >>> fn = lambda th, args, key: jnp.sum((th - 0.3) ** 2)
        >>> res = rp.run_study(fn, spsa, jnp.zeros((3, 2)), keys=rp.path_keys(
        ...     jax.random.PRNGKey(0), 3), num_steps=4, chunk=4)
        >>> df = res.to_dataframe(theta_names=["x", "y"])
        >>> df.shape, list(df.columns)
        ((12, 6), ['path', 'n', 'value', 'failed', 'x', 'y'])

        ```
        """
        pd = optional_import("pandas", "StudyResult.to_dataframe")
        return pd.DataFrame(self.tidy(theta_names))


def optional_import(module: str, purpose: str):
    """Import an optional dependency (pandas, pyarrow), or an ImportError saying how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{purpose} needs {module}, an optional dependency: pip install "
                          f"'jaxmd_rp[parquet]' (pandas and pyarrow), or pip install {module}."
                          ) from None


def _check_settings(num_steps, chunk, checkpoint_every, resume, run_dir, max_paths_per_batch,
                    memory_budget):
    def positive_int(name, v, allow_none=True):
        if v is None and allow_none:
            return
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"`{name}` must be an integer >= 1{' or None' if allow_none else ''}; "
                             f"got {v!r}.")

    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 0:
        raise ValueError(f"`num_steps` must be an integer >= 0; got {num_steps!r}.")
    positive_int("chunk", chunk, allow_none=False)
    positive_int("checkpoint_every", checkpoint_every)
    positive_int("max_paths_per_batch", max_paths_per_batch)
    if (checkpoint_every is not None or resume) and run_dir is None:
        raise ValueError("`checkpoint_every` and `resume` need a `run_dir`.")
    if memory_budget is not None and not (np.isfinite(memory_budget) and memory_budget > 0):
        raise ValueError(f"`memory_budget` must be a finite number of bytes > 0; got {memory_budget}.")


def _batch_from_budget(fn, method, theta0, args, keys, chunk, devices, record_theta, budget):
    def memory(batch=None):
        return study_memory(fn, method, theta0, args, keys=keys, chunk=chunk, devices=devices,
                            record_theta=record_theta, max_paths_per_batch=batch)

    need = memory()
    if need["total_bytes"] <= budget:
        return None
    per_path = need["temp_bytes"] / need["paths_per_device"]
    fixed = need["total_bytes"] - need["temp_bytes"]
    batch = max(1, int((budget - fixed) // per_path))
    # the working memory need not be linear in the batch (the equilibrium enumeration takes a
    # route with less memory per system in large batches): check the choice, shrink until it fits
    for _ in range(8):
        got = memory(batch)
        if got["total_bytes"] <= budget or batch == 1:
            return batch
        scaled = int(batch * (budget - fixed) / max(got["total_bytes"] - fixed, 1))
        batch = max(1, min(batch - 1, scaled))
    return 1  # eight checks did not find a fitting batch: the smallest one


def _inputs(method, fn, theta0_host, args, keys_host, dtype) -> dict:
    """Fingerprints of every input that determines the numbers (compared on resume)."""
    return {"method": fingerprint(method), "objective": fingerprint(fn),
            "theta0": fingerprint(theta0_host), "args": fingerprint(args),
            "keys": fingerprint(keys_host), "dtype": str(np.dtype(dtype))}


def _check_run_dir(run_dir, resume, overwrite):
    """(committed, sealed) checkpoint steps; refuse to clobber or to resume nothing."""
    committed, sealed = steps(run_dir)
    if committed and not resume:
        raise FileExistsError(
            f"{run_dir!r} already holds checkpoints (latest after iteration {committed[-1]}); pass "
            "resume=True (--resume) to continue that study, or choose another run directory.")
    if resume and not sealed:
        raise CheckpointError(
            f"nothing to resume: {os.path.join(run_dir, CHECKPOINT_SUBDIR)!r} holds no complete "
            "checkpoint. Start without --resume (with --overwrite if the directory holds a "
            "previous run).")
    if not resume and not overwrite and os.path.exists(os.path.join(run_dir, RUN_INFO)):
        raise FileExistsError(
            f"{run_dir!r} holds a previous run ({RUN_INFO}); pass overwrite=True (--overwrite) to "
            "replace it, or choose another run directory.")
    if resume:
        try:
            read_run_info(run_dir)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
    return committed, sealed


class _History:
    """Values, failure flags and thetas gathered chunk by chunk (host arrays)."""

    def __init__(self, init_theta, record_theta):
        self.record_theta = record_theta
        self.values, self.fails = [], []
        self.thetas = [init_theta[None]] if record_theta else []

    def restore(self, arrays):
        self.values, self.fails = [arrays["value"]], [arrays["failed"]]
        if self.record_theta:
            self.thetas = [arrays["theta_history"]]

    def add(self, v, f, th, P, n):
        self.values.append(v[:P, :n].T)
        self.fails.append(f[:P, :n].T)
        if self.record_theta:
            self.thetas.append(np.swapaxes(th[:P, :n], 0, 1))

    def arrays(self, P):
        value = np.concatenate(self.values, axis=0) if self.values else np.zeros((0, P))
        failed = np.concatenate(self.fails, axis=0) if self.fails else np.zeros((0, P), bool)
        theta = np.concatenate(self.thetas, axis=0) if self.record_theta else None
        return value, failed, theta


def run_study(fn: Callable, method: AbstractDesignMethod, theta0, args: Any = None, *, keys,
              num_steps: int, chunk: int = 5, devices: int | Sequence | None = None,
              max_paths_per_batch: int | None = None, memory_budget: float | None = None,
              run_dir: str | None = None, checkpoint_every: int | None = None,
              resume: bool = False, overwrite: bool = False,
              config: dict | None = None, run_config: dict | None = None,
              record_theta: bool = True, progress: Callable | None = None) -> StudyResult:
    """Run `num_steps` iterations of a design method on P paths, sharded, with checkpoints.

    **Arguments:**

    - `fn`, `method`: the objective `fn(theta, args, key) -> scalar` and the design method
      (`SPSA`, `GradientDesign`, any `AbstractDesignMethod`), as in `design_minimise`.
    - `theta0`: (P, p) starting points (projected onto Theta by `method.init`).
    - `args`: per-path arguments with leading axis P (e.g. each path's probes), or `None`.
    - `keys`: per-path keys (P,) (`path_keys(key, P)`); iteration n of path k uses
      `fold_in(keys[k], n)`, exactly as `design_steps`.
    - `num_steps`: iterations in total (a resumed study runs the missing ones).
    - `chunk`: iterations per compiled call (results come back and checkpoints are written
      between calls).
    - `devices`: `None` (all devices of all processes), a count, or a list (see `study_devices`).
    - `max_paths_per_batch`: memory bound; each device processes at most this many paths at once
      (`jax.lax.map(..., batch_size=...)`). `None`: all of its paths at once (or as many as
      `memory_budget` allows).
    - `memory_budget`: bytes per device for one compiled chunk. If set (and `max_paths_per_batch`
      is not), the unbatched program's memory is measured with `study_memory` (one extra
      compilation) and, if it exceeds the budget, `max_paths_per_batch` is set to the paths that
      fit (the working memory is linear in the paths evaluated at once).
    - `run_dir`: where `run.json` and `checkpoints/` go (`None`: nothing is written). The
      directory is locked for the run (`RunDirectoryLocked` if another run holds it).
    - `checkpoint_every`: save every k iterations and at the end (needs `run_dir`).
    - `resume`: continue from the latest checkpoint in `run_dir` (`CheckpointError` if there is
      none, or if it was written by another study: the configuration, the design method, the
      objective, theta0, args, keys and dtype are all compared).
    - `overwrite`: replace a previous run in `run_dir` (its `run.json`) that has no checkpoints.
    - `config`: JSON-serialisable description of the study; recorded in `run.json` and in every
      checkpoint, and a checkpoint with another `config` is refused. Leave out settings that may
      change on resume (devices, chunking, `num_steps`).
    - `run_config`: the full configuration to record in `run.json` (default: `config`).
    - `record_theta`: keep theta at every iteration (else only the final state).
    - `progress`: called after every chunk as `progress(done, num_steps, value_at_done)`.

    **Returns:** a `StudyResult`. Raises `CheckpointError` for a checkpoint it refuses, and
    `FileExistsError` if `run_dir` already holds a run and neither `resume` nor `overwrite` is set.

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> spsa = rp.SPSA(lower=-jnp.ones(2), upper=jnp.ones(2), q=0.0, stop_tol=None)
    >>> fn = lambda th, args, key: jnp.sum((th - 0.3) ** 2)
    >>> keys = rp.path_keys(jax.random.PRNGKey(0), 4)
    >>> res = rp.run_study(fn, spsa, jnp.zeros((4, 2)), keys=keys, num_steps=200, chunk=50)
    >>> bool(jnp.allclose(res.theta[-1], 0.3, atol=0.05)), res.value.shape
    (True, (200, 4))

    ```
    """
    _check_settings(num_steps, chunk, checkpoint_every, resume, run_dir, max_paths_per_batch,
                    memory_budget)
    theta0 = check_paths(theta0, method)
    P, p = theta0.shape
    check_args(args, P)
    key_impl, keys_host = key_data(keys)
    if keys_host.shape[0] != P:
        raise ValueError(f"`keys` must hold one key per path ({P}); got shape {keys_host.shape}.")
    chunk = max(1, min(int(chunk), max(num_steps, 1)))
    config = json.loads(json.dumps(config, default=str)) if config is not None else None
    mesh = study_mesh(devices)
    if memory_budget is not None and max_paths_per_batch is None:
        max_paths_per_batch = _batch_from_budget(fn, method, theta0, args, keys, chunk, devices,
                                                 record_theta, memory_budget)
    init = _initial_state(method, theta0)
    run = _Run(fn, method, init, args, keys_host, key_impl, mesh, num_steps, chunk,
               max_paths_per_batch, record_theta, progress, config)
    if run_dir is None:
        return run.execute(None, 0)
    with RunDirLock(run_dir):
        committed, sealed = _check_run_dir(run_dir, resume, overwrite)
        start = run.restore(run_dir, sealed[-1]) if resume else 0
        if jax.process_count() > 1:  # every process has read the directory before anyone writes
            multihost_utils.sync_global_devices("jaxmd_rp study: run directory checked")
        write_run_info(run_dir, run_config if run_config is not None else config, mesh,
                       study_config=config, resumed_from=start,
                       extra={"num_paths": P, "num_steps": num_steps, "chunk": chunk,
                              "max_paths_per_batch": max_paths_per_batch,
                              "memory_budget": memory_budget,
                              "checkpoint_every": checkpoint_every})
        mgr = None
        if checkpoint_every is not None:
            mgr = manager(os.path.join(run_dir, CHECKPOINT_SUBDIR), create=True)
            for st in committed:  # committed after the resumed step but never sealed: redo them
                if st > start:
                    mgr.delete(st)
        try:
            return run.execute((mgr, checkpoint_every) if mgr is not None else None, start)
        finally:
            if mgr is not None:
                mgr.close()


class _Run:
    """The state of one `run_study` session: inputs on the host, history, the chunk loop."""

    def __init__(self, fn, method, init, args, keys_host, key_impl, mesh, num_steps, chunk,
                 batch, record_theta, progress, config):
        self.fn, self.method, self.init, self.args = fn, method, init, args
        self.keys_host, self.key_impl, self.mesh = keys_host, key_impl, mesh
        self.num_steps, self.chunk, self.batch = num_steps, chunk, batch
        self.record_theta, self.progress, self.config = record_theta, progress, config
        self.P, self.p = init.theta.shape
        self.state = init
        self.history = _History(init.theta, record_theta)
        self.inputs = _inputs(method, fn, init.theta, args, keys_host, init.theta.dtype)
        self.meta = {"format": CHECKPOINT_FORMAT, "jaxmd_rp": __version__, "config": config,
                     "num_paths": self.P, "theta_dim": self.p, "jax": jax.__version__,
                     "inputs": self.inputs}

    def restore(self, run_dir: str, step: int) -> int:
        arrays, meta = load_checkpoint(run_dir, step)
        where = os.path.join(run_dir, CHECKPOINT_SUBDIR, str(step))
        check_compatible(meta, arrays, config=self.config, version=__version__,
                         num_paths=self.P, theta_dim=self.p, num_steps=self.num_steps,
                         inputs=self.inputs, where=where)
        if self.record_theta and "theta_history" not in arrays:
            raise CheckpointError(f"refusing to resume from {where!r}: it holds no theta history "
                                  "(written with record_theta=False) but this study records it.")
        self.state = state_from_arrays(self.init, arrays)
        self.history.restore(arrays)
        return int(arrays["done"])

    def _save(self, mgr, done):
        value, failed, theta = self.history.arrays(self.P)
        arrays = {**state_arrays(self.state), "keys": self.keys_host, "value": value,
                  "failed": failed, "done": np.asarray(done, np.int64)}
        if self.record_theta:
            arrays["theta_history"] = theta
        save(mgr, done, arrays, self.meta)

    def execute(self, checkpoints, start: int) -> StudyResult:
        mesh, P = self.mesh, self.P
        ndev = mesh.devices.size
        Ppad = -(-P // ndev) * ndev
        model, g_state, g_args, g_keys = _place(self.method, self.fn, self.state, self.args,
                                                self.keys_host, mesh, Ppad)
        every = checkpoints[1] if checkpoints is not None else None
        t0 = time.perf_counter()
        compile_s, done, first = 0.0, start, True
        while done < self.num_steps:
            n = min(self.chunk, self.num_steps - done)
            if every is not None:
                n = min(n, (done // every + 1) * every - done)
            t_c = time.perf_counter()
            g_state, (v, f, th) = _sharded_chunk(
                model, g_state, g_args, g_keys, put(np.asarray(n, np.int32), mesh, PartitionSpec()),
                mesh=mesh, num_steps=self.chunk, batch_size=self.batch, key_impl=self.key_impl,
                record_theta=self.record_theta)
            v, f, th, st = to_host((v, f, th, g_state))
            if first:
                compile_s, first = time.perf_counter() - t_c, False
            self.history.add(v, f, th, P, n)
            self.state = jax.tree.map(lambda x: x[:P], st)
            done += n
            if every is not None and (done % every == 0 or done == self.num_steps):
                self._save(checkpoints[0], done)
            if self.progress is not None:
                self.progress(done, self.num_steps, self.history.values[-1][-1])
        value, failed, theta = self.history.arrays(P)
        return StudyResult(value=value, failed=failed, theta=theta, state=self.state,
                           seconds=time.perf_counter() - t0, compile_seconds=compile_s,
                           num_devices=ndev, start_iteration=start, max_paths_per_batch=self.batch)
