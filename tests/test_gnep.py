"""The published GNEP test library (tests/gnep/problems.py), solved with every applicable solver.

Each (problem, solver) pair is checked four ways: the result code and KKT residual; the published
solution (to its published accuracy); an independent solution where the published one is loose
(numpy/SciPy, tests/gnep/reference.py); and a best-response check -- no player gains by a
unilateral feasible deviation, found by SciPy's SLSQP. Then: implicit derivatives of every concept
against central differences, vmap against a loop, the equilibrium concepts, the NIRA safeguard on
the internet-switching game, and the enumeration's size limit.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from tests.gnep.problems import BY_NAME, ENUM, NEWTON, NIRA, PROBLEMS
from tests.gnep.reference import best_response_gain, independent_solution

SOLVERS = {ENUM: rp.ActiveSetEnumeration(), NEWTON: rp.SemismoothNewton(), NIRA: rp.NikaidoIsoda()}


@functools.cache
def solve(problem_name, solver_name):
    """The problem's equilibria (one per instance, stacked) with one compiled solve (cached: the
    library's solutions are reused by the later tests of the session)."""
    problem = BY_NAME[problem_name]
    game, solver = problem.game, SOLVERS[solver_name]
    steps = problem.nira_steps if solver_name == NIRA else 100
    theta = None if problem.theta is None else jnp.asarray(problem.theta)

    def one(probe):
        return rp.solve_equilibrium(game, theta, probe, solver, max_steps=steps, throw=False)

    if problem.instances:
        return jax.vmap(one)(jnp.asarray(problem.probe))
    return one(None if problem.probe is None else jnp.asarray(problem.probe))


def _cases():
    out = []
    for p in PROBLEMS:
        for s in p.solvers:
            slow = s == NIRA or p.game.action_size >= 6 or p.instances
            marks = [pytest.mark.slow] if slow else []
            out.append(pytest.param(p, s, id=f"{p.name}-{s}", marks=marks))
    return out


@pytest.mark.parametrize("problem, solver", _cases())
def test_library(problem, solver):
    sol = solve(problem.name, solver)
    K = max(problem.instances, 1)
    x = np.asarray(sol.x).reshape(K, -1)
    assert np.all(np.asarray(sol.result.names()) == "successful"), sol.result
    assert np.all(np.asarray(sol.residual) <= rp._equilibrium.default_tol(jnp.float64))
    assert sol.concept == problem.concept
    published = np.asarray(problem.published).reshape(K, -1)
    if problem.in_set is not None:
        assert all(problem.in_set(xk) for xk in x), x
    elif solver in problem.published_by:
        assert np.max(np.abs(x - published)) <= problem.published_tol
    ref = independent_solution(problem)
    if ref is not None and solver in problem.published_by:
        ref = np.asarray(ref).reshape(K, -1)
        np.testing.assert_allclose(x, ref, atol=1e-8 * (1 + np.abs(ref).max()))
    probes = problem.probe if problem.instances else [problem.probe]
    for xk, pk in zip(x, probes, strict=True):
        scale = 1.0 + np.abs(np.asarray(problem.game.utilities(
            jnp.asarray(problem.theta if problem.theta is not None else np.zeros(0)),
            jnp.asarray(xk).reshape(problem.game.action_shape)))).max()
        assert best_response_gain(problem, xk, probe=pk) <= 1e-8 * scale


def _fd(f, v, h=1e-6):
    v = np.asarray(v, float)
    cols = []
    for j in range(v.size):
        d = np.zeros_like(v)
        d[j] = h * max(1.0, abs(v[j]))
        cols.append((np.asarray(f(jnp.asarray(v + d))) - np.asarray(f(jnp.asarray(v - d))))
                    / (2 * d[j]))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("name, arg", [
    ("fk_a3", "theta"),  # generalized, ragged, owned coupled constraints, two-sided bounds
    pytest.param("fk_a15", "theta", marks=pytest.mark.slow),  # Nash, ragged, capacities
    ("fk_a11", "theta"),  # variational, free variables
    ("rosen_weights", "probe"),  # normalized with Rosen weights
    pytest.param("fk_a16_equality", "probe", marks=pytest.mark.slow),  # equality, nonlinear
])
def test_implicit_derivatives_match_finite_differences(name, arg):
    p = BY_NAME[name]
    probe0 = None if p.probe is None else np.asarray(p.probe)
    probe0 = probe0[0] if p.instances else probe0
    theta0 = p.theta

    def x_of(v):
        th = v if arg == "theta" else (None if theta0 is None else jnp.asarray(theta0))
        pr = v if arg == "probe" else (None if probe0 is None else jnp.asarray(probe0))
        return rp.solve_equilibrium(p.game, th, pr, rp.SemismoothNewton()).x.reshape(-1)

    v0 = theta0 if arg == "theta" else probe0
    jac = np.asarray(jax.jacobian(x_of)(jnp.asarray(v0, float)))
    fd = _fd(x_of, v0)
    np.testing.assert_allclose(jac, fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd).max()))
    if name == "rosen_weights":  # x(b) = b x(r, 1): the derivative is the solution at b = 1
        np.testing.assert_allclose(jac[:, 0], p.exact, rtol=1e-9)


def test_vmap_matches_loop_on_ragged_players():
    p = BY_NAME["fk_a17"]
    rng = np.random.default_rng(0)
    thetas = p.theta * (1 + 0.05 * rng.standard_normal((3, 3)))
    batched = jax.vmap(lambda t: rp.solve_equilibrium(p.game, t, None, throw=False))(
        jnp.asarray(thetas))
    assert bool(jnp.all(batched.success))
    for k in range(len(thetas)):
        one = rp.solve_equilibrium(p.game, jnp.asarray(thetas[k]), None)
        np.testing.assert_allclose(batched.x[k], one.x, rtol=1e-12, atol=1e-12)


def test_concepts_and_multiplier_layout():
    owned = solve("harker_owned", ENUM)
    assert owned.concept == "generalized" and owned.multipliers.shape == (2,)
    assert owned.equality_multipliers is None
    eq = solve("fk_a17_equality", ENUM)
    assert eq.concept == "variational" and eq.multipliers.shape == (0,)
    assert eq.equality_multipliers.shape == (2,)
    ineq = solve("fk_a17", ENUM)  # the same multipliers as the inequality version
    np.testing.assert_allclose(eq.equality_multipliers, ineq.multipliers, rtol=1e-8)
    assert bool(jnp.all(ineq.multipliers > 0))  # both constraints strongly active
    assert solve("harker", ENUM).concept == "variational"
    assert solve("rosen_weights", ENUM).concept == "normalized"
    so = rp.social_optimum(BY_NAME["fk_a11"].game, jnp.asarray(BY_NAME["fk_a11"].theta))
    # the planner of A.11 maximises -(x1 - 1)^2 - (x2 - 1/2)^2 on x1 + x2 <= 1: the same point
    assert so.concept == "social_optimum"
    np.testing.assert_allclose(so.x, [0.75, 0.25], atol=1e-10)


def test_rosen_weights_change_the_normalized_equilibrium():
    from tests.gnep.problems import RosenPair, rosen_solution

    for r in [(1.0, 1.0), (1.0, 2.0), (3.0, 1.0)]:
        sol = rp.solve_equilibrium(RosenPair(weights=r), None, jnp.array([1.0]))
        np.testing.assert_allclose(sol.x, rosen_solution(r), rtol=1e-10)
        # player i's multiplier is mu / r_i: the stationarity conditions hold with it
        mu = float(sol.multipliers[0])
        x1, x2 = np.asarray(sol.x)
        np.testing.assert_allclose([-x1 + x2 + mu / r[0], -2 * x2 + x1 + mu / r[1]], 0, atol=1e-10)
    assert sol.concept == "normalized"


def test_nikaido_isoda_converges_on_internet_switching_at_defaults():
    """[FK] A.14: the fixed step 0.5 of NIRA-3 alternates between two points; the safeguarded step
    converges at the defaults (and forbidding the halving reproduces the stall)."""
    p = BY_NAME["fk_a14"]
    theta = jnp.asarray(p.theta)
    sol = rp.solve_equilibrium(p.game, theta, None, rp.NikaidoIsoda())
    np.testing.assert_allclose(sol.x, 0.09, rtol=1e-9)
    fixed = rp.solve_equilibrium(p.game, theta, None, rp.NikaidoIsoda(min_step=0.5), throw=False)
    assert fixed.result == rp.RESULTS.relaxation_stalled
    assert np.all(np.isnan(fixed.x))


def test_enumeration_size_limit_names_max_size():
    p = BY_NAME["fk_a3"]  # 7 two-sided bounds and 4 constraints: 3^7 * 2^4 = 34,992 patterns
    with pytest.raises(ValueError, match=r"34992 active-set patterns.*max_size = 10, as set"):
        rp.solve_equilibrium(p.game, jnp.asarray(p.theta), None,
                             rp.ActiveSetEnumeration(max_size=10))
    big = BY_NAME["fk_a14"].game  # 10 players, 2^10 * 2 patterns: within the automatic limit
    with pytest.raises(ValueError, match=r"max_size = 8, as set"):
        rp.solve_equilibrium(big, jnp.array([1.0]), None, rp.ActiveSetEnumeration(max_size=8))


def test_nira_refuses_owned_constraints():
    p = BY_NAME["fk_a3"]
    with pytest.raises(ValueError, match="NikaidoIsoda computes normalized equilibria"):
        rp.solve_equilibrium(p.game, jnp.asarray(p.theta), None, rp.NikaidoIsoda())


def test_probe_values_with_ragged_players():
    class Ragged(rp.AbstractGame):  # A.17's players, probed by their budgets
        num_agents = 2
        action_dims = (2, 1)
        probe_dim = 2

        def utilities(self, theta, x):
            return BY_NAME["fk_a17"].game.utilities(jnp.array([25.0, 38.0, 25.0]), x)

        def constraints(self, probe, x):
            return jnp.stack([x[0] + x[1] - probe[0], x[2] - probe[1]])

        @property
        def constraint_owners(self):
            return (0, 1)

        def revealed_constraints(self, probe, x):
            a, b = self.player_actions(x)
            return jnp.stack([jnp.sum(a) / probe[0] - 1.0, b[0] / probe[1] - 1.0])

    game = Ragged()
    probes = jnp.array([[5.0, 4.0], [20.0, 20.0]])
    xs = jax.vmap(lambda q: rp.solve_equilibrium(game, None, q).x)(probes)
    assert xs.shape == (2, 3)
    v = rp.probe_values(game, probes, xs)
    assert v.shape == (2, 2, 2)
    np.testing.assert_allclose(v[:, 0, 0], 0.0, atol=1e-10)  # the tight budgets bind
    assert float(jnp.max(v[:, 1, 1])) < 0  # the loose ones do not
