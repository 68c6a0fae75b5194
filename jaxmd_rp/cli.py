"""The `jaxmd-rp` command line."""

import argparse
import sys


def _enable_x64():
    import jax

    jax.config.update("jax_enable_x64", True)


def cmd_quickstart(args) -> int:
    _enable_x64()
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


def cmd_fig6(args) -> int:
    _enable_x64()
    from .experiments import fig6

    cfg = fig6.Fig6Config(
        paths=args.paths, iters=args.iters, seed=args.seed, num_probes=args.probes,
        variant=args.variant, probe_reading=args.probe_reading, scale=args.scale,
        stop=not args.no_stop, fresh_probes=args.fresh_probes, perturbation=args.perturbation,
        chunk=args.chunk,
    )
    res = fig6.run_fig6(cfg, progress=not args.quiet)
    files = fig6.write_outputs(res, args.out)
    print(fig6.summary_text(res))
    print("wrote " + ", ".join(files.values()))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="jaxmd-rp",
        description="Data-driven automated mechanism design with multi-agent revealed preferences.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("quickstart", help="solve the river game at the published constants")
    p.set_defaults(func=cmd_quickstart)

    p = sub.add_parser("fig6", help="reproduce Figure 6: Algorithm 1 (SPSA) on the river game")
    p.add_argument("--paths", type=int, default=200, help="Monte-Carlo paths (paper: 200)")
    p.add_argument("--iters", type=int, default=50, help="SPSA iterations per path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="fig6_out", help="output folder")
    p.add_argument("--probes", type=int, default=10, help="T, probes per path (paper: 10)")
    p.add_argument("--variant", choices=["classic", "printed"], default="classic",
                   help="river profit: classic Krawczyk-Uryasev form, or the paper's printed eq. (20)")
    p.add_argument("--probe-reading", choices=["shared", "station", "own"], default="shared",
                   help="which constraint the designer's probe g_t^i is (docs/fig6.md)")
    p.add_argument("--scale", type=float, default=100.0,
                   help="divide probe values by this (100 = units of the cap; 1 = raw units)")
    p.add_argument("--no-stop", action="store_true",
                   help="keep iterating a path after L(theta_n) = 0 (default: freeze it)")
    p.add_argument("--fresh-probes", action="store_true",
                   help="draw new probes every iteration (default: once per path, as Algorithm 1)")
    p.add_argument("--perturbation", choices=["project", "raw"], default="project",
                   help="project theta +- c_n Delta_n onto Theta (default) or use them as they are")
    p.add_argument("--chunk", type=int, default=5, help="iterations per compiled call")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fig6)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
