"""Study checkpoints: orbax-checkpoint steps, sealed with SHA-256, refused when they do not match.

A step is written with orbax's `CheckpointManager` (to a temporary directory, renamed on commit;
the last two are kept), then sealed: `jaxmd_rp_files.json` records the SHA-256 of each of its
files. A checkpoint holds the state of every path (any design method's state pytree: its leaves
are stored under their tree-path names, e.g. `theta`, `n`, `stopped`, `opt_state_0_mu`), the
per-path keys, the values and failure flags so far, the theta history (optional), the number of
iterations done, and a fingerprint of every input that determines the numbers (the design method,
the objective, theta_1, the per-path arguments, the keys and the dtype). Resuming compares all of
them and refuses a checkpoint that another study wrote.
"""

import dataclasses
import functools
import hashlib
import json
import os
import re
import types

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from ._rundir import atomic_write_json

CHECKPOINT_FORMAT = "jaxmd_rp.study/2"
CHECKPOINT_SUBDIR = "checkpoints"
SEAL = "jaxmd_rp_files.json"
RESERVED = ("keys", "value", "failed", "theta_history", "done")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from: unreadable/corrupt, or written by another study."""


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# fingerprints of the inputs


def fingerprint(obj) -> str:
    """A SHA-256 of everything in `obj` that can change a computation: array bytes, dtypes and
    shapes, numbers and strings, the fields of modules and dataclasses (static ones included),
    and functions by module, qualified name, bytecode and closure. Stable across processes."""
    h = hashlib.sha256()
    _feed(h, obj, set())
    return h.hexdigest()


def _feed(h, x, seen: set):
    def put(s):
        h.update(s.encode())
        h.update(b"|")

    if isinstance(x, (jax.Array, np.ndarray, np.generic)):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        a = np.ascontiguousarray(np.asarray(x))
        put(f"array {a.dtype.str} {a.shape}")
        h.update(a.tobytes())
        return
    if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
        put(f"{type(x).__name__} {x!r}")
        return
    if id(x) in seen:
        put("<cycle>")
        return
    seen = seen | {id(x)}
    if isinstance(x, dict):
        put(f"dict {len(x)}")
        for k in sorted(x, key=repr):
            put(repr(k))
            _feed(h, x[k], seen)
    elif isinstance(x, (list, tuple)):
        put(f"{type(x).__qualname__} {len(x)}")
        for v in x:
            _feed(h, v, seen)
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        put(f"{type(x).__module__}.{type(x).__qualname__}")
        for f in dataclasses.fields(x):
            put(f.name)
            _feed(h, getattr(x, f.name, None), seen)
    elif isinstance(x, functools.partial):
        put("partial")
        _feed(h, (x.func, x.args, x.keywords), seen)
    elif isinstance(x, (types.FunctionType, types.MethodType)):
        func = getattr(x, "__func__", x)
        put(f"function {func.__module__}.{func.__qualname__}")
        code = func.__code__
        h.update(code.co_code)
        put(repr([c for c in code.co_consts if not isinstance(c, types.CodeType)]))
        _feed(h, func.__defaults__, seen)
        for cell in func.__closure__ or ():
            try:
                _feed(h, cell.cell_contents, seen)
            except ValueError:  # an empty cell
                put("<empty>")
        if isinstance(x, types.MethodType):
            _feed(h, x.__self__, seen)
    else:
        put(f"object {type(x).__module__}.{type(x).__qualname__}")


# ---------------------------------------------------------------------------------------------
# the state pytree <-> named arrays


def _leaf_name(path) -> str:
    name = re.sub(r"[^0-9A-Za-z_]+", "_", jax.tree_util.keystr(path)).strip("_")
    return name or "state"


def state_arrays(state) -> dict:
    """The leaves of a state pytree (host arrays) as {name: array}, names from the tree paths."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    out = {}
    for path, leaf in leaves:
        name = _leaf_name(path)
        if name in out or name in RESERVED:
            raise ValueError(f"the design state's leaf {jax.tree_util.keystr(path)!r} maps to the "
                             f"checkpoint name {name!r}, which is already used.")
        out[name] = np.asarray(leaf)
    return out


def state_from_arrays(template, arrays: dict):
    """A state pytree shaped like `template` from the arrays named by `state_arrays`."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    values = []
    for path, leaf in leaves:
        name = _leaf_name(path)
        if name not in arrays:
            raise CheckpointError(f"the checkpoint holds no array {name!r} of the design state "
                                  "(another design method wrote it).")
        values.append(np.asarray(arrays[name]).astype(np.asarray(leaf).dtype, copy=False))
    return jax.tree_util.tree_unflatten(treedef, values)


# ---------------------------------------------------------------------------------------------
# orbax steps and seals


def manager(directory: str, *, create: bool):
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
        atomic_write_json(os.path.join(step_dir, SEAL),
                           {"format": CHECKPOINT_FORMAT, "files": _file_digests(step_dir)})


def save(mgr, step: int, arrays: dict, meta: dict):
    """Write one step with orbax, wait for it, then seal it (every process takes part)."""
    meta = dict(meta, step=int(step), digest=_digest(arrays))
    mgr.save(int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(arrays),
                                                meta=ocp.args.JsonSave(meta)))
    mgr.wait_until_finished()
    _seal(os.path.join(str(mgr.directory), str(int(step))))
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"jaxmd_rp study checkpoint {int(step)} sealed")


def steps(run_dir: str) -> tuple[list[int], list[int]]:
    """(committed steps, sealed steps) in `run_dir/checkpoints`, ascending."""
    d = os.path.join(run_dir, CHECKPOINT_SUBDIR)
    if not os.path.isdir(d):
        return [], []
    # orbax commits a step by renaming its temporary directory to the bare step number; listing
    # the directory (instead of opening a CheckpointManager) involves no collective, so every
    # process of a multi-host run can call it at any time
    found = sorted(int(n) for n in os.listdir(d)
                   if n.isdigit() and os.path.isdir(os.path.join(d, n)))
    return found, [s for s in found if os.path.exists(os.path.join(d, str(s), SEAL))]


def latest_checkpoint_step(run_dir: str) -> int | None:
    """The latest complete checkpoint (iterations done) in `run_dir`, or None.

    A step is complete once orbax has committed it *and* its file seal (`jaxmd_rp_files.json`,
    the SHA-256 of every file) is written; a step killed between the two is ignored.
    """
    sealed = steps(run_dir)[1]
    return sealed[-1] if sealed else None


def load_checkpoint(run_dir: str, step: int | None = None) -> tuple[dict, dict]:
    """Read a study checkpoint: `(arrays, meta)`. Raises `CheckpointError` if a file differs from
    its seal, if orbax cannot read it, or if the arrays do not match the hash stored with them.

    `arrays`: `theta`, `n`, `stopped` (the state of every path), `keys` (key data), `value` and
    `failed` (iterations done x paths), `theta_history` (if recorded) and `done`.
    """
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
        r = manager(d, create=False).restore(
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


def check_compatible(meta: dict, arrays: dict, *, config, version, num_paths, theta_dim,
                     num_steps, inputs: dict, where):
    """Refuse (`CheckpointError`) a checkpoint that another study, version or input wrote."""
    problems = []
    if meta.get("jaxmd_rp") != version:
        problems.append(f"it was written by jaxmd_rp {meta.get('jaxmd_rp')}, this is jaxmd_rp "
                        f"{version}")
    old = meta.get("config")
    if old != config:
        if isinstance(old, dict) and isinstance(config, dict):
            diff = [f"{k}: {old.get(k, '<absent>')!r} in the checkpoint vs "
                    f"{config.get(k, '<absent>')!r} now"
                    for k in sorted(set(old) | set(config)) if old.get(k) != config.get(k)]
            problems.append("its study configuration differs (" + "; ".join(diff) + ")")
        else:
            problems.append(f"its study configuration differs ({old!r} vs {config!r})")
    if meta.get("num_paths") != num_paths or meta.get("theta_dim") != theta_dim:
        problems.append(f"it holds {meta.get('num_paths')} paths of dimension "
                        f"{meta.get('theta_dim')}, this study has {num_paths} of dimension {theta_dim}")
    if not problems:
        stored = meta.get("inputs", {})
        names = {"dtype": "it computed in another dtype (is jax_enable_x64 set the same way?)",
                 "keys": "its per-path keys differ (another seed?)",
                 "theta0": "its starting points theta_1 differ",
                 "args": "its per-path arguments (e.g. the probes) differ",
                 "method": "its design method differs (gains, box or settings)",
                 "objective": "its objective differs (game, solver, sampling or its code)"}
        problems += [msg for k, msg in names.items() if stored.get(k) != inputs.get(k)]
        if int(arrays["done"]) > num_steps:
            problems.append(f"it has already run {int(arrays['done'])} iterations, more than the "
                            f"{num_steps} asked for")
    if problems:
        raise CheckpointError(
            f"refusing to resume from {where!r}: " + "; ".join(problems) + ". Resume with the "
            "command that wrote it, or start again without --resume in a fresh run directory."
        )
