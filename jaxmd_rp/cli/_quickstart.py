"""`jaxmd-rp quickstart`: the river game at the published constants."""

import jax.numpy as jnp

from .. import games, solve_equilibrium
from ._common import enable_x64


def register(sub):
    p = sub.add_parser("quickstart", help="solve the river game at the published constants",
                       description="Solve the river-pollution game (Krawczyk & Uryasev 2000) at "
                                   "the published constants and print the equilibrium.")
    p.set_defaults(func=run)


def run(args) -> int:
    enable_x64()
    game = games.RiverPollution()
    theta = jnp.asarray(games.DEFAULT_THETA)
    probe = jnp.asarray(games.DEFAULT_PROBE)
    sol = solve_equilibrium(game, theta, probe)
    print("River-pollution game (Krawczyk & Uryasev 2000), published constants")
    print(f"  theta = {list(map(float, theta))}")
    print(f"  probe e = {list(map(float, probe))}")
    print(f"  normalized equilibrium x = {[round(float(v), 6) for v in sol.x]}")
    print(f"  shared multipliers mu   = {[round(float(v), 6) for v in sol.multipliers]}")
    print(f"  KKT residual            = {float(sol.residual):.2e} in {int(sol.num_steps)} Newton steps")
    print(f"  station pollution       = {[round(float(v), 4) for v in game.emissions(probe, sol.x)]} (cap 100)")
    return 0
