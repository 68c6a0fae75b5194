"""Equilibrium solver: independent references, transforms, implicit gradients, bad input."""

import os
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from tests.reference.river import (
    is_generalized_nash,
    river_equilibrium_enumeration,
    river_equilibrium_slsqp,
)

GAME = rp.games.RiverPollution()
THETA0 = jnp.asarray(rp.games.DEFAULT_THETA)
PROBE0 = jnp.asarray(rp.games.DEFAULT_PROBE)


def _random_cases(n, seed=0, boundary=False):
    rng = np.random.default_rng(seed)
    th = rng.uniform(0, 1, (n, 7))
    if boundary:  # many mechanisms on the faces of Theta (what projected SPSA produces)
        th = np.clip(rng.uniform(-0.5, 1.0, (n, 7)), 0, 1)
    e = rng.uniform(0.02, 1, (n, 3))
    return th, e


def _solve_batch(th, e, solver=None, **kw):
    f = jax.jit(jax.vmap(lambda a, b: rp.solve_equilibrium(GAME, a, b, solver, throw=False, **kw)))
    return f(jnp.asarray(th), jnp.asarray(e))


def test_published_krawczyk_uryasev_equilibrium():
    sol = rp.solve_equilibrium(GAME, THETA0, PROBE0)
    # Krawczyk & Uryasev (2000), Table: x* = (21.149, 16.028, 2.722) (their NIRA iterate);
    # the exact KKT solution of the same game:
    np.testing.assert_allclose(sol.x, [21.14, 16.03, 2.73], atol=0.01)
    x_ref, mu_ref = river_equilibrium_enumeration(np.asarray(THETA0), np.asarray(PROBE0))
    np.testing.assert_allclose(sol.x, x_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sol.multipliers, mu_ref, rtol=1e-9, atol=1e-10)
    assert sol.residual <= 1e-10
    assert sol.result == rp.RESULTS.successful


@pytest.mark.parametrize("boundary", [False, True])
def test_against_scipy_references(boundary):
    th, e = _random_cases(60, seed=1 + boundary, boundary=boundary)
    sols = _solve_batch(th, e)
    assert bool(jnp.all(sols.result == rp.RESULTS.successful))
    assert float(jnp.max(sols.residual)) <= 1e-10
    for k in range(len(th)):
        x_ref, _ = river_equilibrium_enumeration(th[k], e[k])
        scale = 1 + np.max(np.abs(x_ref))
        np.testing.assert_allclose(sols.x[k], x_ref, atol=1e-9 * scale)
        assert is_generalized_nash(th[k], e[k], np.asarray(sols.x[k]), tol=1e-7 * scale)
    # a second, SLSQP-based route on the non-degenerate cases
    for k in range(0 if boundary else 20):
        x_sl = river_equilibrium_slsqp(th[k], e[k])
        np.testing.assert_allclose(sols.x[k], x_sl, atol=1e-6 * (1 + np.max(np.abs(x_sl))))


def test_solvers_agree():
    th, e = _random_cases(30, seed=3)
    ref = _solve_batch(th, e, rp.ActiveSetEnumeration())
    newton = _solve_batch(th, e, rp.SemismoothNewton())
    nira = _solve_batch(th, e, rp.NikaidoIsoda(), max_steps=400)
    for s in (newton, nira):
        ok = np.asarray(s.result == rp.RESULTS.successful)
        assert ok.mean() >= 0.9
        np.testing.assert_allclose(np.asarray(s.x)[ok], np.asarray(ref.x)[ok], rtol=1e-8, atol=1e-8)


def test_nikaido_isoda_at_published_constants():
    """The paper's own solver (NIRA-3's relaxation) reproduces the published equilibrium."""
    sol = rp.solve_equilibrium(GAME, THETA0, PROBE0, rp.NikaidoIsoda(), max_steps=400)
    x_ref, _ = river_equilibrium_enumeration(np.asarray(THETA0), np.asarray(PROBE0))
    np.testing.assert_allclose(sol.x, x_ref, rtol=1e-9)
    assert 10 <= int(sol.num_steps) <= 200  # a relaxation: linear convergence, many steps


def test_vmap_matches_loop_and_jit_matches_eager():
    th, e = _random_cases(8, seed=4)
    batched = _solve_batch(th, e)
    for k in range(len(th)):
        one = rp.solve_equilibrium(GAME, th[k], e[k])
        np.testing.assert_allclose(batched.x[k], one.x, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(batched.multipliers[k], one.multipliers, rtol=1e-12, atol=1e-12)
    with jax.disable_jit():
        eager = rp.solve_equilibrium(GAME, th[0], e[0])
    np.testing.assert_allclose(eager.x, batched.x[0], rtol=1e-12, atol=1e-12)


def _fd_jacobian(f, x, h=1e-6):
    x = np.asarray(x, float)
    cols = []
    for j in range(x.size):
        dx = np.zeros_like(x)
        dx[j] = h
        cols.append((np.asarray(f(jnp.asarray(x + dx))) - np.asarray(f(jnp.asarray(x - dx)))) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("solver", [rp.ActiveSetEnumeration(), rp.SemismoothNewton()])
def test_implicit_gradients_match_finite_differences(solver):
    th, e = _random_cases(6, seed=5)
    for k in range(len(th)):
        def x_of_theta(t):
            return rp.solve_equilibrium(GAME, t, jnp.asarray(e[k]), solver).x

        def x_of_probe(p):
            return rp.solve_equilibrium(GAME, jnp.asarray(th[k]), p, solver).x

        for f, arg in ((x_of_theta, th[k]), (x_of_probe, e[k])):
            jac = np.asarray(jax.jacobian(f)(jnp.asarray(arg)))
            fd = _fd_jacobian(f, arg)
            np.testing.assert_allclose(jac, fd, rtol=1e-5, atol=1e-5 * (1 + np.abs(fd).max()))
    # reverse mode through a scalar function of the equilibrium
    g = jax.grad(lambda t: jnp.sum(rp.solve_equilibrium(GAME, t, PROBE0).x ** 2))(THETA0)
    fd = _fd_jacobian(lambda t: jnp.sum(rp.solve_equilibrium(GAME, t, PROBE0).x ** 2), THETA0)
    np.testing.assert_allclose(g, fd, rtol=1e-5)


class Duopoly(rp.AbstractGame):
    """Cournot duopoly with price 10 - theta*(q1 + q2), unit cost 1, capacity cap (the probe)."""

    num_agents = 2
    action_dim = None
    theta_dim = 1
    probe_dim = 1

    def utilities(self, theta, x):
        return (10.0 - theta[0] * jnp.sum(x) - 1.0) * x

    def constraints(self, probe, x):
        return x - probe[0]

    def revealed_constraints(self, probe, x):
        return x / probe[0] - 1.0


def test_user_defined_game():
    game = Duopoly()
    # interior Cournot equilibrium q = 9 / (3 theta)
    for theta in (1.0, 2.0, 3.0):
        sol = rp.solve_equilibrium(game, jnp.array([theta]), jnp.array([100.0]))
        np.testing.assert_allclose(sol.x, [9 / (3 * theta)] * 2, rtol=1e-10)
    # binding capacity: q = cap
    sol = rp.solve_equilibrium(game, jnp.array([1.0]), jnp.array([2.0]))
    np.testing.assert_allclose(sol.x, [2.0, 2.0], rtol=1e-10)
    vals = rp.probe_values(game, jnp.array([[2.0], [100.0]]), jnp.stack([sol.x, sol.x]))
    assert vals.shape == (2, 2, 2)


class TwoGoodConsumers(rp.AbstractGame):
    """Two players with k = 2 goods and per-player linear budgets: exercises (M, k) actions."""

    num_agents = 2
    action_dim = 2
    theta_dim = 1
    probe_dim = 4

    def utilities(self, theta, x):
        return jnp.sum(jnp.log(1.0 + x), axis=1) - theta[0] * jnp.sum(x) * x[:, 0]

    def constraints(self, probe, x):
        return jnp.sum(probe.reshape(2, 2) * x, axis=1) - 1.0

    def revealed_constraints(self, probe, x):
        return self.constraints(probe, x)


def test_vector_actions():
    game = TwoGoodConsumers()
    probe = jnp.array([0.5, 1.0, 1.0, 0.25])
    sol = rp.solve_equilibrium(game, jnp.array([0.0]), probe)
    assert sol.x.shape == (2, 2)
    # theta = 0: independent log-utility consumers; KKT: 1/(1+x_j) = mu p_j with p.x = 1
    for i, p in enumerate(probe.reshape(2, 2)):
        p = np.asarray(p)
        mu = np.sum(p) / (1 + np.sum(1 / p) * 0 + 1) if False else None  # noqa: F841
        # closed form with interior solution: x_j = 1/(mu p_j) - 1, sum p_j x_j = 1
        mu = 2 / (1 + p.sum())
        np.testing.assert_allclose(sol.x[i], 1 / (mu * p) - 1, rtol=1e-9)


# ------------------------------------------------------------------------------- bad input


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="theta"):
        rp.solve_equilibrium(GAME, jnp.zeros(6), PROBE0)
    with pytest.raises(ValueError, match="probe"):
        rp.solve_equilibrium(GAME, THETA0, jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match="x0"):
        rp.solve_equilibrium(GAME, THETA0, PROBE0, x0=jnp.zeros(2))
    with pytest.raises(TypeError, match="game"):
        rp.solve_equilibrium(object(), THETA0, PROBE0)


@pytest.mark.parametrize(
    "theta, probe, code",
    [
        (THETA0.at[0].set(jnp.nan), PROBE0, rp.RESULTS.invalid_theta),
        (THETA0.at[2].set(1.5), PROBE0, rp.RESULTS.invalid_theta),
        (THETA0.at[2].set(-0.1), PROBE0, rp.RESULTS.invalid_theta),
        (THETA0, PROBE0.at[1].set(jnp.inf), rp.RESULTS.invalid_probe),
        (THETA0, PROBE0.at[1].set(1.2), rp.RESULTS.invalid_probe),
    ],
)
def test_bad_values_reported(theta, probe, code):
    sol = rp.solve_equilibrium(GAME, theta, probe, throw=False)
    assert sol.result == code
    assert np.all(np.isnan(sol.x)) and np.all(np.isnan(sol.multipliers))
    with pytest.raises(eqx.EquinoxRuntimeError, match="contains NaN/inf or lies outside the game's"):
        rp.solve_equilibrium(GAME, theta, probe)


class EmptyFeasibleSet(Duopoly):
    def constraints(self, probe, x):  # q1 + q2 <= probe - 5: empty for probe < 5
        return jnp.array([jnp.sum(x) - probe[0] + 5.0])


def test_infeasible_probe_reported():
    sol = rp.solve_equilibrium(EmptyFeasibleSet(), jnp.array([1.0]), jnp.array([1.0]),
                               rp.SemismoothNewton(), throw=False)
    assert sol.result == rp.RESULTS.primal_infeasible
    with pytest.raises(eqx.EquinoxRuntimeError, match="feasible set empty"):
        rp.solve_equilibrium(EmptyFeasibleSet(), jnp.array([1.0]), jnp.array([1.0]),
                             rp.SemismoothNewton())
    # the affine game's default, the exact enumeration, reports the same code
    sol = rp.solve_equilibrium(EmptyFeasibleSet(), jnp.array([1.0]), jnp.array([1.0]),
                               rp.ActiveSetEnumeration(), throw=False)
    assert sol.result == rp.RESULTS.primal_infeasible


class ConvexProfit(Duopoly):
    def utilities(self, theta, x):  # convex in own action: x_i^2 - 3 x_i (interior KKT point = minimum)
        return x**2 - 3.0 * x


def test_non_concave_utility_reported():
    sol = rp.solve_equilibrium(ConvexProfit(), jnp.array([1.0]), jnp.array([100.0]), throw=False)
    assert sol.result == rp.RESULTS.not_concave
    assert np.all(np.isnan(sol.x))  # the stationary point (1.5, 1.5) is a minimum: no output


class CappedConvex(Duopoly):
    def utilities(self, theta, x):  # convex in own action: (x_i + x_j) x_i, capped by the probe
        return jnp.sum(x) * x


def test_second_order_check_uses_the_multipliers():
    """x = 0 (lower bounds with zero multipliers) is a stationary point of a convex payoff, not an
    equilibrium; the caps (active with positive multipliers) are one."""
    game, theta, cap = CappedConvex(), jnp.array([1.0]), jnp.array([5.0])
    at_zero = rp.solve_equilibrium(game, theta, cap, rp.SemismoothNewton(), throw=False)
    assert at_zero.result == rp.RESULTS.not_concave
    at_caps = rp.solve_equilibrium(game, theta, cap, rp.ActiveSetEnumeration())
    np.testing.assert_allclose(at_caps.x, [5.0, 5.0])
    np.testing.assert_allclose(at_caps.multipliers, [15.0, 15.0])  # S + x_i at the caps


def test_printed_variant_and_linear_profits_not_successful():
    game = rp.games.RiverPollution(variant="printed")
    # huge cap: no constraint binds; the printed profit is convex in the own action and Newton
    # finds no KKT point
    sol = rp.solve_equilibrium(game, THETA0, jnp.full(3, 1e-4), rp.SemismoothNewton(), throw=False)
    assert sol.result == rp.RESULTS.nonlinear_max_steps_reached
    # d2 = c2 = 0 and e = 0: linear profits, no constraint -> no equilibrium
    sol = rp.solve_equilibrium(GAME, jnp.zeros(7), jnp.zeros(3), throw=False)
    assert sol.result == rp.RESULTS.enumeration_failed


def test_float32_meets_documented_tolerance():
    for solver in (rp.ActiveSetEnumeration(), rp.SemismoothNewton()):
        sol = rp.solve_equilibrium(GAME, THETA0.astype(jnp.float32), PROBE0.astype(jnp.float32),
                                   solver)
        assert sol.x.dtype == jnp.float32
        assert sol.residual <= rp._equilibrium.default_tol(jnp.float32)
        ref = rp.solve_equilibrium(GAME, THETA0, PROBE0)
        np.testing.assert_allclose(sol.x, ref.x, rtol=1e-4)


def test_no_recompilation_for_new_values():
    f = jax.jit(lambda t, p: rp.solve_equilibrium(GAME, t, p, throw=False).x)
    a = f(THETA0, PROBE0)
    b = f(THETA0 * 0.99, PROBE0 * 0.5)
    assert f._cache_size() == 1
    assert not np.allclose(a, b)
    sol = rp.solve_equilibrium(GAME, THETA0 * 0.99, PROBE0 * 0.5)
    np.testing.assert_array_equal(sol.x, b)  # jit = the entry point's own compiled solve


def _same_solution(a, b):
    for name in ("x", "multipliers", "residual", "num_steps"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
    assert a.result == b.result and a.concept == b.concept


@pytest.mark.parametrize("entry", [rp.solve_equilibrium, rp.social_optimum])
def test_eager_call_is_the_jitted_solve_and_traces_once(entry, monkeypatch):
    """An eager call (the lean dispatch of `_solve.dispatch`) gives the bits of the same call
    inside a user's `jit`, with `throw` either way, and traces once per game structure: new
    mechanisms, probes (numpy or JAX) or array fields of the game reuse the compiled solve."""
    from jaxmd_rp._equilibrium import _solve

    inside = jax.jit(lambda g, a, b: entry(g, a, b, throw=False))
    for throw in (False, True):
        _same_solution(entry(GAME, THETA0, PROBE0, throw=throw), inside(GAME, THETA0, PROBE0))
    traces = []

    def counted(*args, **kwargs):
        traces.append(kwargs)
        return solve_kkt(*args, **kwargs)

    solve_kkt = _solve.solve_kkt
    monkeypatch.setattr(_solve, "solve_kkt", counted)
    other = rp.games.RiverPollution(delta=GAME.delta * 1.1)
    for th, e, g in ((THETA0 * 0.5, PROBE0, GAME), (THETA0, PROBE0 * 0.5, GAME),
                     (THETA0, PROBE0, other), (np.asarray(THETA0), np.asarray(PROBE0), GAME)):
        _same_solution(entry(g, th, e, throw=False), inside(g, jnp.asarray(th), jnp.asarray(e)))
    assert traces == []
    entry(GAME, THETA0, PROBE0, max_steps=7)  # a different setting: one more program
    assert [t["max_steps"] for t in traces] == [7]


def test_eager_failure_raises_the_result_message_exactly():
    with pytest.raises(eqx.EquinoxRuntimeError) as err:
        rp.solve_equilibrium(GAME, THETA0.at[0].set(jnp.nan), PROBE0)
    assert str(err.value) == rp.RESULTS[rp.RESULTS.invalid_theta]
    with pytest.raises(eqx.EquinoxRuntimeError) as err:
        rp.social_optimum(GAME, THETA0, PROBE0.at[1].set(2.0))
    assert str(err.value) == rp.RESULTS[rp.RESULTS.invalid_probe]


def test_failures_under_transformations():
    """Under `grad` of an eager call a failure raises `EquinoxRuntimeError` (the result's
    message) and the gradient matches finite differences; a call closed over by a user's `jit`
    raises at run time inside it; a game leaf that is neither an array nor hashable is refused by
    `jax.jit` (as `eqx.filter_jit` refused it before)."""
    bad = THETA0.at[0].set(jnp.nan)
    message = rp.RESULTS[rp.RESULTS.invalid_theta]
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"`theta` contains NaN/inf"):
        jax.grad(lambda th: rp.solve_equilibrium(GAME, th, PROBE0).x.sum())(bad)
    g = jax.grad(lambda th: rp.solve_equilibrium(GAME, th, PROBE0).x.sum())(THETA0)
    h = 1e-6 * jnp.eye(7)[3]
    fd = (rp.solve_equilibrium(GAME, THETA0 + h, PROBE0).x.sum()
          - rp.solve_equilibrium(GAME, THETA0 - h, PROBE0).x.sum()) / 2e-6
    np.testing.assert_allclose(g[3], fd, rtol=1e-6)
    closed = jax.jit(lambda: rp.solve_equilibrium(GAME, bad, PROBE0).x)
    with pytest.raises(jax.errors.JaxRuntimeError, match=re.escape(message)):
        jax.block_until_ready(closed())

    class WithNote(rp.games.RiverPollution):
        note: object = None

    with pytest.raises(ValueError, match="Non-hashable static arguments are not supported"):
        rp.solve_equilibrium(WithNote(note={1}), THETA0, PROBE0)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nan", "off"])
def test_eager_failure_honours_eqx_on_error(mode):
    """`EQX_ON_ERROR=nan` / `off` (read by Equinox at import): an eager failed solve with
    `throw=True` does not raise. `off` returns the failed solution (its code, NaN x); `nan` fills
    every field with NaN (Equinox's rule, which also overwrites the integer code)."""
    import subprocess
    import sys

    code = ("import jax; jax.config.update('jax_enable_x64', True)\n"
            "import jax.numpy as jnp, numpy as np, jaxmd_rp as rp\n"
            "th = jnp.asarray(rp.games.DEFAULT_THETA).at[0].set(jnp.nan)\n"
            "sol = rp.solve_equilibrium(rp.games.RiverPollution(), th, "
            "jnp.asarray(rp.games.DEFAULT_PROBE))\n"
            "print(sol.result == rp.RESULTS.invalid_theta, bool(np.all(np.isnan(sol.x))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "EQX_ON_ERROR": mode}, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["True" if mode == "off" else "False", "True"]
