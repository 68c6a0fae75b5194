"""Varian's efficiency index and the Houtman-Maks index against the brute-force references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from tests.reference.consumer import (
    ccei_bruteforce,
    garp_bruteforce,
    garp_e_holds,
    houtman_maks_bruteforce,
    varian_index_bruteforce,
)


def _random_datasets(seed, num, T, K):
    """`num` datasets of T observations on their budget lines <p_t, x_t> = 1 (GARP often fails)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 1.0, (num, T, K))
    x = rng.uniform(0.1, 1.0, (num, T, K))
    x = x / np.sum(p * x, axis=-1, keepdims=True)
    return p, x


# Two observations violating GARP: E = [[3, 2], [3, 4]], rho_12 = 2/3, rho_21 = 3/4.
P2 = np.array([[1.0, 2.0], [2.0, 1.0]])
X2 = np.array([[1.0, 1.0], [2.0, 0.0]])


def test_hand_example():
    # e = (1, 3/4): rank 1 above 2, observation 2 must stay below rho_21 = 3/4 -> mean 7/8;
    # e = (2/3, 1) gives only 5/6. Afriat's CCEI (one common e) is 3/4.
    assert float(rp.varian_index(P2, X2)) == pytest.approx(7 / 8, abs=1e-15)
    index, e = rp.varian_index(P2, X2, return_efficiencies=True)
    np.testing.assert_allclose(e, [1.0, 0.75], atol=1e-15)
    assert float(rp.ccei(P2, X2)) == pytest.approx(0.75)
    assert int(rp.houtman_maks_index(P2, X2)) == 1
    assert float(rp.varian_index(P2, X2, method="milp")) == pytest.approx(7 / 8, abs=1e-9)
    assert int(rp.houtman_maks_index(P2, X2, method="milp")) == 1


def test_consistent_data_and_tie_cycle():
    # GARP holds: a demand system (Cobb-Douglas with shares 1/2) -> VI = 1, HM = T
    rng = np.random.default_rng(3)
    p = rng.uniform(0.2, 1.0, (7, 2))
    x = 0.5 / p
    assert bool(rp.garp(p, x))
    assert float(rp.varian_index(p, x)) == 1.0
    assert int(rp.houtman_maks_index(p, x)) == 7
    # x_1 P0 x_2 strictly (rho_12 = 3/4) but x_2 R0 x_1 by a tie (rho_21 = 1): GARP fails, yet
    # breaking the tie edge costs nothing, so VI = CCEI = 1 (a supremum) while HM = 1 < T.
    p = np.array([[1.0, 1.0], [2.0, 1.0]])
    x = np.array([[1.0, 1.0], [1.5, 0.0]])
    assert not bool(rp.garp(p, x))
    assert float(rp.varian_index(p, x)) == 1.0
    assert float(rp.ccei(p, x)) == 1.0
    assert int(rp.houtman_maks_index(p, x)) == 1
    assert int(rp.houtman_maks_index(p, x, method="milp")) == 1


@pytest.mark.parametrize("T", [4, 6])
def test_against_bruteforce(T):
    """100 random datasets in all (50 per T), batched in one call per T."""
    p, x = _random_datasets(T, 50, T, 3)
    vi, e = map(np.asarray, rp.varian_index(p, x, return_efficiencies=True))
    hm = np.asarray(rp.houtman_maks_index(p, x))
    assert vi.shape == hm.shape == (50,)
    violations = 0
    for b in range(50):
        ref_vi = varian_index_bruteforce(p[b], x[b])
        ref_hm = houtman_maks_bruteforce(p[b], x[b])
        g = garp_bruteforce(p[b], x[b])
        violations += not g
        assert float(vi[b]) == pytest.approx(ref_vi, abs=1e-12)
        assert int(hm[b]) == ref_hm
        # the efficiencies attain the index and GARP_e holds just below them
        assert float(np.mean(e[b])) == pytest.approx(ref_vi, abs=1e-12)
        assert garp_e_holds(p[b], x[b], np.asarray(e[b]) * (1 - 1e-9))
        # Afriat's CCEI (one common e) <= VI <= 1; HM = T iff GARP
        assert ccei_bruteforce(p[b], x[b]) <= float(vi[b]) + 1e-12
        assert (int(hm[b]) == T) == g
    assert violations >= 5  # the sample exercises the interesting case


def test_milp_matches_exact():
    p, x = _random_datasets(11, 12, 7, 3)
    vi = rp.varian_index(p, x)
    hm = rp.houtman_maks_index(p, x)
    vi_m, e_m = rp.varian_index(p, x, method="milp", return_efficiencies=True)
    hm_m = rp.houtman_maks_index(p, x, method="milp")
    assert isinstance(vi_m, np.ndarray) and vi_m.shape == (12,)
    np.testing.assert_allclose(vi_m, vi, atol=1e-7)
    np.testing.assert_array_equal(hm_m, hm)
    for b in range(12):  # the MILP's efficiencies are feasible (just below them)
        assert garp_e_holds(p[b], x[b], e_m[b] * (1 - 1e-6))


def test_milp_beyond_exact_limit():
    p, x = _random_datasets(5, 1, 24, 3)
    with pytest.raises(ValueError, match="max_size"):
        rp.varian_index(p[0], x[0])
    with pytest.raises(ValueError, match="max_size"):
        rp.houtman_maks_index(p[0], x[0])
    vi = float(rp.varian_index(p[0], x[0], method="milp"))
    hm = int(rp.houtman_maks_index(p[0], x[0], method="milp"))
    assert float(rp.ccei(p[0], x[0])) - 1e-9 <= vi <= 1.0
    assert 1 <= hm <= 24
    assert (hm == 24) == bool(rp.garp(p[0], x[0]))


def test_batching_jit_vmap():
    p, x = _random_datasets(4, 50, 4, 3)  # the shapes of test_against_bruteforce[4]
    vi = rp.varian_index(p, x)
    hm = rp.houtman_maks_index(p, x)
    p2, x2 = p.reshape(5, 10, 4, 3), x.reshape(5, 10, 4, 3)
    np.testing.assert_allclose(rp.varian_index(p2, x2).reshape(-1), vi, atol=0)
    np.testing.assert_array_equal(rp.houtman_maks_index(p2, x2).reshape(-1), hm)
    both = jax.jit(jax.vmap(lambda a, b: (rp.varian_index(a, b), rp.houtman_maks_index(a, b))))
    vj, hj = both(jnp.asarray(p), jnp.asarray(x))
    np.testing.assert_allclose(vj, vi, atol=0)
    np.testing.assert_array_equal(hj, hm)


def test_errors():
    with pytest.raises(ValueError, match="same shape"):
        rp.varian_index(P2, X2[:, :1])
    with pytest.raises(ValueError, match="method"):
        rp.houtman_maks_index(P2, X2, method="lp")
    with pytest.raises(ValueError, match="method='milp'"):
        jax.jit(lambda a, b: rp.varian_index(a, b, method="milp"))(P2, X2)
    with pytest.raises((ValueError, RuntimeError), match="expenditure"):
        rp.varian_index(P2, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="expenditure"):
        rp.houtman_maks_index(P2, np.zeros((2, 2)), method="milp")
