"""The inputs of a study that live outside the configuration: the user's game (a factory in a
module or a file) and array files (probes, starting points)."""

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable

import numpy as np

from .._game import AbstractGame
from ._study_config import ConfigError


def _split(spec: str) -> tuple[str, str]:
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise ConfigError("game", "must name a factory as 'module:function' or "
                                  f"'path/to/file.py:function'; got {spec!r}")
    return where, name


def is_file_spec(spec: str) -> bool:
    """Whether `spec` names a Python file ('path/to/file.py:factory') rather than a module."""
    where = spec.rpartition(":")[0]
    return where.endswith(".py") or os.sep in where or "/" in where


def game_file(spec: str) -> str | None:
    """The absolute path of a file-based game, else None."""
    return os.path.abspath(_split(spec)[0]) if is_file_spec(spec) else None


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _module_from_file(path: str):
    """Import a Python file once per process, under a name derived from its absolute path (so
    that its classes, hence the game's tree structure and fingerprint, are stable)."""
    name = "jaxmd_rp_game_" + hashlib.sha256(path.encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    if not os.path.isfile(path):
        raise ConfigError("game", f"file {path!r} not found")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses (equinox modules) look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's file: report any failure as a configuration error
        del sys.modules[name]
        raise ConfigError("game", f"importing {path!r} failed ({type(e).__name__}: {e})") from e
    return module


def load_factory(spec: str) -> Callable:
    """The callable named by 'module:function' or 'path/to/file.py:function'."""
    where, name = _split(spec)
    if is_file_spec(spec):
        module = _module_from_file(os.path.abspath(where))
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise ConfigError("game", f"cannot import module {where!r} ({e}); for a file write "
                                      "path/to/file.py:factory") from e
    factory = getattr(module, name, None)
    if factory is None:
        raise ConfigError("game", f"{where!r} defines no {name!r}")
    if not callable(factory):
        raise ConfigError("game", f"{where}:{name} is not callable (it is a "
                                  f"{type(factory).__name__})")
    return factory


def game_kwargs(game_args: dict) -> dict:
    """Factory keyword arguments: lists of numbers become float64 arrays, the rest stays."""
    out = {}
    for k, v in game_args.items():
        if isinstance(v, (list, tuple)):
            try:
                v = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                raise ConfigError(f"game_args.{k}", f"must be a number, a string, a boolean or a "
                                                    f"(nested) list of numbers; got {v!r}") from None
        out[k] = v
    return out


def make_game(spec: str, game_args: dict) -> AbstractGame:
    """Call the factory with `game_args`; the result must be an `AbstractGame`."""
    factory = load_factory(spec)
    try:
        game = factory(**game_kwargs(game_args))
    except ConfigError:
        raise
    except Exception as e:  # the user's factory: any failure is a configuration error
        raise ConfigError("game", f"{spec}(**game_args) raised {type(e).__name__}: {e}") from e
    if not isinstance(game, AbstractGame):
        raise ConfigError("game", f"{spec} returned a {type(game).__name__}, not an AbstractGame "
                                  "(subclass jaxmd_rp.AbstractGame)")
    return game


def read_array(key: str, path: str) -> np.ndarray:
    """A float64 array from a .npy file or a comma-separated .csv file (one row per line, an
    optional header line); `ConfigError` naming `key` if it cannot be read or is not finite."""
    if not os.path.isfile(path):
        raise ConfigError(key, f"file {path!r} not found")
    try:
        if path.lower().endswith(".npy"):
            a = np.load(path, allow_pickle=False)
        else:
            with open(path) as f:
                lines = [ln for ln in f.read().splitlines() if ln.strip()]
            if lines and not _numeric(lines[0]):
                lines = lines[1:]  # a header
            a = np.asarray([[float(x) for x in ln.split(",")] for ln in lines])
        a = np.asarray(a, dtype=np.float64)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(key, f"cannot read {path!r} as numbers ({e})") from None
    if a.size == 0:
        raise ConfigError(key, f"{path!r} holds no numbers")
    if not np.all(np.isfinite(a)):
        raise ConfigError(key, f"{path!r} contains NaN or inf")
    return a


def _numeric(line: str) -> bool:
    try:
        [float(x) for x in line.split(",")]
        return True
    except ValueError:
        return False
