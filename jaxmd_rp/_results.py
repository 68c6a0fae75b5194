"""Result codes shared by every iterative routine of jaxmd_rp.

They extend optimistix's `RESULTS` (which extends lineax's), so a result of a jaxmd_rp solve can be
compared with, or promoted to, the codes users already know from the JAX ecosystem.
"""

import optimistix as optx


class RESULTS(optx.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """Outcome of an equilibrium solve, a certificate construction or a design run.

    `RESULTS.successful` means the documented tolerance was met. Every other code carries a message
    that says what went wrong and what to try; with `throw=True` that message is raised.
    """

    invalid_theta = (
        "`theta` contains NaN/inf or lies outside the game's mechanism box Theta "
        "(`game.theta_bounds`); pass a finite mechanism inside the box."
    )
    invalid_probe = (
        "`probe` contains NaN/inf or lies outside the game's probe box (`game.probe_bounds`); "
        "pass a finite probe inside the box."
    )
    primal_infeasible = (
        "The solver stopped with the constraints violated: the probe may make the feasible set "
        "empty (check `game.constraints` at this probe), or the problem is badly scaled."
    )
    unbounded = (
        "The iterates diverged: no equilibrium exists at this (theta, probe) -- a player's utility "
        "is unbounded on its feasible set (e.g. linear utility and an unconstrained action)."
    )
    not_concave = (
        "A KKT point was found, but some player's utility is not concave in its own action there "
        "(second-order condition fails on the free directions), so it need not be a Nash "
        "equilibrium. The game violates the concavity assumption where it matters."
    )
    stalled = (
        "The line search found no decrease of the KKT merit function: the solve stalled (a "
        "non-smooth or non-concave problem, or a poor start -- try another `x0`)."
    )
    enumeration_failed = (
        "No active set of the (assumed affine) KKT system gave a KKT point within `tol`: the game "
        "is not affine, or has no equilibrium at this (theta, probe). Use SemismoothNewton() or "
        "ActiveSetEnumeration(polish=SemismoothNewton())."
    )
    certificate_failed = (
        "No certificate could be verified at the requested level r: r is below the Pareto gap, or "
        "the numbers needed exceed floating-point range (try a larger `tol`)."
    )
    exchange_max_iterations = (
        "Algorithm 2 (the exchange method) stopped after `max_iterations` separation rounds with "
        "max_k CV_k > delta; increase `max_iterations` or `delta` (the bounds returned are valid)."
    )
    robust_gap_inexact = (
        "The kappa search of the robust Pareto gap did not narrow its bracket [lower, upper] to "
        "`tol`; the bounds are valid but loose: increase `rounds` (or `grid`, `keep`)."
    )
    robust_gap_bracket = (
        "Distinct samples: the certified bracket [lower, upper] of the robust Pareto gap is wider "
        "than `tol`. `value` = `upper` is attained by a certificate but can exceed the exact robust "
        "gap; pass `exact=True` (SciPy MILP) for the exact value."
    )
