"""Public names (a contract with users' scripts) and the probe-values seam."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp

CONTRACT = [
    # issue-specified names
    "solve_equilibrium", "pareto_gap", "ccei", "robust_pareto_gap",
    # core API
    "AbstractGame", "probe_values", "RESULTS", "EquilibriumSolution", "SemismoothNewton",
    "ActiveSetEnumeration", "NikaidoIsoda", "pareto_gap_certificate", "certificate_violation",
    "recover_utilities", "mm_garp", "garp_f", "garp", "budget_values", "concentration_bound",
    "SPSA", "spsa_minimise", "spsa_steps", "path_keys", "ParetoGapObjective", "sample_probes",
    "GradientDesign", "design_minimise", "pareto_gap_smooth", "social_optimum", "welfare_report",
]


def test_public_names():
    for name in CONTRACT:
        assert hasattr(rp, name), name
    assert hasattr(rp.games, "RiverPollution")
    assert isinstance(rp.__version__, str)


def test_library_does_not_flip_x64():
    import subprocess
    import sys

    code = "import jax, jaxmd_rp; print(jax.config.jax_enable_x64)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr


def test_probe_values_semantics():
    game = rp.games.RiverPollution(probe_reading="station")
    probes = jnp.array([[0.5, 0.25, 0.75], [1.0, 1.0, 1.0], [0.2, 0.9, 0.4]])
    xs = jnp.array([[10.0, 5.0, 2.0], [1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    v = rp.probe_values(game, probes, xs)
    assert v.shape == (2, 3, 3)
    for t in range(3):
        for s in range(3):
            np.testing.assert_allclose(v[:, t, s], game.revealed_constraints(probes[t], xs[s]))
    # samples: the mean of g over the samples (eq. 13)
    samples = jnp.stack([xs, 2 * xs, 3 * xs], axis=1)  # (T, N=3, M)
    vs = rp.probe_values(game, probes, samples)
    expected = np.mean([np.asarray(rp.probe_values(game, probes, k * xs)) for k in (1, 2, 3)], axis=0)
    np.testing.assert_allclose(vs, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="strategies"):
        rp.probe_values(game, probes, xs[:2])
    with pytest.raises(ValueError, match="probes"):
        rp.probe_values(game, probes[:, :2], xs)


def test_river_readings():
    x = jnp.array([10.0, 5.0, 2.0])
    e = jnp.array([0.5, 0.25, 0.75])
    q = np.array([6.5 * 5 + 5.0 * 1.25 + 5.5 * 1.5, 4.583 * 5 + 6.25 * 1.25 + 3.75 * 1.5])
    g_shared = rp.games.RiverPollution().revealed_constraints(e, x)
    np.testing.assert_allclose(g_shared, np.full(3, q.max() / 100 - 1))
    g_raw = rp.games.RiverPollution(scale=1.0).revealed_constraints(e, x)
    np.testing.assert_allclose(g_raw, np.full(3, q.max() - 100))
    g_station = rp.games.RiverPollution(probe_reading="station").revealed_constraints(e, x)
    np.testing.assert_allclose(g_station, q / 100 - 1)
    with pytest.raises(ValueError, match="probe_reading"):
        rp.games.RiverPollution(probe_reading="nope")
    jax.jit(lambda th: rp.games.RiverPollution().utilities(th, x))(jnp.zeros(7))
