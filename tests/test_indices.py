"""Varian's efficiency index and the Houtman-Maks index against the brute-force references."""

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from tests.reference.consumer import (
    ccei_bruteforce,
    exact_relations,
    garp_bruteforce,
    garp_e_holds,
    garp_exact,
    houtman_maks_bruteforce,
    varian_index_bruteforce,
)

DATA = os.path.join(os.path.dirname(__file__), "data")


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
    with pytest.raises(ValueError, match="expenditure"):
        rp.varian_index(P2, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="expenditure"):
        rp.houtman_maks_index(P2, np.zeros((2, 2)), method="milp")


# ---- scale-safe arithmetic, against exact rational arithmetic -------------------------------


def _ordinary(seed, n, dtype, T=6):
    """Prices 10-100, quantities 100-1000: expenditures overflow float16."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(10, 100, (n, T, 3)).astype(dtype)
    x = rng.uniform(100, 1000, (n, T, 3)).astype(dtype)
    return p, x


def test_float16_ordinary_data_exact():
    """200 data sets in float16 (158 were wrong before scaling): GARP and HM equal the exact
    rational answers on the same float16 numbers; CCEI and VI equal the float64 computation."""
    p, x = _ordinary(0, 200, np.float16)
    g = np.asarray(rp.garp(p, x))
    hm = np.asarray(rp.houtman_maks_index(p, x))
    p64, x64 = p.astype(np.float64), x.astype(np.float64)
    assert np.array_equal(g, [garp_exact(a, b) for a, b in zip(p, x, strict=True)])
    assert 0 < g.sum() < 200  # both answers occur
    np.testing.assert_array_equal(hm, rp.houtman_maks_index(p64, x64))
    c16 = rp.ccei(p, x)
    assert c16.dtype == jnp.float16
    np.testing.assert_array_equal(np.asarray(c16), np.asarray(rp.ccei(p64, x64)).astype(np.float16))
    np.testing.assert_allclose(np.asarray(rp.varian_index(p, x), np.float64),
                               rp.varian_index(p64, x64), atol=1e-3)


@pytest.mark.parametrize("scale", [1e155, 1e-160])
def test_extreme_scales_exact(scale):
    """Data times 1e155 (expenditures overflow float64) or 1e-160 (they underflow): GARP and HM
    against exact rational arithmetic, CCEI and VI equal to the unscaled data's to rounding."""
    p, x = _random_datasets(9, 30, 5, 3)
    ps, xs = p * scale, x * scale
    g = np.asarray(rp.garp(ps, xs))
    assert np.array_equal(g, [garp_exact(a, b) for a, b in zip(ps, xs, strict=True)])
    np.testing.assert_array_equal(rp.houtman_maks_index(ps, xs), rp.houtman_maks_index(p, x))
    np.testing.assert_allclose(rp.ccei(ps, xs), rp.ccei(p, x), atol=1e-14)
    np.testing.assert_allclose(rp.varian_index(ps, xs), rp.varian_index(p, x), atol=1e-14)


# ---- MILP answers are verified --------------------------------------------------------------


def _highs_case():
    a = np.loadtxt(os.path.join(DATA, "hm_highs_presolve.csv"), delimiter=",", comments="#",
                   skiprows=4)
    return a[:, 1:3], a[:, 3:5]


def _big_m_hm(R0, P0, presolve):
    """The big-M Houtman-Maks programme (levels U_t in [0, T-1]), solved by HiGHS as is."""
    from jaxmd_rp._scipy import solve_milp

    T = R0.shape[0]
    rows, lo = [], []
    for t in range(T):
        for s in range(T):
            if s != t and R0[t, s]:
                row = np.zeros(2 * T)
                row[T + t], row[T + s], row[t], row[s] = 1.0, -1.0, -T, -T
                rows.append(row)
                lo.append((1.0 if P0[t, s] else 0.0) - 2.0 * T)
    sol = solve_milp(np.concatenate([-np.ones(T), np.zeros(T)]), np.array(rows), lo,
                     np.full(len(lo), np.inf), integrality=np.ones(2 * T), lb=np.zeros(2 * T),
                     ub=np.concatenate([np.ones(T), np.full(T, T - 1.0)]), presolve=presolve)
    return int(round(-sol.objective)), sol.x[:T] > 0.5


def test_milp_houtman_maks_highs_counterexample():
    """On this 25 x 2 data set HiGHS solves the big-M programme to 16 without presolve and to 17
    with it; both kept sets pass GARP, so 16 is a wrong "optimum". The hitting-set programme
    returns 17, and its kept set passes an independent GARP check."""
    from jaxmd_rp._indices_milp import houtman_maks_one

    p, x = _highs_case()
    R0, P0 = exact_relations(p, x)
    off, keep_off = _big_m_hm(R0, P0, presolve=False)
    on, keep_on = _big_m_hm(R0, P0, presolve=True)
    assert (off, on) == (16, 17)
    for keep in (keep_off, keep_on):
        assert garp_exact(p[keep], x[keep])
    assert int(rp.houtman_maks_index(p, x, method="milp")) == 17
    count, keep = houtman_maks_one(R0, P0)
    assert count == 17 and garp_exact(p[keep], x[keep])


def test_milp_wrong_answers_are_caught(monkeypatch):
    """A solver answer that fails the exact check is never returned: a kept set violating GARP
    (Houtman-Maks) or efficiencies above the caps of the chosen order (Varian) -> milp_failed."""
    import jaxmd_rp._indices_milp as im
    from jaxmd_rp._scipy import HostSolve

    def keep_everything(c, *args, **kwargs):  # "optimal": keep all, although GARP fails
        return HostSolve(x=np.ones(len(c)), objective=-float(len(c)), status=0, message="patched")

    monkeypatch.setattr(im, "solve_milp", keep_everything)
    with pytest.raises(eqx.EquinoxRuntimeError, match="MILP solver .* no verified solution"):
        rp.houtman_maks_index(P2, X2, method="milp")
    out = rp.houtman_maks_index(np.stack([P2, P2]), np.stack([X2, X2]), method="milp", throw=False)
    assert np.all(np.isnan(out))

    def over_caps(c, A, lo, hi, *, integrality, lb, ub, presolve=True):  # e = 1 with 1 above 0
        xs = np.ones(len(c))
        return HostSolve(x=xs, objective=-2.0, status=0, message="patched")

    monkeypatch.setattr(im, "solve_milp", over_caps)
    with pytest.raises(eqx.EquinoxRuntimeError, match="varian_index: data set"):
        rp.varian_index(P2, X2, method="milp")
    vi = rp.varian_index(P2, X2, method="milp", throw=False)
    assert np.isnan(vi)


def test_milp_varian_efficiencies_respect_caps():
    """The returned efficiencies are recomputed from the ranking: none lies above the ratio that
    caps it (the solver's own e_t may exceed it by its 1e-6 feasibility tolerance)."""
    p, x = _random_datasets(12, 6, 9, 3)
    vi, e = rp.varian_index(p, x, method="milp", return_efficiencies=True)
    np.testing.assert_allclose(vi, rp.varian_index(p, x), atol=1e-12)
    for b in range(6):
        assert garp_e_holds(p[b], x[b], e[b] * (1 - 1e-12))
