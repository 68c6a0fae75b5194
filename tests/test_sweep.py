"""Sweeps: combinations that share a structure run as one compiled program, and every
combination's numbers are those of a separate run of it."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from jaxmd_rp.experiments import study, study_tables
from jaxmd_rp.experiments._study_config import StudyConfig
from jaxmd_rp.experiments._sweep import Stacked, stack
from tests.helpers import count_compilations


class CappedDuopoly(rp.AbstractClosedFormGame):
    """Symmetric Cournot output (demand - 1 - tax) / 3, capped by the probe; `rounds` repeats
    the cap in a Python loop (a leaf that cannot be traced)."""

    num_agents, action_dim, theta_dim, probe_dim = 2, None, 1, 2
    demand: float = 10.0
    rounds: int = 1
    theta_bounds = property(lambda self: (jnp.full(1, -3.0), jnp.full(1, 5.0)))
    probe_bounds = property(lambda self: (jnp.full(2, 0.5), jnp.full(2, 4.0)))

    def utilities(self, theta, x):
        return (self.demand - jnp.sum(x) - 1.0 - theta[0]) * x

    def constraints(self, probe, x):
        return x - probe

    def revealed_constraints(self, probe, x):
        return x / probe - 1.0

    def equilibrium(self, theta, probe):
        x = jnp.full(2, (self.demand - 1.0 - theta[0]) / 3.0)
        for _ in range(self.rounds):
            x = jnp.minimum(x, probe)
        return x


def make_capped(demand=10.0, rounds=1):
    return CappedDuopoly(demand=demand, rounds=rounds)


BASE = StudyConfig(game="tests.test_sweep:make_capped", paths=5, iters=6, probes=3, chunk=3,
                   stop=False, q=0.01, welfare_paths=0)


@pytest.fixture
def chunk_compilations():
    """Names of the compiled design programs (`run_study`'s chunk) while the test runs (with the
    persistent compilation cache that command-line tests turn on switched off: a hit there is
    not a compilation)."""
    names = []
    cache = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration" and "_sharded_chunk" in str(
                kwargs.get("fun_name")):
            names.append(kwargs["fun_name"])

    jax.monitoring.register_event_duration_secs_listener(listener)
    yield names
    jax.monitoring.unregister_event_duration_listener(listener)
    jax.config.update("jax_enable_compilation_cache", cache)


def _assert_equal_to_separate_runs(out):
    for c in out.combinations:
        alone = study.run(out.config.combination(c.values), progress=None)
        mine, ref = out.results[c.index], alone.results[0]
        np.testing.assert_array_equal(mine.value, ref.value)
        np.testing.assert_array_equal(mine.failed, ref.failed)
        np.testing.assert_array_equal(mine.theta, ref.theta)
        for a, b in zip(jax.tree.leaves(mine.state), jax.tree.leaves(ref.state), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(c.probes, alone.combinations[0].probes)


def test_gain_sweep_compiles_once_and_equals_separate_runs(chunk_compilations):
    cfg = dataclasses.replace(BASE, paths=7, sweep={"a": [0.2, 0.5, 2.0], "c": [0.3, 0.6]})
    out = study.run(cfg, progress=None)
    assert out.groups == [[0, 1, 2, 3, 4, 5]]
    assert len(chunk_compilations) == 1  # six combinations, one compiled design program
    assert [c.values for c in out.combinations][:3] == [{"a": 0.2, "c": 0.3}, {"a": 0.2, "c": 0.6},
                                                        {"a": 0.5, "c": 0.3}]
    _assert_equal_to_separate_runs(out)
    assert not np.array_equal(out.results[0].theta, out.results[5].theta)  # the gains mattered
    # other gain values: nothing is compiled again
    other = dataclasses.replace(cfg, sweep={"a": [0.1, 0.7, 1.5], "c": [0.2, 0.9]})
    with count_compilations() as n:
        study.run(other, progress=None)
    assert n[0] == 0
    # one table across the sweep: every combination's iterations, labelled by its settings
    rows = study_tables.iteration_rows(out)
    assert len(rows) == 6 * cfg.iters
    assert {(r["combination"], r["a"], r["c"]) for r in rows if r["n"] == 1} == {
        (c.index, c.values["a"], c.values["c"]) for c in out.combinations}


@pytest.mark.slow
def test_game_parameter_sweep_shares_one_program(chunk_compilations):
    cfg = dataclasses.replace(BASE, sweep={"game_args.demand": [9.0, 11.0]})
    out = study.run(cfg, progress=None)
    assert out.groups == [[0, 1]] and len(chunk_compilations) == 1
    _assert_equal_to_separate_runs(out)
    paths = study_tables.path_rows(out)
    assert [r["game_args.demand"] for r in paths] == [9.0] * 5 + [11.0] * 5


@pytest.mark.slow
def test_other_shapes_run_one_after_another(chunk_compilations):
    cfg = dataclasses.replace(BASE, iters=4, sweep={"probes": [2, 4]})
    out = study.run(cfg, progress=None)
    assert out.groups == [[0], [1]] and len(chunk_compilations) == 2  # T changes the shapes
    _assert_equal_to_separate_runs(out)
    rows = study_tables.iteration_rows(out)
    assert [r["probes"] for r in rows if r["n"] == 1] == [2, 4]  # one table across the sweep


@pytest.mark.parametrize("sweep", [{"game_args.rounds": [1, 2]},  # used in a Python loop
                                   {"stop": [True, False]},  # a static field of the method
                                   {"num_samples": [1, 2]}])  # a static field of the objective
def test_what_cannot_share_a_program_runs_separately(sweep):
    groups = study.prepare(dataclasses.replace(BASE, sweep=sweep))
    assert [[c.index for c in g.members] for g in groups] == [[0], [1]]


def test_gradient_design_sweep_over_learning_rate(chunk_compilations):
    cfg = dataclasses.replace(BASE, method="gradient", iters=4, a=0.5, c=0.5, q=1e-3,
                              sweep={"learning_rate": [0.05, 0.5]})
    out = study.run(cfg, progress=None)
    assert out.groups == [[0, 1]] and len(chunk_compilations) == 1
    _assert_equal_to_separate_runs(out)


def test_stack_keeps_equal_leaves_and_stacks_the_others():
    a = rp.SPSA(lower=jnp.zeros(2), upper=jnp.ones(2), a=0.1)
    b = rp.SPSA(lower=jnp.zeros(2), upper=jnp.ones(2), a=0.3)
    s = stack([a, b])
    assert isinstance(s, Stacked) and len(s.swept) == 1
    assert float(s.select(1).a) == 0.3 and float(s.select(0).a) == 0.1
    assert s.select(jnp.int32(1)).c is s.tree.c  # an equal leaf is shared, not stacked
    # unequal objects that are not numbers or arrays cannot share a program
    assert stack([CappedDuopoly(), "not a game"]) is None
