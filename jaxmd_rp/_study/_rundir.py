"""The run directory: `run.json` (what ran, where, with which versions) and its lock."""

import datetime
import fcntl
import json
import os
import platform
import sys
from importlib import metadata

import jax
from jax.sharding import Mesh

from .._version import __version__
from ._devices import device_info

RUN_INFO = "run.json"
LOCK = ".jaxmd_rp.lock"


class RunDirectoryLocked(RuntimeError):
    """Another run holds the run directory (two runs must not write into one directory)."""


def versions() -> dict:
    """Versions of jaxmd_rp, Python and the libraries that determine a study's numbers."""
    out = {"jaxmd_rp": __version__, "python": platform.python_version()}
    for dist in ("jax", "jaxlib", "numpy", "equinox", "optax", "orbax-checkpoint"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def atomic_write_json(path: str, obj):
    """Write JSON to `path` through a temporary file and a rename (never half-written)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_run_info(run_dir: str) -> dict | None:
    """`run_dir/run.json` as a dict, `None` if absent; a `ValueError` naming the file if it is
    unreadable (a damaged run directory is never silently rebuilt)."""
    path = os.path.join(run_dir, RUN_INFO)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            info = json.load(f)
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        return info
    except (OSError, ValueError) as e:
        raise ValueError(f"{path!r} is damaged and cannot be read ({type(e).__name__}: {e}); "
                         "restore it or start again in a fresh run directory.") from e


def write_run_info(run_dir: str, config: dict | None, mesh: Mesh | None = None, *,
                   study_config: dict | None = None, resumed_from: int = 0,
                   extra: dict | None = None) -> str:
    """Write (or, on resume, extend) `run_dir/run.json`; only process 0 writes. Returns its path.

    Records `config` (the full configuration), `study_config` (the part checked on resume),
    `seed` (= `config["seed"]` if present), library versions, devices and the command line; each
    session (start or resume) appends to `sessions` (with `extra`). On resume an unreadable
    `run.json` raises `ValueError` instead of being rebuilt (the session history would be lost).
    """
    path = os.path.join(run_dir, RUN_INFO)
    if jax.process_index() != 0:
        return path
    os.makedirs(run_dir, exist_ok=True)
    info = (read_run_info(run_dir) or {}) if resumed_from else {}
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
        "versions": versions(),
        "devices": device_info(mesh),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "command": list(sys.argv),
    })
    info["sessions"] = info.get("sessions", []) + [session]
    atomic_write_json(path, info)
    return path


class RunDirLock:
    """An exclusive lock on a run directory for the lifetime of a run (process 0 only).

    `fcntl.flock` on `run_dir/.jaxmd_rp.lock`: released by the OS when the process dies, so a
    killed run never leaves a stale lock behind. A second run into the same directory raises
    `RunDirectoryLocked` at once (it does not wait).
    """

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self._fd = None

    def __enter__(self):
        if jax.process_index() != 0:
            return self
        os.makedirs(self.run_dir, exist_ok=True)
        path = os.path.join(self.run_dir, LOCK)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirectoryLocked(
                f"run directory {self.run_dir!r} is in use by {holder}; wait for that run to end "
                "or choose another run directory.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {platform.node()}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        return False
