"""`jaxmd-rp fig7`: Figure 7, Algorithm 2 on the A.2 game (`jaxmd_rp.experiments.fig7`)."""

import argparse
import math

from .. import report
from .._study import RunDirectoryLocked
from .._study._rundir import RunDirLock
from ..experiments import fig7
from ._common import UsageError, check_out_dir, check_seed, enable_x64, require

DEFAULTS = fig7.Fig7Config()
OUTPUTS = ("fig7.csv", "fig7_runs.csv", "fig7_summary.json", "fig7.png")


def _floats(s: str) -> tuple:
    try:
        return tuple(float(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers (e.g. 0.001,1,10); got {s!r}") from None


def register(sub):
    p = sub.add_parser("fig7", help="reproduce Figure 7: Algorithm 2 (exchange method) on the A.2 game",
                       description="Algorithm 2 (the exchange method for the Wasserstein-robust "
                                   "Pareto gap) on the A.2 game: the paper's Figure 7.")
    p.add_argument("--runs", type=int, default=DEFAULTS.runs,
                   help="Monte-Carlo runs per radius (paper: 200)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of every run's data")
    p.add_argument("--out", default="fig7_out", help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the outputs of a previous run in --out")
    p.add_argument("--delta", type=float, default=DEFAULTS.delta,
                   help="stopping tolerance on max_k CV_k")
    p.add_argument("--epsilons", type=_floats, default=DEFAULTS.epsilons,
                   help="comma-separated Wasserstein radii (paper: 0.001,1,10)")
    p.add_argument("--relative-tol", type=float, default=DEFAULTS.relative_tol,
                   help="also stop only when max_k CV_k <= relative_tol * UB_n")
    p.add_argument("--support", choices=["triangle", "line"], default=DEFAULTS.support,
                   help="support of the adversary: the budget triangle or the budget line")
    p.add_argument("--num-samples", type=int, default=DEFAULTS.num_samples,
                   help="N samples per strategy (identical unless --noise > 0)")
    p.add_argument("--noise", type=float, default=DEFAULTS.noise,
                   help="tremble of the samples in [0, 1] (BudgetGame noise); > 0 with N > 1 uses "
                        "the MILP master")
    p.add_argument("--max-iterations", type=int, default=DEFAULTS.max_iterations,
                   help="cap on the separation rounds of Algorithm 2")
    p.add_argument("--chunk", type=int, default=DEFAULTS.chunk, help="runs per compiled call")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _validate(args):
    require(args.runs >= 1, "--runs must be >= 1")
    check_seed(args.seed)
    require(len(args.epsilons) >= 1 and all(math.isfinite(e) and e >= 0 for e in args.epsilons),
            "--epsilons must be one or more comma-separated finite radii >= 0 (e.g. 0.001,1,10)")
    require(math.isfinite(args.delta) and args.delta >= 0, "--delta must be a finite number >= 0")
    require(args.relative_tol is None or (math.isfinite(args.relative_tol) and args.relative_tol > 0),
            "--relative-tol must be a finite number > 0")
    require(args.num_samples >= 1, "--num-samples must be >= 1")
    require(math.isfinite(args.noise) and 0 <= args.noise <= 1,
            "--noise must be in [0, 1] (the largest share of the budget a sample leaves unspent)")
    require(args.max_iterations >= 1, "--max-iterations must be >= 1")
    require(args.chunk >= 1, "--chunk must be >= 1")


def run(args) -> int:
    _validate(args)
    check_out_dir(args.out, outputs=OUTPUTS, overwrite=args.overwrite)
    enable_x64()
    cfg = fig7.Fig7Config(runs=args.runs, seed=args.seed, epsilons=tuple(args.epsilons),
                          delta=args.delta, relative_tol=args.relative_tol, support=args.support,
                          num_samples=args.num_samples, noise=args.noise,
                          max_iterations=args.max_iterations, chunk=args.chunk)
    try:
        with RunDirLock(args.out):
            res = fig7.run_fig7(cfg, progress=not args.quiet)
            files = report.write_fig7_outputs(res, args.out)
    except RunDirectoryLocked as e:
        raise UsageError(str(e)) from None
    print(fig7.summary_text(res))
    print("wrote " + ", ".join(files.values()))
    return 0
