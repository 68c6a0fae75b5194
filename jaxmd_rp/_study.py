r"""Large SPSA studies: paths sharded over devices and hosts, memory-bounded batches,
checkpoint/resume and a reproducible run directory.

`run_study(fn, spsa, theta0, args, keys=..., num_steps=...)` runs Algorithm 1 (`SPSA`) on P paths
like `spsa_steps`, but

- **sharded:** the path axis is laid out on a one-axis device mesh (`jax.sharding.Mesh`, axis name
  `"paths"`) and a chunk of iterations is one `jax.shard_map`-ped program, compiled once per study
  (the chunk length is fixed; a shorter last chunk is masked with `lax.cond`, not recompiled).
  Paths never talk to each other, so every device runs its own shard with no collectives. When P
  does not divide the device count, the path axis is padded with copies of path 0 and the padding
  is dropped from the results.
- **layout-independent:** path k's randomness is `fold_in(keys[k], n)` at iteration n and nothing
  else, so 1, 2, 4 or 8 devices, any chunking of the iterations and any memory batching give
  bit-identical numbers (checked by `tests/test_study.py` on 8 simulated CPU devices).
- **memory-bounded:** with `max_paths_per_batch=B` each device walks through its paths B at a time
  (`jax.lax.map(..., batch_size=B)` inside the compiled program) instead of materialising all
  3 x T equilibrium solves of all its paths at once. Peak memory then scales with B, not P.
  `study_memory` reports XLA's memory analysis of the compiled step, and `memory_budget=bytes`
  chooses B from it. On CPU smaller batches also run faster: each call of the compiled step
  page-faults its whole working buffer (about 0.4 MiB per path evaluated at once for the river
  game), so B ~ 100 runs about twice as fast as all paths at once (`benchmarks/README.md`).
- **multi-host:** after `jax.distributed.initialize()` the mesh spans the devices of every process
  (`jax.devices()`); inputs are built with `jax.make_array_from_callback` (every process computes
  the same host arrays from the seed and hands over its own shards) and results come back with
  `jax.experimental.multihost_utils.process_allgather`. With one process these are the same calls,
  so the single-host code path is the multi-host one. `tests/test_study.py` joins two processes
  with `jax.distributed` over localhost (CPU collectives over gloo); real multi-host runs are not
  tested.
- **checkpoint/resume:** with `run_dir` and `checkpoint_every=k` the study saves, every k iterations
  and at the end, the state of every path (theta, n, stopped), the per-path keys and the metrics so
  far (values, failure flags, theta history) to `run_dir/checkpoints/<iterations done>/` with
  orbax-checkpoint (`CheckpointManager`: written to a temporary directory and renamed on commit, so
  a kill never leaves a half-written step behind; the last two steps are kept). Once committed, the
  step is sealed: `jaxmd_rp_files.json` records the SHA-256 of each of its files (a step killed
  between commit and seal is ignored and redone). `resume=True` continues from the latest sealed
  step. A checkpoint is refused (`CheckpointError`) when a file differs from its seal, orbax
  cannot read it or its arrays do not match their recorded hash (corrupt), or when it was written
  by another study configuration, another number of paths, other keys or another jaxmd_rp version
  (mismatched). The files are checked before orbax reads anything, so a damaged file is reported
  cleanly instead of failing inside orbax's concurrent reads.
- **reproducible:** `run_dir/run.json` records the study configuration and seed, the versions of
  jaxmd_rp, JAX, jaxlib, numpy and orbax, the device kind and count, the process count, x64 and the
  command line, with one entry per session (start or resume).
"""

import dataclasses
import datetime
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._spsa import SPSA, SPSAState
from ._version import __version__

STUDY_AXIS = "paths"
CHECKPOINT_FORMAT = "jaxmd_rp.study/1"
CHECKPOINT_SUBDIR = "checkpoints"
RUN_INFO = "run.json"
SEAL = "jaxmd_rp_files.json"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from: unreadable/corrupt, or written by another study."""


# --------------------------------------------------------------------------------------------
# devices and layout


def study_devices(devices: int | Sequence | None = None) -> list:
    """The devices a study runs on, ordered by (process, id).

    `None`: all devices of all processes. An integer N: the first N devices (with several
    processes, N must be a multiple of the process count and each process contributes N /
    process_count of its local devices). A sequence: those devices.
    """
    alldev = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    if devices is None:
        return alldev
    if not isinstance(devices, int):
        return sorted(devices, key=lambda d: (d.process_index, d.id))
    if devices < 1:
        raise ValueError(f"`devices` must be >= 1; got {devices}.")
    if devices > len(alldev):
        raise ValueError(f"`devices={devices}` but only {len(alldev)} devices are visible "
                         f"({alldev[0].platform}).")
    nproc = jax.process_count()
    if nproc == 1:
        return alldev[:devices]
    if devices % nproc:
        raise ValueError(f"`devices={devices}` is not a multiple of the {nproc} processes; "
                         "every process must contribute the same number of devices.")
    per = devices // nproc
    return [d for p in range(nproc) for d in [x for x in alldev if x.process_index == p][:per]]


def study_mesh(devices: int | Sequence | None = None) -> Mesh:
    """A one-axis mesh (axis `"paths"`) over `study_devices(devices)`."""
    return Mesh(np.array(study_devices(devices)), (STUDY_AXIS,))


def _put(host, mesh: Mesh, spec: PartitionSpec):
    """A global array from a host array that every process holds in full."""
    host = np.asarray(host)
    host = host.astype(jax.dtypes.canonicalize_dtype(host.dtype), copy=False)
    return jax.make_array_from_callback(host.shape, NamedSharding(mesh, spec), lambda idx: host[idx])


def _to_host(tree):
    """Global arrays -> full numpy arrays on every process (process 0 included)."""
    return jax.tree.map(lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True)), tree)


def _pad_paths(x, num_padded: int):
    x = np.asarray(x)
    extra = num_padded - x.shape[0]
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[:1], extra, axis=0)], axis=0)


# --------------------------------------------------------------------------------------------
# the compiled chunk


def _local_chunk(model, states, args, keys, steps, *, num_steps, batch_size, key_impl,
                 record_theta):
    """One device's paths, `num_steps` iterations (the first `steps` of them are real)."""
    spsa, fn = model

    def one_path(key, state, a):
        if key_impl is not None:
            key = jax.random.wrap_key_data(key, impl=key_impl)

        def run(st):
            new, info = spsa.step(jax.random.fold_in(key, st.n), st, fn, a)
            return new, info.value, info.failed

        shapes = jax.eval_shape(run, state)

        def skip(st):
            return st, jnp.full(shapes[1].shape, jnp.nan, shapes[1].dtype), jnp.zeros((), bool)

        def body(st, i):
            new, value, failed = jax.lax.cond(i < steps, run, skip, st)
            return new, (value, failed, new.theta if record_theta else None)

        return jax.lax.scan(body, state, jnp.arange(num_steps))

    n_local = keys.shape[0]
    if batch_size is None or batch_size >= n_local:
        return jax.vmap(one_path)(keys, states, args)
    return jax.lax.map(lambda x: one_path(*x), (keys, states, args), batch_size=batch_size)


@eqx.filter_jit
def _sharded_chunk(model, states, args, keys, steps, *, mesh, num_steps, batch_size, key_impl,
                   record_theta):
    dyn, static = eqx.partition(model, eqx.is_array)
    spec = PartitionSpec(STUDY_AXIS)

    def local(dyn, states, args, keys, steps):
        return _local_chunk(eqx.combine(dyn, static), states, args, keys, steps,
                            num_steps=num_steps, batch_size=batch_size, key_impl=key_impl,
                            record_theta=record_theta)

    f = jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), spec, spec, spec, PartitionSpec()),
                      out_specs=spec, check_vma=False)
    return f(dyn, states, args, keys, steps)


def _place(spsa, fn, state_host, args, keys_host, mesh, num_padded):
    """Global arrays: (spsa, fn) replicated; state, args, keys padded and sharded over paths."""
    spec, rep = PartitionSpec(STUDY_AXIS), PartitionSpec()
    model = jax.tree.map(lambda x: _put(x, mesh, rep) if eqx.is_array(x) else x, (spsa, fn))
    shard = lambda x: _put(_pad_paths(x, num_padded), mesh, spec)  # noqa: E731
    return (model, jax.tree.map(shard, state_host), jax.tree.map(shard, args), shard(keys_host))


def _key_data(keys):
    if jax.dtypes.issubdtype(jnp.asarray(keys).dtype, jax.dtypes.prng_key):
        return jax.random.key_impl(keys), np.asarray(jax.random.key_data(keys))
    return None, np.asarray(keys)


def study_memory(fn: Callable, spsa: SPSA, theta0, args: Any = None, *, keys, chunk: int = 1,
                 devices: int | Sequence | None = None, max_paths_per_batch: int | None = None,
                 record_theta: bool = True) -> dict:
    """XLA's memory analysis of one compiled chunk of `run_study` (bytes per device).

    Compiles (does not run) the program `run_study` would run with these settings and returns
    `temp_bytes` (working memory), `argument_bytes`, `output_bytes`, `total_bytes` (their sum, per
    device) and `paths_per_device`. Use it to choose `max_paths_per_batch`: the working memory
    grows with the paths evaluated at once, i.e. min(P / devices, max_paths_per_batch).
    """
    theta0 = jnp.asarray(theta0)
    P = theta0.shape[0]
    key_impl, keys_host = _key_data(keys)
    mesh = study_mesh(devices)
    Ppad = -(-P // mesh.devices.size) * mesh.devices.size
    init = jax.vmap(spsa.init)(theta0)
    state_host = SPSAState(*(np.asarray(x) for x in (init.theta, init.n, init.stopped)))
    placed = _place(spsa, fn, state_host, args, keys_host, mesh, Ppad)
    steps = _put(np.asarray(chunk, np.int32), mesh, PartitionSpec())
    compiled = _sharded_chunk.lower(
        *placed[:2], placed[2], placed[3], steps, mesh=mesh, num_steps=chunk,
        batch_size=max_paths_per_batch, key_impl=key_impl, record_theta=record_theta).compile()
    ma = compiled.compiled.memory_analysis()  # eqx.filter_jit wraps the jax Compiled
    out = {"temp_bytes": int(ma.temp_size_in_bytes), "argument_bytes": int(ma.argument_size_in_bytes),
           "output_bytes": int(ma.output_size_in_bytes), "paths_per_device": Ppad // mesh.devices.size}
    out["total_bytes"] = out["temp_bytes"] + out["argument_bytes"] + out["output_bytes"]
    return out


# --------------------------------------------------------------------------------------------
# run directory, checkpoints


def _versions() -> dict:
    from importlib import metadata

    out = {"jaxmd_rp": __version__, "python": platform.python_version()}
    for dist in ("jax", "jaxlib", "numpy", "equinox", "optax", "orbax-checkpoint"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def device_info(mesh: Mesh | None = None) -> dict:
    """Device kind and count (of the mesh, or of all devices), process count, backend, x64."""
    devs = list(mesh.devices.flat) if mesh is not None else jax.devices()
    return {
        "backend": jax.default_backend(),
        "kind": sorted({d.device_kind for d in devs}),
        "count": len(devs),
        "all_devices": jax.device_count(),
        "local_devices": jax.local_device_count(),
        "process_count": jax.process_count(),
        "x64": bool(jax.config.jax_enable_x64),
    }


def _atomic_write_json(path: str, obj):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_run_info(run_dir: str, config: dict | None, mesh: Mesh | None = None, *,
                   study_config: dict | None = None, resumed_from: int = 0,
                   extra: dict | None = None) -> str:
    """Write (or, on resume, extend) `run_dir/run.json`; only process 0 writes. Returns its path.

    Records `config` (the full configuration), `study_config` (the part checked on resume),
    `seed` (= `config["seed"]` if present), library versions, devices and the command line; each
    session (start or resume) appends to `sessions` (with `extra`).
    """
    path = os.path.join(run_dir, RUN_INFO)
    if jax.process_index() != 0:
        return path
    os.makedirs(run_dir, exist_ok=True)
    info = {}
    if resumed_from and os.path.exists(path):
        try:
            with open(path) as f:
                info = json.load(f)
        except (OSError, ValueError):
            info = {}
    session = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "resumed_from_iteration": int(resumed_from),
        "devices": device_info(mesh),
        "command": list(sys.argv),
        **(extra or {}),
    }
    info.update({
        "config": config,
        "study_config": study_config if study_config is not None else config,
        "seed": (config or {}).get("seed", (study_config or {}).get("seed")),
        "versions": _versions(),
        "devices": device_info(mesh),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "command": list(sys.argv),
    })
    info["sessions"] = info.get("sessions", []) + [session]
    _atomic_write_json(path, info)
    return path


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _manager(directory: str, *, create: bool):
    import orbax.checkpoint as ocp

    opts = ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False,
                                        create=create, cleanup_tmp_directories=create)
    return ocp.CheckpointManager(os.path.abspath(directory), options=opts,
                                 item_names=("state", "meta"))


def _file_digests(step_dir: str) -> dict:
    """SHA-256 of every file in a step directory (relative path -> hex), the seal excepted."""
    out = {}
    for root, _, files in os.walk(step_dir):
        for name in files:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, step_dir)
            if rel == SEAL:
                continue
            h = hashlib.sha256()
            with open(full, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[rel] = h.hexdigest()
    return out


def _seal(step_dir: str):
    """Record the SHA-256 of every file of a committed step (process 0; atomic)."""
    if jax.process_index() == 0:
        _atomic_write_json(os.path.join(step_dir, SEAL),
                           {"format": CHECKPOINT_FORMAT, "files": _file_digests(step_dir)})


def _save(mgr, step: int, arrays: dict, meta: dict):
    import orbax.checkpoint as ocp

    meta = dict(meta, step=int(step), digest=_digest(arrays))
    mgr.save(int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(arrays),
                                                meta=ocp.args.JsonSave(meta)))
    mgr.wait_until_finished()
    _seal(os.path.join(str(mgr.directory), str(int(step))))
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"jaxmd_rp study checkpoint {int(step)} sealed")


def _steps(run_dir: str) -> tuple[list[int], list[int]]:
    """(committed steps, sealed steps) in `run_dir/checkpoints`, ascending."""
    d = os.path.join(run_dir, CHECKPOINT_SUBDIR)
    if not os.path.isdir(d):
        return [], []
    steps = sorted(_manager(d, create=False).all_steps())
    return steps, [s for s in steps if os.path.exists(os.path.join(d, str(s), SEAL))]


def latest_checkpoint_step(run_dir: str) -> int | None:
    """The latest complete checkpoint (iterations done) in `run_dir`, or None.

    A step is complete once orbax has committed it *and* its file seal (`jaxmd_rp_files.json`,
    the SHA-256 of every file) is written; a step killed between the two is ignored.
    """
    sealed = _steps(run_dir)[1]
    return sealed[-1] if sealed else None


def load_checkpoint(run_dir: str, step: int | None = None) -> tuple[dict, dict]:
    """Read a study checkpoint: `(arrays, meta)`. Raises `CheckpointError` if a file differs from
    its seal, if orbax cannot read it, or if the arrays do not match the hash stored with them.

    `arrays`: `theta`, `n`, `stopped` (the state of every path), `keys` (key data), `value` and
    `failed` (iterations done x paths), `theta_history` (if recorded) and `done`.
    """
    import orbax.checkpoint as ocp

    d = os.path.join(run_dir, CHECKPOINT_SUBDIR)
    if step is None:
        step = latest_checkpoint_step(run_dir)
        if step is None:
            raise CheckpointError(f"no complete checkpoint in {d!r}.")
    where = os.path.join(d, str(step))
    advice = ("Delete that step directory to resume from the previous checkpoint, or start again "
              "without --resume in a fresh run directory.")
    # Check every file against the seal before orbax reads anything: a damaged file is refused
    # here, synchronously, instead of failing inside orbax's concurrent reads.
    try:
        with open(os.path.join(where, SEAL)) as f:
            sealed = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {where!r} is corrupt or incomplete: its file seal "
                              f"{SEAL} cannot be read ({type(e).__name__}: {e}). {advice}") from e
    found = _file_digests(where)
    bad = sorted(k for k in set(sealed) | set(found) if sealed.get(k) != found.get(k))
    if bad:
        raise CheckpointError(
            f"checkpoint {where!r} is corrupt: {len(bad)} file(s) differ from the SHA-256 recorded "
            f"when it was written ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}). {advice}"
        )
    try:
        r = _manager(d, create=False).restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                          meta=ocp.args.JsonRestore()))
        arrays = {k: np.asarray(v) for k, v in dict(r.state).items()}
        meta = dict(r.meta)
    except Exception as e:  # orbax/tensorstore raise many types on damaged files
        raise CheckpointError(
            f"checkpoint {where!r} is corrupt or incomplete and cannot be read "
            f"({type(e).__name__}: {str(e)[:300]}). {advice}"
        ) from e
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {where!r} has format {meta.get('format')!r}, expected "
                              f"{CHECKPOINT_FORMAT!r}; it was not written by this study runner.")
    if meta.get("digest") != _digest(arrays):
        raise CheckpointError(
            f"checkpoint {where!r} is corrupt: its arrays do not match the SHA-256 recorded when "
            f"they were written. {advice}"
        )
    return arrays, meta


def _check_compatible(meta: dict, arrays: dict, *, config, version, num_paths, theta_dim,
                      num_steps, keys_host, theta0_host, where):
    problems = []
    if meta.get("jaxmd_rp") != version:
        problems.append(f"it was written by jaxmd_rp {meta.get('jaxmd_rp')}, this is jaxmd_rp "
                        f"{version}")
    old = meta.get("config")
    if old != config:
        if isinstance(old, dict) and isinstance(config, dict):
            diff = [f"{k}: {old.get(k, '<absent>')!r} in the checkpoint vs {config.get(k, '<absent>')!r} now"
                    for k in sorted(set(old) | set(config)) if old.get(k) != config.get(k)]
            problems.append("its study configuration differs (" + "; ".join(diff) + ")")
        else:
            problems.append(f"its study configuration differs ({old!r} vs {config!r})")
    if meta.get("num_paths") != num_paths or meta.get("theta_dim") != theta_dim:
        problems.append(f"it holds {meta.get('num_paths')} paths of dimension "
                        f"{meta.get('theta_dim')}, this study has {num_paths} of dimension {theta_dim}")
    if not problems:
        if arrays["theta"].dtype != theta0_host.dtype:
            problems.append(f"it computed in {arrays['theta'].dtype}, this run computes in "
                            f"{theta0_host.dtype} (is jax_enable_x64 set the same way?)")
        if not np.array_equal(arrays["keys"], keys_host):
            problems.append("its per-path keys differ (another seed?)")
        if "theta_history" in arrays and not np.array_equal(arrays["theta_history"][0], theta0_host):
            problems.append("its starting points theta_1 differ")
        if int(arrays["done"]) > num_steps:
            problems.append(f"it has already run {int(arrays['done'])} iterations, more than the "
                            f"{num_steps} asked for")
    if problems:
        raise CheckpointError(
            f"refusing to resume from {where!r}: " + "; ".join(problems) + ". Resume with the "
            "command that wrote it, or start again without --resume in a fresh run directory."
        )


# --------------------------------------------------------------------------------------------
# the runner


@dataclasses.dataclass
class StudyResult:
    """Output of `run_study` (numpy arrays, the same on every process).

    `value`, `failed`: (num_steps, P), L(theta_n) and the skipped-step flags, n = 1..num_steps;
    `theta`: (num_steps + 1, P, p), theta_1 .. theta_{num_steps+1} (None with
    `record_theta=False`); `state`: the final `SPSAState` of every path; `seconds`: wall time of this
    session; `compile_seconds`: its first chunk (compilation included); `num_devices`: the mesh
    size; `start_iteration`: iterations restored from a checkpoint (0 for a fresh start);
    `max_paths_per_batch`: the batch bound used (given, or chosen from `memory_budget`).
    """

    value: np.ndarray
    failed: np.ndarray
    theta: np.ndarray | None
    state: SPSAState
    seconds: float
    compile_seconds: float
    num_devices: int
    start_iteration: int = 0
    max_paths_per_batch: int | None = None


def run_study(fn: Callable, spsa: SPSA, theta0, args: Any = None, *, keys, num_steps: int,
              chunk: int = 5, devices: int | Sequence | None = None,
              max_paths_per_batch: int | None = None, memory_budget: float | None = None,
              run_dir: str | None = None, checkpoint_every: int | None = None,
              resume: bool = False,
              config: dict | None = None, run_config: dict | None = None,
              record_theta: bool = True, progress: Callable | None = None) -> StudyResult:
    """Run `num_steps` SPSA iterations on P paths, sharded over devices, with checkpoints.

    **Arguments:**

    - `fn`, `spsa`: the objective `fn(theta, args, key) -> scalar` and the `SPSA` configuration,
      as in `spsa_minimise`.
    - `theta0`: (P, p) starting points (projected onto Theta by `spsa.init`).
    - `args`: per-path arguments with leading axis P (e.g. each path's probes), or `None`.
    - `keys`: per-path keys (P,) (`path_keys(key, P)`); iteration n of path k uses
      `fold_in(keys[k], n)`, exactly as `spsa_steps`.
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
    - `run_dir`: where `run.json` and `checkpoints/` go (`None`: nothing is written).
    - `checkpoint_every`: save every k iterations and at the end (needs `run_dir`).
    - `resume`: continue from the latest checkpoint in `run_dir` (starts fresh if there is none).
    - `config`: JSON-serialisable description of the study (what determines its numbers); it is
      recorded in `run.json` and in every checkpoint, and a checkpoint with another `config` is
      refused. Leave out settings that may change on resume (devices, chunking, `num_steps`).
    - `run_config`: the full configuration to record in `run.json` (default: `config`).
    - `record_theta`: keep theta at every iteration (else only the final state).
    - `progress`: called after every chunk as `progress(done, num_steps, value_at_done)`.

    **Returns:** a `StudyResult`. Raises `CheckpointError` for a checkpoint it refuses, and
    `FileExistsError` if `run_dir` already holds checkpoints and `resume` is false.

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
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError(f"`checkpoint_every` must be >= 1 or None; got {checkpoint_every}.")
    if (checkpoint_every is not None or resume) and run_dir is None:
        raise ValueError("`checkpoint_every` and `resume` need a `run_dir`.")
    if max_paths_per_batch is not None and max_paths_per_batch < 1:
        raise ValueError(f"`max_paths_per_batch` must be >= 1 or None; got {max_paths_per_batch}.")
    if num_steps < 0:
        raise ValueError(f"`num_steps` must be >= 0; got {num_steps}.")
    if memory_budget is not None and memory_budget <= 0:
        raise ValueError(f"`memory_budget` must be > 0 bytes; got {memory_budget}.")
    theta0 = jnp.asarray(theta0)
    if theta0.ndim != 2:
        raise ValueError(f"`theta0` must have shape (P, p); got {theta0.shape}.")
    P, p = theta0.shape
    key_impl, keys_host = _key_data(keys)
    if keys_host.shape[0] != P:
        raise ValueError(f"`keys` must hold one key per path ({P}); got shape {keys_host.shape}.")
    chunk = max(1, min(int(chunk), max(num_steps, 1)))
    config = json.loads(json.dumps(config, default=str)) if config is not None else None

    mesh = study_mesh(devices)
    ndev = mesh.devices.size
    Ppad = -(-P // ndev) * ndev
    if memory_budget is not None and max_paths_per_batch is None:
        need = study_memory(fn, spsa, theta0, args, keys=keys, chunk=chunk, devices=devices,
                            record_theta=record_theta)
        if need["total_bytes"] > memory_budget:
            per_path = need["temp_bytes"] / need["paths_per_device"]
            fixed = need["total_bytes"] - need["temp_bytes"]
            max_paths_per_batch = max(1, int((memory_budget - fixed) // per_path))
    init = jax.vmap(spsa.init)(theta0)
    init_host = SPSAState(*(np.asarray(x) for x in (init.theta, init.n, init.stopped)))

    # ---- checkpoints: where, and what to start from
    mgr = None
    start = 0
    state_host = init_host
    values, fails, thetas = [], [], [init_host.theta[None]] if record_theta else []
    ckpt_dir = os.path.join(run_dir, CHECKPOINT_SUBDIR) if run_dir is not None else None
    committed, sealed = _steps(run_dir) if run_dir is not None else ([], [])
    latest = sealed[-1] if sealed else None
    if committed and not resume:
        raise FileExistsError(
            f"{run_dir!r} already holds checkpoints (latest after iteration {committed[-1]}); pass "
            "resume=True (--resume) to continue that study, or choose another run directory."
        )
    if resume and latest is not None:
        arrays, meta = load_checkpoint(run_dir, latest)
        _check_compatible(meta, arrays, config=config, version=__version__, num_paths=P,
                          theta_dim=p, num_steps=num_steps, keys_host=keys_host,
                          theta0_host=init_host.theta, where=os.path.join(ckpt_dir, str(latest)))
        if record_theta and "theta_history" not in arrays:
            raise CheckpointError(f"refusing to resume from {ckpt_dir!r}: it holds no theta history "
                                  "(written with record_theta=False) but this study records it.")
        start = int(arrays["done"])
        state_host = SPSAState(arrays["theta"], arrays["n"].astype(init_host.n.dtype),
                               arrays["stopped"])
        values, fails = [arrays["value"]], [arrays["failed"]]
        if record_theta:
            thetas = [arrays["theta_history"]]
    if run_dir is not None:
        write_run_info(run_dir, run_config if run_config is not None else config, mesh,
                       study_config=config, resumed_from=start,
                       extra={"num_paths": P, "num_steps": num_steps, "chunk": chunk,
                              "max_paths_per_batch": max_paths_per_batch,
                              "memory_budget": memory_budget,
                              "checkpoint_every": checkpoint_every})
    if checkpoint_every is not None:
        mgr = _manager(ckpt_dir, create=True)
        for st in committed:  # committed after the resumed step but never sealed: redo them
            if st > start:
                mgr.delete(st)
    meta_base = {"format": CHECKPOINT_FORMAT, "jaxmd_rp": __version__, "config": config,
                 "num_paths": P, "theta_dim": p, "jax": jax.__version__}

    # ---- device-resident inputs (padded to a multiple of the device count)
    rep = PartitionSpec()
    model, g_state, g_args, g_keys = _place(spsa, fn, state_host, args, keys_host, mesh, Ppad)

    def save(done):
        arrays = {"theta": state_host.theta, "n": state_host.n, "stopped": state_host.stopped,
                  "keys": keys_host, "value": np.concatenate(values, axis=0),
                  "failed": np.concatenate(fails, axis=0), "done": np.asarray(done, np.int64)}
        if record_theta:
            arrays["theta_history"] = np.concatenate(thetas, axis=0)
        _save(mgr, done, arrays, meta_base)

    t0 = time.perf_counter()
    compile_s = 0.0
    done = start
    first = True
    while done < num_steps:
        steps = min(chunk, num_steps - done)
        if checkpoint_every is not None:
            steps = min(steps, (done // checkpoint_every + 1) * checkpoint_every - done)
        t_c = time.perf_counter()
        g_state, (v, f, th) = _sharded_chunk(
            model, g_state, g_args, g_keys, _put(np.asarray(steps, np.int32), mesh, rep),
            mesh=mesh, num_steps=chunk, batch_size=max_paths_per_batch, key_impl=key_impl,
            record_theta=record_theta)
        v, f, th, st = _to_host((v, f, th, g_state))
        if first:
            compile_s = time.perf_counter() - t_c
            first = False
        values.append(v[:P, :steps].T)
        fails.append(f[:P, :steps].T)
        if record_theta:
            thetas.append(np.swapaxes(th[:P, :steps], 0, 1))
        state_host = SPSAState(st.theta[:P], st.n[:P], st.stopped[:P])
        done += steps
        if mgr is not None and (done % checkpoint_every == 0 or done == num_steps):
            save(done)
        if progress is not None:
            progress(done, num_steps, values[-1][-1])
    if mgr is not None:
        mgr.close()
    seconds = time.perf_counter() - t0
    value = np.concatenate(values, axis=0) if values else np.zeros((0, P))
    failed = np.concatenate(fails, axis=0) if fails else np.zeros((0, P), bool)
    theta = np.concatenate(thetas, axis=0) if record_theta else None
    return StudyResult(value=value, failed=failed, theta=theta, state=state_host, seconds=seconds,
                       compile_seconds=compile_s, num_devices=ndev, start_iteration=start,
                       max_paths_per_batch=max_paths_per_batch)
