"""`jaxmd-rp study`: a design study of any game (`jaxmd_rp.experiments.study`).

Every setting is a flag and a key of the TOML file `--config` reads (the key is the flag without
`--`, with `-` -> `_`); flags override the file, the file overrides the defaults. The run
directory keeps the resolved configuration as `study.toml`, which `--config` accepts.
"""

import argparse
import dataclasses
import glob
import os

from .. import report
from .._study import CheckpointError, RunDirectoryLocked, latest_checkpoint_step
from .._study._runner import optional_import
from ..experiments import study, study_tables
from ..experiments._study_config import (
    KEYS,
    METHODS,
    OBJECTIVES,
    OPTIMIZERS,
    PERTURBATIONS,
    ConfigError,
    StudyConfig,
)
from ..experiments._toml import parse_list, parse_value
from ._common import (
    UsageError,
    add_distributed,
    interrupted,
    prepare_run,
    require,
)

DEFAULTS = StudyConfig.__dataclass_fields__
OUTPUTS = report.STUDY_OUTPUTS + (study.CONFIG_FILE,)
CHOICES = {"method": METHODS, "objective": OBJECTIVES, "optimizer": OPTIMIZERS,
           "perturbation": PERTURBATIONS}
INTS = ("paths", "iters", "seed", "max_steps", "chunk", "welfare_paths", "devices",
        "max_paths_per_batch", "checkpoint_every", "num_samples", "restart_after")
FLOATS = ("noise", "zero_tol", "a", "c", "eta", "q", "loglog_floor", "learning_rate", "tau0",
          "epsilon", "memory_budget")
METAVARS = {"memory_budget": "GIB", "max_paths_per_batch": "B", "checkpoint_every": "K",
            "restart_after": "K", "num_samples": "N"}


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE; got {text!r}")
    return name.strip(), value.strip()


def _count_or_file(text: str):
    v = parse_value(text)
    return v if isinstance(v, int) and not isinstance(v, bool) else text


def _names(text: str) -> list:
    return [x.strip() for x in text.split(",")]


def _default_text(name: str) -> str:
    default = DEFAULTS[name].default
    if default is dataclasses.MISSING or default is None or default == "":
        return ""
    if isinstance(default, bool):
        default = str(default).lower()
    return f" (default: {default})"


def _add_key(group, key):
    name, flag = key.name, "--" + key.name.replace("_", "-")
    text = key.help + _default_text(name)
    kw = {"dest": name, "default": argparse.SUPPRESS, "help": text}
    if name == "game_args":
        group.add_argument("--game-arg", type=_assignment, action="append", metavar="NAME=VALUE",
                           **kw)
    elif name == "sweep":
        group.add_argument(flag, type=_assignment, action="append", metavar="KEY=V1,V2,...",
                           **kw)
    elif name == "stop":
        group.add_argument("--no-stop", action="store_const", const=False, **kw)
    elif name in ("fresh_probes", "parquet", "trace"):
        group.add_argument(flag, action="store_const", const=True, **kw)
    elif name in CHOICES:
        group.add_argument(flag, choices=CHOICES[name], **kw)
    elif name in INTS:
        group.add_argument(flag, type=int, metavar=METAVARS.get(name, "N"), **kw)
    elif name in FLOATS:
        group.add_argument(flag, type=float, metavar=METAVARS.get(name, "X"), **kw)
    elif name == "probes":
        group.add_argument(flag, type=_count_or_file, metavar="T|FILE", **kw)
    elif name in ("theta0_low", "theta0_high"):
        group.add_argument(flag, type=parse_list, metavar="X1,X2,...", **kw)
    elif name == "theta_names":
        group.add_argument(flag, type=_names, metavar="NAME1,NAME2,...", **kw)
    else:
        group.add_argument(flag, metavar=name.upper(), **kw)


def register(sub):
    p = sub.add_parser(
        "study", help="a design study of your own game (tables, plots, 95 %% CIs)",
        description="Run a design method (SPSA or gradient design) on the Pareto gap of your own "
                    "game on many Monte-Carlo paths, optionally over a sweep of settings; write "
                    "tidy tables, a summary with 95 % confidence intervals and plots. Every "
                    "setting is a flag and a key of the --config TOML file (flags win). "
                    "docs/studies.md walks through it.")
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="read the settings from this TOML file (e.g. a run directory's study.toml)")
    p.add_argument("--out", "--run-dir", dest="out", default="study_out",
                   help="run directory: tables, plots, study.toml, run.json, checkpoints")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the outputs of a previous study in --out")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoints in --out (same settings; --iters may grow)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    run_group = p.add_argument_group("devices, batches, checkpoints and outputs")
    study_group = p.add_argument_group("the study (these settings determine the numbers)")
    for key in KEYS:
        _add_key(run_group if key.group == "run" else study_group, key)
    add_distributed(run_group)
    p.set_defaults(func=run)


def _flag_values(args) -> dict:
    """The settings given as flags (argparse leaves the others out)."""
    d = {k.name: getattr(args, k.name) for k in KEYS if hasattr(args, k.name)}
    for name in ("game_args", "sweep"):
        if name in d:
            pairs = d[name]
            d[name] = {k: (parse_list(v) if name == "sweep" else parse_value(v)) for k, v in pairs}
    return study.resolve_paths(d, os.getcwd())


class _Sources:
    """Where each setting came from, to name it in an error: a flag or a key of the file."""

    def __init__(self, config_file, file_keys, flag_keys):
        self.file, self.file_keys, self.flag_keys = config_file, file_keys, flag_keys

    def where(self, key: str | None) -> str:
        if key is None:
            return f"--config {self.file}" if self.file else "the configuration"
        top, _, sub = key.partition(".")
        in_file = (top in self.file_keys and (not sub or sub in self.file_keys[top])
                   and not (top in self.flag_keys and (not sub or sub in self.flag_keys[top])))
        if in_file:
            return f"`{key}` in {self.file}"
        if top == "game_args":
            return f"--game-arg {sub}"
        if top == "sweep":
            return f"--sweep {sub}"
        return "--" + top.replace("_", "-")


def _merge(file: dict, flags: dict) -> dict:
    merged = {**file, **flags}
    for name in ("game_args", "sweep"):
        if isinstance(file.get(name), dict) and name in flags:
            merged[name] = {**file[name], **flags[name]}
    return merged


def resolve(args) -> tuple[StudyConfig, _Sources]:
    """The study configuration, defaults < --config file < flags, and where each setting came
    from (`UsageError` naming the flag or the file's key on a bad value)."""
    file = {}
    if args.config is not None:
        try:
            file = study.read_config(args.config)
        except ConfigError as e:
            raise UsageError(f"--config: {e.detail}") from None
    flags = _flag_values(args)
    keys = lambda d: {k: (set(v) if isinstance(v, dict) else True) for k, v in d.items()}  # noqa: E731
    sources = _Sources(args.config, keys(file), keys(flags))
    merged = _merge(file, flags)
    if "game" not in merged:
        raise UsageError("--game is required (or `game` in the --config file): a factory "
                         "'module:function' or 'path/to/file.py:function' returning an AbstractGame")
    try:
        return StudyConfig.from_dict(merged), sources
    except ConfigError as e:
        raise UsageError(f"{sources.where(e.key)} {e.detail}") from None


def _interrupted(out: str) -> int:
    steps = [s for d in sorted(glob.glob(os.path.join(out, study.RUNS_SUBDIR, "*")))
             if (s := latest_checkpoint_step(d)) is not None]
    return interrupted("jaxmd-rp study", min(steps) if steps else None)


def run(args) -> int:
    cfg, sources = resolve(args)
    require(not (args.resume and args.overwrite), "--resume and --overwrite exclude each other")
    require(not args.resume or cfg.checkpoint_every is not None,
            "--resume needs --checkpoint-every K (the setting the study ran with)")
    if cfg.parquet:
        for module in ("pandas", "pyarrow"):
            try:
                optional_import(module, "--parquet")
            except ImportError as e:
                raise UsageError(str(e)) from None
    main = prepare_run(args, "jaxmd-rp study", cfg.devices, OUTPUTS)
    try:
        outcome = study.run(cfg, run_dir=args.out, resume=args.resume, overwrite=args.overwrite,
                            progress=not args.quiet and main)
    except ConfigError as e:
        raise UsageError(f"{sources.where(e.key)} {e.detail}") from None
    except (study.StudyError, CheckpointError, FileExistsError, RunDirectoryLocked) as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:
        return _interrupted(args.out)
    if main:
        files = report.write_study_outputs(outcome, args.out)
        print(study_tables.summary_text(outcome))
        print("wrote " + ", ".join(files.values()))
    return 0


