"""The enumeration's batched route for large batches (and `ActiveSetEnumeration(low_memory=True)`
at every size): every element guesses its active set and certifies it, and the uncertified ones
are gathered and enumerated all at once, a part of the batch at a time. Checked against the
all-at-once enumeration of one system: the same pattern and bit for bit the same solution, under
vmap, nested vmap, jit and eager evaluation, with failed or non-finite elements in the batch, with
several equilibria, and with implicit gradients; and the memory per solve."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from jaxmd_rp._equilibrium import _enumeration
from jaxmd_rp._equilibrium._kkt import LOWER, assemble
from tests.reference.river import river_equilibrium_enumeration

GAME = rp.games.RiverPollution()
LOW = rp.ActiveSetEnumeration(low_memory=True)


def _cases(n, seed):
    """Random mechanisms and probes, with degenerate rows: probes with zeros (a station that sees
    nothing; no emissions at all) and mechanisms on the faces of Theta."""
    rng = np.random.default_rng(seed)
    th = np.clip(rng.uniform(-0.3, 1.0, (n, 7)), 0.0, 1.0)
    e = rng.uniform(0.0, 1.0, (n, 3))
    e[: n // 8] = 0.0
    e[n // 8 : n // 4, 0] = 0.0
    return jnp.asarray(th), jnp.asarray(e)


def _one(game=GAME, **kw):
    kw.setdefault("solver", LOW)
    return jax.jit(lambda a, b: rp.solve_equilibrium(game, a, b, throw=False, **kw))


def _batch(game=GAME, **kw):
    kw.setdefault("solver", LOW)
    return jax.jit(jax.vmap(lambda a, b: rp.solve_equilibrium(game, a, b, throw=False, **kw)))


def _loop(th, e, game=GAME, **kw):
    one = _one(game, **kw)
    sols = [one(th[k], e[k]) for k in range(th.shape[0])]
    return jax.tree.map(lambda *a: jnp.stack(a), *sols)


def _assert_identical(a, b):
    """Bit-for-bit equal solutions (NaN where both failed)."""
    for name in ("x", "multipliers", "residual"):
        u, v = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert np.array_equal(u, v, equal_nan=True), (name, np.nanmax(np.abs(u - v)))
    np.testing.assert_array_equal(np.asarray(a.result._value), np.asarray(b.result._value))


def test_vmap_matches_loop_bit_for_bit():
    th, e = _cases(96, seed=0)
    batched = _batch()(th, e)
    _assert_identical(batched, _loop(th, e))
    _assert_identical(batched, _batch(solver=rp.ActiveSetEnumeration())(th, e))  # the default
    assert bool(jnp.all(batched.success))
    assert float(jnp.max(batched.residual)) <= 1e-10
    for k in range(0, 96, 7):  # the independent numpy enumeration
        x_ref, _ = river_equilibrium_enumeration(np.asarray(th[k]), np.asarray(e[k]))
        np.testing.assert_allclose(batched.x[k], x_ref, atol=1e-9 * (1 + np.max(np.abs(x_ref))))


def test_vmap_over_probes_only_and_nested_vmap():
    th, e = _cases(12, seed=1)
    one = _one()
    over_probes = jax.jit(jax.vmap(
        lambda b: rp.solve_equilibrium(GAME, th[3], b, throw=False, solver=LOW)))(e)
    _assert_identical(over_probes, _loop(jnp.broadcast_to(th[3], th.shape), e))
    nested = jax.jit(jax.vmap(jax.vmap(
        lambda a, b: rp.solve_equilibrium(GAME, a, b, throw=False, solver=LOW))))
    sols = nested(th.reshape(3, 4, 7), e.reshape(3, 4, 3))
    for i in range(3):
        for j in range(4):
            ref = one(th[4 * i + j], e[4 * i + j])
            assert np.array_equal(np.asarray(sols.x[i, j]), np.asarray(ref.x))


def test_eager_matches_jit():
    th, e = _cases(3, seed=2)
    jitted = _batch()(th, e)
    with jax.disable_jit():
        eager = jax.vmap(
            lambda a, b: rp.solve_equilibrium(GAME, a, b, throw=False, solver=LOW))(th, e)
    np.testing.assert_allclose(eager.x, jitted.x, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(np.asarray(eager.result._value), np.asarray(jitted.result._value))


def test_wrong_guess_falls_back_to_the_enumeration(monkeypatch):
    """With no Newton step the guess is the pattern at the linearisation point, wrong for most
    instances: the gathered enumeration must then find the same pattern as the all-at-once enumeration."""
    th, e = _cases(48, seed=3)
    reference = _loop(th, e)
    monkeypatch.setattr(_enumeration, "GUESS_STEPS", 0)
    _assert_identical(_batch()(th, e), reference)


def _system(game, theta, probe):
    kkt = assemble(game, theta, probe, jnp.float64)
    kinds = np.asarray(kkt.kinds)
    radix = np.array([1 if k == 0 else 3 if k == 3 else 2 for k in kinds], dtype=np.int64)
    stride = np.concatenate([[1], np.cumprod(radix)[:-1]]).astype(np.int64)
    s = jnp.clip(jnp.zeros(kkt.lower.shape, jnp.float64), kkt.lower, kkt.upper)
    static = (radix, stride, kinds, bool(np.all(kinds == LOWER)))
    return kkt, s, kkt.phi(s), jax.jacfwd(kkt.phi)(s), static, int(np.prod(radix))


@pytest.mark.parametrize("steps", [0, 1, 8])
def test_guess_and_gather_pick_the_all_at_once_pattern(steps):
    @jax.jit
    def both(theta, probe):
        kkt, s, F0, J, static, count = _system(GAME, theta, probe)
        args = (kkt.lower, kkt.upper, s, F0, J)
        batch = tuple(a[None] for a in args)
        guess = _enumeration._guess(steps, 0, kkt.n, batch, static)
        gathered = _enumeration._compacted(count, jnp.array([True]), 1, batch, static)
        return _enumeration._all_at_once(count, *args, *static), guess, gathered

    th, e = _cases(24, seed=4)
    certified = 0
    for k in range(24):
        (ds_a, v_a), (ds_g, v_g, cert), (ds_s, v_s) = both(th[k], e[k])
        assert np.array_equal(np.asarray(ds_a), np.asarray(ds_s[0]))
        assert float(v_a) == float(v_s[0])
        if cert[0]:
            certified += 1
            assert np.array_equal(np.asarray(ds_a), np.asarray(ds_g[0]))
            assert float(v_a) == float(v_g[0])
    assert certified >= (12 if steps == 8 else 0)


def test_degenerate_solution_is_not_certified_and_is_enumerated():
    """d1 = c11, d2 = 0: firm 1's marginal profit at x_1 = 0 is exactly 0 (a bound active with a zero
    multiplier), so several patterns are feasible; the guess is not certified and the enumeration keeps
    the all-at-once enumeration's choice."""
    game = rp.games.RiverPollution(d1=0.5)
    theta = jnp.asarray([0.0, 0.5, 0.12, 0.15, 0.01, 0.05, 0.01])
    probe = jnp.asarray(rp.games.DEFAULT_PROBE)
    kkt, s, F0, J, static, count = _system(game, theta, probe)
    ds, v = _enumeration._all_at_once(count, kkt.lower, kkt.upper, s, F0, J, *static)
    idx = jnp.argmin(_enumeration._candidates(kkt.lower, kkt.upper, jnp.arange(count), s, F0, J,
                                              *static)[1])
    P = F0 + J @ ds
    assert not bool(_enumeration._strictly_complementary(kkt.lower, kkt.upper, idx, ds, P, s,
                                                         *static[:3]))
    thetas = jnp.stack([theta, jnp.asarray(rp.games.DEFAULT_THETA).at[1].set(0.2)])
    probes = jnp.stack([probe, probe])
    _assert_identical(_batch(game)(thetas, probes), _loop(thetas, probes, game))
    assert float(_one(game)(theta, probe).x[0]) == 0.0


def test_invalid_and_nonfinite_elements_leave_the_others_untouched():
    th, e = _cases(6, seed=5)
    bad_th = th.at[1, 2].set(jnp.nan)
    bad_e = e.at[4, 0].set(jnp.inf)
    sols = _batch()(bad_th, bad_e)
    ref = _loop(th, e)
    names = sols.result.names()
    assert names[1] == "invalid_theta" and names[4] == "invalid_probe"
    assert bool(jnp.all(jnp.isnan(sols.x[jnp.asarray([1, 4])])))
    keep = np.asarray([0, 2, 3, 5])
    assert np.array_equal(np.asarray(sols.x)[keep], np.asarray(ref.x)[keep])
    # a non-finite linear system inside the enumeration: that element has no feasible pattern
    # (violation inf), the others keep their solutions
    systems = [_system(GAME, th[k], e[k]) for k in range(3)]
    kkt, _, _, _, static, count = systems[0]
    s, F0, J = (jnp.stack([sy[i] for sy in systems]) for i in (1, 2, 3))
    J = J.at[1, 0, 0].set(jnp.nan)
    ds, v = jax.vmap(lambda a, b, c: _enumeration._best_pattern(
        count, 8, True, kkt.n, kkt.lower, kkt.upper, a, b, c, *static))(s, F0, J)
    assert float(v[1]) == np.inf
    all_at_once = jax.jit(lambda *a: _enumeration._all_at_once(count, *a, *static))
    for k in (0, 2):
        ds_k, _ = all_at_once(kkt.lower, kkt.upper, s[k], F0[k], J[k])
        assert np.array_equal(np.asarray(ds[k]), np.asarray(ds_k))


def test_batched_gradients_match_finite_differences_and_the_single_solve():
    th, e = _cases(5, seed=6)
    th, e = th[2:], e[2:]  # rows with nonzero probes and interior mechanisms

    def total(a, b):
        return jnp.sum(rp.solve_equilibrium(GAME, a, b, throw=False, solver=LOW).x)

    g_batch = jax.jit(jax.vmap(jax.grad(total, argnums=(0, 1))))(th, e)
    g_one = jax.jit(jax.grad(total, argnums=(0, 1)))
    g_of_sum = jax.jit(jax.grad(lambda a: jnp.sum(jax.vmap(total, (None, 0))(a, e))))(th[0])
    g_sum = sum(g_one(th[0], e[k])[0] for k in range(e.shape[0]))
    np.testing.assert_allclose(g_of_sum, g_sum, rtol=1e-12, atol=1e-12)
    h = 1e-6
    for k in range(th.shape[0]):
        g_k = g_one(th[k], e[k])
        np.testing.assert_allclose(g_batch[0][k], g_k[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g_batch[1][k], g_k[1], rtol=1e-12, atol=1e-12)
        for i in range(3):
            d = jnp.zeros(3, jnp.float64).at[i].set(h)
            lo = float(jnp.clip(e[k, i] - h, 0.0, 1.0) - e[k, i])
            fd = (total(th[k], e[k] + d) - total(th[k], e[k] + jnp.maximum(-d, lo))) / (h - lo)
            np.testing.assert_allclose(g_batch[1][k, i], fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("steps", "parts"), [(8, 3), (0, 5)])
def test_compacted_batch_matches_loop_bit_for_bit(monkeypatch, steps, parts):
    """The default route for large batches: every element guesses its pattern, the uncertified
    ones are enumerated all at once, gathered ceil(B / parts) at a time (with no Newton step most
    guesses fail and the last chunk overlaps the one before it)."""
    th, e = _cases(96, seed=8)
    reference = _loop(th, e, solver=rp.ActiveSetEnumeration())
    monkeypatch.setattr(_enumeration, "COMPACT_MIN", 1)
    monkeypatch.setattr(_enumeration, "COMPACT_PARTS", parts)
    monkeypatch.setattr(_enumeration, "GUESS_STEPS", steps)
    _assert_identical(_batch(solver=None)(th, e), reference)
    if steps == 0:
        return
    nested = jax.jit(jax.vmap(jax.vmap(lambda a, b: rp.solve_equilibrium(GAME, a, b, throw=False))))
    _assert_identical(jax.tree.map(lambda a: a.reshape(96, *a.shape[2:]),
                                   nested(th.reshape(8, 12, 7), e.reshape(8, 12, 3))), reference)


class _Complements(rp.AbstractGame):
    """u_i = -x_i^2 / 2 + c x_i x_j - a x_i on [0, 10]^2 (strategic complements): for c > 1 three
    equilibria, (0, 0), (a / (c - 1)) (1, 1) and (10, 10), the corner ones strictly complementary."""

    num_agents = 2
    theta_dim = 2
    probe_dim = 0
    kkt_affine = True

    @property
    def theta_bounds(self):
        return jnp.zeros(2), jnp.full(2, 10.0)

    @property
    def probe_bounds(self):
        return jnp.zeros(0), jnp.zeros(0)

    @property
    def lower(self):
        return jnp.zeros(2)

    @property
    def upper(self):
        return jnp.full(2, 10.0)

    def utilities(self, theta, x):
        a, c = theta[0], theta[1]
        return jnp.stack([-x[0] ** 2 / 2 + c * x[0] * x[1] - a * x[0],
                          -x[1] ** 2 / 2 + c * x[0] * x[1] - a * x[1]])


def test_several_equilibria_are_not_certified(monkeypatch):
    """A guess that is exact and strictly complementary is the only feasible pattern only when the
    system has one solution: with three equilibria the large-batch route must still return the
    equilibrium the all-at-once enumeration picks (the interior one here), not the guess (0, 0)."""
    game = _Complements()
    rng = np.random.default_rng(0)
    th = jnp.asarray(np.stack([rng.uniform(0.5, 2.0, 8), rng.uniform(1.5, 3.0, 8)], axis=1))
    reference = _loop(th, jnp.zeros((8, 0)), game, solver=rp.ActiveSetEnumeration())
    a, c = np.asarray(th).T
    np.testing.assert_allclose(reference.x, np.stack([a / (c - 1)] * 2, axis=1), rtol=1e-12)
    monkeypatch.setattr(_enumeration, "COMPACT_MIN", 1)
    _assert_identical(_batch(game, solver=None)(th, jnp.zeros((8, 0))), reference)


@pytest.mark.parametrize("solver", [None, LOW], ids=["default", "low_memory"])
def test_memory_per_river_path(solver):
    """At most 0.05 MiB of working memory per path (3 x T = 30 equilibria) evaluated at once, in
    one vmap and in nested ones (their batch axes are flattened into one). Before the guess and
    the compacted enumeration, the default held every element's 32 pattern systems: 0.44 MiB, then
    0.15 MiB built entry by entry; batches under `COMPACT_MIN` still do (at most ~21 MiB)."""
    n = _enumeration.COMPACT_MIN if solver is None else 256  # low_memory: at every batch size
    th, e = _cases(n, seed=7)
    one = lambda a, b: rp.solve_equilibrium(GAME, a, b, throw=False, solver=solver)  # noqa: E731
    flat = jax.jit(jax.vmap(one)).lower(th, e)
    nested = jax.jit(jax.vmap(jax.vmap(one))).lower(th.reshape(64, -1, 7), e.reshape(64, -1, 3))
    for lowered in (flat, nested):
        stats = lowered.compile().memory_analysis()
        assert stats is not None, "XLA gave no memory analysis of the compiled batch"
        assert 30 * stats.temp_size_in_bytes / n / 2**20 <= 0.05
