"""Rank optimality (paper App. B): rank_k, maxrank_k, Def. 7, and what Lemma 3 really gives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp

# 3 agents, outcomes A, B, C (positions, 1 = best)
POS = np.array([[1, 2, 3], [1, 3, 2], [2, 3, 1]])


def _ranks_numpy(pos):
    """Reference: R[k-1, o] = #{i : pos[i, o] <= k}, by explicit loops."""
    M, D = pos.shape
    R = np.zeros((D, D), int)
    for k in range(1, D + 1):
        for o in range(D):
            R[k - 1, o] = sum(pos[i, o] <= k for i in range(M))
    return R


def test_hand_example():
    assert rp.rank_k(jnp.arange(3), POS, 1, kind="positions").tolist() == [2, 0, 1]
    assert rp.rank_k(jnp.arange(3), POS, 2, kind="positions").tolist() == [3, 1, 2]
    assert rp.rank_k(1, POS, jnp.arange(1, 4), kind="positions").tolist() == [0, 1, 3]
    assert rp.maxrank_k(POS, jnp.arange(1, 4), kind="positions").tolist() == [2, 3, 3]
    np.testing.assert_array_equal(rp.rank_table(POS, kind="positions"), _ranks_numpy(POS))
    assert rp.rank_optimal_outcomes(POS, kind="positions").tolist() == [True, False, False]
    assert rp.is_rank_optimal(jnp.arange(3), POS, kind="positions").tolist() == [True, False, False]
    # mixed strategies: E[rank_k] is linear in mu; only mass on A is rank-optimal
    mu = jnp.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(rp.expected_rank(mu, POS, kind="positions"),
                               [[2, 3, 3], [1.5, 2.5, 3], [0, 1, 3]])
    assert rp.is_rank_optimal(mu, POS, kind="positions").tolist() == [True, False, False]


def test_utilities_to_positions():
    u = jnp.array([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0]])  # ties share the better position
    np.testing.assert_array_equal(rp.preference_positions(u), [[1, 3, 2], [3, 1, 1]])
    np.testing.assert_array_equal(rp.rank_table(u), rp.rank_table(rp.preference_positions(u),
                                                                   kind="positions"))


def _random_profiles(rng, num, M, D):
    return np.stack([np.stack([rng.permutation(D) + 1 for _ in range(M)]) for _ in range(num)])


@pytest.mark.parametrize("M, D", [(5, 4), (4, 6)])
def test_lemma3_homogeneous(M, D):
    """Homogeneous, strictly decreasing U: a social optimum is rank-optimal whenever *any*
    rank-optimal strategy exists; otherwise (frequent) Lemma 3's conclusion is unsatisfiable."""
    rng = np.random.default_rng(M * 10 + D)
    num = 60
    profiles = _random_profiles(rng, num, M, D)
    U = np.sort(rng.uniform(-1.0, 2.0, (num, D)))[:, ::-1] + np.arange(D)[::-1] * 1e-3
    f = jax.vmap(rp.homogeneous_utilities)(profiles, U)  # (num, M, D)
    np.testing.assert_allclose(f, np.take_along_axis(U[:, None, :], profiles - 1, axis=-1))
    tables = np.asarray(jax.vmap(lambda p: rp.rank_table(p, kind="positions"))(profiles))
    exists = np.asarray(jax.vmap(lambda p: rp.rank_optimal_outcomes(p, kind="positions"))(profiles))
    mus = np.zeros((num, D))
    for b in range(num):
        R = _ranks_numpy(profiles[b])
        np.testing.assert_array_equal(tables[b], R)
        # the proof's expansion: sum_i f^i(o) = sum_j (U(j) - U(j+1)) rank_j(o), U(D+1) = 0
        welfare = np.asarray(f[b]).sum(axis=0)
        w = U[b] - np.append(U[b][1:], 0.0)
        np.testing.assert_allclose(welfare, w @ R, atol=1e-12)
        # social optimum by brute force over outcomes; any mixture of optimal outcomes is optimal
        best = np.flatnonzero(welfare >= welfare.max() - 1e-12)
        mus[b, best] = rng.dirichlet(np.ones(best.size))
        assert bool(exists[b].any()) == np.any(np.all(R == R.max(axis=1, keepdims=True), axis=0))
    optimal = np.asarray(jax.vmap(lambda m, p: rp.is_rank_optimal(m, p, kind="positions"))(
        jnp.asarray(mus), profiles))
    has = exists.any(axis=1)
    # Lemma 3 holds where a rank-optimal strategy exists; elsewhere none does
    np.testing.assert_array_equal(optimal, has)
    failures = int(np.sum(~has))
    assert np.sum(has) > 0
    # Lemma 3 as printed fails on random profiles (no outcome maximises every rank_k)
    assert failures > 0


def test_lemma3_fails_without_rank_optimal_outcome():
    # A>B>C, A>C>B, B>C>A, C>B>A: rank_1 is maximal only at A, rank_2 only at B and C
    pos = np.array([[1, 2, 3], [1, 3, 2], [3, 1, 2], [3, 2, 1]])
    assert rp.maxrank_k(pos, jnp.arange(1, 4), kind="positions").tolist() == [2, 3, 4]
    assert not bool(jnp.any(rp.rank_optimal_outcomes(pos, kind="positions")))
    U = jnp.array([3.0, 2.0, 0.0])  # welfare A: 3+3+0+0 = 6, B: 2+0+3+2 = 7, C: 0+2+2+3 = 7
    welfare = rp.homogeneous_utilities(pos, U).sum(axis=0)
    np.testing.assert_allclose(welfare, [6.0, 7.0, 7.0])
    social = jnp.array([0.0, 0.5, 0.5])  # socially optimal, but E[rank_1] = 1 < maxrank_1 = 2
    assert not bool(rp.is_rank_optimal(social, pos, kind="positions"))


def test_lemma3_with_tied_utility_levels():
    # U(1) = U(2): the welfare ignores rank_1; B is socially optimal yet not rank-optimal
    pos = np.array([[1, 2, 3], [2, 1, 3], [1, 2, 3]])
    U = jnp.array([1.0, 1.0, 0.0])
    welfare = rp.homogeneous_utilities(pos, U).sum(axis=0)
    np.testing.assert_allclose(welfare, [3.0, 3.0, 0.0])
    assert rp.rank_optimal_outcomes(pos, kind="positions").tolist() == [True, False, False]
    er = rp.expected_rank(1, pos, kind="positions")
    mr = rp.maxrank_k(pos, jnp.arange(1, 4), kind="positions")
    assert er.tolist() == [1.0, 3.0, 3.0] and mr.tolist() == [2, 3, 3]
    # ... while for the k with U(k) > U(k+1) (here k = 2) the social optimum attains maxrank_k
    assert not bool(rp.is_rank_optimal(1, pos, kind="positions"))


def test_lemma3_fails_for_heterogeneous_utilities():
    # A is rank-optimal (top choice of 2 of 3 agents), but agent 3 values B enormously
    u = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 100.0]])
    assert rp.rank_optimal_outcomes(u).tolist() == [True, False]
    assert int(jnp.argmax(u.sum(axis=0))) == 1
    assert not bool(rp.is_rank_optimal(1, u))


def test_inspection_game_outcomes():
    """The finite game exposes its D = 4 pure profiles as an (M, D) preference profile."""
    game = rp.games.InspectionGame()
    theta = jnp.array([4.0])
    u = game.outcome_utilities(theta)  # profiles (comply, insp), (comply, not), (viol, insp), ...
    np.testing.assert_allclose(u, [[0, 0, 1 - 4, 1], [-1, 0, 1, -2]])
    x = game.to_strategy(jnp.array([0.25, 0.25]))
    mu = game.joint_distribution(x)
    np.testing.assert_allclose(mu, [0.75 * 0.25, 0.75 * 0.75, 0.25 * 0.25, 0.25 * 0.75])
    R = _ranks_numpy(np.asarray(rp.preference_positions(u)))
    np.testing.assert_allclose(rp.expected_rank(mu, u), R @ np.asarray(mu))
    # rank_1 is maximal (1) at (violate, inspect) and (violate, not), rank_2 (2) only at
    # (comply, not): no outcome is rank-optimal in this game
    assert rp.maxrank_k(u, jnp.arange(1, 5)).tolist() == [1, 2, 2, 2]
    assert rp.rank_optimal_outcomes(u).tolist() == [False, False, False, False]
    assert not bool(rp.is_rank_optimal(mu, u))


def test_errors():
    with pytest.raises(ValueError, match="prefs"):
        rp.rank_table(jnp.ones(3))
    with pytest.raises(ValueError, match="kind"):
        rp.rank_table(POS, kind="ordinal")
    with pytest.raises((ValueError, RuntimeError), match="positions in 1..D"):
        rp.rank_table(POS + 1, kind="positions")
    with pytest.raises((ValueError, RuntimeError), match="`k`"):
        rp.rank_k(0, POS, 4, kind="positions")
    with pytest.raises(ValueError, match="`k`"):
        rp.maxrank_k(POS, 1.0, kind="positions")
    with pytest.raises((ValueError, RuntimeError), match="`outcome`"):
        rp.rank_k(3, POS, 1, kind="positions")
    with pytest.raises((ValueError, RuntimeError), match="probability vector"):
        rp.is_rank_optimal(jnp.array([0.5, 0.2, 0.2]), POS, kind="positions")
    with pytest.raises(ValueError, match="`mu`"):
        rp.expected_rank(jnp.ones(4) / 4, POS, kind="positions")
