"""The files of a study's run directory: the configuration (TOML, relative paths, inputs
copied next to it), what a checkpoint must match, and the checks before a run starts."""

import dataclasses
import hashlib
import os
import tomllib

import jax
import numpy as np

from .._study import CheckpointError
from .._study._rundir import write_run_info
from . import _toml
from ._inputs import file_digest, game_file, is_file_spec, read_array
from ._study_config import ConfigError, StudyConfig

CONFIG_FILE = "study.toml"
PROBES_FILE = "probes.npz"


def _array_digest(key: str, path: str) -> str:
    a = read_array(key, path)
    return "sha256:" + hashlib.sha256(f"{a.shape}".encode() + a.tobytes()).hexdigest()


def checkpoint_config(cfg: StudyConfig) -> dict:
    """What a checkpoint must match: the study keys, with input files (probes, theta0) compared
    by their numbers and a file-based game by the bytes of its file."""
    out = {"experiment": "study", **cfg.to_dict("study")}
    for key in ("probes", "theta0"):
        value = getattr(cfg, key)
        if isinstance(value, str) and value != "uniform":
            out[key] = _array_digest(key, value)
    path = game_file(cfg.game)
    if path is not None and os.path.isfile(path):
        out["game_file_sha256"] = file_digest(path)
    return out


def resolve_paths(d: dict, base: str) -> dict:
    """A configuration dict with its relative file paths (the game file, probes and theta0
    files) made absolute against the folder `base` (e.g. the config file's folder)."""
    d = dict(d)
    if isinstance(d.get("game"), str) and is_file_spec(d["game"]):
        where, _, name = d["game"].rpartition(":")
        d["game"] = f"{os.path.join(base, os.path.expanduser(where))}:{name}"
    for key in ("probes", "theta0"):
        if isinstance(d.get(key), str) and d[key] != "uniform":
            d[key] = os.path.join(base, os.path.expanduser(d[key]))
    return d


def read_config(path: str) -> dict:
    """A study configuration file (TOML) as a dict, relative paths resolved against its folder
    (`ConfigError` if it cannot be read or parsed)."""
    try:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    except OSError as e:
        raise ConfigError(None, f"cannot read {path!r} ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(None, f"{path!r} is not valid TOML ({e})") from None
    return resolve_paths(d, os.path.dirname(os.path.abspath(path)))


def portable(cfg: StudyConfig, run_dir: str) -> StudyConfig:
    """`cfg` with its input arrays copied into `run_dir` (as .npy, process 0) and referred to by
    relative names, so that `run_dir/study.toml` alone reproduces the study."""
    copies = {}
    for key in ("probes", "theta0"):
        value = getattr(cfg, key)
        if isinstance(value, str) and value != "uniform":
            copies[key] = f"input_{key}.npy"
            if jax.process_index() == 0:
                np.save(os.path.join(run_dir, copies[key]), read_array(key, value))
    return dataclasses.replace(cfg, **copies)


def check_run_dir(cfg: StudyConfig, run_dir: str, resume: bool, overwrite: bool):
    path = os.path.join(run_dir, CONFIG_FILE)
    if not resume:
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{run_dir!r} holds a previous study ({CONFIG_FILE}); pass "
                                  "overwrite=True (--overwrite) to replace it, resume=True "
                                  "(--resume) to continue it, or choose another run directory.")
        return
    if not os.path.exists(path):
        raise CheckpointError(f"nothing to resume: {run_dir!r} holds no {CONFIG_FILE}.")
    try:
        old = checkpoint_config(StudyConfig.from_dict(read_config(path)))
    except ValueError as e:
        raise CheckpointError(f"{path!r} cannot be used ({e}); start again in a fresh run "
                              "directory.") from None
    new = checkpoint_config(cfg)
    diff = [f"{k}: {old.get(k, '<absent>')!r} in the run directory vs {new.get(k, '<absent>')!r} "
            "now" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if diff:
        raise CheckpointError(f"refusing to resume {run_dir!r}: its study configuration differs "
                              f"({'; '.join(diff)}). Resume with the configuration that wrote it.")


def record(cfg: StudyConfig, groups: list, run_dir: str, resumed_from: int):
    """study.toml (with input files copied next to it), probes.npz and run.json."""
    write_run_info(run_dir, cfg.to_dict(), study_config=checkpoint_config(cfg),
                   resumed_from=resumed_from,
                   extra={"groups": [[c.index for c in g.members] for g in groups]})
    saved = portable(cfg, run_dir)
    if jax.process_index() != 0:
        return
    header = ("A jaxmd_rp design study; run it again with\n"
              "  jaxmd-rp study --config study.toml --out NEW_FOLDER\n"
              "(relative paths are relative to this file's folder)")
    with open(os.path.join(run_dir, CONFIG_FILE), "w") as f:
        f.write(_toml.dumps(saved.to_dict(), header))
    np.savez(os.path.join(run_dir, PROBES_FILE),
             **{str(c.index): c.probes for g in groups for c in g.members})


