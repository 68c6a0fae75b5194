"""The `jaxmd-rp` command line."""

import argparse
import importlib
import sys

# experiment modules (jaxmd_rp/experiments/<name>.py) that add a subcommand via `register(sub)`
EXPERIMENTS = ["fig6", "fig7"]


class UsageError(Exception):
    """A bad command-line value: reported as one line, exit status 2."""


def require(ok: bool, message: str):
    """Refuse a bad command-line value with a one-line message (exit status 2)."""
    if not ok:
        raise UsageError(message)


def enable_x64():
    import jax

    jax.config.update("jax_enable_x64", True)


def cmd_quickstart(args) -> int:
    enable_x64()
    import jax.numpy as jnp

    import jaxmd_rp as rp

    game = rp.games.RiverPollution()
    theta = jnp.asarray(rp.games.DEFAULT_THETA)
    probe = jnp.asarray(rp.games.DEFAULT_PROBE)
    sol = rp.solve_equilibrium(game, theta, probe)
    print("River-pollution game (Krawczyk & Uryasev 2000), published constants")
    print(f"  theta = {list(map(float, theta))}")
    print(f"  probe e = {list(map(float, probe))}")
    print(f"  normalized equilibrium x = {[round(float(v), 6) for v in sol.x]}")
    print(f"  shared multipliers mu   = {[round(float(v), 6) for v in sol.multipliers]}")
    print(f"  KKT residual            = {float(sol.residual):.2e} in {int(sol.num_steps)} Newton steps")
    print(f"  station pollution       = {[round(float(v), 4) for v in game.emissions(probe, sol.x)]} (cap 100)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="jaxmd-rp",
        description="Data-driven automated mechanism design with multi-agent revealed preferences.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("quickstart", help="solve the river game at the published constants")
    p.set_defaults(func=cmd_quickstart)

    for name in EXPERIMENTS:
        importlib.import_module(f"jaxmd_rp.experiments.{name}").register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"jaxmd-rp {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # `python -m jaxmd_rp.cli`: run the package's module, not a copy
    from jaxmd_rp.cli import main as _main

    sys.exit(_main())
