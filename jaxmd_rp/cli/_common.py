"""What every subcommand shares: one-line errors (exit status 2), x64, distributed setup,
checks of the output folder before anything is computed."""

import argparse
import os
import sys

import jax

MAX_SEED = 2**63 - 1


class UsageError(Exception):
    """A bad command-line value or an unusable output folder: one line, exit status 2."""


def require(ok: bool, message: str):
    """Refuse a bad command-line value with a one-line message (exit status 2)."""
    if not ok:
        raise UsageError(message)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with defaults in `--help` and one-line errors (exit status 2)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def enable_x64():
    jax.config.update("jax_enable_x64", True)


def check_seed(seed: int):
    require(0 <= seed <= MAX_SEED, f"--seed must be an integer in [0, 2**63 - 1]; got {seed}")


def check_out_dir(out: str, *, outputs=(), overwrite: bool = False, resume: bool = False):
    """Refuse, before computing, an output folder that cannot be written, or that holds
    outputs of a previous run (unless --overwrite or --resume)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out!r} exists and is not a folder")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out!r} cannot be created ({e.strerror or e})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out!r} is not writable")
    probe = os.path.join(out, f".jaxmd_rp_write_test.{os.getpid()}")
    try:
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise UsageError(f"--out {out!r} is not writable ({e.strerror or e})") from None
    if not (overwrite or resume):
        old = [f for f in outputs if os.path.exists(os.path.join(out, f))]
        if old:
            raise UsageError(f"--out {out!r} holds the outputs of a previous run ({', '.join(old)}); "
                             "pass --overwrite to replace them, or choose another --out")


def add_distributed(group):
    group.add_argument("--distributed", action="store_true",
                       help="multi-host: call jax.distributed.initialize() first (every host runs "
                            "the same command; process 0 writes the outputs)")
    group.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                       help="with --distributed: the coordinator's address (auto-detected on "
                            "SLURM, Open MPI and Cloud TPU)")
    group.add_argument("--num-processes", type=int, default=None, metavar="N",
                       help="with --distributed: the number of processes")
    group.add_argument("--process-id", type=int, default=None, metavar="I",
                       help="with --distributed: this process's index in 0..N-1")


def init_distributed(args, prog: str):
    """`jax.distributed.initialize()` with a word on stderr while it waits for the peers."""
    if not args.distributed:
        require(args.coordinator is None and args.num_processes is None and args.process_id is None,
                "--coordinator, --num-processes and --process-id need --distributed")
        return
    if args.num_processes is not None:
        require(args.num_processes >= 1, "--num-processes must be >= 1")
    if args.process_id is not None:
        require(args.num_processes is not None and 0 <= args.process_id < args.num_processes,
                "--process-id must be in 0..N-1 with --num-processes N")
    where = args.coordinator or "the auto-detected coordinator"
    print(f"{prog}: waiting for {args.num_processes or 'all'} processes at {where} ...",
          file=sys.stderr, flush=True)
    try:
        jax.distributed.initialize(coordinator_address=args.coordinator,
                                   num_processes=args.num_processes, process_id=args.process_id)
    except (ValueError, RuntimeError) as e:
        raise UsageError(
            f"--distributed: jax.distributed.initialize() failed ({str(e).splitlines()[0]}); "
            "outside SLURM, Open MPI and Cloud TPU pass --coordinator HOST:PORT --num-processes "
            "N --process-id I") from None
    print(f"{prog}: process {jax.process_index()} of {jax.process_count()} joined",
          file=sys.stderr, flush=True)
    enable_compile_cache(args)


def prepare_run(args, prog: str, devices, outputs) -> bool:
    """The start of every sharded run: join the other hosts (--distributed), check --devices,
    check the output folder (process 0), turn on float64. Returns whether this is process 0."""
    init_distributed(args, prog)
    check_devices(devices)
    main = jax.process_index() == 0
    if main:
        check_out_dir(args.out, outputs=outputs, overwrite=args.overwrite, resume=args.resume)
    enable_x64()
    return main


def check_devices(devices):
    if devices is None:
        return
    require(devices >= 1, "--devices must be >= 1")
    n = jax.device_count()
    require(devices <= n, f"--devices {devices}: only {n} {jax.default_backend()} device(s) "
            "are visible")


def default_cache_dir() -> str:
    """`$JAXMD_RP_COMPILE_CACHE`, else `$XDG_CACHE_HOME/jaxmd_rp/xla` (`~/.cache/jaxmd_rp/xla`)."""
    env = os.environ.get("JAXMD_RP_COMPILE_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxmd_rp", "xla")


def add_compile_cache(parser):
    g = parser.add_argument_group("compilation cache")
    g.add_argument("--compile-cache", default=None, metavar="DIR",
                   help="persistent XLA compilation cache: a rerun with the same shapes skips "
                        f"compilation (on GPUs and TPUs by default in {default_cache_dir()} or "
                        "$JAXMD_RP_COMPILE_CACHE; on a CPU only when DIR is given)")
    g.add_argument("--no-compile-cache", action="store_true",
                   help="compile from scratch and write no cache")


def enable_compile_cache(args):
    """Turn on JAX's persistent compilation cache: by default on GPUs and TPUs, on a CPU only with
    an explicit --compile-cache DIR (jax's CPU loader logs a spurious machine-feature mismatch for
    every cached CPU program, which would drown the one-line messages). --no-compile-cache turns
    it off; a cache that cannot be created is skipped with a warning, never stopping a run. Call
    it after `init_distributed` (it asks for the default backend)."""
    if getattr(args, "no_compile_cache", True):
        return
    if args.compile_cache is None and jax.default_backend() == "cpu":
        return
    path = args.compile_cache or default_cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        print(f"jaxmd-rp: warning: compilation cache {path!r} unavailable ({e.strerror or e}); "
              "compiling without it", file=sys.stderr)
        return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def interrupted(prog: str, step: int | None) -> int:
    """Ctrl-C during a run: say how to continue (exit status 130)."""
    if step is None:
        hint = ("no checkpoint was written (pass --checkpoint-every K to make a run resumable); "
                "rerun with --overwrite")
    else:
        hint = f"the last checkpoint holds iteration {step}; rerun the same command with --resume"
    print(f"{prog}: interrupted; {hint}", file=sys.stderr)
    return 130
