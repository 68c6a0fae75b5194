"""Algorithm 1 (SPSA): hand computation, scan vs loop, determinism, projection, convergence, CLI."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp


def quad(theta, args, key):
    return jnp.sum((theta - 0.3) ** 2)


def test_one_step_by_hand():
    spsa = rp.SPSA(lower=-jnp.ones(3), upper=jnp.ones(3), a=0.5, c=0.5, eta=0.25, q=1e-3,
                   stop_tol=None, perturbation="raw")
    theta = jnp.array([0.1, -0.2, 0.5])
    key = jax.random.PRNGKey(42)
    state = spsa.init(theta)
    new, info = spsa.step(key, state, quad)
    # by hand, n = 1: a_1 = 0.5, c_1 = 0.5, q_1 = sqrt(q / (1 * max(loglog 1, 1))) = sqrt(1e-3)
    dkey, wkey, _ = jax.random.split(key, 3)
    delta = np.asarray(jax.random.rademacher(dkey, (3,), dtype=jnp.float64))
    w = np.asarray(jax.random.normal(wkey, (3,), dtype=jnp.float64))
    th = np.asarray(theta)
    f = lambda t: np.sum((t - 0.3) ** 2)  # noqa: E731
    g = (f(th + 0.5 * delta) - f(th - 0.5 * delta)) / (2 * 0.5 * delta)
    expected = np.clip(th - 0.5 * g + np.sqrt(1e-3) * w, -1, 1)
    np.testing.assert_allclose(new.theta, expected, rtol=1e-14)
    np.testing.assert_allclose(info.gradient, g, rtol=1e-14)
    assert float(info.value) == pytest.approx(f(th))
    assert int(new.n) == 2


def test_gains_and_guard():
    spsa = rp.SPSA(lower=jnp.zeros(1), upper=jnp.ones(1), a=0.5, c=0.5, eta=0.25, q=1e-3)
    for n in (1, 2, 3, 10, 100, 1000):
        a_n, c_n, q_n = spsa.gains(n)
        assert float(a_n) == pytest.approx(0.5 / n)
        assert float(c_n) == pytest.approx(0.5 / n**0.25)
        loglog = max(np.log(np.log(n)) if n > 1 else -np.inf, 1.0)
        assert float(q_n) == pytest.approx(np.sqrt(1e-3 / (n * loglog)))
        assert np.isfinite(float(q_n))
    # beyond e^e the paper's schedule applies unchanged
    assert float(spsa.gains(1000)[2]) == pytest.approx(np.sqrt(1e-3 / (1000 * np.log(np.log(1000)))))


def test_projected_perturbation_stays_in_box():
    def fn(theta, args, key):  # flags any evaluation outside Theta = [0, 1]^4
        outside = jnp.any((theta < 0) | (theta > 1))
        return jnp.where(outside, jnp.nan, jnp.sum(theta))

    spsa = rp.SPSA(lower=jnp.zeros(4), upper=jnp.ones(4), c=0.9, stop_tol=None)
    state = spsa.init(jnp.array([0.0, 1.0, 0.5, 0.05]))
    for k in range(5):
        state, info = spsa.step(jax.random.PRNGKey(k), state, fn)
        assert np.isfinite(float(info.value_plus)) and np.isfinite(float(info.value_minus))
        assert not bool(info.failed)
    raw = rp.SPSA(lower=jnp.zeros(4), upper=jnp.ones(4), c=0.9, stop_tol=None, perturbation="raw")
    _, info = raw.step(jax.random.PRNGKey(0), raw.init(jnp.array([0.0, 1.0, 0.5, 0.05])), fn)
    assert bool(info.failed)  # the literal perturbation leaves the box


def test_scan_matches_python_loop_and_projection():
    spsa = rp.SPSA(lower=jnp.zeros(2), upper=jnp.ones(2), a=2.0, c=0.3, q=0.05, stop_tol=None)
    theta0 = jnp.array([[0.9, 0.1], [0.2, 0.7], [0.5, 0.5]])
    key = jax.random.PRNGKey(3)
    tr = rp.spsa_minimise(quad, spsa, theta0, key=key, num_steps=12)
    keys = rp.path_keys(key, 3)
    for p in range(3):
        state = spsa.init(theta0[p])
        for n in range(12):
            state, info = spsa.step(jax.random.fold_in(keys[p], state.n), state, quad)
            np.testing.assert_allclose(tr.theta[n + 1, p], state.theta, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(tr.value[n, p], info.value, rtol=1e-12)
    assert np.all(np.asarray(tr.theta) >= 0) and np.all(np.asarray(tr.theta) <= 1)


def test_converges_to_known_minimiser():
    spsa = rp.SPSA(lower=-jnp.ones(5), upper=jnp.ones(5), a=0.5, c=0.2, q=1e-4, stop_tol=None)
    theta0 = jax.random.uniform(jax.random.PRNGKey(1), (16, 5), minval=-1, maxval=1)
    tr = rp.spsa_minimise(quad, spsa, theta0, key=jax.random.PRNGKey(2), num_steps=400)
    np.testing.assert_allclose(tr.theta[-1], 0.3, atol=0.05)


def test_stopping_freezes_path():
    spsa = rp.SPSA(lower=jnp.zeros(2), upper=jnp.ones(2), stop_tol=1e-9)
    fn = lambda th, a, k: jnp.maximum(th[0] - 0.5, 0.0)  # noqa: E731  zero on theta_0 <= 0.5
    tr = rp.spsa_minimise(fn, spsa, jnp.array([[0.2, 0.2], [0.9, 0.9]]),
                          key=jax.random.PRNGKey(0), num_steps=5)
    np.testing.assert_array_equal(tr.theta[:, 0], np.broadcast_to([0.2, 0.2], (6, 2)))
    assert bool(tr.info.stopped[0, 0])


def test_failed_evaluation_skips_step():
    spsa = rp.SPSA(lower=jnp.zeros(2), upper=jnp.ones(2), stop_tol=None)
    fn = lambda th, a, k: jnp.where(th[0] > 2.0, 0.0, jnp.nan)  # noqa: E731  never evaluable
    tr = rp.spsa_minimise(fn, spsa, jnp.array([[0.4, 0.4]]), key=jax.random.PRNGKey(0), num_steps=3)
    np.testing.assert_array_equal(tr.theta[-1], [[0.4, 0.4]])
    assert bool(jnp.all(tr.info.failed))


def _river_setup(P, paths_offset=0):
    from jaxmd_rp.experiments import fig6

    cfg = fig6.Fig6Config(paths=P, iters=4)
    return fig6.build(cfg)


def test_path_independent_of_batch_size_river():
    from jaxmd_rp.experiments import fig6

    small = fig6.run_fig6(fig6.Fig6Config(paths=3, iters=4, chunk=4), progress=False, track_welfare=False)
    big = fig6.run_fig6(fig6.Fig6Config(paths=10, iters=4, chunk=4), progress=False, track_welfare=False)
    np.testing.assert_array_equal(small.theta, big.theta[:, :3])
    np.testing.assert_array_equal(small.values, big.values[:, :3])
    again = fig6.run_fig6(fig6.Fig6Config(paths=3, iters=4, chunk=2), progress=False, track_welfare=False)
    np.testing.assert_array_equal(small.theta, again.theta)  # same key, same result, any chunking
    assert np.all(small.theta >= 0) and np.all(small.theta <= 1)


def test_objective_matches_manual_pipeline():
    game = rp.games.RiverPollution()
    probes = jax.random.uniform(jax.random.PRNGKey(5), (10, 3))
    theta = jnp.asarray(rp.games.DEFAULT_THETA)
    obj = rp.ParetoGapObjective(game)
    xs = jnp.stack([rp.solve_equilibrium(game, theta, p).x for p in probes])
    vals = rp.probe_values(game, probes, xs)
    assert float(obj(theta, probes, jax.random.PRNGKey(0))) == float(rp.pareto_gap(vals))
    # N identical samples of a pure strategy give the same gap (eq. 13 with a Dirac measure)
    obj_n = rp.ParetoGapObjective(game, num_samples=5)
    assert float(obj_n(theta, probes, jax.random.PRNGKey(0))) == pytest.approx(float(rp.pareto_gap(vals)))


def test_fresh_probes_objective_under_jit():
    game = rp.games.RiverPollution()
    obj = rp.ParetoGapObjective(game, fresh_probes=True, num_probes=4)
    spsa = rp.SPSA(lower=jnp.zeros(7), upper=jnp.ones(7))
    tr = rp.spsa_minimise(obj, spsa, jnp.full((2, 7), 0.3), key=jax.random.PRNGKey(0), num_steps=2)
    assert np.all(np.isfinite(np.asarray(tr.value)))
    # the probes depend on the key: two keys give two different gaps at the same theta
    th = jnp.full(7, 0.3)
    assert float(obj(th, None, jax.random.PRNGKey(1))) != float(obj(th, None, jax.random.PRNGKey(2)))


def test_bad_configuration_raises():
    box = (jnp.zeros(2), jnp.ones(2))
    for kw, match in (({"a": 0.0}, "`a`"), ({"c": -1.0}, "`c`"), ({"q": -1e-3}, "`q`"),
                      ({"eta": 0.0}, "`eta`"), ({"perturbation": "x"}, "perturbation")):
        with pytest.raises(ValueError, match=match):
            rp.SPSA(*box, **kw)
    with pytest.raises(ValueError, match="lower"):
        rp.SPSA(jnp.ones(2), jnp.zeros(2))
    with pytest.raises(ValueError, match="same shape"):
        rp.SPSA(jnp.zeros(2), jnp.ones(3))
    with pytest.raises(ValueError, match="lower"):
        rp.GradientDesign(jnp.ones(2), jnp.zeros(2))
    with pytest.raises(ValueError, match="theta0"):
        rp.spsa_minimise(lambda t, a, k: 0.0, rp.SPSA(*box), jnp.zeros(2), key=jax.random.PRNGKey(0),
                         num_steps=1)
    with pytest.raises(ValueError, match="noise"):
        rp.ParetoGapObjective(rp.games.RiverPollution(), noise=-1.0)
    with pytest.raises(ValueError, match="num_probes"):
        rp.ParetoGapObjective(rp.games.RiverPollution(), fresh_probes=True)


def test_new_gains_do_not_recompile():
    traces = []

    def fn(theta, args, key):
        traces.append(1)  # runs once per trace, not per call
        return jnp.sum((theta - 0.3) ** 2)

    box = (jnp.zeros(2), jnp.ones(2))
    for a in (0.5, 0.7, 1.3):
        rp.spsa_minimise(fn, rp.SPSA(*box, a=a, c=0.2), jnp.zeros((3, 2)),
                         key=jax.random.PRNGKey(0), num_steps=3)
    assert len(traces) == 1
    # gains are array leaves, so a sweep over them can be vmapped
    sweep = jax.vmap(lambda a: rp.SPSA(*box, a=a).gains(5)[0])(jnp.array([0.5, 1.0]))
    np.testing.assert_allclose(sweep, [0.1, 0.2])
