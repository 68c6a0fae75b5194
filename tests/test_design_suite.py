"""One suite that every design method passes (SPSA, GradientDesign with two optimisers):
vmap = loop, jit = eager, no recompilation for new gains, convergence on a known minimiser,
the exact failure flags, stopping, and `run_study` resume = an uninterrupted run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from tests.helpers import (
    DESIGN_METHODS,
    count_compilations,
    nan_objective,
    noisy_quadratic,
    paths_problem,
    quadratic,
)

METHODS = sorted(DESIGN_METHODS)


def _method(name, **kw):
    return DESIGN_METHODS[name][0](**kw)


@pytest.mark.parametrize("name", METHODS)
def test_is_a_design_method(name):
    m = _method(name)
    assert isinstance(m, rp.AbstractDesignMethod)
    state = m.init(jnp.zeros(3))
    assert isinstance(state, rp.AbstractDesignState)
    assert int(state.n) == 1 and not bool(state.stopped)
    _, info = m.step(jax.random.PRNGKey(0), state, quadratic, jnp.full(3, 0.2))
    assert isinstance(info, rp.AbstractDesignInfo)


@pytest.mark.parametrize("name", METHODS)
def test_vmap_equals_loop(name):
    """A path's trajectory does not depend on the batch it runs in (bit for bit)."""
    m = _method(name)
    theta0, targets = paths_problem()
    key = jax.random.PRNGKey(3)
    batch = rp.design_minimise(noisy_quadratic, m, theta0, targets, key=key, num_steps=6)
    for k in range(theta0.shape[0]):
        one = rp.design_minimise(noisy_quadratic, m, theta0[k:k + 1], targets[k:k + 1], key=key,
                                 num_steps=6, path_ids=jnp.array([k]))
        np.testing.assert_array_equal(one.theta[:, 0], batch.theta[:, k])
        np.testing.assert_array_equal(one.value[:, 0], batch.value[:, k])


@pytest.mark.parametrize("name", METHODS)
def test_jit_equals_eager(name):
    m = _method(name)
    state = m.init(jnp.array([0.5, -0.5, 0.1]))
    key = jax.random.PRNGKey(1)
    target = jnp.array([0.1, 0.2, 0.3])
    s_eager, i_eager = m.step(key, state, noisy_quadratic, target)
    s_jit, i_jit = jax.jit(lambda k, s, a: m.step(k, s, noisy_quadratic, a))(key, state, target)
    np.testing.assert_allclose(s_jit.theta, s_eager.theta, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(i_jit.value, i_eager.value, rtol=1e-14)


@pytest.mark.parametrize("name", METHODS)
def test_new_gains_do_not_recompile(name):
    factory, _, _, gain, _ = DESIGN_METHODS[name]
    theta0, targets = paths_problem()
    states = jax.vmap(factory().init)(theta0)
    keys = rp.path_keys(jax.random.PRNGKey(0), theta0.shape[0])
    rp.design_steps(factory(), quadratic, states, targets, keys, 3)
    with count_compilations() as n:
        for v in (0.01, 0.02, 0.3):
            out = rp.design_steps(factory(**{gain: v}), quadratic, states, targets, keys, 3)
        jax.block_until_ready(out)
    assert n[0] == 0


@pytest.mark.parametrize("name", METHODS)
def test_converges_to_known_minimiser(name):
    factory, steps, tol, _, settings = DESIGN_METHODS[name]
    theta0, targets = paths_problem()
    tr = rp.design_minimise(quadratic, factory(**settings), theta0, targets, key=jax.random.PRNGKey(0),
                            num_steps=steps)
    np.testing.assert_allclose(tr.theta[-1], targets, atol=tol)
    assert np.all(np.asarray(tr.theta) >= -1) and np.all(np.asarray(tr.theta) <= 1)


@pytest.mark.parametrize("name", METHODS)
def test_failed_evaluations_skip_the_step(name):
    theta0, targets = paths_problem(P=3)
    tr = rp.design_minimise(nan_objective, _method(name), theta0, targets,
                            key=jax.random.PRNGKey(0), num_steps=4)
    assert np.all(np.asarray(tr.info.failed)) and not np.any(np.asarray(tr.info.stopped))
    for n in range(5):
        np.testing.assert_array_equal(tr.theta[n], theta0)


@pytest.mark.parametrize("name", METHODS)
def test_stopping_freezes_the_path(name):
    m = _method(name, stop_tol=0.5)
    theta0, targets = paths_problem(P=3)
    tr = rp.design_minimise(quadratic, m, theta0, targets, key=jax.random.PRNGKey(0), num_steps=8)
    v = np.asarray(tr.value)
    assert np.all(v[0] <= 0.5 * 3 * 4)
    for k in range(3):
        hit = np.nonzero(v[:, k] <= 0.5)[0]
        if hit.size:
            n0 = hit[0]
            for n in range(n0 + 1, 9):
                np.testing.assert_array_equal(tr.theta[n, k], tr.theta[n0, k])


@pytest.mark.parametrize("name", METHODS)
def test_run_study_resume_equals_uninterrupted(name, tmp_path):
    m = _method(name)
    theta0, targets = paths_problem()
    keys = rp.path_keys(jax.random.PRNGKey(5), theta0.shape[0])
    kw = dict(keys=keys, chunk=2, checkpoint_every=2)
    full = rp.run_study(noisy_quadratic, m, theta0, targets, num_steps=6, **kw,
                        run_dir=str(tmp_path / "full"))
    rp.run_study(noisy_quadratic, m, theta0, targets, num_steps=4, **kw,
                 run_dir=str(tmp_path / "part"))
    rest = rp.run_study(noisy_quadratic, m, theta0, targets, num_steps=6, **kw,
                        run_dir=str(tmp_path / "part"), resume=True)
    assert rest.start_iteration == 4
    np.testing.assert_array_equal(rest.theta, full.theta)
    np.testing.assert_array_equal(rest.value, full.value)
    for a, b in zip(jax.tree_util.tree_leaves(rest.state), jax.tree_util.tree_leaves(full.state),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # and the runner agrees with design_minimise (one vmap over all paths)
    tr = rp.design_minimise(noisy_quadratic, m, theta0, targets, key=jax.random.PRNGKey(5),
                            num_steps=6)
    np.testing.assert_array_equal(full.theta, tr.theta)
