"""Ask-tell: equivalence with spsa_minimise / run_study / Figure 6, a numpy black box in another
process, missing observations, the Theorem-2 half-width, the on-disk experiment and its CLI."""

import json
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from jaxmd_rp import cli
from jaxmd_rp._design._asktell_io import read_observations, write_observations_csv
from jaxmd_rp._study._asktell import AskTellRun
from jaxmd_rp.cli._asktell import build_designer
from jaxmd_rp.experiments import fig6
from tests.cli_helpers import run_cli

COURNOT = rp.games.CournotPollution()
INSPECTION = rp.games.InspectionGame()


def _cournot_setup(P=4, T=5, seed=0):
    keys = rp.path_keys(jax.random.PRNGKey(seed), P)
    probes = jax.vmap(lambda k: rp.sample_probes(COURNOT, jax.random.fold_in(k, 1), T))(keys)
    theta0 = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 0), (1,), minval=-2.0,
                                                   maxval=6.0))(keys)
    run_keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(keys)
    return theta0, probes, run_keys


def numpy_cournot(theta, probes, a=10.0, b=1.0, costs=(1.0, 2.0)):
    """An independent numpy black box: the capped Cournot equilibrium by best-response
    iteration (a contraction with factor 1/2). theta (..., K, 1), probes (..., T, 2) ->
    (..., K, T, 2)."""
    tax = np.asarray(theta)[..., :, None, 0]  # (..., K, 1)
    caps = np.asarray(probes)[..., None, :, :]  # (..., 1, T, 2)
    c = np.asarray(costs)
    q = np.zeros(np.broadcast_shapes(tax.shape + (1,), caps.shape))
    for _ in range(200):
        other = q[..., ::-1]
        q = np.clip((a - c - tax[..., None] - b * other) / (2 * b), 0.0, caps)
    return q


# ------------------------------------------------------------------------------ the method pair
def test_spsa_step_is_ask_evaluate_tell():
    spsa = rp.SPSA(-jnp.ones(3), jnp.ones(3), q=0.01, stop_tol=None)
    state = spsa.init(jnp.array([0.2, -0.4, 0.9]))
    key = jax.random.PRNGKey(7)

    def fn(th, args, k):
        return jnp.sum((th - args) ** 2) + 0.01 * jax.random.normal(k, dtype=th.dtype)

    target = jnp.array([0.1, 0.2, 0.3])
    s_step, i_step = spsa.step(key, state, fn, target)
    query = spsa.ask(key, state)
    assert query.theta.shape == (3, 3) and int(query.n) == 1
    values = jnp.stack([fn(th, target, query.key) for th in query.theta])  # a Python loop
    s_tell, i_tell = spsa.tell(state, query, values)
    for a, b in zip(jax.tree.leaves((s_step, i_step)), jax.tree.leaves((s_tell, i_tell)),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_equals_spsa_minimise_with_samples():
    """Sampled mixed strategies: the query keys reproduce ParetoGapObjective's sampling."""
    game = INSPECTION
    P, T, N = 3, 4, 20
    keys = rp.path_keys(jax.random.PRNGKey(3), P)
    probes = jax.vmap(lambda k: rp.sample_probes(game, k, T))(keys)
    theta0 = jnp.array([[2.0], [5.0], [8.0]])
    spsa = rp.SPSA(*game.theta_bounds, a=2.0, c=1.0)
    tr = rp.spsa_minimise(rp.ParetoGapObjective(game, num_samples=N), spsa, theta0, probes,
                          key=jax.random.PRNGKey(3), num_steps=4)
    designer = rp.AskTell(spsa, game)
    state, trace = rp.run_asktell(designer, designer.init(theta0, probes, keys),
                                  rp.Observer(game, num_samples=N), num_steps=4)
    np.testing.assert_array_equal(trace.theta, tr.theta)
    np.testing.assert_array_equal(trace.value, tr.value)
    assert np.all(np.isfinite(trace.halfwidth)) and np.all(trace.halfwidth > 0)


def test_robust_option_equals_robust_objective():
    game = rp.games.BudgetGame(noise=0.3)
    P, T, N, eps = 2, 3, 4, 0.05
    keys = rp.path_keys(jax.random.PRNGKey(1), P)
    probes = jax.vmap(lambda k: rp.sample_probes(game, k, T))(keys)
    theta0 = jnp.full((P, 3), 0.3)
    spsa = rp.SPSA(*game.theta_bounds, q=0.0)
    obj = rp.RobustGapObjective(game, eps, num_samples=N, rounds=4, golden=8)
    tr = rp.spsa_minimise(obj, spsa, theta0, probes, key=jax.random.PRNGKey(1), num_steps=2)
    designer = rp.AskTell(spsa, game, epsilon=eps, rounds=4, golden=8)
    _, trace = rp.run_asktell(designer, designer.init(theta0, probes, keys),
                              rp.Observer(game, num_samples=N), num_steps=2)
    np.testing.assert_array_equal(trace.value, tr.value)
    np.testing.assert_array_equal(trace.theta, tr.theta)


@pytest.mark.slow
def test_reproduces_figure6_bit_for_bit():
    """20 Figure-6 paths x 10 iterations through ask-tell = run_fig6 (the run_study path)."""
    cfg = fig6.Fig6Config(paths=20, iters=10)
    res = fig6.run_fig6(cfg, progress=False, track_welfare=False)
    game, _, spsa, theta0, probes, run_keys = fig6.build(cfg)
    designer = rp.AskTell(spsa, game)
    _, trace = rp.run_asktell(designer, designer.init(theta0, probes, run_keys),
                              rp.Observer(game), num_steps=cfg.iters)
    np.testing.assert_array_equal(trace.value, res.values)
    np.testing.assert_array_equal(trace.theta, res.theta)
    np.testing.assert_array_equal(trace.failed, res.failed)
    assert np.all(trace.halfwidth[np.isfinite(trace.gap)] == 0)


def test_paths_do_not_depend_on_the_batch():
    theta0, probes, keys = _cournot_setup(P=4)
    designer = rp.AskTell(rp.SPSA(*COURNOT.theta_bounds, q=0.01), COURNOT)
    obs = rp.Observer(COURNOT)
    _, full = rp.run_asktell(designer, designer.init(theta0, probes, keys), obs, num_steps=3)
    _, one = rp.run_asktell(designer, designer.init(theta0[2:3], probes[2:3], keys[2:3]), obs,
                            num_steps=3)
    np.testing.assert_array_equal(one.theta[:, 0], full.theta[:, 2])


def test_ask_is_pure_and_tell_refuses_another_query():
    theta0, probes, keys = _cournot_setup()
    designer = rp.AskTell(rp.SPSA(*COURNOT.theta_bounds), COURNOT)
    state = designer.init(theta0, probes, keys)
    q1, q2 = designer.ask(state), designer.ask(state)
    for a, b in zip(jax.tree.leaves(q1), jax.tree.leaves(q2), strict=True):
        np.testing.assert_array_equal(a, b)
    obs = rp.simulate(rp.Observer(COURNOT), q1)
    new, _ = designer.tell(state, q1, obs)
    with pytest.raises(eqx.EquinoxRuntimeError, match="asked at another iteration"):
        designer.tell(new, q1, obs)  # told twice
    other = eqx.tree_at(lambda q: q.theta, q1, q1.theta + 1e-3)
    with pytest.raises(eqx.EquinoxRuntimeError, match="does not answer this state's pending"):
        designer.tell(state, other, obs)


def test_missing_observation_skips_only_that_path():
    theta0, probes, keys = _cournot_setup()
    designer = rp.AskTell(rp.SPSA(*COURNOT.theta_bounds, stop_tol=None), COURNOT)
    state = designer.init(theta0, probes, keys)
    query = designer.ask(state)
    obs = np.asarray(rp.simulate(rp.Observer(COURNOT), query))
    holed = obs.copy()
    holed[1, 2, 3, 0] = np.nan  # path 1, theta_n - c_n Delta_n, probe 3, firm 0
    full_state, full = designer.tell(state, query, obs)
    new, info = designer.tell(state, query, holed)
    assert info.failed.tolist() == [False, True, False, False]
    assert info.observed[1].tolist() == [True, True, False] and np.isnan(info.gap[1, 2])
    np.testing.assert_array_equal(new.design.theta[1], state.design.theta[1])
    keep = np.array([0, 2, 3])
    np.testing.assert_array_equal(new.design.theta[keep], full_state.design.theta[keep])
    np.testing.assert_array_equal(info.value, full.value)  # theta_n itself was observed


def test_function_black_box_agrees_with_exact_solver():
    """A numpy function as the outside system: the same design as the JAX equilibria."""
    theta0, probes, keys = _cournot_setup()
    designer = rp.AskTell(rp.SPSA(*COURNOT.theta_bounds, q=0.01), COURNOT)
    state = designer.init(theta0, probes, keys)
    _, exact = rp.run_asktell(designer, state, rp.Observer(COURNOT), num_steps=5)
    _, numpy_ = rp.run_asktell(designer, state,
                               lambda q: numpy_cournot(q.theta, q.probes), num_steps=5)
    np.testing.assert_allclose(numpy_.value, exact.value, rtol=0, atol=1e-12)
    np.testing.assert_allclose(numpy_.theta, exact.theta, rtol=0, atol=1e-10)


BLACK_BOX = textwrap.dedent('''
    """A numpy-only black box (no JAX): the capped Cournot equilibrium of every query."""
    import os, sys
    import numpy as np
    d = sys.argv[1]
    theta = np.load(os.path.join(d, "theta.npy"))
    probes = np.load(os.path.join(d, "probes.npy"))
    assert "jax" not in sys.modules
    c = np.array([1.0, 2.0])
    tax = theta[:, :, None, None, 0]
    caps = probes[:, None]
    q = np.zeros(np.broadcast_shapes(tax.shape, caps.shape))
    for _ in range(200):
        q = np.clip((10.0 - c - tax - q[..., ::-1]) / 2.0, 0.0, caps)
    q[0, 1, 0, 1] = np.nan  # path 0 loses one observation in every query
    np.save(os.path.join(d, "observations.npy"), q)
''')


@pytest.mark.slow
def test_numpy_black_box_in_another_process(tmp_path):
    script = tmp_path / "black_box.py"
    script.write_text(BLACK_BOX)
    theta0, probes, keys = _cournot_setup(P=3)
    designer = rp.AskTell(rp.SPSA(*COURNOT.theta_bounds, q=0.01), COURNOT)
    state = designer.init(theta0, probes, keys)
    observer = rp.SubprocessObserver([sys.executable, str(script)], COURNOT.action_shape,
                                     workdir=str(tmp_path / "queries"))
    _, outside = rp.run_asktell(designer, state, observer, num_steps=3)

    def exact_with_hole(q):
        x = numpy_cournot(q.theta, q.probes)
        x[0, 1, 0, 1] = np.nan
        return x

    _, inside = rp.run_asktell(designer, state, exact_with_hole, num_steps=3)
    np.testing.assert_array_equal(outside.theta, inside.theta)
    assert outside.failed[:, 0].all() and not outside.failed[:, 1:].any()
    np.testing.assert_array_equal(outside.theta[:, 0], np.repeat(theta0[None, 0], 4, axis=0))
    assert len(os.listdir(tmp_path / "queries")) == 3


@pytest.mark.slow
def test_subprocess_failure_is_reported(tmp_path):
    theta0, probes, keys = _cournot_setup(P=2)
    designer = rp.AskTell(rp.SPSA(*COURNOT.theta_bounds), COURNOT)
    bad = rp.SubprocessObserver([sys.executable, "-c", "import sys; sys.exit('no lab today')"],
                                COURNOT.action_shape)
    with pytest.raises(rp.ObserverError, match="exited with status 1 on query .*: no lab today"):
        rp.run_asktell(designer, designer.init(theta0, probes, keys), bad, num_steps=1)
    silent = rp.SubprocessObserver([sys.executable, "-c", "pass"], COURNOT.action_shape)
    with pytest.raises(rp.ObserverError, match="wrote no observations.npy into the query"):
        rp.run_asktell(designer, designer.init(theta0, probes, keys), silent, num_steps=1)


# ------------------------------------------------------------------------------ the half-width
def _inspection_samples(theta, probes, N, key):
    x = jax.vmap(lambda p: rp.solve_equilibrium(INSPECTION, theta, p).x)(probes)
    keys = jax.random.split(key, probes.shape[0])
    return x, jax.vmap(lambda k, xt: INSPECTION.sample_strategy(k, xt, N))(keys, x)


def test_halfwidth_inverts_theorem2_bound():
    T, N, rng = 4, 50, 1.0 / 0.3
    probes = rp.sample_probes(INSPECTION, jax.random.PRNGKey(0), T)
    _, samples = _inspection_samples(jnp.array([5.0]), probes, N, jax.random.PRNGKey(1))
    designer = rp.AskTell(rp.SPSA(*INSPECTION.theta_bounds), INSPECTION, value_range=rng,
                          confidence=0.9)
    _, _, half, _ = designer.evaluate(probes, samples)
    bound = rp.concentration_bound(half, N, T, INSPECTION.num_agents, rng)
    assert float(bound) == pytest.approx(0.9, abs=1e-12)


def test_halfwidth_plugin_range_and_special_cases():
    T, N = 4, 30
    probes = rp.sample_probes(INSPECTION, jax.random.PRNGKey(2), T)
    x, samples = _inspection_samples(jnp.array([5.0]), probes, N, jax.random.PRNGKey(3))
    designer = rp.AskTell(rp.SPSA(*INSPECTION.theta_bounds), INSPECTION)
    _, _, half, _ = designer.evaluate(probes, samples)
    s, pr = np.asarray(samples), np.asarray(probes)
    # g_t^i of every sample, in numpy: active coordinate / cap - 1
    active = np.stack([s[:, :, 0, 1], s[:, :, 1, 0]], axis=-1)  # (T_s, N, 2)
    g = active[None] / pr[:, None, None, :] - 1.0  # (T_t, T_s, N, 2)
    spread = (g.max(axis=2) - g.min(axis=2)).max()
    expected = spread * np.sqrt(np.log(2 * 2 * T * T / 0.05) / (2 * N))
    assert float(half) == pytest.approx(expected, rel=1e-12)
    assert float(designer.evaluate(probes, x)[2]) == 0.0  # pure observations
    assert np.isnan(float(designer.evaluate(probes, samples[:, :1])[2]))  # N = 1


@pytest.mark.slow
def test_halfwidth_covers_the_true_gap():
    """Monte Carlo: |L_hat - L| <= halfwidth in at least `confidence` of 400 draws (mixed
    equilibria of the inspection game; L from the exact mixed strategies)."""
    T, N, draws = 5, 40, 400
    probes = rp.sample_probes(INSPECTION, jax.random.PRNGKey(4), T)
    theta = jnp.array([6.0])
    x = jax.vmap(lambda p: rp.solve_equilibrium(INSPECTION, theta, p).x)(probes)
    designer = rp.AskTell(rp.SPSA(*INSPECTION.theta_bounds), INSPECTION, confidence=0.9)
    L = float(designer.evaluate(probes, x)[1])

    def one(key):
        keys = jax.random.split(key, T)
        s = jax.vmap(lambda k, xt: INSPECTION.sample_strategy(k, xt, N))(keys, x)
        return designer.evaluate(probes, s)

    _, Lhat, half, _ = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(5), draws))
    covered = np.mean(np.abs(np.asarray(Lhat) - L) <= np.asarray(half))
    assert L > 0.1 and covered >= 0.9
    assert np.median(np.asarray(half)) < 2.0  # informative, not just the whole range


# ------------------------------------------------------------------------------ files and disk
def test_csv_observations_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    for shape, dim in (((2, 3, 4, 5, 2, 2), 2), ((2, 3, 4, 2), None)):
        x = rng.random(shape)
        x[1, 0, 2] = np.nan
        path = str(tmp_path / f"obs{len(shape)}.csv")
        write_observations_csv(path, x, dim, qid="abc")
        back = read_observations(path, num_paths=2, num_evaluations=3, num_probes=4,
                                 action_shape=shape[-2:] if dim else shape[-1:], qid="abc")
        np.testing.assert_array_equal(back, x)


def _query_arrays(where):
    load = lambda n: np.load(os.path.join(where, f"{n}.npy"))  # noqa: E731
    return rp.AskTellQuery(theta=jnp.asarray(load("theta")), probes=jnp.asarray(load("probes")),
                           keys=jnp.asarray(load("keys")), n=jnp.zeros(0, int),
                           active=jnp.asarray(load("active")))


def test_cli_reproduces_figure6_through_files(tmp_path):
    """jaxmd-rp init/ask/tell with exact observations computed from the query files alone."""
    out = str(tmp_path / "run")
    code, _, err = run_cli("init", "--out", out, "--game", "river", "--paths", "5",
                           "--seed", "3")
    assert code == 0, err
    game = rp.games.RiverPollution()
    for n in range(3):
        code, text, err = run_cli("ask", "--out", out)
        assert code == 0, err
        where = os.path.join(out, "queries", f"{n + 1:06d}")
        obs = rp.simulate(rp.Observer(game), _query_arrays(where))
        np.save(os.path.join(where, "observations.npy"), np.asarray(obs))
        code, text, err = run_cli("tell", "--out", out, "--observations",
                                  os.path.join(where, "observations.npy"))
        assert code == 0, err
        assert "told query" in text
    res = fig6.run_fig6(fig6.Fig6Config(paths=5, iters=3, seed=3), progress=False,
                        track_welfare=False)
    _, history, done = AskTellRun(out, _designer(out)).state()
    assert done == 3
    np.testing.assert_array_equal(history["value"], res.values)
    np.testing.assert_array_equal(history["theta_history"], res.theta)


def _designer(out):
    with open(os.path.join(out, "run.json")) as f:
        return build_designer(json.load(f)["config"])


def test_cli_refuses_unsafe_tells(tmp_path):
    out = str(tmp_path / "run")
    assert run_cli("init", "--out", out, "--game", "cournot", "--paths", "2",
                   "--num-probes", "3")[0] == 0
    code, _, err = run_cli("tell", "--out", out, "--observations", __file__, "--query-id", "x")
    assert code == 2 and "the observations answer query x, but the pending query" in err
    assert run_cli("ask", "--out", out)[0] == 0
    where = os.path.join(out, "queries", "000001")
    with open(os.path.join(where, "query.json")) as f:
        qid = json.load(f)["query_id"]
    x = numpy_cournot(np.load(os.path.join(where, "theta.npy")),
                      np.load(os.path.join(where, "probes.npy")))
    csv_path = os.path.join(str(tmp_path), "obs.csv")
    write_observations_csv(csv_path, x, None, qid=qid)
    code, text, err = run_cli("tell", "--out", out, "--observations", csv_path)
    assert code == 0, err
    code, _, err = run_cli("tell", "--out", out, "--observations", csv_path)
    assert code == 2 and "has already been told" in err and len(err.strip().splitlines()) == 1
    assert run_cli("ask", "--out", out)[0] == 0
    code, _, err = run_cli("tell", "--out", out, "--observations", csv_path)  # old query's file
    assert code == 2 and "has already been told" in err
    with open(os.path.join(out, "run.json")) as f:
        info = json.load(f)
    info["config"]["a"] = 0.25  # another designer
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(info, f)
    code, _, err = run_cli("ask", "--out", out)
    assert code == 2 and "its designer differs" in err


@pytest.mark.slow
def test_cli_subprocesses_with_numpy_black_box(tmp_path):
    """The designer as `python -m jaxmd_rp.cli` processes, the numpy black box here."""
    out = str(tmp_path / "run")

    def cli(*argv):
        done = subprocess.run([sys.executable, "-m", "jaxmd_rp.cli", *argv], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("init", "--out", out, "--game", "cournot", "--paths", "3", "--num-probes", "4",
        "--seed", "5")
    for n in range(2):
        cli("ask", "--out", out)
        where = os.path.join(out, "queries", f"{n + 1:06d}")
        x = numpy_cournot(np.load(os.path.join(where, "theta.npy")),
                          np.load(os.path.join(where, "probes.npy")))
        np.save(os.path.join(where, "observations.npy"), x)
        assert "told query" in cli("tell", "--out", out, "--observations",
                                   os.path.join(where, "observations.npy"))
    # the same two iterations in this process, with the JAX equilibria
    base = rp.path_keys(jax.random.PRNGKey(5), 3)
    lo, hi = COURNOT.theta_bounds
    theta0 = jax.vmap(lambda k: lo + (hi - lo) * jax.random.uniform(
        jax.random.fold_in(k, 0), (1,), maxval=0.5))(base)
    probes = jax.vmap(lambda k: rp.sample_probes(COURNOT, jax.random.fold_in(k, 1), 4))(base)
    keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(base)
    designer = rp.AskTell(rp.SPSA(lo, hi), COURNOT)
    _, trace = rp.run_asktell(designer, designer.init(theta0, probes, keys),
                              rp.Observer(COURNOT), num_steps=2)
    history = np.genfromtxt(os.path.join(out, "history.csv"), delimiter=",", names=True)
    np.testing.assert_allclose(history["value"].reshape(2, 3), trace.value, atol=1e-12)


@pytest.mark.parametrize("command", ["init", "ask", "tell"])
def test_cli_help_documents_every_flag(command):
    sub = next(a for a in cli.parser()._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"{command} {action.option_strings} has no help text"
    assert command != "init" or "(default: 0.95)" in sub.format_help()
