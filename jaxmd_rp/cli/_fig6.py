"""`jaxmd-rp fig6`: Figure 6, Algorithm 1 on the river game (`jaxmd_rp.experiments.fig6`)."""

import math

from .. import report
from .._study import CheckpointError, RunDirectoryLocked, latest_checkpoint_step
from ..experiments import fig6
from ._common import (
    UsageError,
    add_distributed,
    check_seed,
    interrupted,
    prepare_run,
    require,
)

DEFAULTS = fig6.Fig6Config()
OUTPUTS = ("fig6.csv", "fig6_paths.csv", "fig6_summary.json", "fig6.png")


def register(sub):
    p = sub.add_parser("fig6", help="reproduce Figure 6: Algorithm 1 (SPSA) on the river game",
                       description="Algorithm 1 (SPSA with annealing noise) on Monte-Carlo paths of "
                                   "the river-pollution game: the paper's Figure 6.")
    p.add_argument("--paths", type=int, default=DEFAULTS.paths, help="Monte-Carlo paths (paper: 200)")
    p.add_argument("--iters", type=int, default=DEFAULTS.iters, help="SPSA iterations per path")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of every path's randomness")
    p.add_argument("--out", "--run-dir", dest="out", default="fig6_out",
                   help="run directory: outputs, run.json and checkpoints/ (--run-dir is an alias)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the outputs of a previous run in --out")
    p.add_argument("--probes", type=int, default=DEFAULTS.num_probes,
                   help="T, probes per path (paper: 10)")
    p.add_argument("--variant", choices=["classic", "printed"], default=DEFAULTS.variant,
                   help="river profit: classic Krawczyk-Uryasev form, or the paper's printed eq. (20)")
    p.add_argument("--probe-reading", choices=["shared", "station", "own"],
                   default=DEFAULTS.probe_reading,
                   help="which constraint the designer's probe g_t^i is (docs/river.md)")
    p.add_argument("--scale", type=float, default=DEFAULTS.scale,
                   help="divide probe values by this (100 = units of the cap; 1 = raw units)")
    p.add_argument("--no-stop", action="store_true",
                   help="keep iterating a path after L(theta_n) = 0 (default: freeze it)")
    p.add_argument("--fresh-probes", action="store_true",
                   help="draw new probes every iteration (default: once per path, as Algorithm 1)")
    p.add_argument("--perturbation", choices=["project", "raw"], default=DEFAULTS.perturbation,
                   help="project theta +- c_n Delta_n onto Theta, or use them as they are")
    p.add_argument("--chunk", type=int, default=DEFAULTS.chunk, help="iterations per compiled call")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--welfare-paths", type=int, default=fig6.WELFARE_PATHS, metavar="N",
                   help="track the true welfare (harness only) on the first N paths; 0 = off")
    g = p.add_argument_group("large studies (README: 'Large studies: several GPUs and hosts')")
    g.add_argument("--devices", type=int, default=None, metavar="N",
                   help="shard the paths over the first N devices (default: all devices)")
    g.add_argument("--max-paths-per-batch", type=int, default=None, metavar="B",
                   help="memory bound: each device evaluates at most this many paths at once "
                        f"(default: all on GPU/TPU, {fig6.CPU_PATHS_PER_BATCH} on CPU)")
    g.add_argument("--memory-budget", type=float, default=None, metavar="GIB",
                   help="memory bound in GiB per device: choose --max-paths-per-batch from XLA's "
                        "memory analysis of the compiled step (one extra compilation)")
    g.add_argument("--checkpoint-every", type=int, default=None, metavar="K",
                   help="write a checkpoint to OUT/checkpoints every K iterations (and at the end)")
    g.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in OUT (same flags; --iters may grow)")
    add_distributed(g)
    p.set_defaults(func=run)


def _validate(args):
    require(args.paths >= 1, "--paths must be >= 1")
    require(args.iters >= 1, "--iters must be >= 1")
    require(args.probes >= 1, "--probes must be >= 1")
    require(math.isfinite(args.scale) and args.scale > 0,
            "--scale must be a finite number > 0 (it divides the probe values)")
    require(args.chunk >= 1, "--chunk must be >= 1")
    check_seed(args.seed)
    for flag, v in (("--max-paths-per-batch", args.max_paths_per_batch),
                    ("--checkpoint-every", args.checkpoint_every)):
        require(v is None or v >= 1, f"{flag} must be >= 1")
    require(args.memory_budget is None or (math.isfinite(args.memory_budget)
                                           and args.memory_budget > 0),
            "--memory-budget must be a finite number of GiB > 0")
    require(args.welfare_paths >= 0, "--welfare-paths must be >= 0")
    require(not (args.resume and args.overwrite), "--resume and --overwrite exclude each other")


def config_from(args) -> fig6.Fig6Config:
    return fig6.Fig6Config(
        paths=args.paths, iters=args.iters, seed=args.seed, num_probes=args.probes,
        variant=args.variant, probe_reading=args.probe_reading, scale=args.scale,
        stop=not args.no_stop, fresh_probes=args.fresh_probes, perturbation=args.perturbation,
        chunk=args.chunk,
    )


def run(args) -> int:
    _validate(args)
    main = prepare_run(args, "jaxmd-rp fig6", args.devices, OUTPUTS)
    cfg = config_from(args)
    budget = None if args.memory_budget is None else args.memory_budget * 2**30
    try:
        res = fig6.run_fig6(cfg, progress=not args.quiet and main, devices=args.devices,
                            max_paths_per_batch=args.max_paths_per_batch, memory_budget=budget,
                            run_dir=args.out, checkpoint_every=args.checkpoint_every,
                            resume=args.resume, overwrite=args.overwrite,
                            welfare_paths=args.welfare_paths)
    except (CheckpointError, FileExistsError, RunDirectoryLocked) as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:
        return interrupted("jaxmd-rp fig6", latest_checkpoint_step(args.out))
    if main:
        files = report.write_fig6_outputs(res, args.out)
        print(fig6.summary_text(res))
        print("wrote " + ", ".join(files.values()))
    return 0
