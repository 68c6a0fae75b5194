"""The `jaxmd-rp` command line: the only part of jaxmd_rp that knows a console (argparse,
printing, exit codes, x64 and distributed setup). Errors are one line with exit status 2."""

import sys

from .._version import __version__
from . import _asktell, _fig6, _fig7, _quickstart, _study
from ._common import (
    ArgumentParser,
    UsageError,
    add_compile_cache,
    enable_compile_cache,
    require,
)

SUBCOMMANDS = (_quickstart, _fig6, _fig7, _study, _asktell)

__all__ = ["UsageError", "main", "parser", "require"]


def parser() -> ArgumentParser:
    """The `jaxmd-rp` argument parser with every subcommand."""
    p = ArgumentParser(
        prog="jaxmd-rp",
        description="Data-driven automated mechanism design with multi-agent revealed preferences.",
    )
    p.add_argument("--version", action="version", version=f"jaxmd_rp {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.parser_class = ArgumentParser
    for module in SUBCOMMANDS:
        module.register(sub)
    for subparser in sub.choices.values():
        add_compile_cache(subparser)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        if not getattr(args, "distributed", False):  # else after jax.distributed.initialize()
            enable_compile_cache(args)
        return args.func(args)
    except UsageError as e:
        print(f"jaxmd-rp {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxmd-rp {args.command}: interrupted", file=sys.stderr)
        return 130
