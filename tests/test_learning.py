"""Learning agents: the rest points are the equilibria (checked against closed forms and
`solve_equilibrium`), the Observer's dynamics hook, failures flagged, vmap = loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp

RIVER = rp.games.RiverPollution()
COURNOT = rp.games.CournotPollution()
INSPECTION = rp.games.InspectionGame()
RIVER_PLAY = rp.GradientPlay(horizon=3000, step_size=0.1, price_step=1e-3)


def test_gradient_play_reaches_the_cournot_closed_form():
    """Slack caps: the learned outputs are the closed-form Cournot equilibrium."""
    play = rp.GradientPlay(horizon=1000, step_size=0.2, price_step=0.2)
    for tax in (-1.0, 0.5, 2.0):
        theta = jnp.array([tax])
        x, ok = play.play(COURNOT, theta, jnp.array([5.0, 5.0]))
        np.testing.assert_allclose(x, COURNOT.cournot_output(theta), atol=1e-10)
        assert bool(ok)


def test_gradient_play_reaches_the_normalized_river_equilibrium():
    """Shared constraints priced: the limit is solve_equilibrium's normalized equilibrium, and
    the regulator's prices are its shared multipliers."""
    thetas = jax.random.uniform(jax.random.PRNGKey(0), (6, 7))
    probes = rp.sample_probes(RIVER, jax.random.PRNGKey(1), 6)
    sols = jax.vmap(lambda th, p: rp.solve_equilibrium(RIVER, th, p))(thetas, probes)
    x, ok = jax.vmap(lambda th, p: RIVER_PLAY.play(RIVER, th, p))(thetas, probes)
    np.testing.assert_allclose(x, sols.x, atol=1e-8)
    assert bool(jnp.all(ok))

    def prices(th, p):
        def body(c, _):
            return RIVER_PLAY.update(RIVER, th, p, c), None

        return jax.lax.scan(body, RIVER_PLAY.start(RIVER, th, p), None, length=3000)[0][1]

    mu = jax.vmap(prices)(thetas, probes)
    np.testing.assert_allclose(mu, sols.multipliers, atol=1e-8)


@pytest.mark.parametrize("dynamics,tol", [
    (rp.Hedge(horizon=4000, window=2000, step_size=0.1, price_step=0.1), 0.01),
    (rp.RegretMatching(horizon=4000, window=2000, step_size=1.0, price_step=0.1), 0.03),
])
def test_finite_learning_reaches_the_inspection_equilibrium(dynamics, tol):
    """Time-averaged no-regret play: interior mixed equilibria (p*, g/theta) and both-caps-bind
    equilibria (kappa_1, kappa_2), against the game's closed form."""
    cases = [(6.0, (0.9, 0.9)), (4.0, (0.6, 0.8)), (2.5, (0.5, 0.9)),  # interior
             (1.5, (0.7, 0.4)), (0.5, (0.8, 0.5))]  # both caps bind
    for fine, caps in cases:
        theta, probe = jnp.array([fine]), jnp.array(caps)
        x, ok = dynamics.play(INSPECTION, theta, probe)
        pq = jnp.array([x[0, 1], x[1, 0]])
        np.testing.assert_allclose(pq, INSPECTION.equilibrium(theta, probe), atol=tol)
        np.testing.assert_allclose(jnp.sum(x, axis=1), 1.0, atol=1e-12)


def test_last_iterate_of_hedge_cycles_time_average_does_not():
    """Why `window` exists: at an interior mixed equilibrium the last iterate keeps moving."""
    theta, probe = jnp.array([6.0]), jnp.array([0.9, 0.9])
    plain = rp.Hedge(horizon=4000, step_size=0.1, optimistic=False)
    traj = plain.trajectory(INSPECTION, theta, probe)
    assert traj.shape == (4000, 2, 2)
    tail = np.asarray(traj[-500:, 0, 1])
    assert tail.max() - tail.min() > 0.05
    avg = rp.Hedge(horizon=4000, window=2000, step_size=0.1, optimistic=False)
    x, _ = avg.play(INSPECTION, theta, probe)
    assert abs(float(x[0, 1]) - 0.25) < 0.02


def test_observer_with_dynamics_samples_the_learned_play():
    dyn = rp.GradientPlay(horizon=300, step_size=0.2, price_step=0.2)
    probes = rp.sample_probes(COURNOT, jax.random.PRNGKey(2), 4)
    theta, key = jnp.array([1.0]), jax.random.PRNGKey(3)
    learned = rp.Observer(COURNOT, num_samples=5, noise=0.1, dynamics=dyn)
    x, ok = learned.equilibria(theta, probes)
    np.testing.assert_array_equal(x, jax.vmap(lambda p: dyn.play(COURNOT, theta, p)[0])(probes))
    samples, ok2 = learned(theta, probes, key)
    np.testing.assert_array_equal(samples, learned.sample(key, x))
    assert samples.shape == (4, 5, 2) and bool(jnp.all(ok2))
    # the default observer is unchanged: exact equilibria
    exact = rp.Observer(COURNOT)
    np.testing.assert_array_equal(exact(theta, probes, key)[0], exact.equilibria(theta, probes)[0])


class _Barrier(rp.AbstractGame):
    """f^i(x) = 2 sqrt(2 - x_i) + (1 + theta) x_i: a step that jumps past x = 2 gives NaN."""

    num_agents = 2
    action_dim = None
    theta_dim = 1
    probe_dim = 1

    @property
    def theta_bounds(self):
        return jnp.zeros(1), jnp.ones(1)

    def utilities(self, theta, x):
        return 2.0 * jnp.sqrt(2.0 - x) + (1.0 + theta[0]) * x

    def constraints(self, probe, x):
        return x - probe[0]

    def revealed_constraints(self, probe, x):
        return x / probe[0] - 1.0


def test_diverging_play_is_flagged_and_skips_the_design_step():
    game = _Barrier()
    wild = rp.GradientPlay(horizon=20, step_size=3.0, price_step=0.1)
    calm = rp.GradientPlay(horizon=20, step_size=0.1, price_step=0.1)
    probes = jnp.array([[[1.5], [1.8]], [[1.6], [1.9]]])
    x, ok = rp.Observer(game, dynamics=wild).equilibria(jnp.array([0.5]), probes[0])
    assert not bool(jnp.any(ok)) and bool(jnp.all(jnp.isnan(x)))
    assert bool(jnp.all(rp.Observer(game, dynamics=calm).equilibria(jnp.array([0.5]),
                                                                     probes[0])[1]))
    designer = rp.AskTell(rp.SPSA(*game.theta_bounds), game)
    keys = rp.path_keys(jax.random.PRNGKey(0), 2)
    _, trace = rp.run_asktell(designer, designer.init(jnp.full((2, 1), 0.5), probes, keys),
                              rp.Observer(game, dynamics=wild), num_steps=1)
    assert trace.failed.all() and np.isnan(trace.value).all()
    np.testing.assert_array_equal(trace.theta[1], trace.theta[0])


def test_play_vmap_equals_loop_and_jit_equals_eager():
    thetas = jnp.array([[0.5], [1.5], [3.0]])
    probe = jnp.array([2.0, 2.5])
    dyn = rp.GradientPlay(horizon=50, step_size=0.2, price_step=0.2)
    batch = jax.vmap(lambda th: dyn.play(COURNOT, th, probe)[0])(thetas)
    for k in range(3):
        np.testing.assert_array_equal(batch[k], dyn.play(COURNOT, thetas[k], probe)[0])
    jitted = jax.jit(lambda th: dyn.play(COURNOT, th, probe)[0])(thetas[1])
    np.testing.assert_allclose(jitted, batch[1], rtol=1e-13)


def test_window_average_is_the_mean_of_the_trajectory_tail():
    dyn = rp.Hedge(horizon=60, window=7, step_size=0.3, price_step=0.1)
    theta, probe = jnp.array([5.0]), jnp.array([0.8, 0.7])
    traj = np.asarray(dyn.trajectory(INSPECTION, theta, probe))
    x, _ = dyn.play(INSPECTION, theta, probe)
    np.testing.assert_allclose(x, traj[-7:].mean(axis=0), rtol=1e-13)


def test_gap_objective_with_learning_agents_equals_asktell():
    """ParetoGapObjective(game, dynamics=...) inside spsa_minimise = ask-tell with the same
    learning observer (samples and noise included)."""
    dyn = rp.GradientPlay(horizon=40, step_size=0.2, price_step=0.2)
    P, T = 3, 4
    keys = rp.path_keys(jax.random.PRNGKey(4), P)
    probes = jax.vmap(lambda k: rp.sample_probes(COURNOT, k, T))(keys)
    theta0 = jnp.array([[0.5], [2.0], [4.0]])
    spsa = rp.SPSA(*COURNOT.theta_bounds, a=20.0, c=1.0)
    obj = rp.ParetoGapObjective(COURNOT, num_samples=6, noise=0.05, dynamics=dyn)
    tr = rp.spsa_minimise(obj, spsa, theta0, probes, key=jax.random.PRNGKey(4), num_steps=3)
    designer = rp.AskTell(spsa, COURNOT)
    _, trace = rp.run_asktell(designer, designer.init(theta0, probes, keys), obj.observer, 3)
    np.testing.assert_array_equal(trace.theta, tr.theta)
    np.testing.assert_array_equal(trace.value, tr.value)
