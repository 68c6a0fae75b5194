"""Gradient-based design, the smoothed gap, end-to-end gradients, and true-welfare tracking."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import minimize

import jaxmd_rp as rp
from tests.reference.pareto_gap_lp import pareto_gap_threshold_graph
from tests.reference.river import DELTA, river_profit_classic

GAME = rp.games.RiverPollution()


def test_smoothed_gap_bound():
    rng = np.random.default_rng(0)
    for k in range(60):
        M, T = (1, 3) if k % 2 else (3, 6)  # two shapes: one compilation each
        v = rng.normal(size=(M, T, T))
        L = pareto_gap_threshold_graph(v)
        for tau in (0.1, 0.01):
            s = float(rp.pareto_gap_smooth(jnp.asarray(v), tau))
            assert abs(s - L) <= tau * (2 * T * np.log(2) + np.log(M * T) + np.log(2)) + 1e-12


def test_gradient_design_same_interface_on_quadratic():
    fn = lambda th, a, k: jnp.sum((th - 0.3) ** 2)  # noqa: E731
    box = (-jnp.ones(3), jnp.ones(3))
    for method in (rp.SPSA(*box, q=0.0, stop_tol=None),
                   rp.GradientDesign(*box, optimizer=optax.sgd(0.2), stop_tol=None)):
        tr = rp.design_minimise(fn, method, jnp.zeros((4, 3)), key=jax.random.PRNGKey(0),
                                num_steps=300)
        np.testing.assert_allclose(tr.theta[-1], 0.3, atol=0.05)


def _river_objective_and_probes():
    probes = jax.random.uniform(jax.random.PRNGKey(3), (6, 3), minval=0.1)
    return rp.ParetoGapObjective(GAME), probes


def test_end_to_end_gradient_matches_finite_differences():
    """d L / d theta through equilibria (implicit), probe values and the gap's bottleneck edge."""
    obj, probes = _river_objective_and_probes()
    key = jax.random.PRNGKey(0)
    checked = 0
    for seed in range(6):
        theta = jax.random.uniform(jax.random.PRNGKey(10 + seed), (7,), minval=0.1, maxval=0.5)
        L = float(obj(theta, probes, key))
        if L <= 1e-6:
            continue
        g = np.asarray(jax.grad(obj)(theta, probes, key))
        h = 1e-6
        fd = np.array([(float(obj(theta.at[j].add(h), probes, key))
                        - float(obj(theta.at[j].add(-h), probes, key))) / (2 * h) for j in range(7)])
        np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-6)
        checked += 1
    assert checked >= 3


def test_gradient_design_reaches_zero_on_river():
    obj, probes = _river_objective_and_probes()
    P = 6
    theta0 = jax.random.uniform(jax.random.PRNGKey(1), (P, 7), maxval=0.5)
    args = jnp.broadcast_to(probes, (P,) + probes.shape)
    gd = rp.GradientDesign(jnp.zeros(7), jnp.ones(7), optimizer=optax.adam(0.05))
    tr = rp.design_minimise(obj, gd, theta0, args, key=jax.random.PRNGKey(2), num_steps=30)
    v = np.asarray(tr.value)
    assert np.all(v[0] > 0.5)
    assert np.mean(np.any(v <= 1e-9, axis=0)) >= 0.8
    assert np.all(np.asarray(tr.theta) >= 0) and np.all(np.asarray(tr.theta) <= 1)
    smooth = rp.SmoothedGapObjective(obj, 0.05)
    tr2 = rp.design_minimise(smooth, gd, theta0, args, key=jax.random.PRNGKey(2), num_steps=5)
    assert np.all(np.isfinite(np.asarray(tr2.info.surrogate)))


def _scipy_social_optimum(theta, e):
    A = DELTA.T * e[None, :]  # (2, 3): q = A x
    cons = [{"type": "ineq", "fun": lambda x, l=l: 100.0 - A[l] @ x} for l in range(2)]
    best = None
    for x0 in (np.ones(3), np.full(3, 10.0), np.full(3, 50.0)):
        r = minimize(lambda x: -np.sum(river_profit_classic(theta, x)), x0, method="SLSQP",
                     bounds=[(0, None)] * 3, constraints=cons, options={"ftol": 1e-14, "maxiter": 500})
        if best is None or r.fun < best.fun:
            best = r
    return best.x


def test_social_optimum_against_scipy():
    rng = np.random.default_rng(4)
    for _ in range(15):
        theta = rng.uniform(0.05, 1.0, 7)
        e = rng.uniform(0.05, 1.0, 3)
        so = rp.social_optimum(GAME, jnp.asarray(theta), jnp.asarray(e))
        ref = _scipy_social_optimum(theta, e)
        w = np.sum(river_profit_classic(theta, np.asarray(so.x)))
        w_ref = np.sum(river_profit_classic(theta, ref))
        assert w >= w_ref - 1e-6 * (1 + abs(w_ref))
        np.testing.assert_allclose(so.x, ref, atol=1e-4 * (1 + np.abs(ref).max()))


def test_no_externality_means_equilibrium_is_efficient():
    """With d2 = 0 profits do not interact: the normalized equilibrium is the social optimum."""
    rng = np.random.default_rng(5)
    for _ in range(10):
        theta = jnp.asarray(rng.uniform(0.05, 1.0, 7)).at[0].set(0.0)
        e = jnp.asarray(rng.uniform(0.05, 1.0, 3))
        rep = rp.welfare_report(GAME, theta, e)
        assert bool(rep.ok)
        assert float(rep.ratio) == pytest.approx(1.0, abs=1e-9)
        assert float(rep.distance) <= 1e-6
    # with the published d2 = 0.01 the equilibrium is inefficient (Cournot externality)
    rep = rp.welfare_report(GAME, jnp.asarray(rp.games.DEFAULT_THETA), jnp.array([0.1, 0.1, 0.1]))
    assert float(rep.ratio) < 0.999
