"""`jaxmd-rp init / ask / tell`: Algorithm 1 for an outside system, the state on disk.

    jaxmd-rp init --out RUN --game river --paths 20          # checkpoint 0
    jaxmd-rp ask  --out RUN                                  # RUN/queries/000001/{theta,probes}.npy
    ... the system plays the mechanisms; write RUN/queries/000001/observations.npy (or .csv) ...
    jaxmd-rp tell --out RUN --observations RUN/queries/000001/observations.npy

The designer (its probe functions, the SPSA gains, the gap) is recorded in `run.json` at init
and rebuilt by every command; its fingerprint must match the one in the checkpoint
(`jaxmd_rp._study._asktell`). File layouts: `jaxmd_rp._design._asktell_io` and docs/black-box.md.
"""

import argparse
import csv
import importlib
import importlib.util
import json
import math
import os
import types

import jax
import jax.numpy as jnp
import numpy as np

from .. import games
from .._design._asktell import AskTell, ProbeFunctions
from .._design._driver import path_keys
from .._design._spsa import DEFAULT_GAINS, DEFAULT_STOP_TOL, SPSA
from .._objective import sample_probes
from .._study import CheckpointError, RunDirectoryLocked
from .._study._asktell import AskTellRun
from .._study._rundir import read_run_info
from ._common import UsageError, check_out_dir, check_seed, enable_x64, require

GAMES = {"river": games.RiverPollution, "cournot": games.CournotPollution,
         "inspection": games.InspectionGame, "budget": games.BudgetGame}
SPSA_DEFAULTS = types.SimpleNamespace(**DEFAULT_GAINS, stop_tol=DEFAULT_STOP_TOL)
FAILURES = (CheckpointError, RunDirectoryLocked, FileExistsError, ValueError, TypeError)


def register(sub):
    _register_init(sub)
    p = sub.add_parser("ask", help="ask-tell: write the mechanisms to deploy next",
                       description="Write the pending query of an ask-tell experiment (the "
                                   "mechanisms and probes to deploy) to RUN/queries/<n>/.")
    p.add_argument("--out", required=True, help="the experiment's run directory (from init)")
    p.add_argument("--no-csv", action="store_true", help="write .npy files only")
    p.set_defaults(func=run_ask)
    p = sub.add_parser("tell", help="ask-tell: update the design from observed strategies",
                       description="Tell an ask-tell experiment what was observed on its pending "
                                   "query: one SPSA step of every path.")
    p.add_argument("--out", required=True, help="the experiment's run directory (from init)")
    p.add_argument("--observations", required=True, metavar="FILE",
                   help="observed strategies: .npy (P, K, T, [N,] *action_shape) or .csv "
                        "(path,evaluation,probe,[sample,]agent,[component,]value); NaN = missing")
    p.add_argument("--query-id", default=None, metavar="ID",
                   help="the query the observations answer (printed by ask); default: from the "
                        "CSV's query_id column or the query.json next to FILE")
    p.set_defaults(func=run_tell)


def _register_init(sub):
    p = sub.add_parser("init", help="ask-tell: start a design experiment on an outside system",
                       description="Start an ask-tell experiment: P paths of Algorithm 1 whose "
                                   "observations come from outside (jaxmd-rp ask / tell).")
    p.add_argument("--out", required=True, help="run directory for the experiment's state")
    p.add_argument("--overwrite", action="store_true", help="replace an experiment in --out")
    g = p.add_argument_group("the designer's probe functions (one of)")
    g.add_argument("--game", choices=sorted(GAMES), default=None,
                   help="use this game's revealed_constraints (and its boxes)")
    g.add_argument("--probe-fn", default=None, metavar="FILE.py:NAME",
                   help="your probe functions g(probe, x) -> (R,), from a file or module:name")
    g.add_argument("--num-agents", type=int, default=None, help="M, with --probe-fn")
    g.add_argument("--probe-dim", type=int, default=None, help="probe length, with --probe-fn")
    g.add_argument("--action-dim", type=int, default=None,
                   help="k for vector actions (x of shape (M, k)), with --probe-fn")
    g.add_argument("--lower", type=_floats, default=None, help="Theta's lower corner (a,b,...)")
    g.add_argument("--upper", type=_floats, default=None, help="Theta's upper corner (a,b,...)")
    g = p.add_argument_group("paths and probes")
    g.add_argument("--paths", type=int, default=10, help="P, paths run at once")
    g.add_argument("--num-probes", type=int, default=10, help="T, probes per path")
    g.add_argument("--seed", type=int, default=0, help="seed of theta_1, the probes and SPSA")
    g.add_argument("--theta-init-max", type=float, default=0.5,
                   help="theta_1 ~ lower + (upper - lower) U[0, this]")
    g.add_argument("--theta0", default=None, metavar="FILE.npy", help="theta_1 (P, p) instead")
    g.add_argument("--probes", default=None, metavar="FILE.npy",
                   help="probes (P, T, q) or (T, q) instead of drawing them from the probe box")
    g = p.add_argument_group("SPSA (Algorithm 1) and the gap")
    for name in ("a", "c", "eta", "q", "loglog_floor"):
        g.add_argument(f"--{name.replace('_', '-')}", type=float,
                       default=float(getattr(SPSA_DEFAULTS, name)), help=f"SPSA gain {name}")
    g.add_argument("--stop-tol", type=float, default=SPSA_DEFAULTS.stop_tol,
                   help="freeze a path once its gap <= this")
    g.add_argument("--no-stop", action="store_true", help="never freeze a path")
    g.add_argument("--perturbation", choices=["project", "raw"], default="project",
                   help="project theta +- c_n Delta_n onto Theta, or not")
    g.add_argument("--epsilon", type=float, default=None,
                   help="minimise the Wasserstein-robust gap of this radius")
    g.add_argument("--confidence", type=float, default=0.95, help="level of the half-width")
    g.add_argument("--value-range", type=float, default=None,
                   help="known range of the probe values (rigorous half-width)")
    p.set_defaults(func=run_init)


def _floats(s: str) -> list:
    try:
        return [float(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers; got {s!r}") from None


# --------------------------------------------------------------------------------- the designer
def load_probe_fn(spec: str):
    """`FILE.py:NAME` or `module:NAME` -> the function."""
    require(":" in spec, f"--probe-fn must be FILE.py:NAME or module:NAME; got {spec!r}")
    where, name = spec.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            require(os.path.isfile(where), f"--probe-fn: no file {where!r}")
            mod_spec = importlib.util.spec_from_file_location("jaxmd_rp_user_probes", where)
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except UsageError:
        raise
    except Exception as e:  # the user's file may raise anything while it is imported
        raise UsageError(f"--probe-fn: cannot import {where!r} ({type(e).__name__}: {e})") from None
    fn = getattr(module, name, None)
    require(callable(fn), f"--probe-fn: {where!r} has no function {name!r}")
    return fn


def build_designer(cfg: dict) -> AskTell:
    """The designer described by an init configuration (as recorded in run.json)."""
    if cfg.get("game") is not None:
        pf = GAMES[cfg["game"]]()
    else:
        pf = ProbeFunctions(load_probe_fn(cfg["probe_fn"]), num_agents=cfg["num_agents"],
                            probe_dim=cfg["probe_dim"], action_dim=cfg["action_dim"])
    spsa = SPSA(lower=jnp.asarray(cfg["lower"]), upper=jnp.asarray(cfg["upper"]), a=cfg["a"],
                c=cfg["c"], eta=cfg["eta"], q=cfg["q"], loglog_floor=cfg["loglog_floor"],
                stop_tol=cfg["stop_tol"], perturbation=cfg["perturbation"])
    return AskTell(spsa, pf, epsilon=cfg["epsilon"], confidence=cfg["confidence"],
                   value_range=cfg["value_range"])


def _config(args) -> dict:
    require((args.game is None) != (args.probe_fn is None), "give exactly one of --game and "
            "--probe-fn (the designer's probe functions)")
    for name in ("num_agents", "probe_dim", "action_dim"):
        if args.game is not None:
            require(getattr(args, name) is None, f"--{name.replace('_', '-')} is for --probe-fn "
                    "(a --game knows its own)")
    if args.probe_fn is not None:
        require(args.num_agents is not None and args.num_agents >= 1,
                "--probe-fn needs --num-agents M >= 1")
        require(args.probe_dim is not None and args.probe_dim >= 1,
                "--probe-fn needs --probe-dim q >= 1")
        require(args.action_dim is None or args.action_dim >= 1, "--action-dim must be >= 1")
        require(args.lower is not None and args.upper is not None,
                "--probe-fn needs the box Theta: --lower and --upper")
        require(args.probes is not None, "--probe-fn needs --probes FILE.npy (no probe box is "
                "known to draw them from)")
        probe_fn = args.probe_fn
        if ".py:" in probe_fn:
            probe_fn = os.path.abspath(probe_fn.rsplit(":", 1)[0]) + ":" + probe_fn.rsplit(":", 1)[1]
        load_probe_fn(probe_fn)
    else:
        probe_fn = None
        lo, hi = GAMES[args.game]().theta_bounds
        args.lower = [float(v) for v in lo] if args.lower is None else args.lower
        args.upper = [float(v) for v in hi] if args.upper is None else args.upper
    _validate(args)
    return {"experiment": "asktell", "game": args.game, "probe_fn": probe_fn,
            "num_agents": args.num_agents, "probe_dim": args.probe_dim,
            "action_dim": args.action_dim, "lower": args.lower, "upper": args.upper,
            "a": args.a, "c": args.c, "eta": args.eta, "q": args.q,
            "loglog_floor": args.loglog_floor, "stop_tol": None if args.no_stop else args.stop_tol,
            "perturbation": args.perturbation, "epsilon": args.epsilon,
            "confidence": args.confidence, "value_range": args.value_range,
            "paths": args.paths, "num_probes": args.num_probes, "seed": args.seed,
            "theta_init_max": args.theta_init_max,
            "theta0_file": _abs(args.theta0), "probes_file": _abs(args.probes)}


def _abs(path):
    return None if path is None else os.path.abspath(path)


def _validate(args):
    require(len(args.lower) == len(args.upper) >= 1, "--lower and --upper need the same number "
            "(p >= 1) of values")
    require(all(math.isfinite(v) for v in args.lower + args.upper)
            and all(lo <= hi for lo, hi in zip(args.lower, args.upper, strict=True)),
            "--lower and --upper must be finite with lower <= upper")
    require(args.paths >= 1, "--paths must be >= 1")
    require(args.num_probes >= 1, "--num-probes must be >= 1")
    check_seed(args.seed)
    require(math.isfinite(args.theta_init_max) and 0 <= args.theta_init_max <= 1,
            "--theta-init-max must be in [0, 1] (a fraction of the box)")
    for name, ok, rule in (("a", lambda v: v > 0, "> 0"), ("c", lambda v: v > 0, "> 0"),
                           ("q", lambda v: v >= 0, ">= 0"), ("eta", lambda v: 0 < v <= 1,
                                                            "in (0, 1]"),
                           ("loglog_floor", lambda v: v > 0, "> 0"),
                           ("stop_tol", lambda v: v >= 0, ">= 0"),
                           ("confidence", lambda v: 0 < v < 1, "in (0, 1)")):
        v = getattr(args, name)
        require(math.isfinite(v) and ok(v), f"--{name.replace('_', '-')} must be {rule}; got {v}")
    for name in ("epsilon", "value_range"):
        v = getattr(args, name)
        require(v is None or (math.isfinite(v) and (v >= 0 if name == "epsilon" else v > 0)),
                f"--{name.replace('_', '-')} must be a finite number "
                f"{'>= 0' if name == 'epsilon' else '> 0'}")
    for flag in ("theta0", "probes"):
        f = getattr(args, flag)
        require(f is None or (f.endswith(".npy") and os.path.isfile(f)),
                f"--{flag} must name an existing .npy file; got {f!r}")


def _inputs(cfg: dict, designer: AskTell):
    """theta_1 (P, p), probes (P, T, q) and per-path keys, from the files or the seed (path k
    uses fold_in(PRNGKey(seed), k): fold_in 0 for theta_1, 1 for its probes, 2 for SPSA)."""
    P, T = cfg["paths"], cfg["num_probes"]
    base = path_keys(jax.random.PRNGKey(cfg["seed"]), P)
    lo, hi = jnp.asarray(cfg["lower"]), jnp.asarray(cfg["upper"])
    if cfg["theta0_file"] is not None:
        theta0 = _load(cfg["theta0_file"], "--theta0")
    else:
        theta0 = jax.vmap(lambda k: lo + (hi - lo) * jax.random.uniform(
            jax.random.fold_in(k, 0), lo.shape, maxval=cfg["theta_init_max"]))(base)
    pf = designer.probe_functions
    if cfg["probes_file"] is not None:
        probes = _load(cfg["probes_file"], "--probes")
        if probes.ndim == 2:
            probes = np.broadcast_to(probes, (P, *probes.shape))
    else:
        probes = jax.vmap(lambda k: sample_probes(pf, jax.random.fold_in(k, 1), T))(base)
    keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(base)
    return theta0, probes, keys


def _load(path, flag):
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"{flag} {path!r} cannot be read ({e})") from None
    require(np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer),
            f"{flag} {path!r} must hold real numbers; got dtype {a.dtype}")
    return a.astype(np.float64)


def _designer_of(out: str) -> AskTell:
    require(os.path.isdir(out), f"--out {out!r} is not an experiment directory (run init first)")
    try:
        info = read_run_info(out)
    except ValueError as e:
        raise UsageError(str(e)) from None
    cfg = (info or {}).get("config") or {}
    require(cfg.get("experiment") == "asktell", f"--out {out!r} holds no ask-tell experiment "
            "(run jaxmd-rp init first)")
    return build_designer(cfg)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


# --------------------------------------------------------------------------------- commands
def run_init(args) -> int:
    cfg = _config(args)
    check_out_dir(args.out, outputs=("run.json",), overwrite=args.overwrite)
    enable_x64()
    try:
        designer = build_designer(cfg)
        theta0, probes, keys = _inputs(cfg, designer)
        require(np.shape(theta0) == (cfg["paths"], len(cfg["lower"])), f"--theta0 must have "
                f"shape (P, p) = ({cfg['paths']}, {len(cfg['lower'])}); got {np.shape(theta0)}")
        AskTellRun(args.out, designer).init(theta0, probes, keys, config=cfg,
                                            overwrite=args.overwrite)
    except FAILURES as e:
        raise UsageError(_one_line(e)) from None
    print(f"started an ask-tell experiment of {cfg['paths']} paths in {args.out}; next: "
          f"jaxmd-rp ask --out {args.out}")
    return 0


def run_ask(args) -> int:
    enable_x64()
    designer = _designer_of(args.out)
    try:
        query, qid, where = AskTellRun(args.out, designer).ask(csv_files=not args.no_csv)
    except FAILURES as e:
        raise UsageError(_one_line(e)) from None
    P, K, p = query.theta.shape
    T = query.probes.shape[1]
    shape = designer.probe_functions.action_shape
    print(f"query {qid}: iteration {int(np.max(query.n))}, {P} paths x {K} mechanisms x {T} "
          f"probes; mechanisms in {os.path.join(where, 'theta.npy')}, probes in "
          f"{os.path.join(where, 'probes.npy')}")
    print(f"observations: shape {(P, K, T, *shape)} (or with N samples {(P, K, T, 'N', *shape)}) "
          f"to {os.path.join(where, 'observations.npy')} (or .csv); then: jaxmd-rp tell --out "
          f"{args.out} --observations {os.path.join(where, 'observations.npy')}")
    return 0


def run_tell(args) -> int:
    enable_x64()
    designer = _designer_of(args.out)
    require(os.path.isfile(args.observations), f"--observations {args.observations!r} is not a "
            "file")
    qid = args.query_id or _query_id_of(args.observations)
    require(qid is not None, "name the query these observations answer: --query-id ID (printed "
            "by ask), a query_id column in the CSV, or put the file in the query's directory")
    try:
        info = AskTellRun(args.out, designer).tell(args.observations, qid)
    except FAILURES as e:
        raise UsageError(_one_line(e)) from None
    v = np.asarray(info.value)
    tol = designer.method.stop_tol if designer.method.stop_tol is not None else 0.0
    print(f"told query {qid}: mean gap {np.nanmean(v) if np.isfinite(v).any() else float('nan'):.4g}, "
          f"{int(np.sum(v <= tol))} of {v.size} paths at L = 0, {int(np.sum(info.failed))} "
          f"skipped (missing observations); next: jaxmd-rp ask --out {args.out}")
    return 0


def _query_id_of(path: str) -> str | None:
    """The query id named by a CSV's query_id column, or by the query.json beside the file."""
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            r = csv.reader(f)
            header = next(r, [])
            if "query_id" in header:
                first = next(r, None)
                if first is not None:
                    return first[header.index("query_id")]
    beside = os.path.join(os.path.dirname(os.path.abspath(path)), "query.json")
    if os.path.isfile(beside):
        try:
            with open(beside) as f:
                return json.load(f).get("query_id")
        except (OSError, ValueError):
            return None
    return None

