"""The configuration of a design study: one typed record, its keys documented once.

Every key is a field of `StudyConfig`, a key of the TOML file `jaxmd-rp study --config` reads,
and a command-line flag (`--` + the key with `_` -> `-`). `KEYS` holds each key's default, help
text and group: "study" keys determine the numbers (a checkpoint records them and refuses to
resume under others), "run" keys only say how and where it runs (devices, batches, checkpoints,
outputs) and may change on resume. `StudyConfig.__post_init__` validates every value and raises
`ConfigError` naming the key.
"""

import dataclasses
import math
from typing import Any

from .._design._spsa import DEFAULT_GAINS, DEFAULT_STOP_TOL

MAX_SEED = 2**63 - 1
METHODS = ("spsa", "gradient")
OBJECTIVES = ("gap", "smoothed", "robust")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
PERTURBATIONS = ("project", "raw")
ARRAY_FILES = (".npy", ".csv")

# keys that apply to one design method or objective only
ONLY_FOR = {
    **{k: ("method", "spsa") for k in ("a", "c", "eta", "q", "loglog_floor", "perturbation")},
    **{k: ("method", "gradient") for k in ("optimizer", "learning_rate")},
    "tau0": ("objective", "smoothed"),
    "epsilon": ("objective", "robust"),
}
# keys that cannot be swept (they change what a study is, not a setting of it)
NOT_SWEPT = ("game", "game_args", "method", "objective", "paths", "theta0", "theta0_low",
             "theta0_high", "sweep")


class ConfigError(ValueError):
    """A bad configuration value; `key` names it (a `StudyConfig` field / TOML key)."""

    def __init__(self, key: str | None, detail: str):
        self.key, self.detail = key, detail
        super().__init__(f"`{key}` {detail}" if key else detail)


class StudyError(ValueError):
    """The study cannot run as configured (found while building or tracing it)."""


@dataclasses.dataclass(frozen=True)
class Key:
    name: str
    help: str
    group: str = "study"  # "study": determines the numbers; "run": how/where it runs


KEYS = (
    Key("game", "the game: 'module:factory' or 'path/to/file.py:factory', a callable returning "
                "an AbstractGame"),
    Key("game_args", "keyword arguments of the game factory (a TOML table; flag: --game-arg "
                     "NAME=VALUE, repeatable)"),
    Key("method", f"design method: {' or '.join(METHODS)}"),
    Key("objective", "gap (the Pareto gap), smoothed (its smoothed surrogate; gradient only) or "
                     "robust (the Wasserstein-robust gap at radius epsilon)"),
    Key("paths", "Monte-Carlo paths per combination"),
    Key("iters", "design iterations per path (may grow on resume)", "run"),
    Key("seed", "path k's randomness is fold_in(PRNGKey(seed), k)"),
    Key("probes", "T probes per path drawn uniformly from the game's probe box, or a .npy/.csv "
                  "file: (T, probe_dim) for every path or (paths, T, probe_dim)"),
    Key("fresh_probes", "draw new probes at every evaluation instead of once per path"),
    Key("theta0", "starting points: 'uniform' in [theta0_low, theta0_high], or a .npy/.csv "
                  "file of shape (p,) or (paths, p)"),
    Key("theta0_low", "lower corner of the box theta_1 is drawn from (default: the game's Theta)"),
    Key("theta0_high", "upper corner of the box theta_1 is drawn from (default: the game's Theta)"),
    Key("num_samples", "observe N samples of each strategy instead of the equilibrium"),
    Key("noise", "standard deviation of Gaussian observation noise on each sample (needs "
                 "num_samples)"),
    Key("stop", "freeze a path once its value is <= zero_tol (flag: --no-stop turns it off)"),
    Key("zero_tol", "a value <= zero_tol counts as zero (stopping, share at zero)"),
    Key("a", "SPSA step gain: a_n = a / n"),
    Key("c", "SPSA perturbation gain: c_n = c / n^eta"),
    Key("eta", "SPSA perturbation decay, in (0, 1]"),
    Key("q", "SPSA annealing-noise gain"),
    Key("loglog_floor", "SPSA floor on log log n in the annealing noise"),
    Key("perturbation", "SPSA: 'project' the perturbed points onto Theta, or 'raw'"),
    Key("optimizer", f"gradient design: the optax optimiser ({', '.join(OPTIMIZERS)})"),
    Key("learning_rate", "gradient design: the optimiser's learning rate"),
    Key("tau0", "smoothed objective: temperature tau_n = tau0 / sqrt(n)"),
    Key("epsilon", "robust objective: the Wasserstein radius"),
    Key("max_steps", "iterations of each equilibrium solve"),
    Key("restart_after", "restart a path from a fresh theta_1 (drawn like the first) when it has "
                         "not reached zero within K iterations of its (re)start; absent: never "
                         "(the paper)"),
    Key("sweep", "a grid of settings: KEY = [values] (TOML table; flag: --sweep KEY=V1,V2,...); "
                 "KEY is a study key or game_args.NAME"),
    Key("chunk", "iterations per compiled call", "run"),
    Key("devices", "shard the paths over the first N devices (default: all)", "run"),
    Key("max_paths_per_batch", "memory bound: each device evaluates at most B paths at once "
                               "(default: all on GPU/TPU, 50 on CPU)", "run"),
    Key("memory_budget", "memory bound in GiB per device: choose max_paths_per_batch from XLA's "
                         "memory analysis", "run"),
    Key("checkpoint_every", "checkpoint every K iterations (and at the end)", "run"),
    Key("welfare_paths", "track the true welfare (a harness diagnostic) on the first N paths of "
                         "each combination; 0 = off", "run"),
    Key("theta_names", "names of the mechanism's coordinates in tables and plots", "run"),
    Key("parquet", "also write the tables as Parquet (needs pandas and pyarrow: "
                   "pip install 'jaxmd_rp[parquet]')", "run"),
    Key("trace", "also write the long table: one row per path and iteration", "run"),
)
KEY = {k.name: k for k in KEYS}
STUDY_KEYS = tuple(k.name for k in KEYS if k.group == "study")
RUN_KEYS = tuple(k.name for k in KEYS if k.group == "run")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(key, v, low, high=None, optional=False):
    if v is None and optional:
        return None
    if not _is_int(v) or v < low or (high is not None and v > high):
        rng = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ConfigError(key, f"must be an integer {rng}{' or absent' if optional else ''}; "
                               f"got {v!r}")
    return v


def _float(key, v, ok, rule, optional=False):
    if v is None and optional:
        return None
    if not _is_number(v) or not math.isfinite(v) or not ok(float(v)):
        raise ConfigError(key, f"must be a finite number {rule}; got {v!r}")
    return float(v)


def _choice(key, v, choices):
    if v not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}; got {v!r}")
    return v


def _bool(key, v):
    if not isinstance(v, bool):
        raise ConfigError(key, f"must be true or false; got {v!r}")
    return v


def _file_or(key, v, word):
    """A count/`word` or the path of a .npy/.csv file."""
    if isinstance(v, str) and v != word:
        if not v.lower().endswith(ARRAY_FILES):
            raise ConfigError(key, f"must be {'a count' if word is None else repr(word)} or a "
                                   f".npy/.csv file; got {v!r}")
    return v


def _numbers(key, v):
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or not v or not all(_is_number(x) and math.isfinite(x)
                                                            for x in v):
        raise ConfigError(key, f"must be a list of finite numbers; got {v!r}")
    return tuple(float(x) for x in v)


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """A design study (see `KEYS` for every field). Values are validated on construction."""

    game: str = ""
    game_args: dict = dataclasses.field(default_factory=dict)
    method: str = "spsa"
    objective: str = "gap"
    paths: int = 200
    iters: int = 50
    seed: int = 0
    probes: Any = 10
    fresh_probes: bool = False
    theta0: str = "uniform"
    theta0_low: tuple | None = None
    theta0_high: tuple | None = None
    num_samples: int | None = None
    noise: float = 0.0
    stop: bool = True
    zero_tol: float = DEFAULT_STOP_TOL
    a: float = DEFAULT_GAINS["a"]
    c: float = DEFAULT_GAINS["c"]
    eta: float = DEFAULT_GAINS["eta"]
    q: float = DEFAULT_GAINS["q"]
    loglog_floor: float = DEFAULT_GAINS["loglog_floor"]
    perturbation: str = "project"
    optimizer: str = "adam"
    learning_rate: float = 0.05
    tau0: float = 0.05
    epsilon: float = 0.1
    max_steps: int = 100
    restart_after: int | None = None
    sweep: dict = dataclasses.field(default_factory=dict)
    chunk: int = 5
    devices: int | None = None
    max_paths_per_batch: int | None = None
    memory_budget: float | None = None
    checkpoint_every: int | None = None
    welfare_paths: int = 100
    theta_names: tuple | None = None
    parquet: bool = False
    trace: bool = False

    def __post_init__(self):
        for name, value in _checked(self).items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, d: dict) -> "StudyConfig":
        """A configuration from a dict (e.g. a parsed TOML file); unknown keys are refused."""
        unknown = [k for k in d if k not in KEY]
        if unknown:
            raise ConfigError(unknown[0], "is not a study setting (see `jaxmd-rp study --help`)")
        return cls(**d)

    def to_dict(self, group: str | None = None) -> dict:
        """The settings that apply (keys of other methods/objectives and absent values left
        out), optionally only those of one group ("study" or "run")."""
        out = {}
        for k in KEYS:
            if group is not None and k.group != group:
                continue
            v = getattr(self, k.name)
            if v is None or not self.applies(k.name) or (k.name in ("game_args", "sweep")
                                                         and not v):
                continue
            out[k.name] = list(v) if isinstance(v, tuple) else v
        if "sweep" in out:
            out["sweep"] = {k: list(v) for k, v in out["sweep"].items()}
        return out

    def applies(self, key: str) -> bool:
        """Whether `key` is used by this configuration's method and objective."""
        if key not in ONLY_FOR:
            return True
        field, value = ONLY_FOR[key]
        return getattr(self, field) == value

    def combination(self, overrides: dict) -> "StudyConfig":
        """This configuration with one point of the sweep grid applied (and no sweep)."""
        game_args = dict(self.game_args)
        plain = {}
        for k, v in overrides.items():
            if k.startswith("game_args."):
                game_args[k.removeprefix("game_args.")] = v
            else:
                plain[k] = v
        return dataclasses.replace(self, sweep={}, game_args=game_args, **plain)


def _checked(cfg: StudyConfig) -> dict:
    """Validated (and normalised) field values; `ConfigError` naming the first bad key."""
    v = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    if not isinstance(v["game"], str) or ":" not in v["game"]:
        raise ConfigError("game", "must name a factory as 'module:function' or "
                                  f"'path/to/file.py:function'; got {v['game']!r}")
    if not isinstance(v["game_args"], dict) or not all(isinstance(k, str) for k in v["game_args"]):
        raise ConfigError("game_args", f"must be a table of NAME = value; got {v['game_args']!r}")
    _choice("method", v["method"], METHODS)
    _choice("objective", v["objective"], OBJECTIVES)
    for k in ("paths", "iters", "max_steps", "chunk"):
        _int(k, v[k], 1)
    _int("seed", v["seed"], 0, MAX_SEED)
    _int("welfare_paths", v["welfare_paths"], 0)
    for k in ("devices", "max_paths_per_batch", "checkpoint_every", "num_samples", "restart_after"):
        _int(k, v[k], 1, optional=True)
    v["memory_budget"] = _float("memory_budget", v["memory_budget"], lambda x: x > 0,
                                "of GiB > 0", optional=True)
    if not (_is_int(v["probes"]) and v["probes"] >= 1) and not isinstance(v["probes"], str):
        raise ConfigError("probes", f"must be a count >= 1 or a .npy/.csv file; got {v['probes']!r}")
    _file_or("probes", v["probes"], None)
    if not isinstance(v["theta0"], str):
        raise ConfigError("theta0", f"must be 'uniform' or a .npy/.csv file; got {v['theta0']!r}")
    _file_or("theta0", v["theta0"], "uniform")
    for k in ("theta0_low", "theta0_high"):
        v[k] = _numbers(k, v[k])
        if v[k] is not None and v["theta0"] != "uniform":
            raise ConfigError(k, "applies to theta0 = 'uniform' only")
    for k in ("fresh_probes", "stop", "parquet", "trace"):
        _bool(k, v[k])
    rules = {"noise": (lambda x: x >= 0, ">= 0"), "zero_tol": (lambda x: x >= 0, ">= 0"),
             "a": (lambda x: x > 0, "> 0"), "c": (lambda x: x > 0, "> 0"),
             "eta": (lambda x: 0 < x <= 1, "in (0, 1]"), "q": (lambda x: x >= 0, ">= 0"),
             "loglog_floor": (lambda x: x > 0, "> 0"), "learning_rate": (lambda x: x > 0, "> 0"),
             "tau0": (lambda x: x > 0, "> 0"), "epsilon": (lambda x: x >= 0, ">= 0")}
    for k, (ok, rule) in rules.items():
        v[k] = _float(k, v[k], ok, rule)
    _choice("perturbation", v["perturbation"], PERTURBATIONS)
    _choice("optimizer", v["optimizer"], OPTIMIZERS)
    _check_names(v["theta_names"])
    v["theta_names"] = tuple(v["theta_names"]) if v["theta_names"] is not None else None
    _check_combinations(cfg, v)
    v["sweep"] = _check_sweep(cfg, v["sweep"])
    return v


def _check_names(names):
    if names is None:
        return
    if (not isinstance(names, (list, tuple)) or not names
            or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names)):
        raise ConfigError("theta_names", f"must be a list of distinct non-empty names; got {names!r}")


def _check_combinations(cfg: StudyConfig, v: dict):
    defaults = StudyConfig.__dataclass_fields__
    for key, (field, value) in ONLY_FOR.items():
        if v[field] != value and v[key] != defaults[key].default:
            raise ConfigError(key, f"applies to {field} = {value!r} only (this study has "
                                   f"{field} = {v[field]!r})")
    if v["noise"] > 0 and v["num_samples"] is None:
        raise ConfigError("noise", "perturbs samples: set num_samples (N >= 1) as well")
    if v["objective"] == "smoothed" and v["method"] != "gradient":
        raise ConfigError("objective", "'smoothed' is a surrogate for gradient design: use "
                                       "method = 'gradient'")
    if v["objective"] == "robust":
        for key, bad in (("fresh_probes", v["fresh_probes"]), ("noise", v["noise"] > 0)):
            if bad:
                raise ConfigError(key, "applies to the gap objectives (gap, smoothed), not to "
                                       "objective = 'robust'")
    if v["restart_after"] is not None:
        if not v["stop"]:
            raise ConfigError("restart_after", "restarts the paths that have not stopped at zero: "
                                               "it needs stop = true")
        if v["theta0"] != "uniform":
            raise ConfigError("restart_after", "draws fresh starting points like the first: it "
                                               "needs theta0 = 'uniform'")
    if v["fresh_probes"] and isinstance(v["probes"], str):
        raise ConfigError("fresh_probes", "draws probes from the game's probe box: probes must be "
                                          "a count, not a file")


def _check_sweep(cfg: StudyConfig, sweep) -> dict:
    if not isinstance(sweep, dict):
        raise ConfigError("sweep", f"must be a table of KEY = [values]; got {sweep!r}")
    out = {}
    for key, values in sweep.items():
        where = f"sweep.{key}"
        name = key.removeprefix("game_args.")
        if key.startswith("game_args.") and name:
            pass
        elif key not in KEY:
            raise ConfigError(where, "is not a study setting (sweep a study key or "
                                     "game_args.NAME)")
        elif key in NOT_SWEPT or KEY[key].group != "study":
            raise ConfigError(where, "cannot be swept (sweep the settings of a study: seed, "
                                     "probes, gains, observation, game_args.NAME, ...)")
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(where, f"must be a non-empty list of values; got {values!r}")
        if key == "probes" and not all(_is_int(x) for x in values):
            raise ConfigError(where, f"sweeps probe counts (T); got {list(values)!r}")
        if len({repr(x) for x in values}) != len(values):
            raise ConfigError(where, f"repeats a value: {list(values)!r}")
        out[key] = tuple(values)
    normal = {k: list(v) for k, v in out.items()}
    for overrides in grid(out) if out else []:  # every combination must be a valid configuration
        try:
            c = cfg.combination(overrides)
        except ConfigError as e:
            at = ", ".join(f"{k} = {x!r}" for k, x in overrides.items())
            raise ConfigError(f"sweep.{e.key}" if e.key in out else e.key,
                              f"{e.detail} (in the sweep combination {at})") from None
        for k, x in overrides.items():  # the values as the configuration holds them (20 -> 20.0)
            if not k.startswith("game_args."):
                normal[k][out[k].index(x)] = getattr(c, k)
    return {k: tuple(v) for k, v in normal.items()}


def grid(sweep: dict) -> list[dict]:
    """The combinations of a sweep (Cartesian product, the first key varying slowest)."""
    combos = [{}]
    for key, values in sweep.items():
        combos = [{**c, key: x} for c in combos for x in values]
    return combos
