"""Fast pytest checks of the reference implementations against each other
(numpy/SciPy only; a few seconds in total).  The thorough version with
printed figures is tests/reference/check_references.py."""

import zlib

import numpy as np
import pytest

from tests.reference.check_references import (
    concave_utility_values,
    integer_values,
    linear_budget_values,
)
from tests.reference.consumer import (
    ccei_bruteforce,
    garp_bruteforce,
    garp_e_holds,
    houtman_maks_bruteforce,
    varian_index_bruteforce,
)
from tests.reference.pareto_gap_lp import (
    min_slack_lp,
    pareto_gap_cycles,
    pareto_gap_lp,
    simple_cycles_complete_digraph,
    system_feasible,
)
from tests.reference.river import (
    E_DEFAULT,
    THETA_DEFAULT,
    constraint_matrix,
    is_generalized_nash,
    river_equilibrium_best_response,
    river_equilibrium_enumeration,
    river_equilibrium_slsqp,
    river_profit_printed,
)


def test_cycle_count():
    # sum_k C(T, k) (k - 1)!
    assert [len(simple_cycles_complete_digraph(T)) for T in range(1, 7)] == [1, 3, 8, 24, 89, 415]


@pytest.mark.parametrize("kind", ["normal", "linear_budget", "off_budget", "integer", "concave"])
def test_gap_lp_matches_cycles(kind):
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    for _ in range(6):
        M, T = int(rng.integers(1, 3)), int(rng.integers(1, 6))
        if kind == "normal":
            v = rng.normal(size=(M, T, T))
        elif kind == "linear_budget":
            v, _ = linear_budget_values(rng, M, T, 3)
        elif kind == "off_budget":
            v, _ = linear_budget_values(rng, M, T, 3, offbudget=True)
        elif kind == "integer":
            v = integer_values(rng, M, T)
        else:
            v, _ = concave_utility_values(rng, M, T, 3)
        a, b = pareto_gap_lp(v), pareto_gap_cycles(v)
        assert abs(a - b) <= 1e-9 * max(1.0, np.abs(v).max())
        if kind == "concave":
            assert b <= 1e-12


def test_infimum_not_attained():
    v = -np.array([[[0.0, 0.5], [0.8, 0.0]]])  # 2-cycle weights 0.5, 0.8; self-loops 0
    L = pareto_gap_cycles(v)
    assert L == pytest.approx(0.5)
    assert abs(pareto_gap_lp(v) - L) < 1e-9
    assert not system_feasible(v[0], L)            # infeasible AT the infimum
    assert system_feasible(v[0], L + 1e-6)
    assert min_slack_lp(v[0], L) > 0.05 and min_slack_lp(v[0], L + 1e-6) == 0.0


def test_constant_cycle_attained():
    v = -np.array([[[0.0, 1.0], [1.0, 0.0]]])  # both edge weights 1 -> L = 1 attained
    assert pareto_gap_cycles(v) == 1.0
    assert system_feasible(v[0], 1.0) and not system_feasible(v[0], 1.0 - 1e-6)


def test_consumer_indices_consistent():
    rng = np.random.default_rng(3)
    for _ in range(25):
        T = int(rng.integers(2, 6))
        p = rng.uniform(0.2, 2.0, (T, 2))
        x = rng.uniform(0.2, 2.0, (T, 2))
        E = p @ x.T
        L = pareto_gap_cycles(E / np.diag(E)[:, None] - 1.0)
        ccei = ccei_bruteforce(p, x)
        assert ccei == pytest.approx(1.0 - L, abs=1e-12)
        vi, c = varian_index_bruteforce(p, x, return_e=True)
        assert ccei - 1e-12 <= vi <= 1.0
        assert garp_e_holds(p, x, c * (1 - 1e-9))
        g = garp_bruteforce(p, x)
        assert (houtman_maks_bruteforce(p, x) == T) == g
        if L > 0:
            assert not g


def test_consumer_rational_data():
    rng = np.random.default_rng(4)
    _, data = concave_utility_values(rng, 5, 5, 3)
    for p, x in data:
        assert garp_bruteforce(p, x)
        assert ccei_bruteforce(p, x) == 1.0
        assert varian_index_bruteforce(p, x) == 1.0
        assert houtman_maks_bruteforce(p, x) == 5


def test_ccei_sup_not_attained():
    # x1 R0 x2 with equality, x2 strictly revealed preferred to x1 -> GARP
    # fails, but GARP_e holds for every e < 1: CCEI = 1 (not attained).
    p = np.array([[1.0, 1.0], [2.0, 1.0]])
    x = np.array([[1.0, 1.0], [1.5, 0.5]])
    assert not garp_bruteforce(p, x)
    assert ccei_bruteforce(p, x) == 1.0
    assert houtman_maks_bruteforce(p, x) == 1


def test_river_default():
    x, mu = river_equilibrium_enumeration()
    np.testing.assert_allclose(x, [21.14, 16.03, 2.726], atol=0.01)
    assert mu[0] == pytest.approx(0.57436, abs=1e-5) and mu[1] == 0.0
    assert constraint_matrix(E_DEFAULT)[0] @ x == pytest.approx(100.0)
    xs, mus = river_equilibrium_slsqp(return_multipliers=True)
    np.testing.assert_allclose(xs, x, atol=1e-6)
    np.testing.assert_allclose(mus, mu, atol=1e-6)
    xb, mub = river_equilibrium_best_response()
    np.testing.assert_allclose(xb, x, atol=1e-9)
    np.testing.assert_allclose(mub, mu, atol=1e-9)
    assert is_generalized_nash(THETA_DEFAULT, E_DEFAULT, x, 1e-8)
    assert not is_generalized_nash(THETA_DEFAULT, E_DEFAULT, x * [1.0, 0.99, 1.0], 1e-8)


def test_river_random():
    rng = np.random.default_rng(8)
    for _ in range(10):
        th = np.r_[rng.uniform(0.001, 0.05), rng.uniform(0, 0.5, 3), rng.uniform(0.002, 0.1, 3)]
        e = rng.uniform(0.05, 1.0, 3)
        x, mu = river_equilibrium_enumeration(th, e)
        xs = river_equilibrium_slsqp(th, e)
        np.testing.assert_allclose(xs, x, atol=1e-6 * max(1.0, np.abs(x).max()))
        assert is_generalized_nash(th, e, x, 1e-8)


def test_printed_profit_convex_in_own_action():
    x0 = np.array([5.0, 3.0, 2.0])
    h = 1e-3
    for i in range(3):
        ei = np.zeros(3)
        ei[i] = h
        f = lambda y: river_profit_printed(THETA_DEFAULT, y)[i]  # noqa: E731
        assert (f(x0 + ei) - 2 * f(x0) + f(x0 - ei)) / h**2 > 0
